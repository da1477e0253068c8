//! Hosts that come and go (and `+zeroconf`'s, from `zeroconf`): a TCP
//! host named by a DNS name that resolves to several addresses (a
//! Kubernetes headless service, a round-robin record) is one volunteer per
//! address, each with the entry's limit and options.
//! The answer is cached in `$DISTCC_DIR/dns/` for [`TTL`], shared by every
//! client process, so a build re-resolves every few seconds, not once per
//! job: a volunteer added to the answer gets work within the TTL, and one
//! that left is a refused connection, which costs no job (the next host
//! takes it).
//!
//! A name with one address stays a name (its locks and records keep their
//! key); `localhost`, addresses and ssh hosts are left alone. A lookup that
//! fails keeps the last answer, if any, else the name as it is (the
//! connection then fails like any unreachable host).

use std::fs;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::zeroconf;
use crate::hosts::{Host, HostList, Transport};
use crate::state::host_key;

/// How long an answer is used before the name is looked up again.
pub const TTL: Duration = Duration::from_secs(5);

/// `list` with every many-address name replaced by its addresses, and
/// the volunteers Avahi finds where `+zeroconf` stood (`zeroconf`).
pub fn expand(list: &HostList, state_dir: &Path) -> HostList {
    let dir = state_dir.join("dns");
    let mut out = HostList {
        hosts: Vec::with_capacity(list.hosts.len()),
        zeroconf: None,
        ..list.clone()
    };
    for (at, host) in list.hosts.iter().enumerate() {
        if list.zeroconf == Some(at) {
            out.hosts.extend(zeroconf::hosts(state_dir));
        }
        match &host.transport {
            Transport::Tcp { host: name, port } if is_name(name) => {
                let addrs = addresses(&dir, name);
                if addrs.len() < 2 {
                    out.hosts.push(host.clone());
                    continue;
                }
                out.hosts.extend(addrs.into_iter().map(|a| Host {
                    transport: Transport::Tcp {
                        host: a.to_string(),
                        port: *port,
                    },
                    ..host.clone()
                }));
            }
            _ => out.hosts.push(host.clone()),
        }
    }
    if list.zeroconf == Some(list.hosts.len()) {
        out.hosts.extend(zeroconf::hosts(state_dir));
    }
    out
}

fn is_name(host: &str) -> bool {
    host.parse::<IpAddr>().is_err() && !host.eq_ignore_ascii_case("localhost")
}

/// The addresses of `name`, from the cache while it is fresh.
fn addresses(dir: &Path, name: &str) -> Vec<IpAddr> {
    let path = dir.join(host_key(name));
    let cached = read_entry(&path);
    if let Some((age, addrs)) = &cached {
        if *age < TTL {
            return addrs.clone();
        }
    }
    match lookup(name) {
        Some(addrs) => {
            write_entry(&path, &addrs);
            addrs
        }
        None => cached.map(|(_, a)| a).unwrap_or_default(),
    }
}

/// The system resolver's answer (hosts file, DNS ...), in its order,
/// each address once.
fn lookup(name: &str) -> Option<Vec<IpAddr>> {
    let mut out: Vec<IpAddr> = Vec::new();
    for a in (name, 0).to_socket_addrs().ok()? {
        if !out.contains(&a.ip()) {
            out.push(a.ip());
        }
    }
    (!out.is_empty()).then_some(out)
}

fn read_entry(path: &Path) -> Option<(Duration, Vec<IpAddr>)> {
    let modified = fs::metadata(path).ok()?.modified().ok()?;
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    let text = fs::read_to_string(path).ok()?;
    let addrs: Vec<IpAddr> = text.lines().filter_map(|l| l.parse().ok()).collect();
    (!addrs.is_empty()).then_some((age, addrs))
}

/// Replaces the entry whole (a rename), so readers never see half of it.
fn write_entry(path: &Path, addrs: &[IpAddr]) {
    let Some(dir) = path.parent() else { return };
    if fs::create_dir_all(dir).is_err() {
        return;
    }
    let text: String = addrs.iter().map(|a| format!("{a}\n")).collect();
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    if fs::write(&tmp, text).is_ok() && fs::rename(&tmp, path).is_err() {
        fs::remove_file(&tmp).ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::parse;

    #[test]
    fn a_cached_name_with_many_addresses_is_one_host_per_address() {
        let state = tempfile::tempdir().unwrap();
        let dir = state.path().join("dns");
        write_entry(
            &dir.join("pool.example"),
            &["10.1.0.1".parse().unwrap(), "10.1.0.2".parse().unwrap()],
        );
        write_entry(&dir.join("one.example"), &["10.1.0.9".parse().unwrap()]);
        let list = parse("pool.example:4000/3,lzo one.example/2 10.1.0.7 localhost:99").unwrap();
        let got: Vec<String> = expand(&list, state.path())
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            [
                "10.1.0.1:4000/3,lzo",
                "10.1.0.2:4000/3,lzo",
                "one.example:3632/2",
                "10.1.0.7:3632/4",
                "localhost:99/4"
            ]
        );
    }

    #[test]
    fn a_stale_answer_outlives_a_failed_lookup() {
        let state = tempfile::tempdir().unwrap();
        let path = state.path().join("dns").join("gone.invalid");
        let addrs: Vec<IpAddr> = vec!["10.1.0.1".parse().unwrap(), "10.1.0.2".parse().unwrap()];
        write_entry(&path, &addrs);
        let old = SystemTime::now() - 2 * TTL;
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        // `.invalid` never resolves (RFC 2606).
        assert_eq!(addresses(&state.path().join("dns"), "gone.invalid"), addrs);
    }
}
