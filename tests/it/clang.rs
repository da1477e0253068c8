//! clang as a drop-in compiler: `clang`/`clang++` through the masquerade
//! dir and as `distcc clang ...`, served by our daemon in the classic
//! dialects and in exact mode, and sent by distcc 3.4's client, which adds
//! `-target HOST` to every clang command line. Each object is compared
//! with a local compile; the client's own compilers may only preprocess.
//!
//! Classic mode compiles preprocessed text, which clang records in its
//! debug info (the input's name, no source checksums), so `-g` objects are
//! byte-identical in exact mode only, as with distcc 3.4 itself.

use std::fs;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::skip_unless;
use crate::util::*;

const T: Duration = Duration::from_secs(120);

const C_SRC: &str = "#include <stdio.h>\n\
    static int sq(int x) { return x * x; }\n\
    int main(void) { printf(\"%d\\n\", sq(7)); return 0; }\n";

const CXX_SRC: &str = "#include <vector>\n\
    int total(const std::vector<int> &v) { int s = 0; for (int x : v) s += x; return s; }\n";

/// A tree whose masquerade and preprocess-only dirs have clang and
/// clang++, with t.c and u.cpp in `work/`.
fn clang_tree() -> Tree {
    let tree = Tree::new();
    tree.add_compiler("clang");
    tree.add_compiler("clang++");
    tree.write("t.c", C_SRC);
    tree.write("u.cpp", CXX_SRC);
    tree
}

fn have_clang() -> bool {
    have("clang") && have("clang++")
}

/// Compiles locally into `want.o` and returns its bytes.
fn want(tree: &Tree, compiler: &str, args: &[&str]) -> Vec<u8> {
    let mut all = args.to_vec();
    all.extend(["-o", "want.o"]);
    let out = local(tree, compiler, &all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    fs::read(tree.work().join("want.o")).unwrap()
}

/// Runs `cmd` (which writes `got.o`), and checks it against `want`.
fn check(tree: &Tree, who: &str, mut cmd: Command, want: &[u8]) -> Output {
    fs::remove_file(tree.work().join("got.o")).ok();
    cmd.env("DISTCC_FALLBACK", "0");
    let out = run(cmd, T);
    assert!(out.status.success(), "{who}: {}", text(&out.stderr));
    assert!(
        fs::read(tree.work().join("got.o")).unwrap() == want,
        "{who}: not the local object"
    );
    out
}

/// `distcc clang ...` and `distcc clang++ ...`: classic mode (raw and
/// `,lzo`) without `-g`, exact mode with `-g`, each object the local one.
#[test]
fn distcc_clang_matches_local_in_classic_and_exact_mode() {
    skip_unless!(have_clang(), "clang not installed");
    let tree = clang_tree();
    let d = Daemon::start(&tree, &[]);
    let cases: [(&str, &str, &[&str], &[&str]); 4] = [
        ("clang", "t.c", &["-O2"], &["", ",lzo"]),
        ("clang", "t.c", &["-g", "-O2"], &[",cpp,lzo"]),
        ("clang++", "u.cpp", &["-O2", "-std=c++17"], &["", ",lzo"]),
        ("clang++", "u.cpp", &["-g", "-std=c++17"], &[",cpp,lzo"]),
    ];
    let mut jobs = 0;
    for (compiler, source, opts, hosts) in cases {
        let mut args = vec![compiler];
        args.extend(opts);
        args.extend(["-c", source]);
        let want = want(&tree, compiler, &args[1..]);
        args.extend(["-o", "got.o"]);
        for h in hosts {
            let mut c = tree.client(&format!("{}{h}", d.host()), &args);
            c.env("PATH", tree.cpponly_path());
            check(&tree, &format!("{args:?} on {h:?}"), c, &want);
            jobs += 1;
        }
    }
    let log = d.log_when(|l| l.matches(" status 0").count() >= jobs);
    assert_eq!(log.matches(": clang status 0").count(), 3, "{log}");
    assert_eq!(log.matches(": clang++ status 0").count(), 3, "{log}");
}

/// `clang` found on PATH in a masquerade dir (links to distcc named after
/// the compiler) compiles remotely.
#[test]
fn clang_through_the_masquerade_dir_compiles_remotely() {
    skip_unless!(have_clang(), "clang not installed");
    let tree = clang_tree();
    let d = Daemon::start(&tree, &[]);
    let want = want(&tree, "clang", &["-O2", "-c", "t.c"]);
    let mut c = Command::new(tree.path("masq/clang"));
    let mut path = vec![tree.path("masq")];
    path.extend(std::env::split_paths(&tree.cpponly_path()));
    c.args(["-O2", "-c", "t.c", "-o", "got.o"])
        .current_dir(tree.work())
        .env("PATH", std::env::join_paths(path).unwrap())
        .env("DISTCC_HOSTS", d.host())
        .env("DISTCC_DIR", tree.path("state"))
        .env_remove("_DISTCC_SAFEGUARD")
        .stdin(Stdio::null());
    check(&tree, "masquerade clang", c, &want);
    let log = d.log_when(|l| l.contains(": clang status 0"));
    assert!(log.contains(": clang status 0"), "{log}");
}

/// distcc 3.4's client adds `-target x86_64-pc-linux-gnu` (its build's
/// host) to clang command lines; our daemon runs clang with it, and the
/// object is the local compile's.
#[test]
fn debians_client_sends_clang_with_target_and_our_daemon_serves_it() {
    skip_unless!(have_clang(), "clang not installed");
    skip_unless!(
        std::path::Path::new("/usr/bin/distcc").exists(),
        "Debian's distcc not installed"
    );
    let tree = clang_tree();
    let d = Daemon::start(&tree, &[]);
    for (compiler, source) in [("clang", "t.c"), ("clang++", "u.cpp")] {
        let want = want(&tree, compiler, &["-O2", "-c", source]);
        for h in ["", ",lzo"] {
            let mut c = Command::new("/usr/bin/distcc");
            c.args([compiler, "-O2", "-c", source, "-o", "got.o"])
                .current_dir(tree.work())
                .env("DISTCC_HOSTS", format!("{}{h}", d.host()))
                .env("DISTCC_DIR", tree.path("state"))
                .env("DISTCC_VERBOSE", "1")
                .env("PATH", tree.cpponly_path())
                .stdin(Stdio::null());
            let out = check(&tree, &format!("3.4 {compiler}{h}"), c, &want);
            assert!(
                text(&out.stderr).contains("Adding '-target "),
                "distcc 3.4 sent no -target: {}",
                text(&out.stderr)
            );
        }
    }
    let log = d.log_when(|l| l.matches(" status 0").count() >= 4);
    assert_eq!(log.matches(" status 0").count(), 4, "{log}");
}
