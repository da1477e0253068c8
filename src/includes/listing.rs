//! A directory's entry names, to answer "is `dir/name` there?" without a
//! `stat` per candidate: an include search asks most dirs of its chain
//! for a name they do not hold (`<string>` is looked for in every `-I`
//! dir first), and a listing answers all of them after one `stat` of the
//! dir, which tells the listing is still good: adding, removing or
//! renaming an entry changes the dir's mtime and ctime. A listing is only
//! made where names compare byte for byte (no case-folding file systems)
//! and the dir's times are trusted (local file systems), and only of a dir
//! whose last change is older than the racy window (see `store`), so a
//! change in the same clock tick cannot hide behind an equal stamp.
//!
//! The bytes: `u32` count, `count + 1` `u32` offsets, then the names,
//! sorted, so a lookup is a binary search in place (in a `pack` mapping).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// A listing in its byte form (owned or borrowed from a pack).
#[derive(Clone, Copy)]
pub struct Listing<'a>(&'a [u8]);

impl<'a> Listing<'a> {
    /// None if the bytes are not a listing.
    pub fn new(b: &'a [u8]) -> Option<Listing<'a>> {
        let n = u32_at(b, 0)? as usize;
        let table_end = 4usize.checked_add(n.checked_add(1)?.checked_mul(4)?)?;
        if table_end > b.len() {
            return None;
        }
        let l = Listing(b);
        let last = l.offset(n)?;
        (l.offset(0)? == table_end && last == b.len()).then_some(l)
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.0
    }

    fn len(&self) -> usize {
        u32_at(self.0, 0).unwrap_or(0) as usize
    }

    fn offset(&self, i: usize) -> Option<usize> {
        u32_at(self.0, 4 + i * 4).map(|v| v as usize)
    }

    fn name(&self, i: usize) -> &'a [u8] {
        let (a, b) = (self.offset(i), self.offset(i + 1));
        match (a, b) {
            (Some(a), Some(b)) if a <= b => self.0.get(a..b).unwrap_or(b""),
            _ => b"",
        }
    }

    /// Every name, in order.
    pub fn names(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.len()).map(|i| self.name(i))
    }

    /// Whether the dir had an entry `name` (any type: a dangling symlink
    /// is an entry, and the caller then asks `stat`).
    pub fn has(&self, name: &[u8]) -> bool {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.name(mid).cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }
}

/// Whether `name` can be looked up in a listing: `.`, `..` and the empty
/// name are never entries of one, yet resolve.
pub fn listable(name: &[u8]) -> bool {
    !matches!(name, b"" | b"." | b"..")
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The byte form of a set of names.
pub fn encode(mut names: Vec<Vec<u8>>) -> Vec<u8> {
    names.sort_unstable();
    names.dedup();
    let table = 4 + (names.len() + 1) * 4;
    let total: usize = table + names.iter().map(Vec::len).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(names.len() as u32).to_le_bytes());
    let mut at = table;
    for n in &names {
        out.extend_from_slice(&(at as u32).to_le_bytes());
        at += n.len();
    }
    out.extend_from_slice(&(at as u32).to_le_bytes());
    for n in &names {
        out.extend_from_slice(n);
    }
    out
}

/// Reads `dir`'s entries, if its file system can be trusted with the
/// question (see the module header); None otherwise or on any error.
pub fn read(dir: &[u8]) -> Option<Vec<Vec<u8>>> {
    let path = OsStr::from_bytes(dir);
    let d = std::fs::File::open(path).ok()?;
    if !trusted(&d) {
        return None;
    }
    let mut names = Vec::new();
    for e in std::fs::read_dir(path).ok()? {
        names.push(e.ok()?.file_name().as_bytes().to_vec());
    }
    (names.len() < 1 << 20).then_some(names)
}

/// Local file systems whose dir times change with every entry and whose
/// names are bytes, and no case-folding dir (ext4 and f2fs can fold per
/// dir: `FS_CASEFOLD_FL`).
fn trusted(d: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    const CASEFOLD: libc::c_long = 0x4000_0000;
    // SAFETY: statfs fills the struct we own, on our own fd.
    let mut sf: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatfs(d.as_raw_fd(), &mut sf) } != 0 {
        return false;
    }
    let local = matches!(
        sf.f_type as u64,
        0xEF53 // ext2/3/4
            | 0x5846_5342 // xfs
            | 0x9123_683E // btrfs
            | 0x0102_1994 // tmpfs
            | 0x794C_7630 // overlayfs
            | 0xF2F5_2010 // f2fs
            | 0x2FC1_2FC1 // zfs
    );
    if !local {
        return false;
    }
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one long into `flags`.
    let r = unsafe { libc::ioctl(d.as_raw_fd(), libc::FS_IOC_GETFLAGS as _, &mut flags) };
    // File systems without the ioctl have no per-dir folding either.
    r != 0 || flags & CASEFOLD == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_by_bytes() {
        let b = encode(vec![
            b"b.h".to_vec(),
            b"a".to_vec(),
            b"sub".to_vec(),
            b"a".to_vec(),
        ]);
        let l = Listing::new(&b).unwrap();
        for n in [&b"a"[..], b"b.h", b"sub"] {
            assert!(l.has(n), "{}", String::from_utf8_lossy(n));
        }
        for n in [&b""[..], b"B.h", b"b", b"su", b"subs", b"zz"] {
            assert!(!l.has(n), "{}", String::from_utf8_lossy(n));
        }
        let empty = encode(Vec::new());
        assert!(!Listing::new(&empty).unwrap().has(b"a"));
    }

    #[test]
    fn damaged_bytes_are_refused_or_harmless() {
        let b = encode(vec![b"one".to_vec(), b"two".to_vec()]);
        for cut in 0..b.len() {
            assert!(Listing::new(&b[..cut]).is_none(), "cut at {cut}");
        }
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x55;
            // Never a panic; an answer from damaged bytes only costs a
            // stat or a rebuild (the pack checks records before this).
            if let Some(l) = Listing::new(&bad) {
                let _ = l.has(b"one");
            }
        }
    }

    #[test]
    fn reads_a_dir() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("x.h"), "").unwrap();
        std::fs::create_dir(t.path().join("sub")).unwrap();
        let Some(names) = read(t.path().as_os_str().as_bytes()) else {
            eprintln!("SKIPPED: the temp dir's file system is not one listings trust");
            return;
        };
        let b = encode(names);
        let l = Listing::new(&b).unwrap();
        assert!(l.has(b"x.h") && l.has(b"sub") && !l.has(b"."));
        assert!(!listable(b"..") && listable(b"x.h"));
    }
}
