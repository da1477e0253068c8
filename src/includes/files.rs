//! The scanner's view of the file system: for each path it was asked
//! about, whether a file is there and that file's skeleton. A skeleton
//! is reused while the file's identity and change times are unchanged
//! (one `stat` per path per unit; a path asked twice in one unit is
//! stat'ed once), and shared between paths that reach the same file.
//! `entries`/`preload` give a later cross-process cache what it keeps.

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
}

#[derive(Default)]
pub struct FileCache {
    by_path: FxMap<PathBuf, PathEntry>,
    by_id: FxMap<(u64, u64), Rc<Node>>,
    epoch: u64,
    /// Files read and skeletons built (for the cost figures).
    pub reads: u64,
}

impl FileCache {
    /// Starts a unit: every path is stat'ed again on first use.
    pub fn begin(&mut self) {
        self.epoch += 1;
    }

    pub fn lookup(&mut self, path: &Path, int: &mut Interner) -> io::Result<State> {
        if let Some(e) = self.by_path.get(path) {
            if e.seen == self.epoch {
                return Ok(e.state.clone());
            }
        }
        let state = self.stat(path, int)?;
        let epoch = self.epoch;
        match self.by_path.get_mut(path) {
            Some(e) => {
                let same = matches!((&e.state, &state), (State::File(a), State::File(b)) if Rc::ptr_eq(a, b));
                if !same {
                    e.canon = None;
                }
                e.seen = epoch;
                e.state = state.clone();
            }
            None => {
                self.by_path.insert(
                    path.to_path_buf(),
                    PathEntry {
                        seen: epoch,
                        state: state.clone(),
                        canon: None,
                    },
                );
            }
        }
        Ok(state)
    }

    fn stat(&mut self, path: &Path, int: &mut Interner) -> io::Result<State> {
        let md = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if is_absent(&e) => return Ok(State::Missing),
            Err(e) => return Err(e),
        };
        if md.is_dir() {
            return Ok(State::NotFile);
        }
        let stamp = Stamp::of(&md);
        if let Some(State::File(n)) = self.by_path.get(path).map(|e| &e.state) {
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

    /// The path with symlinks and dots resolved, cached with the entry.
    pub fn canonical(&mut self, path: &Path) -> PathBuf {
        if let Some(e) = self.by_path.get_mut(path) {
            if let Some(c) = &e.canon {
                return c.clone();
            }
            let c = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            e.canon = Some(c.clone());
            return c;
        }
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
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

/// ENOENT and ENOTDIR: the preprocessor goes on to the next dir.
fn is_absent(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
        || e.kind() == io::ErrorKind::NotFound
}

pub fn path_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}
