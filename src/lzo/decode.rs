//! The LZO1X decoder, in two forms over one state machine: [`decompress`]
//! inflates a body held in memory into memory (the client's replies), and
//! [`inflate`] reads a body from a reader and writes it to a writer as it
//! goes, holding only the format's back-reference window (the daemon's
//! requests: a 10 MiB body of zeros inflating to 600 MiB costs it a few
//! hundred KiB, not 600 MiB). Both refuse to produce more than a bound.

use std::io::{self, Read, Write};

use super::LzoError;

/// Decompresses one LZO1X stream, refusing to produce more than `limit` bytes.
pub fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, LzoError> {
    let mut src = Slice { input, ip: 0 };
    let mut sink = Memory {
        out: Vec::with_capacity(input.len().saturating_mul(3).min(limit)),
        limit: limit as u64,
    };
    match run(&mut src, &mut sink) {
        Ok(()) => Ok(sink.out),
        Err(Fault::Lzo(e)) => Err(e),
        // Neither a slice nor a Vec does I/O.
        Err(Fault::Io(_)) => Err(LzoError::InputOverrun),
    }
}

/// Why [`inflate`] stopped.
#[derive(Debug)]
pub enum InflateError {
    /// The stream is malformed or inflates past the bound.
    Lzo(LzoError),
    /// Reading the stream or writing its output failed.
    Io(io::Error),
}

/// Inflates one LZO1X stream read from `input` (which must end where the
/// stream does) into `output`, producing at most `limit` bytes; returns how
/// many it produced. Memory: the format's window and two buffers, whatever
/// the sizes.
pub fn inflate<R: Read, W: Write>(
    input: R,
    output: &mut W,
    limit: u64,
) -> Result<u64, InflateError> {
    let mut src = Stream {
        reader: input,
        buf: vec![0; BUF].into_boxed_slice(),
        pos: 0,
        end: 0,
        last: [0; 2],
    };
    let mut sink = Window {
        w: output,
        buf: Vec::with_capacity(FLUSH_AT + BUF),
        total: 0,
        limit,
    };
    let fault = |f| match f {
        Fault::Lzo(e) => InflateError::Lzo(e),
        Fault::Io(e) => InflateError::Io(e),
    };
    run(&mut src, &mut sink).map_err(fault)?;
    sink.flush_all().map_err(InflateError::Io)?;
    Ok(sink.total)
}

/// The farthest an LZO1X match reaches back is 0xbfff bytes; the window
/// keeps at least this much output.
const WINDOW: usize = 64 * 1024;
/// Output is written out once this much is held, keeping the window.
const FLUSH_AT: usize = 4 * WINDOW;
/// Input read ahead, and the most output produced by one step.
const BUF: usize = 64 * 1024;

enum Fault {
    Lzo(LzoError),
    Io(io::Error),
}

impl From<LzoError> for Fault {
    fn from(e: LzoError) -> Self {
        Fault::Lzo(e)
    }
}

/// Where the compressed bytes come from.
trait Source {
    fn byte(&mut self) -> Result<usize, Fault>;
    /// The second-to-last byte `byte` returned: its low bits say how many
    /// literals follow a match.
    fn before_last(&self) -> usize;
    /// Hands the next `n` bytes, in pieces, to `sink` as literals.
    fn literals(&mut self, n: usize, sink: &mut impl Sink) -> Result<(), Fault>;
    /// Whether the stream's input is all consumed.
    fn at_end(&mut self) -> Result<bool, Fault>;
}

/// Where the inflated bytes go.
trait Sink {
    /// Bytes produced so far.
    fn total(&self) -> u64;
    fn limit(&self) -> u64;
    fn push(&mut self, bytes: &[u8]) -> Result<(), Fault>;
    /// Copies `len` bytes from `dist` bytes behind the end of the output;
    /// overlapping copies repeat the pattern, as LZ77 requires.
    fn copy_match(&mut self, dist: usize, len: usize) -> Result<(), Fault>;

    fn reserve(&self, n: usize) -> Result<(), Fault> {
        if self.total().saturating_add(n as u64) > self.limit() {
            Err(LzoError::OutputOverrun {
                limit: self.limit().min(usize::MAX as u64) as usize,
            }
            .into())
        } else {
            Ok(())
        }
    }
}

struct Slice<'a> {
    input: &'a [u8],
    ip: usize,
}

