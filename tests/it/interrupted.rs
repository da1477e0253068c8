//! A client interrupted at any point of a job leaves no temp file behind:
//! SIGTERM and SIGINT are cleaned up after (and the client dies of the
//! same signal, so make sees it), and what SIGKILL leaves is swept by the
//! next client that distributes a job.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use distcc::state::{self as jobs, slot, Phase};

use crate::faults::Stopped;
use crate::skip_unless;
use crate::util::*;

/// A tree whose client has a `TMPDIR` and an output dir of its own, so
/// every temp file it could leave is in sight.
struct Scene {
    tree: Tree,
}

impl Scene {
    fn new(source: &str) -> Scene {
        let tree = Tree::new();
        tree.write("t.c", source);
        for d in ["tmp", "work/out"] {
            fs::create_dir_all(tree.path(d)).unwrap();
            fs::set_permissions(tree.path(d), fs::Permissions::from_mode(0o777)).unwrap();
        }
        Scene { tree }
    }

    fn client(&self, hosts: &str) -> Command {
        let mut cmd = self
            .tree
            .client(hosts, &["gcc", "-O2", "-c", "t.c", "-o", "out/t.o"]);
        cmd.env("TMPDIR", self.tree.path("tmp"))
            .env("DISTCC_STREAM", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    }

    /// Temp files of ours anywhere the client could leave them.
    fn temps(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for dir in [self.tree.path("tmp"), self.tree.work().join("out")] {
            for e in fs::read_dir(&dir).unwrap().flatten() {
                let name = e.file_name();
                let n = name.as_bytes();
                if n.starts_with(b"distcc_") || n.starts_with(b".distcc-") {
                    found.push(e.path());
                }
            }
        }
        found
    }

    /// The slots in the client's state dir whose journal of temp places
    /// is not empty.
    fn journals(&self) -> Vec<PathBuf> {
        fs::read_dir(self.tree.path("state/state"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().as_bytes().starts_with(b"slot_"))
                    .filter(|e| slot::journal_in(&e.path()).is_some_and(|(_, t)| !t.is_empty()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits (bounded) until the client's job is in `phase` with a temp
    /// file made.
    fn await_phase(&self, phase: Phase) -> bool {
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            let there = jobs::list(&self.tree.path("state/state"))
                .iter()
                .any(|j| j.phase == phase);
            if there && !self.temps().is_empty() {
                return true;
            }
            thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

fn kill(child: &Child, sig: i32) {
    // SAFETY: signalling our own child, not yet reaped.
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// A compiler whose preprocessing takes as long as the test wants: it
/// preprocesses, then waits (as the same process, so a signal passed on to
/// it ends it).
fn slow_cpp(tree: &Tree) -> String {
    let dir = tree.path("slowcpp");
    fs::create_dir_all(&dir).unwrap();
    let script = format!(
        "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in -E) {gcc} \"$@\" || exit $?; exec sleep 120;; esac; done\n\
         exec {gcc} \"$@\"\n",
        gcc = which("gcc").display()
    );
    fs::write(dir.join("gcc"), script).unwrap();
    fs::set_permissions(dir.join("gcc"), fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn sigterm_and_sigint_leave_no_temp_file_and_kill_the_client() {
    skip_unless!(have("gcc"), "gcc not installed");
    let scene = Scene::new("int twice(int x) { return 2 * x; }\n");
    let daemon = Daemon::start(&scene.tree, &[]);
    let slow = slow_cpp(&scene.tree);
    for sig in [libc::SIGTERM, libc::SIGINT] {
        for point in ["preprocessing", "waiting on a stopped volunteer"] {
            let mut cmd = scene.client(&format!("{},classic", daemon.host()));
            let (phase, stopped) = if point == "preprocessing" {
                cmd.env("PATH", &slow);
                (Phase::Preprocess, None)
            } else {
                (Phase::Compile, Some(Stopped::new(daemon.child.id())))
            };
            let mut child = cmd.spawn().unwrap();
            assert!(scene.await_phase(phase), "{point}: never there");
            kill(&child, sig);
            let status = wait_bounded(&mut child, Duration::from_secs(60)).expect("client hung");
            drop(stopped);
            assert_eq!(status.signal(), Some(sig), "{point}: dies of the signal");
            assert_eq!(
                scene.temps(),
                Vec::<PathBuf>::new(),
                "{point}, signal {sig}"
            );
            assert_eq!(scene.journals(), Vec::<PathBuf>::new(), "{point}");
        }
    }
}

/// Watches a dir for new names (inotify), to signal a client the moment
/// it starts writing an output.
struct Watch(OwnedFd);

impl Watch {
    fn new(dir: &Path) -> Watch {
        // SAFETY: plain syscalls; the fd is ours.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        assert!(fd >= 0);
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid fd and path.
        let w = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), libc::IN_CREATE) };
        assert!(w >= 0);
        Watch(fd)
    }

    /// Waits (bounded) for a name starting with `prefix` to be created.
    fn created(&self, prefix: &[u8]) -> bool {
        let mut buf = [0u8; 4096];
        let until = Instant::now() + Duration::from_secs(120);
        while Instant::now() < until {
            let mut pfd = libc::pollfd {
                fd: self.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, 1000) } <= 0 {
                continue;
            }
            // SAFETY: reading into our buffer.
            let n = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            let mut off = 0;
            while n > 0 && off + 16 <= n as usize {
                let len = u32::from_ne_bytes(buf[off + 12..off + 16].try_into().unwrap()) as usize;
                let name = &buf[off + 16..off + 16 + len];
                if name.starts_with(prefix) {
                    return true;
                }
                off += 16 + len;
            }
        }
        false
    }
}

/// A unit whose object is 32 MiB, so writing it takes a while.
const BIG_OBJECT: &str = "char big[32 << 20] = {1};\n";

/// Signals a client the moment its output's temp file appears. `Some(hit)`:
/// whether the signal came before the rename (no output then).
fn signal_mid_write(scene: &Scene, hosts: &str, sig: i32) -> Option<bool> {
    fs::remove_file(scene.tree.work().join("out/t.o")).ok();
    let watch = Watch::new(&scene.tree.work().join("out"));
    let mut child = scene.client(hosts).spawn().unwrap();
    let seen = watch.created(b".distcc-");
    kill(&child, sig);
    let status = wait_bounded(&mut child, Duration::from_secs(120)).expect("client hung");
    if !seen {
        return None;
    }
    assert_eq!(status.signal(), Some(sig), "dies of the signal");
    Some(!scene.tree.work().join("out/t.o").exists())
}

#[test]
fn a_signal_while_the_output_is_written_leaves_no_temp_file() {
    skip_unless!(have("gcc"), "gcc not installed");
    let scene = Scene::new(BIG_OBJECT);
    let daemon = Daemon::start(&scene.tree, &[]);
    let mut hits = 0;
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGTERM, libc::SIGINT] {
        let hit = signal_mid_write(&scene, &format!("{},classic", daemon.host()), sig);
        hits += usize::from(hit == Some(true));
        assert_eq!(scene.temps(), Vec::<PathBuf>::new(), "signal {sig}");
        assert_eq!(scene.journals(), Vec::<PathBuf>::new());
    }
    if hits == 0 {
        eprintln!("SKIPPED part: no signal landed before the rename");
    }
}

#[test]
fn what_sigkill_leaves_is_swept_by_the_next_run() {
    skip_unless!(have("gcc"), "gcc not installed");
    let scene = Scene::new(BIG_OBJECT);
    let daemon = Daemon::start(&scene.tree, &[]);
    // Killed while the volunteer is stopped: the preprocessed source stays.
    {
        let _stopped = Stopped::new(daemon.child.id());
        let mut child = scene
            .client(&format!("{},classic", daemon.host()))
            .spawn()
            .unwrap();
        assert!(scene.await_phase(Phase::Compile), "never compiling");
        kill(&child, libc::SIGKILL);
        wait_bounded(&mut child, Duration::from_secs(60)).expect("client hung");
    }
    // Killed while writing the output, when that can be caught.
    let hit = signal_mid_write(&scene, &format!("{},classic", daemon.host()), libc::SIGKILL);
    let left = scene.temps();
    println!("left behind: {left:?} (mid-write: {hit:?})");
    assert!(!left.is_empty(), "SIGKILL leaves the temp files");
    assert!(!scene.journals().is_empty(), "and says where they are");
    if hit == Some(true) {
        assert!(
            left.iter().any(|p| p.starts_with(scene.tree.work())),
            "the output's temp file is among them"
        );
    }
    // Any later client that distributes a job sweeps them.
    let out = run(
        scene.client(&format!("{},classic", daemon.host())),
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(scene.temps(), Vec::<PathBuf>::new());
    assert_eq!(scene.journals(), Vec::<PathBuf>::new());
}
