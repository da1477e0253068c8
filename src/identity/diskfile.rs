//! The cache files' envelope: an 8-byte magic naming the format and its
//! version, the body, and a SHA-256 of both. A file that fails any check
//! (truncated by a crash, corrupted, written by another version) reads as
//! absent, so the caller recomputes and overwrites it. Writers replace a
//! file by renaming a complete temp file over it, so a reader sees either
//! the old or the new file; two writers racing lose one's additions, which
//! a cache can afford.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use sha2::{Digest as _, Sha256};

pub(super) const MAGIC_LEN: usize = 8;

/// The body of `path` if it is a whole, intact file of format `magic`.
pub(super) fn read(path: &Path, magic: &[u8; MAGIC_LEN]) -> Option<Vec<u8>> {
    let data = match fs::read(path) {
        Ok(data) => data,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            log::debug!("cache {}: {e}", path.display());
            return None;
        }
    };
    let valid = data.len() >= MAGIC_LEN + 32 && data.starts_with(magic) && {
        let (content, sum) = data.split_at(data.len() - 32);
        Sha256::digest(content).as_slice() == sum
    };
    if !valid {
        log::debug!("cache {}: not a valid cache file, ignored", path.display());
        return None;
    }
    Some(data[MAGIC_LEN..data.len() - 32].to_vec())
}

/// Replaces `dir/name` with `magic`, `body` and their checksum. The dir is
/// created private: what it holds decides which compiler a job may use.
pub(super) fn write(
    dir: &Path,
    name: &str,
    magic: &[u8; MAGIC_LEN],
    body: &[u8],
) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    let mut hasher = Sha256::new();
    hasher.update(magic);
    hasher.update(body);
    tmp.write_all(magic)?;
    tmp.write_all(body)?;
    tmp.write_all(&hasher.finalize())?;
    tmp.persist(dir.join(name)).map_err(|e| e.error)?;
    Ok(())
}

/// A cursor over a cache file's body; every read checks the length left.
pub(super) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(super) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.data.len() < n {
            return None;
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Some(head)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }

    pub(super) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }

    pub(super) fn i128(&mut self) -> Option<i128> {
        Some(i128::from_le_bytes(self.array()?))
    }

    /// A `u32` length, then that many bytes.
    pub(super) fn blob(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.bytes(n)
    }
}

pub(super) fn put_blob(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = u32::try_from(bytes.len()).expect("cache entry over 4 GiB");
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAGIC: &[u8; MAGIC_LEN] = b"testfmt1";

    #[test]
    fn a_written_file_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("made");
        write(&sub, "f", MAGIC, b"body").unwrap();
        assert_eq!(read(&sub.join("f"), MAGIC).as_deref(), Some(&b"body"[..]));
        write(&sub, "f", MAGIC, b"other").unwrap();
        assert_eq!(read(&sub.join("f"), MAGIC).as_deref(), Some(&b"other"[..]));
        let names: Vec<_> = fs::read_dir(&sub).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left behind");
    }

    #[test]
    fn damaged_files_read_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "f", MAGIC, b"some body").unwrap();
        let path = dir.path().join("f");
        let good = fs::read(&path).unwrap();
        assert_eq!(read(&path, b"otherfmt"), None, "another format");
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 1;
            fs::write(&path, &bad).unwrap();
            assert_eq!(read(&path, MAGIC), None, "byte {i} flipped");
        }
        fs::write(&path, &good[..good.len() - 1]).unwrap();
        assert_eq!(read(&path, MAGIC), None, "truncated");
        fs::write(&path, b"").unwrap();
        assert_eq!(read(&path, MAGIC), None, "empty");
        assert_eq!(read(&dir.path().join("none"), MAGIC), None);
    }

    #[test]
    fn the_reader_stops_at_the_end() {
        let mut out = Vec::new();
        put_blob(&mut out, b"abc");
        let mut r = Reader::new(&out);
        assert_eq!(r.blob(), Some(&b"abc"[..]));
        assert!(r.is_empty());
        assert_eq!(r.u32(), None);
        let mut r = Reader::new(&out[..5]);
        assert_eq!(r.blob(), None, "length beyond the data");
    }
}
