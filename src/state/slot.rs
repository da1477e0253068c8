//! A client process's own file in the state dir: `slot_<n>`, held with an
//! exclusive `flock` for the process's life and reused by later clients.
//! It holds the job's record for the monitor (`running`) at offset 0 and
//! the journal of its temp files (`client::cleanup`) after it.
//!
//! Why one reused file rather than a file per process: creating and
//! removing files at the rate of a `make -j` build is what ext4 is worst
//! at (a new inode searches past every recently deleted one), and was a
//! sixth of a client job's CPU on a warm build. Taking a slot costs an
//! `open` and a `flock`; nothing is created once the slots exist (one per
//! job that ever ran at once).
//!
//! A slot's holder is alive: the kernel drops the lock when the process
//! ends, however it ends. So a reader trusts a record only while the slot
//! is locked, and a new holder finds in the journal what a killed one
//! left behind.

use std::fs::{DirBuilder, File};
use std::io::{self, ErrorKind};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const PREFIX: &str = "slot_";
/// The record's fixed width: every record is padded to it, so none leaves
/// a stale tail of a longer one (a record's source and host are cut to
/// 1200 characters, at most 4 bytes each).
pub const RECORD_LEN: usize = 8192;
/// Where the journal starts: a pid, a length, and that many bytes.
const JOURNAL_AT: u64 = RECORD_LEN as u64;
/// More slots than this means something is wrong (a lock that is never
/// granted): the process then records nothing.
const MAX_SLOTS: u32 = 4096;

pub struct Slot {
    file: File,
    pub path: PathBuf,
}

/// The slots this process holds, by state dir: one in a client (tests
/// use several dirs).
static OURS: Mutex<Vec<(PathBuf, Option<&'static Slot>)>> = Mutex::new(Vec::new());

/// This process's slot in `dir`, taken on first use and held until the
/// process ends; None if no slot can be had (the dir cannot be made, a
/// read-only file system).
pub fn ours(dir: &Path) -> Option<&'static Slot> {
    let mut ours = OURS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, s)) = ours.iter().find(|(d, _)| d == dir) {
        return *s;
    }
    let s = match take(dir) {
        Ok(s) => Some(&*Box::leak(Box::new(s))),
        Err(e) => {
            log::debug!("no slot in {}: {e}", dir.display());
            None
        }
    };
    ours.push((dir.to_path_buf(), s));
    s
}

/// The first slot no process holds, locked; its stale record blanked.
pub fn take(dir: &Path) -> io::Result<Slot> {
    for n in 0..MAX_SLOTS {
        let path = dir.join(format!("{PREFIX}{n}"));
        let open = || crate::sys::fs::open_shared(&path);
        let file = match open() {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
                open()?
            }
            r => r?,
        };
        if lock(&file, libc::LOCK_EX)? {
            let slot = Slot { file, path };
            slot.write_record(b"")?;
            return Ok(slot);
        }
    }
    Err(io::Error::other("every slot is held"))
}

/// A non-blocking `flock`; false if another process holds it.
fn lock(f: &File, how: libc::c_int) -> io::Result<bool> {
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), how | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

impl Slot {
    /// Replaces the record: `line` (one line, newline included) padded
    /// with spaces before its newline; empty for none.
    pub fn write_record(&self, line: &[u8]) -> io::Result<()> {
        let mut rec = vec![b' '; RECORD_LEN];
        rec[RECORD_LEN - 1] = b'\n';
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        if body.len() >= RECORD_LEN {
            return Err(io::Error::other("record too long"));
        }
        rec[..body.len()].copy_from_slice(body);
        self.file.write_all_at(&rec, 0)
    }

    /// Replaces the journal with `text`, written by `pid`.
    pub fn write_journal(&self, pid: u32, text: &[u8]) -> io::Result<()> {
        let mut b = Vec::with_capacity(8 + text.len());
        b.extend_from_slice(&pid.to_le_bytes());
        b.extend_from_slice(&(text.len() as u32).to_le_bytes());
        b.extend_from_slice(text);
        self.file.write_all_at(&b, JOURNAL_AT)
    }

    /// The journal a previous holder left: its pid and text (empty if it
    /// ended cleanly).
    pub fn journal(&self) -> (u32, Vec<u8>) {
        journal_of(&self.file)
    }
}

fn journal_of(f: &File) -> (u32, Vec<u8>) {
    let mut head = [0u8; 8];
    if f.read_exact_at(&mut head, JOURNAL_AT).is_err() {
        return (0, Vec::new());
    }
    let pid = u32::from_le_bytes(head[..4].try_into().unwrap());
    let len = u32::from_le_bytes(head[4..].try_into().unwrap()) as usize;
    // A journal is a few lines; a larger length is damage.
    let mut text = vec![0u8; len.min(1 << 20)];
    let n = f.read_at(&mut text, JOURNAL_AT + 8).unwrap_or(0);
    text.truncate(n);
    (pid, text)
}

/// The journal in a slot file as it is now, held or not (for a look from
/// outside: tests, a monitor).
pub fn journal_in(path: &Path) -> Option<(u32, Vec<u8>)> {
    Some(journal_of(&File::open(path).ok()?))
}

/// The record in a slot file, if a live process holds the slot: read
/// twice, and only two identical copies count (a reader could catch a
/// write half done).
pub fn held_record(path: &Path) -> Option<Vec<u8>> {
    let f = File::open(path).ok()?;
    if lock(&f, libc::LOCK_SH).ok()? {
        // Nobody holds it: whatever it says is over.
        return None;
    }
    for _ in 0..3 {
        let mut a = vec![0u8; RECORD_LEN];
        let mut b = vec![0u8; RECORD_LEN];
        f.read_exact_at(&mut a, 0).ok()?;
        f.read_exact_at(&mut b, 0).ok()?;
        if a == b {
            return Some(a);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_slot_is_skipped_and_its_record_read_while_held() {
        let dir = tempfile::tempdir().unwrap();
        let a = take(dir.path()).unwrap();
        let b = take(dir.path()).unwrap();
        assert!(a.path.ends_with("slot_0") && b.path.ends_with("slot_1"));
        a.write_record(b"v1 hello\n").unwrap();
        let rec = held_record(&a.path).unwrap();
        assert_eq!(rec.len(), RECORD_LEN);
        assert!(rec.starts_with(b"v1 hello "));
        assert_eq!(rec.last(), Some(&b'\n'));
        // A blank record reads as such.
        assert!(held_record(&b.path).unwrap()[..RECORD_LEN - 1]
            .iter()
            .all(|&c| c == b' '));
        // Given up (the holder's end): nothing to read, and the next
        // taker gets that slot, its record blanked, its journal kept.
        a.write_journal(4242, b"x\ty\n").unwrap();
        let path = a.path.clone();
        drop(a);
        assert_eq!(held_record(&path), None);
        let c = take(dir.path()).unwrap();
        assert_eq!(c.path, path);
        assert_eq!(c.journal(), (4242, b"x\ty\n".to_vec()));
        assert!(!held_record(&c.path).unwrap().starts_with(b"v1"));
        c.write_journal(1, b"").unwrap();
        assert_eq!(c.journal(), (1, Vec::new()));
    }

    #[test]
    fn a_record_longer_than_the_slot_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = take(dir.path()).unwrap();
        assert!(s.write_record(&vec![b'x'; RECORD_LEN]).is_err());
    }
}
