use super::*;
use crate::daemon::policy::server_scan;
use std::collections::BTreeMap;
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

enum Want {
    /// input, output, server argv
    R(&'static str, &'static str, &'static str),
    /// substring of the reason
    L(&'static str),
}
use Want::{L, R};

const TABLE: &[(&str, Want)] = &[
    // ---- distributable ----------------------------------------------------
    ("-c x.c", R("x.c", "x.o", "-c -o x.o x.i")),
    ("-c src/x.c", R("src/x.c", "x.o", "-c -o x.o x.i")),
    (
        "-c src/x.c -o obj/x.o",
        R("src/x.c", "obj/x.o", "-c -o obj/x.o x.i"),
    ),
    ("-S x.c", R("x.c", "x.s", "-S -o x.s x.i")),
    (
        "-S src/x.c -o obj/y.s",
        R("src/x.c", "obj/y.s", "-S -o obj/y.s x.i"),
    ),
    ("-c -S x.c", R("x.c", "x.s", "-S -o x.s x.i")),
    (
        "-O2 -g -Wall -c x.c -o x.o",
        R("x.c", "x.o", "-O2 -g -Wall -c -o x.o x.i"),
    ),
    (
        "-DFOO=1 -D BAR -U BAZ -I inc -Iinc2 -c x.c",
        R("x.c", "x.o", "-c -o x.o x.i"),
    ),
    (
        "-include cfg.h -imacros m.h -c x.c",
        R("x.c", "x.o", "-c -o x.o x.i"),
    ),
    (
        "-isystem /u -iquote q -idirafter d -iprefix p -iwithprefix w -c x.c",
        R("x.c", "x.o", "-c -o x.o x.i"),
    ),
    (
        "-nostdinc -nostdinc++ -undef -H -C -P -c x.cc",
        R("x.cc", "x.o", "-c -o x.o x.ii"),
    ),
    (
        "-MD -MF x.d -MT x.o -MP -MQ y -c x.c",
        R("x.c", "x.o", "-c -o x.o x.i"),
    ),
    ("-Wp,-MD,x.d -c x.c", R("x.c", "x.o", "-c -o x.o x.i")),
    (
        "-x c -c foo.txt",
        R("foo.txt", "foo.o", "-c -o foo.o foo.i"),
    ),
    ("-x c++ -c x.c", R("x.c", "x.o", "-c -o x.o x.ii")),
    ("-xc++ -c x.c", R("x.c", "x.o", "-c -o x.o x.ii")),
    ("-x objective-c++ -c x", R("x", "x.o", "-c -o x.o x.mii")),
    ("-x cpp-output -c x.foo", R("x.foo", "x.o", "-c -o x.o x.i")),
    ("-x none -c x.c", R("x.c", "x.o", "-c -o x.o x.i")),
    ("-c x.c -x c++", R("x.c", "x.o", "-c -o x.o x.i")),
    ("-c x.cc", R("x.cc", "x.o", "-c -o x.o x.ii")),
    ("-c x.cpp", R("x.cpp", "x.o", "-c -o x.o x.ii")),
    ("-c x.cxx", R("x.cxx", "x.o", "-c -o x.o x.ii")),
    ("-c x.C", R("x.C", "x.o", "-c -o x.o x.ii")),
    ("-c x.c++", R("x.c++", "x.o", "-c -o x.o x.ii")),
    ("-c x.cp", R("x.cp", "x.o", "-c -o x.o x.ii")),
    ("-c x.CPP", R("x.CPP", "x.o", "-c -o x.o x.ii")),
    ("-c x.m", R("x.m", "x.o", "-c -o x.o x.mi")),
    ("-c x.mm", R("x.mm", "x.o", "-c -o x.o x.mii")),
    ("-c x.M", R("x.M", "x.o", "-c -o x.o x.mii")),
    ("-c x.i", R("x.i", "x.o", "-c -o x.o x.i")),
    ("-c x.ii", R("x.ii", "x.o", "-c -o x.o x.ii")),
    ("-c x.mi", R("x.mi", "x.o", "-c -o x.o x.mi")),
    ("-c x.mii", R("x.mii", "x.o", "-c -o x.o x.mii")),
    (
        "-c weird.name.c",
        R(
            "weird.name.c",
            "weird.name.o",
            "-c -o weird.name.o weird.name.i",
        ),
    ),
    (
        "-fPIC -march=haswell -mtune=generic -std=gnu11 -c x.c",
        R(
            "x.c",
            "x.o",
            "-fPIC -march=haswell -mtune=generic -std=gnu11 -c -o x.o x.i",
        ),
    ),
    (
        "--param max-inline-insns-single=10 -c x.c",
        R(
            "x.c",
            "x.o",
            "--param max-inline-insns-single=10 -c -o x.o x.i",
        ),
    ),
    (
        "--param=ssp-buffer-size=4 -c x.c",
        R("x.c", "x.o", "--param=ssp-buffer-size=4 -c -o x.o x.i"),
    ),
    (
        "-target x86_64-linux-gnu -c x.c",
        R("x.c", "x.o", "-target x86_64-linux-gnu -c -o x.o x.i"),
    ),
    ("-c x.c -ox.o", R("x.c", "x.o", "-c -o x.o x.i")),
    ("-c x.c -o a.o -o b.o", R("x.c", "b.o", "-c -o b.o x.i")),
    (
        "--compile x.c --output=y.o",
        R("x.c", "y.o", "-c -o y.o x.i"),
    ),
    (
        "-pthread -pipe -w -v -c x.c",
        R("x.c", "x.o", "-pthread -pipe -w -v -c -o x.o x.i"),
    ),
    (
        "-Wl,-z,now -lm -L/lib -Xlinker -q -c x.c",
        R("x.c", "x.o", "-c -o x.o x.i"),
    ),
    (
        "-finput-charset=latin1 -fexec-charset=UTF-8 -c x.c",
        R("x.c", "x.o", "-fexec-charset=UTF-8 -c -o x.o x.i"),
    ),
    (
        "-Wa,--noexecstack -Xassembler --64 -c x.c",
        R(
            "x.c",
            "x.o",
            "-Wa,--noexecstack -Xassembler --64 -c -o x.o x.i",
        ),
    ),
    (
        "-ffile-prefix-map=/a=/b -fmacro-prefix-map=/a=/b -c x.c",
        R("x.c", "x.o", "-ffile-prefix-map=/a=/b -c -o x.o x.i"),
    ),
    (
        "-isysroot /sdk --sysroot=/s -c x.c",
        R("x.c", "x.o", "-isysroot /sdk --sysroot=/s -c -o x.o x.i"),
    ),
    (
        "-fopt-info-vec -trigraphs -ansi -pedantic -c x.c",
        R(
            "x.c",
            "x.o",
            "-fopt-info-vec -trigraphs -ansi -pedantic -c -o x.o x.i",
        ),
    ),
    // separate option arguments are never sources
    (
        "-I x.c -D y.c -U z.c -c w.c",
        R("w.c", "w.o", "-c -o w.o w.i"),
    ),
    (
        "-include x.c -imacros y.c -isystem z.c -iquote q.c -idirafter d.c -c w.c",
        R("w.c", "w.o", "-c -o w.o w.i"),
    ),
    (
        "-MD -MF x.c -MT y.c -MQ z.c -c w.c",
        R("w.c", "w.o", "-c -o w.o w.i"),
    ),
    ("-o x.c.o -c w.c", R("w.c", "x.c.o", "-c -o x.c.o w.i")),
    (
        "-x c -c w.c -Xpreprocessor x.c -Xlinker y.c -L z.c -l q.c",
        R("w.c", "w.o", "-c -o w.o w.i"),
    ),
    (
        "-u x.c -e y.c -T z.c -z q.c -A a.c -c w.c",
        R("w.c", "w.o", "-c -o w.o w.i"),
    ),
    (
        "-isysroot sdk -arch x86_64 -G 8 -c w.c",
        R(
            "w.c",
            "w.o",
            "-isysroot sdk -arch x86_64 -G 8 -c -o w.o w.i",
        ),
    ),
    // ---- local ------------------------------------------------------------
    ("x.c", L("linking")),
    ("x.c -o prog", L("linking")),
    ("-E x.c", L("-E")),
    ("-M x.c", L("dependency generation only")),
    ("-MM -c x.c", L("dependency generation only")),
    ("-c x.c y.c", L("several input")),
    ("-c -", L("standard input")),
    ("-c -O2", L("no input")),
    ("-c x.o", L("not a compilable source")),
    ("-c libfoo.a", L("not a compilable source")),
    ("-c x.h", L("precompiled header")),
    ("-x c-header -c x", L("precompiled header")),
    ("-c x.c -o -", L("standard output")),
    ("-save-temps -c x.c", L("intermediate")),
    ("-save-temps=obj -c x.c", L("intermediate")),
    ("-ftest-coverage -c x.c", L("coverage")),
    ("--coverage -c x.c", L("coverage")),
    ("-fprofile-arcs -c x.c", L("profile")),
    ("-fprofile-use=p -c x.c", L("profile")),
    ("-fprofile-generate -c x.c", L("profile")),
    ("-fauto-profile=x.afdo -c x.c", L("profile")),
    ("-fstack-usage -c x.c", L(".su")),
    ("-fcallgraph-info=su -c x.c", L(".ci")),
    ("-fdump-tree-all -c x.c", L("dump")),
    ("-gsplit-dwarf -c x.c", L(".dwo")),
    ("-Wa,-adhln=x.lst -c x.c", L("listing")),
    ("-Wa,--MD,x.d -c x.c", L("dependency")),
    ("-Wa,-I,inc -c x.c", L("assembler option")),
    ("-frepo -c x.cc", L("template")),
    ("-fsyntax-only x.c", L("-fsyntax-only")),
    ("-aux-info p.h -c x.c", L("prototype")),
    ("-specs=foo -c x.c", L("specs")),
    ("-fplugin=foo.so -c x.c", L("plugin")),
    ("-B /opt -c x.c", L("programs")),
    ("-wrapper gdb -c x.c", L("programs")),
    ("-march=native -c x.c", L("local CPU")),
    ("-mtune=native -c x.c", L("local CPU")),
    ("-mcpu=native -c x.c", L("local CPU")),
    ("-Xclang -foo -c x.c", L("unknown")),
    ("-MJ x.json -c x.c", L("compilation database")),
    ("-fpch-preprocess -c x.c", L("precompiled header")),
    ("-fmodules -c x.m", L("module")),
    (
        "-fsave-optimization-record -c x.c",
        L("optimisation record"),
    ),
    ("-fopt-info-vec=v.txt -c x.c", L("report file")),
    ("-x ada -c x.adb", L("language")),
    ("-c x.f90", L("not a compilable source")),
    ("-c x.s", L("assembler")),
    ("-c x.S", L("assembler")),
    ("-S x.S", L("-S on assembler")),
    ("--frobnicate -c x.c", L("unknown option --frobnicate")),
    ("-c x.c -o", L("missing argument")),
    ("@/nonexistent/rsp -c x.c", L("response file")),
    ("-MD -Wp,-MD,y.d -c x.c", L("both")),
    ("-Xpreprocessor -MD -c x.c", L("-Xpreprocessor")),
    ("-target x.c -c y.c", L("look like a file")),
    ("-arch y.o -c x.c", L("look like a file")),
    ("-dumpversion", L("information")),
    ("--version", L("information")),
    ("-print-file-name=libc.a", L("information")),
    ("-d -c x.c", L("dump")),
];

/// What a stock distcc 3.4 daemon checks in `dcc_scan_args`.
fn distcc34_accepts(args: &[OsString]) -> bool {
    let (mut c_or_s, mut inputs, mut o_words, mut i) = (false, 0, 0, 0);
    while i < args.len() {
        let a = args[i].as_bytes();
        if a == b"-E" || a.starts_with(b"-x") || a == b"-M" || a == b"-MM" {
            return false;
        }
        if a == b"-c" || a == b"-S" {
            c_or_s = true;
        } else if a == b"-o" {
            i += 1;
        } else if a.first() != Some(&b'-') {
            let ext = driver_suffix(a).unwrap_or_default();
            if matches!(
                ext,
                b"i" | b"ii"
                    | b"c"
                    | b"cc"
                    | b"cpp"
                    | b"cxx"
                    | b"cp"
                    | b"c++"
                    | b"C"
                    | b"m"
                    | b"mm"
                    | b"mi"
                    | b"mii"
                    | b"M"
            ) {
                inputs += 1;
            } else if a.ends_with(b".o") {
                o_words += 1;
            }
        }
        i += 1;
    }
    c_or_s && inputs == 1 && o_words == 0
}

#[test]
fn scan_table() {
    assert!(TABLE.len() >= 60);
    for (line, want) in TABLE {
        match (scan(&argv(line)), want) {
            (Scan::Remote(job), R(input, output, server)) => {
                assert_eq!(job.input, *input, "{line}");
                assert_eq!(job.output, *output, "{line}");
                let sargs = job.server_args();
                assert_eq!(join(&sargs), *server, "{line}");
                assert!(distcc34_accepts(&sargs), "distcc 3.4 would refuse {server}");
                let sj =
                    server_scan(&sargs).unwrap_or_else(|e| panic!("{line}: server refuses: {e}"));
                assert_eq!(sj.input_index, sargs.len() - 1, "{line}");
                assert_eq!(sargs[sj.output_index.unwrap()], job.output, "{line}");
                assert_eq!(sj.mode, job.mode, "{line}");
                assert_eq!(
                    sj.temp_suffix[1..],
                    *job.lang.preprocessed_suffix(),
                    "{line}"
                );
                // The local half must never produce an object or reach the server.
                let cpp = job.cpp_args(OsStr::new("pre.tmp"));
                assert!(
                    !cpp.iter().any(|a| a == "-c" || a == "-S"),
                    "{line}: {}",
                    join(&cpp)
                );
            }
            (Scan::Local(why), L(part)) => {
                assert!(why.contains(part), "{line}: {why:?} lacks {part:?}")
            }
            (got, _) => panic!("{line}: unexpected {got:?}"),
        }
    }
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

#[test]
fn server_scan_policy() {
    let ok = [
        ("-O2 -c -o /tmp/o.o x.i", 4, Some(3), false, ".i"),
        ("-c x.cc -o/tmp/o.o", 1, Some(2), true, ".ii"),
        ("-S foo.mm", 1, None, false, ".mii"),
        ("-DX -I/inc -g -Wall -c -o o.o x.c", 7, Some(6), false, ".i"),
        ("-lm -L/lib -c x.c", 3, None, false, ".i"),
    ];
    for (line, input, output, joined, suffix) in ok {
        let sj = server_scan(&argv(line)).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(
            (
                sj.input_index,
                sj.output_index,
                sj.output_joined,
                sj.temp_suffix
            ),
            (input, output, joined, suffix),
            "{line}"
        );
    }
    for bad in [
        "-c x.c y.c",
        "x.c",
        "-c",
        "-c x.o",
        "-E x.c",
        "-x c -c x.c",
        "-include /etc/passwd -c x.c",
        "-Wp,-MD,/etc/x -c x.c",
        "-MD -MF /tmp/x -c x.c",
        "-B/evil -c x.c",
        "-fplugin=/x.so -c x.c",
        "-specs=/x -c x.c",
        "-save-temps -c x.c",
        "-c x.c -o -",
        "-c - ",
        "--bogus -c x.c",
        "-Xclang -load -c x.c",
        "-march=native -c x.c",
        "-fprofile-use=/p -c x.c",
        "-Wl,-q -c x.c",
        "-Xlinker -q -c x.c",
        "-c x.h",
    ] {
        assert!(server_scan(&argv(bad)).is_err(), "{bad} accepted");
    }
    let sj = server_scan(&argv("-c x.c -ofoo.o")).unwrap();
    let re = sj.rewrite(
        &argv("-c x.c -ofoo.o"),
        OsStr::new("/t/in.i"),
        OsStr::new("/t/out.o"),
    );
    assert_eq!(join(&re), "-c /t/in.i -o/t/out.o");
    let sj = server_scan(&argv("-c x.c")).unwrap();
    let re = sj.rewrite(
        &argv("-c x.c"),
        OsStr::new("/t/in.i"),
        OsStr::new("/t/out.o"),
    );
    assert_eq!(join(&re), "-c /t/in.i -o /t/out.o");
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

#[test]
fn dependency_files_match_gcc() {
    let cases: &[(&str, &[&str])] = &[
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
