//! Where `install.sh` writes: every path announced before the first write,
//! another distcc on PATH never hidden without saying so (and, as root
//! with the default prefix, not at all), and `--uninstall` taking away
//! exactly what an install added, the directories it created included.
//!
//! Every install goes into the test's temp tree. The root case needs the
//! real default prefix, `/usr/local`, so it runs in a mount namespace of
//! its own where a temp dir is bound over it.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{executable, src_dir, LIMIT};
use crate::skip_unless;
use crate::util::{exe, have, run, text, which, Tree};

/// `c` (a wrapper such as `sh -c …`) with `install.sh --no-build --binary
/// EXE EXTRA…` as its last arguments, and PATH `path`; not run.
fn script_in(mut c: Command, extra: &[&str], path: &OsString) -> Command {
    c.arg(src_dir().join("install.sh"))
        .args(["--no-build", "--binary"])
        .arg(exe())
        .args(extra)
        .env("PATH", path)
        .stdin(Stdio::null());
    c
}

/// `install.sh --no-build --binary EXE EXTRA…` with PATH `path`, not run.
fn script(extra: &[&str], path: &OsString) -> Command {
    script_in(Command::new("env"), extra, path)
}

/// `script`, its standard output written straight to the file `printed`
/// (`run` would read it from a pipe, which no one else could look into).
fn script_printing_to(printed: &Path, extra: &[&str], path: &OsString) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", "out=$1; shift; exec \"$@\" >\"$out\"", "sh"])
        .arg(printed);
    script_in(c, extra, path)
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "install.sh failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// `dirs` first, then this process's PATH.
fn path_of(dirs: &[&Path]) -> OsString {
    let mut all: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    all.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(all).unwrap()
}

