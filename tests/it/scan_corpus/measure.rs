//! CPU time, for the cost figures: this thread's (the scanner runs
//! in-process) and that of the children waited for (`gcc -M`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::Recorded;

pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn children_cpu() -> Duration {
    // SAFETY: getrusage fills the struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// User+system CPU of one `compiler -M` run of the unit. Children's
/// times are process-wide, so callers measure one child at a time.
pub fn reference_cpu(u: &Recorded, compiler: &Path) -> Option<Duration> {
    let before = children_cpu();
    let st = Command::new(compiler)
        .args(&u.m_args)
        .args(["-M", "-MF", "/dev/null"])
        .current_dir(&u.cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    let after = children_cpu();
    st.success().then(|| after - before)
}

pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
