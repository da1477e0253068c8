//! `distccmon-text --summary`: what went where over a build, from the
//! history of finished jobs (`state::history`): jobs per host, local
//! against remote, why jobs stayed here or fell back, and where the time
//! went phase by phase, so a slow host or a starved preprocessor shows.
//! Result-cache hits and misses (as the volunteers' replies said) show,
//! in total and per host, only once some volunteer has a cache.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, SystemTime};

use crate::protocol::note::CacheUse;
use crate::state::history::{Listing, Outcome, Record};
use crate::state::{Phase, PHASES};

#[derive(Default)]
struct HostRow {
    jobs: u64,
    errors: u64,
    fails: u64,
    total: Duration,
    hits: u64,
    misses: u64,
}

/// Renders the summary of `records` as seen at `now`.
pub fn render(records: &[Record], now: SystemTime) -> String {
    let mut out = String::new();
    if records.is_empty() {
        out.push_str("no finished jobs in the history\n");
        return out;
    }
    totals(&mut out, records, now);
    listings(&mut out, records);
    let cached = cache(&mut out, records);
    hosts(&mut out, records, cached);
    reasons(&mut out, records);
    phases(&mut out, records);
    out
}

/// The first two lines: how many jobs, since when, and how they ended.
fn totals(out: &mut String, records: &[Record], now: SystemTime) {
    let first = records.iter().map(|r| r.end).min().unwrap_or(now);
    let span = now.duration_since(first).unwrap_or_default();
    let count = |f: &dyn Fn(&Outcome) -> bool| records.iter().filter(|r| f(&r.outcome)).count();
    let remote = count(&|o| matches!(o, Outcome::Remote));
    let remote_err = records
        .iter()
        .filter(|r| r.outcome == Outcome::Remote && r.status != 0)
        .count();
    writeln!(
        out,
        "{} jobs, the first ended {} s ago",
        records.len(),
        span.as_secs()
    )
    .ok();
    writeln!(
        out,
        "remote {remote} (compile errors {remote_err}), local {}, fallback {}, failed {}",
        count(&|o| matches!(o, Outcome::Local(_))),
        count(&|o| matches!(o, Outcome::Fallback(_))),
        count(&|o| matches!(o, Outcome::Failed(_))),
    )
    .ok();
}

/// How exact-mode jobs found their files: by the include scanner, by the
/// compiler because the scanner could not tell, or by the compiler again
/// after the server read a file the scan had not found.
fn listings(out: &mut String, records: &[Record]) {
    let count = |l: Listing| records.iter().filter(|r| r.listing == Some(l)).count();
    let (scans, fallbacks, misses) = (
        count(Listing::Scanned),
        count(Listing::ScanFallback),
        count(Listing::ScannerMiss),
    );
    if scans + fallbacks + misses > 0 {
        writeln!(
            out,
            "files listed: scanned {scans}, scan fallbacks {fallbacks}, scanner misses {misses}"
        )
        .ok();
    }
}

/// Jobs answered from a volunteer's result cache, and jobs it compiled
/// and kept; says whether any volunteer has a cache, so the host table
/// shows the same or nothing.
fn cache(out: &mut String, records: &[Record]) -> bool {
    let count = |c: CacheUse| records.iter().filter(|r| r.cache == Some(c)).count();
    let (hits, misses) = (count(CacheUse::Hit), count(CacheUse::Miss));
    if hits + misses == 0 {
        return false;
    }
    writeln!(out, "result cache: hits {hits}, misses {misses}").ok();
    true
}

