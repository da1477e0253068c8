//! The scanner's view of the file system: for each path it was asked
//! about, whether a file is there and that file's skeleton. Within one
//! unit a path is examined once; in the next unit again, so a file
//! changed between units (or jobs) is seen.
//!
//! What a unit costs here, warm: one `stat` per dir it searches and per
//! file it reads. A candidate that is not there costs nothing more when
//! its dir has a listing (`listing`) that lacks it, or when its dir is
//! itself absent; a file's skeleton comes from memory (shared by every
//! path that reaches the same file), else from the cross-process `store`,
//! else from reading the file (the only time it is read and hashed; once
//! among processes that want it at the same time).

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::rc::Rc;
use std::time::SystemTime;

use super::listing::{self, listable, Listing};
use super::replay::{Answer, Answers, Kind, Named};
use super::skeleton::{digest_of, Skeleton};
pub use super::stamp::Stamp;
use super::store::Store;
use super::token::{FxMap, Interner};

#[derive(Debug)]
pub struct Node {
    pub stamp: Stamp,
    pub skel: Rc<Skeleton>,
    /// The skeleton's digest holds for as long as the file keeps `stamp`:
    /// it came from the store, or from a read of a file last changed
    /// before the racy window (see `store`). A caller may then name the
    /// file by that digest after checking only its stamp.
    pub settled: bool,
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
    /// Stable for the life of the cache: what a unit dedups paths by.
    id: u32,
}

/// What a dir holds, for questions about many names at once (`shadow`).
pub enum DirNames {
    /// Missing, or not a dir.
    Absent,
    /// A dir (its device and inode), and its listing's bytes
    /// (`listing::Listing`) if it has one; without, ask for each name.
    Dir((u64, u64), Option<Vec<u8>>),
    /// Could not be examined: ask for each name.
    Unknown,
}

#[derive(Clone, Copy, Debug)]
enum DirState {
    Dir(Stamp),
    /// Missing, or not a dir: nothing can be found under it.
    Absent,
    /// Could not be examined (permissions): ask each path.
    Unknown,
}

/// What listing a dir gave.
enum Listed {
    /// Changed too recently to trust a listing.
    Racy,
    /// Its listing; None where it cannot be listed.
    Bytes(Option<Vec<u8>>),
}

/// Paths are kept as bytes: `Path`'s own hashing goes component by
/// component, which showed in profiles of warm scans.
#[derive(Default)]
pub struct FileCache {
    by_path: FxMap<Vec<u8>, PathEntry>,
    by_id: FxMap<(u64, u64), Rc<Node>>,
    /// Dir states, each taken once per unit.
    dirs: FxMap<Vec<u8>, (u64, DirState)>,
    /// Listings by dir stamp; None where a dir cannot be listed.
    listings: FxMap<Stamp, Option<Vec<u8>>>,
    /// Dirs too recent to list, with the unit that found them so.
    racy_listings: FxMap<Stamp, u64>,
    /// Files examined whose name is a symlink, a device or a fifo (few).
    irregular: std::collections::HashSet<Vec<u8>>,
    pub store: Store,
    epoch: u64,
    /// Files read and skeletons built (for the cost figures).
    pub reads: u64,
    /// `stat` calls made.
    pub stats: u64,
    /// The answers this unit's scan rests on (`replay`).
    pub answers: Answers,
}

impl FileCache {
    pub fn new(store: Store) -> FileCache {
        FileCache {
            store,
            ..FileCache::default()
        }
    }

    /// Starts a unit: every path is examined again on first use.
    pub fn begin(&mut self) {
        self.epoch += 1;
        self.answers.clear();
    }

