//! Where distcc's own words go: never stdout, which belongs to the compiler.
//!
//! The client's ([`client`]) follow distcc 3.4: warnings and errors go to
//! stderr; `DISTCC_LOG` sends them, and the job's story at debug level, to
//! that file instead (stderr stays the compiler's, which keeps autoconf
//! happy); a log file that cannot be opened is said once, on stderr, and
//! the client carries on there; `DISTCC_VERBOSE` adds the story. The
//! client's logger is a few lines over one open file, so a job pays one
//! open at most. The daemon logs to a file (opened before root is dropped,
//! reopened on SIGHUP for logrotate), to stderr, or to syslog when it has
//! no terminal.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use flexi_logger::writers::LogWriter;
use flexi_logger::{DeferredNow, Logger, LoggerHandle, WriteMode};
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

fn daemon_line(w: &mut dyn Write, now: &mut DeferredNow, record: &Record) -> io::Result<()> {
    line(w, now, record, "distccd")
}

fn start_stderr(logger: Logger) -> Result<LoggerHandle> {
    logger
        .log_to_stderr()
        .format_for_stderr(daemon_line)
        .write_mode(WriteMode::Direct)
        .start()
        .context("starting the logger")
}

/// Installs the client's logger: to the file `log` (`DISTCC_LOG`) if it
/// opens, else stderr; at debug level with a file or `verbose`, else
/// warnings and errors only.
pub fn client(log: Option<&Path>, verbose: bool) {
    let mut failed = None;
    let file = log.and_then(|path| {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| failed = Some(format!("failed to open logfile {}: {e}", path.display())))
            .ok()
    });
    let level = if verbose || file.is_some() {
        LevelFilter::Debug
    } else {
        LevelFilter::Warn
    };
    if log::set_boxed_logger(Box::new(ClientLog { file })).is_ok() {
        log::set_max_level(level);
    }
    if let Some(why) = failed {
        log::error!("{why}");
    }
}

/// The client's logger: one line per message, each written whole with one
/// `write` (clients of a `make -j` share the file, opened for appending).
struct ClientLog {
    file: Option<std::fs::File>,
}

impl log::Log for ClientLog {
    fn enabled(&self, meta: &log::Metadata) -> bool {
        // rustls narrates each handshake at debug level; the job's story
        // says what matters (the host, the key, the failure).
        let chatter = meta.level() > log::Level::Warn && meta.target().starts_with("rustls");
        meta.level() <= log::max_level() && !chatter
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = client_text(record, self.file.is_some());
        match &self.file {
            Some(f) => (&*f).write_all(text.as_bytes()).ok(),
            None => io::stderr().write_all(text.as_bytes()).ok(),
        };
    }

    fn flush(&self) {}
}

/// `distcc[PID] Warning: ...` as distcc 3.4 writes it (`ERROR:` for errors,
/// `(info)` and `(debug)` below), the local time first in a file.
fn client_text(record: &Record, timestamped: bool) -> String {
    let level = match record.level() {
        log::Level::Error => "ERROR:",
        log::Level::Warn => "Warning:",
        log::Level::Info => "(info)",
        _ => "(debug)",
    };
    let when = if timestamped {
        format!("{} ", local_time(std::time::SystemTime::now()))
    } else {
        String::new()
    };
    format!(
        "{when}distcc[{}] {level} {}\n",
        std::process::id(),
        record.args()
    )
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in local time.
fn local_time(t: std::time::SystemTime) -> String {
    let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as libc::time_t;
    // SAFETY: localtime_r fills our own struct from our own time value.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        since.subsec_millis()
    )
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
        Target::File(p) => logger
            .log_to_writer(Box::new(LogFile::open(p)?))
            .write_mode(WriteMode::Direct)
            .start()
            .context("starting the logger"),
        Target::Stderr => start_stderr(logger),
        Target::Syslog => logger
            .log_to_writer(Box::new(Syslog::open()))
            .write_mode(WriteMode::Direct)
            .start()
            .context("starting the logger"),
    }
}

/// The daemon's log file, opened when logging starts, before root is
/// dropped: a file in a directory the daemon's user cannot enter is still
/// written, through the descriptor, instead of failing at every line.
/// SIGHUP reopens it by path (logrotate); if that fails, the old
/// descriptor stays and the caller says so once.
struct LogFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl LogFile {
    fn open(path: &Path) -> Result<LogFile> {
        Ok(LogFile {
            path: path.to_path_buf(),
            file: Mutex::new(Self::open_path(path)?),
        })
    }

    fn open_path(path: &Path) -> Result<File> {
        OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("opening log file {}", path.display()))
    }
}

impl LogWriter for LogFile {
    fn write(&self, now: &mut DeferredNow, record: &Record) -> io::Result<()> {
        let mut buf = Vec::with_capacity(160);
        daemon_line(&mut buf, now, record)?;
        buf.push(b'\n');
        // One write per line, so lines from worker threads never interleave.
        let file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        (&*file).write_all(&buf)
    }

    fn flush(&self) -> io::Result<()> {
        Ok(())
    }

    fn max_log_level(&self) -> LevelFilter {
        LevelFilter::Trace
    }

    fn reopen_output(&self) -> Result<(), flexi_logger::FlexiLoggerError> {
        let fresh = Self::open_path(&self.path).map_err(|e| {
            flexi_logger::FlexiLoggerError::OutputIo(io::Error::other(format!("{e:#}")))
        })?;
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
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
    fn client_lines_name_the_level_as_distcc_does() {
        let line = |level, timestamped| {
            client_text(
                &Record::builder()
                    .level(level)
                    .args(format_args!("x happened"))
                    .build(),
                timestamped,
            )
        };
        let pid = std::process::id();
        assert_eq!(
            line(log::Level::Warn, false),
            format!("distcc[{pid}] Warning: x happened\n")
        );
        assert_eq!(
            line(log::Level::Error, false),
            format!("distcc[{pid}] ERROR: x happened\n")
        );
        let timed = line(log::Level::Debug, true);
        assert!(timed.ends_with(&format!(" distcc[{pid}] (debug) x happened\n")));
        assert_eq!(timed.find(" distcc["), Some(23), "{timed}");
    }

    #[test]
    fn levels() {
        assert_eq!(level(None, false).unwrap(), LevelFilter::Info);
        assert_eq!(level(Some("warning"), false).unwrap(), LevelFilter::Warn);
        assert_eq!(level(Some("error"), true).unwrap(), LevelFilter::Debug);
        assert!(level(Some("loud"), false).is_err());
    }
}
