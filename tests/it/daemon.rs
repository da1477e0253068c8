//! distccd as a production daemon: inetd mode, --allow, pid file, signals,
//! detaching, job slots, job lifetime, temp-file hygiene, privileges, the
//! stats page and the log.
//!
//! Requests are written with the library's own protocol module, so a test
//! controls exactly when a client stalls or vanishes. The daemon's PATH
//! starts with a wrapper named `gcc` that records who ran it and how many
//! ran at once, sleeps when the source asks for it, then runs the real gcc:
//! the whitelist allows `gcc` (linked in the tree's masquerade dir) and
//! resolves it on PATH, which finds the wrapper.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use distcc::protocol::{self, Limits, Reply, RequestHead, Version};

use crate::blocking::wait_for;
use crate::skip_unless;
use crate::util::*;

const QUICK: &str = "int f(void) { return 42; }\n";
/// The wrapper sleeps 1 s on this source, so that jobs that may run
/// together are likely to be seen together.
const PAUSE: &str = "int pause_job_marker(void) { return 1; }\n";
/// The wrapper never finishes this source by itself (it sleeps for an hour,
/// past any bound of these tests): only a kill of its group ends it.
const SLOW: &str = "int slow_job_marker(void) { return 2; }\n";
/// The wrapper waits (bounded) until it has seen two compilers running at
/// once, then sleeps 1 s like PAUSE: two overlap whenever the daemon lets
/// them, however slowly a loaded machine starts the second.
const PAIR: &str = "int pair_job_marker(void) { return 3; }\n";
/// awk over the wrapper's events: the most compilers running at once.
const MOST_AT_ONCE: &str =
    "$1 == \"start\" { n++ } $1 == \"end\" { n-- } n > m { m = n } END { print m + 0 }";

const T: Duration = Duration::from_secs(60);

/// A tree plus what the daemon under test gets: its own TMPDIR (`dtmp/`),
/// the `gcc` wrapper (`fake/`), and the wrapper's records (`rec/`).
struct Rig {
    tree: Tree,
}

/// The rig's fake compilers record what they see in files outside the job
/// dir, which the daemon's sandbox would rightly forbid.
const NO_SANDBOX: &str = "--no-sandbox";

fn mkdir_open(p: &Path) {
    fs::create_dir_all(p).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o777)).unwrap();
}

