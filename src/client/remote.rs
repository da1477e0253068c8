//! One job's requests and replies over a connection to a volunteer
//! (`transport`): the plain request, our streamed and hashed extensions'
//! steps, the reply. Deciding what to send is `scan`'s; what to do with
//! the reply is the caller's.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use anyhow::{anyhow, Context, Result};

use crate::exit::Code;
use crate::hosts::Host;
use crate::protocol::{self, hashed, stream, Limits, Reply, RequestHead, Version};
use crate::transport::Connection;

pub fn version_of(host: &Host) -> Version {
    Version::from_u32(host.protocol()).unwrap_or(Version::V1)
}

/// Sends the request: argv, then the preprocessed source from `source`.
/// Uncompressed bodies go from the file to the socket by sendfile.
pub fn send(
    conn: &mut Connection,
    version: Version,
    argv: &[OsString],
    source: &Path,
    cork: bool,
) -> Result<usize> {
    let head = RequestHead {
        version,
        cwd: None,
        argv: argv.to_vec(),
    };
    let mut file = File::open(source).with_context(|| format!("opening {}", source.display()))?;
    let len = file.metadata()?.len();
    let mut buf = Vec::with_capacity(512);
    protocol::write_request_head(&mut buf, &head)?;
    let codec = version.codec();
    let compressed = if !codec.is_raw() && len > 0 {
        let mut raw = Vec::with_capacity(len as usize);
        file.read_to_end(&mut raw)?;
        Some(codec.compress(&raw).into_owned())
    } else {
        None
    };
    let body_len = compressed.as_ref().map_or(len, |c| c.len() as u64);
    let body_len =
        u32::try_from(body_len).map_err(|_| anyhow!(Code::IoError).context("source over 4 GiB"))?;
    protocol::write_header(&mut buf, protocol::DOTI, body_len)?;
    match compressed {
        Some(c) => {
            buf.extend_from_slice(&c);
            write_all(conn, &buf, cork).context("sending the job")?;
        }
        None => {
            if cork {
                conn.cork(true);
            }
            let r = conn
                .write_all(&buf)
                .and_then(|()| conn.send_file(&mut file, len))
                .and_then(|()| conn.flush());
            if cork {
                conn.cork(false);
            }
            r.context("sending the job")?;
        }
    }
    Ok(buf.len() + body_len as usize)
}

/// Reads the server's reply.
pub fn receive(conn: &mut Connection, version: Version) -> Result<Reply> {
    receive_after(conn, version, &[])
}

/// Reads the server's reply, the first `already` bytes of which were read.
pub fn receive_after(conn: &mut Connection, version: Version, already: &[u8]) -> Result<Reply> {
    protocol::read_reply(
        &mut already.chain(BufReader::with_capacity(64 * 1024, conn)),
        version,
        version.codec(),
        &Limits::for_replies(),
    )
    .context("reading the reply")
}

/// Our streamed protocol, step one: the request head under the extension's
/// version; the server answers before any source is sent.
pub fn send_stream_head(conn: &mut Connection, base: Version, argv: &[OsString]) -> Result<usize> {
    let head = RequestHead {
        version: base,
        cwd: None,
        argv: argv.to_vec(),
    };
    let mut buf = Vec::with_capacity(512);
    protocol::write_request_head_as(&mut buf, &head, stream::version_for(base))?;
    write_all(conn, &buf, false).context("sending the job")?;
    Ok(buf.len())
}

/// The server's first answer to a streamed request.
pub fn read_answer(conn: &mut Connection) -> protocol::Result<stream::Answer> {
    stream::read_answer(conn)
}

/// The end of a streamed source, once the preprocessor has succeeded.
pub fn send_stream_end(conn: &mut Connection) -> Result<()> {
    write_all(conn, &stream::end(), false).context("ending the source")
}

/// Sends an exact-mode request (protocol 3): cwd, argv, then the files.
/// Returns the bytes sent.
pub fn send_files(
    conn: &mut Connection,
    cwd: &Path,
    argv: &[OsString],
    files: &[protocol::NamedFile],
    cork: bool,
) -> Result<usize> {
    let head = RequestHead {
        version: Version::V3,
        cwd: Some(cwd.as_os_str().to_os_string()),
        argv: argv.to_vec(),
    };
    let mut buf = Vec::with_capacity(64 * 1024);
    protocol::write_request_head(&mut buf, &head)?;
    protocol::write_files(&mut buf, Version::V3.codec(), files)?;
    write_all(conn, &buf, cork).context("sending the job")?;
    Ok(buf.len())
}

/// Our exact-mode extension, step one: cwd, argv and the file manifest
/// (digests, not bodies).
pub fn send_manifest(
    conn: &mut Connection,
    cwd: &Path,
    argv: &[OsString],
    manifest: &[hashed::HashedFile],
) -> Result<usize> {
    let head = RequestHead {
        version: Version::V3,
        cwd: Some(cwd.as_os_str().to_os_string()),
        argv: argv.to_vec(),
    };
    let mut buf = Vec::with_capacity(16 * 1024);
    protocol::write_request_head_as(&mut buf, &head, hashed::VERSION)?;
    hashed::write_manifest(&mut buf, manifest)?;
    write_all(conn, &buf, false).context("sending the file list")?;
    Ok(buf.len())
}

/// Step two: which bodies the daemon lacks.
pub fn read_need(conn: &mut Connection, manifest: &[hashed::HashedFile]) -> Result<Vec<u32>> {
    hashed::read_need(conn, manifest).context("reading which files the server lacks")
}

/// Step three: those bodies, in the order asked.
pub fn send_bodies(conn: &mut Connection, bodies: &[&[u8]]) -> Result<usize> {
    let mut buf = Vec::new();
    hashed::write_bodies(&mut buf, Version::V3.codec(), bodies)?;
    write_all(conn, &buf, false).context("sending files")?;
    Ok(buf.len())
}

/// Writes one buffer, corked on TCP so it leaves in as few packets as
/// possible.
fn write_all(conn: &mut Connection, buf: &[u8], cork: bool) -> io::Result<()> {
    if cork {
        conn.cork(true);
    }
    let r = conn.write_all(buf).and_then(|()| conn.flush());
    if cork {
        conn.cork(false);
    }
    r
}
