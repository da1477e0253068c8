//! Answers to the compiler's function-like builtins in `#if`
//! (`__has_builtin(x)`, `__has_attribute(x)`, `__has_feature(x)`,
//! `__has_cpp_attribute(x)`, ...), which only the compiler knows. A scan
//! that meets one it has no answer for takes both branches (a superset)
//! and records the question; the session then asks the compiler all of
//! them at once (`probe::answer_builtins`) and keeps the answers in the
//! store under the compiler's probe key (identity, flags, language: what
//! the answers depend on), so every later scan with that compiler is
//! exact there. Once per question per compiler and flags per machine.
//!
//! An answer is used only when no identifier in the operand is a macro
//! in the unit: whether a compiler expands the operand then does not
//! matter, and the question asked (without the unit's macros) is the one
//! the unit asks. Builtins whose answer depends on files (`__has_embed`)
//! are never asked.

use super::macros::Macros;
use super::store::Store;
use super::token::{FxMap, Interner, Kind, Tok};

/// Builtins whose answer is not a function of the compiler and flags.
const NEVER_ASKED: &[&[u8]] = &[b"__has_embed", b"_Pragma"];

/// One scan's view of the answers for one compiler.
#[derive(Default)]
pub struct Answers {
    /// The compiler's probe key.
    key: [u8; 32],
    memo: FxMap<Vec<u8>, Option<i64>>,
    /// Questions met without an answer, to ask the compiler.
    pub questions: Vec<Vec<u8>>,
}

impl Answers {
    pub fn new(key: [u8; 32]) -> Answers {
        Answers {
            key,
            ..Answers::default()
        }
    }

    /// The value of the builtin call `query` (see `spell`), if known for
    /// this compiler; if never asked, it is noted among the questions.
    pub fn get(&mut self, query: &[u8], store: &mut Store) -> Option<i64> {
        if let Some(v) = self.memo.get(query) {
            return *v;
        }
        let v = match store.builtin(&self.key, query) {
            Some(v) => v,
            None => {
                self.questions.push(query.to_vec());
                None
            }
        };
        self.memo.insert(query.to_vec(), v);
        v
    }
}

/// Whether `name(args)` may be answered by asking the compiler: a
/// builtin whose answer depends on the compiler and flags only, and no
/// macro of the unit in the operand.
pub fn askable(name: &[u8], args: &[Tok], macros: &Macros) -> bool {
    !NEVER_ASKED.contains(&name)
        && !args
            .iter()
            .any(|t| t.kind == Kind::Ident && macros.get(t.sym).is_some())
}

/// `name(args)` as the question is written to the compiler: a space
/// between two tokens only where the source had one, so the compiler
/// lexes the operand as the unit's (`gnu::cold` stays one scoped name).
pub fn spell(out: &mut Vec<u8>, name: &[u8], args: &[Tok], int: &Interner) {
    out.clear();
    out.extend_from_slice(name);
    out.push(b'(');
    for (i, t) in args.iter().enumerate() {
        if i > 0 && t.white() {
            out.push(b' ');
        }
        out.extend_from_slice(int.get(t.sym));
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::includes::lex::lex_line;
    use crate::includes::macros::Slot;

    fn toks(int: &mut Interner, text: &str) -> Vec<Tok> {
        let mut v = Vec::new();
        lex_line(text.as_bytes(), int, &mut v);
        v
    }

    #[test]
    fn questions_keep_the_operands_spacing() {
        let mut int = Interner::default();
        let mut q = Vec::new();
        let a = toks(&mut int, "gnu::cold");
        spell(&mut q, b"__has_cpp_attribute", &a, &int);
        assert_eq!(q, b"__has_cpp_attribute(gnu::cold)");
        let a = toks(&mut int, " x  y /* c */ z");
        spell(&mut q, b"__has_builtin", &a, &int);
        assert_eq!(q, b"__has_builtin(x y z)");
    }

    #[test]
    fn operands_with_macros_and_file_questions_are_not_asked() {
        let mut int = Interner::default();
        let mut m = Macros::default();
        let a = toks(&mut int, "__builtin_expect");
        assert!(askable(b"__has_builtin", &a, &m));
        assert!(!askable(b"__has_embed", &a, &m));
        // A macro of the unit, or one it may have defined.
        m.set(a[0].sym, Slot::Unknown);
        assert!(!askable(b"__has_builtin", &a, &m));
        let b = toks(&mut int, "\"-Wall\"");
        assert!(askable(b"__has_warning", &b, &m));
    }
}
