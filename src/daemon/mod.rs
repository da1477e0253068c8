//! `distccd`: the compile server.
//!
//! Layout: `options` (command line), `access` (`--allow`), `compilers`
//! (the whitelist), `policy` (which compiler arguments are safe, from the
//! flag table in `args`), `run` (one compiler process), `sandbox` (its
//! Landlock jail), `serve` (one job on one connection), `stream`, `mirror`
//! and `hashed` (our streamed and exact-mode requests), `store` (exact
//! mode's content store), `stats` and `machine` (job slots, counters, the
//! stats page), `listen` (the standalone server's loop), `daemonize`
//! (detach, pid file, dropping root), `signals` (stopping). Its
//! environment is `settings::DaemonSettings`, read once.

pub mod access;
pub mod compilers;
pub mod daemonize;
pub mod hashed;
pub mod listen;
pub mod machine;
pub mod mirror;
pub mod options;
pub mod policy;
pub mod run;
pub mod sandbox;
pub mod serve;
pub mod signals;
pub mod stats;
pub mod store;
pub mod stream;

use std::ffi::OsString;
use std::io::{BufWriter, IsTerminal};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use crate::exit::Code;
use crate::logging;
use crate::protocol::{Limits, DEFAULT_PORT};
use crate::settings::DaemonSettings;
use access::Access;
use daemonize::Ready;
use options::Options;
use serve::Server;

pub const DEFAULT_STATS_PORT: u16 = 3633;
/// How long running jobs may finish after SIGTERM without `--job-lifetime`;
/// within systemd's default stop timeout, so we clean up before a SIGKILL.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

fn default_jobs() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32) + 2
}

/// Runs the daemon with `args` (argv without the program name).
pub fn main(args: &[OsString]) -> Result<u8> {
    tune_allocator();
    let strs: Vec<String> = args
        .iter()
        .map(|a| a.to_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| anyhow!(Code::BadArguments).context("distccd arguments must be UTF-8"))?;
    let refs: Vec<&str> = strs.iter().map(String::as_str).collect();
    let mut opts = match Options::parse(&refs) {
        Ok(o) => o,
        Err(early) => {
            return if early.status.is_ok() {
                print!("{}", early.output);
                Ok(0)
            } else {
                eprint!("{}", early.output);
                Err(anyhow!(Code::BadArguments).context("bad distccd options"))
            };
        }
    };
    if opts.version {
        println!(
            "distccd {} {}",
            env!("CARGO_PKG_VERSION"),
            crate::protocol::version_banner()
        );
        return Ok(0);
    }
    if opts.enable_tcp_insecure {
        return Err(anyhow!(Code::BadArguments).context(
            "--enable-tcp-insecure is refused: it would let any client run any program; \
             link the compilers to allow into a masquerade dir (--compiler-dir) instead",
        ));
    }
    if opts.inetd && opts.daemon {
        return Err(anyhow!(Code::BadArguments).context("--inetd and --daemon exclude each other"));
    }
    let access = Access::new(&opts.allow, opts.allow_private)
        .map_err(|e| anyhow!(Code::BadArguments).context(format!("{e:#}")))?;
    let level = logging::level(opts.log_level.as_deref(), opts.verbose)
        .map_err(|e| anyhow!(Code::BadArguments).context(format!("{e:#}")))?;
    // Detaching moves us to /; relative paths mean where we were started.
    opts.log_file = opts.log_file.as_deref().map(absolute).transpose()?;
    opts.pid_file = opts.pid_file.as_deref().map(absolute).transpose()?;

    // inetd mode when asked, or when stdin is a socket and no mode was given.
    let stdin_is_socket = socket2::SockRef::from(&std::io::stdin().as_fd())
        .r#type()
        .is_ok();
    let inetd = opts.inetd || (!opts.daemon && stdin_is_socket && !std::io::stdin().is_terminal());

    let nice = opts.nice.unwrap_or(5);
    // SAFETY: nice(2) only changes our own priority.
    unsafe { libc::nice(nice) };

    if inetd {
        let target = match (&opts.log_file, opts.log_stderr) {
            (Some(f), _) => logging::Target::File(f),
            (None, true) => logging::Target::Stderr,
            _ => logging::Target::Syslog,
        };
        let account = daemonize::account(opts.user.as_deref())?;
        if let Some(f) = &opts.log_file {
            daemonize::prepare_log_file(f, account.as_ref())?;
        }
        let _log = logging::daemon(target, level)?;
        become_account(account.as_ref(), opts.user.as_deref())?;
        let server = build_server(&opts)?;
        return serve_inetd(&server, &access);
    }

    let port = opts.port.unwrap_or(DEFAULT_PORT);
    let addr = listen::listen_addr(opts.listen.as_deref(), port)?;
    let listener = listen::bind(addr)?;
    let stats = if opts.stats {
        let port = opts.stats_port.unwrap_or(DEFAULT_STATS_PORT);
        Some(listen::bind(listen::listen_addr(
            opts.listen.as_deref(),
            port,
        )?)?)
    } else {
        None
    };
    let detach = !opts.no_detach && !opts.no_fork;
    let mut ready = if detach {
        daemonize::detach()?
    } else {
        Ready::foreground()
    };
    let result = standalone(&opts, access, level, listener, stats, detach, &mut ready);
    if let Err(e) = &result {
        ready.fail(crate::protocol::exit_code(e));
    }
    result
}

