//! Exact mode with the include scanner: a unit whose headers only a real
//! preprocessor finds (a macro-named include, `#if`-selected headers,
//! `__has_include`, `#include_next`) compiles remotely byte-identical to
//! a local compile with no `-M` run here; a file the scanner cannot know
//! (a compiler driver that adds an `-include`) is caught by the server's
//! list of files read and the job redone, counted; a genuine compile
//! error is printed once and not redone.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::skip_unless;
use crate::util::*;

/// The variable naming the file a [`logging_gcc`] appends its argv to.
/// A daemon runs compilers with a cleaned environment, so only the
/// client's invocations are logged.
const LOG_VAR: &str = "LOGGING_GCC_LOG";

/// A `gcc` in `dir` that appends its argv to the file `LOG_VAR` names, if
/// any, and runs the real one with `extra` words first. Client and daemon
/// run this one script: our daemon runs only a compiler whose bytes are
/// the client's.
fn logging_gcc(tree: &Tree, dir: &str, extra: &str) -> PathBuf {
    let d = tree.path(dir);
    fs::create_dir_all(&d).unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
    let p = d.join("gcc");
    fs::write(
        &p,
        format!(
            "#!/bin/sh\n[ -z \"${LOG_VAR}\" ] || echo \"$*\" >> \"${LOG_VAR}\"\n\
             exec {} {extra} \"$@\"\n",
            which("gcc").display()
        ),
    )
    .unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    d
}

fn path_with(dir: &std::path::Path) -> std::ffi::OsString {
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap()));
    std::env::join_paths(dirs).unwrap()
}

fn unit(tree: &Tree) {
    tree.write("inc1/wrap.h", "#include_next <wrap.h>\n#define WRAPPED 1\n");
    tree.write("inc2/wrap.h", "static const int wrapped_base = 40;\n");
    tree.write("inc2/opt.h", "#define OPTIONAL 2\n");
    tree.write("inc1/big.h", "#define SIZE 1000\n");
    tree.write("inc1/small.h", "#define SIZE 1\n");
    tree.write("inc1/sel.h", "#define SELECTED 5\n");
    tree.write(
        "src/u.c",
        "#include <stdio.h>\n#define HDR \"sel.h\"\n#include HDR\n#include <wrap.h>\n\
         #if VALUE > 2\n#include \"big.h\"\n#else\n#include \"small.h\"\n#endif\n\
         #if __has_include(<opt.h>)\n#include <opt.h>\n#else\n#define OPTIONAL 0\n#endif\n\
         #if __has_include(\"absent.h\")\n#include \"absent.h\"\n#endif\n\
         int u(void) { printf(\"%s\\n\", __FILE__); return SIZE + SELECTED + OPTIONAL + WRAPPED + wrapped_base; }\n",
    );
}

const ARGS: &[&str] = &[
    "-g",
    "-O1",
    "-Iinc1",
    "-Iinc2",
    "-DVALUE=3",
    "-c",
    "src/u.c",
    "-o",
    "u.o",
];

/// `ARGS` writing `local.o`.
fn local_args() -> Vec<&'static str> {
    let mut a = ARGS.to_vec();
    let last = a.len() - 1;
    a[last] = "local.o";
    a
}

fn client(tree: &Tree, host: &str, path: &std::ffi::OsString, extra: &[&str]) -> Command {
    let mut args = vec!["gcc"];
    args.extend(
        ARGS.iter()
            .filter(|a| !extra.contains(&"no-g") || **a != "-g"),
    );
    args.extend(extra.iter().filter(|a| **a != "no-g"));
    let mut c = tree.client(host, &args);
    c.env("PATH", path)
        .env("DISTCC_FALLBACK", "0")
        .env("DISTCC_VERBOSE", "1");
    c
}

/// A tree with the unit, and a `gcc` that adds `inject` to every command
/// line, as a compiler driver may, for the client (which logs its
/// invocations in `client.log`) and our daemon alike.
struct Scene {
    tree: Tree,
    bin: PathBuf,
    daemon: Daemon,
}

