//! One job on one connection: read the request within the I/O deadline,
//! check it (policy, whitelist), wait for a job slot, compile in a private
//! temp dir, reply. The same code serves TCP connections and inetd's
//! stdin/stdout.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::compilers::{Refusal, Whitelist};
use super::policy;
use super::run::{self, Ended, RunLimits};
use super::signals::Latch;
use super::stats::{Permit, Semaphore, Stats};
use crate::args::Lang;
use crate::exit::{self, Code};
use crate::protocol::{self, Limits, OutputKind, Reply, RequestHead, Version, WireError};
use crate::protocol::{hashed, stream};
use crate::sys;

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
    /// Compilers started before their streamed source has arrived, which
    /// hold no job slot yet (`daemon::stream`): as many as `jobs`.
    pub early: Semaphore,
    pub jobs: u32,
    pub stats: Stats,
    /// Exact mode's content store, when the daemon keeps one.
    pub store: Option<super::store::Store>,
    /// Confine compilers with Landlock (`--no-sandbox` turns it off).
    pub sandbox: bool,
    /// Set when the daemon stops waiting for jobs: readers give up,
    /// compilers are killed, queued jobs are refused.
    pub stop: Latch,
}

/// A reader that fails with `TimedOut` once a deadline passes, however
/// slowly the peer trickles bytes in: a per-read timeout alone would let a
/// client sending one byte a second hold a connection forever.
///
/// It also gives up when `stop` (the server's stop latch) becomes readable.
pub struct Deadline<R> {
    inner: R,
    until: Instant,
    stop: RawFd,
}

impl<R: Read + AsRawFd> Deadline<R> {
    pub fn new(inner: R, timeout: Duration, stop: RawFd) -> Self {
        Deadline {
            inner,
            until: Instant::now() + timeout,
            stop,
        }
    }

    /// When the whole request must have arrived.
    pub fn until(&self) -> Instant {
        self.until
    }
}

impl<R: Read + AsRawFd> Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match sys::poll_any(&[self.inner.as_raw_fd(), self.stop], Some(self.until))? {
            Some(0) => self.inner.read(buf),
            // Not `Interrupted`, which `read_exact` would retry forever.
            Some(_) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the daemon is stopping",
            )),
            None => Err(io::Error::new(io::ErrorKind::TimedOut, "I/O timeout")),
        }
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
    // Watched while the compiler runs: the client hanging up ends the job.
    let client_fd = input.as_raw_fd();
    // Buffered: a request is dozens of small tokens, one read each otherwise.
    let mut input = io::BufReader::with_capacity(
        64 * 1024,
        Deadline::new(input, server.io_timeout, server.stop.fd()),
    );
    let version = protocol::read_header(&mut input, protocol::DIST).context("reading request")?;
    // Re-feed the header we read to the ordinary parser; our extensions
    // parse as the protocol they extend from there on.
    let streamed = stream::base_of(version);
    let as_read = match (version, streamed) {
        (hashed::VERSION, _) => 3,
        (_, Some(base)) => base.number(),
        _ => version,
    };
    let mut replay = io::Cursor::new(protocol::header(protocol::DIST, as_read)).chain(&mut input);
    let head =
        protocol::read_request_head(&mut replay, &server.limits).context("reading request")?;

    if version == hashed::VERSION {
        return super::hashed::serve(
            server,
            head.cwd,
            head.argv,
            &mut input,
            &mut output,
            client_fd,
        );
    }
    if streamed.is_some() {
        let until = input.get_ref().until();
        return super::stream::serve(server, &head, &mut input, until, &mut output, client_fd);
    }
    let compiler = head.argv[0].to_string_lossy().into_owned();
    if head.version == Version::V3 {
        let files = protocol::read_files(&mut input, head.version.codec(), &server.limits)
            .context("reading files")?;
        // `input` stays open: the compile watches it for a hang-up.
        return super::mirror::serve(server, &head, files, &mut output, client_fd);
    }
    // The source goes straight to the job dir; it is checked after it has
    // all arrived, so a refused client reads our reason, not a reset.
    let dir = tempfile::Builder::new()
        .prefix("distccd_")
        .tempdir_in(&server.tmpdir)
        .with_context(|| format!("creating a job dir in {}", server.tmpdir.display()))?;
    let received = dir.path().join("received");
    {
        let mut file = io::BufWriter::with_capacity(
            64 * 1024,
            File::create(&received).context("creating the job's input")?,
        );
        protocol::read_body_to(
            &mut input,
            protocol::DOTI,
            head.version.codec(),
            &server.limits,
            &mut file,
        )
        .context("reading preprocessed source")?;
        file.flush().context("writing the job's input")?;
    }

    let plan = match policy::check(&head.argv[1..]) {
        Ok(plan) => plan,
        Err(refusal) => return refuse(server, &mut output, &head, compiler, refusal),
    };
    let program = match server.whitelist.resolve(&head.argv[0]) {
        Ok(p) => p,
        Err(refusal) => return refuse(server, &mut output, &head, compiler, refusal),
    };

    let input_name = format!("input{}", plan.temp_suffix);
    let output_name = policy::output_name(plan.mode);
    fs::rename(&received, dir.path().join(&input_name)).context("naming the job's input")?;
    let args = plan.rewrite(&head.argv[1..], input_name.as_ref(), output_name.as_ref());
    let cwd = dir.path().to_path_buf();
    let object = dir.path().join(output_name);
    compile_and_reply(
        server,
        &mut output,
        &head,
        Job {
            compiler,
            program,
            args,
            cwd,
            dir,
            object,
            deps: None,
            unmap: None,
            client_fd,
        },
        None,
    )
}

