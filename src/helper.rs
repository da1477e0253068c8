//! A per-user helper process (the TLS agent, the scan agent): started by
//! a client when none answers, detached from it, serving only its own
//! user on a Unix socket, and ending itself when idle. Jobs are short
//! processes; a helper keeps what a job would otherwise build again.
//!
//! The client's side, [`reach`]: connect, else start one under a lock (so
//! concurrent clients start one), detached (its own session, not our
//! child, stdio on /dev/null, no descriptor of ours but a readiness
//! pipe), and connect once it says it listens. A helper that cannot be
//! had costs the job nothing but the attempt: the caller does the work
//! itself.
//!
//! The helper's side, [`Listener`]: listens with a socket only its user
//! can open, accepts only its own uid (SO_PEERCRED), and ends when no
//! connection came or ran for its idle time, or when its socket file is
//! removed or replaced, removing the file on the way out if it is still
//! its own.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fs2::FileExt;

use crate::sys;

/// The descriptor on which a starting helper says it listens (one byte).
pub const READY_FD: RawFd = 3;

/// How long a client waits for a helper it started to listen.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest socket path a sockaddr_un holds, with its NUL.
const MAX_SOCKET_PATH: usize = 107;

/// How often a helper looks at its socket file and its idle time while
/// no connection comes.
const CHECK: Duration = Duration::from_secs(2);

/// A helper: the program name it runs under (argv[0], which `role`
/// knows), its socket and its starters' lock in its dir.
pub struct Kind {
    pub program: &'static str,
    pub socket: String,
    pub lock: String,
}

/// The helper's socket in `dir`, connected to a listener of our own uid;
/// starts a helper (with `dir` as its one argument) if none answers.
pub fn reach(dir: &Path, kind: &Kind) -> Option<UnixStream> {
    let path = dir.join(&kind.socket);
    if let Ok(s) = UnixStream::connect(&path) {
        return ours(s);
    }
    // No helper could listen there: not worth a start per job.
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        return None;
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .ok()?;
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(&kind.lock))
        .ok()?;
    lock.lock_exclusive().ok()?;
    // Another client may have started one while we waited for the lock.
    if let Ok(s) = UnixStream::connect(&path) {
        return ours(s);
    }
    // A socket nobody listens on is a helper that died.
    let _ = fs::remove_file(&path);
    match start(dir, kind.program) {
        Ok(()) => UnixStream::connect(&path).ok().and_then(ours),
        Err(e) => {
            log::debug!("cannot start {}: {e}", kind.program);
            None
        }
    }
}

/// `s` if the process listening at its other end is of our uid: a
/// socket someone else put in our dir gets nothing from us.
fn ours(s: UnixStream) -> Option<UnixStream> {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    (peer_uid(&s).ok() == Some(uid)).then_some(s)
}

/// Starts `program` for `dir`, detached: its own session, not our child
/// (the intermediate child exits at once and is reaped here), stdio on
/// /dev/null, and waits until it listens.
fn start(dir: &Path, program: &str) -> io::Result<()> {
    let (ready, ready_w) = sys::pipe(false)?;
    let ready_w_fd = ready_w.as_raw_fd();
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg0(program)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls (setsid,
    // fork, _exit, sigprocmask, dup2, fcntl) on descriptors we own.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            match libc::fork() {
                -1 => return Err(io::Error::last_os_error()),
                0 => {}
                _ => libc::_exit(0),
            }
            // Not the signals the client holds back while it cleans up:
            // the helper must die of SIGTERM like any process.
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            // The readiness pipe at a known number, kept across exec.
            if libc::dup2(ready_w_fd, READY_FD) < 0 || libc::fcntl(READY_FD, libc::F_SETFD, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    drop(ready_w);
    child.wait()?;
    if !sys::wait_readable(ready.as_raw_fd(), START_TIMEOUT)? {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the helper did not start listening",
        ));
    }
    let mut byte = [0u8; 1];
    match File::from(ready).read(&mut byte)? {
        1 => Ok(()),
        _ => Err(io::Error::other("the helper exited before listening")),
    }
}

/// Closes every descriptor above the readiness pipe: whatever make or a
/// shell gave the client without close-on-exec must not be held open by
/// a process that outlives the build.
pub fn close_inherited() {
    // SAFETY: close_range(2) on descriptors no Rust object owns yet; an
    // old kernel without it leaves them open, which costs nothing worse.
    unsafe {
        libc::syscall(libc::SYS_close_range, READY_FD as u32 + 1, u32::MAX, 0u32);
    }
}

