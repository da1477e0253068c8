//! zstd on the wire between our own client and daemon: hosts that ask for
//! compression (`,lzo`) get zstd bodies in both our extensions, requests and
//! replies alike, with outputs identical to a local compile; a daemon that
//! closes on zstd (distcc 3.4) is remembered and spoken to with LZO, and
//! then, if it closes on our extensions too, in its own protocol.

use std::fs;
use std::time::Duration;

use crate::skip_unless;
use crate::util::{have, local, run, text, Daemon, RefDaemon, Tree};

/// A unit whose `-g` object is large next to its source.
fn debug_heavy() -> String {
    let mut s = String::from("#include <stdio.h>\n#include <stdlib.h>\n");
    for i in 0..400 {
        s.push_str(&format!(
            "struct s{i} {{ int a{i}; double b{i}; const char *c{i}; }};\n\
             int f{i}(struct s{i} *p) {{ return p->a{i} + (int)p->b{i} + printf(\"%s\", p->c{i}); }}\n"
        ));
    }
    s
}

fn client_logged(tree: &Tree, hosts: &str, args: &[&str]) -> (std::process::Output, String) {
    let log = tree.path("state/zstd.log");
    fs::remove_file(&log).ok();
    let mut cmd = tree.client(hosts, args);
    cmd.env("PATH", tree.cpponly_path())
        .env("DISTCC_LOG", &log)
        .env("DISTCC_FALLBACK", "0");
    let out = run(cmd, Duration::from_secs(120));
    (out, fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn compressed_hosts_get_zstd_both_ways_with_identical_outputs() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("d.c", &debug_heavy());
    let daemon = Daemon::start(&tree, &[]);
    // Streamed (preprocessed here) without -g: the daemon's job dir would
    // be the debug info's compile dir; exact mode keeps -g identical.
    // Exact mode (a host without a mode option, too) always compresses.
    let cases: [(&str, &[&str], &str); 4] = [
        (",lzo,classic", &["-O2"], "Zstd bodies"),
        (",classic", &["-O2"], "Raw bodies"),
        (",cpp,lzo", &["-O2", "-g"], "Zstd bodies"),
        ("", &["-O2", "-g"], "Zstd bodies"),
    ];
    for (opts, flags, said) in cases {
        let mut args = vec!["gcc"];
        args.extend_from_slice(flags);
        args.extend(["-c", "d.c", "-o", "want.o"]);
        let want = local(&tree, "gcc", &args[1..]);
        assert!(want.status.success(), "{}", text(&want.stderr));
        let n = args.len();
        args[n - 1] = "got.o";
        let hosts = format!("{}{opts}", daemon.host());
        let (out, log) = client_logged(&tree, &hosts, &args);
        assert!(out.status.success(), "{hosts}: {}", text(&out.stderr));
        assert!(log.contains(said), "{hosts}: expected {said:?}: {log}");
        let got = fs::read(tree.work().join("got.o")).unwrap();
        let want = fs::read(tree.work().join("want.o")).unwrap();
        assert!(got == want, "{hosts} {flags:?}: object differs from local");
    }
}

#[test]
fn a_daemon_that_closes_on_zstd_is_remembered_and_gets_lzo() {
    skip_unless!(have("gcc"), "gcc not installed");
    skip_unless!(RefDaemon::available(), "Debian's distcc is not installed");
    let tree = Tree::new();
    tree.write("d.c", "int d(int x) { return x * 3; }\n");
    let want = local(&tree, "gcc", &["-O2", "-c", "d.c", "-o", "want.o"]);
    assert!(want.status.success());
    let want = fs::read(tree.work().join("want.o")).unwrap();
    let daemon = RefDaemon::start();
    let args = ["gcc", "-O2", "-c", "d.c", "-o", "got.o"];
    // Classic: streamed with zstd, closed on; then with LZO.
    let hosts = format!("{},lzo,classic", daemon.host());
    let (out, first) = client_logged(&tree, &hosts, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(first.contains("no streaming with Zstd"), "{first}");
    assert!(fs::read(tree.work().join("got.o")).unwrap() == want);
    let (out, second) = client_logged(&tree, &hosts, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !second.contains("Zstd"),
        "zstd is not offered again: {second}"
    );
    assert!(fs::read(tree.work().join("got.o")).unwrap() == want);

    // No mode option: our hashed dialect with zstd, then without, then
    // the streamed one are all closed on; the job still distributes.
    let tree = Tree::new();
    tree.write("d.c", "int d(int x) { return x * 3; }\n");
    let hosts = format!("{},lzo", daemon.host());
    let (out, log) = client_logged(&tree, &hosts, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(log.contains("no hashed transfer with zstd"), "{log}");
    assert!(log.contains("no hashed transfer ("), "{log}");
    assert!(log.contains("no streaming with Lzo"), "{log}");
    assert!(fs::read(tree.work().join("got.o")).unwrap() == want);
}
