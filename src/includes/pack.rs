//! One file that every client process of a user shares, to keep what the
//! scanner computed (skeletons, dir listings, compiler probes) from one
//! job to the next: records appended, found through a hash index at the
//! head of the same file, read in place through a shared mapping.
//!
//! Why this shape: a job of a C++ unit touches 300-500 headers; opening
//! a file per header would cost more than the scan, and reading a whole
//! cache per job grows with the cache. Here a job opens and maps one file
//! and touches only the pages of what it uses: a lookup is a slot in the
//! index and one record.
//!
//! Layout: a 4 KiB header (magic, slot count), the index (`slots` pairs of
//! u64: a tag from the record's kind and key, the record's offset), then
//! records, each 8-aligned:
//!
//! ```text
//! u64 header check | u32 kind | u32 payload length | [u64; 7] key
//! u64 payload check | payload, zero-padded to 8
//! ```
//!
//! Concurrency and crashes, the invariants:
//! - records are only ever appended (`O_APPEND`, one `write` per batch)
//!   and never rewritten, so the bytes below the size a reader mapped
//!   never change under it;
//! - an index slot is written after its record is complete, offset first
//!   and tag last; a reader trusts nothing a slot says: the record at the
//!   offset must carry a valid header check, the same kind and key, and a
//!   valid payload check, or the lookup is a miss. So a torn or lost slot,
//!   a short write, a crash or a stray byte costs a rebuild, never a wrong
//!   answer;
//! - writers race only to lose entries (two claim one slot, an append goes
//!   to a file just replaced): a cache can afford that;
//! - the size is bounded: the writer that takes the file past its bound
//!   rewrites the live records (at most half the bound) into a new file and
//!   renames it over the old one, under an exclusive `flock` so one process
//!   does it. Processes that mapped the old file keep reading it.
//!
//! The file is never truncated in place: a mapping cannot fault past its
//! end. The caller's cache dir is private to the user.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use fs2::FileExt;

pub type Key = [u64; 7];

const MAGIC: &[u8; 8] = b"dccscan\x01";
const HEAD: usize = 4096;
const REC_HEAD: usize = 80;
/// Slots examined per lookup: two cache lines.
const GROUP: usize = 8;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Past this size, the next writer compacts the file.
    pub max_bytes: u64,
    /// Index slots of a new file (a power of two, at least `GROUP`).
    pub slots: usize,
}

impl Default for Limits {
    /// 64 MiB holds the skeletons of several large builds (a C++ header's
    /// is 1-5 KiB); 64 Ki slots (1 MiB of index, sparse until used) keep
    /// the index under a quarter full at that size.
    fn default() -> Limits {
        Limits {
            max_bytes: 64 << 20,
            slots: 1 << 16,
        }
    }
}

pub struct Pack {
    path: PathBuf,
    file: File,
    map: Map,
    slots: usize,
    limits: Limits,
    /// Records to append, and (tag, offset in `batch`) of each.
    batch: Vec<u8>,
    batch_tags: Vec<(u64, usize)>,
}

