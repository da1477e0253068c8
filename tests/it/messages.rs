//! What the client says, and where: in distcc 3.4's words where scripts
//! and 3.4's own test suite read them (`--version`, no hosts, no server, a
//! missing compiler, a log file that cannot be opened), on stderr or in
//! `DISTCC_LOG` as the manual says, and always why a job ran where it did:
//! the server's own message, the failure a host is backed off for, the
//! same reason in the log and in `distccmon-text --summary`.

use std::fs;
use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::thread;
use std::time::Duration;

use distcc::protocol::{self, Limits, Reply};

use crate::skip_unless;
use crate::util::*;

const SRC: &str = "int twice(int x) { return 2 * x; }\n";
const T: Duration = Duration::from_secs(120);

fn want_object(tree: &Tree) -> Vec<u8> {
    let out = local(tree, "gcc", &["-c", "t.c", "-o", "want.o"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    fs::read(tree.work().join("want.o")).unwrap()
}

/// A volunteer that answers every protocol 1 request with a distcc exit
/// code and a message, as a daemon that will not (or cannot) compile does.
struct Refuser {
    port: u16,
}

impl Refuser {
    fn start(code: u8, message: &'static str) -> Refuser {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { return };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let limits = Limits::default();
                let Ok(head) = protocol::read_request_head(&mut r, &limits) else {
                    continue;
                };
                let codec = head.version.codec();
                if protocol::read_body(&mut r, protocol::DOTI, codec, &limits).is_err() {
                    continue;
                }
                let reply = Reply {
                    status: distcc::exit::exited(code),
                    stderr: format!("{message}\n").into_bytes(),
                    ..Reply::default()
                };
                protocol::write_reply(&mut s, head.version, codec, &reply).ok();
                s.flush().ok();
            }
        });
        Refuser { port }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn client(tree: &Tree, hosts: &str, obj: &str) -> Command {
    let mut cmd = tree.client(hosts, &["gcc", "-c", "t.c", "-o", obj]);
    // Plain protocol 1, which the stand-in volunteer speaks.
    cmd.env("DISTCC_STREAM", "0");
    cmd
}

fn lines(out: &Output) -> Vec<String> {
    text(&out.stderr).lines().map(str::to_string).collect()
}

#[test]
fn a_volunteer_that_cannot_hold_the_job_ends_in_a_local_compile_with_its_message() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("t.c", SRC);
    let want = want_object(&tree);
    // A full disk (107), no memory (105), and codes no daemon of ours
    // sends today: any code of distcc's is a failure to distribute.
    for code in [107u8, 105, 100, 117, 120] {
        let full = Refuser::start(
            code,
            "distccd: cannot hold the result: No space left on device",
        );
        let obj = format!("c{code}.o");
        let out = run(client(&tree, &full.host(), &obj), T);
        let err = text(&out.stderr);
        assert!(out.status.success(), "{code}: {err}");
        assert_eq!(fs::read(tree.work().join(&obj)).unwrap(), want, "{code}");
        assert_eq!(lines(&out).len(), 1, "{code}: one line: {err}");
        assert!(
            err.contains("running locally instead") && err.contains("No space left on device"),
            "{code}: the server's message reaches the user: {err}"
        );
        // Without the fallback, distcc exits with the server's code.
        let mut cmd = client(&tree, &full.host(), &obj);
        cmd.env("DISTCC_FALLBACK", "0");
        let out = run(cmd, T);
        assert_eq!(
            out.status.code(),
            Some(i32::from(code)),
            "{}",
            text(&out.stderr)
        );
        assert!(text(&out.stderr).contains("No space left on device"));
    }
}

