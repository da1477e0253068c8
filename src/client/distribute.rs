//! The host loop: take a slot on a volunteer (`pick`, through the slot
//! locks and the backoff records), make one attempt there (`attempt`),
//! and on a failure decide between another host, the fallback here, or
//! distcc's own exit code (`DISTCC_FALLBACK=0`). A `localhost` entry runs
//! the job here as a host of its own.
//!
//! Why a job ran where it did is always said: each attempt that fails, a
//! host skipped in backoff (with the failure that put it there), and the
//! fallback with its reason, which the history records word for word for
//! `distccmon-text --summary`.

use std::time::SystemTime;

use anyhow::{anyhow, Result};

use super::attempt::{self, Sources};
use super::context::Context;
use super::job::Job;
use super::local;
use super::lock;
use super::outcome::{Blame, Compiled};
use super::pick;
use super::resolve;
use crate::exit::Code;
use crate::hosts::{self, HostList, Loaded};
use crate::state::{self, backoff, Phase};

/// Why distribution failed: the last host tried, if any, and its error.
struct Failure {
    host: Option<String>,
    err: anyhow::Error,
}

/// Compiles `job` on the hosts, or here when distribution fails.
pub fn run(ctx: &Context, job: &Job) -> Result<u8> {
    let (loaded, list) = match hosts::load(ctx.settings) {
        Ok(Some(l)) => {
            let list = resolve::expand(&l.list, &ctx.settings.dir);
            if list.hosts.is_empty() {
                return fallback(ctx, job, None, no_hosts(Some(&l)));
            }
            (l, list)
        }
        Ok(None) => return fallback(ctx, job, None, no_hosts(None)),
        Err(e) => return fallback(ctx, job, None, e),
    };
    log::debug!("hosts from {}", loaded.source);
    let mut sources = Sources::default();
    let result = hosts_in_turn(ctx, job, &list, &mut sources);
    keep_temps(ctx, sources);
    match result? {
        Ok(Compiled(code)) => Ok(code),
        Err(Failure { host, err }) => {
            // Only a compile that will run here waits for a local slot.
            let _local_slot = match list.local_slots.filter(|_| ctx.settings.fallback) {
                Some(n) => {
                    let local = [lock::SlotRequest {
                        key: "localhost",
                        limit: n,
                    }];
                    lock::acquire(&pick::lock_dir(ctx.settings), &local, &|_| false)?
                }
                None => None,
            };
            fallback(ctx, job, host, err)
        }
    }
}

/// A host list with no hosts, in distcc 3.4's words, naming where it was
/// looked for.
fn no_hosts(loaded: Option<&Loaded>) -> anyhow::Error {
    let why = match loaded {
        Some(l) if l.source == "DISTCC_HOSTS" => {
            "$DISTCC_HOSTS contained no hosts; can't distribute work".to_string()
        }
        Some(l) => format!("{} contained no hosts; can't distribute work", l.source),
        None => "no hostlist is set; can't distribute work".to_string(),
    };
    anyhow!(Code::NoHosts).context(why)
}

/// Tries the hosts until one compiles the job. Unreachable hosts are
/// skipped freely; a host that fails mid-job costs one retry elsewhere, if
/// a slot is free right then. `Ok(Err(..))` is the last failure, for the
/// fallback; `Err` a failure of our own locks.
fn hosts_in_turn(
    ctx: &Context,
    job: &Job,
    list: &HostList,
    sources: &mut Sources,
) -> Result<Result<Compiled, Failure>> {
    let hosts = pick::ordered(list);
    if log::log_enabled!(log::Level::Info) {
        for (key, ago, why) in backed_off(ctx, &hosts) {
            log::info!("{key} is backed off ({ago} s ago: {why}); skipping it");
        }
    }
    let held = match attempt::held(ctx, job, &hosts, cpp_slots(list), sources) {
        Ok(held) => held,
        Err(compiled) => return Ok(Ok(compiled)),
    };
    let mut tried: Vec<usize> = Vec::new();
    let mut last = None;
    let mut retried = false;
    while tried.len() < hosts.len() {
        ctx.state.phase(Phase::Blocked);
        let Some(slot) = pick::pick(&hosts, ctx.settings, &tried, !retried, &held)? else {
            break;
        };
        let host = &hosts[slot.host];
        tried.push(slot.host);
        if pick::is_backed_off(host, ctx.settings) {
            // It failed for another client while we waited for its slot.
            continue;
        }
        ctx.state.host(&host.key(), slot.slot);
        if host.is_local() {
            log::info!("compiling {} on localhost", job.input.to_string_lossy());
            ctx.state.local("localhost is in the host list");
            return local::run_status(ctx.compiler, ctx.args).map(|c| Ok(Compiled(c)));
        }
        match attempt::run(ctx, job, host, cpp_slots(list), sources) {
            Ok(compiled) => {
                ctx.state.remote_done();
                pick::mark_ok(host, ctx.settings);
                return Ok(Ok(compiled));
            }
            Err(f) => {
                ctx.state.host_failed();
                let why = describe(&f.err);
                if f.backs_off() {
                    pick::mark_failed(host, ctx.settings, &why);
                }
                log::info!("{} on {}: {why}", job.input.to_string_lossy(), host.key());
                let blame = f.blame;
                last = Some(Failure {
                    host: Some(host.key()),
                    err: f.err,
                });
                match blame {
                    Blame::Local => break,
                    Blame::Unreachable | Blame::Mismatched => {}
                    Blame::MidJob | Blame::Refused if retried => break,
                    Blame::MidJob | Blame::Refused => retried = true,
                }
            }
        }
    }
    Ok(Err(last.unwrap_or_else(|| Failure {
        host: None,
        err: all_backed_off(ctx, &hosts),
    })))
}

