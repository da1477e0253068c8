//! Include-path search with gcc's rules (incpath.cc, files.cc):
//! - `#include "f"`: the including file's own dir (the path it was
//!   opened by, up to its last `/`), then `-iquote`, then the `<>` chain;
//! - `#include <f>`: `-I`, then `-isystem` and `$C_INCLUDE_PATH`, the
//!   compiler's default dirs, then `-idirafter`;
//! - a dir that does not exist is dropped; a dir listed twice keeps its
//!   first place, and a non-system dir that is also a system dir is
//!   dropped from its non-system place ("as if -isystem", gcc's manual);
//! - `#include_next` continues after the dir the current file was found
//!   in (the own dir continues at the head of the quote chain);
//! - `-include`/`-imacros`: `./`, then the quote chain;
//! - a candidate path is the dir as written, a `/` unless it ends with
//!   one, and the name: `-Iinc//` opens `inc//a.h`, as gcc does.

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::skipped::SkippedDir;
use super::unit::{DirOpt, Probe, ProbeKind, Unit};

/// Where a file was found, which decides where `#include_next` resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FoundIn {
    Dir(u32),
    /// The including file's own dir.
    Own,
    /// `./` for `-include`.
    Cwd,
    /// By absolute name, or the main source file.
    NoSearch,
}

/// How a name is looked up.
#[derive(Clone, Copy, Debug)]
pub enum How<'a> {
    Quote { own_dir: &'a [u8] },
    Angled,
    Next(FoundIn),
    Cmdline,
}

#[derive(Debug, Clone, Default)]
pub struct Chains {
    /// Quote dirs, then bracket dirs (from `bracket` on).
    pub dirs: Vec<Vec<u8>>,
    pub bracket: usize,
    pub ignore_own_dir: bool,
    /// The compiler's default dirs missing here, each with the index in
    /// `dirs` it would take (`skipped`).
    pub skipped: Vec<(usize, Vec<u8>)>,
}

struct Cand {
    name: Vec<u8>,
    /// Its place in the system chain: 0 before the defaults, `1 + k` for
    /// default `k`, `u32::MAX` after them.
    rank: u32,
}

/// A dir's device and inode: the same dir by two names is searched once.
pub type DirId = (u64, u64);

impl Chains {
    /// The chains for a unit; `defaults` are the compiler's own dirs (from
    /// the probe, already without duplicates), `skipped` the defaults it
    /// found missing. Each dir's existence is a probe; `dir_id` tells a
    /// dir's identity (None: not a dir), which dedups.
    pub fn build(
        unit: &Unit,
        defaults: &[PathBuf],
        skipped: &[SkippedDir],
        probes: &mut Vec<Probe>,
        dir_id: &mut dyn FnMut(&[u8]) -> Option<DirId>,
    ) -> Chains {
        let mut quote: Vec<Cand> = Vec::new();
        let mut bracket: Vec<Cand> = Vec::new();
        let mut system: Vec<Cand> = Vec::new();
        let mut after: Vec<Cand> = Vec::new();
        let mut ignore_own_dir = false;
        let cand = |p: &Path| Cand {
            name: with_sysroot(p, unit.sysroot.as_deref()),
            rank: 0,
        };
        for d in &unit.dirs {
            match d {
                DirOpt::I(p) => bracket.push(cand(p)),
                DirOpt::Quote(p) => quote.push(cand(p)),
                DirOpt::System(p) => system.push(cand(p)),
                DirOpt::After(p) => after.push(Cand {
                    rank: u32::MAX,
                    ..cand(p)
                }),
                DirOpt::Split => {
                    quote = std::mem::take(&mut bracket);
                    ignore_own_dir = true;
                }
            }
        }
        for p in env_dirs(unit.env_cpath.as_ref()) {
            bracket.push(Cand { name: p, rank: 0 });
        }
        for p in env_dirs(unit.env_lang_path.as_ref()) {
            system.push(Cand { name: p, rank: 0 });
        }
        for (k, p) in defaults.iter().enumerate() {
            system.push(Cand {
                name: p.as_os_str().as_bytes().to_vec(),
                rank: 1 + k as u32,
            });
        }
        system.extend(after);
        let mut stat = |c: &Cand, probes: &mut Vec<Probe>| -> Option<DirId> {
            let id = dir_id(abs(&unit.cwd, &c.name).as_os_str().as_bytes());
            probes.push(Probe {
                path: PathBuf::from(std::ffi::OsString::from_vec(c.name.clone())),
                kind: ProbeKind::Dir,
                exists: id.is_some(),
            });
            id
        };
        let system = dedup(system, &[], None, &mut |c, p| stat(c, p), probes);
        let sys_ids: Vec<(u64, u64)> = system.iter().map(|x| x.1).collect();
        let bracket = dedup(
            bracket,
            &sys_ids,
            sys_ids.first().copied(),
            &mut |c, p| stat(c, p),
            probes,
        );
        let join = bracket.first().or(system.first()).map(|x| x.1);
        let quote = dedup(quote, &sys_ids, join, &mut |c, p| stat(c, p), probes);
        // A skipped dir goes before the first kept dir that follows it in
        // the compiler's order.
        let head = quote.len() + bracket.len();
        let skipped = skipped
            .iter()
            .map(|s| {
                let at = system.iter().position(|x| x.0.rank > s.before);
                let at = head + at.unwrap_or(system.len());
                (at, s.path.as_os_str().as_bytes().to_vec())
            })
            .collect();
        let mut dirs: Vec<Vec<u8>> = quote.into_iter().map(|x| x.0.name).collect();
        let nq = dirs.len();
        dirs.extend(bracket.into_iter().chain(system).map(|x| x.0.name));
        Chains {
            dirs,
            bracket: nq,
            ignore_own_dir,
            skipped,
        }
    }

