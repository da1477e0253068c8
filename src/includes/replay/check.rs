//! Whether a kept scan still holds: every question it rested on asked
//! again, and a file whose stamp moved checked by content (see the
//! module's head for why that is exact).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::SystemTime;

use super::record::{self, Kept};
use super::{Answer, Kind, Named};
use crate::includes::files::{examine, is_absent, Examined};
use crate::includes::stamp::Stamp;
use crate::includes::token::FxMap;
use crate::includes::unit::{FileRead, ScanResult};

/// What a replay asks when a file read has another stamp than it had.
pub trait Contents {
    /// The digest of the file at `path`, whose stamp is now `st`, and
    /// whether that stamp is settled; None if it cannot be told (the
    /// file changed again meanwhile, an error).
    fn digest(&mut self, path: &[u8], st: &Stamp) -> Option<([u8; 32], bool)>;

    /// Whether a stamp seen at `at` was settled then (`Store::settled_at`).
    fn settled(&self, st: &Stamp, at: SystemTime) -> bool;

    /// Whether the file at `path`, whose stamp is now `st` and content
    /// `now`, walks as the content `then` did (`image::same_walk`, with
    /// `lines`); false when either skeleton cannot be had.
    fn walks_as(
        &mut self,
        path: &[u8],
        st: &Stamp,
        then: &[u8; 32],
        now: &[u8; 32],
        lines: bool,
    ) -> bool;
}

/// Which answers named the same thing, as the index of the first that
/// did (`marks`): two patterns are the same when the same answers
/// coincide, whatever they named.
#[derive(Default)]
struct Pattern<K: std::hash::Hash + Eq> {
    marks: Vec<usize>,
    first: FxMap<K, usize>,
}

impl<K: std::hash::Hash + Eq> Pattern<K> {
    fn push(&mut self, k: K) {
        let n = self.marks.len();
        let f = *self.first.entry(k).or_insert(n);
        self.marks.push(f);
    }

    fn same(&self, other: &Pattern<K>) -> bool {
        self.marks == other.marks
    }
}

/// The kept scan in `bytes`, if every answer it rested on is still the
/// same (a moved file: the same content); None to scan again.
/// `cwd` is the unit's: what relative paths read are relative to.
pub fn replay(bytes: &[u8], cwd: &Path, contents: &mut dyn Contents) -> Option<ScanResult> {
    let Kept {
        began,
        mut result,
        relevant,
        dirs,
        paths,
    } = record::decode(bytes)?;
    // A stamp that proves nothing by itself being the same.
    let racy = |c: &dyn Contents, st: &Stamp| !c.settled(st, began);
    let mut looked = Looked::default();
    for d in &dirs {
        let seen = Seen {
            unlisted: &d.unlisted,
            consulted: d.consulted.as_deref(),
            relevant: &relevant,
        };
        let trusted = d.stamp.is_some_and(|st| !racy(contents, &st));
        if !dir_holds(&mut looked, d.path, d.stamp, trusted, &seen) {
            return None;
        }
    }
    // Each identity answered, then and now; whether any differs; and each
    // file answer, by name. Only a replay where something moved looks
    // at them again (`changed`), so a warm rebuild pays no more than the
    // questions.
    let mut ids: Vec<(Inode, Inode)> = Vec::new();
    let mut named: Vec<(&[u8], Stamp, Stamp)> = Vec::new();
    let mut changed = false;
    // Files read whose stamp moved (or was not settled): their new stamp
    // and whether it is settled; and the stamps they had.
    let mut moved: Vec<Option<(Stamp, bool)>> = vec![None; result.files.len()];
    // Files read that were edited outside their directives: the content
    // they have now (digest, size).
    let mut edited: Vec<Option<([u8; 32], u64)>> = vec![None; result.files.len()];
    // An edit that moves directives to other lines changes what a walk
    // saw where `__LINE__` was asked, and the notes' text.
    let lines = result.lines || !result.notes.is_empty();
    let mut moved_from: Vec<Stamp> = Vec::new();
    let mut read: Option<FxMap<Vec<u8>, usize>> = None;
    for (p, was) in &paths {
        let p = p.as_slice();
        let now = ask(&mut looked, p, was)?;
        match (was, &now) {
            (Answer::Id(a), Answer::Id(b)) if a.is_some() == b.is_some() => {
                changed |= a != b;
                ids.push((*a, *b));
            }
            (
                Answer::Name(Named::File {
                    stamp: a,
                    plain: pa,
                }),
                Answer::Name(Named::File {
                    stamp: b,
                    plain: pb,
                }),
            ) if pa == pb => {
                ids.push((Some((a.dev, a.ino)), Some((b.dev, b.ino))));
                named.push((p, *a, *b));
                if a != b || racy(contents, a) {
                    changed = true;
                    let read = read.get_or_insert_with(|| by_name(&result.files, cwd));
                    match read.get(p) {
                        Some(&i) => {
                            let f = &result.files[i];
                            let (digest, settled) = contents.digest(p, b)?;
                            if digest != f.digest || b.size != f.size {
                                if !contents.walks_as(p, b, &f.digest, &digest, lines) {
                                    return None;
                                }
                                edited[i] = Some((digest, b.size));
                            }
                            moved[i] = Some((*b, settled));
                            moved_from.push(*a);
                        }
                        // Asked only whether it is there, unless it is a
                        // file read under another name (a link's target).
                        None if result.files.iter().any(|f| f.stamp == Some(*a)) => return None,
                        None => {}
                    }
                }
            }
            _ if now != *was => return None,
            _ => {}
        }
    }
    // A file read too recently to be sure of was kept without a stamp.
    changed |= result.files.iter().any(|f| f.stamp.is_none());
    if changed && !still_coincide(&result.files, cwd, &ids, &named, &moved, &edited, read) {
        return None;
    }
    for ((f, m), e) in result.files.iter_mut().zip(moved).zip(edited) {
        if let Some((st, settled)) = m {
            f.stamp = settled.then_some(st);
        }
        if let Some((digest, size)) = e {
            (f.digest, f.size) = (digest, size);
        }
    }
    // Every file read was looked up by name, so its stamp, which its
    // digest rests on, was among the answers checked above; one that
    // moved under another name than it was read by is not replayed.
    if result
        .files
        .iter()
        .any(|f| f.stamp.is_some_and(|s| moved_from.contains(&s)))
    {
        return None;
    }
    Some(result)
}

