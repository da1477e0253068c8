//! The client's side: our key and the volunteers' pins, a TLS connection to
//! a host over a socket the caller connected, and trust on first use.
//!
//! A job is a new process and one connection, and rustls cannot write a
//! client session to disk (`Tls13ClientSessionValue` has no serialisation),
//! so a job's own connection is a full handshake, X25519 and Ed25519. A
//! process that lives on, the TLS agent, resumes instead: it keeps one
//! config per (our key, host, pin) in [`Resumable`], each with its own
//! session cache (rustls resumes only under the config whose verifier made
//! the session). A pin changed in known-hosts is a new config with no
//! session, so a full handshake, where the new pin is checked.
use std::collections::HashMap;
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use rustls::client::{AlwaysResolvesClientRawPublicKeys, ClientConfig, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::sign::CertifiedKey;
use rustls::{AlertDescription, ClientConnection, Connection, HandshakeKind};

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

/// Configs whose sessions are resumed, by (our key, host, pin); shared by
/// the [`TlsClient`]s of one process as its files are re-read.
#[derive(Debug, Default)]
pub struct Resumable {
    configs: Mutex<HashMap<(PublicKey, HostPort, PublicKey), Arc<ClientConfig>>>,
}

/// Sessions kept per config: enough for a build's concurrent jobs to one
/// host; each is used once.
const SESSIONS_PER_HOST: usize = 64;

/// Our key and our pins, loaded once per process.
#[derive(Debug, Clone)]
pub struct TlsClient {
    key: KeyPair,
    certified: Arc<CertifiedKey>,
    known: KnownHosts,
    provider: Arc<CryptoProvider>,
    resumable: Option<Arc<Resumable>>,
}

impl TlsClient {
    pub fn new(key: KeyPair, known: KnownHosts) -> TlsClient {
        TlsClient {
            certified: key.certified(),
            key,
            known,
            provider: provider(),
            resumable: None,
        }
    }

    /// Connections to a pinned host resume sessions kept in `resumable`.
    pub fn resuming(mut self, resumable: Arc<Resumable>) -> TlsClient {
        self.resumable = Some(resumable);
        self
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
        let config = match (&self.resumable, &pin) {
            (Some(resumable), Some(pin)) => self.resumable_config(resumable, host, pin),
            _ => self.config(Expect::Pinned(pin.clone()), Resumption::disabled()),
        };
        self.handshake(sock, host, config, Expect::Pinned(pin), timeout)
    }

    /// The config that resumes sessions with `host` while it is pinned to
    /// `pin`, made on first use.
    fn resumable_config(
        &self,
        resumable: &Resumable,
        host: &HostPort,
        pin: &PublicKey,
    ) -> Arc<ClientConfig> {
        let mut configs = resumable.configs.lock().unwrap_or_else(|p| p.into_inner());
        let id = (self.key.public().clone(), host.clone(), pin.clone());
        configs
            .entry(id)
            .or_insert_with(|| {
                self.config(
                    Expect::Pinned(Some(pin.clone())),
                    Resumption::in_memory_sessions(SESSIONS_PER_HOST),
                )
            })
            .clone()
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
        let config = self.config(Expect::Any, Resumption::disabled());
        let stream = self.handshake(sock, host, config, Expect::Any, timeout)?;
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

    fn config(&self, expect: Expect, resumption: Resumption) -> Arc<ClientConfig> {
        let check = Arc::new(ServerKeyCheck::new(
            expect,
            self.provider.signature_verification_algorithms,
        ));
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("the ring provider supports TLS 1.3")
            .dangerous()
            .with_custom_certificate_verifier(check)
            .with_client_cert_resolver(Arc::new(AlwaysResolvesClientRawPublicKeys::new(
                self.certified.clone(),
            )));
        config.resumption = resumption;
        // The key, not a name, identifies the daemon; sending a name would
        // only tell onlookers which volunteer we use.
        config.enable_sni = false;
        Arc::new(config)
    }

    fn handshake(
        &self,
        mut sock: TcpStream,
        host: &HostPort,
        config: Arc<ClientConfig>,
        expect: Expect,
        timeout: Duration,
    ) -> Result<TlsStream, TlsError> {
        let deadline = Instant::now() + timeout;
        // The session cache's key (each config serves one host); unsent,
        // with SNI off, and unused by our verifier.
        let name = ServerName::try_from("distcc.invalid").expect("a valid DNS name");
        let conn = ClientConnection::new(config, name).map_err(|error| TlsError::Protocol {
            peer: host.to_string(),
            error,
        })?;
        let mut conn = Connection::Client(conn);
        ServerKeyCheck::forget();
        let (received, result) = stream::handshake(&mut conn, &mut sock, &[], deadline);
        let seen = match conn.handshake_kind() {
            // The session's key, which the config's pin admitted then.
            Some(HandshakeKind::Resumed) => conn
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|der| PublicKey::from_spki(der.as_ref()).ok()),
            _ => ServerKeyCheck::seen(),
        };
        match (result, seen) {
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
            (Err(failure), seen) => Err(self.explain(failure, received, &expect, seen, host)),
        }
    }

    /// Turns a failed handshake into what the user must know: the pin
    /// decision first, then "that is not a TLS daemon", then TLS's reason.
    fn explain(
        &self,
        failure: Failure,
        received: Received,
        expect: &Expect,
        seen: Option<PublicKey>,
        host: &HostPort,
    ) -> TlsError {
        let peer = host.to_string();
        if let (Expect::Pinned(pin), Some(presented)) = (expect, seen) {
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
