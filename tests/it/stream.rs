//! Our streamed protocol between our own client and daemon: the source
//! goes out while it is preprocessed, the result is the same as the
//! unstreamed path's and a local compile's, a failing preprocessor stops
//! the remote compiler, and a reference daemon is detected once and then
//! sent whole sources.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::skip_unless;
use crate::util::*;

const CXX: &str = "#include <string>\n\
    namespace { std::string s = \"x\"; int f() { return 3; } }\n\
    static int g = f();\n\
    int h() { return g + (int)s.size(); }\n";

/// A C source whose preprocessed text is large enough to go in many
/// chunks, optionally ending in an `#error`.
fn big_c(error: bool) -> String {
    let mut s = String::from("#include <stdio.h>\n");
    for i in 0..4000 {
        s.push_str(&format!(
            "int f{i}(int x) {{ return x * {i} + (int)sizeof(\"{i:0>40}\"); }}\n"
        ));
    }
    if error {
        s.push_str("#error the preprocessor stops here\n");
    }
    s.push_str("int main(void) { return f7(1) == 0; }\n");
    s
}

/// Runs the client with its log captured; returns the output and the log.
fn client_logged(
    tree: &Tree,
    hosts: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Output, String) {
    let log = tree.path("state/client.log");
    fs::remove_file(&log).ok();
    let mut cmd = tree.client(hosts, args);
    cmd.env("PATH", tree.cpponly_path()).env("DISTCC_LOG", &log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run(cmd, Duration::from_secs(120));
    (out, fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn streamed_jobs_match_local_and_unstreamed_compiles() {
    skip_unless!(have("gcc") && have("g++"), "gcc/g++ not installed");
    let tree = Tree::new();
    tree.write("big.c", &big_c(false));
    tree.write("t.cc", CXX);
    let daemon = Daemon::start(&tree, &[]);
    let cases: [(&str, &[&str]); 4] = [
        ("gcc", &["-O2", "-c", "big.c"]),
        ("gcc", &["-O0", "-Wall", "-S", "big.c"]),
        ("g++", &["-O2", "-c", "t.cc"]),
        ("g++", &["-O0", "-fstack-protector", "-c", "t.cc"]),
    ];
    for (compiler, flags) in cases {
        let mode_s = flags.contains(&"-S");
        let ext = if mode_s { "s" } else { "o" };
        let mut args = flags.to_vec();
        args.extend(["-o", "want.out"]);
        let want = local(&tree, compiler, &args);
        assert!(want.status.success(), "{}", text(&want.stderr));
        let want = fs::read(tree.work().join("want.out")).unwrap();
        for opts in [",classic", ",lzo,classic"] {
            let hosts = format!("{}{opts}", daemon.host());
            for stream in ["1", "0"] {
                let out_name = format!("got.{ext}");
                let mut args = vec![compiler];
                args.extend_from_slice(flags);
                args.extend(["-o", &out_name]);
                let (out, log) = client_logged(
                    &tree,
                    &hosts,
                    &args,
                    &[("DISTCC_STREAM", stream), ("DISTCC_FALLBACK", "0")],
                );
                let what = format!("{compiler} {flags:?} {hosts} DISTCC_STREAM={stream}");
                assert!(out.status.success(), "{what}: {}", text(&out.stderr));
                assert_eq!(
                    log.contains("(streamed)"),
                    stream == "1",
                    "{what}: streamed or not as asked: {log}"
                );
                let got = fs::read(tree.work().join(&out_name)).unwrap();
                assert!(got == want, "{what}: output differs from local");
            }
        }
    }
}

#[test]
fn a_failing_preprocessor_mid_stream_is_the_jobs_error() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("bad.c", &big_c(true));
    let dtmp = tree.path("dtmp");
    fs::create_dir_all(&dtmp).unwrap();
    // The daemon drops root to its own user.
    fs::set_permissions(&dtmp, fs::Permissions::from_mode(0o777)).unwrap();
    let daemon = Daemon::start_with(&tree, &[], |c| {
        c.env("TMPDIR", &dtmp);
    });
    let local_out = local(&tree, "gcc", &["-c", "bad.c", "-o", "bad.o"]);
    assert_eq!(local_out.status.code(), Some(1));
    for opts in [",classic", ",lzo,classic"] {
        let hosts = format!("{}{opts}", daemon.host());
        let (out, log) = client_logged(&tree, &hosts, &["gcc", "-c", "bad.c", "-o", "bad.o"], &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(
            err.matches("error: #error").count(),
            1,
            "the error once, from the preprocessor: {err}"
        );
        assert!(!err.contains("distcc"), "distcc noise: {err}");
        assert!(log.contains("streaming to"), "{log}");
        assert!(!tree.work().join("bad.o").exists());
    }
    // The daemon saw the client go mid-stream: compiler killed, job dir
    // removed, and no reply sent.
    let until = Instant::now() + Duration::from_secs(20);
    while fs::read_dir(&dtmp).unwrap().next().is_some() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<_> = fs::read_dir(&dtmp).unwrap().collect();
    assert!(left.is_empty(), "job dirs left: {left:?}");
    assert!(!daemon.log().contains("status 0"), "{}", daemon.log());
}

#[test]
fn a_reference_daemon_is_found_out_once_then_sent_whole_sources() {
    skip_unless!(have("gcc"), "gcc not installed");
    skip_unless!(RefDaemon::available(), "Debian's distcc is not installed");
    let tree = Tree::new();
    tree.write("big.c", &big_c(false));
    let daemon = RefDaemon::start();
    let want = local(&tree, "gcc", &["-O2", "-c", "big.c", "-o", "want.o"]);
    assert!(want.status.success());
    let want = fs::read(tree.work().join("want.o")).unwrap();
    let args = ["gcc", "-O2", "-c", "big.c", "-o", "got.o"];
    let env = [("DISTCC_FALLBACK", "0")];
    let (out, first) = client_logged(&tree, &format!("{},classic", daemon.host()), &args, &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(first.contains("no streaming"), "{first}");
    assert!(fs::read(tree.work().join("got.o")).unwrap() == want);
    fs::remove_file(tree.work().join("got.o")).unwrap();
    let (out, second) = client_logged(&tree, &format!("{},classic", daemon.host()), &args, &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!second.contains("streaming to"), "{second}");
    assert!(fs::read(tree.work().join("got.o")).unwrap() == want);
}

/// Opens a streamed request to `port` and stalls it after half a source,
/// once the daemon has started its compiler early.
fn stalled_stream(daemon: &Daemon) -> std::net::TcpStream {
    use distcc::protocol::{self, stream, Version};
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
    // Far past any I/O timeout below: a read that times out was never cut off.
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = protocol::RequestHead {
        version: Version::V1,
        cwd: None,
        argv: ["gcc", "-c", "x.c", "-o", "x.o"]
            .iter()
            .map(Into::into)
            .collect(),
    };
    let mut buf = Vec::new();
    protocol::write_request_head_as(&mut buf, &head, stream::RAW).unwrap();
    s.write_all(&buf).unwrap();
    let mut go = [0u8; 12];
    s.read_exact(&mut go)
        .unwrap_or_else(|e| panic!("{e}: {}", daemon.log()));
    assert_eq!(&go[..4], stream::STRM);
    let mut chunk = Vec::new();
    stream::push_chunk(&mut chunk, Version::V1.codec(), b"int x = ");
    s.write_all(&chunk).unwrap();
    s
}

/// Waits (bounded) for `dir` to be empty.
fn emptied(dir: &Path) -> bool {
    let until = Instant::now() + Duration::from_secs(20);
    while fs::read_dir(dir).unwrap().next().is_some() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn a_stalled_stream_holds_no_job_slot_and_is_cut_off_at_the_io_timeout() {
    skip_unless!(have("gcc"), "gcc not installed");
    use std::io::{ErrorKind, Read};
    let tree = Tree::new();
    let dtmp = tree.path("dtmp");
    fs::create_dir_all(&dtmp).unwrap();
    // The daemon drops root to its own user.
    fs::set_permissions(&dtmp, fs::Permissions::from_mode(0o777)).unwrap();
    let start = |io_timeout: &str| {
        Daemon::start_with(&tree, &["--io-timeout", io_timeout, "--jobs", "1"], |c| {
            c.env("TMPDIR", &dtmp);
        })
    };
    tree.write("ok.c", "int ok(void) { return 1; }\n");
    let want = local(&tree, "gcc", &["-c", "ok.c", "-o", "want.o"]);
    assert!(want.status.success());

    // The slot: with the stalled stream's timeout far off, however slow the
    // real job, the one job slot is free for it meanwhile; it finds the
    // early start taken and is received whole before compiling.
    let daemon = start("3600");
    let mut s = stalled_stream(&daemon);
    let (out, log) = client_logged(
        &tree,
        &format!("{},classic", daemon.host()),
        &["gcc", "-c", "ok.c", "-o", "ok.o"],
        &[("DISTCC_FALLBACK", "0")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(log.contains("(streamed)"), "{log}");
    assert!(
        fs::read(tree.work().join("ok.o")).unwrap()
            == fs::read(tree.work().join("want.o")).unwrap()
    );
    s.set_nonblocking(true).unwrap();
    let e = s
        .read(&mut [0u8; 16])
        .expect_err("the stalled stream was cut off");
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    // Its client gone, the early compiler goes with its job dir.
    drop(s);
    assert!(emptied(&dtmp), "job dir left after the client left");
    drop(daemon);

    // The cut-off: after the I/O timeout, with no reply.
    let daemon = start("3");
    let started = Instant::now();
    let mut s = stalled_stream(&daemon);
    let mut rest = Vec::new();
    let got = s.read_to_end(&mut rest);
    let took = started.elapsed();
    assert!(
        matches!(got, Ok(0))
            || got
                .as_ref()
                .is_err_and(|e| e.kind() == ErrorKind::ConnectionReset),
        "no reply, and a close, for an unfinished stream: {got:?} after {took:?}"
    );
    assert!(took >= Duration::from_secs(3), "cut off after {took:?}");
    assert!(emptied(&dtmp), "job dir left after the cut-off");
}
