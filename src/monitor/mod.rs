//! `distccmon-text`: where the jobs of a build are right now, and where
//! they went.
//!
//! It reads what the clients leave in `$DISTCC_DIR/state`: one file per
//! running job (`state::running`), the history of finished jobs
//! (`state::history`, counted incrementally by `tally`) and the backoff
//! records (`state::backoff`); host limits come from the same host list
//! the client reads (`hosts::load`). It imports no role. `text` prints plain lines as
//! the reference does, `live` draws the full-screen view on a terminal,
//! `summary` answers `--summary`. The monitor never talks to a daemon.

pub mod live;
pub mod summary;
pub mod tally;
pub mod text;

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context as _, Result};

use crate::exit::Code;
use crate::hosts;
use crate::settings::Settings;
use crate::state::{self, backoff, history, Running};
use tally::Tally;

const USAGE: &str = "\
Usage:
   distccmon-text [--plain] [DELAY]
   distccmon-text --summary [--since[=]SECONDS] [--reset]
   distccmon-text --help | --version

   Shows the distcc jobs running for this user ($DISTCC_DIR, default
   ~/.distcc), one line each: PID, phase, source file, HOST[SLOT]; then one
   line per host: busy slots of its limit, jobs done, failures, backoff.

   DELAY      refresh every DELAY seconds (fractions allowed); without it,
              print once. On a terminal the view is full-screen and
              refreshes every second unless DELAY says otherwise; q or
              Ctrl-C quits.
   --plain    plain lines even on a terminal
   --summary  what went where: jobs per host, local and remote, why jobs
              fell back, time per phase (from $DISTCC_DIR/state/history)
   --since S  only jobs that finished in the last S seconds
   --reset    forget the history (after printing the summary)
";

#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Watch {
        delay: Option<Duration>,
        plain: bool,
    },
    Summary {
        since: Option<Duration>,
        reset: bool,
    },
    Help,
    Version,
}

fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("not a number of seconds: {text:?}"))
}

fn parse(args: &[OsString]) -> Result<Mode, String> {
    let mut delay = None;
    let mut plain = false;
    let mut summary = false;
    let mut since = None;
    let mut reset = false;
    let mut it = args.iter().map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        match a.as_ref() {
            "-h" | "--help" => return Ok(Mode::Help),
            "--version" => return Ok(Mode::Version),
            "--plain" => plain = true,
            "--summary" => summary = true,
            "--reset" => reset = true,
            "--since" => {
                let v = it.next().ok_or("--since needs a number of seconds")?;
                since = Some(seconds(&v)?);
            }
            // popt's other spelling, which distcc's tools accept everywhere.
            s if s.starts_with("--since=") => since = Some(seconds(&s["--since=".len()..])?),
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            s if delay.is_none() => delay = Some(seconds(s)?).filter(|d| !d.is_zero()),
            s => return Err(format!("unexpected argument {s:?}")),
        }
    }
    if summary {
        if delay.is_some() || plain {
            return Err("--summary takes no DELAY or --plain".into());
        }
        Ok(Mode::Summary { since, reset })
    } else if since.is_some() || reset {
        Err("--since and --reset go with --summary".into())
    } else {
        Ok(Mode::Watch { delay, plain })
    }
}

pub fn main(args: &[OsString]) -> Result<u8> {
    let mode = parse(args).map_err(|e| {
        eprint!("{USAGE}");
        anyhow!(Code::BadArguments).context(e)
    })?;
    let settings = Settings::from_env();
    let dir = state::dir(&settings);
    match mode {
        Mode::Help => {
            print!("{USAGE}");
            Ok(0)
        }
        Mode::Version => {
            println!("distccmon-text {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Mode::Summary { since, reset } => {
            let now = SystemTime::now();
            let records = history::read(&dir, since.map(|s| now - s));
            print!("{}", summary::render(&records, now));
            if reset {
                history::reset(&dir)?;
            }
            Ok(0)
        }
        Mode::Watch { delay, plain } => {
            let mut view = View::new(&settings, dir)?;
            if !plain && io::stdout().is_terminal() {
                live::run(&mut view, delay.unwrap_or(Duration::from_secs(1)))?;
            } else {
                watch_plain(&mut view, delay)?;
            }
            Ok(0)
        }
    }
}

/// Plain lines, once or every `delay`; each block of a repeated listing
/// ends with a blank line, as in the reference.
fn watch_plain(view: &mut View, delay: Option<Duration>) -> Result<()> {
    loop {
        let snap = view.snapshot();
        let mut block = text::plain(&snap);
        if delay.is_some() {
            block.push('\n');
        }
        let mut out = io::stdout().lock();
        match out.write_all(block.as_bytes()).and_then(|_| out.flush()) {
            // Whoever read us (`head`, a closed pager) has had enough.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            r => r.context("writing to stdout")?,
        }
        drop(out);
        match delay {
            Some(d) => std::thread::sleep(d),
            None => return Ok(()),
        }
    }
}

/// One host as the monitor shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostView {
    /// The host key (`Host::key`), as in job files.
    pub key: String,
    /// Its job limit from the host list; `None` if it is not listed.
    pub limit: Option<u32>,
    pub busy: u32,
    pub done: u64,
    pub failed: u64,
    /// Seconds of backoff left, and the failure that caused it.
    pub backoff: Option<(Duration, String)>,
}

/// Everything one frame shows.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub now: SystemTime,
    pub jobs: Vec<Running>,
    pub hosts: Vec<HostView>,
    /// Jobs finished per second over `tally::RATE_WINDOW`.
    pub rate: f64,
}

