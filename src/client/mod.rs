//! `distcc [COMPILER] ARGS...` and the masquerading compiler names.
//!
//! Parse → decide → act: `scan` classifies the command line (with the flag
//! table in `flags`), `pick` chooses a volunteer through the `lock` slots
//! and `backoff` records, `cpp` preprocesses here while `remote` connects,
//! and `local` runs the real compiler when the job stays here. Three
//! outcomes stay apart: the compiler ran (its status is passed through),
//! the job runs locally by decision (not an error, a reason), and distcc
//! failed (fall back, or exit with distcc's code).

pub mod backoff;
pub mod cpp;
pub mod flags;
pub mod history;
pub mod hosts;
pub mod local;
pub mod lock;
pub mod pick;
pub mod remote;
pub mod respfile;
pub mod scan;
pub mod state;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};

use crate::exit::{self, Code};
use crate::masquerade::{self, Compiler};
use crate::protocol::Reply;
use crate::settings::Settings;
use hosts::Host;
use scan::{Job, Scan};
use state::{JobState, Phase};

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
    masquerade::check_safeguard(std::env::var_os(masquerade::SAFEGUARD).as_deref())?;
    let settings = Settings::from_env();
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
                    "distcc {} (protocols 1 and 2) (default port 3632)",
                    env!("CARGO_PKG_VERSION")
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
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let compiler = masquerade::find_compiler(
        &name,
        argv0,
        masquerade_name.is_some(),
        &path_var,
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

/// `distcc gcc ...` names its compiler; `distcc -c x.c` and `distcc x.c`
/// do not (then it is `cc`), as in the reference.
fn names_compiler(first: &OsStr) -> bool {
    let s = first.to_string_lossy();
    !(s.starts_with('-')
        || scan::Lang::from_path(first).is_some()
        || [".o", ".a", ".so", ".h", ".hpp"]
            .iter()
            .any(|e| s.ends_with(e)))
}

fn run_local(compiler: &Compiler, args: &[OsString]) -> Result<u8> {
    let status = local::run(compiler, args)?;
    Ok(exit::of_wait_status(status.into_raw()))
}

fn show_hosts(settings: &Settings) -> Result<u8> {
    match pick::load(settings)? {
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
    let n = pick::load(settings)?.map_or(0, |l| l.list.total_slots());
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
    /// The host is to blame (unreachable, broken); another may do.
    host_fault: bool,
}

impl Client<'_> {
    fn distribute(&self, job: &Job) -> Result<u8> {
        let loaded = match pick::load(self.settings) {
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
        // One retry on another host when a host fails mid-job.
        for attempt in 0..2 {
            self.state.phase(Phase::Blocked);
            let slot = match pick::pick(&hosts, self.settings, &tried, attempt == 0)? {
                Some(s) => s,
                None => break,
            };
            let host = &hosts[slot.host];
            tried.push(slot.host);
            self.state.host(&pick::key(host), slot.slot);
            if host.is_local() {
                log::info!("compiling {} on localhost", job.input.to_string_lossy());
                self.state.local("localhost is in the host list");
                return run_local(self.compiler, self.args);
            }
            match self.remote(job, host, &mut temps) {
                Ok(code) => {
                    self.state.remote_done();
                    pick::mark_ok(host, self.settings);
                    self.finish(temps);
                    return Ok(code);
                }
                Err(f) => {
                    self.state.host_failed();
                    if f.host_fault {
                        pick::mark_failed(host, self.settings, &format!("{:#}", f.err));
                    }
                    let msg = format!("{host}: {:#}", f.err);
                    log::warn!("{msg}");
                    last_err = Some(f.err.context(msg));
                    if !f.host_fault {
                        break;
                    }
                }
            }
        }
        self.finish(temps);
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
    fn remote(&self, job: &Job, host: &Host, temps: &mut Option<cpp::Temps>) -> Result<u8, Failed> {
        let local_fault = |err: anyhow::Error| Failed {
            err,
            host_fault: false,
        };
        let host_fault = |err: anyhow::Error| Failed {
            err,
            host_fault: true,
        };
        let version = remote::version_of(host);
        let started = Instant::now();

        // Preprocess (once, even across a retry) while connecting.
        let mut conn = None;
        let source: std::path::PathBuf = if !job.needs_cpp() {
            self.state.phase(Phase::Connect);
            conn = Some(remote::connect(host, self.settings).map_err(host_fault)?);
            job.input.clone().into()
        } else if let Some(t) = temps {
            t.preprocessed.clone()
        } else {
            self.state.phase(Phase::Preprocess);
            let t = cpp::Temps::new(&self.settings.tmpdir, job).map_err(local_fault)?;
            let cpp_slot = lock::acquire_cpp(&pick::lock_dir(self.settings), cpp_slots())
                .map_err(local_fault)?;
            let pre = cpp::Preprocessor::start(self.compiler, job, &t).map_err(local_fault)?;
            self.state.phase(Phase::Connect);
            let connected = remote::connect(host, self.settings);
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
            conn = Some(connected.map_err(host_fault)?);
            let p = t.preprocessed.clone();
            *temps = Some(t);
            p
        };
        let mut conn = match conn {
            Some(c) => c,
            None => {
                self.state.phase(Phase::Connect);
                remote::connect(host, self.settings).map_err(host_fault)?
            }
        };
        let cpp_done = started.elapsed();

        let mut argv: Vec<OsString> = vec![Path::new(self.name)
            .file_name()
            .unwrap_or(self.name)
            .to_os_string()];
        argv.extend(job.server_args());
        argv.extend(colour_arg(self.args));
        log::debug!(
            "sending to {host} (protocol {}): {:?}",
            version.number(),
            argv
        );
        self.state.phase(Phase::Send);
        remote::send(&mut conn, version, &argv, &source, self.settings.tcp_cork)
            .map_err(host_fault)?;
        let sent = started.elapsed();
        self.state.phase(Phase::Compile);
        remote::wait_readable(&conn, self.settings.io_timeout);
        self.state.phase(Phase::Receive);
        let reply = remote::receive(&mut conn, version).map_err(host_fault)?;
        drop(conn);
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

    /// Hands the remote compiler's results to the user: diagnostics, output,
    /// object file, exit status.
    fn accept_reply(&self, job: &Job, reply: Reply) -> Result<u8, Failed> {
        let status = reply.status as i32;
        if libc::WIFEXITED(status) && is_distcc_code(libc::WEXITSTATUS(status)) {
            // The server refused or could not run the compiler: nothing
            // compiled, so this is a distribution failure, not the job's.
            let msg = String::from_utf8_lossy(&reply.stderr).trim().to_string();
            return Err(Failed {
                err: anyhow!(
                    "server failed with exit {}: {msg}",
                    libc::WEXITSTATUS(status)
                ),
                host_fault: libc::WEXITSTATUS(status) == Code::Timeout.as_u8() as i32,
            });
        }
        std::io::stderr().write_all(&reply.stderr).ok();
        std::io::stdout().write_all(&reply.stdout).ok();
        std::io::stdout().flush().ok();
        let output = Path::new(&job.output);
        if status == 0 {
            write_atomically(output, &reply.object).map_err(|err| Failed {
                err,
                host_fault: false,
            })?;
        } else if output.symlink_metadata().is_ok_and(|m| m.is_file()) {
            // gcc removes its output when a compile fails.
            fs::remove_file(output).ok();
        }
        Ok(exit::of_wait_status(status))
    }
}

/// distcc's own exit codes (100..=120) in a remote status mean the daemon
/// did not compile; compilers do not use that range.
fn is_distcc_code(code: i32) -> bool {
    (100..=120).contains(&code)
}

fn cpp_slots() -> u32 {
    std::env::var("DISTCC_LOCALSLOTS_CPP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get() as u32))
}

/// gcc colours diagnostics only when its stderr is a terminal, and the
/// server's never is: ask for colour explicitly when ours is and the user
/// has not chosen.
fn colour_arg(args: &[OsString]) -> Option<OsString> {
    let chosen = args.iter().any(|a| {
        let a = a.to_string_lossy();
        a.starts_with("-fdiagnostics-color") || a.starts_with("-fno-diagnostics-color")
    });
    let term_ok = std::env::var("TERM").is_ok_and(|t| !t.is_empty() && t != "dumb");
    let gcc_colors_off = std::env::var_os("GCC_COLORS").is_some_and(|v| v.is_empty());
    (!chosen && term_ok && !gcc_colors_off && std::io::stderr().is_terminal())
        .then(|| "-fdiagnostics-color=always".into())
}

/// Writes `data` to `path` via a temp file in the same dir and a rename,
/// so the object is whole or absent, never partial. Permissions follow
/// the umask, as the compiler's own output would.
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".distcc-")
        .tempfile_in(dir)
        .map_err(|e| {
            anyhow!(Code::IoError).context(format!("cannot write in {}: {e}", dir.display()))
        })?;
    tmp.write_all(data)
        .map_err(|e| anyhow!(Code::IoError).context(format!("writing {}: {e}", path.display())))?;
    let mode = 0o666 & !current_umask();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode)).ok();
    tmp.persist(path).map_err(|e| {
        anyhow!(Code::IoError).context(format!("renaming into {}: {}", path.display(), e.error))
    })?;
    Ok(())
}

fn current_umask() -> u32 {
    // SAFETY: umask only swaps a process-wide mask; the client is
    // single-threaded here, so reading it by setting and restoring is safe.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old as u32
    }
}
