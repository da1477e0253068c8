//! Client CPU of one job-sized connection over TLS against plain TCP:
//! load the key and pins, connect, handshake, send 10 KB, receive 10 KB,
//! close. Every distcc job is a new process with one connection, so the
//! full handshake is paid each time; this measures what that costs.
//!
//! ```text
//! cargo bench --bench tls_job [-- THREAD_JOBS [PROCESS_JOBS]]   (default 1000 300)
//! ```
//!
//! Two measurements, plain and TLS interleaved:
//! - threads: each job on a fresh thread, its CPU from getrusage(RUSAGE_THREAD);
//! - processes: each job in a fresh process (this binary re-executed), its
//!   CPU from getrusage(RUSAGE_CHILDREN). Exec and runtime start-up are the
//!   same for both, so the difference includes TLS's one-time costs (reading
//!   the key file, first use of the provider) as a real job pays them.
//!
//! The daemons are threads of this process on 127.0.0.1 (plain: echo 10 KB;
//! TLS: accept with an authorized key, then the same), so their CPU is not
//! in the client's figures; the TLS daemon's own CPU per connection is
//! printed too.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use distcc::tls::{HostPort, KeyPair, PublicKey, TlsClient, TlsServer};

const SIZE: usize = 10 * 1024;
const TIMEOUT: Duration = Duration::from_secs(30);

fn cpu_us(who: libc::c_int) -> u64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    let rc = unsafe { libc::getrusage(who, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

fn exchange<S: Read + Write>(s: &mut S) {
    s.write_all(&[7u8; SIZE]).unwrap();
    let mut reply = vec![0u8; SIZE];
    s.read_exact(&mut reply).unwrap();
    assert!(reply.iter().all(|&b| b == 9));
}

fn serve<S: Read + Write>(s: &mut S) {
    let mut request = vec![0u8; SIZE];
    s.read_exact(&mut request).unwrap();
    s.write_all(&[9u8; SIZE]).unwrap();
}

/// One client job; `dir` holds the client's key and known_hosts. Returns
/// the CPU its phases took on this thread: load (key and pins), connect
/// (TCP and handshake), exchange (10 KB each way and close).
fn job(tls: bool, addr: SocketAddr, dir: &Path) -> [u64; 3] {
    let t0 = cpu_us(libc::RUSAGE_THREAD);
    if tls {
        let client = TlsClient::load(dir, "").unwrap();
        let t1 = cpu_us(libc::RUSAGE_THREAD);
        let sock = TcpStream::connect(addr).unwrap();
        let host = HostPort::new(&addr.ip().to_string(), addr.port());
        let mut stream = client.connect(sock, &host, TIMEOUT).unwrap();
        let t2 = cpu_us(libc::RUSAGE_THREAD);
        exchange(&mut stream);
        // Dropping sends the close_notify, as a finished client job does.
        drop(stream);
        [t1 - t0, t2 - t1, cpu_us(libc::RUSAGE_THREAD) - t2]
    } else {
        let mut sock = TcpStream::connect(addr).unwrap();
        // As the client and daemon set it on their sockets.
        sock.set_nodelay(true).unwrap();
        let t2 = cpu_us(libc::RUSAGE_THREAD);
        exchange(&mut sock);
        drop(sock);
        [0, t2 - t0, cpu_us(libc::RUSAGE_THREAD) - t2]
    }
}

fn start_plain() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let mut sock = sock.unwrap();
            sock.set_nodelay(true).unwrap();
            std::thread::spawn(move || serve(&mut sock));
        }
    });
    addr
}

