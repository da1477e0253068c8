//! What a path is: its identity (device and inode) and whether it may be
//! run; and how a file the user's processes share in place is opened.

use std::fs;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Opens, creating it private (0600) if missing and never truncating, a
/// file the user's processes read and write in place (a lock file, a
/// slot). Not through a symlink: one planted there would have us write
/// into whatever it names, so that is an error (`ELOOP`).
pub fn open_shared(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Device and inode of what `p` finally points to: two names for one file
/// (a link in a masquerade dir and its target) compare equal.
pub fn identity(p: &Path) -> Option<(u64, u64)> {
    fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether `p` is a regular file someone may execute.
pub fn is_executable(p: &Path) -> bool {
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_file_is_never_opened_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep").unwrap();
        let planted = dir.path().join("slot_0");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let e = open_shared(&planted).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        // A plain file opens, and is created private.
        let f = dir.path().join("lock");
        open_shared(&f).unwrap();
        assert_eq!(
            fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn identity_follows_links_and_executables_are_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "").unwrap();
        std::os::unix::fs::symlink(&file, dir.path().join("l")).unwrap();
        assert_eq!(identity(&file), identity(&dir.path().join("l")));
        assert!(identity(&dir.path().join("missing")).is_none());
        assert!(!is_executable(&file));
        fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(is_executable(&file));
        assert!(!is_executable(dir.path()), "a directory is not a program");
    }
}