impl Pack {
    /// Opens `path`, creating it (and its dir, private) if needed. A file
    /// that is not ours (another format version, a damaged header) is
    /// replaced.
    pub fn open(path: &Path, limits: Limits) -> io::Result<Pack> {
        let mut fresh = false;
        loop {
            let file = match OpenOptions::new()
                .read(true)
                .append(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound && !fresh => {
                    create(path, limits.slots, false)?;
                    fresh = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let len = file.metadata()?.len() as usize;
            let map = Map::new(&file, len)?;
            match header_slots(map.head(), len) {
                Some(slots) => {
                    return Ok(Pack {
                        path: path.to_path_buf(),
                        file,
                        map,
                        slots,
                        limits,
                        batch: Vec::new(),
                        batch_tags: Vec::new(),
                    })
                }
                None if !fresh => {
                    log::debug!("{}: not a scan cache, replaced", path.display());
                    create(path, limits.slots, true)?;
                    fresh = true;
                }
                None => return Err(io::Error::other("cache file unusable")),
            }
        }
    }

    /// The payload stored under `kind` and `key`, if an intact record is
    /// indexed for it.
    pub fn get(&self, kind: u32, key: &Key) -> Option<&[u8]> {
        self.locate(kind, key).map(|r| self.payload(r))
    }

    /// As `get`, and also finds a record another process appended since
    /// this one mapped the file (its index slot is in the shared part):
    /// the mapping then grows to the file's present size. A record may
    /// also start inside the mapping and end past it: the mapping last
    /// grew to a size taken while another process's append was under
    /// way (a file grows page by page during one write). A slot is set
    /// only after its record's write returned, so the present size
    /// always covers an indexed record.
    pub fn get_latest(&mut self, kind: u32, key: &Key) -> Option<&[u8]> {
        // A hit is found and checked once: a record's check reads all of
        // it, and a warm walk looks up two records per header.
        if let Some(r) = self.locate(kind, key) {
            return Some(self.payload(r));
        }
        let tag = tag_of(kind, key);
        let group = self.group(tag);
        if !(group..group + GROUP).any(|i| self.slot(i).0 == tag) {
            return None;
        }
        let len = self.file.metadata().ok()?.len() as usize;
        if let Err(e) = self.map.grow(len) {
            log::debug!("{}: {e}", self.path.display());
        }
        self.get(kind, key)
    }

    /// Whether the file at the pack's path is no longer the one open
    /// here (compaction renames a new one over it).
    pub fn replaced(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let id = |m: fs::Metadata| (m.dev(), m.ino());
        self.file.metadata().map(id).ok() != fs::metadata(&self.path).map(id).ok()
    }

    /// Where in the mapping the payload of the intact record indexed for
    /// `kind` and `key` is (a range, so that a caller holding `&mut self`
    /// can still grow the mapping on a miss).
    fn locate(&self, kind: u32, key: &Key) -> Option<std::ops::Range<usize>> {
        let tag = tag_of(kind, key);
        let group = self.group(tag);
        let start = self.data_start();
        let data = self.map.from(start);
        for i in group..group + GROUP {
            let (t, off) = self.slot(i);
            if t != tag {
                continue;
            }
            if let Some((k, found, p)) = record_at(data, start, off) {
                if k == kind && found == *key {
                    // `record_at` took the payload right after the head.
                    let at = off as usize + REC_HEAD;
                    return Some(at..at + p.len());
                }
            }
        }
        None
    }

    fn payload(&self, r: std::ops::Range<usize>) -> &[u8] {
        &self.map.from(r.start)[..r.len()]
    }

    /// Queues a record; `flush` appends the queue.
    pub fn put(&mut self, kind: u32, key: &Key, payload: &[u8]) {
        let at = self.batch.len();
        encode_record(&mut self.batch, kind, key, payload);
        self.batch_tags.push((tag_of(kind, key), at));
    }

    /// Appends the queued records in one write and indexes them; then,
    /// past the size bound, compacts. Errors leave the cache as it was
    /// (at worst with unindexed bytes at its end).
    pub fn flush(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let tags = std::mem::take(&mut self.batch_tags);
        // One write: concurrent appenders cannot interleave with it. A
        // short one (a signal, a full disk) is left unindexed.
        // SAFETY: write(2) reads `batch.len()` bytes from the vector.
        let n = unsafe { libc::write(self.file.as_raw_fd(), batch.as_ptr().cast(), batch.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != batch.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short append"));
        }
        // With O_APPEND the position is the end of this write.
        // SAFETY: lseek on our own fd.
        let end = unsafe { libc::lseek(self.file.as_raw_fd(), 0, libc::SEEK_CUR) };
        if end < 0 {
            return Err(io::Error::last_os_error());
        }
        let base = end as u64 - batch.len() as u64;
        for (tag, at) in tags {
            self.claim(tag, base + at as u64);
        }
        if end as u64 > self.limits.max_bytes {
            self.compact()?;
        }
        Ok(())
    }

    fn group(&self, tag: u64) -> usize {
        ((tag >> 32) as usize & (self.slots / GROUP - 1)) * GROUP
    }

    fn slot_cells(&self, i: usize) -> (&AtomicU64, &AtomicU64) {
        let at = HEAD + i * 16;
        (self.map.atomic(at), self.map.atomic(at + 8))
    }

    fn slot(&self, i: usize) -> (u64, u64) {
        let (t, o) = self.slot_cells(i);
        let tag = t.load(Ordering::Acquire);
        (tag, o.load(Ordering::Relaxed))
    }

    /// Points the slot for `tag` at `off`: the slot that has the tag,
    /// else a free one (taken by compare-and-swap, so two writers never
    /// both think they got it), else one chosen by the tag, evicting its
    /// entry.
    fn claim(&self, tag: u64, off: u64) {
        let group = self.group(tag);
        for i in group..group + GROUP {
            let (t, o) = self.slot_cells(i);
            let cur = t.load(Ordering::Acquire);
            if (cur == tag || cur == 0)
                && t.compare_exchange(cur, tag, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                o.store(off, Ordering::Release);
                return;
            }
        }
        let (t, o) = self.slot_cells(group + (tag as usize >> 8) % GROUP);
        t.store(0, Ordering::Release);
        o.store(off, Ordering::Release);
        t.store(tag, Ordering::Release);
    }

    fn data_start(&self) -> usize {
        HEAD + self.slots * 16
    }

    /// Rewrites the live records into a new file, at most half the bound,
    /// and renames it over this one. Skipped when another process holds
    /// the lock or the file was already replaced.
    fn compact(&mut self) -> io::Result<()> {
        if self.file.try_lock_exclusive().is_err() {
            return Ok(());
        }
        let ours = self.file.metadata()?;
        let now = match fs::metadata(&self.path) {
            Ok(m) => m,
            Err(_) => return Ok(()),
        };
        use std::os::unix::fs::MetadataExt;
        if (ours.dev(), ours.ino()) != (now.dev(), now.ino()) {
            return Ok(());
        }
        // A fresh mapping: it sees the records appended since we opened.
        let map = Map::new(&self.file, ours.len() as usize)?;
        let start = self.data_start();
        let slots = self.limits.slots.max(GROUP).next_power_of_two();
        let mut index = vec![0u64; slots * 2];
        let mut data = Vec::new();
        let mut kept = std::collections::HashSet::new();
        let budget = (self.limits.max_bytes / 2) as usize;
        for i in 0..self.slots {
            let at = HEAD + i * 16;
            let tag = map.atomic(at).load(Ordering::Acquire);
            let off = map.atomic(at + 8).load(Ordering::Relaxed);
            let Some((kind, key, payload)) = record_at(map.from(start), start, off) else {
                continue;
            };
            if tag != tag_of(kind, &key) || data.len() + REC_HEAD + payload.len() > budget {
                continue;
            }
            let g = ((tag >> 32) as usize & (slots / GROUP - 1)) * GROUP;
            let Some(j) = (g..g + GROUP).find(|&j| index[j * 2] == 0) else {
                continue;
            };
            if !kept.insert((kind, key)) {
                continue;
            }
            index[j * 2] = tag;
            index[j * 2 + 1] = (HEAD + slots * 16 + data.len()) as u64;
            encode_record(&mut data, kind, &key, payload);
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new().prefix(".pack-").tempfile_in(dir)?;
        let mut head = vec![0u8; HEAD];
        write_header(&mut head, slots);
        tmp.write_all(&head)?;
        let bytes: Vec<u8> = index.iter().flat_map(|v| v.to_le_bytes()).collect();
        tmp.write_all(&bytes)?;
        tmp.write_all(&data)?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        log::debug!(
            "{}: compacted to {} bytes",
            self.path.display(),
            HEAD + bytes.len() + data.len()
        );
        Ok(())
    }
}

impl Drop for Pack {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            log::debug!("{}: {e}", self.path.display());
        }
    }
}

fn write_header(head: &mut [u8], slots: usize) {
    head[..8].copy_from_slice(MAGIC);
    head[8..16].copy_from_slice(&(slots as u64).to_le_bytes());
}

/// The slot count of a file whose header is ours and whose index is whole.
fn header_slots(b: &[u8], len: usize) -> Option<usize> {
    if b.len() < 16 || &b[..8] != MAGIC {
        return None;
    }
    let slots = u64::from_le_bytes(b[8..16].try_into().ok()?) as usize;
    let ok = slots.is_power_of_two() && (GROUP..=1 << 24).contains(&slots);
    (ok && len >= HEAD + slots * 16).then_some(slots)
}

/// A new, empty file at `path`: the header and a sparse index, made under
/// a temp name and linked into place, so no process sees it half made.
/// `replace`: over whatever is there; else an existing file wins.
fn create(path: &Path, slots: usize, replace: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let slots = slots.max(GROUP).next_power_of_two();
    let mut tmp = tempfile::Builder::new().prefix(".pack-").tempfile_in(dir)?;
    let mut head = vec![0u8; HEAD];
    write_header(&mut head, slots);
    tmp.write_all(&head)?;
    tmp.as_file().set_len((HEAD + slots * 16) as u64)?;
    let r = if replace {
        tmp.persist(path).map(drop)
    } else {
        tmp.persist_noclobber(path).map(drop)
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.error),
    }
}

fn encode_record(out: &mut Vec<u8>, kind: u32, key: &Key, payload: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    for k in key {
        out.extend_from_slice(&k.to_le_bytes());
    }
    out.extend_from_slice(&check(1, payload).to_le_bytes());
    let head = check(0, &out[start + 8..start + REC_HEAD]);
    out[start..start + 8].copy_from_slice(&head.to_le_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(8), 0);
}

/// The record at file offset `off`, checked, from `b`: the file's bytes
/// from `data_start` on. None for anything else.
fn record_at(b: &[u8], data_start: usize, off: u64) -> Option<(u32, Key, &[u8])> {
    let off = usize::try_from(off).ok()?.checked_sub(data_start)?;
    if !off.is_multiple_of(8) {
        return None;
    }
    let head = b.get(off..off.checked_add(REC_HEAD)?)?;
    let word = |i: usize| u64::from_le_bytes(head[i..i + 8].try_into().unwrap());
    if word(0) != check(0, &head[8..]) {
        return None;
    }
    let kind = u32::from_le_bytes(head[8..12].try_into().unwrap());
    let len = u32::from_le_bytes(head[12..16].try_into().unwrap()) as usize;
    let mut key = [0u64; 7];
    for (i, k) in key.iter_mut().enumerate() {
        *k = word(16 + i * 8);
    }
    let payload = b.get(off + REC_HEAD..(off + REC_HEAD).checked_add(len)?)?;
    (word(72) == check(1, payload)).then_some((kind, key, payload))
}

/// A record's index tag: a hash of its kind and key.
pub fn tag_of(kind: u32, key: &Key) -> u64 {
    let mut h = mix(kind as u64 ^ 0x9e37_79b9_7f4a_7c15);
    h = mix(h ^ key[0]);
    h = mix(h ^ key[1]);
    h | 1
}

fn mix(x: u64) -> u64 {
    let m = (x as u128).wrapping_mul(0xa076_1d64_78bd_642f_u128 ^ 0xe703_7ed1_a0b4_28db);
    (m as u64) ^ ((m >> 64) as u64)
}

/// A fast 64-bit check of a record's bytes, against torn writes and
/// stray damage (not against anyone who can write the file: the cache
/// dir is the user's own). Two independent lanes keep it near memory
/// speed; `seed` separates the header's check from the payload's.
pub fn check(seed: u64, b: &[u8]) -> u64 {
    const K1: u64 = 0x9e37_79b9_7f4a_7c15;
    const K2: u64 = 0xc2b2_ae3d_27d4_eb4f;
    let (mut a, mut c) = (seed ^ K1, (b.len() as u64) ^ K2);
    let mut chunks = b.chunks_exact(16);
    for ch in &mut chunks {
        let x = u64::from_le_bytes(ch[..8].try_into().unwrap());
        let y = u64::from_le_bytes(ch[8..].try_into().unwrap());
        a = (a ^ x).wrapping_mul(K2).rotate_left(31);
        c = (c ^ y).wrapping_mul(K1).rotate_left(27);
    }
    let mut tail = [0u8; 16];
    let rest = chunks.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    a ^= u64::from_le_bytes(tail[..8].try_into().unwrap());
    c ^= u64::from_le_bytes(tail[8..].try_into().unwrap());
    mix(mix(a ^ rest.len() as u64) ^ c)
}

/// A shared read-write mapping of a file's first `len` bytes.
struct Map {
    ptr: *mut u8,
    len: usize,
}

impl Map {
    fn new(file: &File, len: usize) -> io::Result<Map> {
        if len == 0 {
            return Ok(Map {
                ptr: std::ptr::NonNull::dangling().as_ptr(),
                len: 0,
            });
        }
        // SAFETY: a fresh mapping of our fd; the kernel checks the range.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Map { ptr: p.cast(), len })
    }

