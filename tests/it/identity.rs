//! Compiler identity between our client and daemon: a daemon with two
//! compilers under one name runs the one with the client's identity; one
//! without it refuses, naming both, and the job compiles here; a system
//! header that differs on the daemon (bind-mounted over in a mount
//! namespace the test creates for the daemon alone) is refused likewise.
//! A refusal is remembered for a while: later jobs asserting the same
//! compiler, or the same header, skip that host without asking.
//!
//! The second compiler is gcc's own driver copied with one byte appended:
//! a different binary with the same behaviour, so its objects are the
//! same bytes and any difference in a test is the check's.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::skip_unless;
use crate::util::*;

const T: Duration = Duration::from_secs(120);
const SRC: &str = "#include <stdio.h>\nint f(int x) { return x * 3; }\nvoid p(void) { printf(\"%d\\n\", f(2)); }\n";

/// `other/usr/bin/gcc`: gcc's driver plus one byte, in a tree whose `lib`
/// and `libexec` lead to the system's, so it finds the same `cc1`.
fn other_gcc(tree: &Tree) -> PathBuf {
    let usr = tree.path("other/usr");
    fs::create_dir_all(usr.join("bin")).unwrap();
    symlink("/usr/lib", usr.join("lib")).unwrap();
    symlink("/usr/libexec", usr.join("libexec")).unwrap();
    let driver = fs::canonicalize(which("gcc")).unwrap();
    let mut bytes = fs::read(driver).unwrap();
    bytes.push(0);
    let gcc = usr.join("bin/gcc");
    fs::write(&gcc, bytes).unwrap();
    fs::set_permissions(&gcc, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    gcc
}

/// A dir of compilers for a daemon's PATH: `name -> target` links.
fn compiler_dir(tree: &Tree, dir: &str, links: &[(&str, &Path)]) -> PathBuf {
    let d = tree.path(dir);
    fs::create_dir(&d).unwrap();
    for (name, target) in links {
        symlink(target, d.join(name)).unwrap();
    }
    d
}

fn path_with(first: &Path) -> String {
    format!("{}:/usr/bin:/bin", first.display())
}

fn daemon_with_path(tree: &Tree, first: &Path) -> Daemon {
    let path = path_with(first);
    Daemon::start_with(tree, &[], |c| {
        c.env("PATH", &path);
    })
}

/// `distcc gcc -c t.c -o OBJ` with `bin` first on PATH (the client's gcc).
fn compile(tree: &Tree, hosts: &str, bin: &Path, obj: &str) -> Command {
    let mut c = tree.client(hosts, &["gcc", "-O1", "-c", "t.c", "-o", obj]);
    c.env("PATH", path_with(bin)).env("DISTCC_VERBOSE", "1");
    c
}

fn local_object(tree: &Tree, gcc: &Path) -> Vec<u8> {
    let mut c = Command::new(gcc);
    c.args(["-O1", "-c", "t.c", "-o", "local.o"])
        .current_dir(tree.work());
    let out = run(c, T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    fs::read(tree.work().join("local.o")).unwrap()
}

fn ok(out: &Output) -> String {
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    err
}

#[test]
fn a_daemon_with_both_compilers_runs_the_clients_one() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("t.c", SRC);
    let other = other_gcc(&tree);
    let real = which("gcc");
    let dir = compiler_dir(&tree, "daemon-bin", &[("gcc", &real), ("gcc-99", &other)]);
    let daemon = daemon_with_path(&tree, &dir);
    let hosts = format!("{},cpp,lzo", daemon.host());

    let mut c = compile(&tree, &hosts, other.parent().unwrap(), "other.o");
    c.env("DISTCC_FALLBACK", "0");
    let err = ok(&run(c, T));
    assert!(!err.contains("failed to distribute"), "{err}");
    let log = daemon.log_when(|l| l.contains("gcc-99"));
    assert!(
        log.contains(&format!("running {}", dir.join("gcc-99").display())),
        "{log}\n{err}"
    );
    let want = local_object(&tree, &other);
    assert_eq!(fs::read(tree.work().join("other.o")).unwrap(), want);

    // A client with the system's gcc gets the daemon's `gcc`.
    let mut c = compile(&tree, &hosts, real.parent().unwrap(), "real.o");
    c.env("DISTCC_FALLBACK", "0");
    ok(&run(c, T));
    assert_eq!(fs::read(tree.work().join("real.o")).unwrap(), want);
}

#[test]
fn a_daemon_without_the_clients_compiler_refuses_and_the_job_runs_here() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("t.c", SRC);
    let other = other_gcc(&tree);
    let dir = compiler_dir(&tree, "daemon-bin", &[("gcc", &which("gcc"))]);
    let daemon = daemon_with_path(&tree, &dir);
    let hosts = format!("{},cpp,lzo", daemon.host());
    let bin = other.parent().unwrap();

    // Without a fallback: distcc's code, and no object at all.
    let mut c = compile(&tree, &hosts, bin, "none.o");
    c.env("DISTCC_FALLBACK", "0");
    let out = run(c, T);
    assert_eq!(out.status.code(), Some(110), "{}", text(&out.stderr));
    assert!(!tree.work().join("none.o").exists());

    let err = ok(&run(compile(&tree, &hosts, bin, "t.o"), T));
    let line = err
        .lines()
        .find(|l| l.contains("running locally instead"))
        .unwrap_or_else(|| panic!("no fallback line: {err}"));
    assert!(
        line.contains("compiler mismatch: client has gcc "),
        "{line}"
    );
    assert!(line.contains(", this host has gcc "), "{line}");
    assert!(line.contains("(differs in driver)"), "{line}");
    assert_eq!(
        fs::read(tree.work().join("t.o")).unwrap(),
        local_object(&tree, &other)
    );
    // Beside a host that has the client's compiler, the refusing one costs
    // nothing: the job goes there, whichever host is tried first.
    let with_other = compiler_dir(&tree, "with-other", &[("gcc", &other)]);
    let good = daemon_with_path(&tree, &with_other);
    let both = format!("{hosts} {},cpp,lzo", good.host());
    for obj in ["g1.o", "g2.o"] {
        let mut c = compile(&tree, &both, bin, obj);
        c.env("DISTCC_FALLBACK", "0");
        ok(&run(c, T));
        assert_eq!(
            fs::read(tree.work().join(obj)).unwrap(),
            fs::read(tree.work().join("t.o")).unwrap()
        );
    }
    let summary = summary(&tree);
    assert!(
        summary
            .lines()
            .any(|l| l.contains("compiler mismatch: client has gcc ")),
        "{summary}"
    );
}

