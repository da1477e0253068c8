//! distcc's exit-code contract (100..120), shared by client and daemon, and
//! the Unix wait status that carries a code on the wire (`STAT`) and from
//! a child process.
//!
//! Errors travel as `anyhow::Error`; whoever knows which contract code applies
//! puts a [`Code`] at the root of the chain. `lib::main` is the one place that
//! turns an error into a process exit status, via [`code_of_with`] and the
//! protocol's mapping of its own errors (`protocol::exit_code`): this leaf
//! knows no error type above it.

use std::error::Error;
use std::fmt;
use std::io;

/// The exit codes of distcc 3.4 (`exitcode.h`), kept numerically identical so
/// scripts written against the reference keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    Generic = 100,
    BadArguments = 101,
    BindFailed = 102,
    ConnectFailed = 103,
    CompilerCrashed = 104,
    OutOfMemory = 105,
    BadHostSpec = 106,
    IoError = 107,
    Truncated = 108,
    Protocol = 109,
    CompilerMissing = 110,
    Recursion = 111,
    SetuidFailed = 112,
    AccessDenied = 113,
    Busy = 114,
    NoSuchFile = 115,
    NoHosts = 116,
    Gone = 117,
    Timeout = 118,
    AuthFailed = 119,
    LocalCppFailed = 120,
}

impl Code {
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Whether an exit code is in distcc's own range: a remote status with
    /// one means the daemon did not compile (compilers do not use them).
    pub fn is_distcc(code: u8) -> bool {
        Code::from_u8(code).is_some()
    }

    /// The code an exit status in distcc's range stands for.
    pub fn from_u8(code: u8) -> Option<Code> {
        use Code::*;
        const ALL: [Code; 21] = [
            Generic,
            BadArguments,
            BindFailed,
            ConnectFailed,
            CompilerCrashed,
            OutOfMemory,
            BadHostSpec,
            IoError,
            Truncated,
            Protocol,
            CompilerMissing,
            Recursion,
            SetuidFailed,
            AccessDenied,
            Busy,
            NoSuchFile,
            NoHosts,
            Gone,
            Timeout,
            AuthFailed,
            LocalCppFailed,
        ];
        ALL.into_iter().find(|c| c.as_u8() == code)
    }

    fn describe(self) -> &'static str {
        match self {
            Code::Generic => "failed",
            Code::BadArguments => "bad arguments",
            Code::BindFailed => "bind failed",
            Code::ConnectFailed => "connect failed",
            Code::CompilerCrashed => "compiler crashed",
            Code::OutOfMemory => "out of memory",
            Code::BadHostSpec => "bad host specification",
            Code::IoError => "I/O error",
            Code::Truncated => "truncated",
            Code::Protocol => "protocol error",
            Code::CompilerMissing => "compiler missing",
            Code::Recursion => "recursive invocation",
            Code::SetuidFailed => "setuid failed",
            Code::AccessDenied => "access denied",
            Code::Busy => "busy",
            Code::NoSuchFile => "no such file",
            Code::NoHosts => "no hosts",
            Code::Gone => "gone",
            Code::Timeout => "timeout",
            Code::AuthFailed => "authentication failed",
            Code::LocalCppFailed => "local preprocessing failed",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (exit {})", self.describe(), *self as u8)
    }
}

impl std::error::Error for Code {}

/// The contract code an error chain carries: an explicit [`Code`] wins, then
/// what the OS said, else the generic 100.
pub fn code_of(err: &anyhow::Error) -> Code {
    code_of_with(err, |_| None)
}

/// [`code_of`] for chains that may hold errors of a layer above this one:
/// `classify` names the code of such an error (the protocol's, say), and
/// is asked of each cause, outermost first, before it is taken for an
/// `io::Error`.
pub fn code_of_with(
    err: &anyhow::Error,
    classify: impl Fn(&(dyn Error + 'static)) -> Option<Code>,
) -> Code {
    for cause in err.chain() {
        if let Some(code) = cause.downcast_ref::<Code>() {
            return *code;
        }
    }
    for cause in err.chain() {
        if let Some(code) = classify(cause) {
            return code;
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return code_of_io(io);
        }
    }
    Code::Generic
}

pub fn code_of_io(err: &io::Error) -> Code {
    match err.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Code::Timeout,
        io::ErrorKind::NotFound => Code::NoSuchFile,
        io::ErrorKind::OutOfMemory => Code::OutOfMemory,
        io::ErrorKind::UnexpectedEof => Code::Truncated,
        io::ErrorKind::PermissionDenied => Code::AccessDenied,
        _ => Code::IoError,
    }
}

/// The wait status of a process that exited with `code`: what a daemon
/// puts in `STAT` when it, not the compiler, ends the job.
pub fn exited(code: u8) -> u32 {
    // Linux's (and every Unix's) layout: the exit code in bits 8..16, a
    // zero signal number below.
    u32::from(code) << 8
}

/// The exit code in a wait status, if the process exited (rather than
/// being killed or stopped).
pub fn exit_code(status: i32) -> Option<u8> {
    libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status) as u8)
}

/// The exit code for a child's wait status, as a shell would report it:
/// the compiler's own code, or 128+N for a compiler killed by signal N.
pub fn of_wait_status(status: i32) -> u8 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status) as u8
    } else if libc::WIFSIGNALED(status) {
        128u8.wrapping_add(libc::WTERMSIG(status) as u8)
    } else {
        Code::Generic as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_survives_context() {
        let err = anyhow::Error::new(Code::NoHosts).context("reading hosts");
        assert_eq!(code_of(&err), Code::NoHosts);
    }

    #[test]
    fn io_errors_map() {
        let err = anyhow::Error::new(io::Error::from(io::ErrorKind::TimedOut)).context("x");
        assert_eq!(code_of(&err), Code::Timeout);
        let err = anyhow::anyhow!("plain");
        assert_eq!(code_of(&err), Code::Generic);
    }

    #[test]
    fn wait_status() {
        assert_eq!(of_wait_status(0), 0);
        assert_eq!(of_wait_status(1 << 8), 1);
        assert_eq!(of_wait_status(9), 137);
        assert_eq!(of_wait_status(11 | 0x80), 139);
        for code in [0, 1, 100, 255] {
            assert_eq!(exit_code(exited(code) as i32), Some(code));
            assert_eq!(of_wait_status(exited(code) as i32), code);
        }
        assert_eq!(exit_code(9), None);
        assert!(Code::is_distcc(100) && Code::is_distcc(120));
        for code in 100..=120 {
            assert_eq!(Code::from_u8(code).map(Code::as_u8), Some(code));
        }
        assert!(!Code::is_distcc(99) && !Code::is_distcc(121) && !Code::is_distcc(1));
    }

    #[test]
    fn a_classified_cause_comes_before_io_but_after_an_explicit_code() {
        let io_err = || io::Error::from(io::ErrorKind::TimedOut);
        let err = anyhow::Error::new(io_err()).context("x");
        let classify = |c: &(dyn Error + 'static)| c.is::<io::Error>().then_some(Code::Protocol);
        assert_eq!(code_of_with(&err, classify), Code::Protocol);
        let err = anyhow::anyhow!(Code::Busy).context("x");
        assert_eq!(code_of_with(&err, |_| Some(Code::Protocol)), Code::Busy);
    }
}
