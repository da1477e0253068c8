//! Hostile clients, sent raw over TCP to a running daemon while a real
//! build goes through it. Every attack that tries to run something or
//! write a file aims at a marker in a world-writable dir (so the daemon's
//! user could create it if the attack worked); the attack passes if the
//! marker stays absent and the daemon refuses (STAT 101/110, reason in
//! SERR) or drops the connection. At the end the build's objects must
//! equal local gcc's, the daemon must still be up and serve a job, and the
//! marker dir must hold only what the test planted. The attackers that only
//! a timeout stops (idle sockets, a slowloris) go again to a second daemon
//! with a short `--io-timeout`, which no build client has to beat.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use distcc::protocol::{self, Limits, Reply, Version};

use crate::hostile_attacks::*;
use crate::skip_unless;
use crate::util::*;

/// `--io-timeout` of the daemon that only attackers use: how long a client
/// may take to send its request.
const IO_TIMEOUT: u64 = 3;
/// How late past `IO_TIMEOUT` a loaded machine may drop an attacker.
const GRACE: u64 = 30;
/// `--io-timeout` of the daemon the build uses: its clients stream while
/// they preprocess, and no slow one on a loaded machine may reach it.
const NEVER: &str = "3600";
/// How long an attack's answer may take: a real compile on a loaded machine.
const ANSWER: Duration = Duration::from_secs(60);
const IDLE: usize = 500;
const BUILD_FILES: usize = 20;

/// What a daemon did with one request.
#[derive(Debug)]
enum Outcome {
    /// A distcc exit code as the status, with the reason on stderr.
    Refused {
        code: u32,
        serr: String,
    },
    Compiled(Reply),
    /// Connection closed without a reply.
    Dropped(String),
    /// No answer and no close within our bound: the daemon is holding it.
    Hung,
}

/// Sends `bytes` and reads the reply (bounded). `half_close` closes our
/// side first; a job meant to compile keeps it open, since a daemon (ours
/// and the reference) takes a half-close for a client that gave up.
fn exchange_with(port: u16, version: Version, bytes: &[u8], half_close: bool) -> Outcome {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(ANSWER)).unwrap();
    s.set_write_timeout(Some(ANSWER)).unwrap();
    if let Err(e) = s.write_all(bytes) {
        return Outcome::Dropped(format!("while sending: {e}"));
    }
    if half_close {
        s.shutdown(Shutdown::Write).ok();
    }
    // A streamed request is first told to go ahead; the reply follows.
    let mut first = [0u8; protocol::HEADER_LEN];
    let mut got = 0;
    while got < first.len() {
        match s.read(&mut first[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            // A read with a timeout is not restarted after, say, a stop and
            // continue of this process; that is no answer from the daemon.
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Outcome::Hung
            }
            Err(e) => return Outcome::Dropped(e.to_string()),
        }
    }
    let replayed = if &first[..4] == protocol::stream::STRM {
        &first[..0]
    } else {
        &first[..got]
    };
    match protocol::read_reply(
        &mut replayed.chain(&mut s),
        version,
        version.codec(),
        &Limits::for_replies(),
    ) {
        Ok(r) if r.status & 0xff == 0 && (100..=120).contains(&(r.status >> 8)) => {
            Outcome::Refused {
                code: r.status >> 8,
                serr: String::from_utf8_lossy(&r.stderr).into_owned(),
            }
        }
        Ok(r) => Outcome::Compiled(r),
        Err(protocol::WireError::Io(e))
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
        {
            Outcome::Hung
        }
        Err(e) => Outcome::Dropped(e.to_string()),
    }
}

impl Outcome {
    fn summary(&self) -> String {
        match self {
            Outcome::Refused { code, serr } => format!("refused {code}: {}", serr.trim()),
            Outcome::Compiled(r) => format!("compiled, status {}", r.status),
            Outcome::Dropped(why) => format!("dropped ({why})"),
            Outcome::Hung => "hung".into(),
        }
    }
}

/// Whether `outcome` is what `expect` asks for; the reason if not.
fn judge(expect: Expect, outcome: &Outcome) -> Result<(), String> {
    match (expect, outcome) {
        (_, Outcome::Refused { code, serr }) if (*code == 101 || *code == 110) => {
            if serr.trim().is_empty() {
                Err("refused without a message".into())
            } else {
                Ok(())
            }
        }
        (Expect::RefusalOrDrop, Outcome::Dropped(_)) => Ok(()),
        (Expect::RefusalOrDrop, Outcome::Refused { .. }) => Ok(()),
        (Expect::Rewritten, Outcome::Compiled(r)) if r.status == 0 && !r.object().is_empty() => {
            Ok(())
        }
        (_, other) => Err(format!("{other:?}")),
    }
}

