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

use std::fmt;
use std::fs;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use super::{srv, zeroconf};
use crate::hosts::{Host, HostList, Transport};
use crate::state::{host_key, replace_file};

/// How long an answer is used before the name is looked up again.
pub const TTL: Duration = Duration::from_secs(5);

/// `list` with every many-address name replaced by its addresses, every
/// `_distcc._tcp.` name by its SRV targets (`srv`), and the volunteers
/// Avahi finds where `+zeroconf` stood (`zeroconf`).
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
            Transport::Tcp { host: name, .. } if name.starts_with(srv::PREFIX) => {
                for t in srv_targets(&dir, name) {
                    push_addresses(&mut out.hosts, &dir, host, &t.host, t.port);
                }
            }
            Transport::Tcp { host: name, port } if is_name(name) => {
                push_addresses(&mut out.hosts, &dir, host, name, *port)
            }
            _ => out.hosts.push(host.clone()),
        }
    }
    if list.zeroconf == Some(list.hosts.len()) {
        out.hosts.extend(zeroconf::hosts(state_dir));
    }
    out
}

/// `name:port` with `entry`'s limit and options: one host per address
/// when the name has several, else the name itself.
fn push_addresses(out: &mut Vec<Host>, dir: &Path, entry: &Host, name: &str, port: u16) {
    let at = |host: String| Host {
        transport: Transport::Tcp { host, port },
        ..entry.clone()
    };
    let addrs: Vec<IpAddr> = cached(&dir.join(host_key(name)), || lookup(name));
    if addrs.len() < 2 {
        out.push(at(name.to_string()));
    } else {
        out.extend(addrs.into_iter().map(|a| at(a.to_string())));
    }
}

fn is_name(host: &str) -> bool {
    host.parse::<IpAddr>().is_err() && !host.eq_ignore_ascii_case("localhost")
}

/// An SRV target as the cache keeps it: `HOST PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.host, self.port)
    }
}

impl FromStr for Target {
    type Err = ();
    fn from_str(s: &str) -> Result<Target, ()> {
        let (host, port) = s.split_once(' ').ok_or(())?;
        Ok(Target {
            host: host.to_string(),
            port: port.parse().map_err(|_| ())?,
        })
    }
}

fn srv_targets(dir: &Path, name: &str) -> Vec<Target> {
    let path = dir.join(format!("srv_{}", host_key(name)));
    cached(&path, || {
        let found = srv::lookup(name)?;
        let targets: Vec<Target> = found
            .into_iter()
            .map(|t| Target {
                host: t.host,
                port: t.port,
            })
            .collect();
        (!targets.is_empty()).then_some(targets)
    })
}

/// The answer kept at `path` while it is fresh, else `lookup`'s (kept for
/// next time); the stale one when the lookup fails.
fn cached<T: FromStr + fmt::Display + Clone>(
    path: &Path,
    lookup: impl FnOnce() -> Option<Vec<T>>,
) -> Vec<T> {
    let old = read_entry::<T>(path);
    if let Some((age, items)) = &old {
        if *age < TTL {
            return items.clone();
        }
    }
    match lookup() {
        Some(items) => {
            write_entry(path, &items);
            items
        }
        None => old.map(|(_, a)| a).unwrap_or_default(),
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

fn read_entry<T: FromStr>(path: &Path) -> Option<(Duration, Vec<T>)> {
    let modified = fs::metadata(path).ok()?.modified().ok()?;
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    let text = fs::read_to_string(path).ok()?;
    let items: Vec<T> = text.lines().filter_map(|l| l.parse().ok()).collect();
    (!items.is_empty()).then_some((age, items))
}

fn write_entry<T: fmt::Display>(path: &Path, items: &[T]) {
    let text: String = items.iter().map(|a| format!("{a}\n")).collect();
    // A cache: a failure costs a lookup next time.
    replace_file(path, text.as_bytes()).ok();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::parse;

    /// The host list `text` expands to, as `--show-hosts` says it.
    fn shown(text: &str, state: &Path) -> Vec<String> {
        let list = parse(text).unwrap();
        let hosts = expand(&list, state).hosts;
        hosts.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_cached_name_with_many_addresses_is_one_host_per_address() {
        let state = tempfile::tempdir().unwrap();
        let dir = state.path().join("dns");
        write_entry(
            &dir.join("pool.example"),
            &[
                "10.1.0.1".parse::<IpAddr>().unwrap(),
                "10.1.0.2".parse().unwrap(),
            ],
        );
        write_entry(
            &dir.join("one.example"),
            &["10.1.0.9".parse::<IpAddr>().unwrap()],
        );
        let text = "pool.example:4000/3,lzo one.example/2 10.1.0.7 localhost:99";
        assert_eq!(
            shown(text, state.path()),
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
    fn srv_targets_are_expanded_like_names() {
        let state = tempfile::tempdir().unwrap();
        let dir = state.path().join("dns");
        let targets = [
            Target {
                host: "v1.example".into(),
                port: 4000,
            },
            Target {
                host: "10.1.0.5".into(),
                port: 4001,
            },
        ];
        write_entry(&dir.join("srv__distcc._tcp.pool.example"), &targets);
        let two: [IpAddr; 2] = ["10.1.0.1".parse().unwrap(), "10.1.0.2".parse().unwrap()];
        write_entry(&dir.join("v1.example"), &two);
        assert_eq!(
            shown("_distcc._tcp.pool.example/2,lzo", state.path()),
            [
                "10.1.0.1:4000/2,lzo",
                "10.1.0.2:4000/2,lzo",
                "10.1.0.5:4001/2,lzo"
            ]
        );
    }

    #[test]
    fn a_stale_answer_outlives_a_failed_lookup() {
        let state = tempfile::tempdir().unwrap();
        let path = state.path().join("dns").join("gone.invalid");
        let addrs: Vec<IpAddr> = vec![
            "10.1.0.1".parse::<IpAddr>().unwrap(),
            "10.1.0.2".parse().unwrap(),
        ];
        write_entry(&path, &addrs);
        let old = SystemTime::now() - 2 * TTL;
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        // `.invalid` never resolves (RFC 2606).
        let got: Vec<IpAddr> = cached(&path, || lookup("gone.invalid"));
        assert_eq!(got, addrs);
    }
}
