//! The plain listing: one line per running job in the reference's columns
//! (`PID  PHASE  FILE  HOST[SLOT]`), so scripts written for distcc 3.4's
//! `distccmon-text` keep working, then one `host` line per host.

use std::fmt::Write;

use super::{HostView, Snapshot};
use crate::state::Running;

/// The last `width` characters of `s`: for paths, the end says more.
pub fn tail(s: &str, width: usize) -> &str {
    let n = s.chars().count();
    if n <= width {
        return s;
    }
    let skip = s.char_indices().nth(n - width).map_or(0, |(i, _)| i);
    &s[skip..]
}

/// The reference's `%6ld  %-10.10s  %-30.30s %24.24s[%d]`.
pub fn job_line(j: &Running) -> String {
    let host = if j.host.is_empty() { "-" } else { &j.host };
    format!(
        "{:>6}  {:<10.10}  {:<30} {:>24.24}[{}]",
        j.pid,
        j.phase.name(),
        tail(&j.source, 30),
        host,
        j.slot
    )
}

pub fn limit_text(h: &HostView) -> String {
    match h.limit {
        Some(l) => format!("{}/{l}", h.busy),
        None => format!("{}/-", h.busy),
    }
}

pub fn host_line(h: &HostView) -> String {
    let mut s = format!(
        "host {}  busy {}  done {}  fail {}",
        h.key,
        limit_text(h),
        h.done,
        h.failed
    );
    if let Some((left, why)) = &h.backoff {
        write!(s, "  backed off {} s: {why}", left.as_secs().max(1)).ok();
    }
    s
}

pub fn plain(snap: &Snapshot) -> String {
    let mut out = String::new();
    for j in &snap.jobs {
        out.push_str(&job_line(j));
        out.push('\n');
    }
    for h in &snap.hosts {
        out.push_str(&host_line(h));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Phase;
    use std::time::{Duration, SystemTime};

    #[test]
    fn reference_columns() {
        let j = Running {
            pid: 12345,
            phase: Phase::Compile,
            host: "127.0.0.1:3632".into(),
            slot: 0,
            started: SystemTime::UNIX_EPOCH,
            phase_since: SystemTime::UNIX_EPOCH,
            source: "hello.c".into(),
        };
        assert_eq!(
            job_line(&j),
            " 12345  Compile     hello.c                                  127.0.0.1:3632[0]"
        );
        let long = Running {
            source: "a/very/long/directory/name/and/then/file.c".into(),
            host: String::new(),
            ..j
        };
        let line = job_line(&long);
        assert!(line.contains("  directory/name/and/then/file.c "), "{line}");
        assert!(line.ends_with(" -[0]"));
    }

    #[test]
    fn host_lines() {
        let mut h = HostView {
            key: "h:1".into(),
            limit: Some(4),
            busy: 2,
            done: 10,
            failed: 1,
            backoff: None,
        };
        assert_eq!(host_line(&h), "host h:1  busy 2/4  done 10  fail 1");
        h.limit = None;
        h.backoff = Some((Duration::from_millis(2500), "refused".into()));
        assert_eq!(
            host_line(&h),
            "host h:1  busy 2/-  done 10  fail 1  backed off 2 s: refused"
        );
    }

    #[test]
    fn tail_counts_characters() {
        assert_eq!(tail("abc", 5), "abc");
        assert_eq!(tail("ab€d", 2), "€d");
    }
}
