//! The standalone server's life: bind, detach, pid file, privileges,
//! signals, and the accept loop that hands connections to worker threads.
//!
//! Invariants: at most `max_connections` connections are open at once; past
//! that we stop accepting and clients wait in the kernel's backlog. Running
//! compilers are bounded separately by the job semaphore in `serve`.
//! SIGTERM/SIGINT stop accepting, let open connections finish within a
//! bound, then return; SIGHUP reopens the log file.

use std::ffi::CString;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use flexi_logger::LoggerHandle;
use socket2::{Domain, Socket, Type};

use super::access::Access;
use super::serve::{self, Server};
use crate::exit::Code;

pub fn bind(addr: SocketAddr) -> Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)
        .and_then(|s| {
            s.set_reuse_address(true)?;
            s.bind(&addr.into())?;
            s.listen(libc::SOMAXCONN)?;
            Ok(s)
        })
        .map_err(|e| anyhow!(Code::BindFailed).context(format!("cannot listen on {addr}: {e}")))?;
    Ok(socket.into())
}

/// Detaches from the terminal the classic way: fork, setsid, fork again, so
/// the daemon is no session leader and can never regain a terminal. Must
/// run before any thread exists.
pub fn detach() -> Result<()> {
    for round in 0..2 {
        // SAFETY: single-threaded at this point; fork is the documented way.
        match unsafe { libc::fork() } {
            -1 => return Err(io::Error::last_os_error()).context("fork"),
            0 => {
                if round == 0 {
                    // SAFETY: plain syscall in the child.
                    unsafe { libc::setsid() };
                }
            }
            // The parent owns nothing the child does not: leave without
            // running destructors that would remove shared state.
            // SAFETY: _exit never returns.
            _ => unsafe { libc::_exit(0) },
        }
    }
    std::env::set_current_dir("/").ok();
    let devnull = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..3 {
        // SAFETY: duplicating a valid fd over the standard ones.
        unsafe { libc::dup2(devnull.as_raw_fd(), fd) };
    }
    Ok(())
}

/// Writes the pid file and removes it when dropped.
pub struct PidFile(PathBuf);

impl PidFile {
    pub fn create(path: &Path) -> Result<PidFile> {
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, format!("{}\n", std::process::id()))
            .and_then(|_| fs::rename(&tmp, path))
            .with_context(|| format!("writing pid file {}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        fs::remove_file(&self.0).ok();
    }
}

/// Drops root for `user` (or `distcc`, then `nobody`). Compiling as root is
/// refused outright: a compiler bug would otherwise own the machine.
pub fn drop_privileges(user: Option<&str>) -> Result<()> {
    // SAFETY: getuid never fails.
    if unsafe { libc::getuid() } != 0 {
        if let Some(u) = user {
            log::warn!("--user {u} ignored: not running as root");
        }
        return Ok(());
    }
    let candidates: Vec<&str> = match user {
        Some(u) => vec![u],
        None => vec!["distcc", "nobody"],
    };
    for name in &candidates {
        let cname = CString::new(*name).map_err(|_| anyhow!("bad user name {name:?}"))?;
        // SAFETY: getpwnam returns a pointer into static storage or null;
        // we copy the ids out before any other call.
        let pw = unsafe { libc::getpwnam(cname.as_ptr()) };
        if pw.is_null() {
            continue;
        }
        let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
        if uid == 0 {
            break;
        }
        // SAFETY: plain syscalls; order matters: groups and gid before uid.
        let ok = unsafe {
            libc::setgroups(1, &gid) == 0 && libc::setgid(gid) == 0 && libc::setuid(uid) == 0
        };
        if !ok || unsafe { libc::getuid() } == 0 {
            return Err(anyhow!(Code::SetuidFailed).context(format!(
                "cannot switch to user {name}: {}",
                io::Error::last_os_error()
            )));
        }
        log::info!("running as user {name} (uid {uid})");
        return Ok(());
    }
    Err(anyhow!(Code::SetuidFailed).context(format!(
        "refusing to compile as root: no user {} to switch to",
        candidates.join(" or ")
    )))
}

static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
static STOP: AtomicBool = AtomicBool::new(false);
static REOPEN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    if sig == libc::SIGHUP {
        REOPEN.store(true, Ordering::SeqCst);
    } else {
        STOP.store(true, Ordering::SeqCst);
    }
    wake();
}

/// Interrupts the accept loop's poll; async-signal-safe.
fn wake() {
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; a full pipe already wakes.
        unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
    }
}

/// The self-pipe the loop sleeps on: signals and finished connections
/// write to it.
struct WakePipe {
    read: RawFd,
}

impl WakePipe {
    fn install() -> Result<WakePipe> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two fds.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error()).context("pipe");
        }
        WAKE_FD.store(fds[1], Ordering::SeqCst);
        STOP.store(false, Ordering::SeqCst);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            // SAFETY: installing a handler that only touches atomics and write(2).
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as *const () as usize;
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(sig, &sa, std::ptr::null_mut());
            }
        }
        // A client that vanishes must give EPIPE, not kill the daemon.
        // SAFETY: ignoring SIGPIPE process-wide.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        Ok(WakePipe { read: fds[0] })
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        // SAFETY: non-blocking read into a local buffer.
        while unsafe { libc::read(self.read, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
    }
}

