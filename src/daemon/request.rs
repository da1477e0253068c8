//! One connection's request: read its head within the I/O deadline, tell
//! the dialect from its `DIST` (`plain`, `streamed`, `exact`, `hashed`),
//! let that dialect turn the rest of the request into a prepared job or a
//! refusal, and hand the job to `job`, which runs it and replies. The same
//! code serves TCP connections (`listen`) and inetd's stdin/stdout
//! (`inetd`).

use std::io::{self, BufReader, Read, Write};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::deadline::{Deadline, Source};
use super::job::{self, Outcome};
use super::refusal::Refusal;
use super::server::Server;
use super::space;
use super::{exact, hashed, plain, streamed};
use crate::protocol::{self, Dist, ReplyForm, Version, WireError};

/// How long a refused client may take to finish sending what it had
/// started to send, which is read and dropped so that it reads our reply
/// rather than a reset.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves one request read from `input`, after the `prefix` of it that
/// was read already, and answered on `output`.
pub fn serve<R: Source, W: Write>(
    server: &Server,
    input: R,
    prefix: Vec<u8>,
    mut output: W,
) -> Result<Outcome> {
    // Watched while the compiler runs: the client hanging up ends the job.
    let client_fd = input.as_raw_fd();
    // Buffered: a request is dozens of small tokens, one read each otherwise.
    let mut input = BufReader::with_capacity(
        64 * 1024,
        Deadline::after(prefix, input, server.io_timeout, server.stop.fd()),
    );
    let dist = protocol::read_dist(&mut input).context("reading request")?;
    let mut compiler = String::from("(unknown)");
    let served = read_and_run(
        server,
        dist,
        &mut input,
        &mut output,
        client_fd,
        &mut compiler,
    );
    let refusal = match served {
        Ok(Ok(outcome)) => return Ok(outcome),
        Ok(Err(refusal)) => refusal,
        Err(e) => match answerable(&e, &server.tmpdir) {
            Some(refusal) => refusal,
            None => return Err(e),
        },
    };
    let outcome = job::refuse(
        server,
        ReplyForm::of_dist(dist),
        &mut output,
        compiler,
        refusal,
    );
    input.get_mut().shorten(Instant::now() + DRAIN);
    drain(&mut input, server.limits.max_body);
    outcome
}

/// The refusal a failed request still gets, when the client can be told:
/// a request over the limits or malformed (the reason, with the protocol
/// error code), or files the volunteer has no room for (`space`). A client
/// that went away or stalled gets none.
fn answerable(err: &anyhow::Error, tmpdir: &std::path::Path) -> Option<Refusal> {
    if let Some(r) = space::refusal(err, tmpdir) {
        return Some(r);
    }
    let wire = err.chain().find_map(|c| c.downcast_ref::<WireError>())?;
    wire.peer_can_be_answered()
        .then(|| Refusal::new(wire.code(), format!("refused request: {wire}")))
}

/// Reads the head, lets the request's dialect prepare its job, and runs
/// it; or says why the request is refused, for the caller to answer once
/// the job's borrows of the connection have ended. `compiler` is set to
/// the client's argv[0] once it is known.
fn read_and_run<R: Source, W: Write>(
    server: &Server,
    dist: Dist,
    input: &mut BufReader<Deadline<R>>,
    output: &mut W,
    client_fd: RawFd,
    compiler: &mut String,
) -> Result<Result<Outcome, Refusal>> {
    let head = protocol::read_head(input, dist, &server.limits).context("reading request")?;
    *compiler = head.argv[0].to_string_lossy().into_owned();
    // Only our streaming client sends on at once (it waits for our answer
    // while it preprocesses); the others may preprocess now.
    if !matches!(dist, Dist::Streamed(..)) {
        input.get_mut().wait_for_source();
    }
    let until = input.get_ref().until();
    let verdict = match dist {
        Dist::Plain(Version::V3) => exact::prepare(server, head, input)?,
        Dist::Plain(_) => plain::prepare(server, head, input)?,
        Dist::Streamed(_, codec, _) => {
            streamed::prepare(server, head, codec, input, output, until)?
        }
        Dist::Hashed(codec, ..) => hashed::prepare(server, head, codec, input, output)?,
    };
    match verdict {
        Ok(mut job) => {
            // The dialect chose the reply's form (its extras, the list of
            // files read); its bodies go in the request's codec, and the
            // note follows if the request asked for it.
            job.reply.codec = dist.codec();
            job.reply.notes = dist.notes();
            job::run(server, job, output, client_fd).map(Ok)
        }
        Err(refusal) => Ok(Err(refusal)),
    }
}

/// Reads and drops what the client still sends, up to `limit` bytes, until
/// it closes or the reader's deadline passes.
fn drain<R: Read>(input: &mut R, limit: u64) {
    io::copy(&mut input.take(limit), &mut io::sink()).ok();
}

/// Whether an error is the client's fault or its disappearance, or our
/// own orderly stop, rather than a fault of ours: those are logged quietly.
pub fn is_client_error(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<WireError>().is_some()
            || c.downcast_ref::<io::Error>().is_some_and(|e| {
                matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::TimedOut
                )
            })
    })
}
