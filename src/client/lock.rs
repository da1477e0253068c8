//! Job slots as lock files.
//!
//! Every client process of a user (a `make -j20` starts twenty of them) must
//! agree on how many jobs each host is running, without any server. Each
//! (host, slot) pair is a zero-length file in the lock directory
//! (`$DISTCC_DIR/lock`), and a slot is taken by holding an exclusive `flock`
//! on it. `flock` locks belong to the open file description, so the kernel
//! drops them when the holder exits for any reason, `kill -9` included: there
//! are never stale locks to clean up. The files themselves are never removed,
//! because unlinking a file that another process is blocked on would let two
//! processes "hold" the same slot through different inodes.
//!
//! # Order of preference
//!
//! Slots are tried slot-number-major: slot 0 of every host in the user's
//! order, then slot 1 of every host, and so on, skipping hosts whose limit is
//! reached. So with `a/2, b/2` an idle system hands out `a0, b0, a1, b1`.
//! Compared with filling the first host before touching the second, this
//! spreads jobs evenly until each host reaches its limit, while the user's
//! order still breaks ties. A faster host finishes its jobs sooner, so its
//! low-numbered slots are free more often when the next client scans, and it
//! naturally takes more of the jobs without any speed estimate.
//!
//! # Waiting
//!
//! When every slot is busy the caller blocks in the kernel (a blocking
//! `flock`) on one slot, chosen by process id and a per-process counter so
//! that waiters spread over all slots instead of piling onto the first. The
//! drawback of waiting on one file is that another slot may free first while
//! the chosen one stays busy with a long job. To bound that cost, the blocking
//! lock runs on a helper thread while the caller rescans all slots without
//! blocking once per [`RESCAN_INTERVAL`]; whichever succeeds first wins, and a
//! lock the helper obtains after the caller has moved on is released at once.
//! The rescan is a fallback, not the primary wake-up, so its period can be
//! long; the same structure is what makes a deadline possible, as `flock`
//! itself has no timeout.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use fs2::FileExt;

use crate::state::host_key;

/// The lock directory, `$DISTCC_DIR/lock`.
pub fn dir(settings: &crate::settings::Settings) -> PathBuf {
    settings.dir.join("lock")
}

/// How often a blocked caller also looks for any other slot that has freed.
pub const RESCAN_INTERVAL: Duration = Duration::from_secs(1);

/// One host to take a slot from, in the user's order of preference.
#[derive(Debug, Clone, Copy)]
pub struct SlotRequest<'a> {
    /// The host's canonical text, e.g. `127.0.0.1:3632`.
    pub key: &'a str,
    /// How many jobs this host may run at once; 0 means none.
    pub limit: u32,
}

/// A held job slot. Dropping it closes the file, which releases the lock.
#[derive(Debug)]
pub struct Slot {
    _file: File,
    /// Index into the request list the slot was taken from.
    pub host: usize,
    /// Slot number at that host, below its limit.
    pub slot: u32,
}

/// The lock file of a remote compile slot.
pub fn cpu_lock_path(dir: &Path, key: &str, slot: u32) -> PathBuf {
    dir.join(format!("cpu_{}_{slot}", host_key(key)))
}

/// The lock file of a local preprocessing slot.
pub fn cpp_lock_path(dir: &Path, slot: u32) -> PathBuf {
    dir.join(format!("cpp_localhost_{slot}"))
}

/// Takes the first free slot in the documented order, without blocking.
/// `None` if every slot of every host not skipped is busy.
pub fn try_acquire(
    dir: &Path,
    hosts: &[SlotRequest],
    skip: &dyn Fn(usize) -> bool,
) -> Result<Option<Slot>> {
    try_scan(&plan(dir, hosts, skip))
}

/// Takes the first free slot, waiting for one if all are busy.
/// `None` only if every host is skipped (or has limit 0).
pub fn acquire(
    dir: &Path,
    hosts: &[SlotRequest],
    skip: &dyn Fn(usize) -> bool,
) -> Result<Option<Slot>> {
    acquire_until(dir, hosts, skip, None)
}

/// Like [`acquire`], but gives up with `None` once `deadline` has passed.
pub fn acquire_until(
    dir: &Path,
    hosts: &[SlotRequest],
    skip: &dyn Fn(usize) -> bool,
    deadline: Option<Instant>,
) -> Result<Option<Slot>> {
    let candidates = plan(dir, hosts, skip);
    if candidates.is_empty() {
        return Ok(None);
    }
    if let Some(slot) = try_scan(&candidates)? {
        return Ok(Some(slot));
    }
    wait(&candidates, deadline)
}