/// Every path under `root`, relative, sorted; dirs end in `/`.
fn listing(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if p.is_dir() && !p.is_symlink() {
                out.push(format!("{rel}/"));
                walk(root, &p, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// The paths of each kind the plan must name, under `prefix`.
fn announced(prefix: &str) -> Vec<String> {
    [
        "bin/distcc",
        "bin/distccd",
        "bin/distccmon-text",
        "lib/distcc/bin/",
        "sbin/update-distcc-symlinks",
        "share/distcc/compilers",
    ]
    .iter()
    .map(|p| format!("{prefix}/{p}"))
    .collect()
}

/// A dir of stand-ins for every command the scripts write with: the first
/// one to run copies what the script has printed so far to `seen`, then
/// each runs the real command.
fn write_spies(tree: &Tree, printed: &Path, seen: &Path) -> PathBuf {
    let dir = tree.path("spies");
    fs::create_dir(&dir).unwrap();
    let cp = which("cp");
    for cmd in [
        "install", "ln", "mv", "mkdir", "cp", "rm", "rmdir", "touch", "mktemp", "chmod", "cargo",
    ] {
        if !have(cmd) {
            continue;
        }
        executable(
            &dir.join(cmd),
            &format!(
                "#!/bin/sh\n[ -e '{seen}' ] || {cp} '{printed}' '{seen}'\nexec {real} \"$@\"\n",
                seen = seen.display(),
                printed = printed.display(),
                cp = cp.display(),
                real = which(cmd).display(),
            ),
        );
    }
    dir
}

#[test]
fn every_path_is_announced_before_the_first_write() {
    let tree = Tree::new();
    let prefix = tree.path("prefix");
    let prefix_arg = prefix.to_str().unwrap();
    for (step, extra) in [
        ("install", &["--prefix", prefix_arg][..]),
        ("uninstall", &["--prefix", prefix_arg, "--uninstall"]),
    ] {
        let printed = tree.path(&format!("{step}.out"));
        let seen = tree.path(&format!("{step}.seen"));
        let spies = write_spies(&tree, &printed, &seen);
        let c = script_printing_to(&printed, extra, &path_of(&[&spies]));
        let out = ok(run(c, LIMIT));
        let before = fs::read_to_string(&seen)
            .unwrap_or_else(|_| panic!("{step} wrote nothing: {}", text(&out.stderr)));
        for path in announced(prefix_arg) {
            assert!(
                before.contains(&path),
                "{step}: {path} not announced before the first write:\n{before}"
            );
        }
        fs::remove_dir_all(&spies).unwrap();
    }
    assert!(!prefix.exists(), "left behind: {:?}", listing(&prefix));
}

#[test]
fn uninstall_removes_the_dirs_it_created_and_keeps_the_others() {
    let tree = Tree::new();
    let path = path_of(&[]);
    // bin/ holds someone else's file; share/ and lib/ are there, empty.
    let p = tree.path("p");
    fs::create_dir_all(p.join("bin")).unwrap();
    fs::create_dir_all(p.join("share")).unwrap();
    fs::create_dir_all(p.join("lib")).unwrap();
    fs::write(p.join("bin/other-tool"), "mine\n").unwrap();
    let before = listing(&p);
    let p_arg = ["--prefix", p.to_str().unwrap()];
    ok(run(script(&p_arg, &path), LIMIT));
    // A re-install finds its directories present and must still own them.
    ok(run(script(&p_arg, &path), LIMIT));
    assert!(p.join("sbin/update-distcc-symlinks").is_file());
    ok(run(
        script(&[&p_arg[..], &["--uninstall"]].concat(), &path),
        LIMIT,
    ));
    assert_eq!(listing(&p), before);

    // A prefix the install created goes too, unless something else now
    // lives in it: only that file's directories stay.
    let q = tree.path("q/deeper");
    let q_arg = ["--prefix", q.to_str().unwrap()];
    ok(run(script(&q_arg, &path), LIMIT));
    fs::write(q.join("sbin/mine"), "mine\n").unwrap();
    let out = ok(run(
        script(&[&q_arg[..], &["--uninstall"]].concat(), &path),
        LIMIT,
    ));
    assert_eq!(
        listing(&tree.path("q")),
        ["deeper/", "deeper/sbin/", "deeper/sbin/mine"]
    );
    assert!(
        text(&out.stdout).contains(&format!("kept {}", q.join("sbin").display())),
        "{}",
        text(&out.stdout)
    );
    // Those are someone else's now: a later install did not create them,
    // and its uninstall leaves them.
    fs::remove_file(q.join("sbin/mine")).unwrap();
    ok(run(script(&q_arg, &path), LIMIT));
    ok(run(
        script(&[&q_arg[..], &["--uninstall"]].concat(), &path),
        LIMIT,
    ));
    assert_eq!(listing(&tree.path("q")), ["deeper/", "deeper/sbin/"]);
}

/// A dir holding an executable `distcc`, as a distribution's `/usr/bin` does.
fn other_distcc(tree: &Tree) -> PathBuf {
    let dir = tree.path("sys");
    fs::create_dir(&dir).unwrap();
    executable(&dir.join("distcc"), "#!/bin/sh\necho other distcc\n");
    dir
}

#[test]
fn an_install_that_hides_another_distcc_says_so() {
    let tree = Tree::new();
    let sys = other_distcc(&tree);
    let prefix = tree.path("prefix");
    let arg = ["--prefix", prefix.to_str().unwrap()];
    let theirs = sys.join("distcc").display().to_string();

    // Ours first on PATH: theirs is hidden.
    let out = ok(run(
        script(&arg, &path_of(&[&prefix.join("bin"), &sys])),
        LIMIT,
    ));
    let err = text(&out.stderr);
    assert!(err.contains("no longer run by their plain names"), "{err}");
    assert!(err.contains(&theirs), "{err}");

    // Theirs first: ours would not run by name.
    let out = ok(run(
        script(&arg, &path_of(&[&sys, &prefix.join("bin")])),
        LIMIT,
    ));
    let err = text(&out.stderr);
    assert!(err.contains("run instead of the installed ones"), "{err}");
    assert!(err.contains(&theirs), "{err}");

    // Not on PATH at all: nothing to say about theirs.
    let out = ok(run(script(&arg, &path_of(&[&sys])), LIMIT));
    assert!(
        !text(&out.stderr).contains(&theirs),
        "{}",
        text(&out.stderr)
    );
}

/// Whether this process may bind a dir over `/usr/local` in a mount
/// namespace of its own.
fn can_borrow_usr_local() -> bool {
    // SAFETY: getter.
    let root = unsafe { libc::geteuid() } == 0;
    root && have("unshare")
        && have("mount")
        && Command::new("unshare")
            .args(["--mount", "--propagation", "private", "true"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// `install.sh ARGS` as root with `stand_in` bound over `/usr/local`, in a
/// private mount namespace that ends with it. The marker check makes sure
/// the bind took before anything runs.
fn with_usr_local(stand_in: &Path, args: &[&str], path: &OsString) -> Output {
    const MARKER: &str = ".install-test-stand-in";
    fs::write(stand_in.join(MARKER), "").unwrap();
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(format!(
            "mount --bind \"$1\" /usr/local && [ -e /usr/local/{MARKER} ] && shift && exec \"$@\""
        ))
        .arg("sh")
        .arg(stand_in);
    let out = run(script_in(c, args, path), LIMIT);
    fs::remove_file(stand_in.join(MARKER)).unwrap();
    out
}

#[test]
fn root_refuses_to_hide_another_distcc_without_an_explicit_prefix() {
    skip_unless!(
        can_borrow_usr_local(),
        "needs root and a mount namespace of its own"
    );
    let tree = Tree::new();
    let sys = other_distcc(&tree);
    let theirs = sys.join("distcc").display().to_string();
    let usr_local = tree.path("usr-local");
    fs::create_dir_all(usr_local.join("bin")).unwrap();
    fs::create_dir_all(usr_local.join("share")).unwrap();
    fs::write(usr_local.join("bin/other-tool"), "mine\n").unwrap();
    let before = listing(&usr_local);
    // As every user's PATH has it: /usr/local first.
    let path = path_of(&[
        Path::new("/usr/local/sbin"),
        Path::new("/usr/local/bin"),
        &sys,
    ]);

    let out = with_usr_local(&usr_local, &[], &path);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "installed: {err}");
    assert!(err.contains("refusing"), "{err}");
    assert!(err.contains(&theirs), "{err}");
    assert!(err.contains("--prefix /usr/local"), "{err}");
    // Said where, wrote nothing.
    for p in announced("/usr/local") {
        assert!(text(&out.stdout).contains(&p), "{}", text(&out.stdout));
    }
    assert_eq!(listing(&usr_local), before);

    // Asked for explicitly: installed, with a warning.
    let out = ok(with_usr_local(
        &usr_local,
        &["--prefix", "/usr/local"],
        &path,
    ));
    let err = text(&out.stderr);
    assert!(err.contains("WARNING") && err.contains(&theirs), "{err}");
    assert!(usr_local.join("bin/distcc").is_file());

    ok(with_usr_local(&usr_local, &["--uninstall"], &path));
    assert_eq!(listing(&usr_local), before);
}
