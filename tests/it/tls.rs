//! `,tls` hosts against a daemon's TLS port, set up as the README says
//! (`distccd --tls-keygen`, `distcc --tls-key` into authorized_keys,
//! `distcc --trust`): a 40-file build byte-identical to local in classic
//! and exact mode; an unknown client key (until it is authorized and the
//! daemon gets SIGHUP), a changed daemon key, a plaintext client on a
//! TLS-only port, a TLS client on a plain daemon and a bit flipped in
//! flight each fail clearly, and the job compiles here; the note after a
//! reply (a cache hit or miss) comes back over TLS too.

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::cache::{said, HIT, MISS};
use crate::daemon::{fetch_stats, port_in, stat, stats_port};
use crate::exact::{make, project};
use crate::skip_unless;
use crate::util::*;

pub(crate) const LIMIT: Duration = Duration::from_secs(120);
pub(crate) const SOURCE: &str = "int twice(int x) { return x * 2; }\n";

/// The volunteer's key directory: `distccd --tls-keygen`.
pub(crate) fn keygen(tree: &Tree, name: &str) -> PathBuf {
    let dir = tree.path(name);
    let mut c = Command::new(tree.path("bin/distccd"));
    c.args(["--tls-keygen", "--tls-dir"]).arg(&dir);
    let out = run(c, LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("SHA256:"),
        "{}",
        text(&out.stdout)
    );
    dir
}

/// `distcc --tls-key` of the client whose DISTCC_DIR is `state`, listed
/// in `dir`'s authorized_keys as `name`.
fn authorize(tree: &Tree, state: &str, dir: &Path, name: &str) {
    let mut c = tree.client("", &["--tls-key"]);
    c.env("DISTCC_DIR", tree.path(state));
    let out = run(c, LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "distcc-ed25519", "{line}");
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(dir.join("authorized_keys"))
        .unwrap();
    writeln!(f, "{} {} {name}", words[0], words[1]).unwrap();
}

/// A daemon with plain and TLS ports (or the TLS one only), and the TLS
/// port's number from its log.
fn start(tree: &Tree, dir: &Path, tls_only: bool) -> (Daemon, u16) {
    let dir = dir.to_str().unwrap();
    let mut args = vec![
        "--tls-dir",
        dir,
        "--tls-port",
        "0",
        "--stats",
        "--stats-port",
        "0",
    ];
    if tls_only {
        args.push("--tls-only");
    }
    let daemon = Daemon::start(tree, &args);
    let log = daemon.log_when(|l| l.contains("TLS: listening on "));
    let port = port_in(&log, "TLS: listening on ").expect("a TLS port");
    (daemon, port)
}

/// `distcc --trust 127.0.0.1:PORT [FINGERPRINT]`.
fn trust(tree: &Tree, port: u16, fingerprint: Option<&str>) -> Output {
    let target = format!("127.0.0.1:{port}");
    let mut args = vec!["--trust", target.as_str()];
    args.extend(fingerprint);
    run(tree.client("", &args), LIMIT)
}

/// A volunteer set up and trusted, its client authorized as `tester`.
pub(crate) fn volunteer(tree: &Tree, tls_only: bool) -> (Daemon, u16) {
    let dir = keygen(tree, "volunteer");
    authorize(tree, "state", &dir, "tester");
    let (daemon, port) = start(tree, &dir, tls_only);
    let out = trust(tree, port, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("pinned SHA256:"),
        "{}",
        text(&out.stdout)
    );
    (daemon, port)
}

/// Compiles `a.c` through the client against `hosts`, with the real
/// compiler on PATH so a fallback can succeed; the object must be the
/// local compiler's. Returns the client's stderr.
pub(crate) fn compile_falls_back(tree: &Tree, hosts: &str) -> String {
    tree.write("a.c", SOURCE);
    let want = local(tree, "gcc", &["-c", "a.c", "-o", "want.o"]);
    assert!(want.status.success());
    let out = run(
        tree.client(hosts, &["gcc", "-c", "a.c", "-o", "a.o"]),
        LIMIT,
    );
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("running locally instead"), "{err}");
    assert_eq!(
        fs::read(tree.work().join("a.o")).unwrap(),
        fs::read(tree.work().join("want.o")).unwrap()
    );
    err
}

