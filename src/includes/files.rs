//! The scanner's view of the file system: for each path it was asked
//! about, whether a file is there and that file's skeleton. A skeleton
//! is reused while the file's identity and change times are unchanged
//! (one `stat` per path per unit; a path asked twice in one unit is
//! stat'ed once), and shared between paths that reach the same file.
//! `entries`/`preload` give a later cross-process cache what it keeps.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::skeleton::Skeleton;
use super::token::{FxMap, Interner};

/// What identifies a file's content without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: i64,
    pub mtime_ns: i64,
    pub ctime: i64,
    pub ctime_ns: i64,
}

impl Stamp {
    pub fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: m.mtime(),
            mtime_ns: m.mtime_nsec(),
            ctime: m.ctime(),
            ctime_ns: m.ctime_nsec(),
        }
    }
}

#[derive(Debug)]
pub struct Node {
    pub stamp: Stamp,
    pub skel: Rc<Skeleton>,
}

#[derive(Clone, Debug)]
pub enum State {
    Missing,
    /// A directory: `open` would succeed but gcc treats it as absent.
    NotFile,
    File(Rc<Node>),
}

struct PathEntry {
    seen: u64,
    state: State,
    canon: Option<PathBuf>,
    /// Stable for the life of the cache: what a unit dedups paths by.
    id: u32,
    /// For a missing path: its dir's stamp when it was seen missing. While
    /// the dir's stamp is the same, no entry was added to it, so the path
    /// is still missing: one stat of the dir stands for many candidates.
    absent_under: Option<Stamp>,
}

/// Paths are kept as bytes: `Path`'s own hashing goes component by
/// component, which showed in profiles of warm scans.
#[derive(Default)]
pub struct FileCache {
    by_path: FxMap<Vec<u8>, PathEntry>,
    by_id: FxMap<(u64, u64), Rc<Node>>,
    /// Directory stamps, each taken once per unit.
    dirs: FxMap<Vec<u8>, (u64, Option<Stamp>)>,
    epoch: u64,
    /// Files read and skeletons built (for the cost figures).
    pub reads: u64,
    /// `stat` calls made.
    pub stats: u64,
}

impl FileCache {
    /// Starts a unit: every path is stat'ed again on first use.
    pub fn begin(&mut self) {
        self.epoch += 1;
    }

    /// What is at `path` (absolute), and the path's id.
    pub fn lookup(&mut self, path: &[u8], int: &mut Interner) -> io::Result<(State, u32)> {
        let mut still_absent = None;
        if let Some(e) = self.by_path.get(path) {
            if e.seen == self.epoch {
                return Ok((e.state.clone(), e.id));
            }
            still_absent = e.absent_under;
        }
        let epoch = self.epoch;
        if let Some(was) = still_absent {
            if self.dir_stamp(parent(path)) == Some(was) {
                let e = self.by_path.get_mut(path).unwrap();
                e.seen = epoch;
                return Ok((State::Missing, e.id));
            }
        }
        let state = self.stat(path, int)?;
        let absent_under = match state {
            State::Missing => self.trusted_absence(path),
            _ => None,
        };
        let next_id = self.by_path.len() as u32;
        match self.by_path.get_mut(path) {
            Some(e) => {
                e.absent_under = absent_under;
                let same = matches!((&e.state, &state), (State::File(a), State::File(b)) if Rc::ptr_eq(a, b));
                if !same {
                    e.canon = None;
                }
                e.seen = epoch;
                e.state = state.clone();
                Ok((state, e.id))
            }
            None => {
                self.by_path.insert(
                    path.to_vec(),
                    PathEntry {
                        seen: epoch,
                        state: state.clone(),
                        canon: None,
                        id: next_id,
                        absent_under,
                    },
                );
                Ok((state, next_id))
            }
        }
    }

    fn stat(&mut self, path: &[u8], int: &mut Interner) -> io::Result<State> {
        let path = Path::new(OsStr::from_bytes(path));
        self.stats += 1;
        let md = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if is_absent(&e) => return Ok(State::Missing),
            Err(e) => return Err(e),
        };
        if md.is_dir() {
            return Ok(State::NotFile);
        }
        let stamp = Stamp::of(&md);
        if let Some(State::File(n)) = self
            .by_path
            .get(path.as_os_str().as_bytes())
            .map(|e| &e.state)
        {
            if n.stamp == stamp {
                return Ok(State::File(n.clone()));
            }
        }
        if let Some(n) = self.by_id.get(&(stamp.dev, stamp.ino)) {
            if n.stamp == stamp {
                return Ok(State::File(n.clone()));
            }
        }
        let bytes = std::fs::read(path)?;
        self.reads += 1;
        let node = Rc::new(Node {
            stamp,
            skel: Rc::new(Skeleton::build(&bytes, int)),
        });
        self.by_id.insert((stamp.dev, stamp.ino), node.clone());
        Ok(State::File(node))
    }

    /// A directory's stamp, once per unit; None if it is not a directory.
    fn dir_stamp(&mut self, dir: &[u8]) -> Option<Stamp> {
        if let Some(&(seen, st)) = self.dirs.get(dir) {
            if seen == self.epoch {
                return st;
            }
        }
        self.stats += 1;
        let st = std::fs::metadata(OsStr::from_bytes(dir))
            .ok()
            .filter(|m| m.is_dir())
            .map(|m| Stamp::of(&m));
        self.dirs.insert(dir.to_vec(), (self.epoch, st));
        st
    }

    /// The dir stamp under which `path`'s absence can be trusted later:
    /// there is no entry at all (not even a dangling symlink, whose
    /// target could appear without its dir changing), and the dir's last
    /// change is old enough that a change in the same clock tick cannot
    /// hide behind an equal mtime (the "racy git" problem).
    fn trusted_absence(&mut self, path: &[u8]) -> Option<Stamp> {
        match std::fs::symlink_metadata(OsStr::from_bytes(path)) {
            Err(e) if is_absent(&e) => {}
            _ => return None,
        }
        let st = self.dir_stamp(parent(path))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs() as i64;
        (now - st.mtime > 2).then_some(st)
    }

    /// The path with symlinks and dots resolved, cached with the entry.
    pub fn canonical(&mut self, path: &[u8]) -> PathBuf {
        let p = Path::new(OsStr::from_bytes(path));
        if let Some(e) = self.by_path.get_mut(path) {
            if let Some(c) = &e.canon {
                return c.clone();
            }
            let c = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            e.canon = Some(c.clone());
            return c;
        }
        std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
    }

    /// Every skeleton held, with the identity it is valid for, encoded.
    pub fn entries(&self, int: &Interner) -> Vec<(Stamp, Vec<u8>)> {
        self.by_id
            .values()
            .map(|n| (n.stamp, n.skel.encode(int)))
            .collect()
    }

    /// Takes a skeleton from elsewhere (a cache on disk); it is used for
    /// a path only while that path's `stat` gives the same stamp.
    pub fn preload(&mut self, stamp: Stamp, bytes: &[u8], int: &mut Interner) -> bool {
        match Skeleton::decode(bytes, int) {
            Some(sk) => {
                self.by_id.insert(
                    (stamp.dev, stamp.ino),
                    Rc::new(Node {
                        stamp,
                        skel: Rc::new(sk),
                    }),
                );
                true
            }
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// The dir part of an absolute path (`/` for a top-level name).
fn parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&c| c == b'/') {
        Some(0) => b"/",
        Some(i) => &path[..i],
        None => b".",
    }
}

/// ENOENT and ENOTDIR: the preprocessor goes on to the next dir.
fn is_absent(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
        || e.kind() == io::ErrorKind::NotFound
}
