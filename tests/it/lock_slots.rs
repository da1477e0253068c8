use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use distcc::client::lock::{
    acquire, acquire_cpp, acquire_until, cpp_lock_path, cpu_lock_path, try_acquire, Slot,
    SlotRequest,
};
use distcc::state::{host_key, unescape_key};

const NONE_SKIPPED: &dyn Fn(usize) -> bool = &|_| false;

/// Runs `f` on a thread and fails the test instead of hanging if it is slow.
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(Duration::from_secs(secs))
        .expect("test did not finish in time")
}

fn lock_dir() -> (tempfile::TempDir, PathBuf) {
    let top = tempfile::tempdir().unwrap();
    let dir = top.path().join("lock");
    (top, dir)
}

fn take(dir: &Path, hosts: &[SlotRequest], skip: &dyn Fn(usize) -> bool) -> Slot {
    try_acquire(dir, hosts, skip).unwrap().expect("a free slot")
}

#[test]
fn fills_hosts_slot_by_slot_then_blocks() {
    let (_top, dir) = lock_dir();
    let hosts = [
        SlotRequest { key: "a", limit: 2 },
        SlotRequest { key: "b", limit: 2 },
    ];
    let mut held = Vec::new();
    for want in [(0, 0), (1, 0), (0, 1), (1, 1)] {
        let s = take(&dir, &hosts, NONE_SKIPPED);
        assert_eq!((s.host, s.slot), want);
        held.push(s);
    }
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert!(cpu_lock_path(&dir, "b", 1).exists());

    assert!(try_acquire(&dir, &hosts, NONE_SKIPPED).unwrap().is_none());
    let soon = Instant::now() + Duration::from_millis(100);
    assert!(acquire_until(&dir, &hosts, NONE_SKIPPED, Some(soon))
        .unwrap()
        .is_none());

    let (started_tx, started_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let waiter_dir = dir.clone();
    thread::spawn(move || {
        let hosts = [
            SlotRequest { key: "a", limit: 2 },
            SlotRequest { key: "b", limit: 2 },
        ];
        started_tx.send(()).unwrap();
        let s = acquire(&waiter_dir, &hosts, NONE_SKIPPED).unwrap().unwrap();
        done_tx.send(s).unwrap();
    });
    started_rx.recv().unwrap();
    drop(held.remove(1)); // b0
    let got = done_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!((got.host, got.slot), (1, 0));
    assert!(try_acquire(&dir, &hosts, NONE_SKIPPED).unwrap().is_none());
}

#[test]
fn unequal_limits_take_the_deeper_host_last() {
    let (_top, dir) = lock_dir();
    let hosts = [
        SlotRequest { key: "a", limit: 1 },
        SlotRequest { key: "z", limit: 0 },
        SlotRequest { key: "b", limit: 3 },
    ];
    let held: Vec<Slot> = (0..4).map(|_| take(&dir, &hosts, NONE_SKIPPED)).collect();
    let order: Vec<_> = held.iter().map(|s| (s.host, s.slot)).collect();
    assert_eq!(order, [(0, 0), (2, 0), (2, 1), (2, 2)]);
    assert!(try_acquire(&dir, &hosts, NONE_SKIPPED).unwrap().is_none());
}

#[test]
fn skipped_hosts_are_never_returned() {
    let (_top, dir) = lock_dir();
    let hosts = [
        SlotRequest { key: "a", limit: 1 },
        SlotRequest { key: "b", limit: 1 },
        SlotRequest { key: "c", limit: 1 },
    ];
    let skip_b = |i: usize| i == 1;
    let first = take(&dir, &hosts, &skip_b);
    let second = take(&dir, &hosts, &skip_b);
    assert_eq!((first.host, second.host), (0, 2));
    assert!(try_acquire(&dir, &hosts, &skip_b).unwrap().is_none());
    let soon = Instant::now() + Duration::from_millis(100);
    assert!(acquire_until(&dir, &hosts, &skip_b, Some(soon))
        .unwrap()
        .is_none());

    // With every host skipped there is nothing to wait for.
    let all = |_: usize| true;
    let none = within(10, move || acquire(&dir, &hosts, &all).unwrap().is_none());
    assert!(none);
}

#[test]
fn preprocessing_slots_are_separate() {
    let (_top, dir) = lock_dir();
    let hosts = [SlotRequest {
        key: "localhost",
        limit: 1,
    }];
    let cpu = take(&dir, &hosts, NONE_SKIPPED);
    let p0 = acquire_cpp(&dir, 2).unwrap();
    let p1 = acquire_cpp(&dir, 2).unwrap();
    assert_eq!((cpu.slot, p0.slot, p1.slot), (0, 0, 1));
    assert!(cpp_lock_path(&dir, 1).ends_with("cpp_localhost_1"));
    assert!(cpp_lock_path(&dir, 1).exists());

    let (tx, rx) = mpsc::channel();
    let waiter_dir = dir.clone();
    thread::spawn(move || tx.send(acquire_cpp(&waiter_dir, 2).unwrap()).unwrap());
    drop(p1);
    assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap().slot, 1);
}

