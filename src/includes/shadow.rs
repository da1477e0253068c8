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
//!
//! A name under the compiler's default dirs is asserted there (a
//! volunteer without it refuses), so it counts only where it stands
//! before the predicted file's dir in the chain, not anywhere: that is
//! behind an `-idirafter` dir, as project dirs come before those.
//!
//! Left out, for a warm job's CPU: pairs of two dirs under the compiler's
//! default dirs, and the own dirs of the headers there. Those are the
//! volunteer's own headers, which a volunteer of the same compiler
//! identity, whose headers read have the client's digests, has from the
//! same packages: the missed header is there too, its compiler reads it,
//! and the check of its reads sees it. They are most of the pairs (a C++
//! unit reads hundreds of such headers, each under two or three dirs).

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
/// normalised paths). `system`: the compiler's default dirs, whose pairs
/// among themselves are left out (see the module header).
pub fn shadows(
    fs: &mut Fs,
    files: &[FileRead],
    probes: &[Probe],
    system: &[PathBuf],
) -> Vec<PathBuf> {
    let cwd = fs.cwd.as_os_str().as_bytes().to_vec();
    let system: Vec<&[u8]> = system
        .iter()
        .map(|d| trimmed(d.as_os_str().as_bytes()))
        .collect();
    let in_system = |p: &[u8]| system.iter().any(|d| p == *d || under(p, d).is_some());
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
    // Each with its place in the chains: own dirs and `./` come first.
    let mut dirs: Vec<(Vec<u8>, usize)> = (fs.chains.dirs.iter().enumerate())
        .map(|(i, d)| (absolute(&cwd, d), i + 1))
        .collect();
    // `-include` looks in `./` first; quote searches in each file's dir.
    dirs.push((cwd.clone(), 0));
    let mut own: FxMap<&[u8], ()> = FxMap::default();
    for f in files {
        own.insert(dir_of(f.path.as_os_str().as_bytes()), ());
    }
    for d in own.keys() {
        let d = absolute(&cwd, d);
        if !in_system(trimmed(&d)) {
            dirs.push((d, 0));
        }
    }
    for (d, _) in &mut dirs {
        let n = trimmed(d).len();
        d.truncate(n);
    }
    dirs.retain(|(d, _)| d.len() > 1);
    // By path, its last place first, the one kept: a dir both own and in
    // the chain is behind the system dirs in the `<>` chain.
    dirs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    dirs.dedup_by(|a, b| a.0 == b.0);
    let dirs: Vec<Dir> = dirs
        .into_iter()
        .map(|(path, place)| Dir {
            sys: in_system(&path),
            names: fs.files.names_of(&path),
            path,
            place,
        })
        .collect();
    let project = Project::of(&dirs);
    // The names whole listings are asked about, for a replay (`replay`).
    let mut relevant: FxMap<Vec<u8>, ()> = FxMap::default();
    let mut out = Vec::new();
    let mut cand = Vec::with_capacity(256);
    let mut others = Vec::with_capacity(dirs.len());
    for p in predicted.keys() {
        for (k, d) in dirs.iter().enumerate() {
            let Some(n) = under(p, &d.path) else { continue };
            let first = n.split(|&c| c == b'/').next().unwrap_or(n);
            if !relevant.contains_key(first) {
                relevant.insert(first.to_vec(), ());
            }
            others.clear();
            project.holding(first, &mut others);
            if !d.sys {
                // A system name is asserted, and a volunteer without it
                // refuses: only where it stands before `d` in the chain
                // (`d` an `-idirafter` dir), not merely anywhere.
                let before = |e: &Dir| e.sys && e.place < d.place && e.may_have(first);
                others.extend((0..dirs.len()).filter(|&j| before(&dirs[j])));
            }
            for &j in &others {
                if j == k || dirs[j].same_dir(d) {
                    continue;
                }
                cand.clear();
                cand.extend_from_slice(&dirs[j].path);
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
    keep_answers(fs, &dirs, relevant);
    out
}

/// Tells the unit's answers (`replay`) which names the listings were
/// asked about and which of them each listed dir held, so a replay after
/// a dir's stamp moved can tell whether the shadows still hold.
fn keep_answers(fs: &mut Fs, dirs: &[Dir], relevant: FxMap<Vec<u8>, ()>) {
    let mut relevant: Vec<Vec<u8>> = relevant.into_keys().collect();
    relevant.sort_unstable();
    for d in dirs {
        if let DirNames::Dir(_, Some(b)) = &d.names {
            if let Some(l) = Listing::new(b) {
                let present = relevant.iter().filter(|r| l.has(r)).cloned().collect();
                fs.files.answers.consulted(&d.path, present);
            }
        }
    }
    fs.files.answers.relevant(relevant);
}

/// A search dir, absolute.
struct Dir {
    path: Vec<u8>,
    /// Under the compiler's default dirs.
    sys: bool,
    names: DirNames,
    /// Where in the chains it is searched last (0: before them all).
    place: usize,
}

impl Dir {
    /// Whether an entry `name` may be there (only a listing can say no).
    fn may_have(&self, name: &[u8]) -> bool {
        match &self.names {
            DirNames::Absent => false,
            DirNames::Dir(_, Some(b)) => Listing::new(b).is_none_or(|l| l.has(name)),
            DirNames::Dir(_, None) | DirNames::Unknown => true,
        }
    }

    /// The same dir under another spelling (`inc` and `src/../inc`).
    fn same_dir(&self, other: &Dir) -> bool {
        match (&self.names, &other.names) {
            (DirNames::Dir(a, _), DirNames::Dir(b, _)) => a == b,
            _ => false,
        }
    }
}

/// The entries of the non-system dirs, by name: a project's dirs are few
/// and small, and the system headers a unit reads are many, so each of
/// those asks one map instead of every project dir.
struct Project<'d> {
    by_name: FxMap<&'d [u8], Vec<usize>>,
    /// Dirs that could not be listed: asked for every name.
    unlisted: Vec<usize>,
}

impl<'d> Project<'d> {
    fn of(dirs: &'d [Dir]) -> Project<'d> {
        let mut p = Project {
            by_name: FxMap::default(),
            unlisted: Vec::new(),
        };
        for (j, d) in dirs.iter().enumerate().filter(|(_, d)| !d.sys) {
            match &d.names {
                DirNames::Absent => {}
                DirNames::Dir(_, Some(b)) => match Listing::new(b) {
                    Some(l) => {
                        for name in l.names() {
                            p.by_name.entry(name).or_default().push(j);
                        }
                    }
                    None => p.unlisted.push(j),
                },
                DirNames::Dir(_, None) | DirNames::Unknown => p.unlisted.push(j),
            }
        }
        p
    }

    /// The non-system dirs that may hold `name`, into `out`.
    fn holding(&self, name: &[u8], out: &mut Vec<usize>) {
        if let Some(js) = self.by_name.get(name) {
            out.extend_from_slice(js);
        }
        out.extend_from_slice(&self.unlisted);
    }
}

/// `d` without trailing slashes (`/` stays).
fn trimmed(d: &[u8]) -> &[u8] {
    let mut d = d;
    while d.len() > 1 && d.ends_with(b"/") {
        d = &d[..d.len() - 1];
    }
    d
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
