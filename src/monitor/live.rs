//! The full-screen view on a terminal: a bar of busy slots per host, the
//! recent job rate, and the jobs that have been running longest. Plain
//! ANSI escapes, redrawn every DELAY seconds until `q` or Ctrl-C; the
//! terminal is put back as it was on the way out, error or not.

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use super::text::{limit_text, tail};
use super::{Snapshot, View};

/// Bars wider than this are scaled down.
const BAR_MAX: u32 = 32;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// The terminal in the state the view needs; Drop restores it.
struct Screen {
    saved: Option<libc::termios>,
}

impl Screen {
    fn enter() -> Screen {
        let fd = io::stdin().as_raw_fd();
        let mut saved = None;
        if io::stdin().is_terminal() {
            // SAFETY: termios is plain data; tcgetattr fills it or fails.
            let mut t: libc::termios = unsafe { std::mem::zeroed() };
            if unsafe { libc::tcgetattr(fd, &mut t) } == 0 {
                saved = Some(t);
                // Keys arrive one by one, unechoed; Ctrl-C still signals.
                t.c_lflag &= !(libc::ICANON | libc::ECHO);
                t.c_cc[libc::VMIN] = 0;
                t.c_cc[libc::VTIME] = 0;
                // SAFETY: as above, with a termios derived from the saved one.
                unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
            }
        }
        // Alternate screen, cursor hidden, cleared.
        print!("\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J");
        io::stdout().flush().ok();
        Screen { saved }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        print!("\x1b[?25h\x1b[?1049l");
        io::stdout().flush().ok();
        if let Some(t) = &self.saved {
            // SAFETY: restoring the attributes read in `enter`.
            unsafe { libc::tcsetattr(io::stdin().as_raw_fd(), libc::TCSANOW, t) };
        }
    }
}

fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// (columns, rows), or a classic 80x24 when the terminal will not say.
fn size() -> (usize, usize) {
    // SAFETY: winsize is plain data; the ioctl fills it or fails.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(io::stdout().as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 && ws.ws_row > 0 {
        (ws.ws_col as usize, ws.ws_row as usize)
    } else {
        (80, 24)
    }
}

/// Waits up to `delay` for a key; true if it was `q` (or the input ended).
fn quit_key(delay: Duration, stdin_tty: bool) -> bool {
    // Without a terminal to read keys from this is a plain wait; a signal
    // ends it early either way.
    let fd = if stdin_tty {
        io::stdin().as_raw_fd()
    } else {
        -1
    };
    if !crate::sys::wait_readable(fd, delay).unwrap_or(false) {
        return false;
    }
    let mut buf = [0u8; 64];
    match io::stdin().read(&mut buf) {
        Ok(0) => false,
        Ok(n) => buf[..n].iter().any(|b| matches!(b, b'q' | b'Q')),
        Err(_) => false,
    }
}

pub fn run(view: &mut View, delay: Duration) -> Result<()> {
    catch_signals();
    let stdin_tty = io::stdin().is_terminal();
    let _screen = Screen::enter();
    while !STOP.load(Ordering::SeqCst) {
        let (cols, rows) = size();
        let frame = render(&view.snapshot(), cols, rows);
        let mut out = io::stdout().lock();
        out.write_all(frame.as_bytes())
            .and_then(|_| out.flush())
            .context("drawing the screen")?;
        drop(out);
        if quit_key(delay, stdin_tty) {
            break;
        }
    }
    Ok(())
}

fn bar(busy: u32, limit: Option<u32>) -> String {
    let limit = limit.unwrap_or(busy);
    let (busy, limit) = if limit > BAR_MAX {
        (busy * BAR_MAX / limit.max(1), BAR_MAX)
    } else {
        (busy, limit)
    };
    let busy = busy.min(limit) as usize;
    format!(
        "[{}{}]",
        "#".repeat(busy),
        ".".repeat(limit as usize - busy)
    )
}

fn secs(d: Duration) -> String {
    if d < Duration::from_secs(100) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} s", d.as_secs())
    }
}