fn script(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

impl Rig {
    fn new() -> Rig {
        let tree = Tree::new();
        for d in ["dtmp", "fake", "rec", "logs"] {
            mkdir_open(&tree.path(d));
        }
        let rec = tree.path("rec");
        let r = rec.display();
        // No lock and no helper process on a normal job's way: under load a
        // lock shared by every job turns into a convoy that holds quick jobs
        // for seconds. Appends of a short line are atomic, so concurrency is
        // replayed from the start/end events afterwards instead.
        let wrapper = format!(
            "#!/bin/sh\n\
             id -u > {r}/uid\n\
             echo start >> {r}/events\n\
             : > {r}/started.$$\n\
             case $(grep -hos '[a-z]*_job_marker' input*) in\n\
             pause_job_marker) sleep 1 ;;\n\
             slow_job_marker) sleep 3600 ;;\n\
             pair_job_marker) i=0; \
             until [ \"$(awk '{most}' {r}/events)\" -ge 2 ] || [ $i -ge 300 ]; do \
             sleep 0.1; i=$((i + 1)); done; sleep 1 ;;\n\
             esac\n\
             {gcc} \"$@\"; s=$?\n\
             echo end >> {r}/events\n\
             exit $s\n",
            most = MOST_AT_ONCE,
            gcc = which("gcc").display()
        );
        script(&tree.path("fake/gcc"), &wrapper);
        // Not linked in the masquerade dir: the whitelist must refuse it.
        script(
            &tree.path("fake/evilcc"),
            &format!("#!/bin/sh\ntouch {r}/evil\n"),
        );
        Rig { tree }
    }

    fn path_var(&self) -> std::ffi::OsString {
        let mut dirs = vec![self.tree.path("fake")];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(dirs).unwrap()
    }

    fn env(&self, c: &mut Command) {
        c.env("PATH", self.path_var())
            .env("TMPDIR", self.tree.path("dtmp"))
            .env_remove("DISTCC_CMDLIST")
            .env_remove("DISTCCD_SAVE_TEMPS");
    }

    fn daemon(&self, extra: &[&str]) -> Daemon {
        let mut args = vec![NO_SANDBOX];
        args.extend_from_slice(extra);
        Daemon::start_with(&self.tree, &args, |c| self.env(c))
    }

    /// A distccd command line with the rig's environment, not started.
    fn distccd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(self.tree.path("bin/distccd"));
        c.args(args)
            .arg(NO_SANDBOX)
            .arg("--compiler-dir")
            .arg(self.tree.path("masq"))
            .stdin(Stdio::null());
        self.env(&mut c);
        c
    }

    fn temp_entries(&self) -> Vec<String> {
        fs::read_dir(self.tree.path("dtmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// The most compilers the wrapper saw running at once (a killed one
    /// never ends, so only for tests that kill none).
    fn max_seen(&self) -> u32 {
        let events = fs::read_to_string(self.tree.path("rec/events")).unwrap_or_default();
        let (mut running, mut most) = (0u32, 0u32);
        for e in events.lines() {
            match e {
                "start" => running += 1,
                "end" => running = running.saturating_sub(1),
                _ => {}
            }
            most = most.max(running);
        }
        most
    }

    fn compiles_started(&self) -> usize {
        fs::read_dir(self.tree.path("rec"))
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().starts_with("started.")
            })
            .count()
    }
}

/// A protocol-1 request: `argv`, then `source` as its body.
pub(crate) fn request_for(argv: &[&str], source: &str) -> Vec<u8> {
    let head = RequestHead {
        version: Version::V1,
        cwd: None,
        argv: argv.iter().map(Into::into).collect(),
    };
    let mut buf = Vec::new();
    protocol::write_request_head(&mut buf, &head).unwrap();
    protocol::write_body(
        &mut buf,
        protocol::DOTI,
        Version::V1.codec(),
        source.as_bytes(),
    )
    .unwrap();
    buf
}

fn request(source: &str) -> Vec<u8> {
    request_for(&["gcc", "-O2", "-c", "t.c", "-o", "t.o"], source)
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    s
}

/// Sends a request on `s` and reads the reply.
fn exchange(mut s: TcpStream, req: &[u8]) -> Result<Reply, String> {
    s.write_all(req).map_err(|e| e.to_string())?;
    protocol::read_reply(
        &mut s,
        Version::V1,
        Version::V1.codec(),
        &Limits::for_replies(),
    )
    .map_err(|e| e.to_string())
}

fn compile(port: u16, source: &str) -> Reply {
    exchange(connect(port), &request(source)).expect("reply")
}

fn assert_compiled(r: &Reply) {
    assert_eq!(r.status, 0, "{}", text(&r.stderr));
    assert!(r.object().starts_with(b"\x7fELF"), "no object");
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: signalling a daemon this test started.
    unsafe { libc::kill(pid as i32, sig) };
}

/// The port from a "<what> on ADDR" log line.
pub fn port_in(log: &str, what: &str) -> Option<u16> {
    let at = log.find(what)? + what.len();
    let addr: SocketAddr = log[at..]
        .split(|c: char| c == ',' || c.is_whitespace())
        .next()?
        .parse()
        .ok()?;
    Some(addr.port())
}

pub fn fetch_stats(port: u16) -> String {
    let mut s = connect(port);
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    page
}

pub fn stat(page: &str, key: &str) -> u64 {
    page.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {page}"))
}

/// The stats port of a daemon started with `--stats --stats-port 0`.
pub fn stats_port(d: &Daemon) -> u16 {
    let mut port = None;
    wait_for(Duration::from_secs(10), || {
        port = port_in(&d.log(), "stats on ");
        port.is_some()
    });
    port.unwrap_or_else(|| panic!("no stats port: {}", d.log()))
}

fn stop_ok(d: &mut Daemon) {
    let status = d.stop().expect("daemon did not stop");
    assert_eq!(status.code(), Some(0), "{}", d.log());
}

#[test]
fn inetd_mode_over_a_socketpair() {
    skip_unless!(
        have("x86_64-linux-gnu-gcc"),
        "x86_64-linux-gnu-gcc not installed"
    );
    let rig = Rig::new();
    let req = fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/corpus/v1-hello-request.bin"
    ))
    .unwrap();
    // With --inetd, and without: a socket on stdin means inetd mode, as
    // under systemd's Accept=yes.
    for args in [&["--inetd", "--log-stderr"][..], &["--log-stderr"]] {
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        let theirs: OwnedFd = theirs.into();
        let mut cmd = rig.distccd(args);
        cmd.stdin(Stdio::from(theirs.try_clone().unwrap()))
            .stdout(Stdio::from(theirs))
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        drop(cmd);
        ours.set_read_timeout(Some(T)).unwrap();
        ours.write_all(&req).unwrap();
        let reply = protocol::read_reply(
            &mut ours,
            Version::V1,
            Version::V1.codec(),
            &Limits::for_replies(),
        )
        .unwrap();
        assert_compiled(&reply);
        let status = wait_bounded(&mut child, T).expect("inetd daemon did not exit");
        let mut log = String::new();
        child.stderr.take().unwrap().read_to_string(&mut log).ok();
        assert_eq!(status.code(), Some(0), "{args:?}: {log}");
        assert!(
            log.contains("inetd: x86_64-linux-gnu-gcc exited 0"),
            "{log}"
        );
    }
    assert!(rig.temp_entries().is_empty());
}

