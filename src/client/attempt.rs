//! One attempt of a job on one volunteer: which dialect to speak to it
//! (exact mode to a `,cpp` host, ours first; our exact mode to a host
//! with no mode option that runs our daemon; otherwise protocol 1 or 2,
//! streamed first to hosts that may speak it), that dialect's exchange,
//! and the reply accepted (`reply`), with what a hashed host now holds
//! recorded (`affinity`). What was prepared here for the job
//! ([`Sources`]) outlives the attempt, so a retry elsewhere reuses it;
//! when the records could decide the pick, the unit's files are listed
//! before it (`held`).

use super::affinity;
use super::context::Context;
use super::cpp;
use super::job::Job;
use super::listing::{self, Listed};
use super::outcome::{Answer, Attempt, Blame, Compiled, Failed};
use super::{exact, hashed, heard, pick, plain, reply, scanned, streamed, verify};
use crate::exit::{self, Code};
use crate::hosts::Host;
use crate::protocol::{OutputKind, Reply, Version};
use crate::state::Listing;

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

    /// Whether the unit's files travel (exact mode) rather than its
    /// preprocessed text.
    fn is_exact(self) -> bool {
        matches!(self, Dialect::Exact | Dialect::Hashed)
    }
}

/// The first dialect to try with `host`: exact mode to a `,cpp` host,
/// and to a host without a mode option unless it is known not to run our
/// daemon (it refused our hashed dialect) or says `,classic`.
fn choose(ctx: &Context, job: &Job, host: &Host, sources: &Sources) -> Dialect {
    let mut version = Version::from_u32(host.protocol()).unwrap_or(Version::V1);
    if job.split_dwarf() {
        // Only our streamed dialect returns the .dwo (`run` checks the
        // host may speak it), over protocol 2 for a `,cpp` host.
        return Dialect::Streamed(version.min(Version::V2));
    }
    let exact_by_default = !host.classic
        && job.needs_cpp()
        && job.exact_ok()
        && pick::speaks(host, ctx.settings, pick::Extension::Hashed);
    if version != Version::V3 && exact_by_default {
        return Dialect::Hashed;
    }
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
    if sources.temps.is_none() && streamed::suits(ctx.settings, job, host) {
        Dialect::Streamed(version)
    } else {
        Dialect::Plain(version)
    }
}

