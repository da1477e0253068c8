//! zstd bodies for our own extension dialects (`protocol::codec`'s
//! [`Codec::Zstd`](crate::protocol::Codec)), which only our client and
//! daemon speak; distcc 3.4 peers keep LZO.
//!
//! Compression is the `zstd` crate's (libzstd): at its fastest levels it
//! compresses preprocessed C and `-g` objects markedly smaller than LZO1X-1
//! at a similar speed (figures in `benches/RESULTS.md`). Each body is one or
//! more frames. Decompression treats the stream as hostile: the output is
//! bounded by the caller, and the decoder's window (the memory a frame may
//! make it allocate) by [`WINDOW_LOG_MAX`], whatever the frame header asks.

use std::fmt;
use std::io::{self, Read, Write};

/// The level bodies are compressed at: the fastest of zstd's regular
/// levels, which already beats LZO's ratio (see the crate header).
pub const LEVEL: i32 = 1;

/// Largest window a peer's frame may ask us to keep (8 MiB): more than our
/// own compressor uses at [`LEVEL`] for any body size, little enough that
/// many connections at once cannot exhaust memory.
pub const WINDOW_LOG_MAX: u32 = 23;

#[derive(Debug)]
pub enum ZstdError {
    /// The output would exceed the caller's bound.
    TooLarge { limit: u64 },
    /// The stream is not valid zstd (or asks for a larger window).
    Corrupt(io::Error),
}

impl fmt::Display for ZstdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZstdError::TooLarge { limit } => write!(f, "zstd stream inflates beyond {limit} bytes"),
            ZstdError::Corrupt(e) => write!(f, "zstd stream is malformed: {e}"),
        }
    }
}

impl std::error::Error for ZstdError {}

/// Why inflating a stream failed: its content, or the reader or writer.
#[derive(Debug)]
pub enum InflateError {
    Zstd(ZstdError),
    Io(io::Error),
}

/// Compresses `data` into one frame. Empty input gives empty output: the
/// protocol sends an empty body raw.
pub fn compress(data: &[u8]) -> Vec<u8> {
    if data.is_empty() {
        return Vec::new();
    }
    ::zstd::bulk::compress(data, LEVEL).expect("compressing into a growable buffer")
}

/// Inflates the zstd stream `input` into `output`, at most `limit` bytes;
/// returns the bytes written. A reader error is told apart from a malformed
/// stream only as far as the decoder reports it: the caller checks whether
/// its input ended early.
pub fn inflate<R: Read, W: Write>(
    input: R,
    output: &mut W,
    limit: u64,
) -> Result<u64, InflateError> {
    let mut decoder = ::zstd::stream::read::Decoder::new(input).map_err(InflateError::Io)?;
    decoder
        .window_log_max(WINDOW_LOG_MAX)
        .map_err(InflateError::Io)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(InflateError::Zstd(ZstdError::Corrupt(e))),
        };
        total += n as u64;
        if total > limit {
            return Err(InflateError::Zstd(ZstdError::TooLarge { limit }));
        }
        output.write_all(&buf[..n]).map_err(InflateError::Io)?;
    }
}

/// Inflates a whole body held in memory, to at most `limit` bytes.
pub fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, ZstdError> {
    if let Some(size) = one_sized_frame(input) {
        if size > limit as u64 {
            return Err(ZstdError::TooLarge {
                limit: limit as u64,
            });
        }
        return in_one_call(input, size as usize);
    }
    let mut out = Vec::with_capacity(input.len().saturating_mul(3).min(limit));
    match inflate(input, &mut out, limit as u64) {
        Ok(_) => Ok(out),
        Err(InflateError::Zstd(e)) => Err(e),
        Err(InflateError::Io(e)) => Err(ZstdError::Corrupt(e)),
    }
}

/// The content size `input` declares, if it is exactly one frame that
/// declares one (what `compress` makes).
fn one_sized_frame(input: &[u8]) -> Option<u64> {
    let size = ::zstd::zstd_safe::get_frame_content_size(input).ok()??;
    let whole = ::zstd::zstd_safe::find_frame_compressed_size(input).ok()?;
    (whole == input.len()).then_some(size)
}

/// A frame of known size inflated in one call into a buffer of that size:
/// no window buffer and no copy, which a client job's reply would
/// otherwise pay in page faults. The buffer bounds what the frame can
/// write, whatever its header claimed.
fn in_one_call(input: &[u8], size: usize) -> Result<Vec<u8>, ZstdError> {
    let mut out = Vec::with_capacity(size);
    let mut d = ::zstd::bulk::Decompressor::new().map_err(ZstdError::Corrupt)?;
    let n = d
        .decompress_to_buffer(input, &mut out)
        .map_err(ZstdError::Corrupt)?;
    if n != size {
        let e = io::Error::new(
            io::ErrorKind::InvalidData,
            "frame size differs from its header",
        );
        return Err(ZstdError::Corrupt(e));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> Vec<u8> {
        (0..20_000)
            .flat_map(|i| format!("static int v{i} = {};\n", i % 7).into_bytes())
            .collect()
    }

    #[test]
    fn round_trip_and_smaller() {
        let data = text();
        let z = compress(&data);
        assert!(z.len() * 4 < data.len(), "{} of {}", z.len(), data.len());
        assert_eq!(decompress(&z, data.len()).unwrap(), data);
        assert!(compress(b"").is_empty());
    }

    #[test]
    fn the_bound_is_enforced() {
        let data = vec![0u8; 1 << 20];
        let z = compress(&data);
        assert!(matches!(
            decompress(&z, (1 << 20) - 1),
            Err(ZstdError::TooLarge { .. })
        ));
        assert_eq!(decompress(&z, 1 << 20).unwrap().len(), 1 << 20);
    }

    #[test]
    fn several_frames_and_frames_without_a_size_are_inflated_whole() {
        let data = text();
        let mut two = compress(&data[..1000]);
        two.extend(compress(&data[1000..]));
        assert_eq!(one_sized_frame(&two), None);
        assert_eq!(decompress(&two, data.len()).unwrap(), data);
        let mut enc = ::zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        enc.include_contentsize(false).unwrap();
        enc.write_all(&data).unwrap();
        let unsized_frame = enc.finish().unwrap();
        assert_eq!(one_sized_frame(&unsized_frame), None);
        assert_eq!(decompress(&unsized_frame, data.len()).unwrap(), data);
        assert!(decompress(&unsized_frame, data.len() - 1).is_err());
        assert_eq!(one_sized_frame(&compress(&data)), Some(data.len() as u64));
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(decompress(b"not zstd at all", 1000).is_err());
        let z = compress(&text());
        for cut in [1, z.len() / 2, z.len() - 1] {
            assert!(decompress(&z[..cut], 1 << 24).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_frame_asking_for_a_huge_window_is_refused() {
        let data = text();
        let mut enc = ::zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        enc.window_log(27).unwrap();
        enc.long_distance_matching(true).unwrap();
        enc.include_contentsize(false).unwrap();
        let mut big = data.clone();
        // Large enough that the frame really declares the big window.
        for _ in 0..10 {
            big.extend_from_slice(&data);
        }
        enc.write_all(&big).unwrap();
        let z = enc.finish().unwrap();
        assert!(decompress(&z, 1 << 30).is_err());
    }
}