/// Device and inode, if there was something.
type Inode = Option<(u64, u64)>;

/// Each file read, by the name the answers have (`fs::Fs::absolute`).
fn by_name(files: &[FileRead], cwd: &Path) -> FxMap<Vec<u8>, usize> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let p = f.path.as_os_str().as_bytes();
            let mut abs = Vec::with_capacity(cwd.as_os_str().len() + 1 + p.len());
            if p.first() != Some(&b'/') {
                abs.extend_from_slice(cwd.as_os_str().as_bytes());
                abs.push(b'/');
            }
            abs.extend_from_slice(p);
            (abs, i)
        })
        .collect()
}

/// Whether what the walk took from identities still holds after some
/// moved: the answers that named one inode still do (include dirs dedup
/// by it, and clang's `#pragma once`), and so do the files read with the
/// same mtime, size and digest (gcc's `#pragma once`).
fn still_coincide(
    files: &[FileRead],
    cwd: &Path,
    ids: &[(Inode, Inode)],
    named: &[(&[u8], Stamp, Stamp)],
    moved: &[Option<(Stamp, bool)>],
    edited: &[Option<([u8; 32], u64)>],
    read: Option<FxMap<Vec<u8>, usize>>,
) -> bool {
    let (mut then, mut now) = (Pattern::default(), Pattern::default());
    for (a, b) in ids {
        then.push(*a);
        now.push(*b);
    }
    if !then.same(&now) {
        return false;
    }
    if moved.iter().all(Option::is_none) && files.iter().all(|f| f.stamp.is_some()) {
        return true;
    }
    let read = read.unwrap_or_else(|| by_name(files, cwd));
    // Each file read's stamp as answered then and now.
    let mut answered: Vec<Option<(Stamp, Stamp)>> = vec![None; files.len()];
    for (p, a, b) in named {
        if let Some(&i) = read.get(*p) {
            answered[i] = Some((*a, *b));
        }
    }
    let (mut then, mut now) = (Pattern::default(), Pattern::default());
    let once = |f: &FileRead, st: &Stamp| (st.mtime, f.size, f.digest);
    for ((f, a), e) in files.iter().zip(&answered).zip(edited) {
        // A file read has its answer; one read under another name than
        // it was asked by stands by its kept stamp (checked after).
        let (a, b) = match (a, f.stamp) {
            (Some(a), _) => *a,
            (None, Some(st)) => (st, st),
            (None, None) => return false,
        };
        then.push(once(f, &a));
        now.push(match e {
            Some((digest, size)) => (b.mtime, *size, *digest),
            None => once(f, &b),
        });
    }
    then.same(&now)
}