impl Scene {
    /// `{work}` in `inject` stands for the tree's work dir.
    fn new(inject: &str) -> Scene {
        let tree = Tree::new();
        std::os::unix::fs::symlink(exe(), tree.path("bin/distccmon-text")).unwrap();
        unit(&tree);
        let inject = inject.replace("{work}", &tree.work().to_string_lossy());
        let inject = &inject;
        let bin = logging_gcc(&tree, "wrap", inject);
        let daemon = Daemon::start_with(&tree, &["--allow", "127.0.0.1"], |c| {
            c.env("PATH", path_with(&bin));
        });
        Scene { tree, bin, daemon }
    }

    /// `ARGS` and `extra` through our client to the daemon with `opts`.
    fn client(&self, opts: &str, extra: &[&str]) -> (bool, String) {
        let out = run(self.command(opts, extra), Duration::from_secs(120));
        (out.status.success(), text(&out.stderr))
    }

    /// The command `client` runs.
    fn command(&self, opts: &str, extra: &[&str]) -> Command {
        let host = format!("{}{opts}", self.daemon.host());
        let mut c = client(&self.tree, &host, &path_with(&self.bin), extra);
        c.env(LOG_VAR, self.tree.path("client.log"));
        c
    }

    /// Whether `u.o` is what the same driver writes here as `local.o`.
    fn same_as_local(&self, extra: &[&str]) -> bool {
        let mut c = Command::new(self.bin.join("gcc"));
        c.args(local_args())
            .args(extra)
            .current_dir(self.tree.work());
        assert!(run(c, Duration::from_secs(60)).status.success());
        let read = |name: &str| fs::read(self.tree.work().join(name)).unwrap();
        read("u.o") == read("local.o")
    }

    /// The client's compiler invocations, one line each.
    fn client_log(&self) -> String {
        fs::read_to_string(self.tree.path("client.log")).unwrap_or_default()
    }

    fn summary(&self) -> String {
        let mut c = Command::new(self.tree.path("bin/distccmon-text"));
        c.arg("--summary")
            .env("DISTCC_DIR", self.tree.path("state"));
        text(&run(c, Duration::from_secs(30)).stdout)
    }
}

/// Whether a logged command line has the word `w`.
fn ran_with(log: &str, w: &str) -> bool {
    log.lines().any(|l| l.split(' ').any(|x| x == w))
}

#[test]
fn scanned_unit_is_identical_and_runs_no_listing_here() {
    skip_unless!(have("gcc"), "gcc missing");
    let s = Scene::new("");
    let (ok, err) = s.client(",cpp", &[]);
    assert!(ok, "{err}");
    assert!(!ran_with(&s.client_log(), "-M"), "{}", s.client_log());
    // Logged at all: the scanner's probe is the client's own run.
    assert!(ran_with(&s.client_log(), "-dM"), "{}", s.client_log());
    assert!(s.same_as_local(&[]));
    assert!(err.contains("list files (scan)"), "{err}");
    let summary = s.summary();
    assert!(
        summary.contains("files listed: scanned 1, scan fallbacks 0, scanner misses 0"),
        "{summary}"
    );
}

#[test]
fn a_header_edited_to_the_same_size_between_jobs_gives_the_new_object() {
    skip_unless!(have("gcc"), "gcc missing");
    let s = Scene::new("");
    let (ok, err) = s.client(",cpp", &[]);
    assert!(ok, "{err}");
    assert!(s.same_as_local(&[]));
    // Same size, new bytes, an mtime set back: what the scan's cache and
    // the daemon's hold for the old bytes must not stand for the new.
    let sel = s.tree.work().join("inc1/sel.h");
    fs::write(&sel, "#define SELECTED 6\n").unwrap();
    fs::File::options()
        .write(true)
        .open(&sel)
        .unwrap()
        .set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
        .unwrap();
    let (ok, err) = s.client(",cpp", &[]);
    assert!(ok, "{err}");
    assert!(err.contains("list files (scan)"), "{err}");
    assert!(s.same_as_local(&[]), "the object of the new header");
}

