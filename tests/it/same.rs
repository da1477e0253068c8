//! The promise: the same results as a local compile. Each row runs once
//! with the local compiler and once through distcc to a loopback daemon,
//! in the same directory, and compares every file produced, stdout,
//! stderr and the exit code. Rows that must go remote run with a client
//! whose own compilers may only preprocess and with fallback off, so a
//! local compile in disguise fails the row.
//!
//! Allowed differences, and only on rows that say so: objects built with
//! `-g` may differ in debug info (compared after stripping it), and
//! diagnostics may lack the quoted source lines and macro-expansion notes
//! that need the original files (exact mode removes even that).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::skip_unless;
use crate::util::*;

const FILES: &[(&str, &str)] = &[
    ("hello.c", "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n"),
    (
        "include/h.h",
        "#ifndef H_H\n#define H_H\n#define SQUARE(x) ((x) * (x))\nint f(int);\n#endif\n",
    ),
    (
        "src/x.c",
        "#include \"h.h\"\n#include <string.h>\nint f(int a) { return SQUARE(a) + (int)strlen(\"abc\"); }\n",
    ),
    (
        "warn.c",
        "#define DECL int unused_in_macro = 0\n\
         int g(int a) {\n  DECL;\n  int plain_unused;\n  return a;\n}\n",
    ),
    ("msg.c", "const char *msg = MSG;\nint n = N;\n"),
    (
        "x.cpp",
        "#include <vector>\n#include <string>\n\
         template <typename T> T sum(const std::vector<T>& v) { T s{}; for (auto& e : v) s += e; return s; }\n\
         std::string hello() { return std::to_string(sum(std::vector<int>{1, 2, 3})); }\n",
    ),
    ("broken.c", "int g(void) { return 1 +; }\n"),
    ("a.c", "int a(void) { return 1; }\n"),
    ("b.c", "int b(void) { return 2; }\n"),
    ("pre.h", "#define FROM_INCLUDE 42\n"),
    ("useinc.c", "int v = FROM_INCLUDE;\n"),
    ("weird.txt", "int weird(void) { return 7; }\n"),
    ("args.rsp", "-O2 -DFROM_RSP=3 -c\n"),
    ("rsp.c", "int r = FROM_RSP;\n"),
    ("stale.o", "an old object\n"),
    ("ok.i", "# 1 \"ok.c\"\nint from_i(void) { return 5; }\n"),
];

#[derive(Clone, Copy, PartialEq)]
enum Expect {
    /// Must compile remotely.
    Remote,
    /// Must run locally (or may: the row is about the local decision).
    Local,
}

struct Row {
    compiler: &'static str,
    args: &'static [&'static str],
    expect: Expect,
    /// Objects may differ in debug info.
    debug: bool,
    /// stderr may lack quoted source lines and macro notes.
    diagnostics: bool,
}