/// The hosts of `hosts` in backoff now: key, seconds since the failure,
/// and the failure, as the records have them.
fn backed_off(ctx: &Context, hosts: &[hosts::Host]) -> Vec<(String, u64, String)> {
    let keys: Vec<String> = hosts.iter().map(hosts::Host::key).collect();
    let now = SystemTime::now();
    backoff::list(&state::dir(ctx.settings))
        .into_iter()
        .filter(|(key, since, _)| {
            keys.contains(key)
                && now.duration_since(*since).unwrap_or_default() < ctx.settings.backoff_period
        })
        .map(|(key, since, why)| {
            let ago = now.duration_since(since).unwrap_or_default().as_secs();
            (key, ago, why)
        })
        .collect()
}

/// Every host is in backoff: say for what. The words leave out when, so
/// the summary counts the jobs a failure kept here together.
fn all_backed_off(ctx: &Context, hosts: &[hosts::Host]) -> anyhow::Error {
    let reasons: Vec<String> = backed_off(ctx, hosts)
        .into_iter()
        .map(|(key, _, why)| format!("{key}: {why}"))
        .collect();
    let mut text = "every host is backed off after recent failures".to_string();
    if !reasons.is_empty() {
        text = format!("{text} ({})", reasons.join("; "));
    }
    anyhow!(Code::NoHosts).context(text)
}

/// An error's chain as a reason, without distcc's code at its root (the
/// exit status says that).
pub fn describe(err: &anyhow::Error) -> String {
    err.chain()
        .filter(|c| c.downcast_ref::<Code>().is_none())
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

/// `DISTCC_SAVE_TEMPS`: keeps the preprocessed source and says where.
fn keep_temps(ctx: &Context, sources: Sources) {
    if let Some(t) = sources.temps {
        if ctx.settings.save_temps {
            let kept = t.keep();
            eprintln!("distcc: temp files kept in {}", kept.display());
        }
    }
}

/// Distribution failed: compile here, with one line saying why (on stderr,
/// or in `DISTCC_LOG`), unless `DISTCC_FALLBACK=0`.
fn fallback(ctx: &Context, job: &Job, host: Option<String>, err: anyhow::Error) -> Result<u8> {
    let src = job.input.to_string_lossy();
    let to = host
        .as_ref()
        .map(|h| format!(" to {h}"))
        .unwrap_or_default();
    if !ctx.settings.fallback {
        return Err(err.context(format!(
            "failed to distribute {src}{to} and fallbacks are disabled"
        )));
    }
    let why = describe(&err);
    log::warn!("failed to distribute {src}{to}, running locally instead: {why}");
    // The history keeps the reason in the same words; the hosts that
    // failed are in its record already.
    ctx.state.fallback(&why);
    local::run_status(ctx.compiler, ctx.args)
}

/// Local preprocessors allowed at once: `--localslots_cpp` in the host
/// list, else one per core, so `make -j50` does not thrash the workstation.
fn cpp_slots(list: &HostList) -> u32 {
    list.local_slots_cpp.unwrap_or_else(crate::sys::online_cpus)
}
