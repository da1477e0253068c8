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

fn rewritten(args: &str) -> Result<(Vec<String>, bool), Refusal> {
    let v: Vec<OsString> = args.split(' ').map(OsString::from).collect();
    let r = rewrite(&v, Path::new("/j/root"), Path::new("/p"), Path::new("/j"))?;
    let words = r.args[1..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    Ok((words, r.deps))
}

/// What `-Wp,` and `-Xpreprocessor` hand the preprocessor names files
/// too: the dependency file goes to the job dir (so `-Wp,-MD,/etc/x`
/// writes nothing there), search dirs and included files into the root.
#[test]
fn text_for_the_preprocessor_is_rewritten_word_by_word() {
    let (args, deps) = rewritten("-c x.c -Wp,-MD,/etc/x").unwrap();
    assert_eq!(
        args,
        ["-c", "x.c", "-Wp,-MD,/j/deps.d", "-o", "/j/output.o"]
    );
    assert!(deps);
    let (args, deps) =
        rewritten("-Wp,-MMD,obj/x.d,-MT,t,-I/inc,-D_FORTIFY_SOURCE=2,-I,rel -c x.c").unwrap();
    assert_eq!(
        args[0],
        "-Wp,-MMD,/j/deps.d,-MT,t,-I/j/root/inc,-D_FORTIFY_SOURCE=2,-I,rel"
    );
    assert!(deps);
    let (args, deps) = rewritten(
        "-Xpreprocessor -MD -Xpreprocessor obj/x.d -Xpreprocessor -include \
         -Xpreprocessor /p/pre.h -c x.c",
    )
    .unwrap();
    assert_eq!(
        args[..8],
        [
            "-Xpreprocessor",
            "-MD",
            "-Xpreprocessor",
            "/j/deps.d",
            "-Xpreprocessor",
            "-include",
            "-Xpreprocessor",
            "/j/root/p/pre.h"
        ]
    );
    assert!(deps);
    let (_, deps) = rewritten("-Wp,-D_FORTIFY_SOURCE=2 -c x.c").unwrap();
    assert!(!deps, "no dependency file asked for");
    for bad in [
        "-Wp,-fplugin=/x.so -c x.c",
        "-Wp,-MD -c x.c",
        "-Wp,/etc/passwd -c x.c",
        "-Wp,-imultilib,/x -c x.c",
        "-c x.c -Xpreprocessor -MD",
        "-Xpreprocessor -wrapper -Xpreprocessor /bin/sh -c x.c",
    ] {
        assert!(rewritten(bad).is_err(), "{bad}");
    }
}

/// Options only the linker reads are inert in a compile: dropped rather
/// than refused (CMake's checks pass `-Wl,--version-script,/abs/path`).
#[test]
fn linker_text_is_dropped_from_a_compile() {
    let (args, _) =
        rewritten("-Wl,--version-script,/abs/v.map -Xlinker -Map -Xlinker m.map -c x.c").unwrap();
    assert_eq!(args, ["-c", "x.c", "-o", "/j/output.o"]);
}

/// A mirror for `/p` in a temp job dir, with no server.
fn bare_mirror() -> Mirror {
    let job = tempfile::tempdir().unwrap();
    let root = job.path().join("root");
    fs::create_dir(&root).unwrap();
    let plan = rewrite(&os(&["-c", "x.c"]), &root, Path::new("/p"), job.path()).unwrap();
    Mirror {
        compiler: "cc".into(),
        source: "x.c".into(),
        program: "cc".into(),
        cwd: "/p".into(),
        job,
        root,
        plan,
    }
}

fn ship(m: &Mirror, name: &str, body: &str) {
    let mut write = |f: &mut File| -> Result<()> {
        std::io::Write::write_all(f, body.as_bytes())?;
        Ok(())
    };
    m.place(OsStr::new(name), Source::Body(&mut write))
        .unwrap()
        .unwrap();
}

#[test]
fn a_shadow_is_an_empty_read_only_file_at_its_client_path() {
    use std::os::unix::fs::PermissionsExt;
    let m = bare_mirror();
    ship(&m, "/p/inc/common.h", "int x;\n");
    m.shadow(OsStr::new("/p/src/common.h")).unwrap().unwrap();
    let at = m.root.join("p/src/common.h");
    let md = fs::symlink_metadata(&at).unwrap();
    assert!(md.is_file() && md.len() == 0);
    assert_eq!(md.permissions().mode() & 0o777, 0o444);
    assert_eq!(
        fs::read(m.root.join("p/inc/common.h")).unwrap(),
        b"int x;\n"
    );
}

#[test]
fn a_shadow_is_refused_where_it_could_hide_or_leave_anything() {
    let m = bare_mirror();
    ship(&m, "/p/inc/a.h", "int a;\n");
    let other = tempfile::tempdir().unwrap();
    m.place(OsStr::new("/p/link.h"), Source::Link(OsStr::new("inc/a.h")))
        .unwrap()
        .unwrap();
    m.place(OsStr::new("/p/lnk"), Source::Link(OsStr::new("inc")))
        .unwrap()
        .unwrap();
    let outside = other.path().join("x.h");
    for bad in [
        "/p/../etc/x.h",
        "p/rel.h",
        // Over a shipped file, a dir, or a link at its name.
        "/p/inc/a.h",
        "/p/inc",
        "/p/link.h",
        // Through a linked dir onto a shipped file.
        "/p/lnk/a.h",
    ] {
        let r = m.shadow(OsStr::new(bad)).unwrap();
        assert!(r.is_err(), "{bad}: placed");
    }
    assert_eq!(fs::read(m.root.join("p/inc/a.h")).unwrap(), b"int a;\n");
    // A linked dir leads inside the root, never out of it, even where
    // the client's link names a dir outside.
    m.shadow(OsStr::new("/p/lnk/b.h")).unwrap().unwrap();
    assert!(m.root.join("p/inc/b.h").is_file());
    m.place(OsStr::new("/p/out"), Source::Link(other.path().as_os_str()))
        .unwrap()
        .unwrap();
    // Dangling inside the root until a file is shipped there: no place.
    assert!(!matches!(m.shadow(OsStr::new("/p/out/x.h")), Ok(Ok(()))));
    ship(&m, &format!("{}/y.h", other.path().display()), "");
    m.shadow(OsStr::new("/p/out/x.h")).unwrap().unwrap();
    assert!(!outside.exists());
    assert!(under(&m.root, &outside).is_file());
}
