//! Cold work done once among the client processes that share a cache
//! dir: a build's first `make -jN` starts N jobs at once, and each would
//! read and lex every system header, and run the compiler probe, itself.
//! Before such work a process claims its key; a second process that
//! wants the same key waits for the claim to end, then finds the result
//! in the cache (the holder appends it before it lets go).
//!
//! A claim is a lock on one byte of a lock file beside the cache, at an
//! offset taken from the key (two keys may share a byte: that costs a
//! wait, never a wrong answer). Open file description locks
//! (`F_OFD_SETLK`): the kernel drops them when their holder dies, so a
//! killed process blocks no one, and they are per open file, so threads
//! with their own `Claims` exclude each other as processes do.
//!
//! The invariants that keep waiting safe and cheap:
//! - a process holds at most one claim, and only while it does the work
//!   of that one key (no other claim is taken meanwhile): no deadlock;
//! - a waiter sleeps in the kernel (`F_OFD_SETLKW`), on a thread of its
//!   own, so waiting costs no CPU and ends as soon as the holder lets go;
//!   the caller waits on that thread for at most its `patience` (the
//!   lock call itself has no time limit), then does the work itself. A
//!   process whose wait ran out claims nothing more: its waiting thread
//!   may stay blocked, and a process that cannot wait works as before.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Lock bytes: keys fold onto this many offsets of the lock file (which
/// stays empty: a lock may lie past a file's end).
const SPAN: u64 = 1 << 20;

/// The lock file's name beside the scan cache.
pub const LOCK_NAME: &str = "scan-1.locks";

pub struct Claims {
    path: Option<PathBuf>,
    file: Option<Arc<File>>,
    waiter: Option<mpsc::Sender<Request>>,
    /// A wait ran out, or the lock file cannot be used: claim nothing.
    off: bool,
    /// Claims that had to wait for another holder.
    pub waited: u64,
}

/// Held while the work of one key is done; dropping it lets others in.
pub struct Claim {
    file: Arc<File>,
    at: u64,
}

impl Drop for Claim {
    fn drop(&mut self) {
        set(
            self.file.as_raw_fd(),
            self.at,
            libc::F_UNLCK as libc::c_short,
            false,
        );
    }
}

/// A wait handed to the waiting thread: it answers on `reply` once the
/// lock is taken (true) or cannot be (false), unless `abandoned` is set
/// by then, in which case it lets the lock go at once.
struct Request {
    file: Arc<File>,
    at: u64,
    reply: mpsc::Sender<bool>,
    abandoned: Arc<Mutex<bool>>,
}

impl Claims {
    /// Claims through the lock file in `dir`, opened on first use.
    pub fn new(dir: &Path) -> Claims {
        Claims {
            path: Some(dir.join(LOCK_NAME)),
            ..Claims::none()
        }
    }

    /// No claims: every process does its own work.
    pub fn none() -> Claims {
        Claims {
            path: None,
            file: None,
            waiter: None,
            off: false,
            waited: 0,
        }
    }

    /// Claims `key` for its work, waiting at most `patience` for another
    /// holder. None: do the work unclaimed (no lock file, or the wait ran
    /// out); then the caller keeps the result as it always did.
    pub fn claim(&mut self, key: u64, patience: Duration) -> Option<Claim> {
        if self.off {
            return None;
        }
        let file = self.file()?;
        let at = fold(key);
        let fd = file.as_raw_fd();
        if set(fd, at, libc::F_WRLCK as libc::c_short, false) {
            return Some(Claim { file, at });
        }
        let busy = last_errno();
        if busy != libc::EAGAIN && busy != libc::EACCES {
            self.off = true;
            return None;
        }
        self.waited += 1;
        let (reply, answer) = mpsc::channel();
        let abandoned = Arc::new(Mutex::new(false));
        let request = Request {
            file: file.clone(),
            at,
            reply,
            abandoned: abandoned.clone(),
        };
        if self.waiter().send(request).is_err() {
            self.off = true;
            return None;
        }
        let got = match answer.recv_timeout(patience) {
            Ok(got) => got,
            Err(RecvTimeoutError::Disconnected) => false,
            Err(RecvTimeoutError::Timeout) => {
                // The thread answers under this lock, so either its answer
                // is here now or it will see the wait abandoned.
                let mut gone = abandoned.lock().unwrap_or_else(|e| e.into_inner());
                match answer.try_recv() {
                    Ok(got) => got,
                    Err(_) => {
                        *gone = true;
                        log::debug!("scan cache: gave up waiting for another process");
                        false
                    }
                }
            }
        };
        if !got {
            self.off = true;
        }
        got.then_some(Claim { file, at })
    }

