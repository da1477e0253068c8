//! The distcc wire format (protocol versions 1, 2 and 3) over any
//! `Read`/`Write`; sockets, timeouts and files live with the callers
//! (`client::remote`, `daemon::serve`).
//!
//! A packet is a 12-byte header, four token letters and eight lowercase hex
//! digits, then for some tokens that many bytes of body. Every reader here
//! checks the token it expects, parses the digits strictly, and checks the
//! length against [`Limits`] before allocating, so a hostile peer gets a
//! [`WireError`], never a panic or a huge allocation.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::exit::{code_of_io, Code};
use crate::lzo::{self, LzoError};

pub type Token = [u8; 4];

pub const DIST: &Token = b"DIST";
pub const CDIR: &Token = b"CDIR";
pub const ARGC: &Token = b"ARGC";
pub const ARGV: &Token = b"ARGV";
pub const DOTI: &Token = b"DOTI";
pub const NFIL: &Token = b"NFIL";
pub const NAME: &Token = b"NAME";
pub const FILE: &Token = b"FILE";
pub const LINK: &Token = b"LINK";
pub const DONE: &Token = b"DONE";
pub const STAT: &Token = b"STAT";
pub const SERR: &Token = b"SERR";
pub const SOUT: &Token = b"SOUT";
pub const DOTO: &Token = b"DOTO";
pub const DOTD: &Token = b"DOTD";

pub const HEADER_LEN: usize = 12;

/// The TCP port distcc servers listen on unless told otherwise (IANA's
/// registration for distcc).
pub const DEFAULT_PORT: u16 = 3632;

/// Protocol versions. There is no negotiation: the server answers in the
/// version the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// Raw bodies.
    V1 = 1,
    /// LZO1X bodies.
    V2 = 2,
    /// Sources and headers instead of preprocessed text ("pump"); LZO bodies.
    V3 = 3,
}

impl Version {
    /// Every version we speak, client and server alike.
    pub const ALL: [Version; 3] = [Version::V1, Version::V2, Version::V3];

    pub fn from_u32(n: u32) -> Option<Version> {
        match n {
            1 => Some(Version::V1),
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }

    pub fn number(self) -> u32 {
        self as u32
    }

    pub fn compressed(self) -> bool {
        self != Version::V1
    }
}

/// What `--version` says about the wire, in the reference's words:
/// `(protocols 1, 2 and 3) (default port 3632)`.
pub fn version_banner() -> String {
    let numbers: Vec<String> = Version::ALL
        .iter()
        .map(|v| v.number().to_string())
        .collect();
    let (last, rest) = numbers.split_last().expect("at least one version");
    format!(
        "(protocols {} and {last}) (default port {DEFAULT_PORT})",
        rest.join(", ")
    )
}

/// Bounds a reader enforces; the protocol itself has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_argc: u32,
    pub max_arg: u32,
    /// All ARGV bodies together: without it a request could hold
    /// `max_argc * max_arg` (256 MiB) before anything is checked. Linux
    /// refuses to exec much more than 2 MiB of arguments anyway.
    pub max_argv_total: u64,
    pub max_path: u32,
    pub max_files: u32,
    /// Largest body, compressed or not, and largest inflated body; for a
    /// protocol-3 file list, the largest total. A job thus holds at most
    /// `max_argv_total + max_body` bytes of request in memory.
    pub max_body: u64,
    /// Largest ratio of inflated to compressed size.
    pub max_inflation: u64,
}

impl Limits {
    /// What a client accepts in replies from servers it chose: objects with
    /// large zero-filled sections legitimately compress past 64x, up to the
    /// format's own ceiling of about 255x.
    pub fn for_replies() -> Limits {
        Limits {
            max_inflation: 256,
            ..Limits::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_argc: 4096,
            max_arg: 64 * 1024,
            max_argv_total: 2 << 20,
            max_path: 4096,
            max_files: 100_000,
            max_body: 1 << 30,
            max_inflation: 64,
        }
    }
}

#[derive(Debug)]
pub enum WireError {
    /// The peer closed the connection cleanly where a packet was due.
    Closed {
        expected: Token,
    },
    /// The connection ended inside a header or a body.
    Truncated {
        what: Token,
        got: usize,
        want: usize,
    },
    BadToken {
        expected: Token,
        got: Token,
    },
    BadNumber {
        token: Token,
        digits: [u8; 8],
    },
    TooLarge {
        token: Token,
        len: u64,
        limit: u64,
    },
    BadValue {
        token: Token,
        why: String,
    },
    Lzo {
        token: Token,
        err: LzoError,
    },
    Io(io::Error),
}