/// One attempt on `host`. `Ok` means a compiler ran (its status is final,
/// success or not).
/// Long because it is the one loop over a host's dialects and their retreats
/// (an extension to the plain dialect under it, hashed to classic, a scanner
/// miss to the compiler's listing), kept together so every retry is seen.
pub fn run(
    ctx: &Context,
    job: &Job,
    host: &Host,
    cpp_slots: u32,
    sources: &mut Sources,
) -> Attempt {
    if job.split_dwarf() && !streamed::suits(ctx.settings, job, host) {
        return Err(Failed {
            err: anyhow::anyhow!(
                "-gsplit-dwarf: {host} is not known to speak our streamed dialect, the one \
                 that returns the .dwo file"
            ),
            blame: Blame::Refused,
        });
    }
    let mut dialect = choose(ctx, job, host, sources);
    let mut closed_on = 0;
    let mut stale = 0;
    loop {
        let answer = match dialect {
            Dialect::Plain(v) => plain::run(ctx, job, host, v, cpp_slots, &mut sources.temps)?,
            Dialect::Streamed(v) => {
                streamed::run(ctx, job, host, v, cpp_slots, &mut sources.temps)?
            }
            Dialect::Exact | Dialect::Hashed => {
                // Only our hashed dialect returns what the compiler read,
                // which a scanned listing needs to be trusted.
                let scan = dialect == Dialect::Hashed
                    && pick::speaks(host, ctx.settings, pick::Extension::ReadList);
                let listed = match listed(ctx, job, cpp_slots, scan, &mut sources.listed)? {
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
                heard::reply(ctx, host, &r);
                let exact = dialect.is_exact();
                // A listing travels with the unit's files only: a reply
                // to the preprocessed text needs none (the listing left
                // by an exact attempt this host closed on included).
                let miss = exact
                    .then(|| unverified(&r, sources.listed.as_ref()))
                    .flatten();
                if let Some(miss) = miss {
                    // Redone here with the compiler's own listing; nothing
                    // of this reply is used, its diagnostics included.
                    if r.output(OutputKind::Reads).is_none() {
                        // A daemon that returns no list (distcc 3.4, one
                        // of ours from before the list) says nothing of
                        // the scanner: its jobs are listed by the
                        // compiler from now on.
                        pick::mark_unspoken(host, ctx.settings, pick::Extension::ReadList);
                        log::info!(
                            "{} on {host}: no list of files read came back; listing with the compiler",
                            job.input.to_string_lossy()
                        );
                    } else {
                        log::info!(
                            "{} on {host}: scanner miss: {}",
                            job.input.to_string_lossy(),
                            miss.0
                        );
                        ctx.state.listing(Listing::ScannerMiss);
                    }
                    sources.listed = None;
                    continue;
                }
                if dialect == Dialect::Hashed && !refused(&r) {
                    if let Some(l) = &sources.listed {
                        affinity::record(ctx.settings, host, &l.files);
                    }
                }
                return reply::accept(job, r, exact);
            }
            Answer::Compiled(c) => return Ok(c),
            // Listed again from the files as they are now (the scanner's
            // cache holds nothing under the new stamps, so they are read
            // this time); a unit that keeps changing is compiled here.
            Answer::Stale(why) if stale < 2 => {
                stale += 1;
                log::info!("{}: {why}; listing again", job.input.to_string_lossy());
                sources.listed = None;
            }
            Answer::Stale(why) => {
                return Err(Failed {
                    err: anyhow::anyhow!("{why}, again"),
                    blame: Blame::Local,
                })
            }
            // The host does not speak our extension (or its zstd form),
            // as remembered now. A -gsplit-dwarf job has no dialect but
            // the streamed one.
            Answer::Unspoken if job.split_dwarf() && !streamed::suits(ctx.settings, job, host) => {
                return Err(Failed {
                    err: anyhow::anyhow!(
                        "-gsplit-dwarf: {host} does not speak our streamed dialect"
                    ),
                    blame: Blame::Refused,
                })
            }
            // Otherwise the dialect to speak instead, on a new connection
            // (`temps` holds the whole source by now, so a streamed job
            // goes plain; a host without `,cpp` that refused exact mode
            // gets classic distcc). Each closing is remembered, so four
            // at most: the note, zstd, the hashed dialect, the streamed
            // one (distcc 3.4 closes on all of them, but is found out by
            // the status query on the first: `spoken::mark_closed_on`).
            Answer::Unspoken if dialect.plain().is_some() && closed_on < 4 => {
                closed_on += 1;
                let was_exact = dialect.is_exact();
                dialect = choose(ctx, job, host, sources);
                if was_exact && !dialect.is_exact() {
                    ctx.state.no_listing();
                }
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

/// Why a reply to a scanned job cannot be used, if it cannot. A refusal
/// (a distcc code) is no compile, so nothing to verify: it is handled as
/// any refusal.
fn unverified(reply: &Reply, listed: Option<&Listed>) -> Option<verify::Miss> {
    let listed = listed?;
    let expected = listed.expected.as_ref()?;
    if refused(reply) {
        return None;
    }
    verify::check(reply, &listed.cwd, expected).err()
}

/// Whether the daemon refused the job (a distcc code), so no compiler ran.
fn refused(reply: &Reply) -> bool {
    exit::exit_code(reply.status as i32).is_some_and(Code::is_distcc)
}

/// How much of the unit each of `hosts` holds already (`affinity`), for
/// the pick. Known only for our hosts spoken to in the hashed dialect
/// with a scanned listing, and only when the user's records say something
/// of two or more of them: then the unit's files are listed now, before
/// the pick rather than after it, and kept in `sources` for the attempt.
/// Otherwise nothing is listed and every host counts 0. `Err`: the
/// listing ran the compile here, whose result is final.
pub fn held(
    ctx: &Context,
    job: &Job,
    hosts: &[Host],
    cpp_slots: u32,
    sources: &mut Sources,
) -> Result<Vec<u8>, Compiled> {
    let none = vec![0; hosts.len()];
    if hosts.len() < 2 || !ctx.settings.scan || sources.listed.is_some() {
        return Ok(none);
    }
    let fresh = Sources::default();
    let scanned_hashed = |i: usize| {
        let h = &hosts[i];
        !h.is_local()
            && choose(ctx, job, h, &fresh) == Dialect::Hashed
            && pick::speaks(h, ctx.settings, pick::Extension::ReadList)
    };
    if (0..hosts.len()).filter(|&i| scanned_hashed(i)).count() < 2 {
        return Ok(none);
    }
    let filters = affinity::filters(ctx.settings, hosts, scanned_hashed);
    if filters.iter().all(Option::is_none) {
        return Ok(none);
    }
    match scanned::list(ctx, job, cpp_slots) {
        Ok(Ok(l)) => {
            let held = affinity::preference(&filters, &l.files);
            sources.listed = Some(l);
            Ok(held)
        }
        Ok(Err(compiled)) => Err(compiled),
        Err(f) => {
            // The attempt lists again and reports it as its own failure.
            log::debug!("listing before the pick: {:#}", f.err);
            Ok(none)
        }
    }
}

/// The unit's files, listed on the first attempt that needs them: by the
/// include scanner if `scan` allows (and it can tell), else by the
/// compiler. A scanned listing kept from an earlier attempt is listed
/// again by the compiler when this dialect cannot verify it.
fn listed<'a>(
    ctx: &Context,
    job: &Job,
    cpp_slots: u32,
    scan: bool,
    kept: &'a mut Option<Listed>,
) -> Result<Result<&'a Listed, Compiled>, Failed> {
    let scanned_here = kept.as_ref().is_some_and(|l| l.expected.is_some());
    // After a scanner miss the kept listing is gone: the compiler's, then.
    let rescan = scan && !ctx.state.had_scanner_miss();
    if kept.is_none() || (scanned_here && !scan) {
        let list = if rescan {
            scanned::list(ctx, job, cpp_slots)?
        } else {
            listing::list(ctx, job, cpp_slots)?
        };
        match list {
            Ok(l) => *kept = Some(l),
            Err(compiled) => return Ok(Err(compiled)),
        }
    }
    Ok(Ok(kept.as_ref().expect("listed above")))
}
