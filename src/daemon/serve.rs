//! One job on one connection: read the request within the I/O deadline,
//! check it (policy, whitelist), wait for a job slot, compile in a private
//! temp dir, reply. The same code serves TCP connections and inetd's
//! stdin/stdout.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::compilers::{Refusal, Whitelist};
use super::policy;
use super::run::{self, RunLimits};
use super::stats::{Semaphore, Stats};
use crate::client::scan::Mode;
use crate::exit::Code;
use crate::protocol::{self, Limits, Reply, RequestHead, Version, WireError};

/// Everything a job needs that does not change between jobs.
pub struct Server {
    pub whitelist: Whitelist,
    pub limits: Limits,
    pub run_limits: RunLimits,
    pub io_timeout: Duration,
    pub tmpdir: PathBuf,
    pub save_temps: bool,
    pub env: Vec<(OsString, OsString)>,
    pub slots: Semaphore,
    pub jobs: u32,
    pub stats: Stats,
}

/// A reader that fails with `TimedOut` once a deadline passes, however
/// slowly the peer trickles bytes in: a per-read timeout alone would let a
/// client sending one byte a second hold a connection forever.
pub struct Deadline<R> {
    inner: R,
    until: Instant,
}

impl<R: Read + AsRawFd> Deadline<R> {
    pub fn new(inner: R, timeout: Duration) -> Self {
        Deadline {
            inner,
            until: Instant::now() + timeout,
        }
    }
}

pub fn wait_readable(fd: RawFd, until: Instant) -> io::Result<()> {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "I/O timeout"));
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut pfd, 1, ms) } {
            n if n > 0 => return Ok(()),
            0 => {}
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

impl<R: Read + AsRawFd> Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        wait_readable(self.inner.as_raw_fd(), self.until)?;
        self.inner.read(buf)
    }
}

/// What became of one connection, for the log.
#[derive(Debug)]
pub struct Outcome {
    pub compiler: String,
    pub status: Option<i32>,
    pub refused: Option<Code>,
}

/// Serves one request read from `input` and answered on `output`.
pub fn serve<R: Read + AsRawFd, W: Write>(
    server: &Server,
    input: R,
    mut output: W,
) -> Result<Outcome> {
    let mut input = Deadline::new(input, server.io_timeout);
    let head =
        protocol::read_request_head(&mut input, &server.limits).context("reading request")?;
    let compiler = head.argv[0].to_string_lossy().into_owned();
    if head.version == Version::V3 {
        // Read the whole request so the client sees our refusal, not a reset.
        protocol::read_files(&mut input, head.version, &server.limits).context("reading files")?;
        let refusal = Refusal {
            code: Code::Protocol,
            message: "protocol 3 (pump mode) is not supported by this server".into(),
        };
        return refuse(server, &mut output, &head, compiler, refusal);
    }
    let source = protocol::read_body(&mut input, protocol::DOTI, head.version, &server.limits)
        .context("reading preprocessed source")?;
    drop(input);

    let plan = match policy::check(&head.argv[1..]) {
        Ok(plan) => plan,
        Err(refusal) => return refuse(server, &mut output, &head, compiler, refusal),
    };
    let program = match server.whitelist.resolve(&head.argv[0]) {
        Ok(p) => p,
        Err(refusal) => return refuse(server, &mut output, &head, compiler, refusal),
    };

    // Held while the compiler runs, not while the client reads the reply:
    // a client that reads slowly must not keep a compiler slot idle.
    let slot = server.slots.acquire();
    let _running = server.stats.start(&compiler);
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("distccd_")
        .tempdir_in(&server.tmpdir)
        .with_context(|| format!("creating a job dir in {}", server.tmpdir.display()))?;
    let input_name = format!("input{}", plan.temp_suffix);
    let output_name = match plan.mode {
        Mode::Object => "output.o",
        Mode::Assembly => "output.s",
    };
    fs::write(dir.path().join(&input_name), &source).context("writing the job's input")?;
    drop(source);

    let args = plan.rewrite(&head.argv[1..], input_name.as_ref(), output_name.as_ref());
    let out_path = dir.path().join("compiler.stdout");
    let err_path = dir.path().join("compiler.stderr");
    let finished = run::run(
        &program,
        &args,
        dir.path(),
        &server.env,
        File::create(&out_path)?,
        File::create(&err_path)?,
        &server.run_limits,
    );
    let finished = match finished {
        Ok(f) => f,
        Err(e) => {
            let refusal = Refusal {
                code: Code::CompilerMissing,
                message: format!("cannot run {}: {e}", program.display()),
            };
            return refuse(server, &mut output, &head, compiler, refusal);
        }
    };
    let mut reply = Reply {
        status: finished.status as u32,
        stderr: fs::read(&err_path)?,
        stdout: fs::read(&out_path)?,
        ..Reply::default()
    };
    if finished.timed_out {
        let lifetime = server.run_limits.lifetime.unwrap_or_default().as_secs();
        reply.status = (Code::Timeout.as_u8() as u32) << 8;
        reply.stderr.extend_from_slice(
            format!("distccd: compile killed after --job-lifetime of {lifetime} s\n").as_bytes(),
        );
    } else if finished.status == 0 {
        reply.object = fs::read(dir.path().join(output_name)).unwrap_or_default();
    }
    server.stats.finish(
        finished.status == 0 && !finished.timed_out,
        started.elapsed(),
    );
    if server.save_temps {
        let kept = dir.keep();
        log::info!("kept job files in {}", kept.display());
    }
    drop(slot);
    protocol::write_reply(&mut output, head.version, &reply).context("sending reply")?;
    output.flush().context("sending reply")?;
    Ok(Outcome {
        compiler,
        status: Some(reply.status as i32),
        refused: None,
    })
}

/// Answers a refused job: the client gets a distcc exit code as the status
/// and the reason on its stderr; nothing ran.
fn refuse<W: Write>(
    server: &Server,
    output: &mut W,
    head: &RequestHead,
    compiler: String,
    refusal: Refusal,
) -> Result<Outcome> {
    log::warn!("refused {compiler:?}: {}", refusal.message);
    server.stats.refused();
    let reply = Reply {
        status: (refusal.code.as_u8() as u32) << 8,
        stderr: format!("distccd: {}\n", refusal.message).into_bytes(),
        ..Reply::default()
    };
    protocol::write_reply(output, head.version, &reply).context("sending refusal")?;
    output.flush().ok();
    Ok(Outcome {
        compiler,
        status: None,
        refused: Some(refusal.code),
    })
}

/// Whether an error is the client's fault or its disappearance, rather than
/// ours: those are logged quietly.
pub fn is_client_error(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<WireError>().is_some()
            || c.downcast_ref::<io::Error>().is_some_and(|e| {
                matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::TimedOut
                )
            })
    })
}
