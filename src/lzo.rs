//! LZO1X bodies for protocol versions 2 and 3.
//!
//! Compression uses `lzokay-native`, whose output any LZO1X decoder reads.
//! Decompression is our own: the wire does not carry the uncompressed size,
//! so the decoder must refuse to grow past a caller-given bound instead of
//! trusting the stream (a few hundred bytes of zero-run lengths can otherwise
//! ask for gigabytes), and it must treat every back-reference and length as
//! hostile. The crate's decoder does neither, so this one is written out
//! from the format (`lzo1x_d.ch`) with every index checked.

use std::fmt;

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

/// LZO1X-compresses `data`. Empty input gives empty output: the protocol
/// sends an empty body raw.
pub fn compress(data: &[u8]) -> Vec<u8> {
    if data.is_empty() {
        return Vec::new();
    }
    // The crate only fails on internal invariants for non-empty input; fall
    // back to a stream of literals, which is still valid LZO1X.
    lzokay_native::compress(data).unwrap_or_else(|_| literal_stream(data))
}

/// A valid LZO1X stream holding `data` as one literal run and the end marker.
fn literal_stream(data: &[u8]) -> Vec<u8> {
    let n = data.len();
    let mut out = Vec::with_capacity(n + n / 255 + 8);
    if n <= 238 {
        out.push((n + 17) as u8);
    } else {
        // Instruction 0 with a zero-extended length: 3 + 15 + 255*zeros + last.
        out.push(0);
        let mut rest = n - 18;
        while rest > 255 {
            out.push(0);
            rest -= 255;
        }
        out.push(rest as u8);
    }
    out.extend_from_slice(data);
    out.extend_from_slice(&[0x11, 0, 0]);
    out
}

/// Decompresses one LZO1X stream, refusing to produce more than `limit` bytes.
pub fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, LzoError> {
    let mut d = Decoder {
        input,
        ip: 0,
        out: Vec::with_capacity(input.len().saturating_mul(3).min(limit)),
        limit,
    };
    d.run()?;
    Ok(d.out)
}

struct Decoder<'a> {
    input: &'a [u8],
    ip: usize,
    out: Vec<u8>,
    limit: usize,
}

/// Where the decoder's state machine goes next; mirrors the labels of the
/// reference decoder so the two can be read side by side.
enum Next {
    LiteralRun,
    FirstLiteralRun,
    Match(usize),
    TrailingLiterals(usize),
}

impl Decoder<'_> {
    fn byte(&mut self) -> Result<usize, LzoError> {
        let b = *self.input.get(self.ip).ok_or(LzoError::InputOverrun)?;
        self.ip += 1;
        Ok(b as usize)
    }

    /// A run length: `base` plus 255 for each zero byte plus the final byte.
    fn extended_length(&mut self, base: usize) -> Result<usize, LzoError> {
        let mut t = 0usize;
        loop {
            let b = self.byte()?;
            if b != 0 {
                return Ok(t + base + b);
            }
            t += 255;
            // A length that alone exceeds the bound cannot be legitimate.
            if t > self.limit {
                return Err(LzoError::OutputOverrun { limit: self.limit });
            }
        }
    }

    fn literals(&mut self, n: usize) -> Result<(), LzoError> {
        let end = self.ip.checked_add(n).ok_or(LzoError::InputOverrun)?;
        let src = self.input.get(self.ip..end).ok_or(LzoError::InputOverrun)?;
        self.reserve(n)?;
        self.out.extend_from_slice(src);
        self.ip = end;
        Ok(())
    }

    fn reserve(&self, n: usize) -> Result<(), LzoError> {
        if self.out.len().saturating_add(n) > self.limit {
            Err(LzoError::OutputOverrun { limit: self.limit })
        } else {
            Ok(())
        }
    }

    /// Copies `len` bytes from `dist` bytes behind the end of the output;
    /// overlapping copies repeat the pattern, as LZ77 requires.
    fn copy_match(&mut self, dist: usize, len: usize) -> Result<(), LzoError> {
        if dist == 0 || dist > self.out.len() {
            return Err(LzoError::LookbehindOverrun);
        }
        self.reserve(len)?;
        let start = self.out.len() - dist;
        if dist >= len {
            self.out.extend_from_within(start..start + len);
        } else {
            for i in 0..len {
                let b = self.out[start + i];
                self.out.push(b);
            }
        }
        Ok(())
    }

    fn le16(&mut self) -> Result<usize, LzoError> {
        let lo = self.byte()?;
        let hi = self.byte()?;
        Ok(lo | (hi << 8))
    }

    fn run(&mut self) -> Result<(), LzoError> {
        let mut next = match self.input.first() {
            None => return Err(LzoError::InputOverrun),
            Some(&b) if b > 17 => {
                self.ip = 1;
                let t = b as usize - 17;
                if t < 4 {
                    Next::TrailingLiterals(t)
                } else {
                    self.literals(t)?;
                    Next::FirstLiteralRun
                }
            }
            Some(_) => Next::LiteralRun,
        };
        loop {
            next = match next {
                Next::LiteralRun => {
                    let mut t = self.byte()?;
                    if t >= 16 {
                        Next::Match(t)
                    } else {
                        if t == 0 {
                            t = self.extended_length(15)?;
                        }
                        self.literals(t + 3)?;
                        Next::FirstLiteralRun
                    }
                }
                Next::FirstLiteralRun => {
                    let t = self.byte()?;
                    if t >= 16 {
                        Next::Match(t)
                    } else {
                        // A 3-byte match 2049..3072 bytes back, only valid
                        // straight after a literal run.
                        let h = self.byte()?;
                        self.copy_match(1 + 0x0800 + (t >> 2) + (h << 2), 3)?;
                        self.after_match()?
                    }
                }
                Next::Match(t) => {
                    if t >= 64 {
                        let h = self.byte()?;
                        self.copy_match(1 + ((t >> 2) & 7) + (h << 3), (t >> 5) + 1)?;
                    } else if t >= 32 {
                        let mut len = t & 31;
                        if len == 0 {
                            len = self.extended_length(31)?;
                        }
                        let dist = 1 + (self.le16()? >> 2);
                        self.copy_match(dist, len + 2)?;
                    } else if t >= 16 {
                        let mut len = t & 7;
                        if len == 0 {
                            len = self.extended_length(7)?;
                        }
                        let dist = ((t & 8) << 11) + (self.le16()? >> 2);
                        if dist == 0 {
                            return self.finish(len);
                        }
                        self.copy_match(dist + 0x4000, len + 2)?;
                    } else {
                        let h = self.byte()?;
                        self.copy_match(1 + (t >> 2) + (h << 2), 2)?;
                    }
                    self.after_match()?
                }
                Next::TrailingLiterals(t) => {
                    self.literals(t)?;
                    Next::Match(self.byte()?)
                }
            }
        }
    }

    /// The low two bits of the instruction's second-to-last byte say how many
    /// literals (0..3) follow a match.
    fn after_match(&mut self) -> Result<Next, LzoError> {
        let t = self.input[self.ip - 2] as usize & 3;
        Ok(if t == 0 {
            Next::LiteralRun
        } else {
            Next::TrailingLiterals(t)
        })
    }

    fn finish(&self, len: usize) -> Result<(), LzoError> {
        if len != 1 {
            Err(LzoError::BadEndMarker)
        } else if self.ip != self.input.len() {
            Err(LzoError::TrailingInput)
        } else {
            Ok(())
        }
    }
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
