//! What `distccd` takes from its environment, read once into
//! [`DaemonSettings`] when the server is built. Its command line is
//! `daemon::options`'; an option given there wins over a variable here.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::parse::{flag, seconds};

/// The search path a daemon started with no `PATH` at all uses.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// `DISTCC_CMDLIST`, if set and not empty: a file listing the
    /// compilers clients may run, besides the masquerade dirs.
    pub cmdlist: Option<PathBuf>,
    /// `DISTCC_IO_TIMEOUT`, default 300 s: the whole request must arrive
    /// within it (`--io-timeout` wins).
    pub io_timeout: Duration,
    /// `DISTCCD_SAVE_TEMPS=1`: keep each job's dir and log where.
    pub save_temps: bool,
    /// `PATH`, default `/usr/local/bin:/usr/bin:/bin`: where the real
    /// compilers are found.
    pub path: OsString,
    /// `TMPDIR`, default `/tmp`: job dirs and the content store.
    pub tmpdir: PathBuf,
    /// The daemon's whole environment, from which `daemon::run` passes the
    /// few variables a compiler may see.
    pub vars: Vec<(OsString, OsString)>,
}

impl DaemonSettings {
    pub fn from_env() -> DaemonSettings {
        DaemonSettings::from_vars(std::env::vars_os().collect())
    }

    /// Builds settings from one snapshot of an environment.
    pub fn from_vars(vars: Vec<(OsString, OsString)>) -> DaemonSettings {
        let get = |name: &str| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        DaemonSettings {
            cmdlist: get("DISTCC_CMDLIST")
                .filter(|f| !f.is_empty())
                .map(PathBuf::from),
            io_timeout: seconds(get("DISTCC_IO_TIMEOUT"), 300),
            save_temps: flag(get("DISTCCD_SAVE_TEMPS"), false),
            path: get("PATH").unwrap_or_else(|| DEFAULT_PATH.into()),
            // As `std::env::temp_dir`.
            tmpdir: get("TMPDIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/tmp")),
            vars,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> DaemonSettings {
        DaemonSettings::from_vars(vars.iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    #[test]
    fn defaults_and_overrides() {
        let s = settings(&[]);
        assert_eq!(s.cmdlist, None);
        assert_eq!(s.io_timeout, Duration::from_secs(300));
        assert!(!s.save_temps);
        assert_eq!(s.path, DEFAULT_PATH);
        assert_eq!(s.tmpdir, PathBuf::from("/tmp"));

        let s = settings(&[
            ("DISTCC_CMDLIST", "/etc/cmds"),
            ("DISTCC_IO_TIMEOUT", "7"),
            ("DISTCCD_SAVE_TEMPS", "1"),
            ("PATH", "/opt/bin"),
            ("TMPDIR", "/var/tmp"),
        ]);
        assert_eq!(s.cmdlist, Some(PathBuf::from("/etc/cmds")));
        assert_eq!(s.io_timeout, Duration::from_secs(7));
        assert!(s.save_temps);
        assert_eq!(s.path, "/opt/bin");
        assert_eq!(s.tmpdir, PathBuf::from("/var/tmp"));
        assert_eq!(s.vars.len(), 5);
        assert_eq!(settings(&[("DISTCC_CMDLIST", "")]).cmdlist, None);
    }
}
