//! The volunteer's own system headers in exact mode's keys. An exact-mode
//! compile reads the unit's files as shipped but the system headers from
//! this machine (as distcc's pump mode does), and no shipped digest covers
//! those; a libc or compiler upgrade must still be a miss. The key takes a
//! stamp of the compiler's default include dirs instead: every dir under
//! them with its change times. Packages replace a header by renaming a
//! new file over it, which changes its dir's times, so the stamp changes
//! with any upgrade, for a few hundred `stat`s rather than a digest of
//! every header. (A header edited in place keeps its dir's times: clear
//! the cache after doing that.)

use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::includes::{self, Lang};
use crate::protocol::hashed::Digest;

/// The default include dirs of each (compiler, language), asked once, and
/// their latest stamp.
#[derive(Default)]
pub struct SystemDirs {
    dirs: Mutex<HashMap<(PathBuf, bool), Vec<PathBuf>>>,
    stamps: Mutex<HashMap<Vec<PathBuf>, (Instant, Digest)>>,
}

/// How long a stamp is reused: the walk costs ~10 ms of system time on a
/// Debian system (800 dirs), too much for every job of a busy volunteer.
/// A job within this long of an upgrade is keyed by the old stamp, as one
/// that runs during the upgrade reads a mix of old and new headers anyway.
const STAMP_REUSE: Duration = Duration::from_secs(1);

/// More dirs than any system include tree has: a bound on the walk.
const MAX_DIRS: usize = 20_000;

impl SystemDirs {
    /// The stamp of the system headers `program` reads for C (or C++),
    /// or `None` if the compiler cannot say where they are.
    pub fn stamp(&self, program: &Path, cxx: bool) -> Option<Digest> {
        let key = (program.to_path_buf(), cxx);
        let known = self
            .dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let dirs = match known {
            Some(d) => d,
            None => {
                let lang = if cxx { Lang::Cxx } else { Lang::C };
                let info = includes::probe(program, &[], lang)
                    .map_err(|e| log::info!("not caching: {e:#}"))
                    .ok()?;
                let mut map = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
                map.insert(key, info.dirs.clone());
                info.dirs
            }
        };
        let mut stamps = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
        match stamps.get(&dirs) {
            Some((at, d)) if at.elapsed() < STAMP_REUSE => Some(*d),
            _ => {
                let d = stamp_of(&dirs);
                stamps.insert(dirs, (Instant::now(), d));
                Some(d)
            }
        }
    }
}

/// Every dir under `roots` (symlinks not followed) with its modification
/// and change times, digested.
pub fn stamp_of(roots: &[PathBuf]) -> Digest {
    let mut h = Sha256::new();
    let mut pending: Vec<PathBuf> = roots.to_vec();
    let mut seen = 0;
    while let Some(dir) = pending.pop() {
        seen += 1;
        if seen > MAX_DIRS {
            break;
        }
        let Ok(meta) = fs::symlink_metadata(&dir) else {
            h.update(b"absent");
            h.update(dir.as_os_str().as_bytes());
            continue;
        };
        h.update(dir.as_os_str().as_bytes());
        for t in [
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
        ] {
            h.update(t.to_le_bytes());
        }
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        let mut subdirs: Vec<PathBuf> = rd
            .filter_map(|e| {
                let e = e.ok()?;
                e.file_type().ok()?.is_dir().then(|| e.path())
            })
            .collect();
        subdirs.sort();
        pending.extend(subdirs.into_iter().rev());
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_replaced_by_rename_changes_the_stamp() {
        let root = tempfile::tempdir().unwrap();
        let sub = root.path().join("bits");
        fs::create_dir(&sub).unwrap();
        fs::write(sub.join("types.h"), "int a;\n").unwrap();
        let roots = vec![root.path().to_path_buf()];
        let before = stamp_of(&roots);
        assert_eq!(before, stamp_of(&roots), "nothing changed");
        // As a package manager does: a new file renamed over the old.
        fs::write(sub.join("types.h.new"), "long a;\n").unwrap();
        fs::rename(sub.join("types.h.new"), sub.join("types.h")).unwrap();
        assert_ne!(before, stamp_of(&roots));
    }

    #[test]
    fn a_missing_dir_has_a_stamp_too() {
        let roots = vec![PathBuf::from("/nonexistent/include")];
        assert_eq!(stamp_of(&roots), stamp_of(&roots));
    }
}
