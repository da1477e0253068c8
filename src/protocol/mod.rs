//! The distcc wire format (protocol versions 1, 2 and 3) over any
//! `Read`/`Write`; sockets and timeouts are `transport`'s, files and
//! decisions the roles'.
//!
//! By concern: `token` (the vocabulary), `version` (versions, the port),
//! `limits` (what a reader accepts), `packet` (headers, length-checked raw
//! bodies), `codec` (compressed bodies, one [`Codec`] per connection),
//! `request` (what a client sends first), `files` (protocol 3's file
//! list), `reply` (what a server answers, with
//! named outputs), `error` ([`WireError`] and its exit codes); and our
//! extensions, `status` (how busy a volunteer is), `note` (what our daemon
//! adds after a reply), `stream` (the source streamed while it is preprocessed) and
//! `hashed` (exact mode's content-addressed files), with `identity` (the
//! compiler and system headers such a request asserts). Every reader
//! checks the token it expects, parses the digits strictly, and checks a
//! length against [`Limits`] before allocating, so a hostile peer gets a
//! [`WireError`], never a panic or a huge allocation. This file only
//! gathers the names; each part imports its siblings, never this file.

pub mod codec;
pub mod error;
pub mod files;
pub mod hashed;
pub mod identity;
pub mod limits;
pub mod note;
pub mod packet;
pub mod reply;
pub mod request;
pub mod status;
pub mod stream;
pub mod token;
pub mod version;

pub use codec::{read_body, read_body_to, write_body, Codec};
pub use error::{exit_code, Result, WireError};
pub use files::{
    read_file_count, read_files, write_files, FileBody, FileList, Incoming, NamedFile,
};
pub use limits::Limits;
pub use packet::{header, read_header, read_len, read_raw, read_string, write_header, write_raw};
pub use reply::{read_reply, write_reply, Output, OutputKind, Reply, ReplyForm};
pub use request::{
    read_dist, read_head, read_request, read_request_head, write_request_head,
    write_request_head_as, RequestHead,
};
pub use token::{
    Token, ARGC, ARGV, CDIR, DIST, DONE, DOTD, DOTI, DOTO, FILE, HEADER_LEN, LINK, NAME, NFIL,
    SERR, SOUT, STAT,
};
pub use version::{version_banner, version_text, Dist, Version, DEFAULT_PORT};

#[cfg(test)]
mod tests;