#[test]
fn a_log_file_that_cannot_be_opened_is_said_once() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("t.c", SRC);
    // A directory cannot be opened for writing, even by root.
    let dir_as_log = tree.path("state");
    let daemon = Daemon::start(&tree, &[]);
    for hosts in [daemon.host(), format!("127.0.0.1:{}", free_port())] {
        let mut cmd = client(&tree, &hosts, "t.o");
        cmd.env("DISTCC_LOG", &dir_as_log);
        let out = run(cmd, T);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let said = lines(&out);
        let about_log: Vec<_> = said
            .iter()
            .filter(|l| l.contains("failed to open logfile"))
            .collect();
        assert_eq!(about_log.len(), 1, "{said:?}");
        assert!(about_log[0].contains(&*dir_as_log.to_string_lossy()));
        assert!(!text(&out.stderr).contains("flexi_logger"), "{said:?}");
        // Then it carries on, on stderr: a fallback says so there.
        let fell_back = said.iter().any(|l| l.contains("running locally instead"));
        assert_eq!(fell_back, hosts != daemon.host(), "{said:?}");
    }
}

/// What distcc 3.4's own suite checks of `distcc --version` and
/// `distccd --version` (VersionOption_Case): at least three lines, the
/// first `NAME VERSION PLATFORM`, the second the protocols and port.
#[test]
fn version_has_distcc_34s_form() {
    let tree = Tree::new();
    for program in ["distcc", "distccd"] {
        let mut c = Command::new(tree.path("bin").join(program));
        c.arg("--version");
        let out = run(c, T);
        assert!(out.status.success(), "{program}");
        let said = text(&out.stdout);
        let body = said.strip_suffix('\n').expect("ends with a newline");
        let parts: Vec<&str> = body.splitn(3, '\n').collect();
        assert_eq!(parts.len(), 3, "{said}");
        let first: Vec<&str> = parts[0].split(' ').collect();
        assert_eq!(first.len(), 3, "{said}");
        assert_eq!(first[0], program);
        for word in &first[1..] {
            assert!(
                word.chars()
                    .all(|c| c.is_alphanumeric() || "._-".contains(c)),
                "{said}"
            );
        }
        assert!(parts[1].starts_with([' ', '\t']), "{said}");
        assert!(parts[1].trim_start().starts_with("(protocol"), "{said}");
        assert!(parts[1].ends_with(") (default port 3632)"), "{said}");
    }
}

#[test]
fn with_distcc_log_distccs_own_words_go_to_the_log() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("t.c", SRC);
    let want = want_object(&tree);
    let log = tree.path("state/client.log");
    let dead = format!("127.0.0.1:{}", free_port());
    let mut cmd = client(&tree, &dead, "t.o");
    cmd.env("DISTCC_LOG", &log);
    let out = run(cmd, T);
    assert!(out.status.success());
    assert_eq!(text(&out.stderr), "", "stderr is the compiler's");
    assert_eq!(fs::read(tree.work().join("t.o")).unwrap(), want);
    let logged = fs::read_to_string(&log).unwrap();
    // distcc 3.4's suite (NoServer_Case) greps the log for this.
    let fallback: Vec<&str> = logged
        .lines()
        .filter(|l| l.contains("failed to distribute") && l.contains("running locally instead"))
        .collect();
    assert_eq!(fallback.len(), 1, "{logged}");
    assert!(fallback[0].contains("Connection refused"), "{logged}");
}

#[test]
fn no_hosts_no_server_and_a_missing_compiler_are_said_in_distcc_34s_words() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("t.c", SRC);
    // No hosts (NoHosts_Case): one warning.
    let out = run(client(&tree, "", "a.o"), T);
    assert!(out.status.success());
    let said = lines(&out);
    assert_eq!(said.len(), 1, "{said:?}");
    let l = &said[0];
    let at = |s: &str| l.find(s).unwrap_or_else(|| panic!("{s:?} not in {l:?}"));
    assert!(
        at("Warning") < at("$DISTCC_HOSTS") && at("$DISTCC_HOSTS") < at("can't distribute work")
    );
    // No server: 3.4's words, and why.
    let dead = free_port();
    let out = run(client(&tree, &format!("127.0.0.1:{dead}"), "b.o"), T);
    assert!(out.status.success());
    let said = lines(&out);
    assert_eq!(said.len(), 1, "{said:?}");
    let l = &said[0];
    assert!(
        l.contains(&format!(
            "failed to distribute t.c to 127.0.0.1:{dead}, running locally instead"
        )),
        "{l}"
    );
    assert!(
        l.contains(&format!(
            "connect to 127.0.0.1:{dead} failed: Connection refused"
        )),
        "{l}"
    );
    // A missing compiler (MissingCompiler_Case): 110, "failed to exec".
    let mut cmd = tree.client("", &["nosuchcc", "-c", "t.c"]);
    cmd.env("DISTCC_FALLBACK", "0");
    let out = run(cmd, T);
    assert_eq!(out.status.code(), Some(110));
    assert!(
        text(&out.stderr).contains("failed to exec nosuchcc"),
        "{}",
        text(&out.stderr)
    );
}

