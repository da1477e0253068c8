//! A file's directive skeleton: its SHA-256 (the digest exact mode's
//! hashed protocol uses) and the directives that can change which files
//! the preprocessor reads, in order, with their tokens; macro definitions
//! already parsed; each conditional linked to its next sibling so a
//! skipped group costs one step; the include-guard macro when the whole
//! file is one `#ifndef X ... #endif`. Built once per file content and
//! shared by every unit that reads the file; `encode`/`decode` give the
//! bytes a cross-process cache keeps.

use std::rc::Rc;

use sha2::{Digest, Sha256};

use super::codec::{Reader, Writer};
use super::lex::{destringize, lex, Lexed, RawLine};
use super::macros::{parse_define, Macro};
use super::token::{sym, Interner, Kind, Sym, Tok, P};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirKind {
    Include,
    IncludeNext,
    Import,
    /// `arg`: index in `Skeleton::macros`; `start`: the name's token.
    Define,
    /// `arg`: the name.
    Undef,
    If,
    /// `arg`: the name, or `NO_NAME`.
    Ifdef,
    Ifndef,
    Elif,
    Elifdef,
    Elifndef,
    Else,
    Endif,
    PragmaOnce,
    /// `arg`: the macro's name.
    PushMacro,
    PopMacro,
    /// `#pragma GCC dependency "file"`: the compiler looks the file up.
    Dependency,
    /// `#line` or a line marker: `__LINE__`/`__FILE__` no longer known.
    Line,
    Error,
    Embed,
}

pub const NO_NAME: u32 = u32::MAX;
pub const NO_NEXT: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dir {
    pub kind: DirKind,
    pub line: u32,
    /// The operand tokens: `Skeleton::toks[start..end]`.
    pub start: u32,
    pub end: u32,
    /// For a conditional: the index of the next `#elif`/`#else`/`#endif`
    /// of the same chain (for `#endif`, of its `#if`).
    pub next: u32,
    pub arg: u32,
}

#[derive(Debug)]
pub struct Skeleton {
    pub digest: [u8; 32],
    pub size: u64,
    pub toks: Vec<Tok>,
    pub dirs: Vec<Dir>,
    pub macros: Vec<(Sym, Rc<Macro>)>,
    /// The include guard, when every directive sits in `#ifndef X`.
    pub guard: Option<Sym>,
    pub trigraphs: bool,
    /// Every conditional has its `#endif` and vice versa.
    pub balanced: bool,
}

impl Skeleton {
    pub fn build(bytes: &[u8], int: &mut Interner) -> Skeleton {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        let lexed = lex(bytes, int);
        Skeleton::from_lexed(digest, bytes.len() as u64, lexed, int)
    }

    pub fn operands(&self, d: &Dir) -> &[Tok] {
        &self.toks[d.start as usize..d.end as usize]
    }

    fn from_lexed(digest: [u8; 32], size: u64, lexed: Lexed, int: &mut Interner) -> Skeleton {
        let mut sk = Skeleton {
            digest,
            size,
            toks: Vec::new(),
            dirs: Vec::new(),
            macros: Vec::new(),
            guard: None,
            trigraphs: lexed.trigraphs,
            balanced: true,
        };
        for l in &lexed.lines {
            sk.add_line(&lexed, l, int);
        }
        sk.finish();
        sk
    }

    fn finish(&mut self) {
        self.link_conditionals();
        self.guard = self.find_guard();
    }