/// Sends one byte a second; returns how long the daemon took to drop it.
/// Giving up at `IO_TIMEOUT + GRACE + 10` s, long before the request's last
/// byte, tells a whole-request deadline from one per read.
fn slowloris(port: u16) -> Result<Duration, String> {
    let bytes = request(Version::V1, &["gcc", "-c", "x.c", "-o", "x.o"], SOURCE);
    assert!(
        bytes.len() as u64 > IO_TIMEOUT + GRACE + 10,
        "too short to tell"
    );
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    // The read timeout is the attack's pace: one byte per second.
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let start = Instant::now();
    for b in bytes {
        if s.write_all(&[b]).is_err() {
            return Ok(start.elapsed());
        }
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => return Ok(start.elapsed()),
            Ok(_) => return Err("the daemon answered a request it cannot have read".into()),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return Ok(start.elapsed()),
        }
        if start.elapsed() > Duration::from_secs(IO_TIMEOUT + GRACE + 10) {
            break;
        }
    }
    Err(format!("still connected after {:?}", start.elapsed()))
}

/// Compiles `BUILD_FILES` sources through our client; the client's own
/// compilers may only preprocess, so each object was compiled by the
/// daemon under attack.
fn build(tree: &Tree, host: &str) -> Result<(), String> {
    for i in 0..BUILD_FILES {
        let src = format!("f{i}.c");
        let obj = format!("f{i}.o");
        let hosts = if i % 2 == 0 {
            host.to_string()
        } else {
            format!("{host},lzo")
        };
        let mut c = tree.client(&hosts, &["gcc", "-O2", "-c", &src, "-o", &obj]);
        c.env("PATH", tree.cpponly_path());
        let out = run(c, Duration::from_secs(60));
        if !out.status.success() {
            return Err(format!("{src}: {}", text(&out.stderr)));
        }
    }
    Ok(())
}

#[test]
fn hostile_clients_leave_no_trace_and_the_build_succeeds() {
    skip_unless!(have("gcc"), "gcc not installed");
    let started = Instant::now();
    let tree = Tree::new();
    let evil = Evil::new(&tree);
    for i in 0..BUILD_FILES {
        tree.write(
            &format!("f{i}.c"),
            &format!("#include <string.h>\nint f{i}(const char *s) {{ return (int)strlen(s) * {i} + {}; }}\n", i * 7),
        );
    }
    // More connection slots than idle attackers: the idle ones must cost
    // neither a job slot nor the build's place in line. (With fewer slots
    // than idle sockets, new clients would wait in the backlog until the
    // idle ones time out, and past the client's 4 s connect timeout fall
    // back to local compiles.)
    let max_conn = (IDLE + 100).to_string();
    let daemon = Daemon::start(
        &tree,
        &[
            "--io-timeout",
            NEVER,
            "--max-connections",
            &max_conn,
            "--jobs",
            "2",
        ],
    );
    let port = daemon.port;

    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("idle connect"))
        .collect();
    let host = daemon.host();
    let (mut tried, mut failed, built) = thread::scope(|scope| {
        let builder = scope.spawn(|| build(&tree, &host));
        let (mut tried, mut failed) = (0, Vec::new());
        for attack in argument_attacks(&evil)
            .into_iter()
            .chain(protocol_attacks())
        {
            tried += 1;
            // A job that is meant to compile keeps the connection open: a
            // half-close reads as a client that gave up.
            let outcome = exchange_with(
                port,
                attack.version,
                &attack.bytes,
                attack.expect != Expect::Rewritten,
            );
            println!("hostile: {:<36} {}", attack.name, outcome.summary());
            let verdict = judge(attack.expect, &outcome).and_then(|()| {
                match attack.markers.iter().find(|m| m.exists()) {
                    Some(m) => Err(format!("created {}", m.display())),
                    None => Ok(()),
                }
            });
            if let Err(why) = verdict {
                failed.push(format!("{}: {why}", attack.name));
            }
        }
        (tried, failed, builder.join().unwrap())
    });
    drop(idle);

    // The attackers that only time can stop, at a daemon of their own with
    // a short --io-timeout (no build client could meet it on a loaded
    // machine): each idle connection and the slowloris dropped at it.
    let strict = Daemon::start(
        &tree,
        &[
            "--io-timeout",
            &IO_TIMEOUT.to_string(),
            "--max-connections",
            &max_conn,
        ],
    );
    let idle_since = Instant::now();
    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| TcpStream::connect(("127.0.0.1", strict.port)).expect("idle connect"))
        .collect();
    let slow = thread::spawn({
        let port = strict.port;
        move || slowloris(port)
    });
    tried += 1;
    let until = idle_since + Duration::from_secs(IO_TIMEOUT + GRACE);
    let still_open = idle.iter().filter(|s| !closed_by_peer(s, until)).count();
    if still_open > 0 {
        failed.push(format!("{IDLE} idle connections: {still_open} still open"));
    }
    tried += 1;
    match slow.join().unwrap() {
        Ok(t) if t <= Duration::from_secs(IO_TIMEOUT + GRACE) => {}
        Ok(t) => failed.push(format!("slowloris: dropped only after {t:?}")),
        Err(e) => failed.push(format!("slowloris: {e}")),
    }
    drop(strict);

    assert!(built.is_ok(), "build under attack failed: {built:?}");
    for i in 0..BUILD_FILES {
        let want = local(
            &tree,
            "gcc",
            &["-O2", "-c", &format!("f{i}.c"), "-o", "want.o"],
        );
        assert!(want.status.success());
        let (got, want) = (
            fs::read(tree.work().join(format!("f{i}.o"))).unwrap(),
            fs::read(tree.work().join("want.o")).unwrap(),
        );
        assert!(got == want, "f{i}.o differs from local gcc's");
    }

    let intruders = evil.intruders();
    let passed = tried - failed.len();
    println!("hostile: {tried} attacks tried, {passed} passed");
    assert!(
        failed.is_empty(),
        "attacks that got through:\n{}",
        failed.join("\n")
    );
    assert!(intruders.is_empty(), "files appeared: {intruders:?}");

    let mut daemon = daemon;
    assert!(daemon.child.try_wait().unwrap().is_none(), "daemon died");
    let ok = request(
        Version::V2,
        &["gcc", "-O2", "-c", "x.c", "-o", "x.o"],
        SOURCE,
    );
    match exchange_with(port, Version::V2, &ok, false) {
        Outcome::Compiled(r) if r.status == 0 && r.object().starts_with(b"\x7fELF") => {}
        other => panic!("the daemon no longer serves a normal job: {other:?}"),
    }
    println!("hostile: took {:?}", started.elapsed());
}

