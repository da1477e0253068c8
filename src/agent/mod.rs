//! `distcc-tls-agent`: the per-user process that keeps TLS sessions with
//! volunteers for the client's jobs (see `transport::agent` for why and
//! how a client uses it). Started by a client, never by hand: argv[0]
//! names it, its one argument is the client's TLS directory, and
//! descriptor 3 is where it says it listens.
//!
//! It listens on `agent.sock` in that directory, serves only its own
//! user (the peer's uid, from SO_PEERCRED), one thread per connection
//! (`relay`), and ends itself when no connection came or ran for
//! [`IDLE`], or when its socket file is removed or replaced, removing
//! the file on the way out if it is still its own. It notes when it
//! starts and ends, with its pid, in `agent.log` beside the socket.

mod keys;
mod relay;

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use crate::sys;
use crate::transport::agent::{READY_FD, SOCKET};

/// How long the agent outlives its last connection.
pub const IDLE: Duration = Duration::from_secs(60);

/// How often the agent looks at its socket file and its idle time while
/// no connection comes.
const CHECK: Duration = Duration::from_secs(2);

pub fn main(args: &[OsString]) -> Result<u8> {
    close_inherited();
    let [dir] = args else {
        return Err(anyhow!(
            "usage: distcc-tls-agent TLS_DIR (started by distcc)"
        ));
    };
    let dir = Path::new(dir);
    let agent = Agent::bind(dir)?;
    note(dir, "listening");
    say_ready();
    let why = agent.serve(IDLE);
    note(dir, why);
    Ok(0)
}

/// The file where agents note their start and end.
pub const LOG: &str = "agent.log";

/// Past this size the log starts again: it only explains recent agents.
const LOG_LIMIT: u64 = 64 * 1024;

/// Appends `pid what` to the agent log; a failure is not worth stopping.
fn note(dir: &Path, what: &str) {
    let path = dir.join(LOG);
    let full = std::fs::metadata(&path).is_ok_and(|m| m.len() > LOG_LIMIT);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(!full)
        .write(true)
        .truncate(full)
        .open(&path);
    if let Ok(mut f) = file {
        let _ = writeln!(f, "{} {what}", std::process::id());
    }
}

/// Closes every descriptor above the readiness pipe: whatever make or a
/// shell gave the client without close-on-exec must not be held open by
/// a process that outlives the build.
fn close_inherited() {
    // SAFETY: close_range(2) on descriptors no Rust object owns yet; an
    // old kernel without it leaves them open, which costs nothing worse.
    unsafe {
        libc::syscall(libc::SYS_close_range, READY_FD as u32 + 1, u32::MAX, 0u32);
    }
}

/// One byte on descriptor 3, if the starter gave one, then closed.
fn say_ready() {
    // SAFETY: F_GETFD only asks whether the descriptor is open; if it is,
    // it is the starter's pipe, which nothing else in this process owns.
    if unsafe { libc::fcntl(READY_FD, libc::F_GETFD) } >= 0 {
        // SAFETY: as above; the File is its one owner and closes it.
        let mut pipe = unsafe { File::from_raw_fd(READY_FD) };
        let _ = pipe.write_all(b"R");
    }
}

/// A listening agent.
pub struct Agent {
    listener: UnixListener,
    path: PathBuf,
    /// The socket file's identity, to see it removed or replaced.
    identity: Option<(u64, u64)>,
    keys: Arc<keys::Keys>,
}

impl Agent {
    /// Listens on `dir/agent.sock`, readable and writable by us only.
    pub fn bind(dir: &Path) -> Result<Agent> {
        let path = dir.join(SOCKET);
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("listening on {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Agent {
            listener,
            identity: sys::identity(&path),
            path,
            keys: Arc::new(keys::Keys::new(dir)),
        })
    }

    /// Serves until idle for `idle` or the socket file is gone; removes
    /// the file if it is still ours. Says why it ended.
    pub fn serve(self, idle: Duration) -> &'static str {
        let running = Arc::new(AtomicUsize::new(0));
        let last = Arc::new(Mutex::new(Instant::now()));
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        let why = loop {
            match sys::wait_readable(self.listener.as_raw_fd(), CHECK) {
                Ok(true) => {
                    if let Ok((conn, _)) = self.listener.accept() {
                        *last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                        if peer_uid(&conn).ok() == Some(uid) {
                            self.spawn(conn, &running, &last);
                        }
                    }
                }
                Ok(false) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break "exits: its socket failed",
            }
            if sys::identity(&self.path) != self.identity {
                return "exits: its socket file was removed or replaced";
            }
            let quiet = last.lock().unwrap_or_else(|p| p.into_inner()).elapsed();
            if running.load(Ordering::SeqCst) == 0 && quiet >= idle {
                break "exits: idle";
            }
        };
        if sys::identity(&self.path) == self.identity {
            let _ = std::fs::remove_file(&self.path);
        }
        why
    }

    /// Serves `conn` on a thread of its own; counted in `running` until
    /// it ends, which then restarts the idle time.
    fn spawn(&self, conn: UnixStream, running: &Arc<AtomicUsize>, last: &Arc<Mutex<Instant>>) {
        let keys = self.keys.clone();
        let (counted, last) = (running.clone(), last.clone());
        running.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("relay".into())
            .spawn(move || {
                relay::serve(conn, &keys);
                *last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                counted.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            // The connection was dropped with the closure: the client
            // sees it closed and connects by itself.
            running.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The uid of the process at the other end of `conn`.
fn peer_uid(conn: &UnixStream) -> io::Result<libc::uid_t> {
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
        0 => Ok(cred.uid),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_agent_ends_and_removes_its_socket() {
        let dir = tempfile::tempdir().unwrap();
        let agent = Agent::bind(dir.path()).unwrap();
        let path = dir.path().join(SOCKET);
        assert!(path.exists());
        assert_eq!(agent.serve(Duration::ZERO), "exits: idle");
        assert!(!path.exists());
    }

    #[test]
    fn an_agent_whose_socket_is_replaced_ends_and_leaves_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let agent = Agent::bind(dir.path()).unwrap();
        let path = dir.path().join(SOCKET);
        std::fs::remove_file(&path).unwrap();
        let newer = UnixListener::bind(&path).unwrap();
        let why = agent.serve(IDLE);
        assert_eq!(why, "exits: its socket file was removed or replaced");
        assert!(path.exists(), "the newer agent's socket stays");
        drop(newer);
    }
}
