//! The preprocessor's output on its way to a streaming server
//! (`protocol::stream`): the preprocessor writes into a pipe, and what it
//! writes goes to the server as it comes. Everything also lands in a copy
//! in the job's temp dir, so a retry on another host, a server that does
//! not stream, or the fallback always has the whole source, as the
//! unstreamed path would.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileExt;
use std::process::ChildStdout;
use std::time::Instant;

use crate::protocol::{stream, Codec, HEADER_LEN};
use crate::sys::{self, poll_any};

/// Largest piece read at once, and so the largest chunk sent.
const PIECE: usize = 256 * 1024;

pub struct Tee {
    pipe: ChildStdout,
    copy: File,
    /// Bytes in the copy.
    copied: u64,
    /// Bytes of the copy already sent.
    sent: u64,
    eof: bool,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Tee {
    pub fn new(pipe: ChildStdout, copy: File) -> io::Result<Tee> {
        let fd = pipe.as_raw_fd();
        // SAFETY: fcntl on our own fd. A larger pipe lets the preprocessor
        // run ahead while we wait for the server (1 MiB is the unprivileged
        // maximum; failing to grow it only costs speed).
        unsafe {
            libc::fcntl(fd, libc::F_SETPIPE_SZ, 1 << 20);
        }
        sys::set_nonblocking(&pipe)?;
        Ok(Tee {
            pipe,
            copy,
            copied: 0,
            sent: 0,
            eof: false,
            buf: vec![0; PIECE],
            out: Vec::with_capacity(PIECE + HEADER_LEN + PIECE / 16 + 64),
        })
    }

    /// Reads what the pipe holds now, up to a piece, into `buf` and the
    /// copy; waits when it holds nothing yet. Returns the length read, 0
    /// at the preprocessor's end of output.
    fn read_piece(&mut self) -> io::Result<usize> {
        let mut n = 0;
        while n < self.buf.len() {
            match self.pipe.read(&mut self.buf[n..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if n > 0 {
                        break;
                    }
                    poll_any(&[self.pipe.as_raw_fd()], None)?;
                }
                Err(e) => return Err(e),
            }
        }
        self.copy.write_all(&self.buf[..n])?;
        self.copied += n as u64;
        Ok(n)
    }

    /// Waits until `fd` (the server's side) is readable, copying what the
    /// preprocessor writes meanwhile. `false` when `until` passes first.
    pub fn await_readable(&mut self, fd: RawFd, until: Instant) -> io::Result<bool> {
        loop {
            let pipe = if self.eof { -1 } else { self.pipe.as_raw_fd() };
            match poll_any(&[fd, pipe], Some(until))? {
                Some(0) => return Ok(true),
                Some(_) => {
                    self.read_piece()?;
                }
                None => return Ok(false),
            }
        }
    }

    /// Sends the source in chunks: what the copy holds, then the rest as the
    /// preprocessor writes it, up to its end of output (not the end
    /// marker: that waits for the preprocessor's status). Returns the bytes
    /// put on the wire.
    pub fn send<W: Write>(&mut self, w: &mut W, codec: Codec) -> io::Result<u64> {
        let mut wire = 0;
        while self.sent < self.copied {
            let n = ((self.copied - self.sent) as usize).min(PIECE);
            self.copy.read_exact_at(&mut self.buf[..n], self.sent)?;
            wire += self.send_piece(w, codec, n)?;
        }
        while !self.eof {
            let n = self.read_piece()?;
            if n > 0 {
                wire += self.send_piece(w, codec, n)?;
            }
        }
        Ok(wire)
    }

    fn send_piece<W: Write>(&mut self, w: &mut W, codec: Codec, n: usize) -> io::Result<u64> {
        self.out.clear();
        stream::push_chunk(&mut self.out, codec, &self.buf[..n]);
        w.write_all(&self.out)?;
        self.sent += n as u64;
        Ok(self.out.len() as u64)
    }

    /// Copies the rest of the preprocessor's output without sending it.
    pub fn drain(&mut self) -> io::Result<()> {
        while !self.eof {
            self.read_piece()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Version;
    use std::process::{Command, Stdio};

    fn tee_of(script: &str) -> (std::process::Child, Tee, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let copy = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("copy"))
            .unwrap();
        let mut child = Command::new("/bin/sh")
            .args(["-c", script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let pipe = child.stdout.take().unwrap();
        (child, Tee::new(pipe, copy).unwrap(), dir)
    }

    fn decode(wire: &[u8], codec: Codec) -> Vec<u8> {
        let mut bytes = wire.to_vec();
        bytes.extend_from_slice(&stream::end());
        let mut got = Vec::new();
        stream::read_chunks(
            &mut &bytes[..],
            codec,
            &crate::protocol::Limits::default(),
            |d| {
                got.extend_from_slice(d);
                Ok(())
            },
        )
        .unwrap();
        got
    }

    #[test]
    fn what_was_copied_before_the_go_ahead_is_sent_first() {
        for base in [Version::V1.codec(), Version::V2.codec()] {
            let (mut child, mut tee, dir) = tee_of("seq 1 20000; sleep 0.2; seq 20001 40000");
            // A socket pair stands in for the server: silent until told.
            let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
            // However late a loaded machine starts the child, waiting on a
            // silent server copies its output meanwhile.
            let give_up = Instant::now() + std::time::Duration::from_secs(60);
            while tee.copied == 0 && Instant::now() < give_up {
                let soon = Instant::now() + std::time::Duration::from_millis(50);
                assert!(!tee.await_readable(ours.as_raw_fd(), soon).unwrap());
            }
            assert!(tee.copied > 0, "output is copied while waiting");
            (&theirs).write_all(b"x").unwrap();
            assert!(tee
                .await_readable(ours.as_raw_fd(), Instant::now())
                .unwrap());
            let mut wire = Vec::new();
            let n = tee.send(&mut wire, base).unwrap();
            assert_eq!(n as usize, wire.len());
            child.wait().unwrap();
            let want = Command::new("seq")
                .args(["1", "40000"])
                .output()
                .unwrap()
                .stdout;
            assert_eq!(decode(&wire, base), want, "{base:?}");
            assert_eq!(std::fs::read(dir.path().join("copy")).unwrap(), want);
        }
    }

    #[test]
    fn drain_completes_the_copy() {
        let (mut child, mut tee, dir) = tee_of("seq 1 100000");
        tee.drain().unwrap();
        child.wait().unwrap();
        let want = Command::new("seq")
            .args(["1", "100000"])
            .output()
            .unwrap()
            .stdout;
        assert_eq!(std::fs::read(dir.path().join("copy")).unwrap(), want);
    }
}
