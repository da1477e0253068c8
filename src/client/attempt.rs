//! One attempt of a job on one volunteer: which dialect to speak to it
//! (exact mode to a `,cpp` host, ours first; otherwise protocol 1 or 2,
//! streamed first to hosts that may speak it), that dialect's exchange,
//! and the reply accepted (`reply`). What was prepared here for the job
//! ([`Sources`]) outlives the attempt, so a retry elsewhere reuses it.

use super::context::Context;
use super::cpp;
use super::job::Job;
use super::listing::{self, Listed};
use super::outcome::{Answer, Attempt, Blame, Compiled, Failed};
use super::{exact, hashed, pick, plain, reply, streamed};
use crate::hosts::Host;
use crate::protocol::Version;

/// What was prepared here for the job, kept across attempts.
#[derive(Default)]
pub struct Sources {
    /// The preprocessed text (plain and streamed dialects).
    pub temps: Option<cpp::Temps>,
    /// The unit's files (exact dialects).
    pub listed: Option<Listed>,
}

/// The dialects a host may be spoken to in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// Protocol 1 or 2, the source preprocessed here and sent whole.
    Plain(Version),
    /// Our streamed extension over protocol 1 or 2.
    Streamed(Version),
    /// Protocol 3: the unit's own files.
    Exact,
    /// Our hashed extension of protocol 3.
    Hashed,
}

impl Dialect {
    /// The dialect an extension extends, to ask again in when a host
    /// closes on the extension; `None` for the plain dialects themselves.
    fn plain(self) -> Option<Dialect> {
        match self {
            Dialect::Streamed(v) => Some(Dialect::Plain(v)),
            Dialect::Hashed => Some(Dialect::Exact),
            Dialect::Plain(_) | Dialect::Exact => None,
        }
    }
}

/// The first dialect to try with `host`.
fn choose(ctx: &Context, job: &Job, host: &Host, sources: &Sources) -> Dialect {
    let mut version = Version::from_u32(host.protocol()).unwrap_or(Version::V1);
    if version == Version::V3 {
        if job.needs_cpp() && job.exact_ok() {
            return if pick::speaks(host, ctx.settings, pick::Extension::Hashed) {
                Dialect::Hashed
            } else {
                Dialect::Exact
            };
        }
        // Nothing to ship but preprocessed text: protocol 2 carries it.
        version = Version::V2;
    }
    if sources.temps.is_none() && streamed::suits(ctx, job, host) {
        Dialect::Streamed(version)
    } else {
        Dialect::Plain(version)
    }
}

/// One attempt on `host`. `Ok` means a compiler ran (its status is final,
/// success or not).
pub fn run(
    ctx: &Context,
    job: &Job,
    host: &Host,
    cpp_slots: u32,
    sources: &mut Sources,
) -> Attempt {
    let mut dialect = choose(ctx, job, host, sources);
    let mut closed_on = 0;
    loop {
        let answer = match dialect {
            Dialect::Plain(v) => plain::run(ctx, job, host, v, cpp_slots, &mut sources.temps)?,
            Dialect::Streamed(v) => {
                streamed::run(ctx, job, host, v, cpp_slots, &mut sources.temps)?
            }
            Dialect::Exact | Dialect::Hashed => {
                let listed = match listed(ctx, job, cpp_slots, &mut sources.listed)? {
                    Ok(listed) => listed,
                    Err(compiled) => return Ok(compiled),
                };
                if dialect == Dialect::Hashed {
                    hashed::run(ctx, job, host, listed)?
                } else {
                    exact::run(ctx, job, host, listed)?
                }
            }
        };
        match answer {
            Answer::Reply(r) => {
                let exact = matches!(dialect, Dialect::Exact | Dialect::Hashed);
                return reply::accept(job, r, exact);
            }
            Answer::Compiled(c) => return Ok(c),
            // The host does not speak our extension (or its zstd form),
            // as remembered now: the dialect to speak instead, on a new
            // connection (`temps` holds the whole source by now, so a
            // streamed job goes plain). Twice at most: zstd, then the
            // extension itself.
            Answer::Unspoken if dialect.plain().is_some() && closed_on < 2 => {
                closed_on += 1;
                dialect = choose(ctx, job, host, sources);
            }
            Answer::Unspoken => {
                return Err(Failed {
                    err: anyhow::anyhow!("{host} closed the connection on {dialect:?}"),
                    blame: Blame::MidJob,
                })
            }
        }
    }
}

/// The unit's files, listed on the first attempt that needs them.
fn listed<'a>(
    ctx: &Context,
    job: &Job,
    cpp_slots: u32,
    kept: &'a mut Option<Listed>,
) -> Result<Result<&'a Listed, Compiled>, Failed> {
    if kept.is_none() {
        match listing::list(ctx, job, cpp_slots)? {
            Ok(l) => *kept = Some(l),
            Err(compiled) => return Ok(Err(compiled)),
        }
    }
    Ok(Ok(kept.as_ref().expect("listed above")))
}
