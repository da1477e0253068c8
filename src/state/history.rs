//! The record of finished jobs, `$DISTCC_DIR/state/history`: one line per
//! job, appended by every client process of a user, read by the monitor
//! for its "done/failed" counts, its jobs-per-second rate and `--summary`.
//!
//! Many clients append at once without a lock: the file is opened with
//! `O_APPEND` and each record is one `write` shorter than `PIPE_BUF`, which
//! the kernel appends whole. Nothing is synced; a crash may lose the last
//! lines, which only makes a summary slightly short. The live job files are
//! `running`'s; this module owns only the finished-job format.
//!
//! The file rotates at [`ROTATE_AT`] bytes to `history.old` (a rename, so
//! appenders holding the old file just finish their line there); readers
//! take both, so a summary spans at least that much history.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::phase::{Phase, PHASES};
use crate::protocol::note::CacheUse;

const FILE: &str = "history";
const OLD: &str = "history.old";
/// Size at which the history moves aside, bounding the disk it uses.
pub const ROTATE_AT: u64 = 4 << 20;
/// One record must fit one atomic append (`PIPE_BUF` on Linux is 4096).
const MAX_LINE: usize = 4000;
const VERSION: &str = "v3";
/// Lines from before the cache field, still read.
const VERSION_2: &str = "v2";
/// Lines from before the listing field, still read.
const VERSION_1: &str = "v1";

/// How an exact-mode job found the unit's files (`None` in a record: the
/// job shipped no file list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// The include scanner's list, verified by the server's read list.
    Scanned,
    /// The scanner could not tell; the compiler's own `-M` listing.
    ScanFallback,
    /// The scanned job's read list did not verify: redone with `-M`.
    ScannerMiss,
}

impl Listing {
    pub fn word(self) -> &'static str {
        match self {
            Listing::Scanned => "scan",
            Listing::ScanFallback => "scan-fallback",
            Listing::ScannerMiss => "scanner-miss",
        }
    }

    fn parse(word: &str) -> Option<Option<Listing>> {
        Some(match word {
            "" => None,
            "scan" => Some(Listing::Scanned),
            "scan-fallback" => Some(Listing::ScanFallback),
            "scanner-miss" => Some(Listing::ScannerMiss),
            _ => return None,
        })
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A volunteer ran the compiler; the status says if the code compiled.
    Remote,
    /// Compiled here by decision (the text says why).
    Local(String),
    /// Distribution failed and the job was compiled here (why it failed).
    Fallback(String),
    /// Distribution failed and nothing was compiled (`DISTCC_FALLBACK=0`,
    /// or an error before the compiler ran).
    Failed(String),
}

impl Outcome {
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Remote => "remote",
            Outcome::Local(_) => "local",
            Outcome::Fallback(_) => "fallback",
            Outcome::Failed(_) => "failed",
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Outcome::Remote => "",
            Outcome::Local(r) | Outcome::Fallback(r) | Outcome::Failed(r) => r,
        }
    }

    fn parse(word: &str, reason: &str) -> Option<Outcome> {
        let r = reason.to_string();
        Some(match word {
            "remote" => Outcome::Remote,
            "local" => Outcome::Local(r),
            "fallback" => Outcome::Fallback(r),
            "failed" => Outcome::Failed(r),
            _ => return None,
        })
    }
}

/// One finished job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub end: SystemTime,
    pub pid: u32,
    /// The host key (`Host::key`) that ran it; `localhost` when run here.
    pub host: String,
    pub outcome: Outcome,
    /// The compiler's exit status (or distcc's code for a failure).
    pub status: u8,
    /// Time spent in each phase, indexed by `Phase as usize`.
    pub spent: [Duration; PHASES],
    pub total: Duration,
    /// Hosts that failed this job before it ended elsewhere.
    pub tried: Vec<String>,
    /// How an exact-mode job listed its files.
    pub listing: Option<Listing>,
    /// What the volunteer's result cache did, when its reply said.
    pub cache: Option<CacheUse>,
    pub source: String,
}