fn show(token: &Token) -> String {
    String::from_utf8_lossy(token).escape_debug().to_string()
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Closed { expected } => {
                write!(f, "connection closed where {} was expected", show(expected))
            }
            WireError::Truncated { what, got, want } => {
                write!(
                    f,
                    "connection closed in {} after {got} of {want} bytes",
                    show(what)
                )
            }
            WireError::BadToken { expected, got } => {
                write!(
                    f,
                    "expected token {}, received {:?}",
                    show(expected),
                    show(got)
                )
            }
            WireError::BadNumber { token, digits } => write!(
                f,
                "malformed length after {}: {:?}",
                show(token),
                String::from_utf8_lossy(digits)
            ),
            WireError::TooLarge { token, len, limit } => {
                write!(f, "{} of {len} exceeds the limit of {limit}", show(token))
            }
            WireError::BadValue { token, why } => write!(f, "bad {}: {why}", show(token)),
            WireError::Lzo { token, err } => write!(f, "{} body: {err}", show(token)),
            WireError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for WireError {}

impl WireError {
    /// The exit code of distcc's contract this failure means.
    pub fn code(&self) -> Code {
        match self {
            WireError::Closed { .. } | WireError::Truncated { .. } => Code::Truncated,
            WireError::Io(e) => code_of_io(e),
            _ => Code::Protocol,
        }
    }
}

/// The exit code an error chain carries, wire errors included: what
/// `lib::main` exits with and the history records.
pub fn exit_code(err: &anyhow::Error) -> Code {
    crate::exit::code_of_with(err, |cause| {
        cause.downcast_ref::<WireError>().map(WireError::code)
    })
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        WireError::Io(e)
    }
}

pub type Result<T> = std::result::Result<T, WireError>;

/// Formats one header: token and eight lowercase hex digits.
pub fn header(token: &Token, value: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(token);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in 0..8 {
        h[4 + i] = HEX[((value >> (28 - 4 * i)) & 0xf) as usize];
    }
    h
}

fn parse_hex(token: &Token, digits: &[u8; 8]) -> Result<u32> {
    let mut v: u32 = 0;
    for &d in digits {
        let n = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            // The reference writes lowercase but reads with sscanf %x.
            b'A'..=b'F' => d - b'A' + 10,
            _ => {
                return Err(WireError::BadNumber {
                    token: *token,
                    digits: *digits,
                })
            }
        };
        v = (v << 4) | n as u32;
    }
    Ok(v)
}

/// Reads exactly `buf.len()` bytes, telling a clean close before the first
/// byte from a truncation after some.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8], what: &Token, at_boundary: bool) -> Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 && at_boundary => return Err(WireError::Closed { expected: *what }),
            Ok(0) => {
                return Err(WireError::Truncated {
                    what: *what,
                    got,
                    want: buf.len(),
                })
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Reads one header and checks its token.
pub fn read_header<R: Read>(r: &mut R, expected: &Token) -> Result<u32> {
    let mut h = [0u8; HEADER_LEN];
    read_full(r, &mut h, expected, true)?;
    let got: Token = h[..4].try_into().expect("four bytes");
    if &got != expected {
        return Err(WireError::BadToken {
            expected: *expected,
            got,
        });
    }
    parse_hex(expected, h[4..].try_into().expect("eight bytes"))
}

/// Reads a header whose value is a length no larger than `limit`.
pub fn read_len<R: Read>(r: &mut R, token: &Token, limit: u64) -> Result<usize> {
    let len = read_header(r, token)? as u64;
    if len > limit {
        return Err(WireError::TooLarge {
            token: *token,
            len,
            limit,
        });
    }
    Ok(len as usize)
}

/// Reads `len` raw body bytes. The buffer grows as data arrives, so a peer
/// that announces a large body but sends little costs little memory.
pub fn read_raw<R: Read>(r: &mut R, token: &Token, len: usize) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len.min(1 << 20));
    let got = r.by_ref().take(len as u64).read_to_end(&mut buf)?;
    if got < len {
        return Err(WireError::Truncated {
            what: *token,
            got,
            want: len,
        });
    }
    Ok(buf)
}

/// Reads a length-prefixed string body (ARGV, CDIR, NAME, LINK): no NUL.
pub fn read_string<R: Read>(r: &mut R, token: &Token, limit: u32) -> Result<OsString> {
    let len = read_len(r, token, limit as u64)?;
    let bytes = read_raw(r, token, len)?;
    if bytes.contains(&0) {
        return Err(WireError::BadValue {
            token: *token,
            why: "contains a NUL byte".into(),
        });
    }
    Ok(OsString::from_vec(bytes))
}

