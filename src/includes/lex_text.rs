//! The lexer's text loop: everything outside directive lines is skipped
//! with just enough care to know where the next logical line starts
//! (comments, literals, raw strings, splices, digit separators), and
//! `_Pragma("...")` in text becomes a directive line. The rules are the
//! ones `lex` lists.

use super::{destringize, is_raw_prefix, lex_line, Lx, RawLine};
use crate::includes::chars::{class, find_byte, BLANK, ID, ID_START};
use crate::includes::token::{is_ident_char, sym, Kind, Tok, PREV_WHITE};

impl Lx<'_, '_> {
    /// The text loop: runs of identifiers, numbers and blanks go by in
    /// tight loops over the bytes; anything that involves a backslash (a
    /// possible splice) takes the character-at-a-time path (`cur`).
    pub(super) fn text(&mut self) {
        let b = self.b;
        let n = b.len();
        let mut bol = true;
        // `i` stays in a register; `self.i` is synced around the helpers.
        let mut i = self.i;
        while i < n {
            let c = b[i];
            let cl = class(c);
            if cl & BLANK != 0 {
                i += 1;
                continue;
            }
            if cl & ID_START != 0 {
                let start = i;
                i += 1;
                while i < n && class(b[i]) & ID != 0 {
                    i += 1;
                }
                bol = false;
                if i < n {
                    let word = &b[start..i];
                    let d = b[i];
                    if d == b'\\' || (d == b'"' && is_raw_prefix(word)) || word == b"_Pragma" {
                        self.i = start;
                        self.text_ident();
                        i = self.i;
                    }
                }
                continue;
            }
            if c == b'\n' {
                i += 1;
                bol = true;
                continue;
            }
            self.i = i;
            bol = self.text_step(c, bol);
            i = self.i;
        }
        self.i = i;
    }

    /// One step of the text loop at a character that is not a blank, a
    /// newline or an identifier's; returns whether still at a line's start.
    pub(super) fn text_step(&mut self, c: u8, bol: bool) -> bool {
        let i = self.i;
        let next = self.b.get(i + 1).copied();
        match c {
            b'\\' => match self.splice_at(i) {
                0 => {
                    self.i += 1;
                    false
                }
                k => {
                    self.i += k;
                    bol
                }
            },
            _ if next == Some(b'\\') => self.text_slow(bol),
            b'/' if next == Some(b'*') => {
                self.i += 2;
                self.skip_block_comment();
                bol
            }
            b'/' if next == Some(b'/') => {
                self.skip_line_comment();
                bol
            }
            b'#' if bol => {
                self.i += 1;
                self.directive();
                bol
            }
            b'%' if bol && next == Some(b':') => {
                self.i += 2;
                self.directive();
                bol
            }
            b'"' | b'\'' => {
                self.skip_quoted(c);
                false
            }
            b'0'..=b'9' => {
                self.skip_number();
                false
            }
            b'.' if next.is_some_and(|d| d.is_ascii_digit()) => {
                self.skip_number();
                false
            }
            _ => {
                self.i += 1;
                false
            }
        }
    }

    /// One step of the text loop where a backslash follows the current
    /// character: a splice may join it to what comes after.
    pub(super) fn text_slow(&mut self, bol: bool) -> bool {
        let Some(c) = self.cur() else { return bol };
        match c {
            b'/' => match self.peek(1) {
                Some(b'*') => {
                    self.adv();
                    self.cur();
                    self.adv();
                    self.skip_block_comment();
                    bol
                }
                Some(b'/') => {
                    self.skip_line_comment();
                    bol
                }
                _ => {
                    self.adv();
                    false
                }
            },
            b'#' if bol => {
                self.adv();
                self.directive();
                bol
            }
            b'%' if bol && self.peek(1) == Some(b':') => {
                self.adv();
                self.cur();
                self.adv();
                self.directive();
                bol
            }
            b'"' | b'\'' => {
                self.skip_quoted(c);
                false
            }
            b'0'..=b'9' => {
                self.skip_number();
                false
            }
            b'.' if matches!(self.peek(1), Some(b'0'..=b'9')) => {
                self.skip_number();
                false
            }
            _ => {
                self.adv();
                false
            }
        }
    }

    pub(super) fn skip_block_comment(&mut self) {
        while let Some(p) = find_byte(self.b, self.i, b'*') {
            self.i = p + 1;
            if self.cur() == Some(b'/') {
                self.adv();
                return;
            }
        }
        self.i = self.b.len();
    }

    /// Skips to the newline ending a `//` comment (a splice continues it).
    pub(super) fn skip_line_comment(&mut self) {
        let b = self.b;
        while let Some(nl) = find_byte(b, self.i, b'\n') {
            // A splice: `\`, blanks, an optional CR, this newline.
            let mut k = nl;
            if k > self.i && b[k - 1] == b'\r' {
                k -= 1;
            }
            while k > self.i && matches!(b[k - 1], b' ' | b'\t' | 0x0b | 0x0c) {
                k -= 1;
            }
            if k > self.i && b[k - 1] == b'\\' {
                self.i = nl + 1;
                continue;
            }
            self.i = nl;
            return;
        }
        self.i = b.len();
    }