/// The standalone server once bound and detached: log, pid file, dropping
/// root, then the loop.
fn standalone(
    opts: &Options,
    access: Access,
    level: log::LevelFilter,
    listener: std::net::TcpListener,
    stats: Option<std::net::TcpListener>,
    detach: bool,
    ready: &mut Ready,
) -> Result<u8> {
    let target = match (&opts.log_file, opts.log_stderr, detach) {
        (Some(f), _, _) => logging::Target::File(f),
        (None, true, _) | (None, false, false) => logging::Target::Stderr,
        (None, false, true) => logging::Target::Syslog,
    };
    let account = daemonize::account(opts.user.as_deref())?;
    if let Some(f) = &opts.log_file {
        daemonize::prepare_log_file(f, account.as_ref())?;
    }
    let log = logging::daemon(target, level)?;
    // Before dropping root, so it may live in /run.
    let _pid = opts
        .pid_file
        .as_deref()
        .map(daemonize::PidFile::create)
        .transpose()?;
    become_account(account.as_ref(), opts.user.as_deref())?;
    let server = Arc::new(build_server(opts)?);
    ready.notify(opts.log_stderr && opts.log_file.is_none())?;
    let jobs = server.jobs as usize;
    let cfg = listen::LoopConfig {
        access,
        max_connections: opts
            .max_connections
            .map_or(8 * jobs + 16, |n| n.max(1) as usize),
        inline: opts.no_fork,
        lifetime: opts.lifetime.map(Duration::from_secs),
        stats,
        drain_timeout: server.run_limits.lifetime.unwrap_or(DRAIN_TIMEOUT),
    };
    listen::serve_forever(listener, server, cfg, Some(&log))?;
    log::info!("exiting");
    Ok(0)
}

