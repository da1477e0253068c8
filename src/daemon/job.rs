//! Running a prepared job and replying. Whichever dialect read the request
//! (`plain`, `streamed`, `exact`, `hashed`), it hands over a [`Job`]: the
//! program and argv to run, its files in place in a private job dir, how
//! the compiler is fed, and the form of the reply. This module waits for a
//! job slot, runs the compiler (`run`, in its `sandbox`), collects what it
//! wrote and answers; [`refuse`] answers a request that will not run.
//! Nothing here knows which dialect a job came from.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::cached::{self, Looked};
use super::reads::ReadsFrom;
use super::refusal::Refusal;
use super::run::{self, Ended, Finished, Running};
use super::sandbox::Jail;
use super::server::Server;
use super::space;
use super::stats::Permit;
use super::status;
use super::unmap;
use crate::exit::{self, Code};
use crate::protocol::note::CacheUse;
use crate::protocol::{OutputKind, Reply, ReplyForm};
use crate::sys;

pub use super::prepared::{dir, source_name, Feed, Job, Outcome, PipeFeed, Verdict};

/// The compiler's stdout and stderr, captured in the job dir.
struct Captured {
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Captured {
    fn new(dir: &Path) -> Captured {
        Captured {
            stdout: dir.join("compiler.stdout"),
            stderr: dir.join("compiler.stderr"),
        }
    }

    fn stdio(&self, stdin: Stdio) -> io::Result<run::Stdio3> {
        Ok(run::Stdio3 {
            stdin,
            stdout: File::create(&self.stdout)?,
            stderr: File::create(&self.stderr)?,
        })
    }
}

/// A compiler not yet waited for: started early on a pipe, or to be
/// started once the job has its slot.
enum Start<'a> {
    Deferred(run::Stdio3),
    Early {
        running: Running,
        pipe: File,
        token: Permit<'a>,
    },
}

/// Everything `run` needs to start the compiler, however it is fed.
struct Launch<'j> {
    server: &'j Server,
    program: &'j Path,
    args: Vec<OsString>,
    cwd: &'j Path,
    jail: Option<Jail>,
    /// The server's environment and the job's own variables.
    env: Vec<(OsString, OsString)>,
}

impl<'j> Launch<'j> {
    fn new(
        server: &'j Server,
        program: &'j Path,
        args: Vec<OsString>,
        cwd: &'j Path,
        dir: &Path,
        job_env: Vec<(OsString, OsString)>,
    ) -> Result<Launch<'j>> {
        let jail = match server.sandbox {
            true => Jail::for_job(dir, program).context("building the sandbox")?,
            false => None,
        };
        let mut env = server.env.clone();
        env.extend(job_env);
        Ok(Launch {
            server,
            program,
            args,
            cwd,
            jail,
            env,
        })
    }

    fn spawn(&self, io: run::Stdio3) -> Result<Running, Refusal> {
        self.spawn_with(&[], io)
    }

    /// The compiler with `extra` words after the job's own.
    fn spawn_with(&self, extra: &[OsString], io: run::Stdio3) -> Result<Running, Refusal> {
        let args: Vec<OsString>;
        let args = if extra.is_empty() {
            &self.args
        } else {
            args = self.args.iter().chain(extra).cloned().collect();
            &args
        };
        run::spawn(
            self.program,
            args,
            self.cwd,
            &self.env,
            io,
            &self.server.run_limits,
            self.jail.as_ref(),
        )
        .map_err(|e| self.cannot_run(e))
    }

    fn cannot_run(&self, e: io::Error) -> Refusal {
        Refusal::new(
            Code::CompilerMissing,
            format!("cannot run {}: {e}", self.program.display()),
        )
    }
}

