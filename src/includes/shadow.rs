//! Names that would shadow a predicted file on a volunteer that lacks
//! them: for every file the scan predicts (read, or found by a
//! `__has_include`), found as `D/N` under a search dir `D`, every other
//! search dir `E` whose `E/N` exists here. A compile that reads `E/N`
//! where the scan did not expect it (a scanner miss) would, on a
//! volunteer without `E/N`, fall through to `D/N`, which was predicted,
//! and the check of the files it read could not tell. The caller makes
//! the volunteer see something at each such name (`client::scanned`).
//!
//! The search dirs are the chains' and the own dirs of every predicted
//! file (the first dir of a quote search from it). "Any other dir" is
//! wider than "earlier in the chain": a name later in a chain is never
//! reached, so a wider answer costs bytes, never correctness. Every
//! question goes to the dirs' listings (`files::names_of`): a name whose
//! first component a dir lacks costs a binary search, no system call.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use super::files::DirNames;
use super::fs::Fs;
use super::listing::Listing;
use super::search::dir_of;
use super::token::FxMap;
use super::unit::{FileRead, Probe, ProbeKind};

/// The existing names, absolute as joined (not normalised), that could
/// stand in front of a predicted file in some search; sorted, once each,
/// predicted ones left out (by their spelling: the caller compares
/// normalised paths).
pub fn shadows(fs: &mut Fs, files: &[FileRead], probes: &[Probe]) -> Vec<PathBuf> {
    let cwd = fs.cwd.as_os_str().as_bytes().to_vec();
    let mut predicted: FxMap<Vec<u8>, ()> = FxMap::default();
    let found = probes
        .iter()
        .filter(|p| p.exists && p.kind != ProbeKind::Dir)
        .map(|p| p.path.as_os_str().as_bytes());
    for p in files
        .iter()
        .map(|f| f.path.as_os_str().as_bytes())
        .chain(found)
    {
        predicted.insert(absolute(&cwd, p), ());
    }
    let mut dirs: Vec<Vec<u8>> = fs.chains.dirs.iter().map(|d| absolute(&cwd, d)).collect();
    // `-include` looks in `./` first; quote searches in each file's dir.
    dirs.push(cwd.clone());
    for f in files {
        dirs.push(absolute(&cwd, dir_of(f.path.as_os_str().as_bytes())));
    }
    for d in &mut dirs {
        while d.len() > 1 && d.ends_with(b"/") {
            d.pop();
        }
    }
    dirs.retain(|d| d.len() > 1);
    dirs.sort_unstable();
    dirs.dedup();
    let names: Vec<DirNames> = dirs.iter().map(|d| fs.files.names_of(d)).collect();
    let mut out = Vec::new();
    let mut cand = Vec::with_capacity(256);
    for p in predicted.keys() {
        for (k, d) in dirs.iter().enumerate() {
            let Some(n) = under(p, d) else { continue };
            let first = n.split(|&c| c == b'/').next().unwrap_or(n);
            for (j, e) in dirs.iter().enumerate() {
                let maybe = match &names[j] {
                    DirNames::Absent => false,
                    DirNames::Listed(b) => Listing::new(b).is_some_and(|l| l.has(first)),
                    DirNames::Unknown => true,
                };
                if j == k || !maybe {
                    continue;
                }
                cand.clear();
                cand.extend_from_slice(e);
                cand.push(b'/');
                cand.extend_from_slice(n);
                if !predicted.contains_key(&cand) && fs.files.exists(&cand).unwrap_or(true) {
                    out.push(PathBuf::from(OsString::from_vec(cand.clone())));
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// `p` as the compiler would name it from `cwd`, made absolute.
fn absolute(cwd: &[u8], p: &[u8]) -> Vec<u8> {
    if p.first() == Some(&b'/') {
        return p.to_vec();
    }
    let mut out = Vec::with_capacity(cwd.len() + 1 + p.len());
    out.extend_from_slice(cwd);
    if !p.is_empty() {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    out
}

/// The name of `p` under dir `d`, if it is under it.
fn under<'p>(p: &'p [u8], d: &[u8]) -> Option<&'p [u8]> {
    let rest = p.strip_prefix(d)?.strip_prefix(b"/")?;
    (!rest.is_empty()).then_some(rest)
}

#[cfg(test)]
#[path = "shadow_tests.rs"]
mod tests;
