//! Which volunteer gets a job: the host list (`hosts::load`), minus hosts
//! in backoff, through the slot locks, in the order `place` ranks them
//! when our daemons say how busy they are (distcc's own order otherwise);
//! and what the client remembers of each host between jobs (failures,
//! extensions it refused).

use anyhow::Result;

use super::lock::{self, Slot, SlotRequest};
use super::place;
pub use super::spoken::{
    extension_codec, mark_closed_on, mark_unspoken, notes, shadows, speaks, Extension,
};
use crate::hosts::{Host, HostList};
use crate::settings::Settings;
use crate::state::{self, backoff};

pub use super::lock::dir as lock_dir;

/// The hosts in preference order (shuffled under `--randomize`).
pub fn ordered(list: &HostList) -> Vec<Host> {
    let mut hosts = list.hosts.clone();
    if list.randomize && hosts.len() > 1 {
        // A cheap per-process shuffle is enough to spread clients.
        let mut x = std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15;
        for i in (1..hosts.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            hosts.swap(i, (x % (i as u64 + 1)) as usize);
        }
    }
    hosts
}

/// Takes a slot on the first host with room, skipping hosts in backoff
/// and those in `exclude`; waits when every slot is busy (`wait`), or
/// returns `None` at once. `None` also when every host is skipped.
/// `held`: how much of the unit each host holds already (`affinity`).
pub fn pick(
    hosts: &[Host],
    settings: &Settings,
    exclude: &[usize],
    wait: bool,
    held: &[u8],
) -> Result<Option<Slot>> {
    let keys: Vec<String> = hosts.iter().map(Host::key).collect();
    let requests: Vec<SlotRequest> = keys
        .iter()
        .zip(hosts)
        .map(|(k, h)| SlotRequest {
            key: k,
            limit: h.limit,
        })
        .collect();
    let state = state::dir(settings);
    let skip = |i: usize| {
        exclude.contains(&i) || backoff::is_backed_off(&state, &keys[i], settings.backoff_period)
    };
    let dir = lock_dir(settings);
    let active: Vec<usize> = (0..hosts.len()).filter(|&i| !skip(i)).collect();
    if let Some(ranked) = place::rank(hosts, &active, settings, held) {
        return pick_ranked(&dir, &requests, &ranked, wait);
    }
    if wait {
        lock::acquire(&dir, &requests, &skip)
    } else {
        lock::try_acquire(&dir, &requests, &skip)
    }
}

/// A free slot on the first host of `ranked` that has one; when none has,
/// the first slot to free on any of them (`wait`), or `None`.
fn pick_ranked(
    dir: &std::path::Path,
    requests: &[SlotRequest],
    ranked: &[usize],
    wait: bool,
) -> Result<Option<Slot>> {
    let picked: Vec<SlotRequest> = ranked.iter().map(|&i| requests[i]).collect();
    for (at, one) in picked.iter().enumerate() {
        if let Some(mut slot) = lock::try_acquire(dir, std::slice::from_ref(one), &|_| false)? {
            slot.host = ranked[at];
            return Ok(Some(slot));
        }
    }
    if !wait {
        return Ok(None);
    }
    let slot = lock::acquire(dir, &picked, &|_| false)?;
    Ok(slot.map(|mut s| {
        s.host = ranked[s.host];
        s
    }))
}

pub fn is_backed_off(host: &Host, settings: &Settings) -> bool {
    backoff::is_backed_off(&state::dir(settings), &host.key(), settings.backoff_period)
}

/// Remembers that `host` failed so every client skips it for a while.
pub fn mark_failed(host: &Host, settings: &Settings, why: &str) {
    if settings.backoff_period.is_zero() {
        return;
    }
    if let Err(e) = backoff::mark_failed(&state::dir(settings), &host.key(), why) {
        log::warn!("cannot record backoff for {host}: {e:#}");
    }
}

pub fn mark_ok(host: &Host, settings: &Settings) {
    backoff::clear(&state::dir(settings), &host.key()).ok();
}
