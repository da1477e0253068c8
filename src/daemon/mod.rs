//! `distccd`: the compile server.
//!
//! A job's way through it: `listen` accepts a connection into `reception`,
//! which holds it, without a thread, until its request head is in and its
//! source has started (or `inetd` takes stdin/stdout); a worker thread
//! runs `request`, which reads the head under `deadline`'s rules and picks
//! the dialect by its `DIST`; the dialect (`plain` for protocols 1 and 2,
//! `streamed`, `exact` for protocol 3, `hashed`) reads the rest and turns
//! it into a prepared `job` (argv, files in place, how the compiler is
//! fed, the reply's form) or a `refusal`; `job` runs it and replies.
//! Nothing below calls back up.
//!
//! Beside that path: `options` (command line) and `server` (the state jobs
//! share, built from options and `settings::DaemonSettings`); `access`
//! (`--allow`); `compilers` (the whitelist); `policy` (which compiler
//! arguments are safe, from the flag table in `args`); `mirror` and
//! `mirror_args` (exact mode's file tree and command line), `unmap` (its
//! way back), `store` (its content store), `verify` (the compiler and
//! system headers a hashed request asserts); `cache` (the result cache,
//! shared by all clients) and `cached` (its part in a job); `space` (a
//! full disk, said as one); `run` (one compiler process), `leader` (the process that takes
//! its whole tree down with it) and `sandbox` (its Landlock jail); `stats`,
//! `statspage` and `machine` (counters and the stats page); `status` and
//! `capacity` (the status query's answer, from `reception`); `daemonize`
//! (detach, pid file, dropping root); `signals` (stopping, draining); `tls`
//! (the TLS port: keys, the handshake on the job's thread) and `hello`
//! (what reception waits for on that port); `announce` (`--zeroconf`,
//! through Avahi).

pub mod access;
pub mod announce;
pub mod cache;
pub mod cached;
pub mod capacity;
pub mod compilers;
pub mod daemonize;
pub mod deadline;
pub mod exact;
pub mod hashed;
pub mod hello;
pub mod inetd;
pub mod job;
pub mod leader;
pub mod listen;
pub mod machine;
pub mod mirror;
pub mod mirror_args;
pub mod options;
pub mod plain;
pub mod policy;
pub mod prepared;
pub mod reads;
pub mod reception;
pub mod refusal;
pub mod request;
pub mod run;
pub mod sandbox;
pub mod server;
pub mod signals;
pub mod space;
pub mod stats;
pub mod statspage;
pub mod status;
pub mod store;
pub mod streamed;
pub mod tls;
pub mod unmap;
pub mod verify;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use crate::exit::Code;
use crate::logging;
use crate::protocol::DEFAULT_PORT;
use access::Access;
use daemonize::Ready;
use options::Options;
use server::Server;

