//! The daemon's authorized-keys file: which client keys may use this
//! volunteer, and the name each is logged and counted under.
//!
//! ```text
//! FILE  = { LINE "\n" }
//! LINE  = "" | "#" ANY | "distcc-ed25519" BASE64 NAME
//! NAME  = 1..64 of A-Z a-z 0-9 . _ @ + -   (not starting with "-")
//! ```
//! Example: `distcc-ed25519 MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE= alice@laptop`
//!
//! Several keys may share a name (one person, several machines); a key may
//! appear only once, so it has one name. The file is re-read on request
//! ([`AuthorizedKeysFile::reload`], which the daemon calls on SIGHUP); a
//! file that no longer parses leaves the previous list in force.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};

use super::files::{content_lines, LineError};
use super::keys::PublicKey;

/// One parsed authorized-keys file.
#[derive(Debug, Clone, Default)]
pub struct AuthorizedKeys {
    names: HashMap<PublicKey, String>,
}

impl AuthorizedKeys {
    /// Parses the text of `path` (the path only names errors).
    pub fn parse(text: &str, path: &Path) -> Result<AuthorizedKeys, LineError> {
        let mut names = HashMap::new();
        let mut lines: HashMap<PublicKey, usize> = HashMap::new();
        for (line, words) in content_lines(text) {
            let fail = |message: String| LineError {
                path: path.to_path_buf(),
                line,
                message,
            };
            let [kind, base64, name] = words[..] else {
                return Err(fail(format!(
                    "expected `distcc-ed25519 BASE64 NAME`, found {} words",
                    words.len()
                )));
            };
            let key = PublicKey::from_words(kind, base64).map_err(fail)?;
            check_name(name).map_err(fail)?;
            if let Some(first) = lines.insert(key.clone(), line) {
                return Err(fail(format!("key already listed on line {first}")));
            }
            names.insert(key, name.to_string());
        }
        Ok(AuthorizedKeys { names })
    }

    /// The name a key is listed under, if it is listed.
    pub fn name_of(&self, key: &PublicKey) -> Option<&str> {
        self.names.get(key).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Names reach logs, `--stats` and perhaps file names, so they are one
/// plain word: no spaces, control characters or shell metacharacters.
fn check_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "._@+-".contains(c);
    if name.len() > 64 || name.starts_with('-') || !name.chars().all(ok_char) {
        return Err(format!(
            "name `{}` must be 1 to 64 of A-Z a-z 0-9 . _ @ + - and not start with -",
            name.escape_default()
        ));
    }
    Ok(())
}

/// The file and its current contents, shared by every connection; replaced
/// whole on reload, so a handshake sees either the old or the new list.
#[derive(Debug)]
pub struct AuthorizedKeysFile {
    path: PathBuf,
    current: RwLock<Arc<AuthorizedKeys>>,
}

impl AuthorizedKeysFile {
    /// Reads `path`, which must exist: a TLS daemon without it would refuse
    /// everyone, which is better said at startup.
    pub fn open(path: &Path) -> Result<AuthorizedKeysFile> {
        let keys = read(path)?;
        Ok(AuthorizedKeysFile {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(keys)),
        })
    }

    /// Re-reads the file; on success the new list applies to handshakes
    /// from now on and the number of keys is returned. On error the old
    /// list stays.
    pub fn reload(&self) -> Result<usize> {
        let keys = read(&self.path)?;
        let n = keys.len();
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
        Ok(n)
    }

    /// The list in force now.
    pub fn snapshot(&self) -> Arc<AuthorizedKeys> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read(path: &Path) -> Result<AuthorizedKeys> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(AuthorizedKeys::parse(&text, path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::keys::samples::{key, A, B};

    #[test]
    fn names_keys_and_skips_comments() {
        let text = format!(
            "# who may build here\n\n  distcc-ed25519 {A} alice@laptop\ndistcc-ed25519 {B} alice\t\n"
        );
        let keys = AuthorizedKeys::parse(&text, Path::new("ak")).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.name_of(&key(A)), Some("alice@laptop"));
        assert_eq!(keys.name_of(&key(B)), Some("alice"));
    }

    #[test]
    fn malformed_lines_are_named() {
        for (text, line, why) in [
            (format!("distcc-ed25519 {A}\n"), 1, "found 2 words"),
            (
                format!("#\ndistcc-ed25519 {A} two words\n"),
                2,
                "found 4 words",
            ),
            (format!("ssh-ed25519 {A} bob\n"), 1, "unknown key type"),
            ("distcc-ed25519 AAAA bob\n".to_string(), 1, "not an Ed25519"),
            (format!("distcc-ed25519 {A} bo;b\n"), 1, "name `bo;b`"),
            (format!("distcc-ed25519 {A} -rf\n"), 1, "not start with -"),
            (
                format!("distcc-ed25519 {A} a\n\ndistcc-ed25519 {A} b\n"),
                3,
                "already listed on line 1",
            ),
        ] {
            let err = AuthorizedKeys::parse(&text, Path::new("dir/authorized_keys")).unwrap_err();
            assert_eq!(err.line, line, "{text}: {err}");
            assert!(err.to_string().contains(why), "{text}: {err}");
            assert!(
                err.to_string()
                    .starts_with(&format!("dir/authorized_keys:{line}: ")),
                "{err}"
            );
        }
    }

    #[test]
    fn reload_picks_up_an_added_key_and_survives_a_bad_edit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authorized_keys");
        std::fs::write(&path, format!("distcc-ed25519 {A} alice\n")).unwrap();
        let file = AuthorizedKeysFile::open(&path).unwrap();
        let before = file.snapshot();
        assert_eq!(before.name_of(&key(B)), None);

        std::fs::write(
            &path,
            format!("distcc-ed25519 {A} alice\ndistcc-ed25519 {B} bob\n"),
        )
        .unwrap();
        assert_eq!(file.reload().unwrap(), 2);
        assert_eq!(file.snapshot().name_of(&key(B)), Some("bob"));
        // A snapshot taken before is unchanged: a handshake in progress
        // keeps the list it started with.
        assert_eq!(before.name_of(&key(B)), None);

        std::fs::write(&path, "garbage\n").unwrap();
        let err = format!("{:#}", file.reload().unwrap_err());
        assert!(err.contains(":1:"), "{err}");
        assert_eq!(file.snapshot().name_of(&key(B)), Some("bob"));
    }

    #[test]
    fn a_missing_file_is_an_error_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let err = AuthorizedKeysFile::open(&dir.path().join("nope")).unwrap_err();
        assert!(format!("{err:#}").contains("nope"));
    }
}