#[test]
fn sigterm_in_inetd_mode_kills_the_compiler_and_cleans_up() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    let theirs: OwnedFd = theirs.into();
    let mut cmd = rig.distccd(&["--inetd", "--log-stderr"]);
    cmd.stdin(Stdio::from(theirs.try_clone().unwrap()))
        .stdout(Stdio::from(theirs))
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    ours.set_read_timeout(Some(T)).unwrap();
    ours.write_all(&request(SLOW)).unwrap();
    assert!(wait_for(T, || rig.compiles_started() == 1));
    let started = Instant::now();
    signal(child.id(), libc::SIGTERM);
    let reply = protocol::read_reply(
        &mut ours,
        Version::V1,
        Version::V1.codec(),
        &Limits::for_replies(),
    )
    .unwrap();
    assert_eq!(reply.status, 114 << 8, "{}", text(&reply.stderr));
    assert!(text(&reply.stderr).contains("shutting down"));
    let status = wait_bounded(&mut child, T).expect("inetd daemon did not exit");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(status.code(), Some(0));
    assert!(rig.temp_entries().is_empty());
}

#[test]
fn allow_serves_the_listed_address_and_refuses_another() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    let mut d = rig.daemon(&["--allow", "127.0.0.1"]);
    assert_compiled(&compile(d.port, QUICK));

    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
        .unwrap();
    sock.connect(&SocketAddr::from(([127, 0, 0, 1], d.port)).into())
        .unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(T)).unwrap();
    let mut s2 = s.try_clone().unwrap();
    s2.write_all(&request(QUICK)).ok();
    let mut got = Vec::new();
    let _ = s2.read_to_end(&mut got);
    assert!(got.is_empty(), "a refused client got a reply");
    assert!(
        wait_for(Duration::from_secs(10), || d
            .log()
            .contains("refused connection from 127.0.0.2")),
        "{}",
        d.log()
    );
    assert_eq!(rig.compiles_started(), 1, "the refused request ran");
    stop_ok(&mut d);
}

#[test]
fn pid_file_appears_after_listen_and_goes_after_sigterm() {
    let rig = Rig::new();
    let pid_file = rig.tree.path("logs/distccd.pid");
    let mut d = rig.daemon(&["--pid-file", pid_file.to_str().unwrap()]);
    // Listening is logged after the pid file is written.
    let pid = fs::read_to_string(&pid_file).expect("pid file after listen");
    assert_eq!(pid.trim(), d.child.id().to_string());
    stop_ok(&mut d);
    assert!(!pid_file.exists(), "pid file left after SIGTERM");
}

