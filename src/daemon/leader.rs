//! Each compiler runs under a leader of its own: a small process between
//! the daemon and the compiler whose one task is that no process of the
//! job outlives the job, or the daemon.
//!
//! Why a process: a compiler is a tree (the driver, then cc1 and as beside
//! it), and the daemon can die without running a line of cleanup
//! (SIGKILL, the OOM killer). `PR_SET_PDEATHSIG` alone would not do: it
//! fires when the *thread* that forked exits, and it reaches only that
//! direct child, not cc1 or as. A PID namespace would, but needs
//! privileges (or user namespaces) a volunteer often lacks, and the daemon
//! runs as an unprivileged user. The leader needs neither:
//! - it gets SIGTERM when the daemon dies (`PR_SET_PDEATHSIG`, set in the
//!   leader, whose parent thread is the job's, which waits for it), and
//!   when the daemon ends the job (its lifetime, a stop, a client gone);
//! - on either, it kills the compiler's whole process group, of which the
//!   compiler is the leader, so cc1 and as go too;
//! - it is a subreaper, so helpers orphaned by a dying driver come back to
//!   it rather than to init, and it reaps them;
//! - when the driver exits it kills what is left of its group, reaps, and
//!   exits with the driver's status, which the daemon reads as the
//!   compiler's.
//!
//! It is forked between the daemon's fork and the compiler's exec, so it
//! runs only async-signal-safe calls, allocates nothing, and never returns.

use std::io;

/// Called in the daemon's child, between fork and exec: forks the
/// compiler, which returns here and goes on to exec; the child stays as the
/// compiler's leader and never returns. `daemon` is the daemon's pid.
///
/// # Safety
/// Only between fork and exec, in a child with a single thread.
pub unsafe fn split(daemon: libc::pid_t) -> io::Result<()> {
    let watched = watched_signals();
    let mut before: libc::sigset_t = std::mem::zeroed();
    // Blocked before the fork, so no signal is lost before the leader waits.
    libc::sigprocmask(libc::SIG_BLOCK, &watched, &mut before);
    // Out of the daemon's process group: a terminal's ^C to a foreground
    // daemon is the daemon's to handle, not the leader's.
    libc::setpgid(0, 0);
    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0
        || libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) != 0
    {
        return Err(io::Error::last_os_error());
    }
    match libc::fork() {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            // The compiler: the leader of its own group, killed should
            // its leader die, with the signal mask it would have had.
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            libc::sigprocmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
            Ok(())
        }
        compiler => lead(daemon, compiler, &watched),
    }
}

fn watched_signals() -> libc::sigset_t {
    // SAFETY: plain sigset manipulation on a local.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

/// The leader's life: wait for the compiler's end, or for the word to end
/// it, then clean up and exit as the compiler did.
///
/// # Safety
/// As [`split`].
unsafe fn lead(daemon: libc::pid_t, compiler: libc::pid_t, watched: &libc::sigset_t) -> ! {
    // Both sides set the group, so the kill below can never miss a
    // compiler that has not yet set it itself.
    libc::setpgid(compiler, compiler);
    libc::prctl(libc::PR_SET_NAME, c"distccd-leader".as_ptr());
    // Nothing of the daemon's stays open here: not the compiler's streams,
    // not the write end of a streamed source's pipe (its reader would wait
    // for our copy to close), not the exec-status pipe the daemon reads.
    if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
        for fd in 0..4096 {
            libc::close(fd);
        }
    }
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    libc::setrlimit(libc::RLIMIT_CORE, &no_core);
    // The daemon may have died before the death signal was armed.
    if libc::getppid() != daemon {
        libc::kill(-compiler, libc::SIGKILL);
    }
    let status = loop {
        if libc::sigwaitinfo(watched, std::ptr::null_mut()) == libc::SIGTERM {
            libc::kill(-compiler, libc::SIGKILL);
        }
        if let Some(status) = reap(compiler) {
            break status;
        }
    };
    reap_the_rest(watched);
    exit_as(status)
}

/// Reaps what has exited. When the compiler has, its group is killed
/// first, while its unreaped pid still pins the group's id, and its wait
/// status is returned.
///
/// # Safety
/// As [`split`].
unsafe fn reap(compiler: libc::pid_t) -> Option<libc::c_int> {
    loop {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        if libc::waitid(libc::P_ALL, 0, &mut info, flags) != 0 || info.si_pid() == 0 {
            return None;
        }
        let pid = info.si_pid();
        let mut status = 0;
        if pid == compiler {
            libc::kill(-compiler, libc::SIGKILL);
            libc::waitpid(compiler, &mut status, 0);
            return Some(status);
        }
        libc::waitpid(pid, &mut status, 0);
    }
}

/// Reaps the group's stragglers, which were just killed; bounded, since a
/// process that left the group is no longer ours to wait for.
///
/// # Safety
/// As [`split`].
unsafe fn reap_the_rest(watched: &libc::sigset_t) {
    let tick = libc::timespec {
        tv_sec: 0,
        tv_nsec: 10_000_000,
    };
    for _ in 0..200 {
        loop {
            let r = libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG);
            if r < 0 {
                // No children left.
                return;
            }
            if r == 0 {
                break;
            }
        }
        libc::sigtimedwait(watched, std::ptr::null_mut(), &tick);
    }
}

/// Exits with `status` as the compiler's wait status: its exit code, or
/// death by its signal.
///
/// # Safety
/// As [`split`].
unsafe fn exit_as(status: libc::c_int) -> ! {
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        libc::signal(sig, libc::SIG_DFL);
        let mut only: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut only);
        libc::sigaddset(&mut only, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &only, std::ptr::null_mut());
        libc::kill(libc::getpid(), sig);
        libc::_exit(128 + sig)
    }
    libc::_exit(libc::WEXITSTATUS(status))
}
