//! A file's identity as `stat` sees it: the cache key of every digest in
//! this module. Device and inode tell a replaced file (a package upgrade
//! renames a new one in place); size, mtime and ctime tell one rewritten in
//! place. ctime cannot be set back by `touch`, so a rewrite that restores
//! mtime is still seen.

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub mtime: i128,
    pub ctime: i128,
}

impl FileKey {
    pub fn of(meta: &Metadata) -> FileKey {
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }

    /// The key of what `path` names now, following symlinks; `None` when
    /// nothing is there.
    pub fn stat(path: &Path) -> io::Result<Option<FileKey>> {
        match std::fs::metadata(path) {
            Ok(meta) => Ok(Some(FileKey::of(&meta))),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether a change made just after `read_at` could leave this key
    /// unchanged: file times have the granularity of a clock tick (or
    /// worse on some file systems), so a file written within `window`
    /// before it was read may be written again, with the same size, without
    /// a visible change. Such a digest is used once and not cached.
    pub fn is_racy(&self, read_at: SystemTime, window: Duration) -> bool {
        let read_at = match read_at.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(_) => return true,
        };
        self.mtime.max(self.ctime) + window.as_nanos() as i128 > read_at
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dev.to_le_bytes());
        out.extend_from_slice(&self.ino.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.mtime.to_le_bytes());
        out.extend_from_slice(&self.ctime.to_le_bytes());
    }

    pub(super) fn decode(r: &mut super::diskfile::Reader<'_>) -> Option<FileKey> {
        Some(FileKey {
            dev: r.u64()?,
            ino: r.u64()?,
            size: r.u64()?,
            mtime: r.i128()?,
            ctime: r.i128()?,
        })
    }
}

/// Errors that mean "no such file": a missing name or a missing directory
/// on the way to it.
pub(super) fn is_absent(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_survives_encoding() {
        let key = FileKey {
            dev: 1,
            ino: u64::MAX,
            size: 3,
            mtime: -5,
            ctime: 1_700_000_000_123_456_789,
        };
        let mut out = Vec::new();
        key.encode(&mut out);
        assert_eq!(out.len(), 8 * 3 + 16 * 2);
        let mut r = super::super::diskfile::Reader::new(&out);
        assert_eq!(FileKey::decode(&mut r), Some(key));
        assert!(r.is_empty());
    }

    #[test]
    fn recent_files_are_racy() {
        let key = |secs: i128| FileKey {
            dev: 0,
            ino: 0,
            size: 0,
            mtime: 0,
            ctime: secs * 1_000_000_000,
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let window = Duration::from_secs(2);
        assert!(key(99).is_racy(at, window));
        assert!(key(101).is_racy(at, window));
        assert!(!key(97).is_racy(at, window));
        assert!(!key(99).is_racy(at, Duration::ZERO));
    }

    #[test]
    fn a_missing_file_or_directory_has_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        assert_eq!(FileKey::stat(&file).unwrap(), None);
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(FileKey::stat(&file.join("under")).unwrap(), None);
        assert_eq!(FileKey::stat(&file).unwrap().unwrap().size, 1);
    }
}