    /// Skips a string or character literal; stops before an unescaped
    /// newline if it is unterminated.
    pub(super) fn skip_quoted(&mut self, q: u8) {
        self.i += 1;
        while self.i < self.b.len() {
            match self.b[self.i] {
                c if c == q => {
                    self.i += 1;
                    return;
                }
                b'\n' => return,
                b'\\' => {
                    let n = self.splice_at(self.i);
                    if n > 0 {
                        self.i += n;
                    } else if self.b.get(self.i + 1) == Some(&b'\n') {
                        self.i += 1;
                    } else {
                        self.i += 2;
                    }
                }
                _ => self.i += 1,
            }
        }
    }

    pub(super) fn skip_number(&mut self) {
        let b = self.b;
        let mut i = self.i + 1;
        loop {
            let c = b.get(i).copied().unwrap_or(b' ');
            let next = b.get(i + 1).copied().unwrap_or(b' ');
            if c == b'\\' || next == b'\\' {
                break;
            }
            let sign = matches!(c, b'e' | b'E' | b'p' | b'P') && matches!(next, b'+' | b'-');
            if sign || (c == b'\'' && class(next) & ID != 0) {
                i += 2;
            } else if class(c) & ID != 0 || c == b'.' {
                i += 1;
            } else {
                self.i = i;
                return;
            }
        }
        // A backslash: the rest character by character.
        self.i = i;
        while let Some(c) = self.cur() {
            let sign =
                matches!(c, b'e' | b'E' | b'p' | b'P') && matches!(self.peek(1), Some(b'+' | b'-'));
            if sign || (c == b'\'' && self.peek(1).is_some_and(is_ident_char)) {
                self.adv();
                self.cur();
                self.adv();
            } else if is_ident_char(c) || c == b'.' {
                self.adv();
            } else {
                break;
            }
        }
    }

    /// An identifier in text: only raw-string prefixes and `_Pragma`
    /// matter, the rest is skipped.
    pub(super) fn text_ident(&mut self) {
        let start = self.i;
        let mut clean = true;
        while let Some(&c) = self.b.get(self.i) {
            if class(c) & ID != 0 {
                self.i += 1;
            } else if c == b'\\' && self.splice_at(self.i) > 0 {
                clean = false;
                self.cur();
            } else {
                break;
            }
        }
        if !clean {
            return;
        }
        let word = &self.b[start..self.i];
        if self.b.get(self.i) == Some(&b'"') && is_raw_prefix(word) {
            self.raw_string(None);
        } else if word == b"_Pragma" {
            self.text_pragma();
        }
    }

    /// Skips (or, with `spell`, records) a raw string; `i` is at its `"`.
    /// Without a valid delimiter it is an ordinary string, as in gcc.
    pub(super) fn raw_string(&mut self, mut spell: Option<&mut Vec<u8>>) {
        let open = self.i;
        let mut j = open + 1;
        while j < self.b.len() && j - open <= 17 {
            match self.b[j] {
                b'(' => break,
                b' ' | b')' | b'\\' | b'\t' | b'\n' | 0x0b | 0x0c | b'"' => {
                    j = self.b.len();
                    break;
                }
                _ => j += 1,
            }
        }
        if j >= self.b.len() || self.b[j] != b'(' {
            if let Some(s) = spell {
                self.quoted_spelling(b'"', s);
            } else {
                self.skip_quoted(b'"');
            }
            return;
        }
        let delim = &self.b[open + 1..j];
        let mut k = j + 1;
        let end = loop {
            match self.b[k..].iter().position(|&c| c == b')') {
                None => break self.b.len(),
                Some(p) => {
                    k += p + 1;
                    if self.b[k..].starts_with(delim) && self.b.get(k + delim.len()) == Some(&b'"')
                    {
                        break k + delim.len() + 1;
                    }
                }
            }
        };
        let body = &self.b[open..end];
        if let Some(s) = spell.as_mut() {
            s.extend_from_slice(body);
        }
        self.i = end;
    }

    /// `_Pragma ( "string" )` in text, on one line: recorded as the
    /// directive `#pragma <destringized string>`.
    pub(super) fn text_pragma(&mut self) {
        let save_i = self.i;
        let line = self.line_here();
        let open = self.dir_token(false);
        let s = self.dir_token(false);
        let close = self.dir_token(false);
        let ok = matches!(open, Some(t) if t.sym == sym::LPAREN)
            && matches!(s, Some(t) if t.kind == Kind::Str)
            && matches!(close, Some(t) if t.sym == sym::RPAREN);
        if !ok {
            self.i = save_i;
            return;
        }
        let text = destringize(self.int.get(s.unwrap().sym));
        let start = self.out.toks.len() as u32;
        self.out
            .toks
            .push(Tok::new(Kind::Ident, sym::PRAGMA, PREV_WHITE));
        let mut toks = Vec::new();
        lex_line(&text, self.int, &mut toks);
        self.out.toks.extend(toks);
        self.out.lines.push(RawLine {
            line,
            start,
            end: self.out.toks.len() as u32,
        });
    }
}
