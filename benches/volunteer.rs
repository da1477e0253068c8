//! The volunteer under abuse, ours next to Debian's distccd 3.4 on the same
//! machine: how long a real compile waits with 1,000 idle and 60
//! trickling connections open; the daemon's memory while four requests
//! each inflate to 600 MiB; how long a job's compilers outlive a daemon
//! killed with SIGKILL.
//!
//! `cargo bench --bench volunteer` (as root, both daemons drop to their
//! own user; the reference needs Debian's `distcc` package). Knobs:
//! `IDLE=1000`, `TRICKLE=60`, `BIG_MIB=600`.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use distcc::protocol::{self, Limits, RequestHead, Version};

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn open_dir(p: &Path) {
    fs::create_dir_all(p).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o777)).unwrap();
}

/// Which daemon, started on a port of its own with its own TMPDIR.
#[derive(Clone, Copy, PartialEq)]
enum Which {
    Ours,
    Reference,
}

struct Running {
    child: Child,
    port: u16,
    tmp: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        // SAFETY: signalling the daemon's process group, which we made.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        self.child.wait().ok();
        for pid in job_processes(&self.tmp) {
            // SAFETY: stragglers of a daemon this bench started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Starts a daemon; `fake` puts a stand-in `gcc` (writes a tiny object,
/// reads nothing) first on its PATH.
fn start(which: Which, scratch: &Path, name: &str, fake: bool) -> Running {
    let tmp = scratch.join(format!("{name}-tmp"));
    open_dir(&tmp);
    let mut path = OsString::new();
    if fake {
        path.push(scratch.join("fake"));
        path.push(":");
    }
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let port = free_port();
    let mut cmd = match which {
        Which::Ours => {
            let mut c = Command::new(scratch.join("bin/distccd"));
            c.args(["--compiler-dir"]).arg(scratch.join("masq"));
            c.arg("--no-sandbox");
            c
        }
        Which::Reference => Command::new("/usr/bin/distccd"),
    };
    cmd.args([
        "--daemon",
        "--no-detach",
        "--listen",
        "127.0.0.1",
        "--allow",
        "127.0.0.1",
    ])
    .args(["--port", &port.to_string()])
    .arg("--log-file")
    .arg(scratch.join("logs").join(format!("{name}.log")))
    .env("PATH", path)
    .env("TMPDIR", &tmp)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().expect("start daemon");
    let until = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "{name} did not start");
        thread::sleep(Duration::from_millis(20));
    }
    Running { child, port, tmp }
}

fn request(version: Version, argv: &[&str], body: &[u8], raw_body: bool) -> Vec<u8> {
    let head = RequestHead {
        version,
        cwd: None,
        argv: argv.iter().map(Into::into).collect(),
    };
    let mut buf = Vec::new();
    protocol::write_request_head(&mut buf, &head).unwrap();
    if raw_body {
        protocol::write_raw(&mut buf, protocol::DOTI, body).unwrap();
    } else {
        protocol::write_body(&mut buf, protocol::DOTI, version.codec(), body).unwrap();
    }
    buf
}

/// Sends `req` and reads the reply, within `limit`; the time it took.
fn exchange(port: u16, req: &[u8], version: Version, limit: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(req).map_err(|e| e.to_string())?;
    let r = protocol::read_reply(&mut s, version, version.codec(), &Limits::for_replies())
        .map_err(|e| e.to_string())?;
    if r.status != 0 {
        return Err(format!(
            "status {}: {}",
            r.status,
            String::from_utf8_lossy(&r.stderr)
        ));
    }
    Ok(started.elapsed())
}

