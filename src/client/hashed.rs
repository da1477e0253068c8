//! Dialect: our hashed extension of exact mode (`protocol::hashed`), to
//! our own daemons. The request names the unit's files by digest first;
//! the daemon answers which bodies it lacks, and only those follow, so a
//! warm daemon receives a few hundred bytes per job. A daemon that closes
//! on the extension (distcc 3.4) is remembered and asked in plain
//! protocol 3 (`exact`) from then on. The request asserts the compiler's
//! identity and the system headers' digests (`assertions`), which our
//! daemon checks before compiling; a host that refused the same lately
//! is skipped without asking (`mismatched`). It names the unit's shadows
//! (`shadows`) to a daemon that has not closed on them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result};

use super::assertions::{self, Asserted};
use super::connection;
use super::context::Context;
use super::exact::{self, Sent};
use super::job::Job;
use super::listing::Listed;
use super::mismatched;
use super::outcome::{Answer, Blame, Failed};
use super::pick;
use super::shipped::{Shipped, Stale};
use crate::exit::{self, Code};
use crate::hosts::Host;
use crate::protocol::hashed::{self, HashedFile};
use crate::protocol::identity as asserted;
use crate::protocol::{self, Dist, ReplyForm, RequestHead, Version, WireError};
use crate::transport::Connection;

/// One hashed request to `host` with the files `listed`.
pub fn run(ctx: &Context, job: &Job, host: &Host, listed: &Listed) -> Result<Answer, Failed> {
    let asserted = assertions::of(ctx, job, &listed.system, &listed.system_known);
    if let Some(why) = mismatched::known(ctx, host, &asserted) {
        return Err(Failed {
            err: anyhow::anyhow!("{why}; not asked"),
            blame: Blame::Mismatched,
        });
    }
    let mut conn = connection::open(ctx, host)?;
    let argv = ctx.server_argv(job.exact_args());
    connection::start_send(ctx, &mut conn);
    let started = Instant::now();
    let codec = pick::extension_codec(host, ctx.settings, Version::V3.codec());
    let shadowed = !listed.shadows.is_empty() && pick::shadows(host, ctx.settings);
    let dist = Dist::hashed(codec)
        .noted(pick::notes(host, ctx.settings))
        .shadowed(shadowed);
    let shadows = if shadowed { &listed.shadows[..] } else { &[] };
    let bytes = match send(
        &mut conn,
        &listed.cwd,
        &argv,
        (&listed.files, shadows),
        &asserted,
        dist,
    ) {
        Ok(n) => n,
        Err(e) if e.downcast_ref::<Stale>().is_some() => {
            let stale = e.downcast::<Stale>().expect("checked above");
            return Ok(Answer::Stale(stale));
        }
        Err(e) if closed(&e) => {
            // The reference daemon closes on our extension: plain
            // protocol 3 to this host from now on; one of ours from
            // before notes or zstd closes on those: without from now on.
            let ext = pick::Extension::Hashed;
            let asked = (dist.notes(), dist.shadows());
            match pick::mark_closed_on(host, ctx.settings, ext, codec, asked) {
                pick::Extension::Shadows => {
                    log::info!("{host}: no shadows ({e:#}); asking without, unguarded")
                }
                pick::Extension::Notes => {
                    log::info!("{host}: no hashed transfer with notes ({e:#}); asking without")
                }
                pick::Extension::Zstd => {
                    log::info!("{host}: no hashed transfer with zstd ({e:#}); asking with LZO")
                }
                _ => log::info!(
                    "{host}: no hashed transfer ({e:#}); using protocol 3, \
                     which cannot verify its compiler and system headers"
                ),
            }
            return Ok(Answer::Unspoken);
        }
        Err(e) => return Err(Failed::by(Blame::MidJob)(e)),
    };
    let sent = Sent {
        conn,
        argv,
        started,
        bytes,
    };
    let form = ReplyForm::of_dist(dist);
    let answer = exact::reply_to(ctx, job, host, listed, sent, form)?;
    if let Answer::Reply(r) = &answer {
        if exit::exit_code(r.status as i32).is_some_and(Code::is_distcc) {
            mismatched::refused(ctx, host, &asserted, &String::from_utf8_lossy(&r.stderr));
        }
    }
    Ok(answer)
}

