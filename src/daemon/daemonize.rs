//! Becoming a daemon: detaching from the terminal, the pid file, and
//! dropping root. The order is fixed by `daemon::main`: bind (maybe a
//! privileged port), detach, open the log, write the pid file, drop root,
//! then report readiness, so that when the command that started us returns
//! the socket is bound and the pid file names a live daemon.

use std::ffi::CString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use crate::exit::Code;

/// Detaches from the terminal the classic way: fork, setsid, fork again, so
/// the daemon is no session leader and can never regain a terminal. The
/// command that started us waits until the daemon calls [`Ready::notify`]
/// and exits 0, or exits with the daemon's code if it fails first; until
/// then the daemon keeps its stderr, so a start-up error reaches whoever
/// started it. Must run before any thread exists.
pub fn detach() -> Result<Ready> {
    let (read, write) = crate::sys::pipe(false).context("pipe")?;
    // SAFETY: single-threaded at this point; fork is the documented way.
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()).context("fork"),
        0 => {}
        _ => {
            drop(write);
            wait_ready_and_exit(read)
        }
    }
    drop(read);
    // SAFETY: plain syscall in the child, which is no group leader.
    unsafe { libc::setsid() };
    // SAFETY: as above.
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()).context("fork"),
        0 => {}
        // SAFETY: _exit never returns; the intermediate process owns
        // nothing the daemon does not, so no destructor may run.
        _ => unsafe { libc::_exit(0) },
    }
    std::env::set_current_dir("/").ok();
    let devnull = fs::File::open("/dev/null").context("opening /dev/null")?;
    // SAFETY: duplicating a valid fd over stdin.
    unsafe { libc::dup2(devnull.as_raw_fd(), 0) };
    Ok(Ready(Some(write)))
}

/// The original process: exit 0 once the daemon says it is ready, or with
/// the code it reports (or distcc's generic failure if it dies silently),
/// but only once it has exited, so its error message comes first.
fn wait_ready_and_exit(read: OwnedFd) -> ! {
    let mut file = fs::File::from(read);
    let mut byte = [0u8; 1];
    let code = match file.read(&mut byte) {
        Ok(1) if byte[0] == READY => 0,
        Ok(1) => {
            let mut rest = Vec::new();
            file.read_to_end(&mut rest).ok();
            byte[0]
        }
        _ => Code::Generic.as_u8(),
    };
    // SAFETY: _exit never returns; see `detach` on destructors.
    unsafe { libc::_exit(code.into()) }
}

const READY: u8 = 0;

/// The daemon's side of the start-up handshake; a no-op when not detached.
pub struct Ready(Option<OwnedFd>);

impl Ready {
    pub fn foreground() -> Ready {
        Ready(None)
    }

    /// Lets the starting command exit 0. stdout (and stderr, unless the
    /// log goes there) become /dev/null first, so nobody waiting for our
    /// output waits for the daemon's whole life.
    pub fn notify(&mut self, keep_stderr: bool) -> Result<()> {
        let Some(fd) = self.0.take() else {
            return Ok(());
        };
        let devnull = fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .context("opening /dev/null")?;
        let fds: &[i32] = if keep_stderr { &[1] } else { &[1, 2] };
        for &target in fds {
            // SAFETY: duplicating a valid fd over a standard one.
            unsafe { libc::dup2(devnull.as_raw_fd(), target) };
        }
        fs::File::from(fd)
            .write_all(&[READY])
            .context("reporting readiness")
    }

    /// Start-up failed with `code`: the starting command exits with it once
    /// we have exited (and printed why).
    pub fn fail(&mut self, code: Code) {
        if let Some(fd) = self.0.take() {
            let mut f = fs::File::from(fd);
            f.write_all(&[code.as_u8()]).ok();
            // Left open: it closes when we exit, after the message.
            let _ = f.into_raw_fd();
        }
    }
}

/// The pid file, written once listening and removed when dropped (a clean
/// exit), if it still names us.
///
/// It is written before root is dropped, so it may live in a root-owned
/// dir such as /run, and given to the account the daemon becomes, so it
/// can remove it from a sticky dir such as /tmp. From a dir only root may
/// write, removing it fails, as for most daemons, and we say so.
pub struct PidFile(PathBuf);

