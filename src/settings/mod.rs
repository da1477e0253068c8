//! The environment, read once per process: [`Settings`] for the client and
//! the monitor (`DISTCC_*`, `TMPDIR`, `PATH`), [`DaemonSettings`] for
//! `distccd` (`DISTCC_CMDLIST`, `DISTCC_IO_TIMEOUT`, `DISTCCD_SAVE_TEMPS`,
//! `PATH`, `TMPDIR`, what compilers inherit). Each role builds its own at
//! start and passes it down; command-line options are the role's own
//! (`daemon::options`).

pub mod client;
pub mod daemon;
mod parse;

pub use client::Settings;
pub use daemon::DaemonSettings;
