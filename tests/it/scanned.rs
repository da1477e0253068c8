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

/// A `gcc` in `dir` that appends its argv to `log` and runs the real one,
/// with `extra` words first.
fn logging_gcc(tree: &Tree, dir: &str, log: &str, extra: &str) -> PathBuf {
    let d = tree.path(dir);
    fs::create_dir_all(&d).unwrap();
    let p = d.join("gcc");
    fs::write(
        &p,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\nexec {} {extra} \"$@\"\n",
            tree.path(log).display(),
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

fn client(tree: &Tree, host: &str, path: &std::ffi::OsString) -> Command {
    let mut args = vec!["gcc"];
    args.extend(ARGS);
    let mut c = tree.client(host, &args);
    c.env("PATH", path)
        .env("DISTCC_FALLBACK", "0")
        .env("DISTCC_VERBOSE", "1");
    c
}

fn summary(tree: &Tree) -> String {
    let mut c = Command::new(tree.path("bin/distccmon-text"));
    c.arg("--summary").env("DISTCC_DIR", tree.path("state"));
    text(&run(c, Duration::from_secs(30)).stdout)
}

#[test]
fn scanned_unit_is_identical_and_runs_no_listing_here() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    symlink_monitor(&tree);
    unit(&tree);
    let bin = logging_gcc(&tree, "wrap", "client.log", "");
    let daemon = Daemon::start(&tree, &["--allow", "127.0.0.1"]);
    let host = format!("{},cpp", daemon.host());
    let out = run(
        client(&tree, &host, &path_with(&bin)),
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let remote = fs::read(tree.work().join("u.o")).unwrap();
    let log = fs::read_to_string(tree.path("client.log")).unwrap_or_default();
    assert!(
        !log.lines().any(|l| l.split(' ').any(|w| w == "-M")),
        "the client ran a -M listing: {log}"
    );
    let local_out = local(&tree, "gcc", &local_args());
    assert!(local_out.status.success());
    assert_eq!(remote, fs::read(tree.work().join("local.o")).unwrap());
    assert!(
        text(&out.stderr).contains("list files (scan)"),
        "{}",
        text(&out.stderr)
    );
    assert!(summary(&tree).contains("files listed: scanned 1, scan fallbacks 0, scanner misses 0"));
}

#[test]
fn a_file_the_scan_cannot_know_is_caught_and_the_job_redone() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    symlink_monitor(&tree);
    unit(&tree);
    // A driver that forces a header in, as distribution wrappers and
    // specs files do: the scanner sees its macros in the probe, never
    // the file itself.
    let forced = tree.write("forced/extra.h", "static const int forced_extra = 7;\n");
    let inject = format!("-include {}", forced.display());
    let bin = logging_gcc(&tree, "wrap", "client.log", &inject);
    let daemon = Daemon::start_with(&tree, &["--allow", "127.0.0.1"], |c| {
        c.env("PATH", path_with(&bin));
    });
    let host = format!("{},cpp", daemon.host());
    let out = run(
        client(&tree, &host, &path_with(&bin)),
        Duration::from_secs(120),
    );
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("scanner miss"), "{err}");
    assert!(
        err.contains("forced/extra.h"),
        "the miss names the file: {err}"
    );
    let mut c = Command::new(bin.join("gcc"));
    c.args(local_args()).current_dir(tree.work());
    assert!(run(c, Duration::from_secs(60)).status.success());
    assert_eq!(
        fs::read(tree.work().join("u.o")).unwrap(),
        fs::read(tree.work().join("local.o")).unwrap()
    );
    assert!(
        summary(&tree).contains("scanner misses 1"),
        "{}",
        summary(&tree)
    );
}

#[test]
fn a_genuine_compile_error_is_printed_once_and_not_redone() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    symlink_monitor(&tree);
    unit(&tree);
    tree.write(
        "src/u.c",
        "#include \"sel.h\"\nint u(void) { return SELECTED + undeclared_thing; }\n",
    );
    let bin = logging_gcc(&tree, "wrap", "client.log", "");
    let daemon = Daemon::start(&tree, &["--allow", "127.0.0.1"]);
    let host = format!("{},cpp", daemon.host());
    let out = run(
        client(&tree, &host, &path_with(&bin)),
        Duration::from_secs(120),
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.matches("undeclared_thing").count(),
        2,
        "once, with its caret line: {err}"
    );
    assert!(!err.contains("scanner miss"), "{err}");
    let log = fs::read_to_string(tree.path("client.log")).unwrap_or_default();
    assert!(
        !log.lines()
            .any(|l| l.split(' ').any(|w| w == "-M" || w == "-c")),
        "{log}"
    );
    assert!(!tree.work().join("u.o").exists());
}

fn symlink_monitor(tree: &Tree) {
    std::os::unix::fs::symlink(exe(), tree.path("bin/distccmon-text")).unwrap();
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
        let mut args = vec!["gcc"];
        args.extend(ARGS.iter().filter(|a| **a != "-g"));
        let mut c = tree.client(host, &args);
        c.env("PATH", &path)
            .env("DISTCC_FALLBACK", "0")
            .env("DISTCC_VERBOSE", "1");
        let out = run(c, Duration::from_secs(120));
        let err = text(&out.stderr);
        assert!(out.status.success(), "{host}: {err}");
        assert_eq!(fs::read(tree.work().join("u.o")).unwrap(), want, "{host}");
        assert_eq!(err.contains("(exact)"), *exact, "{host}: {err}");
        let offered = err.contains("no hashed transfer");
        assert_eq!(offered, reference.is_some() && i == 2, "{host}: {err}");
    }
}

#[test]
fn mmd_jobs_are_verified_with_every_file_read_and_keep_their_dep_file() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    symlink_monitor(&tree);
    unit(&tree);
    // A driver that forces in a system header the unit does not include:
    // a -MMD dependency file leaves it out, the server's list must not.
    let bin = logging_gcc(&tree, "wrap", "client.log", "-include stdint.h");
    let daemon = Daemon::start_with(&tree, &["--allow", "127.0.0.1"], |c| {
        c.env("PATH", path_with(&bin));
    });
    let deps = ["-MMD", "-MP", "-MF", "u.d"];
    let mut args = vec!["gcc"];
    args.extend(ARGS);
    args.extend(deps);
    let mut c = tree.client(&daemon.host(), &args);
    c.env("PATH", path_with(&bin))
        .env("DISTCC_FALLBACK", "0")
        .env("DISTCC_VERBOSE", "1");
    let out = run(c, Duration::from_secs(120));
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("scanner miss") && err.contains("stdint.h"),
        "{err}"
    );
    let mut local = local_args();
    local.extend(["-MMD", "-MP", "-MF", "local.d"]);
    let mut c = Command::new(bin.join("gcc"));
    c.args(&local).current_dir(tree.work());
    assert!(run(c, Duration::from_secs(60)).status.success());
    assert_eq!(
        fs::read(tree.work().join("u.o")).unwrap(),
        fs::read(tree.work().join("local.o")).unwrap()
    );
    let want_d = fs::read_to_string(tree.work().join("local.d")).unwrap();
    assert_eq!(
        fs::read_to_string(tree.work().join("u.d")).unwrap(),
        want_d.replace("local.o", "u.o"),
        "the user's -MMD file is gcc's own"
    );
}
