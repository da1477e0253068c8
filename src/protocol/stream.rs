//! Our extension of protocols 1 and 2, spoken only between our own client
//! and daemon: the preprocessed source is sent in chunks while the local
//! preprocessor is still writing it, and the daemon feeds each chunk to a
//! compiler it started as soon as the arguments were checked. The
//! compiler's start-up (driver, cc1, its initialisation: about 9 ms of a
//! trivial compile) and its parsing then overlap the preprocessor, instead
//! of waiting for a length the protocol needs up front.
//!
//! ```text
//! client: DIST 00000101 (raw), 00000102 (LZO) or 00000112 (zstd)
//!         ARGC  ARGV...
//! daemon: STRM 00000000        the compiler runs; send the source
//!      or DONE ...             a whole reply: refused (policy, whitelist)
//! client: DOTC len body ...    chunks (each compressed in 0x102, 0x112)
//!         DOTC 00000000        end of the source
//! daemon: DONE 00000001|2  STAT SERR SOUT DOTO     (as protocol 1 or 2,
//!                                                   in the request's codec)
//!         DDWO len body        only for -gsplit-dwarf, and STAT 0
//! ```
//!
//! A request whose argv has `-gsplit-dwarf` gets the split DWARF file
//! (`.dwo`) the compile wrote next to the object, as one more body after
//! `DOTO` when the compile succeeded (`OutputKind::SplitDwarf`); distcc
//! 3.4's protocols cannot carry it, so such jobs travel only in this one.
//!
//! A client whose preprocessor fails closes the connection instead of
//! sending the end marker; the daemon kills the compiler. The reference
//! daemon closes the connection on these versions, which the client takes
//! as "send the source whole to this host" (it keeps a copy for that).

use std::io::{self, BufRead, Write};

use super::codec::{copy_body, Codec};
use super::error::{Result, WireError};
use super::limits::Limits;
use super::packet::{header, read_header};
use super::token::{Token, DONE, HEADER_LEN};
use super::version::{Dist, Version};

/// `DIST` values of the extension: 0x100 + the protocol whose reply it
/// uses (+ 0x10 for zstd bodies).
pub const RAW: u32 = Dist::STREAMED_RAW;
pub const LZO: u32 = Dist::STREAMED_LZO;
pub const ZSTD: u32 = Dist::STREAMED_ZSTD;

/// The daemon's go-ahead.
pub const STRM: &Token = b"STRM";
/// One chunk of preprocessed source; length 0 ends the source.
pub const DOTC: &Token = b"DOTC";

/// Largest chunk body, compressed or not, and largest inflated chunk.
pub const MAX_CHUNK: u32 = 4 << 20;

/// The extension's `DIST` value for a base protocol (1 or 2).
pub fn version_for(base: Version) -> u32 {
    match base {
        Version::V1 => RAW,
        _ => LZO,
    }
}

/// The base protocol of an extension `DIST` value, if it is one.
pub fn base_of(dist: u32) -> Option<Version> {
    match dist {
        RAW => Some(Version::V1),
        LZO | ZSTD => Some(Version::V2),
        _ => None,
    }
}

/// Appends one chunk of `data`, compressed by the connection's `codec`
/// (LZO under 0x102), to `out`. Empty data is never a chunk: it would
/// read as the end marker.
pub fn push_chunk(out: &mut Vec<u8>, codec: Codec, data: &[u8]) {
    debug_assert!(!data.is_empty());
    let body = codec.compress(data);
    out.extend_from_slice(&header(DOTC, body.len() as u32));
    out.extend_from_slice(&body);
}

/// The end marker.
pub fn end() -> [u8; HEADER_LEN] {
    header(DOTC, 0)
}

/// Reads chunks up to the end marker, handing each piece of source to
/// `sink` as it arrives; returns the source's length. Raw chunks are passed
/// on straight from the reader's buffer and compressed ones as they
/// inflate, so no chunk is held whole. The total is bounded by
/// `limits.max_body`.
pub fn read_chunks<R: BufRead>(
    r: &mut R,
    codec: Codec,
    limits: &Limits,
    mut sink: impl FnMut(&[u8]) -> io::Result<()>,
) -> Result<u64> {
    let mut total: u64 = 0;
    // Bytes on the wire, bounded too: chunks that inflate to nothing must
    // not make an endless request.
    let mut wire: u64 = 0;
    loop {
        let len = read_header(r, DOTC)?;
        if len == 0 {
            return Ok(total);
        }
        wire += HEADER_LEN as u64 + len as u64;
        if len > MAX_CHUNK || wire > limits.max_body {
            return Err(WireError::TooLarge {
                token: *DOTC,
                len: len as u64,
                limit: (MAX_CHUNK as u64).min(limits.max_body),
            });
        }
        let room = limits.max_body - total;
        if !codec.is_raw() {
            // Inflated as it is read, straight into the sink.
            let bound = (MAX_CHUNK as u64).min(room);
            total += copy_body(
                r,
                DOTC,
                codec,
                len as u64,
                bound,
                &mut SinkWriter(&mut sink),
            )?;
        } else {
            if len as u64 > room {
                return Err(WireError::TooLarge {
                    token: *DOTC,
                    len: total + len as u64,
                    limit: limits.max_body,
                });
            }
            let mut left = len as usize;
            while left > 0 {
                let buf = r.fill_buf()?;
                if buf.is_empty() {
                    return Err(WireError::Truncated {
                        what: *DOTC,
                        got: len as usize - left,
                        want: len as usize,
                    });
                }
                let n = buf.len().min(left);
                sink(&buf[..n])?;
                r.consume(n);
                left -= n;
            }
            total += len as u64;
        }
    }
}

