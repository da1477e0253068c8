//! Running one compiler: a clean environment, its own process group under
//! a leader process (`leader`) that takes the whole group down with the
//! job or with the daemon, rlimits, stdin from /dev/null or a pipe, and a
//! lifetime after which the whole group is killed (as it is when the
//! daemon's stop latch is set, or when the client hangs up: nobody would
//! read the result). What to run and with which arguments is decided
//! before this (`compilers`, `policy`); this module only runs it safely.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::sys::poll_any;

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
    pub ended: Ended,
}

/// Why the compiler stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// By itself: its status is the job's.
    Exited,
    /// Killed when `--job-lifetime` ran out.
    LifetimeOver,
    /// Killed because the daemon is stopping.
    Cancelled,
    /// Killed because the client hung up (or sent more than its request).
    ClientGone,
}

/// Fds whose readability ends a compile early. The client sends nothing
/// after its request, so its connection turning readable means it hung up,
/// as distcc 3.x's server also assumes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Watch {
    /// The daemon's stop latch.
    pub cancel: Option<RawFd>,
    /// The client's connection.
    pub client: Option<RawFd>,
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

/// Runs `program args` in `dir` and waits for it, within `limits.lifetime`
/// and while nothing in `watch` becomes readable.
#[allow(clippy::too_many_arguments)]
pub fn run(
    program: &Path,
    args: &[OsString],
    dir: &Path,
    env: &[(OsString, OsString)],
    stdout: File,
    stderr: File,
    limits: &RunLimits,
    watch: Watch,
    jail: Option<&super::sandbox::Jail>,
) -> io::Result<Finished> {
    let io = Stdio3 {
        stdin: Stdio::null(),
        stdout,
        stderr,
    };
    spawn(program, args, dir, env, io, limits, jail)?.wait(watch)
}

/// The compiler's standard streams: stdin is /dev/null, or a pipe the
/// daemon feeds a streamed source into.
pub struct Stdio3 {
    pub stdin: Stdio,
    pub stdout: File,
    pub stderr: File,
}

/// A started compiler. Dropped without [`Running::wait`], its whole
/// process group is killed and reaped. `child` is the compiler's leader,
/// whose wait status is the compiler's.
pub struct Running {
    child: Option<Child>,
    pid: libc::pid_t,
    lifetime: Option<Duration>,
}

