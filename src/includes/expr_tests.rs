//! `#if` arithmetic and operators, one table row per rule; expected
//! values were checked against gcc 12 (`gcc -E` of `#if EXPR`).

use super::*;
use crate::includes::expand::tests::table;
use crate::includes::lex::lex_line;

struct Files(Vec<&'static str>, Vec<(Vec<u8>, bool, bool)>);

impl Oracle for Files {
    fn has_include(&mut self, name: &[u8], angled: bool, next: bool) -> Option<bool> {
        self.1.push((name.to_vec(), angled, next));
        Some(self.0.iter().any(|f| f.as_bytes() == name))
    }
}

fn run(defs: &[&str], opts: Options, line: &str) -> (Result<bool, Undecided>, Files) {
    let mut int = Interner::new();
    let mut t = table(&mut int, defs);
    t.set_special(sym::HAS_INCLUDE, Special::HasInclude);
    t.set_special(sym::HAS_INCLUDE_NEXT, Special::HasIncludeNext);
    t.set_special(int.intern(b"__has_builtin"), Special::Opaque);
    let hd = int.intern(b"HALF_DEFINED");
    t.define(
        hd,
        crate::includes::macros::Slot::Def(std::rc::Rc::new(crate::includes::macros::Macro {
            fn_like: false,
            variadic: false,
            params: vec![],
            body: vec![],
            pastes: false,
        })),
        true,
    );
    t.undef(hd, false);
    let mut toks = Vec::new();
    lex_line(line.as_bytes(), &mut int, &mut toks);
    let d = Dyn {
        file: Some(b"f.h"),
        line: Some(3),
        line_asked: &std::cell::Cell::new(false),
        depth: 1,
        base_file: b"m.c",
    };
    let mut files = Files(vec!["yes.h", "sys/yes.h"], Vec::new());
    let r = eval(
        &toks,
        &t,
        &mut int,
        &d,
        &opts,
        &mut files,
        &mut Scratch::default(),
    );
    (r, files)
}

fn c(line: &str) -> Result<bool, Undecided> {
    run(&[], Options::default(), line).0
}

#[test]
fn arithmetic_table() {
    let t = [
        ("1 + 2 * 3 == 7", true),
        ("(1 + 2) * 3 == 9", true),
        ("-1 < 0", true),
        ("-1 < 0u", false),
        ("-1 > 0u", true),
        ("0xffffffffffffffff == -1", true),
        ("0x8000000000000000 > 0", true),
        ("18446744073709551615 == -1", true),
        ("9223372036854775807 > 0", true),
        ("(-1 >> 70) == -1", true),
        ("(1 << 64) == 0", true),
        ("(1 << -1) == 0", true),
        ("(8 >> -1) == 16", true),
        ("(-1u >> 63) == 1", true),
        ("-7 / 2 == -3", true),
        ("-7 % 2 == -1", true),
        ("7u / 2 == 3", true),
        ("~0 == -1", true),
        ("!0 && !!5", true),
        ("1 ? 2 : 3", true),
        ("0 ? 1 : 0", false),
        ("(0 ? 1u : -1) > 0", true),
        ("(1, 0)", false),
        ("3 & 5 ^ 1 | 8", true),
        ("0b101 == 5", true),
        ("010 == 8", true),
        ("1'000 == 1000", true),
        ("10UL == 10 && 10ll == 10", true),
        ("'a' == 97", true),
        ("'\\377' < 0", true),
        ("'\\xff' == -1", true),
        ("'ab' == 24930", true),
        ("L'\\xffffffff' == -1", true),
        ("u'\\xffff' == 65535", true),
        ("'\\n' == 10 && '\\0' == 0 && '\\'' == 39", true),
        ("undefined_identifier == 0", true),
    ];
    for (line, want) in t {
        assert_eq!(c(line), Ok(want), "#if {line}");
    }
}

#[test]
fn unsigned_char_target() {
    let o = Options {
        unsigned_char: true,
        ..Options::default()
    };
    assert_eq!(run(&[], o, "'\\xff' == 255").0, Ok(true));
}

#[test]
fn short_circuit_hides_errors() {
    assert_eq!(c("1 || 1/0"), Ok(true));
    assert_eq!(c("0 && 1/0"), Ok(false));
    assert_eq!(c("1 ? 2 : 1/0"), Ok(true));
    assert_eq!(c("0 ? 1/0 : 0"), Ok(false));
    assert_eq!(c("1 / 0"), Err(Undecided::Error("division by zero in #if")));
    assert!(c("2 % 0 || 1").is_err());
}

#[test]
fn errors_leave_the_condition_undecided() {
    for line in [
        "", "1 +", "(1", "1 2", "1.0", "\"s\"", "08", "1 = 1", "defined", "defined(", "# x",
    ] {
        assert!(c(line).is_err(), "#if {line}");
    }
}

#[test]
fn defined_forms() {
    let defs = &[
        "X",
        "D defined(X)",
        "E defined X && defined Y",
        "F(a) defined(a)",
        "Z X",
    ];
    let o = Options::default();
    assert_eq!(
        run(defs, o, "defined X && defined(X) && !defined Y").0,
        Ok(true)
    );
    // `defined` produced by expansion, operand read unexpanded (gcc).
    assert_eq!(run(defs, o, "D").0, Ok(true));
    assert_eq!(run(defs, o, "E").0, Ok(false));
    // The argument is expanded first: Z becomes X, then nothing: error
    // in gcc ("operator defined requires an identifier").
    assert!(run(defs, o, "F(Z)").0.is_err());
    assert_eq!(run(defs, o, "F(Y)").0, Ok(false));
}

#[test]
fn cplusplus_keywords() {
    let o = Options {
        cplusplus: true,
        ..Options::default()
    };
    assert_eq!(run(&[], o, "true && !false").0, Ok(true));
    assert_eq!(
        run(&[], o, "not defined(X) and (1 bitor 0) not_eq 0").0,
        Ok(true)
    );
    assert_eq!(c("true"), Ok(false), "in C, true is an identifier: 0");
}

#[test]
fn unknowns_propagate_and_short_circuit() {
    let o = Options::default();
    let u = run(&[], o, "defined(HALF_DEFINED)").0;
    assert!(u.is_err());
    assert_eq!(run(&[], o, "0 && defined(HALF_DEFINED)").0, Ok(false));
    assert_eq!(run(&[], o, "defined(HALF_DEFINED) && 0").0, Ok(false));
    assert_eq!(run(&[], o, "defined(HALF_DEFINED) || 1").0, Ok(true));
    assert!(run(&[], o, "defined(HALF_DEFINED) + 1").0.is_err());
    assert!(matches!(
        run(&[], o, "HALF_DEFINED").0,
        Err(Undecided::Unknown(_))
    ));
    // A builtin only the compiler can answer.
    assert!(matches!(
        run(&[], o, "__has_builtin(__builtin_expect)").0,
        Err(Undecided::Builtin(_))
    ));
    assert_eq!(run(&[], o, "0 && __has_builtin(x)").0, Ok(false));
    assert_eq!(run(&[], o, "1 || __has_builtin(x)").0, Ok(true));
}

#[test]
fn has_include_forms() {
    let defs = &["H \"yes.h\"", "A <sys/yes.h>", "N(x) <x.h>", "S(x) #x"];
    let o = Options::default();
    let (r, f) = run(
        defs,
        o,
        "__has_include(\"yes.h\") && __has_include(<sys/yes.h>)",
    );
    assert_eq!(r, Ok(true));
    assert_eq!(f.1[0], (b"yes.h".to_vec(), false, false));
    assert_eq!(f.1[1], (b"sys/yes.h".to_vec(), true, false));
    assert_eq!(
        run(defs, o, "__has_include(H) && __has_include(A)").0,
        Ok(true)
    );
    let (r, f) = run(
        defs,
        o,
        "__has_include(N(no)) || __has_include_next(S(yes.h))",
    );
    assert_eq!(r, Ok(true));
    assert_eq!(f.1[0], (b"no.h".to_vec(), true, false));
    assert_eq!(f.1[1], (b"yes.h".to_vec(), false, true));
    assert!(run(defs, o, "__has_include(yes.h)").0.is_err());
}

#[test]
fn header_name_spaces_follow_the_compiler() {
    let defs = &["S < sys/ yes.h >"];
    let (_, f) = run(defs, Options::default(), "__has_include(S)");
    assert_eq!(
        f.1[0].0,
        b" sys/ yes.h".to_vec(),
        "gcc drops the blank before >"
    );
    let o = Options {
        header_trailing_space: true,
        ..Options::default()
    };
    let (_, f) = run(defs, o, "__has_include(S)");
    assert_eq!(f.1[0].0, b" sys/ yes.h ".to_vec(), "clang keeps it");
}

#[test]
fn numbers() {
    assert_eq!(
        parse_number(b"0"),
        Ok(Num {
            v: 0,
            unsigned: false
        })
    );
    assert_eq!(
        parse_number(b"0x10u"),
        Ok(Num {
            v: 16,
            unsigned: true
        })
    );
    assert!(parse_number(b"1e5").is_err());
    assert!(parse_number(b"0x1p3").is_err());
    assert!(parse_number(b"99999999999999999999").is_err());
    assert!(parse_number(b"1lL").is_err());
    assert!(parse_number(b"12abc").is_err());
}