#[test]
fn a_40_file_build_over_tls_is_identical_to_local_in_classic_and_exact_mode() {
    skip_unless!(have("gcc") && have("make"), "gcc or make missing");
    let tree = Tree::new();
    project(&tree, 40);
    let (daemon, port) = volunteer(&tree, true);
    // Exact mode with -g; classic mode without (its objects name the
    // volunteer's directory in their debug info, TLS or not).
    for (options, debug) in [("cpp,lzo,tls", true), ("tls", false)] {
        if !debug {
            let makefile = tree.work().join("Makefile");
            let text = fs::read_to_string(&makefile).unwrap();
            fs::write(&makefile, text.replace(" -g ", " ")).unwrap();
        }
        let _ = fs::remove_dir_all(tree.work().join("obj"));
        let local = make(&tree, "gcc", None);
        assert!(local.status.success(), "{}", text(&local.stderr));
        let want = dir_contents(&tree.work().join("obj"));
        assert_eq!(want.len(), 80, "40 objects and 40 .d files");
        fs::remove_dir_all(tree.work().join("obj")).unwrap();
        // DISTCC_FALLBACK=0 and compilers that only preprocess: every
        // object was compiled by the volunteer.
        let hosts = format!("127.0.0.1:{port}/4,{options}");
        let out = make(&tree, "distcc gcc", Some(&hosts));
        assert!(out.status.success(), "{options}: {}", text(&out.stderr));
        let got = dir_contents(&tree.work().join("obj"));
        assert_eq!(want.len(), got.len(), "{options}");
        for ((wn, w), (gn, g)) in want.iter().zip(&got) {
            assert_eq!(wn, gn);
            assert!(w == g, "{options}: {wn} differs from the local build");
        }
    }
    // Each job's line names the key, and the stats page counts by key
    // (the jobs and `distcc --trust`'s connection).
    let log = daemon.log_when(|l| l.matches("(tester): gcc status 0").count() >= 80);
    assert_eq!(log.matches("(tester): gcc status 0").count(), 80, "{log}");
    let page = fetch_stats(stats_port(&daemon));
    assert_eq!(stat(&page, "tls_key tester"), 81, "{page}");
    assert_eq!(stat(&page, "tls_refused"), 0, "{page}");
}

#[test]
fn an_unknown_client_key_is_refused_in_the_handshake_until_authorized_and_sighup() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    let (daemon, port) = volunteer(&tree, true);
    // Another client: its own DISTCC_DIR, its key made on first use and
    // never authorized; it pins the volunteer all the same.
    fs::create_dir(tree.path("stranger")).unwrap();
    let mut c = tree.client("", &["--trust", &format!("127.0.0.1:{port}")]);
    c.env("DISTCC_DIR", tree.path("stranger"));
    assert!(run(c, LIMIT).status.success());
    tree.write("a.c", SOURCE);
    let mut c = tree.client(&format!("127.0.0.1:{port},tls"), &["gcc", "-c", "a.c"]);
    c.env("DISTCC_DIR", tree.path("stranger"));
    let out = run(c, LIMIT);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("refused our TLS key"), "{err}");
    assert!(err.contains("authorized_keys"), "{err}");
    let log = daemon.log_when(|l| l.contains("is not in authorized_keys"));
    // Every line about the stranger's connections is its refusal: no
    // request was read, no compiler ran.
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("is not in authorized_keys"))
        .collect();
    for line in &refused {
        assert!(line.contains("refused in the handshake"), "{line}");
        let peer = line.split(") ").nth(1).unwrap().split(": ").next().unwrap();
        let about: Vec<&str> = log.lines().filter(|l| l.contains(peer)).collect();
        assert_eq!(about, [*line], "{log}");
    }
    assert!(!log.contains("gcc status"), "{log}");
    let page = fetch_stats(stats_port(&daemon));
    assert_eq!(stat(&page, "tls_refused"), refused.len() as u64, "{page}");
    assert_eq!(stat(&page, "tls_key tester"), 1, "{page}");
    // Authorized and SIGHUP'd, the stranger's next job runs there under
    // its new name.
    authorize(&tree, "stranger", &tree.path("volunteer"), "newcomer");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(daemon.child.id() as i32, libc::SIGHUP) };
    let log = daemon.log_when(|l| l.contains("authorized keys re-read: 2 keys"));
    assert!(log.contains("authorized keys re-read: 2 keys"), "{log}");
    let mut c = tree.client(&format!("127.0.0.1:{port},tls"), &["gcc", "-c", "a.c"]);
    c.env("DISTCC_DIR", tree.path("stranger"))
        .env("PATH", tree.cpponly_path())
        .env("DISTCC_FALLBACK", "0");
    let out = run(c, LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = daemon.log_when(|l| l.contains("(newcomer): gcc status 0"));
    assert!(log.contains("(newcomer): gcc status 0"), "{log}");
}

