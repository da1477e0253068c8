//! Faults on the way to a volunteer, injected as an operator would meet
//! them: a volunteer that stops (SIGSTOP), a network that is cut (a pair
//! of network namespaces the test makes, joined by a veth link it takes
//! down), a volunteer that cannot hold a job. The client gives up within
//! `DISTCC_IO_TIMEOUT` of the phase it is in and compiles here, correctly.

use std::fs;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use distcc::state::history::{self, Record};
use distcc::state::{self as jobs, Phase};

use crate::skip_unless;
use crate::util::*;

/// The budget the tests give each phase, in seconds.
const TIMEOUT: u64 = 6;

/// How long a phase may run: the 1.2x of the budget, plus what a
/// loaded machine adds to waking up at a deadline (seen: 1.5 s at a load
/// of 20 on two cores). The bug gave up after 2x, 3x with a retry.
fn allowed() -> Duration {
    Duration::from_secs(TIMEOUT).mul_f64(1.2) + Duration::from_secs(3)
}

const SRC: &str = "int twice(int x) { return 2 * x; }\n";

/// A process stopped with SIGSTOP until this is dropped.
pub struct Stopped(pub u32);

impl Stopped {
    pub fn new(pid: u32) -> Stopped {
        // SAFETY: signalling a child process of this test.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::kill(self.0 as i32, libc::SIGCONT) };
    }
}

/// The last job the client recorded in its history.
fn last_record(tree: &Tree) -> Record {
    history::read(&tree.path("state/state"), None)
        .pop()
        .expect("the job is in the history")
}

/// The client's phases with a volunteer, each with its own budget: the
/// go-ahead of a streamed job (awaited while the preprocessor runs), the
/// sending, and the compile with the reply's receiving.
#[derive(Clone, Copy, Debug)]
enum Held {
    GoAhead,
    Send,
    Compile,
}

impl Held {
    fn time(self, r: &Record) -> Duration {
        match self {
            Held::GoAhead => r.spent_in(Phase::Preprocess),
            Held::Send => r.spent_in(Phase::Send),
            Held::Compile => r.spent_in(Phase::Compile) + r.spent_in(Phase::Receive),
        }
    }
}

/// Checks that the job fell back after a timeout within the budget, and
/// that the fallback's object is right.
fn check_gave_up(
    tree: &Tree,
    out: &std::process::Output,
    obj: &str,
    want: &[u8],
    held: &[Held],
) -> Record {
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(fs::read(tree.work().join(obj)).unwrap(), want, "{err}");
    assert!(
        err.contains(&format!("timed out after {TIMEOUT} s")),
        "says it timed out and after how long: {err}"
    );
    let r = last_record(tree);
    // The phase that ran out is the longest of those it could have been.
    let (w, held) = held
        .iter()
        .map(|h| (h.time(&r), h))
        .max_by_key(|(t, _)| *t)
        .expect("a phase");
    println!("gave up after {w:?} in {held:?} (budget {TIMEOUT} s)");
    assert!(w >= Duration::from_secs(TIMEOUT), "gave up early: {w:?}");
    assert!(w <= allowed(), "gave up after {w:?}, budget {TIMEOUT} s");
    r
}

fn reference_object(tree: &Tree, obj: &str) -> Vec<u8> {
    let out = local(tree, "gcc", &["-O2", "-c", "t.c", "-o", obj]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    fs::read(tree.work().join(obj)).unwrap()
}

#[test]
fn a_stopped_volunteer_is_given_up_within_the_io_timeout() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("t.c", SRC);
    let want = reference_object(&tree, "want.o");
    let daemon = Daemon::start(&tree, &[]);
    // The kernel still accepts connections for a stopped daemon, and takes
    // a small request into its buffers: the client waits for the reply.
    let _stopped = Stopped::new(daemon.child.id());
    // Exact mode asks our daemon by digest first, which waits for an
    // answer within the send.
    for (how, hosts, stream, held) in [
        (
            "plain",
            format!("{},classic", daemon.host()),
            "0",
            Held::Compile,
        ),
        (
            "streamed",
            format!("{},classic", daemon.host()),
            "1",
            Held::GoAhead,
        ),
        ("exact", format!("{},cpp", daemon.host()), "1", Held::Send),
    ] {
        let obj = format!("{how}.o");
        let mut cmd = tree.client(&hosts, &["gcc", "-O2", "-c", "t.c", "-o", &obj]);
        cmd.env("DISTCC_IO_TIMEOUT", TIMEOUT.to_string())
            .env("DISTCC_STREAM", stream);
        let out = run(cmd, Duration::from_secs(120));
        println!("{how}:");
        check_gave_up(&tree, &out, &obj, &want, &[held]);
    }
}

