//! Whole connections on loopback: a daemon and a client, each with its own
//! key directory, on an ephemeral port. Tampering in flight is in
//! `tests_relay`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tempfile::TempDir;

use super::*;

/// Generous: only a failing test waits this long.
pub(crate) const T: Duration = Duration::from_secs(30);

/// Which key the client's known-hosts pins for the daemon.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum PinOf {
    TheDaemon,
    AnotherKey,
    Nothing,
}

pub(crate) struct Setup {
    pub daemon: TlsServer,
    pub client: TlsClient,
    pub listener: TcpListener,
    pub host: HostPort,
    pub client_dir: TempDir,
    pub daemon_dir: TempDir,
}

impl Setup {
    pub fn new(authorize_client: bool, pin: PinOf) -> Setup {
        let client_dir = tempfile::tempdir().unwrap();
        let (client_key, _) = KeyPair::load_or_create(client_dir.path(), "alice@laptop").unwrap();
        let daemon_dir = tempfile::tempdir().unwrap();
        let mut authorized = String::from("# test\n");
        if authorize_client {
            authorized += &client_key.public().line("alice");
        }
        std::fs::write(daemon_dir.path().join(AUTHORIZED_KEYS_FILE), authorized).unwrap();
        let daemon = TlsServer::load(daemon_dir.path(), "daemon").unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = HostPort::new("127.0.0.1", listener.local_addr().unwrap().port());
        let pinned = match pin {
            PinOf::TheDaemon => Some(daemon.key().public().clone()),
            PinOf::AnotherKey => Some(other_key()),
            PinOf::Nothing => None,
        };
        if let Some(key) = pinned {
            let line = format!("# pins\n{host} {key}\n");
            std::fs::write(client_dir.path().join(KNOWN_HOSTS_FILE), line).unwrap();
        }
        let client = TlsClient::load(client_dir.path(), "").unwrap();
        Setup {
            daemon,
            client,
            listener,
            host,
            client_dir,
            daemon_dir,
        }
    }

    pub fn dial(&self) -> TcpStream {
        TcpStream::connect(self.listener.local_addr().unwrap()).unwrap()
    }

    pub fn accept_raw(&self) -> TcpStream {
        self.listener.accept().unwrap().0
    }

    pub fn accept(&self) -> Result<Accepted, TlsError> {
        let accepted = self.daemon.accept(self.accept_raw(), T)?;
        accepted.stream.set_read_timeout(Some(T)).unwrap();
        accepted.stream.set_write_timeout(Some(T)).unwrap();
        Ok(accepted)
    }

    /// With timeouts, so that a test that goes wrong fails instead of
    /// waiting forever.
    pub fn connect(&self) -> Result<TlsStream, TlsError> {
        let stream = self.client.connect(self.dial(), &self.host, T)?;
        stream.set_read_timeout(Some(T)).unwrap();
        stream.set_write_timeout(Some(T)).unwrap();
        Ok(stream)
    }
}

pub(super) fn other_key() -> PublicKey {
    let dir = tempfile::tempdir().unwrap();
    KeyPair::create(dir.path(), "").unwrap().public().clone()
}

/// 10 KB that is not all one byte, so a shifted or corrupted copy differs.
pub(super) fn payload(seed: u8) -> Vec<u8> {
    (0..10_000u32).map(|i| (i % 251) as u8 ^ seed).collect()
}

fn io_tls(e: &std::io::Error) -> &TlsError {
    TlsError::find(e).unwrap_or_else(|| panic!("not a TlsError: {e:?}"))
}

#[test]
fn authorized_client_is_named_and_bytes_flow_both_ways() {
    let s = Setup::new(true, PinOf::TheDaemon);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            let Accepted {
                mut stream, name, ..
            } = s.accept().unwrap();
            assert_eq!(name, "alice");
            assert_eq!(stream.peer_key(), s.client.key().public());
            serve_one(&mut stream);
        });
        let mut stream = s.connect().unwrap();
        request_one(&mut stream, s.daemon.key().public());
        server.join().unwrap();
    });
}