impl PidFile {
    /// Writes via an exclusively created temp file and a rename: a root
    /// daemon must not follow a link planted in a shared dir, and readers
    /// never see a half-written pid.
    pub fn create(path: &Path, owner: Option<&Account>) -> Result<PidFile> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let write = || -> io::Result<()> {
            let mut tmp = tempfile::Builder::new()
                .prefix(".distccd-pid")
                .tempfile_in(dir)?;
            writeln!(tmp, "{}", std::process::id())?;
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(0o644))?;
            if let Some(a) = owner {
                // SAFETY: fchown on a descriptor we own.
                if unsafe { libc::fchown(tmp.as_file().as_raw_fd(), a.uid, a.gid) } != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            tmp.persist(path).map_err(|e| e.error)?;
            Ok(())
        };
        write().with_context(|| format!("writing pid file {}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }

    /// Whether the file still names this process: another daemon started
    /// with the same pid file since owns it now.
    fn names_us(&self) -> bool {
        fs::read_to_string(&self.0).is_ok_and(|text| text.trim() == std::process::id().to_string())
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if !self.names_us() {
            log::info!("pid file {} no longer names us: left", self.0.display());
            return;
        }
        if let Err(e) = fs::remove_file(&self.0) {
            log::warn!(
                "cannot remove pid file {}: {e} (put it in a dir the daemon's user may write)",
                self.0.display()
            );
        }
    }
}

/// Users tried in turn when root starts us without `--user`: the
/// reference's, the one Debian packages create, then the last resort.
const DEFAULT_USERS: &[&str] = &["distcc", "distccd", "nobody"];

/// The unprivileged account a root daemon switches to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
}

/// Whether we run as root and so must switch users.
pub fn is_root() -> bool {
    // SAFETY: getters never fail.
    unsafe { libc::geteuid() == 0 || libc::getuid() == 0 }
}

/// The account root must become: `user`, or the first of
/// [`DEFAULT_USERS`] that exists. `None` when not root (then `--user` is
/// ignored: the caller warns once logging is up). An account with uid 0 is
/// refused, as is having none: compiling as root would let a compiler bug,
/// or a hostile source exercising one, own the machine.
pub fn account(user: Option<&str>) -> Result<Option<Account>> {
    if !is_root() {
        return Ok(None);
    }
    let candidates: Vec<&str> = match user {
        Some(u) => vec![u],
        None => DEFAULT_USERS.to_vec(),
    };
    for name in &candidates {
        let cname = CString::new(*name).map_err(|_| anyhow!("bad user name {name:?}"))?;
        // SAFETY: getpwnam returns a pointer into static storage or null;
        // we copy the ids out before any other call.
        let pw = unsafe { libc::getpwnam(cname.as_ptr()) };
        if pw.is_null() {
            continue;
        }
        let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
        if uid == 0 {
            return Err(anyhow!(Code::SetuidFailed).context(format!(
                "refusing to compile as root: user {name} has uid 0"
            )));
        }
        return Ok(Some(Account {
            name: name.to_string(),
            uid,
            gid,
        }));
    }
    Err(anyhow!(Code::SetuidFailed).context(format!(
        "refusing to compile as root: no user {} to switch to",
        candidates.join(" or ")
    )))
}

/// Becomes `account` for good (groups, gid, then uid), or fails: there is
/// no way on from here as root.
pub fn switch_to(account: &Account) -> Result<()> {
    // SAFETY: plain syscalls; order matters: groups and gid before uid.
    let ok = unsafe {
        libc::setgroups(1, &account.gid) == 0
            && libc::setgid(account.gid) == 0
            && libc::setuid(account.uid) == 0
    };
    if !ok || is_root() {
        return Err(anyhow!(Code::SetuidFailed).context(format!(
            "refusing to compile as root: cannot switch to user {}: {}",
            account.name,
            io::Error::last_os_error()
        )));
    }
    log::info!("running as user {} (uid {})", account.name, account.uid);
    Ok(())
}

/// Opens (creating) the log file while still root, so it may live in a
/// root-owned dir such as /var/log, and hands a root-owned one to
/// `account`, which writes to it and reopens it on SIGHUP. Links are not
/// followed and a file with other names is left alone: a root daemon must
/// not be tricked into giving away some other file planted at that path.
pub fn prepare_log_file(path: &Path, account: Option<&Account>) -> Result<()> {
    let Some(account) = account else {
        return Ok(());
    };
    let file = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("opening log file {}", path.display()))?;
    let meta = file.metadata()?;
    if meta.is_file() && meta.uid() == 0 && meta.nlink() == 1 {
        // SAFETY: fchown on a descriptor we own.
        if unsafe { libc::fchown(file.as_raw_fd(), account.uid, account.gid) } != 0 {
            return Err(io::Error::last_os_error()).with_context(|| {
                format!("giving log file {} to {}", path.display(), account.name)
            });
        }
    }
    Ok(())
}

