//! What the key, authorized-keys and known-hosts files share: an error that
//! names the file and line, the line splitter that skips comments, and
//! writing a file whole (a temp file in the same directory, renamed or linked
//! into place) so a reader never sees half of one.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A line of an authorized-keys or known-hosts file that does not parse.
/// Displays as `FILE:LINE: message`, as compilers do, so an editor can jump
/// to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

impl std::error::Error for LineError {}

/// The meaningful lines of a file: 1-based number and the words of the line.
/// Blank lines and lines whose first non-blank character is `#` are skipped.
pub(crate) fn content_lines(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            None
        } else {
            Some((i + 1, line.split_whitespace().collect()))
        }
    })
}

/// Creates `dir` (and its parents) if missing, the last one 0700: it will
/// hold a private key.
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes `bytes` to a new temp file beside `path`, mode `mode`, synced.
fn staged(path: &Path, bytes: &[u8], mode: u32) -> io::Result<tempfile::NamedTempFile> {
    let dir = path.parent().unwrap_or(Path::new("."));
    // tempfile creates 0600 files; set the final mode before any content.
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    Ok(tmp)
}

/// Puts `bytes` at `path` only if nothing is there yet: two processes
/// creating the same key at once both succeed or see `AlreadyExists`, and
/// the file is never half-written. The temp file goes on any error.
pub(crate) fn create_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    staged(path, bytes, mode)?
        .persist_noclobber(path)
        .map(drop)
        .map_err(|e| e.error)
}

/// Replaces `path` whole with `bytes`.
pub(crate) fn replace(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    staged(path, bytes, mode)?
        .persist(path)
        .map(drop)
        .map_err(|e| e.error)
}

/// Reads a file that may not exist yet (an empty known-hosts file is the
/// same as none).
pub(crate) fn read_optional(path: &Path) -> io::Result<String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e),
    }
}
