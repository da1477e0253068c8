//! The few libc wrappers the roles share: pipes, non-blocking fds, waiting
//! on fds ([`poll`]), a file's identity and whether it may be executed,
//! whether a process exists. Each is a thin, safe wrapper with its
//! `unsafe` block here, so no role repeats a syscall's error handling.
//! Signals stay with the daemon (`daemon::signals`) and the monitor, whose
//! handlers differ.

pub mod poll;

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

pub use poll::{poll_any, poll_events, wait_readable};

/// A pipe, both ends close-on-exec so no child inherits them by accident
/// (a child that should gets its end through `Stdio`); with `nonblocking`,
/// both ends are `O_NONBLOCK`. Returns (read end, write end).
pub fn pipe(nonblocking: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    let flags = libc::O_CLOEXEC | if nonblocking { libc::O_NONBLOCK } else { 0 };
    // SAFETY: pipe2 fills two fds on success, which we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Makes reads and writes on `fd` return `WouldBlock` instead of waiting.
pub fn set_nonblocking(fd: &impl AsRawFd) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor the caller owns; no memory is passed.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
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

/// Whether process `pid` exists. EPERM means it does, as another user's.
pub fn process_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// CPUs online: one sysconf, where `available_parallelism` reads cgroup
/// files on every call, a cost each client job would pay.
pub fn online_cpus() -> u32 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u32::try_from(n).unwrap_or(2).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::{Read, Write};

    #[test]
    fn pipes_carry_bytes_and_nonblocking_ones_do_not_wait() {
        let (r, w) = pipe(false).unwrap();
        let (mut r, mut w) = (File::from(r), File::from(w));
        w.write_all(b"x").unwrap();
        drop(w);
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"x");

        let (r, _w) = pipe(true).unwrap();
        let e = File::from(r).read(&mut [0u8; 1]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let (r, _w) = pipe(false).unwrap();
        set_nonblocking(&r).unwrap();
        let e = File::from(r).read(&mut [0u8; 1]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
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
        assert!(process_exists(std::process::id()));
        assert!(!process_exists(999_999_999));
    }
}
