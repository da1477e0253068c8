//! How bulk bodies (sources, objects, diagnostics, files) are compressed
//! on one connection: [`Codec`], and the readers and writers of bodies
//! that take it. distcc 3.4 implies the codec from the protocol version
//! ([`Version::codec`]); the connection's owner chooses it, so our own
//! extensions may choose another: zstd, which only their `DIST` values ask
//! for ([`Dist::codec`](super::version::Dist::codec)).

use std::borrow::Cow;
use std::io::{self, Read, Write};

use super::error::{Result, WireError};
use super::limits::Limits;
use super::packet::{read_len, read_raw, write_raw};
use super::token::Token;
use crate::lzo::{self, InflateError};
use crate::zstd;

/// The compression of a connection's bulk bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Bodies as they are (protocol 1).
    Raw,
    /// LZO1X-1 (protocols 2 and 3).
    Lzo,
    /// zstd (`crate::zstd`): our own extension dialects only.
    Zstd,
}

impl Codec {
    /// Whether bodies travel as they are, so they can be streamed.
    pub fn is_raw(self) -> bool {
        self == Codec::Raw
    }

    /// `data` as it goes on the wire. An empty body is always sent raw.
    pub fn compress(self, data: &[u8]) -> Cow<'_, [u8]> {
        match self {
            Codec::Lzo if !data.is_empty() => Cow::Owned(lzo::compress(data)),
            Codec::Zstd if !data.is_empty() => Cow::Owned(zstd::compress(data)),
            _ => Cow::Borrowed(data),
        }
    }

    /// A body as it came off the wire, inflated to at most `bound` bytes;
    /// `token` names it in errors.
    pub fn decompress(self, token: &Token, raw: Vec<u8>, bound: usize) -> Result<Vec<u8>> {
        match self {
            Codec::Lzo if !raw.is_empty() => {
                lzo::decompress(&raw, bound).map_err(|err| WireError::Lzo { token: *token, err })
            }
            Codec::Zstd if !raw.is_empty() => {
                zstd::decompress(&raw, bound).map_err(|err| WireError::Zstd { token: *token, err })
            }
            _ => Ok(raw),
        }
    }
}

/// Reads a bulk body (DOTI, DOTO, SERR, SOUT, FILE, DOTD) into memory,
/// inflated to at most `limits.max_body` bytes: for what a client keeps
/// (its replies). A server writes bodies to files with [`read_body_to`].
pub fn read_body<R: Read>(
    r: &mut R,
    token: &Token,
    codec: Codec,
    limits: &Limits,
) -> Result<Vec<u8>> {
    let len = read_len(r, token, limits.max_body)?;
    let raw = read_raw(r, token, len)?;
    codec.decompress(token, raw, bound(limits.max_body))
}

fn bound(max: u64) -> usize {
    max.min(usize::MAX as u64) as usize
}

/// Reads a bulk body into `w`, inflating it within `limits.max_body`;
/// returns the bytes written. Raw and compressed bodies alike pass through
/// in small pieces, so a body costs no memory however large it inflates.
pub fn read_body_to<R: Read, W: Write>(
    r: &mut R,
    token: &Token,
    codec: Codec,
    limits: &Limits,
    w: &mut W,
) -> Result<u64> {
    let len = read_len(r, token, limits.max_body)? as u64;
    copy_body(r, token, codec, len, limits.max_body, w)
}

/// Copies a body of `len` bytes on the wire from `r` to `w`, inflated to
/// at most `limit` bytes; returns the bytes written.
pub fn copy_body<R: Read, W: Write>(
    r: &mut R,
    token: &Token,
    codec: Codec,
    len: u64,
    limit: u64,
    w: &mut W,
) -> Result<u64> {
    let mut body = r.by_ref().take(len);
    let written = match codec {
        Codec::Lzo if len > 0 => match lzo::inflate(&mut body, w, limit) {
            Ok(n) => n,
            // The connection ended inside the body.
            Err(_) if body.limit() > 0 && at_eof(&mut body) => {
                return Err(truncated(token, len - body.limit(), len))
            }
            Err(InflateError::Lzo(err)) => return Err(WireError::Lzo { token: *token, err }),
            Err(InflateError::Io(e)) => return Err(e.into()),
        },
        Codec::Zstd if len > 0 => match zstd::inflate(&mut body, w, limit) {
            Ok(n) => n,
            Err(_) if body.limit() > 0 && at_eof(&mut body) => {
                return Err(truncated(token, len - body.limit(), len))
            }
            Err(zstd::InflateError::Zstd(err)) => {
                return Err(WireError::Zstd { token: *token, err })
            }
            Err(zstd::InflateError::Io(e)) => return Err(e.into()),
        },
        _ if len > limit => {
            return Err(WireError::TooLarge {
                token: *token,
                len,
                limit,
            })
        }
        _ => io::copy(&mut body, w)?,
    };
    if body.limit() > 0 {
        return Err(truncated(token, len - body.limit(), len));
    }
    Ok(written)
}

/// Whether `r` is at its end (a failed read counts as the end).
fn at_eof<R: Read>(r: &mut R) -> bool {
    matches!(r.read(&mut [0u8; 1]), Ok(0) | Err(_))
}

fn truncated(token: &Token, got: u64, want: u64) -> WireError {
    WireError::Truncated {
        what: *token,
        got: got as usize,
        want: want as usize,
    }
}

/// Writes a bulk body, compressed by `codec`.
pub fn write_body<W: Write>(w: &mut W, token: &Token, codec: Codec, body: &[u8]) -> io::Result<()> {
    write_raw(w, token, &codec.compress(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::token::DOTI;
    use crate::protocol::version::Version;

    #[test]
    fn versions_imply_the_reference_codecs_and_bodies_round_trip() {
        assert_eq!(Version::V1.codec(), Codec::Raw);
        assert_eq!(Version::V2.codec(), Codec::Lzo);
        assert_eq!(Version::V3.codec(), Codec::Lzo);
        let body: Vec<u8> = (0..500)
            .flat_map(|i| format!("int x{i};\n").into_bytes())
            .collect();
        for codec in [Codec::Raw, Codec::Lzo, Codec::Zstd] {
            let mut wire = Vec::new();
            write_body(&mut wire, DOTI, codec, &body).unwrap();
            assert_eq!(wire.len() < body.len(), !codec.is_raw(), "{codec:?}");
            let mut streamed = Vec::new();
            read_body_to(
                &mut &wire[..],
                DOTI,
                codec,
                &Limits::default(),
                &mut streamed,
            )
            .unwrap();
            assert_eq!(streamed, body, "{codec:?}");
            let got = read_body(&mut &wire[..], DOTI, codec, &Limits::default());
            assert_eq!(got.unwrap(), body, "{codec:?}");
            // An empty body is sent raw whatever the codec.
            let mut empty = Vec::new();
            write_body(&mut empty, DOTI, codec, b"").unwrap();
            assert_eq!(empty, b"DOTI00000000");
        }
    }
}
