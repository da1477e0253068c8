//! Reading a client under a deadline, and at a minimum rate: [`Deadline`]
//! wraps a connection so that every read gives up at one instant for the
//! whole request, however slowly the peer trickles bytes; sooner if the
//! client keeps us waiting longer than what it has sent earns it; and at
//! once when the daemon stops. What the reception stage (`reception`)
//! already read of the connection comes first.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use crate::sys;

/// A connection a [`Deadline`] reads: a descriptor to poll, and whether a
/// read would return at once though the descriptor is not readable (TLS
/// records already decrypted: they will not make it readable again).
pub trait Source: Read + AsRawFd {
    fn buffered(&mut self) -> bool {
        false
    }
}

impl Source for std::net::TcpStream {}
impl Source for std::fs::File {}
impl Source for std::os::unix::net::UnixStream {}

/// How long a client may keep a worker waiting before it has sent
/// anything more, and how much longer each byte it sends buys: a client
/// with its source in hand sends it at network speed, and a streaming
/// client at its preprocessor's (megabytes a second), while one trickling
/// a byte a second is cut off after the grace.
pub const GRACE: Duration = Duration::from_secs(10);
pub const MIN_RATE: u64 = 1024;

/// A reader that fails with `TimedOut` once a deadline passes, however
/// slowly the peer trickles bytes in: a per-read timeout alone would let a
/// client sending one byte a second hold a connection forever. It also
/// fails once the time spent waiting for the peer exceeds [`GRACE`] plus
/// a second for every [`MIN_RATE`] bytes received, and gives up when
/// `stop` (the server's stop latch) becomes readable.
///
/// Silence before the first byte, and after [`Deadline::wait_for_source`]
/// until the next, does not count against the rate: that is a client
/// preprocessing (distcc 3.4 sends its head, then preprocesses; ours
/// connects, then preprocesses), bounded by the deadline alone. Over TCP
/// the reception stage has already waited those out.
pub struct Deadline<R> {
    inner: R,
    /// Bytes already received, read before `inner`.
    prefix: Vec<u8>,
    at: usize,
    until: Instant,
    stop: RawFd,
    /// Time spent blocked waiting for the peer since it started sending,
    /// and bytes it sent.
    waited: Duration,
    received: u64,
    /// Whether waits count against the rate: not until data flows.
    counting: bool,
}

impl<R: Source> Deadline<R> {
    pub fn new(inner: R, timeout: Duration, stop: RawFd) -> Self {
        Deadline::after(Vec::new(), inner, timeout, stop)
    }

    /// A reader of `prefix`, then of `inner`.
    pub fn after(prefix: Vec<u8>, inner: R, timeout: Duration, stop: RawFd) -> Self {
        Deadline {
            inner,
            prefix,
            at: 0,
            until: Instant::now() + timeout,
            stop,
            waited: Duration::ZERO,
            received: 0,
            counting: false,
        }
    }

    /// The client may now be silent, for as long as the deadline allows,
    /// until it sends again: it is preprocessing what it will send.
    pub fn wait_for_source(&mut self) {
        self.counting = false;
    }

    /// When the whole request must have arrived.
    pub fn until(&self) -> Instant {
        self.until
    }

    /// Moves the deadline to `until` if that is sooner.
    pub fn shorten(&mut self, until: Instant) {
        self.until = self.until.min(until);
    }

    /// How much longer the peer may keep us waiting, by the rate it has
    /// kept so far.
    fn allowance(&self) -> Duration {
        let earned = Duration::from_millis(self.received.saturating_mul(1000) / MIN_RATE);
        (GRACE + earned).saturating_sub(self.waited)
    }
}

impl<R: Source> Read for Deadline<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at < self.prefix.len() {
            let n = buf.len().min(self.prefix.len() - self.at);
            buf[..n].copy_from_slice(&self.prefix[self.at..self.at + n]);
            self.at += n;
            if self.at == self.prefix.len() {
                self.prefix = Vec::new();
                self.at = 0;
            }
            self.received += n as u64;
            self.counting = true;
            return Ok(n);
        }
        if self.inner.buffered() {
            let n = self.inner.read(buf)?;
            self.received += n as u64;
            return Ok(n);
        }
        let started = Instant::now();
        let cut = match self.counting {
            true => self.until.min(started + self.allowance()),
            false => self.until,
        };
        let ready = sys::poll_any(&[self.inner.as_raw_fd(), self.stop], Some(cut));
        if self.counting {
            self.waited += started.elapsed();
        }
        match ready? {
            Some(0) => {
                let n = self.inner.read(buf)?;
                self.received += n as u64;
                self.counting |= n > 0;
                Ok(n)
            }
            // Not `Interrupted`, which `read_exact` would retry forever.
            Some(_) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the daemon is stopping",
            )),
            None if cut < self.until => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "client too slow: {} bytes after waiting {} s for it",
                    self.received,
                    self.waited.as_secs()
                ),
            )),
            None => Err(io::Error::new(io::ErrorKind::TimedOut, "I/O timeout")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::signals::Latch;
    use std::io::Write;
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

    #[test]
    fn the_prefix_comes_first_and_costs_no_wait() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let stop = Latch::new().unwrap();
        theirs.write_all(b"def").unwrap();
        let mut r = Deadline::after(b"abc".to_vec(), ours, Duration::from_secs(60), stop.fd());
        let mut got = [0u8; 6];
        r.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abcdef");
    }

    #[test]
    fn a_trickle_is_cut_off_once_its_waits_outgrow_what_it_sent() {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let stop = Latch::new().unwrap();
        let mut r = Deadline::new(ours, Duration::from_secs(600), stop.fd());
        // As if it had sent a handful of bytes and waited out its grace.
        r.waited = GRACE;
        r.received = 10;
        r.counting = true;
        let started = Instant::now();
        let e = r.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("too slow"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // While it preprocesses, only the deadline counts.
        r.wait_for_source();
        r.shorten(Instant::now() + Duration::from_millis(50));
        let e = r.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.to_string(), "I/O timeout");
        // Bytes buy time: 10 KiB earns ten seconds more.
        r.received = 10 * 1024;
        assert!(r.allowance() >= Duration::from_secs(9));
    }
}
