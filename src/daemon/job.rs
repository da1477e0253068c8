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

use super::cache::Compile;
use super::refusal::Refusal;
use super::run::{self, Ended, Finished, Running};
use super::sandbox::Jail;
use super::server::Server;
use super::space;
use super::stats::Permit;
use super::unmap;
use crate::args::Lang;
use crate::exit::{self, Code};
use crate::protocol::hashed::Digest;
use crate::protocol::{OutputKind, Reply, ReplyForm, RequestHead};
use crate::sys;

/// A compile ready to run.
pub struct Job<'a> {
    /// argv[0] as the client sent it, for the log and the stats page.
    pub compiler: String,
    /// The source's name as the client sent it, for the stats page.
    pub source: String,
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
    pub feed: Feed<'a>,
    /// How the answer goes on the wire.
    pub reply: ReplyForm,
    /// The digest of the job's inputs (`cache::Inputs`), when its dialect
    /// took them: then the result cache may answer or keep it.
    pub inputs: Option<Digest>,
    /// The reply the result cache had for it already (a hashed job asks
    /// before its files are sent).
    pub cached: Option<Reply>,
}

impl Job<'_> {
    /// A compile of preprocessed source in its own job `dir`, which is also
    /// where it runs and writes `output_name`: the plain and streamed
    /// dialects' jobs. Fed from a file until the caller says otherwise.
    pub fn in_dir(
        head: &RequestHead,
        program: PathBuf,
        args: Vec<OsString>,
        dir: tempfile::TempDir,
        output_name: &str,
    ) -> Self {
        Job {
            compiler: head.argv[0].to_string_lossy().into_owned(),
            source: source_name(&head.argv),
            program,
            args,
            cwd: dir.path().to_path_buf(),
            object: dir.path().join(output_name),
            dir,
            deps: None,
            unmap: None,
            feed: Feed::File,
            reply: ReplyForm::of(head.version),
            inputs: None,
            cached: None,
        }
    }
}

/// A job ready to run, or why it will not: what a dialect makes of a
/// request.
pub type Verdict<'a> = std::result::Result<Job<'a>, Refusal>;

/// A fresh private dir for one job under the daemon's temp dir.
pub fn dir(server: &Server) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("distccd_")
        .tempdir_in(&server.tmpdir)
}

/// Tells the client to go ahead, then fills the compiler's stdin (the
/// pipe's write end) with the streamed source and hands the pipe back open.
pub type PipeFeed<'a> = Box<dyn FnMut(&mut dyn Write, File) -> Result<File> + 'a>;

/// How the compiler gets its input.
pub enum Feed<'a> {
    /// From a file in the job dir; stdin is /dev/null.
    File,
    /// From a pipe, the compiler started before its source has arrived:
    /// `feed` tells the client to go ahead, then fills the pipe's write end
    /// with the source and hands it back open. The compiler, which reads
    /// its whole input before compiling, starts its work only once the
    /// pipe is closed, and that waits for a job slot.
    Pipe {
        feed: PipeFeed<'a>,
        /// Held from before the compiler starts until it has a job slot.
        token: Permit<'a>,
    },
}

/// What became of one connection, for the log.
#[derive(Debug)]
pub struct Outcome {
    pub compiler: String,
    pub status: Option<i32>,
    pub refused: Option<Code>,
}

/// The name `source` gets in a [`Job`]: the last word that names a source
/// and is not `-o`'s.
pub fn source_name(argv: &[OsString]) -> String {
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
}