#[test]
fn jobs_bounds_running_compilers() {
    skip_unless!(have("gcc") && have("flock"), "gcc or flock not installed");
    let rig = Rig::new();
    let mut d = rig.daemon(&["--jobs", "2", "--stats", "--stats-port", "0"]);
    let port = d.port;
    let clients: Vec<_> = (0..10)
        .map(|_| thread::spawn(move || compile(port, PAIR)))
        .collect();
    for c in clients {
        assert_compiled(&c.join().unwrap());
    }
    assert_eq!(
        rig.max_seen(),
        2,
        "compilers at once (1 would prove nothing)"
    );
    let page = fetch_stats(stats_port(&d));
    assert_eq!(stat(&page, "jobs_max_running"), 2, "{page}");
    assert_eq!(stat(&page, "jobs_done"), 10, "{page}");
    stop_ok(&mut d);
}

#[test]
fn connections_past_the_limit_wait_in_the_backlog() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    let mut d = rig.daemon(&["--jobs", "1", "--max-connections", "1"]);
    let port = d.port;
    let clients: Vec<_> = (0..6)
        .map(|_| thread::spawn(move || compile(port, QUICK)))
        .collect();
    for c in clients {
        assert_compiled(&c.join().unwrap());
    }
    stop_ok(&mut d);
}

#[test]
fn job_lifetime_ends_a_runaway_compile_with_a_clear_error() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    let mut d = rig.daemon(&["--job-lifetime", "1", "--stats", "--stats-port", "0"]);
    let started = Instant::now();
    let reply = compile(d.port, SLOW);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(reply.status, 118 << 8, "distcc's timeout code");
    assert!(
        text(&reply.stderr).contains("killed after --job-lifetime of 1 s"),
        "{}",
        text(&reply.stderr)
    );
    assert!(reply.object().is_empty());
    let page = fetch_stats(stats_port(&d));
    assert_eq!(stat(&page, "jobs_timed_out"), 1, "{page}");
    stop_ok(&mut d);
    assert!(rig.temp_entries().is_empty());
}

/// The stats page once no job runs and `dropped` connections were dropped.
fn settled_stats(d: &Daemon, dropped: u64) -> String {
    let port = stats_port(d);
    let settled = wait_for(T, || {
        let p = fetch_stats(port);
        stat(&p, "jobs_running") == 0 && stat(&p, "connections_dropped") == dropped
    });
    let page = fetch_stats(port);
    assert!(settled, "{page}");
    page
}