/// A chunk sink as a writer, for the inflater.
struct SinkWriter<'s, F>(&'s mut F);

impl<F: FnMut(&[u8]) -> io::Result<()>> Write for SinkWriter<'_, F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (self.0)(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the daemon answers first: go ahead, or (the first header of) a
/// whole reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Go,
    /// The header read, to be replayed to the reply parser.
    Reply([u8; HEADER_LEN]),
}

pub fn write_go<W: Write + ?Sized>(w: &mut W) -> io::Result<()> {
    w.write_all(&header(STRM, 0))?;
    w.flush()
}

/// Reads the daemon's first answer. Anything but `STRM` or `DONE` is a
/// protocol error; a close before it is [`WireError::Closed`].
pub fn read_answer<R: io::Read>(r: &mut R) -> Result<Answer> {
    let mut h = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut h[got..]) {
            Ok(0) if got == 0 => return Err(WireError::Closed { expected: *STRM }),
            Ok(0) => {
                return Err(WireError::Truncated {
                    what: *STRM,
                    got,
                    want: HEADER_LEN,
                })
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    if &h[..4] == STRM {
        Ok(Answer::Go)
    } else if &h[..4] == DONE {
        Ok(Answer::Reply(h))
    } else {
        Err(WireError::BadToken {
            expected: *STRM,
            got: h[..4].try_into().expect("four bytes"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(codec: Codec, pieces: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in pieces {
            push_chunk(&mut out, codec, p);
        }
        out.extend_from_slice(&end());
        out
    }

    fn collect(bytes: &[u8], codec: Codec, limits: &Limits) -> Result<Vec<u8>> {
        let mut got = Vec::new();
        let mut r = io::BufReader::with_capacity(7, bytes);
        let n = read_chunks(&mut r, codec, limits, |d| {
            got.extend_from_slice(d);
            Ok(())
        })?;
        assert_eq!(n as usize, got.len());
        Ok(got)
    }

    #[test]
    fn chunks_round_trip_in_both_bases() {
        let big: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for base in [Version::V1.codec(), Version::V2.codec()] {
            let bytes = stream(base, &[b"int x;\n", &big, b"\n"]);
            let mut want = b"int x;\n".to_vec();
            want.extend_from_slice(&big);
            want.push(b'\n');
            assert_eq!(collect(&bytes, base, &Limits::default()).unwrap(), want);
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        for base in [Version::V1.codec(), Version::V2.codec()] {
            let bytes = stream(base, &[b"int main(void) { return 0; }\n", b"x"]);
            for cut in 0..bytes.len() {
                let e = collect(&bytes[..cut], base, &Limits::default()).unwrap_err();
                assert!(
                    matches!(e, WireError::Closed { .. } | WireError::Truncated { .. }),
                    "cut at {cut}: {e}"
                );
            }
        }
    }

    #[test]
    fn oversized_chunks_and_totals_are_refused_before_reading() {
        let mut bytes = header(DOTC, MAX_CHUNK + 1).to_vec();
        bytes.extend_from_slice(&end());
        assert!(matches!(
            collect(&bytes, Codec::Raw, &Limits::default()),
            Err(WireError::TooLarge { .. })
        ));
        let small = Limits {
            max_body: 10,
            ..Limits::default()
        };
        for base in [Version::V1.codec(), Version::V2.codec()] {
            let bytes = stream(base, &[b"0123456", b"789abc"]);
            assert!(collect(&bytes, base, &small).is_err(), "{base:?}");
        }
    }

    #[test]
    fn lzo_garbage_is_an_error() {
        let mut bytes = header(DOTC, 4).to_vec();
        bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        bytes.extend_from_slice(&end());
        assert!(matches!(
            collect(&bytes, Codec::Lzo, &Limits::default()),
            Err(WireError::Lzo { .. })
        ));
    }

    #[test]
    fn answers() {
        assert_eq!(read_answer(&mut &header(STRM, 0)[..]).unwrap(), Answer::Go);
        let done = header(DONE, 1);
        assert_eq!(read_answer(&mut &done[..]).unwrap(), Answer::Reply(done));
        assert!(matches!(
            read_answer(&mut &b""[..]),
            Err(WireError::Closed { .. })
        ));
        assert!(matches!(
            read_answer(&mut &b"STAT0000"[..]),
            Err(WireError::Truncated { .. })
        ));
        assert!(matches!(
            read_answer(&mut &header(b"STAT", 0)[..]),
            Err(WireError::BadToken { .. })
        ));
    }
}
