//! The standalone server's loop: bind, accept into the reception stage
//! (`reception`), hand each connection whose request is progressing to a
//! worker thread (`request` serves it), serve the `--stats` page
//! (`statspage`), and stop on a signal. Becoming a daemon (detach, pid
//! file, dropping root) is `daemonize`; the signal plumbing is `signals`.
//!
//! Invariants: at most `max_connections` connections have a worker at
//! once; past that, ready ones wait in the reception stage, first come
//! first served, and idle ones never hold a worker at all. Running
//! compilers are bounded separately by the job semaphore in `job`.
//! SIGTERM/SIGINT start draining: running jobs finish, new requests are
//! refused in reception with a busy code (the client takes another host),
//! status queries say "draining", a `--zeroconf` announcement is
//! withdrawn (`announce`); once no worker is left, and requests
//! still arriving have had [`ARRIVING_GRACE`] to be refused, we return.
//! Past `drain_timeout`, the server's stop latch cancels what is left
//! (compilers are killed, their temp dirs removed) before we return, so the
//! process never exits with a job's files still on disk. Connections still
//! in reception are closed. SIGHUP reopens the log file and re-reads the
//! TLS port's authorized keys. Connections from the TLS port go the same
//! way, their handshake done by their worker (`tls`).

use std::io::{self, BufWriter};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use flexi_logger::LoggerHandle;
use socket2::{Domain, Socket, Type};

use super::access::Access;
use super::announce::Announcement;
use super::reception::{Arrival, Reception};
use super::request;
use super::server::Server;
use super::signals::{self, Wake};
use super::statspage;
use crate::exit::Code;
use crate::sys;

/// How long cancelled jobs get to kill their compilers and clean up.
const CANCEL_GRACE: Duration = Duration::from_secs(10);
/// How long a draining server, its jobs done, still answers connections
/// whose request is on its way (a client preprocessing while connected),
/// so that they hear "busy" rather than see the connection close.
const ARRIVING_GRACE: Duration = Duration::from_secs(2);

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

/// The sockets the loop accepts on: the plain port (none with
/// `--tls-only`), the TLS port (with `--tls-dir`), the stats page.
pub struct Listeners {
    pub plain: Option<TcpListener>,
    pub tls: Option<TcpListener>,
    pub stats: Option<TcpListener>,
}

pub struct LoopConfig {
    pub access: Access,
    pub max_connections: usize,
    /// Connections the reception stage holds before they earn a worker.
    pub reception: usize,
    /// Serve each connection on the loop's own thread (`--no-fork`).
    pub inline: bool,
    /// Exit after this long (`--lifetime`).
    pub lifetime: Option<Duration>,
    /// How long running jobs may take to finish after SIGTERM.
    pub drain_timeout: Duration,
    /// `--zeroconf`'s announcement, withdrawn when the drain starts.
    pub announcement: Option<Announcement>,
}

/// Tokens of the loop's own descriptors in the reception stage's set.
const WAKE: u64 = 0;
const LISTENER: u64 = 1;
const STATS: u64 = 2;
const TLS_LISTENER: u64 = 3;