/// One row per host: jobs it ended, compile errors, attempts that failed
/// there, average time; with `cached`, its cache's hits and misses.
fn hosts(out: &mut String, records: &[Record], cached: bool) {
    let mut hosts: BTreeMap<&str, HostRow> = BTreeMap::new();
    for r in records {
        if !matches!(r.outcome, Outcome::Failed(_)) {
            let h = hosts.entry(&r.host).or_default();
            h.jobs += 1;
            h.errors += u64::from(r.status != 0);
            h.total += r.total;
            h.hits += u64::from(r.cache == Some(CacheUse::Hit));
            h.misses += u64::from(r.cache == Some(CacheUse::Miss));
        }
        for t in &r.tried {
            hosts.entry(t).or_default().fails += 1;
        }
    }
    write!(
        out,
        "\n{:<28} {:>7} {:>7} {:>7} {:>9}",
        "host", "jobs", "errors", "fails", "avg ms"
    )
    .ok();
    if cached {
        write!(out, " {:>7} {:>7}", "hits", "misses").ok();
    }
    out.push('\n');
    for (host, h) in &hosts {
        let avg = h.total.as_millis().checked_div(h.jobs as u128).unwrap_or(0);
        write!(
            out,
            "{host:<28} {:>7} {:>7} {:>7} {avg:>9}",
            h.jobs, h.errors, h.fails
        )
        .ok();
        if cached {
            write!(out, " {:>7} {:>7}", h.hits, h.misses).ok();
        }
        out.push('\n');
    }
}

/// Why jobs stayed here, fell back or failed, most frequent first.
fn reasons(out: &mut String, records: &[Record]) {
    for (title, pick) in [
        (
            "local because",
            (|o| matches!(o, Outcome::Local(_))) as fn(&Outcome) -> bool,
        ),
        ("fallback because", |o| matches!(o, Outcome::Fallback(_))),
        ("failed because", |o| matches!(o, Outcome::Failed(_))),
    ] {
        let mut why: BTreeMap<&str, u64> = BTreeMap::new();
        for r in records.iter().filter(|r| pick(&r.outcome)) {
            *why.entry(r.outcome.reason()).or_default() += 1;
        }
        if why.is_empty() {
            continue;
        }
        let mut why: Vec<_> = why.into_iter().collect();
        why.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        writeln!(out, "\n{title}:").ok();
        for (reason, n) in why.iter().take(10) {
            writeln!(out, "{n:>7}  {reason}").ok();
        }
        if why.len() > 10 {
            writeln!(out, "         ... and {} other reasons", why.len() - 10).ok();
        }
    }
}

