//! Which files an exact-mode job ships when the include scanner can tell
//! (`includes::agent::scan`: by the per-user scan agent, else
//! `includes::scan_unit` here, over the cross-process cache in
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

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;

use super::absent;
use super::context::Context;
use super::job::Job;
use super::listing::{self, Known, Listed, Seen};
use super::normal::normalise;
use super::outcome::{Compiled, Failed};
use super::shadows;
use super::shipped::Shipped;
use super::unit;
use crate::identity;
use crate::includes::{self, ProbeKind, ScanError, ScanResult};
use crate::protocol::hashed::Digest;
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
        identity: &id.digest,
        probe_flags: &mapped.probe_flags,
    };
    let scan = includes::agent::scan(&cache, &cc, &mapped.unit, ctx.settings.scan_agent)?;
    if let Some(why) = &scan.fatal {
        // The compiler's own words for it come from the listing.
        return Err(ScanError(format!("the compile stops: {why}")));
    }
    let system = listing::system_dirs(ctx.compiler, job, &cache)
        .map_err(|e| ScanError(format!("system dirs: {e:#}")))?;
    let (files, expected, system_known) = ship(&cwd, &scan, system)
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
    // And what must exist there though it is not expected to be read.
    let shadows = shadows::of(&cwd, &scan.shadows, &expected, &files);
    system.extend(shadows.system);
    system.sort();
    system.dedup();
    Ok(Listed {
        cwd,
        files,
        system,
        system_known,
        took: started.elapsed(),
        expected: Some(expected),
        shadows: shadows.names,
    })
}

/// What `ship` gives: the files to send, what the compile is expected to
/// read, and the digests of the system files the scan knows.
type Shipping = (Vec<Shipped>, Expected, HashMap<PathBuf, Digest>);

/// The files to send (non-system reads, and non-system files whose
/// existence a `__has_include` or a search asked about), and what the
/// compile is expected to read. A file the scanner has a settled digest
/// for, and whose stamp has not changed since, is not read here.
fn ship(cwd: &Path, scan: &ScanResult, system: Vec<PathBuf>) -> anyhow::Result<Shipping> {
    let in_system = |p: &Path| system.iter().any(|d| p.starts_with(d));
    let mut files = Vec::new();
    let mut seen = Seen::default();
    let mut expected = HashSet::new();
    let mut system_known = HashMap::new();
    for f in &scan.files {
        let path = normalise(cwd, &f.path);
        let known = f.stamp.map(|stamp| Known {
            digest: f.digest,
            stamp,
            plain: f.plain,
        });
        if !in_system(&path) {
            listing::add(&cwd.join(&f.path), known, &mut files, &mut seen)
                .with_context(|| format!("adding {}", path.display()))?;
        } else if known.is_some() {
            system_known.insert(path.clone(), f.digest);
        }
        expected.insert(path);
    }
    // A file that exists here decides a `__has_include` or stops a
    // search: the server must find it too (bytes, never correctness).
    for p in &scan.probes {
        let found = p.exists && p.kind != ProbeKind::Dir;
        let path = normalise(cwd, &p.path);
        if found && !in_system(&path) && path.is_file() {
            listing::add(&cwd.join(&p.path), None, &mut files, &mut seen)?;
        }
    }
    let expected = Expected {
        files: expected,
        system,
    };
    Ok((files, expected, system_known))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::shipped::{body_reads, Body};
    use crate::includes::stamp::Stamp;
    use crate::includes::FileRead;
    use crate::protocol::hashed;

    /// A scan's record of `path` as it is now, its digest settled (the
    /// name examined as a plain file if `plain`).
    fn scanned(path: &Path, plain: bool) -> FileRead {
        let data = std::fs::read(path).unwrap();
        FileRead {
            path: path.to_path_buf(),
            digest: hashed::digest(&data),
            size: data.len() as u64,
            stamp: Some(Stamp::of(&std::fs::metadata(path).unwrap())),
            plain,
        }
    }

    fn settled(path: &Path) -> FileRead {
        scanned(path, false)
    }

    fn scan_of(files: Vec<FileRead>) -> ScanResult {
        ScanResult {
            files,
            ..ScanResult::default()
        }
    }

    #[test]
    fn a_warm_listing_reads_no_body() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        std::fs::write(t.join("x.c"), "#include \"h.h\"\n").unwrap();
        std::fs::write(t.join("h.h"), "int x;\n").unwrap();
        let scan = scan_of(vec![settled(&t.join("x.c")), settled(&t.join("h.h"))]);
        let before = body_reads();
        let (files, expected, _) = ship(t, &scan, Vec::new()).unwrap();
        let entries: Vec<_> = files.iter().map(|f| f.entry()).collect();
        assert_eq!(body_reads(), before, "nothing read to list or name");
        assert_eq!(files.len(), 2);
        assert!(files.iter().all(|f| matches!(f.body, Body::Known(_))));
        assert_eq!(
            entries[1],
            hashed::Entry::Hashed(hashed::digest(b"int x;\n"))
        );
        assert_eq!(expected.files.len(), 2);
    }

    #[test]
    fn a_plain_file_changed_after_the_scan_is_never_sent_under_its_old_digest() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let h = t.join("h.h");
        std::fs::write(&h, "int x;\n").unwrap();
        let scan = scan_of(vec![scanned(&h, true)]);
        let before = body_reads();
        let (files, _, _) = ship(t, &scan, Vec::new()).unwrap();
        assert_eq!(body_reads(), before);
        assert_eq!(files[0].body, Body::Known(hashed::digest(b"int x;\n")));
        // Changed between the listing and the send, whatever its stamp:
        // the body read for the server is checked against the digest.
        std::fs::write(&h, "int y;\n").unwrap();
        assert!(files[0].bytes().is_err());
    }

    #[test]
    fn a_file_changed_since_the_scan_is_read_as_it_is_now() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        let h = t.join("h.h");
        std::fs::write(&h, "int x;\n").unwrap();
        let seen = settled(&h);
        // Same size, new bytes, a new mtime: the scan's digest is stale.
        std::fs::write(&h, "int y;\n").unwrap();
        let f = std::fs::File::options().write(true).open(&h).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1))
            .unwrap();
        let (files, _, _) = ship(t, &scan_of(vec![seen]), Vec::new()).unwrap();
        assert_eq!(files[0].body, Body::Read(b"int y;\n".to_vec()));
        assert_eq!(
            files[0].entry(),
            hashed::Entry::Hashed(hashed::digest(b"int y;\n"))
        );
    }

    #[test]
    fn unsettled_digests_are_read_and_system_digests_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        std::fs::create_dir(t.join("sys")).unwrap();
        std::fs::write(t.join("x.c"), "int x;\n").unwrap();
        std::fs::write(t.join("sys/s.h"), "int s;\n").unwrap();
        let mut fresh = settled(&t.join("x.c"));
        fresh.stamp = None;
        let sys = settled(&t.join("sys/s.h"));
        let scan = scan_of(vec![fresh, sys.clone()]);
        let (files, _, known) = ship(t, &scan, vec![t.join("sys")]).unwrap();
        assert_eq!(files.len(), 1, "system files are not shipped");
        assert_eq!(files[0].body, Body::Read(b"int x;\n".to_vec()));
        assert_eq!(known.get(&t.join("sys/s.h")), Some(&sys.digest));
    }
}
