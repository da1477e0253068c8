//! Writing a file the user named (the object, a `.d` file, any returned
//! side output) where and as the compiler would have written it.
//!
//! A regular file, or a name that does not exist yet, is replaced whole: a
//! temp file beside it, then a rename, so a killed client never leaves a
//! truncated object; the temp file's name carries our pid, and `cleanup`
//! removes it if a signal ends the client first. Anything else is written the way gcc writes it, by
//! opening the name: a symlink is written through to its target, and a
//! device or FIFO (`-o /dev/null` in configure probes, as root) is opened
//! and written, never replaced.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use super::cleanup::{self, Temp};
use crate::exit::Code;

/// Symlink hops followed before giving up, as the kernel's ELOOP limit.
const MAX_LINK_HOPS: usize = 40;

/// Writes `data` to the file the user named `path`, as described above.
pub fn write(path: &Path, data: &[u8]) -> Result<()> {
    let target = resolve_links(path).map_err(|e| io_error(path, "resolving", e))?;
    match fs::metadata(&target) {
        Ok(meta) if !meta.file_type().is_file() => write_in_place(&target, data),
        Ok(meta) => replace(&target, data, Some(meta.permissions().mode())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => replace(&target, data, None),
        Err(e) => Err(io_error(&target, "inspecting", e)),
    }
}

/// Follows `path` through symlinks to the name the kernel would open,
/// which may not exist yet (a dangling link creates its target).
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut cur = path.to_path_buf();
    for _ in 0..MAX_LINK_HOPS {
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&cur)?;
                cur = match cur.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            Ok(_) => return Ok(cur),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(cur),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from_raw_os_error(libc::ELOOP))
}

/// A device, FIFO or socket: open it and write, as the compiler would.
fn write_in_place(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| io_error(path, "opening", e))?;
    f.write_all(data).map_err(|e| io_error(path, "writing", e))
}

/// A regular file or a new name: whole or absent, never partial. An
/// existing file keeps its permission bits (the compiler truncates it in
/// place); a new one gets the umask's, as the compiler's own output would.
fn replace(path: &Path, data: &[u8], mode: Option<u32>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let hold = cleanup::place(dir, Temp::Output);
    let mut tmp = tempfile::Builder::new()
        .prefix(&Temp::Output.prefix())
        .tempfile_in(dir)
        .map_err(|e| {
            anyhow!(Code::IoError).context(format!("cannot write in {}: {e}", dir.display()))
        })?;
    drop(hold);
    tmp.write_all(data)
        .map_err(|e| io_error(path, "writing", e))?;
    let mode = mode.unwrap_or_else(|| 0o666 & !current_umask()) & 0o7777;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode)).ok();
    tmp.persist(path)
        .map_err(|e| io_error(path, "renaming into", e.error))?;
    Ok(())
}

fn io_error(path: &Path, doing: &str, e: io::Error) -> anyhow::Error {
    anyhow!(Code::IoError).context(format!("{doing} {}: {e}", path.display()))
}

fn current_umask() -> u32 {
    // SAFETY: umask only swaps a process-wide mask; the client is
    // single-threaded here, so reading it by setting and restoring is safe.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{symlink, FileTypeExt};

    fn mknod(path: &Path, mode: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        if unsafe { libc::mknod(c.as_ptr(), mode, dev) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    #[test]
    fn a_new_name_and_a_regular_file_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.o");
        write(&p, b"one").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "an existing file keeps its mode");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file is left");
    }

    #[test]
    fn a_symlink_is_written_through_to_its_target() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("real")).unwrap();
        let target = dir.path().join("real/x.o");
        fs::write(&target, b"old").unwrap();
        // A relative chain of two links.
        symlink("real/x.o", dir.path().join("hop")).unwrap();
        symlink("hop", dir.path().join("x.o")).unwrap();
        write(&dir.path().join("x.o"), b"new").unwrap();
        assert!(fs::symlink_metadata(dir.path().join("x.o"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"new");
    }

    #[test]
    fn a_dangling_symlink_creates_its_target() {
        let dir = tempfile::tempdir().unwrap();
        symlink("made.o", dir.path().join("x.o")).unwrap();
        write(&dir.path().join("x.o"), b"obj").unwrap();
        assert!(fs::symlink_metadata(dir.path().join("x.o"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(dir.path().join("made.o")).unwrap(), b"obj");
    }

    #[test]
    fn a_fifo_is_written_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        mknod(&fifo, libc::S_IFIFO | 0o600, 0).unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        write(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn a_character_device_stays_a_device() {
        let dir = tempfile::tempdir().unwrap();
        let null = dir.path().join("null");
        // The real /dev/null's device number (1, 3), made in our own dir;
        // creating a device needs root (CI runs as root).
        match mknod(&null, libc::S_IFCHR | 0o666, libc::makedev(1, 3)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                eprintln!("skipped: making a device node needs root");
                return;
            }
            Err(e) => panic!("mknod: {e}"),
        }
        write(&null, b"discarded").unwrap();
        let meta = fs::symlink_metadata(&null).unwrap();
        assert!(meta.file_type().is_char_device(), "still a device");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file is left");
    }

    #[test]
    fn a_symlink_loop_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        let err = write(&dir.path().join("a"), b"x").unwrap_err();
        assert!(format!("{err:#}").contains("resolving"), "{err:#}");
    }
}
