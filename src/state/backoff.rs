//! Per-host failure memory shared by every client process of a user.
//!
//! When one client fails to use a host, the others should avoid it for a
//! while instead of each paying the same connect timeout. A failure is one
//! file, `backoff_<hostkey>`, in the state directory (`$DISTCC_DIR/state`).
//! Its modification time is the failure time, so the hot-path check is a
//! single `stat` per host; the content repeats the time and gives the reason
//! for a monitor. The reader, not the writer, decides how long a failure
//! counts, so clients with different periods can share the directory.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::paths::{create_private, host_key, unescape_key};

const PREFIX: &str = "backoff_";

/// The file recording a failure of the host whose canonical text is `key`.
pub fn backoff_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{PREFIX}{}", host_key(key)))
}

/// Records that `key` just failed, creating `dir` (mode 0700) if needed.
///
/// The file is replaced by rename so that a concurrent reader sees either the
/// old record or the new one, never a torn one. It is not synced: after a
/// crash, losing a backoff record only costs one more failed attempt.
pub fn mark_failed(dir: &Path, key: &str, why: &str) -> Result<()> {
    create_private(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".backoff-tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating temporary file in {}", dir.display()))?;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // One line per field keeps the record parseable whatever the reason says.
    let why = why.replace(['\n', '\r'], " ");
    writeln!(tmp, "{secs}\n{why}").context("writing backoff record")?;
    let path = backoff_path(dir, key);
    tmp.persist(&path)
        .with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Whether `key` failed less than `period` ago. A zero period disables
/// backoff altogether and costs no system call.
pub fn is_backed_off(dir: &Path, key: &str, period: Duration) -> bool {
    if period.is_zero() {
        return false;
    }
    let Ok(mtime) = fs::metadata(backoff_path(dir, key)).and_then(|m| m.modified()) else {
        return false;
    };
    // A time in the future means the clock was set back; counting it only
    // within one period stops a large step from banning a host for good.
    match SystemTime::now().duration_since(mtime) {
        Ok(age) => age < period,
        Err(ahead) => ahead.duration() < period,
    }
}

/// Forgets a failure of `key` after a success. When there is none this is a
/// single failed unlink, so callers need not check first.
pub fn clear(dir: &Path, key: &str) -> Result<()> {
    let path = backoff_path(dir, key);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Every recorded failure as `(host key, time of failure, reason)`, sorted by
/// key. The time is when the failure happened; the backoff lasts until that
/// time plus the reader's period. Unreadable entries are left out, because a
/// monitor should show what it can.
pub fn list(dir: &Path) -> Vec<(String, SystemTime, String)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name();
            let key = unescape_key(name.to_str()?.strip_prefix(PREFIX)?)?;
            let since = entry.metadata().ok()?.modified().ok()?;
            let text = fs::read_to_string(entry.path()).ok()?;
            let why = text.lines().nth(1).unwrap_or("").to_string();
            Some((key, since, why))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::os::unix::fs::PermissionsExt;

    const HOST: &str = "127.0.0.1:3632";
    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn mark_check_clear() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("state");
        assert!(!is_backed_off(&dir, HOST, MINUTE));
        clear(&dir, HOST).unwrap();

        mark_failed(&dir, HOST, "connection refused").unwrap();
        assert!(is_backed_off(&dir, HOST, MINUTE));
        assert!(!is_backed_off(&dir, HOST, Duration::ZERO));
        assert!(!is_backed_off(&dir, "otherhost:3632", MINUTE));
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);

        clear(&dir, HOST).unwrap();
        assert!(!is_backed_off(&dir, HOST, MINUTE));
        clear(&dir, HOST).unwrap();
    }

    #[test]
    fn file_name_is_escaped() {
        let dir = tempfile::tempdir().unwrap();
        mark_failed(dir.path(), HOST, "x").unwrap();
        mark_failed(dir.path(), "[::1]:3632/lzo", "y").unwrap();
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "backoff_%5B%3A%3A1%5D%3A3632%2Flzo",
                "backoff_127.0.0.1%3A3632"
            ]
        );
    }

    #[test]
    fn old_failure_has_expired() {
        let dir = tempfile::tempdir().unwrap();
        mark_failed(dir.path(), HOST, "timeout").unwrap();
        let old = SystemTime::now() - Duration::from_secs(120);
        File::options()
            .write(true)
            .open(backoff_path(dir.path(), HOST))
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert!(!is_backed_off(dir.path(), HOST, MINUTE));
        assert!(is_backed_off(dir.path(), HOST, Duration::from_secs(600)));
    }

    #[test]
    fn remark_replaces_record_and_list_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        assert!(list(dir.path()).is_empty());
        assert!(list(&dir.path().join("missing")).is_empty());
        mark_failed(dir.path(), HOST, "first").unwrap();
        mark_failed(dir.path(), HOST, "second\nline").unwrap();
        mark_failed(dir.path(), "b:1", "refused").unwrap();
        fs::write(dir.path().join("unrelated"), "").unwrap();

        let got = list(dir.path());
        let summary: Vec<(&str, &str)> = got
            .iter()
            .map(|(k, _, w)| (k.as_str(), w.as_str()))
            .collect();
        assert_eq!(summary, [(HOST, "second line"), ("b:1", "refused")]);
        let age = SystemTime::now()
            .duration_since(got[0].1)
            .unwrap_or_default();
        assert!(age < MINUTE);
        // No temporary files are left behind by the atomic replace.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
    }
}
