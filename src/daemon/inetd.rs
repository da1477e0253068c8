//! inetd mode: one connection on stdin/stdout (inetd, systemd
//! `Accept=yes`, or an ssh pipe, which has no peer address and is
//! authenticated by ssh), served by the same `request` code as a TCP
//! connection, then exit.

use std::io::BufWriter;
use std::os::fd::AsFd;

use anyhow::{anyhow, Result};

use super::access::Access;
use super::job::Outcome;
use super::request;
use super::server::Server;
use super::signals;
use crate::exit::Code;

/// Serves the one connection on stdin/stdout.
pub fn serve(server: &Server, access: &Access) -> Result<u8> {
    let stdin = std::io::stdin();
    if let Ok(peer) = socket2::SockRef::from(&stdin.as_fd()).peer_addr() {
        if let Some(addr) = peer.as_socket() {
            if !access.allows(addr.ip()) {
                log::warn!("refused connection from {addr}: not in --allow");
                return Err(anyhow!(Code::AccessDenied).context(format!("{addr} is not allowed")));
            }
        }
    }
    // One job and no loop to relay a stop: SIGTERM cancels it outright, so
    // the compiler dies and its temp dir goes before we exit.
    signals::install(server.stop.write_fd(), &[libc::SIGTERM, libc::SIGINT]);
    let input = stdin
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)?;
    let output = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let outcome = request::serve(server, input, Vec::new(), output)?;
    log::info!("inetd: {} {}", outcome.compiler, ended(&outcome));
    Ok(0)
}

/// How the one job ended, in words for the log (the status is the wait
/// status the reply carries).
fn ended(outcome: &Outcome) -> String {
    match (outcome.refused, outcome.status) {
        (Some(code), _) => format!("refused: {code}"),
        (None, Some(w)) if libc::WIFEXITED(w) => format!("exited {}", libc::WEXITSTATUS(w)),
        (None, Some(w)) if libc::WIFSIGNALED(w) => {
            format!("killed by signal {}", libc::WTERMSIG(w))
        }
        (None, _) => "ended".into(),
    }
}