/// Reads a bulk body (DOTI, DOTO, SERR, SOUT, FILE, DOTD), inflating it in
/// compressed versions. An empty body is always sent raw.
pub fn read_body<R: Read>(
    r: &mut R,
    token: &Token,
    version: Version,
    limits: &Limits,
) -> Result<Vec<u8>> {
    let len = read_len(r, token, limits.max_body)?;
    let raw = read_raw(r, token, len)?;
    if !version.compressed() || raw.is_empty() {
        return Ok(raw);
    }
    let bound = (len as u64)
        .saturating_mul(limits.max_inflation)
        .min(limits.max_body)
        .min(usize::MAX as u64) as usize;
    lzo::decompress(&raw, bound).map_err(|err| WireError::Lzo { token: *token, err })
}

/// Reads a bulk body into `w`. Raw bodies are streamed in small pieces,
/// so a large source costs no memory; compressed ones are inflated whole
/// (LZO has no streaming form), within the limits. Returns the bytes
/// written.
pub fn read_body_to<R: Read, W: Write>(
    r: &mut R,
    token: &Token,
    version: Version,
    limits: &Limits,
    w: &mut W,
) -> Result<u64> {
    if version.compressed() {
        let body = read_body(r, token, version, limits)?;
        w.write_all(&body)?;
        return Ok(body.len() as u64);
    }
    let len = read_len(r, token, limits.max_body)? as u64;
    let got = io::copy(&mut r.by_ref().take(len), w)?;
    if got < len {
        return Err(WireError::Truncated {
            what: *token,
            got: got as usize,
            want: len as usize,
        });
    }
    Ok(got)
}

pub fn write_header<W: Write>(w: &mut W, token: &Token, value: u32) -> io::Result<()> {
    w.write_all(&header(token, value))
}

fn len_u32(len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "body over 4 GiB"))
}

pub fn write_raw<W: Write>(w: &mut W, token: &Token, body: &[u8]) -> io::Result<()> {
    write_header(w, token, len_u32(body.len())?)?;
    w.write_all(body)
}

pub fn write_body<W: Write>(
    w: &mut W,
    token: &Token,
    version: Version,
    body: &[u8],
) -> io::Result<()> {
    if version.compressed() && !body.is_empty() {
        write_raw(w, token, &lzo::compress(body))
    } else {
        write_raw(w, token, body)
    }
}

/// What the client sends before the source: version, cwd (v3) and argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub version: Version,
    pub cwd: Option<OsString>,
    pub argv: Vec<OsString>,
}

pub fn write_request_head<W: Write>(w: &mut W, head: &RequestHead) -> io::Result<()> {
    write_request_head_as(w, head, head.version.number())
}

/// A request head whose `DIST` says `dist` rather than the version whose
/// layout it has: our extensions (`hashed`, `stream`) announce themselves
/// this way.
pub fn write_request_head_as<W: Write>(w: &mut W, head: &RequestHead, dist: u32) -> io::Result<()> {
    let mut buf = Vec::with_capacity(256);
    write_header(&mut buf, DIST, dist)?;
    if let Some(cwd) = &head.cwd {
        write_raw(&mut buf, CDIR, cwd.as_bytes())?;
    }
    write_header(&mut buf, ARGC, len_u32(head.argv.len())?)?;
    for a in &head.argv {
        write_raw(&mut buf, ARGV, a.as_bytes())?;
    }
    w.write_all(&buf)
}

pub fn read_request_head<R: Read>(r: &mut R, limits: &Limits) -> Result<RequestHead> {
    let v = read_header(r, DIST)?;
    let version = Version::from_u32(v).ok_or_else(|| WireError::BadValue {
        token: *DIST,
        why: format!("unsupported protocol version {v}"),
    })?;
    let cwd = if version == Version::V3 {
        Some(read_string(r, CDIR, limits.max_path)?)
    } else {
        None
    };
    let argc = read_header(r, ARGC)?;
    if argc == 0 || argc > limits.max_argc {
        return Err(WireError::TooLarge {
            token: *ARGC,
            len: argc as u64,
            limit: limits.max_argc as u64,
        });
    }
    let mut argv = Vec::with_capacity(argc as usize);
    let mut total: u64 = 0;
    for _ in 0..argc {
        let left = limits.max_argv_total.saturating_sub(total);
        let limit = (limits.max_arg as u64).min(left) as u32;
        let arg = read_string(r, ARGV, limit).map_err(|e| match e {
            WireError::TooLarge { len, .. } if len <= limits.max_arg as u64 => {
                WireError::TooLarge {
                    token: *ARGV,
                    len: total + len,
                    limit: limits.max_argv_total,
                }
            }
            e => e,
        })?;
        total += arg.len() as u64;
        argv.push(arg);
    }
    Ok(RequestHead { version, cwd, argv })
}

