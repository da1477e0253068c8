//! `distcc [COMPILER] ARGS...` and the masquerading compiler names.
//!
//! Parse → decide → act: `scan` classifies the command line (with the
//! command-line model in `args`), `pick` chooses a volunteer from the host
//! list (`hosts`) through the `lock` slots and the backoff records
//! (`state`), `cpp` preprocesses here while a connection (`transport`)
//! opens, `remote` speaks the request over it (`stream` and `exact` for
//! our own daemons), and `local` runs the real compiler when the job stays
//! here. Three outcomes stay apart: the compiler ran (its status is passed
//! through), the job runs locally by decision (not an error, a reason),
//! and distcc failed (fall back, or exit with distcc's code).

pub mod cpp;
pub mod exact;
pub mod local;
pub mod lock;
pub mod output;
pub mod pick;
pub mod remote;
pub mod scan;
mod stream;
pub mod tee;

use std::ffi::{OsStr, OsString};
use std::io::{IsTerminal, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};

use crate::exit::{self, Code};
use crate::hosts::{self, Host};
use crate::masquerade::{self, Compiler};
use crate::protocol::{OutputKind, Reply, Version};
use crate::settings::Settings;
use crate::state::{self, JobState, Phase};
use crate::transport;
use scan::{Job, Scan};

const USAGE: &str = "\
Usage:
   distcc [COMPILER] [compile options] -o OBJECT -c SOURCE
   distcc [--help | --version | --show-hosts | -j]

   COMPILER defaults to cc. Jobs that compile one source to an object go to
   the hosts in $DISTCC_HOSTS; everything else runs here.

Environment:
   DISTCC_HOSTS           HOST[/LIMIT][:PORT][,lzo] ... (see the manual)
   DISTCC_VERBOSE=1       explain each decision on stderr
   DISTCC_LOG=FILE        write those messages to FILE instead
   DISTCC_DIR             locks and state (default ~/.distcc)
   DISTCC_FALLBACK=0      fail instead of compiling locally when distribution fails
   DISTCC_IO_TIMEOUT      seconds for a remote compile (default 300)
   DISTCC_BACKOFF_PERIOD  seconds a failed host is skipped (default 60)
   DISTCC_SAVE_TEMPS=1    keep the preprocessed file and say where
   DISTCC_STATS=1         say where each job went and its time per phase
";

/// Runs the client. `masquerade` is set when we were invoked under a
/// compiler's name (`argv0`), `args` excludes argv[0].
pub fn main(argv0: &OsStr, masquerade_name: Option<&str>, args: Vec<OsString>) -> Result<u8> {
    let settings = Settings::from_env();
    masquerade::check_safeguard(settings.safeguard.as_deref())?;
    let _log = if settings.logging() {
        crate::logging::client(settings.log.as_deref()).ok()
    } else {
        None
    };

    let (name, args): (OsString, Vec<OsString>) = match masquerade_name {
        Some(n) => (n.into(), args),
        None => match args.first().and_then(|a| a.to_str()) {
            None if args.is_empty() => {
                eprint!("{USAGE}");
                return Err(anyhow!(Code::BadArguments).context("no compiler command given"));
            }
            Some("--help") => {
                print!("{USAGE}");
                return Ok(0);
            }
            Some("--version") => {
                println!(
                    "distcc {} {}",
                    env!("CARGO_PKG_VERSION"),
                    crate::protocol::version_banner()
                );
                return Ok(0);
            }
            Some("--show-hosts") => return show_hosts(&settings),
            Some("-j") => return show_jobs(&settings),
            _ if names_compiler(&args[0]) => (args[0].clone(), args[1..].to_vec()),
            _ => ("cc".into(), args),
        },
    };

    let self_exe = std::env::current_exe().context("finding our own executable")?;
    let compiler = masquerade::find_compiler(
        &name,
        argv0,
        masquerade_name.is_some(),
        &settings.path,
        &self_exe,
    )?;
    log::debug!("compiler {:?} is {}", name, compiler.path.display());

    let job = match scan::scan(&args) {
        Scan::Local(reason) => {
            log::info!("running locally: {reason}");
            let job_state = JobState::start(&settings, state::source_of(&args).as_ref());
            job_state.local(&reason);
            return job_state.finish(run_local(&compiler, &args));
        }
        Scan::Remote(job) => job,
    };
    if let Some(reason) = unwritable_output(&job) {
        log::info!("running locally: {reason}");
        let job_state = JobState::start(&settings, &job.input);
        job_state.local(&reason);
        return job_state.finish(run_local(&compiler, &args));
    }
    let job_state = JobState::start(&settings, &job.input);
    let result = Client {
        settings: &settings,
        compiler: &compiler,
        name: &name,
        args: &args,
        state: &job_state,
    }
    .distribute(&job);
    job_state.finish(result)
}

