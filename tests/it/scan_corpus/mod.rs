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
mod deps;
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
use deps::canonical;
pub use deps::reference_deps;

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
