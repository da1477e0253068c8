//! Running one compiler: a clean environment, its own process group,
//! rlimits, stdin from /dev/null, and a lifetime after which the whole group
//! is killed. What to run and with which arguments is decided before this
//! (`compilers`, `policy`); this module only runs it safely.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Operator-set bounds on each compiler.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunLimits {
    /// Kill the compiler's process group after this long.
    pub lifetime: Option<Duration>,
    pub cpu_seconds: Option<u64>,
    pub file_size_bytes: Option<u64>,
    pub address_space_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// Unix wait status.
    pub status: i32,
    /// The lifetime ran out and the compiler was killed.
    pub timed_out: bool,
}

/// The environment a compiler gets: nothing from the client, and from the
/// daemon only what finds programs and sets the language of diagnostics.
pub fn compiler_env(
    daemon_env: impl Iterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    daemon_env
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            k == "PATH" || k == "LANG" || k == "LANGUAGE" || k.starts_with("LC_")
        })
        .collect()
}

fn set_limit(resource: libc::__rlimit_resource_t, value: Option<u64>) -> io::Result<()> {
    if let Some(v) = value {
        let lim = libc::rlimit {
            rlim_cur: v as libc::rlim_t,
            rlim_max: v as libc::rlim_t,
        };
        // SAFETY: setrlimit is async-signal-safe and only reads `lim`.
        if unsafe { libc::setrlimit(resource, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs `program args` in `dir` and waits for it, within `limits.lifetime`.
pub fn run(
    program: &Path,
    args: &[OsString],
    dir: &Path,
    env: &[(OsString, OsString)],
    stdout: File,
    stderr: File,
    limits: &RunLimits,
) -> io::Result<Finished> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        // The compiler's own temp files land in the job dir and go with it.
        .env("TMPDIR", dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    let cpu = limits.cpu_seconds;
    let fsize = limits.file_size_bytes;
    let asize = limits.address_space_bytes;
    // SAFETY: the closure runs between fork and exec and calls only
    // async-signal-safe functions (setpgid, setrlimit).
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            set_limit(libc::RLIMIT_CPU, cpu)?;
            set_limit(libc::RLIMIT_FSIZE, fsize)?;
            set_limit(libc::RLIMIT_AS, asize)?;
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let timed_out = match limits.lifetime {
        Some(lifetime) => !wait_exit(pid, Instant::now() + lifetime)?,
        None => false,
    };
    if timed_out {
        kill_group(pid);
    }
    let status = child.wait()?;
    // Reap helpers (cc1, as) that outlived a killed driver.
    kill_group(pid);
    Ok(Finished {
        status: status.into_raw(),
        timed_out,
    })
}

fn kill_group(pid: libc::pid_t) {
    // SAFETY: signalling our child's own process group; ESRCH is harmless.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

/// Waits for `pid` to exit until `deadline` without reaping it; false on
/// timeout. Uses a pidfd so the wait is a single poll, not a sleep loop.
fn wait_exit(pid: libc::pid_t, deadline: Instant) -> io::Result<bool> {
    // SAFETY: pidfd_open takes a pid and flags, returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms.max(1)) };
        if n > 0 {
            return Ok(true);
        }
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, limits: &RunLimits) -> (Finished, String) {
        let dir = tempfile::tempdir().unwrap();
        let out = File::create(dir.path().join("out")).unwrap();
        let err = File::create(dir.path().join("err")).unwrap();
        let env = compiler_env(std::env::vars_os());
        let f = run(
            Path::new("/bin/sh"),
            &["-c".into(), script.into()],
            dir.path(),
            &env,
            out,
            err,
            limits,
        )
        .unwrap();
        (f, std::fs::read_to_string(dir.path().join("out")).unwrap())
    }

    #[test]
    fn status_and_output() {
        let (f, out) = sh("echo hi; exit 3", &RunLimits::default());
        assert_eq!(f.status, 3 << 8);
        assert!(!f.timed_out);
        assert_eq!(out, "hi\n");
    }

    #[test]
    fn environment_is_clean_and_stdin_is_null() {
        let (_, out) = sh(
            "echo \"[$HOME][$USER]\"; cat; pwd; echo \"$TMPDIR\"",
            &RunLimits::default(),
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "[][]");
        assert_eq!(lines[1], lines[2], "cwd is the job dir and TMPDIR too");
    }

    #[test]
    fn lifetime_kills_the_group() {
        let limits = RunLimits {
            lifetime: Some(Duration::from_millis(200)),
            ..RunLimits::default()
        };
        let start = Instant::now();
        let (f, _) = sh("sleep 30 & sleep 30", &limits);
        assert!(f.timed_out);
        assert!(libc::WIFSIGNALED(f.status));
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn file_size_limit() {
        let limits = RunLimits {
            file_size_bytes: Some(1000),
            ..RunLimits::default()
        };
        let (f, _) = sh("head -c 5000 /dev/zero > big", &limits);
        assert_ne!(f.status, 0);
    }
}
