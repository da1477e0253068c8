//! One byte stream to a volunteer, whatever carries it: a TCP connection,
//! TLS over one (a host written `HOST,tls`, see `tls`) made by the job or
//! relayed by the TLS agent (`agent`), or the pipes of
//! `ssh HOST distccd --inetd` (a host written `@HOST`).
//! A [`Connection`] reads and writes, shuts its write side, names the fd
//! to poll on for the server's answer, and sends a file the cheapest way it
//! can (sendfile(2) on TCP). Its time limit is a deadline, not a per-call
//! timeout: every read and write after [`Connection::set_time_limit`]
//! shares what is left of the limit, so a peer that trickles bytes or a
//! wait followed by a read cannot stretch it, and the error says how long
//! it was. What is said over it
//! is `protocol`'s; which host to connect to is the client's
//! (`client::pick`); a new transport is a new arm of `Link` here and a new
//! `hosts::Transport` or host option.

pub mod agent;
pub mod agent_wire;
pub mod tls;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use crate::exit::Code;
use crate::hosts::{Host, Transport};
use crate::settings::Settings;
use crate::sys;
use crate::tls::TlsStream;

/// A connection to one volunteer. Writes go out unbuffered (callers build
/// whole packets); dropping it closes it, and ends an ssh that is still
/// running.
pub struct Connection {
    link: Link,
    /// When reads and writes give up, and the limit that set it.
    deadline: Option<(Instant, Duration)>,
}

enum Link {
    Tcp(TcpStream),
    /// A blocking socket under TLS; the deadline is the stream's own.
    Tls(Box<TlsStream>),
    /// The TLS agent's Unix socket, non-blocking, relaying TLS for us.
    Agent(agent::AgentLink),
    /// A child's stdin and stdout: `ssh ... distccd --inetd`.
    Pipe {
        child: Child,
        /// `None` once the write side is shut.
        stdin: Option<ChildStdin>,
        stdout: ChildStdout,
    },
}

/// Opens a connection to `host`: TCP within `settings.connect_timeout`, or
/// `$DISTCC_SSH`. A `,tls` host goes through the TLS agent (`agent`), or,
/// when no agent can be had, makes its own handshake. Failures carry exit
/// 103 (connect failed).
pub fn connect(host: &Host, settings: &Settings) -> Result<Connection> {
    match &host.transport {
        Transport::Tcp { host: name, port } => {
            let mut conn = match host.tls {
                true => match agent::connect(name, *port, settings)? {
                    Some(conn) => conn,
                    None => {
                        let (s, left) = dial(name, *port, settings.connect_timeout)?;
                        Connection::tls(tls::handshake(s, name, *port, settings, left)?)
                    }
                },
                false => {
                    let (s, _) = dial(name, *port, settings.connect_timeout)?;
                    s.set_nodelay(true).ok();
                    Connection::tcp(s)
                }
            };
            conn.set_time_limit(Some(settings.io_timeout));
            Ok(conn)
        }
        Transport::Ssh {
            user,
            host: name,
            command,
        } => {
            let (program, options) = ssh_words(&settings.ssh);
            let mut cmd = Command::new(&program);
            cmd.args(options);
            if let Some(u) = user {
                cmd.arg("-l").arg(u);
            }
            cmd.arg("--")
                .arg(name)
                .arg(command.as_deref().unwrap_or("distccd"))
                .arg("--inetd")
                .stderr(Stdio::inherit());
            let mut conn = Connection::pipe(cmd).map_err(|e| {
                anyhow!(Code::ConnectFailed).context(format!(
                    "failed to exec {}: {}",
                    program.to_string_lossy(),
                    sys::strerror(&e)
                ))
            })?;
            conn.set_time_limit(Some(settings.io_timeout));
            Ok(conn)
        }
        Transport::Local => Err(anyhow!("localhost is not a remote host")),
    }
}

