//! What a host is known to lack, shared by every client process of a
//! user: a host that refused a job because its compiler or a system
//! header is not the client's refuses every job that asserts the same,
//! so later jobs skip it for a while instead of each paying the refused
//! round trip. Unlike a failure (`backoff`), such a record concerns only
//! jobs that assert the same thing; the caller says what, as one key
//! (one line of text).
//!
//! One file per host, `mismatch_<hostkey>` in the state dir, one line per
//! record, `<secs> <key>`, appended (a line is one `write`, so records of
//! concurrent clients do not interleave). As with backoff, the reader
//! decides how long a record counts; a file older than that is replaced
//! by the next record, so it does not grow for good.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::paths::{create_private, host_key};

const PREFIX: &str = "mismatch_";

fn path(dir: &Path, host: &str) -> PathBuf {
    dir.join(format!("{PREFIX}{}", host_key(host)))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Records that `host` lacks `key` (which must be one line), now.
pub fn record(dir: &Path, host: &str, key: &str, period: Duration) -> Result<()> {
    create_private(dir)?;
    let p = path(dir, host);
    let stale = fs::metadata(&p)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age >= period);
    if stale {
        fs::remove_file(&p).ok();
    }
    let line = format!("{} {}\n", now_secs(), key.replace(['\n', '\r'], " "));
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .with_context(|| format!("recording in {}", p.display()))
}

/// The keys recorded for `host` less than `period` ago. A zero period
/// disables the records; a host with none costs one failed `open`.
pub fn live(dir: &Path, host: &str, period: Duration) -> Vec<String> {
    if period.is_zero() {
        return Vec::new();
    }
    let Ok(text) = fs::read_to_string(path(dir, host)) else {
        return Vec::new();
    };
    let now = now_secs();
    text.lines()
        .filter_map(|l| {
            let (secs, key) = l.split_once(' ')?;
            let secs: u64 = secs.parse().ok()?;
            // A time ahead means the clock was set back: within one period.
            (now.abs_diff(secs) < period.as_secs().max(1)).then(|| key.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "127.0.0.1:3632/lzo";
    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn records_are_per_host_and_key_and_expire() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("state");
        assert!(live(&dir, HOST, MINUTE).is_empty());
        record(&dir, HOST, "compiler ab", MINUTE).unwrap();
        record(&dir, HOST, "header 2f 00", MINUTE).unwrap();
        assert_eq!(live(&dir, HOST, MINUTE), ["compiler ab", "header 2f 00"]);
        assert!(live(&dir, "other:3632", MINUTE).is_empty());
        assert!(live(&dir, HOST, Duration::ZERO).is_empty());
        // A record from long ago no longer counts.
        let p = path(&dir, HOST);
        let old = now_secs() - 3600;
        fs::write(
            &p,
            format!("{old} compiler old\n{} compiler new\n", now_secs()),
        )
        .unwrap();
        assert_eq!(live(&dir, HOST, MINUTE), ["compiler new"]);
    }

    #[test]
    fn a_file_older_than_the_period_starts_over() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("state");
        record(&dir, HOST, "compiler a", MINUTE).unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        let f = fs::File::options()
            .append(true)
            .open(path(&dir, HOST))
            .unwrap();
        f.set_modified(old).unwrap();
        record(&dir, HOST, "compiler b", MINUTE).unwrap();
        let text = fs::read_to_string(path(&dir, HOST)).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert_eq!(live(&dir, HOST, MINUTE), ["compiler b"]);
    }
}
