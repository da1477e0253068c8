//! The reception stage: connections the standalone server has accepted but
//! that have not yet earned a worker. One thread (the accept loop's) holds
//! them all with one epoll set, so an idle socket costs a descriptor and a
//! few bytes, never a thread, a job slot or an early-start token, and a
//! thousand of them do not delay a real client by a millisecond.
//!
//! A connection earns its worker (`listen` hands it to `request` on a
//! thread of its own) once its request is progressing:
//! - `Silent`: nothing sent yet, for up to the I/O timeout. Silence costs
//!   nothing here, and a client may be silent for good reason: ours
//!   connects while its preprocessor runs, and sends once it is done.
//! - `Head`: from its first byte, its request head (`DIST` ... `ARGV`)
//!   must arrive within [`HEAD_TIMEOUT`] (or the I/O timeout, if
//!   shorter): real clients send it in one piece, a trickle is cut off. A
//!   head that arrives whole is parsed here; a large one (over
//!   [`HEAD_BUFFER`]) is handed on as soon as that much has come, since
//!   it came fast.
//! - `Body`: then, unless the client waits for our answer (our streamed
//!   extension does), the rest must start within the I/O timeout: distcc
//!   3.4 sends its head, then preprocesses, then the source, and waiting
//!   for its preprocessor costs nothing here.
//! - `Ready`: waiting for a worker, first come first served, when
//!   `--max-connections` workers are busy; not read meanwhile.
//! - `Draining`: a request refused before it earned a worker (over a
//!   limit, malformed, or any new request once the server is draining
//!   after SIGTERM) has had its answer; what it still sends is read and
//!   dropped for a few seconds, so it reads the answer rather than a reset.
//!   A status query (`protocol::status`) is answered here too, at once,
//!   and never earns a worker.
//!
//! On the TLS port (`tls`), `Head` waits for the client's first TLS record
//! instead, and a plaintext distcc request there is refused in its own
//! protocol once its head is in.
//!
//! A connection that closes, errs or misses its deadline is closed without
//! a word. When the stage is full, the connection closest to its deadline
//! goes first. Past the worker, the request's pace is `deadline`'s.

use std::collections::{BTreeSet, VecDeque};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::hello::{self, Hello};
use super::job;
use super::refusal::Refusal;
use super::server::Server;
use super::status;
use crate::exit::Code;
use crate::protocol::status::{self as query, Asked};
use crate::protocol::{self, Dist, Limits, ReplyForm, WireError};
use crate::sys::epoll::Epoll;

/// How long a client may take to send its request head once it has
/// started: real clients send it in one piece, in milliseconds; the bound
/// is loose only so that a loaded client machine is never cut off, and it
/// costs nothing, since a connection in reception holds no worker.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A head this large that has not yet all arrived is handed to a worker
/// as it is: it came fast, and the stage holds no more per connection.
pub const HEAD_BUFFER: usize = 16 * 1024;
/// How long a refused client may still send before it is closed.
const DRAIN: Duration = Duration::from_secs(5);
/// Tokens below this are the caller's own descriptors.
pub const FIRST_CONN: u64 = 16;

/// A connection handed to a worker, with what was read of it so far.
pub struct Arrival {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub prefix: Vec<u8>,
    /// From the TLS port: `prefix` is the start of its handshake.
    pub tls: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Silent,
    Head,
    Body,
    Ready,
    Draining,
}

struct Waiting {
    stream: TcpStream,
    peer: SocketAddr,
    buf: Vec<u8>,
    stage: Stage,
    deadline: Instant,
    tls: bool,
}

pub struct Reception {
    epoll: Epoll,
    slots: Vec<Option<Waiting>>,
    free: Vec<usize>,
    deadlines: BTreeSet<(Instant, usize)>,
    ready: VecDeque<usize>,
    held: usize,
    capacity: usize,
    head_timeout: Duration,
    body_timeout: Duration,
    /// Connections served by workers, for the status query.
    workers: Arc<AtomicUsize>,
}

/// What a head read so far says.
enum Head {
    /// Not all there yet.
    Partial,
    /// All there, and what it asks for.
    Complete { streamed: bool, len: usize },
    /// Refused (over a limit, malformed), with the form of the answer.
    Refused(ReplyForm, Refusal),
    /// Not distcc at all.
    Garbage,
}