/// An output dir that does not exist fails the local compile with the
/// assembler's own message; let the compiler say it rather than a remote
/// compile followed by our error.
fn unwritable_output(job: &Job) -> Option<String> {
    let dir = match Path::new(&job.output).parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => return None,
    };
    (!dir.is_dir()).then(|| format!("output directory {} does not exist", dir.display()))
}

/// `distcc gcc ...` names its compiler; `distcc -c x.c` and `distcc x.c`
/// do not (then it is `cc`), as in the reference.
fn names_compiler(first: &OsStr) -> bool {
    let s = first.to_string_lossy();
    !(s.starts_with('-')
        || crate::args::Lang::from_path(first).is_some()
        || [".o", ".a", ".so", ".h", ".hpp"]
            .iter()
            .any(|e| s.ends_with(e)))
}

fn run_local(compiler: &Compiler, args: &[OsString]) -> Result<u8> {
    let status = local::run(compiler, args)?;
    Ok(exit::of_wait_status(status.into_raw()))
}

fn show_hosts(settings: &Settings) -> Result<u8> {
    match hosts::load(settings)? {
        None => {
            Err(anyhow!(Code::NoHosts)
                .context("no hosts: set DISTCC_HOSTS or write ~/.distcc/hosts"))
        }
        Some(l) => {
            for h in &l.list.hosts {
                println!("{h}");
            }
            Ok(0)
        }
    }
}

fn show_jobs(settings: &Settings) -> Result<u8> {
    let n = hosts::load(settings)?.map_or(0, |l| l.list.total_slots());
    println!("{}", n.max(1));
    Ok(0)
}

struct Client<'a> {
    settings: &'a Settings,
    compiler: &'a Compiler,
    /// The compiler as the user named it, sent as argv[0].
    name: &'a OsStr,
    args: &'a [OsString],
    /// What the monitor sees of this job.
    state: &'a JobState,
}