/// Finished jobs as `distccmon-text --summary` tells them.
fn summary(tree: &Tree) -> String {
    let mon = tree.path("bin/distccmon-text");
    if !mon.exists() {
        std::os::unix::fs::symlink(exe(), &mon).unwrap();
    }
    let mut c = Command::new(mon);
    c.arg("--summary").env("DISTCC_DIR", tree.path("state"));
    let out = run(c, T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// The reason lines of one section of the summary.
fn section<'a>(summary: &'a str, title: &str) -> Vec<&'a str> {
    summary
        .split(&format!("\n{title}:\n"))
        .nth(1)
        .map(|rest| rest.lines().take_while(|l| !l.is_empty()).collect())
        .unwrap_or_default()
}

#[test]
fn why_each_job_ran_where_it_did_is_logged_and_summarised_alike() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("t.c", SRC);
    let log = tree.path("state/client.log");
    let refuser = Refuser::start(
        113,
        "distccd: access denied for 127.0.0.1: not on the --allow list",
    );
    let dead = format!("127.0.0.1:{}", free_port());
    let logged = |hosts: &str, obj: &str, backoff: &str| {
        let mut cmd = client(&tree, hosts, obj);
        cmd.env("DISTCC_LOG", &log)
            .env("DISTCC_BACKOFF_PERIOD", backoff);
        let out = run(cmd, T);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stderr), "");
    };
    // A refusal: the daemon's own reason, and no backoff (it answered).
    logged(&refuser.host(), "a.o", "60");
    logged(&refuser.host(), "b.o", "60");
    // A dead host is backed off; the next job is told why, not "busy".
    logged(&dead, "c.o", "60");
    logged(&dead, "d.o", "60");
    let text_log = fs::read_to_string(&log).unwrap();
    let fallbacks: Vec<&str> = text_log
        .lines()
        .filter(|l| l.contains("Warning: failed to distribute"))
        .collect();
    assert_eq!(fallbacks.len(), 4, "every fallback is logged: {text_log}");
    for l in &fallbacks[..2] {
        assert!(
            l.contains("access denied for 127.0.0.1: not on the --allow list"),
            "{l}"
        );
    }
    assert!(
        fallbacks[2].contains("Connection refused"),
        "{}",
        fallbacks[2]
    );
    assert!(
        fallbacks[3].contains("backed off") && fallbacks[3].contains("Connection refused"),
        "the backoff's own reason: {}",
        fallbacks[3]
    );
    assert!(!text_log.contains("busy"), "{text_log}");
    // The summary counts the same reasons, in the same words.
    let s = summary(&tree);
    let reasons = section(&s, "fallback because");
    assert_eq!(reasons.len(), 3, "{s}");
    let count = |needle: &str| -> u32 {
        reasons
            .iter()
            .filter(|l| l.contains(needle))
            .map(|l| l.split_whitespace().next().unwrap().parse::<u32>().unwrap())
            .sum()
    };
    assert_eq!(count("access denied"), 2, "{s}");
    assert_eq!(count("backed off"), 1, "{s}");
    assert_eq!(count("Connection refused"), 2, "{s}");
    for r in &reasons {
        let reason = r.trim_start().split_once("  ").unwrap().1;
        assert!(
            text_log.contains(reason.trim()),
            "{reason:?} is not in the log: {text_log}"
        );
    }
    // The refusing host was never marked down; the dead one was.
    assert!(
        !Path::new(&tree.path(&format!("state/state/backoff_127.0.0.1%3A{}", refuser.port)))
            .exists()
    );
}