    /// What is at `path` (absolute), and the path's id.
    pub fn lookup(&mut self, path: &[u8], int: &mut Interner) -> io::Result<(State, u32)> {
        if let Some(e) = self.by_path.get(path) {
            if e.seen == self.epoch {
                return Ok((e.state.clone(), e.id));
            }
        }
        let state = if self.absent(path) {
            State::Missing
        } else {
            let state = self.stat(path, int);
            self.answered(path, &state);
            state?
        };
        let epoch = self.epoch;
        if let Some(e) = self.by_path.get_mut(path) {
            e.seen = epoch;
            e.state = state.clone();
            return Ok((state, e.id));
        }
        let id = self.by_path.len() as u32;
        self.by_path.insert(
            path.to_vec(),
            PathEntry {
                seen: epoch,
                state: state.clone(),
                id,
            },
        );
        Ok((state, id))
    }

    /// Whether a file other than a dir is at `path`, without reading it.
    pub fn exists(&mut self, path: &[u8]) -> io::Result<bool> {
        if let Some(e) = self.by_path.get(path) {
            if e.seen == self.epoch {
                return Ok(matches!(e.state, State::File(_)));
            }
        }
        if self.absent(path) {
            return Ok(false);
        }
        self.stats += 1;
        let kind = match std::fs::metadata(OsStr::from_bytes(path)) {
            Ok(m) if m.is_dir() => Kind::Dir,
            Ok(_) => Kind::Other,
            Err(e) if is_absent(&e) => Kind::Missing,
            Err(e) => {
                self.answers.spoil();
                return Err(e);
            }
        };
        self.answers.path(path, Answer::Exists(kind));
        Ok(kind == Kind::Other)
    }

    /// An include dir's identity (None: not a dir), as `search` dedups
    /// the chains by.
    pub fn dir_id(&mut self, path: &[u8]) -> Option<(u64, u64)> {
        self.stats += 1;
        let id = std::fs::metadata(OsStr::from_bytes(path))
            .ok()
            .filter(|m| m.is_dir())
            .map(|m| (m.dev(), m.ino()));
        self.answers.path(path, Answer::Id(id));
        id
    }

    /// Keeps what a lookup by name found, for a replay to ask again.
    fn answered(&mut self, path: &[u8], state: &io::Result<State>) {
        let named = match state {
            Ok(State::Missing) => Named::Missing,
            Ok(State::NotFile) => Named::NotFile,
            // Unsettled too: a replay checks such a file by its content.
            Ok(State::File(n)) => Named::File {
                stamp: n.stamp,
                plain: self.is_plain(path),
            },
            _ => return self.answers.spoil(),
        };
        self.answers.path(path, Answer::Name(named));
    }

    /// The names `dir` (absolute) holds, as this unit sees them: from its
    /// listing, so a question about many names costs one `stat` of the
    /// dir in the unit (none when a search took it already).
    pub fn names_of(&mut self, dir: &[u8]) -> DirNames {
        match self.dir_state(dir) {
            DirState::Absent => DirNames::Absent,
            DirState::Unknown => DirNames::Unknown,
            DirState::Dir(st) => {
                // Loads the listing (the empty name is never an entry).
                self.unlisted(&st, dir, b"");
                let names = match self.listings.get(&st) {
                    Some(Some(b)) if Listing::new(b).is_some() => Some(b.clone()),
                    _ => None,
                };
                DirNames::Dir((st.dev, st.ino), names)
            }
        }
    }

    /// Known absent without asking the file system about `path` itself:
    /// its dir is absent, or its dir's listing lacks the name.
    fn absent(&mut self, path: &[u8]) -> bool {
        let (dir, name) = split(path);
        if !listable(name) {
            return false;
        }
        match self.dir_state(dir) {
            DirState::Absent => true,
            DirState::Dir(st) => {
                let absent = self.unlisted(&st, dir, name);
                if absent {
                    self.answers.unlisted(dir, name);
                }
                absent
            }
            DirState::Unknown => false,
        }
    }