/// Why one remote attempt did not produce a compiler status.
struct Failed {
    err: anyhow::Error,
    blame: Blame,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blame {
    /// Ours (temp files, writing the object): another host would not help.
    Local,
    /// The host could not be reached; no work was lost, so wait for a slot
    /// elsewhere.
    Unreachable,
    /// The host failed during the job (died, broke the protocol, timed
    /// out): one retry elsewhere if a slot is free now, else local.
    MidJob,
    /// The server answered but would not compile (whitelist, policy): try
    /// elsewhere, without marking it down for everyone.
    Refused,
}

impl Failed {
    fn new(blame: Blame) -> impl Fn(anyhow::Error) -> Failed + Copy {
        move |err| Failed { err, blame }
    }
}

impl Client<'_> {
    fn distribute(&self, job: &Job) -> Result<u8> {
        let loaded = match hosts::load(self.settings) {
            Ok(Some(l)) if !l.list.hosts.is_empty() => l,
            Ok(_) => {
                return self
                    .fallback(anyhow!(Code::NoHosts).context(
                        "no hosts configured (set DISTCC_HOSTS or write ~/.distcc/hosts)",
                    ))
            }
            Err(e) => return self.fallback(e),
        };
        log::debug!("hosts from {}", loaded.source);
        let hosts = pick::ordered(&loaded.list);
        let mut tried: Vec<usize> = Vec::new();
        let mut temps: Option<cpp::Temps> = None;
        let mut last_err = None;
        let mut retried = false;
        // Unreachable hosts are skipped freely; a host that fails mid-job
        // costs one retry elsewhere, if a slot is free right then.
        while tried.len() < hosts.len() {
            self.state.phase(Phase::Blocked);
            let slot = match pick::pick(&hosts, self.settings, &tried, !retried)? {
                Some(s) => s,
                None => break,
            };
            let host = &hosts[slot.host];
            tried.push(slot.host);
            if pick::is_backed_off(host, self.settings) {
                // It failed for another client while we waited for its slot.
                continue;
            }
            self.state.host(&host.key(), slot.slot);
            if host.is_local() {
                log::info!("compiling {} on localhost", job.input.to_string_lossy());
                self.state.local("localhost is in the host list");
                return run_local(self.compiler, self.args);
            }
            match self.remote(job, host, cpp_slots(&loaded.list), &mut temps) {
                Ok(code) => {
                    self.state.remote_done();
                    pick::mark_ok(host, self.settings);
                    self.finish(temps);
                    return Ok(code);
                }
                Err(f) => {
                    self.state.host_failed();
                    if matches!(f.blame, Blame::Unreachable | Blame::MidJob) {
                        pick::mark_failed(host, self.settings, &format!("{:#}", f.err));
                    }
                    let err = f.err.context(host.to_string());
                    log::warn!("{err:#}");
                    last_err = Some(err);
                    match f.blame {
                        Blame::Local => break,
                        Blame::Unreachable => {}
                        Blame::MidJob | Blame::Refused if retried => break,
                        Blame::MidJob | Blame::Refused => retried = true,
                    }
                }
            }
        }
        self.finish(temps);
        // Only a compile that will run here waits for a local slot.
        let _local_slot = match loaded.list.local_slots.filter(|_| self.settings.fallback) {
            Some(n) => {
                let local = [lock::SlotRequest {
                    key: "localhost",
                    limit: n,
                }];
                lock::acquire(&pick::lock_dir(self.settings), &local, &|_| false)?
            }
            None => None,
        };
        self.fallback(last_err.unwrap_or_else(|| {
            anyhow!(Code::Busy).context("every host is backed off after recent failures")
        }))
    }

    fn finish(&self, temps: Option<cpp::Temps>) {
        if let Some(t) = temps {
            if self.settings.save_temps {
                let kept = t.keep();
                eprintln!("distcc: temp files kept in {}", kept.display());
            }
        }
    }

    /// Distribution failed: compile here, with one line saying so, unless
    /// `DISTCC_FALLBACK=0`.
    fn fallback(&self, err: anyhow::Error) -> Result<u8> {
        if !self.settings.fallback {
            return Err(err.context("distribution failed and DISTCC_FALLBACK=0"));
        }
        eprintln!("distcc: warning: {err:#}; compiling locally");
        self.state.fallback(&format!("{err:#}"));
        run_local(self.compiler, self.args)
    }

