//! The include scanner's correctness corpus: for each unit of real
//! projects, the scanner's file set must contain what `gcc -M` (and
//! `clang -M`) lists with the same flags in the same dir; extra files are
//! counted. The full corpus (Debian source packages, `benches/
//! scan-corpus.sh`) runs as an ignored test that also measures the
//! scanner's CPU against `gcc -M`'s; a CI-sized sample from crates that
//! bundle C and C++ sources runs always (`sample`).
//!
//! `args` maps a recorded compiler command line onto the scanner's
//! `Unit` (the client will use the shared argument model instead).

mod args;
mod full;
mod measure;
mod project;
mod sample;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use distcc::includes::{probe::CompilerInfo, ProbeCache, Scanner};

pub use args::Recorded;

/// What happened to one unit with one compiler.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub misses: Vec<PathBuf>,
    pub extras: Vec<PathBuf>,
    pub cannot: Option<String>,
    /// The reference preprocessor failed (flags it rejects, a missing
    /// header): nothing to compare.
    pub reference_failed: bool,
}

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

fn canonical(cwd: &Path, p: &Path) -> PathBuf {
    let a = if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    };
    std::fs::canonicalize(&a).unwrap_or(a)
}

/// Scans one unit with one compiler and compares with its `-M`.
pub fn compare(
    scanner: &mut Scanner,
    probes: &mut ProbeCache,
    u: &Recorded,
    compiler: &Path,
) -> Outcome {
    let mut o = Outcome::default();
    let Some(reference) = reference_deps(u, compiler) else {
        o.reference_failed = true;
        return o;
    };
    let info = match info_for(probes, u, compiler) {
        Ok(i) => i,
        Err(e) => {
            o.cannot = Some(format!("probe: {e:#}"));
            return o;
        }
    };
    match scanner.scan(&u.unit, &info) {
        Err(e) => o.cannot = Some(e.to_string()),
        Ok(r) => {
            let ours: BTreeSet<PathBuf> =
                r.files.iter().map(|f| canonical(&u.cwd, &f.path)).collect();
            o.misses = reference.difference(&ours).cloned().collect();
            o.extras = ours.difference(&reference).cloned().collect();
        }
    }
    o
}

pub fn info_for(
    probes: &mut ProbeCache,
    u: &Recorded,
    compiler: &Path,
) -> anyhow::Result<std::rc::Rc<CompilerInfo>> {
    let flags: Vec<OsString> = u.probe_flags.iter().map(OsString::from).collect();
    probes.get(compiler, &flags, u.unit.lang.unwrap())
}

/// The C or C++ driver of a family for a unit's language.
pub fn driver(family: &str, u: &Recorded) -> PathBuf {
    let cxx = u.unit.lang == Some(distcc::includes::Lang::Cxx);
    PathBuf::from(match (family, cxx) {
        ("gcc", false) => "gcc",
        ("gcc", true) => "g++",
        (_, false) => "clang",
        (_, true) => "clang++",
    })
}

pub fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
