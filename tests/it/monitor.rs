//! `distccmon-text` watching a real parallel build: two daemons whose gcc
//! waits until the test releases it, so every job sits in the Compile
//! phase while the monitor is sampled (plain lines, then the full-screen
//! view in a pseudo-terminal); afterwards nothing is listed, no job file
//! is left, and `--summary` agrees with the daemons' own logs.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::skip_unless;
use crate::util::*;

const JOBS: usize = 8;
const LIMIT: usize = 4;

/// A `gcc` for the daemons that waits (bounded) for `release` to exist.
fn slow_gcc(tree: &Tree, release: &Path) -> OsString {
    let dir = tree.path("slow");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let script = format!(
        "#!/bin/sh\ni=0\nwhile [ ! -e '{}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n\
         exec '{}' \"$@\"\n",
        release.display(),
        which("gcc").display()
    );
    fs::write(dir.join("gcc"), script).unwrap();
    fs::set_permissions(dir.join("gcc"), fs::Permissions::from_mode(0o755)).unwrap();
    let mut dirs = vec![dir];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

fn monitor(tree: &Tree, hosts: &str, args: &[&str]) -> Command {
    let mut c = Command::new(tree.path("bin/distccmon-text"));
    c.args(args)
        .env("DISTCC_DIR", tree.path("state"))
        .env("DISTCC_HOSTS", hosts)
        .stdin(Stdio::null());
    c
}

/// Job lines of the plain listing: (pid, phase, file, host, slot).
fn job_lines(out: &str) -> Vec<(u32, String, String, String, u32)> {
    out.lines()
        .filter(|l| !l.starts_with("host ") && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 4, "unexpected line {l:?}");
            let (host, slot) = f[3].trim_end_matches(']').split_once('[').unwrap();
            (
                f[0].parse().unwrap(),
                f[1].into(),
                f[2].into(),
                host.into(),
                slot.parse().unwrap(),
            )
        })
        .collect()
}

fn job_files(tree: &Tree) -> Vec<String> {
    fs::read_dir(tree.path("state/state"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("job_"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn monitor_follows_a_parallel_build() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    symlink(exe(), tree.path("bin/distccmon-text")).unwrap();
    let release = tree.path("release");
    let path = slow_gcc(&tree, &release);
    let start = |_| {
        Daemon::start_with(&tree, &["--jobs", "4", "--no-sandbox"], |c| {
            c.env("PATH", &path);
        })
    };
    let daemons: Vec<Daemon> = (0..2).map(start).collect();
    let keys: Vec<String> = daemons.iter().map(Daemon::host).collect();
    let hosts = format!("{}/{LIMIT} {}/{LIMIT}", keys[0], keys[1]);

    let mut clients: Vec<Child> = Vec::new();
    for i in 0..JOBS {
        let src = format!("f{i}.c");
        tree.write(&src, &format!("int f{i}(void) {{ return {i}; }}\n"));
        let mut c = tree.client(&hosts, &["gcc", "-c", &src, "-o", &format!("f{i}.o")]);
        c.env("PATH", tree.cpponly_path())
            .env("DISTCC_FALLBACK", "0")
            .stdout(Stdio::null())
            .stderr(fs::File::create(tree.path(&format!("err{i}"))).unwrap());
        clients.push(c.spawn().unwrap());
    }
    // Release the compilers whatever happens, so no wrapper outlives us.
    struct Release(PathBuf);
    impl Drop for Release {
        fn drop(&mut self) {
            fs::write(&self.0, "").ok();
        }
    }
    let release_guard = Release(release.clone());

    let until = Instant::now() + Duration::from_secs(60);
    let (listing, jobs) = loop {
        let out = run(monitor(&tree, &hosts, &[]), Duration::from_secs(10));
        assert!(out.status.success(), "{}", text(&out.stderr));
        let listing = text(&out.stdout);
        let jobs = job_lines(&listing);
        if jobs.len() == JOBS && jobs.iter().all(|j| j.1 == "Compile") {
            break (listing, jobs);
        }
        assert!(
            Instant::now() < until,
            "jobs never all compiling:\n{listing}"
        );
        thread::sleep(Duration::from_millis(100));
    };
    let pids: BTreeSet<u32> = clients.iter().map(Child::id).collect();
    assert_eq!(jobs.iter().map(|j| j.0).collect::<BTreeSet<_>>(), pids);
    let files: BTreeSet<String> = (0..JOBS).map(|i| format!("f{i}.c")).collect();
    assert_eq!(
        jobs.iter().map(|j| j.2.clone()).collect::<BTreeSet<_>>(),
        files
    );
    // Both hosts full, each slot used once: the picks the clients made.
    let slots: BTreeSet<(String, u32)> = jobs.iter().map(|j| (j.3.clone(), j.4)).collect();
    let want: BTreeSet<(String, u32)> = keys
        .iter()
        .flat_map(|k| (0..LIMIT as u32).map(move |s| (k.clone(), s)))
        .collect();
    assert_eq!(slots, want, "{listing}");
    for k in &keys {
        let line = format!("host {k}  busy {LIMIT}/{LIMIT}  done 0  fail 0");
        assert!(listing.contains(&line), "missing {line:?} in\n{listing}");
    }

    live_view(&tree, &hosts, &keys);

    drop(release_guard);
    for (i, mut c) in clients.into_iter().enumerate() {
        let status = wait_bounded(&mut c, Duration::from_secs(120)).expect("client hung");
        let err = fs::read_to_string(tree.path(&format!("err{i}"))).unwrap();
        assert!(status.success(), "job {i}: {err}");
        // Without DISTCC_STATS, stderr stays the compiler's alone.
        assert_eq!(err, "", "job {i}");
        assert!(tree.work().join(format!("f{i}.o")).exists());
    }

    let out = run(monitor(&tree, &hosts, &[]), Duration::from_secs(10));
    let listing = text(&out.stdout);
    assert!(job_lines(&listing).is_empty(), "{listing}");
    assert_eq!(job_files(&tree), Vec::<String>::new());

    // One more job with DISTCC_STATS: a line saying where it went.
    let mut c = tree.client(&hosts, &["gcc", "-c", "f0.c", "-o", "f0.o"]);
    c.env("PATH", tree.cpponly_path()).env("DISTCC_STATS", "1");
    let out = run(c, Duration::from_secs(120));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("distcc: stats: f0.c: remote on 127.0.0.1:") && err.contains(" compile "),
        "{err}"
    );

    let out = run(
        monitor(&tree, &hosts, &["--summary"]),
        Duration::from_secs(10),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary.contains(&format!("remote {} (compile errors 0), local 0", JOBS + 1)),
        "{summary}"
    );
    let per_host: BTreeMap<&str, u64> = summary
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            keys.iter()
                .find(|k| f.first() == Some(&k.as_str()))
                .map(|_| (f[0], f[1].parse().unwrap()))
        })
        .collect();
    for (k, d) in keys.iter().zip(&daemons) {
        // A daemon logs a job after its reply: the client may be done first.
        let want = per_host.get(k.as_str()).copied().unwrap_or(0) as usize;
        let log = d.log_when(|l| l.matches(": gcc status 0").count() >= want);
        let served = log.matches(": gcc status 0").count() as u64;
        assert_eq!(per_host.get(k.as_str()), Some(&served), "{k}: {summary}");
    }
    assert_eq!(per_host.values().sum::<u64>(), JOBS as u64 + 1);
}