/// Two network namespaces joined by a veth pair: the client's side
/// (10.231.0.1) and the volunteer's (10.231.0.2). The addresses exist only
/// inside them; dropping this deletes both, and the link with them.
struct Link {
    client: String,
    server: String,
    server_if: String,
}

impl Link {
    const SERVER_ADDR: &'static str = "10.231.0.2";

    /// `None` (the test skips) where namespaces cannot be made.
    fn new() -> Option<Link> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let tag = format!(
            "{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let link = Link {
            client: format!("dcc-c{tag}"),
            server: format!("dcc-s{tag}"),
            server_if: "vs".into(),
        };
        let ok = ip(&["netns", "add", &link.client]) && ip(&["netns", "add", &link.server]);
        let ok =
            ok && ip(&[
                "link",
                "add",
                "vc",
                "netns",
                &link.client,
                "type",
                "veth",
                "peer",
                "name",
                "vs",
                "netns",
                &link.server,
            ]) && ip(&[
                "-n",
                &link.client,
                "addr",
                "add",
                "10.231.0.1/30",
                "dev",
                "vc",
            ]) && ip(&[
                "-n",
                &link.server,
                "addr",
                "add",
                "10.231.0.2/30",
                "dev",
                "vs",
            ]) && ip(&["-n", &link.client, "link", "set", "vc", "up"])
                && ip(&["-n", &link.server, "link", "set", "vs", "up"])
                && ip(&["-n", &link.client, "link", "set", "lo", "up"])
                && ip(&["-n", &link.server, "link", "set", "lo", "up"]);
        ok.then_some(link)
    }

    /// `cmd` run inside the namespace `ns`.
    fn inside(ns: &str, cmd: &Command) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(cmd.get_program());
        c.args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        if let Some(d) = cmd.get_current_dir() {
            c.current_dir(d);
        }
        c.stdin(std::process::Stdio::null());
        c
    }

    /// Cuts the link: the volunteer's side goes down, so nothing passes
    /// either way and no error is reported to either end.
    fn cut(&self) {
        assert!(ip(&[
            "-n",
            &self.server,
            "link",
            "set",
            &self.server_if,
            "down"
        ]));
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        ip(&["netns", "del", &self.client]);
        ip(&["netns", "del", &self.server]);
    }
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A compiler for the volunteer that takes its time before compiling, so
/// a job is certainly mid-compile when the link is cut. The client runs
/// the same script, so both sides have one compiler identity (exact mode
/// checks it), and only a compile in a daemon's job dir waits.
fn slow_compiler(tree: &Tree) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = tree.path("slow");
    fs::create_dir_all(&dir).unwrap();
    let script = format!(
        "#!/bin/sh\ncase \"$PWD\" in */distccd_*) sleep 30;; esac\nexec {} \"$@\"\n",
        which("gcc").display()
    );
    fs::write(dir.join("gcc"), script).unwrap();
    fs::set_permissions(dir.join("gcc"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Waits (bounded) until the client's running job reaches `phase`.
fn await_phase(tree: &Tree, phase: Phase) -> bool {
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if jobs::list(&tree.path("state/state"))
            .iter()
            .any(|j| j.phase == phase)
        {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    false
}

/// Where a cut happens: while the volunteer compiles (its compiler is
/// slow, so the job is certainly there), or while the client uploads a
/// large source over a link slowed to take seconds.
#[derive(Clone, Copy, PartialEq)]
enum CutIn {
    Compile,
    Upload,
}

/// Runs three jobs (plain, streamed, exact) to a daemon across a link
/// that is cut once the client is in the phase `when` names, and checks
/// each gives up within the budget and falls back correctly.
fn cut_off(when: CutIn) {
    skip_unless!(have("gcc"), "gcc not installed");
    if Link::new().is_none() {
        eprintln!("SKIPPED: cannot make network namespaces (ip netns)");
        return;
    }
    let tree = Tree::new();
    let (source, phase, held) = match when {
        CutIn::Compile => (SRC.to_string(), Phase::Compile, &[Held::Compile][..]),
        CutIn::Upload => {
            // Four megabytes of preprocessed text, at 16 Mbit/s: seconds
            // of sending, past any socket buffer. Once the cut falls
            // after the last byte left, the job waits for the compile:
            // then that phase's budget holds.
            let text = "x".repeat(4 << 20);
            let src = format!("const char big[] = \"{text}\";\n{SRC}");
            (src, Phase::Send, &[Held::Send, Held::Compile][..])
        }
    };
    tree.write("t.c", &source);
    let want = reference_object(&tree, "want.o");
    for (how, cpp, stream) in [
        ("plain", "", "0"),
        ("streamed", "", "1"),
        ("exact", ",cpp", "1"),
    ] {
        // A fresh link and daemon for each case: nothing of the last cut
        // (neighbour entries, half-open connections) lingers.
        let link = Link::new().expect("namespaces");
        if when == CutIn::Upload {
            assert!(ip(&[
                "netns",
                "exec",
                &link.client,
                "tc",
                "qdisc",
                "add",
                "dev",
                "vc",
                "root",
                "tbf",
                "rate",
                "16mbit",
                "burst",
                "64kb",
                "latency",
                "100ms"
            ]));
        }
        let daemon = Daemon::spawn(Link::inside(&link.server, &daemon_command(&tree)));
        let hosts = format!("{}:{}{cpp}", Link::SERVER_ADDR, daemon.port);
        let obj = format!("{how}.o");
        let mut cmd = tree.client(&hosts, &["gcc", "-O2", "-c", "t.c", "-o", &obj]);
        let path = format!(
            "{}:{}",
            slow_compiler(&tree).display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("DISTCC_IO_TIMEOUT", TIMEOUT.to_string())
            .env("DISTCC_CONNECT_TIMEOUT", "20")
            .env("DISTCC_STREAM", stream)
            .env("PATH", path);
        let mut child = Link::inside(&link.client, &cmd)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if !await_phase(&tree, phase) {
            child.kill().ok();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{how}: never in {phase:?}: {}\ndaemon: {}",
                text(&out.stderr),
                daemon.log()
            );
        }
        link.cut();
        let cut = Instant::now();
        let status = wait_bounded(&mut child, Duration::from_secs(180)).expect("client hung");
        let after_cut = cut.elapsed();
        let mut stderr = Vec::new();
        std::io::Read::read_to_end(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        let out = std::process::Output {
            status,
            stdout: Vec::new(),
            stderr,
        };
        println!("{how}:");
        let r = check_gave_up(&tree, &out, &obj, &want, held);
        // Measured from outside: from the cut to the client's exit, less
        // its local compile, and a second more for exiting on a busy
        // machine.
        let here = after_cut.saturating_sub(r.spent_in(Phase::Fallback));
        println!("{how}: {here:?} from the cut to giving up");
        assert!(
            here <= allowed() + Duration::from_secs(1),
            "{how}: {here:?} after the cut"
        );
    }
}

/// Our daemon for the volunteer's namespace, its compiler slowed down.
fn daemon_command(tree: &Tree) -> Command {
    let slow = slow_compiler(tree);
    let mut cmd = Command::new(tree.path("bin/distccd"));
    cmd.args(serve_args(Link::SERVER_ADDR, 0))
        .args(["--log-stderr", "--allow", "10.231.0.0/30"])
        // Room for every case's compile, each held by the slow compiler.
        .args(["--jobs", "8", "--no-sandbox", "--compiler-dir"])
        .arg(tree.path("masq"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                slow.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
    cmd
}

#[test]
fn a_volunteer_cut_off_mid_compile_is_given_up_within_the_io_timeout() {
    cut_off(CutIn::Compile);
}

#[test]
fn a_volunteer_cut_off_mid_upload_is_given_up_within_the_io_timeout() {
    cut_off(CutIn::Upload);
}
