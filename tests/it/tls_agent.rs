//! `,tls` jobs through the client's TLS agent: the second job to a host
//! resumes its session (the daemon counts `tls_resumed`) and its object is
//! the local compiler's; a session never outlives the decision that let it
//! in (a client key removed and SIGHUP'd, a changed pin); concurrent first
//! jobs start one agent; a killed agent's stale socket costs nothing.

use std::fs;
use std::process::{Command, Output};

use crate::daemon::{fetch_stats, stat, stats_port};
use crate::skip_unless;
use crate::tls::{compile_falls_back, keygen, volunteer, LIMIT, SOURCE};
use crate::util::*;

/// A job of `a.c` for the volunteer that must compile there (compilers
/// that only preprocess, no fallback).
fn remote_job(tree: &Tree, port: u16, object: &str) -> Command {
    let hosts = format!("127.0.0.1:{port},tls");
    let mut c = tree.client(&hosts, &["gcc", "-c", "a.c", "-o", object]);
    c.env("PATH", tree.cpponly_path())
        .env("DISTCC_FALLBACK", "0");
    c
}

/// Runs a remote job; its object must be the local compiler's.
fn compiles_there(tree: &Tree, port: u16) {
    let out: Output = run(remote_job(tree, port, "a.o"), LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fs::read(tree.work().join("a.o")).unwrap(),
        fs::read(tree.work().join("want.o")).unwrap()
    );
}

/// `a.c` and its local object, `want.o`.
fn source(tree: &Tree) {
    tree.write("a.c", SOURCE);
    let want = local(tree, "gcc", &["-c", "a.c", "-o", "want.o"]);
    assert!(want.status.success());
}

/// The pids of the agents started for the client's TLS dir, from the
/// lines they note in agent.log.
fn agents_started(tree: &Tree) -> Vec<i32> {
    let log = fs::read_to_string(tree.path("state/tls/agent.log")).unwrap_or_default();
    log.lines()
        .filter_map(|l| l.strip_suffix(" listening")?.parse().ok())
        .collect()
}

#[test]
fn the_second_job_to_a_tls_host_resumes_its_session_through_the_agent() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    let (daemon, port) = volunteer(&tree, true);
    source(&tree);
    compiles_there(&tree, port);
    compiles_there(&tree, port);
    compiles_there(&tree, port);
    let page = fetch_stats(stats_port(&daemon));
    // `distcc --trust` and three jobs; the first job's handshake was full.
    assert_eq!(stat(&page, "tls_key tester"), 4, "{page}");
    assert_eq!(stat(&page, "tls_resumed"), 2, "{page}");
    assert_eq!(agents_started(&tree).len(), 1);
    let log = daemon.log_when(|l| l.matches("(tester): gcc status 0").count() >= 3);
    assert_eq!(log.matches("(tester): gcc status 0").count(), 3, "{log}");
}

#[test]
fn without_the_agent_every_job_makes_a_full_handshake() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    let (daemon, port) = volunteer(&tree, true);
    source(&tree);
    for _ in 0..2 {
        let mut c = remote_job(&tree, port, "a.o");
        c.env("DISTCC_TLS_AGENT", "0");
        let out = run(c, LIMIT);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let page = fetch_stats(stats_port(&daemon));
    assert_eq!(stat(&page, "tls_key tester"), 3, "{page}");
    assert_eq!(stat(&page, "tls_resumed"), 0, "{page}");
    assert!(agents_started(&tree).is_empty());
}

#[test]
fn a_client_key_removed_and_sighupped_is_refused_though_its_session_could_resume() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    let (daemon, port) = volunteer(&tree, true);
    source(&tree);
    compiles_there(&tree, port);
    fs::write(tree.path("volunteer/authorized_keys"), "# nobody\n").unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(daemon.child.id() as i32, libc::SIGHUP) };
    let log = daemon.log_when(|l| l.contains("authorized keys re-read: 0 keys"));
    assert!(log.contains("authorized keys re-read: 0 keys"), "{log}");
    let err = compile_falls_back(&tree, &format!("127.0.0.1:{port},tls"));
    assert!(err.contains("refused our TLS key"), "{err}");
    assert!(err.contains("authorized_keys"), "{err}");
    let page = fetch_stats(stats_port(&daemon));
    assert_eq!(stat(&page, "tls_resumed"), 0, "{page}");
    assert_eq!(stat(&page, "tls_key tester"), 2, "{page}");
    let log = daemon.log_when(|l| l.contains("is not in authorized_keys"));
    assert_eq!(log.matches("gcc status").count(), 1, "{log}");
}

#[test]
fn a_changed_pin_is_refused_with_its_message_though_a_session_exists() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    let (daemon, port) = volunteer(&tree, false);
    source(&tree);
    compiles_there(&tree, port);
    let other = keygen(&tree, "other");
    let other_pub = fs::read_to_string(other.join("key.pub")).unwrap();
    let other_key: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    fs::write(
        tree.path("state/tls/known_hosts"),
        format!("127.0.0.1:{port} {}\n", other_key.join(" ")),
    )
    .unwrap();
    let err = compile_falls_back(&tree, &format!("127.0.0.1:{port},tls"));
    assert!(err.contains("TLS KEY OF HOST 127.0.0.1"), "{err}");
    assert!(err.contains("known_hosts:1"), "{err}");
    assert!(
        err.contains(&format!("distcc --trust 127.0.0.1:{port}")),
        "{err}"
    );
    let page = fetch_stats(stats_port(&daemon));
    assert_eq!(stat(&page, "tls_resumed"), 0, "{page}");
    assert_eq!(agents_started(&tree).len(), 1);
}

#[test]
fn concurrent_first_jobs_start_one_agent() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    let (daemon, port) = volunteer(&tree, true);
    source(&tree);
    let jobs: Vec<_> = (0..6)
        .map(|i| {
            let c = remote_job(&tree, port, &format!("a{i}.o"));
            std::thread::spawn(move || run(c, LIMIT))
        })
        .collect();
    for job in jobs {
        let out = job.join().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert_eq!(agents_started(&tree).len(), 1);
    let log = daemon.log_when(|l| l.matches("(tester): gcc status 0").count() >= 6);
    assert_eq!(log.matches("(tester): gcc status 0").count(), 6, "{log}");
}

#[test]
fn a_job_works_after_its_agent_was_killed_and_left_a_stale_socket() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    let (_daemon, port) = volunteer(&tree, true);
    source(&tree);
    compiles_there(&tree, port);
    let started = agents_started(&tree);
    assert_eq!(started.len(), 1);
    // SAFETY: killing the agent this test's client started.
    unsafe { libc::kill(started[0], libc::SIGKILL) };
    wait_gone(started[0]);
    assert!(tree.path("state/tls/agent.sock").exists(), "a stale socket");
    compiles_there(&tree, port);
    let again = agents_started(&tree);
    assert_eq!(again.len(), 2, "a new agent: {again:?}");
    assert_ne!(again[0], again[1]);
}