/// Takes one of `limit` local preprocessing slots, waiting if all are busy.
/// A limit of 0 is treated as 1, since preprocessing cannot be skipped.
pub fn acquire_cpp(dir: &Path, limit: u32) -> Result<Slot> {
    let candidates: Vec<Candidate> = (0..limit.max(1))
        .map(|slot| Candidate {
            host: 0,
            slot,
            path: cpp_lock_path(dir, slot),
        })
        .collect();
    if let Some(slot) = try_scan(&candidates)? {
        return Ok(slot);
    }
    wait(&candidates, None)?.ok_or_else(|| anyhow!("no preprocessing slot obtained"))
}

/// How many of `key`'s first `limit` slots some process holds now. A
/// probe takes and drops each free lock, which another client may see as
/// busy for that instant; it then takes another slot, as it would anyway.
pub fn held(dir: &Path, key: &str, limit: u32) -> u32 {
    (0..limit)
        .filter(|&slot| {
            let path = cpu_lock_path(dir, key, slot);
            match OpenOptions::new().write(true).open(&path) {
                // Never created: never taken.
                Err(_) => false,
                Ok(file) => match file.try_lock_exclusive() {
                    Ok(()) => false,
                    Err(e) => is_contended(&e),
                },
            }
        })
        .count() as u32
}

struct Candidate {
    host: usize,
    slot: u32,
    path: PathBuf,
}

fn plan(dir: &Path, hosts: &[SlotRequest], skip: &dyn Fn(usize) -> bool) -> Vec<Candidate> {
    // The skip check may cost a stat per host, so ask once, not once per slot.
    let active: Vec<bool> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| h.limit > 0 && !skip(i))
        .collect();
    let deepest = hosts
        .iter()
        .zip(&active)
        .filter(|(_, &a)| a)
        .map(|(h, _)| h.limit)
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    for slot in 0..deepest {
        for (host, h) in hosts.iter().enumerate() {
            if active[host] && slot < h.limit {
                out.push(Candidate {
                    host,
                    slot,
                    path: cpu_lock_path(dir, h.key, slot),
                });
            }
        }
    }
    out
}

fn open_lock(path: &Path) -> Result<File> {
    let open = || {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
    };
    let file = match open() {
        // Creating the directory only on a miss keeps the common case at one
        // syscall per slot tried.
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .with_context(|| format!("creating lock directory {}", parent.display()))?;
            }
            open()
        }
        other => other,
    };
    file.with_context(|| format!("opening lock file {}", path.display()))
}

fn is_contended(e: &io::Error) -> bool {
    e.kind() == ErrorKind::WouldBlock
        || e.raw_os_error() == fs2::lock_contended_error().raw_os_error()
}

fn try_scan(candidates: &[Candidate]) -> Result<Option<Slot>> {
    for c in candidates {
        let file = open_lock(&c.path)?;
        match file.try_lock_exclusive() {
            Ok(()) => {
                return Ok(Some(Slot {
                    _file: file,
                    host: c.host,
                    slot: c.slot,
                }))
            }
            Err(e) if is_contended(&e) => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("locking {}", c.path.display()));
            }
        }
    }
    Ok(None)
}

fn lock_blocking(file: &File) -> io::Result<()> {
    loop {
        match file.lock_exclusive() {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn wait(candidates: &[Candidate], deadline: Option<Instant>) -> Result<Option<Slot>> {
    // Threads of one process share a pid, so a counter is mixed in to spread
    // them as well as separate processes.
    static WAITERS: AtomicUsize = AtomicUsize::new(0);
    let turn = WAITERS.fetch_add(1, Ordering::Relaxed);
    let chosen = &candidates[(std::process::id() as usize).wrapping_add(turn) % candidates.len()];
    let file = open_lock(&chosen.path)?;
    let (tx, rx) = mpsc::sync_channel(1);
    thread::Builder::new()
        .name("slot-wait".into())
        .spawn(move || {
            // If the caller has already returned, the send fails or the
            // message is discarded with the channel, and either way the file
            // is closed, so a late lock never keeps a slot busy.
            let _ = tx.send(lock_blocking(&file).map(|()| file));
        })
        .context("starting lock wait thread")?;
    loop {
        let timeout = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left.min(RESCAN_INTERVAL),
                _ => return Ok(None),
            },
            None => RESCAN_INTERVAL,
        };
        match rx.recv_timeout(timeout) {
            Ok(Ok(file)) => {
                return Ok(Some(Slot {
                    _file: file,
                    host: chosen.host,
                    slot: chosen.slot,
                }))
            }
            Ok(Err(e)) => {
                return Err(e).with_context(|| format!("waiting for {}", chosen.path.display()));
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Some(slot) = try_scan(candidates)? {
                    return Ok(Some(slot));
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(anyhow!("lock wait thread ended without a result"));
            }
        }
    }
}