    /// One attempt on one host. `Ok` means the remote compiler ran (its
    /// status is final, success or not).
    fn remote(
        &self,
        job: &Job,
        host: &Host,
        cpp_slots: u32,
        temps: &mut Option<cpp::Temps>,
    ) -> Result<u8, Failed> {
        let local_fault = Failed::new(Blame::Local);
        let unreachable = Failed::new(Blame::Unreachable);
        let mid_job = Failed::new(Blame::MidJob);
        let mut version = remote::version_of(host);
        if version == Version::V3 {
            if job.needs_cpp() && job.exact_ok() {
                return self.remote_exact(job, host, cpp_slots);
            }
            // Nothing to ship but preprocessed text: protocol 2 carries it.
            version = Version::V2;
        }
        if temps.is_none() && self.streams_to(job, host) {
            if let Some(code) = self.remote_streamed(job, host, version, cpp_slots, temps)? {
                return Ok(code);
            }
            // The host does not stream; `temps` holds the whole source now.
        }
        let started = Instant::now();

        // Preprocess (once, even across a retry) while connecting.
        let mut conn = None;
        let source: std::path::PathBuf = if !job.needs_cpp() {
            self.state.phase(Phase::Connect);
            conn = Some(transport::connect(host, self.settings).map_err(unreachable)?);
            job.input.clone().into()
        } else if let Some(t) = temps {
            t.preprocessed.clone()
        } else {
            self.state.phase(Phase::Preprocess);
            let t = cpp::Temps::new(&self.settings.tmpdir, job).map_err(local_fault)?;
            let cpp_slot = lock::acquire_cpp(&pick::lock_dir(self.settings), cpp_slots)
                .map_err(local_fault)?;
            let pre = cpp::Preprocessor::start(self.compiler, job, &t).map_err(local_fault)?;
            self.state.phase(Phase::Connect);
            let connected = transport::connect(host, self.settings);
            self.state.phase(Phase::Preprocess);
            let status = pre.wait().map_err(local_fault)?;
            drop(cpp_slot);
            if !status.success() {
                // The preprocessor already printed the diagnostics: this is
                // the compile error the local compiler would give.
                self.state.local("the preprocessor failed");
                *temps = Some(t);
                return Ok(exit::of_wait_status(status.into_raw()));
            }
            conn = Some(connected.map_err(unreachable)?);
            let p = t.preprocessed.clone();
            *temps = Some(t);
            p
        };
        let mut conn = match conn {
            Some(c) => c,
            None => {
                self.state.phase(Phase::Connect);
                transport::connect(host, self.settings).map_err(unreachable)?
            }
        };
        let cpp_done = started.elapsed();

        let argv = self.server_argv(job);
        log::debug!(
            "sending to {host} (protocol {}): {:?}",
            version.number(),
            argv
        );
        self.state.phase(Phase::Send);
        let sent_bytes = remote::send(&mut conn, version, &argv, &source, self.settings.tcp_cork)
            .map_err(mid_job)?;
        log::debug!("sent {sent_bytes} bytes on the wire");
        let sent = started.elapsed();
        let reply = self.await_reply(conn, version)?;
        log::info!(
            "{} on {host}: preprocess+connect {} ms, send {} ms, compile+receive {} ms, status {}",
            job.input.to_string_lossy(),
            cpp_done.as_millis(),
            (sent - cpp_done).as_millis(),
            (started.elapsed() - sent).as_millis(),
            reply.status
        );
        self.accept_reply(job, reply)
    }

    /// Waits for the server's reply to a sent request and reads it; the
    /// monitor sees the compile and the receiving apart.
    fn await_reply(
        &self,
        mut conn: transport::Connection,
        version: Version,
    ) -> Result<Reply, Failed> {
        self.state.phase(Phase::Compile);
        conn.wait_readable(self.settings.io_timeout);
        self.state.phase(Phase::Receive);
        remote::receive(&mut conn, version).map_err(Failed::new(Blame::MidJob))
    }

    /// What the server's compiler is told: the compiler's basename, the
    /// arguments it needs, and colour when our stderr wants it.
    fn server_argv(&self, job: &Job) -> Vec<OsString> {
        let mut argv: Vec<OsString> = vec![Path::new(self.name)
            .file_name()
            .unwrap_or(self.name)
            .to_os_string()];
        argv.extend(job.server_args());
        argv.extend(colour_arg(self.args, self.settings));
        argv
    }

