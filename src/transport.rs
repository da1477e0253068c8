//! One byte stream to a volunteer, whatever carries it: a TCP connection,
//! or the pipes of `ssh HOST distccd --inetd` (a host written `@HOST`).
//! A [`Connection`] reads and writes, shuts its write side, has I/O
//! timeouts, names the fd to poll on for the server's answer, and sends a
//! file the cheapest way it can (sendfile(2) on TCP). What is said over it
//! is `protocol`'s; which host to connect to is the client's
//! (`client::pick`); a new transport (TLS, say) is a new arm of `Link`
//! here and a new `hosts::Transport`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, Result};

use crate::exit::Code;
use crate::hosts::{Host, Transport};
use crate::settings::Settings;

/// A connection to one volunteer. Writes go out unbuffered (callers build
/// whole packets); dropping it closes it, and ends an ssh that is still
/// running.
pub struct Connection {
    link: Link,
}

enum Link {
    Tcp(TcpStream),
    /// A child's stdin and stdout: `ssh ... distccd --inetd`.
    Pipe {
        child: Child,
        /// `None` once the write side is shut.
        stdin: Option<ChildStdin>,
        stdout: ChildStdout,
    },
}

/// Opens a connection to `host`: TCP within `settings.connect_timeout`, or
/// `$DISTCC_SSH`. Failures carry exit 103 (connect failed).
pub fn connect(host: &Host, settings: &Settings) -> Result<Connection> {
    match &host.transport {
        Transport::Tcp { host: name, port } => {
            let addrs: Vec<_> = (name.as_str(), *port)
                .to_socket_addrs()
                .map_err(|e| {
                    anyhow!(Code::ConnectFailed).context(format!("cannot resolve {name}: {e}"))
                })?
                .collect();
            let mut last = None;
            for addr in addrs {
                match TcpStream::connect_timeout(&addr, settings.connect_timeout) {
                    Ok(s) => {
                        s.set_nodelay(true).ok();
                        let conn = Connection::tcp(s);
                        conn.set_io_timeout(Some(settings.io_timeout)).ok();
                        return Ok(conn);
                    }
                    Err(e) => last = Some(format!("{addr}: {e}")),
                }
            }
            Err(anyhow!(Code::ConnectFailed).context(format!(
                "cannot connect to {}",
                last.unwrap_or_else(|| format!("{name}: no address"))
            )))
        }
        Transport::Ssh {
            user,
            host: name,
            command,
        } => {
            let mut cmd = Command::new(&settings.ssh);
            if let Some(u) = user {
                cmd.arg("-l").arg(u);
            }
            cmd.arg("--")
                .arg(name)
                .arg(command.as_deref().unwrap_or("distccd"))
                .arg("--inetd")
                .stderr(Stdio::inherit());
            Connection::pipe(cmd).map_err(|e| {
                anyhow!(Code::ConnectFailed).context(format!(
                    "cannot run {}: {e}",
                    settings.ssh.to_string_lossy()
                ))
            })
        }
        Transport::Local => Err(anyhow!("localhost is not a remote host")),
    }
}

impl Connection {
    /// A connected TCP stream.
    pub fn tcp(stream: TcpStream) -> Connection {
        Connection {
            link: Link::Tcp(stream),
        }
    }

    /// Starts `cmd` and talks to it over its stdin and stdout.
    pub fn pipe(mut cmd: Command) -> io::Result<Connection> {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        Ok(Connection {
            link: Link::Pipe {
                child,
                stdin,
                stdout,
            },
        })
    }

    /// The fd the server's bytes arrive on, to poll beside others.
    pub fn poll_fd(&self) -> RawFd {
        match &self.link {
            Link::Tcp(s) => s.as_raw_fd(),
            Link::Pipe { stdout, .. } => stdout.as_raw_fd(),
        }
    }

    /// Waits until the server starts answering, or `limit` passes (or a
    /// signal arrives): a hint, so errors are left to the read that follows.
    pub fn wait_readable(&self, limit: Duration) {
        crate::sys::wait_readable(self.poll_fd(), limit).ok();
    }

