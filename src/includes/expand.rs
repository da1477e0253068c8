//! Macro expansion of one directive's operand (`#if`, `#include MACRO`),
//! by the standard's rules and the way cpplib implements them: a stack of
//! token contexts, one per macro being expanded, read lazily; a macro is
//! disabled while its context is on the stack (a name met then is painted
//! blue and never expands again); arguments are collected unexpanded,
//! pre-expanded in isolation where used outside `#`/`##`, and the result
//! is rescanned together with the rest of the line.
//!
//! Reading lazily is what makes `defined` behave as gcc's: the evaluator
//! (`expr`) reads the operand of `defined` raw, even when `defined` came
//! out of an expansion.

use std::borrow::Cow;

use super::lex::lex_line;
use super::macros::{MacroRef, Macros, Slot, Special};
use super::token::{
    sym, Interner, Kind, Sym, Tok, NO_EXPAND, P, PASTE_LEFT, PREV_WHITE, STRINGIFY,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandError {
    /// A macro the scan could not decide was needed.
    Unknown(Sym),
    /// The compiler would reject the line.
    Invalid(&'static str),
}

pub type Res<T> = Result<T, ExpandError>;

/// Values of the builtins that depend on where the directive is.
pub struct Dyn<'a> {
    /// The current file as the compiler names it; None after `#line`.
    pub file: Option<&'a [u8]>,
    /// The directive's line; None after `#line`.
    pub line: Option<u32>,
    /// Set when `__LINE__` is expanded.
    pub line_asked: &'a std::cell::Cell<bool>,
    pub depth: u32,
    pub base_file: &'a [u8],
}

struct Ctx<'a> {
    /// The directive's own tokens and the bodies of object-like macros
    /// are borrowed; other expansions are owned.
    toks: Cow<'a, [Tok]>,
    pos: usize,
    mac: Option<Sym>,
    /// For an expansion: whether whitespace preceded the macro's name,
    /// which its first token takes over.
    white: Option<u8>,
}

pub struct Expander<'a> {
    macros: &'a Macros,
    pub int: &'a mut Interner,
    dynv: &'a Dyn<'a>,
    /// The directive's own tokens, under every context.
    line: &'a [Tok],
    line_pos: usize,
    /// Expansions in progress (allocated only once a macro expands).
    ctxs: Vec<Ctx<'a>>,
    /// During an argument's pre-expansion, the index of its context: that
    /// is where reading stops; nothing below it (the line included) is
    /// seen.
    floor: Option<usize>,
}