    fn add_line(&mut self, lx: &Lexed, l: &RawLine, int: &mut Interner) {
        let toks = &lx.toks[l.start as usize..l.end as usize];
        let Some(name) = toks.first() else { return };
        let ops = &toks[1..];
        let mut arg = 0;
        let kind = match (name.kind, name.sym) {
            (Kind::Number, _) => DirKind::Line,
            (Kind::Ident, s) => match s {
                sym::INCLUDE => DirKind::Include,
                sym::INCLUDE_NEXT => DirKind::IncludeNext,
                sym::IMPORT => DirKind::Import,
                sym::DEFINE => match parse_define(ops) {
                    Some((name, m)) => {
                        arg = self.macros.len() as u32;
                        self.macros.push((name, Rc::new(m)));
                        DirKind::Define
                    }
                    None => return,
                },
                sym::UNDEF => match ops.first() {
                    Some(t) if t.kind == Kind::Ident => {
                        arg = t.sym.0;
                        DirKind::Undef
                    }
                    _ => return,
                },
                sym::IF => DirKind::If,
                sym::ELIF => DirKind::Elif,
                sym::IFDEF | sym::IFNDEF | sym::ELIFDEF | sym::ELIFNDEF => {
                    arg = match ops.first() {
                        Some(t) if t.kind == Kind::Ident => t.sym.0,
                        _ => NO_NAME,
                    };
                    match s {
                        sym::IFDEF => DirKind::Ifdef,
                        sym::IFNDEF => DirKind::Ifndef,
                        sym::ELIFDEF => DirKind::Elifdef,
                        _ => DirKind::Elifndef,
                    }
                }
                sym::ELSE => DirKind::Else,
                sym::ENDIF => DirKind::Endif,
                sym::LINE => DirKind::Line,
                sym::ERROR => DirKind::Error,
                sym::EMBED => DirKind::Embed,
                sym::PRAGMA => match pragma(ops, int) {
                    Some((k, a)) => {
                        arg = a;
                        k
                    }
                    None => return,
                },
                _ => return,
            },
            _ => return,
        };
        let start = self.toks.len() as u32;
        self.toks.extend_from_slice(ops);
        self.dirs.push(Dir {
            kind,
            line: l.line,
            start,
            end: self.toks.len() as u32,
            next: NO_NEXT,
            arg,
        });
    }

    fn link_conditionals(&mut self) {
        let mut open: Vec<usize> = Vec::new();
        for i in 0..self.dirs.len() {
            match self.dirs[i].kind {
                DirKind::If | DirKind::Ifdef | DirKind::Ifndef => open.push(i),
                DirKind::Elif | DirKind::Elifdef | DirKind::Elifndef | DirKind::Else => {
                    match open.last_mut() {
                        Some(top) => {
                            self.dirs[*top].next = i as u32;
                            *top = i;
                        }
                        None => self.balanced = false,
                    }
                }
                DirKind::Endif => match open.pop() {
                    Some(top) => {
                        self.dirs[top].next = i as u32;
                        // For an #endif, `next` points back at the chain's head.
                        self.dirs[i].next = top as u32;
                    }
                    None => self.balanced = false,
                },
                _ => {}
            }
        }
        if !open.is_empty() {
            self.balanced = false;
        }
    }

