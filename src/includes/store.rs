//! What the scanner keeps across processes, and under which key, in one
//! `pack` in the cache dir the caller names: each file's skeleton (its
//! digest included) under its content's digest, and that digest under the
//! file's stamp, so a file is lexed once per content and its skeleton kept
//! once (a fresh checkout, a branch switched back, a copied tree: new
//! stamps, the same bytes, which then are read and digested but not
//! lexed again); each dir's listing under the
//! dir's stamp, each compiler probe under the compiler's identity and
//! flags. A stamp is identity and change times (device, inode, size,
//! mtime, ctime, to the nanosecond): a file edited, replaced or touched
//! gets a new one, so an entry can only be found while it is true.
//!
//! The racy rule (the identity cache's, and git's): nothing whose last
//! change is more recent than `racy` is kept. File times have the
//! granularity of a clock tick or worse, so a file written twice in one
//! tick with the same size keeps its stamp; once a stamp is older than
//! the window, any later change shows. An entry not kept is still used by
//! the process that built it.
//!
//! Cold work that concurrent processes would all do at once (a skeleton
//! of a file not yet kept, a compiler probe, builtin answers) is claimed
//! first (`claim`): one does it and appends the result at once, the
//! others wait and find it (lookups see what other processes appended
//! since this one opened the cache).
//!
//! Without a usable cache dir the store is empty and scans work as cold.

use std::path::Path;

use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};

use super::claim::{Claim, Claims};
use super::listing::Listing;
use super::pack::{tag_of, Key, Limits, Pack};
use super::skeleton::Skeleton;
use super::stamp::Stamp;
use super::token::{FxMap, Interner};

// Kind 1 held whole skeletons by stamp, before a stamp led to a digest
// (`DIGEST`) and the digest to the skeleton (`CONTENT`); not reused.
const LISTING: u32 = 2;
const PROBE: u32 = 3;
const BASE: u32 = 4;
const BUILTIN: u32 = 5;
const SCAN: u32 = 6;
const CONTENT: u32 = 7;
const DIGEST: u32 = 8;

/// More than a clock tick, and than the 2 s of the coarsest file systems.
pub const RACY: Duration = Duration::from_secs(3);

/// How long a process waits for another to read and lex a file: far more
/// than that takes (well under a millisecond of CPU), as a client held to
/// a fraction of a CPU by a cgroup can be stopped for most of a period.
const FILE_PATIENCE: Duration = Duration::from_millis(500);
/// And for another to run the compiler (a probe, builtin answers): a
/// compiler run is some 10-100 ms of CPU.
const COMPILER_PATIENCE: Duration = Duration::from_secs(5);

/// The pack's name in the cache dir; a new format gets a new name, so
/// versions side by side do not fight over one file.
pub const PACK_NAME: &str = "scan-1.pack";

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    pub skeleton_hits: u64,
    pub skeletons_kept: u64,
    /// Files read whose skeleton was found by their content.
    pub content_hits: u64,
    pub listing_hits: u64,
    pub listings_kept: u64,
    /// Entries too recent to keep.
    pub racy: u64,
    /// Claims that waited for another process doing the same work.
    pub claims_waited: u64,
    /// Files a replay read to check their content (`replay::Contents`).
    pub replay_reads: u64,
}

pub struct Store {
    pack: Option<Pack>,
    claims: Claims,
    /// How long to wait for a file's reader, and for a compiler's runner.
    patience: (Duration, Duration),
    racy: Duration,
    /// Builtin answers kept by this process (not yet in the pack).
    builtins: FxMap<[u8; 32], Option<i64>>,
    /// Whether skeletons and listings are kept (else only what concerns
    /// compilers).
    pub keep_files: bool,
    pub stats: StoreStats,
}

impl Default for Store {
    fn default() -> Store {
        Store::none()
    }
}

