//! `--zeroconf`: the daemon announces itself on the local network as
//! distcc 3.4 does (`_distcc._tcp` on its port, named `distcc@HOSTNAME`,
//! with the TXT records `txtvers=1`, `cpus=N`, `jobs=N`, `distcc=`,
//! `gnuhost=`, `cc_version=` and `cc_machine=`, and the subtype
//! `_MACHINE--VERSION._sub._distcc._tcp` of `cc` that distcc 3.4's
//! clients browse for), through the system's Avahi: an
//! `avahi-publish-service` child that holds the announcement while it
//! lives. The announcement goes when the daemon starts draining or exits
//! (the child is asked to end, then reaped), and with the daemon if it is
//! killed (the child's parent-death signal). Without Avahi's tools the
//! daemon says so once and serves unannounced.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROGRAM: &str = "avahi-publish-service";
pub const SERVICE_TYPE: &str = "_distcc._tcp";
/// How long the child may take to withdraw before it is killed.
const WITHDRAW_TIMEOUT: Duration = Duration::from_secs(2);

/// What is announced.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub port: u16,
    pub cpus: u32,
    pub jobs: u32,
    /// `cc -dumpversion` and `cc -dumpmachine`, when `cc` answers.
    pub cc: Option<(String, String)>,
}

impl Service {
    /// This machine's service on `port`: `cores` (fractional under a
    /// quota) announced as whole CPUs, at least one.
    pub fn here(port: u16, cores: f64, jobs: u32) -> Service {
        Service {
            name: format!("distcc@{}", hostname()),
            port,
            cpus: (cores.ceil() as u32).max(1),
            jobs,
            cc: cc_id(),
        }
    }

    /// `avahi-publish-service`'s arguments.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["--no-fail".to_string()];
        if let Some((version, machine)) = &self.cc {
            args.push(format!("--subtype={}", subtype(version, machine)));
        }
        args.extend([
            self.name.clone(),
            SERVICE_TYPE.into(),
            self.port.to_string(),
            "txtvers=1".into(),
            format!("cpus={}", self.cpus),
            format!("jobs={}", self.jobs),
            format!("distcc={}", env!("CARGO_PKG_VERSION")),
            format!(
                "gnuhost={}-{}",
                std::env::consts::ARCH,
                std::env::consts::OS
            ),
        ]);
        if let Some((version, machine)) = &self.cc {
            args.push(format!("cc_version={version}"));
            args.push(format!("cc_machine={machine}"));
        }
        args
    }
}

/// distcc 3.4's subtype for a compiler: its machine and version, each
/// lower-cased with every other character but digits made `-`.
fn subtype(version: &str, machine: &str) -> String {
    let strip = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                'a'..='z' | '0'..='9' => c,
                'A'..='Z' => c.to_ascii_lowercase(),
                _ => '-',
            })
            .collect()
    };
    format!(
        "_{}--{}._sub.{SERVICE_TYPE}",
        strip(machine),
        strip(version)
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// `cc`'s version and target, as distcc 3.4 asks them.
fn cc_id() -> Option<(String, String)> {
    let ask = |flag: &str| -> Option<String> {
        let out = Command::new("cc")
            .arg(flag)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        let text = String::from_utf8_lossy(&out.stdout);
        let word = text.split_whitespace().next()?.to_string();
        Some(word)
    };
    Some((ask("-dumpversion")?, ask("-dumpmachine")?))
}

/// The running announcement; withdrawn when dropped.
pub struct Announcement {
    child: Child,
}

impl Announcement {
    /// Starts announcing `service`; `None` (said in the log) when Avahi's
    /// tool cannot be run. Call it from the thread that lives as long as
    /// the daemon: the child's parent-death signal follows that thread.
    pub fn start(service: &Service) -> Option<Announcement> {
        let parent = std::process::id() as libc::pid_t;
        let mut cmd = Command::new(PROGRAM);
        cmd.args(service.args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: prctl, getppid and _exit are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                // The daemon died before the signal was set up.
                if libc::getppid() != parent {
                    libc::_exit(0);
                }
                Ok(())
            });
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                log::error!(
                    "--zeroconf: cannot run {PROGRAM} ({e}); install Avahi's tools \
                     (Debian: avahi-utils) to announce this daemon; serving unannounced"
                );
                return None;
            }
        };
        if let Some(err) = child.stderr.take() {
            // Its words (the name it got, a collision, Avahi not running)
            // go to our log; the thread ends with the child.
            std::thread::Builder::new()
                .name("zeroconf".into())
                .spawn(move || {
                    for line in BufReader::new(err).lines().map_while(Result::ok) {
                        log::info!("{PROGRAM}: {line}");
                    }
                })
                .ok();
        }
        log::info!(
            "announcing {} ({SERVICE_TYPE}) on port {} through Avahi",
            service.name,
            service.port
        );
        Some(Announcement { child })
    }

    /// The child's pid, for tests and logs.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Announcement {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        if !exits_within(pid, WITHDRAW_TIMEOUT) {
            self.child.kill().ok();
        }
        self.child.wait().ok();
        log::info!("zeroconf announcement withdrawn");
    }
}

/// Whether `pid` (our child, not reaped) exits within `limit`; a pidfd
/// makes it one poll.
fn exits_within(pid: libc::pid_t, limit: Duration) -> bool {
    // SAFETY: pidfd_open takes a pid and flags, returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return false;
    }
    // SAFETY: fd is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    matches!(
        crate::sys::poll_any(&[fd.as_raw_fd()], Some(Instant::now() + limit)),
        Ok(Some(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_records_are_distcc_3_4s() {
        let s = Service {
            name: "distcc@box".into(),
            port: 3632,
            cpus: 4,
            jobs: 6,
            cc: Some(("12".into(), "x86_64-linux-gnu".into())),
        };
        let args = s.args();
        assert_eq!(
            args[..6],
            [
                "--no-fail",
                "--subtype=_x86-64-linux-gnu--12._sub._distcc._tcp",
                "distcc@box",
                "_distcc._tcp",
                "3632",
                "txtvers=1"
            ]
        );
        assert!(args.contains(&"cpus=4".to_string()));
        assert!(args.contains(&"jobs=6".to_string()));
        assert!(args.contains(&"cc_machine=x86_64-linux-gnu".to_string()));
        let bare = Service { cc: None, ..s };
        assert_eq!(bare.args()[1], "distcc@box");
        assert!(!bare.args().iter().any(|a| a.starts_with("cc_")));
        assert_eq!(
            subtype("4.2.1-Ubuntu", "I686"),
            "_i686--4-2-1-ubuntu._sub._distcc._tcp"
        );
        assert_eq!(Service::here(1, 0.25, 2).cpus, 1);
        assert_eq!(Service::here(1, 2.5, 2).cpus, 3);
    }
}
