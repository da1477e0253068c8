//! The client's known-hosts file: the one key each volunteer, by host and
//! port, must present.
//!
//! ```text
//! FILE      = { LINE "\n" }
//! LINE      = "" | "#" ANY | HOSTPORT "distcc-ed25519" BASE64 { COMMENT }
//! HOSTPORT  = HOST ":" PORT
//! HOST      = NAME | IPV4 | "[" IPV6 "]"     (names compare case-blind)
//! PORT      = 1..65535
//! ```
//! Example: `build1.example.org:3634 distcc-ed25519 MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=`
//!
//! A host:port appears at most once. Pins are added or replaced only by an
//! explicit trust operation ([`super::TlsClient::trust`]), never silently
//! by a connection.

use std::fmt;
use std::fs::OpenOptions;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use fs2::FileExt;

use super::files::{self, content_lines, LineError};
use super::keys::PublicKey;

/// A volunteer as the client names it: host (lower case, IPv6 without
/// brackets) and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    host: String,
    port: u16,
}

impl HostPort {
    /// From the client's parsed host list (names already checked there).
    pub fn new(host: &str, port: u16) -> HostPort {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        HostPort {
            host: host.to_ascii_lowercase(),
            port,
        }
    }

    /// Parses `HOST:PORT`, or `HOST` alone when `default_port` is given
    /// (the trust command's argument).
    pub fn parse(s: &str, default_port: Option<u16>) -> Result<HostPort, String> {
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (v6, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("`{s}`: missing `]`"))?;
            v6.parse::<Ipv6Addr>()
                .map_err(|_| format!("`{s}`: `{v6}` is not an IPv6 address"))?;
            (v6, after.strip_prefix(':'))
        } else {
            if s.matches(':').count() > 1 {
                return Err(format!(
                    "`{s}`: write IPv6 addresses in brackets, [::1]:3634"
                ));
            }
            let (host, port) = match s.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            };
            let ok = |c: char| c.is_ascii_alphanumeric() || "-._".contains(c);
            if host.is_empty() || host.starts_with('-') || !host.chars().all(ok) {
                return Err(format!(
                    "`{s}`: `{}` is not a host name",
                    host.escape_default()
                ));
            }
            (host, port)
        };
        let port = match (port, default_port) {
            (Some(p), _) => match p.parse::<u16>() {
                Ok(n) if n > 0 && !p.starts_with('+') => n,
                _ => return Err(format!("`{s}`: port `{p}` is not 1..65535")),
            },
            (None, Some(p)) => p,
            (None, None) => return Err(format!("`{s}`: expected HOST:PORT")),
        };
        Ok(HostPort::new(host, port))
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One pin and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub host: HostPort,
    pub key: PublicKey,
    /// 1-based line in [`KnownHosts::path`].
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct KnownHosts {
    path: PathBuf,
    pins: Vec<Pin>,
}

impl KnownHosts {
    /// Parses the text of `path` (the path names errors and pins).
    pub fn parse(text: &str, path: &Path) -> Result<KnownHosts, LineError> {
        let mut pins: Vec<Pin> = Vec::new();
        for (line, words) in content_lines(text) {
            let fail = |message: String| LineError {
                path: path.to_path_buf(),
                line,
                message,
            };
            let [host, kind, base64, ..] = words[..] else {
                return Err(fail(format!(
                    "expected `HOST:PORT distcc-ed25519 BASE64`, found {} words",
                    words.len()
                )));
            };
            let host = HostPort::parse(host, None).map_err(fail)?;
            let key = PublicKey::from_words(kind, base64).map_err(fail)?;
            if let Some(first) = pins.iter().find(|p| p.host == host) {
                return Err(fail(format!(
                    "{host} already pinned on line {}",
                    first.line
                )));
            }
            pins.push(Pin { host, key, line });
        }
        Ok(KnownHosts {
            path: path.to_path_buf(),
            pins,
        })
    }