/// The daemon's half of one exchange: `payload(1)` in, `payload(2)` out.
pub(super) fn serve_one(stream: &mut TlsStream) {
    let mut request = Vec::new();
    // Ok(0) after the client's close_notify: a clean end.
    stream.read_to_end(&mut request).unwrap();
    assert_eq!(request, payload(1));
    stream.write_all(&payload(2)).unwrap();
    stream.shutdown_write().unwrap();
}

/// The client's half, against a daemon proving `daemon_key`.
pub(super) fn request_one(stream: &mut TlsStream, daemon_key: &PublicKey) {
    assert_eq!(stream.peer_key(), daemon_key);
    stream.write_all(&payload(1)).unwrap();
    stream.shutdown_write().unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, payload(2));
}

#[test]
fn unknown_client_key_is_refused_before_any_request_byte() {
    let s = Setup::new(false, PinOf::TheDaemon);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| s.accept());
        // TLS 1.3 lets the client finish first and send its request at
        // once; the daemon must still judge the key before reading it.
        let mut stream = s.connect().unwrap();
        stream.write_all(b"DIST00000001ARGC00000001").unwrap();
        let err = stream.read(&mut [0u8; 64]).unwrap_err();
        let shown = err.to_string();
        assert!(
            matches!(io_tls(&err), TlsError::KeyRefused { .. }),
            "{err:?}"
        );
        let ours = s.client.key().public();
        assert!(shown.contains(ours.fingerprint().as_str()), "{shown}");
        assert!(shown.contains(&ours.line("NAME")), "{shown}");
        drop(stream);

        // No stream was handed to the daemon's caller: nothing was read.
        match server.join().unwrap() {
            Err(TlsError::UnknownClientKey { key }) => assert_eq!(&key, ours),
            other => panic!("expected UnknownClientKey, got {other:?}"),
        }
    });
}

#[test]
fn unknown_client_key_log_line_says_how_to_admit_it() {
    let key = other_key();
    let shown = TlsError::UnknownClientKey { key: key.clone() }.to_string();
    assert!(shown.contains(key.fingerprint().as_str()), "{shown}");
    assert!(
        shown.contains(&key.line("NAME")) && shown.contains("SIGHUP"),
        "{shown}"
    );
}

#[test]
fn changed_daemon_key_is_refused_with_both_fingerprints_and_the_fix() {
    let s = Setup::new(true, PinOf::AnotherKey);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| s.accept());
        let err = s.connect().unwrap_err();
        let TlsError::KeyChanged {
            pinned,
            presented,
            line,
            ..
        } = &err
        else {
            panic!("expected KeyChanged, got {err:?}");
        };
        assert_eq!(presented, &s.daemon.key().public().fingerprint());
        assert_ne!(pinned, presented);
        assert_eq!(*line, 2);
        let shown = err.to_string();
        let known_hosts = s.client_dir.path().join(KNOWN_HOSTS_FILE);
        for part in [
            pinned.as_str(),
            presented.as_str(),
            &format!("{}:2", known_hosts.display()),
            &format!("distcc --trust {}", s.host),
            "distccd --tls-fingerprint",
        ] {
            assert!(shown.contains(part), "`{part}` missing from: {shown}");
        }
        // The daemon sees the client walk away, not a request.
        assert!(server.join().unwrap().is_err());
    });
}

#[test]
fn unpinned_host_is_refused_and_the_message_names_the_trust_command() {
    let s = Setup::new(true, PinOf::Nothing);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| s.accept());
        let err = s.connect().unwrap_err();
        assert!(matches!(err, TlsError::NotPinned { .. }), "{err:?}");
        let shown = err.to_string();
        assert!(
            shown.contains(&format!("distcc --trust {}", s.host)),
            "{shown}"
        );
        assert!(
            shown.contains(s.daemon.key().public().fingerprint().as_str()),
            "{shown}"
        );
        assert!(server.join().unwrap().is_err());
    });
}

fn trust(s: &Setup, expected: Option<&Fingerprint>) -> anyhow::Result<(PublicKey, TrustOutcome)> {
    std::thread::scope(|scope| {
        // The daemon may or may not admit us; trust needs only its key.
        let server = scope.spawn(|| drop(s.accept()));
        let result = s.client.trust(s.dial(), &s.host, expected, T);
        server.join().unwrap();
        result
    })
}

