//! Lexing a file for its directives: translation phases 1-3 as gcc does
//! them, but only the lines that start with `#` (or `%:`) become tokens;
//! every other line is skipped with just enough care to know where the
//! next logical line starts (comments, literals, raw strings, line
//! splices). `_Pragma("...")` written directly in text also yields a
//! line, as it can say `once` or `push_macro`. What the lines mean is
//! `skeleton`'s concern.
//!
//! Rules followed, each as gcc 12 has them:
//! - a backslash, optional blanks, then a newline is a splice, anywhere
//!   except inside a raw string;
//! - a block comment is one space, even across lines, so `#` after a
//!   comment that opened at the start of a line still starts a directive,
//!   and a directive continues past a comment spanning lines;
//! - string and character literals end at their quote or at the end of
//!   the line (an unterminated `'` in a skipped block is harmless);
//! - `'` inside a pp-number is a digit separator (C++14, C23);
//! - `R"delim( ... )delim"` (with `L`, `u`, `U`, `u8` prefixes) is opaque;
//! - in `#include`/`#include_next`/`#import`/`#embed` and after
//!   `__has_include(`, a `<` with a `>` later on the line is a header-name.
//!
//! Trigraphs are only detected (`Lexed::trigraphs`), not replaced: the
//! scan refuses a unit that enables them and contains one.

use super::chars::{class, find_byte, is_blank, punct_len, ID, ID_START};
use super::token::{
    is_ident_char, is_ident_start, punct_of, sym, Interner, Kind, Sym, Tok, PREV_WHITE, PUNCTUATORS,
};

#[path = "lex_text.rs"]
mod text;

/// One directive line: `toks[start..end]` hold the tokens after the `#`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawLine {
    pub line: u32,
    pub start: u32,
    pub end: u32,
}

#[derive(Default, Debug)]
pub struct Lexed {
    pub lines: Vec<RawLine>,
    pub toks: Vec<Tok>,
    pub trigraphs: bool,
}

pub fn lex(src: &[u8], int: &mut Interner) -> Lexed {
    let mut lx = Lx::new(src, int);
    lx.text();
    lx.out.trigraphs = has_trigraph(src);
    lx.out
}

/// Lexes one line's worth of bytes as directive tokens (used for `-D`
/// values and destringized `_Pragma` operands).
pub fn lex_line(src: &[u8], int: &mut Interner, out: &mut Vec<Tok>) {
    let mut lx = Lx::new(src, int);
    lx.directive_tokens(false);
    out.extend_from_slice(&lx.out.toks);
}

fn has_trigraph(b: &[u8]) -> bool {
    let mut i = 0;
    while let Some(q) = find_byte(b, i, b'?') {
        if b.get(q + 1) == Some(&b'?') && b.get(q + 2).is_some_and(|c| b"=/'()!<>-".contains(c)) {
            return true;
        }
        i = q + 1;
    }
    false
}

struct Lx<'a, 'i> {
    b: &'a [u8],
    i: usize,
    /// The line number at byte `counted`: lines are counted only when a
    /// directive needs its number, so the skipping loops stay tight.
    line: u32,
    counted: usize,
    out: Lexed,
    scratch: Vec<u8>,
    int: &'i mut Interner,
}

impl<'a, 'i> Lx<'a, 'i> {
    fn new(b: &'a [u8], int: &'i mut Interner) -> Lx<'a, 'i> {
        Lx {
            b,
            i: 0,
            line: 1,
            counted: 0,
            out: Lexed::default(),
            scratch: Vec::new(),
            int,
        }
    }

    /// Length of the splice starting at `i`, 0 if there is none.
    fn splice_at(&self, i: usize) -> usize {
        let b = self.b;
        if b.get(i) != Some(&b'\\') {
            return 0;
        }
        let mut j = i + 1;
        while j < b.len() && matches!(b[j], b' ' | b'\t' | 0x0b | 0x0c) {
            j += 1;
        }
        match b.get(j) {
            Some(b'\n') => j + 1 - i,
            Some(b'\r') if b.get(j + 1) == Some(&b'\n') => j + 2 - i,
            _ => 0,
        }
    }

    /// The current character after any splices (which it consumes).
    #[inline]
    fn cur(&mut self) -> Option<u8> {
        loop {
            let c = *self.b.get(self.i)?;
            if c == b'\\' {
                let n = self.splice_at(self.i);
                if n > 0 {
                    self.i += n;
                    continue;
                }
            }
            return Some(c);
        }
    }

