//! What each running client is doing, for `distccmon-text`: a record in
//! the client's slot (`slot`) in `$DISTCC_DIR/state`, rewritten at every
//! phase change and blanked when the job ends ([`JobState`] writes it,
//! [`list`] reads them). The finished-job record is `history`'s; backoff
//! records, in the same directory, are `backoff`'s; the phases are
//! `phase`'s.
//!
//! The client pays one `pwrite` per phase change (a handful per job),
//! nothing synced, and creates no file: slots are reused, and a record
//! is padded to a fixed length, so no write leaves a stale tail. A reader
//! trusts a record only while its slot is held, so a client killed
//! outright leaves nothing a monitor shows. Failing to record is never
//! the job's problem: the first failed write turns recording off for the
//! rest of the process. Files `job_<pid>` of earlier versions are still
//! read, and deleted once their process is gone.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use super::history::{self, Listing, Outcome, Record};
use super::phase::{Phase, PHASES};
use super::slot::{self, Slot};
use crate::protocol::note::CacheUse;
use crate::settings::Settings;

const PREFIX: &str = "job_";
const VERSION: &str = "v1";
const HOST_MAX: usize = 200;

/// A running job as a monitor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub pid: u32,
    pub phase: Phase,
    /// The host key (`Host::key`), `localhost`, or empty before a pick.
    pub host: String,
    pub slot: u32,
    pub started: SystemTime,
    pub phase_since: SystemTime,
    pub source: String,
}

fn millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

fn clean(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

impl Running {
    pub fn to_line(&self) -> String {
        format!(
            "{VERSION}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            self.pid,
            self.phase.name(),
            clean(&self.host, HOST_MAX),
            self.slot,
            millis(self.started),
            millis(self.phase_since),
            clean(&self.source, 1000)
        )
    }

    /// Parses a record, ignoring the padding after it.
    pub fn parse(text: &str) -> Option<Running> {
        let line = text.strip_suffix('\n')?.trim_end_matches(' ');
        let f: Vec<&str> = line.splitn(8, '\t').collect();
        if f.len() != 8 || f[0] != VERSION {
            return None;
        }
        let at = |s: &str| {
            s.parse()
                .ok()
                .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
        };
        Some(Running {
            pid: f[1].parse().ok()?,
            phase: Phase::from_name(f[2])?,
            host: f[3].to_string(),
            slot: f[4].parse().ok()?,
            started: at(f[5])?,
            phase_since: at(f[6])?,
            source: f[7].to_string(),
        })
    }
}

pub fn job_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{PREFIX}{pid}"))
}

/// Two identical reads that parse: a record not being rewritten meanwhile.
fn read_stable(path: &Path) -> Option<Running> {
    for _ in 0..3 {
        let a = fs::read(path).ok()?;
        let b = fs::read(path).ok()?;
        if a == b {
            return Running::parse(std::str::from_utf8(&a).ok()?);
        }
    }
    None
}

/// Every job whose client is still running, oldest first. Files left by
/// clients that died are deleted on the way.
pub fn list(dir: &Path) -> Vec<Running> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(slot::PREFIX) {
            let job = slot::held_record(&entry.path())
                .and_then(|r| Running::parse(std::str::from_utf8(&r).ok()?))
                .filter(|j| crate::sys::process_exists(j.pid));
            out.extend(job);
            continue;
        }
        // A job file of an earlier version.
        let Some(Ok(pid)) = name.strip_prefix(PREFIX).map(str::parse::<u32>) else {
            continue;
        };
        if !crate::sys::process_exists(pid) {
            fs::remove_file(entry.path()).ok();
            continue;
        }
        if let Some(job) = read_stable(&entry.path()).filter(|j| j.pid == pid) {
            out.push(job);
        }
    }
    out.sort_by(|a, b| a.started.cmp(&b.started).then(a.pid.cmp(&b.pid)));
    out
}