    /// The skipped default dirs a search for `name` that finds nothing
    /// passes, in chain order: those at or after where it starts.
    pub fn skipped_from<'s>(&'s self, name: &[u8], how: How) -> impl Iterator<Item = &'s [u8]> {
        let start = match name.first() {
            Some(b'/') => usize::MAX,
            _ => self.start(how),
        };
        self.skipped
            .iter()
            .filter(move |s| s.0 >= start)
            .map(|s| &s.1[..])
    }

    /// Where in `dirs` a search goes on after its own-dir or `./` step.
    fn start(&self, how: How) -> usize {
        match how {
            How::Angled => self.bracket,
            How::Next(FoundIn::Dir(i)) => i as usize + 1,
            How::Quote { .. } | How::Cmdline | How::Next(_) => 0,
        }
    }

    /// The candidates for `name` in search order, each with where a hit
    /// would have been found; `probe` says whether a candidate is the
    /// file (Ok(Some)), is not (Ok(None)), or cannot be told (Err).
    pub fn search<T, E>(
        &self,
        name: &[u8],
        how: How,
        mut probe: impl FnMut(&[u8]) -> Result<Option<T>, E>,
    ) -> Result<Option<(T, Vec<u8>, FoundIn)>, E> {
        if name.first() == Some(&b'/') {
            return Ok(probe(name)?.map(|t| (t, name.to_vec(), FoundIn::NoSearch)));
        }
        // One buffer for every candidate; the path found is returned in it.
        let mut p = Vec::with_capacity(name.len() + 64);
        match how {
            How::Quote { own_dir } if !self.ignore_own_dir => {
                join_into(&mut p, own_dir, name);
                if let Some(t) = probe(&p)? {
                    return Ok(Some((t, p, FoundIn::Own)));
                }
            }
            How::Cmdline => {
                join_into(&mut p, b"./", name);
                if let Some(t) = probe(&p)? {
                    return Ok(Some((t, p, FoundIn::Cwd)));
                }
            }
            _ => {}
        }
        let start = self.start(how);
        for (i, d) in self.dirs.iter().enumerate().skip(start) {
            join_into(&mut p, d, name);
            if let Some(t) = probe(&p)? {
                return Ok(Some((t, p, FoundIn::Dir(i as u32))));
            }
        }
        Ok(None)
    }
}

/// A dir's identity, or None when it is not a dir (recording the probe).
type StatFn<'a> = dyn FnMut(&Cand, &mut Vec<Probe>) -> Option<(u64, u64)> + 'a;

/// gcc's remove_duplicates: drops dirs that are missing, already in
/// `system`, earlier in the same chain, or (the last one) the same as
/// `join`, the head of the chain this one is joined to.
fn dedup(
    chain: Vec<Cand>,
    system: &[(u64, u64)],
    join: Option<(u64, u64)>,
    stat: &mut StatFn,
    probes: &mut Vec<Probe>,
) -> Vec<(Cand, (u64, u64))> {
    let n = chain.len();
    let mut kept: Vec<(Cand, (u64, u64))> = Vec::new();
    let mut seen: Vec<(u64, u64)> = Vec::new();
    for (k, c) in chain.into_iter().enumerate() {
        let Some(id) = stat(&c, probes) else { continue };
        let dup = system.contains(&id) || seen.contains(&id) || (k + 1 == n && join == Some(id));
        seen.push(id);
        if !dup {
            kept.push((c, id));
        }
    }
    kept
}

/// A leading `=` means the sysroot (gcc's add_path).
fn with_sysroot(p: &Path, sysroot: Option<&Path>) -> Vec<u8> {
    let b = p.as_os_str().as_bytes();
    match (b.first(), sysroot) {
        (Some(b'='), Some(root)) => {
            let mut v = root.as_os_str().as_bytes().to_vec();
            v.extend_from_slice(&b[1..]);
            v
        }
        _ => b.to_vec(),
    }
}

/// A colon-separated list; an empty element is the current dir.
fn env_dirs(v: Option<&std::ffi::OsString>) -> Vec<Vec<u8>> {
    let Some(v) = v else { return Vec::new() };
    v.as_bytes()
        .split(|&c| c == b':')
        .map(|e| {
            if e.is_empty() {
                b".".to_vec()
            } else {
                e.to_vec()
            }
        })
        .collect()
}

pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + name.len() + 1);
    join_into(&mut p, dir, name);
    p
}

fn join_into(p: &mut Vec<u8>, dir: &[u8], name: &[u8]) {
    p.clear();
    p.extend_from_slice(dir);
    if !dir.is_empty() && !dir.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
}

/// The dir part of a path as gcc keeps it: up to and including the last
/// `/`, or empty.
pub fn dir_of(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&c| c == b'/') {
        Some(i) => &path[..=i],
        None => b"",
    }
}

/// A compiler-relative path made absolute, without normalising it.
pub fn abs(cwd: &Path, p: &[u8]) -> PathBuf {
    let p = Path::new(std::ffi::OsStr::from_bytes(p));
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