/// A TCP connection to `name:port`, trying each of its addresses within
/// one budget of `timeout`, and what is left of it.
pub fn dial(name: &str, port: u16, timeout: Duration) -> Result<(TcpStream, Duration)> {
    let addrs: Vec<_> = (name, port)
        .to_socket_addrs()
        .map_err(|e| anyhow!(Code::ConnectFailed).context(format!("cannot resolve {name}: {e}")))?
        .collect();
    let until = Instant::now() + timeout;
    let mut last = None;
    for addr in addrs {
        let Some(left) = until
            .checked_duration_since(Instant::now())
            .filter(|l| !l.is_zero())
        else {
            last = Some(format!("{addr} failed: {}", timed_out(timeout)));
            break;
        };
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                let left = until.saturating_duration_since(Instant::now());
                return Ok((s, left.max(Duration::from_millis(1))));
            }
            Err(e) => last = Some(format!("{addr} failed: {}", sys::strerror(&e))),
        }
    }
    Err(anyhow!(Code::ConnectFailed).context(format!(
        "connect to {}",
        last.unwrap_or_else(|| format!("{name} failed: no address"))
    )))
}

/// `$DISTCC_SSH` as distcc 3.4 runs it: split on spaces into the program
/// and its options (`ssh -p 2222 -i key`), runs of spaces as one, no
/// quoting; nothing but spaces means `ssh`. (3.4 also drops every word
/// after the thirteenth without a word; we keep them.)
fn ssh_words(value: &OsStr) -> (OsString, Vec<OsString>) {
    let mut words = value
        .as_bytes()
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .map(|w| OsStr::from_bytes(w).to_os_string());
    let program = words.next().unwrap_or_else(|| "ssh".into());
    (program, words.collect())
}

impl Connection {
    /// A connected TCP stream. It is made non-blocking: a blocking socket's
    /// own timeouts bound each call, not a transfer (sendfile(2) makes
    /// progress now and then and restarts its timeout each time), so
    /// every wait here is a poll(2) against the deadline.
    pub fn tcp(stream: TcpStream) -> Connection {
        stream.set_nonblocking(true).ok();
        Connection {
            link: Link::Tcp(stream),
            deadline: None,
        }
    }

    /// A finished TLS handshake's stream. Its socket stays blocking: TLS
    /// reads and writes whole records, and the stream bounds each socket
    /// call by the time limit itself.
    pub fn tls(stream: TlsStream) -> Connection {
        Connection {
            link: Link::Tls(Box::new(stream)),
            deadline: None,
        }
    }

    /// A relay through the TLS agent, its hello read.
    pub fn agent(link: agent::AgentLink) -> Connection {
        Connection {
            link: Link::Agent(link),
            deadline: None,
        }
    }

    /// Starts `cmd` and talks to it over its stdin and stdout. Our ends
    /// of the pipes do not block, so a time limit bounds every transfer.
    pub fn pipe(mut cmd: Command) -> io::Result<Connection> {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        sys::set_nonblocking(&stdout)?;
        if let Some(w) = &stdin {
            sys::set_nonblocking(w)?;
        }
        Ok(Connection {
            link: Link::Pipe {
                child,
                stdin,
                stdout,
            },
            deadline: None,
        })
    }

    /// The fd the server's bytes arrive on, to poll beside others.
    pub fn poll_fd(&self) -> RawFd {
        match &self.link {
            Link::Tcp(s) => s.as_raw_fd(),
            Link::Tls(s) => s.as_raw_fd(),
            Link::Agent(a) => a.as_raw_fd(),
            Link::Pipe { stdout, .. } => stdout.as_raw_fd(),
        }
    }

    /// From now, reads and writes fail with `TimedOut` once `limit` has
    /// passed, all of them together; `None` lets them wait for ever.
    pub fn set_time_limit(&mut self, limit: Option<Duration>) {
        self.deadline = limit.map(|l| (Instant::now() + l, l));
        if let Link::Tls(s) = &mut self.link {
            s.set_deadline(self.deadline.map(|(at, _)| at));
        }
    }