fn pinned_in(dir: &Path, host: &HostPort) -> Option<PublicKey> {
    let known = KnownHosts::load(&dir.join(KNOWN_HOSTS_FILE)).unwrap();
    known.get(host).map(|p| p.key.clone())
}

#[test]
fn trust_on_first_use_pins_the_key_and_then_connect_works() {
    let s = Setup::new(true, PinOf::Nothing);
    let daemon_key = s.daemon.key().public().clone();
    let (key, outcome) = trust(&s, None).unwrap();
    assert_eq!((key, outcome), (daemon_key.clone(), TrustOutcome::Added));
    assert_eq!(
        pinned_in(s.client_dir.path(), &s.host),
        Some(daemon_key.clone())
    );
    let (_, again) = trust(&s, Some(&daemon_key.fingerprint())).unwrap();
    assert_eq!(again, TrustOutcome::Unchanged);

    // A fresh process reads the pin and connects.
    let client = TlsClient::load(s.client_dir.path(), "").unwrap();
    std::thread::scope(|scope| {
        let server = scope.spawn(|| s.accept().map(|a| a.name));
        let stream = client.connect(s.dial(), &s.host, T).unwrap();
        drop(stream);
        assert_eq!(server.join().unwrap().unwrap(), "alice");
    });
}

#[test]
fn trust_with_an_unauthorized_client_key_still_learns_the_daemon_key() {
    let s = Setup::new(false, PinOf::Nothing);
    let (key, outcome) = trust(&s, None).unwrap();
    assert_eq!(&key, s.daemon.key().public());
    assert_eq!(outcome, TrustOutcome::Added);
}

#[test]
fn trust_refuses_a_wrong_expected_fingerprint_and_replaces_a_changed_pin() {
    let s = Setup::new(true, PinOf::AnotherKey);
    let old = pinned_in(s.client_dir.path(), &s.host).unwrap();
    let err = trust(&s, Some(&other_key().fingerprint())).unwrap_err();
    assert!(
        matches!(
            TlsError::find(err.as_ref()),
            Some(TlsError::FingerprintMismatch { .. })
        ),
        "{err:#}"
    );
    assert_eq!(pinned_in(s.client_dir.path(), &s.host), Some(old.clone()));

    let (key, outcome) = trust(&s, None).unwrap();
    assert_eq!(
        outcome,
        TrustOutcome::Replaced {
            old: old.fingerprint()
        }
    );
    assert_eq!(pinned_in(s.client_dir.path(), &s.host), Some(key));
}

#[test]
fn plaintext_client_on_tls_port_is_logged_and_answered_with_nothing() {
    let s = Setup::new(true, PinOf::TheDaemon);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| s.accept());
        let mut plain = s.dial();
        plain.write_all(b"DIST00000001ARGC00000002").unwrap();
        let mut answer = Vec::new();
        plain.read_to_end(&mut answer).unwrap();
        assert!(answer.is_empty(), "answered {answer:?}");
        drop(plain);
        let err = server.join().unwrap().unwrap_err();
        assert!(matches!(err, TlsError::PlaintextClient), "{err:?}");
        assert!(err.to_string().contains("plaintext client on TLS port"));
    });
}

#[test]
fn other_protocols_on_tls_port_are_refused() {
    let s = Setup::new(true, PinOf::TheDaemon);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| s.accept());
        let mut plain = s.dial();
        plain.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        drop(plain);
        let err = server.join().unwrap().unwrap_err();
        assert!(
            matches!(err, TlsError::NotTlsClient { first: b'G' }),
            "{err:?}"
        );
    });
}

/// Stands in for a plain distccd: reads a request header, finds no `DIST`,
/// and closes, or answers `reply` in plaintext.
fn plain_daemon(listener: &TcpListener, reply: &[u8]) -> bool {
    let (mut sock, _) = listener.accept().unwrap();
    let mut header = [0u8; 12];
    sock.read_exact(&mut header).unwrap();
    sock.write_all(reply).unwrap();
    looks_like_tls_hello(&header)
}