impl<'j> Launch<'j> {
    fn new(
        server: &'j Server,
        program: &'j Path,
        args: Vec<OsString>,
        cwd: &'j Path,
        dir: &Path,
    ) -> Result<Launch<'j>> {
        let jail = match server.sandbox {
            true => Jail::for_job(dir, program).context("building the sandbox")?,
            false => None,
        };
        Ok(Launch {
            server,
            program,
            args,
            cwd,
            jail,
        })
    }

    fn spawn(&self, io: run::Stdio3) -> Result<Running, Refusal> {
        run::spawn(
            self.program,
            &self.args,
            self.cwd,
            &self.server.env,
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
/// out, so a client that reads slowly holds neither.
pub fn run<W: Write>(
    server: &Server,
    mut job: Job<'_>,
    output: &mut W,
    client_fd: RawFd,
) -> Result<Outcome> {
    let key = match lookup(server, &mut job) {
        Looked::Hit(reply) => return answer_cached(server, job, output, &reply),
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
        ..
    } = job;
    let captured = Captured::new(dir.path());
    let mut outputs = vec![object.as_path()];
    outputs.extend(deps.as_deref());
    let held = space::Held::new(&outputs).context("creating the job's outputs")?;
    // gcc runs the assembler beside cc1 with -pipe, rather than after it
    // through a temp file: the object is the same, sooner.
    args.insert(0, "-pipe".into());
    let launch = Launch::new(server, &program, args, &cwd, dir.path())?;
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
    let reply = collect(server, &finished, &captured, &object, deps, unmap)?;
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
        keep(server, &key, &finished, &reply);
    }
    send(form, output, &reply)?;
    Ok(Outcome {
        compiler,
        status: Some(reply.status as i32),
        refused: None,
    })
}

/// What the result cache says of a job.
enum Looked {
    Hit(Reply),
    /// Not cached: its key, to keep the result under.
    Miss(Digest),
    /// No cache, or a job it cannot key.
    Off,
}

fn lookup(server: &Server, job: &mut Job) -> Looked {
    let (Some(cache), Some(inputs)) = (&server.cache, &job.inputs) else {
        return Looked::Off;
    };
    if let Some(reply) = job.cached.take() {
        return Looked::Hit(reply);
    }
    let compile = Compile {
        program: &job.program,
        args: &job.args,
        cwd: &job.cwd,
        dir: job.dir.path(),
        version: job.reply.version.number(),
        source: &job.source,
        setting: &server.cache_setting,
        inputs,
    };
    let Some(key) = cache.key(&compile) else {
        return Looked::Off;
    };
    match cache.get(&key) {
        Some(reply) => Looked::Hit(reply),
        None => Looked::Miss(key),
    }
}

/// Keeps a compile's reply in the result cache before it is sent, so a
/// client that has its result knows the next one will find it. Only a
/// compile that ended by itself, and was not refused for room, is the
/// compile's own result.
fn keep(server: &Server, key: &Digest, finished: &Finished, reply: &Reply) {
    let Some(cache) = &server.cache else { return };
    let exited = finished.ended == Ended::Exited && libc::WIFEXITED(finished.status);
    if exited && reply.status == finished.status as u32 {
        if let Err(e) = cache.put(key, reply) {
            log::warn!("result not cached: {e:#}");
        }
    }
}

/// Answers from the result cache: no job slot, no compiler.
fn answer_cached<W: Write>(
    server: &Server,
    job: Job,
    output: &mut W,
    reply: &Reply,
) -> Result<Outcome> {
    log::info!("{}: answered from the result cache", job.compiler);
    release(server, job.dir);
    send(job.reply, output, reply)?;
    Ok(Outcome {
        compiler: job.compiler,
        status: Some(reply.status as i32),
        refused: None,
    })
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
fn collect(
    server: &Server,
    finished: &Finished,
    captured: &Captured,
    object: &Path,
    deps: Option<PathBuf>,
    unmap: Option<Vec<u8>>,
) -> Result<Reply> {
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
fn release(server: &Server, dir: tempfile::TempDir) {
    if server.save_temps {
        let kept = dir.keep();
        log::info!("kept job files in {}", kept.display());
    } else {
        drop(dir);
    }
}

fn send<W: Write>(form: ReplyForm, output: &mut W, reply: &Reply) -> Result<()> {
    form.write(output, reply).context("sending reply")?;
    output.flush().context("sending reply")
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
    form.write(output, &refusal_reply(&refusal))
        .context("sending refusal")?;
    output.flush().ok();
    Ok(Outcome {
        compiler,
        status: None,
        refused: Some(refusal.code),
    })
}
