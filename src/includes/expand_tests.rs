//! Expansion corners, most of them the standard's own examples (C11
//! 6.10.3.5, C2x `__VA_OPT__`), checked token for token.

use super::*;
use crate::includes::macros::parse_define;
use crate::includes::macros::Macro;
use std::rc::Rc;

pub(crate) fn table(int: &mut Interner, defs: &[&str]) -> Macros {
    let mut t = Macros::default();
    for d in defs {
        let mut toks = Vec::new();
        lex_line(d.as_bytes(), int, &mut toks);
        let (name, m) = parse_define(&toks).unwrap_or_else(|| panic!("bad define {d}"));
        t.define(name, Slot::Def(Rc::new(m)), true);
    }
    t
}

fn expand_with(defs: &[&str], line: &str) -> Res<String> {
    let mut int = Interner::new();
    let t = table(&mut int, defs);
    let mut toks = Vec::new();
    lex_line(line.as_bytes(), &mut int, &mut toks);
    let d = Dyn {
        file: Some(b"dir/f.h"),
        line: Some(7),
        line_asked: &std::cell::Cell::new(false),
        depth: 2,
        base_file: b"main.c",
    };
    let mut e = Expander::new(&toks, &t, &mut int, &d);
    let mut out = Vec::new();
    while let Some(t) = e.get()? {
        out.push(t);
    }
    let mut s = String::new();
    for (k, t) in out.iter().enumerate() {
        if k > 0 && t.white() {
            s.push(' ');
        }
        s.push_str(&String::from_utf8_lossy(e.int.get(t.sym)));
    }
    Ok(s)
}

fn expand(defs: &[&str], line: &str) -> String {
    expand_with(defs, line).unwrap()
}

