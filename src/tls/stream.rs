//! A TLS connection over a blocking `TcpStream`: the handshake driver both
//! sides use, and [`TlsStream`], the Read/Write a job's protocol runs over.
//!
//! rustls does no I/O itself; here every read and write of TLS records
//! happens on the caller's thread, bounded by the socket's timeouts, so a
//! job behaves as over plain TCP. Configuration and the accept decisions
//! live in `client` and `server`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use rustls::{AlertDescription, Connection};

use super::error::TlsError;
use super::keys::PublicKey;

/// What came from the peer during a handshake: enough to tell "not TLS at
/// all" (nothing, or a first byte that is no TLS record type) from a TLS
/// peer that refused us.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Received {
    pub bytes: u64,
    pub first: Option<u8>,
}

impl Received {
    /// True if the first byte could start a TLS record (change_cipher_spec,
    /// alert, handshake, application_data).
    pub fn looked_like_tls(&self) -> bool {
        matches!(self.first, Some(0x14..=0x17))
    }
}

/// Why a handshake stopped.
#[derive(Debug)]
pub(crate) enum Failure {
    Io(io::Error),
    /// The peer closed the connection before the handshake finished.
    Eof,
    Tls(rustls::Error),
}

struct Counting<'a, 'p> {
    /// Bytes the caller read from the socket already, taken first.
    prefix: &'a mut &'p [u8],
    sock: &'a mut TcpStream,
    received: &'a mut Received,
}

impl Read for Counting<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.prefix.is_empty() {
            true => self.sock.read(buf)?,
            false => self.prefix.read(buf)?,
        };
        if n > 0 && self.received.first.is_none() {
            self.received.first = Some(buf[0]);
        }
        self.received.bytes += n as u64;
        Ok(n)
    }
}

fn remaining(deadline: Instant) -> io::Result<Duration> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "handshake did not finish in time",
        )),
    }
}