/// Waits (until `until`) for the daemon to close `s`.
fn closed_by_peer(mut s: &TcpStream, until: Instant) -> bool {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        let mut buf = [0u8; 16];
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => return false,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        }
    }
}

/// The argument attacks are live: Debian's distccd 3.4, which refuses only
/// `-fplugin=` and `-specs=`, runs these and their markers appear. Without
/// this, a marker staying absent could mean the payload never worked.
#[test]
fn the_payloads_work_against_the_reference_daemon() {
    skip_unless!(have("gcc"), "gcc not installed");
    skip_unless!(RefDaemon::available(), "Debian's distccd not installed");
    let tree = Tree::new();
    let evil = Evil::new(&tree);
    let daemon = RefDaemon::start();
    let live = [
        "-wrapper",
        "-B dir with a fake as",
        "@file",
        "-D @file",
        "-aux-info",
    ];
    let mut worked = Vec::new();
    for attack in argument_attacks(&evil) {
        if !live.contains(&attack.name.as_str()) {
            continue;
        }
        for m in &attack.markers {
            fs::remove_file(m).ok();
        }
        let outcome = exchange_with(daemon.port, attack.version, &attack.bytes, false);
        println!("reference: {:<24} {}", attack.name, outcome.summary());
        if attack.markers.iter().all(|m| m.exists()) {
            worked.push(attack.name);
        }
    }
    assert_eq!(worked, live, "payloads that did nothing even unchecked");
}

/// The policy refuses absolute and climbing input names; our client must
/// therefore send only the basename, or every CMake build (which names
/// sources by absolute path) would quietly stop distributing.
#[test]
fn absolute_source_paths_still_distribute() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    let src = tree.write("sub/abs.c", "int abs_answer(void) { return 42; }\n");
    let daemon = Daemon::start(&tree, &[]);
    let src = src.to_str().unwrap();
    let mut c = tree.client(&daemon.host(), &["gcc", "-O2", "-c", src, "-o", "abs.o"]);
    c.env("PATH", tree.cpponly_path());
    let out = run(c, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want = local(&tree, "gcc", &["-O2", "-c", src, "-o", "want.o"]);
    assert!(want.status.success());
    let read = |n: &str| fs::read(tree.work().join(n)).unwrap();
    assert!(
        read("abs.o") == read("want.o"),
        "object differs from local gcc's"
    );
}

/// No option names the file here: the source itself asks the assembler to
/// copy one into the object. Only the daemon's sandbox can refuse the open.
#[test]
fn a_source_cannot_read_files_outside_its_job() {
    skip_unless!(have("gcc"), "gcc missing");
    let probe = tempfile::tempdir().unwrap();
    let sandboxed =
        distcc::daemon::sandbox::Jail::for_job(probe.path(), std::path::Path::new("/usr/bin/gcc"))
            .map(|j| j.is_some())
            .unwrap_or(false);
    skip_unless!(sandboxed, "no Landlock on this kernel");
    let tree = Tree::new();
    let secret = tree.write("secret.txt", "SECRET-7f3a9c\n");
    let daemon = Daemon::start(&tree, &[]);
    let source = format!(
        "__asm__(\".incbin \\\"{}\\\"\");\nint x;\n",
        secret.display()
    );
    let req = request(
        Version::V1,
        &["gcc", "-c", "x.c", "-o", "x.o"],
        source.as_bytes(),
    );
    match exchange_with(daemon.port, Version::V1, &req, false) {
        Outcome::Compiled(r) => {
            assert!(
                !r.object().windows(13).any(|w| w == b"SECRET-7f3a9c"),
                "the object carries the file"
            );
            assert_ne!(r.status, 0, "the assembler was refused the file");
        }
        other => panic!("{other:?}"),
    }
}
