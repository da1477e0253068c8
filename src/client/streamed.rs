//! Dialect: our streamed protocol (`protocol::stream`), to our own
//! daemons. The request head goes out while the preprocessor runs, and
//! its output follows in chunks (through `tee`) once the server has
//! started its compiler. Every way out leaves the whole preprocessed
//! source in the job's temp files, so a retry elsewhere, a server without
//! streaming ([`Answer::Unspoken`], then `plain`), or the fallback
//! continues as the unstreamed path would.

use std::io::{self, Write};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};

use super::connection;
use super::context::Context;
use super::cpp;
use super::job::Job;
use super::outcome::{Answer, Blame, Compiled, Failed};
use super::pick;
use super::tee::Tee;
use crate::exit::{self, Code};
use crate::hosts::Host;
use crate::protocol::{self, stream, Codec, Dist, ReplyForm, RequestHead, Version, WireError};
use crate::settings::Settings;
use crate::state::Phase;
use crate::transport::{self, Connection};

/// Whether to stream this job's source to `host` while preprocessing:
/// C-family sources, to hosts not known to lack the extension.
pub fn suits(settings: &Settings, job: &Job, host: &Host) -> bool {
    settings.stream
        && job.needs_cpp()
        && matches!(job.lang.preprocessed_suffix(), "i" | "ii" | "mi" | "mii")
        && pick::speaks(host, settings, pick::Extension::Stream)
}

/// One attempt with our streamed protocol over `base` (1 or 2). Whatever
/// happens, the preprocessor's output is copied whole into `temps` before
/// this returns, and its failure is the job's result.
pub fn run(
    ctx: &Context,
    job: &Job,
    host: &Host,
    base: Version,
    cpp_slots: u32,
    temps: &mut Option<cpp::Temps>,
) -> Result<Answer, Failed> {
    let local_fault = Failed::by(Blame::Local);
    let started = Instant::now();
    ctx.state.phase(Phase::Preprocess);
    let t = cpp::Temps::new(&ctx.settings.tmpdir, job).map_err(local_fault)?;
    let copy = t.create_copy().map_err(local_fault)?;
    let cpp_slot = ctx.cpp_slot(cpp_slots).map_err(local_fault)?;
    let (pre, pipe) = cpp::Preprocessor::start_piped(ctx.compiler, job).map_err(local_fault)?;
    let mut tee = Tee::new(pipe, copy)
        .context("reading the preprocessor")
        .map_err(local_fault)?;
    let sent = stream_to(ctx, job, host, base, &mut tee);
    let drained = tee.drain();
    let status = pre.wait().map_err(local_fault)?;
    drop(cpp_slot);
    *temps = Some(t);
    if !status.success() {
        // Diagnostics are printed; dropping the connection unsent tells
        // the server to kill its compiler.
        ctx.state.local("the preprocessor failed");
        return Ok(Answer::Compiled(Compiled(exit::of_wait_status(
            status.into_raw(),
        ))));
    }
    drained
        .context("copying the preprocessed source")
        .map_err(local_fault)?;
    let cpp_done = started.elapsed();
    let (mut conn, codec, noted) = match sent? {
        Streamed::Sent(conn, codec, noted) => (conn, codec, noted),
        Streamed::Answered(reply) => return Ok(Answer::Reply(reply)),
        Streamed::Unsupported => return Ok(Answer::Unspoken),
    };
    conn.set_time_limit(Some(ctx.settings.io_timeout));
    connection::write_all(&mut conn, &stream::end(), false)
        .context("ending the source")
        .map_err(Failed::by(Blame::MidJob))?;
    let form = reply_form(job, codec, noted);
    let reply = connection::await_reply_in(ctx, conn, form)?;
    log::info!(
        "{} on {host} (streamed): preprocess+send {} ms, compile+receive {} ms, status {}, {codec:?} bodies",
        job.input.to_string_lossy(),
        cpp_done.as_millis(),
        (started.elapsed() - cpp_done).as_millis(),
        reply.status
    );
    Ok(Answer::Reply(reply))
}

/// The reply a streamed request gets: its base protocol's, in its codec,
/// with the split DWARF file if the job makes one, and the note if asked.
fn reply_form(job: &Job, codec: Codec, noted: bool) -> ReplyForm {
    // Raw bodies over protocol 1, compressed ones over 2, as `run`'s base.
    let form = ReplyForm::of_dist(Dist::streamed(codec).noted(noted));
    match job.split_dwarf() {
        true => form.with_split_dwarf(),
        false => form,
    }
}