/// Starts `program args` in `dir`, in its own process group under its
/// leader, with the rlimits and (if given) the sandbox.
pub fn spawn(
    program: &Path,
    args: &[OsString],
    dir: &Path,
    env: &[(OsString, OsString)],
    io: Stdio3,
    limits: &RunLimits,
    jail: Option<&super::sandbox::Jail>,
) -> io::Result<Running> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        // The compiler's own temp files land in the job dir and go with it.
        .env("TMPDIR", dir)
        .stdin(io.stdin)
        .stdout(io.stdout)
        .stderr(io.stderr);
    let cpu = limits.cpu_seconds;
    let fsize = limits.file_size_bytes;
    let asize = limits.address_space_bytes;
    let ruleset = jail.map(|j| j.raw());
    // SAFETY: getpid has no preconditions.
    let daemon = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and calls only
    // async-signal-safe functions (fork, setpgid, setrlimit, prctl,
    // landlock); the leader forked there never returns.
    unsafe {
        cmd.pre_exec(move || {
            super::leader::split(daemon)?;
            set_limit(libc::RLIMIT_CPU, cpu)?;
            set_limit(libc::RLIMIT_FSIZE, fsize)?;
            set_limit(libc::RLIMIT_AS, asize)?;
            if let Some(fd) = ruleset {
                super::sandbox::enter_raw(fd)?;
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    Ok(Running {
        pid: child.id() as libc::pid_t,
        child: Some(child),
        lifetime: limits.lifetime,
    })
}

impl Running {
    /// Waits for the compiler within its lifetime, which counts from here
    /// (a compiler started early waits for its source and a job slot
    /// first), and while nothing in `watch` becomes readable; kills its
    /// group otherwise.
    pub fn wait(mut self, watch: Watch) -> io::Result<Finished> {
        let mut child = self.child.take().expect("waited once");
        let pid = self.pid;
        let deadline = self.lifetime.map(|l| Instant::now() + l);
        let ended = match wait_exit(pid, deadline, watch) {
            Ok(ended) => ended,
            Err(e) => {
                end_job(pid);
                child.wait().ok();
                return Err(e);
            }
        };
        if ended != Ended::Exited {
            end_job(pid);
        }
        // The leader exits once the compiler's group is gone and reaped.
        let status = child.wait()?;
        Ok(Finished {
            status: status.into_raw(),
            ended,
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            end_job(self.pid);
            child.wait().ok();
        }
    }
}

/// Asks the job's leader, `pid`, to kill the compiler's whole group.
fn end_job(pid: libc::pid_t) {
    // SAFETY: signalling our own child, not yet reaped, so the pid is its.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

/// Waits for `pid` to exit, without reaping it, until `deadline` or until
/// a `watch` fd is readable. Uses a pidfd so the wait is a single poll, not
/// a sleep loop.
fn wait_exit(pid: libc::pid_t, deadline: Option<Instant>, watch: Watch) -> io::Result<Ended> {
    // SAFETY: pidfd_open takes a pid and flags, returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let fds = [
        fd.as_raw_fd(),
        watch.cancel.unwrap_or(-1),
        watch.client.unwrap_or(-1),
    ];
    Ok(match poll_any(&fds, deadline)? {
        Some(0) => Ended::Exited,
        Some(1) => Ended::Cancelled,
        Some(_) => Ended::ClientGone,
        None => Ended::LifetimeOver,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, limits: &RunLimits) -> (Finished, String) {
        sh_watched(script, limits, Watch::default())
    }

    fn sh_watched(script: &str, limits: &RunLimits, watch: Watch) -> (Finished, String) {
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
            watch,
            None,
        )
        .unwrap();
        (f, std::fs::read_to_string(dir.path().join("out")).unwrap())
    }

    #[test]
    fn status_and_output() {
        let (f, out) = sh("echo hi; exit 3", &RunLimits::default());
        assert_eq!(f.status, crate::exit::exited(3) as i32);
        assert_eq!(f.ended, Ended::Exited);
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
        assert_eq!(f.ended, Ended::LifetimeOver);
        assert!(libc::WIFSIGNALED(f.status));
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_set_stop_latch_kills_the_group() {
        let latch = crate::daemon::signals::Latch::new().unwrap();
        latch.set();
        let start = Instant::now();
        let watch = Watch {
            cancel: Some(latch.fd()),
            client: None,
        };
        let (f, _) = sh_watched("sleep 30 & sleep 30", &RunLimits::default(), watch);
        assert_eq!(f.ended, Ended::Cancelled);
        assert!(libc::WIFSIGNALED(f.status));
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_client_hangup_kills_the_group() {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(theirs);
        let start = Instant::now();
        let watch = Watch {
            cancel: None,
            client: Some(ours.as_raw_fd()),
        };
        let (f, _) = sh_watched("sleep 30 & sleep 30", &RunLimits::default(), watch);
        assert_eq!(f.ended, Ended::ClientGone);
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn helpers_left_by_a_compiler_that_exits_are_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("helper");
        let script = format!("sleep 60 & echo $! > {}; exit 3", pid_file.display());
        let start = Instant::now();
        let (f, _) = sh(&script, &RunLimits::default());
        assert_eq!(f.status, crate::exit::exited(3) as i32);
        assert!(start.elapsed() < Duration::from_secs(30));
        let helper: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed and reaped by the compiler's leader before it exited.
        // SAFETY: signal 0 only asks whether the pid exists.
        let alive = unsafe { libc::kill(helper, 0) } == 0;
        assert!(!alive, "the helper outlived its compiler");
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