/// Creates `--cache-dir` as root (mode 0700) when it does not exist yet,
/// and gives it to `account`, so a cache under a root-owned parent such as
/// `/var/cache` works after root is dropped. A dir that exists is left as
/// the operator made it: giving away one they named could hand a system
/// dir to the daemon's user.
pub fn prepare_cache_dir(dir: &Path, account: Option<&Account>) -> Result<()> {
    let Some(account) = account else {
        return Ok(());
    };
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("creating the result cache's parent {}", parent.display()))?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| format!("creating the result cache {}", dir.display()))
        }
    }
    let made = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)
        .with_context(|| format!("opening the result cache {}", dir.display()))?;
    // SAFETY: fchown on a descriptor we own.
    if unsafe { libc::fchown(made.as_raw_fd(), account.uid, account.gid) } != 0 {
        return Err(io::Error::last_os_error()).with_context(|| {
            format!(
                "giving the result cache {} to {}",
                dir.display(),
                account.name
            )
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_dir_made_as_root_is_given_to_the_account_and_an_existing_one_is_not() {
        if !is_root() {
            eprintln!("SKIPPED: needs root to give a dir away");
            return;
        }
        let a = Account {
            name: "someone".into(),
            uid: 4242,
            gid: 4243,
        };
        let t = tempfile::tempdir().unwrap();
        let made = t.path().join("var/cache/distccd");
        prepare_cache_dir(&made, Some(&a)).unwrap();
        let m = fs::metadata(&made).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (4242, 4243, 0o700));
        assert_eq!(fs::metadata(made.parent().unwrap()).unwrap().uid(), 0);
        let existing = t.path().join("existing");
        fs::create_dir(&existing).unwrap();
        prepare_cache_dir(&existing, Some(&a)).unwrap();
        assert_eq!(fs::metadata(&existing).unwrap().uid(), 0);
    }

    #[test]
    fn pid_file_is_written_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.pid");
        let f = PidFile::create(&p, None).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp left");
        drop(f);
        assert!(!p.exists());
    }

    #[test]
    fn a_pid_file_that_names_another_process_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.pid");
        let f = PidFile::create(&p, None).unwrap();
        fs::write(&p, "1\n").unwrap();
        drop(f);
        assert_eq!(fs::read_to_string(&p).unwrap(), "1\n");
    }

    #[test]
    fn pid_file_does_not_follow_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        let p = dir.path().join("d.pid");
        std::os::unix::fs::symlink(&victim, dir.path().join("d.tmp")).unwrap();
        let _f = PidFile::create(&p, None).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
    }

    #[test]
    fn user_root_and_unknown_users_are_refused() {
        // SAFETY: getter.
        if unsafe { libc::geteuid() } != 0 {
            return;
        }
        // Only lookups: nothing changes in this process.
        let e = account(Some("root")).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::SetuidFailed);
        let e = account(Some("no-such-user-here")).unwrap_err();
        assert_eq!(crate::exit::code_of(&e), Code::SetuidFailed);
        assert_eq!(account(Some("nobody")).unwrap().unwrap().name, "nobody");
    }

    #[test]
    fn log_file_is_given_to_the_account_but_links_are_not_followed() {
        if !is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let nobody = account(Some("nobody")).unwrap().unwrap();
        let log = dir.path().join("d.log");
        prepare_log_file(&log, Some(&nobody)).unwrap();
        assert_eq!(fs::metadata(&log).unwrap().uid(), nobody.uid);
        let victim = dir.path().join("victim");
        fs::write(&victim, "").unwrap();
        let planted = dir.path().join("planted.log");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(prepare_log_file(&planted, Some(&nobody)).is_err());
        assert_eq!(fs::metadata(&victim).unwrap().uid(), 0);
    }
}
