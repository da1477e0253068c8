//! Session resumption on loopback: a client that keeps its configs
//! ([`Resumable`]) resumes its second connection, and neither side lets a
//! session outlive the decision that admitted it (a removed client key, a
//! changed pin).

use std::io::{Read, Write};
use std::sync::Arc;

use super::tests::{other_key, request_one, serve_one, PinOf, Setup};
use super::*;

/// One request and its reply, so the client has read the daemon's ticket
/// by the end; both sides' views of the handshake.
fn job(s: &Setup, client: &TlsClient) -> (bool, bool, String) {
    std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            let mut a = s.accept().unwrap();
            serve_one(&mut a.stream);
            assert_eq!(a.resumed, a.stream.resumed());
            (a.resumed, a.name)
        });
        let mut stream = client.connect(s.dial(), &s.host, super::tests::T).unwrap();
        request_one(&mut stream, s.daemon.key().public());
        let (daemon_resumed, name) = server.join().unwrap();
        (stream.resumed(), daemon_resumed, name)
    })
}

fn resuming(s: &Setup, resumable: &Arc<Resumable>) -> TlsClient {
    TlsClient::load(s.client_dir.path(), "")
        .unwrap()
        .resuming(resumable.clone())
}

#[test]
fn the_second_connection_resumes_and_the_daemon_still_names_the_key() {
    let s = Setup::new(true, PinOf::TheDaemon);
    let client = resuming(&s, &Arc::new(Resumable::default()));
    assert_eq!(job(&s, &client), (false, false, "alice".into()));
    assert_eq!(job(&s, &client), (true, true, "alice".into()));
    assert_eq!(job(&s, &client), (true, true, "alice".into()));
}

#[test]
fn a_client_without_kept_configs_never_resumes() {
    let s = Setup::new(true, PinOf::TheDaemon);
    assert_eq!(job(&s, &s.client), (false, false, "alice".into()));
    assert_eq!(job(&s, &s.client), (false, false, "alice".into()));
}

#[test]
fn a_client_key_removed_and_reloaded_is_refused_though_it_holds_a_session() {
    let s = Setup::new(true, PinOf::TheDaemon);
    let client = resuming(&s, &Arc::new(Resumable::default()));
    job(&s, &client);
    std::fs::write(s.daemon_dir.path().join(AUTHORIZED_KEYS_FILE), "# none\n").unwrap();
    assert_eq!(s.daemon.reload_authorized_keys().unwrap(), 0);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| s.accept());
        let mut stream = client.connect(s.dial(), &s.host, super::tests::T).unwrap();
        assert!(!stream.resumed(), "the daemon forgot its sessions");
        stream.write_all(b"DIST00000001").unwrap();
        let err = stream.read(&mut [0u8; 64]).unwrap_err();
        assert!(
            matches!(TlsError::find(&err), Some(TlsError::KeyRefused { .. })),
            "{err:?}"
        );
        drop(stream);
        match server.join().unwrap() {
            Err(TlsError::UnknownClientKey { key }) => assert_eq!(&key, client.key().public()),
            other => panic!("expected UnknownClientKey, got {other:?}"),
        }
    });
}

#[test]
fn a_changed_pin_is_checked_though_a_session_with_the_old_one_is_kept() {
    let s = Setup::new(true, PinOf::TheDaemon);
    let resumable = Arc::new(Resumable::default());
    job(&s, &resuming(&s, &resumable));
    let line = format!("{} {}\n", s.host, other_key());
    std::fs::write(s.client_dir.path().join(KNOWN_HOSTS_FILE), line).unwrap();
    let client = resuming(&s, &resumable);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| s.accept());
        let err = client
            .connect(s.dial(), &s.host, super::tests::T)
            .unwrap_err();
        let TlsError::KeyChanged { presented, .. } = &err else {
            panic!("expected KeyChanged, got {err:?}");
        };
        assert_eq!(presented, &s.daemon.key().public().fingerprint());
        assert!(server.join().unwrap().is_err());
    });
    // Pinned back: the session kept under that pin is resumed again.
    let line = format!("{} {}\n", s.host, s.daemon.key().public());
    std::fs::write(s.client_dir.path().join(KNOWN_HOSTS_FILE), line).unwrap();
    assert_eq!(
        job(&s, &resuming(&s, &resumable)),
        (true, true, "alice".into())
    );
}