pub const DEFAULT_STATS_PORT: u16 = 3633;
/// How long running jobs may finish after SIGTERM without `--job-lifetime`;
/// within systemd's default stop timeout, so we clean up before a SIGKILL.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the daemon with `args` (argv without the program name).
pub fn main(args: &[OsString]) -> Result<u8> {
    tune_allocator();
    let mut opts = match parse(args)? {
        Parsed::Run(opts) => *opts,
        Parsed::Exit(code) => return Ok(code),
    };
    let access = Access::new(&opts.allow, opts.allow_private)
        .map_err(|e| anyhow!(Code::BadArguments).context(format!("{e:#}")))?;
    let level = logging::level(opts.log_level.as_deref(), opts.verbose)
        .map_err(|e| anyhow!(Code::BadArguments).context(format!("{e:#}")))?;
    // Detaching moves us to /; relative paths mean where we were started.
    opts.log_file = opts.log_file.as_deref().map(absolute).transpose()?;
    opts.pid_file = opts.pid_file.as_deref().map(absolute).transpose()?;

    let nice = opts.nice.unwrap_or(5);
    // SAFETY: nice(2) only changes our own priority.
    unsafe { libc::nice(nice) };

    if let Some(code) = tls::key_command(&opts)? {
        return Ok(code);
    }
    if inetd_mode(&opts) {
        if opts.tls_dir.is_some() {
            return Err(anyhow!(Code::BadArguments).context(
                "--tls-dir serves a TLS port, which inetd mode has not (ssh hosts are \
                 encrypted by ssh)",
            ));
        }
        return inetd_main(&opts, &access, level);
    }
    let (listener, tls_listener) = listeners(&opts)?;
    let stats = match opts.stats {
        true => {
            let port = opts.stats_port.unwrap_or(DEFAULT_STATS_PORT);
            Some(listen::bind(listen::listen_addr(
                opts.listen.as_deref(),
                port,
            )?)?)
        }
        false => None,
    };
    let detach = !opts.no_detach && !opts.no_fork;
    let mut ready = if detach {
        daemonize::detach()?
    } else {
        Ready::foreground()
    };
    let listeners = listen::Listeners {
        plain: listener,
        tls: tls_listener,
        stats,
    };
    let result = standalone(&opts, access, level, listeners, detach, &mut ready);
    if let Err(e) = &result {
        ready.fail(crate::protocol::exit_code(e));
    }
    result
}

/// The plain port (unless `--tls-only`) and the TLS port (with
/// `--tls-dir`), bound.
type Bound = (Option<std::net::TcpListener>, Option<std::net::TcpListener>);

fn listeners(opts: &Options) -> Result<Bound> {
    let bad = |m: &str| anyhow!(Code::BadArguments).context(m.to_string());
    if opts.tls_dir.is_none() && (opts.tls_only || opts.tls_port.is_some()) {
        return Err(bad("--tls-only and --tls-port need --tls-dir"));
    }
    let bind = |port| listen::bind(listen::listen_addr(opts.listen.as_deref(), port)?);
    let plain = match opts.tls_only {
        true => None,
        false => Some(bind(opts.port.unwrap_or(DEFAULT_PORT))?),
    };
    let tls = match opts.tls_dir {
        Some(_) => Some(bind(opts.tls_port.unwrap_or(tls::DEFAULT_TLS_PORT))?),
        None => None,
    };
    Ok((plain, tls))
}

/// What the command line asks for: to serve, or to exit at once (help,
/// version) with a status.
enum Parsed {
    Run(Box<Options>),
    Exit(u8),
}

fn parse(args: &[OsString]) -> Result<Parsed> {
    let strs: Vec<String> = args
        .iter()
        .map(|a| a.to_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| anyhow!(Code::BadArguments).context("distccd arguments must be UTF-8"))?;
    let refs: Vec<&str> = strs.iter().map(String::as_str).collect();
    let opts = match Options::parse(&refs) {
        Ok(o) => o,
        Err(early) if early.status.is_ok() => {
            print!("{}", early.output);
            return Ok(Parsed::Exit(0));
        }
        Err(early) => {
            eprint!("{}", early.output);
            return Err(anyhow!(Code::BadArguments).context("bad distccd options"));
        }
    };
    if opts.version {
        print!("{}", crate::protocol::version_text("distccd"));
        return Ok(Parsed::Exit(0));
    }
    if opts.inetd && opts.daemon {
        return Err(anyhow!(Code::BadArguments).context("--inetd and --daemon exclude each other"));
    }
    Ok(Parsed::Run(Box::new(opts)))
}

/// distcc 3.4's `--enable-tcp-insecure` lets any client run any program;
/// its test suite and Debian's client over ssh (`distccd --inetd
/// --enable-tcp-insecure`) pass it, so it is accepted, and said once to
/// mean nothing here.
fn note_tcp_insecure(opts: &Options) {
    if opts.enable_tcp_insecure {
        log::warn!(
            "--enable-tcp-insecure accepted for compatibility: only allowed compilers \
             (linked in a masquerade dir or listed in DISTCC_CMDLIST) run, as always"
        );
    }
}