/// Tabs and line breaks would split the record; the rest is kept.
fn clean(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() > max {
        let mut cut = max;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

fn millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl Record {
    /// The one-line form: tab-separated, a version first, free text last.
    pub fn to_line(&self) -> String {
        let spent: Vec<String> = self
            .spent
            .iter()
            .map(|d| d.as_millis().to_string())
            .collect();
        let mut line = format!(
            "{VERSION}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t",
            millis(self.end),
            self.pid,
            clean(&self.host, 300),
            self.outcome.word(),
            self.status,
            spent.join(","),
            self.total.as_millis(),
            clean(&self.tried.join(","), 600),
            self.listing.map_or("", Listing::word),
            self.cache.map_or("", CacheUse::word),
            clean(&self.source, 1000),
        );
        let room = MAX_LINE - 1 - line.len().min(MAX_LINE - 1);
        line.push_str(&clean(self.outcome.reason(), room));
        line.push('\n');
        line
    }

    /// Parses a line written by [`Record::to_line`]; `None` for anything
    /// else, so a reader skips torn or foreign lines.
    pub fn parse(line: &str) -> Option<Record> {
        let line = line.trim_end_matches('\n');
        let mut f: Vec<&str> = line.splitn(13, '\t').collect();
        let (listing, cache) = match f.first() {
            Some(&VERSION) if f.len() == 13 => {
                let cache = match f.remove(10) {
                    "" => None,
                    word => Some(CacheUse::parse(word)?),
                };
                (Listing::parse(f.remove(9))?, cache)
            }
            Some(&VERSION_2) => {
                f = line.splitn(12, '\t').collect();
                if f.len() != 12 {
                    return None;
                }
                (Listing::parse(f.remove(9))?, None)
            }
            Some(&VERSION_1) => {
                f = line.splitn(11, '\t').collect();
                (None, None)
            }
            _ => return None,
        };
        if f.len() != 11 {
            return None;
        }
        let ms: Vec<u64> = f[6]
            .split(',')
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        let mut spent = [Duration::ZERO; PHASES];
        for (s, m) in spent.iter_mut().zip(&ms) {
            *s = Duration::from_millis(*m);
        }
        Some(Record {
            end: from_millis(f[1].parse().ok()?),
            pid: f[2].parse().ok()?,
            host: f[3].to_string(),
            outcome: Outcome::parse(f[4], f[10])?,
            status: f[5].parse().ok()?,
            spent,
            total: Duration::from_millis(f[7].parse().ok()?),
            tried: f[8]
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            listing,
            cache,
            source: f[9].to_string(),
        })
    }

    pub fn spent_in(&self, phase: Phase) -> Duration {
        self.spent[phase as usize]
    }
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Appends `record` in one write. `dir` must exist (the job file made it).
pub fn append(dir: &Path, record: &Record) -> Result<()> {
    let p = path(dir);
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&p)
        .with_context(|| format!("opening {}", p.display()))?;
    f.write_all(record.to_line().as_bytes())
        .with_context(|| format!("appending to {}", p.display()))?;
    if f.metadata().is_ok_and(|m| m.len() > ROTATE_AT) {
        // Racing rotators both rename; the loser's rename moves an almost
        // empty new file over the old one, losing a few lines at worst.
        fs::rename(&p, dir.join(OLD)).ok();
    }
    Ok(())
}

/// Every record ending at or after `since`, oldest first.
pub fn read(dir: &Path, since: Option<SystemTime>) -> Vec<Record> {
    let mut out = Vec::new();
    for name in [OLD, FILE] {
        if let Ok(text) = fs::read_to_string(dir.join(name)) {
            out.extend(parse_all(&text, since));
        }
    }
    out
}

fn parse_all(text: &str, since: Option<SystemTime>) -> impl Iterator<Item = Record> + '_ {
    text.lines()
        .filter_map(Record::parse)
        .filter(move |r| since.is_none_or(|s| r.end >= s))
}

/// Forgets all history (`distccmon-text --summary --reset`).
pub fn reset(dir: &Path) -> Result<()> {
    for name in [FILE, OLD] {
        match fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", dir.join(name).display()))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The `DISTCC_STATS=1` line: where the job went and where its time went.
pub fn stats_line(r: &Record) -> String {
    let mut s = format!("distcc: stats: {}: {}", r.source, r.outcome.word());
    if !r.host.is_empty() {
        s.push_str(&format!(" on {}", r.host));
    }
    s.push_str(&format!(", status {}", r.status));
    if !r.tried.is_empty() {
        s.push_str(&format!(", failed on {}", r.tried.join(",")));
    }
    if !r.outcome.reason().is_empty() {
        s.push_str(&format!(" ({})", r.outcome.reason()));
    }
    if let Some(l) = r.listing {
        s.push_str(&format!(", files by {}", l.word()));
    }
    match r.cache {
        Some(CacheUse::Hit) => s.push_str(", from its cache"),
        Some(CacheUse::Miss) => s.push_str(", not in its cache"),
        _ => {}
    }
    for p in Phase::ALL {
        let d = r.spent_in(p);
        if !d.is_zero() {
            s.push_str(&format!(
                ", {} {} ms",
                p.name().to_lowercase(),
                d.as_millis()
            ));
        }
    }
    s.push_str(&format!(", total {} ms", r.total.as_millis()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(host: &str, outcome: Outcome) -> Record {
        let mut spent = [Duration::ZERO; PHASES];
        spent[Phase::Compile as usize] = Duration::from_millis(120);
        spent[Phase::Preprocess as usize] = Duration::from_millis(7);
        Record {
            end: from_millis(1_700_000_000_123),
            pid: 4242,
            host: host.into(),
            outcome,
            status: 0,
            spent,
            total: Duration::from_millis(130),
            tried: vec!["10.0.0.9:3632".into()],
            listing: None,
            cache: None,
            source: "dir/hello world.c".into(),
        }
    }

    #[test]
    fn round_trip() {
        for outcome in [
            Outcome::Remote,
            Outcome::Local("linking".into()),
            Outcome::Fallback("10.0.0.9:3632: connection refused".into()),
            Outcome::Failed("no hosts".into()),
        ] {
            let r = record("127.0.0.1:3632", outcome);
            let line = r.to_line();
            assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
            assert_eq!(Record::parse(&line), Some(r));
        }
        for listing in [
            Listing::Scanned,
            Listing::ScanFallback,
            Listing::ScannerMiss,
        ] {
            let mut r = record("h:1", Outcome::Remote);
            r.listing = Some(listing);
            assert_eq!(Record::parse(&r.to_line()), Some(r));
        }
        for cache in [CacheUse::Hit, CacheUse::Miss, CacheUse::Off] {
            let mut r = record("h:1", Outcome::Remote);
            r.cache = Some(cache);
            assert_eq!(Record::parse(&r.to_line()), Some(r));
        }
    }

    #[test]
    fn older_lines_are_still_read() {
        let line = "v1\t1700000000123\t42\th:1\tremote\t0\t0,1\t5\t\tx.c\t\n";
        let r = Record::parse(line).unwrap();
        assert_eq!((r.source.as_str(), r.listing), ("x.c", None));
        let line = "v2\t1700000000123\t42\th:1\tremote\t0\t0,1\t5\t\tscan\tx.c\t\n";
        let r = Record::parse(line).unwrap();
        assert_eq!(
            (r.source.as_str(), r.listing, r.cache),
            ("x.c", Some(Listing::Scanned), None)
        );
    }

    #[test]
    fn hostile_text_stays_on_one_line_and_short() {
        let mut r = record("h:1", Outcome::Fallback("a\tb\nc".repeat(2000)));
        r.source = "x\ny\tz.c".into();
        let line = r.to_line();
        assert!(line.len() <= MAX_LINE, "{}", line.len());
        assert_eq!(line.matches('\n').count(), 1);
        let back = Record::parse(&line).unwrap();
        assert_eq!(back.source, "x y z.c");
        assert!(back.outcome.reason().starts_with("a b c"));
    }

    #[test]
    fn garbage_is_skipped() {
        for line in ["", "v0\t1", "v1\tx\t1\th\tremote\t0\t1\t1\t\ts\t", "hello"] {
            assert_eq!(Record::parse(line), None, "{line:?}");
        }
    }

    #[test]
    fn append_read_reset() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path(), None).is_empty());
        let a = record("a:1", Outcome::Remote);
        let mut b = record("b:1", Outcome::Local("linking".into()));
        b.end = a.end + Duration::from_secs(60);
        append(dir.path(), &a).unwrap();
        append(dir.path(), &b).unwrap();
        assert_eq!(read(dir.path(), None), [a.clone(), b.clone()]);
        assert_eq!(read(dir.path(), Some(b.end)), [b.clone()]);
        reset(dir.path()).unwrap();
        assert!(read(dir.path(), None).is_empty());
        reset(dir.path()).unwrap();
    }

    #[test]
    fn rotation_keeps_recent_history_readable() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(path(dir.path()), "#\n".repeat(ROTATE_AT as usize / 2)).unwrap();
        let a = record("a:1", Outcome::Remote);
        append(dir.path(), &a).unwrap();
        assert!(!path(dir.path()).exists());
        append(dir.path(), &a).unwrap();
        assert_eq!(read(dir.path(), None), [a.clone(), a]);
    }

    #[test]
    fn stats_line_names_host_and_phases() {
        let mut r = record("h:1", Outcome::Remote);
        r.tried.clear();
        assert_eq!(
            stats_line(&r),
            "distcc: stats: dir/hello world.c: remote on h:1, status 0, \
             preprocess 7 ms, compile 120 ms, total 130 ms"
        );
        let r = record("localhost", Outcome::Fallback("h:2: refused".into()));
        assert!(stats_line(&r).contains(", failed on 10.0.0.9:3632 (h:2: refused)"));
        let mut r = record("h:1", Outcome::Remote);
        r.cache = Some(CacheUse::Hit);
        assert!(stats_line(&r).contains(", status 0, failed on 10.0.0.9:3632, from its cache"));
        r.cache = Some(CacheUse::Off);
        assert!(!stats_line(&r).contains("cache"), "no cache, nothing said");
    }
}
