//! A skeleton's byte form, as the cross-process cache keeps it. Decoding
//! is the main cost of a warm job (a new process decodes every skeleton
//! it walks), so the form is made for it: each distinct spelling once
//! (the only interning), then tokens and directives as fixed-width
//! records, read in tight loops. Conditional links and the include guard
//! are recomputed (a few steps per directive), so no stored index can
//! send a walk backwards; definitions are kept parsed.
//!
//! ```text
//! magic[8] digest[32] size:u64 flags:u32 ntable:u32 ntoks:u32 ndirs:u32
//!   ndefs:u32 nparams:u32
//! table:  ntable x (len:u32, bytes)
//! toks:   ntoks  x (kind:u8, flags:u8, pad:u16, spelling:u32)
//!                   -- a parameter's is its index, not a spelling
//! dirs:   ndirs  x (kind:u8, pad:u8[3], line:u32, start:u32, end:u32,
//!                   arg:u32)          -- arg: spelling + 1, or 0
//! defs:   ndefs  x (name:u32, flags:u32, params:u32 x 2, body:u32 x 2)
//! params: nparams x spelling:u32
//! ```
//!
//! Every count and index is checked against the bytes; anything else is
//! None and the caller reads the file again.

use super::skeleton::{has_sym_arg, Def, Dir, DirKind, Skeleton, KINDS, NO_NAME, NO_NEXT};
use super::token::{FxMap, Interner, Kind, Sym, Tok, P};

const MAGIC: &[u8; 8] = b"dccskel2";
const HEAD: usize = 8 + 32 + 8 + 6 * 4;
const TOK: usize = 8;
const DIR: usize = 20;
const DEF: usize = 24;

/// Every `P`, in discriminant order.
const PUNCTS: [P; 29] = [
    P::LParen,
    P::RParen,
    P::Comma,
    P::Not,
    P::Tilde,
    P::Plus,
    P::Minus,
    P::Star,
    P::Slash,
    P::Percent,
    P::Shl,
    P::Shr,
    P::Lt,
    P::Gt,
    P::Le,
    P::Ge,
    P::EqEq,
    P::Ne,
    P::Amp,
    P::Caret,
    P::Pipe,
    P::AndAnd,
    P::OrOr,
    P::Question,
    P::Colon,
    P::Hash,
    P::HashHash,
    P::Ellipsis,
    P::Other,
];

fn kind_code(k: Kind) -> u8 {
    match k {
        Kind::Ident => 0,
        Kind::Number => 1,
        Kind::Char => 2,
        Kind::Str => 3,
        Kind::Header => 4,
        Kind::Other => 5,
        Kind::Param => 6,
        Kind::Placemarker => 7,
        Kind::Punct(p) => 8 + p as u8,
    }
}

fn kind_of(code: u8) -> Option<Kind> {
    Some(match code {
        0 => Kind::Ident,
        1 => Kind::Number,
        2 => Kind::Char,
        3 => Kind::Str,
        4 => Kind::Header,
        5 => Kind::Other,
        6 => Kind::Param,
        7 => Kind::Placemarker,
        c => Kind::Punct(*PUNCTS.get(c as usize - 8)?),
    })
}