    /// Bounds each read and write on TCP; a pipe has no such bound, and
    /// callers that must not wait forever poll [`Connection::poll_fd`].
    pub fn set_io_timeout(&self, limit: Option<Duration>) -> io::Result<()> {
        match &self.link {
            Link::Tcp(s) => {
                s.set_read_timeout(limit)?;
                s.set_write_timeout(limit)
            }
            Link::Pipe { .. } => Ok(()),
        }
    }

    /// Tells the server nothing more will come, leaving the read side open
    /// for its answer.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        match &mut self.link {
            Link::Tcp(s) => s.shutdown(Shutdown::Write),
            Link::Pipe { stdin, .. } => {
                drop(stdin.take());
                Ok(())
            }
        }
    }

    /// Holds back partial TCP segments while `on`, so a request written in
    /// pieces leaves in as few packets as possible; turning it off sends
    /// the rest. Nothing to do on a pipe.
    pub fn cork(&self, on: bool) {
        if let Link::Tcp(s) = &self.link {
            let v: libc::c_int = on.into();
            // SAFETY: setsockopt with a valid int option on our own socket;
            // failing only costs packets.
            unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    libc::TCP_CORK,
                    (&v as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
    }

    /// Sends exactly `len` bytes of `file`: on TCP by sendfile(2), which
    /// moves them from the page cache to the socket without passing
    /// through our memory; on a pipe by copying.
    pub fn send_file(&mut self, file: &mut File, len: u64) -> io::Result<()> {
        match &mut self.link {
            Link::Tcp(s) => send_file(s, file, len),
            Link::Pipe { .. } => {
                let n = io::copy(&mut Read::by_ref(file).take(len), self)?;
                if n != len {
                    return Err(shrank());
                }
                Ok(())
            }
        }
    }
}

fn shrank() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "source shrank while sending")
}

fn send_file(sock: &TcpStream, file: &File, len: u64) -> io::Result<()> {
    let mut off: libc::off_t = 0;
    while (off as u64) < len {
        let want = (len - off as u64).min(1 << 30) as usize;
        // SAFETY: valid fds; the kernel advances `off`.
        let n = unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), &mut off, want) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(shrank());
        }
    }
    Ok(())
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.link {
            Link::Tcp(s) => s.read(buf),
            Link::Pipe { stdout, .. } => stdout.read(buf),
        }
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.link {
            Link::Tcp(s) => s.write(buf),
            Link::Pipe { stdin, .. } => match stdin {
                Some(w) => w.write(buf),
                None => Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "ssh stdin closed",
                )),
            },
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.link {
            Link::Tcp(_) => Ok(()),
            Link::Pipe { stdin, .. } => stdin.as_mut().map_or(Ok(()), |w| w.flush()),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Link::Pipe { child, stdin, .. } = &mut self.link {
            drop(stdin.take());
            if let Ok(None) = child.try_wait() {
                child.kill().ok();
            }
            child.wait().ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Both links carry bytes both ways, end the write side without
    /// ending the read side, and say when an answer is waiting.
    fn echo_through(mut conn: Connection) {
        conn.cork(true);
        conn.write_all(b"hello ").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"world, and more").unwrap();
        conn.send_file(&mut File::open(&path).unwrap(), 5).unwrap();
        conn.flush().unwrap();
        conn.cork(false);
        conn.shutdown_write().unwrap();
        assert!(conn.write_all(b"late").is_err(), "the write side is shut");
        conn.wait_readable(Duration::from_secs(60));
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"hello world");
        let mut short = File::open(&path).unwrap();
        let e = Connection::pipe(Command::new("cat"))
            .unwrap()
            .send_file(&mut short, 100)
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_pipe_to_a_child() {
        let conn = Connection::pipe(Command::new("cat")).unwrap();
        assert!(conn.poll_fd() >= 0);
        conn.set_io_timeout(Some(Duration::from_secs(1))).unwrap();
        echo_through(conn);
    }

    #[test]
    fn a_tcp_stream_on_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let echo = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut all = Vec::new();
            s.read_to_end(&mut all).unwrap();
            s.write_all(&all).unwrap();
        });
        let conn = Connection::tcp(TcpStream::connect(addr).unwrap());
        conn.set_io_timeout(Some(Duration::from_secs(60))).unwrap();
        echo_through(conn);
        echo.join().unwrap();
    }
}
