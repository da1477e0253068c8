//! Macro definitions and the macro table of one scan. A definition is
//! parsed once, when its file's skeleton is built, into a form ready to
//! substitute (parameters resolved, `#` and `##` turned into flags, as
//! cpplib stores them), and kept in the skeleton (`DefSource`): the table
//! points at it, and a walk that executes a `#define` copies nothing.
//! `expand` does the substituting.
//!
//! The table knows a third state besides defined and undefined: `Unknown`,
//! for a macro defined or undefined inside a conditional group the scan
//! could not decide. Anything that depends on it is undecided too.
//!
//! A unit's table is a layer over the compiler's predefined macros,
//! shared by every unit (`over`): starting a unit copies nothing.

use std::rc::Rc;

use super::token::{sym, FxMap, Kind, Sym, Tok, P, PASTE_LEFT, PREV_WHITE, STRINGIFY};

#[derive(Debug, PartialEq, Eq)]
pub struct Macro {
    pub fn_like: bool,
    pub variadic: bool,
    /// Parameter names; a variadic macro's last one is `__VA_ARGS__` or
    /// its GNU name (`args...`).
    pub params: Vec<Sym>,
    /// The replacement list: parameters are `Kind::Param` (index in
    /// `sym`), `#param` is the parameter with `STRINGIFY`, `a ## b` is
    /// `a` with `PASTE_LEFT`. The first token never has `PREV_WHITE`.
    pub body: Vec<Tok>,
    /// Some body token has `PASTE_LEFT`.
    pub pastes: bool,
}

/// A definition wherever it is kept (a `Macro`, a skeleton).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacroRef<'a> {
    pub fn_like: bool,
    pub variadic: bool,
    pub pastes: bool,
    pub params: &'a [Sym],
    pub body: &'a [Tok],
}

impl Macro {
    pub fn view(&self) -> MacroRef<'_> {
        MacroRef {
            fn_like: self.fn_like,
            variadic: self.variadic,
            pastes: self.pastes,
            params: &self.params,
            body: &self.body,
        }
    }
}

/// Something that keeps parsed definitions by index: a skeleton keeps
/// those of its file (the compiler's predefined macros are one too).
pub trait DefSource: std::fmt::Debug {
    fn def(&self, i: u32) -> Option<MacroRef<'_>>;
}

/// Builtins the table answers for the compiler (found by the probe).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    HasInclude,
    HasIncludeNext,
    /// A function-like builtin whose answer only the compiler knows
    /// (`__has_builtin`, `__has_attribute`, ...): defined, value unknown.
    Opaque,
    File,
    Line,
    IncludeLevel,
    BaseFile,
    FileName,
    /// Defined, value unknown (`__COUNTER__`, `__DATE__`, ...).
    UnknownValue,
}

#[derive(Clone, Debug)]
pub enum Slot {
    Def(Rc<Macro>),
    /// A definition kept by its file's skeleton.
    Kept(Rc<dyn DefSource>, u32),
    Special(Special),
    /// Maybe defined, maybe not, definition unknown.
    Unknown,
    /// Undefined in this layer, whatever the shared one says.
    Undefined,
}

/// A `#pragma push_macro` entry: what was there, or "we could not know".
#[derive(Clone, Debug)]
enum Pushed {
    Was(Option<Slot>),
    Unknown,
}

#[derive(Clone, Default)]
pub struct Macros {
    map: FxMap<Sym, Slot>,
    /// The shared layer under `map`.
    shared: Option<Rc<FxMap<Sym, Slot>>>,
    pushed: FxMap<Sym, Vec<Pushed>>,
}

impl Slot {
    /// The definition, for the slots that have one.
    pub fn def(&self) -> Option<MacroRef<'_>> {
        match self {
            Slot::Def(m) => Some(m.view()),
            Slot::Kept(src, i) => src.def(*i),
            _ => None,
        }
    }
}

impl Macros {
    /// An empty layer over `self`'s definitions, for one unit.
    pub fn over(shared: &Rc<FxMap<Sym, Slot>>) -> Macros {
        Macros {
            shared: Some(shared.clone()),
            ..Macros::default()
        }
    }

    /// This table's definitions, to be shared (`over`).
    pub fn into_shared(self) -> Rc<FxMap<Sym, Slot>> {
        debug_assert!(self.shared.is_none());
        Rc::new(self.map)
    }

    pub fn get(&self, s: Sym) -> Option<&Slot> {
        match self.map.get(&s) {
            Some(Slot::Undefined) => None,
            Some(slot) => Some(slot),
            None => self.shared.as_ref()?.get(&s),
        }
    }

