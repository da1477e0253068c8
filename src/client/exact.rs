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
use crate::hosts::Host;
use crate::protocol::{self, NamedFile, RequestHead, Version};
use crate::transport::Connection;

/// One protocol 3 request to `host` with the files `listed`.
pub fn run(ctx: &Context, job: &Job, host: &Host, listed: &Listed) -> Result<Answer, Failed> {
    let mut conn = connection::open(ctx, host)?;
    let argv = ctx.server_argv(job.exact_args());
    connection::start_send(ctx, &mut conn);
    let started = Instant::now();
    let sent_bytes = send_files(
        &mut conn,
        &listed.cwd,
        &argv,
        &listed.files,
        ctx.settings.tcp_cork,
    )
    .map_err(Failed::by(Blame::MidJob))?;
    log_sent(host, &argv, listed, sent_bytes);
    let sent = started.elapsed();
    let reply = connection::await_reply(ctx, conn, Version::V3)?;
    log_done(
        job,
        host,
        listed,
        sent,
        started.elapsed() - sent,
        reply.status,
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

/// What went out, in the words both exact dialects log.
pub fn log_sent(host: &Host, argv: &[OsString], listed: &Listed, bytes: usize) {
    log::debug!(
        "sent to {host} (exact): {argv:?}, {} files, {bytes} bytes on the wire",
        listed.files.len()
    );
}

/// Where the time of an exact job went, in the words both exact dialects
/// log.
pub fn log_done(
    job: &Job,
    host: &Host,
    listed: &Listed,
    send: std::time::Duration,
    compile: std::time::Duration,
    status: u32,
) {
    log::info!(
        "{} on {host} (exact): list files {} ms, send {} ms, compile+receive {} ms, status {status}",
        job.input.to_string_lossy(),
        listed.took.as_millis(),
        send.as_millis(),
        compile.as_millis(),
    );
}
