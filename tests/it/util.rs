//! Helpers shared by the integration tests: temp trees with masquerade
//! and "preprocess only" compiler dirs, daemons on 127.0.0.1 port 0 that
//! stop on Drop, and a client runner.

#![allow(dead_code)]

use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test.
pub fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_distcc"))
}

pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Skips the calling test (returns from it) with a message when `cond`.
#[macro_export]
macro_rules! skip_unless {
    ($cond:expr, $why:expr) => {
        if !$cond {
            eprintln!("SKIPPED: {}", $why);
            return;
        }
    };
}

pub const COMPILERS: &[&str] = &[
    "gcc",
    "g++",
    "cc",
    "c++",
    "x86_64-linux-gnu-gcc",
    "x86_64-linux-gnu-g++",
];

/// A scratch tree:
/// - `bin/`: `distcc`, `distccd` links to the binary under test;
/// - `masq/`: compiler links to it (the daemon's whitelist);
/// - `cpponly/`: compiler wrappers that refuse to do anything but
///   preprocess, so a test proves the compile happened remotely;
/// - `state/`: the client's DISTCC_DIR;
/// - `work/`: where sources live and compiles run.
pub struct Tree {
    pub tmp: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Tree {
        let tmp = tempfile::Builder::new()
            .prefix("distcc-test-")
            .tempdir()
            .unwrap();
        let t = tmp.path();
        // World-readable: the reference daemon drops root to its own user.
        fs::set_permissions(t, fs::Permissions::from_mode(0o755)).unwrap();
        for d in ["bin", "masq", "cpponly", "state", "work"] {
            fs::create_dir(t.join(d)).unwrap();
            fs::set_permissions(t.join(d), fs::Permissions::from_mode(0o777)).unwrap();
        }
        symlink(exe(), t.join("bin/distcc")).unwrap();
        symlink(exe(), t.join("bin/distccd")).unwrap();
        let tree = Tree { tmp };
        for c in COMPILERS {
            tree.add_compiler(c);
        }
        tree
    }

    /// Links compiler `c` in `masq/` and gives it a `cpponly/` wrapper.
    pub fn add_compiler(&self, c: &str) {
        let t = self.tmp.path();
        symlink(exe(), t.join("masq").join(c)).unwrap();
        let real = which(c);
        let script = format!(
            "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in -E|-M) exec {} \"$@\";; esac; done\n\
             echo \"cpponly: refused to compile locally: $*\" >&2\nexit 99\n",
            real.display()
        );
        let p = t.join("cpponly").join(c);
        fs::write(&p, script).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    pub fn work(&self) -> PathBuf {
        self.path("work")
    }

    /// Writes a world-readable file under `work/`, creating parent dirs.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.work().join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
            fs::set_permissions(parent, fs::Permissions::from_mode(0o777)).unwrap();
        }
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        p
    }

    /// PATH for a client whose own compilers may only preprocess.
    pub fn cpponly_path(&self) -> OsString {
        let mut dirs = vec![self.path("cpponly")];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(dirs).unwrap()
    }

    /// A client command (`distcc ARGS`) run in `work/` against `hosts`.
    pub fn client(&self, hosts: &str, args: &[&str]) -> Command {
        let mut c = Command::new(self.path("bin/distcc"));
        c.args(args)
            .current_dir(self.work())
            .env("DISTCC_HOSTS", hosts)
            .env("DISTCC_DIR", self.path("state"))
            .env_remove("DISTCC_VERBOSE")
            .env_remove("DISTCC_LOG")
            .env_remove("DISTCC_FALLBACK")
            .env_remove("_DISTCC_SAFEGUARD")
            .env("DISTCC_BACKOFF_PERIOD", "0")
            .env("TMPDIR", std::env::temp_dir())
            .stdin(Stdio::null());
        c
    }
}

pub fn which(program: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    let p = PathBuf::from(s.trim());
    fs::canonicalize(&p).map(|_| p.clone()).unwrap_or(p)
}

/// Runs with a time bound: a hung child fails the test instead of hanging.
pub fn run(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).ok();
        v
    });
    let t_err = thread::spawn(move || {
        let mut v = Vec::new();
        err.read_to_end(&mut v).ok();
        v
    });
    let status = wait_bounded(&mut child, limit)
        .unwrap_or_else(|| panic!("command timed out after {limit:?}: {cmd:?}"));
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// Waits up to `limit` for `child`, reaping it through `Child` itself, so
/// no later `kill` or `try_wait` can reach a recycled pid (pids wrap at
/// 32768 here, and a test run starts thousands of processes). On timeout
/// the child is killed and reaped, and `None` is returned.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    // SAFETY: pidfd_open on our own, not yet reaped, child.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) };
    if fd < 0 {
        // Already reaped elsewhere, or no pidfd: nothing safe to wait on.
        return child.try_wait().ok().flatten();
    }
    let mut pfd = libc::pollfd {
        fd: fd as i32,
        events: libc::POLLIN,
        revents: 0,
    };
    let until = Instant::now() + limit;
    let exited = loop {
        let left = until.saturating_duration_since(Instant::now());
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n > 0 {
            break true;
        }
        if n == 0 && left.is_zero() {
            break false;
        }
    };
    // SAFETY: closing the pidfd we opened.
    unsafe { libc::close(fd as i32) };
    if exited {
        child.wait().ok()
    } else {
        child.kill().ok();
        child.wait().ok();
        None
    }
}

/// The files of `dir` (not recursive) with their contents, sorted by name.
pub fn dir_contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

pub fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// Our daemon on 127.0.0.1, on a port the kernel picks; stopped on Drop.
pub struct Daemon {
    pub child: Child,
    pub port: u16,
    pub log: Arc<Mutex<String>>,
}

