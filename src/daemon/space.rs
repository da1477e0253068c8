//! What a full disk looks like to the daemon, so a job that the volunteer
//! cannot hold ends as a failure to distribute (distcc's I/O error code,
//! 107, and a message), which the client answers by compiling elsewhere,
//! rather than as a compile error the client would pass on as the job's.
//!
//! Two ways to find out. The daemon's own writes (the source, mirrored
//! files, the content store, the job dir) fail with `ENOSPC` or `EDQUOT`:
//! [`refusal`] names those. The compiler's writes fail inside the
//! compiler, whose message may not even reach its stderr file (that is on
//! the same disk): so the job's outputs are created empty before it runs
//! and held by a second name ([`Held`]), a failed compile's partial output
//! then keeps the disk as full as it left it, and [`exhausted`] sees that.
//! A compile that failed for its own reasons on a nearly full disk is thus
//! also retried elsewhere, where it fails again with its own diagnostics.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::refusal::Refusal;
use crate::exit::Code;
use crate::protocol::WireError;

/// Less room than this after a failed compile means it ran out of room:
/// a write that fails with `ENOSPC` leaves less than one write's worth.
const NEARLY_FULL: u64 = 64 * 1024;

/// The refusal for an error chain that says a disk is full, if it does.
pub fn refusal(err: &anyhow::Error, tmpdir: &Path) -> Option<Refusal> {
    let full = err.chain().any(|c| {
        let io = match c.downcast_ref::<WireError>() {
            // Writing a body as it is read fails inside the wire's reader.
            Some(WireError::Io(e)) => Some(e),
            _ => c.downcast_ref::<io::Error>(),
        };
        io.and_then(io::Error::raw_os_error)
            .is_some_and(|e| e == libc::ENOSPC || e == libc::EDQUOT)
    });
    full.then(|| no_space(tmpdir, "the job's files do not fit"))
}

/// The refusal for a compile that ran out of room in `tmpdir`.
pub fn no_space(tmpdir: &Path, what: &str) -> Refusal {
    Refusal::new(
        Code::IoError,
        format!(
            "no space left on device in {} ({what}; {} KiB free)",
            tmpdir.display(),
            available(tmpdir).unwrap_or(0) / 1024
        ),
    )
}

/// Whether the filesystem holding `dir` is out of room or of inodes.
pub fn exhausted(dir: &Path) -> bool {
    available(dir).is_some_and(|bytes| bytes < NEARLY_FULL) || inodes(dir) == Some(0)
}

fn statvfs(dir: &Path) -> Option<libc::statvfs> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills `buf` for a NUL-terminated path.
    let mut buf: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(path.as_ptr(), &mut buf) } == 0).then_some(buf)
}

/// Bytes an unprivileged user (the daemon's) may still write.
fn available(dir: &Path) -> Option<u64> {
    statvfs(dir).map(|s| s.f_bavail * s.f_frsize)
}

/// Inodes an unprivileged user may still create, where the filesystem
/// counts them (tmpfs without a limit says 0 of 0).
fn inodes(dir: &Path) -> Option<u64> {
    statvfs(dir).filter(|s| s.f_files > 0).map(|s| s.f_favail)
}

/// A job's outputs, created empty before the compile and held by a second
/// name until the job ends: a compiler that fails deletes its partial
/// output, which would hide from [`exhausted`] that it filled the disk.
/// (The assembler keeps the file it is given as long as it is empty.)
pub struct Held(Vec<PathBuf>);

impl Held {
    pub fn new(outputs: &[&Path]) -> io::Result<Held> {
        let mut held = Vec::with_capacity(outputs.len());
        for (i, out) in outputs.iter().enumerate() {
            fs::File::create(out)?;
            let second = out.with_file_name(format!(".held-{i}"));
            fs::hard_link(out, &second)?;
            held.push(second);
        }
        Ok(Held(held))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        for p in &self.0 {
            fs::remove_file(p).ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_in_an_error_chain_is_a_refusal_with_the_io_code() {
        let full = anyhow::Error::new(io::Error::from_raw_os_error(libc::ENOSPC))
            .context("writing the job's input");
        let r = refusal(&full, Path::new("/tmp")).unwrap();
        assert_eq!(r.code, Code::IoError);
        assert!(
            r.message.contains("no space left on device in /tmp"),
            "{}",
            r.message
        );
        let in_a_body =
            anyhow::Error::new(WireError::Io(io::Error::from_raw_os_error(libc::EDQUOT)))
                .context("reading preprocessed source");
        assert!(refusal(&in_a_body, Path::new("/tmp")).is_some());
        let other = anyhow::Error::new(io::Error::from_raw_os_error(libc::EIO));
        assert!(refusal(&other, Path::new("/tmp")).is_none());
    }

    #[test]
    fn held_outputs_survive_their_deletion_until_the_job_ends() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("output.o");
        let held = Held::new(&[&out]).unwrap();
        fs::write(&out, b"partial").unwrap();
        fs::remove_file(&out).unwrap();
        assert_eq!(fs::read(dir.path().join(".held-0")).unwrap(), b"partial");
        drop(held);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(!exhausted(dir.path()), "this machine's temp dir has room");
    }
}
