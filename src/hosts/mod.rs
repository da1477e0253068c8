//! The host list: the `DISTCC_HOSTS` grammar and its parser, the parsed
//! [`HostList`], the key a host's locks and records go by ([`Host::key`]),
//! and where the list is read from ([`load`]). Shared by the client, which
//! picks from it, and the monitor, which shows its limits; choosing a host
//! is the client's (`client::pick`).
//!
//! The text is a sequence of words separated by whitespace (including
//! newlines).  A `#` starts a comment that runs to the end of the line.
//!
//! ```text
//! LIST        = { WORD }
//! WORD        = GLOBAL | HOSTSPEC
//! GLOBAL      = "--randomize" | "--localslots=" NUM | "--localslots_cpp=" NUM
//!             | "+zeroconf"
//! HOSTSPEC    = (LOCAL | SSH_HOST | TCP_HOST) { "," OPTION }
//! LOCAL       = "localhost" [ "/" LIMIT ]
//! TCP_HOST    = HOSTID [ ":" PORT ] [ "/" LIMIT ]
//!             | HOSTID "/" LIMIT ":" PORT
//! SSH_HOST    = [ USER ] "@" HOSTID [ "/" LIMIT ] [ ":" COMMAND ]
//! HOSTID      = NAME | IPV4 | "[" IPV6 "]"
//! OPTION      = "lzo" | "cpp" | "classic" | "tls"
//! PORT        = 1..65535                 (default 3632; 3634 with "tls")
//! LIMIT, NUM  = 1..1000                  (default 4; 2 for LOCAL)
//! ```
//!
//! Notes:
//! * Only the bare word `localhost` (optionally with `/LIMIT`) runs jobs in
//!   place; `localhost:PORT`, `127.0.0.1` and `[::1]` are TCP hosts.
//! * `,lzo` selects protocol 2 (compressed); `,cpp` selects protocol 3
//!   (pump mode) and implies `,lzo`.  An option may appear only once.
//! * Without `,cpp`, a host that runs our daemon gets exact mode all the
//!   same (our hashed dialect; a distcc 3.4 daemon refuses it and is
//!   remembered as classic); `,classic` asks for classic distcc
//!   (preprocessed here) whatever the daemon, and excludes `,cpp`.
//! * `,tls` (TCP hosts only) speaks TLS 1.3 with the keys in `$DISTCC_DIR/tls`
//!   (see `tls`), to the daemon's TLS port, 3634 unless one is given.
//! * `+zeroconf` adds the volunteers Avahi finds (the client's
//!   `zeroconf`), where the word stands in the list.
//! * `,auth` / `,auth=NAME` (GSSAPI) and any other option, `+keyword` or
//!   `--flag` are rejected with an error naming the problem.
//! * Host names, user names and remote commands may reach a remote shell, so
//!   they are restricted to ASCII letters, digits, `-`, `.` and `_` (commands
//!   may also contain `/`, `+` and `=`), and names may not start with `-`.
//! * Unbracketed words with more than one `:` are rejected: IPv6 addresses
//!   must be written in brackets.

use std::fmt;
use std::fs;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use crate::exit::Code;
use crate::settings::Settings;

use crate::protocol::DEFAULT_PORT;

/// The daemon's TLS port when a `,tls` host names none (`distccd
/// --tls-port`'s default): beside 3632 (plain) and 3633 (stats).
pub const DEFAULT_TLS_PORT: u16 = 3634;

/// Default job limit of a remote (TCP or ssh) host.
pub const DEFAULT_REMOTE_LIMIT: u32 = 4;
/// Default job limit of the `localhost` entry.
pub const DEFAULT_LOCAL_LIMIT: u32 = 2;
/// Largest accepted job limit or slot count.
pub const MAX_LIMIT: u32 = 1000;

/// How jobs reach a host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Direct TCP connection; `host` is a name or address (IPv6 without brackets).
    Tcp { host: String, port: u16 },
    /// Tunnelled through ssh; `command` is the remote server path if given.
    Ssh {
        user: Option<String>,
        host: String,
        command: Option<String>,
    },
    /// Run in place on this machine.
    Local,
}

