//! Table tests of whole scans: a small tree of headers in a temp dir, a
//! command line, and the files expected. Where gcc is installed each case
//! is also run through `gcc -M` with the same flags, which must list the
//! same files from the tree: the expectations are gcc's, not ours.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::*;

pub(crate) struct Tree {
    pub tmp: tempfile::TempDir,
}

impl Tree {
    pub fn new(files: &[(&str, &str)]) -> Tree {
        let tmp = tempfile::Builder::new().prefix("scan-").tempdir().unwrap();
        let t = Tree { tmp };
        for (p, c) in files {
            t.file(p, c);
        }
        t
    }

    pub fn root(&self) -> PathBuf {
        std::fs::canonicalize(self.tmp.path()).unwrap()
    }

    pub fn file(&self, p: &str, content: &str) {
        let p = self.tmp.path().join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn link(&self, p: &str, target: &str) {
        let p = self.tmp.path().join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
    }
}

/// The real gcc's answers, or a stand-in when gcc is absent.
pub(crate) fn compiler(lang: Lang) -> &'static CompilerInfo {
    static C: OnceLock<CompilerInfo> = OnceLock::new();
    static CXX: OnceLock<CompilerInfo> = OnceLock::new();
    let cell = if lang == Lang::Cxx { &CXX } else { &C };
    cell.get_or_init(|| {
        probe::probe(Path::new("gcc"), &[], lang).unwrap_or_else(|_| {
            probe::parse(
                b"#define __GNUC__ 12\n",
                b"",
                b"",
                Path::new("probe.h"),
                lang,
            )
        })
    })
}