/// 1,000 idle connections and 60 trickling a byte a second (half from
/// their first byte, half after a whole head), replaced when cut off.
fn attack(port: u16, idle: usize, trickle: usize, stop: &AtomicBool) {
    thread::scope(|scope| {
        scope.spawn(|| {
            let mut conns: Vec<TcpStream> = (0..idle)
                .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
                .collect();
            while !stop.load(Ordering::SeqCst) {
                for c in conns.iter_mut() {
                    c.set_nonblocking(true).ok();
                    let open = matches!(c.read(&mut [0u8; 8]),
                        Err(ref e) if e.kind() == io::ErrorKind::WouldBlock);
                    if !open {
                        if let Ok(fresh) = TcpStream::connect(("127.0.0.1", port)) {
                            *c = fresh;
                        }
                    }
                }
                thread::sleep(Duration::from_millis(200));
            }
        });
        for i in 0..trickle {
            scope.spawn(move || {
                let req = request(
                    Version::V1,
                    &["gcc", "-c", "x.c", "-o", "x.o"],
                    &[b' '; 4096],
                    false,
                );
                let head = req.len() - 4096 - 12;
                while !stop.load(Ordering::SeqCst) {
                    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                        continue;
                    };
                    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                    let mut at = if i % 2 == 1 { head + 13 } else { 0 };
                    if s.write_all(&req[..at]).is_err() {
                        continue;
                    }
                    while at < req.len() && !stop.load(Ordering::SeqCst) {
                        if s.write_all(&req[at..at + 1]).is_err() {
                            break;
                        }
                        at += 1;
                        match s.read(&mut [0u8; 16]) {
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                                ) => {}
                            _ => break,
                        }
                    }
                }
            });
        }
    });
}

fn starvation(which: Which, scratch: &Path, name: &str) {
    let idle = knob("IDLE", 1000) as usize;
    let trickle = knob("TRICKLE", 60) as usize;
    let d = start(which, scratch, name, false);
    let job = request(
        Version::V1,
        &["gcc", "-O2", "-c", "t.c", "-o", "t.o"],
        b"int f(void) { return 1; }\n",
        false,
    );
    let quiet = exchange(d.port, &job, Version::V1, Duration::from_secs(60));
    let stop = AtomicBool::new(false);
    let limit = Duration::from_secs(120);
    let attacked = thread::scope(|scope| {
        let attackers = scope.spawn(|| attack(d.port, idle, trickle, &stop));
        // Time for every attacker to connect and start trickling.
        thread::sleep(Duration::from_secs(4));
        let r = exchange(d.port, &job, Version::V1, limit);
        stop.store(true, Ordering::SeqCst);
        attackers.join().unwrap();
        r
    });
    let show = |r: Result<Duration, String>| match r {
        Ok(t) => format!("{:.3} s", t.as_secs_f64()),
        Err(e) if e.contains("temporarily") || e.contains("timed out") => {
            format!("> {} s (no reply)", limit.as_secs())
        }
        Err(e) => format!("failed: {e}"),
    };
    println!(
        "{name:<10} compile latency: quiet {}; with {idle} idle + {trickle} trickling: {}",
        show(quiet),
        show(attacked)
    );
}

/// Resident KiB of every process in the daemon's process group, summed:
/// the reference serves each connection in a child.
fn group_rss_kib(pgid: i32) -> u64 {
    let Ok(entries) = fs::read_dir("/proc") else {
        return 0;
    };
    let mut sum = 0;
    for e in entries.flatten() {
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let rest: Vec<&str> = stat[stat.rfind(')').unwrap_or(0) + 2..]
            .split(' ')
            .collect();
        // Field 5 is the process group, 24 the resident pages.
        if rest.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) {
            sum += rest
                .get(21)
                .and_then(|p| p.parse::<u64>().ok())
                .unwrap_or(0)
                * 4;
        }
    }
    sum
}

fn memory(which: Which, scratch: &Path, name: &str, body: &[u8]) {
    let d = start(which, scratch, name, true);
    let pgid = d.child.id() as i32;
    let req = request(
        Version::V2,
        &["gcc", "-c", "big.c", "-o", "big.o"],
        body,
        true,
    );
    let done = AtomicBool::new(false);
    let (peak, results) = thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut peak = 0;
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(group_rss_kib(pgid));
                thread::sleep(Duration::from_millis(20));
            }
            peak
        });
        let jobs: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| exchange(d.port, &req, Version::V2, Duration::from_secs(300))))
            .collect();
        let results: Vec<_> = jobs.into_iter().map(|j| j.join().unwrap()).collect();
        done.store(true, Ordering::SeqCst);
        (sampler.join().unwrap(), results)
    });
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    println!(
        "{name:<10} four {} MiB-inflating requests ({} KiB each on the wire): peak RSS {} MiB (sampled, all its processes); {ok}/4 served {errors:?}",
        knob("BIG_MIB", 600),
        body.len() / 1024,
        peak / 1024
    );
}

