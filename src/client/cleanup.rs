//! What an interrupted client leaves behind, and how none of it stays.
//!
//! Every temp file of a job carries the client's pid in its name ([`Temp`]):
//! the preprocessed source's dir `distcc_<pid>_XXXXXX` under `$TMPDIR`
//! (`cpp`), an output being written `.distcc-<pid>-XXXXXX` beside it
//! (`output`). Before one is made, its place (dir and name prefix) is
//! recorded here, in memory and in a journal in the process's slot in
//! `$DISTCC_DIR/state` (`state::slot`); the children that may write there
//! are recorded too.
//!
//! - SIGTERM, SIGINT, SIGHUP and SIGQUIT are taken by a thread of ours, the
//!   signals being blocked everywhere else (so nothing runs in a signal
//!   handler amid an allocation). It passes the signal on to our children,
//!   removes what the places hold, and dies of the same signal, so `make`
//!   sees the job killed.
//! - SIGKILL cannot be caught: the journal stays in the slot, and the next
//!   client to take that slot removes what it names. Journals of earlier
//!   versions (`temps_<pid>` files) are swept by a client that distributes
//!   a job, once their pid is gone.
//!
//! Making a temp file holds the lock the thread takes, so a file is either
//! made before the thread looks, and removed, or never.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::{Mutex, MutexGuard};

use crate::state::slot::{self, Slot};

/// The signals a client cleans up after before dying of them.
const SIGNALS: [libc::c_int; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

/// The journal's name, before the pid.
const JOURNAL: &str = "temps_";

/// The kinds of temp names a client makes, each carrying its pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temp {
    /// Beside an output, replaced into it by rename (`output`).
    Output,
    /// A job's private dir under `$TMPDIR` (`cpp`).
    Tmpdir,
}

impl Temp {
    /// The name prefix of this process's temps of this kind.
    pub fn prefix(self) -> String {
        self.prefix_for(std::process::id())
    }

    fn prefix_for(self, pid: u32) -> String {
        match self {
            Temp::Output => format!(".distcc-{pid}-"),
            Temp::Tmpdir => format!("distcc_{pid}_"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    dir: PathBuf,
    prefix: String,
}

struct Registry {
    /// The state dir whose slot holds the journal, once signals are ours;
    /// `None` keeps places in memory.
    journal: Option<PathBuf>,
    /// Whether a journal was written (and must be cleared at the end).
    written: bool,
    places: Vec<Place>,
    /// Our children, by pidfd, so a signal never reaches a recycled pid.
    children: Vec<(u32, OwnedFd)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    journal: None,
    written: false,
    places: Vec::new(),
    children: Vec::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes the signals listed above for this process from now on. Call it
/// before any other thread starts: threads inherit the blocked mask, which
/// is what leaves the signals to ours. `state` is where the journal goes.
pub fn install(state: &Path) {
    // SAFETY: sigset manipulation on a local set; the mask of this (the
    // only) thread is changed.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let started = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || wait_for_signals(set));
    if started.is_err() {
        // Without the thread, the signals keep their default action.
        // SAFETY: as above.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
        return;
    }
    registry().journal = Some(state.to_path_buf());
}

/// This process's slot, once what a killed holder's journal names is
/// gone (the slot's lock says its holder is: the kernel drops it with
/// the process).
fn our_slot(state: &Path) -> Option<&'static Slot> {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let s = slot::ours(state)?;
    SWEPT.call_once(|| sweep_slot(s));
    Some(s)
}

/// Removes what the journal a slot's last holder left names (nothing if
/// it ended cleanly), then empties it.
fn sweep_slot(s: &Slot) {
    let (pid, text) = s.journal();
    if !text.is_empty() && parse_journal(&text, pid).iter().all(remove_all) {
        s.write_journal(pid, b"").ok();
    }
}

fn wait_for_signals(set: libc::sigset_t) {
    loop {
        let mut sig = 0;
        // SAFETY: a valid set and out-pointer.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            continue;
        }
        let mut reg = registry();
        for (_, pidfd) in &reg.children {
            // SAFETY: a pidfd we own; a reaped child's gives ESRCH.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd.as_raw_fd(),
                    sig,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
        }
        if reg.places.iter().all(remove_all) {
            clear_journal(&mut reg);
        }
        // Die of the signal, holding the lock so no temp is made after.
        // SAFETY: restoring the default action and raising the signal in
        // this thread, where it is then unblocked, ends the process.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            let mut one: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut one);
            libc::sigaddset(&mut one, sig);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &one, std::ptr::null_mut());
            libc::raise(sig);
            libc::_exit(128 + sig);
        }
    }
}