/// One entry of the host list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Host {
    pub transport: Transport,
    /// Maximum number of concurrent jobs.
    pub limit: u32,
    /// Compress traffic (protocol 2 or higher).
    pub lzo: bool,
    /// Preprocess remotely (pump mode, protocol 3).
    pub cpp: bool,
    /// `,classic`: never exact mode, even with our own daemon.
    pub classic: bool,
    /// Authenticated and encrypted (TLS 1.3 with pinned keys).
    pub tls: bool,
}

impl Host {
    /// Protocol version: 1 (plain), 2 (lzo) or 3 (cpp).
    pub fn protocol(&self) -> u32 {
        if self.cpp {
            3
        } else if self.lzo {
            2
        } else {
            1
        }
    }

    /// True for the bare `localhost` entry, which runs jobs in place.
    pub fn is_local(&self) -> bool {
        self.transport == Transport::Local
    }

    /// The name the host's slot locks, backoff record and job records go
    /// by: its transport alone, so one machine listed with different
    /// options shares its slots.
    pub fn key(&self) -> String {
        match &self.transport {
            Transport::Tcp { host, port } => format!("{host}:{port}"),
            Transport::Ssh { user, host, .. } => match user {
                Some(u) => format!("{u}@{host}"),
                None => format!("@{host}"),
            },
            Transport::Local => "localhost".into(),
        }
    }
}

fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.transport {
            Transport::Tcp { host, port } => {
                write!(f, "{}:{port}/{}", bracketed(host), self.limit)?
            }
            Transport::Ssh {
                user,
                host,
                command,
            } => {
                if let Some(user) = user {
                    f.write_str(user)?;
                }
                write!(f, "@{}/{}", bracketed(host), self.limit)?;
                if let Some(command) = command {
                    write!(f, ":{command}")?;
                }
            }
            Transport::Local => write!(f, "localhost/{}", self.limit)?,
        }
        if self.cpp {
            f.write_str(",cpp,lzo")?;
        } else if self.lzo {
            f.write_str(",lzo")?;
        }
        if self.classic {
            f.write_str(",classic")?;
        }
        if self.tls {
            f.write_str(",tls")?;
        }
        Ok(())
    }
}

/// A parsed host list with its global settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostList {
    pub hosts: Vec<Host>,
    pub randomize: bool,
    pub local_slots: Option<u32>,
    pub local_slots_cpp: Option<u32>,
    /// Where `+zeroconf` stood: the index in `hosts` its volunteers go at.
    pub zeroconf: Option<usize>,
}

impl HostList {
    /// Sum of the job limits of all hosts (including `localhost`).
    pub fn total_slots(&self) -> u32 {
        self.hosts
            .iter()
            .fold(0u32, |acc, h| acc.saturating_add(h.limit))
    }
}

/// A rejected word of the host list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsError {
    /// The offending word, verbatim.
    pub word: String,
    /// 1-based index of the word among all words of the text.
    pub position: usize,
    /// Byte offset of the word in the text.
    pub column: usize,
    /// Why the word was rejected.
    pub reason: String,
}

impl fmt::Display for HostsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad host spec {:?} (word {}): {}",
            self.word, self.position, self.reason
        )
    }
}

impl std::error::Error for HostsError {}

/// Splits `text` into `(byte offset, word)` pairs, dropping `#` comments.
fn split_words(text: &str) -> Vec<(usize, &str)> {
    let mut words = Vec::new();
    let mut start = None;
    let mut in_comment = false;
    for (i, c) in text.char_indices() {
        if in_comment {
            in_comment = c != '\n';
        } else if c == '#' || c.is_whitespace() {
            if let Some(s) = start.take() {
                words.push((s, &text[s..i]));
            }
            in_comment = c == '#';
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        words.push((s, &text[s..]));
    }
    words
}

/// Parses a whole `DISTCC_HOSTS` text.  An empty text yields an empty list.
pub fn parse(text: &str) -> Result<HostList, HostsError> {
    let mut list = HostList::default();
    for (index, (column, word)) in split_words(text).into_iter().enumerate() {
        let err = |reason: String| HostsError {
            word: word.to_string(),
            position: index + 1,
            column,
            reason,
        };
        if let Some(flag) = word.strip_prefix("--") {
            parse_flag(flag, &mut list).map_err(err)?;
        } else if word == "+zeroconf" {
            list.zeroconf = Some(list.hosts.len());
        } else if word.starts_with('+') {
            return Err(err(format!("unknown keyword {word:?}")));
        } else {
            list.hosts.push(parse_host(word).map_err(err)?);
        }
    }
    Ok(list)
}

fn parse_flag(flag: &str, list: &mut HostList) -> Result<(), String> {
    let (name, value) = match flag.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (flag, None),
    };
    match (name, value) {
        ("randomize", None) => list.randomize = true,
        ("randomize", Some(_)) => return Err("--randomize takes no value".to_string()),
        ("localslots", Some(v)) => list.local_slots = Some(parse_limit(v, "--localslots")?),
        ("localslots_cpp", Some(v)) => {
            list.local_slots_cpp = Some(parse_limit(v, "--localslots_cpp")?)
        }
        ("localslots" | "localslots_cpp", None) => {
            return Err(format!("--{name} needs a value (--{name}=N)"))
        }
        _ => return Err(format!("unknown option --{name}")),
    }
    Ok(())
}