/// inetd mode when asked, or when stdin is a socket and no mode was given.
fn inetd_mode(opts: &Options) -> bool {
    let stdin_is_socket = socket2::SockRef::from(&std::io::stdin().as_fd())
        .r#type()
        .is_ok();
    opts.inetd || (!opts.daemon && stdin_is_socket && !std::io::stdin().is_terminal())
}

/// inetd mode: log, drop root, serve the one connection.
fn inetd_main(opts: &Options, access: &Access, level: log::LevelFilter) -> Result<u8> {
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
    note_tcp_insecure(opts);
    prepare_cache(opts, account.as_ref());
    become_account(account.as_ref(), opts.user.as_deref())?;
    if opts.zeroconf {
        log::warn!("--zeroconf: inetd mode serves one connection; not announcing");
    }
    let server = Server::build(opts)?;
    inetd::serve(&server, access)
}

/// The standalone server once bound and detached: log, pid file, dropping
/// root, then the loop.
fn standalone(
    opts: &Options,
    access: Access,
    level: log::LevelFilter,
    listeners: listen::Listeners,
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
    note_tcp_insecure(opts);
    // Before dropping root, so it may live in /run.
    let _pid = opts
        .pid_file
        .as_deref()
        .map(|p| daemonize::PidFile::create(p, account.as_ref()))
        .transpose()?;
    // Before dropping root too: the private key is root's alone.
    let tls = tls::load(opts)?;
    prepare_cache(opts, account.as_ref());
    become_account(account.as_ref(), opts.user.as_deref())?;
    let mut server = Server::build(opts)?;
    server.tls = tls;
    let server = Arc::new(server);
    ready.notify(opts.log_stderr && opts.log_file.is_none())?;
    let jobs = server.jobs as usize;
    let max_connections = opts
        .max_connections
        .map_or(16 * jobs + 64, |n| n.max(1) as usize);
    let cfg = listen::LoopConfig {
        access,
        max_connections,
        reception: reception_capacity(max_connections),
        inline: opts.no_fork,
        lifetime: opts.lifetime.map(Duration::from_secs),
        drain_timeout: server.run_limits.lifetime.unwrap_or(DRAIN_TIMEOUT),
        announcement: announce(opts, &listeners, &server),
    };
    listen::serve_forever(listeners, server, cfg, Some(&log))?;
    log::info!("exiting");
    Ok(0)
}

/// A `--cache-dir` the daemon's user could not create is made before
/// root is dropped; a failure leaves the daemon without a cache, as any
/// other failure to open it does (`Server::build` says so in the log).
fn prepare_cache(opts: &Options, account: Option<&daemonize::Account>) {
    if let (Some(dir), Some(1..)) = (&opts.cache_dir, opts.cache_size) {
        if let Err(e) = daemonize::prepare_cache_dir(dir, account) {
            log::warn!("{e:#}");
        }
    }
}

/// `--zeroconf`: the plain port announced, once serving.
fn announce(
    opts: &Options,
    listeners: &listen::Listeners,
    server: &Server,
) -> Option<announce::Announcement> {
    if !opts.zeroconf {
        return None;
    }
    let Some(port) = listeners
        .plain
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.port())
    else {
        log::warn!("--zeroconf: no plain port to announce (--tls-only); not announcing");
        return None;
    };
    let service = announce::Service::here(port, server.cores, server.jobs);
    announce::Announcement::start(&service)
}

/// How many connections the reception stage may hold: what the descriptor
/// limit leaves once each possible worker has room for its job's files
/// (its socket twice, input, outputs, pipes, the compiler's pidfd).
fn reception_capacity(max_connections: usize) -> usize {
    let fds = crate::sys::raise_fd_limit().min(1 << 20) as usize;
    fds.saturating_sub(64 + 16 * max_connections).max(64)
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
