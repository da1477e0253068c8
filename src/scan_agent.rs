//! `distcc-scan-agent`: the per-user process that scans units for the
//! client's jobs (see `includes::agent` for why and how a client uses
//! it). Started by a client, never by hand: argv[0] names it, its one
//! argument is the client's scan cache dir, and descriptor 3 is where it
//! says it listens.
//!
//! It is a `helper`: its own user only, ending itself when idle for
//! [`IDLE`], when its socket file is removed or replaced, or after
//! [`SHARE`] units (what it keeps in memory grows with every file it has
//! seen; a new agent starts from the cache file). Jobs are served in the
//! order they came by a few workers, each with a `Session` of its own
//! (not thread-safe) that keeps everything warm; none changes the
//! process's working dir (paths in a job are absolute or the job's cwd's,
//! and compiler probes run in dirs of their own). It notes when it starts
//! and ends, with its pid, in the cache dir's `scan-agent.log`.

use std::ffi::OsString;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};

use crate::helper;
use crate::includes::agent::{self, Answer, Request, View};
use crate::includes::session::Session;

/// How long the agent outlives its last job: a build's pauses (a link,
/// a configure step) are shorter.
pub const IDLE: Duration = Duration::from_secs(60);

/// Units served before the agent hands over to a new one.
pub const SHARE: u64 = 50_000;

/// At most this many jobs are scanned at once, each by a worker with a
/// `Session` of its own (its memory is per worker): enough that a cold
/// `make -j64` start does not queue behind one scan at a time. Each
/// worker accepts its own connections: no hand-over between threads.
const MAX_WORKERS: usize = 4;

/// How long one job may take to send its question or take its answer.
const JOB_IO: Duration = Duration::from_secs(5);

pub fn main(args: &[OsString]) -> Result<u8> {
    helper::close_inherited();
    let [dir] = args else {
        return Err(anyhow!(
            "usage: {} CACHE_DIR (started by distcc)",
            agent::PROGRAM
        ));
    };
    let dir = Path::new(dir);
    // Before listening: an agent that cannot serve must not leave a
    // socket for jobs to find.
    let view = View::here()?;
    let kind = agent::kind()?;
    let listener = helper::Listener::bind(&dir.join(&kind.socket))?;
    let log = dir.join(agent::LOG);
    helper::note(&log, "listening");
    helper::say_ready();
    // Half the CPUs it may use (a quota of a fraction of one counts as
    // one): the jobs' own processes and make share them.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = (cpus / 2).clamp(1, MAX_WORKERS);
    let served = Arc::new(AtomicU64::new(0));
    let why = listener.serve_pool(IDLE, n, || {
        let (dir, view, served) = (dir.to_path_buf(), view.clone(), served.clone());
        let mut session = Session::open(&dir);
        Box::new(move |conn| {
            if session.cache_replaced() {
                session = Session::open(&dir);
            }
            serve(conn, &mut session, &view);
            served.fetch_add(1, Ordering::SeqCst) + 1 < SHARE
        })
    });
    helper::note(&log, why);
    Ok(0)
}

/// One job: its question, the scan, the answer. A job that goes away or
/// sends nonsense gets nothing, and the agent goes on.
fn serve(mut conn: UnixStream, session: &mut Session, view: &View) {
    if conn.set_read_timeout(Some(JOB_IO)).is_err() || conn.set_write_timeout(Some(JOB_IO)).is_err()
    {
        return;
    }
    let Ok(bytes) = agent::read_message(&mut conn) else {
        return;
    };
    let answer = match Request::decode(&bytes) {
        None => Answer::Refused("a malformed request".into()),
        Some(q) => answer(&q, session, view),
    };
    let _ = agent::write_message(&mut conn, &agent::encode_reply(&answer));
}

fn answer(q: &Request, session: &mut Session, view: &View) -> Answer {
    if q.view != *view {
        // Names would not mean the same files here.
        return Answer::Refused("the job sees another root or mount namespace".into());
    }
    if !q.compiler.is_absolute() || !q.unit.cwd.is_absolute() {
        // Relative names would be looked up from the agent's dir.
        return Answer::Refused("a relative compiler or working dir".into());
    }
    let (r, told) = session.scan_told(&q.compiler(), &q.unit);
    Answer::Scanned(r, told)
}