/// The name a monitor shows for a job that has no single source file.
pub fn source_of(args: &[std::ffi::OsString]) -> String {
    args.iter()
        .find(|a| crate::args::Lang::from_path(a).is_some())
        .or_else(|| args.iter().find(|a| !a.to_string_lossy().starts_with('-')))
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The recorder a client holds for its one job. Methods take `&self` so
/// the client can call them from anywhere it already has a shared borrow.
pub struct JobState {
    inner: RefCell<Inner>,
}

struct Inner {
    dir: PathBuf,
    recording: bool,
    stats: bool,
    job: Running,
    started: Instant,
    phase_start: Option<Instant>,
    spent: [Duration; PHASES],
    tried: Vec<String>,
    outcome: Option<Outcome>,
    listing: Option<Listing>,
    /// What the volunteer's result cache did with the job, as its reply
    /// said (`protocol::note`).
    cache: Option<CacheUse>,
    /// The slot once taken.
    file: Option<&'static Slot>,
}

impl JobState {
    /// Prepares the record; nothing is written until the first phase.
    pub fn start(settings: &Settings, source: &OsStr) -> JobState {
        JobState::in_dir(super::paths::dir(settings), settings.stats, source)
    }

    pub fn in_dir(dir: PathBuf, stats: bool, source: &OsStr) -> JobState {
        let now = SystemTime::now();
        JobState {
            inner: RefCell::new(Inner {
                dir,
                recording: true,
                stats,
                job: Running {
                    pid: std::process::id(),
                    phase: Phase::Blocked,
                    host: String::new(),
                    slot: 0,
                    started: now,
                    phase_since: now,
                    source: source.to_string_lossy().into_owned(),
                },
                started: Instant::now(),
                phase_start: None,
                spent: [Duration::ZERO; PHASES],
                tried: Vec::new(),
                outcome: None,
                listing: None,
                cache: None,
                file: None,
            }),
        }
    }

    /// Enters `phase`, charging the time since the last change to the
    /// phase being left.
    pub fn phase(&self, phase: Phase) {
        let mut i = self.inner.borrow_mut();
        i.account();
        i.job.phase = phase;
        i.job.phase_since = SystemTime::now();
        i.write();
    }

    /// The host and slot the job now runs on; shown from the next phase.
    pub fn host(&self, key: &str, slot: u32) {
        let mut i = self.inner.borrow_mut();
        i.job.host = key.to_string();
        i.job.slot = slot;
    }

    /// The current host failed this job (it may go on elsewhere).
    pub fn host_failed(&self) {
        let mut i = self.inner.borrow_mut();
        let host = std::mem::take(&mut i.job.host);
        i.tried.push(host);
    }

    /// The job compiles here by decision.
    pub fn local(&self, why: &str) {
        {
            let mut i = self.inner.borrow_mut();
            i.outcome = Some(Outcome::Local(why.to_string()));
            i.job.host = "localhost".into();
            i.cache = None;
        }
        self.phase(Phase::Local);
    }

    /// Distribution failed; the job compiles here if fallback allows.
    pub fn fallback(&self, why: &str) {
        {
            let mut i = self.inner.borrow_mut();
            i.outcome = Some(Outcome::Fallback(why.to_string()));
            i.job.host = "localhost".into();
            i.cache = None;
            i.job.slot = 0;
        }
        self.phase(Phase::Fallback);
    }

    /// How the job's files were listed; a later word (a scanner miss
    /// after a scan) replaces an earlier one.
    pub fn listing(&self, how: Listing) {
        self.inner.borrow_mut().listing = Some(how);
    }

    /// The job went on without its file list (classic distcc after all).
    pub fn no_listing(&self) {
        self.inner.borrow_mut().listing = None;
    }

    /// What the current host's result cache did, as its last reply said
    /// (`None`: it said nothing).
    pub fn cache(&self, used: Option<CacheUse>) {
        self.inner.borrow_mut().cache = used;
    }

    /// Whether a scanned listing of this job has missed a file already.
    pub fn had_scanner_miss(&self) -> bool {
        self.inner.borrow().listing == Some(Listing::ScannerMiss)
    }

    /// The job got its status from the remote path: a volunteer ran the
    /// compiler, unless the local preprocessor already failed it.
    pub fn remote_done(&self) {
        self.inner
            .borrow_mut()
            .outcome
            .get_or_insert(Outcome::Remote);
    }

    /// Ends the job: appends its history line, prints the `DISTCC_STATS`
    /// line, removes the job file. Passes `result` through.
    pub fn finish(self, result: Result<u8>) -> Result<u8> {
        let mut i = self.inner.borrow_mut();
        i.account();
        let (status, outcome) = match &result {
            Ok(code) => (*code, i.outcome.take().unwrap_or(Outcome::Remote)),
            Err(e) => {
                let why = match i.outcome.take() {
                    Some(Outcome::Fallback(why)) => format!("{why}; then {e:#}"),
                    _ => format!("{e:#}"),
                };
                (crate::protocol::exit_code(e).as_u8(), Outcome::Failed(why))
            }
        };
        if matches!(outcome, Outcome::Failed(_)) && i.job.host.is_empty() {
            i.job.host = "localhost".into();
        }
        let record = Record {
            end: SystemTime::now(),
            pid: i.job.pid,
            host: i.job.host.clone(),
            outcome,
            status,
            spent: i.spent,
            total: i.started.elapsed(),
            tried: std::mem::take(&mut i.tried),
            listing: i.listing,
            cache: i.cache,
            source: i.job.source.clone(),
        };
        if i.recording && i.file.is_some() {
            if let Err(e) = history::append(&i.dir, &record) {
                log::debug!("not recording job history: {e:#}");
            }
        }
        if i.stats {
            eprintln!("{}", history::stats_line(&record));
        }
        i.remove();
        result
    }
}

impl Inner {
    fn account(&mut self) {
        let now = Instant::now();
        if let Some(since) = self.phase_start {
            self.spent[self.job.phase as usize] += now - since;
        }
        self.phase_start = Some(now);
    }

    fn write(&mut self) {
        if !self.recording {
            return;
        }
        let line = self.job.to_line();
        if self.file.is_none() {
            match slot::ours(&self.dir) {
                Some(s) => self.file = Some(s),
                None => {
                    self.recording = false;
                    return;
                }
            }
        }
        let Some(s) = self.file else { return };
        if let Err(e) = s.write_record(line.as_bytes()) {
            log::debug!("not recording job state: {e}");
            self.recording = false;
        }
    }

    fn remove(&mut self) {
        if let Some(s) = self.file.take() {
            s.write_record(b"").ok();
        }
    }
}

impl Drop for JobState {
    fn drop(&mut self) {
        self.inner.get_mut().remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit;

    fn sample() -> Running {
        Running {
            pid: 77,
            phase: Phase::Compile,
            host: "127.0.0.1:3632".into(),
            slot: 3,
            started: UNIX_EPOCH + Duration::from_millis(1_700_000_000_000),
            phase_since: UNIX_EPOCH + Duration::from_millis(1_700_000_000_250),
            source: "src/a b.c".into(),
        }
    }

    #[test]
    fn job_line_round_trip_and_rejects() {
        let j = sample();
        assert_eq!(Running::parse(&j.to_line()), Some(j.clone()));
        let line = j.to_line();
        // A file cut short (no newline) or from another version is skipped.
        assert_eq!(Running::parse(line.trim_end()), None);
        assert_eq!(Running::parse(&line.replacen("v1", "v9", 1)), None);
        assert_eq!(Running::parse(&line.replace("Compile", "Nap")), None);
        for p in Phase::ALL {
            assert_eq!(Phase::from_name(p.name()), Some(p));
        }
    }

    #[test]
    fn lifecycle_writes_lists_and_cleans_up() {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("state");
        let st = JobState::in_dir(dir.clone(), false, OsStr::new("hello.c"));
        assert!(list(&dir).is_empty());
        st.phase(Phase::Blocked);
        st.host(&"long-host-name".repeat(20), 12345);
        st.phase(Phase::Connect);
        // A shorter record overwrites the longer one in place, whole.
        st.host("h:1", 2);
        st.phase(Phase::Compile);
        let jobs = list(&dir);
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (
                jobs[0].pid,
                jobs[0].phase,
                jobs[0].host.as_str(),
                jobs[0].slot
            ),
            (std::process::id(), Phase::Compile, "h:1", 2)
        );
        assert_eq!(jobs[0].source, "hello.c");
        st.remote_done();
        assert_eq!(st.finish(Ok(1)).unwrap(), 1);
        assert!(list(&dir).is_empty());
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        // The slot stays, for the next client; nothing else was made.
        assert_eq!(names, ["history", "slot_0"]);
        let h = history::read(&dir, None);
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].outcome.clone(), h[0].status), (Outcome::Remote, 1));
        assert_eq!(h[0].host, "h:1");
    }

    #[test]
    fn fallback_then_error_is_a_failure_and_drop_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let st = JobState::in_dir(dir.path().into(), false, OsStr::new("x.c"));
        st.host("h:1", 0);
        st.phase(Phase::Connect);
        st.host_failed();
        st.fallback("h:1: refused");
        let err = anyhow::anyhow!(exit::Code::ConnectFailed).context("refused");
        assert!(st.finish(Err(err)).is_err());
        let h = history::read(dir.path(), None);
        assert_eq!(h[0].tried, ["h:1"]);
        assert_eq!(h[0].status, 103);
        assert!(matches!(&h[0].outcome, Outcome::Failed(w) if w.contains("h:1: refused")));

        let st = JobState::in_dir(dir.path().into(), false, OsStr::new("y.c"));
        st.local("linking");
        assert_eq!(list(dir.path()).len(), 1);
        drop(st);
        assert!(list(dir.path()).is_empty());
    }

    #[test]
    fn files_of_dead_processes_are_ignored_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        // Pids above the kernel's maximum (4194304) never exist.
        let dead = 999_999_999;
        let mut j = sample();
        j.pid = dead;
        fs::write(job_path(dir.path(), dead), j.to_line()).unwrap();
        fs::write(dir.path().join("job_notapid"), "x").unwrap();
        assert!(list(dir.path()).is_empty());
        assert!(!job_path(dir.path(), dead).exists());
        assert!(dir.path().join("job_notapid").exists());
    }

    #[test]
    fn unwritable_dir_turns_recording_off() {
        let top = tempfile::tempdir().unwrap();
        let file = top.path().join("plainfile");
        fs::write(&file, "").unwrap();
        let st = JobState::in_dir(file.join("state"), false, OsStr::new("a.c"));
        st.phase(Phase::Local);
        st.phase(Phase::Compile);
        assert!(!st.inner.borrow().recording);
        assert_eq!(st.finish(Ok(0)).unwrap(), 0);
    }

    #[test]
    fn source_guess() {
        let args: Vec<std::ffi::OsString> = ["-o", "prog", "main.o", "x.c"]
            .iter()
            .map(Into::into)
            .collect();
        assert_eq!(source_of(&args), "x.c");
        assert_eq!(source_of(&args[..3]), "prog");
    }
}