/// One frame: cursor home, each line cleared to its end, the rest of the
/// screen cleared, nothing wider than the terminal.
pub fn render(s: &Snapshot, cols: usize, rows: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    lines.push(format!(
        "distccmon-text   {} running   {:.1} jobs/s (last 10 s)   q quits",
        s.jobs.len(),
        s.rate
    ));
    lines.push(String::new());
    let bar_width = s
        .hosts
        .iter()
        .map(|h| bar(h.busy, h.limit).len())
        .max()
        .unwrap_or(0);
    let key_width = s
        .hosts
        .iter()
        .map(|h| h.key.len())
        .max()
        .unwrap_or(4)
        .max(4);
    for h in &s.hosts {
        let mut l = format!(
            "{:<key_width$} {:<bar_width$} {:>7}  done {:>6}  fail {:>4}",
            h.key,
            bar(h.busy, h.limit),
            limit_text(h),
            h.done,
            h.failed
        );
        if let Some((left, why)) = &h.backoff {
            write!(l, "  backed off {} s: {why}", left.as_secs().max(1)).ok();
        }
        lines.push(l);
    }
    if s.hosts.is_empty() {
        lines.push("no hosts configured or seen".into());
    }
    lines.push(String::new());
    if s.jobs.is_empty() {
        lines.push("no jobs running".into());
    } else {
        lines.push(format!(
            "{:>7}  {:<10}  {:>8}  {:<30}  HOST[SLOT]",
            "PID", "PHASE", "TIME", "FILE"
        ));
        // Longest-running first: those are what hold a build up.
        let mut jobs: Vec<_> = s.jobs.iter().collect();
        jobs.sort_by_key(|j| j.started);
        for j in jobs {
            let age = s.now.duration_since(j.started).unwrap_or_default();
            let host = if j.host.is_empty() { "-" } else { &j.host };
            lines.push(format!(
                "{:>7}  {:<10}  {:>8}  {:<30}  {host}[{}]",
                j.pid,
                j.phase.name(),
                secs(age),
                tail(&j.source, 30),
                j.slot
            ));
        }
    }
    lines.truncate(rows.max(1));
    let mut out = String::from("\x1b[H");
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.extend(l.chars().take(cols));
        out.push_str("\x1b[K");
    }
    out.push_str("\x1b[J");
    out
}

#[cfg(test)]
mod tests {
    use super::super::HostView;
    use super::*;
    use crate::state::{Phase, Running};
    use std::time::SystemTime;

    fn strip(frame: &str) -> Vec<String> {
        let mut plain = String::new();
        let mut chars = frame.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                // CSI: ESC [ params final-byte
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else if c != '\r' {
                plain.push(c);
            }
        }
        plain.lines().map(String::from).collect()
    }

    fn snapshot() -> Snapshot {
        let now = SystemTime::now();
        let job = |pid, age, host: &str| Running {
            pid,
            phase: Phase::Compile,
            host: host.into(),
            slot: 0,
            started: now - Duration::from_secs(age),
            phase_since: now,
            source: format!("f{pid}.c"),
        };
        Snapshot {
            now,
            jobs: vec![job(2, 1, "a:1"), job(3, 5, "a:1")],
            hosts: vec![
                HostView {
                    key: "a:1".into(),
                    limit: Some(4),
                    busy: 2,
                    done: 7,
                    failed: 0,
                    backoff: None,
                },
                HostView {
                    key: "bb:2".into(),
                    limit: Some(64),
                    busy: 16,
                    done: 0,
                    failed: 3,
                    backoff: Some((Duration::from_secs(30), "refused".into())),
                },
            ],
            rate: 1.5,
        }
    }

    #[test]
    fn frame_shows_bars_rate_and_slowest_first() {
        let lines = strip(&render(&snapshot(), 120, 40));
        assert!(lines[0].contains("2 running") && lines[0].contains("1.5 jobs/s"));
        assert!(lines[2].starts_with("a:1  [##..]"), "{}", lines[2]);
        assert!(lines[2].contains("2/4  done      7"), "{}", lines[2]);
        let b = format!("[{}{}]", "#".repeat(8), ".".repeat(24));
        assert!(lines[3].contains(&b) && lines[3].contains("backed off 30 s: refused"));
        assert!(lines[6].contains("f3.c") && lines[6].contains("5.0 s"));
        assert!(lines[7].contains("f2.c"));
    }

    #[test]
    fn frame_fits_the_terminal() {
        let frame = render(&snapshot(), 20, 3);
        let lines = strip(&frame);
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.chars().count() <= 20));
        assert!(frame.starts_with("\x1b[H") && frame.ends_with("\x1b[J"));
    }
}
