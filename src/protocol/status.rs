//! Our status query, spoken only between our own client and daemon: how
//! busy a volunteer is, asked on its compile port and answered before any
//! worker or job slot is involved, so asking costs the daemon a read and a
//! write. The client places jobs by it (`client::place`).
//!
//! ```text
//! client: DIST 00000110
//! daemon: STUS len body        body: "KEY VALUE\n" lines, ASCII
//! ```
//!
//! Keys (unknown ones are ignored, missing ones read as zero, so either
//! side may add some): `slots` (`--jobs`), `running` (compilers holding a
//! slot), `queued` (requests in progress that hold none yet: waiting for
//! a slot or for a worker, or still arriving), `cores` (the CPUs its
//! compilers may use: online CPUs within its affinity and its cgroup's
//! quota, fractional), `load` (the one-minute load average), `draining`
//! (1 after SIGTERM: it finishes what it runs and takes nothing new).
//! A reference daemon closes the connection on the unknown version; the
//! client remembers that, as for our other extensions.

use std::fmt::Write as _;
use std::io::{self, Read, Write};

use super::error::{Result, WireError};
use super::packet::{header, read_header, read_raw};
use super::token::{Token, DIST, HEADER_LEN};

/// `DIST` value of a status query.
pub const QUERY: u32 = 0x110;
/// The answer's token.
pub const STUS: &Token = b"STUS";
/// Largest answer body a client reads.
pub const MAX_BODY: u32 = 4096;

/// What a volunteer says about its load.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Status {
    pub slots: u32,
    pub running: u32,
    pub queued: u32,
    pub cores: f64,
    pub load: f64,
    pub draining: bool,
}

/// The query's bytes.
pub fn query() -> [u8; HEADER_LEN] {
    header(DIST, QUERY)
}

/// What the first bytes of a connection say about a status query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// Too few bytes to tell.
    Maybe,
    /// A status query, whole.
    Yes,
    /// Something else.
    No,
}

/// Whether `buf`, a connection's first bytes, is a status query.
pub fn is_query(buf: &[u8]) -> Asked {
    let q = query();
    let n = buf.len().min(q.len());
    if buf[..n] != q[..n] {
        Asked::No
    } else if n < q.len() {
        Asked::Maybe
    } else {
        Asked::Yes
    }
}

impl Status {
    /// The body's text.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(96);
        let _ = write!(
            s,
            "slots {}\nrunning {}\nqueued {}\ncores {:.2}\nload {:.2}\ndraining {}\n",
            self.slots,
            self.running,
            self.queued,
            self.cores,
            self.load,
            u8::from(self.draining)
        );
        s
    }

    /// Parses a body; a malformed value is an error, an unknown key not.
    pub fn from_text(text: &str) -> Result<Status> {
        let mut s = Status::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            let bad = || WireError::BadValue {
                token: *STUS,
                why: format!("bad status line {line:?}"),
            };
            let int = || value.parse::<u32>().map_err(|_| bad());
            let real = || {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(bad)
            };
            match key {
                "slots" => s.slots = int()?,
                "running" => s.running = int()?,
                "queued" => s.queued = int()?,
                "cores" => s.cores = real()?,
                "load" => s.load = real()?,
                "draining" => s.draining = int()? != 0,
                _ => {}
            }
        }
        Ok(s)
    }
}

/// Writes the answer.
pub fn write_status<W: Write>(w: &mut W, status: &Status) -> io::Result<()> {
    let text = status.to_text();
    let mut buf = header(STUS, text.len() as u32).to_vec();
    buf.extend_from_slice(text.as_bytes());
    w.write_all(&buf)
}

/// Reads the answer.
pub fn read_status<R: Read>(r: &mut R) -> Result<Status> {
    let len = read_header(r, STUS)?;
    if len > MAX_BODY {
        return Err(WireError::TooLarge {
            token: *STUS,
            len: len as u64,
            limit: MAX_BODY as u64,
        });
    }
    let body = read_raw(r, STUS, len as usize)?;
    let text = String::from_utf8(body).map_err(|_| WireError::BadValue {
        token: *STUS,
        why: "status is not text".into(),
    })?;
    Status::from_text(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_tolerates_new_keys() {
        let s = Status {
            slots: 4,
            running: 3,
            queued: 2,
            cores: 0.25,
            load: 1.5,
            draining: true,
        };
        let mut buf = Vec::new();
        write_status(&mut buf, &s).unwrap();
        assert_eq!(read_status(&mut &buf[..]).unwrap(), s);
        let more = format!("{}identity gcc-12 abc\n", s.to_text());
        assert_eq!(Status::from_text(&more).unwrap(), s);
        assert!(Status::from_text("slots many\n").is_err());
        assert!(Status::from_text("cores -1\n").is_err());
        let mut huge = header(STUS, MAX_BODY + 1).to_vec();
        huge.resize(HEADER_LEN + MAX_BODY as usize + 1, b'x');
        assert!(read_status(&mut &huge[..]).is_err());
    }

    #[test]
    fn queries_are_told_from_requests_by_their_first_bytes() {
        let q = query();
        assert_eq!(is_query(&q[..3]), Asked::Maybe);
        assert_eq!(is_query(&q), Asked::Yes);
        assert_eq!(is_query(&header(DIST, 2)), Asked::No);
        assert_eq!(is_query(b"DIST0000011"), Asked::Maybe);
        assert_eq!(is_query(b"GET /"), Asked::No);
    }
}
