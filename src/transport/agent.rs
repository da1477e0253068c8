//! The client's side of the TLS agent: a per-user process that keeps TLS
//! sessions with volunteers, so that a job, a new process each time,
//! resumes one instead of paying a full handshake (rustls cannot keep a
//! session in a file). A `,tls` host's connection is the agent's Unix
//! socket in `$DISTCC_DIR/tls`, relaying to the volunteer
//! ([`agent_wire`](super::agent_wire) says how).
//!
//! If no agent answers, the client starts one (`helper::reach`); it ends
//! itself when idle. If none can be had or it fails before its hello, the
//! job makes its own handshake: the agent never fails a job. A refusal the agent reports
//! (pin, key, not TLS) fails the connection as the job's own would have,
//! in the same words.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::{anyhow, Result};

use super::agent_wire::{self, Frame, Request};
use super::Connection;
use crate::exit::Code;
use crate::helper;
use crate::settings::Settings;
use crate::sys;

/// The agent's socket and the lock its starters take, in the TLS dir.
pub const SOCKET: &str = "agent.sock";
const LOCK: &str = "agent.lock";

/// The name the agent runs under (argv[0]); `role` knows it.
pub const PROGRAM: &str = "distcc-tls-agent";

/// A connection to `name:port` through the agent; `None` if the agent is
/// turned off or cannot be had (the caller then connects itself).
pub fn connect(name: &str, port: u16, settings: &Settings) -> Result<Option<Connection>> {
    if !settings.tls_agent {
        return Ok(None);
    }
    let dir = super::tls::dir(settings);
    let kind = helper::Kind {
        program: PROGRAM,
        socket: SOCKET.into(),
        lock: LOCK.into(),
    };
    let Some(mut sock) = helper::reach(&dir, &kind) else {
        return Ok(None);
    };
    let request = Request {
        host: name.to_string(),
        port,
        connect_timeout: settings.connect_timeout,
        io_timeout: settings.io_timeout,
    };
    // The agent dials within the connect timeout, then shakes hands
    // within what is left of it; a little more covers its own work.
    let limit = settings.connect_timeout + Duration::from_secs(1);
    if sock.set_read_timeout(Some(limit)).is_err()
        || sock.set_write_timeout(Some(limit)).is_err()
        || sock.write_all(&request.encode()).is_err()
    {
        return Ok(None);
    }
    let mut link = AgentLink::new(sock);
    match link.hello() {
        Ok(Hello::Connected(resumed)) => {
            log::debug!("{name}:{port}: TLS through the agent, resumed: {resumed}");
            sys::set_nonblocking(&link.sock)?;
            link.sock.set_read_timeout(None).ok();
            link.sock.set_write_timeout(None).ok();
            Ok(Some(Connection::agent(link)))
        }
        Ok(Hello::Refused(text)) => Err(anyhow!(Code::ConnectFailed).context(text)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {
            Err(anyhow!(Code::ConnectFailed).context(format!(
                "connect to {name}:{port} through the TLS agent: {}",
                super::timed_out(limit)
            )))
        }
        Err(e) => {
            log::debug!("the TLS agent failed ({e}); connecting directly");
            Ok(None)
        }
    }
}

enum Hello {
    Connected(bool),
    Refused(String),
}

/// The client's end of a relay: bytes written go to the volunteer; what
/// is read comes out of the agent's frames.
pub struct AgentLink {
    sock: UnixStream,
    /// Bytes from the agent not yet handed out, from `start`.
    inbuf: Vec<u8>,
    start: usize,
    /// Bytes of the current data frame still to come.
    data_left: usize,
    /// How the relay ended, once it has: `None` for a clean end.
    ended: Option<Option<String>>,
}

impl AgentLink {
    fn new(sock: UnixStream) -> AgentLink {
        AgentLink {
            sock,
            inbuf: Vec::with_capacity(64 * 1024),
            start: 0,
            data_left: 0,
            ended: None,
        }
    }

    /// Reads the agent's first frame, on a blocking socket.
    fn hello(&mut self) -> io::Result<Hello> {
        loop {
            match agent_wire::parse(&self.inbuf[self.start..])? {
                Some((Frame::Hello(resumed), n)) => {
                    self.start += n;
                    return Ok(Hello::Connected(resumed));
                }
                Some((Frame::Error(text), _)) => return Ok(Hello::Refused(text)),
                Some(_) => return Err(io::Error::other("the agent answered out of turn")),
                None => {}
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Reads what the socket has into the buffer; 0 at its end.
    fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.inbuf.len() {
            self.inbuf.clear();
            self.start = 0;
        }
        let mut chunk = [0u8; 64 * 1024];
        let n = self.sock.read(&mut chunk)?;
        self.inbuf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Takes what the buffer holds: data, or the frame that ends the
    /// relay. `None` if it needs more bytes from the socket.
    fn take(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            if let Some(end) = &self.ended {
                return match end {
                    None => Ok(Some(0)),
                    Some(text) => Err(io::Error::other(text.clone())),
                };
            }
            let held = &self.inbuf[self.start..];
            if self.data_left > 0 {
                if held.is_empty() {
                    return Ok(None);
                }
                let n = held.len().min(self.data_left).min(buf.len());
                buf[..n].copy_from_slice(&held[..n]);
                self.start += n;
                self.data_left -= n;
                return Ok(Some(n));
            }
            match agent_wire::parse(held)? {
                None => return Ok(None),
                Some((frame, n)) => {
                    self.start += n;
                    match frame {
                        Frame::Data(len) => self.data_left = len,
                        Frame::End => self.ended = Some(None),
                        Frame::Error(text) => self.ended = Some(Some(text)),
                        Frame::Hello(_) => {
                            return Err(io::Error::other("the agent said hello twice"))
                        }
                    }
                }
            }
        }
    }

    /// True if a read would return without the socket: bytes, the end,
    /// or an error are buffered.
    pub fn buffered(&mut self) -> io::Result<bool> {
        let held = &self.inbuf[self.start..];
        Ok(self.ended.is_some()
            || (self.data_left > 0 && !held.is_empty())
            || (self.data_left == 0 && agent_wire::parse(held)?.is_some()))
    }

    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.sock.shutdown(std::net::Shutdown::Write)
    }

    /// A write that fails because the agent gave up on the volunteer: the
    /// reason is in its last frame, already sent; read it without waiting.
    fn explain(&mut self, e: io::Error) -> io::Error {
        let mut sink = [0u8; 0];
        loop {
            match self.take(&mut sink) {
                Err(reason) => return reason,
                Ok(Some(_)) if self.ended.is_none() => {
                    // Data nobody will read: drop it to reach the end.
                    self.start += self.data_left.min(self.inbuf.len() - self.start);
                    self.data_left = 0;
                }
                Ok(Some(_)) => return e,
                Ok(None) => match self.fill() {
                    Ok(n) if n > 0 => {}
                    _ => return e,
                },
            }
        }
    }
}

impl Read for AgentLink {
    /// Non-blocking: `WouldBlock` when nothing is buffered or waiting.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(n) = self.take(buf)? {
                return Ok(n);
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the TLS agent closed the connection",
                ));
            }
        }
    }
}

impl Write for AgentLink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.sock.write(buf) {
            Err(e)
                if e.kind() != io::ErrorKind::WouldBlock
                    && e.kind() != io::ErrorKind::Interrupted =>
            {
                Err(self.explain(e))
            }
            r => r,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for AgentLink {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}
