//! What the client makes of the note our daemon adds after a reply
//! (`protocol::note`): whether the result came from the volunteer's cache,
//! said under `DISTCC_VERBOSE` and kept in the job's history record (for
//! `distccmon-text --summary`), and the volunteer's load, kept as its
//! status entry (`status::heard`) for placing the next jobs.

use super::context::Context;
use super::status;
use crate::hosts::Host;
use crate::protocol::note::CacheUse;
use crate::protocol::Reply;

/// Acts on `reply`'s note from `host`, if it has one.
pub fn reply(ctx: &Context, host: &Host, reply: &Reply) {
    let Some(note) = &reply.note else {
        ctx.state.cache(None);
        return;
    };
    match note.cache {
        Some(CacheUse::Hit) => log::info!("{host}: result from the daemon's cache"),
        Some(CacheUse::Miss) => log::info!("{host}: not in the daemon's cache; compiled there"),
        Some(CacheUse::Off) | None => {}
    }
    ctx.state.cache(note.cache);
    if let Some(st) = note.status {
        status::heard(host, ctx.settings, st);
    }
}
