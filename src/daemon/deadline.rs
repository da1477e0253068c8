//! Reading a client under a deadline: [`Deadline`] wraps a connection so
//! that every read gives up at one instant for the whole request, however
//! slowly the peer trickles bytes, and at once when the daemon stops.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use crate::sys;

/// A reader that fails with `TimedOut` once a deadline passes, however
/// slowly the peer trickles bytes in: a per-read timeout alone would let a
/// client sending one byte a second hold a connection forever.
///
/// It also gives up when `stop` (the server's stop latch) becomes readable.
pub struct Deadline<R> {
    inner: R,
    until: Instant,
    stop: RawFd,
}

impl<R: Read + AsRawFd> Deadline<R> {
    pub fn new(inner: R, timeout: Duration, stop: RawFd) -> Self {
        Deadline {
            inner,
            until: Instant::now() + timeout,
            stop,
        }
    }

    /// When the whole request must have arrived.
    pub fn until(&self) -> Instant {
        self.until
    }

    /// Moves the deadline to `until` if that is sooner.
    pub fn shorten(&mut self, until: Instant) {
        self.until = self.until.min(until);
    }
}

impl<R: Read + AsRawFd> Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match sys::poll_any(&[self.inner.as_raw_fd(), self.stop], Some(self.until))? {
            Some(0) => self.inner.read(buf),
            // Not `Interrupted`, which `read_exact` would retry forever.
            Some(_) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the daemon is stopping",
            )),
            None => Err(io::Error::new(io::ErrorKind::TimedOut, "I/O timeout")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::signals::Latch;
    use std::os::unix::net::UnixStream;

    #[test]
    fn deadline_gives_up_when_the_daemon_stops() {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let stop = Latch::new().unwrap();
        stop.set();
        let mut r = Deadline::new(ours, Duration::from_secs(60), stop.fd());
        let started = Instant::now();
        // read_exact retries `Interrupted`: the error must be another kind.
        let e = r.read_exact(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn deadline_times_out_a_silent_peer() {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let stop = Latch::new().unwrap();
        let mut r = Deadline::new(ours, Duration::from_millis(50), stop.fd());
        let e = r.read_exact(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
}
