//! The daemon's side: our key and the authorized client keys, and accepting
//! a TLS connection on a socket the caller accepted. The client's key is
//! judged inside the handshake; [`TlsServer::accept`] returns a stream only
//! for an authorized key, with the name it is listed under.
//!
//! Sessions are resumable (TLS 1.3 PSK from one ticket per connection, kept
//! in this process's memory: every job runs on a thread of the one daemon
//! process). A resumed handshake proves no key, so the key stored with the
//! session is judged against the authorized keys in force after it, and a
//! reload of authorized-keys forgets every session: a key removed since
//! must go through a full handshake, where it is refused.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use rustls::crypto::CryptoProvider;
use rustls::server::{
    AlwaysResolvesServerRawPublicKeys, ServerConfig, ServerSessionMemoryCache, StoresServerSessions,
};
use rustls::sign::CertifiedKey;
use rustls::{Connection, HandshakeKind, ServerConnection};

use super::authorized::AuthorizedKeysFile;
use super::error::TlsError;
use super::keys::{KeyPair, PublicKey};
use super::stream::{self, Failure, TlsStream};
use super::verify::ClientKeyCheck;
use super::{provider, AUTHORIZED_KEYS_FILE};

/// A connection whose client proved an authorized key.
#[derive(Debug)]
pub struct Accepted {
    pub stream: TlsStream,
    /// The client's name in authorized-keys: for the log, `--stats` and
    /// access decisions. The key itself is `stream.peer_key()`.
    pub name: String,
    /// True if the handshake resumed an earlier session of this key.
    pub resumed: bool,
}

/// The daemon's TLS state, shared by every connection.
#[derive(Debug)]
pub struct TlsServer {
    key: KeyPair,
    certified: Arc<CertifiedKey>,
    authorized: Arc<AuthorizedKeysFile>,
    provider: Arc<CryptoProvider>,
    /// The sessions clients may resume; replaced, so emptied, on reload.
    sessions: Mutex<Arc<dyn StoresServerSessions>>,
}

/// How many sessions the daemon keeps: one per client and then some; the
/// oldest go first.
const SESSIONS: usize = 1024;

fn new_sessions() -> Arc<dyn StoresServerSessions> {
    ServerSessionMemoryCache::new(SESSIONS)
}

/// How long a refused connection is read and discarded before it is
/// closed, and how much of it: closing with unread bytes would reset the
/// connection, and a reset can destroy the alert that tells the client why.
const DRAIN_TIME: Duration = Duration::from_secs(1);
const DRAIN_BYTES: usize = 256 * 1024;

impl TlsServer {
    pub fn new(key: KeyPair, authorized: Arc<AuthorizedKeysFile>) -> TlsServer {
        TlsServer {
            certified: key.certified(),
            key,
            authorized,
            provider: provider(),
            sessions: Mutex::new(new_sessions()),
        }
    }

    /// Our key in `dir` (created on first use, with `comment` in its
    /// `.pub`) and `dir/authorized_keys`, which must exist.
    pub fn load(dir: &Path, comment: &str) -> Result<TlsServer> {
        let (key, _) = KeyPair::load_or_create(dir, comment)?;
        let authorized = AuthorizedKeysFile::open(&dir.join(AUTHORIZED_KEYS_FILE))?;
        Ok(TlsServer::new(key, Arc::new(authorized)))
    }

    pub fn key(&self) -> &KeyPair {
        &self.key
    }

    pub fn authorized(&self) -> &AuthorizedKeysFile {
        &self.authorized
    }

    /// Re-reads authorized-keys (on SIGHUP). Connections accepted from now
    /// on use the new list; on error the old one stays. Sessions made
    /// under the old list are forgotten either way, so none is resumed
    /// by a key the new list leaves out.
    pub fn reload_authorized_keys(&self) -> Result<usize> {
        *self.sessions.lock().unwrap_or_else(|p| p.into_inner()) = new_sessions();
        self.authorized.reload()
    }

