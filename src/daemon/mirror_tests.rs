//! Tests of exact mode's mirror: client paths stay inside the root, every
//! path option is rewritten into it, outputs go to the job dir.

use super::*;

fn os(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

#[test]
fn client_paths_must_be_clean_and_absolute() {
    for bad in ["rel/x.h", "/a/../etc/passwd", "/..", ""] {
        assert!(check_client_path(OsStr::new(bad)).is_err(), "{bad}");
    }
    assert!(check_client_path(OsStr::new("/home/u/x.h")).is_ok());
}

#[test]
fn symlink_targets_stay_inside() {
    assert_eq!(
        normalise(Path::new("/a/b"), Path::new("../../../../etc")),
        PathBuf::from("/etc")
    );
    assert_eq!(
        normalise(Path::new("/a"), Path::new("/x/./y")),
        PathBuf::from("/x/y")
    );
}

#[test]
fn rewrites_paths_into_the_root() {
    let root = Path::new("/j/root");
    let r = rewrite(
        &os(&[
            "-I/usr/local/inc",
            "-Iinclude",
            "-include",
            "/p/pre.h",
            "-MD",
            "-MF",
            "obj/x.d",
            "-c",
            "src/x.c",
            "-o",
            "obj/x.o",
        ]),
        root,
        Path::new("/p"),
        Path::new("/j"),
    )
    .unwrap();
    let args: Vec<String> = r
        .args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        args,
        [
            "-ffile-prefix-map=/j/root=",
            "-I/j/root/usr/local/inc",
            "-Iinclude",
            "-include",
            "/j/root/p/pre.h",
            "-MD",
            "-MF",
            "/j/deps.d",
            "-c",
            "src/x.c",
            "-o",
            "/j/output.o"
        ]
    );
    assert!(r.deps);
    assert!(r.dirs.contains(&PathBuf::from("/j/root/p/include")));
}

#[test]
fn every_spelling_of_a_path_option_is_rewritten_and_outputs_follow_the_mode() {
    let root = Path::new("/j/root");
    let r = rewrite(
        &os(&[
            "--include-directory=/inc",
            "-isystem",
            "/sys",
            "--include=/p/pre.h",
            "-ffile-prefix-map=/p=.",
            "-S",
            "x.c",
            "--output=x.s",
        ]),
        root,
        Path::new("/p"),
        Path::new("/j"),
    )
    .unwrap();
    let args: Vec<String> = r
        .args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        args[1..],
        [
            "--include-directory=/j/root/inc",
            "-isystem",
            "/j/root/sys",
            "--include=/j/root/p/pre.h",
            "-ffile-prefix-map=/j/root/p=.",
            "-S",
            "x.c",
            "--output=/j/output.s",
        ]
    );
    assert_eq!(r.output, PathBuf::from("/j/output.s"));
    assert!(r.dirs.contains(&PathBuf::from("/j/root/inc")));
    let r = rewrite(&os(&["-S", "x.c"]), root, Path::new("/p"), Path::new("/j")).unwrap();
    assert_eq!(r.args[r.args.len() - 2..], ["-o", "/j/output.s"]);
}

#[test]
fn refuses_what_it_cannot_vouch_for() {
    for bad in [
        "-c x.c -wrapper /bin/sh",
        "-c x.c -fplugin=/x.so",
        "-c x.c -B/x",
        "-c x.c --sysroot=/x",
        "-c x.c -Wp,-MD,/etc/x",
        "-c x.c y.c",
        "x.c",
    ] {
        let v: Vec<OsString> = bad.split(' ').map(OsString::from).collect();
        assert!(
            rewrite(&v, Path::new("/r"), Path::new("/p"), Path::new("/j")).is_err(),
            "{bad}"
        );
    }
}
