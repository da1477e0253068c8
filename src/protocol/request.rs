//! What a client sends first: the request head (`DIST`, `CDIR` in
//! protocol 3, `ARGC`, `ARGV`...). The source follows: one `DOTI` body
//! (`codec`'s), or in protocol 3 the list of files (`files`).

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;

use super::error::{Result, WireError};
use super::limits::Limits;
use super::packet::{len_u32, read_header, read_string, write_header, write_raw};
use super::token::{ARGC, ARGV, CDIR, DIST};
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
    let dist = read_dist(r)?;
    Ok((dist, read_head(r, dist, limits)?))
}

/// Reads `DIST`: once it is known, so is the form of any reply.
pub fn read_dist<R: Read>(r: &mut R) -> Result<Dist> {
    let v = read_header(r, DIST)?;
    Dist::from_u32(v).ok_or_else(|| unsupported(v))
}

/// Reads the rest of the head of a request whose `DIST` was `dist`.
pub fn read_head<R: Read>(r: &mut R, dist: Dist, limits: &Limits) -> Result<RequestHead> {
    read_head_after_dist(r, dist.base(), limits)
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
