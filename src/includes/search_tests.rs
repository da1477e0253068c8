//! Search-rule corners, each checked against `gcc -M` where gcc is
//! installed (see `walk_tests::check`).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::includes::unit::ProbeKind;
use crate::includes::walk_tests::{check, have_gcc, scan, Tree};

use super::*;

#[test]
fn join_and_dir_of_keep_the_spelling() {
    assert_eq!(join(b"", b"a.h"), b"a.h");
    assert_eq!(join(b"inc//", b"a.h"), b"inc//a.h");
    assert_eq!(join(b"inc", b"x/a.h"), b"inc/x/a.h");
    assert_eq!(dir_of(b"src/m.c"), b"src/");
    assert_eq!(dir_of(b"m.c"), b"");
    assert_eq!(dir_of(b"/abs/m.c"), b"/abs/");
}

#[test]
fn include_next_resumes_after_the_dir_found_in() {
    let t = Tree::new(&[
        ("m.c", "#include <n.h>\n#include \"own.h\"\n"),
        ("a/n.h", "#include_next <n.h>\n"),
        ("b/n.h", "#include_next \"n.h\"\n"),
        ("c/n.h", ""),
        ("own.h", "#include_next <n.h>\n"),
    ]);
    // own.h was found in the includer's dir: include_next continues at
    // the head of the chain, so a/n.h again, then b, then c.
    check(
        &t,
        &["-Ia", "-Ib", "-Ic", "m.c"],
        &["m.c", "own.h", "a/n.h", "b/n.h", "c/n.h"],
    );
}

#[test]
fn include_next_in_the_main_file_is_an_include() {
    let t = Tree::new(&[("m.c", "#include_next <n.h>\n"), ("a/n.h", "")]);
    check(&t, &["-Ia", "m.c"], &["m.c", "a/n.h"]);
}

#[test]
fn a_user_dir_that_is_a_system_dir_keeps_its_system_place() {
    let t = Tree::new(&[
        ("m.c", "#include <x.h>\n"),
        ("sys/x.h", ""),
        ("user/x.h", ""),
    ]);
    // Without the rule sys/x.h would win (-Isys comes first).
    check(
        &t,
        &["-Isys", "-Iuser", "-isystem", "sys", "m.c"],
        &["m.c", "user/x.h"],
    );
    // A duplicate -I keeps its first place.
    check(
        &t,
        &["-Iuser", "-Isys", "-Iuser", "m.c"],
        &["m.c", "user/x.h"],
    );
}

#[test]
fn iquote_is_for_quotes_only() {
    let t = Tree::new(&[
        ("m.c", "#include \"q.h\"\n#include <q2.h>\n"),
        ("q/q.h", ""),
        ("q/q2.h", ""),
        ("i/q2.h", ""),
    ]);
    check(
        &t,
        &["-iquote", "q", "-Ii", "m.c"],
        &["m.c", "q/q.h", "i/q2.h"],
    );
}

#[test]
fn idirafter_comes_after_the_system_dirs() {
    let t = Tree::new(&[
        ("m.c", "#include <stddef.h>\n#include <late.h>\n"),
        ("after/stddef.h", "#error no\n"),
        ("after/late.h", ""),
    ]);
    let r = scan(&t, &["-idirafter", "after", "m.c"]).unwrap();
    let names: Vec<_> = r
        .files
        .iter()
        .map(|f| f.path.to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"after/late.h".to_string()), "{names:?}");
    assert!(!names.contains(&"after/stddef.h".to_string()), "{names:?}");
}

#[test]
fn missing_candidates_are_probes() {
    let t = Tree::new(&[("m.c", "#include <x.h>\n"), ("b/x.h", ""), ("notadir", "")]);
    let r = check(
        &t,
        &["-Ia", "-Inotadir", "-Ib", "-Ic", "m.c"],
        &["m.c", "b/x.h"],
    );
    let p = |path: &str, kind| {
        r.probes
            .iter()
            .find(|p| p.path == Path::new(path) && p.kind == kind)
    };
    assert!(!p("a", ProbeKind::Dir).unwrap().exists);
    assert!(!p("notadir", ProbeKind::Dir).unwrap().exists);
    assert!(p("b", ProbeKind::Dir).unwrap().exists);
    // Dropped dirs are not searched; the found file is not a probe.
    assert!(p("a/x.h", ProbeKind::Candidate).is_none());
    assert!(p("b/x.h", ProbeKind::Candidate).is_none());
    t.file("a/x.h", "");
    let r = check(&t, &["-Ia", "-Ib", "m.c"], &["m.c", "a/x.h"]);
    assert!(r.probes.iter().all(|p| p.path != Path::new("b/x.h")));
    // A directory where a header is looked for is not the header.
    std::fs::remove_file(t.tmp.path().join("a/x.h")).unwrap();
    std::fs::create_dir(t.tmp.path().join("a/x.h")).unwrap();
    let r = check(&t, &["-Ia", "-Ib", "m.c"], &["m.c", "b/x.h"]);
    let c = r
        .probes
        .iter()
        .find(|p| p.path == Path::new("a/x.h"))
        .unwrap();
    assert!(!c.exists);
}

