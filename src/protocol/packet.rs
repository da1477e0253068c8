//! Packet framing: a 12-byte header, four token letters ([`Token`], the
//! vocabulary is `token`'s) and eight lowercase hex digits, then for some
//! tokens that many bytes of body.
//! Readers check the token they expect, parse the digits strictly, and
//! check a length before allocating; bodies that may be compressed are
//! `codec`'s.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStringExt;

use super::error::{Result, WireError};
use super::token::{Token, HEADER_LEN};

/// Formats one header: token and eight lowercase hex digits.
pub fn header(token: &Token, value: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(token);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in 0..8 {
        h[4 + i] = HEX[((value >> (28 - 4 * i)) & 0xf) as usize];
    }
    h
}

pub(super) fn parse_hex(token: &Token, digits: &[u8; 8]) -> Result<u32> {
    let mut v: u32 = 0;
    for &d in digits {
        let n = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            // The reference writes lowercase but reads with sscanf %x.
            b'A'..=b'F' => d - b'A' + 10,
            _ => {
                return Err(WireError::BadNumber {
                    token: *token,
                    digits: *digits,
                })
            }
        };
        v = (v << 4) | n as u32;
    }
    Ok(v)
}

/// Reads exactly `buf.len()` bytes, telling a clean close before the first
/// byte from a truncation after some.
pub(super) fn read_full<R: Read>(
    r: &mut R,
    buf: &mut [u8],
    what: &Token,
    at_boundary: bool,
) -> Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 && at_boundary => return Err(WireError::Closed { expected: *what }),
            Ok(0) => {
                return Err(WireError::Truncated {
                    what: *what,
                    got,
                    want: buf.len(),
                })
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Reads the next header whatever its token, for a reader that branches
/// on it; chain it in front of the rest to read it as usual. `what` names
/// the token expected for a truncation's message.
pub fn next_header<R: Read>(r: &mut R, what: &Token) -> Result<[u8; HEADER_LEN]> {
    let mut h = [0u8; HEADER_LEN];
    r.read_exact(&mut h).map_err(|_| WireError::Truncated {
        what: *what,
        got: 0,
        want: HEADER_LEN,
    })?;
    Ok(h)
}

/// Reads a `token` whose body is a SHA-256 digest.
pub fn read_digest<R: Read>(r: &mut R, token: &Token) -> Result<[u8; 32]> {
    let len = read_header(r, token)?;
    if len != 32 {
        return Err(WireError::BadValue {
            token: *token,
            why: format!("digest of {len} bytes, expected 32"),
        });
    }
    Ok(read_raw(r, token, 32)?.try_into().expect("32 bytes"))
}

/// Reads one header and checks its token.
pub fn read_header<R: Read>(r: &mut R, expected: &Token) -> Result<u32> {
    let mut h = [0u8; HEADER_LEN];
    read_full(r, &mut h, expected, true)?;
    let got: Token = h[..4].try_into().expect("four bytes");
    if &got != expected {
        return Err(WireError::BadToken {
            expected: *expected,
            got,
        });
    }
    parse_hex(expected, h[4..].try_into().expect("eight bytes"))
}

/// Reads a header whose value is a length no larger than `limit`.
pub fn read_len<R: Read>(r: &mut R, token: &Token, limit: u64) -> Result<usize> {
    let len = read_header(r, token)? as u64;
    if len > limit {
        return Err(WireError::TooLarge {
            token: *token,
            len,
            limit,
        });
    }
    Ok(len as usize)
}

/// Reads `len` raw body bytes. The buffer grows as data arrives, so a peer
/// that announces a large body but sends little costs little memory.
pub fn read_raw<R: Read>(r: &mut R, token: &Token, len: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len.min(1 << 20));
    let got = r.by_ref().take(len as u64).read_to_end(&mut buf)?;
    if got < len {
        return Err(WireError::Truncated {
            what: *token,
            got,
            want: len,
        });
    }
    Ok(buf)
}

/// Reads a length-prefixed string body (ARGV, CDIR, NAME, LINK): no NUL.
pub fn read_string<R: Read>(r: &mut R, token: &Token, limit: u32) -> Result<OsString> {
    let len = read_len(r, token, limit as u64)?;
    let bytes = read_raw(r, token, len)?;
    if bytes.contains(&0) {
        return Err(WireError::BadValue {
            token: *token,
            why: "contains a NUL byte".into(),
        });
    }
    Ok(OsString::from_vec(bytes))
}

pub fn write_header<W: Write>(w: &mut W, token: &Token, value: u32) -> io::Result<()> {
    w.write_all(&header(token, value))
}

pub(super) fn len_u32(len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "body over 4 GiB"))
}

pub fn write_raw<W: Write>(w: &mut W, token: &Token, body: &[u8]) -> io::Result<()> {
    write_header(w, token, len_u32(body.len())?)?;
    w.write_all(body)
}
