//! `+zeroconf` in the host list: the volunteers that announce `_distcc._tcp`
//! on the local network, as distcc 3.4 finds them, through the system's
//! Avahi (`avahi-browse`, which needs the avahi-daemon running): each
//! service's address and port, with a limit of 4 jobs per CPU its `cpus=`
//! TXT record announces (1 without one), as distcc 3.4 has it.
//!
//! Browsing takes a moment, so the answer is kept in
//! `$DISTCC_DIR/zeroconf/hosts` for [`TTL`] and shared by every client
//! process: one process browses again (holding `zeroconf/lock`) while the
//! others use the last answer. Volunteers that appear or leave are seen
//! within the TTL; one that has left costs no job (a refused connection
//! sends it to the next host). Without Avahi the list is empty, said once
//! per browse in the log.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use fs2::FileExt;

use crate::hosts::{self, Host};
use crate::state::replace_file;

/// How long a browse's answer is used.
pub const TTL: Duration = Duration::from_secs(5);
/// How long one browse may take.
const BROWSE_TIMEOUT: Duration = Duration::from_secs(5);
/// distcc 3.4's slots per announced CPU.
const SLOTS_PER_CPU: u32 = 4;

/// The volunteers Avahi announces, from the cache while it is fresh.
pub fn hosts(state_dir: &Path) -> Vec<Host> {
    let dir = state_dir.join("zeroconf");
    let path = dir.join("hosts");
    let age = fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .map(|t| SystemTime::now().duration_since(t).unwrap_or_default());
    if age.is_some_and(|a| a < TTL) {
        return read(&path);
    }
    if fs::create_dir_all(&dir).is_err() {
        return Vec::new();
    }
    let Ok(lock) = File::create(dir.join("lock")) else {
        return Vec::new();
    };
    if lock.try_lock_exclusive().is_err() {
        if age.is_some() {
            return read(&path);
        }
        // The first browse of all: wait for whoever does it.
        lock.lock_exclusive().ok();
        return read(&path);
    }
    let text = browse().map(|out| to_host_list(&out)).unwrap_or_default();
    replace_file(&path, text.as_bytes()).ok();
    hosts_of(&text)
}

fn read(path: &Path) -> Vec<Host> {
    hosts_of(&fs::read_to_string(path).unwrap_or_default())
}

fn hosts_of(text: &str) -> Vec<Host> {
    hosts::parse(text).map(|l| l.hosts).unwrap_or_default()
}

/// `avahi-browse`'s parsable, resolved, one-shot output, within
/// [`BROWSE_TIMEOUT`].
fn browse() -> Option<String> {
    let program = OsString::from("avahi-browse");
    let mut child = Command::new(&program)
        .args(["--parsable", "--resolve", "--terminate", "--no-db-lookup"])
        .arg("_distcc._tcp")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| log::warn!("+zeroconf: cannot run {}: {e}", program.to_string_lossy()))
        .ok()?;
    let mut out = child.stdout.take()?;
    let until = Instant::now() + BROWSE_TIMEOUT;
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match crate::sys::poll_any(&[out.as_raw_fd()], Some(until)) {
            Ok(Some(_)) => match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.extend_from_slice(&buf[..n]),
            },
            _ => {
                log::warn!("+zeroconf: avahi-browse took over {BROWSE_TIMEOUT:?}");
                break;
            }
        }
    }
    child.kill().ok();
    child.wait().ok();
    Some(String::from_utf8_lossy(&text).into_owned())
}

/// The host list text (`ADDR:PORT/LIMIT` lines) of the resolved services
/// (`=` lines: interface, protocol, name, type, domain, host name,
/// address, port, TXT records) of `avahi-browse --parsable` output.
fn to_host_list(out: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in out.lines() {
        let fields: Vec<&str> = line.split(';').collect();
        if fields.len() < 9 || fields[0] != "=" {
            continue;
        }
        let (addr, port) = (fields[7], fields[8]);
        let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
            continue;
        };
        if port.parse::<u16>().is_err() {
            continue;
        }
        let cpus = fields.get(9).map_or(1, |txt| cpus(txt));
        let host = match ip {
            std::net::IpAddr::V6(_) => format!("[{ip}]:{port}/{}", cpus * SLOTS_PER_CPU),
            _ => format!("{ip}:{port}/{}", cpus * SLOTS_PER_CPU),
        };
        if !lines.contains(&host) {
            lines.push(host);
        }
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// The `cpus=N` TXT record, within what a host list accepts.
fn cpus(txt: &str) -> u32 {
    txt.split_whitespace()
        .map(|r| r.trim_matches('"'))
        .find_map(|r| r.strip_prefix("cpus="))
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|&n| n > 0)
        .map_or(1, |n| n.min(hosts::MAX_LIMIT / SLOTS_PER_CPU))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_services_become_hosts() {
        let out = "+;eth0;IPv4;box1;_distcc._tcp;local\n\
                   =;eth0;IPv4;box1;_distcc._tcp;local;box1.local;192.168.1.5;3632;\"txtvers=1\" \"cpus=8\" \"distcc=3.4\"\n\
                   =;eth0;IPv6;box1;_distcc._tcp;local;box1.local;fe80::1;3632;\"cpus=8\"\n\
                   =;eth0;IPv4;box2;_distcc._tcp;local;box2.local;192.168.1.6;4000;\n\
                   =;eth1;IPv4;box2;_distcc._tcp;local;box2.local;192.168.1.6;4000;\n\
                   =;eth0;IPv4;odd;_distcc._tcp;local;odd.local;not-an-address;3632;\n";
        assert_eq!(
            to_host_list(out),
            "192.168.1.5:3632/32\n[fe80::1]:3632/32\n192.168.1.6:4000/4\n"
        );
        let hosts = hosts_of(&to_host_list(out));
        assert_eq!(hosts.len(), 3);
        assert_eq!(cpus("\"cpus=0\""), 1);
        assert_eq!(cpus("\"cpus=100000\""), hosts::MAX_LIMIT / SLOTS_PER_CPU);
    }
}
