//! Where distcc's own words go: never stdout, which belongs to the compiler.
//!
//! The client sets up logging only when `DISTCC_VERBOSE` or `DISTCC_LOG`
//! asks for it, so a quiet compile pays nothing. The daemon logs to a file
//! (reopened on SIGHUP for logrotate), to stderr, or to syslog when it has
//! no terminal.

use std::ffi::CString;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result};
use flexi_logger::writers::LogWriter;
use flexi_logger::{DeferredNow, FileSpec, Logger, LoggerHandle, WriteMode};
use log::{LevelFilter, Record};

fn line(w: &mut dyn Write, now: &mut DeferredNow, record: &Record, prog: &str) -> io::Result<()> {
    write!(
        w,
        "{} {prog}[{}] ({}) {}",
        now.format("%Y-%m-%d %H:%M:%S%.3f"),
        std::process::id(),
        record.level().as_str().to_ascii_lowercase(),
        record.args()
    )
}

fn client_line(w: &mut dyn Write, now: &mut DeferredNow, record: &Record) -> io::Result<()> {
    line(w, now, record, "distcc")
}

fn daemon_line(w: &mut dyn Write, now: &mut DeferredNow, record: &Record) -> io::Result<()> {
    line(w, now, record, "distccd")
}

fn start(
    logger: Logger,
    file: Option<&Path>,
    format: flexi_logger::FormatFunction,
) -> Result<LoggerHandle> {
    let logger = match file {
        Some(path) => logger
            .log_to_file(
                FileSpec::try_from(path)
                    .with_context(|| format!("log file {}", path.display()))?
                    .suppress_timestamp(),
            )
            .append()
            .format_for_files(format),
        None => logger.log_to_stderr().format_for_stderr(format),
    };
    logger
        .write_mode(WriteMode::Direct)
        .start()
        .context("starting the logger")
}

/// Client logging: everything at debug level, to `log` or stderr.
pub fn client(log: Option<&Path>) -> Result<LoggerHandle> {
    start(Logger::with(LevelFilter::Debug), log, client_line)
}

/// Where the daemon's log goes.
pub enum Target<'a> {
    File(&'a Path),
    Stderr,
    Syslog,
}

/// Maps the reference's `--log-level` names onto `log` levels.
pub fn level(name: Option<&str>, verbose: bool) -> Result<LevelFilter> {
    if verbose {
        return Ok(LevelFilter::Debug);
    }
    Ok(match name.unwrap_or("notice") {
        "critical" | "error" | "emerg" | "alert" | "crit" | "err" => LevelFilter::Error,
        "warning" | "warn" => LevelFilter::Warn,
        "notice" | "info" => LevelFilter::Info,
        "debug" => LevelFilter::Debug,
        other => anyhow::bail!(
            "unknown --log-level {other:?}: use critical, error, warning, notice, info or debug"
        ),
    })
}

pub fn daemon(target: Target, level: LevelFilter) -> Result<LoggerHandle> {
    let logger = Logger::with(level);
    match target {
        Target::File(p) => start(logger, Some(p), daemon_line),
        Target::Stderr => start(logger, None, daemon_line),
        Target::Syslog => logger
            .log_to_writer(Box::new(Syslog::open()))
            .write_mode(WriteMode::Direct)
            .start()
            .context("starting the logger"),
    }
}

/// A minimal syslog writer over libc, so the daemon needs no extra crate.
struct Syslog;

impl Syslog {
    fn open() -> Syslog {
        static IDENT: &std::ffi::CStr = c"distccd";
        // SAFETY: IDENT is 'static, as openlog requires.
        unsafe { libc::openlog(IDENT.as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
        Syslog
    }
}

impl LogWriter for Syslog {
    fn write(&self, _now: &mut DeferredNow, record: &Record) -> io::Result<()> {
        let priority = match record.level() {
            log::Level::Error => libc::LOG_ERR,
            log::Level::Warn => libc::LOG_WARNING,
            log::Level::Info => libc::LOG_NOTICE,
            _ => libc::LOG_DEBUG,
        };
        let msg = CString::new(record.args().to_string().replace('\0', " "))
            .unwrap_or_else(|_| CString::from(c"?"));
        // SAFETY: a constant format and a valid C string.
        unsafe { libc::syslog(priority, c"%s".as_ptr(), msg.as_ptr()) };
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        Ok(())
    }

    fn max_log_level(&self) -> LevelFilter {
        LevelFilter::Debug
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(level(None, false).unwrap(), LevelFilter::Info);
        assert_eq!(level(Some("warning"), false).unwrap(), LevelFilter::Warn);
        assert_eq!(level(Some("error"), true).unwrap(), LevelFilter::Debug);
        assert!(level(Some("loud"), false).is_err());
    }
}
