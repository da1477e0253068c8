//! Which names can stand in front of a predicted file: trees of headers
//! in a temp dir, scanned, and the shadows found there.

use super::super::walk_tests::{scan, Tree};

/// The scan's shadows inside the tree, relative to it, sorted.
fn shadows(t: &Tree, args: &[&str]) -> Vec<String> {
    let r = scan(t, args).unwrap();
    let root = t.tmp.path();
    r.shadows
        .iter()
        .filter_map(|p| p.strip_prefix(root).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_quote_dir_and_an_include_dir_shadow_each_other() {
    // The case: the scan predicts one branch; the other one's
    // header must be visible on the volunteer, whichever it is.
    let t = Tree::new(&[
        ("src/u.c", "#include <common.h>\n"),
        ("src/common.h", ""),
        ("inc/common.h", ""),
    ]);
    assert_eq!(shadows(&t, &["-Iinc", "src/u.c"]), ["src/common.h"]);
    t.file("src/u.c", "#include \"common.h\"\n");
    assert_eq!(shadows(&t, &["-Iinc", "src/u.c"]), ["inc/common.h"]);
}

#[test]
fn any_other_dir_of_the_chain_counts() {
    let t = Tree::new(&[
        ("u.c", "#include <x.h>\n"),
        ("a/x.h", ""),
        ("b/x.h", ""),
        ("c/y.h", ""),
    ]);
    // Later in the chain is never reached; it is sent all the same.
    assert_eq!(shadows(&t, &["-Ia", "-Ib", "-Ic", "u.c"]), ["b/x.h"]);
}

#[test]
fn a_name_with_a_dir_looks_in_that_dir_of_each() {
    let t = Tree::new(&[
        ("u.c", "#include <sys/x.h>\n"),
        ("a/sys/x.h", ""),
        ("b/sys/x.h", ""),
        ("c/sys/other.h", ""),
        ("d/x.h", ""),
    ]);
    let got = shadows(&t, &["-Ia", "-Ib", "-Ic", "-Id", "u.c"]);
    // c/sys lacks it. d/x.h: a/sys is a quote dir too (the dir of a
    // file read), where the header is `x.h`: wider than needed, not wrong.
    assert_eq!(got, ["b/sys/x.h", "d/x.h"]);
}

#[test]
fn a_file_under_two_dirs_is_shadowed_under_either_name() {
    let t = Tree::new(&[
        ("u.c", "#include <sub/y.h>\n"),
        ("inc/sub/y.h", ""),
        ("inc/y.h", ""),
        ("other/sub/y.h", ""),
    ]);
    // As `sub/y.h` under inc, and as `y.h` under inc/sub.
    let got = shadows(&t, &["-Iinc", "-Iinc/sub", "-Iother", "u.c"]);
    assert_eq!(got, ["inc/y.h", "other/sub/y.h"]);
}

#[test]
fn nothing_to_shadow() {
    let t = Tree::new(&[
        ("u.c", "#include \"a.h\"\n#include <b.h>\n"),
        ("a.h", ""),
        ("inc/b.h", ""),
        ("inc/unrelated.h", ""),
    ]);
    assert!(shadows(&t, &["-Iinc", "u.c"]).is_empty());
}

#[test]
fn predicted_files_are_never_their_own_shadows() {
    // Both read: each is the other's name under another dir.
    let t = Tree::new(&[
        ("src/u.c", "#include \"common.h\"\n#include <common.h>\n"),
        ("src/common.h", ""),
        ("inc/common.h", ""),
    ]);
    assert!(shadows(&t, &["-Iinc", "src/u.c"]).is_empty());
}

#[test]
fn a_system_header_is_asserted_only_in_front_of_an_idirafter_dir() {
    use super::super::walk_tests::have_gcc;
    if !have_gcc() || !std::path::Path::new("/usr/include/stdio.h").exists() {
        eprintln!("SKIPPED: no gcc with /usr/include/stdio.h");
        return;
    }
    let sys = std::path::Path::new("/usr/include/stdio.h");
    // The project's own stdio.h, in an -I dir: found before the system's
    // in every chain, so the system's (asserted, where a volunteer
    // without it refuses) is no shadow.
    let t = Tree::new(&[("u.c", "#include <stdio.h>\n"), ("inc/stdio.h", "")]);
    let r = scan(&t, &["-Iinc", "u.c"]).unwrap();
    assert!(r.shadows.iter().all(|p| p != sys), "{:?}", r.shadows);
    // In an -idirafter dir, behind the system's: a file found there the
    // volunteer lacks the system's, which it must have.
    let t = Tree::new(&[
        ("u.c", "#include <own.h>\n"),
        ("after/own.h", ""),
        ("after/stdio.h", ""),
    ]);
    let r = scan(&t, &["-idirafter", "after", "u.c"]).unwrap();
    assert!(
        r.shadows.iter().all(|p| p != sys),
        "not predicted: {:?}",
        r.shadows
    );
    t.file("u.c", "#include \"after/stdio.h\"\n");
    let r = scan(&t, &["-idirafter", "after", "u.c"]).unwrap();
    assert!(r.shadows.iter().any(|p| p == sys), "{:?}", r.shadows);
    // And no pair of the compiler's own dirs: those are the volunteer's.
    assert!(
        r.shadows
            .iter()
            .all(|p| !p.starts_with("/usr/include") || p == sys),
        "{:?}",
        r.shadows
    );
}