#[test]
fn tls_client_on_a_plain_daemon_is_told_so() {
    for reply in [&b""[..], b"DONE00000002STAT00000000"] {
        let s = Setup::new(true, PinOf::TheDaemon);
        std::thread::scope(|scope| {
            let daemon = scope.spawn(|| plain_daemon(&s.listener, reply));
            let err = s.connect().unwrap_err();
            assert!(matches!(err, TlsError::NotTls { .. }), "{err:?}");
            let shown = err.to_string();
            assert!(
                shown.contains(&format!(
                    "host {} does not speak TLS (is it a plain distccd?)",
                    s.host
                )),
                "{shown}"
            );
            // The plain daemon can tell what hit it.
            assert!(daemon.join().unwrap(), "the header did not look like TLS");
        });
    }
}

#[test]
fn tls_hello_is_recognised_and_distcc_header_is_not() {
    assert!(looks_like_tls_hello(&[0x16, 0x03, 0x01, 0x00]));
    assert!(looks_like_tls_hello(&[0x16]));
    assert!(!looks_like_tls_hello(b"DIST00000003"));
    assert!(!looks_like_tls_hello(&[0x16, 0x00]));
    assert!(!looks_like_tls_hello(&[]));
}

#[test]
fn a_silent_client_times_out_the_handshake() {
    let s = Setup::new(true, PinOf::TheDaemon);
    let _silent = s.dial();
    let err = s
        .daemon
        .accept(s.accept_raw(), Duration::from_millis(200))
        .unwrap_err();
    let TlsError::Io { error, .. } = &err else {
        panic!("expected Io, got {err:?}");
    };
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "{err}");
}

#[test]
fn a_silent_daemon_times_out_the_handshake() {
    let s = Setup::new(true, PinOf::TheDaemon);
    let sock = s.dial();
    let _held = s.accept_raw();
    let err = s
        .client
        .connect(sock, &s.host, Duration::from_millis(200))
        .unwrap_err();
    assert!(matches!(err, TlsError::Io { .. }), "{err:?}");
}

#[test]
fn buffered_plaintext_is_reported_for_poll_loops() {
    let s = Setup::new(true, PinOf::TheDaemon);
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let s = &s;
    std::thread::scope(|scope| {
        let server = scope.spawn(move || {
            let mut accepted = s.accept().unwrap();
            accepted.stream.write_all(b"hello world").unwrap();
            // Keep the stream (no close_notify yet) until the client is done.
            done_rx.recv().unwrap();
        });
        let mut stream = s.connect().unwrap();
        assert!(!stream.has_buffered_plaintext());
        let mut five = [0u8; 5];
        stream.read_exact(&mut five).unwrap();
        assert_eq!(&five, b"hello");
        // The rest arrived in the same record: the fd may never be
        // readable again, so a poll loop must read first.
        assert!(stream.has_buffered_plaintext());
        let mut rest = [0u8; 6];
        stream.read_exact(&mut rest).unwrap();
        assert_eq!(&rest, b" world");
        assert!(!stream.has_buffered_plaintext());
        done_tx.send(()).unwrap();
        server.join().unwrap();
    });
}

#[test]
fn a_cut_connection_is_an_error_not_an_end_of_stream() {
    let s = Setup::new(true, PinOf::TheDaemon);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            let accepted = s.accept().unwrap();
            let mut stream = accepted.stream;
            stream.write_all(b"partial").unwrap();
            // A TCP close without close_notify, as a truncating attacker
            // or a crash would leave it.
            stream.socket().shutdown(std::net::Shutdown::Both).unwrap();
        });
        let mut stream = s.connect().unwrap();
        server.join().unwrap();
        let mut got = Vec::new();
        let err = stream.read_to_end(&mut got).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
        assert_eq!(got, b"partial");
    });
}

#[test]
fn read_timeout_applies_after_the_handshake() {
    let s = Setup::new(true, PinOf::TheDaemon);
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let s = &s;
    std::thread::scope(|scope| {
        let server = scope.spawn(move || {
            let _accepted = s.accept().unwrap();
            done_rx.recv().unwrap();
        });
        let mut stream = s.connect().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let err = stream.read(&mut [0u8; 8]).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{err}"
        );
        done_tx.send(()).unwrap();
        server.join().unwrap();
    });
}

