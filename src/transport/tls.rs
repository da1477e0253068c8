//! The TLS arm of a connection to a volunteer (a `,tls` host): the client's
//! key and pins from `$DISTCC_DIR/tls`, the handshake on a connected
//! socket, and where a refusal's words come from (`tls::TlsError`, which
//! says how to check and update a pin or get a key authorized).

use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Result};

use crate::exit::Code;
use crate::settings::Settings;
use crate::tls::{HostPort, TlsClient, TlsStream};

/// The client's TLS directory: its key pair and its known-hosts file.
pub fn dir(settings: &Settings) -> PathBuf {
    settings.dir.join("tls")
}

/// The comment a new client key gets in its `.pub`: who and where, as ssh
/// names its keys, for the volunteer owner's authorized-keys file.
pub fn key_comment() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "user".to_string());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".to_string());
    format!("{user}@{host}")
}

/// Our key (created on first use) and pins.
pub fn client(settings: &Settings) -> Result<TlsClient> {
    TlsClient::load(&dir(settings), &key_comment())
}

/// TLS over `sock`, connected to `name:port`, within `timeout`. Every
/// failure carries exit 103 (connect failed): the job lost no work and
/// falls back; the message says what to do about a key.
pub fn handshake(
    sock: TcpStream,
    name: &str,
    port: u16,
    settings: &Settings,
    timeout: Duration,
) -> Result<TlsStream> {
    let client = client(settings).map_err(connect_failed)?;
    handshake_with(&client, sock, name, port, timeout)
}

/// [`handshake`] with a client loaded already (the TLS agent keeps one).
pub fn handshake_with(
    client: &TlsClient,
    sock: TcpStream,
    name: &str,
    port: u16,
    timeout: Duration,
) -> Result<TlsStream> {
    client
        .connect(sock, &HostPort::new(name, port), timeout)
        .map_err(|e| connect_failed(e.into()))
}

/// Exit 103 with the error's words, all on one line.
pub fn connect_failed(e: anyhow::Error) -> anyhow::Error {
    anyhow!(Code::ConnectFailed).context(format!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::mpsc;
    use std::time::Duration;

    use super::super::tests::{echo_through, trickle_is_cut_at_the_limit};
    use super::super::Connection;
    use crate::tls::tests::{PinOf, Setup};

    /// The TLS link carries bytes both ways (a file by copying), ends its
    /// write side with the read side open, and says when an answer waits.
    #[test]
    fn a_tls_stream_on_loopback() {
        let s = Setup::new(true, PinOf::TheDaemon);
        std::thread::scope(|scope| {
            let echo = scope.spawn(|| {
                let mut a = s.accept().unwrap();
                let mut all = Vec::new();
                a.stream.read_to_end(&mut all).unwrap();
                a.stream.write_all(&all).unwrap();
            });
            echo_through(Connection::tls(s.connect().unwrap()));
            echo.join().unwrap();
        });
    }

    /// A volunteer trickling a byte at a time, each its own record: the
    /// time limit is a deadline over TLS too, and says how long it was.
    #[test]
    fn a_time_limit_is_a_deadline_over_tls() {
        let s = Setup::new(true, PinOf::TheDaemon);
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::scope(|scope| {
            let s = &s;
            scope.spawn(move || {
                let mut a = s.accept().unwrap();
                for _ in 0..400 {
                    if a.stream.write_all(b"x").is_err() || rx.try_recv().is_ok() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
            let conn = Connection::tls(s.connect().unwrap());
            trickle_is_cut_at_the_limit(conn, || tx.send(()).unwrap());
        });
    }
}
