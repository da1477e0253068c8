//! The cache every user of this module goes through: compiler identities
//! and file digests, each computed once per file and revalidated by
//! `stat` on every lookup, in memory and in a dir the caller names (the
//! client's `$DISTCC_DIR/cache`, the daemon's state dir). A client is a new
//! process per job, so its warm path is one small record file and a few
//! `stat`s; a daemon keeps everything in memory and shares one `Cache`
//! between its job threads.
//!
//! Invariants: an entry is kept only with the key of the file that was
//! read (taken from the open file before and after reading), and never
//! when that key is too recent to tell a later change (`is_racy`); so a
//! hit is always the digest of the file's present bytes.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{anyhow, Result};
use sha2::{Digest as _, Sha256};

use super::digests::{self, Table};
use super::key::{self, FileKey};
use super::probe::{self, resolve_program};
use super::record::{self, Record};
use super::{hex, Digest, Identity, Lang};

/// Files changed this recently are not cached (see `FileKey::is_racy`):
/// more than a clock tick, and than the 2 s of the coarsest file systems.
const RACY_WINDOW: Duration = Duration::from_secs(3);

/// The environment that changes what a driver runs: gcc finds `as` on
/// PATH, its programs under `GCC_EXEC_PREFIX` and `COMPILER_PATH`.
const ENV_IN_KEY: [&str; 3] = ["PATH", "GCC_EXEC_PREFIX", "COMPILER_PATH"];

/// What the cache did, for tests and `--summary`-style reporting.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub identity_memory_hits: u64,
    pub identity_disk_hits: u64,
    pub identities_computed: u64,
    pub file_hits: u64,
    pub files_hashed: u64,
    pub bytes_hashed: u64,
}

/// The running totals behind `Stats`, one counter per field.
#[derive(Default)]
struct Counters {
    identity_memory_hits: AtomicU64,
    identity_disk_hits: AtomicU64,
    identities_computed: AtomicU64,
    file_hits: AtomicU64,
    files_hashed: AtomicU64,
    bytes_hashed: AtomicU64,
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
}

#[derive(Default)]
struct Files {
    table: Table,
    loaded: bool,
}