pub(crate) fn have_gcc() -> bool {
    Command::new("gcc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A gcc command line (the few flags these tests use) as a `Unit`.
pub(crate) fn unit_of(cwd: &Path, args: &[&str]) -> Unit {
    let mut u = Unit {
        lang: Some(Lang::C),
        cwd: cwd.to_path_buf(),
        ..Unit::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = |flag: &str| -> Option<String> {
            let rest = a.strip_prefix(flag)?;
            Some(if rest.is_empty() {
                it.next().unwrap().to_string()
            } else {
                rest.to_string()
            })
        };
        if *a == "-I-" {
            u.dirs.push(DirOpt::Split);
        } else if let Some(v) = val("-iquote") {
            u.dirs.push(DirOpt::Quote(v.into()));
        } else if let Some(v) = val("-isystem") {
            u.dirs.push(DirOpt::System(v.into()));
        } else if let Some(v) = val("-idirafter") {
            u.dirs.push(DirOpt::After(v.into()));
        } else if let Some(v) = val("-imacros") {
            u.imacros.push(v.into());
        } else if let Some(v) = val("-include") {
            u.includes.push(v.into());
        } else if let Some(v) = val("-I") {
            u.dirs.push(DirOpt::I(v.into()));
        } else if let Some(v) = val("-D") {
            u.macros.push(MacroOpt::Define(v));
        } else if let Some(v) = val("-U") {
            u.macros.push(MacroOpt::Undef(v));
        } else if a.starts_with('-') {
            panic!("flag {a} not mapped in tests");
        } else {
            u.source = a.into();
        }
    }
    u
}

/// The tree's files in a file list, relative to the tree, sorted.
fn in_tree(root: &Path, paths: impl Iterator<Item = PathBuf>) -> Vec<String> {
    let mut v: Vec<String> = paths
        .filter_map(|p| {
            p.strip_prefix(root)
                .ok()
                .map(|r| r.to_string_lossy().into_owned())
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The files read, with symlinks and dots resolved.
fn canonical<'a>(t: &'a Tree, r: &'a ScanResult) -> impl Iterator<Item = PathBuf> + 'a {
    r.files.iter().map(|f| {
        let p = t.tmp.path().join(&f.path);
        std::fs::canonicalize(&p).unwrap_or(p)
    })
}

/// Files read by relative path (the tree's, not the system's).
fn local(r: &ScanResult) -> usize {
    r.files.iter().filter(|f| f.path.is_relative()).count()
}

pub(crate) fn gcc_files(t: &Tree, args: &[&str]) -> Option<Vec<String>> {
    let out = Command::new("gcc")
        .args(args)
        .args(["-M", "-MF", "-"])
        .current_dir(t.tmp.path())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).replace("\\\n", " ");
    let (_, list) = text.split_once(": ")?;
    let root = t.root();
    Some(in_tree(
        &root,
        list.split_whitespace()
            .filter_map(|p| std::fs::canonicalize(t.tmp.path().join(p)).ok()),
    ))
}

pub(crate) fn scan(t: &Tree, args: &[&str]) -> Result<ScanResult, ScanError> {
    let u = unit_of(t.tmp.path(), args);
    Scanner::new().scan(&u, compiler(Lang::C))
}

/// Scans, checks the tree's files against `want`, and against gcc -M.
pub(crate) fn check(t: &Tree, args: &[&str], want: &[&str]) -> ScanResult {
    let r = scan(t, args).unwrap();
    let root = t.root();
    let got = in_tree(&root, canonical(t, &r));
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "scanner, args {args:?}");
    if have_gcc() {
        assert_eq!(
            gcc_files(t, args).as_ref(),
            Some(&want),
            "gcc -M, args {args:?}"
        );
    }
    r
}

#[test]
fn quote_includes_start_in_the_includers_dir() {
    let t = Tree::new(&[
        ("m.c", "#include \"sub/a.h\"\n"),
        ("sub/a.h", "#include \"b.h\"\n#include \"../c.h\"\n"),
        ("sub/b.h", ""),
        ("b.h", "#error wrong b.h\n"),
        ("c.h", ""),
    ]);
    let r = check(&t, &["m.c"], &["m.c", "sub/a.h", "sub/b.h", "c.h"]);
    let paths: Vec<_> = r
        .files
        .iter()
        .map(|f| f.path.to_string_lossy().into_owned())
        .collect();
    assert!(paths.contains(&"sub/b.h".to_string()));
    assert!(paths.contains(&"sub/../c.h".to_string()), "{paths:?}");
}

#[test]
fn conditionals_choose_the_files() {
    let t = Tree::new(&[
        (
            "m.c",
            "#define V 3\n#define F(x) ((x) * 2)\n\
             #if F(V) == 6 && defined(V)\n#include \"yes1.h\"\n#else\n#include \"no1.h\"\n#endif\n\
             #ifdef NOPE\n#include \"no2.h\"\n#elif V > 2\n#include \"yes2.h\"\n#elif 1/0\n#include \"no3.h\"\n#endif\n\
             #ifndef V\n#include \"no4.h\"\n#else\n#if 0\n#include \"no5.h\"\n#endif\n#include \"yes3.h\"\n#endif\n\
             #undef V\n#if defined V || !defined(F)\n#include \"no6.h\"\n#endif\n",
        ),
        ("yes1.h", ""),
        ("yes2.h", ""),
        ("yes3.h", ""),
    ]);
    check(&t, &["m.c"], &["m.c", "yes1.h", "yes2.h", "yes3.h"]);
}

#[test]
fn command_line_macros_in_order() {
    let t = Tree::new(&[
        (
            "m.c",
            "#if defined(A) && !defined(B) && C == 7 && F(2) == 3\n#include \"ok.h\"\n#endif\n",
        ),
        ("ok.h", ""),
    ]);
    check(
        &t,
        &["-DA", "-DB", "-UB", "-DC=7", "-DF(x)=(x+1)", "m.c"],
        &["m.c", "ok.h"],
    );
    check(
        &t,
        &["-DA", "-UB", "-DB", "-DC=7", "-DF(x)=(x+1)", "m.c"],
        &["m.c"],
    );
}

#[test]
fn include_of_a_macro() {
    let t = Tree::new(&[
        (
            "m.c",
            "#define S(x) #x\n#define X(x) S(x)\n#define H <dir/h1.h>\n#define P(n) <dir/n.h>\n\
             #define Q \"q.h\"\n#define D dir\n\
             #include H\n#include P(h2)\n#include Q\n#include X(D/h3.h)\n",
        ),
        ("dir/h1.h", ""),
        ("dir/h2.h", ""),
        ("dir/h3.h", ""),
        ("q.h", ""),
    ]);
    check(
        &t,
        &["-I.", "m.c"],
        &["m.c", "dir/h1.h", "dir/h2.h", "dir/h3.h", "q.h"],
    );
}

#[test]
fn undecided_conditions_take_both_branches() {
    let t = Tree::new(&[
        (
            "m.c",
            "#if __has_builtin(__builtin_nothing_like_this)\n#define HAVE 1\n#include \"a.h\"\n\
             #else\n#include \"b.h\"\n#endif\n\
             #ifdef HAVE\n#include \"c.h\"\n#endif\n#if 0\n#include \"never.h\"\n#endif\n",
        ),
        ("a.h", ""),
        ("b.h", ""),
        ("c.h", ""),
    ]);
    let r = scan(&t, &["m.c"]).unwrap();
    let root = t.root();
    let got = in_tree(&root, canonical(&t, &r));
    assert_eq!(got, vec!["a.h", "b.h", "c.h", "m.c"]);
    assert_eq!(r.undecided, 2);
    if have_gcc() {
        // gcc takes one branch; ours must contain its files.
        let g = gcc_files(&t, &["m.c"]).unwrap();
        assert!(g.iter().all(|f| got.contains(f)), "{g:?} within {got:?}");
    }
}

#[test]
fn include_of_an_undecided_macro_gives_up() {
    let t = Tree::new(&[(
        "m.c",
        "#if __has_builtin(x)\n#define H \"a.h\"\n#else\n#define H \"b.h\"\n#endif\n#include H\n",
    )]);
    let e = scan(&t, &["m.c"]).unwrap_err();
    assert!(e.to_string().starts_with("cannot scan: m.c:6:"), "{e}");
    assert!(e.to_string().contains("undecided macro H"), "{e}");
}

#[test]
fn missing_header_is_fatal_only_when_certain() {
    let t = Tree::new(&[
        (
            "m.c",
            "#include \"a.h\"\n#include \"gone.h\"\n#include \"b.h\"\n",
        ),
        ("a.h", ""),
        ("b.h", ""),
    ]);
    let r = scan(&t, &["m.c"]).unwrap();
    assert_eq!(
        r.fatal.as_deref(),
        Some("gone.h: No such file or directory")
    );
    assert_eq!(local(&r), 2, "the compiler stops at the missing header");
    let t = Tree::new(&[(
        "m.c",
        "#if __has_builtin(x)\n#include \"gone.h\"\n#endif\n#error here\n",
    )]);
    let r = scan(&t, &["m.c"]).unwrap();
    assert_eq!(r.fatal, None);
    assert_eq!(r.notes.len(), 2, "{:?}", r.notes);
}

#[test]
fn imacros_and_include() {
    let t = Tree::new(&[
        (
            "m.c",
            "#if FROM_IMACROS && FROM_INCLUDE\n#include \"ok.h\"\n#endif\n",
        ),
        ("defs.h", "#define FROM_IMACROS 1\n"),
        ("q/pre.h", "#define FROM_INCLUDE 1\n"),
        ("ok.h", ""),
    ]);
    let r = check(
        &t,
        &[
            "-imacros", "defs.h", "-iquote", "q", "-include", "pre.h", "m.c",
        ],
        &["m.c", "defs.h", "q/pre.h", "ok.h"],
    );
    let paths: Vec<_> = r
        .files
        .iter()
        .map(|f| f.path.to_string_lossy().into_owned())
        .collect();
    // gcc opens an -include found in the cwd as "./defs.h" (__FILE__).
    assert_eq!(paths[1], "./defs.h", "{paths:?}");
    assert!(r
        .probes
        .iter()
        .any(|p| p.path == Path::new("./pre.h") && !p.exists));
}

#[test]
fn push_and_pop_macro() {
    let t = Tree::new(&[
        (
            "m.c",
            "#define X 1\n#pragma push_macro(\"X\")\n#undef X\n#define X 2\n#pragma pop_macro(\"X\")\n\
             #if X == 1\n#include \"one.h\"\n#endif\n",
        ),
        ("one.h", ""),
    ]);
    check(&t, &["m.c"], &["m.c", "one.h"]);
}

#[test]
fn guards_defined_beforehand_still_read_the_file() {
    let t = Tree::new(&[
        ("m.c", "#include \"g.h\"\n#include \"g.h\"\n"),
        (
            "g.h",
            "#ifndef G_H\n#define G_H\n#include \"inner.h\"\n#endif\n",
        ),
        ("inner.h", ""),
    ]);
    check(&t, &["m.c"], &["m.c", "g.h", "inner.h"]);
    check(&t, &["-DG_H", "m.c"], &["m.c", "g.h"]);
}

#[test]
fn preprocessed_input_is_only_itself() {
    let t = Tree::new(&[("m.i", "# 1 \"m.c\"\n#include \"not-followed.h\"\nint x;\n")]);
    let mut u = unit_of(t.tmp.path(), &["m.i"]);
    u.lang = Some(Lang::Preprocessed);
    let r = Scanner::new().scan(&u, compiler(Lang::C)).unwrap();
    assert_eq!(r.files.len(), 1);
    assert!(r.probes.is_empty());
}

#[test]
fn digests_are_of_the_files() {
    let t = Tree::new(&[("m.c", "#include \"a.h\"\n"), ("a.h", "abc")]);
    let r = scan(&t, &["m.c"]).unwrap();
    let a = r.files.iter().find(|f| f.path == Path::new("a.h")).unwrap();
    assert_eq!(a.size, 3);
    assert_eq!(a.digest[..4], [0xba, 0x78, 0x16, 0xbf]);
}

#[test]
fn warm_scan_sees_changed_files() {
    let t = Tree::new(&[("m.c", "#include \"a.h\"\n"), ("a.h", ""), ("b.h", "")]);
    let u = unit_of(t.tmp.path(), &["m.c"]);
    let mut s = Scanner::new();
    assert_eq!(local(&s.scan(&u, compiler(Lang::C)).unwrap()), 2);
    // Same size, so only the change time tells (nanoseconds).
    t.file("a.h", "#include \"b.h\"\n");
    assert_eq!(local(&s.scan(&u, compiler(Lang::C)).unwrap()), 3);
    let reads = s.files_read();
    s.scan(&u, compiler(Lang::C)).unwrap();
    assert_eq!(
        s.files_read(),
        reads,
        "nothing re-read when nothing changed"
    );
}

#[test]
fn missing_paths_are_rechecked_through_their_dir() {
    let t = Tree::new(&[("m.c", "#include <x.h>\n"), ("b/x.h", "")]);
    std::fs::create_dir(t.tmp.path().join("a")).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let set_old = || {
        std::fs::File::open(t.tmp.path().join("a"))
            .unwrap()
            .set_modified(old)
            .unwrap()
    };
    set_old();
    let u = unit_of(t.tmp.path(), &["-Ia", "-Ib", "m.c"]);
    let mut s = Scanner::new();
    let found = |r: &ScanResult| {
        r.files
            .iter()
            .find(|f| f.path.ends_with("x.h"))
            .unwrap()
            .path
            .clone()
    };
    assert_eq!(
        found(&s.scan(&u, compiler(Lang::C)).unwrap()),
        Path::new("b/x.h")
    );
    let before = s.stats();
    assert_eq!(
        found(&s.scan(&u, compiler(Lang::C)).unwrap()),
        Path::new("b/x.h")
    );
    let warm = s.stats() - before;
    // A new entry changes the dir's stamp: the absence is not trusted.
    t.file("a/x.h", "");
    assert_eq!(
        found(&s.scan(&u, compiler(Lang::C)).unwrap()),
        Path::new("a/x.h")
    );
    std::fs::remove_file(t.tmp.path().join("a/x.h")).unwrap();
    set_old();
    assert_eq!(
        found(&s.scan(&u, compiler(Lang::C)).unwrap()),
        Path::new("b/x.h")
    );
    // Warm, a/x.h costs no stat of its own: only dirs and files are asked.
    let before = s.stats();
    s.scan(&u, compiler(Lang::C)).unwrap();
    assert!(
        s.stats() - before <= warm,
        "{} > {warm}",
        s.stats() - before
    );
}