impl Source for Slice<'_> {
    fn byte(&mut self) -> Result<usize, Fault> {
        let b = *self.input.get(self.ip).ok_or(LzoError::InputOverrun)?;
        self.ip += 1;
        Ok(b as usize)
    }

    fn before_last(&self) -> usize {
        self.input[self.ip - 2] as usize
    }

    fn literals(&mut self, n: usize, sink: &mut impl Sink) -> Result<(), Fault> {
        let end = self.ip.checked_add(n).ok_or(LzoError::InputOverrun)?;
        let src = self.input.get(self.ip..end).ok_or(LzoError::InputOverrun)?;
        sink.push(src)?;
        self.ip = end;
        Ok(())
    }

    fn at_end(&mut self) -> Result<bool, Fault> {
        Ok(self.ip == self.input.len())
    }
}

struct Stream<R> {
    reader: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    last: [u8; 2],
}

impl<R: Read> Stream<R> {
    /// Refills the buffer when it is empty; false at the end of input.
    fn fill(&mut self) -> Result<bool, Fault> {
        while self.pos == self.end {
            match self.reader.read(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => (self.pos, self.end) = (0, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Fault::Io(e)),
            }
        }
        Ok(true)
    }
}

impl<R: Read> Source for Stream<R> {
    fn byte(&mut self) -> Result<usize, Fault> {
        if !self.fill()? {
            return Err(LzoError::InputOverrun.into());
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        self.last = [self.last[1], b];
        Ok(b as usize)
    }

    fn before_last(&self) -> usize {
        self.last[0] as usize
    }

    fn literals(&mut self, mut n: usize, sink: &mut impl Sink) -> Result<(), Fault> {
        sink.reserve(n)?;
        while n > 0 {
            if !self.fill()? {
                return Err(LzoError::InputOverrun.into());
            }
            let take = n.min(self.end - self.pos);
            sink.push(&self.buf[self.pos..self.pos + take])?;
            self.pos += take;
            n -= take;
        }
        Ok(())
    }

    fn at_end(&mut self) -> Result<bool, Fault> {
        Ok(!self.fill()?)
    }
}

struct Memory {
    out: Vec<u8>,
    limit: u64,
}

impl Sink for Memory {
    fn total(&self) -> u64 {
        self.out.len() as u64
    }

    fn limit(&self) -> u64 {
        self.limit
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), Fault> {
        self.reserve(bytes.len())?;
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn copy_match(&mut self, dist: usize, len: usize) -> Result<(), Fault> {
        if dist == 0 || dist > self.out.len() {
            return Err(LzoError::LookbehindOverrun.into());
        }
        self.reserve(len)?;
        repeat(&mut self.out, dist, len);
        Ok(())
    }
}

/// Appends `len` bytes copied from `dist` bytes behind the end of `out`.
/// An overlapping copy repeats the pattern: it is copied from what is
/// already there, as much as is there each time, which doubles it.
fn repeat(out: &mut Vec<u8>, dist: usize, len: usize) {
    let start = out.len() - dist;
    let mut left = len;
    while left > 0 {
        let n = left.min(out.len() - start);
        out.extend_from_within(start..start + n);
        left -= n;
    }
}

/// Output written through, keeping the window for back-references.
struct Window<'w, W> {
    w: &'w mut W,
    buf: Vec<u8>,
    total: u64,
    limit: u64,
}

impl<W: Write> Window<'_, W> {
    /// Writes out all but the window once enough is held.
    fn flush_some(&mut self) -> Result<(), Fault> {
        if self.buf.len() >= FLUSH_AT {
            let keep_from = self.buf.len() - WINDOW;
            self.w
                .write_all(&self.buf[..keep_from])
                .map_err(Fault::Io)?;
            self.buf.drain(..keep_from);
        }
        Ok(())
    }