pub struct Cache {
    dir: Option<PathBuf>,
    racy_window: Duration,
    files: Mutex<Files>,
    compilers: Mutex<HashMap<Vec<u8>, Record>>,
    /// Held while an identity is computed, so concurrent jobs wait for one
    /// computation instead of each hashing 30 MB.
    computing: Mutex<()>,
    counters: Counters,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Cache {
    /// A cache kept in `dir` as well as in memory; `None` for memory only.
    /// Nothing is read or created until first needed.
    pub fn new(dir: Option<&Path>) -> Cache {
        Cache {
            dir: dir.map(Path::to_path_buf),
            racy_window: RACY_WINDOW,
            files: Mutex::default(),
            compilers: Mutex::default(),
            computing: Mutex::new(()),
            counters: Counters::default(),
        }
    }

    /// Changes how recent a file may be and still be cached. Tests that
    /// make their own compilers use zero, and change files' keys
    /// explicitly (size or mtime) rather than rely on the clock.
    pub fn with_racy_window(mut self, window: Duration) -> Cache {
        self.racy_window = window;
        self
    }

    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            identity_memory_hits: c.identity_memory_hits.load(Relaxed),
            identity_disk_hits: c.identity_disk_hits.load(Relaxed),
            identities_computed: c.identities_computed.load(Relaxed),
            file_hits: c.file_hits.load(Relaxed),
            files_hashed: c.files_hashed.load(Relaxed),
            bytes_hashed: c.bytes_hashed.load(Relaxed),
        }
    }

    /// The identity of `driver` compiling `lang`. `driver` is the real
    /// compiler (never a masquerade link to distcc), a path or a name
    /// looked up on PATH.
    pub fn identity(&self, driver: &Path, lang: Lang) -> Result<Identity> {
        let path_var = std::env::var_os("PATH");
        let driver = resolve_program(driver, path_var.as_deref())
            .ok_or_else(|| anyhow!("{}: not found on PATH", driver.display()))?;
        let key = cache_key(&driver, lang);
        if let Some(id) = self.memory_hit(&key) {
            return Ok(id);
        }
        if let Some(id) = self.disk_hit(&key) {
            return Ok(id);
        }
        let _computing = lock(&self.computing);
        if let Some(id) = self.memory_hit(&key) {
            return Ok(id);
        }
        // At a build's start, make's many client processes all miss at
        // once: one computes, the others wait and read its record.
        let across = self.computing_lock(&key);
        if across.is_some() {
            if let Some(id) = self.disk_hit(&key) {
                return Ok(id);
            }
        }
        // The banner comes from running the driver, its digest from
        // reading it: both must be of the same file to be kept.
        let driver_before = FileKey::stat(&driver)?;
        let probe = probe::probe(&driver, lang, path_var.as_deref())?;
        let mut hash = |p: &Path| -> io::Result<record::Hashed> {
            self.hashed(p)?
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        };
        let (record, mut racy) = record::compose(&probe, lang, &mut hash)?;
        racy |= !record
            .inputs
            .iter()
            .any(|i| i.path == driver && Some(i.key) == driver_before);
        bump(&self.counters.identities_computed, 1);
        let identity = record.identity.clone();
        log::debug!("compiler identity of {}: {identity}", driver.display());
        if !racy {
            if let Some(dir) = &self.dir {
                if let Err(e) = record.save(dir, &record_name(&key), &key) {
                    log::debug!("cache {}: {e}", dir.display());
                }
            }
            lock(&self.compilers).insert(key, record);
        }
        Ok(identity)
    }

    /// An exclusive lock on `key`'s record among processes sharing the
    /// dir, released when dropped; `None` without a dir (or a lock file),
    /// when each process computes for itself.
    fn computing_lock(&self, key: &[u8]) -> Option<std::fs::File> {
        use fs2::FileExt;
        let dir = self.dir.as_ref()?;
        std::fs::create_dir_all(dir).ok()?;
        let path = dir.join(format!("lock-{}", record_name(key)));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .ok()?;
        file.lock_exclusive().ok()?;
        Some(file)
    }

    fn memory_hit(&self, key: &[u8]) -> Option<Identity> {
        let compilers = lock(&self.compilers);
        let record = compilers.get(key).filter(|r| r.is_current())?;
        bump(&self.counters.identity_memory_hits, 1);
        Some(record.identity.clone())
    }

    fn disk_hit(&self, key: &[u8]) -> Option<Identity> {
        let dir = self.dir.as_ref()?;
        let record = Record::load(&dir.join(record_name(key)), key).filter(Record::is_current)?;
        bump(&self.counters.identity_disk_hits, 1);
        let identity = record.identity.clone();
        lock(&self.compilers).insert(key.to_vec(), record);
        Some(identity)
    }

    /// SHA-256 of the file `path` names now (following symlinks); `None`
    /// when nothing is there. A directory is an `IsADirectory` error, any
    /// other non-regular file an `InvalidInput` one.
    pub fn file_digest(&self, path: &Path) -> io::Result<Option<Digest>> {
        Ok(self.hashed(path)?.map(|(_, digest, _)| digest))
    }

    fn hashed(&self, path: &Path) -> io::Result<Option<record::Hashed>> {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if key::is_absent(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        if meta.is_dir() {
            return Err(io::Error::from(io::ErrorKind::IsADirectory));
        }
        let key = FileKey::of(&meta);
        if let Some(digest) = self.files().table.get(path, &key) {
            bump(&self.counters.file_hits, 1);
            return Ok(Some((key, digest, false)));
        }
        let h = match digests::hash_file(path) {
            Ok(h) => h,
            Err(e) if key::is_absent(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        bump(&self.counters.files_hashed, 1);
        bump(&self.counters.bytes_hashed, h.bytes);
        let racy = h.key.is_racy(h.read_at, self.racy_window);
        if !racy {
            self.files().table.insert(path, h.key, h.digest);
        }
        Ok(Some((h.key, h.digest, racy)))
    }

    /// The file table, loaded from the cache dir on first use.
    fn files(&self) -> MutexGuard<'_, Files> {
        let mut files = lock(&self.files);
        if !files.loaded {
            files.loaded = true;
            if let Some(body) = self.dir.as_deref().and_then(digests::load) {
                files.table.merge_saved(&body);
            }
        }
        files
    }

    /// Saves file digests computed since the last save, merged with what
    /// other processes saved meanwhile. Compiler identities are saved as
    /// they are computed and need no flush.
    pub fn flush(&self) -> io::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let mut files = self.files();
        if !files.table.dirty {
            return Ok(());
        }
        if let Some(body) = digests::load(dir) {
            files.table.merge_saved(&body);
        }
        digests::save(dir, &files.table)?;
        files.table.dirty = false;
        Ok(())
    }
}

/// Everything a record depends on besides its input files: the driver as
/// found, the language and the environment the driver reads.
fn cache_key(driver: &Path, lang: Lang) -> Vec<u8> {
    let mut key = Vec::new();
    key.extend_from_slice(driver.as_os_str().as_bytes());
    key.push(0);
    key.extend_from_slice(lang.name().as_bytes());
    for name in ENV_IN_KEY {
        key.push(0);
        key.extend_from_slice(name.as_bytes());
        match std::env::var_os(name) {
            Some(v) => {
                key.push(b'=');
                key.extend_from_slice(OsStr::as_bytes(&v));
            }
            None => key.push(b'-'),
        }
    }
    key
}

fn record_name(key: &[u8]) -> String {
    format!("compiler-{}", hex(&Sha256::digest(key)[..12]))
}
