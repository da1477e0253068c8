//! `distcc-scan-agent`: the per-user process that scans units for the
//! client's jobs (see `includes::agent` for why and how a client uses
//! it). Started by a client, never by hand: argv[0] names it, its one
//! argument is the client's scan cache dir, and descriptor 3 is where it
//! says it listens.
//!
//! It is a `helper`: its own user only, ending itself when idle for
//! [`IDLE`], when its socket file is removed or replaced, or after
//! [`SHARE`] units (what it keeps in memory grows with every file it has
//! seen; a new agent starts from the cache file). Connections are served
//! one at a time, in the order they came: a scan is a millisecond or two,
//! and one `Session` (not thread-safe) keeps everything warm. It notes
//! when it starts and ends, with its pid, in the cache dir's
//! `scan-agent.log`.

use std::ffi::OsString;
use std::os::unix::net::UnixStream;
use std::path::Path;
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

/// How long one job may take to send its question or take its answer:
/// the agent serves one at a time.
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
    let kind = agent::kind()?;
    let listener = helper::Listener::bind(&dir.join(&kind.socket))?;
    let log = dir.join(agent::LOG);
    helper::note(&log, "listening");
    helper::say_ready();
    let view = View::here()?;
    let mut session = Session::open(dir);
    let mut served = 0u64;
    let why = listener.serve(IDLE, |conn, _| {
        if session.cache_replaced() {
            session = Session::open(dir);
        }
        serve(conn, &mut session, &view);
        served += 1;
        served < SHARE
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
    // Paths are the job's; a compiler run (a probe) starts where it would.
    if let Err(e) = std::env::set_current_dir(&q.unit.cwd) {
        return Answer::Refused(format!("cannot enter {}: {e}", q.unit.cwd.display()));
    }
    let (r, told) = session.scan_told(&q.compiler(), &q.unit);
    let _ = std::env::set_current_dir("/");
    Answer::Scanned(r, told)
}
