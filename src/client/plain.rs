//! Dialect: protocols 1 and 2, the reference's own. The source is
//! preprocessed here whole (while the connection opens), then sent in one
//! request: argv, then the preprocessed text (`DOTI`), compressed under
//! protocol 2; the server compiles it and replies with the object. The
//! preprocessed text stays in the job's temp files (`cpp::Temps`), so a
//! retry on another host or the fallback does not preprocess again.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Context as _, Result};

use super::connection;
use super::context::Context;
use super::cpp;
use super::job::Job;
use super::outcome::{Answer, Blame, Compiled, Failed};
use crate::exit::{self, Code};
use crate::hosts::Host;
use crate::protocol::{self, RequestHead, Version};
use crate::state::Phase;
use crate::transport::{self, Connection};

/// One request in protocol `version` (1 or 2) to `host`. `temps` holds the
/// preprocessed source from an earlier attempt, or gets it here.
pub fn run(
    ctx: &Context,
    job: &Job,
    host: &Host,
    version: Version,
    cpp_slots: u32,
    temps: &mut Option<cpp::Temps>,
) -> Result<Answer, Failed> {
    let started = Instant::now();
    let (mut conn, source) = match prepare(ctx, job, host, cpp_slots, temps)? {
        Prepared::Ready(conn, source) => (conn, source),
        Prepared::CppFailed(c) => return Ok(Answer::Compiled(c)),
    };
    let cpp_done = started.elapsed();
    let argv = ctx.server_argv(job.server_args());
    log::debug!(
        "sending to {host} (protocol {}): {:?}",
        version.number(),
        argv
    );
    connection::start_send(ctx, &mut conn);
    let sent_bytes = send(&mut conn, version, &argv, &source, ctx.settings.tcp_cork)
        .map_err(Failed::by(Blame::MidJob))?;
    log::debug!("sent {sent_bytes} bytes on the wire");
    let sent = started.elapsed();
    let reply = connection::await_reply(ctx, conn, version, version.codec())?;
    log::info!(
        "{} on {host}: preprocess+connect {} ms, send {} ms, compile+receive {} ms, status {}",
        job.input.to_string_lossy(),
        cpp_done.as_millis(),
        (sent - cpp_done).as_millis(),
        (started.elapsed() - sent).as_millis(),
        reply.status
    );
    Ok(Answer::Reply(reply))
}

enum Prepared {
    /// Connected, and the file to send is ready.
    Ready(Connection, PathBuf),
    /// The preprocessor failed: the job's result.
    CppFailed(Compiled),
}

/// The connection and the file to send: the input itself when it needs no
/// preprocessing, the text an earlier attempt left, or a fresh run of the
/// preprocessor, overlapped with connecting (once, even across a retry).
fn prepare(
    ctx: &Context,
    job: &Job,
    host: &Host,
    cpp_slots: u32,
    temps: &mut Option<cpp::Temps>,
) -> Result<Prepared, Failed> {
    if !job.needs_cpp() {
        let conn = connection::open(ctx, host)?;
        return Ok(Prepared::Ready(conn, job.input.clone().into()));
    }
    if let Some(t) = temps {
        let source = t.preprocessed.clone();
        return Ok(Prepared::Ready(connection::open(ctx, host)?, source));
    }
    let local_fault = Failed::by(Blame::Local);
    ctx.state.phase(Phase::Preprocess);
    let t = cpp::Temps::new(&ctx.settings.tmpdir, job).map_err(local_fault)?;
    let cpp_slot = ctx.cpp_slot(cpp_slots).map_err(local_fault)?;
    let pre = cpp::Preprocessor::start(ctx.compiler, job, &t).map_err(local_fault)?;
    ctx.state.phase(Phase::Connect);
    let connected = transport::connect(host, ctx.settings);
    ctx.state.phase(Phase::Preprocess);
    let status = pre.wait().map_err(local_fault)?;
    drop(cpp_slot);
    let source = t.preprocessed.clone();
    *temps = Some(t);
    if !status.success() {
        // The preprocessor already printed the diagnostics: this is the
        // compile error the local compiler would give.
        ctx.state.local("the preprocessor failed");
        return Ok(Prepared::CppFailed(Compiled(exit::of_wait_status(
            status.into_raw(),
        ))));
    }
    let conn = connected.map_err(Failed::by(Blame::Unreachable))?;
    Ok(Prepared::Ready(conn, source))
}

/// Sends the request: argv, then the preprocessed source from `source`.
/// Uncompressed bodies go from the file to the socket by sendfile.
fn send(
    conn: &mut Connection,
    version: Version,
    argv: &[OsString],
    source: &Path,
    cork: bool,
) -> Result<usize> {
    let head = RequestHead {
        version,
        cwd: None,
        argv: argv.to_vec(),
    };
    let mut file = File::open(source).with_context(|| format!("opening {}", source.display()))?;
    let len = file.metadata()?.len();
    let mut buf = Vec::with_capacity(512);
    protocol::write_request_head(&mut buf, &head)?;
    let codec = version.codec();
    let compressed = if !codec.is_raw() && len > 0 {
        let mut raw = Vec::with_capacity(len as usize);
        file.read_to_end(&mut raw)?;
        Some(codec.compress(&raw).into_owned())
    } else {
        None
    };
    let body_len = compressed.as_ref().map_or(len, |c| c.len() as u64);
    let body_len =
        u32::try_from(body_len).map_err(|_| anyhow!(Code::IoError).context("source over 4 GiB"))?;
    protocol::write_header(&mut buf, protocol::DOTI, body_len)?;
    match compressed {
        Some(c) => {
            buf.extend_from_slice(&c);
            connection::write_all(conn, &buf, cork).context("sending the job")?;
        }
        None => {
            if cork {
                conn.cork(true);
            }
            let r = conn
                .write_all(&buf)
                .and_then(|()| conn.send_file(&mut file, len))
                .and_then(|()| conn.flush());
            if cork {
                conn.cork(false);
            }
            r.context("sending the job")?;
        }
    }
    Ok(buf.len() + body_len as usize)
}