    fn dir_state(&mut self, dir: &[u8]) -> DirState {
        if let Some(&(seen, st)) = self.dirs.get(dir) {
            if seen == self.epoch {
                return st;
            }
        }
        // A dir that its (already examined) parent's listing lacks.
        let (up, name) = split(dir);
        let listed_absent = dir != b"/"
            && listable(name)
            && match self.dirs.get(up) {
                Some(&(seen, DirState::Dir(ust))) if seen == self.epoch => {
                    self.unlisted(&ust, up, name)
                }
                _ => false,
            };
        let st = if listed_absent {
            self.answers.unlisted(up, name);
            DirState::Absent
        } else {
            self.stats += 1;
            let st = match std::fs::metadata(OsStr::from_bytes(dir)) {
                Ok(m) if m.is_dir() => DirState::Dir(Stamp::of(&m)),
                Ok(_) => DirState::Absent,
                Err(e) if is_absent(&e) => DirState::Absent,
                Err(_) => DirState::Unknown,
            };
            match st {
                DirState::Dir(s) => self.answers.dir(dir, Some(s)),
                DirState::Absent => self.answers.dir(dir, None),
                DirState::Unknown => self.answers.spoil(),
            }
            st
        };
        match self.dirs.get_mut(dir) {
            Some(e) => *e = (self.epoch, st),
            None => {
                self.dirs.insert(dir.to_vec(), (self.epoch, st));
            }
        }
        st
    }

    /// Whether the listing of `dir` (stamp `st`) lacks `name`; false when
    /// there is no listing to tell.
    fn unlisted(&mut self, st: &Stamp, dir: &[u8], name: &[u8]) -> bool {
        if let Some(l) = self.listings.get(st) {
            return l
                .as_deref()
                .and_then(Listing::new)
                .is_some_and(|l| !l.has(name));
        }
        if self.racy_listings.get(st) == Some(&self.epoch) {
            return false;
        }
        let bytes = match self.store.listing(st) {
            Some(l) => Some(l.bytes().to_vec()),
            None => match self.make_listing(st, dir) {
                Listed::Racy => {
                    // Asked name by name in this unit, listed in a later
                    // one once settled (a long-lived scanner's too).
                    self.racy_listings.insert(*st, self.epoch);
                    return false;
                }
                Listed::Bytes(b) => b,
            },
        };
        let absent = bytes
            .as_deref()
            .and_then(Listing::new)
            .is_some_and(|l| !l.has(name));
        self.listings.insert(*st, bytes);
        absent
    }

    /// Lists `dir` if it may be: not changed within the racy window, and
    /// unchanged while it was read.
    fn make_listing(&mut self, st: &Stamp, dir: &[u8]) -> Listed {
        if !self.store.keepable(st, SystemTime::now()) {
            return Listed::Racy;
        }
        let Some(names) = listing::read(dir) else {
            return Listed::Bytes(None);
        };
        self.stats += 1;
        match std::fs::metadata(OsStr::from_bytes(dir)) {
            Ok(after) if Stamp::of(&after) == *st => {}
            _ => return Listed::Bytes(None),
        }
        let bytes = listing::encode(names);
        self.store.keep_listing(st, &bytes);
        Listed::Bytes(Some(bytes))
    }

    /// `lstat` first, `stat` only through a symlink: one call for most
    /// files, and the caller learns which names are plain files
    /// (`is_plain`) without asking again.
    fn stat(&mut self, path: &[u8], int: &mut Interner) -> io::Result<State> {
        self.stats += 1;
        let md = match examine(path)? {
            Examined::Missing => return Ok(State::Missing),
            Examined::Dir => return Ok(State::NotFile),
            Examined::File(m, plain) => {
                if !plain {
                    self.stats += 1;
                    self.irregular.insert(path.to_vec());
                } else if !self.irregular.is_empty() {
                    self.irregular.remove(path);
                }
                m
            }
        };
        let stamp = Stamp::of(&md);
        // A node read while its stamp was too recent to trust is read
        // again once it is not: its content may have changed since under
        // the same stamp, and a long-lived scanner (the scan agent) would
        // otherwise never settle it.
        let holds = |n: &Node| {
            n.stamp == stamp && (n.settled || !self.store.settled_at(&stamp, SystemTime::now()))
        };
        if let Some(State::File(n)) = self.by_path.get(path).map(|e| &e.state) {
            if holds(n) {
                return Ok(State::File(n.clone()));
            }
        }
        if let Some(n) = self.by_id.get(&(stamp.dev, stamp.ino)) {
            if holds(n) {
                return Ok(State::File(n.clone()));
            }
        }
        let node = match self.store.skeleton(&stamp, int) {
            Some(sk) => Node {
                stamp,
                skel: Rc::new(sk),
                settled: true,
            },
            None => match self.read_once(path, &stamp, int)? {
                Some(n) => n,
                None => return Ok(State::Missing),
            },
        };
        let node = Rc::new(node);
        self.by_id
            .insert((node.stamp.dev, node.stamp.ino), node.clone());
        Ok(State::File(node))
    }