fn judge_head(buf: &[u8], limits: &Limits) -> Head {
    let mut r = buf;
    let dist = match protocol::read_dist(&mut r) {
        Ok(d) => d,
        Err(WireError::Closed { .. } | WireError::Truncated { .. }) => return Head::Partial,
        Err(_) => return Head::Garbage,
    };
    match protocol::read_head(&mut r, dist, limits) {
        Ok(_) => Head::Complete {
            streamed: matches!(dist, Dist::Streamed(..)),
            len: buf.len() - r.len(),
        },
        Err(WireError::Closed { .. } | WireError::Truncated { .. }) => Head::Partial,
        Err(e) => Head::Refused(
            ReplyForm::of_dist(dist),
            Refusal::new(e.code(), format!("refused request: {e}")),
        ),
    }
}

impl Reception {
    /// A stage holding up to `capacity` connections.
    pub fn new(server: &Server, capacity: usize) -> io::Result<Reception> {
        Ok(Reception {
            epoll: Epoll::new()?,
            slots: Vec::new(),
            free: Vec::new(),
            deadlines: BTreeSet::new(),
            ready: VecDeque::new(),
            held: 0,
            capacity: capacity.max(1),
            head_timeout: HEAD_TIMEOUT.min(server.io_timeout),
            body_timeout: server.io_timeout,
            workers: Arc::default(),
        })
    }

    /// Where the caller counts the connections its workers serve.
    pub fn count_workers(&mut self, workers: Arc<AtomicUsize>) {
        self.workers = workers;
    }

    /// Connections held whose request is still arriving: a draining server
    /// gives them a moment to be answered before it exits.
    pub fn arriving(&self) -> usize {
        self.slots
            .iter()
            .flatten()
            .filter(|w| matches!(w.stage, Stage::Silent | Stage::Head | Stage::Body))
            .count()
    }

    /// Watches one of the caller's descriptors (listeners, wake-up pipe)
    /// under `token`, below [`FIRST_CONN`].
    pub fn watch(&self, fd: &impl AsRawFd, token: u64) -> io::Result<()> {
        debug_assert!(token < FIRST_CONN);
        self.epoll.add(fd.as_raw_fd(), token)
    }

    /// Connections held, ready ones included.
    pub fn len(&self) -> usize {
        self.held
    }

    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// Whether another connection would push one out.
    pub fn is_full(&self) -> bool {
        self.held >= self.capacity
    }

    /// Takes in a newly accepted connection (non-blocking). When the stage
    /// is full, the waiting connection closest to its deadline is closed to
    /// make room; when every one is ready for a worker, this one is.
    pub fn admit(&mut self, stream: TcpStream, peer: SocketAddr, tls: bool, server: &Server) {
        if self.is_full() {
            let Some(&(_, oldest)) = self.deadlines.iter().next() else {
                log::warn!("{peer}: closed: every held connection waits for a worker");
                server.stats.dropped();
                return;
            };
            self.close(oldest, server, "closed to make room");
        }
        let now = Instant::now();
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        if let Err(e) = self.epoll.add(stream.as_raw_fd(), FIRST_CONN + slot as u64) {
            log::error!("{peer}: {e}");
            self.free.push(slot);
            return;
        }
        let deadline = now + self.body_timeout;
        self.slots[slot] = Some(Waiting {
            stream,
            peer,
            buf: Vec::new(),
            stage: Stage::Silent,
            deadline,
            tls,
        });
        self.deadlines.insert((deadline, slot));
        self.held += 1;
    }

