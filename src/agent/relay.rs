//! One client's connection to the agent: its request, the TLS connection
//! to the volunteer (resumed when a session is kept), and the relay of
//! bytes both ways until either side ends, in the frames of
//! `transport::agent_wire`.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::keys::Keys;
use crate::sys;
use crate::tls::TlsStream;
use crate::transport::agent_wire::{self, Request, DATA, END, ERROR, HELLO};
use crate::transport::{dial, tls};

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one client to its end; every failure is reported to it in
/// words, or it sees the connection close.
pub fn serve(mut client: UnixStream, keys: &Keys) {
    let _ = client.set_read_timeout(Some(REQUEST_TIMEOUT));
    let Ok(request) = Request::read(&mut client) else {
        return;
    };
    let _ = client.set_read_timeout(None);
    let _ = client.set_write_timeout(Some(request.io_timeout));
    let tls = match open(keys, &request) {
        Ok(tls) => tls,
        Err(e) => {
            // The outermost words: what the client would have said.
            let _ = agent_wire::write_frame(&mut client, ERROR, e.to_string().as_bytes());
            return;
        }
    };
    if agent_wire::write_frame(&mut client, HELLO, &[tls.resumed() as u8]).is_err() {
        return;
    }
    if let Err(e) = relay(&mut client, tls, request.io_timeout) {
        let _ = agent_wire::write_frame(&mut client, ERROR, e.to_string().as_bytes());
        // Ends our side; whatever the client still sends is dropped with
        // the socket once it closes its own.
        let _ = client.shutdown(Shutdown::Write);
        let _ = io::copy(&mut client, &mut io::sink());
    }
}

/// The TLS connection to the volunteer, as the client would make it.
fn open(keys: &Keys, request: &Request) -> Result<TlsStream> {
    let client = keys.client().map_err(tls::connect_failed)?;
    let (sock, left) = dial(&request.host, request.port, request.connect_timeout)?;
    let stream = tls::handshake_with(&client, sock, &request.host, request.port, left)?;
    stream.set_read_timeout(Some(request.io_timeout))?;
    stream.set_write_timeout(Some(request.io_timeout))?;
    Ok(stream)
}

/// Copies the client's bytes to the volunteer (its end of stream becomes
/// our close_notify) and the volunteer's to the client as frames, until
/// the volunteer ends. Waits at most `timeout` for either side at a time.
fn relay(client: &mut UnixStream, mut tls: TlsStream, timeout: Duration) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut client_open = true;
    // Which side is looked at first, alternating, so neither starves.
    let mut tls_first = true;
    loop {
        let ready = match tls.has_buffered_plaintext() {
            true => Ready::Tls,
            false => wait(client, &tls, client_open, tls_first, timeout)?,
        };
        tls_first = !tls_first;
        match ready {
            Ready::Tls => match tls.read_ready(&mut buf)? {
                None => {}
                Some(0) => return agent_wire::write_frame(client, END, &[]),
                Some(n) => agent_wire::write_frame(client, DATA, &buf[..n])?,
            },
            Ready::Client => match client.read(&mut buf) {
                Ok(0) | Err(_) => {
                    client_open = false;
                    tls.shutdown_write()?;
                }
                Ok(n) => tls.write_all(&buf[..n])?,
            },
        }
    }
}

enum Ready {
    Tls,
    Client,
}

/// Waits for the volunteer or, while it may still send, the client.
fn wait(
    client: &UnixStream,
    tls: &TlsStream,
    client_open: bool,
    tls_first: bool,
    timeout: Duration,
) -> io::Result<Ready> {
    let t = (tls.as_raw_fd(), libc::POLLIN);
    let c = (client.as_raw_fd(), libc::POLLIN);
    let (fds, order) = match (client_open, tls_first) {
        (false, _) => (vec![t], [Ready::Tls, Ready::Tls]),
        (true, true) => (vec![t, c], [Ready::Tls, Ready::Client]),
        (true, false) => (vec![c, t], [Ready::Client, Ready::Tls]),
    };
    match sys::poll_events(&fds, Some(Instant::now() + timeout))? {
        Some(i) => Ok(order.into_iter().nth(i).expect("an index of fds")),
        None => Err(crate::transport::timed_out(timeout)),
    }
}
