//! The client's key commands: `distcc --tls-key` prints our public key (made
//! on first use) for a volunteer's authorized-keys file, and `distcc --trust
//! HOST[:PORT] [SHA256:...]` pins the key a volunteer proves, trust on
//! first use made explicit, as ssh's first connection asks. Pins are only
//! ever written here; a connection never changes them. Pinning ends the
//! host's backoff, which a refused key started.

use std::net::{TcpStream, ToSocketAddrs};

use anyhow::{anyhow, Context as _, Result};

use crate::exit::Code;
use crate::hosts::DEFAULT_TLS_PORT;
use crate::settings::Settings;
use crate::state::{self, backoff};
use crate::tls::{Fingerprint, HostPort, TrustOutcome, FINGERPRINT_COMMAND};
use crate::transport::tls;

/// `--tls-key`: our public key line and its fingerprint.
pub fn show_key(settings: &Settings) -> Result<u8> {
    let client = tls::client(settings)?;
    let public = client.key().public();
    println!("{}", public.line(&tls::key_comment()));
    eprintln!(
        "distcc: fingerprint {}; give the line above to each volunteer's owner for \
         their authorized_keys",
        public.fingerprint()
    );
    Ok(0)
}

/// `--trust HOST[:PORT] [SHA256:...]`: connects, takes the key the host
/// proves (refusing it if it is not `expected`), and pins it.
pub fn trust(settings: &Settings, args: &[String]) -> Result<u8> {
    let bad = |msg: String| anyhow!(Code::BadArguments).context(msg);
    let (target, expected) = match args {
        [t] => (t, None),
        [t, f] => (t, Some(f.parse::<Fingerprint>().map_err(bad)?)),
        _ => return Err(bad("usage: distcc --trust HOST[:PORT] [SHA256:...]".into())),
    };
    let host = HostPort::parse(target, Some(DEFAULT_TLS_PORT)).map_err(bad)?;
    let sock = connect(&host, settings)?;
    let client = tls::client(settings)?;
    let (key, outcome) = client.trust(sock, &host, expected.as_ref(), settings.connect_timeout)?;
    // A host refused for its key was backed off; the pin is settled now.
    let record = format!("{}:{}", host.host(), host.port());
    backoff::clear(&state::dir(settings), &record).ok();
    let fp = key.fingerprint();
    let file = client.known_hosts().path().display().to_string();
    match outcome {
        TrustOutcome::Added => println!("{host}: pinned {fp} in {file}"),
        TrustOutcome::Unchanged => println!("{host}: {fp} was already pinned in {file}"),
        TrustOutcome::Replaced { old } => {
            println!("{host}: pinned {fp} in {file}, replacing {old}")
        }
    }
    if expected.is_none() {
        eprintln!(
            "distcc: check that `{FINGERPRINT_COMMAND}` on {} prints {fp}; if not, remove \
             the pin from {file}",
            host.host()
        );
    }
    Ok(0)
}

fn connect(host: &HostPort, settings: &Settings) -> Result<TcpStream> {
    let addrs: Vec<_> = (host.host(), host.port())
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {}", host.host()))?
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, settings.connect_timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(format!("{addr}: {e}")),
        }
    }
    Err(anyhow!(Code::ConnectFailed).context(format!(
        "cannot connect to {host}: {}",
        last.unwrap_or_else(|| "no address".into())
    )))
}
