//! Where the shared records live: the state dir, and the file-name form
//! of a host key (`Host::key`), which backoff records and extension
//! markers here, and the client's slot locks beside, are named by (tested
//! with the locks, in tests/it/lock_slots.rs, and with `backoff`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::settings::Settings;

/// The state dir of the user whose settings these are.
pub fn dir(settings: &Settings) -> PathBuf {
    settings.dir.join("state")
}

/// Replaces `path` with `contents` whole, creating its directory: a write
/// to a name of this process's beside it, then a rename, so that another
/// process reads the old file or the new one, never half of one.
pub fn replace_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, contents)?;
    fs::rename(&tmp, path).inspect_err(|_| {
        fs::remove_file(&tmp).ok();
    })
}

/// Creates `dir` and its parents if missing, private to the user (0700):
/// what the state files of every client process go in.
pub fn create_private(dir: &Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating state directory {}", dir.display()))
}

/// Encodes a host's canonical text as a file-name-safe string: bytes outside
/// `[A-Za-z0-9._-]` become `%XX`, so distinct hosts never share a file.
pub fn host_key(canonical: &str) -> String {
    let mut out = String::with_capacity(canonical.len());
    for &b in canonical.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Inverse of [`host_key`]; `None` if `escaped` is not a valid encoding.
pub fn unescape_key(escaped: &str) -> Option<String> {
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