/// While held, no signal cleanup runs: hold it while making a temp file.
pub struct Hold(#[allow(dead_code)] MutexGuard<'static, Registry>);

/// Records that temps of `kind` are about to be made in `dir`; hold the
/// result while making one.
pub fn place(dir: &Path, kind: Temp) -> Hold {
    let mut reg = registry();
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| absolute(dir));
    let place = Place {
        dir,
        prefix: kind.prefix(),
    };
    if !reg.places.contains(&place) {
        reg.places.push(place);
        write_journal(&mut reg);
    }
    Hold(reg)
}

/// Forgets a place (`DISTCC_SAVE_TEMPS` keeps what it holds).
pub fn forget(dir: &Path, kind: Temp) {
    let mut reg = registry();
    let prefix = kind.prefix();
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| absolute(dir));
    reg.places.retain(|p| !(p.dir == dir && p.prefix == prefix));
    write_journal(&mut reg);
}

fn absolute(dir: &Path) -> PathBuf {
    std::env::current_dir()
        .map(|cwd| cwd.join(dir))
        .unwrap_or_else(|_| dir.to_path_buf())
}

/// The journal: one place per line, `prefix TAB dir`. A dir with a line
/// break in its name is kept in memory only.
fn write_journal(reg: &mut Registry) {
    let Some(state) = &reg.journal else { return };
    let mut text = Vec::new();
    for p in &reg.places {
        let dir = p.dir.as_os_str().as_bytes();
        if !dir.contains(&b'\n') {
            text.extend_from_slice(p.prefix.as_bytes());
            text.push(b'\t');
            text.extend_from_slice(dir);
            text.push(b'\n');
        }
    }
    if let Some(s) = our_slot(state) {
        reg.written |= s.write_journal(std::process::id(), &text).is_ok();
    }
}

/// Removes what `place` holds; `true` if nothing of it is left.
fn remove_all(place: &Place) -> bool {
    let Ok(entries) = fs::read_dir(&place.dir) else {
        return true;
    };
    let mut clean = true;
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .as_bytes()
            .starts_with(place.prefix.as_bytes())
        {
            continue;
        }
        let path = entry.path();
        let removed = match entry.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
        clean &= removed.is_ok() || !path.exists();
    }
    clean
}

/// Removes what clients killed outright left behind: in the slot this
/// process takes, and in the journal files of earlier versions, the
/// places of pids that are gone (or are ours: a journal under our own
/// pid is a dead predecessor's, since ours is not written yet).
pub fn sweep_dead(state: &Path) {
    our_slot(state);
    let Ok(entries) = fs::read_dir(state) else {
        return;
    };
    let ours = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(JOURNAL))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != ours && crate::sys::process_exists(pid) {
            continue;
        }
        let journal = entry.path();
        let text = fs::read(&journal).unwrap_or_default();
        let places = parse_journal(&text, pid);
        if places.iter().all(remove_all) {
            fs::remove_file(&journal).ok();
        }
    }
}

/// The places a journal of `pid` names, keeping only prefixes that carry
/// that pid: a journal never makes us remove anything else.
fn parse_journal(text: &[u8], pid: u32) -> Vec<Place> {
    let allowed = [Temp::Output.prefix_for(pid), Temp::Tmpdir.prefix_for(pid)];
    text.split(|&b| b == b'\n')
        .filter_map(|line| {
            let tab = line.iter().position(|&b| b == b'\t')?;
            let prefix = std::str::from_utf8(&line[..tab]).ok()?;
            let dir = Path::new(OsStr::from_bytes(&line[tab + 1..]));
            (allowed.iter().any(|a| a == prefix) && dir.is_absolute()).then(|| Place {
                dir: dir.to_path_buf(),
                prefix: prefix.to_string(),
            })
        })
        .collect()
}

/// The job ended normally: its temps are gone, and so goes the journal.
pub fn finish() {
    let mut reg = registry();
    reg.places.clear();
    clear_journal(&mut reg);
}

