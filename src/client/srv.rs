//! DNS SRV records for host-list entries named `_distcc._tcp.DOMAIN`: the
//! volunteers are the records' targets, each on its record's port, in the
//! records' order of priority (lowest first), then weight (highest first).
//! Kubernetes publishes one per pod of a headless service with a named
//! port (`_distcc._tcp.distccd.build.svc.cluster.local`). `resolve` turns
//! each target into hosts as it does any name, and caches the list.
//!
//! The answer comes from the system's resolver (`sys::resolv`) and is
//! parsed here, strictly: a malformed answer yields what was read before
//! the fault, never a panic.

/// The prefix that makes an entry an SRV name.
pub const PREFIX: &str = "_distcc._tcp.";

/// One SRV record: where a volunteer listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub host: String,
}

/// The targets of `name`'s SRV records, best first; `None` when the
/// query fails.
pub fn lookup(name: &str) -> Option<Vec<Target>> {
    use crate::sys::resolv;
    let answer = resolv::query(name, resolv::CLASS_IN, resolv::TYPE_SRV)?;
    let mut targets = parse(&answer);
    targets.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)));
    Some(targets)
}

/// The SRV records of a DNS answer message. A target of "." (the service
/// is not offered there) is left out.
pub fn parse(msg: &[u8]) -> Vec<Target> {
    let mut out = Vec::new();
    let count = |at: usize| u16_at(msg, at).unwrap_or(0) as usize;
    let (questions, answers) = (count(4), count(6));
    let mut at = 12;
    for _ in 0..questions {
        let Some(next) = skip_name(msg, at) else {
            return out;
        };
        at = next + 4;
    }
    for _ in 0..answers {
        let Some(next) = skip_name(msg, at) else {
            return out;
        };
        let (Some(kind), Some(len)) = (u16_at(msg, next), u16_at(msg, next + 8)) else {
            return out;
        };
        let data = next + 10;
        let end = data + len as usize;
        if end > msg.len() {
            return out;
        }
        if kind == 33 && len >= 7 {
            let field = |i: usize| u16_at(msg, data + i).unwrap_or(0);
            if let Some(host) = read_name(msg, data + 6).filter(|h| !h.is_empty()) {
                out.push(Target {
                    priority: field(0),
                    weight: field(2),
                    port: field(4),
                    host,
                });
            }
        }
        at = end;
    }
    out
}

fn u16_at(msg: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]))
}

/// The offset just past the name at `at` (a pointer ends a name).
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l if l & 0xc0 == 0 => at += 1 + l as usize,
            _ => return None,
        }
    }
}

/// The dotted name at `at`, following compression pointers (a bounded
/// number of them, so a loop in a hostile answer ends); "" for the root.
fn read_name(msg: &[u8], mut at: usize) -> Option<String> {
    let mut labels: Vec<String> = Vec::new();
    for _ in 0..128 {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(labels.join(".")),
            l if l & 0xc0 == 0xc0 => {
                at = (u16_at(msg, at)? & 0x3fff) as usize;
            }
            l if l & 0xc0 == 0 => {
                let label = msg.get(at + 1..at + 1 + l as usize)?;
                labels.push(String::from_utf8_lossy(label).into_owned());
                at += 1 + l as usize;
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in n.split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }

    fn srv(prio: u16, weight: u16, port: u16, target: &[u8]) -> Vec<u8> {
        // A pointer to the question's name (offset 12), then the record.
        let mut rr = vec![0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60];
        let len = 6 + target.len() as u16;
        rr.extend_from_slice(&len.to_be_bytes());
        for v in [prio, weight, port] {
            rr.extend_from_slice(&v.to_be_bytes());
        }
        rr.extend_from_slice(target);
        rr
    }

    #[test]
    fn records_with_plain_and_compressed_targets() {
        let mut msg = vec![0, 1, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0];
        msg.extend(name("_distcc._tcp.pool.test"));
        msg.extend_from_slice(&[0, 33, 0, 1]);
        msg.extend(srv(10, 5, 3632, &name("v1.pool.test")));
        // "v2" then a pointer to "pool.test" in the question (offset 12
        // plus the lengths of "_distcc" and "_tcp").
        let mut v2 = vec![2, b'v', b'2', 0xc0, 12 + 8 + 5];
        msg.extend(srv(0, 1, 4000, &v2));
        msg.extend(srv(0, 1, 1, &name(".")));
        let got = parse(&msg);
        let hosts: Vec<(&str, u16, u16)> = got
            .iter()
            .map(|t| (t.host.as_str(), t.port, t.priority))
            .collect();
        assert_eq!(
            hosts,
            [("v1.pool.test", 3632, 10), ("v2.pool.test", 4000, 0)]
        );
        // Cut anywhere, a hostile or broken answer yields a prefix of it.
        for cut in 0..msg.len() {
            assert!(parse(&msg[..cut]).len() <= 2);
        }
        // A pointer loop ends.
        v2 = vec![0xc0, 12];
        let mut looped = msg[..12].to_vec();
        looped[5] = 0;
        looped[7] = 1;
        looped.extend(srv(0, 0, 1, &v2));
        let at = looped.len() - 2;
        looped[at + 1] = (at) as u8;
        assert!(parse(&looped).is_empty());
    }
}