#[test]
fn a_source_edited_outside_its_directives_keeps_its_scan_and_gives_the_new_object() {
    skip_unless!(have("gcc"), "gcc missing");
    let s = Scene::new("");
    let (ok, err) = s.client(",cpp", &[]);
    assert!(ok, "{err}");
    assert!(!err.contains("kept scan holds"), "{err}");
    // Code edited and a line added above it (with -g, every line after
    // it moves in the object); the directives are as they were.
    let u = s.tree.work().join("src/u.c");
    let was = fs::read_to_string(&u).unwrap();
    let now = was.replace("int u(void)", "static int v;\nint u(void)");
    let now = now.replace("return SIZE", "return v + SIZE");
    assert_ne!(now, was);
    fs::write(&u, now).unwrap();
    let (ok, err) = s.client(",cpp", &[]);
    assert!(ok, "{err}");
    // How many files it reads again depends on the racy window (the
    // tree was just written); the session tests count them.
    assert!(err.contains("kept scan holds"), "{err}");
    assert!(s.same_as_local(&[]), "the object of the edited source");
    // A directive edited: walked again.
    fs::write(
        &u,
        fs::read_to_string(&u)
            .unwrap()
            .replace("VALUE > 2", "VALUE > 4"),
    )
    .unwrap();
    let (ok, err) = s.client(",cpp", &[]);
    assert!(ok, "{err}");
    assert!(!err.contains("kept scan holds"), "{err}");
    assert!(s.same_as_local(&[]), "the object with the other header");
}

#[test]
fn a_file_the_scan_cannot_know_is_caught_and_the_job_redone() {
    skip_unless!(have("gcc"), "gcc missing");
    // A driver that forces a header in, as distribution wrappers and
    // specs files do: the scanner sees its macros in the probe, never
    // the file itself.
    let s = Scene::new("-include {work}/forced/extra.h");
    s.tree
        .write("forced/extra.h", "static const int forced_extra = 7;\n");
    let (ok, err) = s.client("", &[]);
    assert!(ok, "{err}");
    assert!(err.contains("scanner miss"), "{err}");
    assert!(err.contains("extra.h"), "the miss names the file: {err}");
    assert!(s.same_as_local(&[]));
    let summary = s.summary();
    assert!(summary.contains("scanner misses 1"), "{summary}");
}

#[test]
fn a_genuine_compile_error_is_printed_once_and_not_redone() {
    skip_unless!(have("gcc"), "gcc missing");
    let s = Scene::new("");
    s.tree.write(
        "src/u.c",
        "#include \"sel.h\"\nint u(void) { return SELECTED + undeclared_thing; }\n",
    );
    let (ok, err) = s.client("", &[]);
    assert!(!ok, "{err}");
    let once = err.matches("undeclared_thing").count() == 2;
    assert!(once, "once, with its caret line: {err}");
    assert!(!err.contains("scanner miss"), "{err}");
    let log = s.client_log();
    assert!(!ran_with(&log, "-M") && !ran_with(&log, "-c"), "{log}");
    assert_eq!(err.matches("sent to").count(), 1, "sent once: {err}");
    assert!(!s.tree.work().join("u.o").exists());
}

#[test]
fn mmd_jobs_are_verified_with_every_file_read_and_keep_their_dep_file() {
    skip_unless!(have("gcc"), "gcc missing");
    // A driver that forces in a system header the unit does not include:
    // a -MMD dependency file leaves it out, the server's list must not.
    let s = Scene::new("-include stdint.h");
    let (ok, err) = s.client("", &["-MMD", "-MP", "-MF", "u.d"]);
    assert!(ok, "{err}");
    assert!(
        err.contains("scanner miss") && err.contains("stdint.h"),
        "{err}"
    );
    assert!(s.same_as_local(&["-MMD", "-MP", "-MF", "local.d"]));
    let read = |name: &str| fs::read_to_string(s.tree.work().join(name)).unwrap();
    assert_eq!(
        read("u.d"),
        read("local.d").replace("local.o", "u.o"),
        "the user's -MMD file is gcc's own"
    );
}

