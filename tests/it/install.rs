//! `install.sh` and the masquerade dir it creates: an install into a temp
//! prefix used the way users use it (that dir first on PATH, `CC=distcc`,
//! ccache in front, an autoconf/libtool project), and the recursion set-ups
//! that must fail fast. Where the script writes, what it says first and
//! what `--uninstall` leaves are tested in `install/paths.rs`; the packages
//! built from `packaging/` in `packaging.rs`.
//!
//! Compiles are proven remote by the daemon's log and, where the client
//! needs no linker, by client compilers that may only preprocess.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::skip_unless;
use crate::util::{exe, have, run, text, which, Daemon, Tree, COMPILERS};

pub const LIMIT: Duration = Duration::from_secs(60);

pub fn src_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `install.sh --prefix TREE/prefix` of the binary under test, no cargo.
fn install(tree: &Tree, extra: &[&str], path: Option<&OsString>) -> Output {
    let mut c = Command::new(src_dir().join("install.sh"));
    c.arg("--prefix")
        .arg(tree.path("prefix"))
        .arg("--no-build")
        .arg("--binary")
        .arg(exe())
        .args(extra);
    if let Some(p) = path {
        c.env("PATH", p);
    }
    let out = run(c, LIMIT);
    assert!(
        out.status.success(),
        "install.sh failed: {}",
        text(&out.stderr)
    );
    out
}

fn masq(tree: &Tree) -> PathBuf {
    tree.path("prefix/lib/distcc/bin")
}

/// Installs, then makes the installed masquerade dir the daemon's only
/// whitelist (the tree's own `masq/` is emptied), and starts the daemon.
fn install_with_daemon(tree: &Tree) -> Daemon {
    install(tree, &[], None);
    for c in COMPILERS {
        fs::remove_file(tree.path("masq").join(c)).unwrap();
    }
    let dir = masq(tree);
    Daemon::start(tree, &["--compiler-dir", dir.to_str().unwrap()])
}

/// PATH entries joined, then this process's PATH.
fn path_with(dirs: &[PathBuf]) -> OsString {
    let mut all = dirs.to_vec();
    all.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(all).unwrap()
}

/// `program args` in `work/` with the client's environment, as
/// `Tree::client` sets it, no fallback, and PATH `path`.
fn command(tree: &Tree, hosts: &str, path: &OsString, program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args)
        .current_dir(tree.work())
        .env("PATH", path)
        .env("DISTCC_HOSTS", hosts)
        .env("DISTCC_DIR", tree.path("state"))
        .env("DISTCC_FALLBACK", "0")
        .env("DISTCC_BACKOFF_PERIOD", "0")
        .env_remove("DISTCC_VERBOSE")
        .env_remove("DISTCC_LOG")
        .env_remove("_DISTCC_SAFEGUARD")
        .env_remove("CC")
        .env_remove("MAKEFLAGS");
    c
}

fn jobs(daemon: &Daemon) -> usize {
    daemon.log().matches(" status 0").count()
}

/// Waits (bounded) for the daemon to have logged `n` successful jobs.
fn wait_jobs(daemon: &Daemon, n: usize) -> usize {
    let log = daemon.log_when(|l| l.matches(" status 0").count() >= n);
    log.matches(" status 0").count()
}

