//! What a client sends: the request head (`DIST`, `CDIR` in protocol 3,
//! `ARGC`, `ARGV`...), then the source: one `DOTI` body (`codec`'s), or in
//! protocol 3 the list of files (`NFIL`, then `NAME` and `FILE` or `LINK`
//! for each).

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;

use super::codec::{read_body, write_body, Codec};
use super::error::{Result, WireError};
use super::limits::Limits;
use super::packet::{
    len_u32, parse_hex, read_full, read_header, read_string, write_header, write_raw,
};
use super::token::{Token, ARGC, ARGV, CDIR, DIST, FILE, HEADER_LEN, LINK, NAME, NFIL};
use super::version::{Dist, Version};

/// What the client sends before the source: version, cwd (v3) and argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub version: Version,
    pub cwd: Option<OsString>,
    pub argv: Vec<OsString>,
}

pub fn write_request_head<W: Write>(w: &mut W, head: &RequestHead) -> io::Result<()> {
    write_request_head_as(w, head, head.version.number())
}

/// A request head whose `DIST` says `dist` rather than the version whose
/// layout it has: our extensions (`hashed`, `stream`) announce themselves
/// this way.
pub fn write_request_head_as<W: Write>(w: &mut W, head: &RequestHead, dist: u32) -> io::Result<()> {
    let mut buf = Vec::with_capacity(256);
    write_header(&mut buf, DIST, dist)?;
    if let Some(cwd) = &head.cwd {
        write_raw(&mut buf, CDIR, cwd.as_bytes())?;
    }
    write_header(&mut buf, ARGC, len_u32(head.argv.len())?)?;
    for a in &head.argv {
        write_raw(&mut buf, ARGV, a.as_bytes())?;
    }
    w.write_all(&buf)
}

pub fn read_request_head<R: Read>(r: &mut R, limits: &Limits) -> Result<RequestHead> {
    let v = read_header(r, DIST)?;
    let version = Version::from_u32(v).ok_or_else(|| unsupported(v))?;
    read_head_after_dist(r, version, limits)
}

/// Reads a request head whatever its `DIST` says, our extensions included:
/// what a server reads first. The head has the layout of [`Dist::base`].
pub fn read_request<R: Read>(r: &mut R, limits: &Limits) -> Result<(Dist, RequestHead)> {
    let v = read_header(r, DIST)?;
    let dist = Dist::from_u32(v).ok_or_else(|| unsupported(v))?;
    Ok((dist, read_head_after_dist(r, dist.base(), limits)?))
}

fn unsupported(v: u32) -> WireError {
    WireError::BadValue {
        token: *DIST,
        why: format!("unsupported protocol version {v}"),
    }
}

/// The head after its `DIST`: `CDIR` in protocol 3, then `ARGC` and `ARGV`s,
/// each argument and their total within the limits.
fn read_head_after_dist<R: Read>(
    r: &mut R,
    version: Version,
    limits: &Limits,
) -> Result<RequestHead> {
    let cwd = if version == Version::V3 {
        Some(read_string(r, CDIR, limits.max_path)?)
    } else {
        None
    };
    let argc = read_header(r, ARGC)?;
    if argc == 0 || argc > limits.max_argc {
        return Err(WireError::TooLarge {
            token: *ARGC,
            len: argc as u64,
            limit: limits.max_argc as u64,
        });
    }
    let mut argv = Vec::with_capacity(argc as usize);
    let mut total: u64 = 0;
    for _ in 0..argc {
        let left = limits.max_argv_total.saturating_sub(total);
        let limit = (limits.max_arg as u64).min(left) as u32;
        let arg = read_string(r, ARGV, limit).map_err(|e| match e {
            WireError::TooLarge { len, .. } if len <= limits.max_arg as u64 => {
                WireError::TooLarge {
                    token: *ARGV,
                    len: total + len,
                    limit: limits.max_argv_total,
                }
            }
            e => e,
        })?;
        total += arg.len() as u64;
        argv.push(arg);
    }
    Ok(RequestHead { version, cwd, argv })
}

/// One file of a protocol-3 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileBody {
    File(Vec<u8>),
    Link(OsString),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFile {
    pub name: OsString,
    pub body: FileBody,
}

pub fn write_files<W: Write>(w: &mut W, codec: Codec, files: &[NamedFile]) -> io::Result<()> {
    write_header(w, NFIL, len_u32(files.len())?)?;
    for f in files {
        write_raw(w, NAME, f.name.as_bytes())?;
        match &f.body {
            FileBody::File(data) => write_body(w, FILE, codec, data)?,
            FileBody::Link(target) => write_raw(w, LINK, target.as_bytes())?,
        }
    }
    Ok(())
}

/// Reads `NFIL`, the number of files that follow, within the limit.
pub fn read_file_count<R: Read>(r: &mut R, limits: &Limits) -> Result<u32> {
    let n = read_header(r, NFIL)?;
    if n > limits.max_files {
        return Err(WireError::TooLarge {
            token: *NFIL,
            len: n as u64,
            limit: limits.max_files as u64,
        });
    }
    Ok(n)
}

pub fn read_files<R: Read>(r: &mut R, codec: Codec, limits: &Limits) -> Result<Vec<NamedFile>> {
    let n = read_file_count(r, limits)?;
    let mut files = Vec::with_capacity((n as usize).min(1024));
    let mut total: u64 = 0;
    for _ in 0..n {
        let name = read_string(r, NAME, limits.max_path)?;
        let mut h = [0u8; HEADER_LEN];
        read_full(r, &mut h, FILE, false)?;
        let token: Token = h[..4].try_into().expect("four bytes");
        let value = parse_hex(&token, h[4..].try_into().expect("eight bytes"))?;
        // Re-feed the header we peeked at to the typed readers.
        let mut chained = io::Cursor::new(h).chain(&mut *r);
        // Each body may use what the files before it left of `max_body`,
        // counted inflated: a list of small bodies that each grow 64 times
        // must not add up to more than one large body could.
        let left = Limits {
            max_body: limits.max_body.saturating_sub(total),
            ..*limits
        };
        let body = match &token {
            FILE => FileBody::File(read_body(&mut chained, FILE, codec, &left)?),
            LINK => FileBody::Link(read_string(&mut chained, LINK, limits.max_path)?),
            _ => {
                return Err(WireError::BadToken {
                    expected: *FILE,
                    got: token,
                })
            }
        };
        total += name.len() as u64;
        total += match &body {
            FileBody::File(data) => (data.len() as u64).max(value as u64),
            FileBody::Link(target) => target.len() as u64,
        };
        if total > limits.max_body {
            return Err(WireError::TooLarge {
                token: *FILE,
                len: total,
                limit: limits.max_body,
            });
        }
        files.push(NamedFile { name, body });
    }
    Ok(files)
}
