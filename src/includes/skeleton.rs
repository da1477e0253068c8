//! A file's directive skeleton: its SHA-256 (the digest exact mode's
//! hashed protocol uses) and the directives that can change which files
//! the preprocessor reads, in order, with their tokens (a definition
//! parsed, its body as its tokens: the macro table points here); each
//! conditional linked to its next sibling so a
//! skipped group costs one step; the include-guard macro when the whole
//! file is one `#ifndef X ... #endif`. Built once per file content and
//! shared by every unit that reads the file; `encode`/`decode` give the
//! bytes a cross-process cache keeps.

use sha2::{Digest, Sha256};

use super::lex::{destringize, lex, Lexed, RawLine};
use super::macros::{parse_define, DefSource, Macro, MacroRef};
use super::token::{sym, Interner, Kind, Sym, Tok, P};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirKind {
    Include,
    IncludeNext,
    Import,
    /// `arg`: index in `Skeleton::defs`; the tokens are the body.
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

/// A `#define` as parsed (see `Macro`); the body is `toks[body]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Def {
    pub name: Sym,
    pub fn_like: bool,
    pub variadic: bool,
    pub pastes: bool,
    /// `Skeleton::params[params.0..params.1]`.
    pub params: (u32, u32),
    pub body: (u32, u32),
}

/// A file's content digest, as skeletons and the wire name it.
pub fn digest_of(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[derive(Debug)]
pub struct Skeleton {
    pub digest: [u8; 32],
    pub size: u64,
    pub toks: Vec<Tok>,
    pub dirs: Vec<Dir>,
    /// Each `#define` gcc accepts.
    pub defs: Vec<Def>,
    /// The definitions' parameter names.
    pub params: Vec<Sym>,
    /// The include guard, when every directive sits in `#ifndef X`.
    pub guard: Option<Sym>,
    pub trigraphs: bool,
    /// Every conditional has its `#endif` and vice versa.
    pub balanced: bool,
}

impl Skeleton {
    pub fn build(bytes: &[u8], int: &mut Interner) -> Skeleton {
        Skeleton::build_digested(bytes, digest_of(bytes), int)
    }

    /// `build` of bytes whose digest (`digest_of`) the caller has.
    pub fn build_digested(bytes: &[u8], digest: [u8; 32], int: &mut Interner) -> Skeleton {
        let lexed = lex(bytes, int);
        Skeleton::from_lexed(digest, bytes.len() as u64, lexed, int)
    }

    pub fn operands(&self, d: &Dir) -> &[Tok] {
        &self.toks[d.start as usize..d.end as usize]
    }

    /// Keeps a parsed definition; its index, and its body's tokens.
    fn push_def(&mut self, name: Sym, m: &Macro) -> (u32, u32, u32) {
        let p = self.params.len() as u32;
        self.params.extend_from_slice(&m.params);
        let b = self.toks.len() as u32;
        self.toks.extend_from_slice(&m.body);
        self.defs.push(Def {
            name,
            fn_like: m.fn_like,
            variadic: m.variadic,
            pastes: m.pastes,
            params: (p, self.params.len() as u32),
            body: (b, self.toks.len() as u32),
        });
        (self.defs.len() as u32 - 1, b, self.toks.len() as u32)
    }

    fn from_lexed(digest: [u8; 32], size: u64, lexed: Lexed, int: &mut Interner) -> Skeleton {
        let mut sk = Skeleton {
            digest,
            size,
            toks: Vec::new(),
            dirs: Vec::new(),
            defs: Vec::new(),
            params: Vec::new(),
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

    pub(super) fn finish(&mut self) {
        self.link_conditionals();
        self.guard = self.find_guard();
    }

    fn add_line(&mut self, lx: &Lexed, l: &RawLine, int: &mut Interner) {
        let toks = &lx.toks[l.start as usize..l.end as usize];
        let Some(name) = toks.first() else { return };
        let ops = &toks[1..];
        let mut arg = 0;
        let mut body = None;
        let kind = match (name.kind, name.sym) {
            (Kind::Number, _) => DirKind::Line,
            (Kind::Ident, s) => match s {
                sym::INCLUDE => DirKind::Include,
                sym::INCLUDE_NEXT => DirKind::IncludeNext,
                sym::IMPORT => DirKind::Import,
                sym::DEFINE => match parse_define(ops) {
                    Some((name, m)) => {
                        let (i, b, e) = self.push_def(name, &m);
                        arg = i;
                        body = Some((b, e));
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
        let (start, end) = body.unwrap_or_else(|| {
            let start = self.toks.len() as u32;
            self.toks.extend_from_slice(ops);
            (start, self.toks.len() as u32)
        });
        self.dirs.push(Dir {
            kind,
            line: l.line,
            start,
            end,
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

    /// The byte form the cross-process cache keeps (`image`).
    pub fn encode(&self, int: &Interner) -> Vec<u8> {
        super::image::encode(self, int)
    }

    /// The inverse of `encode`; None for bytes it did not write.
    pub fn decode(bytes: &[u8], int: &mut Interner) -> Option<Skeleton> {
        super::image::decode(bytes, int)
    }
}

impl DefSource for Skeleton {
    fn def(&self, i: u32) -> Option<MacroRef<'_>> {
        let d = self.defs.get(i as usize)?;
        Some(MacroRef {
            fn_like: d.fn_like,
            variadic: d.variadic,
            pastes: d.pastes,
            params: self.params.get(d.params.0 as usize..d.params.1 as usize)?,
            body: self.toks.get(d.body.0 as usize..d.body.1 as usize)?,
        })
    }
}

/// Encoding order of `DirKind`.
pub(super) const KINDS: &[DirKind] = &[
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

pub(super) fn has_sym_arg(k: DirKind) -> bool {
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