    /// Tokens of descriptors ready now, waiting at most until the next
    /// deadline or `until`.
    pub fn wait(&self, until: Option<Instant>) -> io::Result<Vec<u64>> {
        let next = self.deadlines.iter().next().map(|(d, _)| *d);
        let until = match (next, until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.epoll.wait(until, 256)
    }

    /// Reads what connection `token` has for us, and moves it along.
    pub fn on_readable(&mut self, token: u64, server: &Server) {
        let slot = (token - FIRST_CONN) as usize;
        let Some(w) = self.slots.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let mut chunk = [0u8; 4096];
        let room = match w.stage {
            Stage::Silent | Stage::Head => HEAD_BUFFER - w.buf.len(),
            _ => chunk.len(),
        };
        let take = room.min(chunk.len());
        let n = match w.stream.read(&mut chunk[..take]) {
            Ok(0) => return self.close(slot, server, "closed by the client"),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            Err(e) => return self.close(slot, server, &e.to_string()),
        };
        match w.stage {
            Stage::Silent => {
                w.buf.extend_from_slice(&chunk[..n]);
                let head_due = Instant::now() + self.head_timeout;
                self.deadlines.remove(&(w.deadline, slot));
                w.stage = Stage::Head;
                w.deadline = head_due;
                self.deadlines.insert((head_due, slot));
                self.after_head_bytes(slot, server);
            }
            Stage::Head => {
                w.buf.extend_from_slice(&chunk[..n]);
                self.after_head_bytes(slot, server);
            }
            Stage::Body => {
                w.buf.extend_from_slice(&chunk[..n]);
                self.make_ready(slot);
            }
            Stage::Draining => {}
            Stage::Ready => {}
        }
    }

    fn after_head_bytes(&mut self, slot: usize, server: &Server) {
        let Some(w) = self.slots[slot].as_mut() else {
            return;
        };
        if w.tls {
            return self.after_hello_bytes(slot, server);
        }
        match query::is_query(&w.buf) {
            Asked::Yes => return self.answer_status(slot, server),
            Asked::Maybe => return,
            Asked::No => {}
        }
        let draining = server.draining.load(Ordering::SeqCst);
        match judge_head(&w.buf, &server.limits) {
            Head::Complete { .. } if draining => {
                // In the request's codec: a zstd client reads zstd.
                let form = protocol::read_dist(&mut &w.buf[..])
                    .map_or(ReplyForm::of(protocol::Version::V1), ReplyForm::of_dist);
                let refusal = Refusal::new(Code::Busy, "draining: this server is shutting down");
                self.refuse(slot, form, refusal, server)
            }
            Head::Complete { streamed, len } if streamed || w.buf.len() > len => {
                self.make_ready(slot)
            }
            Head::Complete { .. } => {
                // The client preprocesses now: it may, for free.
                self.deadlines.remove(&(w.deadline, slot));
                w.stage = Stage::Body;
                w.deadline = Instant::now() + self.body_timeout;
                self.deadlines.insert((w.deadline, slot));
            }
            Head::Partial if w.buf.len() >= HEAD_BUFFER => self.make_ready(slot),
            Head::Partial => {}
            Head::Refused(form, refusal) => self.refuse(slot, form, refusal, server),
            Head::Garbage if crate::tls::looks_like_tls_hello(&w.buf) => {
                log::warn!("{}: a TLS client on the plain port", w.peer);
                self.close(slot, server, "TLS client on the plain port")
            }
            Head::Garbage => self.close(slot, server, "not a distcc request"),
        }
    }

    /// On the TLS port: hands on a whole first record, refuses a plaintext
    /// request once its head is in.
    fn after_hello_bytes(&mut self, slot: usize, server: &Server) {
        let Some(w) = self.slots[slot].as_ref() else {
            return;
        };
        match hello::judge_hello(&w.buf) {
            Hello::Complete => self.make_ready(slot),
            Hello::Partial if w.buf.len() >= HEAD_BUFFER => self.make_ready(slot),
            Hello::Partial => {}
            Hello::Plain => match judge_head(&w.buf, &server.limits) {
                Head::Partial if w.buf.len() < HEAD_BUFFER => {}
                Head::Complete { .. } | Head::Partial | Head::Refused(..) => {
                    let form = match crate::protocol::read_dist(&mut &w.buf[..]) {
                        Ok(dist) => ReplyForm::of_dist(dist),
                        Err(_) => return self.close(slot, server, "not a distcc request"),
                    };
                    let refusal = Refusal::new(Code::AuthFailed, hello::PLAINTEXT_REFUSAL);
                    self.refuse(slot, form, refusal, server)
                }
                Head::Garbage => self.close(slot, server, "not a distcc request"),
            },
            Hello::Garbage => self.close(slot, server, "not TLS"),
        }
    }

    /// Answers a status query, then waits (briefly) for the client to close.
    fn answer_status(&mut self, slot: usize, server: &Server) {
        let workers = self.workers.load(Ordering::SeqCst);
        let mut bytes = Vec::new();
        let status = status::of(server, workers, self.ready.len());
        query::write_status(&mut bytes, &status).ok();
        self.answer(slot, &bytes);
    }

    /// Answers a request refused here, then drains it for a while.
    fn refuse(&mut self, slot: usize, form: ReplyForm, refusal: Refusal, server: &Server) {
        let Some(w) = self.slots[slot].as_ref() else {
            return;
        };
        log::warn!("{}: refused: {}", w.peer, refusal.message);
        server.stats.refused();
        let mut bytes = Vec::new();
        // Our hashed client reads NEED before anything else.
        if matches!(protocol::read_dist(&mut &w.buf[..]), Ok(Dist::Hashed(..))) {
            protocol::hashed::write_need(&mut bytes, &[]).ok();
        }
        form.write(&mut bytes, &job::refusal_reply(&refusal)).ok();
        self.answer(slot, &bytes);
    }

    /// Sends `bytes` as the whole answer, then reads and drops what the
    /// client still sends, for a while.
    fn answer(&mut self, slot: usize, bytes: &[u8]) {
        let Some(w) = self.slots[slot].as_mut() else {
            return;
        };
        // A fresh socket's buffer takes an answer this small whole.
        (&w.stream).write_all(bytes).ok();
        self.deadlines.remove(&(w.deadline, slot));
        w.stage = Stage::Draining;
        w.buf = Vec::new();
        w.deadline = Instant::now() + DRAIN;
        self.deadlines.insert((w.deadline, slot));
    }

    fn make_ready(&mut self, slot: usize) {
        let Some(w) = self.slots[slot].as_mut() else {
            return;
        };
        self.deadlines.remove(&(w.deadline, slot));
        self.epoll.remove(w.stream.as_raw_fd());
        w.stage = Stage::Ready;
        self.ready.push_back(slot);
    }

    /// Closes connections whose deadline has passed.
    pub fn expire(&mut self, server: &Server) {
        let now = Instant::now();
        while let Some(&(deadline, slot)) = self.deadlines.iter().next() {
            if deadline > now {
                break;
            }
            let why = match self.slots[slot].as_ref().map(|w| w.stage) {
                Some(Stage::Silent) => "nothing sent in time",
                Some(Stage::Head) => "no request head in time",
                Some(Stage::Body) => "no source in time",
                _ => "",
            };
            self.close(slot, server, why);
        }
    }

    fn close(&mut self, slot: usize, server: &Server, why: &str) {
        let Some(w) = self.slots[slot].take() else {
            return;
        };
        self.deadlines.remove(&(w.deadline, slot));
        self.epoll.remove(w.stream.as_raw_fd());
        self.free.push(slot);
        self.held -= 1;
        if w.stage != Stage::Draining {
            // Counted as distcc 3.4 counts a client that vanished.
            server.stats.dropped();
            log::debug!("{}: {why}", w.peer);
        }
    }

    /// The next connection ready for a worker, blocking again.
    pub fn take_ready(&mut self) -> Option<Arrival> {
        while let Some(slot) = self.ready.pop_front() {
            let Some(w) = self.slots[slot].take() else {
                continue;
            };
            self.free.push(slot);
            self.held -= 1;
            if w.stream.set_nonblocking(false).is_err() {
                continue;
            }
            return Some(Arrival {
                stream: w.stream,
                peer: w.peer,
                prefix: w.buf,
                tls: w.tls,
            });
        }
        None
    }

    /// Whether a connection waits for a worker.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Connections ready for a worker that none has taken yet.
    pub fn waiting(&self) -> usize {
        self.ready.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{stream, RequestHead, Version};

    fn head(version: Version, dist: u32, argv: &[&str]) -> Vec<u8> {
        let head = RequestHead {
            version,
            cwd: (version == Version::V3).then(|| "/p".into()),
            argv: argv.iter().map(Into::into).collect(),
        };
        let mut buf = Vec::new();
        protocol::write_request_head_as(&mut buf, &head, dist).unwrap();
        buf
    }

    #[test]
    fn heads_are_judged_as_they_arrive() {
        let limits = Limits::default();
        let plain = head(Version::V1, 1, &["gcc", "-c", "x.c"]);
        for cut in 0..plain.len() {
            assert!(
                matches!(judge_head(&plain[..cut], &limits), Head::Partial),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            judge_head(&plain, &limits),
            Head::Complete { streamed: false, len } if len == plain.len()
        ));
        let streamed = head(Version::V1, stream::RAW, &["gcc", "-c", "x.c"]);
        assert!(matches!(
            judge_head(&streamed, &limits),
            Head::Complete { streamed: true, .. }
        ));
        let mut more = plain.clone();
        more.extend_from_slice(b"DOTI");
        assert!(matches!(
            judge_head(&more, &limits),
            Head::Complete { len, .. } if len == plain.len()
        ));
        let long = format!("-D{}", "x".repeat(70 << 10));
        assert!(matches!(
            judge_head(&head(Version::V2, 2, &["gcc", &long]), &limits),
            Head::Refused(form, r) if form.version == Version::V2 && r.message.contains("ARGV")
        ));
        assert!(matches!(
            judge_head(b"GET / HTTP/1.0\r\n", &limits),
            Head::Garbage
        ));
        assert!(matches!(
            judge_head(b"DIST00000009", &limits),
            Head::Garbage
        ));
    }
}
