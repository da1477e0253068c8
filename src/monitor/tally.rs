//! Per-host counts of finished jobs and the recent job rate, kept current
//! by reading only what was appended to the history since the last look,
//! so a monitor refreshing every second does not reparse megabytes. The
//! format is `state::history`'s.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::state::history::{self, Outcome, Record};

/// The window of the jobs-per-second rate.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostCounts {
    /// Jobs that ended on this host (any status).
    pub done: u64,
    /// Attempts on this host that failed (the job went elsewhere or here).
    pub failed: u64,
}

pub struct Tally {
    dir: PathBuf,
    /// (device, inode) of the history file last read, to notice rotation.
    file: Option<(u64, u64)>,
    offset: u64,
    pub hosts: BTreeMap<String, HostCounts>,
    recent: VecDeque<SystemTime>,
}

impl Tally {
    pub fn new(dir: &Path) -> Tally {
        Tally {
            dir: dir.to_path_buf(),
            file: None,
            offset: 0,
            hosts: BTreeMap::new(),
            recent: VecDeque::new(),
        }
    }

    /// Reads what was appended since the last call. After a rotation or a
    /// reset it starts over from every history file there is.
    pub fn refresh(&mut self) {
        let path = history::path(&self.dir);
        let Ok(mut f) = File::open(&path) else {
            if self.file.is_some() {
                self.start_over(None);
            }
            return;
        };
        let Ok(meta) = f.metadata() else { return };
        let id = (meta.dev(), meta.ino());
        if self.file != Some(id) || meta.len() < self.offset {
            self.start_over(Some(id));
            // The rotated file holds what came before this one.
            for r in history::read(&self.dir, None) {
                self.add(&r);
            }
            self.offset = meta.len();
            // Lines appended between `read` and `metadata` are counted
            // twice at worst; a monitor can live with that.
            return;
        }
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return;
        }
        // Only whole lines: a line being appended is read next time.
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        self.offset += end as u64 + 1;
        let text = String::from_utf8_lossy(&buf[..=end]).into_owned();
        for r in text.lines().filter_map(Record::parse) {
            self.add(&r);
        }
    }

    fn start_over(&mut self, id: Option<(u64, u64)>) {
        self.file = id;
        self.offset = 0;
        self.hosts.clear();
        self.recent.clear();
    }

    fn add(&mut self, r: &Record) {
        if !matches!(r.outcome, Outcome::Failed(_)) {
            self.hosts.entry(r.host.clone()).or_default().done += 1;
        }
        for t in &r.tried {
            self.hosts.entry(t.clone()).or_default().failed += 1;
        }
        self.recent.push_back(r.end);
    }

    /// Jobs finished per second over the last [`RATE_WINDOW`].
    pub fn rate(&mut self, now: SystemTime) -> f64 {
        let since = now - RATE_WINDOW;
        while self.recent.front().is_some_and(|t| *t < since) {
            self.recent.pop_front();
        }
        self.recent.iter().filter(|t| **t <= now).count() as f64 / RATE_WINDOW.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::PHASES;

    fn rec(host: &str, outcome: Outcome, tried: &[&str], end: SystemTime) -> Record {
        Record {
            end,
            pid: 1,
            host: host.into(),
            outcome,
            status: 0,
            spent: [Duration::ZERO; PHASES],
            total: Duration::ZERO,
            tried: tried.iter().map(|s| s.to_string()).collect(),
            listing: None,
            cache: None,
            source: "a.c".into(),
        }
    }

    #[test]
    fn follows_appends_rotation_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let mut t = Tally::new(dir.path());
        t.refresh();
        assert!(t.hosts.is_empty());
        history::append(dir.path(), &rec("a:1", Outcome::Remote, &[], now)).unwrap();
        t.refresh();
        history::append(
            dir.path(),
            &rec("localhost", Outcome::Fallback("x".into()), &["b:1"], now),
        )
        .unwrap();
        history::append(
            dir.path(),
            &rec("localhost", Outcome::Failed("y".into()), &["a:1"], now),
        )
        .unwrap();
        t.refresh();
        assert_eq!(t.hosts["a:1"], HostCounts { done: 1, failed: 1 });
        assert_eq!(t.hosts["b:1"], HostCounts { done: 0, failed: 1 });
        assert_eq!(t.hosts["localhost"].done, 1);
        assert_eq!(t.rate(now), 0.3);
        assert_eq!(t.rate(now + Duration::from_secs(11)), 0.0);

        // Rotation: the new file starts small; the old one is recounted.
        std::fs::rename(history::path(dir.path()), dir.path().join("history.old")).unwrap();
        history::append(dir.path(), &rec("a:1", Outcome::Remote, &[], now)).unwrap();
        t.refresh();
        assert_eq!(t.hosts["a:1"].done, 2);

        history::reset(dir.path()).unwrap();
        t.refresh();
        assert!(t.hosts.is_empty());
    }
}
