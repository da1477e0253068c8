//! The client's side: our key and the volunteers' pins, a TLS connection to
//! a host over a socket the caller connected, and trust on first use.
//!
//! Each job is a new process and one connection, so an in-memory session
//! cache would never be hit, and rustls cannot write a client session to
//! disk (`Tls13ClientSessionValue` has no serialisation). Every connection
//! is therefore a full handshake, X25519 and Ed25519, which costs the client
//! a fraction of a millisecond (benches/tls_job.rs; benches/tls-client.sh
//! for a whole job of the real client); tickets are turned
//! off on both sides so neither spends time making them.

use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use rustls::client::{AlwaysResolvesClientRawPublicKeys, ClientConfig, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::sign::CertifiedKey;
use rustls::{AlertDescription, ClientConnection, Connection};

use super::error::TlsError;
use super::keys::{Fingerprint, KeyPair, PublicKey};
use super::known_hosts::{self, HostPort, KnownHosts};
use super::stream::{self, Failure, Received, TlsStream};
use super::verify::{Expect, ServerKeyCheck};
use super::{provider, KNOWN_HOSTS_FILE};

/// What [`TlsClient::trust`] did to the known-hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustOutcome {
    Added,
    /// The same key was already pinned; the file is unchanged.
    Unchanged,
    /// Another key was pinned and is now replaced.
    Replaced {
        old: Fingerprint,
    },
}

/// Our key and our pins, loaded once per process.
#[derive(Debug, Clone)]
pub struct TlsClient {
    key: KeyPair,
    certified: Arc<CertifiedKey>,
    known: KnownHosts,
    provider: Arc<CryptoProvider>,
}

impl TlsClient {
    pub fn new(key: KeyPair, known: KnownHosts) -> TlsClient {
        TlsClient {
            certified: key.certified(),
            key,
            known,
            provider: provider(),
        }
    }

    /// Our key in `dir` (created on first use, with `comment` in its
    /// `.pub`) and the pins in `dir/known_hosts`.
    pub fn load(dir: &Path, comment: &str) -> Result<TlsClient> {
        let (key, _) = KeyPair::load_or_create(dir, comment)?;
        let known = KnownHosts::load(&dir.join(KNOWN_HOSTS_FILE))?;
        Ok(TlsClient::new(key, known))
    }

    pub fn key(&self) -> &KeyPair {
        &self.key
    }

    pub fn known_hosts(&self) -> &KnownHosts {
        &self.known
    }

    /// TLS over `sock`, already connected to `host`, which must present
    /// the key pinned for it. The handshake is bounded by `timeout`.
    ///
    /// A TLS 1.3 client finishes its handshake before the daemon has judged
    /// our key, so a refusal ([`TlsError::KeyRefused`]) surfaces on the
    /// stream's first read (or a failing write).
    pub fn connect(
        &self,
        sock: TcpStream,
        host: &HostPort,
        timeout: Duration,
    ) -> Result<TlsStream, TlsError> {
        let pin = self.known.get(host).map(|p| p.key.clone());
        self.handshake(sock, host, Expect::Pinned(pin), timeout)
    }

    /// Trust on first use: connects to `host`, takes the key it proves and
    /// pins it in known-hosts, replacing an older pin. With `expected`
    /// (a fingerprint read on the volunteer) a different key is refused
    /// and nothing is written. Our own key need not be authorized there
    /// yet: the daemon's key is proven before ours is judged.
    pub fn trust(
        &self,
        sock: TcpStream,
        host: &HostPort,
        expected: Option<&Fingerprint>,
        timeout: Duration,
    ) -> Result<(PublicKey, TrustOutcome)> {
        let stream = self.handshake(sock, host, Expect::Any, timeout)?;
        let key = stream.peer_key().clone();
        drop(stream);
        if let Some(expected) = expected {
            if &key.fingerprint() != expected {
                return Err(TlsError::FingerprintMismatch {
                    host: host.to_string(),
                    expected: expected.clone(),
                    presented: key.fingerprint(),
                }
                .into());
            }
        }
        let outcome = match known_hosts::record(self.known.path(), host, &key)? {
            None => TrustOutcome::Added,
            Some(old) if old == key => TrustOutcome::Unchanged,
            Some(old) => TrustOutcome::Replaced {
                old: old.fingerprint(),
            },
        };
        Ok((key, outcome))
    }