/// Answers from the result cache when it has the job's result (no slot, no
/// compiler); otherwise waits for a job slot, runs the compiler, and
/// replies. The slot and the job dir are released before the reply goes
/// out, so a client that reads slowly holds neither. Long because that
/// order is the point: each step releases what the one before it held,
/// which a split would hide.
pub fn run<W: Write>(
    server: &Server,
    mut job: Job<'_>,
    output: &mut W,
    client_fd: RawFd,
) -> Result<Outcome> {
    let key = match cached::lookup(server, &mut job) {
        Looked::Hit(reply) => return answer_cached(server, job, output, reply),
        Looked::Miss(key) => Some(key),
        Looked::Off => None,
    };
    let Job {
        compiler,
        source,
        program,
        mut args,
        cwd,
        dir,
        object,
        deps,
        unmap,
        feed,
        reply: form,
        reads,
        env,
        ..
    } = job;
    let captured = Captured::new(dir.path());
    let mut outputs = vec![object.as_path()];
    outputs.extend(deps.as_deref());
    let held = space::Held::new(&outputs).context("creating the job's outputs")?;
    // gcc runs the assembler beside cc1 with -pipe, rather than after it
    // through a temp file: the object is the same, sooner.
    args.insert(0, "-pipe".into());
    let launch = Launch::new(server, &program, args, &cwd, dir.path(), env)?;
    let start = match start(&launch, &captured, feed, output)? {
        Ok(s) => s,
        Err(r) => return refuse(server, form, output, compiler, r),
    };
    let slot = server.slots.acquire();
    if server.stop.is_set() {
        drop(slot);
        let refusal = Refusal::new(Code::Busy, "the server is shutting down");
        return refuse(server, form, output, compiler, refusal);
    }
    let counted = server.stats.start(&compiler);
    let started = Instant::now();
    let watch = run::Watch {
        cancel: Some(server.stop.fd()),
        client: Some(client_fd),
    };
    let finished = match start.into_running(&launch) {
        Ok(r) => r.wait(watch).map_err(|e| launch.cannot_run(e)),
        Err(r) => Err(r),
    };
    let finished = match finished {
        Ok(f) => f,
        Err(r) => return refuse(server, form, output, compiler, r),
    };
    let outputs = Outputs {
        object: &object,
        deps: deps.clone(),
        dwo: form.extras.contains(&OutputKind::SplitDwarf),
    };
    let mut reply = collect(server, &finished, &captured, outputs, unmap.clone())?;
    if let (Some(ReadsFrom::Rerun(file)), Ended::Exited) = (&reads, finished.ended) {
        // After the object is read: this run truncates it.
        list_reads(server, &launch, file, client_fd);
    }
    if let Some(r) = &reads {
        reply.set_output(
            OutputKind::Reads,
            r.collect(deps.as_deref(), unmap.as_deref()),
        );
    }
    let reply = unless_out_of_room(server, &compiler, &finished, dir.path(), reply);
    drop(held);
    let ok = finished.status == 0 && finished.ended == Ended::Exited;
    server
        .stats
        .finish(ok, finished.ended, started.elapsed(), &compiler, &source);
    drop(counted);
    drop(slot);
    release(server, dir);
    if let Some(key) = key {
        cached::keep(server, &key, &finished, &reply);
    }
    let cache = if key.is_some() {
        CacheUse::Miss
    } else {
        CacheUse::Off
    };
    let reply = send(server, form, output, reply, Some(cache))?;
    Ok(Outcome {
        compiler,
        status: Some(reply.status as i32),
        refused: None,
    })
}

/// Runs the job's command line once more as a dependency listing only
/// (`-M` into `file`, last of its kind, so it wins over the user's
/// `-MMD`), for a complete list of the files read. What it says is
/// dropped: the compile said it already. A failure leaves no list, which
/// the client treats as unverified.
fn list_reads(server: &Server, launch: &Launch<'_>, file: &Path, client_fd: RawFd) {
    let null = || File::create("/dev/null");
    let (Ok(out), Ok(err)) = (null(), null()) else {
        return;
    };
    let io = run::Stdio3 {
        stdin: Stdio::null(),
        stdout: out,
        stderr: err,
    };
    let extra = ["-M".into(), "-MF".into(), file.as_os_str().to_os_string()];
    let watch = run::Watch {
        cancel: Some(server.stop.fd()),
        client: Some(client_fd),
    };
    if let Ok(running) = launch.spawn_with(&extra, io) {
        running.wait(watch).ok();
    }
}