    /// The `k`-th character after the current one, splices skipped.
    fn peek(&self, k: usize) -> Option<u8> {
        let mut i = self.i;
        let mut left = k;
        loop {
            let c = *self.b.get(i)?;
            if c == b'\\' {
                let n = self.splice_at(i);
                if n > 0 {
                    i += n;
                    continue;
                }
            }
            if left == 0 {
                return Some(c);
            }
            left -= 1;
            i += 1;
        }
    }

    fn line_here(&mut self) -> u32 {
        let end = self.i.min(self.b.len());
        let n = crate::includes::chars::count_newlines(&self.b[self.counted..end]);
        self.line += n as u32;
        self.counted = end;
        self.line
    }

    /// Consumes the character `cur()` returned.
    #[inline]
    fn adv(&mut self) {
        self.i += 1;
    }

    // ---- directive lines ----------------------------------------------

    fn directive(&mut self) {
        let line = self.line_here();
        let start = self.out.toks.len() as u32;
        self.directive_tokens(true);
        self.out.lines.push(RawLine {
            line,
            start,
            end: self.out.toks.len() as u32,
        });
    }

    /// Tokens up to the end of the logical line (which it leaves for the
    /// text loop). `named`: the first token is a directive's name.
    fn directive_tokens(&mut self, named: bool) {
        let mut n = 0usize;
        let mut header_next = false;
        let mut prev = None::<Sym>;
        while let Some(t) = self.dir_token(header_next) {
            self.out.toks.push(t);
            header_next = (named
                && n == 0
                && t.kind == Kind::Ident
                && matches!(
                    t.sym,
                    sym::INCLUDE | sym::INCLUDE_NEXT | sym::IMPORT | sym::EMBED
                ))
                || (t.sym == sym::LPAREN
                    && matches!(prev, Some(sym::HAS_INCLUDE | sym::HAS_INCLUDE_NEXT)));
            prev = Some(t.sym);
            n += 1;
        }
    }

    /// The next token on this logical line, or None at its end.
    fn dir_token(&mut self, header_ok: bool) -> Option<Tok> {
        let mut flags = 0u8;
        let c = loop {
            let c = self.cur()?;
            match c {
                b'\n' => return None,
                c if is_blank(c) => {
                    self.adv();
                    flags |= PREV_WHITE;
                }
                b'/' if self.peek(1) == Some(b'*') => {
                    self.adv();
                    self.cur();
                    self.adv();
                    self.skip_block_comment();
                    flags |= PREV_WHITE;
                }
                b'/' if self.peek(1) == Some(b'/') => {
                    self.skip_line_comment();
                    flags |= PREV_WHITE;
                }
                c => break c,
            }
        };
        if let Some(t) = self.dir_token_fast(c, header_ok, flags) {
            return Some(t);
        }
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        let kind = self.dir_token_body(c, header_ok, &mut s);
        let t = Tok::new(kind, self.int.intern(&s), flags);
        self.scratch = s;
        Some(t)
    }

    /// The common tokens (an identifier, a number, a punctuator) when no
    /// backslash is near: spelled straight from the source. None leaves
    /// the token to `dir_token_body`.
    fn dir_token_fast(&mut self, c: u8, header_ok: bool, flags: u8) -> Option<Tok> {
        let b = self.b;
        let start = self.i;
        let mut i = start;
        let kind = if class(c) & ID_START != 0 {
            i += 1;
            while i < b.len() && class(b[i]) & ID != 0 {
                i += 1;
            }
            if matches!(b.get(i), Some(b'\\' | b'"' | b'\'')) {
                return None;
            }
            Kind::Ident
        } else if c.is_ascii_digit() {
            i += 1;
            loop {
                let c = b.get(i).copied().unwrap_or(b' ');
                let next = b.get(i + 1).copied().unwrap_or(b' ');
                if c == b'\\' || next == b'\\' {
                    return None;
                }
                let sign = matches!(c, b'e' | b'E' | b'p' | b'P') && matches!(next, b'+' | b'-');
                if sign || (c == b'\'' && class(next) & ID != 0) {
                    i += 2;
                } else if class(c) & ID != 0 || c == b'.' {
                    i += 1;
                } else {
                    break;
                }
            }
            Kind::Number
        } else {
            let head = &b[start..(start + 4).min(b.len())];
            if head.contains(&b'\\') || (c == b'<' && header_ok) || c == b'.' {
                return None;
            }
            let n = punct_len(head);
            if n == 0 {
                return None;
            }
            i += n;
            Kind::Punct(punct_of(&b[start..i]))
        };
        self.i = i;
        Some(Tok::new(kind, self.int.intern(&b[start..i]), flags))
    }

