//! The probe: parsing of a compiler's outputs, the byte encoding, and
//! real runs of gcc and clang where they are installed.

use super::*;

const STDERR: &str = "Using built-in specs.\n\
#include \"...\" search starts here:\n\
#include <...> search starts here:\n \
/usr/lib/gcc/x86_64-linux-gnu/12/include\n \
/usr/local/include\n \
/usr/include\n\
End of search list.\n";

#[test]
fn parses_macros_dirs_specials_and_preincludes() {
    let out =
        format!("#define __GNUC__ 12\n#define {MARK}0 1\n#define __STDC__ 1\n#define {MARK}21 1\n");
    let deps = b"probe.o: /tmp/x/probe.h /usr/include/stdc-predef.h\n";
    let i = parse(
        out.as_bytes(),
        STDERR.as_bytes(),
        deps,
        Path::new("/tmp/x/probe.h"),
        Lang::C,
    );
    assert_eq!(i.family, Family::Gcc);
    assert_eq!(i.predefined, b"#define __GNUC__ 12\n#define __STDC__ 1\n");
    assert_eq!(i.specials, vec!["__has_include", "__FILE__"]);
    assert_eq!(i.dirs.len(), 3);
    assert_eq!(i.dirs[2], Path::new("/usr/include"));
    assert_eq!(i.preincludes, vec![b"stdc-predef.h".to_vec()]);
    let back = CompilerInfo::decode(&i.encode()).unwrap();
    assert_eq!(back, i);
    assert!(CompilerInfo::decode(&i.encode()[1..]).is_none());
}

#[test]
fn flags_that_reach_the_probe() {
    for f in [
        "-std=c++17",
        "-m32",
        "-fPIC",
        "-O2",
        "--sysroot=/x",
        "-nostdinc",
        "-undef",
        "-ansi",
        "-pthread",
        "-target",
    ] {
        assert!(affects_probe(f), "{f}");
    }
    for f in ["-I.", "-DX", "-c", "-o", "-Wall", "-g", "-MD", "-include"] {
        assert!(!affects_probe(f), "{f}");
    }
}

fn real(compiler: &str, flags: &[&str], lang: Lang) -> Option<CompilerInfo> {
    let flags: Vec<OsString> = flags.iter().map(OsString::from).collect();
    match probe(Path::new(compiler), &flags, lang) {
        Ok(i) => Some(i),
        Err(e) => {
            eprintln!("SKIPPED: {compiler}: {e:#}");
            None
        }
    }
}

#[test]
fn real_gcc() {
    let Some(c) = real("gcc", &[], Lang::C) else {
        return;
    };
    assert_eq!(c.family, Family::Gcc);
    assert!(c.specials.iter().any(|s| s == "__has_include"));
    assert!(!c.dirs.is_empty());
    assert!(!String::from_utf8_lossy(&c.predefined).contains("__cplusplus"));
    let cxx = real("gcc", &["-std=gnu++17"], Lang::Cxx).unwrap();
    assert!(String::from_utf8_lossy(&cxx.predefined).contains("#define __cplusplus 201703L"));
    assert!(cxx.dirs.len() > c.dirs.len(), "C++ adds its library dirs");
    let o2 = real("gcc", &["-O2"], Lang::C).unwrap();
    assert!(String::from_utf8_lossy(&o2.predefined).contains("#define __OPTIMIZE__ 1"));
    assert_ne!(o2.id, c.id);
    let none = real("gcc", &["-nostdinc"], Lang::C).unwrap();
    assert!(none.dirs.is_empty());
    assert!(none.preincludes.is_empty());
    assert!(none.absent_dirs.is_empty());
}

#[test]
fn real_gcc_places_its_skipped_dirs() {
    let Some(c) = real("gcc", &[], Lang::C) else {
        return;
    };
    for s in &c.absent_dirs {
        assert!(s.before as usize <= c.dirs.len(), "{s:?}");
        // A multiarch dir (`/usr/local/include/<triplet>`) comes right
        // before its base dir in gcc's defaults.
        if let Some(i) = c.dirs.iter().position(|d| s.path.parent() == Some(d)) {
            assert_eq!(s.before as usize, i, "{s:?} in {:?}", c.dirs);
        }
    }
}

#[test]
fn real_clang() {
    let Some(c) = real("clang", &[], Lang::C) else {
        return;
    };
    assert_eq!(c.family, Family::Clang);
    assert!(c.specials.iter().any(|s| s == "__has_feature"));
    assert!(!c.dirs.is_empty());
}

#[test]
fn cache_asks_once() {
    let mut cache = ProbeCache::default();
    let Ok(a) = cache.get(Path::new("gcc"), &[], Lang::C) else {
        eprintln!("SKIPPED: no gcc");
        return;
    };
    let b = cache.get(Path::new("gcc"), &[], Lang::C).unwrap();
    assert!(Rc::ptr_eq(&a, &b));
}

#[test]
fn real_gcc_answers_builtin_calls() {
    if real("gcc", &[], Lang::C).is_none() {
        return;
    }
    let q = |s: &str| s.as_bytes().to_vec();
    let queries = [
        q("__has_builtin(__builtin_expect)"),
        q("__has_builtin(__no_such_builtin)"),
        // gcc rejects this one: it alone stays unanswered.
        q("__has_attribute(\"packed\")"),
        q("__has_cpp_attribute(gnu::cold)"),
    ];
    let flags = [OsString::from("-std=gnu++17")];
    let a = answer_builtins(Path::new("gcc"), &flags, Lang::Cxx, &queries);
    assert_eq!(a.len(), 4);
    assert_eq!(a[0], Some(1));
    assert_eq!(a[1], Some(0));
    assert_eq!(a[2], None);
    assert!(a[3].is_some_and(|v| v > 0), "{a:?}");
    assert!(answer_builtins(Path::new("gcc"), &[], Lang::C, &[]).is_empty());
}

#[test]
fn compiler_runs_leave_the_users_dependency_files_alone() {
    let cmd = macros_of(Path::new("gcc"), &[], Lang::C, Path::new("."));
    let removed: Vec<_> = cmd
        .get_envs()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.to_owned())
        .collect();
    for var in ["DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES", "CPATH"] {
        assert!(removed.iter().any(|k| k == var), "{var} is removed");
    }
}