    /// `read`, done once among processes that want the same file at
    /// once (`Store::claim_skeleton`): the first reads it and keeps its
    /// skeleton before it lets go; the others then find that skeleton.
    fn read_once(
        &mut self,
        path: &[u8],
        stamp: &Stamp,
        int: &mut Interner,
    ) -> io::Result<Option<Node>> {
        // A small file costs less to lex than a claim (a lock, a second
        // lookup, a write for the waiters): each process lexes its own.
        if stamp.size < CLAIM_MIN {
            return self.read(path, int);
        }
        let claim = self.store.claim_skeleton(stamp, SystemTime::now());
        if claim.is_some() {
            if let Some(sk) = self.store.skeleton(stamp, int) {
                return Ok(Some(Node {
                    stamp: *stamp,
                    skel: Rc::new(sk),
                    settled: true,
                }));
            }
        }
        let node = self.read(path, int)?;
        if claim.is_some() {
            self.store.flush();
        }
        Ok(node)
    }

    /// Reads and lexes the file; its stamp is taken from the open file,
    /// and the skeleton is kept across processes unless it is too recent.
    fn read(&mut self, path: &[u8], int: &mut Interner) -> io::Result<Option<Node>> {
        let mut f = match std::fs::File::open(Path::new(OsStr::from_bytes(path))) {
            Ok(f) => f,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let md = f.metadata()?;
        let stamp = Stamp::of(&md);
        let mut bytes = Vec::with_capacity(md.len() as usize + 1);
        f.read_to_end(&mut bytes)?;
        self.reads += 1;
        let digest = digest_of(&bytes);
        let skel = match self
            .store
            .skeleton_of_content(&digest, bytes.len() as u64, int)
        {
            Some(sk) => sk,
            None => {
                let sk = Skeleton::build_digested(&bytes, digest, int);
                self.store.keep_skeleton_of_content(&sk, int);
                sk
            }
        };
        // `now` after the read: a change while reading is in the window.
        let settled = skel.size == stamp.size && self.store.keepable(&stamp, SystemTime::now());
        if settled {
            self.store.keep_digest(&stamp, &skel.digest);
        }
        Ok(Some(Node {
            stamp,
            skel: Rc::new(skel),
            settled,
        }))
    }

    /// Whether `path` was a regular file itself (not a symlink to one,
    /// nor a device or a fifo) when it was last examined as a file.
    pub fn is_plain(&self, path: &[u8]) -> bool {
        // Most units have no irregular file: no hashing then.
        self.irregular.is_empty() || !self.irregular.contains(path)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Files smaller than this are read without a claim (`read_once`).
const CLAIM_MIN: u64 = 16 << 10;

/// A path's dir (`/` for a top-level name) and last component.
fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&c| c == b'/') {
        Some(0) => (b"/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b".", path),
    }
}

/// What a name is, as the scanner examines it: `lstat` first, and `stat`
/// only through a symlink, so most files cost one call.
pub enum Examined {
    Missing,
    /// A dir (through a link or not): gcc goes on as if absent.
    Dir,
    /// Anything else, with whether the name itself is a regular file
    /// (not a symlink to one, nor a device or a fifo).
    File(std::fs::Metadata, bool),
}

pub fn examine(path: &[u8]) -> io::Result<Examined> {
    let os = OsStr::from_bytes(path);
    let (md, plain) = match std::fs::symlink_metadata(os) {
        Ok(m) if m.file_type().is_symlink() => (std::fs::metadata(os), false),
        Ok(m) => {
            let plain = m.is_file() || m.is_dir();
            (Ok(m), plain)
        }
        Err(e) => (Err(e), false),
    };
    match md {
        Ok(m) if m.is_dir() => Ok(Examined::Dir),
        Ok(m) => Ok(Examined::File(m, plain)),
        Err(e) if is_absent(&e) => Ok(Examined::Missing),
        Err(e) => Err(e),
    }
}

/// ENOENT and ENOTDIR: the preprocessor goes on to the next dir.
pub fn is_absent(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
        || e.kind() == io::ErrorKind::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::includes::pack::Limits;
    use crate::includes::store::RACY;
    use std::time::Duration;

    fn node(cache: &mut FileCache, path: &Path) -> Rc<Node> {
        let mut int = Interner::default();
        match cache.lookup(path.as_os_str().as_bytes(), &mut int).unwrap() {
            (State::File(n), _) => n,
            other => panic!("not a file: {other:?}"),
        }
    }

    #[test]
    fn a_digest_is_settled_only_outside_the_racy_window() {
        let tmp = tempfile::tempdir().unwrap();
        let h = tmp.path().join("h.h");
        std::fs::write(&h, "int x;\n").unwrap();
        // Just written: within the window, so it is read next time too.
        let mut racy = FileCache::new(Store::none());
        racy.begin();
        assert!(!node(&mut racy, &h).settled);
        let cache = tmp.path().join("cache");
        let mut now = FileCache::new(Store::open(&cache, Limits::default(), Duration::ZERO));
        now.begin();
        let n = node(&mut now, &h);
        assert!(n.settled, "read outside a zero window");
        // The next process finds it in the store, settled as kept.
        drop(now);
        let mut next = FileCache::new(Store::open(&cache, Limits::default(), Duration::ZERO));
        next.begin();
        let m = node(&mut next, &h);
        assert!(m.settled);
        assert_eq!(m.skel.digest, n.skel.digest);
        assert_eq!(next.reads, 0, "from the store");
        assert!(next.is_plain(h.as_os_str().as_bytes()));
        // A name that is a link is not plain; its stamp is the target's.
        let l = tmp.path().join("l.h");
        std::os::unix::fs::symlink(&h, &l).unwrap();
        next.begin();
        let ln = node(&mut next, &l);
        assert_eq!(ln.stamp, m.stamp);
        assert!(!next.is_plain(l.as_os_str().as_bytes()));
    }

    #[test]
    fn a_copy_is_read_and_digested_but_its_skeleton_is_found_by_content() {
        let tmp = tempfile::tempdir().unwrap();
        let h = tmp.path().join("h.h");
        std::fs::write(&h, "#define A 1\n#include \"b.h\"\n").unwrap();
        let cache = tmp.path().join("cache");
        let open = || FileCache::new(Store::open(&cache, Limits::default(), RACY));
        let mut first = open();
        first.begin();
        let n = node(&mut first, &h);
        drop(first);
        // A fresh checkout: another inode, just written (within the racy
        // window, so its stamp is not trusted), the same bytes.
        let copy = tmp.path().join("copy.h");
        std::fs::copy(&h, &copy).unwrap();
        let mut next = open();
        next.begin();
        let c = node(&mut next, &copy);
        assert_eq!(next.reads, 1, "read: its stamp is new");
        assert_eq!(next.store.stats.content_hits, 1, "not lexed");
        assert_eq!(c.skel.digest, n.skel.digest);
        assert_eq!(c.skel.dirs.len(), n.skel.dirs.len());
        // Other bytes of the same size are lexed, not taken for the copy.
        let other = tmp.path().join("other.h");
        std::fs::write(&other, "#define B 1\n#include \"b.h\"\n").unwrap();
        next.begin();
        let o = node(&mut next, &other);
        assert_eq!(next.store.stats.content_hits, 1);
        assert_ne!(o.skel.digest, n.skel.digest);
    }
}
