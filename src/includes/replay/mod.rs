//! A unit's whole scan, kept with every file-system answer it rested on,
//! so that the next job of the same unit asks the file system the same
//! questions again and, when every answer is the same, takes the kept
//! result instead of walking the unit's files.
//!
//! Why that is exact: a scan is a function of the command line, the
//! compiler's probe, the files' contents and the answers to "what is at
//! this path?". The key holds the first two. A file's content is held by
//! its stamp, but only a settled one (see `files::Node`): a stamp that was
//! not settled when the scan began (git's racy rule, against the scan's
//! start) is never taken as proof, its file is checked by content as a
//! moved one is (below), and its dir asked again. A scan that met an
//! error, or asked something other than through `FileCache` (`#pragma
//! GCC dependency` compares times) is not kept. A
//! name the scan took as absent because its dir's listing lacks it rests
//! on the dir's stamp; when that stamp has moved (a build writes objects
//! beside its sources), each such name is asked again by itself, so an
//! unrelated new file costs a `stat` per name, not the whole scan.
//!
//! What this saves a warm job is the walk: decoding skeletons, expanding
//! and evaluating every directive of every header again. It saves no
//! `stat`: each file read and each dir searched is looked at as before.
//!
//! A file whose stamp moved (a fresh checkout, a copied tree, a branch
//! switched back and forth) still holds if its content did not: its
//! digest under the new stamp (`Contents`: from the cache, else read) is
//! the kept one. What else the walk took from identities is checked as a
//! pattern: which answers named the same inode (include dirs dedup by it,
//! and clang's `#pragma once`), and which files read had the same mtime,
//! size and digest (gcc's `#pragma once`). A dir whose stamp moved is
//! asked again for the names its listing lacked, whatever its inode.
//!
//! A file whose content changed holds too when only its code did: a
//! walk sees a file only through its skeleton, so one whose skeleton is
//! the same but for the digest, the size and the lines its directives
//! stand on (`image::same_walk`) is walked as before, and the result
//! names its new content. The lines count where the walk asked
//! `__LINE__` (`ScanResult::lines`) or left notes, which quote them. So
//! the edit-and-rebuild loop (code changed in a source or a header) pays
//! a replay and one file lexed, not a walk per unit.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::stamp::Stamp;
use super::token::FxMap;
use super::unit::Unit;

mod check;
mod record;

pub use check::{replay, Contents};
pub use record::encode;

const MAGIC: &[u8] = b"distcc-scan-replay-4";

/// What a file-system question got, as `FileCache` asked it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `lstat` (then `stat` through a link) of a name: absent, a dir, or
    /// a file with this stamp, named by itself (`plain`) or not.
    Name(Named),
    /// Whether something other than a dir is at the path (`exists`).
    Exists(Kind),
    /// An include dir's identity: what `search` dedups dirs by.
    Id(Option<(u64, u64)>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Named {
    Missing,
    NotFile,
    File { stamp: Stamp, plain: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Missing,
    Dir,
    Other,
}

/// A dir as `FileCache` took it: its stamp (None: absent or not a dir),
/// and the names its listing said were not there; and, if its whole
/// listing was consulted (`shadow`), which of the unit's relevant names
/// it held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct DirSeen {
    stamp: Option<Stamp>,
    unlisted: Vec<Vec<u8>>,
    consulted: Option<Vec<Vec<u8>>>,
}

/// The answers one unit's scan rested on, as they were given.
#[derive(Debug)]
pub struct Answers {
    /// False once something was met that a replay cannot check.
    pub keepable: bool,
    dirs: FxMap<Vec<u8>, DirSeen>,
    paths: Vec<(Vec<u8>, Answer)>,
    /// The names whole listings were consulted for (`consulted`).
    relevant: Vec<Vec<u8>>,
}

impl Default for Answers {
    fn default() -> Answers {
        Answers {
            keepable: true,
            dirs: FxMap::default(),
            paths: Vec::new(),
            relevant: Vec::new(),
        }
    }
}

impl Answers {
    pub fn clear(&mut self) {
        *self = Answers::default();
    }

    /// Something no replay can check: this scan is not kept.
    pub fn spoil(&mut self) {
        self.keepable = false;
    }

    /// `dir`'s entry, its key copied only the first time: a walk records
    /// a name absent for every candidate its listing answered.
    fn seen(&mut self, dir: &[u8]) -> &mut DirSeen {
        if !self.dirs.contains_key(dir) {
            self.dirs.insert(dir.to_vec(), DirSeen::default());
        }
        self.dirs.get_mut(dir).expect("inserted above")
    }

    pub fn dir(&mut self, dir: &[u8], stamp: Option<Stamp>) {
        self.seen(dir).stamp = stamp;
    }

    /// `name` taken as absent because the listing of `dir` lacks it. A
    /// path is asked about once per unit, so repeats are rare: `encode`
    /// drops them (a search here made recording quadratic in a dir's).
    pub fn unlisted(&mut self, dir: &[u8], name: &[u8]) {
        self.seen(dir).unlisted.push(name.to_vec());
    }

    pub fn path(&mut self, path: &[u8], a: Answer) {
        self.paths.push((path.to_vec(), a));
    }

    /// The names questions went to whole listings for (see `consulted`).
    pub fn relevant(&mut self, names: Vec<Vec<u8>>) {
        self.relevant = names;
    }

    /// `dir`'s whole listing was consulted for the relevant names, of
    /// which it held `present`: a replay after its stamp moved lists it
    /// again and wants the same of them.
    pub fn consulted(&mut self, dir: &[u8], present: Vec<Vec<u8>>) {
        self.seen(dir).consulted = Some(present);
    }
}

/// The key a unit's kept scan is found by: the probe's key (compiler,
/// language, flags that change its answers) and the whole unit.
pub fn key(probe_key: &[u8; 32], unit: &Unit) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(MAGIC);
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(probe_key);
    // Every field of the unit, unambiguously: Debug quotes and escapes
    // each path and string, and the binary that reads a key wrote it.
    h.update(format!("{unit:?}").as_bytes());
    h.finalize().into()
}

/// The probe's skipped default dirs as answers a replay checks: the
/// probe is stale once one appears (`CompilerInfo::is_stale`).
pub fn still_absent<'a>(dirs: impl Iterator<Item = &'a Path>) -> Vec<(Vec<u8>, Answer)> {
    dirs.map(|d| {
        (
            d.as_os_str().as_bytes().to_vec(),
            Answer::Exists(Kind::Missing),
        )
    })
    .collect()
}