/// A volunteer runs for months between bursts of jobs: job-sized buffers
/// (sources, objects) are mapped and unmapped rather than left in the heap
/// that glibc raises its mmap threshold into, and threads share two arenas,
/// so memory goes back to the system after each burst.
fn tune_allocator() {
    // SAFETY: mallopt only adjusts glibc's allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn build_server(opts: &Options) -> Result<Server> {
    let settings = DaemonSettings::from_env();
    let self_exe = std::env::current_exe().context("finding our own executable")?;
    let mut dirs = opts.compiler_dir.clone();
    dirs.extend(compilers::default_dirs(&self_exe));
    let listed = match &settings.cmdlist {
        Some(f) => compilers::read_cmdlist(f)
            .with_context(|| format!("reading DISTCC_CMDLIST {}", f.display()))?,
        None => Vec::new(),
    };
    let whitelist = compilers::Whitelist::new(dirs, listed, &settings.path, &self_exe);
    log::debug!("compiler dirs: {:?}", whitelist.dirs());
    let jobs = opts.jobs.unwrap_or_else(default_jobs).max(1);
    let io_timeout = opts
        .io_timeout
        .map_or(settings.io_timeout, Duration::from_secs);
    let mib = |v: Option<u64>| v.map(|m| m.saturating_mul(1 << 20));
    let mut limits = Limits::default();
    if let Some(b) = mib(opts.max_body) {
        limits.max_body = b;
    }
    Ok(Server {
        whitelist,
        limits,
        run_limits: run::RunLimits {
            lifetime: opts.job_lifetime.map(Duration::from_secs),
            cpu_seconds: opts.limit_cpu,
            file_size_bytes: mib(opts.limit_fsize),
            address_space_bytes: mib(opts.limit_as),
        },
        io_timeout: io_timeout.max(Duration::from_secs(1)),
        save_temps: settings.save_temps,
        env: run::compiler_env(settings.vars.iter().cloned()),
        slots: stats::Semaphore::new(jobs),
        early: stats::Semaphore::new(jobs),
        jobs,
        stats: stats::Stats::new(),
        store: open_store(&settings.tmpdir, opts.store_size.unwrap_or(256)),
        tmpdir: settings.tmpdir,
        sandbox: !opts.no_sandbox,
        stop: signals::Latch::new()?,
    })
}

/// Exact mode's content store, private to this daemon's user under its
/// temp dir; without one, hashed requests are refused and clients fall
/// back to plain protocol 3.
fn open_store(tmpdir: &Path, mib: u64) -> Option<store::Store> {
    if mib == 0 {
        return None;
    }
    // SAFETY: getuid never fails.
    let uid = unsafe { libc::getuid() };
    let dir = tmpdir.join(format!("distccd-store-{uid}"));
    match store::Store::open(&dir, mib.saturating_mul(1 << 20)) {
        Ok(s) => Some(s),
        Err(e) => {
            log::warn!("no content store: {e:#}");
            None
        }
    }
}

/// Switches to `account` when root; otherwise says `--user` did nothing.
fn become_account(account: Option<&daemonize::Account>, user: Option<&str>) -> Result<()> {
    match (account, user) {
        (Some(a), _) => daemonize::switch_to(a),
        (None, Some(u)) => {
            log::warn!("--user {u} ignored: not running as root");
            Ok(())
        }
        (None, None) => Ok(()),
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))
}

/// Serves the one connection on stdin/stdout (inetd, systemd `Accept=yes`,
/// or an ssh pipe, which has no peer address and is authenticated by ssh).
fn serve_inetd(server: &Server, access: &Access) -> Result<u8> {
    let stdin = std::io::stdin();
    if let Ok(peer) = socket2::SockRef::from(&stdin.as_fd()).peer_addr() {
        if let Some(addr) = peer.as_socket() {
            if !access.allows(addr.ip()) {
                log::warn!("refused connection from {addr}: not in --allow");
                return Err(anyhow!(Code::AccessDenied).context(format!("{addr} is not allowed")));
            }
        }
    }
    // One job and no loop to relay a stop: SIGTERM cancels it outright, so
    // the compiler dies and its temp dir goes before we exit.
    signals::install(server.stop.write_fd(), &[libc::SIGTERM, libc::SIGINT]);
    let input = stdin
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)?;
    let output = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let outcome = serve::serve(server, input, output)?;
    log::info!("inetd: {} {:?}", outcome.compiler, outcome.status);
    Ok(0)
}
