//! The host loop: take a slot on a volunteer (`pick`, through the slot
//! locks and the backoff records), make one attempt there (`attempt`),
//! and on a failure decide between another host, the fallback here, or
//! distcc's own exit code (`DISTCC_FALLBACK=0`). A `localhost` entry runs
//! the job here as a host of its own.

use anyhow::{anyhow, Result};

use super::attempt::{self, Sources};
use super::context::Context;
use super::job::Job;
use super::local;
use super::lock;
use super::outcome::{Blame, Compiled};
use super::pick;
use crate::exit::Code;
use crate::hosts::{self, HostList};
use crate::state::Phase;

/// Compiles `job` on the hosts, or here when distribution fails.
pub fn run(ctx: &Context, job: &Job) -> Result<u8> {
    let loaded = match hosts::load(ctx.settings) {
        Ok(Some(l)) if !l.list.hosts.is_empty() => l,
        Ok(_) => {
            return fallback(
                ctx,
                anyhow!(Code::NoHosts)
                    .context("no hosts configured (set DISTCC_HOSTS or write ~/.distcc/hosts)"),
            )
        }
        Err(e) => return fallback(ctx, e),
    };
    log::debug!("hosts from {}", loaded.source);
    let mut sources = Sources::default();
    let result = hosts_in_turn(ctx, job, &loaded.list, &mut sources);
    keep_temps(ctx, sources);
    match result? {
        Ok(Compiled(code)) => Ok(code),
        Err(last_err) => {
            // Only a compile that will run here waits for a local slot.
            let _local_slot = match loaded.list.local_slots.filter(|_| ctx.settings.fallback) {
                Some(n) => {
                    let local = [lock::SlotRequest {
                        key: "localhost",
                        limit: n,
                    }];
                    lock::acquire(&pick::lock_dir(ctx.settings), &local, &|_| false)?
                }
                None => None,
            };
            fallback(ctx, last_err)
        }
    }
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
) -> Result<Result<Compiled, anyhow::Error>> {
    let hosts = pick::ordered(list);
    let mut tried: Vec<usize> = Vec::new();
    let mut last_err = None;
    let mut retried = false;
    while tried.len() < hosts.len() {
        ctx.state.phase(Phase::Blocked);
        let Some(slot) = pick::pick(&hosts, ctx.settings, &tried, !retried)? else {
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
                if f.backs_off() {
                    pick::mark_failed(host, ctx.settings, &format!("{:#}", f.err));
                }
                let err = f.err.context(host.to_string());
                log::warn!("{err:#}");
                last_err = Some(err);
                match f.blame {
                    Blame::Local => break,
                    Blame::Unreachable => {}
                    Blame::MidJob | Blame::Refused if retried => break,
                    Blame::MidJob | Blame::Refused => retried = true,
                }
            }
        }
    }
    Ok(Err(last_err.unwrap_or_else(|| {
        anyhow!(Code::Busy).context("every host is backed off after recent failures")
    })))
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

/// Distribution failed: compile here, with one line saying so, unless
/// `DISTCC_FALLBACK=0`.
fn fallback(ctx: &Context, err: anyhow::Error) -> Result<u8> {
    if !ctx.settings.fallback {
        return Err(err.context("distribution failed and DISTCC_FALLBACK=0"));
    }
    eprintln!("distcc: warning: {err:#}; compiling locally");
    ctx.state.fallback(&format!("{err:#}"));
    local::run_status(ctx.compiler, ctx.args)
}

/// Local preprocessors allowed at once: `--localslots_cpp` in the host
/// list, else one per core, so `make -j50` does not thrash the workstation.
fn cpp_slots(list: &HostList) -> u32 {
    list.local_slots_cpp.unwrap_or_else(crate::sys::online_cpus)
}