#[test]
fn temp_dir_is_empty_after_200_jobs_including_killed_ones() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    // Two daemons share the rig's TMPDIR. Only the runaways go to the one
    // with a --job-lifetime: SLOW never finishes, so its lifetime is what
    // ends each, and no other job can run into it, however long a loaded
    // machine makes a quick compile take.
    let stats = ["--stats", "--stats-port", "0"];
    let mut limited = rig.daemon(&[&["--jobs", "8", "--job-lifetime", "1"][..], &stats].concat());
    let mut unlimited = rig.daemon(&[&["--jobs", "4"][..], &stats].concat());
    let (runaways, others) = (limited.port, unlimited.port);
    let workers: Vec<_> = (0..8)
        .map(|_| {
            thread::spawn(move || {
                for i in 0..25 {
                    match i {
                        // Killed at its lifetime.
                        0 => assert_eq!(compile(runaways, SLOW).status, 118 << 8),
                        // The client vanishes while its compiler runs.
                        1 => connect(others).write_all(&request(SLOW)).unwrap(),
                        // The client vanishes mid-request.
                        2 | 3 => {
                            let req = request(QUICK);
                            connect(others).write_all(&req[..req.len() / 2]).unwrap();
                        }
                        _ => assert_compiled(&compile(others, QUICK)),
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    // 8 killed at their lifetime.
    let page = settled_stats(&limited, 0);
    assert_eq!(stat(&page, "jobs_done"), 0, "{page}");
    assert_eq!(stat(&page, "jobs_failed"), 8, "{page}");
    assert_eq!(stat(&page, "jobs_timed_out"), 8, "{page}");
    // 168 compiled, 8 killed when their client hung up, 16 requests never
    // complete.
    let page = settled_stats(&unlimited, 24);
    assert_eq!(stat(&page, "jobs_done"), 168, "{page}");
    assert_eq!(stat(&page, "jobs_failed"), 0, "{page}");
    assert_eq!(stat(&page, "jobs_timed_out"), 0, "{page}");
    assert_eq!(rig.temp_entries(), Vec::<String>::new());
    stop_ok(&mut limited);
    stop_ok(&mut unlimited);
    assert_eq!(rig.temp_entries(), Vec::<String>::new());
}

#[test]
fn a_client_that_vanishes_leaves_no_temp_files() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    let mut d = rig.daemon(&["--stats", "--stats-port", "0"]);
    let stats = stats_port(&d);
    // Mid-request.
    let req = request(QUICK);
    connect(d.port).write_all(&req[..req.len() - 5]).unwrap();
    // Mid-compile: gone once the compiler has started, which cannot end
    // before the hang-up is seen.
    let s = connect(d.port);
    (&s).write_all(&request(SLOW)).unwrap();
    assert!(wait_for(T, || rig.compiles_started() == 1));
    drop(s);
    assert!(
        wait_for(T, || {
            let p = fetch_stats(stats);
            stat(&p, "connections_dropped") == 2 && stat(&p, "jobs_running") == 0
        }),
        "{}",
        fetch_stats(stats)
    );
    assert_eq!(rig.temp_entries(), Vec::<String>::new());
    // The job dir goes before the reply: a daemon killed the moment its
    // client has the object leaves nothing behind.
    assert_compiled(&compile(d.port, QUICK));
    assert_eq!(rig.temp_entries(), Vec::<String>::new());
    stop_ok(&mut d);
}

/// An `--io-timeout` no test waits for, so no normal job can reach it.
const NEVER: &str = "3600";

#[test]
fn an_idle_client_is_cut_off_without_holding_the_job_slot() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    // The slot: while an idle client is connected (its timeout far off,
    // however slow the compile), the only job slot serves someone else.
    let mut d = rig.daemon(&["--jobs", "1", "--io-timeout", NEVER]);
    let mut idle = connect(d.port);
    idle.write_all(b"DIST00000001").unwrap();
    assert_compiled(&compile(d.port, QUICK));
    idle.set_nonblocking(true).unwrap();
    let e = idle
        .read(&mut [0u8; 64])
        .expect_err("the idle client was cut off");
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    drop(idle);
    stop_ok(&mut d);

    // The cut-off: after the I/O timeout, with no reply. `connect`'s read
    // timeout (T, well past it) ends the wait if it never comes.
    let mut d = rig.daemon(&["--jobs", "1", "--io-timeout", "2"]);
    let started = Instant::now();
    let mut idle = connect(d.port);
    idle.write_all(b"DIST00000001").unwrap();
    let mut buf = [0u8; 64];
    let got = loop {
        match idle.read(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    let took = started.elapsed();
    assert!(
        matches!(got, Ok(0))
            || got
                .as_ref()
                .is_err_and(|e| e.kind() == io::ErrorKind::ConnectionReset),
        "an idle client got {got:?} after {took:?}"
    );
    assert!(
        took >= Duration::from_secs(2),
        "cut off after {took:?} ({got:?})"
    );
    stop_ok(&mut d);
}

#[test]
fn no_fork_serves_one_connection_at_a_time_in_the_foreground() {
    skip_unless!(have("gcc") && have("flock"), "gcc or flock not installed");
    let rig = Rig::new();
    let mut d = rig.daemon(&["--no-fork", "--jobs", "4"]);
    let port = d.port;
    let clients: Vec<_> = (0..3)
        .map(|_| thread::spawn(move || compile(port, PAUSE)))
        .collect();
    for c in clients {
        assert_compiled(&c.join().unwrap());
    }
    assert_eq!(rig.max_seen(), 1);
    // Still our child: it did not detach.
    assert!(d.child.try_wait().unwrap().is_none());
    stop_ok(&mut d);
}

#[test]
fn sigterm_lets_a_running_job_finish() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    let mut d = rig.daemon(&[]);
    let port = d.port;
    let client = thread::spawn(move || compile(port, PAUSE));
    assert!(wait_for(T, || rig.compiles_started() == 1));
    signal(d.child.id(), libc::SIGTERM);
    assert!(wait_for(T, || d.log().contains("draining")), "{}", d.log());
    assert_compiled(&client.join().unwrap());
    let status = wait_bounded(&mut d.child, T).expect("daemon did not exit");
    assert_eq!(status.code(), Some(0), "{}", d.log());
    assert!(rig.temp_entries().is_empty());
}

#[test]
fn user_nobody_runs_compilers_as_nobody() {
    skip_unless!(have("gcc"), "gcc not installed");
    // SAFETY: getter.
    skip_unless!(unsafe { libc::geteuid() } == 0, "needs root");
    let rig = Rig::new();
    let mut d = rig.daemon(&["--user", "nobody"]);
    assert_compiled(&compile(d.port, QUICK));
    let uid = fs::read_to_string(rig.tree.path("rec/uid")).unwrap();
    // SAFETY: getpwnam with a valid C string; the id is copied out at once.
    let nobody = unsafe {
        let pw = libc::getpwnam(c"nobody".as_ptr());
        assert!(!pw.is_null());
        (*pw).pw_uid
    };
    assert_eq!(uid.trim(), nobody.to_string());
    stop_ok(&mut d);
}

#[test]
fn root_that_cannot_drop_privileges_does_not_serve() {
    // SAFETY: getter.
    skip_unless!(unsafe { libc::geteuid() } == 0, "needs root");
    let rig = Rig::new();
    let mut cmd = rig.distccd(&["--log-stderr", "--user", "no-such-user-here"]);
    cmd.args(serve_args("127.0.0.1", 0));
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(112), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("refusing to compile as root"));
    assert!(!text(&out.stderr).contains("listening on"));
}

#[test]
fn user_is_ignored_with_a_warning_when_not_root() {
    skip_unless!(have("gcc"), "gcc not installed");
    // SAFETY: getter.
    skip_unless!(
        unsafe { libc::geteuid() } == 0,
        "needs root to become nobody"
    );
    let rig = Rig::new();
    let mut d = Daemon::start_with(&rig.tree, &["--user", "root", NO_SANDBOX], |c| {
        rig.env(c);
        c.uid(65534).gid(65534);
    });
    assert!(d.log().contains("--user root ignored"), "{}", d.log());
    assert_compiled(&compile(d.port, QUICK));
    stop_ok(&mut d);
}

/// distcc 3.4's opt-out of its whitelist is accepted (its test suite and
/// Debian's client over ssh pass it), said once to change nothing, and
/// changes nothing: a compiler outside the whitelist still does not run.
#[test]
fn enable_tcp_insecure_is_accepted_and_changes_nothing() {
    let rig = Rig::new();
    let mut d = rig.daemon(&["--enable-tcp-insecure"]);
    let log = d.log_when(|l| l.contains("--enable-tcp-insecure"));
    assert_eq!(log.matches("--enable-tcp-insecure").count(), 1, "{log}");
    assert!(log.contains("only allowed compilers"), "{log}");
    let req = request_for(&["evilcc", "-c", "t.c", "-o", "t.o"], QUICK);
    let r = exchange(connect(d.port), &req).unwrap();
    assert_eq!(r.status, 110 << 8, "{}", text(&r.stderr));
    assert!(!rig.tree.path("rec/evil").exists(), "evilcc ran");
    stop_ok(&mut d);
}

#[test]
fn compilers_outside_the_whitelist_do_not_run() {
    let rig = Rig::new();
    let mut d = rig.daemon(&[]);
    let evil = rig.tree.path("fake/evilcc");
    for (argv0, code) in [("evilcc", 110), (evil.to_str().unwrap(), 101), ("sh", 110)] {
        let req = request_for(&[argv0, "-c", "t.c", "-o", "t.o"], QUICK);
        let r = exchange(connect(d.port), &req).unwrap();
        assert_eq!(r.status, code << 8, "{argv0}");
        assert!(
            text(&r.stderr).contains("not"),
            "{argv0}: {}",
            text(&r.stderr)
        );
    }
    assert!(
        !rig.tree.path("rec/evil").exists(),
        "a refused compiler ran"
    );
    stop_ok(&mut d);
}

#[test]
fn stats_page_over_tcp() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    let mut d = rig.daemon(&["--stats", "--stats-port", "0", "--jobs", "3"]);
    assert_compiled(&compile(d.port, QUICK));
    let broken = compile(d.port, "int g(void) { return 1 +; }\n");
    assert_eq!(broken.status, 1 << 8);
    let page = fetch_stats(stats_port(&d));
    assert!(page.starts_with("HTTP/1.0 200 OK\r\n"), "{page}");
    assert!(page.contains("Content-Type: text/plain"), "{page}");
    stat(&page, "uptime");
    assert_eq!(stat(&page, "jobs_limit"), 3, "{page}");
    assert_eq!(stat(&page, "jobs_running"), 0, "{page}");
    assert_eq!(stat(&page, "jobs_done"), 1, "{page}");
    assert_eq!(stat(&page, "jobs_failed"), 1, "{page}");
    assert_eq!(stat(&page, "compiler gcc"), 2, "{page}");
    // The block distcc 3.4 serves, which its monitoring plugins parse.
    assert!(
        page.contains("\r\n\r\nargv /distccd\n<distccstats>\n"),
        "{page}"
    );
    assert!(page.contains("\n</distccstats>\n"), "{page}");
    assert_eq!(stat(&page, "dcc_tcp_accept"), 2, "{page}");
    assert_eq!(stat(&page, "dcc_compile_ok"), 1, "{page}");
    assert_eq!(stat(&page, "dcc_compile_error"), 1, "{page}");
    assert_eq!(stat(&page, "dcc_max_kids"), 3, "{page}");
    assert_eq!(stat(&page, "dcc_current_load"), 0, "{page}");
    assert_eq!(stat(&page, "dcc_num_compiles1"), 2, "{page}");
    assert!(page.contains("\ndcc_longest_job t.c\n"), "{page}");
    assert!(page.contains("\ndcc_longest_job_compiler gcc\n"), "{page}");
    assert!(page.contains(" MB\n</distccstats>"), "{page}");
    stop_ok(&mut d);
}

#[test]
fn version_and_help() {
    let rig = Rig::new();
    let out = run(rig.distccd(&["--version"]), T);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).starts_with("distccd "),
        "{}",
        text(&out.stdout)
    );
    let out = run(rig.distccd(&["--help"]), T);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for opt in [
        "--nice",
        "--port",
        "--pid-file",
        "--verbose",
        "--no-detach",
        "--no-fork",
        "--log-file",
        "--log-stderr",
        "--inetd",
        "--daemon",
        "--no-fifo",
        "--allow",
        "--allow-private",
        "--listen",
        "--jobs",
        "--job-lifetime",
        "--user",
        "--log-level",
        "--stats",
        "--stats-port",
        "--io-timeout",
    ] {
        assert!(help.contains(opt), "--help lacks {opt}: {help}");
    }
}