pub struct LoopConfig {
    pub access: Access,
    pub max_connections: usize,
    /// Serve each connection on the loop's own thread (`--no-fork`).
    pub inline: bool,
    /// Exit after this long (`--lifetime`).
    pub lifetime: Option<Duration>,
    pub stats: Option<TcpListener>,
    /// How long running jobs may take to finish after SIGTERM.
    pub drain_timeout: Duration,
}

/// Accepts and serves until a signal or the lifetime says stop.
pub fn serve_forever(
    listener: TcpListener,
    server: Arc<Server>,
    cfg: LoopConfig,
    log: Option<&LoggerHandle>,
) -> Result<()> {
    let wake = WakePipe::install()?;
    let open = Arc::new(AtomicUsize::new(0));
    let deadline = cfg.lifetime.map(|l| Instant::now() + l);
    log::info!(
        "listening on {}, allowing {}",
        listener.local_addr()?,
        cfg.access.describe()
    );
    loop {
        if STOP.load(Ordering::SeqCst) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if REOPEN.swap(false, Ordering::SeqCst) {
            if let Some(h) = log {
                h.reopen_output().ok();
                log::info!("log reopened");
            }
        }
        let accepting = open.load(Ordering::SeqCst) < cfg.max_connections;
        let mut fds = vec![libc::pollfd {
            fd: wake.read,
            events: libc::POLLIN,
            revents: 0,
        }];
        if accepting {
            fds.push(libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if let Some(s) = &cfg.stats {
            fds.push(libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let timeout = deadline.map_or(-1, |d| {
            d.saturating_duration_since(Instant::now())
                .as_millis()
                .clamp(1, i32::MAX as u128) as i32
        });
        // SAFETY: fds is a valid array of pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e).context("poll");
        }
        wake.drain();
        for pfd in &fds[1..] {
            if pfd.revents == 0 {
                continue;
            }
            if pfd.fd == listener.as_raw_fd() {
                accept_one(&listener, &server, &cfg, &open);
            } else if let Some(s) = &cfg.stats {
                serve_stats(s, &server, &cfg.access);
            }
        }
    }
    drop(listener);
    log::info!(
        "stopping: waiting for {} open connections",
        open.load(Ordering::SeqCst)
    );
    let until = Instant::now() + cfg.drain_timeout;
    while open.load(Ordering::SeqCst) > 0 && Instant::now() < until {
        serve::wait_readable(wake.read, until).ok();
        wake.drain();
    }
    Ok(())
}

fn accept_one(
    listener: &TcpListener,
    server: &Arc<Server>,
    cfg: &LoopConfig,
    open: &Arc<AtomicUsize>,
) {
    let (stream, peer) = match listener.accept() {
        Ok(c) => c,
        Err(e) => {
            log::warn!("accept failed: {e}");
            return;
        }
    };
    if !cfg.access.allows(peer.ip()) {
        log::warn!("refused connection from {peer}: not in --allow");
        server.stats.refused();
        return;
    }
    if cfg.inline {
        handle(server, stream, peer);
        return;
    }
    open.fetch_add(1, Ordering::SeqCst);
    let guard = OpenGuard(open.clone());
    let server = server.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("job {peer}"))
        .stack_size(256 * 1024)
        .spawn(move || {
            let _guard = guard;
            handle(&server, stream, peer);
        });
    if let Err(e) = spawned {
        log::error!("cannot start a thread for {peer}: {e}");
    }
}

/// Counts an open connection; its drop wakes the loop, which may be waiting
/// for room to accept again.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
        wake();
    }
}

fn handle(server: &Server, stream: TcpStream, peer: SocketAddr) {
    stream.set_nodelay(true).ok();
    stream.set_write_timeout(Some(server.io_timeout)).ok();
    let reader = match stream.try_clone() {
        Ok(r) => r,
        Err(e) => {
            log::error!("{peer}: {e}");
            return;
        }
    };
    let writer = BufWriter::with_capacity(64 * 1024, &stream);
    match serve::serve(server, reader, writer) {
        Ok(o) => log::info!(
            "{peer}: {} {}",
            o.compiler,
            match (o.status, o.refused) {
                (_, Some(code)) => format!("refused: {code}"),
                (Some(s), _) => format!("status {s}"),
                _ => String::new(),
            }
        ),
        Err(e) => {
            server.stats.dropped();
            if serve::is_client_error(&e) {
                log::info!("{peer}: {e:#}");
            } else {
                log::error!("{peer}: {e:#}");
            }
        }
    }
}

fn serve_stats(listener: &TcpListener, server: &Server, access: &Access) {
    if let Ok((mut s, peer)) = listener.accept() {
        if access.allows(peer.ip()) {
            s.set_write_timeout(Some(Duration::from_secs(5))).ok();
            let body = server.stats.render(server.jobs);
            let _ = write!(
                s,
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    }
}

/// Parses `--listen` (an IP address, default all IPv4 addresses).
pub fn listen_addr(listen: Option<&str>, port: u16) -> Result<SocketAddr> {
    let ip: IpAddr = match listen {
        None => IpAddr::from([0, 0, 0, 0]),
        Some(s) => s
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| {
                anyhow!(Code::BadArguments).context(format!("--listen {s:?}: not an IP address"))
            })?,
    };
    Ok(SocketAddr::new(ip, port))
}
