//! One job over one connection to a volunteer: connect (TCP or an ssh
//! pipe), send the request, read the reply. Deciding what to send is
//! `scan`'s; what to do with the reply is the caller's.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{anyhow, Context, Result};

use crate::exit::Code;
use crate::hosts::{Host, Transport};
use crate::protocol::{self, hashed, stream, Limits, Reply, RequestHead, Version};
use crate::settings::Settings;

pub enum Connection {
    Tcp(TcpStream),
    Ssh {
        child: Child,
        stdin: Option<ChildStdin>,
        stdout: ChildStdout,
    },
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Connection::Ssh { child, stdin, .. } = self {
            drop(stdin.take());
            if let Ok(None) = child.try_wait() {
                child.kill().ok();
            }
            child.wait().ok();
        }
    }
}

impl Connection {
    /// The fd replies arrive on.
    pub fn read_fd(&self) -> std::os::fd::RawFd {
        match self {
            Connection::Tcp(s) => s.as_raw_fd(),
            Connection::Ssh { stdout, .. } => stdout.as_raw_fd(),
        }
    }
}

/// Writes go to the server unbuffered (chunks are whole already).
impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Connection::Tcp(s) => (&*s).write(buf),
            Connection::Ssh { stdin, .. } => match stdin {
                Some(w) => w.write(buf),
                None => Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "ssh stdin closed",
                )),
            },
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Connection::Tcp(_) => Ok(()),
            Connection::Ssh { stdin, .. } => stdin.as_mut().map_or(Ok(()), |w| w.flush()),
        }
    }
}

pub fn version_of(host: &Host) -> Version {
    Version::from_u32(host.protocol()).unwrap_or(Version::V1)
}

/// Opens a connection to `host`; failures carry exit 103 (connect failed).
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
                        s.set_read_timeout(Some(settings.io_timeout)).ok();
                        s.set_write_timeout(Some(settings.io_timeout)).ok();
                        return Ok(Connection::Tcp(s));
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
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            let mut child = cmd.spawn().map_err(|e| {
                anyhow!(Code::ConnectFailed).context(format!(
                    "cannot run {}: {e}",
                    settings.ssh.to_string_lossy()
                ))
            })?;
            let stdin = child.stdin.take();
            let stdout = child.stdout.take().expect("piped stdout");
            Ok(Connection::Ssh {
                child,
                stdin,
                stdout,
            })
        }
        Transport::Local => Err(anyhow!("localhost is not a remote host")),
    }
}

fn set_cork(s: &TcpStream, on: bool) {
    let v: libc::c_int = on.into();
    // SAFETY: setsockopt with a valid int option on our own socket.
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

/// Copies exactly `len` bytes of `file` to `w`.
fn copy_exact<W: Write>(file: &mut File, w: &mut W, len: u64) -> io::Result<()> {
    let n = io::copy(&mut file.take(len), w)?;
    if n != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "source shrank while sending",
        ));
    }
    Ok(())
}

/// Sends `len` bytes of `file` with sendfile(2): the kernel moves them from
/// the page cache to the socket, never through our memory.
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
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "source shrank while sending",
            ));
        }
    }
    Ok(())
}

/// Sends the request: argv, then the preprocessed source from `source`.
/// Uncompressed bodies go from the file to the socket by sendfile.
pub fn send(
    conn: &mut Connection,
    version: Version,
    argv: &[OsString],
    source: &Path,
    cork: bool,
) -> Result<usize> {
    let head = RequestHead {
        version,
        cwd: None,
        argv: argv.to_vec(),
    };
    let mut file = File::open(source).with_context(|| format!("opening {}", source.display()))?;
    let len = file.metadata()?.len();
    let mut buf = Vec::with_capacity(512);
    protocol::write_request_head(&mut buf, &head)?;
    let codec = version.codec();
    let compressed = if !codec.is_raw() && len > 0 {
        let mut raw = Vec::with_capacity(len as usize);
        file.read_to_end(&mut raw)?;
        Some(codec.compress(&raw).into_owned())
    } else {
        None
    };
    let body_len = compressed.as_ref().map_or(len, |c| c.len() as u64);
    let body_len =
        u32::try_from(body_len).map_err(|_| anyhow!(Code::IoError).context("source over 4 GiB"))?;
    protocol::write_header(&mut buf, protocol::DOTI, body_len)?;
    match (conn, compressed) {
        (conn, Some(c)) => {
            buf.extend_from_slice(&c);
            write_all(conn, &buf, cork).context("sending the job")?;
        }
        (Connection::Tcp(s), None) => {
            if cork {
                set_cork(s, true);
            }
            let r = (&*s)
                .write_all(&buf)
                .and_then(|()| send_file(s, &file, len));
            if cork {
                set_cork(s, false);
            }
            r.context("sending the job")?;
        }
        (Connection::Ssh { stdin, .. }, None) => {
            let w = stdin.as_mut().ok_or_else(|| anyhow!("ssh stdin closed"))?;
            w.write_all(&buf)
                .and_then(|()| copy_exact(&mut file, w, len))
                .and_then(|()| w.flush())
                .context("sending the job")?;
        }
    }
    Ok(buf.len() + body_len as usize)
}