/// Returns the address and the TLS daemon's total CPU and connection count.
fn start_tls(server: TlsServer) -> (SocketAddr, Arc<(AtomicU64, AtomicU64)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(server);
    let cpu = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let counters = cpu.clone();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let sock = sock.unwrap();
            let (server, counters) = (server.clone(), counters.clone());
            std::thread::spawn(move || {
                let start = cpu_us(libc::RUSAGE_THREAD);
                let mut accepted = server.accept(sock, TIMEOUT).unwrap();
                serve(&mut accepted.stream);
                accepted.stream.shutdown_write().unwrap();
                drop(accepted);
                counters
                    .0
                    .fetch_add(cpu_us(libc::RUSAGE_THREAD) - start, Ordering::Relaxed);
                counters.1.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
    (addr, cpu)
}

/// Client CPU of one job run on a fresh thread.
fn thread_job(tls: bool, addr: SocketAddr, dir: &Path) -> u64 {
    std::thread::scope(|s| {
        s.spawn(|| {
            let start = cpu_us(libc::RUSAGE_THREAD);
            job(tls, addr, dir);
            cpu_us(libc::RUSAGE_THREAD) - start
        })
        .join()
        .unwrap()
    })
}

/// CPU of one job run in a fresh process (exec and start-up included).
/// The child prints its start-up's and its phases' CPU (see [`job`]).
fn process_job(tls: bool, addr: SocketAddr, dir: &Path, phases: &mut Vec<[u64; 4]>) -> u64 {
    let exe = std::env::current_exe().unwrap();
    let start = cpu_us(libc::RUSAGE_CHILDREN);
    let out = Command::new(exe)
        .arg("--client")
        .arg(if tls { "tls" } else { "plain" })
        .arg(addr.to_string())
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let total = cpu_us(libc::RUSAGE_CHILDREN) - start;
    let words: Vec<u64> = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    phases.push([words[0], words[1], words[2], words[3]]);
    total
}

struct Samples(Vec<u64>);

impl Samples {
    fn mean(&self) -> f64 {
        self.0.iter().sum::<u64>() as f64 / self.0.len() as f64
    }

    fn median(&self) -> u64 {
        let mut v = self.0.clone();
        v.sort_unstable();
        v[v.len() / 2]
    }
}

fn measure(label: &str, n: usize, run: impl Fn(bool) -> u64) -> (f64, f64) {
    let (mut plain, mut tls) = (Samples(Vec::new()), Samples(Vec::new()));
    let wall = Instant::now();
    for _ in 0..n {
        plain.0.push(run(false));
        tls.0.push(run(true));
    }
    println!(
        "{label:>9}: {n} jobs each; client CPU per job, mean (median) µs: plain {:.0} ({}), \
         TLS {:.0} ({}), added {:.0} µs   [{:.1} s]",
        plain.mean(),
        plain.median(),
        tls.mean(),
        tls.median(),
        tls.mean() - plain.mean(),
        wall.elapsed().as_secs_f64()
    );
    (plain.mean(), tls.mean())
}

fn setup(root: &Path) -> (PathBuf, TlsServer) {
    let client_dir = root.join("client");
    let daemon_dir = root.join("daemon");
    let client_key = KeyPair::create(&client_dir, "bench").unwrap();
    std::fs::create_dir_all(&daemon_dir).unwrap();
    std::fs::write(
        daemon_dir.join(distcc::tls::AUTHORIZED_KEYS_FILE),
        client_key.public().line("bench") + "\n",
    )
    .unwrap();
    let server = TlsServer::load(&daemon_dir, "bench").unwrap();
    (client_dir, server)
}

fn pin(client_dir: &Path, addr: SocketAddr, key: &PublicKey) {
    let host = HostPort::new(&addr.ip().to_string(), addr.port());
    let line = format!("{host} {key}\n");
    std::fs::write(client_dir.join(distcc::tls::KNOWN_HOSTS_FILE), line).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("--client") {
        let addr: SocketAddr = args[2].parse().unwrap();
        let startup = cpu_us(libc::RUSAGE_SELF);
        let [load, connect, exchange] = job(args[1] == "tls", addr, Path::new(&args[3]));
        println!("{startup} {load} {connect} {exchange}");
        return;
    }
    let threads: usize = args.first().map_or(1000, |a| a.parse().unwrap());
    let processes: usize = args.get(1).map_or(300, |a| a.parse().unwrap());

    let root = tempfile::tempdir().unwrap();
    let (client_dir, server) = setup(root.path());
    let plain_addr = start_plain();
    let daemon_key = server.key().public().clone();
    let (tls_addr, server_cpu) = start_tls(server);
    pin(&client_dir, tls_addr, &daemon_key);
    let addr = |tls: bool| if tls { tls_addr } else { plain_addr };

    // Warm up: the first job pays page faults the others do not.
    thread_job(false, plain_addr, &client_dir);
    thread_job(true, tls_addr, &client_dir);

    measure("threads", threads, |tls| {
        thread_job(tls, addr(tls), &client_dir)
    });
    let phases = std::cell::RefCell::new([Vec::new(), Vec::new()]);
    measure("processes", processes, |tls| {
        process_job(
            tls,
            addr(tls),
            &client_dir,
            &mut phases.borrow_mut()[tls as usize],
        )
    });
    for (name, runs) in ["plain", "TLS"].iter().zip(phases.borrow().iter()) {
        let mean = |i: usize| runs.iter().map(|r| r[i]).sum::<u64>() as f64 / runs.len() as f64;
        println!(
            "{name:>9}: in each process, mean µs: start-up {:.0}, load key and pins {:.0}, \
             connect (+ handshake) {:.0}, 10 KB each way and close {:.0}",
            mean(0),
            mean(1),
            mean(2),
            mean(3)
        );
    }
    let (total, count) = (
        server_cpu.0.load(Ordering::Relaxed),
        server_cpu.1.load(Ordering::Relaxed),
    );
    println!(
        "   daemon: TLS accept + job, mean CPU per connection: {:.0} µs over {count}",
        total as f64 / count as f64
    );
}
