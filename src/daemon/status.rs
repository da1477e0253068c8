//! The answer to a status query (`protocol::status`), from what the
//! server counts: given on the accept loop's thread by `reception`, so it
//! never waits for a worker or a job slot, and costs no more than reading
//! a few counters and /proc/loadavg. The same goes in a reply's note
//! (`protocol::note`), from the worker that replies ([`now`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::machine;
use super::server::Server;
use crate::protocol::note::{CacheUse, Note};
use crate::protocol::status::Status;

/// What the accept loop counts, where a worker can read it.
#[derive(Debug, Default)]
pub struct Counts {
    /// Connections served by workers (`listen` counts them).
    pub open: Arc<AtomicUsize>,
    /// Connections ready for a worker, as of the accept loop's last turn.
    pub waiting: AtomicUsize,
}

/// The server's status as a worker sees it: its own connection is among
/// the open ones, as the client that reads the note holds its slot lock.
pub fn now(server: &Server) -> Status {
    let c = &server.counts;
    of(
        server,
        c.open.load(Ordering::SeqCst),
        c.waiting.load(Ordering::SeqCst),
    )
}

/// The note after a reply: what the cache said of the job (`None`: it was
/// not looked up) and the status now.
pub fn note(server: &Server, cache: Option<CacheUse>) -> Note {
    Note {
        cache,
        status: Some(now(server)),
    }
}

/// The server's status; `workers` are connections being served (reading
/// a request, compiling, replying) and `waiting` those ready for a worker.
pub fn of(server: &Server, workers: usize, waiting: usize) -> Status {
    let running = server.stats.running() as usize;
    Status {
        slots: server.jobs,
        running: running as u32,
        queued: (workers.saturating_sub(running) + waiting) as u32,
        cores: server.cores,
        load: machine::load_average()[0],
        draining: server.draining.load(std::sync::atomic::Ordering::SeqCst),
    }
}
