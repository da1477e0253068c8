//! Connections that send nothing, or a byte a second, by the thousand:
//! a real compile must not wait behind them.

use std::fs;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use distcc::protocol::{self, RequestHead, Version};

use crate::skip_unless;
use crate::util::*;
use crate::volunteer::{argv, poll_until, T};

/// Attackers that have started, and the word for them to stop.
#[derive(Default)]
struct Swarm {
    started: std::sync::atomic::AtomicUsize,
    stop: std::sync::atomic::AtomicBool,
}

/// Keeps `n` connections to `port` open that send nothing, opening a new
/// one for each the daemon closes, until told to stop.
fn idle_swarm(port: u16, n: usize, swarm: &Swarm) -> usize {
    use std::sync::atomic::Ordering;
    let stop = &swarm.stop;
    let open = || TcpStream::connect(("127.0.0.1", port)).ok();
    let mut conns: Vec<TcpStream> = (0..n).filter_map(|_| open()).collect();
    swarm.started.fetch_add(conns.len(), Ordering::SeqCst);
    let mut replaced = 0;
    while !stop.load(Ordering::SeqCst) {
        for c in conns.iter_mut() {
            c.set_nonblocking(true).ok();
            // Still open while there is nothing to read.
            let closed = !matches!(c.read(&mut [0u8; 16]),
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock);
            if closed {
                if let Some(fresh) = open() {
                    *c = fresh;
                    replaced += 1;
                }
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    replaced
}

/// Sends a valid request one byte a second (with `head_whole`, its head
/// and the start of its source at once first), reconnecting whenever the
/// daemon cuts it off, until told to stop.
fn slowloris(port: u16, head_whole: bool, swarm: &Swarm) -> usize {
    use std::sync::atomic::Ordering;
    let stop = &swarm.stop;
    let mut first = true;
    let head = RequestHead {
        version: Version::V1,
        cwd: None,
        argv: argv(&["gcc", "-c", "x.c", "-o", "x.o"]),
    };
    let mut bytes = Vec::new();
    protocol::write_request_head(&mut bytes, &head).unwrap();
    let head_len = bytes.len();
    protocol::write_header(&mut bytes, protocol::DOTI, 4096).unwrap();
    bytes.extend_from_slice(&[b' '; 4096]);
    let mut cut = 0;
    'connections: while !stop.load(Ordering::SeqCst) {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            continue;
        };
        // The attack's pace, not a wait for anything: a byte a second.
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut at = 0;
        if head_whole {
            // A whole head and the start of the source, then a trickle.
            if s.write_all(&bytes[..head_len + 13]).is_err() {
                cut += 1;
                continue;
            }
            at = head_len + 13;
        }
        while at < bytes.len() && !stop.load(Ordering::SeqCst) {
            if s.write_all(&bytes[at..at + 1]).is_err() {
                cut += 1;
                continue 'connections;
            }
            at += 1;
            if std::mem::take(&mut first) {
                swarm.started.fetch_add(1, Ordering::SeqCst);
            }
            match s.read(&mut [0u8; 64]) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                _ => {
                    cut += 1;
                    continue 'connections;
                }
            }
        }
    }
    cut
}

/// With 1,000 connections that send nothing and 60 that trickle a byte a
/// second (half from their first byte, half once their head is in), all
/// replaced as soon as the daemon cuts them off, a real compile is served
/// at once; it used to wait in line behind them for an I/O timeout each.
/// The bound here is generous (a loaded machine); the figure is printed,
/// and measured without noise in benches/volunteer.sh.
#[test]
fn idle_and_trickling_connections_do_not_delay_a_real_compile() {
    use std::sync::atomic::Ordering;
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    let d = Daemon::start(&tree, &["--io-timeout", "120"]);
    let port = d.port;
    tree.write("ok.c", "int ok(void) { return 42; }\n");
    let want = local(&tree, "gcc", &["-c", "ok.c", "-o", "want.o"]);
    assert!(want.status.success());
    let swarm = Swarm::default();
    let (took, cut) = thread::scope(|scope| {
        let idle = scope.spawn(|| idle_swarm(port, 1000, &swarm));
        let trickles: Vec<_> = (0..60)
            .map(|i| {
                let swarm = &swarm;
                scope.spawn(move || slowloris(port, i % 2 == 1, swarm))
            })
            .collect();
        let all_in = poll_until(T, || swarm.started.load(Ordering::SeqCst) == 1060);
        assert!(all_in, "{} attackers", swarm.started.load(Ordering::SeqCst));
        let started = Instant::now();
        let mut c = tree.client(&d.host(), &["gcc", "-c", "ok.c", "-o", "ok.o"]);
        c.env("PATH", tree.cpponly_path())
            .env("DISTCC_FALLBACK", "0");
        let out = run(c, T);
        let took = started.elapsed();
        swarm.stop.store(true, Ordering::SeqCst);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let cut: usize = trickles.into_iter().map(|t| t.join().unwrap()).sum();
        (took, cut + idle.join().unwrap())
    });
    println!("compile with 1000 idle and 60 trickling connections: {took:?} ({cut} attackers cut off meanwhile)");
    assert!(
        fs::read(tree.work().join("ok.o")).unwrap()
            == fs::read(tree.work().join("want.o")).unwrap()
    );
    // Far below the 120 s I/O timeout the attackers would each hold a
    // worker for, and a stage that made the compile wait for them.
    assert!(took < Duration::from_secs(30), "served after {took:?}");
}
