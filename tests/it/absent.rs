//! Absent system headers between our client and daemon: a unit whose
//! `#if __has_include(<h>)` finds nothing on the client asserts `h`
//! absent, so a daemon that has it (a dir bind-mounted over a system
//! include dir in a mount namespace the test creates for the daemon
//! alone) refuses, and the object is the local compile's, never one
//! built down the other branch; a daemon without it compiles as usual.
//! The same holds where the header is in a default dir of gcc's that
//! does not exist here but does on the daemon.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::identity::{can_unshare, daemon_with_bind, with_bind};
use crate::skip_unless;
use crate::util::*;

const T: Duration = Duration::from_secs(120);
const HEADER: &str = "absent_probe_header.h";
const SRC: &str = "#if __has_include(<absent_probe_header.h>)\n\
                   int which(void) { return 1; }\n\
                   #else\n\
                   int which(void) { return 2; }\n\
                   #endif\n";

/// A system include dir of gcc's that exists here and lacks `HEADER`.
const SYSTEM_DIR: &str = "/usr/local/include";

fn compile(tree: &Tree, hosts: &str, obj: &str) -> String {
    let mut c = tree.client(hosts, &["gcc", "-O1", "-c", "t.c", "-o", obj]);
    c.env("DISTCC_VERBOSE", "1");
    let out = run(c, T);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    err
}

fn local_object(tree: &Tree) -> Vec<u8> {
    let mut c = Command::new(which("gcc"));
    c.args(["-O1", "-c", "t.c", "-o", "local.o"])
        .current_dir(tree.work());
    let out = run(c, T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    fs::read(tree.work().join("local.o")).unwrap()
}

fn same_object(tree: &Tree, obj: &str, local: &[u8]) {
    let got = fs::read(tree.work().join(obj)).unwrap();
    assert!(
        got == local,
        "{obj} differs from the local compile's object"
    );
}

#[test]
fn a_header_absent_here_but_present_on_the_daemon_is_refused() {
    skip_unless!(have("gcc"), "gcc not installed");
    skip_unless!(
        have("unshare") && can_unshare(),
        "cannot make a mount namespace"
    );
    let dir = Path::new(SYSTEM_DIR);
    skip_unless!(
        dir.is_dir() && !dir.join(HEADER).exists(),
        "no usable system include dir"
    );
    let tree = Tree::new();
    tree.write("t.c", SRC);
    let local = local_object(&tree);
    // The daemon sees a system dir that has the header.
    let theirs = tree.path("their-include");
    fs::create_dir(&theirs).unwrap();
    fs::write(theirs.join(HEADER), "/* present */\n").unwrap();
    let daemon = daemon_with_bind(&tree, &theirs, dir);
    let hosts = format!("{},cpp,lzo", daemon.host());

    let err = compile(&tree, &hosts, "t.o");
    let want = format!(
        "system header mismatch: {}: client has none",
        dir.join(HEADER).display()
    );
    assert!(err.contains(&want), "{err}");
    same_object(&tree, "t.o", &local);

    // A daemon that lacks it too compiles the job.
    let plain = Daemon::start(&tree, &[]);
    let hosts = format!("{},cpp,lzo", plain.host());
    let err = compile(&tree, &hosts, "u.o");
    assert!(!err.contains("mismatch"), "{err}");
    same_object(&tree, "u.o", &local);
    let log = plain.log_when(|l| l.contains(": gcc status 0"));
    assert!(log.contains(": gcc status 0"), "{log}");
}

/// A default include dir gcc skips here as nonexistent whose parent is
/// `SYSTEM_DIR` (Debian's multiarch `/usr/local/include/<triplet>`), so a
/// daemon that sees a dir of the test's own over `SYSTEM_DIR` has it,
/// and nothing a compile needs is hidden from it.
fn skipped_default_dir() -> Option<std::path::PathBuf> {
    let out = Command::new(which("gcc"))
        .args(["-x", "c", "-E", "-v", "/dev/null", "-o", "/dev/null"])
        .env("LC_ALL", "C")
        .output()
        .ok()?;
    text(&out.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("ignoring nonexistent directory \""))
        .map(|d| Path::new(d.trim_end_matches('"')).to_path_buf())
        .find(|d| d.parent() == Some(Path::new(SYSTEM_DIR)))
}

#[test]
fn a_header_in_a_default_dir_missing_here_but_present_on_the_daemon_is_refused() {
    skip_unless!(have("gcc"), "gcc not installed");
    skip_unless!(
        have("unshare") && can_unshare(),
        "cannot make a mount namespace"
    );
    let Some(missing) = skipped_default_dir() else {
        eprintln!("SKIPPED: gcc skips no default dir under {SYSTEM_DIR}");
        return;
    };
    let tree = Tree::new();
    tree.write("t.c", SRC);
    let local = local_object(&tree);
    // The daemon sees the skipped dir, holding the header.
    let theirs = tree.path("their-include");
    let sub = theirs.join(missing.file_name().unwrap());
    fs::create_dir_all(&sub).unwrap();
    fs::write(sub.join(HEADER), "/* present */\n").unwrap();
    // The set-up bites: gcc itself there takes the other branch.
    let mut c = with_bind(&theirs, Path::new(SYSTEM_DIR));
    c.arg(which("gcc"))
        .args(["-O1", "-c", "t.c", "-o", "theirs.o"])
        .current_dir(tree.work());
    let out = run(c, T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let theirs_obj = fs::read(tree.work().join("theirs.o")).unwrap();
    assert!(
        theirs_obj != local,
        "the daemon's view does not change the object"
    );

    let daemon = daemon_with_bind(&tree, &theirs, Path::new(SYSTEM_DIR));
    let hosts = format!("{},cpp,lzo", daemon.host());
    let err = compile(&tree, &hosts, "t.o");
    let want = format!(
        "system header mismatch: {}: client has none",
        missing.join(HEADER).display()
    );
    assert!(err.contains(&want), "{err}");
    same_object(&tree, "t.o", &local);
}
