//! How the daemon learns it must stop: signal handlers, the self-pipe the
//! accept loop sleeps on, and the stop latch that cancels running jobs.
//!
//! A handler may only touch atomics and write(2), so everything here is a
//! pipe something can poll on: `Wake` is drained by the accept loop after
//! each wake-up; a `Latch` is written once and never drained, so every
//! thread polling it (request readers, compiler waits) sees it from then on.
//! What the loop does on each signal lives in `listen`.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::sys;

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

/// Writes to whichever pipe the handlers were pointed at; async-signal-safe.
pub fn wake() {
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; a full pipe already wakes.
        unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
    }
}

/// SIGTERM or SIGINT arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// SIGHUP arrived since the last call.
pub fn take_reopen() -> bool {
    REOPEN.swap(false, Ordering::SeqCst)
}

/// Points `signals` at `wake_fd`. SIGPIPE is ignored so that a vanished
/// client gives EPIPE instead of killing the daemon.
pub fn install(wake_fd: RawFd, signals: &[libc::c_int]) {
    WAKE_FD.store(wake_fd, Ordering::SeqCst);
    STOP.store(false, Ordering::SeqCst);
    for &sig in signals {
        // SAFETY: the handler only touches atomics and write(2).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
    // SAFETY: ignoring SIGPIPE process-wide.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    sys::pipe(true).context("pipe")
}

/// The self-pipe the accept loop sleeps on: signal handlers and finished
/// connections write to it.
pub struct Wake {
    read: OwnedFd,
    write: OwnedFd,
}

impl Wake {
    pub fn new() -> Result<Wake> {
        let (read, write) = pipe()?;
        Ok(Wake { read, write })
    }

    pub fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    pub fn write_fd(&self) -> RawFd {
        self.write.as_raw_fd()
    }

    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        // SAFETY: non-blocking read into a local buffer.
        while unsafe { libc::read(self.read_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        // The handlers must not write to a closed (and maybe reused) fd.
        let _ = WAKE_FD.compare_exchange(self.write_fd(), -1, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// Set once, seen by every poller forever after: the daemon has given up
/// waiting and cancels what is still running.
pub struct Latch {
    read: OwnedFd,
    write: OwnedFd,
}

impl Latch {
    pub fn new() -> Result<Latch> {
        let (read, write) = pipe()?;
        Ok(Latch { read, write })
    }

    pub fn set(&self) {
        // SAFETY: one byte into our own non-blocking pipe.
        unsafe { libc::write(self.write.as_raw_fd(), b"x".as_ptr().cast(), 1) };
    }

    pub fn is_set(&self) -> bool {
        matches!(
            sys::poll_any(&[self.fd()], Some(Instant::now())),
            Ok(Some(_))
        )
    }

    /// Readable once set; for polling alongside other fds.
    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// For a signal handler to set (inetd mode, where no loop relays).
    pub fn write_fd(&self) -> RawFd {
        self.write.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latch_stays_set() {
        let l = Latch::new().unwrap();
        assert!(!l.is_set());
        l.set();
        assert!(l.is_set());
        assert!(l.is_set(), "polling does not consume it");
    }
}