/// Accepts and serves until a signal or the lifetime says stop.
pub fn serve_forever(
    listeners: Listeners,
    server: Arc<Server>,
    mut cfg: LoopConfig,
    log: Option<&LoggerHandle>,
) -> Result<()> {
    let wake = Wake::new()?;
    signals::install(
        wake.write_fd(),
        &[libc::SIGTERM, libc::SIGINT, libc::SIGHUP],
    );
    let open = server.counts.open.clone();
    let deadline = cfg.lifetime.map(|l| Instant::now() + l);
    let mut reception = Reception::new(&server, cfg.reception)?;
    reception.count_workers(open.clone());
    reception.watch(&wake.read_fd(), WAKE)?;
    watch_listeners(&reception, &listeners, &cfg.access)?;
    let mut drain_state = Draining::default();
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d)
            || drain_state.done(&server, &open, &reception, cfg.drain_timeout)
        {
            break;
        }
        if cfg.announcement.is_some() && server.draining.load(Ordering::SeqCst) {
            // A draining server takes no new clients: stop inviting them.
            drop(cfg.announcement.take());
        }
        if signals::take_reopen() {
            reopen(log, &server);
        }
        start_workers(&mut reception, &server, &cfg, &open);
        let waiting = reception.waiting();
        server.counts.waiting.store(waiting, Ordering::SeqCst);
        let ready = reception.wait(earliest(deadline, drain_state.next_check()))?;
        wake.drain();
        for token in ready {
            match token {
                WAKE => {}
                LISTENER | TLS_LISTENER => {
                    let tls = token == TLS_LISTENER;
                    let l = if tls {
                        &listeners.tls
                    } else {
                        &listeners.plain
                    };
                    if let Some(l) = l {
                        accept_all(l, tls, &mut reception, &server, &cfg);
                    }
                }
                // The page stays reachable when full: that is when it matters.
                STATS => {
                    let page = listeners.stats.as_ref();
                    if let Some((stream, peer)) =
                        page.and_then(|s| statspage::accept(s, &cfg.access))
                    {
                        let server = server.clone();
                        spawn(format!("stats {peer}"), &open, move || {
                            statspage::serve(stream, &server)
                        });
                    }
                }
                conn => reception.on_readable(conn, &server),
            }
        }
        reception.expire(&server);
    }
    drop(listeners);
    drop(reception);
    drain(&wake, &open, drain_state.left(cfg.drain_timeout), &server);
    Ok(())
}

/// Puts the listeners in the loop's set, and says where they listen.
fn watch_listeners(reception: &Reception, listeners: &Listeners, access: &Access) -> Result<()> {
    let ports = [
        (&listeners.plain, LISTENER, ""),
        (&listeners.tls, TLS_LISTENER, "TLS: "),
    ];
    for (listener, token, what) in ports {
        if let Some(l) = listener {
            log::info!(
                "{what}listening on {}, allowing {}",
                l.local_addr()?,
                access.describe()
            );
            l.set_nonblocking(true)?;
            reception.watch(l, token)?;
        }
    }
    if let Some(s) = &listeners.stats {
        log::info!("stats on {}", s.local_addr()?);
        reception.watch(s, STATS)?;
    }
    Ok(())
}

