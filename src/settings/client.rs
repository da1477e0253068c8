//! Every variable the client (and the monitor, which reads the same
//! `DISTCC_DIR` and host list) takes from its environment, read once into
//! [`Settings`] and passed down, so no module consults the environment
//! behind the caller's back and tests can build settings without touching
//! it. The daemon's are `settings::daemon`'s.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::parse::{flag, seconds};

#[derive(Debug, Clone)]
pub struct Settings {
    /// `DISTCC_HOSTS`, if set (even empty).
    pub hosts: Option<String>,
    /// `DISTCC_DIR`, default `~/.distcc`: locks, backoff state, host file.
    pub dir: PathBuf,
    /// `DISTCC_VERBOSE=1`.
    pub verbose: bool,
    /// `DISTCC_LOG`: where distcc's own messages go instead of stderr.
    pub log: Option<PathBuf>,
    /// `DISTCC_FALLBACK`, default on: compile locally when distribution fails.
    pub fallback: bool,
    /// `DISTCC_SAVE_TEMPS=1`: keep the preprocessed file and say where.
    pub save_temps: bool,
    /// `DISTCC_IO_TIMEOUT`, default 300 s: the whole budget of each phase
    /// with a volunteer (sending; the compile with its reply).
    pub io_timeout: Duration,
    /// `DISTCC_CONNECT_TIMEOUT`, default 4 s, as the reference.
    pub connect_timeout: Duration,
    /// `DISTCC_BACKOFF_PERIOD`, default 60 s; 0 disables backoff.
    pub backoff_period: Duration,
    /// `DISTCC_TCP_CORK`, default on.
    pub tcp_cork: bool,
    /// `DISTCC_STREAM`, default on: send the source to our own daemons
    /// while it is being preprocessed.
    pub stream: bool,
    /// `DISTCC_SCAN`, default on: exact mode finds the unit's files with
    /// the include scanner; off, it asks the compiler (`-M`) every job.
    pub scan: bool,
    /// `DISTCC_SCAN_AGENT`, default on: the scan is done by the per-user
    /// scan agent, which keeps the headers' skeletons in memory from one
    /// job to the next; off, each job scans in its own process.
    pub scan_agent: bool,
    /// `DISTCC_SSH`, default `ssh`.
    pub ssh: OsString,
    /// `DISTCC_TLS_AGENT`, default on: `,tls` hosts are reached through
    /// the per-user TLS agent, which resumes sessions; off, each job makes
    /// its own full handshake.
    pub tls_agent: bool,
    /// `DISTCC_STATS=1`: print a summary line per job to stderr.
    pub stats: bool,
    /// `TMPDIR`, default `/tmp`.
    pub tmpdir: PathBuf,
    /// `PATH`: where the real compiler is looked for.
    pub path: OsString,
    /// `_DISTCC_SAFEGUARD`: set when a compiler we started ran us again.
    pub safeguard: Option<OsString>,
    /// `TERM` names a terminal that shows colour and `GCC_COLORS` does not
    /// turn colour off: then diagnostics may be asked for in colour.
    pub colour: bool,
}

impl Settings {
    pub fn from_env() -> Settings {
        Settings::from_lookup(|name| std::env::var_os(name))
    }

    /// Builds settings from any variable source; `from_env` passes the
    /// process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<OsString>) -> Settings {
        let home = get("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let nonempty = |name: &str| get(name).filter(|v| !v.is_empty());
        Settings {
            hosts: get("DISTCC_HOSTS").map(|v| v.to_string_lossy().into_owned()),
            dir: nonempty("DISTCC_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".distcc")),
            verbose: flag(get("DISTCC_VERBOSE"), false),
            log: nonempty("DISTCC_LOG").map(PathBuf::from),
            fallback: flag(get("DISTCC_FALLBACK"), true),
            save_temps: flag(get("DISTCC_SAVE_TEMPS"), false),
            io_timeout: seconds(get("DISTCC_IO_TIMEOUT"), 300),
            connect_timeout: seconds(get("DISTCC_CONNECT_TIMEOUT"), 4),
            backoff_period: seconds(get("DISTCC_BACKOFF_PERIOD"), 60),
            tcp_cork: flag(get("DISTCC_TCP_CORK"), true),
            stream: flag(get("DISTCC_STREAM"), true),
            scan: flag(get("DISTCC_SCAN"), true),
            scan_agent: flag(get("DISTCC_SCAN_AGENT"), true),
            ssh: nonempty("DISTCC_SSH").unwrap_or_else(|| OsString::from("ssh")),
            tls_agent: flag(get("DISTCC_TLS_AGENT"), true),
            stats: flag(get("DISTCC_STATS"), false),
            tmpdir: nonempty("TMPDIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/tmp")),
            path: get("PATH").unwrap_or_default(),
            safeguard: get(crate::masquerade::SAFEGUARD),
            colour: get("TERM")
                .and_then(|t| t.into_string().ok())
                .is_some_and(|t| !t.is_empty() && t != "dumb")
                && !get("GCC_COLORS").is_some_and(|v| v.is_empty()),
        }
    }

    /// Whether anything should be logged at all; decides if logging is set
    /// up, so a quiet client pays nothing for it.
    pub fn logging(&self) -> bool {
        self.verbose || self.log.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults() {
        let s = settings(&[("HOME", "/home/u")]);
        assert_eq!(s.dir, PathBuf::from("/home/u/.distcc"));
        assert!(s.fallback && s.tcp_cork && s.stream && !s.verbose && !s.logging());
        assert_eq!(s.io_timeout, Duration::from_secs(300));
        assert_eq!(s.backoff_period, Duration::from_secs(60));
        assert_eq!(s.hosts, None);
        assert!(!s.colour && s.safeguard.is_none());
    }

    #[test]
    fn colour_needs_a_terminal_and_no_veto() {
        assert!(settings(&[("TERM", "xterm")]).colour);
        assert!(!settings(&[("TERM", "dumb")]).colour);
        assert!(!settings(&[("TERM", "")]).colour);
        assert!(!settings(&[("TERM", "xterm"), ("GCC_COLORS", "")]).colour);
        assert!(settings(&[("TERM", "xterm"), ("GCC_COLORS", "error=01;31")]).colour);
    }

    #[test]
    fn overrides() {
        let s = settings(&[
            ("DISTCC_DIR", "/d"),
            ("DISTCC_VERBOSE", "1"),
            ("DISTCC_FALLBACK", "0"),
            ("DISTCC_IO_TIMEOUT", "7"),
            ("DISTCC_BACKOFF_PERIOD", "0"),
            ("DISTCC_TCP_CORK", "0"),
            ("DISTCC_STREAM", "0"),
            ("DISTCC_HOSTS", ""),
        ]);
        assert_eq!(s.dir, PathBuf::from("/d"));
        assert!(s.verbose && !s.fallback && !s.tcp_cork && !s.stream);
        assert_eq!(s.io_timeout, Duration::from_secs(7));
        assert_eq!(s.backoff_period, Duration::ZERO);
        assert_eq!(s.hosts.as_deref(), Some(""));
    }

    #[test]
    fn garbage_numbers_fall_back_to_defaults() {
        let s = settings(&[("DISTCC_IO_TIMEOUT", "soon")]);
        assert_eq!(s.io_timeout, Duration::from_secs(300));
    }
}
