//! What the client processes of one user share on disk, in the state dir
//! (`$DISTCC_DIR/state`), and the monitor reads: a record per running job
//! (`running`), the history of finished jobs (`history`), per-host
//! failure records (`backoff`), and the phases a job goes through
//! (`phase`). Writers are the client's; readers are the monitor's and the
//! client's own. Slot locks live beside it but are the client's alone
//! (`client::lock`).

pub mod backoff;
pub mod history;
pub mod phase;
pub mod running;

use std::path::PathBuf;

use crate::settings::Settings;

pub use phase::{Phase, PHASES};
pub use running::{list, source_of, JobState, Running};

/// The state dir of the user whose settings these are.
pub fn dir(settings: &Settings) -> PathBuf {
    settings.dir.join("state")
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
