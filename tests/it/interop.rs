//! A real distributed compile, and interoperation with Debian's distcc 3.4
//! in both directions, protocols 1 and 2. The client's own compilers may
//! only preprocess, so every object here was compiled by a daemon.

use std::fs;
use std::time::Duration;

use crate::skip_unless;
use crate::util::*;

const HELLO: &str = "#include <stdio.h>\n\
    static int twice(int x) { return 2 * x; }\n\
    int main(void) { int unused; printf(\"%d\\n\", twice(21)); return 0; }\n";

const BROKEN: &str = "int g(void) { return 1 +; }\n";

/// Local reference objects for each flag set.
fn expected(tree: &Tree, flags: &[&str], name: &str) -> Vec<u8> {
    let mut args = flags.to_vec();
    args.extend(["-c", "hello.c", "-o", name]);
    let out = local(tree, "gcc", &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    fs::read(tree.work().join(name)).unwrap()
}

/// Compiles hello.c through `distcc` (ours or the reference's) to `hosts`
/// for each flag set and protocol, comparing with a local compile.
fn check_matrix(tree: &Tree, client: &str, host: &str) {
    for flags in [&["-O0"][..], &["-O2"], &["-O2", "-Wall"]] {
        let want = expected(tree, flags, "local.o");
        // Ours also names classic distcc, which a host without a mode
        // option no longer means for our own daemon.
        let options: &[&str] = if client == "ours" {
            &["", ",lzo", ",classic", ",lzo,classic"]
        } else {
            &["", ",lzo"]
        };
        for opts in options {
            let hosts = format!("{host}{opts}");
            let mut args = vec!["gcc"];
            args.extend_from_slice(flags);
            args.extend(["-c", "hello.c", "-o", "remote.o"]);
            fs::remove_file(tree.work().join("remote.o")).ok();
            let mut cmd = tree.client(&hosts, &args);
            cmd.env("PATH", tree.cpponly_path());
            cmd.env("DISTCC_FALLBACK", "0");
            if client != "ours" {
                let mut c = std::process::Command::new(client);
                c.args(&args)
                    .current_dir(tree.work())
                    .env("DISTCC_HOSTS", &hosts)
                    .env("DISTCC_DIR", tree.path("state"))
                    .env("DISTCC_FALLBACK", "0")
                    .env("PATH", tree.cpponly_path());
                cmd = c;
            }
            let out = run(cmd, Duration::from_secs(120));
            assert!(
                out.status.success(),
                "{client} {hosts} {flags:?}: {}",
                text(&out.stderr)
            );
            let got = fs::read(tree.work().join("remote.o")).unwrap();
            assert!(
                got == want,
                "{client} {hosts} {flags:?}: object differs from local gcc"
            );
            if flags.contains(&"-Wall") {
                assert!(
                    text(&out.stderr).contains("unused variable"),
                    "warning missing: {}",
                    text(&out.stderr)
                );
            }
        }
    }
}

#[test]
fn our_client_and_daemon_match_local_gcc() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("hello.c", HELLO);
    let daemon = Daemon::start(&tree, &[]);
    check_matrix(&tree, "ours", &daemon.host());
}

#[test]
fn our_client_against_reference_daemon() {
    skip_unless!(have("gcc"), "gcc not installed");
    skip_unless!(RefDaemon::available(), "Debian's distcc is not installed");
    let tree = Tree::new();
    tree.write("hello.c", HELLO);
    let daemon = RefDaemon::start();
    check_matrix(&tree, "ours", &daemon.host());
}

#[test]
fn a_first_job_to_distcc_3_4_without_a_mode_is_compiled_once_and_no_scanner_miss() {
    skip_unless!(have("gcc"), "gcc not installed");
    skip_unless!(RefDaemon::available(), "Debian's distcc is not installed");
    let tree = Tree::new();
    tree.write("hello.c", HELLO);
    let daemon = RefDaemon::start();
    // A host without a mode: our dialects first, each closed on, then
    // classic distcc, whose reply carries no list of files read and
    // needs none (the daemon compiled our preprocessed text).
    let mut c = tree.client(
        &daemon.host(),
        &["gcc", "-O2", "-c", "hello.c", "-o", "hello.o"],
    );
    c.env("DISTCC_VERBOSE", "1").env("DISTCC_FALLBACK", "0");
    let out = run(c, Duration::from_secs(120));
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("no hashed transfer"), "{err}");
    assert!(!err.contains("scanner miss"), "{err}");
    assert_eq!(err.matches("sending to").count(), 1, "compiled once: {err}");
    assert_eq!(
        fs::read(tree.work().join("hello.o")).unwrap(),
        expected(&tree, &["-O2"], "local.o")
    );
}

#[test]
fn reference_client_against_our_daemon() {
    skip_unless!(have("gcc"), "gcc not installed");
    skip_unless!(RefDaemon::available(), "Debian's distcc is not installed");
    let tree = Tree::new();
    tree.write("hello.c", HELLO);
    let daemon = Daemon::start(&tree, &[]);
    check_matrix(&tree, "/usr/bin/distcc", &daemon.host());
    // It asked for the target-prefixed name, which our whitelist allowed.
    assert!(
        daemon.log().contains("x86_64-linux-gnu-gcc"),
        "{}",
        daemon.log()
    );
}