/// Sends `files`: digests first, then only the bodies the daemon lacks,
/// and the shadows' names after the files; the assertions after the
/// head, the system list if the daemon asks. Returns the bytes sent. A
/// body that no longer has the digest named (`Stale`) stops the request
/// before any body is sent.
fn send(
    conn: &mut Connection,
    cwd: &Path,
    argv: &[OsString],
    (files, shadows): (&[Shipped], &[PathBuf]),
    asserted: &Asserted,
    dist: Dist,
) -> Result<usize> {
    let shadows = shadows.iter().map(|p| HashedFile {
        name: p.clone().into_os_string(),
        entry: hashed::Entry::Shadow,
    });
    let manifest: Vec<HashedFile> = files
        .iter()
        .map(|f| HashedFile {
            name: f.name.clone(),
            entry: f.entry(),
        })
        .chain(shadows)
        .collect();
    let head = RequestHead {
        version: Version::V3,
        cwd: Some(cwd.as_os_str().to_os_string()),
        argv: argv.to_vec(),
    };
    let mut buf = Vec::with_capacity(16 * 1024);
    protocol::write_request_head_as(&mut buf, &head, dist.number())?;
    asserted::write_assertions(&mut buf, &asserted.assertions)?;
    hashed::write_manifest(&mut buf, &manifest)?;
    connection::write_all(conn, &buf, false).context("sending the file list")?;
    let mut sent = buf.len();
    let (list_asked, need) = read_need(conn, &manifest)?;
    let mut bodies = Vec::with_capacity(need.len());
    for &i in &need {
        bodies.extend(files[i as usize].bytes()?);
    }
    let bodies: Vec<&[u8]> = bodies.iter().map(|b| &b[..]).collect();
    buf.clear();
    if list_asked {
        buf.extend_from_slice(&asserted.list);
    }
    hashed::write_bodies(&mut buf, dist.codec(), &bodies)?;
    connection::write_all(conn, &buf, false).context("sending files")?;
    sent += buf.len();
    Ok(sent)
}

/// Reads the daemon's answer to the file list: whether it asks for the
/// system list (`SYSQ`), then which files it lacks.
fn read_need(conn: &mut Connection, manifest: &[HashedFile]) -> Result<(bool, Vec<u32>)> {
    let mut h = [0u8; protocol::HEADER_LEN];
    std::io::Read::read_exact(conn, &mut h)
        .map_err(WireError::from)
        .context("reading which files the server lacks")?;
    let asked = &h[..4] == asserted::SYSQ;
    let need = if asked {
        protocol::read_header(&mut h.as_slice(), asserted::SYSQ)?;
        hashed::read_need(conn, manifest)
    } else {
        hashed::read_need(&mut std::io::Read::chain(&h[..], &mut *conn), manifest)
    };
    Ok((asked, need.context("reading which files the server lacks")?))
}

/// Whether the daemon hung up on the request, as one that does not know
/// the extension does; a timeout or any other failure is the job's.
pub(super) fn closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        if let Some(w) = c.downcast_ref::<WireError>() {
            return matches!(w, WireError::Closed { .. } | WireError::Truncated { .. })
                || matches!(w, WireError::Io(io) if hung_up(io));
        }
        c.downcast_ref::<std::io::Error>().is_some_and(hung_up)
    })
}

fn hung_up(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset | BrokenPipe | UnexpectedEof | ConnectionAborted
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::shipped::Body;
    use crate::protocol::identity::Assertions;
    use std::io::{Read as _, Write as _};
    use std::net::{TcpListener, TcpStream};

    /// Sends one file to a server that asks for its body at once; returns
    /// what `send` said and every byte it put on the wire.
    fn send_asked(file: Shipped) -> (Result<usize>, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut need = Vec::new();
            hashed::write_need(&mut need, &[0]).unwrap();
            s.write_all(&need).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            got
        });
        let mut conn = Connection::tcp(TcpStream::connect(addr).unwrap());
        let asserted = Asserted {
            assertions: Assertions::default(),
            list: Vec::new(),
            files: Vec::new(),
        };
        let argv = [
            OsString::from("cc"),
            OsString::from("-c"),
            OsString::from("x.c"),
        ];
        let r = send(
            &mut conn,
            Path::new("/"),
            &argv,
            (&[file], &[]),
            &asserted,
            Dist::Hashed(crate::protocol::Codec::Raw, false, false),
        );
        drop(conn);
        (r, server.join().unwrap())
    }

    #[test]
    fn a_body_is_sent_only_with_the_digest_announced() {
        let tmp = tempfile::tempdir().unwrap();
        let h = tmp.path().join("h.h");
        std::fs::write(&h, "int announced;\n").unwrap();
        let file = Shipped {
            name: h.clone().into_os_string(),
            body: Body::Known(hashed::digest(b"int announced;\n")),
        };
        let (r, wire) = send_asked(file.clone());
        r.unwrap();
        let has = |w: &[u8], s: &[u8]| w.windows(s.len()).any(|x| x == s);
        assert!(has(&wire, b"int announced;"), "the body asked for is sent");
        // Changed between the listing and the send (same size): nothing of
        // it goes out, and the caller is told to list again.
        std::fs::write(&h, "int different;\n").unwrap();
        let (r, wire) = send_asked(file);
        let err = r.unwrap_err();
        assert!(err.downcast_ref::<Stale>().is_some(), "{err:#}");
        assert!(!has(&wire, b"int different;"));
        assert!(!has(&wire, b"int announced;"));
    }
}