/// A compiler started before its source has arrived (`daemon::stream`).
pub(super) struct Early<'a> {
    /// Fills the compiler's stdin (the pipe's write end) with the streamed
    /// source and hands the pipe back open: the compiler, which reads its
    /// whole input before compiling, starts its work only once the pipe is
    /// closed, and that waits for a job slot.
    pub feed: &'a mut dyn FnMut(File) -> Result<File>,
    /// Held from before the compiler starts until it has a job slot.
    pub token: Permit<'a>,
}

/// A compile ready to run: what `compile_and_reply` needs from either
/// protocol's request.
pub(super) struct Job {
    pub compiler: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Where the compiler runs.
    pub cwd: PathBuf,
    /// The job's private dir; removed before the reply is sent.
    pub dir: tempfile::TempDir,
    /// The object (or assembly) the compiler writes.
    pub object: PathBuf,
    /// The dependency file to return (protocol 3).
    pub deps: Option<PathBuf>,
    /// A server-side prefix to remove from diagnostics and the `.d` file.
    pub unmap: Option<Vec<u8>>,
    pub client_fd: RawFd,
}

/// Waits for a job slot, runs the compiler, and replies. The slot and the
/// job dir are released before the reply goes out, so a client that reads
/// slowly holds neither. With `early`, the compiler is started first and
/// reads its source from a pipe: the client is told to go ahead once it
/// runs, the source is fed, and then the job waits for its slot.
pub(super) fn compile_and_reply<W: Write>(
    server: &Server,
    output: &mut W,
    head: &RequestHead,
    job: Job,
    early: Option<Early<'_>>,
) -> Result<Outcome> {
    let Job {
        compiler,
        program,
        args,
        cwd,
        dir,
        object,
        deps,
        unmap,
        client_fd,
    } = job;
    let out_path = dir.path().join("compiler.stdout");
    let err_path = dir.path().join("compiler.stderr");
    let jail = if server.sandbox {
        super::sandbox::Jail::for_job(dir.path(), &program).context("building the sandbox")?
    } else {
        None
    };
    let (stdin, pipe_in) = match early {
        Some(_) => {
            let (read, write) = pipe().context("creating the compiler's input pipe")?;
            (Stdio::from(read), Some(write))
        }
        None => (Stdio::null(), None),
    };
    let io = run::Stdio3 {
        stdin,
        stdout: File::create(&out_path)?,
        stderr: File::create(&err_path)?,
    };
    // gcc runs the assembler beside cc1 with -pipe, rather than after it
    // through a temp file: the object is the same, sooner.
    let mut args = args;
    args.insert(0, "-pipe".into());
    let spawn = |io| {
        run::spawn(
            &program,
            &args,
            &cwd,
            &server.env,
            io,
            &server.run_limits,
            jail.as_ref(),
        )
    };
    let cannot_run = |e: io::Error| Refusal {
        code: Code::CompilerMissing,
        message: format!("cannot run {}: {e}", program.display()),
    };
    let (started_early, io_left) = match (early, pipe_in) {
        (Some(early), Some(write)) => {
            let running = match spawn(io) {
                Ok(r) => r,
                Err(e) => return refuse(server, output, head, compiler, cannot_run(e)),
            };
            stream::write_go(output).context("telling the client to stream")?;
            // An error here drops `running`, which kills the compiler.
            let pipe = (early.feed)(write)?;
            (Some((running, pipe, early.token)), None)
        }
        _ => (None, Some(io)),
    };
    let slot = server.slots.acquire();
    if server.stop.is_set() {
        drop(slot);
        let refusal = Refusal {
            code: Code::Busy,
            message: "the server is shutting down".into(),
        };
        return refuse(server, output, head, compiler, refusal);
    }
    let running = server.stats.start(&compiler);
    let started = Instant::now();
    let watch = run::Watch {
        cancel: Some(server.stop.fd()),
        client: Some(client_fd),
    };
    let finished = match (started_early, io_left) {
        (Some((compiler_proc, pipe, token)), _) => {
            drop(token);
            // End of input: the compile proper starts now, in its slot.
            drop(pipe);
            compiler_proc.wait(watch)
        }
        (None, Some(io)) => match spawn(io) {
            Ok(r) => r.wait(watch),
            Err(e) => return refuse(server, output, head, compiler, cannot_run(e)),
        },
        (None, None) => unreachable!("the compiler's streams are used once"),
    };
    let finished = match finished {
        Ok(f) => f,
        Err(e) => return refuse(server, output, head, compiler, cannot_run(e)),
    };
    let unmap = |bytes: Vec<u8>| match &unmap {
        Some(prefix) => remove_all(bytes, prefix),
        None => bytes,
    };
    let mut reply = Reply {
        status: finished.status as u32,
        stderr: unmap(fs::read(&err_path)?),
        stdout: unmap(fs::read(&out_path)?),
        ..Reply::default()
    };
    let ok = finished.status == 0 && finished.ended == Ended::Exited;
    match finished.ended {
        Ended::ClientGone => {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "client hung up during the compile; compiler killed",
            )
            .into())
        }
        Ended::Exited if ok => {
            reply.set_output(OutputKind::Object, fs::read(&object).unwrap_or_default());
            if let Some(d) = &deps {
                let d = super::mirror::reflow_deps(&unmap(fs::read(d).unwrap_or_default()));
                reply.set_output(OutputKind::Deps, d);
            }
        }
        Ended::Exited => {}
        Ended::LifetimeOver => {
            let lifetime = server.run_limits.lifetime.unwrap_or_default().as_secs();
            reply.status = exit::exited(Code::Timeout.as_u8());
            reply.stderr.extend_from_slice(
                format!("distccd: compile killed after --job-lifetime of {lifetime} s\n")
                    .as_bytes(),
            );
        }
        Ended::Cancelled => {
            reply.status = exit::exited(Code::Busy.as_u8());
            reply
                .stderr
                .extend_from_slice(b"distccd: compile killed: the server is shutting down\n");
        }
    }
    server.stats.finish(
        ok,
        finished.ended,
        started.elapsed(),
        &compiler,
        &source_name(&head.argv),
    );
    drop(running);
    drop(slot);
    if server.save_temps {
        let kept = dir.keep();
        log::info!("kept job files in {}", kept.display());
    } else {
        drop(dir);
    }
    protocol::write_reply(output, head.version, head.version.codec(), &reply)
        .context("sending reply")?;
    output.flush().context("sending reply")?;
    Ok(Outcome {
        compiler,
        status: Some(reply.status as i32),
        refused: None,
    })
}

