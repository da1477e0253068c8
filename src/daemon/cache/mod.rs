//! The daemon's result cache (`--cache-size`): a compile's reply kept on
//! disk under a key of everything that decides it (`key`), so the same
//! compile from any client is answered by a lookup, without a job slot and
//! without starting the compiler. Shared by every client of the daemon,
//! bounded, least recently used entries evicted first, and it survives
//! restarts.
//!
//! Crash safety: an entry is written to a temp file, synced, and renamed
//! to its key, so an entry exists whole or not at all; each entry also
//! carries its own checksum (`entry`), so a damaged one reads as absent and
//! is removed. Temp files a killed daemon left are removed at start.
//!
//! What is kept: replies of compiles that ran to their own end (success
//! or a compile error, with stderr, stdout and every returned file), never
//! one the daemon killed (lifetime, shutdown, client gone), one killed by
//! a signal, or one refused for room. Recency is the entry's mtime, set on
//! every hit, so the LRU order survives restarts too.

mod entry;
pub mod key;
mod system;

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::SystemTime;

use anyhow::{Context, Result};

use crate::identity;
use crate::protocol::hashed::{hex, Digest};
use crate::protocol::Reply;
pub use key::Inputs;

pub struct ResultCache {
    dir: PathBuf,
    cap: u64,
    /// Bytes of entries on disk; its lock also orders renames and eviction.
    used: Mutex<u64>,
    identities: identity::Cache,
    system: system::SystemDirs,
    hits: AtomicU64,
    misses: AtomicU64,
    stored: AtomicU64,
    evicted: AtomicU64,
    seq: AtomicU64,
}

/// A compile as the cache sees it: what `key` digests, borrowed from the
/// job (or, before a hashed job's files have come, from its mirror).
pub struct Compile<'a> {
    pub program: &'a Path,
    pub args: &'a [OsString],
    pub cwd: &'a Path,
    pub dir: &'a Path,
    pub version: u32,
    /// Our hashed dialect: the reply carries the list of files read.
    pub reads: bool,
    /// The source's name as the client gave it: the compiler's language.
    pub source: &'a str,
    /// The compilers' environment and limits, as text.
    pub setting: &'a str,
    pub inputs: &'a Digest,
}

/// Temp files are named so that no key (64 hex digits) can be one.
const TEMP_PREFIX: &str = "tmp.";

impl ResultCache {
    /// Opens (creating, mode 0700) the cache at `dir`, bounded to `cap`
    /// bytes, and removes what a killed daemon left half-written.
    pub fn open(dir: &Path, cap: u64) -> Result<ResultCache> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the result cache {}", dir.display()))?;
        let mut used = 0;
        for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let e = e?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TEMP_PREFIX) {
                fs::remove_file(e.path()).ok();
            } else if let (64, Ok(m)) = (name.len(), e.metadata()) {
                used += m.len();
            }
        }
        let identities = identity::Cache::new(Some(&dir.join("identities")));
        Ok(ResultCache {
            dir: dir.to_path_buf(),
            cap,
            used: Mutex::new(used),
            identities,
            system: system::SystemDirs::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            seq: AtomicU64::new(0),
        })
    }

    fn path(&self, key: &Digest) -> PathBuf {
        self.dir.join(hex(key))
    }

    /// The key of `c`, or `None` when its compiler's identity cannot be
    /// known (then the job is not cached).
    pub fn key(&self, c: &Compile) -> Option<Digest> {
        let langs = langs(c);
        let mut ids = Vec::new();
        for &lang in &langs {
            match self.identities.identity(c.program, lang) {
                Ok(id) => ids.push(id.digest),
                Err(e) => {
                    log::info!("not caching: no identity of {}: {e:#}", c.program.display());
                    return None;
                }
            }
        }
        // Exact mode reads this machine's system headers (`system`).
        let cxx = langs
            .iter()
            .any(|l| matches!(l, identity::Lang::Cxx | identity::Lang::ObjCxx));
        let system = match c.version {
            3 => Some(self.system.stamp(c.program, cxx)?),
            _ => None,
        };
        Some(key::key(&key::Parts {
            identities: &ids,
            system: system.as_ref(),
            version: c.version,
            reads: c.reads,
            args: c.args,
            cwd: c.cwd,
            dir: c.dir,
            setting: c.setting,
            inputs: c.inputs,
        }))
    }

    /// The reply cached under `key`, counted as a hit or a miss. A damaged
    /// entry is removed and is a miss.
    pub fn get(&self, key: &Digest) -> Option<Reply> {
        let found = self.read(key);
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Relaxed);
        found
    }

    /// The reply cached under `key`, asked before a job is complete (a
    /// hashed job's files): a hit is counted, a miss is left to the
    /// job's own lookup once it is.
    pub fn get_early(&self, key: &Digest) -> Option<Reply> {
        let found = self.read(key);
        if found.is_some() {
            self.hits.fetch_add(1, Relaxed);
        }
        found
    }

    fn read(&self, key: &Digest) -> Option<Reply> {
        let path = self.path(key);
        let mut f = File::open(&path).ok()?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).ok()?;
        match entry::decode(&bytes) {
            Some(reply) => {
                // Recency for eviction, kept across restarts.
                f.set_modified(SystemTime::now()).ok();
                Some(reply)
            }
            None => {
                log::warn!("removing damaged cache entry {}", path.display());
                let _used = self.used.lock().unwrap_or_else(|e| e.into_inner());
                fs::remove_file(&path).ok();
                None
            }
        }
    }

    /// Keeps `reply` under `key`: written whole and synced before it gets
    /// its name, room made first by evicting the least recently used.
    pub fn put(&self, key: &Digest, reply: &Reply) -> Result<()> {
        let bytes = entry::encode(reply);
        let size = bytes.len() as u64;
        if size > self.cap / 2 {
            return Ok(());
        }
        let n = self.seq.fetch_add(1, Relaxed);
        let temp = self.dir.join(format!(
            "{TEMP_PREFIX}{}.{}.{n}",
            hex(key),
            std::process::id()
        ));
        let written = write_synced(&temp, &bytes);
        if let Err(e) = written {
            fs::remove_file(&temp).ok();
            return Err(e).context("writing a cache entry");
        }
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if *used + size > self.cap {
            *used = self.evict(self.cap.saturating_sub(size) / 10 * 9);
        }
        let dest = self.path(key);
        let replaced = fs::metadata(&dest).map_or(0, |m| m.len());
        if let Err(e) = fs::rename(&temp, &dest) {
            fs::remove_file(&temp).ok();
            return Err(e).context("naming a cache entry");
        }
        // The rename itself survives a crash once the dir is synced.
        File::open(&self.dir).and_then(|d| d.sync_all()).ok();
        *used = (*used + size).saturating_sub(replaced);
        self.stored.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Removes the least recently used entries until at most `target`
    /// bytes are left; returns the bytes left. Called with `used` locked.
    fn evict(&self, target: u64) -> u64 {
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = match fs::read_dir(&self.dir) {
            Ok(rd) => rd
                .filter_map(|e| {
                    let e = e.ok()?;
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    if name.len() != 64 {
                        return None;
                    }
                    let m = e.metadata().ok()?;
                    Some((m.modified().ok()?, m.len(), e.path()))
                })
                .collect(),
            Err(_) => return 0,
        };
        entries.sort();
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        for (_, len, path) in entries {
            if total <= target {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total -= len;
                self.evicted.fetch_add(1, Relaxed);
            }
        }
        total
    }

    /// `key value` lines for the stats page.
    pub fn render(&self, s: &mut String) {
        use std::fmt::Write as _;
        let used = *self.used.lock().unwrap_or_else(|e| e.into_inner());
        let _ = write!(
            s,
            "cache_hits {}\ncache_misses {}\ncache_stored {}\ncache_evicted {}\n\
             cache_bytes {used}\ncache_capacity {}\n",
            self.hits.load(Relaxed),
            self.misses.load(Relaxed),
            self.stored.load(Relaxed),
            self.evicted.load(Relaxed),
            self.cap
        );
    }
}