/// Starts the compiler now if it reads a pipe (telling the client to go
/// ahead and feeding it), or readies its streams to start it later.
fn start<'a, W: Write>(
    launch: &Launch<'_>,
    captured: &Captured,
    feed: Feed<'a>,
    output: &mut W,
) -> Result<Result<Start<'a>, Refusal>> {
    match feed {
        Feed::File => Ok(Ok(Start::Deferred(captured.stdio(Stdio::null())?))),
        Feed::Pipe { mut feed, token } => {
            let (read, write) = pipe().context("creating the compiler's input pipe")?;
            let running = match launch.spawn(captured.stdio(Stdio::from(read))?) {
                Ok(r) => r,
                Err(r) => return Ok(Err(r)),
            };
            // An error here drops `running`, which kills the compiler.
            let pipe = feed(output, write)?;
            Ok(Ok(Start::Early {
                running,
                pipe,
                token,
            }))
        }
    }
}

impl Start<'_> {
    /// The running compiler, once the job holds its slot.
    fn into_running(self, launch: &Launch<'_>) -> Result<Running, Refusal> {
        match self {
            Start::Deferred(io) => launch.spawn(io),
            Start::Early {
                running,
                pipe,
                token,
            } => {
                drop(token);
                // End of input: the compile proper starts now, in its slot.
                drop(pipe);
                Ok(running)
            }
        }
    }
}

/// The reply to a compile that ran: its status and streams, and its
/// outputs if it succeeded; or the daemon's own code if it ended the
/// compile. A client that hung up gets no reply.
/// The files a successful compile left for the reply.
struct Outputs<'p> {
    object: &'p Path,
    deps: Option<PathBuf>,
    /// The split DWARF file, named after the object (`-gsplit-dwarf`).
    dwo: bool,
}

fn collect(
    server: &Server,
    finished: &Finished,
    captured: &Captured,
    outputs: Outputs,
    unmap: Option<Vec<u8>>,
) -> Result<Reply> {
    let Outputs { object, deps, dwo } = outputs;
    let unmap = |bytes: Vec<u8>| match &unmap {
        Some(prefix) => unmap::remove_all(bytes, prefix),
        None => bytes,
    };
    let mut reply = Reply {
        status: finished.status as u32,
        stderr: unmap(fs::read(&captured.stderr)?),
        stdout: unmap(fs::read(&captured.stdout)?),
        ..Reply::default()
    };
    match finished.ended {
        Ended::ClientGone => {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "client hung up during the compile; compiler killed",
            )
            .into())
        }
        Ended::Exited if finished.status == 0 => {
            reply.set_output(OutputKind::Object, fs::read(object).unwrap_or_default());
            if dwo {
                let dwo = fs::read(object.with_extension("dwo")).unwrap_or_default();
                reply.set_output(OutputKind::SplitDwarf, dwo);
            }
            if let Some(d) = &deps {
                let d = unmap::reflow_deps(&unmap(fs::read(d).unwrap_or_default()));
                reply.set_output(OutputKind::Deps, d);
            }
        }
        Ended::Exited => {}
        Ended::LifetimeOver => {
            let lifetime = server.run_limits.lifetime.unwrap_or_default();
            ended_by_us(&mut reply, Code::Timeout, &lifetime_note(lifetime));
        }
        Ended::Cancelled => ended_by_us(
            &mut reply,
            Code::Busy,
            "compile killed: the server is shutting down",
        ),
    }
    Ok(reply)
}

