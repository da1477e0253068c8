//! The daemon's TLS port (`--tls-dir`, `--tls-port`, `--tls-only`): the key
//! and authorized keys it serves with, the key commands (`--tls-keygen`,
//! `--tls-fingerprint`), what the reception stage waits for on that port,
//! and a TLS connection's way through its worker.
//!
//! A connection on the TLS port passes `--allow` when accepted, like any;
//! the reception stage then holds it, without a thread, until its first
//! TLS record (the ClientHello) is in whole, so a silent or trickling
//! client costs no worker. The handshake runs on the job's own thread,
//! bounded by the head timeout: the client's key is judged inside it, so
//! an unknown key is refused before a request byte is read. A distcc
//! request arriving in plaintext is answered, in its own protocol, with
//! a refusal saying the port wants `,tls`.

use std::cell::RefCell;
use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::rc::Rc;

use anyhow::{anyhow, Context, Result};

use super::deadline::{self, Source};
use super::options::Options;
use super::reception::{Arrival, HEAD_TIMEOUT};
use super::request;
use super::server::Server;
use crate::exit::Code;
use crate::protocol::WireError;
use crate::tls::{KeyPair, TlsError, TlsServer, TlsStream, AUTHORIZED_KEYS_FILE};

/// The TLS port's default, beside 3632 (plain) and 3633 (stats).
pub use crate::hosts::DEFAULT_TLS_PORT;

/// Our key and authorized keys, when `--tls-dir` is given. The key is
/// made on first use; authorized_keys must exist (an empty one refuses
/// everyone), which `--tls-keygen` sees to.
pub fn load(opts: &Options) -> Result<Option<TlsServer>> {
    let Some(dir) = &opts.tls_dir else {
        return Ok(None);
    };
    let missing = !dir.join(AUTHORIZED_KEYS_FILE).exists();
    if missing {
        return Err(anyhow!(Code::BadArguments).context(format!(
            "{} is missing: run `distccd --tls-keygen --tls-dir {}` first, then list client \
             keys (`distcc --tls-key` prints one) in it",
            dir.join(AUTHORIZED_KEYS_FILE).display(),
            dir.display()
        )));
    }
    let server = TlsServer::load(dir, &key_comment())?;
    log::info!(
        "TLS key {}, {} authorized client keys",
        server.key().public().fingerprint(),
        server.authorized().snapshot().len()
    );
    Ok(Some(server))
}

/// Answers `--tls-keygen` and `--tls-fingerprint`, which print and exit;
/// `None` when neither was asked.
pub fn key_command(opts: &Options) -> Result<Option<u8>> {
    if !opts.tls_keygen && !opts.tls_fingerprint {
        return Ok(None);
    }
    let dir = opts.tls_dir.as_deref().ok_or_else(|| {
        anyhow!(Code::BadArguments).context("--tls-keygen and --tls-fingerprint need --tls-dir")
    })?;
    let key = match opts.tls_keygen {
        true => keygen(dir)?,
        false => KeyPair::load(dir)?,
    };
    println!("{}", key.public().fingerprint());
    if opts.tls_keygen {
        eprintln!(
            "distccd: key in {}; clients pin it with `distcc --trust HOST`, then check that it \
             says {}; add their keys (`distcc --tls-key`) to {}",
            dir.display(),
            key.public().fingerprint(),
            dir.join(AUTHORIZED_KEYS_FILE).display()
        );
    }
    Ok(Some(0))
}

/// Creates the key (an existing one is kept: clients have pinned it) and
/// an empty authorized_keys if there is none. The directory is opened to
/// all (the key file stays 0600): a daemon started as root reads its key
/// before dropping root, and authorized_keys again on SIGHUP, after.
fn keygen(dir: &Path) -> Result<KeyPair> {
    let (key, _) = KeyPair::load_or_create(dir, &key_comment())?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("opening {} to the daemon's user", dir.display()))?;
    let path = dir.join(AUTHORIZED_KEYS_FILE);
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&path);
    match created {
        Ok(mut f) => f
            .write_all(b"# distcc-ed25519 BASE64 NAME, one client key a line; SIGHUP re-reads\n")
            .with_context(|| format!("writing {}", path.display()))?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    }
    Ok(key)
}

fn key_comment() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("distccd@{}", host.trim())
}

/// Serves a connection from the TLS port on its worker: handshake, then
/// the request over TLS, logged and counted under the client key's name.
pub fn handle(server: &Server, tls: &TlsServer, arrival: Arrival) {
    let Arrival {
        stream,
        peer,
        prefix,
        ..
    } = arrival;
    let accepted = match tls.accept_after(&prefix, stream, HEAD_TIMEOUT.min(server.io_timeout)) {
        Ok(a) => a,
        Err(e) => {
            server.stats.tls_refused();
            match e {
                TlsError::UnknownClientKey { .. } => log::warn!("{peer}: {e}"),
                _ => log::info!("{peer}: {e}"),
            }
            return;
        }
    };
    server.stats.tls_client(&accepted.name);
    if accepted.resumed {
        server.stats.tls_resumed();
        log::debug!("{peer} ({}): TLS session resumed", accepted.name);
    }
    let who = format!("{peer} ({})", accepted.name);
    let stream = accepted.stream;
    // Writes as over TCP; a read's poll is `Deadline`'s, and this only
    // bounds the rest of a record once its first bytes came.
    let _ = stream.set_write_timeout(Some(server.io_timeout));
    let _ = stream.set_read_timeout(Some(deadline::GRACE));
    let shared = Shared(Rc::new(RefCell::new(stream)));
    let output = io::BufWriter::with_capacity(64 * 1024, shared.clone());
    let served = request::serve(server, shared, Vec::new(), output);
    if served.as_ref().err().is_some_and(closed_before_request) {
        // What `distcc --trust` does: the handshake was the point.
        log::debug!("{who}: closed after the handshake");
        return;
    }
    super::listen::report(server, &who, served);
}

/// Whether a client closed cleanly before its request's first token.
fn closed_before_request(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<WireError>(),
            Some(WireError::Closed { expected }) if expected == b"DIST"
        )
    })
}

/// One TLS stream as the request's input and output at once: both are
/// used on the worker's thread, one call at a time.
#[derive(Clone)]
struct Shared(Rc<RefCell<TlsStream>>);

impl Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

impl AsRawFd for Shared {
    fn as_raw_fd(&self) -> RawFd {
        self.0.borrow().as_raw_fd()
    }
}

impl Source for Shared {
    fn buffered(&mut self) -> bool {
        self.0.borrow_mut().has_buffered_plaintext()
    }
}