/// A compile error comes back with gcc's status and message and is not
/// retried locally (the local compiler would refuse, exit 99).
fn check_error(tree: &Tree, host: &str) {
    let local_out = local(tree, "gcc", &["-c", "broken.c", "-o", "b.o"]);
    assert_eq!(local_out.status.code(), Some(1));
    for opts in ["", ",lzo"] {
        let mut cmd = tree.client(
            &format!("{host}{opts}"),
            &["gcc", "-c", "broken.c", "-o", "b.o"],
        );
        cmd.env("PATH", tree.cpponly_path());
        let out = run(cmd, Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains("expected expression"), "{err}");
        assert!(!err.contains("cpponly"), "retried locally: {err}");
        assert!(!err.contains("distcc"), "distcc noise: {err}");
        assert!(!tree.work().join("b.o").exists());
    }
}

#[test]
fn compile_error_is_not_retried_our_daemon() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("broken.c", BROKEN);
    let daemon = Daemon::start(&tree, &[]);
    check_error(&tree, &daemon.host());
}

#[test]
fn compile_error_is_not_retried_reference_daemon() {
    skip_unless!(have("gcc"), "gcc not installed");
    skip_unless!(RefDaemon::available(), "Debian's distcc is not installed");
    let tree = Tree::new();
    tree.write("broken.c", BROKEN);
    let daemon = RefDaemon::start();
    check_error(&tree, &daemon.host());
}

#[test]
fn unreachable_host_falls_back_locally_with_a_warning() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("hello.c", HELLO);
    let want = expected(&tree, &["-O2"], "local.o");
    let dead = free_port();
    let out = run(
        tree.client(
            &format!("127.0.0.1:{dead}"),
            &["gcc", "-O2", "-c", "hello.c", "-o", "fb.o"],
        ),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("running locally instead"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert_eq!(fs::read(tree.work().join("fb.o")).unwrap(), want);
}

#[test]
fn unreachable_host_without_fallback_fails_with_distcc_code() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("hello.c", HELLO);
    let dead = free_port();
    let mut cmd = tree.client(
        &format!("127.0.0.1:{dead}"),
        &["gcc", "-c", "hello.c", "-o", "x.o"],
    );
    cmd.env("DISTCC_FALLBACK", "0");
    let out = run(cmd, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(103), "{}", text(&out.stderr));
    assert!(!tree.work().join("x.o").exists());
}

#[test]
fn implicit_cc_and_masquerade_names() {
    skip_unless!(have("cc"), "cc not installed");
    let tree = Tree::new();
    tree.write("hello.c", HELLO);
    let daemon = Daemon::start(&tree, &[]);
    let want = {
        let o = local(&tree, "cc", &["-c", "hello.c", "-o", "l.o"]);
        assert!(o.status.success());
        fs::read(tree.work().join("l.o")).unwrap()
    };
    let mut cmd = tree.client(&daemon.host(), &["-c", "hello.c", "-o", "i.o"]);
    cmd.env("PATH", tree.cpponly_path())
        .env("DISTCC_FALLBACK", "0");
    let out = run(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fs::read(tree.work().join("i.o")).unwrap(), want);
    let log = daemon.log_when(|l| l.contains(": cc status 0"));
    assert!(log.contains(": cc status 0"), "{log}");
}

#[test]
fn help_and_version() {
    let tree = Tree::new();
    for (prog, args) in [
        ("bin/distcc", &["--help"][..]),
        ("bin/distcc", &["--version"]),
        ("bin/distccd", &["--help"]),
        ("bin/distccd", &["--version"]),
    ] {
        let mut c = std::process::Command::new(tree.path(prog));
        c.args(args);
        let out = run(c, Duration::from_secs(10));
        assert!(out.status.success(), "{prog} {args:?}");
        assert!(!out.stdout.is_empty(), "{prog} {args:?} printed nothing");
        if args == ["--version"] {
            // Both sides serve protocols 1, 2 and 3; say so.
            let said = text(&out.stdout);
            assert!(said.contains("(protocols 1, 2 and 3)"), "{prog}: {said}");
            assert!(said.contains("(default port 3632)"), "{prog}: {said}");
        }
    }
}

/// `@HOST` hosts run `$DISTCC_SSH HOST distccd --inetd` and speak over its
/// pipes. A stand-in for ssh runs the command here, with a clean PATH, as
/// a remote login would.
#[test]
fn ssh_transport_runs_distccd_inetd_over_a_pipe() {
    skip_unless!(have("gcc"), "gcc not installed");
    skip_unless!(
        std::path::Path::new("/usr/lib/distcc/gcc").exists(),
        "no /usr/lib/distcc/gcc to whitelist gcc for an inetd daemon"
    );
    let tree = Tree::new();
    tree.write("hello.c", HELLO);
    let want = expected(&tree, &["-O2"], "local.o");
    let ssh = tree.path("bin/fake-ssh");
    fs::write(
        &ssh,
        "#!/bin/sh\n# options, then --, then the host, then the command\n\
         while [ \"$1\" != -- ]; do shift; done; shift; shift\n\
         PATH=/usr/local/bin:/usr/bin:/bin exec \"$@\"\n",
    )
    .unwrap();
    fs::set_permissions(&ssh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let host = format!("@volunteer:{}", tree.path("bin/distccd").display());
    for opts in ["", ",lzo"] {
        let mut cmd = tree.client(
            &format!("{host}{opts}"),
            &["gcc", "-O2", "-c", "hello.c", "-o", "ssh.o"],
        );
        cmd.env("DISTCC_SSH", &ssh)
            .env("DISTCC_FALLBACK", "0")
            .env("PATH", tree.cpponly_path());
        let out = run(cmd, Duration::from_secs(60));
        assert!(out.status.success(), "{opts}: {}", text(&out.stderr));
        assert_eq!(fs::read(tree.work().join("ssh.o")).unwrap(), want, "{opts}");
    }
}
