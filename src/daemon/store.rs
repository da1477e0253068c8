//! The daemon's content store for exact mode: files kept by their SHA-256,
//! so a header sent once is linked into every later job that names it.
//!
//! A body enters only after its digest is checked, so no client can plant
//! content under another file's digest. The store is bounded: past its
//! size, the least recently stored files go first. Jobs hold hard links, so
//! eviction never pulls a file from under a running compile.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

use crate::protocol::hashed::{digest, hex, Digest, Digesting};

pub struct Store {
    dir: PathBuf,
    cap: u64,
    used: Mutex<u64>,
}

impl Store {
    /// Opens the store at `dir`, bounded to `cap` bytes. The dir is made
    /// (mode 0700) only when the first file arrives, so a daemon that never
    /// serves exact mode leaves nothing behind.
    pub fn open(dir: &Path, cap: u64) -> Result<Store> {
        let used = match fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum(),
            Err(_) => 0,
        };
        Ok(Store {
            dir: dir.to_path_buf(),
            cap,
            used: Mutex::new(used),
        })
    }

    fn path(&self, d: &Digest) -> PathBuf {
        self.dir.join(hex(d))
    }

    /// The stored file with digest `d`, if present.
    pub fn get(&self, d: &Digest) -> Option<PathBuf> {
        let p = self.path(d);
        p.is_file().then_some(p)
    }

    /// Stores `data` under `d` after checking that it hashes to `d`.
    pub fn insert(&self, d: &Digest, data: &[u8]) -> Result<Option<PathBuf>> {
        if &digest(data) != d {
            return Ok(None);
        }
        let p = self.path(d);
        if p.is_file() {
            return Ok(Some(p));
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .with_context(|| format!("creating the content store {}", self.dir.display()))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".new-")
            .tempfile_in(&self.dir)
            .context("writing to the content store")?;
        tmp.write_all(data)?;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o444))?;
        tmp.persist(&p).map_err(|e| e.error)?;
        self.account(data.len() as u64, &p);
        Ok(Some(p))
    }

    /// Stores the body `fill` writes under `d`, kept only if it hashes to
    /// `d`; the body streams to disk, never held whole. A body larger than
    /// the store itself is kept until a later insertion evicts it, so the
    /// job asking for it can link it first.
    pub fn insert_with(
        &self,
        d: &Digest,
        fill: impl FnOnce(&mut dyn Write) -> Result<u64>,
    ) -> Result<Option<PathBuf>> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .with_context(|| format!("creating the content store {}", self.dir.display()))?;
        let tmp = tempfile::Builder::new()
            .prefix(".new-")
            .tempfile_in(&self.dir)
            .context("writing to the content store")?;
        let mut w = Digesting::new(std::io::BufWriter::with_capacity(64 * 1024, tmp));
        let len = fill(&mut w)?;
        let (buffered, got) = w.finish();
        if &got != d {
            return Ok(None);
        }
        let tmp = buffered.into_inner().map_err(|e| e.into_error())?;
        let p = self.path(d);
        if p.is_file() {
            return Ok(Some(p));
        }
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o444))?;
        tmp.persist(&p).map_err(|e| e.error)?;
        self.account(len, &p);
        Ok(Some(p))
    }

    /// Counts `len` new bytes at `added`, evicting others past the bound.
    fn account(&self, len: u64, added: &Path) {
        let over = {
            let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
            *used += len;
            *used > self.cap
        };
        if over {
            self.evict(added);
        }
    }

    /// Removes the oldest files, but not `keep`, until the store is at 3/4
    /// of its bound.
    fn evict(&self, keep: &Path) {
        let mut entries: Vec<(std::time::SystemTime, u64, PathBuf)> = match fs::read_dir(&self.dir)
        {
            Ok(rd) => rd
                .filter_map(|e| {
                    let e = e.ok()?;
                    let m = e.metadata().ok()?;
                    Some((m.modified().ok()?, m.len(), e.path()))
                })
                .collect(),
            Err(_) => return,
        };
        entries.sort();
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        *used = entries.iter().map(|e| e.1).sum();
        let target = self.cap / 4 * 3;
        for (_, len, path) in entries {
            if *used <= target {
                break;
            }
            if path == keep {
                continue;
            }
            if fs::remove_file(&path).is_ok() {
                *used = used.saturating_sub(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_only_what_matches_its_digest() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("s"), 1 << 20).unwrap();
        let d = digest(b"int x;\n");
        assert!(store.get(&d).is_none());
        assert!(
            store.insert(&d, b"int y;\n").unwrap().is_none(),
            "poisoning refused"
        );
        let p = store.insert(&d, b"int x;\n").unwrap().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"int x;\n");
        assert_eq!(store.get(&d), Some(p));
    }

    #[test]
    fn streamed_bodies_are_checked_and_a_large_one_outlives_its_insertion() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("s"), 1000).unwrap();
        let small = b"int x;\n";
        store.insert(&digest(small), small).unwrap().unwrap();
        let big = vec![7u8; 5000];
        let fill = |w: &mut dyn Write| -> Result<u64> {
            for piece in big.chunks(700) {
                w.write_all(piece)?;
            }
            Ok(big.len() as u64)
        };
        assert!(store
            .insert_with(&digest(b"other"), fill)
            .unwrap()
            .is_none());
        let p = store.insert_with(&digest(&big), fill).unwrap().unwrap();
        assert!(fs::read(&p).unwrap() == big, "kept for the job that asked");
        assert!(store.get(&digest(small)).is_none(), "older files evicted");
        let names: Vec<_> = fs::read_dir(tmp.path().join("s")).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left: {names:?}");
    }

    #[test]
    fn stays_within_its_bound() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("s"), 10_000).unwrap();
        for i in 0..50u32 {
            let data = vec![i as u8; 1000];
            store.insert(&digest(&data), &data).unwrap().unwrap();
        }
        let total: u64 = fs::read_dir(tmp.path().join("s"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(total <= 10_000, "{total}");
    }
}
