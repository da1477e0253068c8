//! Why a TLS connection was refused or broke, worded for the person who
//! must act on it: which key, which file and line, which command fixes it.
//! Callers branch on the variant (a changed key is not retried on another
//! port; a plaintext client is logged, not answered).

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::keys::{Fingerprint, PublicKey};

/// The command that records a volunteer's key; the integration gives the
/// client this spelling.
pub const TRUST_COMMAND: &str = "distcc --trust";
/// The command that prints a daemon's fingerprint on the volunteer.
pub const FINGERPRINT_COMMAND: &str = "distccd --tls-fingerprint";

#[derive(Debug)]
pub enum TlsError {
    /// Server: distcc's plaintext request header arrived on a TLS port.
    /// Nothing is answered.
    PlaintextClient,
    /// Server: the first byte is neither a TLS handshake nor distcc's.
    NotTlsClient { first: u8 },
    /// Server: the client's key is not in authorized-keys; refused in the
    /// handshake, no request byte read.
    UnknownClientKey { key: PublicKey },
    /// Client: the peer closed on our hello, or answered in something other
    /// than TLS.
    NotTls { host: String, detail: String },
    /// Client: no pin for this host in known-hosts.
    NotPinned {
        host: String,
        presented: Fingerprint,
        known_hosts: PathBuf,
    },
    /// Client: the host presented another key than the one pinned.
    KeyChanged {
        host: String,
        pinned: Fingerprint,
        presented: Fingerprint,
        known_hosts: PathBuf,
        line: usize,
    },
    /// Client: the trust command was given a fingerprint the host's key
    /// does not have; nothing was recorded.
    FingerprintMismatch {
        host: String,
        expected: Fingerprint,
        presented: Fingerprint,
    },
    /// Client: the daemon refused our key (an `access_denied` alert).
    KeyRefused { host: String, ours: PublicKey },
    /// Either side: TLS failed (a record that does not authenticate, an
    /// alert from the peer, a protocol violation).
    Protocol { peer: String, error: rustls::Error },
    /// Either side: the socket failed or timed out during the handshake.
    Io { peer: String, error: io::Error },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::PlaintextClient => write!(
                f,
                "plaintext client on TLS port: a distcc request arrived without a TLS handshake \
                 (the client needs `,tls` in its host list)"
            ),
            TlsError::NotTlsClient { first } => write!(
                f,
                "client on TLS port did not start a TLS handshake (first byte {first:#04x})"
            ),
            TlsError::UnknownClientKey { key } => write!(
                f,
                "client key {} is not in authorized_keys, refused in the handshake; to allow it, \
                 add the line `{}` with a name instead of NAME and send SIGHUP",
                key.fingerprint(),
                key.line("NAME")
            ),
            TlsError::NotTls { host, detail } => write!(
                f,
                "host {host} does not speak TLS (is it a plain distccd?): {detail}"
            ),
            TlsError::NotPinned {
                host,
                presented,
                known_hosts,
            } => write!(
                f,
                "host {host} presented TLS key {presented}, but {} pins no key for it; check \
                 that fingerprint on the volunteer (`{FINGERPRINT_COMMAND}`), then pin it with \
                 `{TRUST_COMMAND} {host}`",
                known_hosts.display()
            ),
            TlsError::KeyChanged {
                host,
                pinned,
                presented,
                known_hosts,
                line,
            } => write!(
                f,
                "TLS KEY OF HOST {host} HAS CHANGED: it presented {presented}, but {}:{line} \
                 pins {pinned}. Someone may be intercepting the connection, or the volunteer's \
                 key was regenerated. Check the fingerprint on the volunteer \
                 (`{FINGERPRINT_COMMAND}`); if it prints {presented}, update the pin with \
                 `{TRUST_COMMAND} {host}`",
                known_hosts.display()
            ),
            TlsError::FingerprintMismatch {
                host,
                expected,
                presented,
            } => write!(
                f,
                "host {host} presented TLS key {presented}, not the expected {expected}; \
                 nothing recorded"
            ),
            TlsError::KeyRefused { host, ours } => write!(
                f,
                "host {host} refused our TLS key {}: ask its owner to add the line `{}` \
                 (with your name instead of NAME) to its authorized_keys",
                ours.fingerprint(),
                ours.line("NAME")
            ),
            TlsError::Protocol { peer, error } => write!(f, "TLS with {peer} failed: {error}"),
            TlsError::Io { peer, error } => write!(f, "TLS handshake with {peer}: {error}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Protocol { error, .. } => Some(error),
            TlsError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl TlsError {
    /// The `io::ErrorKind` a Read/Write caller sees this as.
    fn kind(&self) -> io::ErrorKind {
        match self {
            TlsError::Io { error, .. } => error.kind(),
            TlsError::UnknownClientKey { .. }
            | TlsError::NotPinned { .. }
            | TlsError::KeyChanged { .. }
            | TlsError::FingerprintMismatch { .. }
            | TlsError::KeyRefused { .. } => io::ErrorKind::PermissionDenied,
            _ => io::ErrorKind::InvalidData,
        }
    }

    /// Finds a `TlsError` in an error that went through `io::Error`
    /// (Read/Write) or `anyhow`.
    pub fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a TlsError> {
        let mut next = Some(err);
        while let Some(e) = next {
            if let Some(tls) = e.downcast_ref::<TlsError>() {
                return Some(tls);
            }
            if let Some(io) = e.downcast_ref::<io::Error>() {
                if let Some(inner) = io.get_ref() {
                    if let Some(tls) = inner.downcast_ref::<TlsError>() {
                        return Some(tls);
                    }
                }
            }
            next = e.source();
        }
        None
    }
}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}
