//! Waiting on file descriptors with a deadline: the one primitive the
//! daemon's loops, the client's streaming and the monitor's key wait share.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// Waits until one of `fds` is readable (its index) or `until` passes
/// (`None`); `until: None` waits forever. Negative fds are skipped, as
/// poll(2) does.
pub fn poll_any(fds: &[RawFd], until: Option<Instant>) -> io::Result<Option<usize>> {
    let with_events: Vec<(RawFd, i16)> = fds.iter().map(|&fd| (fd, libc::POLLIN)).collect();
    poll_events(&with_events, until)
}

/// Like [`poll_any`], with the events to wait for given per fd (`POLLIN`,
/// `POLLOUT`). An error or hang-up on an fd also counts as ready.
pub fn poll_events(fds: &[(RawFd, i16)], until: Option<Instant>) -> io::Result<Option<usize>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, events)| libc::pollfd {
            fd,
            events,
            revents: 0,
        })
        .collect();
    loop {
        let ms = timeout_ms(until);
        // SAFETY: pfds is a valid array of pollfd.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        if n > 0 {
            return Ok(pfds.iter().position(|p| p.revents != 0));
        }
        if n == 0 {
            if ms == 0 {
                return Ok(None);
            }
            continue;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Milliseconds from now until `until`, as poll(2) and epoll_wait(2) take
/// a timeout: -1 for none, rounded up so that a deadline never fires early.
pub fn timeout_ms(until: Option<Instant>) -> i32 {
    match until {
        None => -1,
        Some(u) => u
            .saturating_duration_since(Instant::now())
            .as_micros()
            .div_ceil(1000)
            .min(i32::MAX as u128) as i32,
    }
}

/// One wait of at most `limit` for `fd` to turn readable (or hang up);
/// `fd` may be negative, which makes this a plain wait. Unlike
/// [`poll_any`], a signal ends the wait early (`Interrupted`): callers that
/// catch signals without `SA_RESTART` want to act on them at once.
pub fn wait_readable(fd: RawFd, limit: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(limit.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd for the duration of the call.
    match unsafe { libc::poll(&mut pfd, 1, ms) } {
        n if n < 0 => Err(io::Error::last_os_error()),
        _ => Ok(pfd.revents != 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    #[test]
    fn poll_any_times_out_and_finds_the_ready_fd() {
        let (a, _a) = crate::sys::fd::pipe(true).unwrap();
        let (b, b_write) = crate::sys::fd::pipe(true).unwrap();
        let fds = [-1, a.as_raw_fd(), b.as_raw_fd()];
        let soon = Instant::now() + Duration::from_millis(20);
        assert_eq!(poll_any(&fds, Some(soon)).unwrap(), None);
        std::fs::File::from(b_write).write_all(b"x").unwrap();
        assert_eq!(poll_any(&fds, None).unwrap(), Some(2));
    }

    #[test]
    fn wait_readable_sees_data_and_hang_ups() {
        let (r, w) = crate::sys::fd::pipe(false).unwrap();
        assert!(!wait_readable(r.as_raw_fd(), Duration::ZERO).unwrap());
        assert!(!wait_readable(-1, Duration::from_millis(1)).unwrap());
        drop(w);
        assert!(wait_readable(r.as_raw_fd(), Duration::from_secs(60)).unwrap());
    }
}