#[test]
fn has_include_with_a_macro_name_is_a_probe() {
    let t = Tree::new(&[
        (
            "m.c",
            "#define N(x) <x.h>\n#define Q \"there.h\"\n\
             #if __has_include(N(absent)) || !__has_include(Q)\n#include \"no.h\"\n#endif\n\
             #if __has_include_next(<there.h>)\n#include \"yes.h\"\n#endif\n",
        ),
        ("i/there.h", ""),
        ("yes.h", ""),
    ]);
    let r = check(&t, &["-Ii", "m.c"], &["m.c", "yes.h"]);
    let find = |p: &str| {
        r.probes
            .iter()
            .find(|x| x.path == Path::new(p) && x.kind == ProbeKind::HasInclude)
    };
    assert!(!find("i/absent.h").unwrap().exists);
    assert!(
        !find("there.h").unwrap().exists,
        "own dir tried first for \"there.h\""
    );
    assert!(find("i/there.h").unwrap().exists);
}

#[test]
fn pragma_once_through_a_symlink_and_a_copy() {
    let body = "#pragma once\n#ifdef SEEN\n#include \"../reentered.h\"\n#endif\n#define SEEN\n";
    let t = Tree::new(&[
        (
            "m.c",
            "#include \"real/o.h\"\n#include \"link/o.h\"\n#include \"copy/o.h\"\n",
        ),
        ("real/o.h", body),
        ("reentered.h", ""),
    ]);
    t.link("link", "real");
    // A copy with another mtime is another file for gcc.
    t.file("copy/o.h", body);
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    std::fs::File::options()
        .write(true)
        .open(t.tmp.path().join("copy/o.h"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    check(
        &t,
        &["m.c"],
        &["m.c", "real/o.h", "copy/o.h", "reentered.h"],
    );
    // Same mtime: gcc compares contents and skips it.
    let now = std::fs::metadata(t.tmp.path().join("real/o.h"))
        .unwrap()
        .modified()
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(t.tmp.path().join("copy/o.h"))
        .unwrap()
        .set_modified(now)
        .unwrap();
    // gcc opens both to compare them, but lists neither in its -M output.
    let r = scan(&t, &["m.c"]).unwrap();
    let paths: Vec<_> = r
        .files
        .iter()
        .map(|f| f.path.to_string_lossy().into_owned())
        .collect();
    assert_eq!(&paths[2..], &["real/o.h", "link/o.h", "copy/o.h"]);
    if have_gcc() {
        let g = crate::includes::walk_tests::gcc_files(&t, &["m.c"]).unwrap();
        assert_eq!(g, vec!["m.c", "real/o.h"]);
    }
}

#[test]
fn split_dirs_with_i_minus() {
    let t = Tree::new(&[
        ("m.c", "#include \"h.h\"\n#include <b.h>\n"),
        ("h.h", "#error own dir is not searched after -I-\n"),
        ("q/h.h", ""),
        ("q/b.h", "#error q is for quotes only\n"),
        ("b/b.h", ""),
    ]);
    if have_gcc() {
        // gcc warns that -I- is deprecated; the rule is still applied.
        check(
            &t,
            &["-Iq", "-I-", "-Ib", "m.c"],
            &["m.c", "q/h.h", "b/b.h"],
        );
    }
}

#[test]
fn sysroot_prefix_and_env_paths() {
    let t = Tree::new(&[
        ("m.c", "#include <a.h>\n#include <b.h>\n"),
        ("root/inc/a.h", ""),
        ("env/b.h", ""),
    ]);
    let mut u = crate::includes::walk_tests::unit_of(t.tmp.path(), &["-I=/inc", "m.c"]);
    u.sysroot = Some(t.tmp.path().join("root"));
    u.env_cpath = Some("env".into());
    let r = crate::includes::Scanner::new()
        .scan(
            &u,
            crate::includes::walk_tests::compiler(crate::includes::Lang::C),
        )
        .unwrap();
    assert!(
        r.files.iter().any(|f| f.path.ends_with("root/inc/a.h")),
        "{:?}",
        r.files
    );
    assert!(
        r.files.iter().any(|f| f.path == Path::new("env/b.h")),
        "{:?}",
        r.files
    );
}

/// A compiler whose default dirs are the tree's `d0`, `d1`, and which
/// skipped `m0` (before `d0`), `m1` (between) and `m2` (after both).
fn with_skipped(t: &Tree) -> crate::includes::probe::CompilerInfo {
    let root = t.root();
    let r = |d: &str| root.join(d).display().to_string();
    let stderr = format!(
        "ignoring nonexistent directory \"{}\"\n\
         ignoring nonexistent directory \"{}\"\n\
         ignoring nonexistent directory \"{}\"\n\
         #include <...> search starts here:\n {}\n {}\nEnd of search list.\n",
        r("m0"),
        r("m1"),
        r("m2"),
        r("d0"),
        r("d1")
    );
    let stdout = b"#define __distcc_probe_0 1\n#define __distcc_probe_1 1\n";
    let mut cc = crate::includes::probe::parse(
        stdout,
        stderr.as_bytes(),
        b"",
        Path::new("p.h"),
        crate::includes::Lang::C,
    );
    for (s, before) in cc.absent_dirs.iter_mut().zip([0, 1, 2]) {
        s.before = before;
    }
    cc.seal();
    cc
}

#[test]
fn a_has_include_that_finds_nothing_names_the_skipped_dirs_it_passes() {
    let t = Tree::new(&[
        (
            "m.c",
            "#if __has_include(<x.h>)\n#endif\n\
             #if __has_include(<found.h>)\n#endif\n\
             #include <n.h>\n#include <w.h>\n",
        ),
        ("s/found.h", ""),
        // Found in d0: a next search starts at d1, past m0.
        ("d0/n.h", "#if __has_include_next(<y.h>)\n#endif\n"),
        // Found after the defaults: a next search passes none of them.
        ("z/w.h", "#if __has_include_next(<q.h>)\n#endif\n"),
    ]);
    let cc = with_skipped(&t);
    let u = crate::includes::walk_tests::unit_of(
        t.tmp.path(),
        &["-isystem", "s", "-idirafter", "z", "m.c"],
    );
    let r = crate::includes::Scanner::new().scan(&u, &cc).unwrap();
    let root = t.root();
    let mut got: Vec<String> = r
        .probes
        .iter()
        .filter(|p| p.kind == ProbeKind::Skipped)
        .inspect(|p| assert!(!p.exists))
        .map(|p| p.path.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    got.sort();
    assert_eq!(got, ["m0/x.h", "m1/x.h", "m1/y.h", "m2/x.h", "m2/y.h"]);
}

#[test]
fn skipped_dirs_keep_their_place_when_a_default_is_also_a_user_dir() {
    let t = Tree::new(&[("d0/.keep", ""), ("d1/.keep", ""), ("s/.keep", "")]);
    let cc = with_skipped(&t);
    let root = t.root();
    let d1 = root.join("d1").display().to_string();
    // d1 given as -isystem moves to the front; m1 and m2 then sit before
    // the -idirafter dir, m0 before d0.
    let u = crate::includes::walk_tests::unit_of(
        t.tmp.path(),
        &["-isystem", &d1, "-idirafter", "s", "m.c"],
    );
    let c = Chains::build(&u, &cc.dirs, &cc.absent_dirs, &mut Vec::new(), &mut |p| {
        std::fs::metadata(std::ffi::OsStr::from_bytes(p))
            .ok()
            .filter(|m| m.is_dir())
            .map(|m| (m.dev(), m.ino()))
    });
    let names: Vec<String> = c
        .dirs
        .iter()
        .map(|d| String::from_utf8_lossy(d).replace(&*root.to_string_lossy(), ""))
        .collect();
    assert_eq!(names, ["/d1", "/d0", "s"]);
    let at: Vec<usize> = c.skipped.iter().map(|s| s.0).collect();
    assert_eq!(at, [1, 2, 2]);
    // A next search from the front d1 passes all three, from d0 the two
    // after it, from `s` none.
    let from = |i: u32| c.skipped_from(b"x.h", How::Next(FoundIn::Dir(i))).count();
    assert_eq!((from(0), from(1), from(2)), (3, 2, 0));
    assert_eq!(c.skipped_from(b"/abs/x.h", How::Angled).count(), 0);
}