    fn dir_token_body(&mut self, c: u8, header_ok: bool, s: &mut Vec<u8>) -> Kind {
        if is_ident_start(c) {
            while let Some(c) = self.cur() {
                if !is_ident_char(c) {
                    break;
                }
                s.push(c);
                self.adv();
            }
            match self.cur() {
                Some(q @ (b'"' | b'\'')) if matches!(s.as_slice(), b"L" | b"u" | b"U" | b"u8") => {
                    return self.quoted_spelling(q, s);
                }
                Some(b'"') if is_raw_prefix(s) => {
                    self.raw_string(Some(s));
                    return Kind::Str;
                }
                _ => return Kind::Ident,
            }
        }
        if c.is_ascii_digit() || (c == b'.' && matches!(self.peek(1), Some(b'0'..=b'9'))) {
            s.push(c);
            self.adv();
            while let Some(c) = self.cur() {
                let sign = matches!(c, b'e' | b'E' | b'p' | b'P')
                    && matches!(self.peek(1), Some(b'+' | b'-'));
                let sep = c == b'\'' && self.peek(1).is_some_and(is_ident_char);
                if sign || sep {
                    s.push(c);
                    self.adv();
                    s.push(self.cur().unwrap());
                    self.adv();
                } else if is_ident_char(c) || c == b'.' {
                    s.push(c);
                    self.adv();
                } else {
                    break;
                }
            }
            return Kind::Number;
        }
        if c == b'"' || c == b'\'' {
            return self.quoted_spelling(c, s);
        }
        if c == b'<' && header_ok {
            if let Some(k) = self.header_name(s) {
                return k;
            }
        }
        for p in PUNCTUATORS {
            if p[0] == c && (1..p.len()).all(|k| self.peek(k) == Some(p[k])) {
                for _ in 0..p.len() {
                    self.cur();
                    self.adv();
                }
                s.extend_from_slice(p);
                return Kind::Punct(punct_of(p));
            }
        }
        s.push(c);
        self.adv();
        Kind::Other
    }

    /// A literal from its opening quote; the prefix, if any, is already
    /// in `s`. Unterminated: the rest of the line as one `Other` token.
    fn quoted_spelling(&mut self, q: u8, s: &mut Vec<u8>) -> Kind {
        s.push(q);
        self.adv();
        while let Some(c) = self.cur() {
            if c == b'\n' {
                return Kind::Other;
            }
            s.push(c);
            self.adv();
            if c == q {
                return if q == b'"' { Kind::Str } else { Kind::Char };
            }
            if c == b'\\' {
                match self.cur() {
                    Some(b'\n') | None => {}
                    Some(e) => {
                        s.push(e);
                        self.adv();
                    }
                }
            }
        }
        Kind::Other
    }

    /// `<...>` when a `>` follows on the same logical line.
    fn header_name(&mut self, s: &mut Vec<u8>) -> Option<Kind> {
        let save_i = self.i;
        s.push(b'<');
        self.adv();
        while let Some(c) = self.cur() {
            if c == b'\n' {
                break;
            }
            s.push(c);
            self.adv();
            if c == b'>' {
                return Some(Kind::Header);
            }
        }
        s.clear();
        self.i = save_i;
        None
    }
}

fn is_raw_prefix(w: &[u8]) -> bool {
    matches!(w, b"R" | b"LR" | b"uR" | b"UR" | b"u8R")
}

/// The text of a string literal as `_Pragma` takes it: prefix and quotes
/// dropped, `\"` and `\\` unescaped (C11 6.10.9).
pub fn destringize(lit: &[u8]) -> Vec<u8> {
    let open = lit.iter().position(|&c| c == b'"').unwrap_or(0);
    let body = &lit[(open + 1).min(lit.len())..lit.len().saturating_sub(1).max(open + 1)];
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'\\' && matches!(body.get(i + 1), Some(b'"' | b'\\')) {
            i += 1;
        }
        out.push(body[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
#[path = "lex_tests.rs"]
mod tests;