/// The languages whose compiler proper may run for `c`: the source's, and
/// with `-x` both C and C++ (the option may name either).
fn langs(c: &Compile) -> Vec<identity::Lang> {
    use crate::args::Lang as A;
    use identity::Lang as I;
    let lang = match A::from_path(c.source.as_ref()) {
        Some(A::Cxx | A::CxxPre) => I::Cxx,
        Some(A::ObjC | A::ObjCPre) => I::ObjC,
        Some(A::ObjCxx | A::ObjCxxPre) => I::ObjCxx,
        _ => I::C,
    };
    let mut langs = vec![lang];
    if c.args
        .iter()
        .any(|a| a.as_encoded_bytes().starts_with(b"-x"))
    {
        langs.extend([I::C, I::Cxx].into_iter().filter(|l| *l != lang));
    }
    langs
}

/// Writes `bytes` to a new file at `path` and syncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::OutputKind;

    fn reply(n: usize) -> Reply {
        let mut r = Reply::default();
        r.set_output(OutputKind::Object, vec![n as u8; 10_000]);
        r
    }

    #[test]
    fn kept_replies_come_back_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let c = ResultCache::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(c.get(&[1; 32]), None);
        c.put(&[1; 32], &reply(1)).unwrap();
        assert_eq!(c.get(&[1; 32]), Some(reply(1)));
        drop(c);
        fs::write(dir.path().join("tmp.leftover"), b"half").unwrap();
        let c = ResultCache::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(c.get(&[1; 32]), Some(reply(1)));
        assert!(!dir.path().join("tmp.leftover").exists());
        let mut s = String::new();
        c.render(&mut s);
        assert!(s.contains("cache_hits 1\ncache_misses 0\n"), "{s}");
    }

    #[test]
    fn a_damaged_entry_is_a_miss_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let c = ResultCache::open(dir.path(), 1 << 20).unwrap();
        c.put(&[2; 32], &reply(2)).unwrap();
        let path = c.path(&[2; 32]);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert_eq!(c.get(&[2; 32]), None);
        assert!(!path.exists());
    }

    #[test]
    fn the_least_recently_used_go_first_and_the_size_holds() {
        let dir = tempfile::tempdir().unwrap();
        let c = ResultCache::open(dir.path(), 50_000).unwrap();
        for n in 0..4u8 {
            c.put(&[n; 32], &reply(n as usize)).unwrap();
        }
        // Entry 0 is used now, so 1 is the oldest when room is needed.
        let old = SystemTime::now() - std::time::Duration::from_secs(100);
        for n in 0..4u8 {
            File::open(c.path(&[n; 32]))
                .unwrap()
                .set_modified(old + std::time::Duration::from_secs(n as u64))
                .unwrap();
        }
        assert!(c.get(&[0; 32]).is_some());
        c.put(&[4; 32], &reply(4)).unwrap();
        assert!(c.get(&[1; 32]).is_none(), "least recently used, evicted");
        assert!(c.get(&[0; 32]).is_some(), "recently used, kept");
        for n in 5..20u8 {
            c.put(&[n; 32], &reply(n as usize)).unwrap();
            let on_disk: u64 = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().metadata().unwrap().len())
                .sum();
            assert!(on_disk <= 50_000, "{on_disk}");
        }
        assert!(c.get(&[19; 32]).is_some());
    }
}
