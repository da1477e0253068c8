//! The environment, read once per process: [`Settings`] for the client and
//! the monitor (`DISTCC_*`, `TMPDIR`, `PATH`), [`DaemonSettings`] for
//! `distccd` (`DISTCC_CMDLIST`, `DISTCC_IO_TIMEOUT`, `DISTCCD_SAVE_TEMPS`,
//! `PATH`, `TMPDIR`, what compilers inherit). Each role builds its own at
//! start and passes it down; command-line options are the role's own
//! (`daemon::options`).

pub mod client;
pub mod daemon;

use std::ffi::OsString;
use std::time::Duration;

pub use client::Settings;
pub use daemon::DaemonSettings;

/// A yes/no variable: unset means `default`; empty, `0`, `no` and `false`
/// (any case) mean no; anything else yes.
fn flag(value: Option<OsString>, default: bool) -> bool {
    match value {
        None => default,
        Some(v) => {
            let v = v.to_string_lossy();
            let v = v.trim();
            !(v.is_empty()
                || v == "0"
                || v.eq_ignore_ascii_case("no")
                || v.eq_ignore_ascii_case("false"))
        }
    }
}

/// A number of seconds; unset or unparseable means `default`.
fn seconds(value: Option<OsString>, default: u64) -> Duration {
    value
        .and_then(|v| v.to_str().and_then(|s| s.trim().parse::<u64>().ok()))
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(default))
}
