//! What the stats page says about the machine rather than the daemon:
//! load average, free space where jobs run, processes stuck in disk wait,
//! and the largest process. Read from /proc on each request; nothing is
//! kept between requests.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> [f64; 3] {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut out = [0.0; 3];
    for (slot, word) in out.iter_mut().zip(text.split_whitespace()) {
        *slot = word.parse().unwrap_or(0.0);
    }
    out
}

/// MiB free for unprivileged users on the filesystem holding `dir`, or -1.
pub fn free_mib(dir: &Path) -> i64 {
    let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
        return -1;
    };
    // SAFETY: statvfs fills `buf` for a NUL-terminated path.
    let mut buf: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut buf) } != 0 {
        return -1;
    }
    (buf.f_bavail as u128 * buf.f_frsize as u128 / (1 << 20)) as i64
}

/// Processes in uninterruptible sleep, and the largest resident process
/// (KiB, name).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Processes {
    pub in_disk_wait: u64,
    pub max_rss_kib: u64,
    pub max_rss_name: String,
}

pub fn processes() -> Processes {
    // SAFETY: sysconf has no preconditions.
    let page_kib = (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) / 1024) as u64;
    let mut out = Processes::default();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        if !name.as_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((comm, state, rss_pages)) = parse_stat(&stat) {
            if state == 'D' {
                out.in_disk_wait += 1;
            }
            let rss = rss_pages * page_kib;
            if rss > out.max_rss_kib {
                out.max_rss_kib = rss;
                out.max_rss_name = comm.to_string();
            }
        }
    }
    out
}

/// `(comm, state, rss in pages)` from a /proc/PID/stat line. The name is
/// in parentheses and may hold spaces and parentheses itself, so the
/// fields after it are found from its last `)`.
fn parse_stat(line: &str) -> Option<(&str, char, u64)> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let comm = line.get(open + 1..close)?;
    let mut rest = line.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    // After the state, rss is the 21st field (field 24 of the whole line).
    let rss = rest.nth(20)?.parse().ok()?;
    Some((comm, state, rss))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_awkward_names() {
        let line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 \
                    100 10000000 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        assert_eq!(parse_stat(line), Some(("a) b (c)", 'S', 321)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_machine_has_numbers() {
        let p = processes();
        assert!(p.max_rss_kib > 0 && !p.max_rss_name.is_empty(), "{p:?}");
        assert!(free_mib(Path::new("/")) >= 0);
        assert_eq!(free_mib(Path::new("/no/such/dir")), -1);
        assert!(load_average().iter().all(|l| *l >= 0.0));
    }
}
