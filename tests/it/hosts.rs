//! Hosts, slots and dead volunteers: a parallel `make` over three loopback
//! daemons, one of them killed mid-build; fifty clients against four
//! slots; the host list from files.
//!
//! Each daemon runs a wrapper in place of gcc that appends `start`/`end`
//! to its own event file, so concurrency is counted on the daemon side.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::skip_unless;
use crate::util::*;

/// A dir holding a `gcc` that records each compile (`-c`: not the
/// identity probes a daemon runs) in the `events` file beside it and then
/// runs the real one; `delay` (seconds, kept in the
/// `delay` file beside it) stretches compiles so they overlap. Every such
/// `gcc` has the same bytes, the client's too: our daemon runs only a
/// compiler whose identity is the client's.
fn counting_compiler(tree: &Tree, name: &str, delay: &str) -> (PathBuf, PathBuf) {
    let dir = tree.path(name);
    fs::create_dir_all(&dir).unwrap();
    let events = dir.join("events");
    fs::write(&events, "").unwrap();
    fs::set_permissions(&events, fs::Permissions::from_mode(0o666)).unwrap();
    fs::write(dir.join("delay"), delay).unwrap();
    let real = which("gcc");
    let script = format!(
        "#!/bin/sh\n\
         for a in \"$@\"; do [ \"$a\" = -c ] && break; done\n\
         [ \"$a\" = -c ] || exec {real} \"$@\"\n\
         here=$(dirname \"$0\")\necho start >> \"$here/events\"\n\
         sleep \"$(cat \"$here/delay\")\"\n{real} \"$@\"\nrc=$?\necho end >> \"$here/events\"\nexit $rc\n",
        real = real.display()
    );
    let gcc = dir.join("gcc");
    fs::write(&gcc, script).unwrap();
    fs::set_permissions(&gcc, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    (dir, events)
}

fn with_path_first(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// (compiles started, most running at once) from an event file.
fn load(events: &Path) -> (usize, usize) {
    let text = fs::read_to_string(events).unwrap_or_default();
    let (mut running, mut max, mut started) = (0usize, 0usize, 0usize);
    for line in text.lines() {
        if line == "start" {
            running += 1;
            started += 1;
            max = max.max(running);
        } else if line == "end" {
            running = running.saturating_sub(1);
        }
    }
    (started, max)
}

fn project(tree: &Tree, n: usize) {
    let mut objs = Vec::new();
    for i in 0..n {
        tree.write(
            &format!("src/f{i}.c"),
            &format!(
                "#include \"common.h\"\nint f{i}(int x) {{ return SCALE(x) + {i}; }}\n\
                 static const char name{i}[] = \"file {i}\";\nconst char *n{i}(void) {{ return name{i}; }}\n"
            ),
        );
        objs.push(format!("obj/f{i}.o"));
    }
    tree.write("include/common.h", "#define SCALE(x) ((x) * 3)\n");
    tree.write(
        "Makefile",
        &format!(
            "CC ?= gcc\nOBJS = {}\nall: $(OBJS)\nobj/%.o: src/%.c include/common.h\n\t@mkdir -p obj\n\t$(CC) -O2 -Iinclude -c $< -o $@\n",
            objs.join(" ")
        ),
    );
}

#[test]
fn parallel_build_survives_a_killed_volunteer() {
    skip_unless!(have("gcc") && have("make"), "gcc or make missing");
    const FILES: usize = 64;
    let tree = Tree::new();
    project(&tree, FILES);

    // The reference: a plain local build.
    let out = run(
        {
            let mut c = Command::new("make");
            c.args(["-j4", "CC=gcc"]).current_dir(tree.work());
            c
        },
        Duration::from_secs(300),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want = dir_contents(&tree.work().join("obj"));
    assert_eq!(want.len(), FILES);
    fs::remove_dir_all(tree.work().join("obj")).unwrap();

    let limits = [2usize, 3, 4];
    let mut daemons = Vec::new();
    let mut event_files = Vec::new();
    for (i, delay) in ["0.05", "0.05", "0.3"].iter().enumerate() {
        let (dir, events) = counting_compiler(&tree, &format!("wrap{i}"), delay);
        let path = with_path_first(&dir);
        daemons.push(Daemon::start_with(
            &tree,
            &["--jobs", "8", "--no-sandbox"],
            |c| {
                c.env("PATH", path);
            },
        ));
        event_files.push(events);
    }
    let hosts: Vec<String> = daemons
        .iter()
        .zip(limits)
        .map(|(d, l)| format!("{}/{l}", d.host()))
        .collect();
    let victim_events = event_files[2].clone();
    let victim_pid = daemons[2].child.id() as i32;

    // Kill the third daemon once it is busy compiling.
    let killer = thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(120);
        while Instant::now() < until {
            if load(&victim_events).0 >= 2 {
                // SAFETY: killing our own child daemon.
                unsafe { libc::kill(victim_pid, libc::SIGKILL) };
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    });

    // The spec allows a local compile for a job whose host died when no
    // other slot is free at that moment, so the client's compilers are
    // real here (the counting one, whose own events nobody counts); the
    // objects must still equal the local build's.
    let (client_dir, _) = counting_compiler(&tree, "wrap-client", "0");
    let mut make = Command::new("make");
    make.args(["-j12", "CC=distcc gcc"])
        .current_dir(tree.work())
        .env(
            "PATH",
            format!(
                "{}:{}",
                tree.path("bin").display(),
                with_path_first(&client_dir)
            ),
        )
        .env("DISTCC_HOSTS", hosts.join(" "))
        .env("DISTCC_DIR", tree.path("state"))
        .env("DISTCC_BACKOFF_PERIOD", "60")
        .env_remove("DISTCC_FALLBACK");
    let out = run(make, Duration::from_secs(600));
    assert!(killer.join().unwrap(), "the victim never started compiling");
    assert!(out.status.success(), "build failed: {}", text(&out.stderr));
    assert_eq!(
        dir_contents(&tree.work().join("obj")),
        want,
        "objects differ from the local build"
    );

    let mut total = 0;
    for (i, events) in event_files.iter().enumerate() {
        let (started, max) = load(events);
        println!(
            "daemon {i}: {started} compiles, at most {max} at once (limit {})",
            limits[i]
        );
        assert!(started > 0, "daemon {i} got no work");
        assert!(
            max <= limits[i],
            "daemon {i} ran {max} at once, limit {}",
            limits[i]
        );
        total += started;
    }
    let fallbacks = text(&out.stderr).matches("running locally instead").count();
    println!("{total} remote compiles, {fallbacks} local fallbacks for {FILES} files");
    assert!(
        total + fallbacks >= FILES,
        "{total} + {fallbacks} compiles for {FILES} files"
    );
    assert!(
        fallbacks <= limits[2],
        "only jobs caught on the dead host fall back"
    );
    let backoff = fs::read_dir(tree.path("state/state"))
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .contains(&daemons[2].port.to_string())
        });
    assert!(backoff, "the killed daemon is backed off");
}

#[test]
fn fifty_clients_never_exceed_four_slots() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Arc::new(Tree::new());
    tree.write("one.c", "int one(void) { return 1; }\n");
    let (dir, events) = counting_compiler(&tree, "wrap", "0.02");
    let path = with_path_first(&dir);
    let daemon = Daemon::start_with(&tree, &["--jobs", "16", "--no-sandbox"], |c| {
        c.env("PATH", path);
    });
    let host = format!("{}/4", daemon.host());
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let tree = tree.clone();
            let host = host.clone();
            thread::spawn(move || {
                let out_name = format!("o{i}.o");
                let mut cmd = tree.client(&host, &["gcc", "-c", "one.c", "-o", &out_name]);
                cmd.env("PATH", tree.cpponly_path())
                    .env("DISTCC_FALLBACK", "0");
                run(cmd, Duration::from_secs(300))
            })
        })
        .collect();
    for h in handles {
        let out = h.join().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let (started, max) = load(&events);
    println!("50 clients: {started} compiles, at most {max} at once");
    assert_eq!(started, 50);
    assert!(max <= 4, "{max} compiles at once with 4 slots");
}