impl<'a> Expander<'a> {
    pub fn new(
        line: &'a [Tok],
        macros: &'a Macros,
        int: &'a mut Interner,
        dynv: &'a Dyn<'a>,
    ) -> Expander<'a> {
        Expander {
            macros,
            int,
            dynv,
            line,
            line_pos: 0,
            ctxs: Vec::new(),
            floor: None,
        }
    }

    pub fn macros(&self) -> &Macros {
        self.macros
    }

    /// The next token without expanding it (for `defined`'s operand and
    /// argument collection).
    #[inline]
    pub fn next_raw(&mut self) -> Option<Tok> {
        match self.ctxs.last_mut() {
            None => {
                let t = self.line.get(self.line_pos).copied();
                self.line_pos += t.is_some() as usize;
                t
            }
            Some(c) if c.pos > 0 && c.pos < c.toks.len() => {
                c.pos += 1;
                Some(c.toks[c.pos - 1])
            }
            Some(_) => self.next_raw_slow(),
        }
    }

    /// `next_raw` at the start or end of a context.
    #[inline(never)]
    fn next_raw_slow(&mut self) -> Option<Tok> {
        loop {
            let Some(c) = self.ctxs.last_mut() else {
                let t = self.line.get(self.line_pos).copied();
                self.line_pos += t.is_some() as usize;
                return t;
            };
            if c.pos < c.toks.len() {
                let mut t = c.toks[c.pos];
                if let (0, Some(w)) = (c.pos, c.white) {
                    t.flags = (t.flags & !PREV_WHITE) | w;
                }
                c.pos += 1;
                return Some(t);
            }
            if self.floor == Some(self.ctxs.len() - 1) {
                return None;
            }
            self.ctxs.pop();
        }
    }

    fn next_is_lparen(&mut self) -> bool {
        loop {
            let Some(c) = self.ctxs.last() else {
                return self
                    .line
                    .get(self.line_pos)
                    .is_some_and(|t| t.is(P::LParen));
            };
            if c.pos < c.toks.len() {
                return c.toks[c.pos].is(P::LParen);
            }
            if self.floor == Some(self.ctxs.len() - 1) {
                return false;
            }
            self.ctxs.pop();
        }
    }

    fn disabled(&self, s: Sym) -> bool {
        self.ctxs.iter().any(|c| c.mac == Some(s))
    }

    /// The next fully expanded token; None at the end of the line.
    pub fn get(&mut self) -> Res<Option<Tok>> {
        loop {
            let Some(t) = self.next_raw() else {
                return Ok(None);
            };
            if t.kind != Kind::Ident || t.flags & NO_EXPAND != 0 {
                return Ok(Some(t));
            }
            let macros: &'a Macros = self.macros;
            let m: MacroRef<'a> = match macros.get(t.sym) {
                None | Some(Slot::Undefined) => return Ok(Some(t)),
                Some(Slot::Unknown) => return Err(ExpandError::Unknown(t.sym)),
                Some(Slot::Special(sp)) => return self.special(*sp, t),
                Some(slot) => match slot.def() {
                    Some(m) => m,
                    None => return Ok(Some(t)),
                },
            };
            if self.disabled(t.sym) {
                return Ok(Some(Tok {
                    flags: t.flags | NO_EXPAND,
                    ..t
                }));
            }
            let toks = if !m.fn_like && !m.pastes {
                // Nothing to substitute: the body as it is.
                Cow::Borrowed(m.body)
            } else {
                let args = if m.fn_like {
                    if !self.next_is_lparen() {
                        return Ok(Some(t));
                    }
                    self.next_raw();
                    self.collect_args(m)?
                } else {
                    Vec::new()
                };
                Cow::Owned(self.substitute(m, &args)?)
            };
            self.ctxs.push(Ctx {
                toks,
                pos: 0,
                mac: Some(t.sym),
                white: Some(t.flags & PREV_WHITE),
            });
        }
    }

    fn special(&mut self, sp: Special, t: Tok) -> Res<Option<Tok>> {
        let d = self.dynv;
        let w = t.flags & PREV_WHITE;
        let tok = match sp {
            Special::File => string_tok(self.int, d.file.ok_or(ExpandError::Unknown(t.sym))?, w),
            Special::BaseFile => string_tok(self.int, d.base_file, w),
            Special::FileName => {
                let f = d.file.ok_or(ExpandError::Unknown(t.sym))?;
                let base = f.rsplit(|&c| c == b'/').next().unwrap_or(f);
                string_tok(self.int, base, w)
            }
            Special::Line => {
                d.line_asked.set(true);
                let l = d.line.ok_or(ExpandError::Unknown(t.sym))?;
                Tok::new(Kind::Number, self.int.intern(l.to_string().as_bytes()), w)
            }
            Special::IncludeLevel => Tok::new(
                Kind::Number,
                self.int.intern(d.depth.to_string().as_bytes()),
                w,
            ),
            Special::UnknownValue => return Err(ExpandError::Unknown(t.sym)),
            Special::HasInclude | Special::HasIncludeNext | Special::Opaque => t,
        };
        Ok(Some(tok))
    }

    /// After the `(`: the arguments, unexpanded, up to the matching `)`.
    fn collect_args(&mut self, m: MacroRef) -> Res<Vec<Vec<Tok>>> {
        let mut args: Vec<Vec<Tok>> = vec![Vec::new()];
        let mut depth = 0u32;
        loop {
            let Some(mut t) = self.next_raw() else {
                return Err(ExpandError::Invalid("unterminated argument list"));
            };
            match t.kind {
                Kind::Punct(P::LParen) => depth += 1,
                Kind::Punct(P::RParen) if depth == 0 => break,
                Kind::Punct(P::RParen) => depth -= 1,
                Kind::Punct(P::Comma)
                    if depth == 0 && !(m.variadic && args.len() == m.params.len()) =>
                {
                    args.push(Vec::new());
                    continue;
                }
                Kind::Ident if self.disabled(t.sym) => t.flags |= NO_EXPAND,
                _ => {}
            }
            args.last_mut().unwrap().push(t);
        }
        let n = m.params.len();
        if args.len() == 1 && args[0].is_empty() && n == 0 {
            args.clear();
        }
        // A variadic macro may be called without its variable part.
        if m.variadic && args.len() + 1 == n {
            args.push(Vec::new());
        }
        if args.len() != n {
            return Err(ExpandError::Invalid("wrong number of macro arguments"));
        }
        Ok(args)
    }

    /// Fully expands one argument in isolation.
    fn expand_arg(&mut self, toks: &[Tok]) -> Res<Vec<Tok>> {
        let saved = self.floor;
        self.ctxs.push(Ctx {
            toks: Cow::Owned(toks.to_vec()),
            pos: 0,
            mac: None,
            white: None,
        });
        self.floor = Some(self.ctxs.len() - 1);
        let mut out = Vec::new();
        let r = loop {
            match self.get() {
                Ok(Some(t)) => out.push(t),
                Ok(None) => break Ok(out),
                Err(e) => break Err(e),
            }
        };
        self.ctxs.truncate(self.floor.unwrap());
        self.floor = saved;
        r
    }

    fn substitute(&mut self, m: MacroRef, args: &[Vec<Tok>]) -> Res<Vec<Tok>> {
        let mut memo: Vec<Option<Vec<Tok>>> = vec![None; args.len()];
        let mut out = Vec::with_capacity(m.body.len());
        self.subst_range(m, m.body, args, &mut memo, &mut out)?;
        self.paste_all(out)
    }

    fn subst_range(
        &mut self,
        m: MacroRef,
        body: &[Tok],
        args: &[Vec<Tok>],
        memo: &mut Vec<Option<Vec<Tok>>>,
        out: &mut Vec<Tok>,
    ) -> Res<()> {
        let mut i = 0;
        while i < body.len() {
            let t = body[i];
            i += 1;
            if t.kind == Kind::Ident && t.sym == sym::VA_OPT && m.variadic {
                i = self.va_opt(m, body, i, args, memo, out, t.flags, false)?;
                continue;
            }
            if t.is(P::Hash) && t.flags & STRINGIFY != 0 {
                // `#__VA_OPT__(...)`.
                i = self.va_opt(m, body, i + 1, args, memo, out, t.flags, true)?;
                continue;
            }
            if t.kind != Kind::Param {
                out.push(t);
                continue;
            }
            let n = t.sym.0 as usize;
            let white = t.flags & PREV_WHITE;
            if t.flags & STRINGIFY != 0 {
                let s = stringify(self.int, &args[n], white);
                out.push(Tok {
                    flags: s.flags | (t.flags & PASTE_LEFT),
                    ..s
                });
                continue;
            }
            let after_paste = out.last().is_some_and(|p| p.flags & PASTE_LEFT != 0);
            let is_va = m.variadic && n == m.params.len() - 1;
            // GNU: `, ## __VA_ARGS__` drops the comma when there are no
            // variable arguments, and pastes nothing otherwise.
            if after_paste && is_va && out.last().unwrap().is(P::Comma) {
                let comma = out.last_mut().unwrap();
                comma.flags &= !PASTE_LEFT;
                if args[n].is_empty() {
                    out.pop();
                } else {
                    push_arg(out, &args[n], white, t.flags & PASTE_LEFT);
                }
                continue;
            }
            if after_paste || t.flags & PASTE_LEFT != 0 {
                if args[n].is_empty() {
                    out.push(Tok::new(
                        Kind::Placemarker,
                        sym::EMPTY,
                        t.flags & PASTE_LEFT,
                    ));
                } else {
                    push_arg(out, &args[n], white, t.flags & PASTE_LEFT);
                }
                continue;
            }
            if memo[n].is_none() {
                memo[n] = Some(self.expand_arg(&args[n])?);
            }
            push_arg(out, memo[n].as_ref().unwrap(), white, 0);
        }
        Ok(())
    }

    /// `__VA_OPT__ ( content )` starting after the name (`i` at `(`):
    /// the content when the variable argument expands to something, a
    /// placemarker otherwise. Returns the index after the `)`.
    #[allow(clippy::too_many_arguments)]
    fn va_opt(
        &mut self,
        m: MacroRef,
        body: &[Tok],
        i: usize,
        args: &[Vec<Tok>],
        memo: &mut Vec<Option<Vec<Tok>>>,
        out: &mut Vec<Tok>,
        flags: u8,
        stringify_it: bool,
    ) -> Res<usize> {
        if !body.get(i).is_some_and(|t| t.is(P::LParen)) {
            return Err(ExpandError::Invalid("__VA_OPT__ without ("));
        }
        let mut depth = 0;
        let mut close = None;
        for (k, t) in body.iter().enumerate().skip(i) {
            if t.is(P::LParen) {
                depth += 1;
            } else if t.is(P::RParen) {
                depth -= 1;
                if depth == 0 {
                    close = Some(k);
                    break;
                }
            }
        }
        let close = close.ok_or(ExpandError::Invalid("unterminated __VA_OPT__"))?;
        let va = m.params.len() - 1;
        if memo[va].is_none() {
            memo[va] = Some(self.expand_arg(&args[va])?);
        }
        let present = !memo[va].as_ref().unwrap().is_empty();
        let paste_after = body[close].flags & PASTE_LEFT;
        let mut part = Vec::new();
        if present {
            self.subst_range(m, &body[i + 1..close], args, memo, &mut part)?;
            part = self.paste_all(part)?;
        }
        if stringify_it {
            let s = stringify(self.int, &part, flags & PREV_WHITE);
            out.push(Tok {
                flags: s.flags | paste_after,
                ..s
            });
        } else if part.is_empty() {
            out.push(Tok::new(Kind::Placemarker, sym::EMPTY, paste_after));
        } else {
            push_arg(out, &part, flags & PREV_WHITE, paste_after);
        }
        Ok(close + 1)
    }

    /// Performs the `##` operations marked in `toks`, left to right, and
    /// drops placemarkers.
    fn paste_all(&mut self, toks: Vec<Tok>) -> Res<Vec<Tok>> {
        if !toks
            .iter()
            .any(|t| t.flags & PASTE_LEFT != 0 || t.kind == Kind::Placemarker)
        {
            return Ok(toks);
        }
        let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
        let mut it = toks.into_iter();
        while let Some(mut t) = it.next() {
            while t.flags & PASTE_LEFT != 0 {
                let Some(r) = it.next() else { break };
                t = self.paste(t, r)?;
            }
            if t.kind != Kind::Placemarker {
                out.push(t);
            }
        }
        Ok(out)
    }

    fn paste(&mut self, l: Tok, r: Tok) -> Res<Tok> {
        let keep = r.flags & PASTE_LEFT;
        if l.kind == Kind::Placemarker {
            return Ok(Tok {
                flags: (r.flags & !PREV_WHITE) | (l.flags & PREV_WHITE),
                ..r
            });
        }
        if r.kind == Kind::Placemarker {
            return Ok(Tok {
                flags: (l.flags & !PASTE_LEFT) | keep,
                ..l
            });
        }
        let mut text = self.int.get(l.sym).to_vec();
        text.extend_from_slice(self.int.get(r.sym));
        let mut toks = Vec::new();
        lex_line(&text, self.int, &mut toks);
        if toks.len() != 1 || toks[0].kind == Kind::Other {
            return Err(ExpandError::Invalid("pasting does not give a valid token"));
        }
        Ok(Tok {
            flags: (l.flags & PREV_WHITE) | keep,
            ..toks[0]
        })
    }
}