#[test]
fn hosts_without_a_mode_get_exact_mode_from_our_daemon_and_classic_from_distcc_3_4() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    unit(&tree);
    let path = tree.cpponly_path();
    let ours = Daemon::start(&tree, &["--allow", "127.0.0.1"]);
    // Without -g: classic distcc's debug info names its own temp files.
    let no_g: Vec<&str> = local_args().into_iter().filter(|a| *a != "-g").collect();
    let want = {
        assert!(local(&tree, "gcc", &no_g).status.success());
        fs::read(tree.work().join("local.o")).unwrap()
    };
    let mut cases = vec![
        (ours.host(), true),
        (format!("{},classic", ours.host()), false),
    ];
    let reference = RefDaemon::available().then(RefDaemon::start);
    if let Some(r) = &reference {
        // Twice: the refusal is remembered after the first job.
        cases.push((r.host(), false));
        cases.push((r.host(), false));
    }
    for (i, (host, exact)) in cases.iter().enumerate() {
        fs::remove_file(tree.work().join("u.o")).ok();
        let c = client(&tree, host, &path, &["no-g"]);
        let out = run(c, Duration::from_secs(120));
        let err = text(&out.stderr);
        assert!(out.status.success(), "{host}: {err}");
        assert_eq!(fs::read(tree.work().join("u.o")).unwrap(), want, "{host}");
        assert_eq!(err.contains("(exact)"), *exact, "{host}: {err}");
        let offered = err.contains("no hashed transfer");
        assert_eq!(offered, reference.is_some() && i == 2, "{host}: {err}");
    }
}

/// The pids of the scan agents started for the scene's cache dir, from
/// the lines they note in its log.
fn scan_agents(s: &Scene) -> Vec<i32> {
    let log = fs::read_to_string(s.tree.path("state/cache/scan-agent.log")).unwrap_or_default();
    log.lines()
        .filter_map(|l| l.strip_suffix(" listening")?.parse().ok())
        .collect()
}

/// A scene whose first job started one scan agent; its pid.
fn with_one_agent() -> (Scene, i32) {
    let s = Scene::new("");
    let (ok, err) = s.client(",cpp", &[]);
    assert!(ok, "{err}");
    let started = scan_agents(&s);
    assert_eq!(started.len(), 1);
    (s, started[0])
}

/// A walk (the unit with `flag`) through a new agent, the second of the
/// scene, with the local object.
fn walks_through_a_second_agent(s: &Scene, flag: &str) -> Vec<i32> {
    let (ok, err) = s.client(",cpp", &[flag]);
    assert!(ok, "{err}");
    assert!(err.contains("(the scan agent)"), "{err}");
    assert!(s.same_as_local(&[flag]));
    let again = scan_agents(s);
    assert_eq!(again.len(), 2, "a new agent: {again:?}");
    again
}

#[test]
fn one_scan_agent_scans_every_job_and_each_object_is_the_local_one() {
    skip_unless!(have("gcc"), "gcc missing");
    let s = Scene::new("");
    let (ok, err) = s.client(",cpp", &[]);
    assert!(ok, "{err}");
    assert!(err.contains("(the scan agent)"), "{err}");
    assert!(s.same_as_local(&[]));
    // Another flag: the unit is walked again, by the same agent, with the
    // headers it holds in memory.
    let (ok, err) = s.client(",cpp", &["-DOTHER=1"]);
    assert!(ok, "{err}");
    assert!(err.contains("(the scan agent)"), "{err}");
    assert!(!err.contains("kept scan holds"), "{err}");
    assert!(s.same_as_local(&["-DOTHER=1"]));
    // A header edited between jobs is seen by the agent.
    s.tree.write("inc1/sel.h", "#define SELECTED 9\n");
    let (ok, err) = s.client(",cpp", &["-DOTHER=1"]);
    assert!(ok, "{err}");
    assert!(err.contains("(the scan agent)"), "{err}");
    assert!(
        s.same_as_local(&["-DOTHER=1"]),
        "the object of the new header"
    );
    // A directive added to a header: a file the agent knew names another.
    s.tree
        .write("inc1/sel.h", "#include \"opt.h\"\n#define SELECTED 11\n");
    let (ok, err) = s.client(",cpp", &["-DOTHER=1"]);
    assert!(ok, "{err}");
    assert!(
        s.same_as_local(&["-DOTHER=1"]),
        "the object of the new header"
    );
    let summary = s.summary();
    assert!(summary.contains("scanner misses 0"), "{summary}");
    assert_eq!(scan_agents(&s).len(), 1, "one agent for every job");
}

