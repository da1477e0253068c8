//! `distcc --probe HOST[:PORT]`: is a volunteer of ours serving? It asks
//! the status query (`protocol::status`) and exits 0 when the daemon
//! answers and is not draining, 1 when it drains, 2 when it cannot be
//! reached or does not answer the query; one line on stdout says which.
//! Kubernetes runs it as an exec readiness probe, so a draining pod leaves
//! the Service's endpoints at once, not only when its port closes.

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{anyhow, Result};

use crate::exit::Code;
use crate::protocol::status::{self, Status};
use crate::protocol::WireError;

/// The daemon's port when none is given.
const DEFAULT_PORT: u16 = 3632;
/// How long connecting and the answer may take each: the daemon answers
/// from its accept loop, at once, so a slow answer is a reason not to be
/// ready. Below the probe's usual `timeoutSeconds`.
const TIMEOUT: Duration = Duration::from_secs(2);

/// What the probe found.
#[derive(Debug, PartialEq)]
pub enum Probed {
    Serving(Status),
    Draining(Status),
    /// Not reachable, too slow, or not one of our daemons: why.
    Down(String),
}

impl Probed {
    pub fn exit_code(&self) -> u8 {
        match self {
            Probed::Serving(_) => 0,
            Probed::Draining(_) => 1,
            Probed::Down(_) => 2,
        }
    }

    /// The one line it prints.
    pub fn line(&self, target: &str) -> String {
        match self {
            Probed::Serving(s) => format!(
                "{target}: serving ({} running, {} queued, {} slots)",
                s.running, s.queued, s.slots
            ),
            Probed::Draining(s) => format!(
                "{target}: draining ({} running); it takes no new jobs",
                s.running
            ),
            Probed::Down(why) => format!("{target}: not serving: {why}"),
        }
    }
}

/// Runs the probe of `target` (`HOST[:PORT]`, `[V6]:PORT`) and prints its line.
pub fn run(target: Option<&str>) -> Result<u8> {
    let target =
        target.ok_or_else(|| anyhow!(Code::BadArguments).context("--probe needs HOST[:PORT]"))?;
    let (host, port) = split(target).ok_or_else(|| {
        anyhow!(Code::BadArguments).context(format!("--probe {target:?}: bad port"))
    })?;
    let probed = probe(host, port);
    println!("{}", probed.line(target));
    Ok(probed.exit_code())
}

/// `HOST[:PORT]` as host and port; `None` for a port that is not one.
fn split(target: &str) -> Option<(&str, u16)> {
    if let Some(rest) = target.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        return match tail.strip_prefix(':') {
            Some(p) => Some((host, p.parse().ok()?)),
            None if tail.is_empty() => Some((host, DEFAULT_PORT)),
            None => None,
        };
    }
    match target.rsplit_once(':') {
        // More than one colon and no brackets: an IPv6 address alone.
        Some((host, _)) if host.contains(':') => Some((target, DEFAULT_PORT)),
        Some((host, p)) => Some((host, p.parse().ok()?)),
        None => Some((target, DEFAULT_PORT)),
    }
}

/// Asks `host:port` how it is.
pub fn probe(host: &str, port: u16) -> Probed {
    let addrs: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => return Probed::Down(format!("cannot resolve {host}: {e}")),
    };
    let mut last = format!("{host} has no address");
    for addr in addrs {
        match ask(addr) {
            Ok(s) if s.draining => return Probed::Draining(s),
            Ok(s) => return Probed::Serving(s),
            Err(why) => last = why,
        }
    }
    Probed::Down(last)
}

fn ask(addr: SocketAddr) -> Result<Status, String> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    s.set_read_timeout(Some(TIMEOUT)).ok();
    s.set_write_timeout(Some(TIMEOUT)).ok();
    s.write_all(&status::query())
        .map_err(|e| format!("sending the status query to {addr}: {e}"))?;
    status::read_status(&mut s).map_err(|e| match e {
        WireError::Closed { .. } | WireError::Truncated { .. } => {
            format!("{addr} closed the connection on the status query (not our daemon?)")
        }
        WireError::Io(io) if io.kind() == ErrorKind::ConnectionReset => {
            format!("{addr} closed the connection on the status query (not our daemon?)")
        }
        WireError::Io(io) if matches!(io.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            format!("{addr} did not answer the status query within {TIMEOUT:?}")
        }
        e => format!("{addr}: status: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_a_host_and_maybe_a_port() {
        assert_eq!(split("volunteer"), Some(("volunteer", 3632)));
        assert_eq!(split("127.0.0.1:4000"), Some(("127.0.0.1", 4000)));
        assert_eq!(split("[::1]:4000"), Some(("::1", 4000)));
        assert_eq!(split("[::1]"), Some(("::1", 3632)));
        assert_eq!(split("::1"), Some(("::1", 3632)));
        assert_eq!(split("h:port"), None);
        assert_eq!(split("[::1]x"), None);
    }

    #[test]
    fn each_answer_has_its_exit_code() {
        let s = Status::default();
        assert_eq!(Probed::Serving(s).exit_code(), 0);
        assert_eq!(Probed::Draining(s).exit_code(), 1);
        assert_eq!(Probed::Down("x".into()).exit_code(), 2);
        assert!(Probed::Down("refused".into())
            .line("h:1")
            .starts_with("h:1: not serving: refused"));
    }
}