    /// `#ifndef X` (or `#if !defined X`, `#if !defined(X)`) first, its
    /// `#endif` last, nothing else in its chain.
    fn find_guard(&self) -> Option<Sym> {
        let first = self.dirs.first()?;
        let last = self.dirs.len() - 1;
        if !self.balanced || first.next != last as u32 || self.dirs[last].kind != DirKind::Endif {
            return None;
        }
        match first.kind {
            DirKind::Ifndef if first.arg != NO_NAME => Some(Sym(first.arg)),
            DirKind::If => {
                let t = self.operands(first);
                let shape =
                    |s: &[Tok]| s.len() >= 3 && s[0].is(P::Not) && s[1].is_ident(sym::DEFINED);
                if t.len() == 3 && shape(t) && t[2].kind == Kind::Ident {
                    Some(t[2].sym)
                } else if t.len() == 5
                    && shape(t)
                    && t[2].is(P::LParen)
                    && t[3].kind == Kind::Ident
                    && t[4].is(P::RParen)
                {
                    Some(t[3].sym)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    pub fn encode(&self, int: &Interner) -> Vec<u8> {
        let mut w = Writer::new(MAGIC);
        w.bytes(&self.digest);
        w.u64(self.size);
        w.u64(self.trigraphs as u64);
        w.toks(&self.toks, int);
        w.u64(self.dirs.len() as u64);
        for d in &self.dirs {
            w.u64(KINDS.iter().position(|k| *k == d.kind).unwrap() as u64);
            w.u64(d.line as u64);
            w.u64(d.start as u64);
            w.u64(d.end as u64);
            match d.kind {
                DirKind::Define => w.u64(0),
                _ if d.arg == NO_NAME => w.u64(0),
                _ if has_sym_arg(d.kind) => {
                    let s = int.get(Sym(d.arg));
                    w.u64(s.len() as u64 + 1);
                    w.bytes(s);
                }
                _ => w.u64(0),
            }
        }
        w.finish()
    }

    /// The inverse of `encode`; None for bytes it did not write.
    pub fn decode(bytes: &[u8], int: &mut Interner) -> Option<Skeleton> {
        let mut r = Reader::new(bytes, MAGIC)?;
        let digest: [u8; 32] = r.bytes(32)?.try_into().ok()?;
        let size = r.u64()?;
        let trigraphs = r.u64()? != 0;
        let toks = r.toks(int)?;
        let n = r.u64()? as usize;
        let mut sk = Skeleton {
            digest,
            size,
            toks,
            dirs: Vec::with_capacity(n.min(bytes.len())),
            macros: Vec::new(),
            guard: None,
            trigraphs,
            balanced: true,
        };
        for _ in 0..n {
            let kind = *KINDS.get(r.u64()? as usize)?;
            let line = r.u64()? as u32;
            let (start, end) = (r.u64()? as u32, r.u64()? as u32);
            if start > end || end as usize > sk.toks.len() {
                return None;
            }
            let arg = match r.u64()? as usize {
                0 => NO_NAME,
                len => int.intern(r.bytes(len - 1)?).0,
            };
            let arg = match kind {
                DirKind::Define => {
                    let (name, m) = parse_define(&sk.toks[start as usize..end as usize])?;
                    sk.macros.push((name, Rc::new(m)));
                    sk.macros.len() as u32 - 1
                }
                _ if has_sym_arg(kind) => arg,
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
        r.end()?;
        sk.finish();
        Some(sk)
    }
}

const MAGIC: &[u8] = b"distcc-skeleton-1";

/// Encoding order of `DirKind`.
const KINDS: &[DirKind] = &[
    DirKind::Include,
    DirKind::IncludeNext,
    DirKind::Import,
    DirKind::Define,
    DirKind::Undef,
    DirKind::If,
    DirKind::Ifdef,
    DirKind::Ifndef,
    DirKind::Elif,
    DirKind::Elifdef,
    DirKind::Elifndef,
    DirKind::Else,
    DirKind::Endif,
    DirKind::PragmaOnce,
    DirKind::PushMacro,
    DirKind::PopMacro,
    DirKind::Dependency,
    DirKind::Line,
    DirKind::Error,
    DirKind::Embed,
];

fn has_sym_arg(k: DirKind) -> bool {
    matches!(
        k,
        DirKind::Undef
            | DirKind::Ifdef
            | DirKind::Ifndef
            | DirKind::Elifdef
            | DirKind::Elifndef
            | DirKind::PushMacro
            | DirKind::PopMacro
    )
}

/// The pragmas that matter; others are dropped.
fn pragma(ops: &[Tok], int: &mut Interner) -> Option<(DirKind, u32)> {
    let first = ops.first()?;
    if first.is_ident(sym::ONCE) {
        return Some((DirKind::PragmaOnce, 0));
    }
    if first.is_ident(sym::PUSH_MACRO) || first.is_ident(sym::POP_MACRO) {
        // push_macro("NAME"): gcc ignores a malformed one.
        let ok = ops.len() >= 4
            && ops[1].is(P::LParen)
            && ops[2].kind == Kind::Str
            && ops[3].is(P::RParen);
        if !ok {
            return None;
        }
        let lit = int.get(ops[2].sym);
        if !lit.starts_with(b"\"") {
            return None;
        }
        let name = destringize(lit);
        let s = int.intern(&name);
        let k = if first.sym == sym::PUSH_MACRO {
            DirKind::PushMacro
        } else {
            DirKind::PopMacro
        };
        return Some((k, s.0));
    }
    if first.is_ident(sym::GCC) && ops.get(1).is_some_and(|t| t.is_ident(sym::DEPENDENCY)) {
        return Some((DirKind::Dependency, 0));
    }
    None
}

#[cfg(test)]
#[path = "skeleton_tests.rs"]
mod tests;
