//! Ed25519 key pairs on disk, their printable public form and fingerprints.
//!
//! ```text
//! DIR/key       -----BEGIN PRIVATE KEY----- (PKCS#8, base64) ...   mode 0600
//! DIR/key.pub   distcc-ed25519 MCowBQYDK2VwAyEA...= alice@laptop   mode 0644
//! ```
//!
//! The base64 word is the key's DER SubjectPublicKeyInfo (RFC 8410), the
//! very bytes the peer sees in the handshake, so `openssl pkey -pubout` on
//! the private key prints the same base64. A fingerprint is `SHA256:` and
//! the unpadded base64 of the SHA-256 of those bytes, as ssh writes its
//! own. Key generation and signing are ring's; nothing here is crypto.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use rustls::sign::{CertifiedKey, SigningKey};
use sha2::{Digest, Sha256};

use super::files;
use super::{KEY_FILE, PUBLIC_KEY_FILE};

/// The first word of a printable public key.
pub const KEY_TYPE: &str = "distcc-ed25519";

/// DER of `SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING (32 bytes) }`,
/// everything before the key itself (RFC 8410 section 4).
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const ED25519_SPKI_LEN: usize = ED25519_SPKI_PREFIX.len() + 32;

/// An Ed25519 public key, held as its SubjectPublicKeyInfo DER.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    spki: Vec<u8>,
}

impl PublicKey {
    /// Accepts exactly an Ed25519 SubjectPublicKeyInfo; any other key type
    /// a peer might present is refused here, before any lookup.
    pub fn from_spki(der: &[u8]) -> Result<PublicKey, String> {
        if der.len() != ED25519_SPKI_LEN || der[..ED25519_SPKI_PREFIX.len()] != ED25519_SPKI_PREFIX
        {
            return Err("not an Ed25519 public key".to_string());
        }
        Ok(PublicKey { spki: der.to_vec() })
    }

    /// Parses the two words `distcc-ed25519 BASE64`.
    pub fn from_words(kind: &str, base64: &str) -> Result<PublicKey, String> {
        if kind != KEY_TYPE {
            return Err(format!("unknown key type `{kind}` (expected `{KEY_TYPE}`)"));
        }
        let der = STANDARD
            .decode(base64)
            .map_err(|e| format!("key is not valid base64: {e}"))?;
        PublicKey::from_spki(&der)
    }

    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint(format!(
            "SHA256:{}",
            STANDARD_NO_PAD.encode(Sha256::digest(&self.spki))
        ))
    }

    /// The line of a `.pub` or authorized-keys file: `distcc-ed25519 BASE64 COMMENT`.
    pub fn line(&self, comment: &str) -> String {
        format!("{self} {comment}").trim_end().to_string()
    }
}

/// `distcc-ed25519 BASE64`.
impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{KEY_TYPE} {}", STANDARD.encode(&self.spki))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

/// `SHA256:` and 43 base64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a fingerprint a person pasted (`--trust HOST --fingerprint ...`).
impl FromStr for Fingerprint {
    type Err = String;

    fn from_str(s: &str) -> Result<Fingerprint, String> {
        let digest = s
            .strip_prefix("SHA256:")
            .ok_or_else(|| format!("fingerprint `{s}` does not start with SHA256:"))?;
        match STANDARD_NO_PAD.decode(digest) {
            Ok(bytes) if bytes.len() == 32 => Ok(Fingerprint(s.to_string())),
            _ => Err(format!(
                "fingerprint `{s}` is not SHA256: and 43 base64 characters"
            )),
        }
    }
}

/// Our side's key: what the handshake signs with, and its public half.
#[derive(Clone)]
pub struct KeyPair {
    public: PublicKey,
    signing: Arc<dyn SigningKey>,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({})", self.public.fingerprint())
    }
}

impl KeyPair {
    fn from_pkcs8(der: &[u8]) -> Result<KeyPair> {
        let der = PrivatePkcs8KeyDer::from(der.to_vec());
        let signing = rustls::crypto::ring::sign::any_eddsa_type(&der)
            .map_err(|e| anyhow!("not an Ed25519 private key: {e}"))?;
        let spki = signing
            .public_key()
            .ok_or_else(|| anyhow!("the private key has no public half"))?;
        let public = PublicKey::from_spki(spki.as_ref()).map_err(|e| anyhow!(e))?;
        Ok(KeyPair { public, signing })
    }

