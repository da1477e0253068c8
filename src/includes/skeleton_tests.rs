//! Skeleton building: which directives are kept, conditional links, the
//! guard idiom, and the byte encoding.

use super::*;
use crate::includes::macros::DefSource;

fn build(src: &str) -> (Skeleton, Interner) {
    let mut int = Interner::new();
    let sk = Skeleton::build(src.as_bytes(), &mut int);
    (sk, int)
}

fn kinds(sk: &Skeleton) -> Vec<DirKind> {
    sk.dirs.iter().map(|d| d.kind).collect()
}

#[test]
fn keeps_what_decides_the_file_set() {
    let (sk, _) = build(
        "#include \"a.h\"\n#warning w\n#pragma once\n#pragma GCC system_header\n\
         #define X 1\n#undef X\n#ident \"x\"\n#if X\n#elif Y\n#else\n#endif\n\
         #pragma push_macro(\"X\")\n#pragma pop_macro(\"X\")\n#error e\n# 12 \"f.c\"\n\
         #pragma GCC dependency \"d.y\"\n#import <m.h>\n#include_next <n.h>\n",
    );
    use DirKind::*;
    assert_eq!(
        kinds(&sk),
        vec![
            Include,
            PragmaOnce,
            Define,
            Undef,
            If,
            Elif,
            Else,
            Endif,
            PushMacro,
            PopMacro,
            Error,
            Line,
            Dependency,
            Import,
            IncludeNext
        ]
    );
    assert_eq!(sk.defs.len(), 1);
    assert!(sk.balanced);
}

#[test]
fn digest_is_sha256_of_the_bytes() {
    let (sk, _) = build("abc");
    assert_eq!(
        sk.digest[..4],
        [0xba, 0x78, 0x16, 0xbf],
        "SHA-256(\"abc\") starts ba7816bf"
    );
    assert_eq!(sk.size, 3);
}

#[test]
fn conditionals_are_linked() {
    let (sk, _) = build("#if A\n#if B\n#endif\n#elif C\n#else\n#endif\n");
    let next: Vec<u32> = sk.dirs.iter().map(|d| d.next).collect();
    assert_eq!(next, vec![3, 2, 1, 4, 5, 4]);
    let (sk, _) = build("#endif\n");
    assert!(!sk.balanced);
    let (sk, _) = build("#if 1\n");
    assert!(!sk.balanced);
}

#[test]
fn guard_idioms() {
    for src in [
        "// c\n#ifndef G\n#define G\n#include \"x.h\"\n#endif\n",
        "#if !defined G\n#define G\n#endif\n",
        "#if !defined(G)\n#define G\n#endif /* G */\nint trailing;\n",
    ] {
        let (sk, mut int) = build(src);
        assert_eq!(sk.guard, Some(int.intern(b"G")), "{src}");
    }
    for src in [
        "#ifndef G\n#define G\n#endif\n#include \"after.h\"\n",
        "#ifndef G\n#define G\n#else\n#endif\n",
        "#pragma once\n#ifndef G\n#endif\n",
        "#if !defined(G) && 1\n#endif\n",
    ] {
        assert_eq!(build(src).0.guard, None, "{src}");
    }
}

#[test]
fn pragma_arguments() {
    let (sk, mut int) = build("_Pragma(\"push_macro(\\\"M\\\")\")\n#pragma pop_macro(\"M\")\n");
    let m = int.intern(b"M").0;
    assert_eq!(sk.dirs[0].kind, DirKind::PushMacro);
    assert_eq!(sk.dirs[0].arg, m);
    assert_eq!(sk.dirs[1].arg, m);
}

#[test]
fn encoding_round_trips_into_another_interner() {
    let src = "#ifndef G\n#define G\n#define F(a, ...) a ## __VA_ARGS__ #a\n#include <x.h>\n\
               #ifdef F\n#undef F\n#endif\n#pragma push_macro(\"G\")\n#endif\n";
    let (sk, int) = build(src);
    let bytes = sk.encode(&int);
    let mut other = Interner::new();
    other.intern(b"offset the symbols");
    let back = Skeleton::decode(&bytes, &mut other).unwrap();
    assert_eq!(back.digest, sk.digest);
    assert_eq!(back.size, sk.size);
    assert_eq!(kinds(&back), kinds(&sk));
    assert_eq!(
        back.guard.map(|g| other.get(g).to_vec()),
        Some(b"G".to_vec())
    );
    assert_eq!(back.defs.len(), 2);
    let spell = |i: &Interner, s: Sym| i.get(s).to_vec();
    for (a, b) in back.defs.iter().zip(&sk.defs) {
        assert_eq!(spell(&other, a.name), spell(&int, b.name));
        assert_eq!(
            (a.fn_like, a.variadic, a.pastes),
            (b.fn_like, b.variadic, b.pastes)
        );
        assert_eq!((a.params, a.body), (b.params, b.body));
    }
    let f = back.def(1).unwrap();
    assert!(f.fn_like && f.variadic && f.pastes);
    assert_eq!(f.params.len(), 2);
    assert_eq!(f.body[0].kind, Kind::Param);
    for (a, b) in back.toks.iter().zip(&sk.toks) {
        assert_eq!((a.kind, a.flags), (b.kind, b.flags));
        if a.kind != Kind::Param {
            assert_eq!(spell(&other, a.sym), spell(&int, b.sym));
        }
    }
    let names: Vec<_> = back.dirs.iter().map(|d| (d.next, d.line)).collect();
    let orig: Vec<_> = sk.dirs.iter().map(|d| (d.next, d.line)).collect();
    assert_eq!(names, orig);
    assert_eq!(other.get(Sym(back.dirs[5].arg)), b"F");
    // The encoding is stable: decoding then encoding gives the same bytes.
    assert_eq!(back.encode(&other), bytes);
    for cut in [0, 5, bytes.len() / 2, bytes.len() - 1] {
        assert!(Skeleton::decode(&bytes[..cut], &mut other).is_none());
    }
}