/// One file of a protocol-3 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileBody {
    File(Vec<u8>),
    Link(OsString),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFile {
    pub name: OsString,
    pub body: FileBody,
}

pub fn write_files<W: Write>(w: &mut W, version: Version, files: &[NamedFile]) -> io::Result<()> {
    write_header(w, NFIL, len_u32(files.len())?)?;
    for f in files {
        write_raw(w, NAME, f.name.as_bytes())?;
        match &f.body {
            FileBody::File(data) => write_body(w, FILE, version, data)?,
            FileBody::Link(target) => write_raw(w, LINK, target.as_bytes())?,
        }
    }
    Ok(())
}

/// Reads `NFIL`, the number of files that follow, within the limit.
pub fn read_file_count<R: Read>(r: &mut R, limits: &Limits) -> Result<u32> {
    let n = read_header(r, NFIL)?;
    if n > limits.max_files {
        return Err(WireError::TooLarge {
            token: *NFIL,
            len: n as u64,
            limit: limits.max_files as u64,
        });
    }
    Ok(n)
}

pub fn read_files<R: Read>(r: &mut R, version: Version, limits: &Limits) -> Result<Vec<NamedFile>> {
    let n = read_file_count(r, limits)?;
    let mut files = Vec::with_capacity((n as usize).min(1024));
    let mut total: u64 = 0;
    for _ in 0..n {
        let name = read_string(r, NAME, limits.max_path)?;
        let mut h = [0u8; HEADER_LEN];
        read_full(r, &mut h, FILE, false)?;
        let token: Token = h[..4].try_into().expect("four bytes");
        let value = parse_hex(&token, h[4..].try_into().expect("eight bytes"))?;
        // Re-feed the header we peeked at to the typed readers.
        let mut chained = io::Cursor::new(h).chain(&mut *r);
        // Each body may use what the files before it left of `max_body`,
        // counted inflated: a list of small bodies that each grow 64 times
        // must not add up to more than one large body could.
        let left = Limits {
            max_body: limits.max_body.saturating_sub(total),
            ..*limits
        };
        let body = match &token {
            FILE => FileBody::File(read_body(&mut chained, FILE, version, &left)?),
            LINK => FileBody::Link(read_string(&mut chained, LINK, limits.max_path)?),
            _ => {
                return Err(WireError::BadToken {
                    expected: *FILE,
                    got: token,
                })
            }
        };
        total += name.len() as u64;
        total += match &body {
            FileBody::File(data) => (data.len() as u64).max(value as u64),
            FileBody::Link(target) => target.len() as u64,
        };
        if total > limits.max_body {
            return Err(WireError::TooLarge {
                token: *FILE,
                len: total,
                limit: limits.max_body,
            });
        }
        files.push(NamedFile { name, body });
    }
    Ok(files)
}

/// The server's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    /// The compiler's Unix wait status.
    pub status: u32,
    pub stderr: Vec<u8>,
    pub stdout: Vec<u8>,
    pub object: Vec<u8>,
    /// Dependency file, protocol 3 only.
    pub deps: Option<Vec<u8>>,
}

pub fn write_reply<W: Write>(w: &mut W, version: Version, reply: &Reply) -> io::Result<()> {
    write_header(w, DONE, version.number())?;
    write_header(w, STAT, reply.status)?;
    write_body(w, SERR, version, &reply.stderr)?;
    write_body(w, SOUT, version, &reply.stdout)?;
    write_body(w, DOTO, version, &reply.object)?;
    if version == Version::V3 {
        write_body(w, DOTD, version, reply.deps.as_deref().unwrap_or_default())?;
    }
    Ok(())
}

pub fn read_reply<R: Read>(r: &mut R, version: Version, limits: &Limits) -> Result<Reply> {
    let v = read_header(r, DONE)?;
    if v != version.number() {
        return Err(WireError::BadValue {
            token: *DONE,
            why: format!("asked for version {}, answered {v}", version.number()),
        });
    }
    let status = read_header(r, STAT)?;
    let stderr = read_body(r, SERR, version, limits)?;
    let stdout = read_body(r, SOUT, version, limits)?;
    let object = read_body(r, DOTO, version, limits)?;
    let deps = if version == Version::V3 {
        Some(read_body(r, DOTD, version, limits)?)
    } else {
        None
    };
    Ok(Reply {
        status,
        stderr,
        stdout,
        object,
        deps,
    })
}

pub mod hashed;
pub mod stream;

#[cfg(test)]
mod tests;
