//! The result cache's part in running a job (`job::run`, which answers a hit): the lookup
//! before a job slot is taken, the answer from a hit without a slot or a
//! compiler, and keeping a finished compile's reply. The cache itself,
//! its keys and its entries are `cache`'s.

use super::cache::Compile;
use super::prepared::Job;
use super::run::{Ended, Finished};
use super::server::Server;
use crate::protocol::hashed::Digest;
use crate::protocol::Reply;

/// What the result cache says of a job.
pub enum Looked {
    Hit(Reply),
    /// Not cached: its key, to keep the result under.
    Miss(Digest),
    /// No cache, or a job it cannot key.
    Off,
}

pub fn lookup(server: &Server, job: &mut Job) -> Looked {
    let (Some(cache), Some(inputs)) = (&server.cache, &job.inputs) else {
        return Looked::Off;
    };
    if let Some(reply) = job.cached.take() {
        return Looked::Hit(reply);
    }
    let compile = Compile {
        program: &job.program,
        args: &job.args,
        cwd: &job.cwd,
        dir: job.dir.path(),
        version: job.reply.version.number(),
        reads: job.reads.is_some(),
        source: &job.source,
        setting: &server.cache_setting,
        inputs,
    };
    let Some(key) = cache.key(&compile) else {
        return Looked::Off;
    };
    match cache.get(&key) {
        Some(reply) => Looked::Hit(reply),
        None => Looked::Miss(key),
    }
}

/// Keeps a compile's reply in the result cache before it is sent, so a
/// client that has its result knows the next one will find it. Only a
/// compile that ended by itself, and was not refused for room, is the
/// compile's own result. The reply holds every output a fresh one sends
/// (the split DWARF file, the list of files read), so a hit is the same.
pub fn keep(server: &Server, key: &Digest, finished: &Finished, reply: &Reply) {
    let Some(cache) = &server.cache else { return };
    let exited = finished.ended == Ended::Exited && libc::WIFEXITED(finished.status);
    if exited && reply.status == finished.status as u32 {
        if let Err(e) = cache.put(key, reply) {
            log::warn!("result not cached: {e:#}");
        }
    }
}