fn push_arg(out: &mut Vec<Tok>, arg: &[Tok], white: u8, paste: u8) {
    let start = out.len();
    out.extend(arg.iter().map(|t| Tok {
        flags: t.flags & !PASTE_LEFT,
        ..*t
    }));
    if let Some(f) = out.get_mut(start) {
        f.flags = (f.flags & !PREV_WHITE) | white;
    }
    if let Some(l) = out.last_mut() {
        l.flags |= paste;
    }
}

/// `"text"` with `"` and `\` escaped, as `__FILE__` spells a path.
pub fn string_tok(int: &mut Interner, text: &[u8], white: u8) -> Tok {
    let mut s = Vec::with_capacity(text.len() + 2);
    s.push(b'"');
    for &c in text {
        if c == b'"' || c == b'\\' {
            s.push(b'\\');
        }
        s.push(c);
    }
    s.push(b'"');
    Tok::new(Kind::Str, int.intern(&s), white)
}

/// The `#` operator: spellings joined, one space where there was
/// whitespace, `"` and `\` escaped inside string and character literals.
pub fn stringify(int: &mut Interner, toks: &[Tok], white: u8) -> Tok {
    let mut s = vec![b'"'];
    for (k, t) in toks.iter().enumerate() {
        if t.kind == Kind::Placemarker {
            continue;
        }
        if k > 0 && t.white() {
            s.push(b' ');
        }
        let sp = int.get(t.sym);
        if matches!(t.kind, Kind::Str | Kind::Char) {
            for &c in sp {
                if c == b'"' || c == b'\\' {
                    s.push(b'\\');
                }
                s.push(c);
            }
        } else {
            s.extend_from_slice(sp);
        }
    }
    s.push(b'"');
    Tok::new(Kind::Str, int.intern(&s), white)
}

#[cfg(test)]
#[path = "expand_tests.rs"]
pub(crate) mod tests;