    /// What is left of the time limit; an error once it has passed.
    fn left(&self) -> io::Result<Option<Duration>> {
        match self.deadline {
            None => Ok(None),
            Some((at, limit)) => match at.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(Some(left)),
                _ => Err(timed_out(limit)),
            },
        }
    }

    /// Waits until `fd` is ready for `events` within the time limit.
    fn ready(&self, fd: RawFd, events: i16) -> io::Result<()> {
        self.left()?;
        let until = self.deadline.map(|(at, _)| at);
        match sys::poll_events(&[(fd, events)], until)? {
            Some(_) => Ok(()),
            None => Err(self
                .left()
                .err()
                .unwrap_or_else(|| timed_out(Duration::ZERO))),
        }
    }

    /// Waits until the server starts answering (or hangs up), within the
    /// time limit. Over TLS, records already decrypted count as an answer:
    /// they will not make the socket readable again.
    pub fn wait_readable(&mut self) -> io::Result<()> {
        let buffered = match &mut self.link {
            Link::Tls(s) => s.has_buffered_plaintext(),
            Link::Agent(a) => a.buffered()?,
            _ => false,
        };
        if buffered {
            return Ok(());
        }
        self.ready(self.poll_fd(), libc::POLLIN)
    }

    /// Tells the server nothing more will come, leaving the read side open
    /// for its answer.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        match &mut self.link {
            Link::Tcp(s) => s.shutdown(Shutdown::Write),
            Link::Tls(s) => s.shutdown_write(),
            Link::Agent(a) => a.shutdown_write(),
            Link::Pipe { stdin, .. } => {
                drop(stdin.take());
                Ok(())
            }
        }
    }

    /// Holds back partial TCP segments while `on`, so a request written in
    /// pieces leaves in as few packets as possible; turning it off sends
    /// the rest. Nothing to do on a pipe. Under TLS each write leaves as
    /// its own records at once, so the socket under it is corked.
    pub fn cork(&self, on: bool) {
        let sock = match &self.link {
            Link::Tcp(s) => Some(s),
            Link::Tls(s) => Some(s.socket()),
            Link::Pipe { .. } | Link::Agent(_) => None,
        };
        if let Some(s) = sock {
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
    /// through our memory; on a pipe or under TLS by copying.
    pub fn send_file(&mut self, file: &mut File, len: u64) -> io::Result<()> {
        let mut off: libc::off_t = 0;
        while (off as u64) < len {
            self.left()?;
            let r = match &self.link {
                Link::Tcp(sock) => send_file_once(sock, file, &mut off, len),
                Link::Pipe { .. } | Link::Tls(_) | Link::Agent(_) => {
                    let n = io::copy(&mut Read::by_ref(file).take(len), self)?;
                    return if n == len { Ok(()) } else { Err(shrank()) };
                }
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.ready(self.poll_fd(), libc::POLLOUT)?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => r?,
            }
        }
        Ok(())
    }
}

/// The error of a passed time limit, saying how long the limit was.
pub fn timed_out(limit: Duration) -> io::Error {
    let text = if limit.subsec_millis() == 0 {
        format!("timed out after {} s", limit.as_secs())
    } else {
        format!("timed out after {:.1} s", limit.as_secs_f64())
    };
    io::Error::new(io::ErrorKind::TimedOut, text)
}

fn shrank() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "source shrank while sending")
}

/// One sendfile(2) call, advancing `off`.
fn send_file_once(
    sock: &TcpStream,
    file: &File,
    off: &mut libc::off_t,
    len: u64,
) -> io::Result<()> {
    let want = (len - *off as u64).min(1 << 30) as usize;
    // SAFETY: valid fds; the kernel advances `off`.
    let n = unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), off, want) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n == 0 {
        return Err(shrank());
    }
    Ok(())
}

impl Connection {
    /// The fd a transfer in direction `events` (`POLLIN`, `POLLOUT`) waits
    /// on; `None` for the write side of a pipe already shut.
    fn fd_for(&self, events: i16) -> Option<RawFd> {
        match &self.link {
            Link::Tcp(s) => Some(s.as_raw_fd()),
            Link::Tls(s) => Some(s.as_raw_fd()),
            Link::Agent(a) => Some(a.as_raw_fd()),
            Link::Pipe { stdout, .. } if events == libc::POLLIN => Some(stdout.as_raw_fd()),
            Link::Pipe { stdin, .. } => stdin.as_ref().map(AsRawFd::as_raw_fd),
        }
    }