fn parse_number(s: &str, what: &str) -> Result<u32, String> {
    if s.is_empty() {
        return Err(format!("missing {what}"));
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} is not a number"));
    }
    s.parse::<u32>()
        .map_err(|_| format!("{what} is out of range"))
}

fn parse_limit(s: &str, what: &str) -> Result<u32, String> {
    match parse_number(s, what)? {
        n @ 1..=MAX_LIMIT => Ok(n),
        n => Err(format!("{what} {n} is out of range (1-{MAX_LIMIT})")),
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    let n = parse_number(s, "port")?;
    match u16::try_from(n) {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(format!("port {n} is out of range (1-65535)")),
    }
}

fn check_chars(s: &str, what: &str, extra: &[char]) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("missing {what}"));
    }
    if let Some(c) = s
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "-._".contains(c) || extra.contains(&c)))
    {
        return Err(format!("illegal character {c:?} in {what}"));
    }
    if s.starts_with('-') {
        return Err(format!("{what} must not start with '-'"));
    }
    Ok(())
}

/// Splits a leading host name or bracketed IPv6 address off `s`; the rest is
/// empty or starts with `:` or `/`.
fn parse_hostid(s: &str) -> Result<(String, &str), String> {
    if let Some(inner) = s.strip_prefix('[') {
        let end = inner.find(']').ok_or("unclosed '['")?;
        let addr = &inner[..end];
        if addr.is_empty() {
            return Err("empty IPv6 address '[]'".to_string());
        }
        if addr.parse::<Ipv6Addr>().is_err() {
            return Err(format!("invalid IPv6 address {addr:?}"));
        }
        let rest = &inner[end + 1..];
        if !rest.is_empty() && !rest.starts_with([':', '/']) {
            return Err(format!("unexpected {rest:?} after ']'"));
        }
        Ok((addr.to_string(), rest))
    } else {
        let end = s.find([':', '/']).unwrap_or(s.len());
        check_chars(&s[..end], "host name", &[])?;
        Ok((s[..end].to_string(), &s[end..]))
    }
}

/// `(lzo, cpp, classic, tls)`.
fn parse_options(opts: Option<&str>) -> Result<(bool, bool, bool, bool), String> {
    let (mut lzo, mut cpp, mut classic, mut tls) = (false, false, false, false);
    let mut seen: Vec<&str> = Vec::new();
    for opt in opts.into_iter().flat_map(|o| o.split(',')) {
        if opt.is_empty() {
            return Err("empty option after ','".to_string());
        }
        let key = opt.split_once('=').map_or(opt, |(k, _)| k);
        if seen.contains(&key) {
            return Err(format!("duplicate option {key:?}"));
        }
        seen.push(key);
        match opt {
            "lzo" => lzo = true,
            "cpp" => cpp = true,
            "classic" => classic = true,
            "tls" => tls = true,
            _ if key == "auth" => return Err("auth is not supported".to_string()),
            _ => return Err(format!("unknown option {opt:?}")),
        }
    }
    if cpp && classic {
        return Err("cpp (exact mode) and classic exclude each other".to_string());
    }
    Ok((lzo || cpp, cpp, classic, tls))
}

