//! Processes and processors: whether a process exists, how many CPUs are
//! online.

use std::io;

/// Whether process `pid` exists. EPERM means it does, as another user's.
pub fn process_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// CPUs online: one sysconf, where `available_parallelism` reads cgroup
/// files on every call, a cost each client job would pay.
pub fn online_cpus() -> u32 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u32::try_from(n).unwrap_or(2).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn we_exist_and_an_impossible_pid_does_not() {
        assert!(process_exists(std::process::id()));
        // Pids above the kernel's maximum (4194304) never exist.
        assert!(!process_exists(999_999_999));
        assert!(!process_exists(0));
        assert!(online_cpus() >= 1);
    }
}
