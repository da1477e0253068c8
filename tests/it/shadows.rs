//! A scanner miss whose name, on a volunteer without it, would resolve to
//! another file the client predicted: `src/u.c` picks `"common.h"` (its
//! own dir's) or `<common.h>` (`-Iinc`'s) by a macro that a compiler
//! driver adds only on `-c` command lines, so the scanner, whose probe
//! runs without `-c`, predicts `inc/common.h` while the compiler reads
//! `src/common.h`. The shadow our client names makes the volunteer's
//! compiler read an empty `src/common.h`, which the check of its reads
//! catches and the job is redone; a daemon of ours from before shadows
//! closes on them, is remembered, and is asked without: there, and only
//! there, the volunteer falls through to `inc/common.h` unseen.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use distcc::protocol::Dist;

use crate::skip_unless;
use crate::util::*;

const T: Duration = Duration::from_secs(120);
const ARGS: &[&str] = &["-Iinc", "-c", "src/u.c", "-o"];

/// A tree with the unit, and a dir with a `gcc` that adds `-DPICK_ALT`
/// to command lines with `-c`, run by the client and our daemon alike.
fn scene() -> (Tree, PathBuf) {
    let tree = Tree::new();
    tree.write(
        "src/u.c",
        "#ifdef PICK_ALT\n#include \"common.h\"\n#else\n#include <common.h>\n#endif\n\
         int u(void) { return PICKED; }\n",
    );
    tree.write("src/common.h", "#define PICKED 2\n");
    tree.write("inc/common.h", "#define PICKED 1\n");
    let bin = tree.path("driver");
    fs::create_dir(&bin).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    let gcc = bin.join("gcc");
    let script = format!(
        "#!/bin/sh\ncase \" $* \" in *\" -c \"*) set -- -DPICK_ALT \"$@\";; esac\n\
         exec {} \"$@\"\n",
        which("gcc").display()
    );
    fs::write(&gcc, script).unwrap();
    fs::set_permissions(&gcc, fs::Permissions::from_mode(0o755)).unwrap();
    (tree, bin)
}

fn path_with(dir: &std::path::Path) -> std::ffi::OsString {
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap()));
    std::env::join_paths(dirs).unwrap()
}

fn daemon(tree: &Tree, bin: &std::path::Path) -> Daemon {
    Daemon::start_with(tree, &["--allow", "127.0.0.1"], |c| {
        c.env("PATH", path_with(bin));
    })
}

/// The unit through our client to `host` in exact mode, writing `obj`;
/// whether it succeeded, and its log.
fn remote(tree: &Tree, bin: &std::path::Path, host: &str, obj: &str) -> (bool, String) {
    let mut args = vec!["gcc"];
    args.extend(ARGS);
    args.push(obj);
    let mut c = tree.client(&format!("{host},cpp"), &args);
    c.env("PATH", path_with(bin))
        .env("DISTCC_FALLBACK", "0")
        .env("DISTCC_VERBOSE", "1");
    let out = run(c, T);
    (out.status.success(), text(&out.stderr))
}

/// Whether `obj` is what the driver writes here.
fn same_as_local(tree: &Tree, bin: &std::path::Path, obj: &str) -> bool {
    let mut c = Command::new(bin.join("gcc"));
    c.args(ARGS).arg("local.o").current_dir(tree.work());
    assert!(run(c, T).status.success());
    let read = |name: &str| fs::read(tree.work().join(name)).unwrap();
    read(obj) == read("local.o")
}

#[test]
fn a_miss_that_would_resolve_to_a_predicted_file_is_caught_by_its_shadow() {
    skip_unless!(have("gcc"), "gcc missing");
    let (tree, bin) = scene();
    let d = daemon(&tree, &bin);
    let (ok, err) = remote(&tree, &bin, &d.host(), "u.o");
    assert!(ok, "{err}");
    assert!(err.contains("list files (scan)"), "{err}");
    // What the volunteer's compiler read: the shadow at the client's name.
    assert!(err.contains("scanner miss"), "{err}");
    assert!(err.contains("src/common.h"), "the miss names it: {err}");
    assert!(same_as_local(&tree, &bin, "u.o"), "{err}");
}

#[test]
fn a_daemon_from_before_shadows_is_asked_without_them() {
    skip_unless!(have("gcc"), "gcc missing");
    let (tree, bin) = scene();
    let d = daemon(&tree, &bin);
    let port = relay_closing_on(d.port, Dist::SHADOWED);
    let host = format!("127.0.0.1:{port}");
    let (ok, first) = remote(&tree, &bin, &host, "a.o");
    assert!(ok, "{first}");
    assert!(first.contains("no shadows"), "{first}");
    let marker = tree
        .path("state/state")
        .join(format!("noshadows_127.0.0.1%3A{port}"));
    assert!(marker.exists(), "{first}");
    for other in ["nonotes_", "nozstd_", "plain3_"] {
        let m = tree
            .path("state/state")
            .join(format!("{other}127.0.0.1%3A{port}"));
        assert!(!m.exists(), "{other}: {first}");
    }
    // Without the shadow the volunteer's search falls through to the
    // predicted inc/common.h, and nothing tells: the gap shadows close.
    assert!(!first.contains("scanner miss"), "{first}");
    assert!(!same_as_local(&tree, &bin, "a.o"));
    let (ok, second) = remote(&tree, &bin, &host, "b.o");
    assert!(ok, "{second}");
    assert!(!second.contains("no shadows"), "remembered: {second}");
    assert!(
        second.contains("(exact)"),
        "still our hashed dialect: {second}"
    );
}
