//! Waiting on many descriptors at once with epoll: each registered with a
//! token the caller chooses, level-triggered, so a wait costs the same
//! whether ten or ten thousand descriptors are idle.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 returns a new descriptor or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor we own.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Reports `fd` under `token` when it is readable (or hung up).
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
            u64: token,
        };
        // SAFETY: a valid event for the duration of the call.
        let r = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Stops reporting `fd` (closing it does too).
    pub fn remove(&self, fd: RawFd) {
        // SAFETY: the event argument is ignored for EPOLL_CTL_DEL.
        unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
    }

    /// The tokens of descriptors ready now, waiting until `until` (`None`:
    /// for ever) for at least one; empty when the time is up. A signal
    /// ends the wait early with nothing ready.
    pub fn wait(&self, until: Option<Instant>, max: usize) -> io::Result<Vec<u64>> {
        let ms = super::poll::timeout_ms(until);
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; max.max(1)];
        // SAFETY: `events` has room for `events.len()` entries.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::Interrupted => Ok(Vec::new()),
                _ => Err(e),
            };
        }
        Ok(events[..n as usize].iter().map(|e| e.u64).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    #[test]
    fn reports_ready_descriptors_by_token_and_times_out() {
        let ep = Epoll::new().unwrap();
        let (a, _a_write) = crate::sys::fd::pipe(true).unwrap();
        let (b, b_write) = crate::sys::fd::pipe(true).unwrap();
        ep.add(a.as_raw_fd(), 7).unwrap();
        ep.add(b.as_raw_fd(), 9).unwrap();
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(ep.wait(Some(soon), 8).unwrap().is_empty());
        std::fs::File::from(b_write).write_all(b"x").unwrap();
        assert_eq!(ep.wait(None, 8).unwrap(), vec![9]);
        ep.remove(b.as_raw_fd());
        assert!(ep.wait(Some(Instant::now()), 8).unwrap().is_empty());
    }
}
