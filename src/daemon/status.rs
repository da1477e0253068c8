//! The answer to a status query (`protocol::status`), from what the
//! server counts: given on the accept loop's thread by `reception`, so it
//! never waits for a worker or a job slot, and costs no more than reading
//! a few counters and /proc/loadavg.

use super::machine;
use super::server::Server;
use crate::protocol::status::Status;

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