/// SIGHUP: reopens the log file, re-reads the authorized keys.
fn reopen(log: Option<&LoggerHandle>, server: &Server) {
    if let Some(h) = log {
        match h.reopen_output() {
            Ok(()) => log::info!("log reopened"),
            Err(e) => log::warn!("cannot reopen the log: {e}"),
        }
    }
    if let Some(tls) = &server.tls {
        match tls.reload_authorized_keys() {
            Ok(n) => log::info!("authorized keys re-read: {n} keys"),
            Err(e) => log::warn!("authorized keys not re-read, the old list stays: {e:#}"),
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Where the drain after SIGTERM stands.
#[derive(Default)]
struct Draining {
    since: Option<Instant>,
    /// When the last worker was seen to finish.
    idle_since: Option<Instant>,
}

impl Draining {
    /// Whether the loop should end: draining, and nothing left to finish
    /// (or the drain timeout passed). Starts draining on a signal.
    fn done(
        &mut self,
        server: &Server,
        open: &AtomicUsize,
        reception: &Reception,
        timeout: Duration,
    ) -> bool {
        if !signals::stop_requested() {
            return false;
        }
        let now = Instant::now();
        let since = *self.since.get_or_insert_with(|| {
            server.draining.store(true, Ordering::SeqCst);
            log::info!("draining: finishing running jobs, refusing new ones");
            now
        });
        if now >= since + timeout {
            return true;
        }
        if open.load(Ordering::SeqCst) > 0 {
            self.idle_since = None;
            return false;
        }
        let idle = *self.idle_since.get_or_insert(now);
        reception.arriving() == 0 || now >= idle + ARRIVING_GRACE
    }

    /// When to look again though nothing happened.
    fn next_check(&self) -> Option<Instant> {
        self.idle_since.map(|i| i + ARRIVING_GRACE)
    }

    /// What is left of the drain timeout.
    fn left(&self, timeout: Duration) -> Duration {
        self.since
            .map_or(timeout, |s| timeout.saturating_sub(s.elapsed()))
    }
}

/// Hands connections whose requests are progressing to workers, as many
/// as `--max-connections` allows.
fn start_workers(
    reception: &mut Reception,
    server: &Arc<Server>,
    cfg: &LoopConfig,
    open: &Arc<AtomicUsize>,
) {
    while reception.has_ready() && open.load(Ordering::SeqCst) < cfg.max_connections {
        let Some(arrival) = reception.take_ready() else {
            return;
        };
        if cfg.inline {
            handle(server, arrival);
            continue;
        }
        let name = format!("job {}", arrival.peer);
        let server = server.clone();
        spawn(name, open, move || handle(&server, arrival));
    }
}

/// Waits for open connections to finish; past `timeout`, cancels them and
/// waits (bounded) for their cleanup.
fn drain(wake: &Wake, open: &AtomicUsize, timeout: Duration, server: &Server) {
    let wait = |until: Instant| {
        while open.load(Ordering::SeqCst) > 0 && Instant::now() < until {
            sys::poll_any(&[wake.read_fd()], Some(until)).ok();
            wake.drain();
        }
        open.load(Ordering::SeqCst)
    };
    let n = open.load(Ordering::SeqCst);
    if n > 0 {
        log::info!("stopping: waiting up to {timeout:?} for {n} open connections");
    }
    let left = wait(Instant::now() + timeout);
    if left > 0 {
        log::warn!("stopping: cancelling {left} connections still open");
        server.stop.set();
        let left = wait(Instant::now() + CANCEL_GRACE);
        if left > 0 {
            log::error!("stopping with {left} connections still open");
        }
    }
}

/// Accepts what the listener has queued into the reception stage.
fn accept_all(
    listener: &TcpListener,
    tls: bool,
    reception: &mut Reception,
    server: &Server,
    cfg: &LoopConfig,
) {
    // Bounded, so a flood of connections does not starve the others.
    for _ in 0..256 {
        let (stream, peer) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => {
                log::warn!("accept failed: {e}");
                return;
            }
        };
        if !cfg.access.allows(peer.ip()) {
            log::warn!("refused connection from {peer}: not in --allow");
            server.stats.refused();
            continue;
        }
        server.stats.accepted();
        if let Err(e) = stream.set_nonblocking(true) {
            log::warn!("{peer}: {e}");
            continue;
        }
        reception.admit(stream, peer, tls, server);
    }
}

/// Runs `work` on its own thread, counted as an open connection.
fn spawn(name: String, open: &Arc<AtomicUsize>, work: impl FnOnce() + Send + 'static) {
    open.fetch_add(1, Ordering::SeqCst);
    let guard = OpenGuard(open.clone());
    let spawned = std::thread::Builder::new()
        .name(name)
        .stack_size(256 * 1024)
        .spawn(move || {
            let _guard = guard;
            work();
        });
    if let Err(e) = spawned {
        log::error!("cannot start a thread: {e}");
    }
}

/// Counts an open connection; its drop wakes the loop, which may be waiting
/// for room to accept again, or for the last connection to finish.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
        signals::wake();
    }
}

fn handle(server: &Server, arrival: Arrival) {
    if arrival.tls {
        if let Some(tls) = &server.tls {
            super::tls::handle(server, tls, arrival);
        }
        return trim();
    }
    let Arrival {
        stream,
        peer,
        prefix,
        ..
    } = arrival;
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
    let served = request::serve(server, reader, prefix, writer);
    report(server, &peer.to_string(), served);
    trim();
}

/// Logs how a connection's request ended, `who` naming the client.
pub fn report(server: &Server, who: &str, served: Result<super::job::Outcome>) {
    match served {
        Ok(o) => log::info!(
            "{who}: {} {}",
            o.compiler,
            match (o.status, o.refused) {
                (_, Some(code)) => format!("refused: {code}"),
                (Some(s), _) => format!("status {s}"),
                _ => String::new(),
            }
        ),
        Err(e) => {
            server.stats.dropped();
            if request::is_client_error(&e) {
                log::info!("{who}: {e:#}");
            } else {
                log::error!("{who}: {e:#}");
            }
        }
    }
}

fn trim() {
    // A job's buffers (a large object, an inflated source) would otherwise
    // stay in the thread's arena for the daemon's lifetime.
    // SAFETY: glibc's malloc_trim only returns free memory to the kernel.
    unsafe { libc::malloc_trim(0) };
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