/// One byte on descriptor 3, if the starter gave one, then closed.
pub fn say_ready() {
    // SAFETY: F_GETFD only asks whether the descriptor is open; if it is,
    // it is the starter's pipe, which nothing else in this process owns.
    if unsafe { libc::fcntl(READY_FD, libc::F_GETFD) } >= 0 {
        // SAFETY: as above; the File is its one owner and closes it.
        let mut pipe = unsafe { File::from_raw_fd(READY_FD) };
        let _ = pipe.write_all(b"R");
    }
}

/// Past this size a helper's log starts again: it only explains recent
/// helpers.
const LOG_LIMIT: u64 = 64 * 1024;

/// Appends `pid what` to the log at `path`; a failure is not worth
/// stopping.
pub fn note(path: &Path, what: &str) {
    let full = fs::metadata(path).is_ok_and(|m| m.len() > LOG_LIMIT);
    let file = fs::OpenOptions::new()
        .create(true)
        .append(!full)
        .write(true)
        .truncate(full)
        .open(path);
    if let Ok(mut f) = file {
        let _ = writeln!(f, "{} {what}", std::process::id());
    }
}

/// Connections under way, and when the last one came or ended: what a
/// helper's idle time is measured from.
pub struct Activity {
    running: AtomicUsize,
    last: Mutex<Instant>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            running: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        }
    }

    fn touch(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    /// A connection handed to another thread: counted until `end`.
    pub fn begin(&self) {
        self.running.fetch_add(1, Ordering::SeqCst);
    }

    pub fn end(&self) {
        self.touch();
        self.running.fetch_sub(1, Ordering::SeqCst);
    }

    fn idle_for(&self) -> Option<Duration> {
        match self.running.load(Ordering::SeqCst) {
            0 => Some(
                self.last
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .elapsed(),
            ),
            _ => None,
        }
    }
}

/// A listening helper.
pub struct Listener {
    listener: UnixListener,
    path: PathBuf,
    /// The socket file's identity, to see it removed or replaced.
    identity: Option<(u64, u64)>,
}

impl Listener {
    /// Listens on `path`, readable and writable by us only.
    pub fn bind(path: &Path) -> Result<Listener> {
        let listener =
            UnixListener::bind(path).with_context(|| format!("listening on {}", path.display()))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        Ok(Listener {
            listener,
            identity: sys::identity(path),
            path: path.to_path_buf(),
        })
    }

