//! Dialect: protocol 3, exact mode to a `,cpp` host. Instead of
//! preprocessed text the request carries the working directory, the
//! user's own command line (`Job::exact_args`) and the unit's files
//! (`listing`) with their absolute names; the server compiles them as they
//! are and returns the object and the dependency file. Our own daemons are
//! first asked through `hashed`, which sends only the bodies they lack.

use std::ffi::OsString;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result};

use super::connection;
use super::context::Context;
use super::job::Job;
use super::listing::Listed;
use super::outcome::{Answer, Blame, Failed};
use super::shipped::Shipped;
use crate::hosts::Host;
use crate::protocol::{self, NamedFile, ReplyForm, RequestHead, Version};
use crate::transport::Connection;

/// One protocol 3 request to `host` with the files `listed`.
pub fn run(ctx: &Context, job: &Job, host: &Host, listed: &Listed) -> Result<Answer, Failed> {
    // Protocol 3 carries every body: those not read when listed are read
    // (and checked) now.
    let files: Vec<_> = match listed.files.iter().map(Shipped::named).collect() {
        Ok(files) => files,
        Err(stale) => return Ok(Answer::Stale(stale)),
    };
    let mut conn = connection::open(ctx, host)?;
    let argv = ctx.server_argv(job.exact_args());
    connection::start_send(ctx, &mut conn);
    let started = Instant::now();
    let bytes = send_files(&mut conn, &listed.cwd, &argv, &files, ctx.settings.tcp_cork)
        .map_err(Failed::by(Blame::MidJob))?;
    let sent = Sent {
        conn,
        argv,
        started,
        bytes,
    };
    reply_to(ctx, job, host, listed, sent, ReplyForm::of(Version::V3))
}

/// A request of either exact dialect, sent.
pub struct Sent {
    pub conn: Connection,
    pub argv: Vec<OsString>,
    /// When the sending started.
    pub started: Instant,
    /// Bytes put on the wire.
    pub bytes: usize,
}

/// The rest of an exact job once its request is sent, for both exact
/// dialects: what went out and where the time went, in the same words,
/// and the reply.
pub fn reply_to(
    ctx: &Context,
    job: &Job,
    host: &Host,
    listed: &Listed,
    sent: Sent,
    form: ReplyForm,
) -> Result<Answer, Failed> {
    log::debug!(
        "sent to {host} (exact): {:?}, {} files, {:?} bodies, {} bytes on the wire",
        sent.argv,
        listed.files.len(),
        form.codec,
        sent.bytes
    );
    let send_time = sent.started.elapsed();
    let reply = connection::await_reply_in(ctx, sent.conn, form)?;
    log::info!(
        "{} on {host} (exact): list files ({}) {} ms, send {} ms, compile+receive {} ms, status {}",
        job.input.to_string_lossy(),
        if listed.expected.is_some() {
            "scan"
        } else {
            "-M"
        },
        listed.took.as_millis(),
        send_time.as_millis(),
        (sent.started.elapsed() - send_time).as_millis(),
        reply.status
    );
    Ok(Answer::Reply(reply))
}

/// Sends an exact-mode request (protocol 3): cwd, argv, then the files.
/// Returns the bytes sent.
fn send_files(
    conn: &mut Connection,
    cwd: &Path,
    argv: &[OsString],
    files: &[NamedFile],
    cork: bool,
) -> Result<usize> {
    let head = RequestHead {
        version: Version::V3,
        cwd: Some(cwd.as_os_str().to_os_string()),
        argv: argv.to_vec(),
    };
    let mut buf = Vec::with_capacity(64 * 1024);
    protocol::write_request_head(&mut buf, &head)?;
    protocol::write_files(&mut buf, Version::V3.codec(), files)?;
    connection::write_all(conn, &buf, cork).context("sending the job")?;
    Ok(buf.len())
}