#[test]
fn a_host_that_refused_this_compiler_is_asked_once_for_a_while() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("t.c", SRC);
    let other = other_gcc(&tree);
    let real = which("gcc");
    let dir = compiler_dir(&tree, "daemon-bin", &[("gcc", &real)]);
    let daemon = daemon_with_path(&tree, &dir);
    let hosts = format!("{},cpp,lzo", daemon.host());
    let want = local_object(&tree, &other);
    for i in 0..4 {
        let obj = format!("o{i}.o");
        let mut c = compile(&tree, &hosts, other.parent().unwrap(), &obj);
        c.env("DISTCC_BACKOFF_PERIOD", "60");
        let err = ok(&run(c, T));
        assert_eq!(err.contains("; not asked"), i > 0, "job {i}: {err}");
        assert_eq!(fs::read(tree.work().join(&obj)).unwrap(), want);
    }
    // A job of another compiler, the daemon's own, still goes there.
    let mut c = compile(&tree, &hosts, real.parent().unwrap(), "real.o");
    c.env("DISTCC_BACKOFF_PERIOD", "60")
        .env("DISTCC_FALLBACK", "0");
    ok(&run(c, T));
    assert_eq!(fs::read(tree.work().join("real.o")).unwrap(), want);
    let log = daemon.log_when(|l| l.contains(": gcc status 0"));
    assert!(log.contains(": gcc status 0"), "{log}");
    assert_eq!(log.matches("compiler mismatch: ").count(), 1, "{log}");
}

/// Finished jobs as `distccmon-text --summary` tells them.
fn summary(tree: &Tree) -> String {
    let mon = tree.path("bin/distccmon-text");
    symlink(exe(), &mon).unwrap();
    let mut c = Command::new(mon);
    c.arg("--summary").env("DISTCC_DIR", tree.path("state"));
    let out = run(c, T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// Whether this process may create a mount namespace.
pub(crate) fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A command that runs the program and arguments given to it next in a
/// mount namespace of its own where `from` is bind-mounted over `over`.
pub(crate) fn with_bind(from: &Path, over: &Path) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$1\" \"$2\" && shift 2 && exec \"$@\"")
        .arg("sh")
        .arg(from)
        .arg(over);
    cmd
}