    /// Reads `path`; a missing file pins nothing.
    pub fn load(path: &Path) -> Result<KnownHosts> {
        let text =
            files::read_optional(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(KnownHosts::parse(&text, path)?)
    }

    pub fn get(&self, host: &HostPort) -> Option<&Pin> {
        self.pins.iter().find(|p| &p.host == host)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Pins `key` for `host` in the file at `path`, replacing the line of an
/// earlier pin in place or appending one; other lines are kept verbatim.
/// Returns the key that was pinned before, if any. A file that does not
/// parse is left alone (an error naming the line): rewriting what we do
/// not understand could drop someone's pins.
pub(crate) fn record(path: &Path, host: &HostPort, key: &PublicKey) -> Result<Option<PublicKey>> {
    if let Some(dir) = path.parent() {
        files::private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Two trust commands at once must not lose one another's pin.
    let lock_path = path.with_extension("lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    lock.lock_exclusive()
        .with_context(|| format!("locking {}", lock_path.display()))?;

    let text = files::read_optional(path).with_context(|| format!("reading {}", path.display()))?;
    let known = KnownHosts::parse(&text, path)?;
    let new_line = format!("{host} {key}");
    let old = known.get(host).cloned();
    let mut out: Vec<String> = text.lines().map(str::to_string).collect();
    match &old {
        Some(pin) => out[pin.line - 1] = new_line,
        None => out.push(new_line),
    }
    let mut out = out.join("\n");
    out.push('\n');
    files::replace(path, out.as_bytes(), 0o644)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(old.map(|pin| pin.key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::keys::samples::{key, A, B};

    #[test]
    fn host_port_forms() {
        let hp = |s, d| HostPort::parse(s, d).map(|h| h.to_string());
        assert_eq!(
            hp("Build1.Example.org:3634", None).unwrap(),
            "build1.example.org:3634"
        );
        assert_eq!(hp("10.0.0.7:1", None).unwrap(), "10.0.0.7:1");
        assert_eq!(hp("[::1]:3634", None).unwrap(), "[::1]:3634");
        assert_eq!(hp("[::1]", Some(3634)).unwrap(), "[::1]:3634");
        assert_eq!(hp("box", Some(3634)).unwrap(), "box:3634");
        assert_eq!(HostPort::new("[::1]", 9), HostPort::new("::1", 9));
        for (bad, why) in [
            ("box", "expected HOST:PORT"),
            ("box:0", "not 1..65535"),
            ("box:65536", "not 1..65535"),
            ("box:+1", "not 1..65535"),
            ("::1:3634", "brackets"),
            ("[::1:3634", "missing `]`"),
            ("[nothex]:1", "not an IPv6"),
            ("-oProxy:1", "not a host name"),
            (":1", "not a host name"),
            ("a b:1", "not a host name"),
        ] {
            let err = HostPort::parse(bad, None).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn pins_by_host_and_port() {
        let text = format!(
            "# pins\nbuild1:3634 distcc-ed25519 {A}\nBUILD1:4000 distcc-ed25519 {B} added by hand\n[::1]:3634 distcc-ed25519 {B}\n"
        );
        let known = KnownHosts::parse(&text, Path::new("kh")).unwrap();
        let pin = known.get(&HostPort::new("build1", 3634)).unwrap();
        assert_eq!((pin.key.clone(), pin.line), (key(A), 2));
        assert_eq!(
            known.get(&HostPort::new("build1", 4000)).unwrap().key,
            key(B)
        );
        assert_eq!(known.get(&HostPort::new("::1", 3634)).unwrap().line, 4);
        assert!(known.get(&HostPort::new("build1", 3632)).is_none());
    }

    #[test]
    fn malformed_lines_are_named() {
        for (text, line, why) in [
            (
                format!("build1 distcc-ed25519 {A}\n"),
                1,
                "expected HOST:PORT",
            ),
            (format!("\n\nbuild1:x distcc-ed25519 {A}\n"), 3, "port `x`"),
            (format!("::1:3634 distcc-ed25519 {A}\n"), 1, "brackets"),
            ("build1:1 distcc-ed25519\n".to_string(), 1, "found 2 words"),
            (format!("build1:1 ssh-rsa {A}\n"), 1, "unknown key type"),
            (
                "build1:1 distcc-ed25519 !!\n".to_string(),
                1,
                "not valid base64",
            ),
            (
                "build1:1 distcc-ed25519 AAAA\n".to_string(),
                1,
                "not an Ed25519",
            ),
            (
                format!("a:1 distcc-ed25519 {A}\n# x\nA:1 distcc-ed25519 {B}\n"),
                3,
                "a:1 already pinned on line 1",
            ),
        ] {
            let err = KnownHosts::parse(&text, Path::new("tls/known_hosts")).unwrap_err();
            assert_eq!(err.line, line, "{text}: {err}");
            let shown = err.to_string();
            assert!(
                shown.starts_with(&format!("tls/known_hosts:{line}: ")),
                "{shown}"
            );
            assert!(shown.contains(why), "{text}: {shown}");
        }
    }

    #[test]
    fn record_adds_then_replaces_in_place_keeping_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tls").join("known_hosts");
        let one = HostPort::new("one", 3634);
        let two = HostPort::new("two", 3634);
        assert_eq!(record(&path, &one, &key(A)).unwrap(), None);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.insert_str(0, "# my pins\n");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(record(&path, &two, &key(A)).unwrap(), None);
        assert_eq!(record(&path, &one, &key(B)).unwrap(), Some(key(A)));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("# my pins\none:3634 distcc-ed25519 {B}\ntwo:3634 distcc-ed25519 {A}\n")
        );
    }

    #[test]
    fn record_refuses_to_rewrite_a_file_it_cannot_parse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, "what is this\n").unwrap();
        let err = record(&path, &HostPort::new("one", 1), &key(A)).unwrap_err();
        assert!(format!("{err:#}").contains(":1:"), "{err:#}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "what is this\n");
    }

    #[test]
    fn a_missing_file_pins_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let known = KnownHosts::load(&dir.path().join("known_hosts")).unwrap();
        assert!(known.get(&HostPort::new("x", 1)).is_none());
    }
}