    /// Exact mode: ship the sources, compile the command line as it is.
    fn remote_exact(&self, job: &Job, host: &Host, cpp_slots: u32) -> Result<u8, Failed> {
        let local_fault = Failed::new(Blame::Local);
        let started = Instant::now();
        let cwd = std::env::current_dir()
            .context("finding the current directory")
            .map_err(local_fault)?;
        let unreachable = Failed::new(Blame::Unreachable);
        let mid_job = Failed::new(Blame::MidJob);
        self.state.phase(Phase::Connect);
        let mut conn = transport::connect(host, self.settings).map_err(unreachable)?;
        self.state.phase(Phase::Preprocess);
        let scratch = cpp::Temps::new(&self.settings.tmpdir, job).map_err(local_fault)?;
        let cpp_slot =
            lock::acquire_cpp(&pick::lock_dir(self.settings), cpp_slots).map_err(local_fault)?;
        let listing = exact::collect(
            self.compiler,
            job,
            scratch.dir(),
            &cwd,
            &self.settings.dir.join("cache"),
        )
        .map_err(local_fault)?;
        drop(cpp_slot);
        let files = match listing {
            exact::Listing::Failed(status) => {
                self.state.local("the preprocessor failed");
                return Ok(exit::of_wait_status(status.into_raw()));
            }
            exact::Listing::Files(f) => f,
        };
        let listed = started.elapsed();
        let mut argv: Vec<OsString> = vec![Path::new(self.name)
            .file_name()
            .unwrap_or(self.name)
            .to_os_string()];
        argv.extend(job.exact_args());
        argv.extend(colour_arg(self.args, self.settings));
        self.state.phase(Phase::Send);
        let mut sent_bytes = None;
        if pick::speaks(host, self.settings, pick::Extension::Hashed) {
            match exact::send_hashed(&mut conn, &cwd, &argv, &files) {
                Ok(n) => sent_bytes = Some(n),
                Err(e) => {
                    // The reference daemon closes on our extension: plain
                    // protocol 3 to this host from now on.
                    log::info!("{host}: no hashed transfer ({e:#}); using protocol 3");
                    pick::mark_unspoken(host, self.settings, pick::Extension::Hashed);
                    conn = transport::connect(host, self.settings).map_err(unreachable)?;
                }
            }
        }
        let sent_bytes = match sent_bytes {
            Some(n) => n,
            None => remote::send_files(&mut conn, &cwd, &argv, &files, self.settings.tcp_cork)
                .map_err(mid_job)?,
        };
        log::debug!(
            "sent to {host} (exact): {argv:?}, {} files, {sent_bytes} bytes on the wire",
            files.len()
        );
        let sent = started.elapsed();
        let mut reply = self.await_reply(conn, Version::V3)?;
        log::info!(
            "{} on {host} (exact): list files {} ms, send {} ms, compile+receive {} ms, status {}",
            job.input.to_string_lossy(),
            listed.as_millis(),
            (sent - listed).as_millis(),
            (started.elapsed() - sent).as_millis(),
            reply.status
        );
        let deps = reply.take_output(OutputKind::Deps);
        let code = self.accept_reply(job, reply)?;
        if code == 0 {
            if let (Some(path), Some(deps)) = (job.dep_file(), deps) {
                output::write(Path::new(&path), &deps).map_err(local_fault)?;
            }
        }
        Ok(code)
    }

    /// Hands the remote compiler's results to the user: diagnostics, output,
    /// object file, exit status.
    fn accept_reply(&self, job: &Job, reply: Reply) -> Result<u8, Failed> {
        let status = reply.status as i32;
        if let Some(code) = exit::exit_code(status).filter(|&c| Code::is_distcc(c)) {
            // The server refused or could not run the compiler: nothing
            // compiled, so this is a distribution failure, not the job's.
            let msg = String::from_utf8_lossy(&reply.stderr).trim().to_string();
            return Err(Failed {
                err: anyhow!("server failed with exit {code}: {msg}"),
                blame: if code == Code::Timeout.as_u8() {
                    Blame::MidJob
                } else {
                    Blame::Refused
                },
            });
        }
        std::io::stderr().write_all(&reply.stderr).ok();
        std::io::stdout().write_all(&reply.stdout).ok();
        std::io::stdout().flush().ok();
        if status == 0 {
            output::write(Path::new(&job.output), reply.object())
                .map_err(Failed::new(Blame::Local))?;
        }
        // A failed compile leaves an existing output alone, as gcc does.
        Ok(exit::of_wait_status(status))
    }
}

/// Local preprocessors allowed at once: `--localslots_cpp` in the host
/// list, else one per core, so `make -j50` does not thrash the workstation.
fn cpp_slots(list: &hosts::HostList) -> u32 {
    list.local_slots_cpp.unwrap_or_else(crate::sys::online_cpus)
}

/// gcc colours diagnostics only when its stderr is a terminal, and the
/// server's never is: ask for colour explicitly when ours is and the user
/// has not chosen.
fn colour_arg(args: &[OsString], settings: &Settings) -> Option<OsString> {
    let chosen = args.iter().any(|a| {
        let a = a.to_string_lossy();
        a.starts_with("-fdiagnostics-color") || a.starts_with("-fno-diagnostics-color")
    });
    (!chosen && settings.colour && std::io::stderr().is_terminal())
        .then(|| "-fdiagnostics-color=always".into())
}
