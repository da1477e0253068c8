//! Which of a unit's files each of our volunteers probably holds already:
//! a fixed-size Bloom filter per host in `$DISTCC_DIR/affinity/`, shared by
//! every client process of the user. After a hashed job (`hashed`) the
//! daemon's store holds every file of the unit, sent then or before, so
//! they are all added; `place` then prefers, among hosts where a job
//! would finish equally soon, the one that holds most of the unit's files.
//!
//! A file is known by its absolute name and its digest, which a warm job
//! has from the include scanner without reading the file (`shipped`); only
//! a file read cold is digested here, as the request does again. It is a
//! hint: a false "held" (a filter collision, a daemon restarted with an
//! empty store) costs the bytes of that file on one job, and the daemon
//! still asks for what it lacks. A filter filled past half is cleared,
//! which forgets what the host's store has long since evicted anyway.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use fs2::FileExt;

use super::shipped::Shipped;
use crate::hosts::Host;
use crate::protocol::hashed::Entry;
use crate::settings::Settings;
use crate::state::host_key;

/// Bytes of one host's filter: 256 Ki bits, about 1% false positives at
/// 20 000 files with three probes.
const BYTES: usize = 32 * 1024;
const BITS: u64 = (BYTES * 8) as u64;
const PROBES: u64 = 3;
/// Past this share of set bits the filter is cleared before adding.
const FULL: f64 = 0.5;
/// How finely held bytes count as a preference: a quarter of the unit.
pub const STEPS: u64 = 4;

/// One host's filter.
#[derive(Clone, PartialEq)]
pub struct Filter {
    bits: Vec<u8>,
}

impl Default for Filter {
    fn default() -> Filter {
        Filter {
            bits: vec![0; BYTES],
        }
    }
}

impl Filter {
    fn from_bytes(bits: Vec<u8>) -> Option<Filter> {
        (bits.len() == BYTES).then_some(Filter { bits })
    }

    fn positions(key: u64) -> impl Iterator<Item = usize> {
        // Double hashing: two halves of one 64-bit hash give the probes.
        let (a, b) = (key & 0xffff_ffff, (key >> 32) | 1);
        (0..PROBES).map(move |i| ((a.wrapping_add(i.wrapping_mul(b))) % BITS) as usize)
    }

    fn contains(&self, key: u64) -> bool {
        Self::positions(key).all(|p| self.bits[p / 8] & (1 << (p % 8)) != 0)
    }

    /// Adds `key`; whether it was new.
    fn insert(&mut self, key: u64) -> bool {
        let mut new = false;
        for p in Self::positions(key) {
            let (byte, bit) = (p / 8, 1u8 << (p % 8));
            new |= self.bits[byte] & bit == 0;
            self.bits[byte] |= bit;
        }
        new
    }

    fn fill(&self) -> f64 {
        let set: u32 = self.bits.iter().map(|b| b.count_ones()).sum();
        f64::from(set) / BITS as f64
    }

    /// How many of `files` this filter says the host holds, and how many
    /// there are (links, which carry no body, are not counted).
    pub fn held(&self, files: &[Shipped]) -> (u64, u64) {
        files.iter().filter_map(key).fold((0, 0), |(h, t), k| {
            (if self.contains(k) { h + 1 } else { h }, t + 1)
        })
    }
}

/// A file's key; `None` for a symlink, which carries no body.
fn key(file: &Shipped) -> Option<u64> {
    let Entry::Hashed(digest) = file.entry() else {
        return None;
    };
    // FNV-1a: stable across builds and processes, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let name = file.name.as_bytes();
    for &b in name.iter().chain(&[0]).chain(&digest) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Mix the high bits down, so both halves used by the probes vary.
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 32;
    Some(h)
}

fn path(settings: &Settings, host: &Host) -> PathBuf {
    settings.dir.join("affinity").join(host_key(&host.key()))
}

/// What the client has recorded for `host`, if anything.
fn load(settings: &Settings, host: &Host) -> Option<Filter> {
    Filter::from_bytes(fs::read(path(settings, host)).ok()?)
}

