//! `#if`/`#elif` evaluation: the line is macro-expanded (`expand`) with
//! `defined` and `__has_include` handled as they arrive, then parsed and
//! computed with C's rules for the preprocessor: every value is intmax_t
//! or uintmax_t (64 bits here), the usual conversions apply, `&&`, `||`
//! and `?:` do not evaluate what they skip (`1 || 1/0` is fine), and
//! identifiers that are not macros are 0 (`true`/`false` in C++).
//!
//! A value can also be unknown: a builtin only the compiler can answer
//! (`__has_builtin`, ...), or a macro the scan could not decide. The
//! arithmetic carries unknowns through, short-circuits where a known
//! operand decides (`0 && ?` is 0), and an error anywhere makes the whole
//! condition undecided: the caller then takes both branches.

use super::builtins;
use super::expand::{Dyn, ExpandError, Expander};
pub use super::literal::Num;
use super::literal::{parse_char, parse_number};
use super::macros::{Macros, Slot, Special};
use super::token::{sym, Interner, Kind, Sym, Tok, P, PREV_WHITE};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undecided {
    Unknown(Sym),
    Builtin(Sym),
    Error(&'static str),
}

/// Answers `__has_include` as `#include` would search.
pub trait Oracle {
    /// None when the answer cannot be known (the scan fails then).
    fn has_include(&mut self, name: &[u8], angled: bool, next: bool) -> Option<bool>;

    /// The compiler's value for a builtin call spelled `query`
    /// (`builtins::spell`), when known.
    fn builtin(&mut self, _query: &[u8]) -> Option<i64> {
        None
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub cplusplus: bool,
    pub unsigned_char: bool,
    /// clang keeps the blank before `>` in a header name built from
    /// tokens; gcc drops it (checked with gcc 12 and clang 14).
    pub header_trailing_space: bool,
}

/// An operand that may be unknown.
type V = Option<Num>;

#[derive(Clone, Copy, Debug)]
enum E {
    Num(V),
    Op(P),
}

/// A buffer `eval` reuses from one condition to the next.
#[derive(Default)]
pub struct Scratch(Vec<E>);

pub fn eval(
    line: &[Tok],
    macros: &Macros,
    int: &mut Interner,
    dynv: &Dyn,
    opts: &Options,
    oracle: &mut dyn Oracle,
    scratch: &mut Scratch,
) -> Result<bool, Undecided> {
    let mut why = None;
    let toks = &mut scratch.0;
    toks.clear();
    {
        let mut exp = Expander::new(line, macros, int, dynv);
        gather(&mut exp, opts, oracle, &mut why, toks)?;
    }
    let mut p = Parser { t: toks, i: 0 };
    let v = p.comma(true).map_err(Undecided::Error)?;
    if p.i != toks.len() {
        return Err(Undecided::Error("missing binary operator"));
    }
    match v {
        Some(n) => Ok(n.nz()),
        None => Err(why.unwrap_or(Undecided::Error("unknown value"))),
    }
}

fn from_expand(e: ExpandError) -> Undecided {
    match e {
        ExpandError::Unknown(s) => Undecided::Unknown(s),
        ExpandError::Invalid(m) => Undecided::Error(m),
    }
}

/// The expanded line as numbers and operators.
/// `why` gets the first reason a value is unknown.
fn gather(
    exp: &mut Expander,
    opts: &Options,
    oracle: &mut dyn Oracle,
    why: &mut Option<Undecided>,
    out: &mut Vec<E>,
) -> Result<(), Undecided> {
    while let Some(t) = exp.get().map_err(from_expand)? {
        let e = match t.kind {
            Kind::Ident => {
                let e = ident(exp, t, opts, oracle)?;
                if matches!(e, E::Num(None)) && why.is_none() {
                    *why = Some(match exp.macros().get(t.sym) {
                        Some(Slot::Special(Special::Opaque)) => Undecided::Builtin(t.sym),
                        _ => Undecided::Unknown(t.sym),
                    });
                }
                e
            }
            Kind::Number => E::Num(Some(
                parse_number(exp.int.get(t.sym)).map_err(Undecided::Error)?,
            )),
            Kind::Char => E::Num(Some(
                parse_char(exp.int.get(t.sym), opts.unsigned_char).map_err(Undecided::Error)?,
            )),
            Kind::Punct(P::Other | P::Hash | P::HashHash | P::Ellipsis) => {
                return Err(Undecided::Error(
                    "token is not valid in preprocessor expressions",
                ))
            }
            Kind::Punct(p) => E::Op(p),
            _ => {
                return Err(Undecided::Error(
                    "token is not valid in preprocessor expressions",
                ))
            }
        };
        out.push(e);
    }
    Ok(())
}

fn ident(
    exp: &mut Expander,
    t: Tok,
    opts: &Options,
    oracle: &mut dyn Oracle,
) -> Result<E, Undecided> {
    if t.sym == sym::DEFINED {
        return defined(exp);
    }
    if let Some(Slot::Special(sp)) = exp.macros().get(t.sym) {
        match sp {
            Special::HasInclude | Special::HasIncludeNext => {
                let next = *sp == Special::HasIncludeNext;
                return has_include(exp, opts, oracle, next);
            }
            Special::Opaque => {
                let args = parenthesized(exp)?;
                let name = exp.int.get(t.sym);
                if builtins::askable(name, &args, exp.macros()) {
                    let mut q = Vec::new();
                    builtins::spell(&mut q, name, &args, exp.int);
                    if let Some(v) = oracle.builtin(&q) {
                        return Ok(E::Num(Some(Num::int(v))));
                    }
                }
                return Ok(E::Num(None));
            }
            _ => {}
        }
    }
    if opts.cplusplus {
        let op = match t.sym {
            sym::TRUE => return Ok(E::Num(Some(Num::int(1)))),
            sym::FALSE => return Ok(E::Num(Some(Num::int(0)))),
            sym::AND => P::AndAnd,
            sym::OR => P::OrOr,
            sym::NOT => P::Not,
            sym::BITAND => P::Amp,
            sym::BITOR => P::Pipe,
            sym::XOR => P::Caret,
            sym::COMPL => P::Tilde,
            sym::NOT_EQ => P::Ne,
            _ => return Ok(E::Num(Some(Num::int(0)))),
        };
        return Ok(E::Op(op));
    }
    Ok(E::Num(Some(Num::int(0))))
}

/// `defined X` / `defined ( X )`, operand read unexpanded.
fn defined(exp: &mut Expander) -> Result<E, Undecided> {
    let err = Undecided::Error("operator \"defined\" requires an identifier");
    let mut t = exp.next_raw().ok_or(err.clone())?;
    let paren = t.is(P::LParen);
    if paren {
        t = exp.next_raw().ok_or(err.clone())?;
    }
    if t.kind != Kind::Ident {
        return Err(err);
    }
    if paren && !exp.next_raw().is_some_and(|c| c.is(P::RParen)) {
        return Err(Undecided::Error("missing ')' after \"defined\""));
    }
    Ok(E::Num(exp.macros().defined(t.sym).map(Num::truth)))
}

fn has_include(
    exp: &mut Expander,
    opts: &Options,
    oracle: &mut dyn Oracle,
    next: bool,
) -> Result<E, Undecided> {
    let open = exp.get().map_err(from_expand)?;
    if !open.is_some_and(|t| t.is(P::LParen)) {
        return Err(Undecided::Error("missing '(' after __has_include"));
    }
    let first = exp
        .get()
        .map_err(from_expand)?
        .ok_or(Undecided::Error("__has_include requires a header-name"))?;
    let (name, angled) =
        header_name(exp, first, opts.header_trailing_space).map_err(from_expand)?;
    let close = exp.get().map_err(from_expand)?;
    if !close.is_some_and(|t| t.is(P::RParen)) {
        return Err(Undecided::Error("missing ')' after __has_include"));
    }
    match oracle.has_include(&name, angled, next) {
        Some(b) => Ok(E::Num(Some(Num::truth(b)))),
        None => Err(Undecided::Error("__has_include could not be answered")),
    }
}

/// A builtin call's operand tokens, unexpanded, up to its `)`.
fn parenthesized(exp: &mut Expander) -> Result<Vec<Tok>, Undecided> {
    let mut depth = 0;
    let mut args = Vec::new();
    loop {
        let t = exp
            .next_raw()
            .ok_or(Undecided::Error("unterminated builtin call"))?;
        if t.is(P::LParen) {
            depth += 1;
            if depth == 1 {
                continue;
            }
        } else if t.is(P::RParen) {
            depth -= 1;
            if depth == 0 {
                return Ok(args);
            }
        } else if depth == 0 {
            return Err(Undecided::Error("missing '(' after builtin"));
        }
        args.push(t);
    }
}

/// The name of `#include`/`__has_include` from its first (expanded)
/// token: a string literal, a header-name, or `<` tokens `>` glued as gcc
/// does (a blank before a token becomes one space).
pub fn header_name(
    exp: &mut Expander,
    first: Tok,
    trailing_space: bool,
) -> Result<(Vec<u8>, bool), ExpandError> {
    let invalid = ExpandError::Invalid("#include expects \"FILENAME\" or <FILENAME>");
    match first.kind {
        Kind::Str | Kind::Header => {
            let s = exp.int.get(first.sym);
            if s.len() < 2 || !matches!(s[0], b'"' | b'<') {
                return Err(invalid);
            }
            Ok((s[1..s.len() - 1].to_vec(), first.kind == Kind::Header))
        }
        Kind::Punct(P::Lt) => {
            let mut name = Vec::new();
            loop {
                let t = exp
                    .get()?
                    .ok_or(ExpandError::Invalid("missing terminating > character"))?;
                if t.flags & PREV_WHITE != 0 && (!t.is(P::Gt) || trailing_space) {
                    name.push(b' ');
                }
                if t.is(P::Gt) {
                    return Ok((name, true));
                }
                name.extend_from_slice(exp.int.get(t.sym));
            }
        }
        _ => Err(invalid),
    }
}

struct Parser<'a> {
    t: &'a [E],
    i: usize,
}

type R = Result<V, &'static str>;

fn prec(p: P) -> Option<u8> {
    Some(match p {
        P::OrOr => 1,
        P::AndAnd => 2,
        P::Pipe => 3,
        P::Caret => 4,
        P::Amp => 5,
        P::EqEq | P::Ne => 6,
        P::Lt | P::Gt | P::Le | P::Ge => 7,
        P::Shl | P::Shr => 8,
        P::Plus | P::Minus => 9,
        P::Star | P::Slash | P::Percent => 10,
        _ => return None,
    })
}

impl Parser<'_> {
    fn peek_op(&self) -> Option<P> {
        match self.t.get(self.i) {
            Some(E::Op(p)) => Some(*p),
            _ => None,
        }
    }

    fn comma(&mut self, eval: bool) -> R {
        let mut v = self.cond(eval)?;
        while self.peek_op() == Some(P::Comma) {
            self.i += 1;
            v = self.cond(eval)?;
        }
        Ok(v)
    }

    fn cond(&mut self, eval: bool) -> R {
        let c = self.binary(1, eval)?;
        if self.peek_op() != Some(P::Question) {
            return Ok(c);
        }
        self.i += 1;
        let a = self.comma(eval && c.is_none_or(|c| c.nz()))?;
        if self.peek_op() != Some(P::Colon) {
            return Err("'?' without following ':'");
        }
        self.i += 1;
        let b = self.cond(eval && c.is_none_or(|c| !c.nz()))?;
        let unsigned = a.is_some_and(|a| a.unsigned) || b.is_some_and(|b| b.unsigned);
        let pick = match c {
            Some(c) if c.nz() => a,
            Some(_) => b,
            None if a == b => a,
            None => None,
        };
        Ok(pick.map(|n| Num { unsigned, ..n }))
    }

    fn binary(&mut self, min: u8, eval: bool) -> R {
        let mut l = self.unary(eval)?;
        while let Some(op) = self.peek_op() {
            let Some(p) = prec(op) else { break };
            if p < min {
                break;
            }
            self.i += 1;
            l = match op {
                P::AndAnd => {
                    let r = self.binary(p + 1, eval && l.is_none_or(|l| l.nz()))?;
                    match (l, r) {
                        (Some(a), _) if !a.nz() => Some(Num::truth(false)),
                        (_, Some(b)) if !b.nz() => Some(Num::truth(false)),
                        (Some(_), Some(_)) => Some(Num::truth(true)),
                        _ => None,
                    }
                }
                P::OrOr => {
                    let r = self.binary(p + 1, eval && l.is_none_or(|l| !l.nz()))?;
                    match (l, r) {
                        (Some(a), _) if a.nz() => Some(Num::truth(true)),
                        (_, Some(b)) if b.nz() => Some(Num::truth(true)),
                        (Some(_), Some(_)) => Some(Num::truth(false)),
                        _ => None,
                    }
                }
                _ => {
                    let r = self.binary(p + 1, eval)?;
                    match (l, r) {
                        (Some(a), Some(b)) => Some(arith(op, a, b, eval)?),
                        _ => None,
                    }
                }
            };
        }
        Ok(l)
    }

    fn unary(&mut self, eval: bool) -> R {
        let Some(e) = self.t.get(self.i).copied() else {
            return Err("#if with no expression");
        };
        self.i += 1;
        match e {
            E::Num(v) => Ok(v),
            E::Op(P::LParen) => {
                let v = self.comma(eval)?;
                if self.peek_op() != Some(P::RParen) {
                    return Err("missing ')' in expression");
                }
                self.i += 1;
                Ok(v)
            }
            E::Op(op @ (P::Plus | P::Minus | P::Tilde | P::Not)) => {
                let v = self.unary(eval)?;
                Ok(v.map(|n| match op {
                    P::Minus => Num {
                        v: n.v.wrapping_neg(),
                        ..n
                    },
                    P::Tilde => Num { v: !n.v, ..n },
                    P::Not => Num::truth(!n.nz()),
                    _ => n,
                }))
            }
            E::Op(_) => Err("operator has no left operand"),
        }
    }
}

