//! The daemon's shared state: what every job reads and never changes (the
//! whitelist, the limits, the compilers' environment) and what jobs share
//! (job slots, early-start tokens, counters, the content store, the
//! result cache, the stop latch). Built once, from the command line
//! (`options`) and the environment (`settings::DaemonSettings`), before the
//! first connection.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, Result};

use super::cache::ResultCache;
use super::compilers::{self, Whitelist};
use super::options::Options;
use super::run::{self, RunLimits};
use super::signals::Latch;
use super::stats::{Semaphore, Stats};
use super::store::Store;
use super::verify::Verifier;
use crate::protocol::Limits;
use crate::settings::DaemonSettings;

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
    /// hold no job slot yet (`daemon::streamed`): as many as `jobs`.
    pub early: Semaphore,
    pub jobs: u32,
    pub stats: Stats,
    /// Exact mode's content store, when the daemon keeps one.
    pub store: Option<Store>,
    /// Checks hashed requests' compiler identity and system headers.
    pub verifier: Verifier,
    /// The result cache (`--cache-size`), off unless asked for.
    pub cache: Option<ResultCache>,
    /// The compilers' environment and limits, as the cache key has them.
    pub cache_setting: String,
    /// Confine compilers with Landlock (`--no-sandbox` turns it off).
    pub sandbox: bool,
    /// The TLS port's key and authorized keys (`--tls-dir`), read before
    /// root is dropped (`daemon::tls::load`); none in inetd mode.
    pub tls: Option<crate::tls::TlsServer>,
    /// Set when the daemon stops waiting for jobs: readers give up,
    /// compilers are killed, queued jobs are refused.
    pub stop: Latch,
    /// Set on SIGTERM: running jobs finish, new requests are refused with
    /// `Code::Busy` (the client tries another host), status says so.
    pub draining: AtomicBool,
    /// CPUs the compilers may use (`capacity`), for the status query.
    pub cores: f64,
    /// Connections open and waiting, for the status in a reply's note.
    pub counts: super::status::Counts,
}

fn default_jobs() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32) + 2
}

impl Server {
    pub fn build(opts: &Options) -> Result<Server> {
        let mut server = Server::build_parts(opts)?;
        server.cache_setting = format!("{:?} {:?}", server.env, server.run_limits);
        Ok(server)
    }

    fn build_parts(opts: &Options) -> Result<Server> {
        let settings = DaemonSettings::from_env();
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
            whitelist: whitelist(opts, &settings)?,
            limits,
            run_limits: RunLimits {
                lifetime: opts.job_lifetime.map(Duration::from_secs),
                cpu_seconds: opts.limit_cpu,
                file_size_bytes: mib(opts.limit_fsize),
                address_space_bytes: mib(opts.limit_as),
            },
            io_timeout: io_timeout.max(Duration::from_secs(1)),
            save_temps: settings.save_temps,
            env: run::compiler_env(settings.vars.iter().cloned()),
            slots: Semaphore::new(jobs),
            early: Semaphore::new(jobs),
            jobs,
            stats: Stats::new(),
            store: open_store(&settings.tmpdir, opts.store_size.unwrap_or(256)),
            verifier: Verifier::new(Some(&private_dir(&settings.tmpdir, "distccd-identity"))),
            cache: open_cache(opts, &settings.tmpdir),
            cache_setting: String::new(),
            tmpdir: settings.tmpdir,
            sandbox: !opts.no_sandbox,
            tls: None,
            stop: Latch::new()?,
            draining: AtomicBool::new(false),
            cores: super::capacity::cores(),
            counts: Default::default(),
        })
    }
}

/// The compilers clients may run: the masquerade dirs given and ours, and
/// `DISTCC_CMDLIST`.
fn whitelist(opts: &Options, settings: &DaemonSettings) -> Result<Whitelist> {
    let self_exe = std::env::current_exe().context("finding our own executable")?;
    let mut dirs = opts.compiler_dir.clone();
    dirs.extend(compilers::default_dirs(&self_exe));
    let listed = match &settings.cmdlist {
        Some(f) => compilers::read_cmdlist(f)
            .with_context(|| format!("reading DISTCC_CMDLIST {}", f.display()))?,
        None => Vec::new(),
    };
    let whitelist = Whitelist::new(dirs, listed, &settings.path, &self_exe);
    log::debug!("compiler dirs: {:?}", whitelist.dirs());
    Ok(whitelist)
}

/// `tmpdir/name-UID`: a dir of this daemon's user.
fn private_dir(tmpdir: &Path, name: &str) -> PathBuf {
    // SAFETY: getuid never fails.
    let uid = unsafe { libc::getuid() };
    tmpdir.join(format!("{name}-{uid}"))
}

/// Exact mode's content store, private to this daemon's user under its
/// temp dir; without one, hashed requests are refused and clients fall
/// back to plain protocol 3.
fn open_store(tmpdir: &Path, mib: u64) -> Option<Store> {
    if mib == 0 {
        return None;
    }
    let dir = private_dir(tmpdir, "distccd-store");
    match Store::open(&dir, mib.saturating_mul(1 << 20)) {
        Ok(s) => Some(s),
        Err(e) => {
            log::warn!("no content store: {e:#}");
            None
        }
    }
}

/// The result cache, when `--cache-size` asks for one. Off by default: it
/// keeps clients' objects on the volunteer's disk and answers one client
/// with another's compile, which is the operator's call to make (the
/// content store, on by default, keeps only inputs). Private to this
/// daemon's user under its temp dir, or in `--cache-dir` (somewhere that
/// outlives a reboot, such as `/var/cache/distccd`, for a cache that does).
fn open_cache(opts: &Options, tmpdir: &Path) -> Option<ResultCache> {
    let mib = opts.cache_size.unwrap_or(0);
    if mib == 0 {
        return None;
    }
    let dir = opts
        .cache_dir
        .clone()
        .unwrap_or_else(|| private_dir(tmpdir, "distccd-cache"));
    match ResultCache::open(&dir, mib.saturating_mul(1 << 20)) {
        Ok(c) => {
            log::info!("result cache in {}, {mib} MiB", dir.display());
            Some(c)
        }
        Err(e) => {
            log::warn!("no result cache: {e:#}");
            None
        }
    }
}