    /// Runs one non-blocking transfer until it moves bytes, waiting for
    /// the fd within the time limit whenever it would block. A TLS
    /// transfer blocks, bounded by the stream's deadline; its timeout is
    /// said as the limit's.
    fn transfer(
        &mut self,
        events: i16,
        mut once: impl FnMut(&mut Link) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if let Link::Tls(_) = self.link {
            self.left()?;
            return once(&mut self.link).map_err(|e| match e.kind() {
                // The socket's timeout was what was left of the limit.
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => match self.deadline {
                    Some((_, limit)) => timed_out(limit),
                    None => e,
                },
                _ => e,
            });
        }
        loop {
            self.left()?;
            match once(&mut self.link) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let fd = self.fd_for(events).ok_or_else(closed_stdin)?;
                    self.ready(fd, events)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }
}

fn closed_stdin() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "ssh stdin closed")
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.transfer(libc::POLLIN, |link| match link {
            Link::Tcp(s) => s.read(buf),
            Link::Tls(s) => s.read(buf),
            Link::Agent(a) => a.read(buf),
            Link::Pipe { stdout, .. } => stdout.read(buf),
        })
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.transfer(libc::POLLOUT, |link| match link {
            Link::Tcp(s) => s.write(buf),
            Link::Tls(s) => s.write(buf),
            Link::Agent(a) => a.write(buf),
            Link::Pipe { stdin, .. } => match stdin {
                Some(w) => w.write(buf),
                None => Err(closed_stdin()),
            },
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.link {
            Link::Tcp(_) | Link::Agent(_) => Ok(()),
            Link::Tls(s) => s.flush(),
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

    #[test]
    fn distcc_ssh_is_split_on_spaces_as_distcc_34_does() {
        let split = |v: &str| {
            let (p, o) = ssh_words(OsStr::new(v));
            let mut all = vec![p.into_string().unwrap()];
            all.extend(o.into_iter().map(|w| w.into_string().unwrap()));
            all
        };
        assert_eq!(split("ssh"), ["ssh"]);
        assert_eq!(
            split("ssh -p 2222  -i /k/id key "),
            ["ssh", "-p", "2222", "-i", "/k/id", "key"]
        );
        assert_eq!(split(" /opt/my ssh"), ["/opt/my", "ssh"]);
        assert_eq!(split("   "), ["ssh"]);
        // Tabs are not separators in 3.4 (strtok on " "), nor here.
        assert_eq!(split("ssh\t-v"), ["ssh\t-v"]);
    }

    /// Both links carry bytes both ways, end the write side without
    /// ending the read side, and say when an answer is waiting.
    pub(super) fn echo_through(mut conn: Connection) {
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
        conn.set_time_limit(Some(Duration::from_secs(60)));
        conn.wait_readable().unwrap();
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
        let mut conn = Connection::pipe(Command::new("cat")).unwrap();
        assert!(conn.poll_fd() >= 0);
        conn.set_time_limit(Some(Duration::from_secs(60)));
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
        echo_through(conn);
        echo.join().unwrap();
    }

    /// A peer that sends a byte now and then: a per-call timeout would
    /// never fire, a deadline does, and says after how long.
    pub(super) fn trickle_is_cut_at_the_limit(mut conn: Connection, stop: impl FnOnce()) {
        let limit = Duration::from_millis(300);
        conn.set_time_limit(Some(limit));
        let started = std::time::Instant::now();
        let mut got = Vec::new();
        let e = conn.read_to_end(&mut got).unwrap_err();
        let took = started.elapsed();
        stop();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(e.to_string(), "timed out after 0.3 s");
        assert!(!got.is_empty(), "bytes came before the limit");
        assert!(took >= limit, "{took:?}");
        // The peer goes on for 20 s: far beyond this bound.
        assert!(took < Duration::from_secs(10), "{took:?}");
        // A limit that has passed fails waits and reads alike, at once.
        conn.set_time_limit(Some(Duration::ZERO));
        assert_eq!(
            conn.wait_readable().unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
        let e = conn.read(&mut [0u8; 16]).unwrap_err();
        assert_eq!(e.to_string(), "timed out after 0 s");
        assert_eq!(
            timed_out(Duration::from_secs(20)).to_string(),
            "timed out after 20 s"
        );
    }

    #[test]
    fn a_time_limit_is_a_deadline_over_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            for _ in 0..400 {
                if s.write_all(b"x").is_err() || rx.try_recv().is_ok() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let conn = Connection::tcp(TcpStream::connect(addr).unwrap());
        trickle_is_cut_at_the_limit(conn, || tx.send(()).unwrap());
        peer.join().unwrap();
    }

    #[test]
    fn a_time_limit_is_a_deadline_over_a_pipe() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "for i in $(seq 400); do printf x; sleep 0.05; done"]);
        let conn = Connection::pipe(cmd).unwrap();
        trickle_is_cut_at_the_limit(conn, || {});
    }
}