/// A daemon known by its pid alone (detached, or logging to a file);
/// killed on drop unless the test saw it exit.
struct Detached {
    pid: Option<u32>,
}

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            signal(pid, libc::SIGKILL);
        }
    }
}

/// Gone, or a zombie nobody has reaped yet.
fn is_dead(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => matches!(stat_field(&s, 2).as_str(), "Z" | "X"),
    }
}

/// Field `n` (0-based) of /proc/PID/stat, after the command name.
fn stat_field(stat: &str, n: usize) -> String {
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(n - 2).unwrap().to_string()
}

/// Waits for "listening on ADDR" in a log file.
fn listening_port(log: &Path) -> u16 {
    let mut port = None;
    wait_for(Duration::from_secs(20), || {
        port = port_in(
            &fs::read_to_string(log).unwrap_or_default(),
            "listening on ",
        );
        port.is_some()
    });
    port.unwrap_or_else(|| panic!("not listening: {:?}", fs::read_to_string(log)))
}

fn spawn_logged(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn detaches_and_the_pid_file_names_the_live_daemon() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    let pid_file = rig.tree.path("logs/d.pid");
    let log = rig.tree.path("logs/d.log");
    let mut cmd = rig.distccd(&["--daemon", "--listen", "127.0.0.1", "--port", "0"]);
    cmd.arg("--pid-file")
        .arg(&pid_file)
        .arg("--log-file")
        .arg(&log);
    // Returns once the daemon is ready: its output pipes close too.
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pid: u32 = fs::read_to_string(&pid_file)
        .expect("pid file once the starter returned")
        .trim()
        .parse()
        .unwrap();
    let mut guard = Detached { pid: Some(pid) };
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("daemon alive");
    assert!(!is_dead(pid));
    assert_ne!(stat_field(&stat, 5), pid.to_string(), "a session leader");
    assert_eq!(stat_field(&stat, 6), "0", "has a controlling terminal");
    assert_compiled(&compile(listening_port(&log), QUICK));

    signal(pid, libc::SIGTERM);
    assert!(
        wait_for(Duration::from_secs(30), || is_dead(pid)
            && !pid_file.exists()),
        "daemon still running or pid file left"
    );
    guard.pid = None;
}