/// Reads the server's reply.
pub fn receive(conn: &mut Connection, version: Version) -> Result<Reply> {
    receive_after(conn, version, &[])
}

/// Reads the server's reply, the first `already` bytes of which were read.
pub fn receive_after(conn: &mut Connection, version: Version, already: &[u8]) -> Result<Reply> {
    let limits = Limits::for_replies();
    let reply = match conn {
        Connection::Tcp(s) => protocol::read_reply(
            &mut already.chain(BufReader::with_capacity(64 * 1024, &*s)),
            version,
            version.codec(),
            &limits,
        ),
        Connection::Ssh { stdout, .. } => protocol::read_reply(
            &mut already.chain(BufReader::with_capacity(64 * 1024, stdout)),
            version,
            version.codec(),
            &limits,
        ),
    };
    reply.context("reading the reply")
}

/// Our streamed protocol, step one: the request head under the extension's
/// version; the server answers before any source is sent.
pub fn send_stream_head(conn: &mut Connection, base: Version, argv: &[OsString]) -> Result<usize> {
    let head = RequestHead {
        version: base,
        cwd: None,
        argv: argv.to_vec(),
    };
    let mut buf = Vec::with_capacity(512);
    protocol::write_request_head_as(&mut buf, &head, stream::version_for(base))?;
    write_all(conn, &buf, false).context("sending the job")?;
    Ok(buf.len())
}

/// The server's first answer to a streamed request.
pub fn read_answer(conn: &mut Connection) -> protocol::Result<stream::Answer> {
    match conn {
        Connection::Tcp(s) => stream::read_answer(&mut &*s),
        Connection::Ssh { stdout, .. } => stream::read_answer(stdout),
    }
}

/// The end of a streamed source, once the preprocessor has succeeded.
pub fn send_stream_end(conn: &mut Connection) -> Result<()> {
    write_all(conn, &stream::end(), false).context("ending the source")
}

/// Sends an exact-mode request (protocol 3): cwd, argv, then the files.
/// Returns the bytes sent.
pub fn send_files(
    conn: &mut Connection,
    cwd: &Path,
    argv: &[OsString],
    files: &[protocol::NamedFile],
    cork: bool,
) -> Result<usize> {
    let head = RequestHead {
        version: Version::V3,
        cwd: Some(cwd.as_os_str().to_os_string()),
        argv: argv.to_vec(),
    };
    let mut buf = Vec::with_capacity(64 * 1024);
    protocol::write_request_head(&mut buf, &head)?;
    protocol::write_files(&mut buf, Version::V3.codec(), files)?;
    write_all(conn, &buf, cork).context("sending the job")?;
    Ok(buf.len())
}

/// Waits until the server starts answering (or `limit` passes), so the
/// monitor can tell time spent compiling from time spent receiving.
/// Errors are left to the read that follows.
pub fn wait_readable(conn: &Connection, limit: std::time::Duration) {
    // EINTR just ends the wait early, which only shifts time between two
    // phases.
    crate::sys::wait_readable(conn.read_fd(), limit).ok();
}

/// Our exact-mode extension, step one: cwd, argv and the file manifest
/// (digests, not bodies).
pub fn send_manifest(
    conn: &mut Connection,
    cwd: &Path,
    argv: &[OsString],
    manifest: &[hashed::HashedFile],
) -> Result<usize> {
    let head = RequestHead {
        version: Version::V3,
        cwd: Some(cwd.as_os_str().to_os_string()),
        argv: argv.to_vec(),
    };
    let mut buf = Vec::with_capacity(16 * 1024);
    protocol::write_request_head_as(&mut buf, &head, hashed::VERSION)?;
    hashed::write_manifest(&mut buf, manifest)?;
    write_all(conn, &buf, false).context("sending the file list")?;
    Ok(buf.len())
}

/// Step two: which bodies the daemon lacks.
pub fn read_need(conn: &mut Connection, manifest: &[hashed::HashedFile]) -> Result<Vec<u32>> {
    let need = match conn {
        Connection::Tcp(s) => hashed::read_need(&mut &*s, manifest),
        Connection::Ssh { stdout, .. } => hashed::read_need(stdout, manifest),
    };
    need.context("reading which files the server lacks")
}

/// Step three: those bodies, in the order asked.
pub fn send_bodies(conn: &mut Connection, bodies: &[&[u8]]) -> Result<usize> {
    let mut buf = Vec::new();
    hashed::write_bodies(&mut buf, Version::V3.codec(), bodies)?;
    write_all(conn, &buf, false).context("sending files")?;
    Ok(buf.len())
}

/// Writes one buffer, corked on TCP so it leaves in as few packets as
/// possible.
fn write_all(conn: &mut Connection, buf: &[u8], cork: bool) -> io::Result<()> {
    match conn {
        Connection::Tcp(s) => {
            if cork {
                set_cork(s, true);
            }
            let r = (&*s).write_all(buf);
            if cork {
                set_cork(s, false);
            }
            r
        }
        Connection::Ssh { stdin, .. } => {
            let w = stdin
                .as_mut()
                .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "ssh stdin closed"))?;
            w.write_all(buf)?;
            w.flush()
        }
    }
}