/// Processes of a daemon's jobs: their cwd or argv name its TMPDIR.
fn job_processes(tmp: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    let needle = tmp.to_string_lossy().into_owned();
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
        {
            continue;
        }
        let cwd = fs::read_link(e.path().join("cwd")).is_ok_and(|c| c.starts_with(tmp));
        let argv = fs::read(e.path().join("cmdline")).unwrap_or_default();
        if cwd || String::from_utf8_lossy(&argv).contains(&needle) {
            out.push(pid);
        }
    }
    out
}

const SLOW_CXX: &[u8] = b"constexpr unsigned long long spin(unsigned long long n) {\n\
    unsigned long long s = 0;\n\
    for (unsigned long long i = 0; i < n; ++i) s += i ^ (s >> 3);\n\
    return s;\n}\n\
constexpr unsigned long long v = spin(200000000000ULL);\n\
unsigned long long get() { return v; }\n";

fn orphans(which: Which, scratch: &Path, name: &str) {
    let mut d = start(which, scratch, name, false);
    let req = request(
        Version::V1,
        &[
            "g++",
            "-std=c++17",
            "-fconstexpr-loop-limit=2147483647",
            "-fconstexpr-ops-limit=4294967296000",
            "-c",
            "slow.cpp",
            "-o",
            "slow.o",
        ],
        SLOW_CXX,
        false,
    );
    let mut s = TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    s.write_all(&req).unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while job_processes(&d.tmp).len() < 2 && Instant::now() < until {
        thread::sleep(Duration::from_millis(20));
    }
    let before = job_processes(&d.tmp).len();
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    let killed = Instant::now();
    let limit = Duration::from_secs(30);
    while !job_processes(&d.tmp).is_empty() && killed.elapsed() < limit {
        thread::sleep(Duration::from_millis(5));
    }
    let left = job_processes(&d.tmp).len();
    if left == 0 {
        println!(
            "{name:<10} after SIGKILL of the daemon: its {before} job processes gone in {:.3} s",
            killed.elapsed().as_secs_f64()
        );
    } else {
        println!("{name:<10} after SIGKILL of the daemon: {left} of {before} job processes still running after {} s", limit.as_secs());
    }
    drop(s);
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let scratch = tempfile::Builder::new()
        .prefix("distcc-bench-")
        .tempdir()
        .unwrap();
    let root = scratch.path();
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
    for d in ["bin", "masq", "fake", "logs"] {
        open_dir(&root.join(d));
    }
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_distcc"));
    symlink(&exe, root.join("bin/distccd")).unwrap();
    for c in ["gcc", "g++"] {
        symlink(&exe, root.join("masq").join(c)).unwrap();
    }
    let fake = root.join("fake/gcc");
    fs::write(
        &fake,
        "#!/bin/sh\nout=\nwhile [ $# -gt 0 ]; do case \"$1\" in -o) out=\"$2\"; shift;; esac; shift; done\nprintf obj > \"$out\"\n",
    )
    .unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let reference = Path::new("/usr/bin/distccd").exists();
    let daemons: Vec<(Which, &str)> = [(Which::Ours, "ours"), (Which::Reference, "distcc 3.4")]
        .into_iter()
        .filter(|(w, _)| *w == Which::Ours || reference)
        .collect();
    let big = distcc::lzo::compress(&vec![0u8; (knob("BIG_MIB", 600) << 20) as usize]);
    for &(w, name) in &daemons {
        starvation(w, root, &name.replace(' ', "-"));
    }
    for &(w, name) in &daemons {
        memory(w, root, &name.replace(' ', "-"), &big);
    }
    for &(w, name) in &daemons {
        orphans(w, root, &name.replace(' ', "-"));
    }
}
