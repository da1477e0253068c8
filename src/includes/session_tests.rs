//! The cross-process cache as the client uses it: each `Session` here
//! stands for a new distcc process over the same cache dir. The racy
//! window is zero where a test needs entries kept; those tests change a
//! file's stamp explicitly (its mtime), never by waiting.

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;
use crate::identity::{Identity, Kind};
use crate::includes::pack::Limits;
use crate::includes::store::RACY;
use crate::includes::walk_tests::{have_gcc, unit_of, Tree};
use crate::includes::ScanResult;

fn identity() -> Identity {
    Identity {
        kind: Kind::Gcc,
        lang: crate::identity::Lang::C,
        version: "12".into(),
        target: "x86_64-linux-gnu".into(),
        digest: [7; 32],
        parts: [None; 5],
    }
}

fn session(cache: &Path, racy: Duration) -> Session {
    Session::open_with(cache, Limits::default(), racy)
}

fn scan(s: &mut Session, t: &Tree, args: &[&str]) -> ScanResult {
    let id = identity();
    let flags: Vec<OsString> = Vec::new();
    let cc = Compiler {
        path: Path::new("gcc"),
        identity: &id.digest,
        probe_flags: &flags,
    };
    s.scan(&cc, &unit_of(t.tmp.path(), args)).unwrap()
}

