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
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Result};

use crate::helper::{self, Activity};
use crate::includes::agent::{self, Answer, Request, View};
use crate::includes::session::Session;

/// How long the agent outlives its last job: a build's pauses (a link,
/// a configure step) are shorter.
pub const IDLE: Duration = Duration::from_secs(60);

/// Units served before the agent hands over to a new one.
pub const SHARE: u64 = 50_000;

/// At most this many jobs are scanned at once, each by a worker with a
/// `Session` of its own (its memory is per worker): enough that a cold
/// `make -j64` start does not queue behind one scan at a time.
const MAX_WORKERS: usize = 4;

/// How long one job may take to send its question or take its answer.
const JOB_IO: Duration = Duration::from_secs(5);

type Job = (UnixStream, Arc<Activity>);

pub fn main(args: &[OsString]) -> Result<u8> {
    helper::close_inherited();
    let [dir] = args else {
        return Err(anyhow!(
            "usage: {} CACHE_DIR (started by distcc)",
            agent::PROGRAM
        ));
    };
    let dir = Path::new(dir);
    let kind = agent::kind()?;
    let listener = helper::Listener::bind(&dir.join(&kind.socket))?;
    let log = dir.join(agent::LOG);
    helper::note(&log, "listening");
    helper::say_ready();
    let view = View::here()?;
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    // A quota of a fraction of a CPU counts as one.
    let n = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_WORKERS));
    let workers: Vec<_> = (0..n)
        .filter_map(|i| {
            let (rx, dir, view) = (rx.clone(), dir.to_path_buf(), view.clone());
            std::thread::Builder::new()
                .name(format!("scan{i}"))
                .spawn(move || work(&rx, &dir, &view))
                .ok()
        })
        .collect();
    if workers.is_empty() {
        return Err(anyhow!("no worker thread could be started"));
    }
    let mut served = 0u64;
    let why = listener.serve(IDLE, |conn, activity| {
        activity.begin();
        if tx.send((conn, activity.clone())).is_err() {
            activity.end();
        }
        served += 1;
        served < SHARE
    });
    // The jobs already queued are answered before the agent ends.
    drop(tx);
    for w in workers {
        let _ = w.join();
    }
    helper::note(&log, why);
    Ok(0)
}

/// A worker: takes jobs until the queue closes.
fn work(jobs: &Mutex<mpsc::Receiver<Job>>, dir: &Path, view: &View) {
    let mut session = Session::open(dir);
    loop {
        let next = jobs.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok((conn, activity)) = next else {
            return;
        };
        if session.cache_replaced() {
            session = Session::open(dir);
        }
        serve(conn, &mut session, view);
        activity.end();
    }
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