impl Store {
    /// A store that keeps nothing.
    pub fn none() -> Store {
        Store {
            pack: None,
            claims: Claims::none(),
            patience: (FILE_PATIENCE, COMPILER_PATIENCE),
            racy: RACY,
            builtins: FxMap::default(),
            keep_files: true,
            stats: StoreStats::default(),
        }
    }

    /// The store in `dir` (created private if missing); an empty one, with
    /// a debug line, if the dir or its pack cannot be used.
    pub fn open(dir: &Path, limits: Limits, racy: Duration) -> Store {
        let path = dir.join(PACK_NAME);
        let pack = match Pack::open(&path, limits) {
            Ok(p) => Some(p),
            Err(e) => {
                log::debug!("scan cache {}: {e}", path.display());
                None
            }
        };
        let claims = match pack {
            Some(_) => Claims::new(dir),
            None => Claims::none(),
        };
        Store {
            pack,
            claims,
            patience: (FILE_PATIENCE, COMPILER_PATIENCE),
            racy,
            builtins: FxMap::default(),
            keep_files: true,
            stats: StoreStats::default(),
        }
    }

    /// Whether an entry for something last changed at `st` may be kept.
    pub fn keepable(&mut self, st: &Stamp, now: SystemTime) -> bool {
        let ok = self.settled_at(st, now);
        if !ok {
            self.stats.racy += 1;
        }
        ok
    }

    /// Whether a stamp seen at `at` could be trusted to tell any later
    /// change (its last change was more than the racy window before):
    /// `keepable` without counting.
    pub fn settled_at(&self, st: &Stamp, at: SystemTime) -> bool {
        let changed = Duration::new(
            st.mtime.max(0) as u64,
            st.mtime_ns.clamp(0, 999_999_999) as u32,
        )
        .max(Duration::new(
            st.ctime.max(0) as u64,
            st.ctime_ns.clamp(0, 999_999_999) as u32,
        ));
        at.duration_since(SystemTime::UNIX_EPOCH)
            .is_ok_and(|at| changed + self.racy <= at)
    }

    /// Claims the reading of the file whose stamp is `st`, for a process
    /// about to read it: None when its skeleton would not be kept (others
    /// would wait for nothing) or nothing can be claimed. The caller
    /// looks again (`skeleton`) once it holds the claim, and
    /// `flush`es what it kept before letting go.
    pub fn claim_skeleton(&mut self, st: &Stamp, now: SystemTime) -> Option<Claim> {
        if self.pack.is_none() || !self.keep_files || !self.settled_at(st, now) {
            return None;
        }
        self.claim(tag_of(DIGEST, &key(st)), self.patience.0)
    }

    /// Claims a compiler probe (by its id) or the builtin answers of a
    /// compiler setup (by its key), as `claim_skeleton` does a file.
    pub fn claim_compiler(&mut self, id: &[u8; 32], builtins: bool) -> Option<Claim> {
        self.pack.as_ref()?;
        let kind = if builtins { BUILTIN } else { PROBE };
        self.claim(tag_of(kind, &probe_key(id)), self.patience.1)
    }

    /// Other waits than the defaults (tests on a loaded machine wait
    /// longer, so that a slow holder never makes them do the work).
    pub fn set_patience(&mut self, file: Duration, compiler: Duration) {
        self.patience = (file, compiler);
    }

    /// Another racy window (tests stand for time passing with a zero one).
    pub fn set_racy(&mut self, racy: Duration) {
        self.racy = racy;
    }

    fn claim(&mut self, key: u64, patience: Duration) -> Option<Claim> {
        let c = self.claims.claim(key, patience);
        self.stats.claims_waited = self.claims.waited;
        c
    }

    /// The skeleton of the file whose stamp is `st`, also one another
    /// process kept since this one opened the cache (a process that
    /// follows another through the same headers finds them all).
    pub fn skeleton(&mut self, st: &Stamp, int: &mut Interner) -> Option<Skeleton> {
        let digest = self.digest_by_stamp(st)?;
        let sk = self.content(&digest, st.size, int)?;
        self.stats.skeleton_hits += 1;
        Some(sk)
    }