fn names(r: &ScanResult) -> Vec<String> {
    let mut v: Vec<String> = r
        .files
        .iter()
        .filter(|f| f.path.is_relative())
        .map(|f| f.path.to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Sets a file's (or dir's) mtime to `secs` after the epoch: a stamp
/// change the clock's granularity cannot hide.
fn set_mtime(p: &Path, secs: u64) {
    let f = std::fs::File::open(p).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

#[test]
fn a_later_process_reads_no_file_and_runs_no_probe() {
    if !have_gcc() {
        eprintln!("SKIPPED: gcc is not installed");
        return;
    }
    let t = Tree::new(&[
        ("m.c", "#include \"a.h\"\n#include <stddef.h>\n"),
        ("a.h", "#define A 1\n"),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let mut first = session(cache.path(), Duration::ZERO);
    let r1 = scan(&mut first, &t, &["m.c"]);
    assert_eq!(first.probes_run, 1);
    assert!(first.files_read() >= 3, "m.c, a.h and stddef.h");
    drop(first);
    let mut later = session(cache.path(), Duration::ZERO);
    later.replays = false;
    let r2 = scan(&mut later, &t, &["m.c"]);
    assert_eq!(later.probes_run, 0, "the probe came from the cache");
    assert_eq!(later.files_read(), 0, "every skeleton came from the cache");
    assert_eq!(r2.files, r1.files, "digests included");
    assert!(later.store_stats().skeleton_hits >= 3);
}

#[test]
fn a_changed_file_is_seen_by_a_later_process() {
    if !have_gcc() {
        eprintln!("SKIPPED: gcc is not installed");
        return;
    }
    let t = Tree::new(&[
        ("m.c", "#include \"a.h\"\n"),
        ("a.h", "/* nothing, 22 bytes */"),
        ("b.h", ""),
    ]);
    set_mtime(&t.tmp.path().join("a.h"), 1_600_000_000);
    let cache = tempfile::tempdir().unwrap();
    let mut s = session(cache.path(), Duration::ZERO);
    assert_eq!(names(&scan(&mut s, &t, &["m.c"])), ["a.h", "m.c"]);
    drop(s);
    // Same size, same mtime as before: only the ctime (and the content)
    // differ, and the ctime is part of the stamp.
    t.file("a.h", "#include \"b.h\" /* ok */");
    set_mtime(&t.tmp.path().join("a.h"), 1_600_000_000);
    let mut s = session(cache.path(), Duration::ZERO);
    assert_eq!(names(&scan(&mut s, &t, &["m.c"])), ["a.h", "b.h", "m.c"]);
    assert_eq!(s.files_read(), 2, "a.h again, and b.h");
    assert_eq!(
        s.replayed, 0,
        "a.h's stamp moved: the kept scan does not hold"
    );
}

#[test]
fn a_long_lived_session_reads_a_racy_file_again_once_it_is_settled() {
    if !have_gcc() {
        eprintln!("SKIPPED: gcc is not installed");
        return;
    }
    let t = Tree::new(&[
        ("m.c", "#include <a.h>\n"),
        ("inc1/x.h", ""),
        ("inc2/a.h", ""),
    ]);
    let args = ["-Iinc1", "-Iinc2", "m.c"];
    let cache = tempfile::tempdir().unwrap();
    let mut s = session(cache.path(), RACY);
    s.replays = false;
    let settled = |r: &ScanResult| {
        r.files
            .iter()
            .filter(|f| f.path.is_relative() && f.stamp.is_some())
            .count()
    };
    let r = scan(&mut s, &t, &args);
    assert_eq!(settled(&r), 0, "just written: {:?}", r.files);
    let read = s.files_read();
    // Still within the window: what is in memory stands.
    let r = scan(&mut s, &t, &args);
    assert_eq!((settled(&r), s.files_read()), (0, read));
    // The system dirs were listed; inc1 is too new to be.
    let listed = s.store_stats().listings_kept;
    // The window passed (a zero one stands for it): the two files are
    // read once more, and from then on named by a digest that holds; the
    // dir searched in vain is listed.
    s.scanner.store().set_racy(Duration::ZERO);
    let r = scan(&mut s, &t, &args);
    assert_eq!((settled(&r), s.files_read()), (2, read + 2));
    assert!(s.store_stats().listings_kept > listed, "inc1 listed");
    let r = scan(&mut s, &t, &args);
    assert_eq!((settled(&r), s.files_read()), (2, read + 2));
}

#[test]
fn files_changed_within_the_racy_window_are_not_kept() {
    if !have_gcc() {
        eprintln!("SKIPPED: gcc is not installed");
        return;
    }
    // Just written: within the default window.
    let t = Tree::new(&[("m.c", "#include \"a.h\"\n"), ("a.h", "")]);
    let cache = tempfile::tempdir().unwrap();
    let mut s = session(cache.path(), RACY);
    scan(&mut s, &t, &["m.c"]);
    assert!(s.store_stats().racy >= 2);
    drop(s);
    let mut s = session(cache.path(), RACY);
    scan(&mut s, &t, &["m.c"]);
    // The scan was kept, but its stamps prove nothing: the replay reads
    // both files to check their content.
    assert_eq!(s.replayed, 1);
    assert_eq!(s.files_read(), 0);
    assert_eq!(s.store_stats().replay_reads, 2, "m.c and a.h read again");
    // Stamps settled when the scan began are proof: nothing is read
    // (a zero window stands for the time passing).
    drop(s);
    let mut s = session(cache.path(), Duration::ZERO);
    scan(&mut s, &t, &["m.c"]);
    assert_eq!((s.replayed, s.store_stats().replay_reads), (1, 0));
}

#[test]
fn missing_candidates_cost_no_stat_once_their_dir_is_listed() {
    if !have_gcc() {
        eprintln!("SKIPPED: gcc is not installed");
        return;
    }
    let t = Tree::new(&[
        (
            "m.c",
            "#include <x.h>\n#include <y.h>\n#include <sub/z.h>\n",
        ),
        ("a/other.h", ""),
        ("b/x.h", ""),
        ("b/y.h", ""),
        ("b/sub/z.h", ""),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let args = ["-Ia", "-Ib", "m.c"];
    let found = |r: &ScanResult| names(r);
    let mut s = session(cache.path(), Duration::ZERO);
    let want = ["b/sub/z.h", "b/x.h", "b/y.h", "m.c"];
    assert_eq!(found(&scan(&mut s, &t, &args)), want);
    drop(s);
    let mut warm = session(cache.path(), Duration::ZERO);
    warm.replays = false;
    assert_eq!(found(&scan(&mut warm, &t, &args)), want);
    let listed = warm.store_stats().listing_hits;
    assert!(listed >= 1, "dir a's listing came from the cache");
    let warm_stats = warm.stat_calls();
    // With nothing known about dir a, each candidate there is stat'ed.
    let mut nothing = Session::open_with(cache.path(), Limits::default(), RACY);
    nothing.scanner = Scanner::new();
    assert_eq!(found(&scan(&mut nothing, &t, &args)), want);
    assert!(
        nothing.stat_calls() > warm_stats,
        "{} stats without listings, {warm_stats} with",
        nothing.stat_calls()
    );

    // A new entry changes the dir's stamp: the old listing is not used.
    t.file("a/x.h", "");
    set_mtime(&t.tmp.path().join("a"), 1_700_000_000);
    let mut s = session(cache.path(), Duration::ZERO);
    assert_eq!(
        found(&scan(&mut s, &t, &args)),
        ["a/x.h", "b/sub/z.h", "b/y.h", "m.c"]
    );
}

#[test]
fn a_probe_is_stale_when_a_skipped_dir_appears() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("later");
    let stderr = format!(
        "ignoring nonexistent directory \"{}\"\n#include <...> search starts here:\n /usr/include\nEnd of search list.\n",
        d.display()
    );
    let i = probe::parse(b"", stderr.as_bytes(), b"", Path::new("p.h"), Lang::C);
    let skipped = crate::includes::skipped::SkippedDir {
        path: d.clone(),
        before: 1,
    };
    assert_eq!(i.absent_dirs, [skipped]);
    assert!(!i.is_stale());
    std::fs::create_dir(&d).unwrap();
    assert!(i.is_stale());
    assert_eq!(probe::CompilerInfo::decode(&i.encode()).unwrap(), i);
}

#[test]
fn builtin_calls_are_answered_by_the_compiler_once() {
    if !have_gcc() {
        eprintln!("SKIPPED: gcc is not installed");
        return;
    }
    let t = Tree::new(&[
        (
            "m.c",
            "#if __has_builtin(__builtin_expect) && !__has_builtin(__no_such_builtin)\n\
             #include \"yes.h\"\n#else\n#include \"no.h\"\n#endif\n\
             #if __has_attribute(packed) > 0\n#include \"packed.h\"\n#endif\n\
             #define B __builtin_expect\n\
             #if __has_builtin(B)\n#include \"macro.h\"\n#endif\n",
        ),
        ("yes.h", ""),
        ("no.h", ""),
        ("packed.h", ""),
        ("macro.h", ""),
    ]);
    let cache = tempfile::tempdir().unwrap();
    let mut s = session(cache.path(), Duration::ZERO);
    let r = scan(&mut s, &t, &["m.c"]);
    assert_eq!(s.builtin_runs, 1);
    // An operand that is a macro is not asked: both ways, as before.
    assert_eq!(names(&r), ["m.c", "macro.h", "packed.h", "yes.h"]);
    assert_eq!(r.undecided, 1);
    drop(s);
    let mut later = session(cache.path(), Duration::ZERO);
    let again = scan(&mut later, &t, &["m.c"]);
    assert_eq!(later.builtin_runs, 0, "the answers came from the cache");
    assert_eq!(names(&again), names(&r));
}

/// Processes that scan at once over an empty cache (a build's first
/// `make -jN`) read each file worth a claim (16 KiB and more) once
/// between them, and probe the compiler once: the others wait for the
/// claim and find the results.
#[test]
fn concurrent_cold_scans_read_each_file_once() {
    if !have_gcc() {
        eprintln!("SKIPPED: gcc is not installed");
        return;
    }
    let pad = format!("/* {} */\n", "x".repeat(16 << 10));
    let headers: Vec<(String, String)> = (0..12)
        .map(|i| {
            (
                format!("h{i}.h"),
                format!("#include \"common.h\"\n#define H{i} {i}\n{pad}"),
            )
        })
        .collect();
    let common = format!("#pragma once\n{pad}");
    let main: String = (0..12)
        .map(|i| format!("#include \"h{i}.h\"\n"))
        .collect::<String>()
        + &pad;
    let mut files: Vec<(&str, &str)> = vec![("m.c", &main), ("common.h", &common)];
    files.extend(headers.iter().map(|(n, t)| (n.as_str(), t.as_str())));
    let t = Tree::new(&files);
    let cache = tempfile::tempdir().unwrap();
    const N: usize = 4;
    let long = Duration::from_secs(600);
    let runs: Vec<(u64, u64, usize)> = std::thread::scope(|sc| {
        let workers: Vec<_> = (0..N)
            .map(|_| {
                sc.spawn(|| {
                    // A session each, as separate processes have.
                    let mut s = session(cache.path(), Duration::ZERO);
                    s.scanner.store().set_patience(long, long);
                    let r = scan(&mut s, &t, &["m.c"]);
                    (s.files_read(), s.probes_run, r.files.len())
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let read: u64 = runs.iter().map(|r| r.0).sum();
    let probes: u64 = runs.iter().map(|r| r.1).sum();
    let distinct = runs[0].2 as u64;
    assert!(runs.iter().all(|r| r.2 == runs[0].2), "{runs:?}");
    assert_eq!(probes, 1, "{runs:?}");
    // gcc's pre-included stdc-predef.h is the one small file: each
    // process may read it.
    let small = (N - 1) as u64;
    assert!(
        (distinct..=distinct + small).contains(&read),
        "m.c, 12 headers and common.h, once each: {runs:?}"
    );
}

/// A scan kept whole (`replay`), then a later process over the same tree.
/// Moves everything under `root` into `root/.old` and copies it back: a
/// fresh checkout of the same tree (new inodes, new ctimes, new dir
/// stamps, the same bytes), kept mtimes as `cp -a` keeps them.
fn copy_afresh(root: &Path) {
    fn copy(from: &Path, to: &Path) {
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let (src, dst) = (e.path(), to.join(e.file_name()));
            if e.file_type().unwrap().is_dir() {
                std::fs::create_dir(&dst).unwrap();
                copy(&src, &dst);
            } else {
                std::fs::copy(&src, &dst).unwrap();
                let m = std::fs::metadata(&src).unwrap().modified().unwrap();
                std::fs::File::options()
                    .write(true)
                    .open(&dst)
                    .unwrap()
                    .set_modified(m)
                    .unwrap();
            }
        }
    }
    let old = root.join(".old");
    std::fs::create_dir(&old).unwrap();
    for e in std::fs::read_dir(root).unwrap() {
        let e = e.unwrap();
        if e.file_name() != ".old" {
            std::fs::rename(e.path(), old.join(e.file_name())).unwrap();
        }
    }
    copy(&old, root);
    std::fs::remove_dir_all(&old).unwrap();
}

fn kept_then(t: &Tree, args: &[&str], change: impl FnOnce()) -> (Session, ScanResult) {
    let cache = tempfile::tempdir().unwrap();
    let mut first = session(cache.path(), Duration::ZERO);
    scan(&mut first, t, args);
    assert_eq!(first.replayed, 0);
    drop(first);
    change();
    let mut later = session(cache.path(), Duration::ZERO);
    let r = scan(&mut later, t, args);
    // The cache dir goes with the tempdir; the session has what it read.
    drop(cache);
    (later, r)
}

#[test]
fn a_unit_scanned_before_is_replayed_without_a_walk() {
    if !have_gcc() {
        eprintln!("SKIPPED: gcc is not installed");
        return;
    }
    let t = Tree::new(&[
        (
            "m.c",
            "#include <x.h>\n#if __has_include(\"q.h\")\n#include \"q.h\"\n#endif\n",
        ),
        ("b/x.h", "#include <stddef.h>\n"),
    ]);
    let args = ["-Ia", "-Ib", "m.c"];
    let cache = tempfile::tempdir().unwrap();
    let mut first = session(cache.path(), Duration::ZERO);
    let r1 = scan(&mut first, &t, &args);
    drop(first);
    let mut later = session(cache.path(), Duration::ZERO);
    let r2 = scan(&mut later, &t, &args);
    assert_eq!(later.replayed, 1);
    assert_eq!(later.files_read(), 0);
    assert_eq!(later.probes_run, 0);
    assert_eq!(r2.files, r1.files, "digests and stamps included");
    assert_eq!(r2.probes, r1.probes, "absent answers included");
    // Another command line is another unit.
    let r3 = scan(&mut later, &t, &["-Ib", "m.c"]);
    assert_eq!(later.replayed, 1);
    assert_eq!(names(&r3), names(&r1));
}

/// What a change between two jobs does to the first one's kept scan.
struct Change {
    what: &'static str,
    files: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    change: fn(&Path),
    replayed: u64,
    found: &'static [&'static str],
}

#[test]
fn a_kept_scan_holds_only_while_its_answers_do() {
    if !have_gcc() {
        eprintln!("SKIPPED: gcc is not installed");
        return;
    }
    let cases = [
        Change {
            what: "a header appears earlier in the chain",
            files: &[
                ("m.c", "#include <x.h>\n"),
                ("a/other.h", ""),
                ("b/x.h", ""),
            ],
            args: &["-Ia", "-Ib", "m.c"],
            change: |root| std::fs::write(root.join("a/x.h"), "").unwrap(),
            replayed: 0,
            found: &["a/x.h", "m.c"],
        },
        Change {
            // What a build writes beside its sources: dir a's stamp moves.
            what: "an unrelated file appears beside the headers",
            files: &[
                ("m.c", "#include <x.h>\n"),
                ("a/other.h", ""),
                ("b/x.h", ""),
            ],
            args: &["-Ia", "-Ib", "m.c"],
            change: |root| std::fs::write(root.join("a/m.o"), "").unwrap(),
            replayed: 1,
            found: &["b/x.h", "m.c"],
        },
        Change {
            what: "a __has_include answer changes",
            files: &[
                ("m.c", "#if __has_include(<q.h>)\n#include <q.h>\n#endif\n"),
                ("a/other.h", ""),
                ("q.h", ""),
            ],
            args: &["-Ia", "m.c"],
            change: |root| std::fs::write(root.join("a/q.h"), "").unwrap(),
            replayed: 0,
            found: &["a/q.h", "m.c"],
        },
        Change {
            what: "a header read is removed",
            files: &[("m.c", "#include <x.h>\n"), ("a/x.h", ""), ("b/x.h", "")],
            args: &["-Ia", "-Ib", "m.c"],
            change: |root| std::fs::remove_file(root.join("a/x.h")).unwrap(),
            replayed: 0,
            found: &["b/x.h", "m.c"],
        },
        Change {
            what: "an include dir is replaced by a link",
            files: &[
                ("m.c", "#include <x.h>\n"),
                ("a/x.h", ""),
                ("c/x.h", "#include <y.h>\n"),
                ("c/y.h", ""),
            ],
            args: &["-Ia", "m.c"],
            change: |root| {
                std::fs::rename(root.join("a"), root.join("old")).unwrap();
                std::os::unix::fs::symlink(root.join("c"), root.join("a")).unwrap();
            },
            replayed: 0,
            found: &["a/x.h", "a/y.h", "m.c"],
        },
        Change {
            what: "the tree is checked out afresh",
            files: &[
                ("m.c", "#include <x.h>\n#include \"y.h\"\n"),
                ("a/x.h", "int x;\n"),
                ("b/x.h", ""),
                ("y.h", "#pragma once\nint y;\n"),
            ],
            args: &["-Ia", "-Ib", "m.c"],
            change: copy_afresh,
            replayed: 1,
            found: &["a/x.h", "m.c", "y.h"],
        },
        Change {
            what: "a fresh checkout where a header has other bytes of the same size",
            files: &[
                ("m.c", "#include <x.h>\n"),
                ("a/x.h", "#include <y.h>\n"),
                ("a/y.h", ""),
                ("a/z.h", ""),
            ],
            args: &["-Ia", "m.c"],
            change: |root| {
                copy_afresh(root);
                std::fs::write(root.join("a/x.h"), "#include <z.h>\n").unwrap();
            },
            replayed: 0,
            found: &["a/x.h", "a/z.h", "m.c"],
        },
        Change {
            // gcc's #pragma once takes equal files with equal mtimes for
            // one: a copy whose mtimes now coincide is walked again.
            what: "a fresh checkout where two equal once-only headers now share an mtime",
            files: &[
                ("m.c", "#include \"p.h\"\n#include \"q.h\"\n"),
                ("p.h", "#pragma once\n"),
                ("q.h", "#pragma once\n"),
            ],
            args: &["m.c"],
            change: |root| {
                set_mtime(&root.join("q.h"), 1_000_000);
                copy_afresh(root);
                set_mtime(&root.join("p.h"), 1_000_000);
                set_mtime(&root.join("q.h"), 1_000_000);
            },
            replayed: 0,
            found: &["m.c", "p.h", "q.h"],
        },
        Change {
            // Code edited, a line more: every directive on another line,
            // which no walk saw (no __LINE__ was asked).
            what: "a header's code is edited, its directives kept",
            files: &[
                ("m.c", "#include <x.h>\n"),
                (
                    "a/x.h",
                    "#ifndef X\n#define X\nint x;\n#include <y.h>\n#endif\n",
                ),
                ("a/y.h", ""),
            ],
            args: &["-Ia", "m.c"],
            change: |root| {
                let x = "#ifndef X\n#define X\nint x;\nlong f(void);\n#include <y.h>\n#endif\n";
                std::fs::write(root.join("a/x.h"), x).unwrap()
            },
            replayed: 1,
            found: &["a/x.h", "a/y.h", "m.c"],
        },
        Change {
            what: "a header's directive is edited",
            files: &[
                ("m.c", "#include <x.h>\n"),
                ("a/x.h", "#ifndef X\n#define X\nint x;\n#endif\n"),
            ],
            args: &["-Ia", "m.c"],
            change: |root| {
                let x = "#ifndef X\n#define X 1\nint x;\n#endif\n";
                std::fs::write(root.join("a/x.h"), x).unwrap()
            },
            replayed: 0,
            found: &["a/x.h", "m.c"],
        },
        Change {
            what: "an edit moves directives to other lines where __LINE__ was asked",
            files: &[
                ("m.c", "#include <x.h>\n"),
                (
                    "a/x.h",
                    "int x;\n#if __LINE__ > 1\n#include <y.h>\n#endif\n",
                ),
                ("a/y.h", ""),
            ],
            args: &["-Ia", "m.c"],
            change: |root| {
                let x = "int w;\nint x;\n#if __LINE__ > 1\n#include <y.h>\n#endif\n";
                std::fs::write(root.join("a/x.h"), x).unwrap()
            },
            replayed: 0,
            found: &["a/x.h", "a/y.h", "m.c"],
        },
        Change {
            what: "an edit keeps directives on their lines where __LINE__ was asked",
            files: &[
                ("m.c", "#include <x.h>\n"),
                (
                    "a/x.h",
                    "int x;\n#if __LINE__ > 1\n#include <y.h>\n#endif\n",
                ),
                ("a/y.h", ""),
            ],
            args: &["-Ia", "m.c"],
            change: |root| {
                let x = "long x;\n#if __LINE__ > 1\n#include <y.h>\n#endif\n";
                std::fs::write(root.join("a/x.h"), x).unwrap()
            },
            replayed: 1,
            found: &["a/x.h", "a/y.h", "m.c"],
        },
    ];
    for c in cases {
        let t = Tree::new(c.files);
        if c.what.contains("share an mtime") {
            set_mtime(&t.tmp.path().join("p.h"), 2_000_000);
        }
        let (s, r) = kept_then(&t, c.args, || (c.change)(t.tmp.path()));
        assert_eq!(s.replayed, c.replayed, "{}", c.what);
        assert_eq!(names(&r), c.found, "{}", c.what);
    }
}

#[test]
fn a_name_that_would_shadow_a_predicted_file_is_not_replayed_away() {
    if !have_gcc() {
        eprintln!("SKIPPED: gcc is not installed");
        return;
    }
    let t = Tree::new(&[
        ("m.c", "#include <x.h>\n"),
        ("a/other.h", ""),
        ("b/x.h", ""),
    ]);
    let args = ["-Ia", "-Ib", "m.c"];
    // The unit's own dir is not searched for <x.h>, but a missed quote
    // include of x.h would be: a new x.h there is a shadow.
    let (s, r) = kept_then(&t, &args, || t.file("x.h", ""));
    assert_eq!(s.replayed, 0);
    let own = t.tmp.path().join("x.h");
    assert!(r.shadows.contains(&own), "{:?}", r.shadows);
    // Anything else new there keeps the replay, shadows and all.
    let t = Tree::new(&[
        ("m.c", "#include <x.h>\n"),
        ("a/other.h", ""),
        ("b/x.h", ""),
    ]);
    let (s, r) = kept_then(&t, &args, || t.file("m.o", ""));
    assert_eq!(s.replayed, 1);
    assert!(r.shadows.is_empty(), "{:?}", r.shadows);
}

#[test]
fn a_unit_replayed_after_a_fresh_checkout_names_its_files_by_their_new_stamps() {
    if !have_gcc() {
        eprintln!("SKIPPED: gcc is not installed");
        return;
    }
    let t = Tree::new(&[("m.c", "#include <x.h>\n"), ("b/x.h", "int x;\n")]);
    let args = ["-Ib", "m.c"];
    let (s, r) = kept_then(&t, &args, || copy_afresh(t.tmp.path()));
    assert_eq!(s.replayed, 1);
    for f in r.files.iter().filter(|f| f.path.is_relative()) {
        let now = Stamp::of(&std::fs::symlink_metadata(t.tmp.path().join(&f.path)).unwrap());
        assert_eq!(f.stamp, Some(now), "{}", f.path.display());
    }
}

#[test]
fn a_replay_after_an_edit_outside_the_directives_names_the_new_content() {
    if !have_gcc() {
        eprintln!("SKIPPED: gcc is not installed");
        return;
    }
    let t = Tree::new(&[("m.c", "#include <x.h>\nint m;\n"), ("b/x.h", "int x;\n")]);
    let args = ["-Ib", "m.c"];
    let edited = "#define N 1\nlong x[N];\n";
    let (s, r) = kept_then(&t, &args, || {
        // The source's code edited, and a directive added to the header.
        std::fs::write(t.tmp.path().join("m.c"), "#include <x.h>\nlong m;\n").unwrap();
        std::fs::write(t.tmp.path().join("b/x.h"), edited).unwrap();
    });
    // The header gained a #define: walked, and named by its new bytes.
    assert_eq!(s.replayed, 0);
    let x = r.files.iter().find(|f| f.path.ends_with("x.h")).unwrap();
    assert_eq!(
        x.digest,
        crate::includes::skeleton::digest_of(edited.as_bytes())
    );
    // Now an edit of code only: replayed, with the new digests and sizes.
    let cache = tempfile::tempdir().unwrap();
    scan(&mut session(cache.path(), Duration::ZERO), &t, &args);
    let code = "#define N 1\nchar x[N + 1];\n";
    std::fs::write(t.tmp.path().join("b/x.h"), code).unwrap();
    std::fs::write(t.tmp.path().join("m.c"), "#include <x.h>\nshort m;\n").unwrap();
    let mut later = session(cache.path(), Duration::ZERO);
    let r = scan(&mut later, &t, &args);
    assert_eq!(later.replayed, 1);
    for (name, bytes) in [("b/x.h", code), ("m.c", "#include <x.h>\nshort m;\n")] {
        let f = r.files.iter().find(|f| f.path.ends_with(name)).unwrap();
        assert_eq!(
            f.digest,
            crate::includes::skeleton::digest_of(bytes.as_bytes()),
            "{name}"
        );
        assert_eq!(f.size, bytes.len() as u64, "{name}");
        let now = Stamp::of(&std::fs::symlink_metadata(t.tmp.path().join(name)).unwrap());
        assert_eq!(f.stamp, Some(now), "{name}");
    }
    // The edited header's skeleton was kept: the next job reads no file.
    drop(later);
    let mut next = session(cache.path(), Duration::ZERO);
    scan(&mut next, &t, &args);
    assert_eq!((next.replayed, next.store_stats().replay_reads), (1, 0));
}

#[test]
fn a_file_read_for_a_replay_is_read_once_per_stamp() {
    if !have_gcc() {
        eprintln!("SKIPPED: gcc is not installed");
        return;
    }
    let t = Tree::new(&[("m.c", "#include <x.h>\n"), ("b/x.h", "int x;\n")]);
    let args = ["-Ib", "m.c"];
    let cache = tempfile::tempdir().unwrap();
    scan(&mut session(cache.path(), Duration::ZERO), &t, &args);
    copy_afresh(t.tmp.path());
    let x = t.tmp.path().join("b/x.h");
    let st = Stamp::of(&std::fs::symlink_metadata(&x).unwrap());
    let mut next = session(cache.path(), Duration::ZERO);
    assert_eq!(next.scanner.store().digest_by_stamp(&st), None);
    scan(&mut next, &t, &args);
    assert_eq!(next.replayed, 1);
    drop(next);
    // The next job finds the digest under the new stamp.
    let mut later = session(cache.path(), Duration::ZERO);
    let kept = later.scanner.store().digest_by_stamp(&st);
    assert_eq!(
        kept,
        Some(crate::includes::skeleton::digest_of(b"int x;\n"))
    );
}