    /// Definedness for `defined`/`#ifdef`: None when unknown.
    pub fn defined(&self, s: Sym) -> Option<bool> {
        match self.get(s) {
            None => Some(false),
            Some(Slot::Unknown) => None,
            Some(_) => Some(true),
        }
    }

    pub fn set_special(&mut self, s: Sym, sp: Special) {
        self.map.insert(s, Slot::Special(sp));
    }

    pub fn set(&mut self, s: Sym, slot: Slot) {
        self.map.insert(s, slot);
    }

    /// `#define`; `certain` is false inside an undecided group, where a
    /// new definition makes the macro unknown unless it is identical to
    /// the one in force (a common harmless redefinition). `slot` is a
    /// `Def` or a `Kept`.
    pub fn define(&mut self, name: Sym, slot: Slot, certain: bool) {
        if certain {
            self.map.insert(name, slot);
            return;
        }
        let same = match (self.get(name).and_then(Slot::def), slot.def()) {
            (Some(old), Some(new)) => old == new,
            _ => false,
        };
        if !same {
            self.map.insert(name, Slot::Unknown);
        }
    }

    pub fn undef(&mut self, name: Sym, certain: bool) {
        if certain {
            self.remove(name);
        } else if self.get(name).is_some() {
            self.map.insert(name, Slot::Unknown);
        }
    }

    fn remove(&mut self, name: Sym) {
        if self.shared.as_ref().is_some_and(|s| s.contains_key(&name)) {
            self.map.insert(name, Slot::Undefined);
        } else {
            self.map.remove(&name);
        }
    }

    pub fn push_macro(&mut self, name: Sym, certain: bool) {
        let e = if certain {
            Pushed::Was(self.get(name).cloned())
        } else {
            Pushed::Unknown
        };
        self.pushed.entry(name).or_default().push(e);
    }

    /// `#pragma pop_macro`: an empty stack leaves the macro as it is
    /// (gcc does the same).
    pub fn pop_macro(&mut self, name: Sym, certain: bool) {
        let Some(e) = self.pushed.get_mut(&name).and_then(|v| v.pop()) else {
            return;
        };
        match (e, certain) {
            (Pushed::Was(Some(slot)), true) => {
                self.map.insert(name, slot);
            }
            (Pushed::Was(None), true) => self.remove(name),
            _ => {
                self.map.insert(name, Slot::Unknown);
            }
        }
    }
}