/// Runs the full-screen view in a pseudo-terminal while every slot is
/// busy, checks the captured screen, quits it with `q`.
fn live_view(tree: &Tree, hosts: &str, keys: &[String]) {
    let (mut master, mut slave) = (0, 0);
    let ws = libc::winsize {
        ws_row: 30,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: out-pointers to two ints; no name buffer; a valid winsize.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        )
    };
    if r != 0 {
        eprintln!("SKIPPED live view: no pseudo-terminal available");
        return;
    }
    // SAFETY: openpty returned two fresh descriptors we now own.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut cmd = monitor(tree, hosts, &[]);
    cmd.env("TERM", "xterm")
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    let mut child = cmd.spawn().unwrap();
    // The parent must hold no slave end, or reading never sees the end.
    drop(cmd);
    let mut reader = fs::File::from(master.try_clone().unwrap());
    let mut writer = fs::File::from(master);
    let screen = Arc::new(Mutex::new(String::new()));
    let screen2 = screen.clone();
    let pump = thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // EIO once the child has exited and the slave is closed.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            screen2
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let full = format!("[{}]", "#".repeat(LIMIT));
    let until = Instant::now() + Duration::from_secs(20);
    let seen = loop {
        let s = screen.lock().unwrap().clone();
        let ok = keys.iter().all(|k| {
            s.lines()
                .any(|l| l.contains(k.as_str()) && l.contains(&full) && l.contains("4/4"))
        }) && s.contains(&format!("{JOBS} running"))
            && s.matches("Compile").count() >= JOBS;
        if ok || Instant::now() > until {
            break ok;
        }
        thread::sleep(Duration::from_millis(50));
    };
    writer.write_all(b"q").unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(10));
    drop(writer);
    pump.join().unwrap();
    let s = screen.lock().unwrap().clone();
    assert!(seen, "live view never showed the busy hosts:\n{s}");
    assert!(status.is_some_and(|s| s.success()), "q did not quit: {s}");
    // Entered the alternate screen, then restored the terminal.
    assert!(
        s.contains("\x1b[?1049h") && s.ends_with("\x1b[?25h\x1b[?1049l"),
        "{s:?}"
    );
}

#[test]
fn monitor_help_and_bad_arguments() {
    let tree = Tree::new();
    symlink(exe(), tree.path("bin/distccmon-text")).unwrap();
    let out = run(monitor(&tree, "", &["--help"]), Duration::from_secs(10));
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("distccmon-text --summary"));
    let out = run(monitor(&tree, "", &["soon"]), Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(101), "{}", text(&out.stderr));
    // No state directory at all: nothing running, no error.
    let out = run(monitor(&tree, "", &[]), Duration::from_secs(10));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
}