    /// Hands each connection of our own uid to `conn`, until idle for
    /// `idle`, the socket file is gone, or `conn` says it has served
    /// enough; removes the file if it is still ours. `conn` may serve the
    /// connection at once or on a thread of its own (then between
    /// `Activity::begin` and `end`). Says why it ended.
    pub fn serve(
        self,
        idle: Duration,
        mut conn: impl FnMut(UnixStream, &Arc<Activity>) -> bool,
    ) -> &'static str {
        let activity = Arc::new(Activity::new());
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        let why = loop {
            match sys::wait_readable(self.listener.as_raw_fd(), CHECK) {
                Ok(true) => {
                    if let Ok((c, _)) = self.listener.accept() {
                        activity.touch();
                        if peer_uid(&c).ok() == Some(uid) {
                            let more = conn(c, &activity);
                            activity.touch();
                            if !more {
                                break "exits: served its share";
                            }
                        }
                    }
                }
                Ok(false) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break "exits: its socket failed",
            }
            if let Some(why) = self.ended(&activity, idle) {
                break why;
            }
        };
        self.remove_if_ours();
        why
    }

    /// Why the helper should end now, if it should: its socket file
    /// removed or replaced, or no connection for `idle`.
    fn ended(&self, activity: &Activity, idle: Duration) -> Option<&'static str> {
        if sys::identity(&self.path) != self.identity {
            return Some("exits: its socket file was removed or replaced");
        }
        activity
            .idle_for()
            .is_some_and(|q| q >= idle)
            .then_some("exits: idle")
    }

    /// Removes the socket file if it is still the one this helper made.
    fn remove_if_ours(&self) {
        if sys::identity(&self.path) == self.identity {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// What a pool worker does with one connection: serve it, and say
/// whether the helper should go on taking more.
pub type Serve = Box<dyn FnMut(UnixStream) -> bool>;

impl Listener {
    /// Serves connections of our own uid on `workers` threads, each with
    /// what `make` gives it (made on that thread, so it need not be
    /// `Send`), until idle for `idle`, the socket file is gone, or a
    /// worker says enough; removes the file if it is still ours. Each
    /// worker accepts for itself: a connection goes straight to the
    /// thread that serves it. Says why it ended.
    pub fn serve_pool(
        self,
        idle: Duration,
        workers: usize,
        make: impl Fn() -> Serve + Sync,
    ) -> &'static str {
        if self.listener.set_nonblocking(true).is_err() {
            return "exits: its socket failed";
        }
        let activity = Activity::new();
        let why: Mutex<Option<&'static str>> = Mutex::new(None);
        let stop = |w: &'static str| {
            why.lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(w);
        };
        let stopped = || why.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        std::thread::scope(|sc| {
            for _ in 0..workers.max(1) {
                sc.spawn(|| {
                    let mut serve = make();
                    while !stopped() {
                        match sys::wait_readable(self.listener.as_raw_fd(), CHECK) {
                            Ok(true) => {}
                            Ok(false) => {
                                // Quiet: the checks, at most every CHECK.
                                if let Some(why) = self.ended(&activity, idle) {
                                    stop(why);
                                }
                                continue;
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(_) => {
                                stop("exits: its socket failed");
                                continue;
                            }
                        }
                        // Another worker may have taken it: WouldBlock.
                        let Ok((c, _)) = self.listener.accept() else {
                            continue;
                        };
                        // (An accepted socket is blocking whatever the
                        // listener is.)
                        if peer_uid(&c).ok() != Some(uid) {
                            continue;
                        }
                        activity.begin();
                        let more = serve(c);
                        activity.end();
                        if !more {
                            stop("exits: served its share");
                        }
                    }
                });
            }
        });
        self.remove_if_ours();
        let why = why.lock().unwrap_or_else(|p| p.into_inner()).take();
        why.unwrap_or("exits")
    }
}

/// The uid of the process at the other end of `conn`.
pub fn peer_uid(conn: &UnixStream) -> io::Result<libc::uid_t> {
    peer(conn).map(|c| c.uid)
}

/// The process at the other end of `conn`: its pid, uid and gid as the
/// kernel saw them when the connection was made.
pub fn peer(conn: &UnixStream) -> io::Result<libc::ucred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let r = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    match r {
        0 => Ok(cred),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_helper_ends_and_removes_its_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sock");
        let l = Listener::bind(&path).unwrap();
        assert!(path.exists());
        assert_eq!(l.serve(Duration::ZERO, |_, _| true), "exits: idle");
        assert!(!path.exists());
    }

    #[test]
    fn a_helper_whose_socket_is_replaced_ends_and_leaves_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sock");
        let l = Listener::bind(&path).unwrap();
        fs::remove_file(&path).unwrap();
        let newer = UnixListener::bind(&path).unwrap();
        let why = l.serve(Duration::from_secs(600), |_, _| true);
        assert_eq!(why, "exits: its socket file was removed or replaced");
        assert!(path.exists(), "the newer helper's socket stays");
        drop(newer);
    }

    #[test]
    fn a_pool_answers_every_connection_and_ends_when_a_worker_says_enough() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sock");
        let l = Listener::bind(&path).unwrap();
        let p = path.clone();
        let client = std::thread::spawn(move || {
            for i in 0..5u8 {
                let mut s = UnixStream::connect(&p).unwrap();
                s.write_all(&[i]).unwrap();
                let mut b = [0u8; 1];
                s.read_exact(&mut b).unwrap();
                assert_eq!(b[0], i + 1);
            }
        });
        let served = Arc::new(AtomicUsize::new(0));
        let why = l.serve_pool(Duration::from_secs(600), 3, || {
            let served = served.clone();
            Box::new(move |mut c: UnixStream| {
                let mut b = [0u8; 1];
                c.read_exact(&mut b).unwrap();
                c.write_all(&[b[0] + 1]).unwrap();
                served.fetch_add(1, Ordering::SeqCst) + 1 < 5
            })
        });
        client.join().unwrap();
        assert_eq!(why, "exits: served its share");
        assert_eq!(served.load(Ordering::SeqCst), 5);
        assert!(!path.exists());
    }

    #[test]
    fn an_idle_pool_ends_and_removes_its_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sock");
        let l = Listener::bind(&path).unwrap();
        let why = l.serve_pool(Duration::ZERO, 2, || Box::new(|_| true));
        assert_eq!(why, "exits: idle");
        assert!(!path.exists());
    }

    #[test]
    fn a_socket_of_our_own_uid_is_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sock");
        let _l = UnixListener::bind(&path).unwrap();
        let s = UnixStream::connect(&path).unwrap();
        assert!(ours(s).is_some());
    }
}