pub fn encode(sk: &Skeleton, int: &Interner) -> Vec<u8> {
    let mut index: FxMap<Sym, u32> = FxMap::default();
    let mut table: Vec<Sym> = Vec::new();
    let mut slot = |s: Sym| -> u32 {
        *index.entry(s).or_insert_with(|| {
            table.push(s);
            table.len() as u32 - 1
        })
    };
    let toks: Vec<u32> = sk
        .toks
        .iter()
        .map(|t| match t.kind {
            Kind::Param => t.sym.0,
            _ => slot(t.sym),
        })
        .collect();
    let names: Vec<u32> = sk.defs.iter().map(|d| slot(d.name)).collect();
    let params: Vec<u32> = sk.params.iter().map(|&p| slot(p)).collect();
    let args: Vec<u32> = sk
        .dirs
        .iter()
        .map(|d| match d.kind {
            DirKind::Define => d.arg,
            k if has_sym_arg(k) && d.arg != NO_NAME => slot(Sym(d.arg)) + 1,
            _ => 0,
        })
        .collect();
    let mut out = Vec::with_capacity(HEAD + sk.toks.len() * TOK + sk.dirs.len() * DIR);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&sk.digest);
    out.extend_from_slice(&sk.size.to_le_bytes());
    let flags = sk.trigraphs as u32;
    let counts = [
        table.len(),
        toks.len(),
        sk.dirs.len(),
        sk.defs.len(),
        params.len(),
    ];
    out.extend_from_slice(&flags.to_le_bytes());
    for v in counts {
        out.extend_from_slice(&(v as u32).to_le_bytes());
    }
    for s in &table {
        let b = int.get(*s);
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    }
    for (t, i) in sk.toks.iter().zip(toks) {
        out.extend_from_slice(&[kind_code(t.kind), t.flags, 0, 0]);
        out.extend_from_slice(&i.to_le_bytes());
    }
    for (d, arg) in sk.dirs.iter().zip(args) {
        let k = KINDS.iter().position(|k| *k == d.kind).unwrap() as u8;
        out.extend_from_slice(&[k, 0, 0, 0]);
        for v in [d.line, d.start, d.end, arg] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    for (d, name) in sk.defs.iter().zip(names) {
        let flags = d.fn_like as u32 | (d.variadic as u32) << 1 | (d.pastes as u32) << 2;
        for v in [name, flags, d.params.0, d.params.1, d.body.0, d.body.1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    for p in params {
        out.extend_from_slice(&p.to_le_bytes());
    }
    out
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Whether two images make the same walk: equal but for the content's
/// digest and size and, unless `lines`, the lines their directives stand
/// on. A walk sees a file only through its skeleton, and a directive's
/// line only through `__LINE__` (and the notes a scan leaves), so a file
/// edited outside its directives is walked as before.
pub fn same_walk(a: &[u8], b: &[u8], lines: bool) -> bool {
    let (Some(at), Some(bt)) = (dirs_at(a), dirs_at(b)) else {
        return false;
    };
    // The counts are compared with the flags, so the regions line up.
    if a.len() != b.len() || at != bt || a[..8] != b[..8] || a[48..at] != b[48..at] {
        return false;
    }
    // The directives, then the definitions and parameters, to the end.
    let len = |n: usize, each: usize, from: usize| n.checked_mul(each)?.checked_add(from);
    let end = len(u32_at(a, 60) as usize, DIR, at);
    let whole = end
        .and_then(|e| len(u32_at(a, 64) as usize, DEF, e))
        .and_then(|e| len(u32_at(a, 68) as usize, 4, e));
    let Some(end) = end.filter(|_| whole == Some(a.len())) else {
        return false;
    };
    let same_dir = |(x, y): (&[u8], &[u8])| {
        x[..4] == y[..4] && x[8..] == y[8..] && (!lines || x[4..8] == y[4..8])
    };
    a[at..end]
        .chunks_exact(DIR)
        .zip(b[at..end].chunks_exact(DIR))
        .all(same_dir)
        && a[end..] == b[end..]
}

/// Where an image's directives begin (after the spellings and tokens).
fn dirs_at(b: &[u8]) -> Option<usize> {
    if b.len() < HEAD || &b[..8] != MAGIC {
        return None;
    }
    let mut at = HEAD;
    for _ in 0..u32_at(b, 52) {
        let n = u32_at(b.get(at..at.checked_add(4)?)?, 0) as usize;
        at = at.checked_add(4)?.checked_add(n)?;
    }
    at.checked_add((u32_at(b, 56) as usize).checked_mul(TOK)?)
        .filter(|&e| e <= b.len())
}

/// The inverse of `encode`; None for bytes it did not write. Long because
/// every count and offset from the bytes is checked before it is used, in
/// the order `encode` wrote them: a cache file is untrusted input.
pub fn decode(b: &[u8], int: &mut Interner) -> Option<Skeleton> {
    if b.len() < HEAD || &b[..8] != MAGIC {
        return None;
    }
    let digest: [u8; 32] = b[8..40].try_into().ok()?;
    let size = u64::from_le_bytes(b[40..48].try_into().ok()?);
    let flags = u32_at(b, 48);
    let (ntable, ntoks, ndirs) = (
        u32_at(b, 52) as usize,
        u32_at(b, 56) as usize,
        u32_at(b, 60) as usize,
    );
    let (ndefs, nparams) = (u32_at(b, 64) as usize, u32_at(b, 68) as usize);
    let mut at = HEAD;
    // Each spelling takes at least its 4-byte length.
    if ntable > (b.len() - at) / 4 {
        return None;
    }
    let mut syms = Vec::with_capacity(ntable);
    for _ in 0..ntable {
        let n = u32_at(b.get(at..at + 4)?, 0) as usize;
        let s = b.get(at + 4..(at + 4).checked_add(n)?)?;
        syms.push(int.intern(s));
        at += 4 + n;
    }
    let toks_len = ntoks.checked_mul(TOK)?;
    let dirs_len = ndirs.checked_mul(DIR)?;
    let defs_len = ndefs.checked_mul(DEF)?;
    let params_len = nparams.checked_mul(4)?;
    let rest = [toks_len, dirs_len, defs_len, params_len];
    if b.len() - at != rest.iter().try_fold(0usize, |a, &n| a.checked_add(n))? {
        return None;
    }
    let mut toks = Vec::with_capacity(ntoks);
    for r in b[at..at + toks_len].chunks_exact(TOK) {
        let kind = kind_of(r[0])?;
        let i = u32_at(r, 4);
        let sym = match kind {
            Kind::Param => Sym(i),
            _ => *syms.get(i as usize)?,
        };
        toks.push(Tok::new(kind, sym, r[1]));
    }
    at += toks_len;
    let mut sk = Skeleton {
        digest,
        size,
        toks,
        dirs: Vec::with_capacity(ndirs),
        defs: Vec::with_capacity(ndefs),
        params: Vec::with_capacity(nparams),
        guard: None,
        trigraphs: flags & 1 != 0,
        balanced: true,
    };
    for r in b[at + dirs_len + defs_len..].chunks_exact(4) {
        sk.params.push(*syms.get(u32_at(r, 0) as usize)?);
    }
    for r in b[at + dirs_len..at + dirs_len + defs_len].chunks_exact(DEF) {
        let v = |k: usize| u32_at(r, k * 4);
        let (params, body) = ((v(2), v(3)), (v(4), v(5)));
        if params.0 > params.1 || params.1 as usize > nparams {
            return None;
        }
        if body.0 > body.1 || body.1 as usize > ntoks {
            return None;
        }
        // A parameter index past the parameters would fail substitution.
        let np = params.1 - params.0;
        let body_toks = &sk.toks[body.0 as usize..body.1 as usize];
        if body_toks
            .iter()
            .any(|t| t.kind == Kind::Param && t.sym.0 >= np)
        {
            return None;
        }
        sk.defs.push(Def {
            name: *syms.get(v(0) as usize)?,
            fn_like: v(1) & 1 != 0,
            variadic: v(1) & 2 != 0,
            pastes: v(1) & 4 != 0,
            params,
            body,
        });
    }
    for r in b[at..at + dirs_len].chunks_exact(DIR) {
        let kind = *KINDS.get(r[0] as usize)?;
        let (line, start, end, arg) = (u32_at(r, 4), u32_at(r, 8), u32_at(r, 12), u32_at(r, 16));
        if start > end || end as usize > ntoks {
            return None;
        }
        let arg = match kind {
            DirKind::Define if (arg as usize) < ndefs => arg,
            DirKind::Define => return None,
            k if has_sym_arg(k) && arg > 0 => syms.get(arg as usize - 1)?.0,
            k if has_sym_arg(k) => NO_NAME,
            _ => 0,
        };
        sk.dirs.push(Dir {
            kind,
            line,
            start,
            end,
            next: NO_NEXT,
            arg,
        });
    }
    sk.finish();
    Some(sk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuator_codes_are_discriminants() {
        for (i, p) in PUNCTS.iter().enumerate() {
            assert_eq!(*p as usize, i);
            assert_eq!(kind_of(kind_code(Kind::Punct(*p))), Some(Kind::Punct(*p)));
        }
        assert_eq!(kind_of(8 + PUNCTS.len() as u8), None);
    }

    fn image(src: &str) -> Vec<u8> {
        let mut int = Interner::new();
        encode(&Skeleton::build(src.as_bytes(), &mut int), &int)
    }

    #[test]
    fn an_edit_outside_the_directives_walks_the_same() {
        let was = image(
            "#ifndef G\n#define G\nint f(void);\n#if A > 1\n#include <x.h>\n#endif\n#endif\n",
        );
        // Other code, the same lines: the same walk, whatever `lines`.
        let same_lines = image(
            "#ifndef G\n#define G\nlong g(int);\n#if A > 1\n#include <x.h>\n#endif\n#endif\n",
        );
        assert_ne!(was, same_lines, "the digest and size differ");
        assert!(same_walk(&was, &same_lines, true));
        // A line more: the same walk unless the lines were asked.
        let moved = image("#ifndef G\n#define G\nint f(void);\nint h;\n#if A > 1\n#include <x.h>\n#endif\n#endif\n");
        assert!(same_walk(&was, &moved, false));
        assert!(!same_walk(&was, &moved, true));
        // Any directive changed: another walk.
        for other in [
            "#ifndef G\n#define G 1\nint f(void);\n#if A > 1\n#include <x.h>\n#endif\n#endif\n",
            "#ifndef G\n#define G\nint f(void);\n#if A > 2\n#include <x.h>\n#endif\n#endif\n",
            "#ifndef G\n#define G\nint f(void);\n#if A > 1\n#include <y.h>\n#endif\n#endif\n",
            "#ifndef G\n#define G\nint f(void);\n#if A > 1\n#include <x.h>\n#endif\n#endif\n#define H\n",
            "#ifndef G\n#define G\nint f(void);\n#if A > 1\n#include <x.h>\n#endif\n",
        ] {
            assert!(!same_walk(&was, &image(other), false), "{other:?}");
        }
        // Damaged or cut images never compare the same.
        for cut in 0..was.len() {
            assert!(!same_walk(&was, &was[..cut], false));
            assert!(!same_walk(&was[..cut], &was[..cut], false), "cut at {cut}");
        }
    }

    #[test]
    fn damaged_images_are_refused_or_harmless() {
        let mut int = Interner::new();
        let src = b"#ifndef G\n#define G\n#if A(1) > 2\n#include <x.h>\n#elif defined B\n#endif\n#undef C\n#endif\n";
        let sk = Skeleton::build(src, &mut int);
        let b = encode(&sk, &int);
        for cut in 0..b.len() {
            assert!(decode(&b[..cut], &mut int).is_none(), "cut at {cut}");
        }
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x41;
            // Never a panic; the pack's checks stop damage before this.
            let _ = decode(&bad, &mut int);
        }
        let back = decode(&b, &mut int).unwrap();
        assert_eq!(back.dirs, sk.dirs);
        assert_eq!(back.toks, sk.toks);
        assert_eq!(back.guard, sk.guard);
    }
}