    fn flush_all(&mut self) -> io::Result<()> {
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

impl<W: Write> Sink for Window<'_, W> {
    fn total(&self) -> u64 {
        self.total
    }

    fn limit(&self) -> u64 {
        self.limit
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), Fault> {
        self.reserve(bytes.len())?;
        self.buf.extend_from_slice(bytes);
        self.total += bytes.len() as u64;
        self.flush_some()
    }

    fn copy_match(&mut self, dist: usize, len: usize) -> Result<(), Fault> {
        // The window holds every byte a valid distance reaches.
        if dist == 0 || dist > self.buf.len() {
            return Err(LzoError::LookbehindOverrun.into());
        }
        self.reserve(len)?;
        // In pieces, so a long run never lands in memory whole.
        let mut left = len;
        while left > 0 {
            let n = left.min(BUF);
            repeat(&mut self.buf, dist, n);
            self.total += n as u64;
            left -= n;
            self.flush_some()?;
        }
        Ok(())
    }
}

/// Where the decoder's state machine goes next; mirrors the labels of the
/// reference decoder (`lzo1x_d.ch`) so the two can be read side by side.
enum Next {
    LiteralRun,
    FirstLiteralRun,
    Match(usize),
    TrailingLiterals(usize),
}

/// A run length: `base` plus 255 for each zero byte plus the final byte.
fn extended_length(src: &mut impl Source, sink: &impl Sink, base: usize) -> Result<usize, Fault> {
    let mut t = 0usize;
    loop {
        let b = src.byte()?;
        if b != 0 {
            return Ok(t + base + b);
        }
        t += 255;
        // A length that alone exceeds the bound cannot be legitimate.
        if t as u64 > sink.limit() {
            return Err(LzoError::OutputOverrun {
                limit: sink.limit().min(usize::MAX as u64) as usize,
            }
            .into());
        }
    }
}

fn le16(src: &mut impl Source) -> Result<usize, Fault> {
    let lo = src.byte()?;
    let hi = src.byte()?;
    Ok(lo | (hi << 8))
}

/// The state machine, every index and length treated as hostile.
fn run(src: &mut impl Source, sink: &mut impl Sink) -> Result<(), Fault> {
    let first = src.byte()?;
    let mut next = if first > 17 {
        let t = first - 17;
        if t < 4 {
            Next::TrailingLiterals(t)
        } else {
            src.literals(t, sink)?;
            Next::FirstLiteralRun
        }
    } else {
        // An ordinary first instruction, whose byte is already read.
        instruction(src, sink, first)?
    };
    loop {
        next = match next {
            Next::LiteralRun => {
                let t = src.byte()?;
                instruction(src, sink, t)?
            }
            Next::FirstLiteralRun => {
                let t = src.byte()?;
                if t >= 16 {
                    Next::Match(t)
                } else {
                    // A 3-byte match 2049..3072 bytes back, only valid
                    // straight after a literal run.
                    let h = src.byte()?;
                    sink.copy_match(1 + 0x0800 + (t >> 2) + (h << 2), 3)?;
                    after_match(src)
                }
            }
            Next::Match(t) => match matched(src, sink, t)? {
                Some(next) => next,
                None => return Ok(()),
            },
            Next::TrailingLiterals(t) => {
                src.literals(t, sink)?;
                Next::Match(src.byte()?)
            }
        };
    }
}

/// An instruction read where a literal run may start: a match (16 and
/// up) or a run of literals.
fn instruction(src: &mut impl Source, sink: &mut impl Sink, t: usize) -> Result<Next, Fault> {
    if t >= 16 {
        return Ok(Next::Match(t));
    }
    let t = if t == 0 {
        extended_length(src, sink, 15)?
    } else {
        t
    };
    src.literals(t + 3, sink)?;
    Ok(Next::FirstLiteralRun)
}

/// One match instruction starting with `t`; `None` at the end marker.
fn matched(src: &mut impl Source, sink: &mut impl Sink, t: usize) -> Result<Option<Next>, Fault> {
    if t >= 64 {
        let h = src.byte()?;
        sink.copy_match(1 + ((t >> 2) & 7) + (h << 3), (t >> 5) + 1)?;
    } else if t >= 32 {
        let mut len = t & 31;
        if len == 0 {
            len = extended_length(src, sink, 31)?;
        }
        let dist = 1 + (le16(src)? >> 2);
        sink.copy_match(dist, len + 2)?;
    } else if t >= 16 {
        let mut len = t & 7;
        if len == 0 {
            len = extended_length(src, sink, 7)?;
        }
        let dist = ((t & 8) << 11) + (le16(src)? >> 2);
        if dist == 0 {
            finish(src, len)?;
            return Ok(None);
        }
        sink.copy_match(dist + 0x4000, len + 2)?;
    } else {
        let h = src.byte()?;
        sink.copy_match(1 + (t >> 2) + (h << 2), 2)?;
    }
    Ok(Some(after_match(src)))
}

/// The low two bits of the instruction's second-to-last byte say how many
/// literals (0..3) follow a match.
fn after_match(src: &impl Source) -> Next {
    match src.before_last() & 3 {
        0 => Next::LiteralRun,
        t => Next::TrailingLiterals(t),
    }
}

fn finish(src: &mut impl Source, len: usize) -> Result<(), Fault> {
    if len != 1 {
        Err(LzoError::BadEndMarker.into())
    } else if !src.at_end()? {
        Err(LzoError::TrailingInput.into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lzo::compress;

    /// Counts what is written and keeps only a digest of it, as a file on
    /// disk would cost the decoder nothing.
    #[derive(Default)]
    struct Counting {
        len: u64,
        sum: u64,
        largest_write: usize,
    }

    impl Write for Counting {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            for &b in buf {
                self.sum = self.sum.wrapping_mul(31).wrapping_add(b as u64);
            }
            self.len += buf.len() as u64;
            self.largest_write = self.largest_write.max(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn digest(data: &[u8]) -> Counting {
        let mut c = Counting::default();
        c.write_all(data).unwrap();
        c
    }

    /// Text with matches at every distance up to the format's farthest.
    fn far_matches(len: usize) -> Vec<u8> {
        let mut x: u32 = 7;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let back = (x >> 8) as usize % 0xc000;
            if out.len() > back + 64 && x.is_multiple_of(3) {
                let start = out.len() - back - 1;
                for i in 0..(x as usize % 40 + 3) {
                    out.push(out[start + i]);
                }
            } else {
                out.push((x >> 24) as u8);
            }
        }
        out.truncate(len);
        out
    }

    #[test]
    fn streaming_inflates_as_memory_does() {
        let samples = [
            b"a".to_vec(),
            b"abcd".to_vec(),
            vec![0u8; 1_000_000],
            far_matches(700_000),
            b"int table[] = { 0, 0, 0, 0 };\n".repeat(40_000),
        ];
        for s in samples {
            let c = compress(&s);
            let mut out = Vec::new();
            let n = inflate(&c[..], &mut out, s.len() as u64).unwrap();
            assert_eq!(n, s.len() as u64);
            assert!(out == s, "len {}", s.len());
            // Read a byte at a time, too: no instruction may assume its
            // bytes arrive together.
            let mut out = Vec::new();
            let one_by_one = io::BufReader::with_capacity(1, &c[..]);
            inflate(one_by_one, &mut out, s.len() as u64).unwrap();
            assert!(out == s, "byte by byte, len {}", s.len());
        }
    }

    #[test]
    fn a_huge_body_costs_only_the_window() {
        // Zeros inflate about 255 times: written out in pieces no larger
        // than the decoder's buffers, never held whole.
        let zeros = vec![0u8; 16 << 20];
        let c = compress(&zeros);
        let chunk_digest = digest(&zeros);
        drop(zeros);
        let mut out = Counting::default();
        let n = inflate(&c[..], &mut out, 1 << 30).unwrap();
        assert_eq!(n, 16 << 20);
        assert_eq!((out.len, out.sum), (chunk_digest.len, chunk_digest.sum));
        assert!(out.largest_write <= FLUSH_AT + BUF, "{}", out.largest_write);
    }

    #[test]
    fn streaming_keeps_every_refusal() {
        let s = far_matches(200_000);
        let c = compress(&s);
        let mut sink = Counting::default();
        assert!(matches!(
            inflate(&c[..], &mut sink, s.len() as u64 - 1),
            Err(InflateError::Lzo(LzoError::OutputOverrun { .. }))
        ));
        for cut in [0, 1, 2, c.len() / 2, c.len() - 1] {
            assert!(
                inflate(&c[..cut], &mut Counting::default(), 1 << 20).is_err(),
                "cut {cut}"
            );
        }
        let mut trailing = c.clone();
        trailing.push(0);
        assert!(matches!(
            inflate(&trailing[..], &mut Counting::default(), 1 << 20),
            Err(InflateError::Lzo(LzoError::TrailingInput))
        ));
        // A match reaching before the start of the output.
        let bad = [
            0x11 + 4,
            b'a',
            b'b',
            b'c',
            b'd',
            0x40 | (7 << 2),
            0xff,
            0x11,
            0,
            0,
        ];
        assert!(matches!(
            inflate(&bad[..], &mut Counting::default(), 1 << 20),
            Err(InflateError::Lzo(LzoError::LookbehindOverrun))
        ));
        assert!(decompress(&bad, 1 << 20).is_err());
    }
}