/// The filters of the hosts `wanted` says may use one (`None` elsewhere,
/// and where nothing is recorded).
pub fn filters(
    settings: &Settings,
    hosts: &[Host],
    wanted: impl Fn(usize) -> bool,
) -> Vec<Option<Filter>> {
    (0..hosts.len())
        .map(|i| {
            if wanted(i) {
                load(settings, &hosts[i])
            } else {
                None
            }
        })
        .collect()
}

/// Each host's preference for a unit of `files`: how many [`STEPS`] of its
/// files the host's filter says it holds (0 without a filter).
pub fn preference(filters: &[Option<Filter>], files: &[Shipped]) -> Vec<u8> {
    filters
        .iter()
        .map(|f| match f.as_ref().map(|f| f.held(files)) {
            Some((held, total)) if total > 0 => (held * STEPS / total) as u8,
            _ => 0,
        })
        .collect()
}

/// Records that `host` now holds `files`. Failures only lose the hint.
pub fn record(settings: &Settings, host: &Host, files: &[Shipped]) {
    if let Err(e) = try_record(&path(settings, host), files) {
        log::debug!("{host}: cannot record which files it holds: {e}");
    }
}

fn try_record(path: &Path, files: &[Shipped]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    // Other clients add to the same filter: one at a time, so no update
    // is lost between the read and the write.
    file.lock_exclusive()?;
    let result = update(&mut file, files);
    FileExt::unlock(&file).ok();
    result
}

fn update(file: &mut File, files: &[Shipped]) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(BYTES);
    file.read_to_end(&mut bytes)?;
    let mut filter = Filter::from_bytes(bytes).unwrap_or_default();
    if filter.fill() > FULL {
        filter = Filter::default();
    }
    let mut changed = false;
    for k in files.iter().filter_map(key) {
        changed |= filter.insert(k);
    }
    if changed || file.metadata()?.len() != BYTES as u64 {
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&filter.bits)?;
        file.set_len(BYTES as u64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::client::shipped::Body;

    fn f(name: &str, size: usize) -> Shipped {
        Shipped {
            name: name.into(),
            body: Body::Read(vec![b'x'; size]),
        }
    }

    #[test]
    fn recorded_files_are_held_and_others_mostly_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("affinity").join("h");
        let unit = [f("/src/a.h", 1000), f("/src/b.h", 3000)];
        try_record(&p, &unit[..1]).unwrap();
        let got = Filter::from_bytes(fs::read(&p).unwrap()).unwrap();
        assert_eq!(got.held(&unit), (1, 2));
        try_record(&p, &unit).unwrap();
        let got = Filter::from_bytes(fs::read(&p).unwrap()).unwrap();
        assert_eq!(got.held(&unit), (2, 2));
        // Same name, other bytes: another file.
        assert_eq!(got.held(&[f("/src/b.h", 3001)]), (0, 1));
        // Thousands of other names: few collisions.
        let others: Vec<Shipped> = (0..5000).map(|i| f(&format!("/o/{i}.h"), 1)).collect();
        let (false_hits, _) = got.held(&others);
        assert!(false_hits < 10, "{false_hits} false hits");
    }

    #[test]
    fn a_filter_past_half_full_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h");
        let many: Vec<Shipped> = (0..100_000).map(|i| f(&format!("/m/{i}.h"), 1)).collect();
        try_record(&p, &many).unwrap();
        let full = Filter::from_bytes(fs::read(&p).unwrap()).unwrap();
        assert!(full.fill() > FULL);
        let one = [f("/src/new.h", 10)];
        try_record(&p, &one).unwrap();
        let fresh = Filter::from_bytes(fs::read(&p).unwrap()).unwrap();
        assert_eq!(fresh.held(&one), (1, 1));
        assert!(fresh.fill() < 0.001);
        assert_eq!(fresh.held(&many[..1000]).0, 0);
    }

    #[test]
    fn a_torn_or_foreign_file_reads_as_nothing() {
        assert!(Filter::from_bytes(vec![0; 10]).is_none());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h");
        fs::write(&p, b"junk").unwrap();
        try_record(&p, &[f("/a.h", 5)]).unwrap();
        assert_eq!(fs::read(&p).unwrap().len(), BYTES);
    }
}
