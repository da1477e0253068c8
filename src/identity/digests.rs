//! SHA-256 of file bodies, and the table that keeps them by path and file
//! key so a file is read once while it stays the same. The table's disk
//! form is one file per cache dir, merged with what other processes wrote
//! when it is saved; `cache` owns the locking and when to load and save.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

use super::diskfile::{self, put_blob, Reader};
use super::key::FileKey;
use super::Digest;

pub(super) const FILE_NAME: &str = "file-digests";
const MAGIC: &[u8; diskfile::MAGIC_LEN] = b"dccfdg01";

/// Beyond this many entries a save keeps only those this process used, so
/// a long-lived cache dir forgets headers nobody includes any more.
const MAX_ENTRIES: usize = 1 << 16;

/// A file's digest and the key of the file that was read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hashed {
    pub key: FileKey,
    pub digest: Digest,
    /// When reading began: the reference for `FileKey::is_racy`.
    pub read_at: SystemTime,
    pub bytes: u64,
}

/// Reads and digests a regular file. Opened non-blocking, so a FIFO put
/// where a header was expected cannot hang us; the key is taken from the
/// open file before and after reading, and a file that changes meanwhile
/// is read again.
pub(super) fn hash_file(path: &Path) -> io::Result<Hashed> {
    for _ in 0..3 {
        let read_at = SystemTime::now();
        let mut file = File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::from(io::ErrorKind::IsADirectory));
        }
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let before = FileKey::of(&meta);
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut bytes = 0u64;
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    bytes += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if FileKey::of(&file.metadata()?) == before && bytes == before.size {
            return Ok(Hashed {
                key: before,
                digest: hasher.finalize().into(),
                read_at,
                bytes,
            });
        }
    }
    Err(io::Error::other("the file kept changing while being read"))
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: FileKey,
    digest: Digest,
    /// Looked up or stored by this process.
    used: bool,
}

#[derive(Debug, Default)]
pub(super) struct Table {
    entries: HashMap<PathBuf, Entry>,
    /// Holds entries not yet saved.
    pub dirty: bool,
}

impl Table {
    pub fn get(&mut self, path: &Path, key: &FileKey) -> Option<Digest> {
        let entry = self.entries.get_mut(path)?;
        if entry.key != *key {
            return None;
        }
        entry.used = true;
        Some(entry.digest)
    }

    pub fn insert(&mut self, path: &Path, key: FileKey, digest: Digest) {
        let entry = Entry {
            key,
            digest,
            used: true,
        };
        self.entries.insert(path.to_path_buf(), entry);
        self.dirty = true;
    }

    /// Adds what a saved table holds, keeping our entry for a path both
    /// have (ours was stored or validated more recently).
    pub fn merge_saved(&mut self, body: &[u8]) {
        let Some(saved) = decode(body) else {
            log::debug!("cache: file digest table unreadable, ignored");
            return;
        };
        for (path, key, digest) in saved {
            self.entries.entry(path).or_insert(Entry {
                key,
                digest,
                used: false,
            });
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let keep = |e: &Entry| e.used || self.entries.len() <= MAX_ENTRIES;
        let kept: Vec<_> = self.entries.iter().filter(|(_, e)| keep(e)).collect();
        let mut out = Vec::with_capacity(4 + kept.len() * 160);
        out.extend_from_slice(&(kept.len() as u32).to_le_bytes());
        for (path, e) in kept {
            put_blob(&mut out, path.as_os_str().as_bytes());
            e.key.encode(&mut out);
            out.extend_from_slice(&e.digest);
        }
        out
    }
}

fn decode(body: &[u8]) -> Option<Vec<(PathBuf, FileKey, Digest)>> {
    let mut r = Reader::new(body);
    let n = r.u32()? as usize;
    let mut out = Vec::with_capacity(n.min(MAX_ENTRIES));
    for _ in 0..n {
        let path = PathBuf::from(OsStr::from_bytes(r.blob()?));
        let key = FileKey::decode(&mut r)?;
        let digest = r.array()?;
        out.push((path, key, digest));
    }
    r.is_empty().then_some(out)
}

pub(super) fn load(dir: &Path) -> Option<Vec<u8>> {
    diskfile::read(&dir.join(FILE_NAME), MAGIC)
}

pub(super) fn save(dir: &Path, table: &Table) -> io::Result<()> {
    diskfile::write(dir, FILE_NAME, MAGIC, &table.encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_plain_sha256_of_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        let h = hash_file(&path).unwrap();
        assert_eq!(
            super::super::hex(&h.digest),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(h.bytes, 3);
        assert_eq!(Some(h.key), FileKey::stat(&path).unwrap());
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let err = hash_file(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::IsADirectory);
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = hash_file(&fifo).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    }

    #[test]
    fn a_table_survives_encoding_and_merges() {
        let key = |ino| FileKey {
            dev: 1,
            ino,
            size: 2,
            mtime: 3,
            ctime: 4,
        };
        let mut saved = Table::default();
        saved.insert(Path::new("/a"), key(1), [1; 32]);
        saved.insert(Path::new("/b"), key(2), [2; 32]);
        let body = saved.encode();
        assert!(decode(&body[..body.len() - 1]).is_none(), "truncated");

        let mut ours = Table::default();
        ours.insert(Path::new("/b"), key(3), [3; 32]);
        ours.merge_saved(&body);
        assert_eq!(ours.get(Path::new("/a"), &key(1)), Some([1; 32]));
        assert_eq!(ours.get(Path::new("/b"), &key(3)), Some([3; 32]));
        assert_eq!(ours.get(Path::new("/b"), &key(2)), None, "ours won");
    }
}