    fn file(&mut self) -> Option<Arc<File>> {
        if self.file.is_none() {
            let path = self.path.as_ref()?;
            let opened = crate::sys::fs::open_shared(path);
            match opened {
                Ok(f) => self.file = Some(Arc::new(f)),
                Err(e) => {
                    log::debug!("{}: {e}", path.display());
                    self.off = true;
                    return None;
                }
            }
        }
        self.file.clone()
    }

    /// The waiting thread, started on the first wait of the process.
    fn waiter(&mut self) -> &mpsc::Sender<Request> {
        self.waiter.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel::<Request>();
            std::thread::spawn(move || {
                for r in rx {
                    let fd = r.file.as_raw_fd();
                    let got = set(fd, r.at, libc::F_WRLCK as libc::c_short, true);
                    let gone = r.abandoned.lock().unwrap_or_else(|e| e.into_inner());
                    if *gone {
                        if got {
                            set(fd, r.at, libc::F_UNLCK as libc::c_short, false);
                        }
                        // The caller claims nothing more.
                        return;
                    }
                    let _ = r.reply.send(got);
                }
            });
            tx
        })
    }
}

fn fold(key: u64) -> u64 {
    // The keys are hashes already; the high bits are as good as any.
    (key >> 17) % SPAN
}

/// Sets (or clears) the lock on byte `at`; `wait`: until it can.
fn set(fd: RawFd, at: u64, kind: libc::c_short, wait: bool) -> bool {
    // SAFETY: a zeroed flock is valid; OFD locks want l_pid zero.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = at as libc::off_t;
    fl.l_len = 1;
    let cmd = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    loop {
        // SAFETY: fcntl on our own fd with a flock we own.
        if unsafe { libc::fcntl(fd, cmd, &fl) } == 0 {
            return true;
        }
        if !(wait && last_errno() == libc::EINTR) {
            return false;
        }
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn a_second_claimant_waits_for_the_first_and_then_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Claims::new(dir.path());
        let held = first.claim(42 << 17, LONG).expect("a free key is claimed");
        std::thread::scope(|s| {
            let second = s.spawn(|| {
                let mut second = Claims::new(dir.path());
                second.claim(42 << 17, LONG).is_some()
            });
            // Whenever the second one asks, it gets the key once this
            // one lets go, and not before (a test of the lock, not of
            // timing: it may ask before or after).
            drop(held);
            assert!(second.join().unwrap());
        });
        // Another key is never held up by this one.
        assert!(first.claim(43 << 17, LONG).is_some());
    }

    #[test]
    fn a_wait_that_runs_out_gives_up_claiming() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Claims::new(dir.path());
        let _held = first.claim(7 << 17, LONG).unwrap();
        let mut second = Claims::new(dir.path());
        assert!(second.claim(7 << 17, Duration::ZERO).is_none());
        assert_eq!(second.waited, 1);
        // It does its own work from then on, even for free keys.
        assert!(second.claim(8 << 17, LONG).is_none());
    }

    #[test]
    fn a_dead_holder_blocks_no_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Claims::new(dir.path());
        let held = std::mem::ManuallyDrop::new(first.claim(9 << 17, LONG).unwrap());
        // Closing the holder's file without letting go, as the kernel
        // does at its exit.
        // SAFETY: `held` is never used or dropped again.
        drop(unsafe { std::ptr::read(&held.file) });
        drop(first);
        let mut second = Claims::new(dir.path());
        assert!(second.claim(9 << 17, LONG).is_some());
        assert_eq!(second.waited, 0);
    }

    #[test]
    fn without_a_usable_dir_nothing_is_claimed() {
        let mut none = Claims::none();
        assert!(none.claim(1, LONG).is_none());
        let dir = tempfile::tempdir().unwrap();
        let mut missing = Claims::new(&dir.path().join("no/such/dir"));
        assert!(missing.claim(1, LONG).is_none());
    }
}
