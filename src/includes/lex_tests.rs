//! Table tests for the directive lexer: each case is a source text and the
//! directive lines expected from it, spelled back with single spaces.

use super::*;

fn lines(src: &str) -> Vec<String> {
    let mut int = Interner::new();
    let lx = lex(src.as_bytes(), &mut int);
    lx.lines
        .iter()
        .map(|l| {
            let toks = &lx.toks[l.start as usize..l.end as usize];
            let words: Vec<String> = toks
                .iter()
                .map(|t| String::from_utf8_lossy(int.get(t.sym)).into_owned())
                .collect();
            format!("{}:{}", l.line, words.join(" "))
        })
        .collect()
}

#[test]
fn directives_only_at_line_start() {
    assert_eq!(
        lines("#include \"a.h\"\nint x; # include \"b.h\"\n  #  define X 1\n"),
        vec!["1:include \"a.h\"", "3:define X 1"]
    );
}

#[test]
fn comments_are_whitespace() {
    // A block comment that opened at the start of a line keeps the `#`
    // at the start of the logical line; one that opened after a token
    // does not (gcc: the comment is one space, its newline vanishes).
    let src =
        "/* a\n b */ #define A\nx; /* c\n */ #define B\n// #define C\n#define D /* x\ny */ 2\n";
    assert_eq!(lines(src), vec!["2:define A", "6:define D 2"]);
}

#[test]
fn splices_anywhere() {
    let src = "#def\\\nine X \\\n 1\n// comment \\\n#define HIDDEN\n#define Y\\  \n 2\n";
    assert_eq!(lines(src), vec!["1:define X 1", "6:define Y 2"]);
    // A splice between `/` and `*` opens a comment.
    assert_eq!(lines("#define Z 1 /\\\n* c */ 2\n"), vec!["1:define Z 1 2"]);
}

#[test]
fn literals_hide_hashes_and_comments() {
    let src = "const char *s = \"/*\";\n#define A 1\nchar c = '\"';\n#define B 2\n";
    assert_eq!(lines(src), vec!["2:define A 1", "4:define B 2"]);
    // An unterminated quote ends at the end of its line.
    assert_eq!(lines("#if 0\ndon't\n#endif\n"), vec!["1:if 0", "3:endif"]);
}

#[test]
fn raw_strings_are_opaque() {
    let src = "auto s = R\"xy(\n#include \"no.h\"\n)\"\n)xy\";\n#include \"yes.h\"\nauto t = u8R\"(\n#define NO\n)\";\n";
    assert_eq!(lines(src), vec!["5:include \"yes.h\""]);
    // In a directive, the raw string is one token.
    assert_eq!(
        lines("#define S R\"(a\"b)\"\n"),
        vec!["1:define S R\"(a\"b)\""]
    );
}

#[test]
fn digit_separators_are_not_quotes() {
    let src = "int x = 1'000'000;\n#define A 0x1'f\n";
    assert_eq!(lines(src), vec!["2:define A 0x1'f"]);
}

#[test]
fn digraph_hash() {
    assert_eq!(
        lines("%:include <a.h>\n%:define P(a,b) a %:%: b\n"),
        vec!["1:include <a.h>", "2:define P ( a , b ) a %:%: b"]
    );
}

#[test]
fn header_names_only_where_gcc_lexes_them() {
    let mut int = Interner::new();
    let lx = lex(
        b"#include <a/b.h>\n#if __has_include(<c.h>)\n#endif\n#define L <d.h>\n#include <e.h\n",
        &mut int,
    );
    let kinds: Vec<Vec<Kind>> = lx
        .lines
        .iter()
        .map(|l| {
            lx.toks[l.start as usize..l.end as usize]
                .iter()
                .map(|t| t.kind)
                .collect()
        })
        .collect();
    assert_eq!(kinds[0], vec![Kind::Ident, Kind::Header]);
    assert_eq!(kinds[1][3], Kind::Header);
    assert_eq!(kinds[3][2], Kind::Punct(crate::includes::token::P::Lt));
    // No `>` on the line: a plain `<`.
    assert_eq!(kinds[4][1], Kind::Punct(crate::includes::token::P::Lt));
}

#[test]
fn whitespace_flags() {
    let mut int = Interner::new();
    let lx = lex(b"#define F(x) x+ y\n", &mut int);
    let t = &lx.toks;
    assert!(!t[2].white(), "( follows F directly");
    assert!(t[5].white());
    assert!(!t[6].white());
    assert!(t[7].white());
}

#[test]
fn text_pragma_operator() {
    assert_eq!(
        lines("int a;\n_Pragma(\"once\") _Pragma(\"push_macro(\\\"X\\\")\")\n"),
        vec!["2:pragma once", "2:pragma push_macro ( \"X\" )"]
    );
}

#[test]
fn trigraphs_are_detected() {
    let mut int = Interner::new();
    assert!(lex(b"??=define X\n", &mut int).trigraphs);
    assert!(!lex(b"a ?? b\n", &mut int).trigraphs);
}

#[test]
fn crlf_line_ends() {
    assert_eq!(
        lines("#define A 1\r\n#define B \\\r\n 2\r\n"),
        vec!["1:define A 1", "2:define B 2"]
    );
}

#[test]
fn destringize_unescapes() {
    assert_eq!(destringize(b"L\"a\\\"b\\\\c\""), b"a\"b\\c".to_vec());
}