    /// A fresh key pair in memory only, with its PKCS#8 encoding.
    fn generate() -> Result<(KeyPair, Vec<u8>)> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| anyhow!("could not generate an Ed25519 key"))?;
        let pkcs8 = pkcs8.as_ref().to_vec();
        Ok((KeyPair::from_pkcs8(&pkcs8)?, pkcs8))
    }

    /// Generates a key pair and writes `DIR/key` (0600) and `DIR/key.pub`.
    /// Fails with `AlreadyExists` in the chain if `DIR/key` is there: the
    /// explicit command never overwrites a key others have pinned.
    pub fn create(dir: &Path, comment: &str) -> Result<KeyPair> {
        files::private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        let (pair, pkcs8) = KeyPair::generate()?;
        let path = dir.join(KEY_FILE);
        files::create_new(&path, pem(&pkcs8).as_bytes(), 0o600)
            .with_context(|| format!("creating {}", path.display()))?;
        pair.write_public(dir, comment)?;
        Ok(pair)
    }

    /// Reads `DIR/key`, refusing one that others may read (as ssh does: a
    /// key anyone on the machine can copy proves nothing).
    pub fn load(dir: &Path) -> Result<KeyPair> {
        let path = dir.join(KEY_FILE);
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let mode = fs::metadata(&path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "permissions {mode:04o} of private key {} are too open: run `chmod 600 {}`",
                path.display(),
                path.display()
            );
        }
        let der = PrivatePkcs8KeyDer::from_pem_slice(&bytes)
            .map_err(|e| anyhow!("{}: not a PEM private key: {e}", path.display()))?;
        KeyPair::from_pkcs8(der.secret_pkcs8_der()).with_context(|| path.display().to_string())
    }

    /// The key in `DIR`, created on first use; true if this call created it.
    /// Two processes starting at once end up with the same key: the loser
    /// of the race reads the winner's.
    pub fn load_or_create(dir: &Path, comment: &str) -> Result<(KeyPair, bool)> {
        match KeyPair::load(dir) {
            Ok(pair) => return Ok((pair, false)),
            Err(e) if !is_not_found(&e) => return Err(e),
            Err(_) => {}
        }
        match KeyPair::create(dir, comment) {
            Ok(pair) => Ok((pair, true)),
            Err(e) if is_already_exists(&e) => Ok((KeyPair::load(dir)?, false)),
            Err(e) => Err(e),
        }
    }

    fn write_public(&self, dir: &Path, comment: &str) -> Result<()> {
        let path = dir.join(PUBLIC_KEY_FILE);
        let line = self.public.line(comment) + "\n";
        files::replace(&path, line.as_bytes(), 0o644)
            .with_context(|| format!("writing {}", path.display()))
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// An impostor for tests: presents `victim`'s public key but signs with
    /// `signer`'s private key, as someone who copied a `.pub` file would.
    #[cfg(test)]
    pub(crate) fn impostor(victim: &KeyPair, signer: &KeyPair) -> KeyPair {
        KeyPair {
            public: victim.public.clone(),
            signing: signer.signing.clone(),
        }
    }

    /// What rustls presents: the raw public key (RFC 7250) as the
    /// "certificate", and the signer.
    pub(crate) fn certified(&self) -> Arc<CertifiedKey> {
        Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(self.public.spki.clone())],
            self.signing.clone(),
        ))
    }
}

fn pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

fn io_kind(e: &anyhow::Error) -> Option<io::ErrorKind> {
    e.chain()
        .find_map(|c| c.downcast_ref::<io::Error>())
        .map(io::Error::kind)
}

fn is_not_found(e: &anyhow::Error) -> bool {
    io_kind(e) == Some(io::ErrorKind::NotFound)
}

fn is_already_exists(e: &anyhow::Error) -> bool {
    io_kind(e) == Some(io::ErrorKind::AlreadyExists)
}