#[test]
fn host_keys_are_file_name_safe() {
    assert_eq!(host_key("127.0.0.1:3632"), "127.0.0.1%3A3632");
    assert_eq!(host_key("a_b-c.d"), "a_b-c.d");
    for raw in ["[::1]:3632/lzo,cpp", "@user@host", "héllo/../x", "%41"] {
        let key = host_key(raw);
        assert!(key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-%".contains(&b)));
        assert_eq!(unescape_key(&key).as_deref(), Some(raw));
    }
    assert_eq!(unescape_key("%4"), None);
    assert_eq!(unescape_key("%zz"), None);
    assert!(cpu_lock_path(Path::new("/l"), "h:1", 3).ends_with("cpu_h%3A1_3"));
}

#[test]
fn fifty_threads_never_exceed_the_limit() {
    const THREADS: usize = 50;
    const LIMIT: u32 = 4;
    let (_top, dir) = lock_dir();
    let dir = Arc::new(dir);
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let (running2, peak2, done2) = (running.clone(), peak.clone(), done.clone());
    within(60, move || {
        let start = Arc::new(Barrier::new(THREADS));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let (dir, start) = (dir.clone(), start.clone());
                let (running, peak, done) = (running2.clone(), peak2.clone(), done2.clone());
                thread::spawn(move || {
                    let hosts = [SlotRequest {
                        key: "127.0.0.1:3632",
                        limit: LIMIT,
                    }];
                    start.wait();
                    let slot = acquire(&dir, &hosts, NONE_SKIPPED).unwrap().unwrap();
                    assert!(slot.slot < LIMIT);
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    let mut x = 0u64;
                    for i in 0..20_000u64 {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                    }
                    thread::yield_now();
                    running.fetch_sub(1, Ordering::SeqCst);
                    drop(slot);
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
    });
    assert_eq!(done.load(Ordering::SeqCst), THREADS);
    assert_eq!(running.load(Ordering::SeqCst), 0);
    let peak = peak.load(Ordering::SeqCst);
    assert!((1..=LIMIT as usize).contains(&peak), "peak {peak}");
}

#[test]
fn lock_of_killed_process_is_released() {
    if Command::new("flock").arg("--version").output().is_err() {
        eprintln!("skipping: no flock(1) to hold a lock from another process");
        return;
    }
    let (_top, dir) = lock_dir();
    let hosts = [SlotRequest {
        key: "127.0.0.1:3632",
        limit: 1,
    }];
    // Creates the directory and file, then frees the slot for the child.
    drop(take(&dir, &hosts, NONE_SKIPPED));

    // `-o` keeps the lock in the flock process alone; the process group lets
    // the test kill the shell under it as well.
    let mut child = Command::new("flock")
        .arg("-o")
        .arg(cpu_lock_path(&dir, hosts[0].key, 0))
        .args(["sh", "-c", "echo held; exec sleep 100"])
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = child.id() as libc::pid_t;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "held");
    assert!(try_acquire(&dir, &hosts, NONE_SKIPPED).unwrap().is_none());

    assert_eq!(unsafe { libc::kill(-pgid, libc::SIGKILL) }, 0);
    child.wait().unwrap();
    let slot = try_acquire(&dir, &hosts, NONE_SKIPPED).unwrap();
    assert_eq!(slot.map(|s| s.slot), Some(0));
}