#[test]
fn a_changed_daemon_key_is_refused_with_how_to_check_and_update_the_pin() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    let (_daemon, port) = volunteer(&tree, false);
    // The pin is replaced by another volunteer's key, as if this one's
    // key had changed since it was pinned.
    let other = keygen(&tree, "other");
    let other_pub = fs::read_to_string(other.join("key.pub")).unwrap();
    let other_key: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    let known = tree.path("state/tls/known_hosts");
    fs::write(
        &known,
        format!("127.0.0.1:{port} {}\n", other_key.join(" ")),
    )
    .unwrap();
    let err = compile_falls_back(&tree, &format!("127.0.0.1:{port},tls"));
    assert!(err.contains("TLS KEY OF HOST 127.0.0.1"), "{err}");
    assert!(err.contains("known_hosts:1"), "{err}");
    assert!(err.contains("distccd --tls-fingerprint"), "{err}");
    assert!(
        err.contains(&format!("distcc --trust 127.0.0.1:{port}")),
        "{err}"
    );
    // Updating the pin the way the message says, with the fingerprint
    // the volunteer prints, lets jobs through again.
    // The refusal backs the host off for whoever honours backoff...
    let hosts = format!("127.0.0.1:{port},tls");
    let mut c = tree.client(&hosts, &["gcc", "-c", "a.c"]);
    c.env("DISTCC_BACKOFF_PERIOD", "600");
    assert!(run(c, LIMIT).status.success());
    let mut c = Command::new(tree.path("bin/distccd"));
    c.args(["--tls-fingerprint", "--tls-dir"])
        .arg(tree.path("volunteer"));
    let fp = text(&run(c, LIMIT).stdout).trim().to_string();
    let out = trust(&tree, port, Some(&fp));
    assert!(
        text(&out.stdout).contains("replacing"),
        "{}",
        text(&out.stdout)
    );
    // ...and pinning ends that.
    let mut c = tree.client(&hosts, &["gcc", "-c", "a.c"]);
    c.env("PATH", tree.cpponly_path())
        .env("DISTCC_FALLBACK", "0")
        .env("DISTCC_BACKOFF_PERIOD", "600");
    let out = run(c, LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_plaintext_client_on_a_tls_only_port_is_told_to_use_tls() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    let (daemon, port) = volunteer(&tree, true);
    for options in ["", ",lzo", ",cpp,lzo"] {
        let err = compile_falls_back(&tree, &format!("127.0.0.1:{port}{options}"));
        assert!(err.contains("serves TLS clients only"), "{options}: {err}");
        assert!(err.contains("HOST,tls"), "{options}: {err}");
    }
    assert!(daemon.log().contains("serves TLS clients only"));
}

#[test]
fn a_tls_client_on_a_plain_daemon_is_told_it_does_not_speak_tls() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    let daemon = Daemon::start(&tree, &[]);
    let err = compile_falls_back(&tree, &format!("{},tls", daemon.host()));
    assert!(err.contains("does not speak TLS"), "{err}");
    let log = daemon.log_when(|l| l.contains("a TLS client on the plain port"));
    assert!(log.contains("a TLS client on the plain port"), "{log}");
}

/// Which TLS record a relay damages.
#[derive(Clone, Copy)]
enum Flip {
    /// The client's first encrypted record: its handshake's last flight.
    ClientHandshake,
    /// The daemon's first large record after the client's request: the
    /// reply.
    Reply,
}

/// Copies TLS records from `from` to `to`, flipping one bit in the
/// payload of the record `flip` names. `sent` says the client has sent an
/// encrypted record; the daemon answers nothing to the handshake's end,
/// so its records after that are the reply.
fn relay(mut from: TcpStream, mut to: TcpStream, up: bool, flip: Flip, sent: &AtomicBool) {
    let mut flipped = false;
    let mut head = [0u8; 5];
    while from.read_exact(&mut head).is_ok() {
        let len = u16::from_be_bytes([head[3], head[4]]) as usize;
        let mut body = vec![0u8; len];
        if from.read_exact(&mut body).is_err() {
            break;
        }
        let encrypted = head[0] == 0x17;
        // The streamed dialect's go-ahead is a small record; an object is
        // not.
        let target = match flip {
            Flip::ClientHandshake => up && encrypted,
            Flip::Reply => !up && encrypted && len > 200 && sent.load(Ordering::SeqCst),
        };
        if up && encrypted {
            sent.store(true, Ordering::SeqCst);
        }
        if target && !flipped && !body.is_empty() {
            body[len / 2] ^= 0x10;
            flipped = true;
        }
        if to
            .write_all(&head)
            .and_then(|()| to.write_all(&body))
            .is_err()
        {
            break;
        }
    }
    to.shutdown(Shutdown::Write).ok();
}

