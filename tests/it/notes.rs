//! The note our daemon adds after a reply for our own clients: its status
//! refreshes the client's shared status entry for the host (the one the
//! status query fills), in the streamed and the hashed dialect; and a
//! daemon of ours from before notes, which closes on a request that asks
//! for one, is remembered and asked without, the rest of our dialect kept;
//! a request that does not ask (an older client of ours) gets no note.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use distcc::protocol::note::CacheUse;
use distcc::protocol::status::{self, Status};
use distcc::protocol::{self, stream, Codec, Dist, Limits, Reply, ReplyForm, RequestHead, Version};

use crate::blocking::wait_for;
use crate::skip_unless;
use crate::util::*;

const T: Duration = Duration::from_secs(120);
const SOURCE: &str = "int f(int x) { return x * 7; }\n";

/// The state dir's file for `name` (an extension marker) of host
/// 127.0.0.1:`port`.
fn marker(tree: &Tree, name: &str, port: u16) -> PathBuf {
    tree.path("state/state")
        .join(format!("{name}127.0.0.1%3A{port}"))
}

/// Compiles `x.c` on `hosts`, never here; the client's log.
fn compile(tree: &Tree, hosts: &str, obj: &str) -> String {
    let log = tree.path("client.log");
    fs::remove_file(&log).ok();
    let mut c = tree.client(hosts, &["gcc", "-O2", "-c", "x.c", "-o", obj]);
    c.env("DISTCC_FALLBACK", "0")
        .env("DISTCC_LOG", &log)
        .env("PATH", tree.cpponly_path());
    let out = run(c, T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    fs::read_to_string(&log).unwrap_or_default()
}

fn same_as_local(tree: &Tree, obj: &str) {
    let want = local(tree, "gcc", &["-O2", "-c", "x.c", "-o", "want.o"]);
    assert!(want.status.success(), "{}", text(&want.stderr));
    let work = tree.work();
    assert!(
        fs::read(work.join(obj)).unwrap() == fs::read(work.join("want.o")).unwrap(),
        "{obj} differs from a local compile"
    );
}

/// Whether the daemon on `port` has no connection open (its workers count
/// theirs until they end, a moment after their reply).
fn idle(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(&status::query()).unwrap();
    let st = status::read_status(&mut s).unwrap();
    st.running + st.queued == 0
}

/// With one host the client never asks the status query, so an entry for
/// it comes from a reply's note: taken while the job was there (the
/// daemon counts its connection, the client its slot).
#[test]
fn a_reply_refreshes_the_hosts_status_entry() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("x.c", SOURCE);
    let daemon = Daemon::start(&tree, &["--jobs", "3"]);
    let entry = tree
        .path("state/status")
        .join(format!("127.0.0.1%3A{}", daemon.port));
    for (dialect, opts) in [("streamed", ",lzo,classic"), ("hashed", ",lzo")] {
        // The job before has ended on the daemon too.
        assert!(wait_for(T, || idle(daemon.port)), "{}", daemon.log());
        fs::remove_file(&entry).ok();
        let log = compile(&tree, &format!("{}{opts}", daemon.host()), "x.o");
        same_as_local(&tree, "x.o");
        let text = fs::read_to_string(&entry)
            .unwrap_or_else(|e| panic!("{dialect}: no status entry ({e}): {log}"));
        let (ours, rest) = text.split_once('\n').unwrap();
        assert_eq!(ours, "ours 1", "{dialect}: the job's own slot: {text}");
        let status = Status::from_text(rest).unwrap();
        assert_eq!(status.slots, 3, "{dialect}: {text}");
        assert_eq!(
            status.running + status.queued,
            1,
            "{dialect}: the job itself, as it replied: {text}"
        );
        assert!(status.cores > 0.0 && !status.draining, "{dialect}: {text}");
    }
}

/// Relays connections to our daemon on `port`, hanging up on requests
/// whose `DIST` asks for a note, as our daemons from before notes do on a
/// version they do not know.
fn before_notes(port: u16) -> u16 {
    relay_closing_on(port, Dist::NOTED)
}

#[test]
fn a_daemon_from_before_notes_is_remembered_and_keeps_our_dialects() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("x.c", SOURCE);
    let daemon = Daemon::start(&tree, &[]);
    let port = before_notes(daemon.port);
    let hosts = format!("127.0.0.1:{port},lzo");
    // The hashed dialect with zstd and a note, closed on: asked again
    // without the note, and served.
    let first = compile(&tree, &hosts, "a.o");
    same_as_local(&tree, "a.o");
    assert!(first.contains("no hashed transfer with notes"), "{first}");
    assert!(marker(&tree, "nonotes_", port).exists(), "{first}");
    for other in ["nozstd_", "plain3_", "nostream_"] {
        assert!(!marker(&tree, other, port).exists(), "{other}: {first}");
    }
    let second = compile(&tree, &hosts, "b.o");
    same_as_local(&tree, "b.o");
    assert!(!second.contains("no hashed"), "{second}");
    assert!(
        second.contains("(exact)"),
        "still our hashed dialect: {second}"
    );
    // The streamed dialect, told the same already: no closing.
    let third = compile(&tree, &format!("{hosts},classic"), "c.o");
    same_as_local(&tree, "c.o");
    assert!(!third.contains("no streaming"), "{third}");
    assert!(third.contains("(streamed)"), "{third}");
    let log = daemon.log();
    assert!(log.matches("gcc status 0").count() >= 3, "{log}");
}

/// One streamed request (protocol 2's layout, LZO) for `x.c`'s text to our
/// daemon on `port`, its `DIST` asking for a note or not; the reply read in
/// `form`, and whatever the daemon sent after it before closing.
fn streamed_exchange(port: u16, noted: bool) -> (Reply, Vec<u8>) {
    let dist = Dist::streamed(Codec::Lzo).noted(noted);
    let head = RequestHead {
        version: Version::V2,
        cwd: None,
        argv: ["gcc", "-O2", "-c", "x.c", "-o", "x.o"]
            .iter()
            .map(Into::into)
            .collect(),
    };
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut buf = Vec::new();
    protocol::write_request_head_as(&mut buf, &head, dist.number()).unwrap();
    s.write_all(&buf).unwrap();
    assert_eq!(stream::read_answer(&mut s).unwrap(), stream::Answer::Go);
    let mut chunks = Vec::new();
    stream::push_chunk(&mut chunks, Codec::Lzo, SOURCE.as_bytes());
    chunks.extend_from_slice(&stream::end());
    s.write_all(&chunks).unwrap();
    let form = ReplyForm::of_dist(dist);
    let reply = form.read(&mut s, &Limits::for_replies()).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    (reply, rest)
}

/// A request without the note's bit (an older client of ours) gets a
/// reply that ends where it always did; one with it gets the note.
#[test]
fn the_daemon_adds_a_note_only_when_asked() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    let daemon = Daemon::start(&tree, &["--jobs", "2"]);
    let (plain, rest) = streamed_exchange(daemon.port, false);
    assert_eq!(plain.status, 0, "{}", text(&plain.stderr));
    assert!(!plain.object().is_empty());
    assert!(rest.is_empty(), "sent after the reply: {rest:?}");
    assert_eq!(plain.note, None);
    let (noted, rest) = streamed_exchange(daemon.port, true);
    assert!(rest.is_empty(), "sent after the note: {rest:?}");
    assert!(noted.object() == plain.object());
    let note = noted.note.expect("a note");
    assert_eq!(note.cache, Some(CacheUse::Off), "no cache on this daemon");
    assert_eq!(note.status.map(|s| s.slots), Some(2));
}
