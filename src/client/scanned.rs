//! Which files an exact-mode job ships when the include scanner can tell
//! (`includes::scan_unit`, over the cross-process cache in
//! `$DISTCC_DIR/cache`): no compiler runs here per job. What the scan
//! found is kept as the job's [`Expected`] reads, against which the
//! daemon's list of files the compiler actually read is checked
//! (`verify`). When the scanner cannot tell, or the compile will stop at
//! a missing header, the compiler's own `-M` listing (`listing`) decides,
//! as it always did.
//!
//! System-dir files are not shipped, as with the `-M` listing: the server
//! compiles with its own system headers. They are part of the expected
//! reads, so a system header the scan did not predict is a miss.

use std::collections::{BTreeSet, HashSet};
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;

use super::absent;
use super::context::Context;
use super::job::Job;
use super::listing::{self, Listed};
use super::outcome::{Compiled, Failed};
use super::unit;
use crate::identity;
use crate::includes::{self, ProbeKind, ScanError, ScanResult};
use crate::state::{Listing, Phase};

/// Every file the scan says the compile reads, absolute and lexically
/// normalised, shipped or not.
#[derive(Debug, Default)]
pub struct Expected {
    pub files: HashSet<PathBuf>,
    /// The compiler's default include dirs, whose files are the server's.
    pub system: Vec<PathBuf>,
}

/// The unit's files, from the scanner if it can tell, else from the
/// compiler's listing (counted as a fallback).
pub fn list(ctx: &Context, job: &Job, cpp_slots: u32) -> Result<Result<Listed, Compiled>, Failed> {
    if !ctx.settings.scan {
        return listing::list(ctx, job, cpp_slots);
    }
    match scanned(ctx, job) {
        Ok(l) => {
            ctx.state.listing(Listing::Scanned);
            Ok(Ok(l))
        }
        Err(e) => {
            log::info!("{}: {e}; asking the compiler", job.input.to_string_lossy());
            ctx.state.listing(Listing::ScanFallback);
            listing::list(ctx, job, cpp_slots)
        }
    }
}

/// The scan, and the files it found read in; any failure is a reason to
/// ask the compiler instead.
fn scanned(ctx: &Context, job: &Job) -> Result<Listed, ScanError> {
    let started = Instant::now();
    ctx.state.phase(Phase::Preprocess);
    let cwd = std::env::current_dir().map_err(|e| ScanError(format!("no cwd: {e}")))?;
    let mapped = unit::map(job, &cwd)?;
    let cache = ctx.settings.dir.join("cache");
    let path = &ctx.compiler.path;
    let id_lang = match mapped.unit.lang {
        Some(includes::Lang::Cxx) => identity::Lang::Cxx,
        _ => identity::Lang::C,
    };
    let id = ctx
        .identities
        .identity(path, id_lang)
        .map_err(|e| ScanError(format!("compiler identity: {e:#}")))?;
    ctx.identities.flush().ok();
    let cc = includes::Compiler {
        path,
        identity: &id,
        probe_flags: &mapped.probe_flags,
    };
    let scan = includes::scan_unit(&cache, &cc, &mapped.unit)?;
    if let Some(why) = &scan.fatal {
        // The compiler's own words for it come from the listing.
        return Err(ScanError(format!("the compile stops: {why}")));
    }
    let system = listing::system_dirs(ctx.compiler, job, &cache)
        .map_err(|e| ScanError(format!("system dirs: {e:#}")))?;
    let (files, expected) = ship(&cwd, &scan, system)
        .map_err(|e| ScanError(format!("reading the unit's files: {e:#}")))?;
    log::debug!(
        "scanned {}: {} files read, {} shipped, {} undecided conditions",
        job.input.to_string_lossy(),
        expected.files.len(),
        files.len(),
        scan.undecided
    );
    // What our daemons check against their own system headers.
    let mut system: Vec<PathBuf> = expected
        .files
        .iter()
        .filter(|p| expected.system.iter().any(|d| p.starts_with(d)))
        .cloned()
        .collect();
    // And the system headers a `__has_include` found absent (`absent`).
    system.extend(absent::system_probes(&cwd, &scan, &expected.system));
    system.sort();
    Ok(Listed {
        cwd,
        files,
        system,
        took: started.elapsed(),
        expected: Some(expected),
    })
}

/// The files to send (non-system reads, and non-system files whose
/// existence a `__has_include` or a search asked about), and what the
/// compile is expected to read.
fn ship(
    cwd: &Path,
    scan: &ScanResult,
    system: Vec<PathBuf>,
) -> anyhow::Result<(Vec<crate::protocol::NamedFile>, Expected)> {
    let in_system = |p: &Path| system.iter().any(|d| p.starts_with(d));
    let mut files = Vec::new();
    let mut seen = BTreeSet::new();
    let mut expected = HashSet::new();
    for f in &scan.files {
        let path = normalise(cwd, &f.path);
        if !in_system(&path) {
            listing::add(&cwd.join(&f.path), &mut files, &mut seen)
                .with_context(|| format!("adding {}", path.display()))?;
        }
        expected.insert(path);
    }
    // A file that exists here decides a `__has_include` or stops a
    // search: the server must find it too (bytes, never correctness).
    for p in &scan.probes {
        let found = p.exists && p.kind != ProbeKind::Dir;
        let path = normalise(cwd, &p.path);
        if found && !in_system(&path) && path.is_file() {
            listing::add(&cwd.join(&p.path), &mut files, &mut seen)?;
        }
    }
    Ok((
        files,
        Expected {
            files: expected,
            system,
        },
    ))
}

/// `p` made absolute from `cwd` with `.` and `..` applied lexically, the
/// form both the scan's and the server's lists are compared in.
pub fn normalise(cwd: &Path, p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    let joined;
    let p = if p.is_absolute() {
        p
    } else {
        joined = cwd.join(p);
        &joined
    };
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_relative_and_dotted_paths() {
        let cwd = Path::new("/w/p");
        assert_eq!(
            normalise(cwd, Path::new("inc/../a.h")),
            Path::new("/w/p/a.h")
        );
        assert_eq!(normalise(cwd, Path::new("./b.h")), Path::new("/w/p/b.h"));
        assert_eq!(
            normalise(cwd, Path::new("/usr//x.h")),
            Path::new("/usr/x.h")
        );
    }
}
