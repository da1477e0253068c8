//! The distcc wire format (protocol versions 1, 2 and 3) over any
//! `Read`/`Write`; sockets and timeouts are `transport`'s, files and
//! decisions the roles'.
//!
//! By concern: `packet` (tokens, headers, length-checked raw bodies),
//! `codec` (compressed bodies, one [`Codec`] per connection), `request`
//! (what a client sends), `reply` (what a server answers, with named
//! outputs), `error` ([`WireError`] and its exit codes); our extensions
//! `stream` (the source streamed while it is preprocessed) and `hashed`
//! (exact mode's content-addressed files). Every reader checks the token
//! it expects, parses the digits strictly, and checks a length against
//! [`Limits`] before allocating, so a hostile peer gets a [`WireError`],
//! never a panic or a huge allocation.

pub mod codec;
pub mod error;
pub mod hashed;
pub mod packet;
pub mod reply;
pub mod request;
pub mod stream;

pub use codec::{read_body, read_body_to, write_body, Codec};
pub use error::{exit_code, Result, WireError};
pub use packet::{
    header, read_header, read_len, read_raw, read_string, write_header, write_raw, Token, ARGC,
    ARGV, CDIR, DIST, DONE, DOTD, DOTI, DOTO, FILE, HEADER_LEN, LINK, NAME, NFIL, SERR, SOUT, STAT,
};
pub use reply::{read_reply, write_reply, Output, OutputKind, Reply};
pub use request::{
    read_file_count, read_files, read_request_head, write_files, write_request_head,
    write_request_head_as, FileBody, NamedFile, RequestHead,
};

/// The TCP port distcc servers listen on unless told otherwise (IANA's
/// registration for distcc).
pub const DEFAULT_PORT: u16 = 3632;

/// Protocol versions. There is no negotiation: the server answers in the
/// version the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// Preprocessed source, raw bodies.
    V1 = 1,
    /// Preprocessed source, LZO1X bodies.
    V2 = 2,
    /// Sources and headers instead of preprocessed text ("pump"); LZO
    /// bodies; the reply adds the dependency file.
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

#[cfg(test)]
mod tests;
