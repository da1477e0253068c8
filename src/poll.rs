//! Waiting on several file descriptors at once, with a deadline: the one
//! primitive the daemon's loops and the client's streaming share.

use std::io;
use std::os::fd::RawFd;
use std::time::Instant;

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
        let ms = match until {
            None => -1,
            // Rounded up: a deadline never fires early.
            Some(u) => u
                .saturating_duration_since(Instant::now())
                .as_micros()
                .div_ceil(1000)
                .min(i32::MAX as u128) as i32,
        };
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