/// A relay on a port of its own to the daemon's `port`, serving one
/// connection at a time until the listener's thread is dropped with the
/// test.
fn tamper(port: u16, flip: Flip) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let own = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let daemon = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let sent = Arc::new(AtomicBool::new(false));
            let (c2, d2, sent2) = (
                client.try_clone().unwrap(),
                daemon.try_clone().unwrap(),
                sent.clone(),
            );
            thread::spawn(move || relay(c2, d2, true, flip, &sent2));
            thread::spawn(move || relay(daemon, client, false, flip, &sent));
        }
    });
    own
}

#[test]
fn a_bit_flipped_in_flight_fails_the_job_which_compiles_here() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    let (daemon, port) = volunteer(&tree, true);
    for flip in [Flip::ClientHandshake, Flip::Reply] {
        let relay = tamper(port, flip);
        // The relay's port must carry the volunteer's pin.
        let known = tree.path("state/tls/known_hosts");
        let pins = fs::read_to_string(&known).unwrap();
        let line =
            pins.lines()
                .next()
                .unwrap()
                .replacen(&format!(":{port} "), &format!(":{relay} "), 1);
        fs::write(&known, format!("{pins}{line}\n")).unwrap();
        let err = compile_falls_back(&tree, &format!("127.0.0.1:{relay},tls"));
        assert!(err.contains("TLS with 127.0.0.1"), "{err}");
        let log = daemon.log_when(|l| match flip {
            Flip::ClientHandshake => l.contains("cannot decrypt"),
            Flip::Reply => l.contains("gcc status 0"),
        });
        match flip {
            // Damage in the handshake: no request was read.
            Flip::ClientHandshake => assert!(!log.contains("gcc status"), "{log}"),
            // Damage in the reply: the compile ran, its result was not
            // taken.
            Flip::Reply => assert!(log.contains("gcc status 0"), "{log}"),
        }
    }
}

#[test]
fn tls_options_without_a_tls_port_to_serve_are_refused() {
    let tree = Tree::new();
    let dir = tree.path("volunteer");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--inetd", "--tls-dir", dir.to_str().unwrap()],
            "inetd mode",
        ),
        (&["--daemon", "--tls-only"], "need --tls-dir"),
        (&["--tls-fingerprint"], "need --tls-dir"),
    ];
    for (args, why) in cases {
        let mut c = Command::new(tree.path("bin/distccd"));
        c.args(*args).arg("--log-stderr");
        let out = run(c, LIMIT);
        assert_eq!(out.status.code(), Some(101), "{args:?}");
        assert!(
            text(&out.stderr).contains(why),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// The reply's note travels over TLS too: with a cache on the volunteer, a
/// second identical compile is said to be a hit, in exact and classic mode.
#[test]
fn cache_hits_and_misses_are_said_over_tls() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    let dir = keygen(&tree, "volunteer");
    authorize(&tree, "state", &dir, "tester");
    // The daemon drops root to its own user.
    fs::create_dir(tree.path("dc")).unwrap();
    fs::set_permissions(tree.path("dc"), fs::Permissions::from_mode(0o777)).unwrap();
    let cache = tree.path("dc/cache");
    let args = [
        "--tls-dir",
        dir.to_str().unwrap(),
        "--tls-port",
        "0",
        "--tls-only",
        "--cache-size",
        "64",
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    let daemon = Daemon::start(&tree, &args);
    let log = daemon.log_when(|l| l.contains("TLS: listening on "));
    let port = port_in(&log, "TLS: listening on ").expect("a TLS port");
    let out = trust(&tree, port, None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    tree.write("a.c", SOURCE);
    let key = format!("127.0.0.1:{port}");
    for options in ["cpp,lzo,tls", "lzo,classic,tls"] {
        for (obj, what) in [("a.o", MISS), ("b.o", HIT)] {
            let mut c = tree.client(
                &format!("{key},{options}"),
                &["gcc", "-O2", "-c", "a.c", "-o", obj],
            );
            c.env("DISTCC_VERBOSE", "1")
                .env("DISTCC_FALLBACK", "0")
                .env("PATH", tree.cpponly_path());
            let out = run(c, LIMIT);
            let err = text(&out.stderr);
            assert!(out.status.success(), "{options}: {err}");
            assert!(said(&err, &key, what), "{options} {obj}: {err}");
        }
    }
}
