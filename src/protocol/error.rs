//! What can go wrong reading the wire: [`WireError`], which quotes the
//! token expected and the bytes received, tells a clean close from a
//! truncation, and maps itself to distcc's exit codes ([`WireError::code`],
//! [`exit_code`]); the codes themselves are `exit`'s.

use std::fmt;
use std::io;

use super::token::Token;
use crate::exit::{code_of_io, Code};
use crate::lzo::LzoError;
use crate::zstd::ZstdError;

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
    Zstd {
        token: Token,
        err: ZstdError,
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
            WireError::Zstd { token, err } => write!(f, "{} body: {err}", show(token)),
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

impl WireError {
    /// Whether the peer is still there to be told what was wrong: it sent
    /// something we refuse (too large, malformed), rather than closing or
    /// failing to send.
    pub fn peer_can_be_answered(&self) -> bool {
        !matches!(
            self,
            WireError::Closed { .. } | WireError::Truncated { .. } | WireError::Io(_)
        )
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