#[test]
fn hosts_file_when_the_variable_is_unset() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    tree.write("one.c", "int one(void) { return 1; }\n");
    let daemon = Daemon::start(&tree, &[]);
    fs::write(
        tree.path("state/hosts"),
        format!("# build farm\n{}/2,lzo\n", daemon.host()),
    )
    .unwrap();
    let mut cmd = tree.client("", &["gcc", "-c", "one.c", "-o", "one.o"]);
    cmd.env_remove("DISTCC_HOSTS")
        .env("PATH", tree.cpponly_path())
        .env("DISTCC_FALLBACK", "0");
    let out = run(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut cmd = tree.client("", &["--show-hosts"]);
    cmd.env_remove("DISTCC_HOSTS");
    let out = run(cmd, Duration::from_secs(10));
    assert_eq!(text(&out.stdout).trim(), format!("{}/2,lzo", daemon.host()));
    let mut cmd = tree.client("", &["-j"]);
    cmd.env_remove("DISTCC_HOSTS");
    assert_eq!(text(&run(cmd, Duration::from_secs(10)).stdout).trim(), "2");
}

#[test]
fn no_hosts_and_bad_hosts() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    tree.write("one.c", "int one(void) { return 1; }\n");
    // No hosts at all (or the system list's dead host): one warning, a
    // local compile.
    let mut cmd = tree.client("", &["gcc", "-c", "one.c", "-o", "one.o"]);
    cmd.env_remove("DISTCC_HOSTS");
    let out = run(cmd, Duration::from_secs(60));
    assert!(out.status.success());
    assert_eq!(
        text(&out.stderr).lines().count(),
        1,
        "{}",
        text(&out.stderr)
    );
    // ... or exit 116 when fallback is off.
    if Path::new("/etc/distcc/hosts").exists() {
        eprintln!("SKIPPED part: /etc/distcc/hosts exists, so there are hosts");
    } else {
        let mut cmd = tree.client("", &["gcc", "-c", "one.c", "-o", "two.o"]);
        cmd.env_remove("DISTCC_HOSTS").env("DISTCC_FALLBACK", "0");
        assert_eq!(run(cmd, Duration::from_secs(60)).status.code(), Some(116));
    }
    // A bad spec names the word; 106 without fallback.
    let mut cmd = tree.client("good:1 bad:port", &["gcc", "-c", "one.c", "-o", "three.o"]);
    cmd.env("DISTCC_FALLBACK", "0");
    let out = run(cmd, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(106));
    assert!(
        text(&out.stderr).contains("\"bad:port\" (word 2)"),
        "{}",
        text(&out.stderr)
    );
}
