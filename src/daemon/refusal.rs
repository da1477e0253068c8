//! Why the daemon will not compile a request: a distcc exit code (the
//! client treats 100..=120 as "the server did not compile" and compiles
//! elsewhere) and the reason, which goes to the client's stderr and the
//! daemon's log. Who refuses: `policy` (arguments), `compilers` (the
//! whitelist), `mirror` (exact mode's paths), the dialects (what their
//! protocol cannot carry), `job` (a compile the server could not hold).

use crate::exit::Code;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: Code,
    pub message: String,
}

impl Refusal {
    pub fn new(code: Code, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }

    /// The arguments cannot run here (exit 101).
    pub fn bad_arguments(message: impl Into<String>) -> Refusal {
        Refusal::new(Code::BadArguments, message)
    }
}
