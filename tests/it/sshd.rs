//! A private sshd on 127.0.0.1 for the ssh-mode tests (`@HOST` hosts):
//! Debian's openssh-server, started by the test as the current user, with
//! a host key and a client key made by `ssh-keygen` in its temp dir, so a
//! client's `ssh HOST distccd --inetd` goes through a real login, as on a
//! volunteer. Stopped on Drop.
//!
//! - sshd needs an absolute path (it re-executes itself) and, started as
//!   root, its privilege-separation directory `/run/sshd`. When that is
//!   missing, sshd runs in a mount namespace of its own with a tmpfs on
//!   `/run` that holds it: no system file is touched. (The alternative is
//!   one line of machine set-up, `mkdir -m 0755 /run/sshd`.)
//! - The config is private: no PAM, `StrictModes no` (keys live in a temp
//!   dir), keys and pid file in the temp dir, loopback only, and a login
//!   PATH (`SetEnv`) that starts with the volunteer's own bin dir.
//! - That dir holds the `distccd` a login finds by name, as distcc finds
//!   it (`@HOST` runs `distccd`, `@HOST:COMMAND` runs COMMAND): a script
//!   that records its arguments and runs the daemon under test, ours (with
//!   the tree's masquerade dir as its whitelist) or Debian's 3.4, logging
//!   to a file the test can read.
//! - [`Sshd::ssh`] is a `DISTCC_SSH` script with the port, key and a
//!   throwaway known-hosts file; [`Sshd::ssh_words`] is the same as one
//!   space-separated string, the form distcc 3.4 splits itself.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::util::{exe, free_port, have, wait_bounded, Tree};

const SSHD: &str = "/usr/sbin/sshd";

/// Which daemon the volunteer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volunteer {
    /// Ours, whitelisting the compilers linked in the tree's `masq/`.
    Ours,
    /// Debian's distcc 3.4 (`/usr/bin/distccd`).
    Reference,
}

pub struct Sshd {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Sshd {
    /// Why the tests cannot run here, if they cannot.
    pub fn unavailable() -> Option<&'static str> {
        if !Path::new(SSHD).exists() {
            return Some("no /usr/sbin/sshd (apt-get install openssh-server)");
        }
        if !have("ssh") || !have("ssh-keygen") {
            return Some("no ssh or ssh-keygen (apt-get install openssh-client)");
        }
        None
    }

    /// Starts sshd for `tree`'s binaries; the volunteer runs `volunteer`.
    pub fn start(tree: &Tree, volunteer: Volunteer) -> Sshd {
        let dir = tempfile::Builder::new()
            .prefix("distcc-sshd-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        // The daemon drops root to its own user: it must reach remote/.
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        for key in ["host_key", "client_key"] {
            let st = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(key))
                .status()
                .expect("ssh-keygen");
            assert!(st.success(), "ssh-keygen {key}");
        }
        fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        write_volunteer(tree, d, volunteer);

        // Another test may take the free port before sshd binds it.
        for _ in 0..5 {
            let port = free_port();
            write_config(d, port);
            if let Some(child) = spawn(d) {
                write_script(
                    &d.join("ssh"),
                    &format!("#!/bin/sh\nexec {} \"$@\"\n", ssh_words(d, port)),
                );
                return Sshd { child, port, dir };
            }
        }
        panic!("sshd did not start on a free port after 5 tries");
    }

    /// The `DISTCC_SSH` program: ssh to this sshd.
    pub fn ssh(&self) -> PathBuf {
        self.dir.path().join("ssh")
    }

    /// The same command as words, for clients that split `DISTCC_SSH`.
    pub fn ssh_words(&self) -> String {
        ssh_words(self.dir.path(), self.port)
    }

    /// One line per time the volunteer's `distccd` ran: its arguments.
    pub fn calls(&self) -> String {
        fs::read_to_string(self.dir.path().join("remote/calls")).unwrap_or_default()
    }