/// Parses the tokens after `#define`; None for a definition gcc rejects
/// (which leaves the macro untouched, and fails the compile anyway).
pub fn parse_define(toks: &[Tok]) -> Option<(Sym, Macro)> {
    let name = toks.first()?;
    if name.kind != Kind::Ident || name.sym == sym::DEFINED {
        return None;
    }
    let mut i = 1;
    let mut params = Vec::new();
    let mut fn_like = false;
    let mut variadic = false;
    if toks.get(1).is_some_and(|t| t.is(P::LParen) && !t.white()) {
        fn_like = true;
        i = 2;
        let mut expect_param = true;
        loop {
            let t = toks.get(i)?;
            i += 1;
            match t.kind {
                Kind::Punct(P::RParen) if !expect_param || params.is_empty() => break,
                Kind::Ident if expect_param => {
                    params.push(t.sym);
                    expect_param = false;
                    if toks.get(i).is_some_and(|n| n.is(P::Ellipsis)) {
                        // GNU named variadic parameter: `args...`.
                        variadic = true;
                        i += 1;
                        if !toks.get(i)?.is(P::RParen) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                }
                Kind::Punct(P::Comma) if !expect_param => expect_param = true,
                Kind::Punct(P::Ellipsis) if expect_param => {
                    params.push(sym::VA_ARGS);
                    variadic = true;
                    if !toks.get(i)?.is(P::RParen) {
                        return None;
                    }
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    let body = parse_body(&toks[i..], &params, fn_like, variadic)?;
    let pastes = body.iter().any(|t| t.flags & PASTE_LEFT != 0);
    Some((
        name.sym,
        Macro {
            fn_like,
            variadic,
            params,
            body,
            pastes,
        },
    ))
}

fn parse_body(toks: &[Tok], params: &[Sym], fn_like: bool, variadic: bool) -> Option<Vec<Tok>> {
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let mut t = toks[i];
        t.flags &= PREV_WHITE;
        i += 1;
        if t.kind == Kind::Ident {
            if let Some(n) = params.iter().position(|&p| p == t.sym) {
                t = Tok::new(Kind::Param, Sym(n as u32), t.flags);
            } else if t.sym == sym::VA_ARGS && !variadic {
                // gcc: "__VA_ARGS__ can only appear in the expansion of a
                // C99 variadic macro" (a pedantic error; keep it literal).
            }
        }
        if fn_like && t.is(P::Hash) {
            let next = toks.get(i)?;
            if next.kind == Kind::Ident && next.sym == sym::VA_OPT && variadic {
                t.flags |= STRINGIFY;
                out.push(t);
                continue;
            }
            let n = params.iter().position(|&p| p == next.sym)?;
            if next.kind != Kind::Ident {
                return None;
            }
            i += 1;
            out.push(Tok::new(Kind::Param, Sym(n as u32), t.flags | STRINGIFY));
            continue;
        }
        if t.is(P::HashHash) {
            let last = out.last_mut()?;
            if i >= toks.len() {
                return None;
            }
            last.flags |= PASTE_LEFT;
            continue;
        }
        out.push(t);
    }
    if let Some(f) = out.first_mut() {
        f.flags &= !PREV_WHITE;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::includes::lex::lex_line;
    use crate::includes::token::Interner;

    fn def(src: &str) -> Option<Macro> {
        let mut int = Interner::new();
        let mut toks = Vec::new();
        lex_line(src.as_bytes(), &mut int, &mut toks);
        parse_define(&toks).map(|(_, m)| m)
    }

    #[test]
    fn object_and_function_like() {
        let m = def("X 1 + 2").unwrap();
        assert!(!m.fn_like);
        assert_eq!(m.body.len(), 3);
        assert!(!m.body[0].white());
        // A space before the parenthesis makes it object-like.
        assert!(!def("F (a) a").unwrap().fn_like);
        let f = def("F(a, b) b a").unwrap();
        assert!(f.fn_like);
        assert_eq!(f.body[0].kind, Kind::Param);
        assert_eq!(f.body[0].sym, Sym(1));
    }

    #[test]
    fn variadic_forms() {
        let v = def("V(a, ...) a __VA_ARGS__").unwrap();
        assert!(v.variadic);
        assert_eq!(v.body[1].sym, Sym(1));
        let g = def("G(args...) args").unwrap();
        assert!(g.variadic);
        assert_eq!(g.body[0].kind, Kind::Param);
        assert!(def("E() x").unwrap().params.is_empty());
    }

    #[test]
    fn stringify_and_paste_become_flags() {
        let m = def("S(a, b) #a a ## b").unwrap();
        assert_eq!(m.body.len(), 3);
        assert!(m.body[0].flags & STRINGIFY != 0);
        assert!(m.body[1].flags & PASTE_LEFT != 0);
        assert_eq!(m.body[2].sym, Sym(1));
    }

    #[test]
    fn rejected_definitions() {
        assert!(def("defined 1").is_none());
        assert!(def("F(a) #b").is_none());
        assert!(def("F(a,) a").is_none());
        assert!(def("P ## x").is_none());
        assert!(def("P x ##").is_none());
    }

    #[test]
    fn uncertain_definitions_become_unknown() {
        let mut int = Interner::new();
        let x = int.intern(b"X");
        let one = Rc::new(def("X 1").unwrap());
        let mut t = Macros::default();
        t.define(x, Slot::Def(one.clone()), true);
        // The same definition again, in an undecided group: still known.
        t.define(x, Slot::Def(Rc::new(def("X 1").unwrap())), false);
        assert_eq!(t.defined(x), Some(true));
        t.define(x, Slot::Def(Rc::new(def("X 2").unwrap())), false);
        assert_eq!(t.defined(x), None);
        let y = int.intern(b"Y");
        t.undef(y, false);
        assert_eq!(t.defined(y), Some(false));
    }

    #[test]
    fn push_and_pop() {
        let mut int = Interner::new();
        let x = int.intern(b"X");
        let one = Rc::new(def("X 1").unwrap());
        let mut t = Macros::default();
        t.define(x, Slot::Def(one.clone()), true);
        t.push_macro(x, true);
        t.undef(x, true);
        assert_eq!(t.defined(x), Some(false));
        t.pop_macro(x, true);
        assert_eq!(t.defined(x), Some(true));
        t.push_macro(x, false);
        t.pop_macro(x, true);
        assert_eq!(t.defined(x), None);
    }
}
