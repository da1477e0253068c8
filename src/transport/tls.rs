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
    let connect_failed = |e: anyhow::Error| anyhow!(Code::ConnectFailed).context(format!("{e:#}"));
    let client = client(settings).map_err(connect_failed)?;
    client
        .connect(sock, &HostPort::new(name, port), timeout)
        .map_err(|e| connect_failed(e.into()))
}