/// A daemon in a mount namespace of its own where `from` is bind-mounted
/// over `over`: it alone sees the other file (or dir) there.
pub(crate) fn daemon_with_bind(tree: &Tree, from: &Path, over: &Path) -> Daemon {
    let mut cmd = with_bind(from, over);
    cmd.arg(tree.path("bin/distccd"))
        .args(serve_args("127.0.0.1", 0))
        .arg("--log-stderr")
        .arg("--compiler-dir")
        .arg(tree.path("masq"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    Daemon::spawn(cmd)
}

#[test]
fn a_system_header_that_differs_on_the_daemon_is_refused() {
    skip_unless!(have("gcc"), "gcc not installed");
    skip_unless!(
        have("unshare") && can_unshare(),
        "cannot make a mount namespace"
    );
    let tree = Tree::new();
    tree.write("t.c", SRC);
    let header = fs::canonicalize("/usr/include/stdio.h").unwrap();
    let mut changed = fs::read(&header).unwrap();
    changed.extend_from_slice(b"\n/* one more line */\n");
    let copy = tree.path("stdio.h");
    fs::write(&copy, changed).unwrap();
    // The daemon sees the changed header in its own mount namespace only.
    let daemon = daemon_with_bind(&tree, &copy, &header);
    let hosts = format!("{},cpp,lzo", daemon.host());
    let real = which("gcc");
    let bin = real.parent().unwrap();

    let err = ok(&run(compile(&tree, &hosts, bin, "t.o"), T));
    let want = format!("system header mismatch: {}: client has ", header.display());
    assert!(err.contains(&want), "{err}");
    assert_eq!(
        fs::read(tree.work().join("t.o")).unwrap(),
        local_object(&tree, &real)
    );
    // Asked again, the daemon knows the list and refuses before any body.
    let err = ok(&run(compile(&tree, &hosts, bin, "u.o"), T));
    assert!(err.contains(&want), "{err}");

    // Remembered for a while, that header as this client has it keeps
    // later jobs that read it away from the host; one that does not read
    // it still goes there.
    let remembered = |obj: &str| {
        let mut c = compile(&tree, &hosts, bin, obj);
        c.env("DISTCC_BACKOFF_PERIOD", "60");
        ok(&run(c, T))
    };
    let err = remembered("v0.o");
    assert!(err.contains(&want), "{err}");
    for obj in ["v1.o", "v2.o", "v3.o"] {
        let err = remembered(obj);
        assert!(err.contains("; not asked"), "{err}");
        assert!(!err.contains(&want), "{err}");
        assert_eq!(
            fs::read(tree.work().join(obj)).unwrap(),
            fs::read(tree.work().join("t.o")).unwrap()
        );
    }
    tree.write("t.c", "int g(int x) { return x + 1; }\n");
    let mut c = compile(&tree, &hosts, bin, "w.o");
    c.env("DISTCC_BACKOFF_PERIOD", "60")
        .env("DISTCC_FALLBACK", "0");
    ok(&run(c, T));
    assert_eq!(
        fs::read(tree.work().join("w.o")).unwrap(),
        local_object(&tree, &real)
    );
    let log = daemon.log_when(|l| l.contains(": gcc status 0"));
    assert!(log.contains(": gcc status 0"), "{log}");
    assert_eq!(log.matches("system header mismatch: ").count(), 3, "{log}");
}

#[test]
fn check_hosts_says_which_hosts_have_this_compiler() {
    skip_unless!(have("gcc"), "gcc not installed");
    skip_unless!(RefDaemon::available(), "distcc 3.4's daemon not installed");
    let tree = Tree::new();
    let other = other_gcc(&tree);
    let real = which("gcc");
    // The client checks for the other gcc; one daemon has it besides the
    // system's, one has only the system's.
    let with_other = compiler_dir(&tree, "with-other", &[("gcc", &other)]);
    let without = compiler_dir(&tree, "without", &[("gcc", &real)]);
    let same = daemon_with_path(&tree, &with_other);
    let differs = daemon_with_path(&tree, &without);
    let reference = RefDaemon::start();
    let check = |hosts: &str| {
        let mut c = tree.client(hosts, &["--check-hosts", "gcc"]);
        c.env("PATH", path_with(other.parent().unwrap()));
        run(c, T)
    };
    let line = |out: &Output, host: &str| -> String {
        text(&out.stdout)
            .lines()
            .find(|l| l.starts_with(host))
            .unwrap_or_else(|| panic!("no line for {host}: {}", text(&out.stdout)))
            .to_string()
    };

    let out = check(&format!("{} {}", same.host(), reference.host()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("here: gcc "),
        "{}",
        text(&out.stdout)
    );
    assert!(line(&out, &same.host()).contains(": same compiler (gcc "));
    assert!(line(&out, &reference.host()).ends_with(": cannot verify (distcc 3.4)"));

    let all = format!("{} {} {}", same.host(), differs.host(), reference.host());
    let out = check(&all);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let l = line(&out, &differs.host());
    assert!(l.contains("compiler mismatch: client has gcc "), "{l}");
    assert!(l.contains("(differs in driver)"), "{l}");
    assert!(line(&out, &same.host()).contains(": same compiler (gcc "));
}

#[test]
fn a_reference_daemon_is_used_as_before_and_said_to_be_unverified_once() {
    skip_unless!(have("gcc"), "gcc not installed");
    skip_unless!(RefDaemon::available(), "distcc 3.4's daemon not installed");
    let tree = Tree::new();
    tree.write("t.c", SRC);
    let reference = RefDaemon::start();
    let hosts = format!("{},cpp,lzo", reference.host());
    let real = which("gcc");
    let bin = real.parent().unwrap();
    let want = local_object(&tree, &real);
    let said = "which cannot verify its compiler and system headers";
    for (obj, once) in [("a.o", true), ("b.o", false)] {
        let mut c = compile(&tree, &hosts, bin, obj);
        c.env("DISTCC_FALLBACK", "0");
        let err = ok(&run(c, T));
        assert_eq!(err.contains(said), once, "{obj}: {err}");
        assert_eq!(fs::read(tree.work().join(obj)).unwrap(), want);
    }
}
