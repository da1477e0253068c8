//! Tests of the flag table: its order, its lookups, each class and the
//! path column.

use super::*;

/// One row per behaviour the scanner relies on. Long only because the
/// table is: the checking is the loop at the end.
#[test]
fn categories() {
    let l = |r: &'static str| Local(r);
    let rows: &[(&str, &str, Value, Class)] = &[
        ("-c", "-c", Value::Absent, Mode(Compile)),
        ("-S", "-S", Value::Absent, Mode(Assemble)),
        ("-E", "-E", Value::Absent, Mode(Preprocess)),
        ("-MM", "-MM", Value::Absent, Mode(DepsOnly)),
        ("-o", "-o", Value::Next, Output),
        ("-ofoo.o", "-o", Value::Joined("foo.o"), Output),
        ("--output=x.o", "--output", Value::Joined("x.o"), Output),
        ("-xc++", "-x", Value::Joined("c++"), Lang),
        ("-x", "-x", Value::Next, Lang),
        ("-DX=1", "-D", Value::Joined("X=1"), Cpp),
        ("-I", "-I", Value::Next, Cpp),
        ("-include", "-include", Value::Next, CppFiles),
        (
            "-includefoo.h",
            "-include",
            Value::Joined("foo.h"),
            CppFiles,
        ),
        ("-imacros", "-imacros", Value::Next, CppFiles),
        ("-isystem/usr/x", "-isystem", Value::Joined("/usr/x"), Cpp),
        ("-iwithprefixbefore", "-iwithprefixbefore", Value::Next, Cpp),
        ("-isysroot", "-isysroot", Value::Next, Safe),
        ("-nostdinc++", "-nostdinc++", Value::Absent, Cpp),
        ("-Wp,-MD,x.d", "-Wp,", Value::Joined("-MD,x.d"), CppFiles),
        ("-MD", "-MD", Value::Absent, Deps(MD)),
        ("-MFdeps.d", "-MF", Value::Joined("deps.d"), Deps(MF)),
        ("-MQ", "-MQ", Value::Next, Deps(MQ)),
        (
            "-finput-charset=latin1",
            "-finput-charset=",
            Value::Joined("latin1"),
            Cpp,
        ),
        ("-O2", "-O", Value::Joined("2"), GENERIC),
        ("-O", "-O", Value::Joined(""), GENERIC),
        ("-Wall", "-W", Value::Joined("all"), GENERIC),
        ("-Wl,-z,now", "-Wl,", Value::Joined("-z,now"), LinkerText),
        ("-fPIC", "-f", Value::Joined("PIC"), GENERIC),
        ("-std=c++17", "-std=", Value::Joined("c++17"), Safe),
        ("--param", "--param", Value::Next, Safe),
        (
            "--param=max-inline-insns=3",
            "--param",
            Value::Joined("max-inline-insns=3"),
            Safe,
        ),
        ("--sysroot=/s", "--sysroot", Value::Joined("/s"), Safe),
        ("-trigraphs", "-trigraphs", Value::Absent, Safe),
        ("-undef", "-undef", Value::Absent, Cpp),
        ("-lm", "-l", Value::Joined("m"), Link),
        (
            "-save-temps=obj",
            "-save-temps",
            Value::Joined("=obj"),
            l("writes intermediate files next to the output"),
        ),
        (
            "-fdump-tree-all",
            "-fdump-",
            Value::Joined("tree-all"),
            DUMP,
        ),
        (
            "-fprofile-arcs",
            "-fprofile",
            Value::Joined("-arcs"),
            PROFILE,
        ),
        (
            "-fprofile-use=/p",
            "-fprofile",
            Value::Joined("-use=/p"),
            PROFILE,
        ),
        ("-march=native", "-march=native", Value::Absent, LOCAL_CPU),
        (
            "-march=haswell",
            "-march=",
            Value::Joined("haswell"),
            Class::Check(NotNative),
        ),
        ("-Xclang", "-Xclang", Value::Next, OPAQUE),
        ("-B/opt/bin", "-B", Value::Joined("/opt/bin"), TOOLCHAIN),
        (
            "-gsplit-dwarf",
            "-gsplit-dwarf",
            Value::Absent,
            Class::SplitDwarf,
        ),
        (
            "-gsplit-dwarf=split",
            "-gsplit-dwarf=",
            Value::Joined("split"),
            l("writes a .dwo file next to the object"),
        ),
        ("-g3", "-g", Value::Joined("3"), GENERIC),
        ("-dM", "-dM", Value::Absent, Cpp),
        ("-dA", "-dA", Value::Absent, Safe),
        ("-dumpversion", "-dumpversion", Value::Absent, INFO),
    ];
    for (arg, name, value, class) in rows {
        let (flag, v) = lookup(arg).unwrap_or_else(|| panic!("{arg} unknown"));
        assert_eq!((flag.name, v, flag.class), (*name, *value, *class), "{arg}");
    }
    assert!(lookup("--frobnicate").is_none());
    assert!(lookup("-Zfoo").is_none());
    assert!(lookup("--param-x").is_none());
    assert!(lookup("-cfoo").is_none());
}

