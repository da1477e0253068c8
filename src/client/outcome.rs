//! The three ways a step of a job can end, kept apart in the types:
//!
//! - [`Compiled`]: a compiler ran (the volunteer's, or the local
//!   preprocessor that failed the job) and its exit status is the job's,
//!   passed through as a shell would report it;
//! - [`Failed`]: distcc itself failed on a host; the host loop
//!   (`distribute`) falls back or exits with distcc's code, guided by
//!   [`Blame`];
//! - a job that must run here by decision carries a reason, not an error
//!   (`decide::Decision::Local`).

/// A compiler ran and returned this exit status (128+N for signal N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compiled(pub u8);

/// Why one remote attempt did not produce a compiler status.
#[derive(Debug)]
pub struct Failed {
    pub err: anyhow::Error,
    pub blame: Blame,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// Ours (temp files, writing the object): another host would not help.
    Local,
    /// The host could not be reached; no work was lost, so wait for a slot
    /// elsewhere.
    Unreachable,
    /// The host failed during the job (died, broke the protocol, timed
    /// out): one retry elsewhere if a slot is free now, else local.
    MidJob,
    /// The server answered but would not compile (whitelist, policy): try
    /// elsewhere, without marking it down for everyone.
    Refused,
    /// Not asked: the host refused the same compiler or system header
    /// lately (`mismatched`). Like an unreachable host, skipped freely,
    /// but not marked down: jobs that assert otherwise still go there.
    Mismatched,
}

impl Failed {
    /// A mapper from errors to failures with this blame, for `map_err`.
    pub fn by(blame: Blame) -> impl Fn(anyhow::Error) -> Failed + Copy {
        move |err| Failed { err, blame }
    }

    /// Whether the host should be skipped by every client for a while.
    pub fn backs_off(&self) -> bool {
        matches!(self.blame, Blame::Unreachable | Blame::MidJob)
    }
}

/// One attempt on one host.
pub type Attempt = Result<Compiled, Failed>;

/// What a dialect brings back from one host, before the reply is
/// accepted (`reply`).
#[derive(Debug)]
pub enum Answer {
    /// The server's reply.
    Reply(crate::protocol::Reply),
    /// The local preprocessor failed the job: its diagnostics are printed,
    /// its status is the job's.
    Compiled(Compiled),
    /// The host closed the connection on our extension: nothing was lost,
    /// and the caller asks again in the plain dialect.
    Unspoken,
    /// A file of the unit changed after it was listed, so its body no
    /// longer has the digest named: nothing of it was sent, and the
    /// caller lists the unit again.
    Stale(super::shipped::Stale),
}