#[test]
fn reloaded_authorized_keys_admit_a_new_client() {
    let s = Setup::new(false, PinOf::TheDaemon);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| s.accept().map(|a| a.name));
        let mut stream = s.connect().unwrap();
        assert!(stream.read(&mut [0u8; 1]).is_err());
        drop(stream);
        assert!(server.join().unwrap().is_err());
    });

    let path = s.daemon_dir.path().join(AUTHORIZED_KEYS_FILE);
    let line = s.client.key().public().line("carol");
    std::fs::write(&path, format!("{line}\n")).unwrap();
    assert_eq!(s.daemon.reload_authorized_keys().unwrap(), 1);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| s.accept().map(|a| a.name));
        let _stream = s.connect().unwrap();
        assert_eq!(server.join().unwrap().unwrap(), "carol");
    });
}

/// Someone who copied a public key cannot use it: the handshake signature
/// must verify under that key.
#[test]
fn an_impostor_daemon_with_the_pinned_public_key_is_refused() {
    let s = Setup::new(true, PinOf::TheDaemon);
    let signer = KeyPair::create(tempfile::tempdir().unwrap().path(), "").unwrap();
    let impostor = TlsServer::new(
        KeyPair::impostor(s.daemon.key(), &signer),
        Arc::new(
            AuthorizedKeysFile::open(&s.daemon_dir.path().join(AUTHORIZED_KEYS_FILE)).unwrap(),
        ),
    );
    std::thread::scope(|scope| {
        let server = scope.spawn(|| impostor.accept(s.accept_raw(), T).map(|a| a.name));
        let err = s.connect().unwrap_err();
        assert!(matches!(err, TlsError::Protocol { .. }), "{err:?}");
        assert!(server.join().unwrap().is_err());
    });
}

#[test]
fn an_impostor_client_with_an_authorized_public_key_is_refused() {
    let s = Setup::new(true, PinOf::TheDaemon);
    let signer = KeyPair::create(tempfile::tempdir().unwrap().path(), "").unwrap();
    let impostor = TlsClient::new(
        KeyPair::impostor(s.client.key(), &signer),
        s.client.known_hosts().clone(),
    );
    std::thread::scope(|scope| {
        // Dropping any accepted stream at once: a wrongly admitted impostor
        // then reads a clean end, which fails the test instead of hanging it.
        let server = scope.spawn(|| s.accept().map(|a| a.name));
        // Our side may finish before the daemon has checked our signature.
        if let Ok(mut stream) = impostor.connect(s.dial(), &s.host, T) {
            assert!(stream.read(&mut [0u8; 1]).is_err());
        }
        match server.join().unwrap() {
            Err(TlsError::Protocol { .. }) => {}
            other => panic!("expected a Protocol error, got {other:?}"),
        }
    });
}

#[test]
fn megabytes_flow_both_ways_intact() {
    let s = Setup::new(true, PinOf::TheDaemon);
    let big = |seed: u8| -> Vec<u8> { (0..3_000_000u32).map(|i| (i % 253) as u8 ^ seed).collect() };
    std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            let mut stream = s.accept().unwrap().stream;
            let mut request = Vec::new();
            stream.read_to_end(&mut request).unwrap();
            assert!(request == big(3), "request differs");
            stream.write_all(&big(4)).unwrap();
            stream.shutdown_write().unwrap();
        });
        let mut stream = s.connect().unwrap();
        stream.write_all(&big(3)).unwrap();
        stream.shutdown_write().unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        assert!(reply == big(4), "reply differs");
        server.join().unwrap();
    });
}

/// A refused client that streams a large request hits a closed connection
/// while writing; the error still says why.
#[test]
fn a_refused_client_learns_why_even_while_writing() {
    let s = Setup::new(false, PinOf::TheDaemon);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| s.accept().map(|a| a.name));
        let mut stream = s.connect().unwrap();
        let chunk = vec![0u8; 64 * 1024];
        let err = loop {
            if let Err(e) = stream.write_all(&chunk) {
                break e;
            }
        };
        assert!(
            matches!(TlsError::find(&err), Some(TlsError::KeyRefused { .. })),
            "{err:?}"
        );
        drop(stream);
        assert!(server.join().unwrap().is_err());
    });
}