#[test]
fn argument_checks() {
    let wa = lookup("-Wa,x").unwrap().0;
    assert_eq!(
        wa.classify(Some("--noexecstack,-mrelax-relocations=no")),
        Safe
    );
    assert!(matches!(
        wa.classify(Some("--noexecstack,-adhln=x.lst")),
        Local(_)
    ));
    assert!(matches!(wa.classify(Some("--MD,x.d")), Local(_)));
    assert!(matches!(wa.classify(Some("-I/inc")), Local(_)));
    assert!(matches!(wa.classify(Some("-march=native")), Local(_)));
    let xa = lookup("-Xassembler").unwrap().0;
    assert_eq!(xa.classify(Some("--64")), Safe);
    assert!(matches!(xa.classify(Some("-o,x")), Local(_)));
    let oi = lookup("-fopt-info-vec").unwrap().0;
    assert_eq!(oi.classify(Some("-vec")), Safe);
    assert!(matches!(oi.classify(Some("-vec=out.txt")), Local(_)));
    let mcpu = lookup("-mcpu=native+crc").unwrap().0;
    assert!(matches!(mcpu.classify(Some("native+crc")), Local(_)));
    assert_eq!(mcpu.classify(Some("cortex-a53")), Safe);
    assert_eq!(lookup("-fPIC").unwrap().0.classify(Some("PIC")), Safe);
    let f = lookup("-ffuture=x").unwrap().0;
    assert!(matches!(f.classify(Some("future=/etc/x")), Local(_)));
    assert_eq!(f.classify(Some("future=x")), Safe);
    let seed = lookup("-frandom-seed=out/x.o").unwrap().0;
    assert_eq!(seed.classify(Some("out/x.o")), Safe);
}

#[test]
fn server_safety() {
    for (arg, ok) in [
        ("-O2", true),
        ("-I/x", true),
        ("-DX", true),
        ("-c", true),
        ("-S", true),
        ("-o", true),
        ("-lm", true),
        ("-E", false),
        ("-include", false),
        ("-Wp,-MD,x", false),
        ("-MD", false),
        ("-MF", false),
        ("-x", false),
        ("-B/x", false),
        ("-fplugin=x.so", false),
        ("-save-temps", false),
    ] {
        let (flag, v) = lookup(arg).unwrap();
        let val = match v {
            Value::Joined(s) => Some(s),
            _ => None,
        };
        assert_eq!(flag.classify(val).server_safe(), ok, "{arg}");
    }
}

#[test]
fn no_duplicate_rows() {
    for (i, a) in FLAGS.iter().enumerate() {
        for b in &FLAGS[i + 1..] {
            assert!(
                a.name != b.name || a.shape != b.shape,
                "duplicate {}",
                a.name
            );
        }
    }
}

/// `lookup` relies on it: a binary search needs sorted, unique names.
#[test]
fn table_is_sorted_and_free_of_duplicates() {
    for pair in FLAGS.windows(2) {
        assert!(
            pair[0].name.as_bytes() < pair[1].name.as_bytes(),
            "{:?} must come before {:?}, once",
            pair[1].name,
            pair[0].name
        );
    }
    assert_eq!(LONGEST, FLAGS.iter().map(|f| f.name.len()).max().unwrap());
}

/// The binary searches find what a scan of every row, longest name first,
/// finds: for every name alone, with arguments glued on, and for words
/// that are no option.
#[test]
fn lookup_agrees_with_a_scan_of_every_row() {
    fn scan(arg: &str) -> Option<(&'static Flag, Value<'_>)> {
        let mut best: Option<(&'static Flag, Value<'_>)> = None;
        for flag in FLAGS {
            if let Some(value) = matches(flag, arg) {
                if best.is_none_or(|(b, _)| flag.name.len() > b.name.len()) {
                    best = Some((flag, value));
                }
            }
        }
        best
    }
    let mut words: Vec<String> = Vec::new();
    for flag in FLAGS {
        for tail in ["", "x", "=x", "=/p", "native", "-y", "é"] {
            words.push(format!("{}{tail}", flag.name));
        }
    }
    // Every shorter spelling of a name, alone and with another name's
    // tail, where a search that skipped a shorter name would show.
    for flag in FLAGS {
        for k in 1..flag.name.len() {
            words.push(flag.name[..k].to_string());
            words.push(format!("{}é", &flag.name[..k]));
            words.push(format!(
                "{}{}",
                &flag.name[..k],
                &flag.name[k..].replace('-', "+")
            ));
        }
    }
    words.extend(["", "-", "--", "x.c", "-ö", "é-c", "--frobnicate"].map(String::from));
    for w in &words {
        let got = lookup(w).map(|(f, v)| (f.name, v));
        let want = scan(w).map(|(f, v)| (f.name, v));
        assert_eq!(got, want, "{w:?}");
    }
}

/// The path column: what each kind of path-carrying option is, for every
/// spelling the table knows.
#[test]
fn path_column() {
    use PathArg::Output as Written;
    for (arg, want) in [
        ("-Iinc", Some(SearchDir)),
        ("--include-directory=inc", Some(SearchDir)),
        ("-isystem", Some(SearchDir)),
        ("-iquote", Some(SearchDir)),
        ("-idirafter", Some(SearchDir)),
        ("-include", Some(Include)),
        ("--imacros=m.h", Some(Include)),
        ("--sysroot=/s", Some(Sysroot)),
        ("-isysroot", Some(Sysroot)),
        ("-ffile-prefix-map=/a=b", Some(PrefixMap)),
        ("-fdebug-prefix-map=/a=b", Some(PrefixMap)),
        ("-fmacro-prefix-map=/a=b", Some(PrefixMap)),
        ("-ox.o", Some(Written)),
        ("--output=x.o", Some(Written)),
        ("-MF", Some(Written)),
        ("-Wp,-MD,x.d", Some(CppText)),
        ("-Xpreprocessor", Some(CppText)),
        ("-B/opt", Some(Other)),
        ("-specs=x", Some(Other)),
        ("-L/lib", Some(Other)),
        ("-O2", None),
        ("-DX=/p", None),
        ("-MT", None),
        ("-march=native", None),
    ] {
        let (flag, _) = lookup(arg).unwrap_or_else(|| panic!("{arg} unknown"));
        assert_eq!(flag.path, want, "{arg}");
    }
}