/// Two fixed public keys for table tests: RFC 8410's example and RFC
/// 8032's first test vector.
#[cfg(test)]
pub(crate) mod samples {
    use super::{PublicKey, KEY_TYPE};

    pub const A: &str = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=";
    pub const B: &str = "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

    pub fn key(b64: &str) -> PublicKey {
        PublicKey::from_words(KEY_TYPE, b64).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8410 section 10.1's example public key; its fingerprint was
    /// computed with `openssl dgst -sha256 -binary | base64` over the DER.
    const RFC8410_SPKI_B64: &str = samples::A;
    const RFC8410_FINGERPRINT: &str = "SHA256:oekVYFTgT6yJmunydRMs3Ael28TqLCrTof/G4NJTaB8";

    #[test]
    fn printable_key_round_trips_and_fingerprints_like_ssh() {
        let key = PublicKey::from_words(KEY_TYPE, RFC8410_SPKI_B64).unwrap();
        assert_eq!(key.to_string(), format!("{KEY_TYPE} {RFC8410_SPKI_B64}"));
        assert_eq!(
            key.line("bob"),
            format!("{KEY_TYPE} {RFC8410_SPKI_B64} bob")
        );
        let fp = key.fingerprint();
        assert_eq!(fp.as_str(), RFC8410_FINGERPRINT);
        assert_eq!(fp.as_str().parse::<Fingerprint>().unwrap(), fp);
    }

    #[test]
    fn malformed_public_keys_are_refused() {
        for (kind, b64, why) in [
            ("ssh-ed25519", RFC8410_SPKI_B64, "unknown key type"),
            (KEY_TYPE, "not*base64", "not valid base64"),
            (KEY_TYPE, "MCowBQYDK2VwAyEA", "not an Ed25519"),
            // An X25519 key (OID 1.3.101.110) of the right length.
            (
                KEY_TYPE,
                "MCowBQYDK2VuAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=",
                "not an Ed25519",
            ),
        ] {
            let err = PublicKey::from_words(kind, b64).unwrap_err();
            assert!(err.contains(why), "{kind} {b64}: {err}");
        }
        assert!("SHA256:short".parse::<Fingerprint>().is_err());
        assert!("MD5:aa".parse::<Fingerprint>().is_err());
    }

    #[test]
    fn key_files_are_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().join("tls");
        let (first, created) = KeyPair::load_or_create(&dir, "alice@laptop").unwrap();
        assert!(created);
        let mode = |name: &str| fs::metadata(dir.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(KEY_FILE), 0o600);
        assert_eq!(mode(PUBLIC_KEY_FILE), 0o644);
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let pub_line = fs::read_to_string(dir.join(PUBLIC_KEY_FILE)).unwrap();
        assert_eq!(pub_line, first.public().line("alice@laptop") + "\n");

        let (again, created) = KeyPair::load_or_create(&dir, "ignored").unwrap();
        assert!(!created);
        assert_eq!(again.public(), first.public());
        // No temp files left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
    }

    #[test]
    fn explicit_create_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let first = KeyPair::create(dir.path(), "").unwrap();
        let err = KeyPair::create(dir.path(), "").unwrap_err();
        assert!(is_already_exists(&err), "{err:#}");
        assert_eq!(KeyPair::load(dir.path()).unwrap().public(), first.public());
    }

    #[test]
    fn concurrent_first_use_agrees_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<PublicKey> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| KeyPair::load_or_create(dir.path(), "").unwrap().0))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().public().clone())
                .collect()
        });
        assert!(keys.iter().all(|k| k == &keys[0]));
    }

    #[test]
    fn a_private_key_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        KeyPair::create(dir.path(), "").unwrap();
        let path = dir.path().join(KEY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = format!("{:#}", KeyPair::load(dir.path()).unwrap_err());
        assert!(
            err.contains("too open") && err.contains("chmod 600"),
            "{err}"
        );
    }

    #[test]
    fn a_garbled_private_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        files::create_new(&dir.path().join(KEY_FILE), b"hello\n", 0o600).unwrap();
        let err = format!("{:#}", KeyPair::load(dir.path()).unwrap_err());
        assert!(err.contains("not a PEM private key"), "{err}");
    }
}