/// The same question asked again.
fn ask(looked: &mut Looked, path: &[u8], was: &Answer) -> Option<Answer> {
    Some(match was {
        Answer::Name(_) => Answer::Name(match examine(path) {
            Ok(Examined::Missing) => Named::Missing,
            Ok(Examined::Dir) => Named::NotFile,
            Ok(Examined::File(m, plain)) => Named::File {
                stamp: Stamp::of(&m),
                plain,
            },
            Err(_) => return None,
        }),
        Answer::Exists(_) => Answer::Exists(match looked.meta(path) {
            Ok(m) if m.is_dir() => Kind::Dir,
            Ok(_) => Kind::Other,
            Err(true) => Kind::Missing,
            Err(false) => return None,
        }),
        Answer::Id(_) => Answer::Id(match looked.meta(path) {
            Ok(m) if m.is_dir() => Some((m.dev(), m.ino())),
            _ => None,
        }),
    })
}

/// What a dir's listing answered, for a replay after its stamp moved.
struct Seen<'a> {
    unlisted: &'a [&'a [u8]],
    consulted: Option<&'a [&'a [u8]]>,
    relevant: &'a [&'a [u8]],
}

/// Whether a dir still answers as it did: the same stamp, or (another
/// stamp, even another inode: a fresh copy of the tree) none of the names
/// its listing lacked is there now and, if its whole listing was
/// consulted, it holds the same of the relevant names. The names it held
/// were asked by themselves (`paths`); its identity, where it mattered,
/// too (`Answer::Id`).
/// `trusted`: `was` was settled when the scan began, so the same stamp
/// now means the same names.
fn dir_holds(
    looked: &mut Looked,
    dir: &[u8],
    was: Option<Stamp>,
    trusted: bool,
    seen: &Seen,
) -> bool {
    let now = match looked.meta(dir) {
        Ok(m) if m.is_dir() => Some(Stamp::of(m)),
        Ok(_) => None,
        Err(true) => None,
        Err(false) => return false,
    };
    match (was, now) {
        (None, None) => true,
        (Some(a), Some(b)) if a == b && trusted => true,
        (Some(_), Some(_)) => {
            let gone = seen.unlisted.iter().all(|n| {
                let mut p = dir.to_vec();
                if p.last() != Some(&b'/') {
                    p.push(b'/');
                }
                p.extend_from_slice(n);
                matches!(std::fs::symlink_metadata(OsStr::from_bytes(&p)), Err(e) if is_absent(&e))
            });
            gone && seen
                .consulted
                .is_none_or(|was| holds_same(dir, was, seen.relevant))
        }
        _ => false,
    }
}

/// Whether `dir`, listed now, holds the same of the `relevant` names as
/// `was` (those it held then, in the order of `relevant`).
fn holds_same(dir: &[u8], was: &[&[u8]], relevant: &[&[u8]]) -> bool {
    let Some(names) = crate::includes::listing::read(dir) else {
        return false;
    };
    let now: std::collections::HashSet<&[u8]> = names.iter().map(|n| n.as_slice()).collect();
    let held: Vec<&[u8]> = relevant
        .iter()
        .copied()
        .filter(|r| now.contains(r))
        .collect();
    held == was
}

/// `stat` answers within one replay: an include dir is asked for its
/// identity and its stamp, one call for both.
#[derive(Default)]
struct Looked {
    seen: FxMap<Vec<u8>, Result<std::fs::Metadata, bool>>,
}

impl Looked {
    /// The path's metadata, or whether it is absent (false: another error).
    fn meta(&mut self, path: &[u8]) -> Result<&std::fs::Metadata, bool> {
        if !self.seen.contains_key(path) {
            let m = std::fs::metadata(OsStr::from_bytes(path)).map_err(|e| is_absent(&e));
            self.seen.insert(path.to_vec(), m);
        }
        self.seen[path].as_ref().map_err(|&b| b)
    }
}
