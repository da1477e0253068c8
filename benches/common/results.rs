//! Writing a bench's table into its marked section of a results file
//! (`benches/RESULTS.md`), leaving the other sections as they are.

use std::fs;

/// With `RESULTS=FILE` in the environment, replaces the section between
/// `begin` and `end` in FILE with `text` (appending it the first time).
pub fn write_section(begin: &str, end: &str, text: &str) {
    let Some(path) = std::env::var_os("RESULTS") else {
        return;
    };
    let old = fs::read_to_string(&path).unwrap_or_default();
    let section = format!("{begin}\n{text}{end}\n");
    let new = match (old.find(begin), old.find(end)) {
        (Some(b), Some(e)) => format!("{}{section}{}", &old[..b], &old[e + end.len() + 1..]),
        _ => format!("{old}\n{section}"),
    };
    fs::write(&path, new).unwrap();
}