    /// The content digest of the file whose stamp is `st`, if it was
    /// kept: a file read since (`keep_digest`).
    pub fn digest_by_stamp(&mut self, st: &Stamp) -> Option<[u8; 32]> {
        let pack = self.pack.as_mut().filter(|_| self.keep_files)?;
        pack.get_latest(DIGEST, &key(st))?.try_into().ok()
    }

    /// Keeps the digest of the file whose stamp is `st` (the stamp holds
    /// its size), which leads to its skeleton if one is kept for that
    /// content; the caller has checked `keepable`.
    pub fn keep_digest(&mut self, st: &Stamp, digest: &[u8; 32]) {
        if let Some(p) = self.pack.as_mut().filter(|_| self.keep_files) {
            p.put(DIGEST, &key(st), digest);
        }
    }

    /// The skeleton of bytes whose digest is `digest`, as `skeleton`
    /// finds. Content is what it is: such an entry needs no racy rule.
    pub fn skeleton_of_content(
        &mut self,
        digest: &[u8; 32],
        size: u64,
        int: &mut Interner,
    ) -> Option<Skeleton> {
        let sk = self.content(digest, size, int)?;
        self.stats.content_hits += 1;
        Some(sk)
    }

    fn content(&mut self, digest: &[u8; 32], size: u64, int: &mut Interner) -> Option<Skeleton> {
        let b = self
            .pack
            .as_mut()
            .filter(|_| self.keep_files)?
            .get_latest(CONTENT, &probe_key(digest))?;
        Skeleton::decode(b, int).filter(|sk| sk.size == size && sk.digest == *digest)
    }

    /// The kept skeleton of the content whose digest is `digest`, in its
    /// byte form (`image`), for a comparison that needs no interner.
    pub fn content_image(&mut self, digest: &[u8; 32]) -> Option<Vec<u8>> {
        let b = self
            .pack
            .as_mut()
            .filter(|_| self.keep_files)?
            .get_latest(CONTENT, &probe_key(digest))?;
        (b.get(8..40) == Some(digest.as_slice())).then(|| b.to_vec())
    }

    /// Keeps a skeleton under its content's digest.
    pub fn keep_skeleton_of_content(&mut self, sk: &Skeleton, int: &Interner) {
        if let Some(p) = self.pack.as_mut().filter(|_| self.keep_files) {
            p.put(CONTENT, &probe_key(&sk.digest), &sk.encode(int));
            self.stats.skeletons_kept += 1;
        }
    }

