//! How bulk bodies (sources, objects, diagnostics, files) are compressed
//! on one connection: [`Codec`], and the readers and writers of bodies
//! that take it. distcc 3.4 implies the codec from the protocol version
//! ([`Version::codec`]); the connection's owner chooses it, so our own
//! extensions may choose another without a new version number.

use std::borrow::Cow;
use std::io::{self, Read, Write};

use super::error::{Result, WireError};
use super::limits::Limits;
use super::packet::{read_len, read_raw, write_raw};
use super::token::Token;
use super::version::Version;
use crate::lzo;

/// The compression of a connection's bulk bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Bodies as they are (protocol 1).
    Raw,
    /// LZO1X-1 (protocols 2 and 3).
    Lzo,
}

impl Version {
    /// The codec distcc 3.4 uses with this version.
    pub fn codec(self) -> Codec {
        match self {
            Version::V1 => Codec::Raw,
            Version::V2 | Version::V3 => Codec::Lzo,
        }
    }
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
            _ => Ok(raw),
        }
    }
}

/// Reads a bulk body (DOTI, DOTO, SERR, SOUT, FILE, DOTD), inflating it
/// within `limits` (`max_inflation` times its size, `max_body` in all).
pub fn read_body<R: Read>(
    r: &mut R,
    token: &Token,
    codec: Codec,
    limits: &Limits,
) -> Result<Vec<u8>> {
    let len = read_len(r, token, limits.max_body)?;
    let raw = read_raw(r, token, len)?;
    let bound = (len as u64)
        .saturating_mul(limits.max_inflation)
        .min(limits.max_body)
        .min(usize::MAX as u64) as usize;
    codec.decompress(token, raw, bound)
}

/// Reads a bulk body into `w`. Raw bodies are streamed in small pieces,
/// so a large source costs no memory; compressed ones are inflated whole
/// (LZO has no streaming form), within the limits. Returns the bytes
/// written.
pub fn read_body_to<R: Read, W: Write>(
    r: &mut R,
    token: &Token,
    codec: Codec,
    limits: &Limits,
    w: &mut W,
) -> Result<u64> {
    if !codec.is_raw() {
        let body = read_body(r, token, codec, limits)?;
        w.write_all(&body)?;
        return Ok(body.len() as u64);
    }
    let len = read_len(r, token, limits.max_body)? as u64;
    let got = io::copy(&mut r.by_ref().take(len), w)?;
    if got < len {
        return Err(WireError::Truncated {
            what: *token,
            got: got as usize,
            want: len as usize,
        });
    }
    Ok(got)
}

/// Writes a bulk body, compressed by `codec`.
pub fn write_body<W: Write>(w: &mut W, token: &Token, codec: Codec, body: &[u8]) -> io::Result<()> {
    write_raw(w, token, &codec.compress(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::token::DOTI;

    #[test]
    fn versions_imply_the_reference_codecs_and_bodies_round_trip() {
        assert_eq!(Version::V1.codec(), Codec::Raw);
        assert_eq!(Version::V2.codec(), Codec::Lzo);
        assert_eq!(Version::V3.codec(), Codec::Lzo);
        let body: Vec<u8> = (0..500)
            .flat_map(|i| format!("int x{i};\n").into_bytes())
            .collect();
        for codec in [Codec::Raw, Codec::Lzo] {
            let mut wire = Vec::new();
            write_body(&mut wire, DOTI, codec, &body).unwrap();
            assert_eq!(wire.len() < body.len(), codec == Codec::Lzo, "{codec:?}");
            let got = read_body(&mut &wire[..], DOTI, codec, &Limits::default());
            assert_eq!(got.unwrap(), body, "{codec:?}");
            // An empty body is sent raw whatever the codec.
            let mut empty = Vec::new();
            write_body(&mut empty, DOTI, codec, b"").unwrap();
            assert_eq!(empty, b"DOTI00000000");
        }
    }
}