/// The source's name as the client sent it, for the stats page: the last
/// word that names a source and is not `-o`'s.
fn source_name(argv: &[OsString]) -> String {
    argv.iter()
        .enumerate()
        .skip(1)
        .rfind(|(i, a)| {
            !a.to_string_lossy().starts_with('-')
                && Lang::from_path(a).is_some()
                && argv[i - 1] != "-o"
        })
        .map_or_else(|| "none".into(), |(_, a)| a.to_string_lossy().into_owned())
}

/// A pipe for the compiler's stdin: the read end for the child, the write
/// end (close-on-exec, so no compiler inherits it) for us.
fn pipe() -> io::Result<(OwnedFd, File)> {
    let (read, write) = sys::pipe(false)?;
    Ok((read, File::from(write)))
}

/// Removes every occurrence of `prefix`: the server's private root in
/// exact mode, so mirrored paths read as the client's own.
fn remove_all(bytes: Vec<u8>, prefix: &[u8]) -> Vec<u8> {
    if prefix.is_empty() || bytes.len() < prefix.len() {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(prefix) {
            i += prefix.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

pub(super) fn refuse<W: Write>(
    server: &Server,
    output: &mut W,
    head: &RequestHead,
    compiler: String,
    refusal: Refusal,
) -> Result<Outcome> {
    log::warn!("refused {compiler:?}: {}", refusal.message);
    server.stats.refused();
    let reply = Reply {
        status: exit::exited(refusal.code.as_u8()),
        stderr: format!("distccd: {}\n", refusal.message).into_bytes(),
        ..Reply::default()
    };
    protocol::write_reply(output, head.version, head.version.codec(), &reply)
        .context("sending refusal")?;
    output.flush().ok();
    Ok(Outcome {
        compiler,
        status: None,
        refused: Some(refusal.code),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn remove_all_strips_the_root() {
        assert_eq!(
            remove_all(b"/j/root/p/x.c:1: error /j/root/q".to_vec(), b"/j/root"),
            b"/p/x.c:1: error /q"
        );
    }

    #[test]
    fn deadline_gives_up_when_the_daemon_stops() {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let stop = Latch::new().unwrap();
        stop.set();
        let mut r = Deadline::new(ours, Duration::from_secs(60), stop.fd());
        let started = Instant::now();
        // read_exact retries `Interrupted`: the error must be another kind.
        let e = r.read_exact(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn deadline_times_out_a_silent_peer() {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let stop = Latch::new().unwrap();
        let mut r = Deadline::new(ours, Duration::from_millis(50), stop.fd());
        let e = r.read_exact(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
}
