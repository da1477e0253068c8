//! `distcc-tls-agent`: the per-user process that keeps TLS sessions with
//! volunteers for the client's jobs (see `transport::agent` for why and
//! how a client uses it). Started by a client, never by hand: argv[0]
//! names it, its one argument is the client's TLS directory, and
//! descriptor 3 is where it says it listens.
//!
//! It listens on `agent.sock` in that directory, as a `helper` (its own
//! user only, ending itself when idle for [`IDLE`] or when its socket
//! file is removed or replaced), one thread per connection (`relay`).
//! It notes when it starts and ends, with its pid, in `agent.log` beside
//! the socket.

mod keys;
mod relay;

use std::ffi::OsString;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};

use crate::helper;
use crate::transport::agent::SOCKET;

/// How long the agent outlives its last connection.
pub const IDLE: Duration = Duration::from_secs(60);

pub fn main(args: &[OsString]) -> Result<u8> {
    helper::close_inherited();
    let [dir] = args else {
        return Err(anyhow!(
            "usage: distcc-tls-agent TLS_DIR (started by distcc)"
        ));
    };
    let dir = Path::new(dir);
    let listener = helper::Listener::bind(&dir.join(SOCKET))?;
    let keys = Arc::new(keys::Keys::new(dir));
    helper::note(&dir.join(LOG), "listening");
    helper::say_ready();
    let why = listener.serve(IDLE, |conn, activity| {
        spawn(conn, &keys, activity);
        true
    });
    helper::note(&dir.join(LOG), why);
    Ok(0)
}

/// The file where agents note their start and end.
pub const LOG: &str = "agent.log";

/// Serves `conn` on a thread of its own, counted as activity until it
/// ends.
fn spawn(conn: UnixStream, keys: &Arc<keys::Keys>, activity: &Arc<helper::Activity>) {
    let (keys, counted) = (keys.clone(), activity.clone());
    activity.begin();
    let spawned = std::thread::Builder::new()
        .name("relay".into())
        .spawn(move || {
            relay::serve(conn, &keys);
            counted.end();
        });
    if spawned.is_err() {
        // The connection was dropped with the closure: the client sees it
        // closed and connects by itself.
        activity.end();
    }
}