fn write_all_tls(conn: &mut Connection, sock: &mut TcpStream) -> io::Result<()> {
    while conn.wants_write() {
        if conn.write_tls(sock)? == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

/// Runs the handshake to its end on our side, every socket operation
/// bounded by `deadline` (a peer trickling bytes cannot hold us longer).
/// The socket's own timeouts are restored afterwards. `prefix` is what the
/// caller has read of the socket already (a server's reception stage).
pub(crate) fn handshake(
    conn: &mut Connection,
    sock: &mut TcpStream,
    prefix: &[u8],
    deadline: Instant,
) -> (Received, Result<(), Failure>) {
    let saved = (sock.read_timeout(), sock.write_timeout());
    // Each flight and each Write call goes out whole, so Nagle's algorithm
    // could only hold a flight back until the peer's delayed ACK (the
    // client's Finished, then its request: a 40 ms stall).
    let _ = sock.set_nodelay(true);
    let mut received = Received::default();
    let result = drive(conn, sock, prefix, deadline, &mut received);
    if let (Ok(read), Ok(write)) = saved {
        let _ = sock.set_read_timeout(read);
        let _ = sock.set_write_timeout(write);
    }
    (received, result)
}

fn drive(
    conn: &mut Connection,
    sock: &mut TcpStream,
    mut prefix: &[u8],
    deadline: Instant,
    received: &mut Received,
) -> Result<(), Failure> {
    loop {
        sock.set_write_timeout(Some(remaining(deadline).map_err(Failure::Io)?))
            .map_err(Failure::Io)?;
        write_all_tls(conn, sock).map_err(Failure::Io)?;
        if !conn.is_handshaking() {
            return Ok(());
        }
        sock.set_read_timeout(Some(remaining(deadline).map_err(Failure::Io)?))
            .map_err(Failure::Io)?;
        let n = conn
            .read_tls(&mut Counting {
                prefix: &mut prefix,
                sock: &mut *sock,
                received: &mut *received,
            })
            .map_err(Failure::Io)?;
        if n == 0 {
            return Err(Failure::Eof);
        }
        if let Err(e) = conn.process_new_packets() {
            // rustls has queued the alert that tells the peer why.
            let _ = write_all_tls(conn, sock);
            return Err(Failure::Tls(e));
        }
    }
}

/// A finished handshake's connection: Read and Write carry the job's bytes.
///
/// Poll on [`AsRawFd`] only when [`TlsStream::has_buffered_plaintext`] is
/// false: one socket read may bring several records, and what rustls has
/// already decrypted will not make the fd readable again.
///
/// Each `write` sends its bytes at once as one or more records, as a
/// `TcpStream` would; wrap it in a `BufWriter` for many small writes.
/// Dropping it sends a close_notify if that can go without blocking.
pub struct TlsStream {
    conn: Connection,
    sock: TcpStream,
    /// Names the peer in errors: host:port or the client's address.
    peer: String,
    peer_key: PublicKey,
    our_key: PublicKey,
    closed_write: bool,
    /// When every socket read and write gives up, if set: the socket's
    /// timeouts are set to what is left before each one, so a peer
    /// trickling a record cannot stretch a transfer past it.
    deadline: Option<Instant>,
}

impl TlsStream {
    pub(crate) fn new(
        conn: Connection,
        sock: TcpStream,
        peer: String,
        peer_key: PublicKey,
        our_key: PublicKey,
    ) -> TlsStream {
        TlsStream {
            conn,
            sock,
            peer,
            peer_key,
            our_key,
            closed_write: false,
            deadline: None,
        }
    }

    /// From now on every read and write fails with `TimedOut` once
    /// `deadline` passes, all of them together; `None` leaves the socket's
    /// own timeouts alone.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Sets the socket's timeout for the next read or write to what is
    /// left of the deadline.
    fn bound(&self, read: bool) -> io::Result<()> {
        let Some(deadline) = self.deadline else {
            return Ok(());
        };
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))?;
        match read {
            true => self.sock.set_read_timeout(Some(left)),
            false => self.sock.set_write_timeout(Some(left)),
        }
    }

    /// The key the peer proved in the handshake, or in the one whose
    /// session this connection resumed.
    pub fn peer_key(&self) -> &PublicKey {
        &self.peer_key
    }

    /// True if the handshake resumed an earlier session (no key was
    /// proven again, no key exchange signed).
    pub fn resumed(&self) -> bool {
        self.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// True if a read would return without touching the socket: decrypted
    /// bytes are waiting, the peer's close_notify arrived, or an error is
    /// pending. A poll loop reads instead of polling while this holds.
    pub fn has_buffered_plaintext(&mut self) -> bool {
        match self.conn.process_new_packets() {
            Ok(state) => state.plaintext_bytes_to_read() > 0 || state.peer_has_closed(),
            Err(_) => true,
        }
    }

    /// For a caller that polls the socket: at most one socket read (the
    /// caller saw it readable), then the plaintext there is. `Ok(None)` if
    /// it brought none yet (part of a record, or only a session ticket),
    /// where [`Read::read`] would block for more.
    pub fn read_ready(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if !self.has_buffered_plaintext() {
            self.flush_tls()?;
            self.bound(true)?;
            let n = self.conn.read_tls(&mut self.sock)?;
            if let Err(e) = self.conn.process_new_packets() {
                let _ = write_all_tls(&mut self.conn, &mut self.sock);
                return Err(self.tls_error(e));
            }
            // At the socket's end, `read` says how it ended without
            // touching the socket again.
            if n > 0 && !self.has_buffered_plaintext() {
                return Ok(None);
            }
        }
        self.read(buf).map(Some)
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(t)
    }

    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(t)
    }

    pub fn socket(&self) -> &TcpStream {
        &self.sock
    }

    /// Ends our direction: a close_notify, then a TCP half-close. The peer
    /// reads a clean end of stream (`Ok(0)`); we can still read its reply.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        if !self.closed_write {
            self.closed_write = true;
            self.conn.send_close_notify();
            self.flush_tls()?;
            match self.sock.shutdown(Shutdown::Write) {
                // The peer has closed already: there is nothing to half-close.
                Err(e) if e.kind() != io::ErrorKind::NotConnected => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    fn flush_tls(&mut self) -> io::Result<()> {
        if self.conn.wants_write() {
            self.bound(false)?;
        }
        match write_all_tls(&mut self.conn, &mut self.sock) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.explain_write_error(e)),
        }
    }

    /// A peer that refused us sends an alert and closes; our next write
    /// then fails with EPIPE or a reset. The alert, already in our receive
    /// queue, says why, so read it without blocking and report that instead.
    fn explain_write_error(&mut self, e: io::Error) -> io::Error {
        if self.sock.set_nonblocking(true).is_err() {
            return e;
        }
        let mut reason = None;
        for _ in 0..16 {
            match self.conn.read_tls(&mut self.sock) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
            if let Err(tls) = self.conn.process_new_packets() {
                reason = Some(tls);
                break;
            }
        }
        let _ = self.sock.set_nonblocking(false);
        match reason {
            Some(tls) => self.tls_error(tls),
            None => e,
        }
    }

    fn tls_error(&self, error: rustls::Error) -> io::Error {
        let refused = matches!(
            error,
            rustls::Error::AlertReceived(AlertDescription::AccessDenied)
        );
        if refused && matches!(self.conn, Connection::Client(_)) {
            return TlsError::KeyRefused {
                host: self.peer.clone(),
                ours: self.our_key.clone(),
            }
            .into();
        }
        TlsError::Protocol {
            peer: self.peer.clone(),
            error,
        }
        .into()
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    // distcc's messages carry their lengths, so a reader
                    // that wanted more bytes learns the reply was cut; one
                    // that is done never asks.
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "{} closed the connection without a TLS close_notify",
                            self.peer
                        ),
                    ));
                }
                Err(e) => return Err(e),
            }
            self.flush_tls()?;
            self.bound(true)?;
            self.conn.read_tls(&mut self.sock)?;
            if let Err(e) = self.conn.process_new_packets() {
                let _ = write_all_tls(&mut self.conn, &mut self.sock);
                return Err(self.tls_error(e));
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed_write {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "TLS stream already shut down for writing",
            ));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let mut n = self.conn.writer().write(buf)?;
        if n == 0 {
            // rustls' send buffer was full of records an earlier write
            // could not send (a timeout); send them and try again.
            self.flush_tls()?;
            n = self.conn.writer().write(buf)?;
        }
        self.flush_tls()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.conn.writer().flush()?;
        self.flush_tls()
    }
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TlsStream({}, {})",
            self.peer,
            self.peer_key.fingerprint()
        )
    }
}

impl AsRawFd for TlsStream {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl AsFd for TlsStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl Drop for TlsStream {
    fn drop(&mut self) {
        if !self.closed_write && self.sock.set_nonblocking(true).is_ok() {
            self.conn.send_close_notify();
            let _ = write_all_tls(&mut self.conn, &mut self.sock);
        }
    }
}