/// A binary operator other than `&&`/`||` on known operands.
fn arith(op: P, a: Num, b: Num, eval: bool) -> Result<Num, &'static str> {
    if matches!(op, P::Shl | P::Shr) {
        return Ok(shift(op, a, b));
    }
    let unsigned = a.unsigned || b.unsigned;
    let (x, y) = (a.v, b.v);
    let (sx, sy) = (x as i64, y as i64);
    let cmp = |o: std::cmp::Ordering| -> Num {
        use std::cmp::Ordering::*;
        let ord = if unsigned { x.cmp(&y) } else { sx.cmp(&sy) };
        Num::truth(match op {
            P::Lt => ord == Less,
            P::Gt => ord == Greater,
            P::Le => ord != Greater,
            P::Ge => ord != Less,
            _ => ord == o,
        })
    };
    let v = match op {
        P::Star => x.wrapping_mul(y),
        P::Slash | P::Percent => {
            if y == 0 {
                if eval {
                    return Err("division by zero in #if");
                }
                0
            } else if unsigned {
                if op == P::Slash {
                    x / y
                } else {
                    x % y
                }
            } else if op == P::Slash {
                sx.wrapping_div(sy) as u64
            } else {
                sx.wrapping_rem(sy) as u64
            }
        }
        P::Plus => x.wrapping_add(y),
        P::Minus => x.wrapping_sub(y),
        P::Lt | P::Gt | P::Le | P::Ge => return Ok(cmp(std::cmp::Ordering::Equal)),
        P::EqEq => return Ok(Num::truth(x == y)),
        P::Ne => return Ok(Num::truth(x != y)),
        P::Amp => x & y,
        P::Caret => x ^ y,
        P::Pipe => x | y,
        _ => return Err("invalid operator"),
    };
    Ok(Num { v, unsigned })
}

/// gcc's shifts: a negative count shifts the other way, a count of the
/// width or more gives 0 (or -1 for a negative signed value shifted
/// right); the result has the left operand's type.
fn shift(op: P, a: Num, b: Num) -> Num {
    let neg_count = !b.unsigned && (b.v as i64) < 0;
    let (left, n) = match (op, neg_count) {
        (P::Shl, false) => (true, b.v),
        (P::Shl, true) => (false, (b.v as i64).unsigned_abs()),
        (_, false) => (false, b.v),
        (_, true) => (true, (b.v as i64).unsigned_abs()),
    };
    let v = if left {
        if n >= 64 {
            0
        } else {
            a.v << n
        }
    } else if a.unsigned {
        if n >= 64 {
            0
        } else {
            a.v >> n
        }
    } else {
        let s = a.v as i64;
        if n >= 64 {
            (s >> 63) as u64
        } else {
            (s >> n) as u64
        }
    };
    Num { v, ..a }
}

#[cfg(test)]
#[path = "expr_tests.rs"]
mod tests;
