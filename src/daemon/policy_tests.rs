//! Tests of the daemon's argument policy: what real clients send passes,
//! each attack is refused, and the input and output are rewritten.

use super::*;
use crate::exit::Code;

fn args(s: &str) -> Vec<OsString> {
    s.split_whitespace().map(OsString::from).collect()
}

fn join(v: &[OsString]) -> String {
    v.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `-gsplit-dwarf` only where the reply returns the `.dwo`, and only when
/// the object goes to a relative path the job dir can hold.
#[test]
fn split_dwarf_only_where_the_dwo_comes_back() {
    let ok = args("-g -gsplit-dwarf -O2 -c x.i -o sub/x.o");
    let r = check(&ok).unwrap_err();
    assert!(r.message.contains("cannot return"), "{}", r.message);
    let job = check_with(&ok, true).unwrap();
    assert!(job.split_dwarf);
    assert_eq!(job.output_in_job_dir(&ok).unwrap(), Path::new("sub/x.o"));
    let joined = args("-gsplit-dwarf -c x.i -o./x.o");
    let job = check_with(&joined, true).unwrap();
    assert_eq!(job.output_in_job_dir(&joined).unwrap(), Path::new("./x.o"));
    assert!(
        !check_with(&args("-g -c x.i -o x.o"), true)
            .unwrap()
            .split_dwarf
    );
    for bad in [
        "-gsplit-dwarf -c x.i -o /abs/x.o",
        "-gsplit-dwarf -c x.i -o ../x.o",
        "-gsplit-dwarf -c x.i -o a/../../x.o",
        "-gsplit-dwarf -c x.i",
        "-gsplit-dwarf -S x.i -o x.s",
        "-gsplit-dwarf=split -c x.i -o x.o",
    ] {
        let r = check_with(&args(bad), true).unwrap_err();
        assert_eq!(r.code, Code::BadArguments, "{bad}");
    }
}

/// What real clients send: ours (preprocessed suffix, canonical -c/-o)
/// and distcc 3.4 (preprocessor options stripped, the original names).
#[test]
fn ordinary_compiles_pass() {
    for ok in [
        "-c hello.c -o hello.o",
        "-O2 -g -Wall -c x.c -o x.o",
        "-S x.c -o x.s",
        "-std=c++17 -fPIC -c a.cpp -o a.o",
        "-c x.i -o x.o",
        "-O2 -c a.c -o /home/me/build/out.o",
        "-O2 -g -Wall -Wextra -Werror=format -std=gnu11 -fPIC -m64 -DNDEBUG -Iinc -c src.c -o o.o",
        "-fdebug-prefix-map=/home/me=. -ffile-prefix-map=/a=/b -c x.c -o x.o",
        "-frandom-seed=out/x.o -frecord-gcc-switches --param max-inline-insns-single=10 -c x.c",
        "--sysroot=/opt/sdk -isysroot /opt/sdk -c x.c -o x.o",
        "-march=x86-64-v2 -mtune=generic -fstack-protector-strong -c x.c -o x.o",
        "-Wa,--noexecstack -Xassembler --64 -c x.c -o x.o",
        "-ffunction-sections -fdata-sections -flto -fno-omit-frame-pointer -c x.c -o x.o",
        "-pthread -fopenmp -fsanitize=address -fvisibility=hidden -c x.cc -o x.o",
        "-lm -L/usr/lib -c x.c -o x.o",
    ] {
        if let Err(r) = check(&args(ok)) {
            panic!("{ok}: {}", r.message);
        }
    }
}

/// One row per attack (a table, as long as the attacks are many): each
/// names a program, a plugin, a spec, a file to read or write, or a second
/// output or input.
#[test]
fn hostile_arguments_are_refused() {
    for bad in [
        // Programs, plugins and specs.
        "-c x.c -o x.o -wrapper /bin/sh,-c,touch,/tmp/m",
        "-c x.c -o x.o -B/tmp/evil",
        "-c x.c -o x.o -B /tmp/evil",
        "-c x.c -o x.o --prefix=/tmp/evil",
        "-c x.c -o x.o -fplugin=/tmp/evil.so",
        "-c x.c -o x.o -fplugin-arg-evil-x=y",
        "-c x.c -o x.o -iplugindir=/tmp",
        "-c x.c -o x.o -fpass-plugin=/tmp/p.so",
        "-c x.c -o x.o -specs=/tmp/evil.specs",
        "-c x.c -o x.o -specs /tmp/evil.specs",
        "-c x.c -o x.o --specs=/tmp/evil.specs",
        "-c x.c -o x.o -Xclang -load -Xclang /tmp/p.so",
        "-c x.c -o x.o -mllvm -x",
        "-c x.c -o x.o -no-integrated-cpp -Wp,-x",
        "sh -c id",
        "-c x.c -o x.o --driver-mode=cl",
        // Response files, wherever they stand.
        "-c x.c -o x.o @/etc/passwd",
        "-c x.c -o x.o -D @/tmp/rsp",
        "-c x.c -o x.o -I @/tmp/rsp",
        "-c @x.c -o x.o",
        "-c x.c -o @x.o",
        // Files read or written beside the job.
        "-c x.c -o x.o -Wa,-adhln=/tmp/listing",
        "-c x.c -o x.o -Wa,--64,-al=/tmp/l",
        "-c x.c -o x.o -Wa,-I,/etc",
        "-c x.c -o x.o -Wa,@/tmp/rsp",
        "-c x.c -o x.o -Xassembler -adhln=/tmp/l",
        "-c x.c -o x.o -Xassembler --MD",
        "-c x.c -o x.o -Wl,-rpath,/x",
        "-c x.c -o x.o -Xlinker -q",
        "-c x.c -o x.o -aux-info /tmp/aux",
        "-c x.c -o x.o -aux-info=/tmp/aux",
        "-c x.c -o x.o -fdump-tree-all",
        "-c x.c -o x.o -fdump-rtl-all=/tmp/d",
        "-c x.c -o x.o -fdump-final-insns=/tmp/d",
        "-c x.c -o x.o -fcompare-debug",
        "-c x.c -o x.o -da",
        "-c x.c -o x.o -save-temps",
        "-c x.c -o x.o -save-temps=obj",
        "-c x.c -o x.o --save-temps",
        "-c x.c -o x.o -dumpbase /tmp/b",
        "-c x.c -o x.o -dumpdir /tmp/",
        "-c x.c -o x.o -dumpbase-ext .c",
        "-c x.c -o x.o -auxbase /tmp/a",
        "-c x.c -o x.o -fprofile-generate=/tmp/p",
        "-c x.c -o x.o -fprofile-use=/etc/passwd",
        "-c x.c -o x.o -fprofile-instr-use=/tmp/p",
        "-c x.c -o x.o -fprofile-sample-use=/tmp/p",
        "-c x.c -o x.o -fprofile-dir=/tmp",
        "-c x.c -o x.o -fprofile-arcs",
        "-c x.c -o x.o -fauto-profile=/tmp/p",
        "-c x.c -o x.o -fmemory-profile-use=/tmp/p",
        "-c x.c -o x.o --coverage",
        "-c x.c -o x.o -fsanitize-blacklist=/etc/passwd",
        "-c x.c -o x.o -fsanitize-ignorelist=/etc/passwd",
        "-c x.c -o x.o -fsanitize-coverage-allowlist=/etc/passwd",
        "-c x.c -o x.o -fxray-attr-list=/etc/passwd",
        "-c x.c -o x.o -fbasic-block-sections=list=/etc/passwd",
        "-c x.c -o x.o -fembed-offload-object=/etc/passwd",
        "-c x.c -o x.o -fthin-link-bitcode=/tmp/t",
        "-c x.c -o x.o -fsave-optimization-record",
        "-c x.c -o x.o -foptimization-record-file=/tmp/r",
        "-c x.c -o x.o -fopt-info-vec=/tmp/r",
        "-c x.c -o x.o -ftime-trace=/tmp/t",
        "-c x.c -o x.o -fproc-stat-report=/tmp/s",
        "-c x.c -o x.o -fcrash-diagnostics-dir=/tmp",
        "-c x.c -o x.o -fdiagnostics-add-output=sarif:file=/tmp/s",
        "-c x.c -o x.o -fdiagnostics-format=sarif-file",
        "-c x.c -o x.o -fstack-usage",
        "-c x.c -o x.o -fcallgraph-info=su",
        "-c x.c -o x.o -gsplit-dwarf",
        "-c x.c -o x.o -fself-test=/tmp",
        "-c x.c -o x.o -fmodule-mapper=|/bin/sh",
        "-c x.c -o x.o -fmodules-cache-path=/tmp",
        "-c x.c -o x.o -gen-cdb-fragment-path /tmp",
        "-c x.c -o x.o -gen-reproducer",
        "-c x.c -o x.o -MD -MF /tmp/d",
        "-c x.c -o x.o -MJ /tmp/j",
        "-c x.c -o x.o -include /etc/passwd",
        "-c x.c -o x.o -Wp,-MD,/tmp/d",
        "-c x.c -o x.o -fsome-future-option=/etc/passwd",
        "-c x.c -o x.o -mfuture-option=/tmp/x",
        // Modes and outputs other than ours.
        "-E x.c -o x.i",
        "-M x.c",
        "-c x.c -o x.o -fsyntax-only",
        "-c x.c -o -",
        "-c x.c --output=/tmp/x.o",
        "-c x.c -o x.o -o /tmp/evil.o",
        "-c x.c -o x.o --output /tmp/evil.o",
        "-c x.c -o x.o -x c",
        // Inputs.
        "-c a.c b.c -o x.o",
        "-c x.c /etc/passwd -o x.o",
        "-c x.o -o y.o",
        "-c - -o x.o",
        "-o x.o",
        "x.c -o x",
        "-c x.c -o x.o --frobnicate",
    ] {
        match check(&args(bad)) {
            Ok(_) => panic!("accepted: {bad}"),
            Err(r) => {
                assert_eq!(r.code, Code::BadArguments, "{bad}");
                assert!(r.message.starts_with("refused"), "{bad}: {}", r.message);
            }
        }
    }
}

#[test]
fn refusals_say_why() {
    let msg = |s: &str| check(&args(s)).unwrap_err().message;
    assert!(msg("-c x.c -wrapper /bin/sh").contains("-wrapper"));
    assert!(msg("-c x.c -D @/tmp/r").contains("@/tmp/r"));
    assert!(msg("-c x.c -o a.o -o b.o").contains("several -o"));
}

/// distcc 3.4 sends the source name as typed (CMake: absolute; VPATH
/// builds: `../src/x.c`); the name is replaced by our temp file, so it is
/// accepted and never opened.
#[test]
fn input_names_as_typed_are_accepted_and_replaced() {
    for ok in [
        "-c /home/u/p/x.c -o x.o",
        "-c ../../x.c -o x.o",
        "-c /etc/passwd.c -o x.o",
    ] {
        let a = args(ok);
        let job = check(&a).unwrap_or_else(|r| panic!("{ok}: {}", r.message));
        let rewritten = job.rewrite(&a, "input.i".as_ref(), "output.o".as_ref());
        assert!(rewritten.contains(&"input.i".into()), "{ok}");
        assert!(
            !rewritten.iter().any(|w| w.to_string_lossy().contains(".c")),
            "{ok}"
        );
    }
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
        let sj = server_scan(&args(line)).unwrap_or_else(|e| panic!("{line}: {e}"));
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
        assert!(server_scan(&args(bad)).is_err(), "{bad} accepted");
    }
    let sj = server_scan(&args("-c x.c -ofoo.o")).unwrap();
    let re = sj.rewrite(
        &args("-c x.c -ofoo.o"),
        OsStr::new("/t/in.i"),
        OsStr::new("/t/out.o"),
    );
    assert_eq!(join(&re), "-c /t/in.i -o/t/out.o");
    let sj = server_scan(&args("-c x.c")).unwrap();
    let re = sj.rewrite(
        &args("-c x.c"),
        OsStr::new("/t/in.i"),
        OsStr::new("/t/out.o"),
    );
    assert_eq!(join(&re), "-c /t/in.i -o /t/out.o");
}
