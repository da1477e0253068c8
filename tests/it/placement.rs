//! Volunteers that say how busy they are, and drain: the status query
//! answered while every job slot is taken, a daemon that finishes its jobs
//! after SIGTERM while refusing new ones (the client takes another host),
//! placement by the hosts' answers, and distcc 3.4 left to today's order.
//!
//! The daemons' and clients' PATH starts with `blocking`'s `gcc` wrapper:
//! a job that runs exactly as long as the test needs.

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use distcc::protocol::status::{self, Status};

use crate::blocking::{self, jobs_in, wait_for};
use crate::skip_unless;
use crate::util::*;

const T: Duration = Duration::from_secs(60);
const SOURCE: &str = "int f(int x) { return x * 7; }\n";

pub(crate) struct Rig {
    pub tree: Tree,
    path: std::ffi::OsString,
}

impl Rig {
    pub fn new() -> Rig {
        let tree = Tree::new();
        let path = blocking::install(&tree);
        fs::create_dir_all(tree.path("other")).unwrap();
        fs::set_permissions(tree.path("other"), fs::Permissions::from_mode(0o777)).unwrap();
        tree.write("x.c", SOURCE);
        tree.write("y.c", SOURCE);
        Rig { tree, path }
    }

    pub fn daemon(&self, extra: &[&str]) -> Daemon {
        let mut args = vec!["--no-sandbox"];
        args.extend_from_slice(extra);
        Daemon::start_with(&self.tree, &args, |c| {
            c.env("PATH", &self.path);
        })
    }

    pub fn started(&self) -> usize {
        blocking::started(&self.tree)
    }

    pub fn release(&self) {
        blocking::release(&self.tree)
    }

    /// A client compiling `src` to `obj` on `hosts`, never locally.
    pub fn compile(&self, hosts: &str, src: &str, obj: &str, blocking: bool) -> Command {
        let mut args = vec!["gcc", "-c", src, "-o", obj];
        if blocking {
            args.push(blocking::MARKER);
        }
        let mut c = self.tree.client(hosts, &args);
        c.env("DISTCC_FALLBACK", "0").env("PATH", &self.path);
        c
    }

    /// The same, as another user would (its own DISTCC_DIR), in the
    /// background.
    pub fn other_user(&self, hosts: &str, src: &str, obj: &str) -> Child {
        let mut c = self.compile(hosts, src, obj, true);
        c.env("DISTCC_DIR", self.tree.path("other"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    }
}

fn ask(port: u16) -> Status {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(&status::query()).unwrap();
    status::read_status(&mut s).unwrap()
}

fn same_as_local(rig: &Rig, src: &str, obj: &str) {
    let local = format!("local-{obj}");
    let out = local_compile(rig, src, &local);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let work = rig.tree.work();
    assert_eq!(
        fs::read(work.join(obj)).unwrap(),
        fs::read(work.join(&local)).unwrap(),
        "{obj} differs from a local compile"
    );
}

fn local_compile(rig: &Rig, src: &str, obj: &str) -> std::process::Output {
    local(&rig.tree, "gcc", &["-c", src, "-o", obj, blocking::MARKER])
}

#[test]
fn status_is_answered_while_every_slot_is_busy() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    let d = rig.daemon(&["--jobs", "1"]);
    let idle = ask(d.port);
    assert_eq!((idle.slots, idle.running, idle.queued), (1, 0, 0));
    assert!(idle.cores > 0.0 && !idle.draining, "{idle:?}");
    let mut first = rig.other_user(&d.host(), "x.c", "x.o");
    assert!(wait_for(T, || rig.started() == 1), "{}", d.log());
    let mut second = rig.other_user(&d.host(), "y.c", "y.o");
    // The only slot is taken and a second job waits: still answered.
    assert!(
        wait_for(T, || {
            let s = ask(d.port);
            s.running == 1 && s.queued == 1
        }),
        "{:?}\n{}",
        ask(d.port),
        d.log()
    );
    rig.release();
    for c in [&mut first, &mut second] {
        assert!(wait_bounded(c, T).unwrap().success());
    }
    same_as_local(&rig, "x.c", "x.o");
    same_as_local(&rig, "y.c", "y.o");
}

#[test]
fn sigterm_drains_the_running_job_and_sends_new_ones_elsewhere() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    let pid_file = rig.tree.path("rec/distccd.pid");
    let mut draining = rig.daemon(&["--pid-file", pid_file.to_str().unwrap()]);
    let other = rig.daemon(&[]);
    let mut running = rig.other_user(&draining.host(), "x.c", "x.o");
    assert!(wait_for(T, || rig.started() == 1), "{}", draining.log());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(draining.child.id() as i32, libc::SIGTERM) };
    assert!(wait_for(T, || ask(draining.port).draining));

    // Alone, it refuses with "busy": a failure to distribute, said so.
    let out = run(rig.compile(&draining.host(), "y.c", "y.o", false), T);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("draining"),
        "{}",
        text(&out.stderr)
    );
    // Listed first, it costs the job nothing: the next host compiles it.
    let hosts = format!("{} {}", draining.host(), other.host());
    let out = run(rig.compile(&hosts, "y.c", "y.o", false), T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(jobs_in(&other, 1), 1, "{}", other.log());

    rig.release();
    let status = wait_bounded(&mut running, T).unwrap();
    assert!(status.success(), "the running job was lost");
    same_as_local(&rig, "x.c", "x.o");
    let exit = wait_bounded(&mut draining.child, T).expect("daemon did not exit");
    assert_eq!(exit.code(), Some(0), "{}", draining.log());
    assert!(!pid_file.exists(), "pid file left after the drain");
    assert_eq!(jobs_in(&draining, 1), 1, "{}", draining.log());
}

#[test]
fn jobs_go_to_the_volunteer_that_is_free() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    let busy = rig.daemon(&["--jobs", "1"]);
    let free = rig.daemon(&["--jobs", "1"]);
    // Another user's job holds the first host's only slot.
    let mut theirs = rig.other_user(&busy.host(), "x.c", "x.o");
    assert!(wait_for(T, || rig.started() == 1), "{}", busy.log());
    // Listed first, with every one of our slots there free, it would get
    // the job in distcc's order (and hold it until the release).
    let hosts = format!("{}/4 {}/4", busy.host(), free.host());
    let out = run(rig.compile(&hosts, "y.c", "y.o", false), T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(jobs_in(&free, 1), 1, "{}", free.log());
    let cached = rig.tree.path("state/status");
    assert!(cached.is_dir(), "no status cache in DISTCC_DIR");
    rig.release();
    assert!(wait_bounded(&mut theirs, T).unwrap().success());
    assert_eq!(jobs_in(&busy, 1), 1, "{}", busy.log());
}

#[test]
fn distcc_3_4_hosts_are_asked_once_and_keep_their_order() {
    skip_unless!(
        have("gcc") && RefDaemon::available(),
        "gcc or Debian's distcc not installed"
    );
    let rig = Rig::new();
    let reference = RefDaemon::start();
    let ours = rig.daemon(&[]);
    let hosts = format!("{} {}", reference.host(), ours.host());
    for obj in ["a.o", "b.o"] {
        let out = run(rig.compile(&hosts, "x.c", obj, false), T);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let marker: PathBuf = rig
        .tree
        .path("state/state")
        .join(format!("nostatus_127.0.0.1%3A{}", reference.port));
    assert!(marker.exists(), "the reference daemon was not remembered");
}