    /// Extends the mapping to the file's first `len` bytes (the file only
    /// grows; a smaller `len` changes nothing). The mapping may move:
    /// no slice of it outlives this `&mut` call.
    fn grow(&mut self, len: usize) -> io::Result<()> {
        if len <= self.len || self.len == 0 {
            return Ok(());
        }
        // SAFETY: remapping what `new` mapped; the kernel checks the range.
        let p = unsafe { libc::mremap(self.ptr.cast(), self.len, len, libc::MREMAP_MAYMOVE) };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        self.ptr = p.cast();
        self.len = len;
        Ok(())
    }

    /// The file header (the first `HEAD` bytes, or fewer): written once,
    /// before the file gets its name.
    fn head(&self) -> &[u8] {
        // SAFETY: within the `len` bytes mapped for the life of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len.min(HEAD)) }
    }

    /// The mapped bytes from `at` on. Only the index is ever written
    /// while mapped (through `atomic`); callers take slices of the header
    /// (before it) or of the records (after it), which never change.
    fn from(&self, at: usize) -> &[u8] {
        let at = at.min(self.len);
        // SAFETY: `ptr` maps `len` bytes for the life of `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.add(at), self.len - at) }
    }

    /// The 8-aligned word at `at` (which must be inside the mapping), as
    /// other processes write it.
    fn atomic(&self, at: usize) -> &AtomicU64 {
        assert!(at.is_multiple_of(8) && at + 8 <= self.len);
        // SAFETY: in bounds and aligned (the mapping is page-aligned);
        // every access to index words goes through atomics.
        unsafe { AtomicU64::from_ptr(self.ptr.add(at).cast()) }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: unmapping what `new` mapped.
            unsafe { libc::munmap(self.ptr.cast(), self.len) };
        }
    }
}

#[cfg(test)]
#[path = "pack_tests.rs"]
mod tests;
