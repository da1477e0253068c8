//! LZO1X bodies for protocol versions 2 and 3.
//!
//! Both directions are our own. Compression is LZO1X-1, the reference's
//! speed-first variant: an optimal compressor (as in the `lzokay-native`
//! crate) is an order of magnitude slower, which made `,lzo` slower than
//! plain on a LAN. Decompression: the wire does not carry the uncompressed size,
//! so the decoder must refuse to grow past a caller-given bound instead of
//! trusting the stream (a few hundred bytes of zero-run lengths can otherwise
//! ask for gigabytes), and it must treat every back-reference and length as
//! hostile. The crate's decoder does neither, so this one is written out
//! from the format (`lzo1x_d.ch`) with every index checked.

use std::fmt;

mod decode;

pub use decode::{decompress, inflate, InflateError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LzoError {
    /// The stream ended inside an instruction or before its end marker.
    InputOverrun,
    /// The output would exceed the caller's bound.
    OutputOverrun { limit: usize },
    /// A back-reference points before the start of the output.
    LookbehindOverrun,
    /// Bytes follow the end marker.
    TrailingInput,
    /// The end-of-stream instruction is malformed.
    BadEndMarker,
}

impl fmt::Display for LzoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LzoError::InputOverrun => write!(f, "LZO stream is truncated"),
            LzoError::OutputOverrun { limit } => {
                write!(f, "LZO stream inflates beyond {limit} bytes")
            }
            LzoError::LookbehindOverrun => write!(f, "LZO back-reference before start of data"),
            LzoError::TrailingInput => write!(f, "LZO stream has data after its end marker"),
            LzoError::BadEndMarker => write!(f, "LZO end marker is malformed"),
        }
    }
}

impl std::error::Error for LzoError {}

/// LZO1X-1-compresses `data`: the reference's own speed-first variant (a
/// single hash probe per position), several hundred MB/s. Empty input gives
/// empty output: the protocol sends an empty body raw.
pub fn compress(data: &[u8]) -> Vec<u8> {
    if data.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(data.len() + data.len() / 16 + 64);
    let mut dict = vec![0u16; DICT_SIZE];
    let mut pending = 0usize;
    let mut start = 0usize;
    while data.len() - start > 20 {
        let len = (data.len() - start).min(CHUNK);
        dict.fill(0);
        pending = compress_chunk(data, start, start + len, pending, &mut out, &mut dict);
        start += len;
    }
    pending += data.len() - start;
    if pending > 0 {
        let from = data.len() - pending;
        if out.is_empty() && pending <= 238 {
            out.push((17 + pending) as u8);
        } else if pending <= 3 {
            let at = out.len() - 2;
            out[at] |= pending as u8;
        } else {
            literal_run_header(&mut out, pending);
        }
        out.extend_from_slice(&data[from..]);
    }
    out.extend_from_slice(&[0x11, 0, 0]);
    out
}

/// Matches stay within a chunk, so its offsets fit the format's largest
/// distance (0xbfff) and the dictionary's 16-bit entries.
const CHUNK: usize = 0xc000;
const DICT_BITS: u32 = 14;
const DICT_SIZE: usize = 1 << DICT_BITS;
const M2_MAX_LEN: usize = 8;
const M2_MAX_OFFSET: usize = 0x0800;
const M3_MAX_LEN: usize = 33;
const M3_MAX_OFFSET: usize = 0x4000;
const M4_MAX_LEN: usize = 9;

fn le32(d: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]])
}

/// A literal run of `n` >= 4 bytes (the bytes themselves follow).
fn literal_run_header(out: &mut Vec<u8>, n: usize) {
    if n <= 18 {
        out.push((n - 3) as u8);
    } else {
        out.push(0);
        let mut rest = n - 18;
        while rest > 255 {
            out.push(0);
            rest -= 255;
        }
        out.push(rest as u8);
    }
}

/// Length beyond an instruction's short field: zero bytes of 255 each and
/// a final byte.
fn long_length(out: &mut Vec<u8>, mut rest: usize) {
    while rest > 255 {
        out.push(0);
        rest -= 255;
    }
    out.push(rest as u8);
}

