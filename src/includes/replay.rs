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

use std::ffi::OsStr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::codec::{Reader, Writer};
use super::files::{examine, is_absent, Examined};
use super::stamp::Stamp;
use super::token::FxMap;
use super::unit::{FileRead, Probe, ProbeKind, ScanResult, Unit};

const MAGIC: &[u8] = b"distcc-scan-replay-2";

/// Larger kept scans are not read back (a bound against a damaged or
/// hostile cache; a big C++ unit's is some 100 KiB).
const MAX_BYTES: usize = 16 << 20;

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

    pub fn dir(&mut self, dir: &[u8], stamp: Option<Stamp>) {
        self.dirs.entry(dir.to_vec()).or_default().stamp = stamp;
    }

    /// `name` taken as absent because the listing of `dir` lacks it.
    pub fn unlisted(&mut self, dir: &[u8], name: &[u8]) {
        let seen = self.dirs.entry(dir.to_vec()).or_default();
        if !seen.unlisted.iter().any(|n| n == name) {
            seen.unlisted.push(name.to_vec());
        }
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
        self.dirs.entry(dir.to_vec()).or_default().consulted = Some(present);
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

/// The byte form of `r` with the answers it rested on; None when it
/// cannot be replayed. `more` are answers the caller adds (the probe's
/// skipped dirs, which must still be absent).
/// `began` is when the scan began, before any answer.
pub fn encode(
    r: &ScanResult,
    answers: &Answers,
    more: &[(Vec<u8>, Answer)],
    began: SystemTime,
) -> Option<Vec<u8>> {
    // Every field, named: one added to ScanResult must be kept here too.
    let ScanResult {
        files,
        probes,
        notes,
        fatal,
        undecided,
        shadows,
    } = r;
    let dependency = probes.iter().any(|p| p.kind == ProbeKind::Dependency);
    if !answers.keepable || fatal.is_some() || dependency {
        return None;
    }
    let mut w = Writer::new(MAGIC);
    let began = began.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    w.u64(began.as_secs());
    w.u64(began.subsec_nanos() as u64);
    w.u64(files.len() as u64);
    for f in files {
        w.blob(f.path.as_os_str().as_bytes());
        w.bytes(&f.digest);
        w.u64(f.size);
        // A file read too recently to be sure of has none: a replay
        // checks it by content.
        match &f.stamp {
            Some(st) => {
                w.u64(1);
                stamp_out(&mut w, st);
            }
            None => w.u64(0),
        }
        w.u64(f.plain as u64);
    }
    w.u64(probes.len() as u64);
    for p in probes {
        w.blob(p.path.as_os_str().as_bytes());
        w.u64(kind_code(p.kind));
        w.u64(p.exists as u64);
    }
    w.u64(notes.len() as u64);
    for n in notes {
        w.blob(n.as_bytes());
    }
    w.u64(*undecided as u64);
    w.u64(shadows.len() as u64);
    for p in shadows {
        w.blob(p.as_os_str().as_bytes());
    }
    w.u64(answers.relevant.len() as u64);
    for n in &answers.relevant {
        w.blob(n);
    }
    let mut dirs: Vec<_> = answers.dirs.iter().collect();
    dirs.sort_by(|a, b| a.0.cmp(b.0));
    w.u64(dirs.len() as u64);
    for (d, seen) in dirs {
        w.blob(d);
        match &seen.stamp {
            Some(st) => {
                w.u64(1);
                stamp_out(&mut w, st);
            }
            None => w.u64(0),
        }
        w.u64(seen.unlisted.len() as u64);
        for n in &seen.unlisted {
            w.blob(n);
        }
        match &seen.consulted {
            Some(present) => {
                w.u64(1 + present.len() as u64);
                for n in present {
                    w.blob(n);
                }
            }
            None => w.u64(0),
        }
    }
    let paths = answers.paths.iter().chain(more);
    w.u64(paths.clone().count() as u64);
    for (p, a) in paths {
        w.blob(p);
        answer_out(&mut w, a);
    }
    Some(crate::zstd::compress(&w.finish()))
}

/// What a replay asks when a file read has another stamp than it had.
pub trait Contents {
    /// The digest of the file at `path`, whose stamp is now `st`, and
    /// whether that stamp is settled; None if it cannot be told (the
    /// file changed again meanwhile, an error).
    fn digest(&mut self, path: &[u8], st: &Stamp) -> Option<([u8; 32], bool)>;

    /// Whether a stamp seen at `at` was settled then (`Store::settled_at`).
    fn settled(&self, st: &Stamp, at: SystemTime) -> bool;
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
    let raw = crate::zstd::decompress(bytes, MAX_BYTES).ok()?;
    let mut r = Reader::new(&raw, MAGIC)?;
    let began = SystemTime::UNIX_EPOCH
        + Duration::new(
            r.u64()?,
            u32::try_from(r.u64()?)
                .ok()
                .filter(|&n| n < 1_000_000_000)?,
        );
    // A stamp that proves nothing by itself being the same.
    let racy = |c: &dyn Contents, st: &Stamp| !c.settled(st, began);
    let mut result = ScanResult::default();
    for _ in 0..r.u64()? {
        let path = path_in(&mut r)?;
        let digest: [u8; 32] = r.bytes(32)?.try_into().ok()?;
        let size = r.u64()?;
        let stamp = match r.u64()? {
            0 => None,
            _ => Some(stamp_in(&mut r)?),
        };
        let plain = r.u64()? != 0;
        result.files.push(FileRead {
            path,
            digest,
            size,
            stamp,
            plain,
        });
    }
    for _ in 0..r.u64()? {
        let path = path_in(&mut r)?;
        let kind = kind_of(r.u64()?)?;
        let exists = r.u64()? != 0;
        result.probes.push(Probe { path, kind, exists });
    }
    for _ in 0..r.u64()? {
        result
            .notes
            .push(String::from_utf8(r.blob()?.to_vec()).ok()?);
    }
    result.undecided = u32::try_from(r.u64()?).ok()?;
    for _ in 0..r.u64()? {
        result.shadows.push(path_in(&mut r)?);
    }
    let mut relevant = Vec::new();
    for _ in 0..r.u64()? {
        relevant.push(r.blob()?);
    }
    let mut looked = Looked::default();
    for _ in 0..r.u64()? {
        let dir = r.blob()?;
        let stamp = match r.u64()? {
            0 => None,
            _ => Some(stamp_in(&mut r)?),
        };
        let n = r.u64()?;
        let mut unlisted = Vec::new();
        for _ in 0..n {
            unlisted.push(r.blob()?);
        }
        let consulted = match r.u64()? {
            0 => None,
            n => {
                let mut present = Vec::new();
                for _ in 1..n {
                    present.push(r.blob()?);
                }
                Some(present)
            }
        };
        let seen = Seen {
            unlisted: &unlisted,
            consulted: consulted.as_deref(),
            relevant: &relevant,
        };
        let trusted = stamp.is_some_and(|st| !racy(contents, &st));
        if !dir_holds(&mut looked, dir, stamp, trusted, &seen) {
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
    let mut moved_from: Vec<Stamp> = Vec::new();
    let mut read: Option<FxMap<Vec<u8>, usize>> = None;
    for _ in 0..r.u64()? {
        let p = r.blob()?;
        let was = answer_in(&mut r)?;
        let now = ask(&mut looked, p, &was)?;
        match (&was, &now) {
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
                                return None;
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
            _ if now != was => return None,
            _ => {}
        }
    }
    r.end()?;
    // A file read too recently to be sure of was kept without a stamp.
    changed |= result.files.iter().any(|f| f.stamp.is_none());
    if changed && !still_coincide(&result.files, cwd, &ids, &named, &moved, read) {
        return None;
    }
    for (f, m) in result.files.iter_mut().zip(moved) {
        if let Some((st, settled)) = m {
            f.stamp = settled.then_some(st);
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
    for (f, a) in files.iter().zip(&answered) {
        // A file read has its answer; one read under another name than
        // it was asked by stands by its kept stamp (checked after).
        let (a, b) = match (a, f.stamp) {
            (Some(a), _) => *a,
            (None, Some(st)) => (st, st),
            (None, None) => return false,
        };
        then.push(once(f, &a));
        now.push(once(f, &b));
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
    let Some(names) = super::listing::read(dir) else {
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

fn path_in(r: &mut Reader) -> Option<PathBuf> {
    Some(PathBuf::from(std::ffi::OsString::from_vec(
        r.blob()?.to_vec(),
    )))
}

fn stamp_out(w: &mut Writer, s: &Stamp) {
    for v in [s.dev, s.ino, s.size] {
        w.u64(v);
    }
    for v in [s.mtime, s.mtime_ns, s.ctime, s.ctime_ns] {
        w.u64(v as u64);
    }
}

fn stamp_in(r: &mut Reader) -> Option<Stamp> {
    Some(Stamp {
        dev: r.u64()?,
        ino: r.u64()?,
        size: r.u64()?,
        mtime: r.u64()? as i64,
        mtime_ns: r.u64()? as i64,
        ctime: r.u64()? as i64,
        ctime_ns: r.u64()? as i64,
    })
}

fn answer_out(w: &mut Writer, a: &Answer) {
    match a {
        Answer::Name(Named::Missing) => w.u64(0),
        Answer::Name(Named::NotFile) => w.u64(1),
        Answer::Name(Named::File { stamp, plain }) => {
            w.u64(2 + *plain as u64);
            stamp_out(w, stamp);
        }
        Answer::Exists(k) => w.u64(4 + *k as u64),
        Answer::Id(None) => w.u64(7),
        Answer::Id(Some((dev, ino))) => {
            w.u64(8);
            w.u64(*dev);
            w.u64(*ino);
        }
    }
}

fn answer_in(r: &mut Reader) -> Option<Answer> {
    Some(match r.u64()? {
        0 => Answer::Name(Named::Missing),
        1 => Answer::Name(Named::NotFile),
        t @ (2 | 3) => Answer::Name(Named::File {
            stamp: stamp_in(r)?,
            plain: t == 3,
        }),
        4 => Answer::Exists(Kind::Missing),
        5 => Answer::Exists(Kind::Dir),
        6 => Answer::Exists(Kind::Other),
        7 => Answer::Id(None),
        8 => Answer::Id(Some((r.u64()?, r.u64()?))),
        _ => return None,
    })
}

fn kind_code(k: ProbeKind) -> u64 {
    match k {
        ProbeKind::Dir => 0,
        ProbeKind::Candidate => 1,
        ProbeKind::HasInclude => 2,
        ProbeKind::Dependency => 3,
        ProbeKind::Skipped => 4,
    }
}

fn kind_of(c: u64) -> Option<ProbeKind> {
    Some(match c {
        0 => ProbeKind::Dir,
        1 => ProbeKind::Candidate,
        2 => ProbeKind::HasInclude,
        3 => ProbeKind::Dependency,
        4 => ProbeKind::Skipped,
        _ => return None,
    })
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