/// Where the time went, phase by phase.
fn phases(out: &mut String, records: &[Record]) {
    let mut totals = [Duration::ZERO; PHASES];
    let mut jobs = [0u64; PHASES];
    for r in records {
        for p in Phase::ALL {
            let d = r.spent_in(p);
            totals[p as usize] += d;
            jobs[p as usize] += u64::from(!d.is_zero());
        }
    }
    let all: Duration = totals.iter().sum();
    writeln!(
        out,
        "\n{:<12} {:>12} {:>9} {:>7} {:>6}",
        "phase", "total ms", "avg ms", "jobs", "share"
    )
    .ok();
    for p in Phase::ALL {
        let (t, n) = (totals[p as usize], jobs[p as usize]);
        if n == 0 {
            continue;
        }
        let share = if all.is_zero() {
            0.0
        } else {
            100.0 * t.as_secs_f64() / all.as_secs_f64()
        };
        writeln!(
            out,
            "{:<12} {:>12} {:>9} {n:>7} {share:>5.1}%",
            p.name(),
            t.as_millis(),
            t.as_millis() / n as u128
        )
        .ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(host: &str, outcome: Outcome, status: u8, compile_ms: u64) -> Record {
        let mut spent = [Duration::ZERO; PHASES];
        spent[Phase::Compile as usize] = Duration::from_millis(compile_ms);
        spent[Phase::Preprocess as usize] = Duration::from_millis(10);
        Record {
            end: SystemTime::UNIX_EPOCH + Duration::from_secs(1000),
            pid: 1,
            host: host.into(),
            outcome,
            status,
            spent,
            total: Duration::from_millis(compile_ms + 10),
            tried: vec![],
            listing: None,
            cache: None,
            source: "a.c".into(),
        }
    }

    #[test]
    fn counts_hosts_reasons_and_phases() {
        let mut fb = rec("localhost", Outcome::Fallback("h:2: refused".into()), 0, 0);
        fb.tried = vec!["h:2".into()];
        let records = vec![
            rec("h:1", Outcome::Remote, 0, 90),
            rec("h:1", Outcome::Remote, 1, 30),
            rec("localhost", Outcome::Local("linking".into()), 0, 0),
            fb,
        ];
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1060);
        let text = render(&records, now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "4 jobs, the first ended 60 s ago");
        assert_eq!(
            lines[1],
            "remote 2 (compile errors 1), local 1, fallback 1, failed 0"
        );
        let row = |host: &str| -> Vec<String> {
            lines
                .iter()
                .find(|l| l.split_whitespace().next() == Some(host))
                .unwrap()
                .split_whitespace()
                .map(String::from)
                .collect()
        };
        assert_eq!(row("h:1"), ["h:1", "2", "1", "0", "70"]);
        assert_eq!(row("h:2"), ["h:2", "0", "0", "1", "0"]);
        assert_eq!(row("localhost")[1], "2");
        assert!(text.contains("local because:\n      1  linking\n"));
        assert!(text.contains("fallback because:\n      1  h:2: refused\n"));
        assert!(!text.contains("failed because"));
        assert!(!text.contains("files listed"), "no exact-mode job");
        assert!(
            !text.contains("cache") && !text.contains("hits"),
            "no cache"
        );
        assert_eq!(row("Compile"), ["Compile", "120", "60", "2", "75.0%"]);
        assert_eq!(row("Preprocess")[1..3], ["40", "10"]);
    }

    #[test]
    fn counts_how_exact_jobs_listed_their_files() {
        let mut records = Vec::new();
        for l in [
            Listing::Scanned,
            Listing::Scanned,
            Listing::ScanFallback,
            Listing::ScannerMiss,
        ] {
            let mut r = rec("h:1", Outcome::Remote, 0, 5);
            r.listing = Some(l);
            records.push(r);
        }
        let text = render(&records, SystemTime::UNIX_EPOCH + Duration::from_secs(1000));
        assert_eq!(
            text.lines().nth(2),
            Some("files listed: scanned 2, scan fallbacks 1, scanner misses 1")
        );
    }

    #[test]
    fn counts_cache_hits_and_misses_per_host_once_a_host_has_a_cache() {
        let mut records = Vec::new();
        for (host, cache) in [
            ("h:1", Some(CacheUse::Hit)),
            ("h:1", Some(CacheUse::Miss)),
            ("h:1", Some(CacheUse::Hit)),
            ("h:2", Some(CacheUse::Off)),
            ("h:3", None),
        ] {
            let mut r = rec(host, Outcome::Remote, 0, 5);
            r.cache = cache;
            records.push(r);
        }
        let text = render(&records, SystemTime::UNIX_EPOCH + Duration::from_secs(1000));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2], "result cache: hits 2, misses 1");
        let row = |host: &str| -> Vec<&str> {
            let line = lines.iter().find(|l| l.starts_with(host)).unwrap();
            line.split_whitespace().collect()
        };
        assert_eq!(row("host")[6..], ["hits", "misses"], "after avg ms");
        assert_eq!(row("h:1")[5..], ["2", "1"]);
        assert_eq!(row("h:2")[5..], ["0", "0"]);
        // Only volunteers without a cache: neither line nor columns.
        records.retain(|r| r.cache != Some(CacheUse::Hit) && r.cache != Some(CacheUse::Miss));
        let text = render(&records, SystemTime::UNIX_EPOCH + Duration::from_secs(1000));
        assert!(!text.contains("cache") && !text.contains("hits"), "{text}");
    }

    #[test]
    fn empty_history() {
        assert_eq!(
            render(&[], SystemTime::now()),
            "no finished jobs in the history\n"
        );
    }
}