#[test]
fn sighup_reopens_the_log_file() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    let log = rig.tree.path("logs/d.log");
    let mut child = spawn_logged(
        rig.distccd(&[])
            .args(serve_args("127.0.0.1", 0))
            .arg("--log-file")
            .arg(&log),
    );
    let mut guard = Detached {
        pid: Some(child.id()),
    };
    let port = listening_port(&log);
    let rotated = rig.tree.path("logs/d.log.1");
    fs::rename(&log, &rotated).unwrap();
    signal(child.id(), libc::SIGHUP);
    assert!(
        wait_for(T, || fs::read_to_string(&log)
            .is_ok_and(|l| l.contains("log reopened"))),
        "no new log file"
    );
    assert_compiled(&compile(port, QUICK));
    assert!(
        wait_for(T, || fs::read_to_string(&log)
            .is_ok_and(|l| l.contains(": gcc status 0"))),
        "{:?}",
        fs::read_to_string(&log)
    );
    let old = fs::read_to_string(&rotated).unwrap();
    assert!(old.contains("listening on"));
    assert!(
        !old.contains("gcc status"),
        "written to the rotated file: {old}"
    );
    signal(child.id(), libc::SIGTERM);
    let status = wait_bounded(&mut child, T).expect("daemon did not stop");
    guard.pid = None;
    assert_eq!(status.code(), Some(0));
}

/// As root, a log file in a directory only root may enter is opened before
/// root is dropped and written from then on: every line lands there, and
/// stderr gets no error per line.
#[test]
fn a_log_file_only_root_can_reach_is_written_after_dropping_root() {
    skip_unless!(
        have("gcc") && unsafe { libc::geteuid() } == 0,
        "needs root and gcc"
    );
    let rig = Rig::new();
    let private = rig.tree.path("private");
    fs::create_dir_all(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    let log = private.join("d.log");
    let mut child = rig
        .distccd(&[])
        .args(serve_args("127.0.0.1", 0))
        .arg("--log-file")
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start distccd");
    let mut guard = Detached {
        pid: Some(child.id()),
    };
    let port = listening_port(&log);
    assert_compiled(&compile(port, QUICK));
    assert!(
        wait_for(T, || fs::read_to_string(&log)
            .is_ok_and(|l| l.contains(": gcc status 0"))),
        "{:?}",
        fs::read_to_string(&log)
    );
    signal(child.id(), libc::SIGTERM);
    let status = wait_bounded(&mut child, T).expect("daemon did not stop");
    guard.pid = None;
    assert_eq!(status.code(), Some(0));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.is_empty(), "stderr: {stderr}");
}