/// The arguments that make a daemon (ours, or distcc 3.4's) serve in the
/// foreground on `listen`, on `port` (0: the kernel's choice, which ours
/// says in its log).
pub fn serve_args(listen: &str, port: u16) -> [String; 6] {
    [
        "--daemon",
        "--no-detach",
        "--listen",
        listen,
        "--port",
        &port.to_string(),
    ]
    .map(String::from)
}

impl Daemon {
    pub fn start(tree: &Tree, extra: &[&str]) -> Daemon {
        Daemon::start_with(tree, extra, |_| {})
    }

    pub fn start_with(tree: &Tree, extra: &[&str], adjust: impl FnOnce(&mut Command)) -> Daemon {
        let mut cmd = Command::new(tree.path("bin/distccd"));
        cmd.args(serve_args("127.0.0.1", 0))
            .arg("--log-stderr")
            .arg("--compiler-dir")
            .arg(tree.path("masq"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        adjust(&mut cmd);
        Daemon::spawn(cmd)
    }

    /// Starts a daemon from a prepared command (its stderr is taken over
    /// here), and waits for it to say where it listens.
    pub fn spawn(mut cmd: Command) -> Daemon {
        cmd.stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start distccd");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = log.clone();
        thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line.find("listening on ") {
                    let addr: Option<SocketAddr> = line[i + 13..]
                        .split(',')
                        .next()
                        .and_then(|a| a.parse().ok());
                    if let (Some(a), Some(tx)) = (addr, tx.take()) {
                        tx.send(a.port()).ok();
                    }
                }
                let mut l = log2.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(p) => p,
            Err(_) => {
                child.kill().ok();
                panic!("distccd did not start: {}", log.lock().unwrap());
            }
        };
        Daemon { child, port, log }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The log once `pred` holds for it: the daemon logs a job after its
    /// reply, so a client can finish before the line arrives.
    pub fn log_when(&self, pred: impl Fn(&str) -> bool) -> String {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log();
            if pred(&log) || Instant::now() >= until {
                return log;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGTERM and waits (bounded) for a clean exit.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        wait_bounded(&mut self.child, Duration::from_secs(30))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}

/// A port that was free a moment ago, for daemons that cannot report the
/// port they bound (the reference distccd).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port`.
pub fn wait_listening(port: u16, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Debian's distccd 3.4 on 127.0.0.1; stopped on Drop.
pub struct RefDaemon {
    child: Child,
    pub port: u16,
    pub logdir: tempfile::TempDir,
}

impl RefDaemon {
    pub fn available() -> bool {
        Path::new("/usr/bin/distccd").exists() && Path::new("/usr/lib/distcc").is_dir()
    }

    pub fn start() -> RefDaemon {
        let logdir = tempfile::tempdir().unwrap();
        fs::set_permissions(logdir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("/usr/bin/distccd")
                .args(serve_args("127.0.0.1", port))
                .args(["--allow", "127.0.0.1"])
                .arg("--log-file")
                .arg(logdir.path().join("distccd.log"))
                // Its own group: the reference signals its whole group on exit.
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start reference distccd");
            if wait_listening(port, Duration::from_secs(10)) {
                return RefDaemon {
                    child,
                    port,
                    logdir,
                };
            }
            child.kill().ok();
            child.wait().ok();
        }
        panic!("reference distccd did not start");
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for RefDaemon {
    fn drop(&mut self) {
        // The reference forks workers into its process group.
        // SAFETY: signalling our own child's group.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGTERM);
        }
        if wait_bounded(&mut self.child, Duration::from_secs(10)).is_none() {
            // SAFETY: as above.
            unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        }
    }
}

/// Compiles locally with the real compiler, for reference outputs.
pub fn local(tree: &Tree, compiler: &str, args: &[&str]) -> Output {
    let mut c = Command::new(compiler);
    c.args(args).current_dir(tree.work());
    run(c, Duration::from_secs(120))
}

/// A port that relays connections to our daemon on `port`, except
/// requests of one of our extensions whose `DIST` has `flag`: on those it
/// hangs up, as a daemon of ours from before that flag does on a version
/// it does not know.
pub fn relay_closing_on(port: u16, flag: u32) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let own = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let mut head = [0u8; 12];
            if client.read_exact(&mut head).is_err() {
                continue;
            }
            let dist = std::str::from_utf8(&head[4..])
                .ok()
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .unwrap_or(0);
            if &head[..4] == b"DIST" && dist > 0x100 && dist & flag != 0 {
                continue;
            }
            let mut daemon = TcpStream::connect(("127.0.0.1", port)).unwrap();
            std::io::Write::write_all(&mut daemon, &head).unwrap();
            let (c2, d2) = (client.try_clone().unwrap(), daemon.try_clone().unwrap());
            thread::spawn(move || relay(c2, d2));
            thread::spawn(move || relay(daemon, client));
        }
    });
    own
}

fn relay(mut from: TcpStream, mut to: TcpStream) {
    std::io::copy(&mut from, &mut to).ok();
    to.shutdown(Shutdown::Write).ok();
}

/// Waits, bounded, for a process that is not our child to end.
pub fn wait_gone(pid: i32) {
    // SAFETY: pidfd_open on a pid; a recycled pid could only make us wait
    // for another process, within the bound.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return; // already gone
    }
    let mut pfd = libc::pollfd {
        fd: fd as i32,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; then closing the pidfd we opened.
    let ready = unsafe { libc::poll(&mut pfd, 1, 120_000) };
    unsafe { libc::close(fd as i32) };
    assert_eq!(ready, 1, "process {pid} still running");
}
