//! What `compiler -M` lists for a unit, as canonical paths: the
//! reference the scanner's file set must contain (also used by
//! `benches/scan_unit.rs`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::Recorded;

/// `compiler -M` of the unit: the canonical paths it lists.
pub fn reference_deps(u: &Recorded, compiler: &Path) -> Option<BTreeSet<PathBuf>> {
    let tmp = tempfile::NamedTempFile::new().ok()?;
    let out = Command::new(compiler)
        .args(&u.m_args)
        .args(["-M", "-MF"])
        .arg(tmp.path())
        .current_dir(&u.cwd)
        .env("LC_ALL", "C")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = std::fs::read_to_string(tmp.path())
        .ok()?
        .replace("\\\n", " ");
    let (_, list) = text.split_once(": ")?;
    Some(
        split_make_words(list)
            .into_iter()
            .map(|p| canonical(&u.cwd, Path::new(&p)))
            .collect(),
    )
}

/// Make's word splitting of a deps line: `\ ` is a space in a name.
fn split_make_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                cur.push(' ');
                chars.next();
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub fn canonical(cwd: &Path, p: &Path) -> PathBuf {
    let a = if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    };
    std::fs::canonicalize(&a).unwrap_or(a)
}