const fn remote(compiler: &'static str, args: &'static [&'static str]) -> Row {
    Row {
        compiler,
        args,
        expect: Expect::Remote,
        debug: false,
        diagnostics: false,
    }
}

const fn local_row(compiler: &'static str, args: &'static [&'static str]) -> Row {
    Row {
        compiler,
        args,
        expect: Expect::Local,
        debug: false,
        diagnostics: false,
    }
}

const fn with_debug(mut r: Row) -> Row {
    r.debug = true;
    r
}

const fn with_diagnostics(mut r: Row) -> Row {
    r.diagnostics = true;
    r
}

const ROWS: &[Row] = &[
    remote("gcc", &["-c", "hello.c"]),
    remote("gcc", &["-O2", "-c", "hello.c", "-o", "h.o"]),
    remote("gcc", &["-c", "src/x.c", "-o", "obj/x.o", "-Iinclude"]),
    remote(
        "gcc",
        &["-O2", "-Iinclude", "-c", "-o", "obj/x.o", "src/x.c"],
    ),
    remote(
        "gcc",
        &["-Iinclude", "-MD", "-c", "src/x.c", "-o", "obj/x.o"],
    ),
    remote(
        "gcc",
        &[
            "-Iinclude",
            "-MMD",
            "-MF",
            "deps/x.d",
            "-MT",
            "custom",
            "-c",
            "src/x.c",
            "-o",
            "obj/y.o",
        ],
    ),
    remote(
        "gcc",
        &[
            "-Iinclude",
            "-MD",
            "-MP",
            "-MQ",
            "$(OBJ)",
            "-c",
            "src/x.c",
            "-o",
            "obj/q.o",
        ],
    ),
    remote("gcc", &["-I", "include", "-MMD", "-c", "src/x.c"]),
    remote(
        "gcc",
        &[
            "-Iinclude",
            "-Wp,-MD,obj/wp.d",
            "-c",
            "src/x.c",
            "-o",
            "obj/wp.o",
        ],
    ),
    remote("gcc", &["-S", "hello.c", "-o", "hello.s"]),
    remote("gcc", &["-O2", "-S", "hello.c"]),
    remote("gcc", &["-x", "c", "-c", "weird.txt", "-o", "w.o"]),
    remote("gcc", &["-xc", "-c", "weird.txt", "-o", "w2.o"]),
    remote(
        "gcc",
        &["-DMSG=\"hi there\"", "-DN=3", "-c", "msg.c", "-o", "msg.o"],
    ),
    remote(
        "gcc",
        &[
            "-D",
            "MSG=\"a b\\\"c\"",
            "-D",
            "N=(1+2)",
            "-c",
            "msg.c",
            "-o",
            "msg2.o",
        ],
    ),
    remote("g++", &["-O2", "-std=c++17", "-c", "x.cpp", "-o", "x.o"]),
    remote("c++", &["-c", "x.cpp"]),
    remote(
        "gcc",
        &["-include", "pre.h", "-c", "useinc.c", "-o", "useinc.o"],
    ),
    remote("gcc", &["@args.rsp", "rsp.c", "-o", "rsp.o"]),
    remote(
        "gcc",
        &[
            "-O2",
            "-fPIC",
            "-march=x86-64",
            "-mtune=generic",
            "-pipe",
            "-c",
            "hello.c",
            "-o",
            "pic.o",
        ],
    ),
    remote(
        "gcc",
        &["-std=c99", "-pedantic", "-Wextra", "-c", "a.c", "-o", "a.o"],
    ),
    remote("gcc", &["-c", "ok.i", "-o", "ok.o"]),
    remote("cc", &["-c", "b.c", "-o", "b.o"]),
    // A genuine compile error: gcc's status and message, no local retry.
    with_diagnostics(remote("gcc", &["-c", "broken.c", "-o", "broken.o"])),
    with_diagnostics(remote("gcc", &["-c", "broken.c", "-o", "stale.o"])),
    with_diagnostics(remote("gcc", &["-Wall", "-c", "warn.c", "-o", "warn.o"])),
    with_diagnostics(remote(
        "gcc",
        &["-Wall", "-Werror", "-c", "warn.c", "-o", "werror.o"],
    )),
    with_diagnostics(remote(
        "gcc",
        &[
            "-Wall",
            "-fdiagnostics-color=always",
            "-c",
            "warn.c",
            "-o",
            "colour.o",
        ],
    )),
    with_debug(remote(
        "gcc",
        &["-g", "-Iinclude", "-c", "src/x.c", "-o", "obj/g.o"],
    )),
    with_debug(remote(
        "gcc",
        &["-g3", "-O2", "-c", "hello.c", "-o", "g3.o"],
    )),
    with_debug(remote("g++", &["-g", "-c", "x.cpp", "-o", "gx.o"])),
    // Local by decision.
    local_row("gcc", &["hello.c", "-o", "hello"]),
    local_row("gcc", &["-E", "hello.c"]),
    local_row("gcc", &["-E", "hello.c", "-o", "hello.i"]),
    local_row("gcc", &["-M", "-Iinclude", "src/x.c"]),
    local_row("gcc", &["-MM", "-Iinclude", "src/x.c", "-MF", "mm.d"]),
    local_row("gcc", &["-c", "a.c", "b.c"]),
    local_row("gcc", &["-c", "nope.c", "-o", "nope.o"]),
    local_row("gcc", &["--version"]),
    local_row("gcc", &["-c", "-save-temps", "hello.c", "-o", "st.o"]),
    local_row("gcc", &["-fsyntax-only", "warn.c"]),
    local_row("gcc", &["-c", "-", "-o", "stdin.o"]),
    local_row("gcc", &["-c", "hello.c", "-o", "nodir/h.o"]),
    remote(
        "gcc",
        &[
            "-O2",
            "-Wa,--noexecstack",
            "-c",
            "hello.c",
            "-o",
            "noexec.o",
        ],
    ),
    local_row(
        "gcc",
        &[
            "-O2",
            "-flto",
            "-frandom-seed=1",
            "-c",
            "hello.c",
            "-o",
            "lto.o",
        ],
    ),
    remote(
        "gcc",
        &["-O2", "-fno-lto", "-c", "hello.c", "-o", "nolto.o"],
    ),
    remote(
        "gcc",
        &[
            "-O2",
            "-ffunction-sections",
            "-fdata-sections",
            "-fvisibility=hidden",
            "-fstack-protector-strong",
            "-D_FORTIFY_SOURCE=2",
            "-fno-omit-frame-pointer",
            "-std=gnu11",
            "-c",
            "hello.c",
            "-o",
            "hard.o",
        ],
    ),
    remote(
        "gcc",
        &["-isystem", "include", "-c", "src/x.c", "-o", "obj/isys.o"],
    ),
    remote(
        "gcc",
        &[
            "-iquote", "include", "-MD", "-MT", "a", "-MT", "b", "-c", "src/x.c", "-o", "obj/mt.o",
        ],
    ),
    remote(
        "gcc",
        &["-Iinclude", "-MD", "-S", "src/x.c", "-o", "obj/x.s"],
    ),
    remote("g++", &["-x", "c++", "-c", "weird.txt", "-o", "wxx.o"]),
    remote("gcc", &["-c", "hello.c", "-o", "out.obj"]),
    remote("gcc", &["-DX=1", "-UX", "-DY", "-c", "a.c", "-o", "du.o"]),
];

fn populate(work: &Path) {
    if work.exists() {
        fs::remove_dir_all(work).unwrap();
    }
    for (rel, text) in FILES {
        let p = work.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    for d in ["obj", "deps"] {
        fs::create_dir_all(work.join(d)).unwrap();
    }
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn strip_debug(bytes: &[u8], scratch: &Path) -> Vec<u8> {
    let input = scratch.join("in.o");
    let output = scratch.join("out.o");
    fs::write(&input, bytes).unwrap();
    let ok = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(&input)
        .arg(&output)
        .status()
        .unwrap()
        .success();
    assert!(ok, "objcopy failed");
    fs::read(output).unwrap()
}

fn strip_escapes(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One diagnostic: `file:line:col`, the rest of its line, and whether gcc
/// traced it into a macro definition (then only the expansion point is
/// known to a compiler that sees preprocessed text).
#[derive(Debug)]
struct Diagnostic {
    file: String,
    position: String,
    message: String,
    in_macro: bool,
}

/// Parses gcc's stderr without what needs the original sources: quoted
/// lines, carets and macro notes; colour is kept in the comparison of the
/// raw text elsewhere.
fn diagnostics(stderr: &str) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    for line in strip_escapes(stderr).lines() {
        let t = line.trim_start();
        let quoted = t
            .split_once('|')
            .is_some_and(|(n, _)| n.trim().chars().all(|c| c.is_ascii_digit()));
        if quoted {
            continue;
        }
        if line.contains("in expansion of macro") || line.contains("in definition of macro") {
            if let Some(last) = out.last_mut() {
                last.in_macro = true;
            }
            continue;
        }
        let mut parts = line.splitn(4, ':');
        let (file, l, c, rest) = (parts.next(), parts.next(), parts.next(), parts.next());
        match (file, l, c, rest) {
            (Some(f), Some(l), Some(c), Some(rest))
                if l.chars().all(|d| d.is_ascii_digit())
                    && c.chars().all(|d| d.is_ascii_digit()) =>
            {
                out.push(Diagnostic {
                    file: f.into(),
                    position: format!("{l}:{c}"),
                    message: rest.into(),
                    in_macro: false,
                })
            }
            _ => out.push(Diagnostic {
                file: String::new(),
                position: String::new(),
                message: line.into(),
                in_macro: false,
            }),
        }
    }
    out
}

/// Local and remote diagnostics agree but for what preprocessed input
/// cannot know.
fn same_diagnostics(local: &str, remote: &str) -> bool {
    let (l, r) = (diagnostics(local), diagnostics(remote));
    l.len() == r.len()
        && l.iter().zip(&r).all(|(l, r)| {
            l.file == r.file && l.message == r.message && (l.in_macro || l.position == r.position)
        })
}

#[test]
fn same_results_as_local_compile() {
    check_rows("", false);
}

/// Exact mode ships the sources: even `-g` objects and diagnostics with
/// quoted lines and macro notes are identical.
#[test]
fn same_results_in_exact_mode() {
    check_rows(",cpp,lzo", true);
}

fn check_rows(options: &str, exact: bool) {
    skip_unless!(
        have("gcc") && have("g++") && have("objcopy"),
        "gcc, g++ or objcopy missing"
    );
    let tree = Tree::new();
    let daemon = Daemon::start(&tree, &[]);
    let host = format!("{}{options}", daemon.host());
    let work = tree.work();
    let scratch = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for row in ROWS {
        let line = format!("{} {}", row.compiler, row.args.join(" "));

        populate(&work);
        let before = snapshot(&work);
        let mut cmd = Command::new(row.compiler);
        cmd.args(row.args).current_dir(&work).env_remove("TERM");
        let want = run(cmd, Duration::from_secs(120));
        let want_files = snapshot(&work);

        populate(&work);
        let mut args = vec![row.compiler];
        args.extend_from_slice(row.args);
        let mut cmd = tree.client(&host, &args);
        cmd.env_remove("TERM");
        if row.expect == Expect::Remote {
            cmd.env("PATH", tree.cpponly_path())
                .env("DISTCC_FALLBACK", "0");
        }
        let got = run(cmd, Duration::from_secs(120));
        let got_files = snapshot(&work);

        let mut problems = Vec::new();
        if want.status.code() != got.status.code() {
            problems.push(format!(
                "exit {:?} vs {:?}",
                want.status.code(),
                got.status.code()
            ));
        }
        if want.stdout != got.stdout {
            problems.push(format!(
                "stdout differs:\n{}\n---\n{}",
                text(&want.stdout),
                text(&got.stdout)
            ));
        }
        let (we, ge) = (text(&want.stderr), text(&got.stderr));
        let stderr_same = if row.diagnostics && !exact {
            same_diagnostics(&we, &ge)
        } else {
            we == ge
        };
        if !stderr_same {
            problems.push(format!("stderr differs:\n{we}\n---\n{ge}"));
        }
        let names: Vec<_> = want_files.keys().chain(got_files.keys()).collect();
        for name in names {
            let (w, g) = (want_files.get(name), got_files.get(name));
            let same = match (w, g) {
                (Some(w), Some(g))
                    if w != g && row.debug && name.extension().is_some_and(|e| e == "o") =>
                {
                    strip_debug(w, scratch.path()) == strip_debug(g, scratch.path())
                }
                (w, g) => w == g,
            };
            if !same {
                problems.push(format!(
                    "file {} differs ({} vs {})",
                    name.display(),
                    w.map_or("absent".into(), |v| format!("{} bytes", v.len())),
                    g.map_or("absent".into(), |v| format!("{} bytes", v.len()))
                ));
            }
        }
        if row.expect == Expect::Remote && want.status.success() && want_files == before {
            problems.push("the local compile produced nothing: bad row".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{line}:\n  {}", problems.join("\n  ")));
        }
    }
    let remote_rows = ROWS.iter().filter(|r| r.expect == Expect::Remote).count();
    let served = daemon
        .log_when(|l| l.matches(" status ").count() >= remote_rows)
        .matches(" status ")
        .count();
    println!(
        "same-as-local: {} rows, {} failed; daemon served {served} jobs",
        ROWS.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} rows differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(served, remote_rows, "every remote row went to the daemon");
}

#[test]
fn verbose_explains_and_save_temps_keeps() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    let daemon = Daemon::start(&tree, &[]);
    populate(&tree.work());
    let log = tree.path("state/client.log");

    let mut cmd = tree.client(&daemon.host(), &["gcc", "hello.c", "-o", "hello"]);
    cmd.env("DISTCC_VERBOSE", "1");
    let out = run(cmd, Duration::from_secs(60));
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("running locally") && err.contains("link"),
        "{err}"
    );

    let classic = format!("{},classic", daemon.host());
    let mut cmd = tree.client(&classic, &["gcc", "-c", "hello.c", "-o", "h.o"]);
    cmd.env("DISTCC_LOG", &log).env("DISTCC_SAVE_TEMPS", "1");
    let out = run(cmd, Duration::from_secs(60));
    assert!(out.status.success());
    let logged = fs::read_to_string(&log).unwrap();
    assert!(logged.contains(&daemon.host()), "names the host: {logged}");
    assert!(
        logged.contains("preprocess+") && logged.contains("compile+receive"),
        "{logged}"
    );
    let err = text(&out.stderr);
    let kept = err
        .lines()
        .find_map(|l| l.strip_prefix("distcc: temp files kept in "))
        .unwrap_or_else(|| panic!("no temp dir named: {err}"));
    let pre = fs::read_to_string(Path::new(kept).join("source.i")).unwrap();
    assert!(pre.contains("puts(\"hello\")"));
    fs::remove_dir_all(kept).unwrap();
}