pub fn executable(path: &Path, body: &str) {
    fs::write(path, body).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn install_links_compilers_refreshes_and_uninstalls() {
    let tree = Tree::new();
    let fake = tree.path("fake");
    fs::create_dir(&fake).unwrap();
    for name in [
        "gcc-99",
        "x86_64-linux-gnu-g++-99",
        "cpp-99",
        "gcc-ar-99",
        "x86_64-linux-gnu-gcc-nm-99",
    ] {
        executable(&fake.join(name), "#!/bin/sh\n");
    }
    let path = path_with(std::slice::from_ref(&fake));
    install(&tree, &[], Some(&path));

    let prefix = tree.path("prefix");
    let bin = fs::symlink_metadata(prefix.join("bin/distcc")).unwrap();
    assert!(bin.is_file() && bin.permissions().mode() & 0o111 != 0);
    assert_eq!(bin.len(), fs::metadata(exe()).unwrap().len());
    for name in ["distccd", "distccmon-text"] {
        assert_eq!(
            fs::read_link(prefix.join("bin").join(name)).unwrap(),
            Path::new("distcc")
        );
    }
    assert!(prefix.join("sbin/update-distcc-symlinks").is_file());
    assert!(prefix.join("share/distcc/compilers").is_file());
    let links = names(&masq(&tree));
    for want in ["gcc-99", "x86_64-linux-gnu-g++-99"] {
        assert!(links.iter().any(|l| l == want), "{want} missing: {links:?}");
    }
    for helper in ["cpp-99", "gcc-ar-99", "x86_64-linux-gnu-gcc-nm-99"] {
        assert!(!links.iter().any(|l| l == helper), "{helper} linked");
    }
    for name in ["gcc", "cc", "g++", "c++"] {
        if have(name) {
            assert!(links.iter().any(|l| l == name), "{name} missing: {links:?}");
        }
    }
    for l in &links {
        let link = masq(&tree).join(l);
        assert_eq!(
            fs::read_link(&link).unwrap(),
            Path::new("../../../bin/distcc")
        );
        assert_eq!(
            fs::canonicalize(&link).unwrap(),
            fs::canonicalize(prefix.join("bin/distcc")).unwrap()
        );
    }

    // Idempotent: nothing changes the second time.
    let again = install(&tree, &[], Some(&path));
    assert!(
        text(&again.stdout).contains(", 0 change(s)"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(names(&masq(&tree)), links);

    // A compiler upgrade: the new name is added, the vanished one dropped,
    // a file that is not our link is left alone.
    executable(&fake.join("clang-99"), "#!/bin/sh\n");
    fs::remove_file(fake.join("gcc-99")).unwrap();
    fs::write(masq(&tree).join("mine"), "not a link").unwrap();
    install(&tree, &[], Some(&path));
    let after = names(&masq(&tree));
    assert!(after.iter().any(|l| l == "clang-99"), "{after:?}");
    assert!(!after.iter().any(|l| l == "gcc-99"), "{after:?}");

    // Everything but the file that is not ours, and the dirs that hold it.
    install(&tree, &["--uninstall"], Some(&path));
    assert_eq!(names(&masq(&tree)), ["mine"]);
    assert_eq!(names(&prefix), ["lib"]);
    assert_eq!(names(&prefix.join("lib")), ["distcc"]);
}

#[test]
fn masquerade_gcc_and_make_compile_remotely() {
    skip_unless!(have("gcc") && have("make"), "gcc or make not installed");
    let tree = Tree::new();
    let daemon = install_with_daemon(&tree);
    // The masquerade dir first; the real compilers after it may only
    // preprocess, so an object can only come from the daemon.
    let path = path_with(&[masq(&tree), tree.path("cpponly")]);
    let host = daemon.host();

    tree.write("one.c", "int one(void) { return 1; }\n");
    let out = run(
        command(&tree, &host, &path, "gcc", &["-c", "one.c", "-o", "one.o"]),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(tree.work().join("one.o").is_file());
    assert_eq!(wait_jobs(&daemon, 1), 1, "{}", daemon.log());

    let sources = ["a", "b", "c", "d"];
    let mut main = String::from("#include <stdio.h>\n");
    for s in sources {
        tree.write(
            &format!("p/{s}.c"),
            &format!("int {s}(void) {{ return {}; }}\n", s.as_bytes()[0]),
        );
        main.push_str(&format!("int {s}(void);\n"));
    }
    main.push_str("int main(void) { printf(\"%d\\n\", a() + b() + c() + d()); return 0; }\n");
    tree.write("p/main.c", &main);
    // Linking runs here, so it uses the real compiler by path.
    tree.write(
        "p/Makefile",
        "OBJS = a.o b.o c.o d.o main.o\nprog: $(OBJS)\n\t$(LINK) $(OBJS) -o $@\n\
         %.o: %.c\n\tgcc -O2 -c $< -o $@\n",
    );
    let link = format!("LINK={}", which("gcc").display());
    let mut make = command(&tree, &host, &path, "make", &["-C", "p", "-j4", &link]);
    make.env_remove("MAKELEVEL");
    let out = run(make, LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(wait_jobs(&daemon, 6), 6, "{}", daemon.log());
    let prog = run(Command::new(tree.work().join("p/prog")), LIMIT);
    assert_eq!(text(&prog.stdout).trim(), (97 + 98 + 99 + 100).to_string());
}

/// Runs `program args` with `path` and asserts exit 111 and a message
/// containing each of `names`. A loop that went undetected would never
/// end, and `run`'s bound fails it.
fn assert_recursion(tree: &Tree, path: &OsString, program: &str, args: &[&str], names: &[&Path]) {
    let out = run(command(tree, "localhost", path, program, args), LIMIT);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(111), "{program} {args:?}: {err}");
    for n in names {
        assert!(
            err.contains(&n.display().to_string()),
            "{n:?} not named: {err}"
        );
    }
}

#[test]
fn recursion_setups_exit_111_at_once() {
    let tree = Tree::new();
    install(&tree, &[], None);
    let m = masq(&tree);
    let distcc = tree.path("prefix/bin/distcc");
    tree.write("a.c", "int a;\n");
    let args = ["-c", "a.c", "-o", "a.o"];
    // masq/gcc must exist whatever compilers this machine has.
    if !m.join("gcc").exists() {
        symlink("../../../bin/distcc", m.join("gcc")).unwrap();
    }

    // The masquerade dir twice on PATH, no real compiler after it.
    let twice = std::env::join_paths([&m, &m]).unwrap();
    assert_recursion(&tree, &twice, "gcc", &args, &[&m.join("gcc")]);

    // A later `gcc` that is a script calling `distcc gcc` again: caught
    // the first time it calls back, so it runs once.
    let later = tree.path("later");
    fs::create_dir(&later).unwrap();
    let runs = tree.path("later-runs");
    executable(
        &later.join("gcc"),
        &format!(
            "#!/bin/sh\necho run >> '{}'\nexec distcc gcc \"$@\"\n",
            runs.display()
        ),
    );
    let path = path_with(&[m.clone(), later.clone(), tree.path("prefix/bin")]);
    assert_recursion(&tree, &path, "gcc", &args, &[&later.join("gcc")]);
    assert_eq!(fs::read_to_string(&runs).unwrap(), "run\n");

    // CC=distcc where the only `cc` is a link to distcc.
    let ccdir = tree.path("ccdir");
    fs::create_dir(&ccdir).unwrap();
    symlink(&distcc, ccdir.join("cc")).unwrap();
    let path = std::env::join_paths([tree.path("prefix/bin"), ccdir.clone()]).unwrap();
    assert_recursion(&tree, &path, "distcc", &args, &[&ccdir.join("cc")]);

    // A chain of links: first/gcc -> other/gcc -> distcc.
    let (first, other) = (tree.path("first"), tree.path("other"));
    fs::create_dir(&first).unwrap();
    fs::create_dir(&other).unwrap();
    symlink(&distcc, other.join("gcc")).unwrap();
    symlink(other.join("gcc"), first.join("gcc")).unwrap();
    let path = std::env::join_paths([&first, &other]).unwrap();
    assert_recursion(
        &tree,
        &path,
        "gcc",
        &args,
        &[&first, &other.join("gcc"), &distcc],
    );
}

/// A compile through ccache twice: the first goes to the daemon, the
/// second (same source, object removed) is a ccache hit.
fn ccache_twice(tree: &Tree, daemon: &Daemon, path: &OsString, program: &str, args: &[&str]) {
    let ccache_dir = tree.path("ccache");
    fs::create_dir(&ccache_dir).unwrap();
    fs::write(ccache_dir.join("ccache.conf"), "").unwrap();
    let cmd = || {
        let mut c = command(tree, &daemon.host(), path, program, args);
        c.env("CCACHE_DIR", &ccache_dir)
            .env("CCACHE_CONFIGPATH", ccache_dir.join("ccache.conf"))
            .env_remove("CCACHE_DISABLE")
            .env_remove("CCACHE_PREFIX")
            .env_remove("CCACHE_RECACHE");
        c
    };
    // Direct and preprocessor-mode hits together.
    let hits = || {
        let mut c = Command::new("ccache");
        c.arg("--print-stats").env("CCACHE_DIR", &ccache_dir);
        let out = run(c, LIMIT);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .filter(|l| {
                l.starts_with("direct_cache_hit") || l.starts_with("preprocessed_cache_hit")
            })
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
            .sum::<usize>()
    };
    let before = jobs(daemon);
    let out = run(cmd(), LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        wait_jobs(daemon, before + 1),
        before + 1,
        "{}",
        daemon.log()
    );
    assert_eq!(hits(), 0);
    fs::remove_file(tree.work().join("c.o")).unwrap();
    let out = run(cmd(), LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(tree.work().join("c.o").is_file());
    assert_eq!(hits(), 1, "the second build was not a cache hit");
    assert_eq!(jobs(daemon), before + 1, "{}", daemon.log());
}

#[test]
fn ccache_then_distcc_masquerade_dirs() {
    skip_unless!(
        have("gcc") && have("ccache") && Path::new("/usr/lib/ccache/gcc").exists(),
        "gcc, ccache or /usr/lib/ccache not installed"
    );
    let tree = Tree::new();
    let daemon = install_with_daemon(&tree);
    tree.write("c.c", "int c(void) { return 3; }\n");
    let path = path_with(&[
        PathBuf::from("/usr/lib/ccache"),
        masq(&tree),
        tree.path("cpponly"),
    ]);
    ccache_twice(&tree, &daemon, &path, "gcc", &["-c", "c.c", "-o", "c.o"]);
}

#[test]
fn cc_is_ccache_distcc_gcc() {
    skip_unless!(have("gcc") && have("ccache"), "gcc or ccache not installed");
    let tree = Tree::new();
    let daemon = install_with_daemon(&tree);
    tree.write("c.c", "int c(void) { return 3; }\n");
    let path = path_with(&[tree.path("prefix/bin"), tree.path("cpponly")]);
    ccache_twice(
        &tree,
        &daemon,
        &path,
        "ccache",
        &["distcc", "gcc", "-c", "c.c", "-o", "c.o"],
    );
}

const CONFIGURE_AC: &str = "\
AC_INIT([hello], [1.0])
AC_CONFIG_SRCDIR([hello.c])
AC_CONFIG_AUX_DIR([build-aux])
AC_CONFIG_MACRO_DIRS([m4])
AM_INIT_AUTOMAKE([foreign])
AC_PROG_CC
LT_INIT([disable-static])
AC_CONFIG_FILES([Makefile])
AC_OUTPUT
";

const MAKEFILE_AM: &str = "\
ACLOCAL_AMFLAGS = -I m4
lib_LTLIBRARIES = libgreet.la
libgreet_la_SOURCES = greet.c
bin_PROGRAMS = hello
hello_SOURCES = hello.c
hello_LDADD = libgreet.la
";

#[test]
fn autoconf_libtool_project_with_cc_distcc() {
    skip_unless!(
        ["gcc", "make", "autoreconf", "automake", "libtoolize"]
            .iter()
            .all(|t| have(t)),
        "gcc, make, autoconf, automake or libtool not installed"
    );
    let tree = Tree::new();
    let daemon = install_with_daemon(&tree);
    tree.write("ac/configure.ac", CONFIGURE_AC);
    tree.write("ac/Makefile.am", MAKEFILE_AM);
    tree.write(
        "ac/greet.c",
        "const char *greet(void) { return \"hello from distcc\"; }\n",
    );
    tree.write(
        "ac/hello.c",
        "#include <stdio.h>\nconst char *greet(void);\nint main(void) { puts(greet()); return 0; }\n",
    );
    let path = path_with(&[tree.path("prefix/bin")]);
    let host = daemon.host();
    let step = |program: &str, args: &[&str], cc: bool| {
        let mut c = command(&tree, &host, &path, program, args);
        c.current_dir(tree.work().join("ac"));
        if cc {
            c.env("CC", "distcc");
        }
        let out = run(c, LIMIT);
        assert!(
            out.status.success(),
            "{program}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    };
    step("autoreconf", &["-fi"], false);
    step("./configure", &[], true);
    // configure's probes (conftest.c) run here, as distcc 3.4 runs them.
    let configured = daemon.log().matches(" status 0").count();
    assert_eq!(configured, 0, "configure sent jobs: {}", daemon.log());
    step("make", &["-j4"], false);
    // greet.c (as a PIC libtool object) and hello.c.
    assert!(
        wait_jobs(&daemon, configured + 2) >= configured + 2,
        "{}",
        daemon.log()
    );
    let hello = run(Command::new(tree.work().join("ac/hello")), LIMIT);
    assert_eq!(text(&hello.stdout).trim(), "hello from distcc");
    assert!(tree.work().join("ac/.libs/libgreet.so").exists());
}

#[test]
fn install_demo_compiles_on_a_loopback_daemon() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    let out = install(&tree, &["--demo"], None);
    assert!(
        text(&out.stdout).contains("compiled remotely on the loopback daemon"),
        "{}",
        text(&out.stdout)
    );
}

mod paths;
