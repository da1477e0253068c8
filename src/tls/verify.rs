//! The rustls verifiers: glue that compares the presented raw public key
//! with the expected ones. The handshake signature that proves the peer
//! holds the private half is checked by rustls and ring
//! (`verify_tls13_signature_with_raw_key`), never here.
//!
//! Each verifier records what the peer presented: the accept and connect
//! calls report it (the client's name for the daemon's log, the changed key
//! for the client's message) whatever the handshake's outcome. The daemon
//! makes one verifier per connection. The client's may serve many
//! connections at once (rustls resumes a session only under the verifier
//! that made it), so it records per thread: a handshake runs on one thread.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls13_signature_with_raw_key, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

use super::authorized::AuthorizedKeys;
use super::keys::PublicKey;

/// Our keys are Ed25519, so that is the one scheme either side offers or
/// accepts.
const SCHEMES: [SignatureScheme; 1] = [SignatureScheme::ED25519];

/// A raw public key is the whole "chain": anything more is not ours.
fn presented_key(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Result<PublicKey, Error> {
    if !intermediates.is_empty() {
        return Err(CertificateError::BadEncoding.into());
    }
    PublicKey::from_spki(end_entity.as_ref()).map_err(|_| CertificateError::BadEncoding.into())
}

/// The methods both verifier traits share: TLS 1.3 signatures checked by
/// rustls against the presented raw key, Ed25519 only, raw keys required.
macro_rules! raw_key_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            _message: &[u8],
            _cert: &CertificateDer<'_>,
            _dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            Err(Error::General("TLS 1.2 is not offered".into()))
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            let spki = SubjectPublicKeyInfoDer::from(cert.as_ref());
            verify_tls13_signature_with_raw_key(message, &spki, dss, &self.algs)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            SCHEMES.to_vec()
        }

        fn requires_raw_public_keys(&self) -> bool {
            true
        }
    };
}

/// The daemon's side: admits a client key listed in `authorized` (the
/// list in force when the connection was accepted).
#[derive(Debug)]
pub(crate) struct ClientKeyCheck {
    authorized: Arc<AuthorizedKeys>,
    algs: WebPkiSupportedAlgorithms,
    /// The key presented and, if it is listed, its name.
    seen: Mutex<Option<(PublicKey, Option<String>)>>,
}

impl ClientKeyCheck {
    pub fn new(authorized: Arc<AuthorizedKeys>, algs: WebPkiSupportedAlgorithms) -> ClientKeyCheck {
        ClientKeyCheck {
            authorized,
            algs,
            seen: Mutex::new(None),
        }
    }

    pub fn seen(&self) -> Option<(PublicKey, Option<String>)> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl ClientCertVerifier for ClientKeyCheck {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    /// Refusing here makes rustls answer `access_denied` and stop: the
    /// client's application data, if it already sent some, is never
    /// decrypted.
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let key = presented_key(end_entity, intermediates)?;
        let name = self.authorized.name_of(&key).map(str::to_string);
        let admitted = name.is_some();
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some((key, name));
        if admitted {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(CertificateError::ApplicationVerificationFailure.into())
        }
    }

    raw_key_signatures!();
}

/// What the client expects of the daemon's key.
#[derive(Debug, Clone)]
pub(crate) enum Expect {
    /// Exactly this key (the pin), or refuse if there is no pin.
    Pinned(Option<PublicKey>),
    /// Any key that proves itself: the trust operation, which records it.
    Any,
}

thread_local! {
    /// The key a daemon presented in the handshake this thread drives.
    static SEEN: RefCell<Option<PublicKey>> = const { RefCell::new(None) };
}

/// The client's side: admits the daemon's key if it is the one expected.
#[derive(Debug)]
pub(crate) struct ServerKeyCheck {
    expect: Expect,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerKeyCheck {
    pub fn new(expect: Expect, algs: WebPkiSupportedAlgorithms) -> ServerKeyCheck {
        ServerKeyCheck { expect, algs }
    }

    /// Forgets the key an earlier handshake on this thread saw: called
    /// before a handshake starts.
    pub fn forget() {
        SEEN.with(|s| s.borrow_mut().take());
    }

    /// The key the daemon presented in this thread's last handshake,
    /// admitted or not; `None` if none was (a resumed session proves none).
    pub fn seen() -> Option<PublicKey> {
        SEEN.with(|s| s.borrow().clone())
    }
}

impl ServerCertVerifier for ServerKeyCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let key = presented_key(end_entity, intermediates)?;
        let admitted = match &self.expect {
            Expect::Pinned(pin) => pin.as_ref() == Some(&key),
            Expect::Any => true,
        };
        SEEN.with(|s| *s.borrow_mut() = Some(key));
        if admitted {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(CertificateError::ApplicationVerificationFailure.into())
        }
    }

    raw_key_signatures!();
}