/// How far a streamed attempt got before the preprocessor's status is known.
enum Streamed {
    /// The source is sent, all but its end marker, in the codec; with
    /// whether a note was asked for.
    Sent(Connection, Codec, bool),
    /// The server replied without compiling (refused the job).
    Answered(protocol::Reply),
    /// The server closed the connection on our extension.
    Unsupported,
}

/// Connects, sends the request head, and streams the source once the
/// server says go, up to the preprocessor's end of output.
fn stream_to(
    ctx: &Context,
    job: &Job,
    host: &Host,
    base: Version,
    tee: &mut Tee,
) -> Result<Streamed, Failed> {
    let mid_job = Failed::by(Blame::MidJob);
    let mut conn = connection::open(ctx, host)?;
    let argv = ctx.server_argv(job.server_args());
    let codec = pick::extension_codec(host, ctx.settings, base.codec());
    let noted = pick::notes(host, ctx.settings);
    log::debug!(
        "streaming to {host} (protocol {}, {codec:?}): {argv:?}",
        base.number()
    );
    let limit = ctx.settings.io_timeout;
    conn.set_time_limit(Some(limit));
    let dist = Dist::streamed(codec).noted(noted);
    send_head(&mut conn, base, dist, argv).map_err(mid_job)?;
    ctx.state.phase(Phase::Preprocess);
    let answered = tee
        .await_readable(conn.poll_fd(), Instant::now() + limit)
        .context("reading the preprocessor")
        .map_err(Failed::by(Blame::Local))?;
    if !answered {
        let timed_out = anyhow::Error::new(transport::timed_out(limit));
        return Err(mid_job(timed_out.context("no answer from the server")));
    }
    conn.set_time_limit(Some(limit));
    match stream::read_answer(&mut conn) {
        Ok(stream::Answer::Go) => {}
        Ok(stream::Answer::Reply(first)) => {
            let form = reply_form(job, codec, noted);
            let reply = connection::receive_after(&mut conn, form, &first).map_err(mid_job)?;
            return Ok(Streamed::Answered(reply));
        }
        Err(e) if e.code() == Code::Truncated || is_reset(&e) => {
            // distcc 3.4 closes on a version it does not know (and one
            // of ours from before zstd or notes on those).
            let ext = pick::Extension::Stream;
            let what = match pick::mark_closed_on(host, ctx.settings, ext, codec, (noted, false)) {
                pick::Extension::Notes => "notes".to_string(),
                _ => format!("{codec:?}"),
            };
            log::info!("{host}: no streaming with {what} ({e}); sending sources whole");
            return Ok(Streamed::Unsupported);
        }
        Err(e) => return Err(mid_job(anyhow!(e.code()).context(e.to_string()))),
    }
    ctx.state.phase(Phase::Send);
    let mut per_chunk = PerChunk {
        conn: &mut conn,
        limit,
    };
    let wire = tee
        .send(&mut per_chunk, codec)
        .context("streaming the source")
        .map_err(mid_job)?;
    log::debug!("streamed {wire} bytes on the wire");
    Ok(Streamed::Sent(conn, codec, noted))
}

/// Step one: the request head under the extension's version; the server
/// answers before any source is sent.
fn send_head(
    conn: &mut Connection,
    base: Version,
    dist: Dist,
    argv: Vec<std::ffi::OsString>,
) -> anyhow::Result<()> {
    let head = RequestHead {
        version: base,
        cwd: None,
        argv,
    };
    let mut buf = Vec::with_capacity(512);
    protocol::write_request_head_as(&mut buf, &head, dist.number())?;
    connection::write_all(conn, &buf, false).context("sending the job")
}

/// Gives each chunk of a streamed source the whole `DISTCC_IO_TIMEOUT`:
/// the sending lasts as long as the preprocessor, whose pace is not the
/// volunteer's doing, but no chunk waits on the network longer than that.
struct PerChunk<'a> {
    conn: &'a mut Connection,
    limit: Duration,
}

impl Write for PerChunk<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.conn.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.conn.set_time_limit(Some(self.limit));
        self.conn.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.conn.flush()
    }
}

fn is_reset(e: &WireError) -> bool {
    matches!(e, WireError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionReset)
}