    fn config(&self, check: Arc<ServerKeyCheck>) -> Arc<ClientConfig> {
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("the ring provider supports TLS 1.3")
            .dangerous()
            .with_custom_certificate_verifier(check)
            .with_client_cert_resolver(Arc::new(AlwaysResolvesClientRawPublicKeys::new(
                self.certified.clone(),
            )));
        config.resumption = Resumption::disabled();
        // The key, not a name, identifies the daemon; sending a name would
        // only tell onlookers which volunteer we use.
        config.enable_sni = false;
        Arc::new(config)
    }

    fn handshake(
        &self,
        mut sock: TcpStream,
        host: &HostPort,
        expect: Expect,
        timeout: Duration,
    ) -> Result<TlsStream, TlsError> {
        let deadline = Instant::now() + timeout;
        let check = Arc::new(ServerKeyCheck::new(
            expect,
            self.provider.signature_verification_algorithms,
        ));
        // Required by rustls; unused with SNI off and our own verifier.
        let name = ServerName::try_from("distcc.invalid").expect("a valid DNS name");
        let conn = ClientConnection::new(self.config(check.clone()), name).map_err(|error| {
            TlsError::Protocol {
                peer: host.to_string(),
                error,
            }
        })?;
        let mut conn = Connection::Client(conn);
        let (received, result) = stream::handshake(&mut conn, &mut sock, &[], deadline);
        match (result, check.seen()) {
            (Ok(()), Some(key)) => Ok(TlsStream::new(
                conn,
                sock,
                host.to_string(),
                key,
                self.key.public().clone(),
            )),
            (Ok(()), None) => Err(TlsError::Protocol {
                peer: host.to_string(),
                error: rustls::Error::General("handshake ended without a verified key".into()),
            }),
            (Err(failure), _) => Err(self.explain(failure, received, &check, host)),
        }
    }

    /// Turns a failed handshake into what the user must know: the pin
    /// decision first, then "that is not a TLS daemon", then TLS's reason.
    fn explain(
        &self,
        failure: Failure,
        received: Received,
        check: &ServerKeyCheck,
        host: &HostPort,
    ) -> TlsError {
        let peer = host.to_string();
        if let (Expect::Pinned(pin), Some(presented)) = (check.expect(), check.seen()) {
            if pin.as_ref() != Some(&presented) {
                let presented = presented.fingerprint();
                let known_hosts = self.known.path().to_path_buf();
                return match self.known.get(host) {
                    Some(pin) => TlsError::KeyChanged {
                        host: peer,
                        pinned: pin.key.fingerprint(),
                        presented,
                        known_hosts,
                        line: pin.line,
                    },
                    None => TlsError::NotPinned {
                        host: peer,
                        presented,
                        known_hosts,
                    },
                };
            }
        }
        if !received.looked_like_tls() {
            let detail = match (failure, received.first) {
                (_, Some(first)) => format!("it answered our TLS hello with byte {first:#04x}"),
                (Failure::Eof, None) => "it closed the connection on our TLS hello".to_string(),
                (Failure::Io(e), None) if is_reset(&e) => {
                    "it reset the connection on our TLS hello".to_string()
                }
                (Failure::Io(error), None) => return TlsError::Io { peer, error },
                (Failure::Tls(error), None) => error.to_string(),
            };
            return TlsError::NotTls { host: peer, detail };
        }
        match failure {
            Failure::Tls(rustls::Error::AlertReceived(AlertDescription::AccessDenied)) => {
                TlsError::KeyRefused {
                    host: peer,
                    ours: self.key.public().clone(),
                }
            }
            Failure::Tls(error) => TlsError::Protocol { peer, error },
            Failure::Io(error) => TlsError::Io { peer, error },
            Failure::Eof => TlsError::Io {
                peer,
                error: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the daemon closed the connection during the handshake",
                ),
            },
        }
    }
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
    )
}