/// What the monitor reads once (the host list) and keeps between frames
/// (the history tally).
pub struct View {
    dir: PathBuf,
    configured: Vec<(String, u32)>,
    backoff_period: Duration,
    tally: Tally,
}

impl View {
    pub fn new(settings: &Settings, dir: PathBuf) -> Result<View> {
        let mut configured: Vec<(String, u32)> = Vec::new();
        // A broken host list is the client's error to report; the monitor
        // still shows the jobs it can see.
        if let Ok(Some(loaded)) = hosts::load(settings) {
            for h in &loaded.list.hosts {
                let k = h.key();
                match configured.iter_mut().find(|(c, _)| *c == k) {
                    Some((_, limit)) => *limit = (*limit).max(h.limit),
                    None => configured.push((k, h.limit)),
                }
            }
        }
        Ok(View {
            tally: Tally::new(&dir),
            dir,
            configured,
            backoff_period: settings.backoff_period,
        })
    }

    pub fn snapshot(&mut self) -> Snapshot {
        let now = SystemTime::now();
        let jobs = state::list(&self.dir);
        self.tally.refresh();
        let mut hosts: Vec<HostView> = self
            .configured
            .iter()
            .map(|(k, l)| HostView {
                key: k.clone(),
                limit: Some(*l),
                busy: 0,
                done: 0,
                failed: 0,
                backoff: None,
            })
            .collect();
        let row = |hosts: &mut Vec<HostView>, key: &str| -> usize {
            if let Some(i) = hosts.iter().position(|h| h.key == key) {
                return i;
            }
            hosts.push(HostView {
                key: key.to_string(),
                limit: None,
                busy: 0,
                done: 0,
                failed: 0,
                backoff: None,
            });
            hosts.len() - 1
        };
        for j in jobs.iter().filter(|j| !j.host.is_empty()) {
            let i = row(&mut hosts, &j.host);
            hosts[i].busy += 1;
        }
        for (key, c) in &self.tally.hosts {
            let i = row(&mut hosts, key);
            hosts[i].done = c.done;
            hosts[i].failed = c.failed;
        }
        if !self.backoff_period.is_zero() {
            for (key, since, why) in backoff::list(&self.dir) {
                let until = since + self.backoff_period;
                if let Ok(left) = until.duration_since(now) {
                    let i = row(&mut hosts, &key);
                    hosts[i].backoff = Some((left, why));
                }
            }
        }
        Snapshot {
            rate: self.tally.rate(now),
            now,
            jobs,
            hosts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(Into::into).collect()
    }

    #[test]
    fn arguments() {
        let watch = |delay: Option<f64>, plain| Mode::Watch {
            delay: delay.map(Duration::from_secs_f64),
            plain,
        };
        let cases: &[(&[&str], Mode)] = &[
            (&[], watch(None, false)),
            (&["2"], watch(Some(2.0), false)),
            (&["0.5", "--plain"], watch(Some(0.5), true)),
            (&["0"], watch(None, false)),
            (&["--help", "x"], Mode::Help),
            (
                &["--summary"],
                Mode::Summary {
                    since: None,
                    reset: false,
                },
            ),
            (
                &["--summary", "--since", "60", "--reset"],
                Mode::Summary {
                    since: Some(Duration::from_secs(60)),
                    reset: true,
                },
            ),
            (
                &["--since=1.5", "--summary"],
                Mode::Summary {
                    since: Some(Duration::from_secs_f64(1.5)),
                    reset: false,
                },
            ),
        ];
        for (a, want) in cases {
            assert_eq!(parse(&args(a)).as_ref(), Ok(want), "{a:?}");
        }
        for bad in [
            &["x"][..],
            &["-1"],
            &["1", "2"],
            &["--since", "5"],
            &["--summary", "3"],
            &["--summary", "--since"],
            &["--summary", "--since="],
            &["--summary", "--since=x"],
            &["--bogus"],
            &["nan"],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn snapshot_merges_list_jobs_history_and_backoff() {
        let top = tempfile::tempdir().unwrap();
        let settings = Settings::from_lookup(|name| match name {
            "DISTCC_HOSTS" => Some("a:1/2 b:2/3 localhost/1".into()),
            "DISTCC_DIR" => Some(top.path().into()),
            _ => None,
        });
        let dir = state::dir(&settings);
        let job = state::JobState::in_dir(dir.clone(), false, "x.c".as_ref());
        job.host("a:1", 1);
        job.phase(state::Phase::Compile);
        backoff::mark_failed(&dir, "c:3", "refused").unwrap();
        let mut view = View::new(&settings, dir).unwrap();
        let snap = view.snapshot();
        assert_eq!(snap.jobs.len(), 1);
        let keys: Vec<_> = snap.hosts.iter().map(|h| h.key.as_str()).collect();
        assert_eq!(keys, ["a:1", "b:2", "localhost", "c:3"]);
        assert_eq!((snap.hosts[0].busy, snap.hosts[0].limit), (1, Some(2)));
        assert_eq!(snap.hosts[3].limit, None);
        assert!(snap.hosts[3]
            .backoff
            .as_ref()
            .is_some_and(|b| b.1 == "refused"));
        job.remote_done();
        job.finish(Ok(0)).unwrap();
        let snap = view.snapshot();
        assert!(snap.jobs.is_empty());
        assert_eq!((snap.hosts[0].busy, snap.hosts[0].done), (0, 1));
        assert!(snap.rate > 0.0);
    }
}
