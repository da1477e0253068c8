//! Confines what a compiler may open, with Landlock: read and execute the
//! system's program and library trees and the compiler's own install, read
//! and write the job dir, nothing else.
//!
//! Argument checks cannot stop a source from naming files: a preprocessed
//! `__asm__(".incbin \"/etc/passwd\"")` makes the assembler copy any file
//! the daemon's user can read into the object it sends back. Only the
//! kernel can refuse that open. Where Landlock is missing (kernels before
//! 5.13, or disabled) jobs run unconfined and the daemon says so once.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

const SYS_CREATE_RULESET: libc::c_long = 444;
const SYS_ADD_RULE: libc::c_long = 445;
const SYS_RESTRICT_SELF: libc::c_long = 446;
const RULE_PATH_BENEATH: libc::c_int = 1;

// Filesystem access rights of Landlock ABI 1, which every version honours.
const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const ALL_ABI1: u64 = (1 << 13) - 1;
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
}

#[repr(C, packed)]
struct PathBeneath {
    allowed_access: u64,
    parent_fd: i32,
}

/// Trees every compiler may read and run from.
const SYSTEM: &[&str] = &[
    "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin",
];
/// Single files the dynamic loader and the compiler read.
const FILES: &[(&str, u64)] = &[
    ("/etc/ld.so.cache", READ_FILE),
    ("/etc/ld.so.conf", READ_FILE),
    ("/etc/ld.so.conf.d", READ_FILE | READ_DIR),
    ("/dev/null", READ_FILE | WRITE_FILE),
    ("/dev/urandom", READ_FILE),
];

/// A Landlock ruleset for one job, applied in the compiler's process.
pub struct Jail {
    ruleset: OwnedFd,
}

static WARNED: AtomicBool = AtomicBool::new(false);

/// The trees `compiler` may read and run from: the system's, and a
/// compiler installed outside them (/opt/gcc-13/bin/gcc) reads its own.
pub fn readable_trees(compiler: &Path) -> Vec<PathBuf> {
    let mut trees: Vec<PathBuf> = SYSTEM.iter().map(PathBuf::from).collect();
    if let Some(tree) = std::fs::canonicalize(compiler)
        .ok()
        .and_then(|p| p.parent()?.parent().map(PathBuf::from))
    {
        if tree != Path::new("/") {
            trees.push(tree);
        }
    }
    trees
}

impl Jail {
    /// Builds the ruleset for a job writing in `job_dir` with `compiler`.
    /// `Ok(None)` when the kernel has no Landlock.
    pub fn for_job(job_dir: &Path, compiler: &Path) -> io::Result<Option<Jail>> {
        let attr = RulesetAttr {
            handled_access_fs: ALL_ABI1,
        };
        // SAFETY: a valid attr pointer and its size.
        let fd = unsafe {
            libc::syscall(
                SYS_CREATE_RULESET,
                &attr as *const RulesetAttr,
                std::mem::size_of::<RulesetAttr>(),
                0u32,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => {
                    if !WARNED.swap(true, Ordering::Relaxed) {
                        log::warn!(
                            "Landlock is unavailable: compilers run without a filesystem sandbox"
                        );
                    }
                    Ok(None)
                }
                _ => Err(e),
            };
        }
        // SAFETY: a fresh fd we own.
        let jail = Jail {
            ruleset: unsafe { OwnedFd::from_raw_fd(fd as i32) },
        };
        let read_exec = EXECUTE | READ_FILE | READ_DIR;
        for dir in readable_trees(compiler) {
            jail.allow(&dir, read_exec)?;
        }
        for (file, rights) in FILES {
            jail.allow(Path::new(file), *rights)?;
        }
        jail.allow(job_dir, ALL_ABI1)?;
        Ok(Some(jail))
    }

    /// Adds `rights` beneath `path`; a path that does not exist is skipped.
    fn allow(&self, path: &Path, rights: u64) -> io::Result<()> {
        let c =
            CString::new(path.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: opening a path for reference only.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if fd < 0 {
            return Ok(());
        }
        // SAFETY: a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let is_dir = std::fs::metadata(path).map(|m| m.is_dir()).unwrap_or(false);
        let rule = PathBeneath {
            allowed_access: if is_dir { rights } else { rights & FILE_RIGHTS },
            parent_fd: fd.as_raw_fd(),
        };
        // SAFETY: a valid ruleset fd and rule pointer.
        let r = unsafe {
            libc::syscall(
                SYS_ADD_RULE,
                self.ruleset.as_raw_fd(),
                RULE_PATH_BENEATH,
                &rule as *const PathBeneath,
                0u32,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn raw(&self) -> i32 {
        self.ruleset.as_raw_fd()
    }
}

/// Confines the calling process to the ruleset `ruleset` ([`Jail::raw`]).
/// Runs between fork and exec: only async-signal-safe system calls.
pub fn enter_raw(ruleset: i32) -> io::Result<()> {
    // SAFETY: plain system calls on our own process.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::syscall(SYS_RESTRICT_SELF, ruleset, 0u32) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    #[test]
    fn a_jailed_process_reads_the_job_dir_but_not_etc() {
        let job = tempfile::tempdir().unwrap();
        std::fs::write(job.path().join("in"), "job data").unwrap();
        let Some(jail) = Jail::for_job(job.path(), Path::new("/bin/cat")).unwrap() else {
            eprintln!("SKIPPED: no Landlock on this kernel");
            return;
        };
        let fd = jail.raw();
        let run = |file: &str| {
            let mut c = Command::new("/bin/cat");
            c.arg(file);
            // SAFETY: enter_raw makes only async-signal-safe calls.
            unsafe { c.pre_exec(move || enter_raw(fd)) };
            c.output().unwrap()
        };
        let ok = run(job.path().join("in").to_str().unwrap());
        assert_eq!(ok.stdout, b"job data");
        let denied = run("/etc/hostname");
        assert!(!denied.status.success(), "read outside the jail");
        drop(jail);
    }
}