/// Nothing of ours is left to remove: the journal goes (emptied in the
/// slot, which stays for the next client).
fn clear_journal(reg: &mut Registry) {
    if let (Some(state), true) = (reg.journal.take(), reg.written) {
        if let Some(s) = slot::ours(&state) {
            s.write_journal(std::process::id(), b"").ok();
        }
    }
}

/// Starts `cmd` as a child a caught signal is passed on to; call
/// [`reaped`] once it has been waited for.
pub fn spawn(cmd: &mut Command) -> io::Result<Child> {
    let mut reg = registry();
    let child = cmd.spawn()?;
    // SAFETY: pidfd_open on our own child, not yet reaped.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) };
    if fd >= 0 {
        // SAFETY: a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        reg.children.push((child.id(), fd));
    }
    Ok(child)
}

/// `child` was waited for: signals are no longer passed on to it.
pub fn reaped(child: &Child) {
    registry().children.retain(|(pid, _)| *pid != child.id());
}

/// Runs `cmd` to its end as a child signals are passed on to.
pub fn status(cmd: &mut Command) -> io::Result<ExitStatus> {
    let mut child = spawn(cmd)?;
    let status = child.wait();
    reaped(&child);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_clients_journal_names_what_is_swept_and_nothing_else() {
        let top = tempfile::tempdir().unwrap();
        let (state, out, tmp) = (
            top.path().join("state"),
            top.path().join("out"),
            top.path().join("tmp"),
        );
        for d in [&state, &out, &tmp] {
            fs::create_dir_all(d).unwrap();
        }
        // Pids above the kernel's maximum (4194304) never exist.
        let dead = 999_999_999;
        let left = [
            out.join(format!(".distcc-{dead}-abc123")),
            tmp.join(format!("distcc_{dead}_xyz/source.i")),
        ];
        let kept = [
            out.join("x.o"),
            out.join(".distcc-42-abc123"),
            tmp.join(format!("distcc_{}_live", std::process::id())),
        ];
        for f in left.iter().chain(&kept) {
            fs::create_dir_all(f.parent().unwrap()).unwrap();
            fs::write(f, "x").unwrap();
        }
        let journal = format!(
            "{}\t{}\n{}\t{}\n.distcc-42-\t{}\ndistcc_\t{}\nbroken line\n",
            Temp::Output.prefix_for(dead),
            out.display(),
            Temp::Tmpdir.prefix_for(dead),
            tmp.display(),
            out.display(),
            tmp.display(),
        );
        fs::write(state.join(format!("temps_{dead}")), journal).unwrap();
        // A live process's journal is left alone.
        fs::write(
            state.join("temps_1"),
            format!("distcc_1_\t{}\n", tmp.display()),
        )
        .unwrap();
        sweep_dead(&state);
        assert!(!out.join(format!(".distcc-{dead}-abc123")).exists());
        assert!(!tmp.join(format!("distcc_{dead}_xyz")).exists());
        for f in &kept {
            assert!(f.exists(), "{} kept", f.display());
        }
        assert!(!state.join(format!("temps_{dead}")).exists());
        assert!(state.join("temps_1").exists());
    }

    #[test]
    fn what_a_killed_holder_of_a_slot_left_is_removed_by_the_next() {
        let top = tempfile::tempdir().unwrap();
        let (state, out) = (top.path().join("state"), top.path().join("out"));
        fs::create_dir(&out).unwrap();
        let dead = 999_999_999;
        let temp = out.join(format!(".distcc-{dead}-abcdef"));
        let other = out.join(".distcc-1-abcdef");
        fs::write(&temp, "half an object").unwrap();
        fs::write(&other, "not the dead one's").unwrap();
        {
            // The killed client: its journal names the output's place.
            let s = slot::take(&state).unwrap();
            let line = format!(
                ".distcc-{dead}-\t{}\n.distcc-1-\t{}\n",
                out.display(),
                out.display()
            );
            s.write_journal(dead, line.as_bytes()).unwrap();
        }
        let next = slot::take(&state).unwrap();
        sweep_slot(&next);
        assert!(!temp.exists());
        assert!(other.exists(), "only what carries the dead pid");
        assert_eq!(next.journal().1, b"");
    }
}
