//! Tests of the client's scanner: the arguments of each half of a split
//! compile, dependency files byte for byte against gcc, response files.

use super::*;
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn argv(s: &str) -> Vec<OsString> {
    s.split_whitespace().map(OsString::from).collect()
}

fn join(v: &[OsString]) -> String {
    v.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn cpp_args_shape() {
    let cases = [
        ("-O2 -DX -c src/x.c -o obj/x.o", "-O2 -DX src/x.c -E -o P"),
        (
            "-MD -c src/x.c -o obj/x.o",
            "-MD src/x.c -E -o P -MF obj/x.d -MQ obj/x.o",
        ),
        ("-MMD -MT t -c x.c", "-MMD -MT t x.c -E -o P -MF x.d"),
        (
            "-MD -MF d/x.d -S src/x.c",
            "-MD -MF d/x.d src/x.c -E -o P -MF d/x.d -MQ x.o",
        ),
        (
            "-x c++ -c x.c -Wp,-MD,w.d",
            "-x c++ x.c -Wp,-MD,w.d -E -o P",
        ),
    ];
    for (line, want) in cases {
        let Scan::Remote(job) = scan(&argv(line)) else {
            panic!("{line}")
        };
        assert_eq!(join(&job.cpp_args(OsStr::new("P"))), want, "{line}");
    }
}

#[test]
fn dep_file_names() {
    let cases = [
        ("-MD -c x.c", Some("x.d")),
        ("-MD -c src/x.c -o obj/x.o", Some("obj/x.d")),
        ("-MD -c x.c -o obj/.x", Some("obj/.d")),
        ("-MD -c x.c -o obj.dir/x", Some("obj.dir/x.d")),
        ("-MD -c x.c -o x.", Some("x.d")),
        ("-MD -c x.c -o x.o.tmp", Some("x.o.d")),
        ("-MD -MF a.d -MF b.d -c x.c", Some("b.d")),
        ("-Wp,-MMD,w.d -c x.c", Some("w.d")),
        ("-MD -c x.i", None),
        ("-c x.c", None),
    ];
    for (line, want) in cases {
        let Scan::Remote(job) = scan(&argv(line)) else {
            panic!("{line}")
        };
        assert_eq!(job.dep_file().as_deref(), want.map(OsStr::new), "{line}");
    }
}

/// distcc 3.4 decides by the input's basename, after finding a compile.
#[test]
fn autoconf_probes_are_compiled_here_as_distcc_34_decides() {
    for line in [
        "-c conftest.c",
        "-c -o conftest.o conftest.c",
        "-O2 -c sub/dir/conftest.cpp",
        "-c tmp.conftest.c",
        "-c conftest.foo.c",
    ] {
        let Scan::Local(why) = scan(&argv(line)) else {
            panic!("{line} is distributed")
        };
        assert!(why.contains("autoconf"), "{line}: {why}");
    }
    for line in [
        "-c myconftest.c",
        "-c conftest/x.c",
        "-c conftestx.c",
        "-c x.c -o conftest.o",
    ] {
        assert!(matches!(scan(&argv(line)), Scan::Remote(_)), "{line}");
    }
    // Linking one is local anyway, for its own reason.
    let Scan::Local(why) = scan(&argv("conftest.c -o conftest")) else {
        panic!()
    };
    assert!(why.contains("linking"), "{why}");
}

#[test]
fn non_utf8_and_response_files() {
    let name = OsString::from_vec(b"caf\xe9.c".to_vec());
    let args = vec![
        OsString::from_vec(b"-I\xff".to_vec()),
        "-c".into(),
        name.clone(),
    ];
    let Scan::Remote(job) = scan(&args) else {
        panic!()
    };
    assert_eq!(job.input, name);
    assert_eq!(job.server_args().last().unwrap().as_bytes(), b"caf\xe9.i");

    let dir = std::env::temp_dir().join(format!("scan-rsp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rsp = dir.join("args.rsp");
    std::fs::write(&rsp, "-c 'my file.c' -o \"out dir/x.o\" -DA=\\\"q\\\"").unwrap();
    let mut at = OsString::from("@");
    at.push(&rsp);
    let Scan::Remote(job) = scan(&[at, "-O2".into()]) else {
        panic!()
    };
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(job.input, "my file.c");
    assert_eq!(job.output, "out dir/x.o");
    assert!(job.args().contains(&OsString::from("-DA=\"q\"")));
    assert_eq!(
        job.server_args(),
        argv("-O2 -c -o")
            .into_iter()
            .chain(["out dir/x.o".into(), "my file.i".into()])
            .collect::<Vec<_>>()
    );
}

// ---- byte-for-byte comparison of dependency files against real gcc -------

fn have(compiler: &str) -> bool {
    Command::new(compiler)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A fresh tree with sources, a local header and output directories.
fn make_tree(root: &Path) {
    for d in ["src", "obj", "deps", "obj.dir"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    for f in ["x.c", "src/x.c", "$x.c", "x.cc"] {
        std::fs::write(root.join(f), "#include \"h.h\"\nint x;\n").unwrap();
    }
    for f in ["h.h", "src/h.h"] {
        std::fs::write(root.join(f), "int y;\n").unwrap();
    }
}

fn dep_files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.as_os_str().as_bytes().ends_with(b".d") {
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn run(compiler: &str, dir: &Path, args: &[OsString]) {
    let st = Command::new(compiler)
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success(), "{compiler} {} failed", join(args));
}

/// Compilers and command lines whose dependency files must come out of a
/// split compile as gcc writes them.
const DEP_CASES: &[(&str, &[&str])] = &[
    ("gcc", &["-MD", "-c", "x.c"]),
    ("gcc", &["-MD", "-c", "src/x.c", "-o", "obj/x.o"]),
    (
        "gcc",
        &[
            "-MMD", "-MF", "deps/x.d", "-MT", "foo", "-c", "x.c", "-o", "y.o",
        ],
    ),
    ("gcc", &["-MD", "-MQ", "$weird", "-c", "x.c"]),
    ("gcc", &["-MD", "-MT", "$weird", "-MQ", "a b", "-c", "x.c"]),
    ("gcc", &["-MD", "-MP", "-c", "x.c"]),
    ("gcc", &["-MD", "-S", "src/x.c", "-o", "obj/x.s"]),
    ("gcc", &["-MD", "-S", "src/x.c"]),
    ("gcc", &["-MMD", "-c", "src/x.c", "-o", "obj/x.foo.o"]),
    ("gcc", &["-MD", "-c", "x.c", "-o", "obj/.x"]),
    ("gcc", &["-MD", "-c", "x.c", "-o", "obj.dir/x"]),
    ("gcc", &["-MD", "-c", "x.c", "-o", "obj/$x.o"]),
    ("gcc", &["-MMD", "-c", "x.c", "-o", "obj/a b.o"]),
    ("gcc", &["-MD", "-c", "$x.c"]),
    ("gcc", &["-MD", "-MMD", "-c", "x.c"]),
    (
        "gcc",
        &["-Wp,-MD,obj/w.d", "-c", "src/x.c", "-o", "obj/x.o"],
    ),
    ("gcc", &["-MD", "-MFobj/j.d", "-MTjt", "-c", "x.c"]),
    (
        "gcc",
        &["-MD", "-x", "c", "-Isrc", "-c", "src/x.c", "-o", "obj/x.o"],
    ),
    (
        "gcc",
        &[
            "-MD", "-MF", "obj/1.d", "-MF", "obj/2.d", "-c", "x.c", "-o", "obj/x.o",
        ],
    ),
    ("g++", &["-MD", "-MP", "-c", "x.cc", "-o", "obj/x.o"]),
];

#[test]
fn dependency_files_match_gcc() {
    let cases = DEP_CASES;
    let base = std::env::temp_dir().join(format!("scan-deps-{}", std::process::id()));
    for (n, (compiler, args)) in cases.iter().enumerate() {
        if !have(compiler) {
            eprintln!("skipping: {compiler} not installed");
            continue;
        }
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let Scan::Remote(job) = scan(&args) else {
            panic!("{}: not remote", join(&args))
        };
        let (orig, split) = (
            base.join(format!("{n}-orig")),
            base.join(format!("{n}-cpp")),
        );
        make_tree(&orig);
        make_tree(&split);
        run(compiler, &orig, &args);
        run(compiler, &split, &job.cpp_args(OsStr::new("pre.out")));
        let (want, got) = (dep_files(&orig), dep_files(&split));
        assert_eq!(want.len(), 1, "{}: {want:?}", join(&args));
        assert_eq!(
            got,
            want,
            "{} vs {}",
            join(&args),
            join(&job.cpp_args(OsStr::new("pre.out")))
        );
        let dep = job.dep_file().expect("dep file");
        assert_eq!(
            want.keys().next().unwrap(),
            Path::new(&dep),
            "{}",
            join(&args)
        );
        // Finishing the split compile must give the very same object/assembly.
        let server = job.server_args();
        let pre = split.join(server.last().unwrap());
        std::fs::rename(split.join("pre.out"), pre).unwrap();
        std::fs::remove_file(split.join(&job.output)).ok();
        run(compiler, &split, &server);
        let read = |dir: &Path| std::fs::read(dir.join(&job.output)).unwrap();
        assert!(
            read(&orig) == read(&split),
            "{}: output differs from {}",
            join(&args),
            join(&server)
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}
