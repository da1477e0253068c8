//! Who may use the daemon: `--allow` networks checked against the peer's
//! address before a single byte of the request is read.
//!
//! Grammar of one `--allow` value: `ADDR` or `ADDR/BITS`, where ADDR is an
//! IPv4 or IPv6 address and BITS its prefix length (32 or 128 when absent).
//! With no `--allow` only loopback is served; `--allow-private` adds the
//! private ranges (10/8, 172.16/12, 192.168/16, fc00::/7, fe80::/10).
//! IPv4 peers seen through an IPv6 socket (`::ffff:a.b.c.d`) are matched as
//! IPv4, so one rule covers both kinds of listener.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    bits: u8,
}

impl FromStr for Net {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Net> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .with_context(|| format!("--allow {s:?}: not an IP address"))?;
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|&b| b <= max)
                .ok_or_else(|| anyhow!("--allow {s:?}: prefix length must be 0..={max}"))?,
        };
        Ok(Net { addr, bits })
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.bits)
    }
}

fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}

fn as_bits(addr: IpAddr) -> (u128, u8) {
    match addr {
        IpAddr::V4(a) => (u32::from(a) as u128, 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

impl Net {
    pub fn contains(&self, peer: IpAddr) -> bool {
        let (net, width) = as_bits(self.addr);
        let (peer, peer_width) = as_bits(canonical(peer));
        if width != peer_width {
            return false;
        }
        if self.bits == 0 {
            return true;
        }
        let shift = width - self.bits;
        (net >> shift) == (peer >> shift)
    }
}

/// The set of networks allowed to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    nets: Vec<Net>,
}

const LOOPBACK: [&str; 2] = ["127.0.0.0/8", "::1/128"];
const PRIVATE: [&str; 5] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
    "fe80::/10",
];

impl Access {
    pub fn new(allow: &[String], allow_private: bool) -> Result<Access> {
        let mut nets = Vec::new();
        for a in allow {
            if a.trim().is_empty() {
                bail!("--allow needs an address or network");
            }
            nets.push(a.trim().parse()?);
        }
        if nets.is_empty() || allow_private {
            nets.extend(LOOPBACK.iter().map(|n| n.parse::<Net>().expect("static")));
        }
        if allow_private {
            nets.extend(PRIVATE.iter().map(|n| n.parse::<Net>().expect("static")));
        }
        Ok(Access { nets })
    }

    pub fn allows(&self, peer: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(peer))
    }

    pub fn describe(&self) -> String {
        let v: Vec<String> = self.nets.iter().map(Net::to_string).collect();
        v.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_is_loopback_only() {
        let a = Access::new(&[], false).unwrap();
        assert!(a.allows(ip("127.0.0.1")));
        assert!(a.allows(ip("127.0.0.2")));
        assert!(a.allows(ip("::1")));
        assert!(a.allows(ip("::ffff:127.0.0.1")));
        assert!(!a.allows(ip("10.0.0.1")));
        assert!(!a.allows(ip("192.168.1.1")));
    }

    #[test]
    fn explicit_rules_replace_the_default() {
        let a = Access::new(&["127.0.0.1".into()], false).unwrap();
        assert!(a.allows(ip("127.0.0.1")));
        assert!(!a.allows(ip("127.0.0.2")));
        let a = Access::new(&["192.168.0.0/16".into(), "fd00::/8".into()], false).unwrap();
        assert!(a.allows(ip("192.168.200.3")));
        assert!(!a.allows(ip("192.169.0.1")));
        assert!(a.allows(ip("fd12::1")));
        assert!(!a.allows(ip("127.0.0.1")));
        let a = Access::new(&["0.0.0.0/0".into()], false).unwrap();
        assert!(a.allows(ip("8.8.8.8")));
        assert!(!a.allows(ip("::2")));
    }

    #[test]
    fn private() {
        let a = Access::new(&[], true).unwrap();
        for ok in [
            "10.1.2.3",
            "172.31.0.1",
            "192.168.0.1",
            "127.0.0.1",
            "fe80::1",
        ] {
            assert!(a.allows(ip(ok)), "{ok}");
        }
        for no in ["172.32.0.1", "8.8.8.8", "2001:db8::1"] {
            assert!(!a.allows(ip(no)), "{no}");
        }
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4/33",
            "::1/129",
            "host.example",
            "1.2.3.4/x",
            "1.2.3.4/",
        ] {
            assert!(Access::new(&[bad.to_string()], false).is_err(), "{bad:?}");
        }
    }
}