    /// The listing of the dir whose stamp is `st`, as `skeleton` finds.
    pub fn listing(&mut self, st: &Stamp) -> Option<Listing<'_>> {
        let b = self.pack.as_mut()?.get_latest(LISTING, &key(st))?;
        let l = Listing::new(b)?;
        self.stats.listing_hits += 1;
        Some(l)
    }

    pub fn keep_listing(&mut self, st: &Stamp, bytes: &[u8]) {
        if let Some(p) = self.pack.as_mut().filter(|_| self.keep_files) {
            p.put(LISTING, &key(st), bytes);
            self.stats.listings_kept += 1;
        }
    }

    /// A compiler's predefined macros as a skeleton, by probe id (also
    /// one another process kept since this one opened the cache).
    pub fn base(&mut self, id: &[u8; 32], int: &mut Interner) -> Option<Skeleton> {
        Skeleton::decode(self.pack.as_mut()?.get_latest(BASE, &probe_key(id))?, int)
    }

    pub fn keep_base(&mut self, id: &[u8; 32], sk: &Skeleton, int: &Interner) {
        if let Some(p) = self.pack.as_mut() {
            p.put(BASE, &probe_key(id), &sk.encode(int));
        }
    }

    /// The compiler's value for a builtin call: None if never asked,
    /// Some(None) if the compiler could not answer.
    pub fn builtin(&self, key: &[u8; 32], query: &[u8]) -> Option<Option<i64>> {
        let k = builtin_key(key, query);
        if let Some(v) = self.builtins.get(&k) {
            return Some(*v);
        }
        decode_builtin(self.pack.as_ref()?.get(BUILTIN, &probe_key(&k))?)
    }

    /// As `builtin`, also finding answers another process kept since
    /// this one opened the cache.
    pub fn builtin_latest(&mut self, key: &[u8; 32], query: &[u8]) -> Option<Option<i64>> {
        let k = builtin_key(key, query);
        if let Some(v) = self.builtins.get(&k) {
            return Some(*v);
        }
        let v = decode_builtin(self.pack.as_mut()?.get_latest(BUILTIN, &probe_key(&k))?)?;
        self.builtins.insert(k, v);
        Some(v)
    }

    pub fn keep_builtin(&mut self, key: &[u8; 32], query: &[u8], v: Option<i64>) {
        let k = builtin_key(key, query);
        self.builtins.insert(k, v);
        if let Some(p) = self.pack.as_mut() {
            let mut b = vec![v.is_some() as u8];
            if let Some(v) = v {
                b.extend_from_slice(&v.to_le_bytes());
            }
            p.put(BUILTIN, &probe_key(&k), &b);
        }
    }

    pub fn probe(&self, id: &[u8; 32]) -> Option<&[u8]> {
        self.pack.as_ref()?.get(PROBE, &probe_key(id))
    }

    /// As `probe`, also finding one another process kept since this one
    /// opened the cache.
    pub fn probe_latest(&mut self, id: &[u8; 32]) -> Option<&[u8]> {
        self.pack.as_mut()?.get_latest(PROBE, &probe_key(id))
    }

    pub fn keep_probe(&mut self, id: &[u8; 32], bytes: &[u8]) {
        if let Some(p) = self.pack.as_mut() {
            p.put(PROBE, &probe_key(id), bytes);
        }
    }

    /// A unit's whole scan with the answers it rested on (`replay`), by
    /// its key; none where files are not kept. Also one appended since
    /// the cache was opened: a long-lived session (the scan agent) finds
    /// the scans it kept itself.
    pub fn scan(&mut self, key: &[u8; 32]) -> Option<&[u8]> {
        if !self.keep_files {
            return None;
        }
        self.pack.as_mut()?.get_latest(SCAN, &probe_key(key))
    }

    pub fn keep_scan(&mut self, key: &[u8; 32], bytes: &[u8]) {
        if !self.keep_files {
            return;
        }
        if let Some(p) = self.pack.as_mut() {
            p.put(SCAN, &probe_key(key), bytes);
        }
    }

    /// Whether the cache file was replaced since it was opened (another
    /// writer compacted it, or this one did).
    pub fn replaced(&self) -> bool {
        self.pack.as_ref().is_some_and(|p| p.replaced())
    }

    /// Appends what was kept since the last flush (also done on drop).
    pub fn flush(&mut self) {
        if let Some(p) = self.pack.as_mut() {
            if let Err(e) = p.flush() {
                log::debug!("scan cache: {e}");
            }
        }
    }
}

fn key(st: &Stamp) -> Key {
    [
        st.dev,
        st.ino,
        st.size,
        st.mtime as u64,
        st.mtime_ns as u64,
        st.ctime as u64,
        st.ctime_ns as u64,
    ]
}

/// A kept builtin answer: None if the bytes are not one.
fn decode_builtin(b: &[u8]) -> Option<Option<i64>> {
    match b {
        [0] => Some(None),
        [1, v @ ..] => Some(Some(i64::from_le_bytes(v.try_into().ok()?))),
        _ => None,
    }
}

fn builtin_key(key: &[u8; 32], query: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(key);
    h.update(query);
    h.finalize().into()
}

fn probe_key(id: &[u8; 32]) -> Key {
    let mut k = [0u64; 7];
    for (i, c) in id.chunks_exact(8).enumerate() {
        k[i] = u64::from_le_bytes(c.try_into().unwrap());
    }
    k
}