    /// The volunteer daemon's log.
    pub fn daemon_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("remote/distccd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        if wait_bounded(&mut self.child, Duration::from_secs(10)).is_none() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}

/// distcc 3.4 passes at most 12 words after the program and drops the
/// rest without a word: options are attached (`-oName=value`) to stay
/// within that, or the known-hosts file would fall back to `~/.ssh`.
fn ssh_words(d: &Path, port: u16) -> String {
    format!(
        "ssh -F /dev/null -p {port} -i {key} -oUserKnownHostsFile={known} \
         -oStrictHostKeyChecking=no -oIdentitiesOnly=yes -oBatchMode=yes -oLogLevel=ERROR",
        key = d.join("client_key").display(),
        known = d.join("known_hosts").display(),
    )
}

fn write_script(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// `remote/bin/distccd`, first on the login's PATH: records its arguments,
/// then runs the daemon under test with a log file.
fn write_volunteer(tree: &Tree, d: &Path, volunteer: Volunteer) {
    let remote = d.join("remote");
    fs::create_dir_all(remote.join("bin")).unwrap();
    // World-writable: each daemon writes its log after dropping root.
    fs::set_permissions(&remote, fs::Permissions::from_mode(0o777)).unwrap();
    let run = match volunteer {
        Volunteer::Ours => {
            // Named distccd, so the binary acts as the daemon.
            fs::create_dir(remote.join("sbin")).unwrap();
            symlink(exe(), remote.join("sbin/distccd")).unwrap();
            format!(
                "{} --compiler-dir {}",
                remote.join("sbin/distccd").display(),
                tree.path("masq").display()
            )
        }
        Volunteer::Reference => "/usr/bin/distccd".to_string(),
    };
    write_script(
        &remote.join("bin/distccd"),
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >>{calls}\nexec {run} --log-file {log} \"$@\"\n",
            calls = remote.join("calls").display(),
            log = remote.join("distccd.log").display(),
        ),
    );
}

fn write_config(d: &Path, port: u16) {
    let p = |name: &str| d.join(name).display().to_string();
    let config = format!(
        "ListenAddress 127.0.0.1\n\
         Port {port}\n\
         HostKey {host_key}\n\
         PidFile {pid}\n\
         AuthorizedKeysFile {authorized}\n\
         StrictModes no\n\
         UsePAM no\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\n\
         UseDNS no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         SetEnv PATH={bin}:/usr/local/bin:/usr/bin:/bin\n",
        host_key = p("host_key"),
        pid = p("sshd.pid"),
        authorized = p("authorized_keys"),
        bin = p("remote/bin"),
    );
    fs::write(d.join("sshd_config"), config).unwrap();
}

/// Starts `sshd -D -e` and waits for "Server listening"; `None` when it
/// exited instead (the port was taken meanwhile).
fn spawn(d: &Path) -> Option<Child> {
    let mut cmd = Command::new(SSHD);
    cmd.arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(d.join("sshd_config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root && !Path::new("/run/sshd").is_dir() {
        // SAFETY: only async-signal-safe syscalls between fork and exec.
        unsafe { cmd.pre_exec(private_run) };
    }
    let mut child = cmd.spawn().expect("start sshd");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut tx = Some(tx);
        let mut said = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("Server listening on") {
                if let Some(tx) = tx.take() {
                    tx.send(Ok(())).ok();
                }
            }
            said.push_str(&line);
            said.push('\n');
        }
        // sshd exited (or closed stderr) before listening.
        if let Some(tx) = tx.take() {
            tx.send(Err(said)).ok();
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(())) => Some(child),
        Ok(Err(said)) => {
            child.wait().ok();
            if said.contains("Address already in use") {
                return None;
            }
            panic!("sshd did not start: {said}");
        }
        Err(_) => {
            child.kill().ok();
            child.wait().ok();
            panic!("sshd said nothing for 60 s");
        }
    }
}

/// In the child before exec: a mount namespace of its own, with a tmpfs on
/// `/run` holding `/run/sshd`, so the host's /run is never written.
fn private_run() -> std::io::Result<()> {
    let err = std::io::Error::last_os_error;
    // SAFETY: plain syscalls on static C strings.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(err());
        }
        // Nothing mounted below may propagate back to the host.
        let flags = libc::MS_REC | libc::MS_PRIVATE;
        if libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        ) != 0
        {
            return Err(err());
        }
        let data = c"mode=0755";
        if libc::mount(
            c"tmpfs".as_ptr(),
            c"/run".as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            data.as_ptr().cast(),
        ) != 0
        {
            return Err(err());
        }
        if libc::mkdir(c"/run/sshd".as_ptr(), 0o755) != 0 {
            return Err(err());
        }
    }
    Ok(())
}
