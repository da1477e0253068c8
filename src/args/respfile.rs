//! `@file` response-file expansion, following the rules of gcc's driver
//! (libiberty `expandargv`/`buildargv`), so that the scanner sees exactly
//! the argv gcc would.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// gcc gives up on self-including response files after this many
/// expansions instead of looping forever.
const MAX_EXPANSIONS: usize = 2000;

/// Replaces every readable `@file` by the words it contains, recursively
/// (nested names are relative to the current directory, not to the file
/// that names them). An unreadable `@file` stays as it is, as in gcc, which
/// then treats it as an input file name.
pub fn expand(args: &[OsString]) -> Result<Vec<OsString>, String> {
    expand_in(args, Path::new("."))
}

/// Like [`expand`], resolving relative `@file` names against `dir`.
pub fn expand_in(args: &[OsString], dir: &Path) -> Result<Vec<OsString>, String> {
    let mut out: Vec<OsString> = args.to_vec();
    let mut i = 0;
    let mut expansions = 0;
    while i < out.len() {
        let Some(name) = out[i].as_bytes().strip_prefix(b"@") else {
            i += 1;
            continue;
        };
        let path = dir.join(OsStr::from_bytes(name));
        if path.is_dir() {
            return Err(format!("@-file refers to a directory: {}", path.display()));
        }
        let Ok(bytes) = std::fs::read(&path) else {
            i += 1;
            continue;
        };
        expansions += 1;
        if expansions > MAX_EXPANSIONS {
            return Err("@-file nesting too deep".to_string());
        }
        // Not advancing `i` lets nested @files in the inserted words expand.
        out.splice(i..=i, split(&bytes));
    }
    Ok(out)
}

/// gcc's word splitting: whitespace separates words; '...' and "..." quote
/// (each may contain the other quote); a backslash takes the next byte
/// literally everywhere, even inside single quotes and before a newline.
/// `''` is an empty word.
pub fn split(text: &[u8]) -> Vec<OsString> {
    let mut words = Vec::new();
    let mut bytes = text.iter().copied().peekable();
    loop {
        while bytes.next_if(|b| is_space(*b)).is_some() {}
        if bytes.peek().is_none() {
            return words;
        }
        let mut word = Vec::new();
        let (mut squote, mut dquote, mut escaped) = (false, false, false);
        while let Some(b) = bytes.next_if(|b| !(is_space(*b) && !squote && !dquote && !escaped)) {
            if escaped {
                escaped = false;
                word.push(b);
            } else if b == b'\\' {
                escaped = true;
            } else if squote {
                if b == b'\'' {
                    squote = false;
                } else {
                    word.push(b);
                }
            } else if dquote {
                if b == b'"' {
                    dquote = false;
                } else {
                    word.push(b);
                }
            } else if b == b'\'' {
                squote = true;
            } else if b == b'"' {
                dquote = true;
            } else {
                word.push(b);
            }
        }
        words.push(OsString::from_vec(word));
    }
}

/// C `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn splitting_matches_gcc() {
        // Each expectation was checked against `gcc -### @file`.
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("  \n\t ", &[]),
            ("-c x.c", &["-c", "x.c"]),
            ("-DA='a\\b'", &["-DA=ab"]),
            ("-DB=\"c\\\"d\"", &["-DB=c\"d"]),
            ("-DC=e\\ f", &["-DC=e f"]),
            ("-DD=g\\\nh", &["-DD=g\nh"]),
            ("-DE='i\"j' -DF=\"k'l\"", &["-DE=i\"j", "-DF=k'l"]),
            ("-DG='' ''", &["-DG=", ""]),
            ("'a b'\t\"c d\"\r\ne", &["a b", "c d", "e"]),
        ];
        for (text, want) in cases {
            assert_eq!(split(text.as_bytes()), os(want), "{text:?}");
        }
    }

    #[test]
    fn expansion() {
        let dir = std::env::temp_dir().join(format!("respfile-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("r1"), "-O2 @r2 'x y.c'").unwrap();
        std::fs::write(dir.join("r2"), "-DA=1 @missing").unwrap();
        std::fs::write(dir.join("loop"), "@loop").unwrap();
        std::fs::write(dir.join("empty"), "").unwrap();
        let got = expand_in(&os(&["-c", "@r1", "@empty", "-o", "a.o"]), &dir).unwrap();
        assert_eq!(
            got,
            os(&["-c", "-O2", "-DA=1", "@missing", "x y.c", "-o", "a.o"])
        );
        assert!(expand_in(&os(&["@loop"]), &dir).is_err());
        assert!(expand_in(&os(&["@sub"]), &dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
