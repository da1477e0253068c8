//! The `--stats` page: a plain-text page over HTTP/1.0 on its own port,
//! answered on its own thread (`stats` renders it).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use super::access::Access;
use super::server::Server;

/// A connection to the page from an allowed address, to be answered by
/// [`serve`] on a thread of its own, so a slow reader cannot stall the
/// accept loop.
pub fn accept(listener: &TcpListener, access: &Access) -> Option<(TcpStream, SocketAddr)> {
    let (stream, peer) = listener.accept().ok()?;
    if !access.allows(peer.ip()) {
        log::warn!("refused stats request from {peer}: not in --allow");
        return None;
    }
    Some((stream, peer))
}

/// Reads the request (any, up to its blank line) before answering: closing
/// a socket with unread input resets it, and the client may lose the page.
pub fn serve(mut s: TcpStream, server: &Server) {
    let limit = Duration::from_secs(2);
    s.set_read_timeout(Some(limit)).ok();
    s.set_write_timeout(Some(limit)).ok();
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while request.len() < 8192 && !ends_request(&request) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let mut body = server.stats.render(server.jobs, &server.tmpdir);
    if let Some(cache) = &server.cache {
        cache.render(&mut body);
    }
    let _ = write!(
        s,
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    s.shutdown(std::net::Shutdown::Write).ok();
}

fn ends_request(r: &[u8]) -> bool {
    r.ends_with(b"\r\n\r\n") || r.ends_with(b"\n\n")
}
