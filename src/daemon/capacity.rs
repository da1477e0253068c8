//! How much CPU this daemon's compilers may use, as the status query says
//! it (`protocol::status`): the CPUs online, fewer if our affinity mask
//! says so, fewer still under a cgroup CPU quota (v1's `cfs_quota_us`, v2's
//! `cpu.max`, the tightest of our group and its ancestors). Fractional: a
//! container given half a CPU says 0.5, which is what lets a client tell a
//! slow volunteer from a fast one. Read once at start-up.

use std::fs;
use std::path::{Path, PathBuf};

/// CPUs the daemon's compilers may use.
pub fn cores() -> f64 {
    let mut cpus = f64::from(crate::sys::online_cpus());
    if let Some(n) = affinity() {
        cpus = cpus.min(n);
    }
    let cgroups = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    if let Some(q) = quota(&cgroups, Path::new("/sys/fs/cgroup")) {
        cpus = cpus.min(q);
    }
    cpus
}

fn affinity() -> Option<f64> {
    // SAFETY: sched_getaffinity fills a zeroed set of the size we give.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) != 0 {
            return None;
        }
        Some(f64::from(libc::CPU_COUNT(&set) as u32)).filter(|n| *n > 0.0)
    }
}

/// The tightest CPU quota on the path of our cgroup, given the text of
/// /proc/self/cgroup and where the hierarchies are mounted.
fn quota(cgroups: &str, root: &Path) -> Option<f64> {
    let mut best: Option<f64> = None;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let dir = if controllers.is_empty() {
            // cgroup v2: the root itself, or `unified` beside v1's.
            let hybrid = root.join("unified");
            if hybrid.is_dir() {
                hybrid
            } else {
                root.to_path_buf()
            }
        } else if controllers.split(',').any(|c| c == "cpu") {
            root.join(controllers)
        } else {
            continue;
        };
        for group in ancestors(&dir, path) {
            if let Some(q) = read_quota(&group) {
                best = Some(best.map_or(q, |b: f64| b.min(q)));
            }
        }
    }
    best
}

/// `dir/path`, then each of its parents up to `dir`.
fn ancestors(dir: &Path, path: &str) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut at = dir.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != "..") {
        at = at.join(part);
        out.push(at.clone());
    }
    out
}

fn read_quota(group: &Path) -> Option<f64> {
    let read = |name: &str| fs::read_to_string(group.join(name)).ok();
    if let Some(max) = read("cpu.max") {
        let mut w = max.split_whitespace();
        let quota: f64 = w.next()?.parse().ok()?;
        let period: f64 = w.next()?.parse().ok()?;
        return (quota > 0.0 && period > 0.0).then(|| quota / period);
    }
    let quota: f64 = read("cpu.cfs_quota_us")?.trim().parse().ok()?;
    let period: f64 = read("cpu.cfs_period_us")?.trim().parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tightest_quota_on_the_path_counts() {
        let root = tempfile::tempdir().unwrap();
        let v1 = root.path().join("cpu,cpuacct");
        let group = v1.join("farm").join("v3");
        fs::create_dir_all(&group).unwrap();
        fs::write(v1.join("cpu.cfs_quota_us"), "-1\n").unwrap();
        fs::write(v1.join("cpu.cfs_period_us"), "100000\n").unwrap();
        fs::write(v1.join("farm/cpu.cfs_quota_us"), "50000\n").unwrap();
        fs::write(v1.join("farm/cpu.cfs_period_us"), "100000\n").unwrap();
        fs::write(group.join("cpu.cfs_quota_us"), "25000\n").unwrap();
        fs::write(group.join("cpu.cfs_period_us"), "100000\n").unwrap();
        let text = "4:memory:/x\n3:cpu,cpuacct:/farm/v3\n0::/\n";
        assert_eq!(quota(text, root.path()), Some(0.25));
        assert_eq!(quota("3:cpu,cpuacct:/\n", root.path()), None);
        let v2 = root.path().join("v2");
        fs::create_dir_all(v2.join("pod")).unwrap();
        fs::write(v2.join("pod/cpu.max"), "150000 100000\n").unwrap();
        assert_eq!(quota("0::/pod\n", &v2), Some(1.5));
        fs::write(v2.join("pod/cpu.max"), "max 100000\n").unwrap();
        assert_eq!(quota("0::/pod\n", &v2), None);
    }

    #[test]
    fn this_machine_has_some_cpu() {
        let c = cores();
        assert!(c > 0.0 && c <= f64::from(crate::sys::online_cpus()), "{c}");
    }
}
