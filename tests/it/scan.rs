//! The client's scanner and the daemon's policy agree: every command line
//! the client distributes is sent as an argv that our daemon accepts with
//! the same input, output, mode and language, and that a stock distcc 3.4
//! daemon would accept too; every job kept local says why. Both roles are
//! imported here, which neither may do of the other.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use distcc::args::lang::driver_suffix;
use distcc::client::scan::{scan, Scan};
use distcc::daemon::policy::server_scan;

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
    // The .dwo comes back in our streamed dialect only (`client::attempt`).
    (
        "-gsplit-dwarf -c x.c",
        R("x.c", "x.o", "-gsplit-dwarf -c -o x.o x.i"),
    ),
    ("-gsplit-dwarf=split -c x.c", L(".dwo")),
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