fn lifetime_note(lifetime: Duration) -> String {
    format!(
        "compile killed after --job-lifetime of {} s",
        lifetime.as_secs()
    )
}

/// `reply`, unless the compile failed having filled the job's disk
/// (`space`): then what the compiler said, followed by the server's
/// refusal with its code as the status, so the client compiles elsewhere.
fn unless_out_of_room(
    server: &Server,
    compiler: &str,
    finished: &Finished,
    dir: &Path,
    mut reply: Reply,
) -> Reply {
    let failed = finished.ended == Ended::Exited && finished.status != 0;
    if !failed || !space::exhausted(dir) {
        return reply;
    }
    let r = space::no_space(&server.tmpdir, "the compile's output did not fit");
    log::warn!("refused {compiler:?}: {}", r.message);
    server.stats.refused();
    ended_by_us(&mut reply, r.code, &r.message);
    reply.outputs.clear();
    reply
}

/// Makes `reply` say the daemon ended the compile, with `code` and why.
fn ended_by_us(reply: &mut Reply, code: Code, why: &str) {
    reply.status = exit::exited(code.as_u8());
    reply
        .stderr
        .extend_from_slice(format!("distccd: {why}\n").as_bytes());
}

/// Removes the job dir, or keeps it (`DISTCCD_SAVE_TEMPS`) and says where.
pub(super) fn release(server: &Server, dir: tempfile::TempDir) {
    if server.save_temps {
        let kept = dir.keep();
        log::info!("kept job files in {}", kept.display());
    } else {
        drop(dir);
    }
}

/// Sends `reply`, with the note (what the result cache did, `cache`, and
/// the status now) if the client asked for one; gives the reply back.
pub(super) fn send<W: Write>(
    server: &Server,
    form: ReplyForm,
    output: &mut W,
    mut reply: Reply,
    cache: Option<CacheUse>,
) -> Result<Reply> {
    if form.notes {
        reply.note = Some(status::note(server, cache));
    }
    form.write(output, &reply).context("sending reply")?;
    output.flush().context("sending reply")?;
    Ok(reply)
}

/// A pipe for the compiler's stdin: the read end for the child, the write
/// end (close-on-exec, so no compiler inherits it) for us.
fn pipe() -> io::Result<(OwnedFd, File)> {
    let (read, write) = sys::pipe(false)?;
    Ok((read, File::from(write)))
}

/// The reply that says `refusal`: its code as the status, its reason on
/// stderr, no outputs.
pub fn refusal_reply(refusal: &Refusal) -> Reply {
    Reply {
        status: exit::exited(refusal.code.as_u8()),
        stderr: format!("distccd: {}\n", refusal.message).into_bytes(),
        ..Reply::default()
    }
}

/// Answers a request that will not run: the refusal's code as the status,
/// its reason on stderr. Logged at warning: an operator must see why
/// clients were turned away.
pub fn refuse<W: Write>(
    server: &Server,
    form: ReplyForm,
    output: &mut W,
    compiler: String,
    refusal: Refusal,
) -> Result<Outcome> {
    log::warn!("refused {compiler:?}: {}", refusal.message);
    server.stats.refused();
    let mut reply = refusal_reply(&refusal);
    if form.notes {
        reply.note = Some(status::note(server, None));
    }
    form.write(output, &reply).context("sending refusal")?;
    output.flush().ok();
    Ok(Outcome {
        compiler,
        status: None,
        refused: Some(refusal.code),
    })
}

/// Answers from the result cache: no job slot, no compiler.
fn answer_cached<W: Write>(
    server: &Server,
    job: Job,
    output: &mut W,
    reply: Reply,
) -> Result<Outcome> {
    log::info!("{}: answered from the result cache", job.compiler);
    release(server, job.dir);
    let reply = send(server, job.reply, output, reply, Some(CacheUse::Hit))?;
    Ok(Outcome {
        compiler: job.compiler,
        status: Some(reply.status as i32),
        refused: None,
    })
}