/// Compresses `d[begin..end]`, with `carried` literals from the previous
/// chunk still pending; returns the literals pending at its end.
fn compress_chunk(
    d: &[u8],
    begin: usize,
    end: usize,
    carried: usize,
    out: &mut Vec<u8>,
    dict: &mut [u16],
) -> usize {
    let ip_end = end - 20;
    let mut ii = begin;
    let mut ti = carried;
    let mut ip = begin + 4_usize.saturating_sub(ti);
    let mut after_match = false;
    loop {
        // Skip faster through data that does not compress; right after a
        // match, try the very next position.
        if !after_match {
            ip += 1 + ((ip - ii) >> 5);
        }
        after_match = false;
        if ip >= ip_end {
            break;
        }
        let dv = le32(d, ip);
        let h = ((dv.wrapping_mul(0x1824_429d)) >> (32 - DICT_BITS)) as usize & (DICT_SIZE - 1);
        let m_pos = begin + dict[h] as usize;
        dict[h] = (ip - begin) as u16;
        if m_pos >= ip || dv != le32(d, m_pos) {
            continue;
        }
        ii -= ti;
        ti = 0;
        let t = ip - ii;
        if t != 0 {
            if t <= 3 {
                let at = out.len() - 2;
                out[at] |= t as u8;
            } else {
                literal_run_header(out, t);
            }
            out.extend_from_slice(&d[ii..ip]);
        }
        let mut m_len = 4;
        while ip + m_len < end && d[ip + m_len] == d[m_pos + m_len] {
            m_len += 1;
        }
        let m_off = ip - m_pos;
        ip += m_len;
        ii = ip;
        if m_len <= M2_MAX_LEN && m_off <= M2_MAX_OFFSET {
            let o = m_off - 1;
            out.push((((m_len - 1) << 5) | ((o & 7) << 2)) as u8);
            out.push((o >> 3) as u8);
        } else if m_off <= M3_MAX_OFFSET {
            let o = m_off - 1;
            if m_len <= M3_MAX_LEN {
                out.push((32 | (m_len - 2)) as u8);
            } else {
                out.push(32);
                long_length(out, m_len - M3_MAX_LEN);
            }
            out.push((o << 2) as u8);
            out.push((o >> 6) as u8);
        } else {
            let o = m_off - 0x4000;
            if m_len <= M4_MAX_LEN {
                out.push((16 | ((o >> 11) & 8) | (m_len - 2)) as u8);
            } else {
                out.push((16 | ((o >> 11) & 8)) as u8);
                long_length(out, m_len - M4_MAX_LEN);
            }
            out.push((o << 2) as u8);
            out.push((o >> 6) as u8);
        }
        after_match = true;
    }
    end - (ii - ti)
}

#[cfg(test)]
/// A valid LZO1X stream holding `data` as one literal run and the end marker.
fn literal_stream(data: &[u8]) -> Vec<u8> {
    let n = data.len();
    let mut out = Vec::with_capacity(n + n / 255 + 8);
    if n <= 238 {
        out.push((n + 17) as u8);
    } else {
        literal_run_header(&mut out, n);
    }
    out.extend_from_slice(data);
    out.extend_from_slice(&[0x11, 0, 0]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Vec<u8>> {
        let text = b"#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n".repeat(50);
        let mut pseudo = Vec::new();
        let mut x: u32 = 12345;
        for _ in 0..100_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            pseudo.push((x >> 16) as u8 % 7);
        }
        vec![
            b"a".to_vec(),
            b"abc".to_vec(),
            b"abcd".to_vec(),
            vec![0u8; 100_000],
            text,
            pseudo,
            (0..=255u8).cycle().take(70_000).collect(),
        ]
    }

    #[test]
    fn round_trips() {
        for s in samples() {
            let c = compress(&s);
            assert_eq!(decompress(&c, s.len()).unwrap(), s, "len {}", s.len());
        }
    }

    #[test]
    fn an_independent_decoder_reads_our_output() {
        for s in samples() {
            let c = compress(&s);
            let theirs = lzokay_native::decompress_all(&c, Some(s.len())).unwrap();
            assert_eq!(theirs, s, "len {}", s.len());
        }
    }

    #[test]
    fn sizes_around_chunks_and_tails_round_trip() {
        let mut x: u32 = 99;
        for len in (0..64).chain([0xbfff, 0xc000, 0xc001, 0xc014, 0xc015, 0x18000 + 3]) {
            let data: Vec<u8> = (0..len)
                .map(|i| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    if i % 7 < 4 {
                        b'a' + (i % 3) as u8
                    } else {
                        (x >> 24) as u8
                    }
                })
                .collect();
            let c = compress(&data);
            assert_eq!(
                decompress(&c, data.len().max(1)).unwrap_or_default(),
                data,
                "len {len}"
            );
        }
    }

    #[test]
    fn literal_stream_round_trips() {
        for s in samples() {
            let c = literal_stream(&s);
            assert_eq!(decompress(&c, s.len()).unwrap(), s);
        }
    }

    #[test]
    fn bound_is_enforced() {
        let s = vec![0u8; 100_000];
        let c = compress(&s);
        assert_eq!(
            decompress(&c, 99_999),
            Err(LzoError::OutputOverrun { limit: 99_999 })
        );
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        for s in samples() {
            let c = compress(&s);
            for cut in 0..c.len().min(600) {
                assert!(decompress(&c[..cut], s.len()).is_err(), "cut {cut}");
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u32 = 1;
        for len in 0..400 {
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                buf.push((x >> 24) as u8);
            }
            let _ = decompress(&buf, 1 << 16);
        }
    }

    #[test]
    fn zero_run_lengths_are_bounded() {
        // A literal-run instruction with a huge zero-extended length.
        let mut bomb = vec![0u8];
        bomb.extend(std::iter::repeat_n(0u8, 10_000));
        bomb.push(1);
        assert!(matches!(
            decompress(&bomb, 1 << 20),
            Err(LzoError::OutputOverrun { .. })
        ));
    }

    #[test]
    fn trailing_bytes_rejected() {
        let mut c = compress(b"hello world hello world");
        c.push(0);
        assert_eq!(decompress(&c, 1000), Err(LzoError::TrailingInput));
    }
}