#[test]
fn with_the_scan_agent_off_each_job_scans_itself() {
    skip_unless!(have("gcc"), "gcc missing");
    let s = Scene::new("");
    let mut c = s.command(",cpp", &[]);
    c.env("DISTCC_SCAN_AGENT", "0");
    let out = run(c, Duration::from_secs(120));
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("scan cache:"), "{err}");
    assert!(!err.contains("scan agent"), "{err}");
    assert!(s.same_as_local(&[]));
    assert!(scan_agents(&s).is_empty());
}

#[test]
fn a_job_works_after_its_scan_agent_was_killed_and_left_a_stale_socket() {
    skip_unless!(have("gcc"), "gcc missing");
    let (s, agent) = with_one_agent();
    // SAFETY: killing the agent this test's client started.
    unsafe { libc::kill(agent, libc::SIGKILL) };
    wait_gone(agent);
    let stale = fs::read_dir(s.tree.path("state/cache"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".sock"));
    assert!(stale, "a stale socket");
    let again = walks_through_a_second_agent(&s, "-DOTHER=1");
    assert_ne!(again[0], again[1]);
}

#[test]
fn a_job_in_another_mount_namespace_is_refused_by_the_agent_and_scans_itself() {
    skip_unless!(have("gcc"), "gcc missing");
    skip_unless!(
        Command::new("unshare")
            .args(["-m", "true"])
            .status()
            .is_ok_and(|s| s.success()),
        "cannot make a mount namespace"
    );
    let (s, _) = with_one_agent();
    // The same client, in a mount namespace of its own: names there could
    // mean other files than the agent sees.
    let inner = s.command(",cpp", &["-DOTHER=1"]);
    let mut c = Command::new("unshare");
    c.arg("-m")
        .arg("--")
        .arg(inner.get_program())
        .args(inner.get_args());
    if let Some(d) = inner.get_current_dir() {
        c.current_dir(d);
    }
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let out = run(c, Duration::from_secs(120));
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("the scan agent refused"), "{err}");
    assert!(
        err.contains("scan cache:"),
        "scanned by the job itself: {err}"
    );
    assert!(s.same_as_local(&["-DOTHER=1"]));
}

#[test]
fn a_stopped_scan_agent_costs_one_job_a_wait_and_is_replaced() {
    skip_unless!(have("gcc"), "gcc missing");
    let (s, agent) = with_one_agent();
    // SAFETY: stopping the agent this test's client started.
    unsafe { libc::kill(agent, libc::SIGSTOP) };
    // A walk: the job asks the agent, waits its time out, scans itself,
    // and removes the agent's socket.
    let (ok, err) = s.client(",cpp", &["-DOTHER=1"]);
    assert!(ok, "{err}");
    assert!(err.contains("its socket is removed"), "{err}");
    assert!(s.same_as_local(&["-DOTHER=1"]));
    // The next walk starts a new agent at once.
    walks_through_a_second_agent(&s, "-DOTHER=2");
    // SAFETY: ending the agent this test stopped.
    unsafe { libc::kill(agent, libc::SIGKILL) };
    wait_gone(agent);
}