fn nospace(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

const EXAMPLE3: &[&str] = &[
    "x 2",
    "f(a) f(x * (a))",
    "g f",
    "z z[0]",
    "h g(~",
    "m(a) a(w)",
    "w 0,1",
    "t(a) a",
    "p() int",
    "q(x) x",
    "r(x,y) x ## y",
    "str(x) # x",
];

#[test]
fn c11_example_3() {
    let got = expand(EXAMPLE3, "f(y+1) + f(f(z)) % t(t(g)(0) + t)(1);");
    assert_eq!(
        nospace(&got),
        nospace("f(2 * (y+1)) + f(2 * (f(2 * (z[0])))) % f(2 * (0)) + t(1);")
    );
    let got = expand(EXAMPLE3, "g(x+(3,4)-w) | h 5) & m (f)^m(m);");
    assert_eq!(
        nospace(&got),
        nospace("f(2 * (2+(3,4)-0,1)) | f(2 * (~ 5)) & f(2 * (0,1))^m(0,1);")
    );
    let got = expand(
        EXAMPLE3,
        "p() i[q()] = { q(1), r(2,3), r(4,), r(,5), r(,) };",
    );
    assert_eq!(nospace(&got), nospace("int i[] = { 1, 23, 4, 5, };"));
    let got = expand(EXAMPLE3, "char c[2][6] = { str(hello), str() };");
    assert_eq!(
        nospace(&got),
        nospace("char c[2][6] = { \"hello\", \"\" };")
    );
}

const EXAMPLE4: &[&str] = &[
    "str(s) # s",
    "xstr(s) str(s)",
    "debug(s, t) printf(\"x\" # s \"= %d, x\" # t \"= %s\", x ## s, x ## t)",
    "INCFILE(n) vers ## n",
    "glue(a, b) a ## b",
    "xglue(a, b) glue(a, b)",
    "HIGHLOW \"hello\"",
    "LOW LOW \", world\"",
];

#[test]
fn c11_example_4_stringify_and_paste() {
    assert_eq!(
        expand(EXAMPLE4, "debug(1, 2);"),
        "printf(\"x\" \"1\" \"= %d, x\" \"2\" \"= %s\", x1, x2);"
    );
    assert_eq!(
        expand(
            EXAMPLE4,
            "fputs(str(strncmp(\"abc\\0d\", \"abc\", '\\4') /* c */ == 0) str(: @\\n), s);"
        ),
        "fputs(\"strncmp(\\\"abc\\\\0d\\\", \\\"abc\\\", '\\\\4') == 0\" \": @\\n\", s);"
    );
    assert_eq!(expand(EXAMPLE4, "xstr(INCFILE(2).h)"), "\"vers2.h\"");
    assert_eq!(expand(EXAMPLE4, "glue(HIGH, LOW);"), "\"hello\";");
    assert_eq!(
        expand(EXAMPLE4, "xglue(HIGH, LOW)"),
        "\"hello\" \", world\""
    );
}

#[test]
fn c11_example_7_variadic() {
    let defs = &[
        "debug(...) fprintf(stderr, __VA_ARGS__)",
        "showlist(...) puts(#__VA_ARGS__)",
        "report(test, ...) ((test)?puts(#test): printf(__VA_ARGS__))",
    ];
    assert_eq!(
        expand(defs, "debug(\"Flag\");"),
        "fprintf(stderr, \"Flag\");"
    );
    assert_eq!(
        expand(defs, "showlist(The first, second, and third items.);"),
        "puts(\"The first, second, and third items.\");"
    );
    assert_eq!(
        nospace(&expand(defs, "report(x>y, \"x is %d but y is %d\", x, y);")),
        nospace("((x>y)?puts(\"x>y\"): printf(\"x is %d but y is %d\", x, y));")
    );
}

#[test]
fn va_opt() {
    let defs = &[
        "F(...) f(0 __VA_OPT__(,) __VA_ARGS__)",
        "G(X, ...) f(0, X __VA_OPT__(,) __VA_ARGS__)",
        "SDEF(sname, ...) S sname __VA_OPT__(= { __VA_ARGS__ })",
        "EMP",
        "S(...) #__VA_OPT__(a b)",
    ];
    assert_eq!(nospace(&expand(defs, "F(a,b,c)")), "f(0,a,b,c)");
    assert_eq!(nospace(&expand(defs, "F()")), "f(0)");
    assert_eq!(nospace(&expand(defs, "F(EMP)")), "f(0)");
    assert_eq!(nospace(&expand(defs, "G(a,b,c)")), "f(0,a,b,c)");
    assert_eq!(nospace(&expand(defs, "G(a,)")), "f(0,a)");
    assert_eq!(nospace(&expand(defs, "G(a)")), "f(0,a)");
    assert_eq!(nospace(&expand(defs, "SDEF(foo);")), "Sfoo;");
    assert_eq!(nospace(&expand(defs, "SDEF(bar, 1, 2);")), "Sbar={1,2};");
    assert_eq!(expand(defs, "S(1)"), "\"a b\"");
    assert_eq!(expand(defs, "S()"), "\"\"");
}

#[test]
fn gnu_comma_paste() {
    let defs = &["e(fmt, ...) p(fmt, ## __VA_ARGS__)"];
    assert_eq!(nospace(&expand(defs, "e(x)")), "p(x)");
    assert_eq!(nospace(&expand(defs, "e(x, 1, 2)")), "p(x,1,2)");
}

#[test]
fn recursion_is_painted_blue() {
    assert_eq!(expand(&["foo foo"], "foo"), "foo");
    assert_eq!(expand(&["a b", "b a"], "a b"), "a b");
    // The famous case: `f` is re-enabled once its context is left while
    // collecting arguments, so the second call expands (gcc: "2*9*g").
    let defs = &["f(a) a*g", "g(a) f(a)"];
    assert_eq!(nospace(&expand(defs, "f(2)(9)")), "2*9*g");
}

#[test]
fn function_like_name_without_parenthesis() {
    assert_eq!(expand(&["f(x) x"], "f + 1"), "f + 1");
    assert_eq!(expand(&["f(x) x", "g f"], "g(3)"), "3");
}

#[test]
fn empty_arguments_and_errors() {
    assert_eq!(nospace(&expand(&["f(a,b) [a|b]"], "f(,)")), "[|]");
    assert_eq!(
        expand_with(&["f(a,b) a"], "f(1)"),
        Err(ExpandError::Invalid("wrong number of macro arguments"))
    );
    assert_eq!(
        expand_with(&["f(a) a"], "f(1"),
        Err(ExpandError::Invalid("unterminated argument list"))
    );
    assert_eq!(
        expand_with(&["p(a,b) a ## b"], "p(/,/)"),
        Err(ExpandError::Invalid("pasting does not give a valid token"))
    );
}

#[test]
fn header_name_built_from_tokens() {
    let defs = &["str(x) #x", "xstr(x) str(x)", "DIR sys", "H(n) <n.h>"];
    assert_eq!(expand(defs, "xstr(DIR/types.h)"), "\"sys/types.h\"");
    assert_eq!(expand(defs, "H(stdio)"), "<stdio.h>");
}

#[test]
fn dynamic_builtins() {
    let mut int = Interner::new();
    let mut t = Macros::default();
    t.set_special(int.intern(b"__FILE__"), Special::File);
    t.set_special(int.intern(b"__LINE__"), Special::Line);
    t.set_special(int.intern(b"__COUNTER__"), Special::UnknownValue);
    let mut toks = Vec::new();
    lex_line(b"__FILE__ __LINE__", &mut int, &mut toks);
    let d = Dyn {
        file: Some(b"a\"b.h"),
        line: Some(9),
        line_asked: &std::cell::Cell::new(false),
        depth: 0,
        base_file: b"m.c",
    };
    let mut e = Expander::new(&toks, &t, &mut int, &d);
    let f = e.get().unwrap().unwrap();
    assert_eq!(e.int.get(f.sym), b"\"a\\\"b.h\"");
    let l = e.get().unwrap().unwrap();
    assert_eq!(e.int.get(l.sym), b"9");
    let mut toks = Vec::new();
    lex_line(b"__COUNTER__", &mut int, &mut toks);
    let mut e = Expander::new(&toks, &t, &mut int, &d);
    assert!(matches!(e.get(), Err(ExpandError::Unknown(_))));
}

#[test]
fn unknown_macro_is_reported() {
    let mut int = Interner::new();
    let mut t = table(&mut int, &["X 1"]);
    let x = int.intern(b"X");
    t.define(
        x,
        Slot::Def(Rc::new(parse_define_str(&mut int, "X 2"))),
        false,
    );
    let mut toks = Vec::new();
    lex_line(b"X", &mut int, &mut toks);
    let d = Dyn {
        file: None,
        line: None,
        line_asked: &std::cell::Cell::new(false),
        depth: 0,
        base_file: b"",
    };
    let mut e = Expander::new(&toks, &t, &mut int, &d);
    assert_eq!(e.get(), Err(ExpandError::Unknown(x)));
}

fn parse_define_str(int: &mut Interner, s: &str) -> Macro {
    let mut toks = Vec::new();
    lex_line(s.as_bytes(), int, &mut toks);
    parse_define(&toks).unwrap().1
}
