//! Authenticated, encrypted connections between our client and our daemon:
//! TLS 1.3 (rustls with the `ring` provider) where each side proves an
//! Ed25519 key, as ssh does, instead of a certificate from an authority.
//!
//! Both sides present RFC 7250 raw public keys. The daemon accepts only the
//! client keys listed in its authorized-keys file and learns the name given
//! there; the client accepts only the key pinned for that host and port in
//! its known-hosts file. Both decisions are taken inside the handshake, so a
//! refused peer never gets a request byte read or a reply byte written.
//!
//! Layout:
//! - `keys`: key pairs on disk, the printable public key, fingerprints.
//! - `files`: the line-oriented files' shared pieces (errors naming a line,
//!   atomic 0600 writes).
//! - `authorized`: the daemon's authorized-keys file, reloadable.
//! - `known_hosts`: the client's pins, and recording one (trust on first use).
//! - `verify`: the rustls verifier glue that compares keys (signatures are
//!   checked by rustls and the provider).
//! - `stream`: the handshake driver and [`TlsStream`], a blocking
//!   Read/Write over a `TcpStream`.
//! - `client`, `server`: configuration and the connect / accept calls.
//! - `error`: [`TlsError`], what callers branch on.
//!
//! Sockets are connected and accepted by the callers; this module takes a
//! connected `TcpStream` and hands back a [`TlsStream`]. It never imports a
//! role (client, daemon, monitor).

mod authorized;
mod client;
mod error;
mod files;
mod keys;
mod known_hosts;
mod server;
mod stream;
mod verify;

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_relay;
#[cfg(test)]
mod tests_resume;

pub use authorized::{AuthorizedKeys, AuthorizedKeysFile};
pub use client::{Resumable, TlsClient, TrustOutcome};
pub use error::{TlsError, FINGERPRINT_COMMAND, TRUST_COMMAND};
pub use files::LineError;
pub use keys::{Fingerprint, KeyPair, PublicKey, KEY_TYPE};
pub use known_hosts::{HostPort, KnownHosts, Pin};
pub use server::{looks_like_tls_hello, Accepted, TlsServer};
pub use stream::TlsStream;

/// File names inside the directory a caller gives: the client's
/// `$DISTCC_DIR/tls`, the daemon's state or configuration directory.
pub const KEY_FILE: &str = "key";
/// The printable public key, for the other side's owner to copy.
pub const PUBLIC_KEY_FILE: &str = "key.pub";
/// The daemon's list of accepted client keys.
pub const AUTHORIZED_KEYS_FILE: &str = "authorized_keys";
/// The client's pins of volunteer keys.
pub const KNOWN_HOSTS_FILE: &str = "known_hosts";

/// The provider every config here uses: ring, TLS 1.3 suites only (the
/// crate is built without its `tls12` feature), X25519 first.
fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