fn parse_host(word: &str) -> Result<Host, String> {
    let (spec, opts) = match word.split_once(',') {
        Some((s, o)) => (s, Some(o)),
        None => (word, None),
    };
    let (lzo, cpp, classic, tls) = parse_options(opts)?;
    let (transport, limit) = match spec.split_once('@') {
        Some(_) if tls => return Err("tls is for TCP hosts; ssh encrypts already".to_string()),
        Some((user, rest)) => parse_ssh(user, rest)?,
        None => parse_tcp(spec, if tls { DEFAULT_TLS_PORT } else { DEFAULT_PORT })?,
    };
    if tls && transport == Transport::Local {
        return Err("tls is for remote hosts; localhost runs jobs in place".to_string());
    }
    Ok(Host {
        transport,
        limit,
        lzo,
        cpp,
        classic,
        tls,
    })
}

fn parse_ssh(user: &str, rest: &str) -> Result<(Transport, u32), String> {
    let user = if user.is_empty() {
        None
    } else {
        check_chars(user, "user name", &[])?;
        Some(user.to_string())
    };
    let (host, mut rest) = parse_hostid(rest)?;
    let mut limit = DEFAULT_REMOTE_LIMIT;
    if let Some(body) = rest.strip_prefix('/') {
        let end = body.find([':', '/']).unwrap_or(body.len());
        limit = parse_limit(&body[..end], "limit")?;
        rest = &body[end..];
        if rest.starts_with('/') {
            return Err("limit given twice".to_string());
        }
    }
    let command = match rest.strip_prefix(':') {
        Some(cmd) => {
            check_chars(cmd, "remote command", &['/', '+', '='])?;
            Some(cmd.to_string())
        }
        None => None,
    };
    let transport = Transport::Ssh {
        user,
        host,
        command,
    };
    Ok((transport, limit))
}

fn parse_tcp(spec: &str, default_port: u16) -> Result<(Transport, u32), String> {
    if !spec.starts_with('[') && spec.matches(':').count() > 1 {
        return Err("more than one ':' (IPv6 addresses must be in brackets)".to_string());
    }
    let (host, mut rest) = parse_hostid(spec)?;
    let (mut port, mut limit) = (None, None);
    while let Some(sep) = rest.chars().next() {
        let body = &rest[1..];
        let end = body.find([':', '/']).unwrap_or(body.len());
        let field = &body[..end];
        if sep == ':' {
            if port.is_some() {
                return Err("port given twice".to_string());
            }
            port = Some(parse_port(field)?);
        } else {
            if limit.is_some() {
                return Err("limit given twice".to_string());
            }
            limit = Some(parse_limit(field, "limit")?);
        }
        rest = &body[end..];
    }
    if host == "localhost" && port.is_none() {
        return Ok((Transport::Local, limit.unwrap_or(DEFAULT_LOCAL_LIMIT)));
    }
    let port = port.unwrap_or(default_port);
    Ok((
        Transport::Tcp { host, port },
        limit.unwrap_or(DEFAULT_REMOTE_LIMIT),
    ))
}

/// The system-wide host file, read when neither of the user's says.
const SYSTEM_HOSTS: &str = "/etc/distcc/hosts";

/// A host list and where it came from, for messages.
pub struct Loaded {
    pub list: HostList,
    pub source: String,
}

/// Reads the host list: `DISTCC_HOSTS`, else `$DISTCC_DIR/hosts`, else
/// `/etc/distcc/hosts`. `None` when none of them exists; a list that does
/// not parse fails with exit 106 (bad host specification).
pub fn load(settings: &Settings) -> Result<Option<Loaded>> {
    load_from(settings, Path::new(SYSTEM_HOSTS))
}

fn load_from(settings: &Settings, system: &Path) -> Result<Option<Loaded>> {
    let (text, source) = match &settings.hosts {
        Some(t) => (t.clone(), "DISTCC_HOSTS".to_string()),
        None => {
            let files = [settings.dir.join("hosts"), PathBuf::from(system)];
            match files
                .iter()
                .find_map(|f| fs::read_to_string(f).ok().map(|t| (t, f)))
            {
                Some((t, f)) => (t, f.display().to_string()),
                None => return Ok(None),
            }
        }
    };
    let list =
        parse(&text).map_err(|e| anyhow!(Code::BadHostSpec).context(format!("{source}: {e}")))?;
    Ok(Some(Loaded { list, source }))
}

#[cfg(test)]
mod tests;
