//! What the client and the TLS agent say over the agent's Unix socket.
//!
//! The client sends one [`Request`]: which volunteer, and its time limits.
//! The agent answers with one frame, `H` (connected; a byte says whether
//! the session was resumed) or `E` (the refusal's words), then relays:
//! the client's bytes go raw to the volunteer, its half-close becomes a TLS
//! close_notify; the volunteer's come back as `D` frames, ended by `Z` (a
//! clean end) or `E` (why the connection failed, as the client would have
//! said it itself). Frames keep an error's words apart from the reply's
//! bytes, so a job fails with the same message as over its own TLS.

use std::io::{self, Read, Write};
use std::time::Duration;

/// Opens a request: the format's name and version.
const MAGIC: &[u8; 4] = b"DTA1";

/// A frame's tag byte.
pub const HELLO: u8 = b'H';
pub const DATA: u8 = b'D';
pub const END: u8 = b'Z';
pub const ERROR: u8 = b'E';

/// Longest host name or error text accepted.
const MAX_TEXT: usize = 64 * 1024;

/// Which volunteer to reach, and the client's limits for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub host: String,
    pub port: u16,
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
}

fn millis(d: Duration) -> u32 {
    d.as_millis().min(u32::MAX as u128) as u32
}

impl Request {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.host.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&millis(self.connect_timeout).to_be_bytes());
        out.extend_from_slice(&millis(self.io_timeout).to_be_bytes());
        out.extend_from_slice(&self.port.to_be_bytes());
        out.extend_from_slice(&(self.host.len() as u32).to_be_bytes());
        out.extend_from_slice(self.host.as_bytes());
        out
    }

    pub fn read(r: &mut impl Read) -> io::Result<Request> {
        let mut head = [0u8; 18];
        r.read_exact(&mut head)?;
        if &head[..4] != MAGIC {
            return Err(invalid("not a TLS agent request"));
        }
        let u32_at = |i: usize| u32::from_be_bytes(head[i..i + 4].try_into().expect("4 bytes"));
        let len = u32_at(14) as usize;
        if len > MAX_TEXT {
            return Err(invalid("host name too long"));
        }
        let mut host = vec![0u8; len];
        r.read_exact(&mut host)?;
        Ok(Request {
            host: String::from_utf8(host).map_err(|_| invalid("host name not UTF-8"))?,
            port: u16::from_be_bytes([head[12], head[13]]),
            connect_timeout: Duration::from_millis(u32_at(4).into()),
            io_timeout: Duration::from_millis(u32_at(8).into()),
        })
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Writes one frame: a tag, and for `D` and `E` a length and the bytes.
pub fn write_frame(w: &mut impl Write, tag: u8, body: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(5 + body.len());
    frame.push(tag);
    match tag {
        DATA | ERROR => {
            frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
            frame.extend_from_slice(body);
        }
        _ => frame.extend_from_slice(body),
    }
    w.write_all(&frame)
}

/// One frame parsed from the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// Connected; true if resumed.
    Hello(bool),
    /// A data frame's header: this many bytes follow.
    Data(usize),
    End,
    Error(String),
}

/// Parses the frame at the front of `buf`: `Ok(None)` if it is not whole
/// yet, else the frame and how many bytes it took (a `Data` frame's
/// header only: its bytes are the caller's to take).
pub fn parse(buf: &[u8]) -> io::Result<Option<(Frame, usize)>> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    let len = || -> Option<usize> {
        buf.get(1..5)
            .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize)
    };
    Ok(match tag {
        HELLO => buf.get(1).map(|&r| (Frame::Hello(r != 0), 2)),
        END => Some((Frame::End, 1)),
        DATA => len().map(|n| (Frame::Data(n), 5)),
        ERROR => match len() {
            Some(n) if n > MAX_TEXT => return Err(invalid("error text too long")),
            Some(n) => buf.get(5..5 + n).map(|text| {
                (
                    Frame::Error(String::from_utf8_lossy(text).into_owned()),
                    5 + n,
                )
            }),
            None => None,
        },
        other => return Err(invalid(&format!("bad frame tag {other:#04x}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reads_back_as_written() {
        let req = Request {
            host: "build-1.example".into(),
            port: 3634,
            connect_timeout: Duration::from_millis(4000),
            io_timeout: Duration::from_secs(300),
        };
        let bytes = req.encode();
        assert_eq!(Request::read(&mut &bytes[..]).unwrap(), req);
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(Request::read(&mut &bad[..]).is_err());
        assert!(Request::read(&mut &bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn frames_parse_only_when_whole() {
        let mut buf = Vec::new();
        write_frame(&mut buf, HELLO, &[1]).unwrap();
        write_frame(&mut buf, DATA, b"abc").unwrap();
        write_frame(&mut buf, ERROR, b"refused").unwrap();
        write_frame(&mut buf, END, &[]).unwrap();
        assert_eq!(parse(&buf[..1]).unwrap(), None);
        assert_eq!(parse(&buf).unwrap(), Some((Frame::Hello(true), 2)));
        let rest = &buf[2..];
        assert_eq!(parse(&rest[..4]).unwrap(), None);
        assert_eq!(parse(rest).unwrap(), Some((Frame::Data(3), 5)));
        let rest = &rest[8..];
        assert_eq!(parse(&rest[..9]).unwrap(), None);
        assert_eq!(
            parse(rest).unwrap(),
            Some((Frame::Error("refused".into()), 12))
        );
        assert_eq!(parse(&rest[12..]).unwrap(), Some((Frame::End, 1)));
        assert!(parse(b"Q").is_err());
    }
}
