//! Tampering in flight: a relay between client and daemon that flips one
//! bit of one TLS record. Either side must fail with an error, never panic
//! and never hand the altered bytes (or any bytes of the altered record) to
//! its caller.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};

use super::tests::{payload, PinOf, Setup, T};
use super::*;

/// Which record of one direction to corrupt.
#[derive(Clone, Copy)]
enum Target {
    /// The first record at all (the ClientHello, client to daemon).
    First,
    /// The first record with at least this many bytes of body: application
    /// data of a 10 KB message, never a handshake record (raw public keys
    /// keep those small).
    FirstAtLeast(usize),
    Nothing,
}

/// Follows the record framing (type, version, 16-bit length, body) of one
/// direction and flips a bit in the middle of the target record's body.
struct Flipper {
    target: Target,
    header: Vec<u8>,
    body_len: usize,
    body_pos: usize,
    records: usize,
    flipped: bool,
}

impl Flipper {
    fn new(target: Target) -> Flipper {
        Flipper {
            target,
            header: Vec::new(),
            body_len: 0,
            body_pos: 0,
            records: 0,
            flipped: false,
        }
    }

    fn is_target(&self) -> bool {
        match self.target {
            Target::First => self.records == 1,
            Target::FirstAtLeast(n) => self.body_len >= n,
            Target::Nothing => false,
        }
    }

    fn pass(&mut self, bytes: &mut [u8]) {
        for byte in bytes {
            if self.body_pos < self.body_len {
                if !self.flipped && self.is_target() && self.body_pos == self.body_len / 2 {
                    *byte ^= 0x10;
                    self.flipped = true;
                }
                self.body_pos += 1;
                continue;
            }
            self.header.push(*byte);
            if self.header.len() == 5 {
                self.body_len = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                self.body_pos = 0;
                self.records += 1;
                self.header.clear();
            }
        }
    }
}

fn forward(mut from: &TcpStream, mut to: &TcpStream, mut flipper: Flipper) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                flipper.pass(&mut buf[..n]);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
    flipper.flipped
}

/// Runs `client` against the daemon through a relay that corrupts as told;
/// `daemon` gets the accepted result. Asserts the relay did flip a bit
/// where one was asked for.
fn through_relay<D, C>(up: Target, down: Target, daemon: D, client: C)
where
    D: FnOnce(Result<Accepted, TlsError>) + Send,
    C: FnOnce(Result<TlsStream, TlsError>),
{
    let s = Setup::new(true, PinOf::TheDaemon);
    let relay = TcpListener::bind("127.0.0.1:0").unwrap();
    std::thread::scope(|scope| {
        let daemon_thread = scope.spawn(|| daemon(s.accept()));
        let relay_thread = scope.spawn(|| {
            let (from_client, _) = relay.accept().unwrap();
            let to_daemon = s.dial();
            std::thread::scope(|inner| {
                let upward = inner.spawn(|| forward(&from_client, &to_daemon, Flipper::new(up)));
                let downward = forward(&to_daemon, &from_client, Flipper::new(down));
                (upward.join().unwrap(), downward)
            })
        });
        let sock = TcpStream::connect(relay.local_addr().unwrap()).unwrap();
        client(s.client.connect(sock, &s.host, T));
        daemon_thread.join().unwrap();
        let (flipped_up, flipped_down) = relay_thread.join().unwrap();
        assert_eq!(flipped_up, !matches!(up, Target::Nothing));
        assert_eq!(flipped_down, !matches!(down, Target::Nothing));
    });
}

fn is_protocol_error(e: &std::io::Error) -> bool {
    matches!(TlsError::find(e), Some(TlsError::Protocol { .. }))
}

#[test]
fn relay_without_tampering_passes_the_job() {
    through_relay(
        Target::Nothing,
        Target::Nothing,
        |accepted| {
            let mut stream = accepted.unwrap().stream;
            let mut request = Vec::new();
            stream.read_to_end(&mut request).unwrap();
            assert_eq!(request, payload(1));
            stream.write_all(&payload(2)).unwrap();
            stream.shutdown_write().unwrap();
        },
        |stream| {
            let mut stream = stream.unwrap();
            stream.write_all(&payload(1)).unwrap();
            stream.shutdown_write().unwrap();
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).unwrap();
            assert_eq!(reply, payload(2));
        },
    );
}

#[test]
fn flipped_bit_in_the_request_fails_cleanly_on_both_sides() {
    through_relay(
        Target::FirstAtLeast(4096),
        Target::Nothing,
        |accepted| {
            let mut stream = accepted.unwrap().stream;
            let mut request = Vec::new();
            let err = stream.read_to_end(&mut request).unwrap_err();
            assert!(is_protocol_error(&err), "{err:?}");
            assert!(
                request.is_empty(),
                "{} bytes of a forged record",
                request.len()
            );
        },
        |stream| {
            let mut stream = stream.unwrap();
            stream.write_all(&payload(1)).unwrap();
            stream.shutdown_write().unwrap();
            let mut reply = Vec::new();
            // The daemon's alert (bad_record_mac), or the connection's end.
            assert!(stream.read_to_end(&mut reply).is_err());
            assert!(reply.is_empty());
        },
    );
}

#[test]
fn flipped_bit_in_the_reply_fails_cleanly_on_both_sides() {
    through_relay(
        Target::Nothing,
        Target::FirstAtLeast(4096),
        |accepted| {
            let mut stream = accepted.unwrap().stream;
            stream.write_all(&payload(2)).unwrap();
            stream.shutdown_write().unwrap();
            // The client's alert, or the end of a connection it dropped.
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
            assert!(rest.is_empty());
        },
        |stream| {
            let mut stream = stream.unwrap();
            let mut reply = Vec::new();
            let err = stream.read_to_end(&mut reply).unwrap_err();
            assert!(is_protocol_error(&err), "{err:?}");
            assert!(reply.is_empty(), "{} bytes of a forged record", reply.len());
        },
    );
}

#[test]
fn flipped_bit_in_the_client_hello_fails_the_handshake() {
    through_relay(
        Target::First,
        Target::Nothing,
        |accepted| {
            assert!(accepted.is_err());
        },
        |stream| match stream {
            // The altered hello changes the transcript: the daemon's
            // Finished cannot verify, or the daemon rejects the hello.
            Err(e) => assert!(
                matches!(e, TlsError::Protocol { .. } | TlsError::Io { .. }),
                "{e:?}"
            ),
            Ok(mut stream) => assert!(stream.read(&mut [0u8; 1]).is_err()),
        },
    );
}