    fn config(&self, check: Arc<ClientKeyCheck>) -> Arc<ServerConfig> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("the ring provider supports TLS 1.3")
            .with_client_cert_verifier(check)
            .with_cert_resolver(Arc::new(AlwaysResolvesServerRawPublicKeys::new(
                self.certified.clone(),
            )));
        // One ticket a connection: a client resumes each session once at
        // most, and its next connection brings the next ticket.
        config.send_tls13_tickets = 1;
        config.session_storage = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Arc::new(config)
    }

    /// TLS on an accepted socket, the handshake bounded by `timeout`.
    ///
    /// Refuses, before any request byte is read: a plaintext distcc client
    /// ([`TlsError::PlaintextClient`], answered with nothing), anything not
    /// TLS, and a key not in authorized-keys ([`TlsError::UnknownClientKey`],
    /// answered with an `access_denied` alert). The caller logs the error.
    pub fn accept(&self, sock: TcpStream, timeout: Duration) -> Result<Accepted, TlsError> {
        self.accept_after(&[], sock, timeout)
    }

    /// [`TlsServer::accept`] on a socket of which `prefix` was read
    /// already (by a stage that waited for the client's hello without a
    /// thread); an empty prefix is peeked at instead.
    pub fn accept_after(
        &self,
        prefix: &[u8],
        mut sock: TcpStream,
        timeout: Duration,
    ) -> Result<Accepted, TlsError> {
        let deadline = Instant::now() + timeout;
        let peer = sock
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "client".to_string());
        let sniffed = match prefix.is_empty() {
            true => self.sniff(&sock, deadline, &peer),
            false => judge_first_bytes(prefix),
        };
        if let Err(e) = sniffed {
            if !matches!(e, TlsError::Io { .. }) {
                refuse(&sock);
            }
            return Err(e);
        }
        let check = Arc::new(ClientKeyCheck::new(
            self.authorized.snapshot(),
            self.provider.signature_verification_algorithms,
        ));
        let conn = ServerConnection::new(self.config(check.clone())).map_err(|error| {
            TlsError::Protocol {
                peer: peer.clone(),
                error,
            }
        })?;
        let mut conn = Connection::Server(conn);
        let (_, result) = stream::handshake(&mut conn, &mut sock, prefix, deadline);
        let seen = check.seen();
        let resumed = conn.handshake_kind() == Some(HandshakeKind::Resumed);
        match (result, seen) {
            (Ok(()), Some((key, Some(name)))) => Ok(Accepted {
                stream: TlsStream::new(conn, sock, peer, key, self.key.public().clone()),
                name,
                resumed: false,
            }),
            (Ok(()), None) if resumed => self.admit_resumed(conn, sock, peer),
            (Ok(()), _) => Err(TlsError::Protocol {
                peer,
                error: rustls::Error::General("handshake ended without an admitted key".into()),
            }),
            (Err(failure), seen) => {
                if matches!(failure, Failure::Tls(_)) {
                    refuse(&sock);
                }
                Err(match (failure, seen) {
                    (_, Some((key, None))) => TlsError::UnknownClientKey { key },
                    (Failure::Tls(error), _) => TlsError::Protocol { peer, error },
                    (Failure::Io(error), _) => TlsError::Io { peer, error },
                    (Failure::Eof, _) => TlsError::Io {
                        peer,
                        error: io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the client closed the connection during the handshake",
                        ),
                    },
                })
            }
        }
    }

    /// A resumed session's key, stored with it, judged against the
    /// authorized keys in force now. A refused one gets no alert (rustls
    /// sends none once the handshake is over) but a closed connection.
    fn admit_resumed(
        &self,
        conn: Connection,
        sock: TcpStream,
        peer: String,
    ) -> Result<Accepted, TlsError> {
        let key = conn
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|der| PublicKey::from_spki(der.as_ref()).ok());
        let Some(key) = key else {
            return Err(TlsError::Protocol {
                peer,
                error: rustls::Error::General("a resumed session without a client key".into()),
            });
        };
        match self.authorized.snapshot().name_of(&key) {
            Some(name) => Ok(Accepted {
                name: name.to_string(),
                stream: TlsStream::new(conn, sock, peer, key, self.key.public().clone()),
                resumed: true,
            }),
            None => {
                refuse(&sock);
                Err(TlsError::UnknownClientKey { key })
            }
        }
    }

    /// Looks at the first bytes without consuming them: a TLS handshake
    /// record goes on to rustls; distcc's `DIST` means a client without
    /// `,tls`, worth its own log line.
    fn sniff(&self, sock: &TcpStream, deadline: Instant, peer: &str) -> Result<(), TlsError> {
        let io_error = |error: io::Error| TlsError::Io {
            peer: peer.to_string(),
            error,
        };
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io_error(io::ErrorKind::TimedOut.into()))?;
        let saved = sock.read_timeout().map_err(io_error)?;
        sock.set_read_timeout(Some(left)).map_err(io_error)?;
        let mut head = [0u8; 4];
        let peeked = sock.peek(&mut head);
        sock.set_read_timeout(saved).map_err(io_error)?;
        let n = match peeked {
            Ok(0) => {
                return Err(io_error(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the client closed the connection without sending anything",
                )))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io_error(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client sent nothing in time",
                )))
            }
            Err(e) => return Err(io_error(e)),
        };
        judge_first_bytes(&head[..n])
    }
}

/// A TLS hello goes on; distcc's `DIST` is a client without `,tls`.
fn judge_first_bytes(head: &[u8]) -> Result<(), TlsError> {
    let head = &head[..head.len().min(4)];
    if looks_like_tls_hello(head) {
        Ok(())
    } else if b"DIST".starts_with(head) {
        Err(TlsError::PlaintextClient)
    } else {
        Err(TlsError::NotTlsClient { first: head[0] })
    }
}

/// True if `head`, the first bytes from a client, can start a TLS
/// ClientHello (a handshake record, version 3.x). The plain daemon uses it
/// to log "TLS client on plain port" instead of a bad request token.
pub fn looks_like_tls_hello(head: &[u8]) -> bool {
    matches!(head, [0x16] | [0x16, 0x03, ..])
}

/// Closes a connection we refuse (an alert sent, or nothing answered to a
/// client that spoke first) without resetting it: half-close, then read and
/// drop what the client still sends, within bounds. A silent or vanished
/// client is simply closed.
fn refuse(sock: &TcpStream) {
    let _ = sock.shutdown(Shutdown::Write);
    let deadline = Instant::now() + DRAIN_TIME;
    let mut sink = [0u8; 16 * 1024];
    let mut drained = 0;
    while drained < DRAIN_BYTES {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match (&*sock).read(&mut sink) {
            Ok(n) if n > 0 => drained += n,
            _ => break,
        }
    }
}
