//! Hosts that come and go: a name in DISTCC_HOSTS with many addresses is
//! one volunteer per address, looked up again once the cached answer is
//! older than its TTL, so a volunteer added to the answer gets work; one
//! that has gone costs no job. A `_distcc._tcp.` name is read as SRV
//! records (from a dnsmasq of the test's own, in a network namespace the
//! test creates); `+zeroconf` takes what Avahi announces.
//!
//! The names live in a hosts file the test writes, bind-mounted over
//! /etc/hosts in a private mount namespace that only the client process
//! sees (`unshare -m`), and gone with it; the volunteers listen on
//! loopback addresses (127.0.0.2, 127.0.0.3), which Linux routes to `lo`.
//! Avahi is an `avahi-browse` on the client's PATH that prints what the
//! real one would.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::blocking::{self, jobs_in, wait_for};
use crate::skip_unless;
use crate::util::*;

const T: Duration = Duration::from_secs(60);
const NAME: &str = "pool.test";

struct Rig {
    tree: Tree,
    path: std::ffi::OsString,
}

fn is_root() -> bool {
    // SAFETY: getter.
    unsafe { libc::geteuid() == 0 }
}

impl Rig {
    fn new() -> Rig {
        let tree = Tree::new();
        let path = blocking::install(&tree);
        tree.write("x.c", "int f(int x) { return x + 1; }\n");
        Rig { tree, path }
    }

    /// Our daemon on `addr`, on `port` (0: the kernel's choice).
    fn daemon(&self, addr: &str, port: u16) -> Daemon {
        let mut cmd = Command::new(self.tree.path("bin/distccd"));
        cmd.args(serve_args(addr, port))
            .args(["--log-stderr", "--no-sandbox", "--jobs", "1"])
            .arg("--compiler-dir")
            .arg(self.tree.path("masq"))
            .env("PATH", &self.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        Daemon::spawn(cmd)
    }

    /// `NAME` resolves to `addrs`, in this order, for clients from now on.
    fn answer(&self, addrs: &[&str]) {
        let text: String = addrs.iter().map(|a| format!("{a} {NAME}\n")).collect();
        fs::write(self.tree.path("hosts"), text).unwrap();
    }

    /// The cached answer is past its TTL.
    fn expire_answer(&self) {
        let cached = self.tree.path("state/dns").join(NAME);
        let old = SystemTime::now() - Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(cached)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }

    /// A client (`distcc ARGS`) that sees the test's hosts file.
    fn client(&self, port: u16, args: &[&str]) -> Command {
        let mut inner = self.tree.client(&format!("{NAME}:{port}/1"), args);
        // The daemons' compiler: ours runs only the client's.
        inner.env("PATH", &self.path);
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c"])
            .arg("mount --bind \"$1\" /etc/hosts && shift && exec \"$@\"")
            .arg("sh")
            .arg(self.tree.path("hosts"))
            .arg(inner.get_program())
            .args(inner.get_args())
            .current_dir(self.tree.work())
            .env("DISTCC_FALLBACK", "0")
            .stdin(Stdio::null());
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd
    }

    fn compile(&self, port: u16, obj: &str, blocking: bool) -> Command {
        let mut args = vec!["gcc", "-c", "x.c", "-o", obj];
        if blocking {
            args.push(blocking::MARKER);
        }
        self.client(port, &args)
    }

    fn background(&self, port: u16, obj: &str) -> Child {
        let mut c = self.compile(port, obj, true);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c.spawn().unwrap()
    }

    fn started(&self) -> usize {
        blocking::started(&self.tree)
    }
}

fn ready() -> bool {
    is_root() && have("unshare") && have("gcc")
}

#[test]
fn a_name_with_many_addresses_is_one_volunteer_per_address() {
    skip_unless!(ready(), "needs root, unshare and gcc");
    let rig = Rig::new();
    let a = rig.daemon("127.0.0.2", 0);
    let b = rig.daemon("127.0.0.3", a.port);
    rig.answer(&["127.0.0.2", "127.0.0.3"]);
    let shown = run(rig.client(a.port, &["--show-hosts"]), T);
    assert_eq!(
        text(&shown.stdout),
        format!("127.0.0.2:{p}/1\n127.0.0.3:{p}/1\n", p = a.port),
        "{}",
        text(&shown.stderr)
    );
    // One job holds one address's only slot; the next takes the other's
    // (as one host of limit 1, it would wait for the first).
    let mut first = rig.background(a.port, "first.o");
    assert!(wait_for(T, || rig.started() == 1));
    let out = run(rig.compile(a.port, "second.o", false), T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    blocking::release(&rig.tree);
    assert!(wait_bounded(&mut first, T).unwrap().success());
    assert_eq!(
        (jobs_in(&a, 1), jobs_in(&b, 1)),
        (1, 1),
        "{}\n{}",
        a.log(),
        b.log()
    );
}

#[test]
fn a_volunteer_added_to_the_answer_gets_work_and_one_gone_costs_nothing() {
    skip_unless!(ready(), "needs root, unshare and gcc");
    let rig = Rig::new();
    let a = rig.daemon("127.0.0.2", 0);
    let port = a.port;
    let b = rig.daemon("127.0.0.3", port);
    rig.answer(&["127.0.0.2"]);
    let mut first = rig.background(port, "first.o");
    assert!(wait_for(T, || rig.started() == 1));
    // Mid-build the answer grows; once the cached one is stale, the new
    // volunteer takes the job the busy one cannot.
    rig.answer(&["127.0.0.2", "127.0.0.3"]);
    rig.expire_answer();
    let out = run(rig.compile(port, "second.o", false), T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(jobs_in(&b, 1), 1, "{}", b.log());
    blocking::release(&rig.tree);
    assert!(wait_bounded(&mut first, T).unwrap().success());
    // A volunteer leaves (still in the answer, listed first): its refused
    // connection sends the job on, and nothing fails.
    drop(b);
    rig.answer(&["127.0.0.3", "127.0.0.2"]);
    rig.expire_answer();
    let mut third = rig.compile(port, "third.o", false);
    third.env("DISTCC_VERBOSE", "1");
    let out = run(third, T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("127.0.0.3:{port}")),
        "the gone volunteer was not tried: {}",
        text(&out.stderr)
    );
    assert_eq!(jobs_in(&a, 2), 2, "{}", a.log());
}

#[test]
fn zeroconf_takes_the_volunteers_avahi_announces() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    let d = Daemon::start(&rig.tree, &[]);
    // Avahi as the client sees it: a browse that finds our daemon, with
    // two CPUs announced, and a service that did not resolve.
    let bin = rig.tree.path("avahi");
    fs::create_dir_all(&bin).unwrap();
    let browse = bin.join("avahi-browse");
    fs::write(
        &browse,
        format!(
            "#!/bin/sh\n\
             echo '+;lo;IPv4;gone;_distcc._tcp;local'\n\
             echo '=;lo;IPv4;box;_distcc._tcp;local;box.local;127.0.0.1;{};\"txtvers=1\" \"cpus=2\"'\n",
            d.port
        ),
    )
    .unwrap();
    fs::set_permissions(&browse, fs::Permissions::from_mode(0o755)).unwrap();
    let mut path = vec![bin];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let path = std::env::join_paths(path).unwrap();
    let client = |args: &[&str]| {
        let mut c = rig.tree.client("+zeroconf", args);
        c.env("PATH", &path).env("DISTCC_FALLBACK", "0");
        c
    };
    let shown = run(client(&["--show-hosts"]), T);
    assert_eq!(text(&shown.stdout), format!("127.0.0.1:{}/8\n", d.port));
    let out = run(client(&["gcc", "-c", "x.c", "-o", "x.o"]), T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(jobs_in(&d, 1), 1, "{}", d.log());
    assert!(rig.tree.path("state/zeroconf/hosts").exists());
}

#[test]
fn srv_records_name_the_volunteers_and_their_ports() {
    let dnsmasq = std::path::Path::new("/usr/sbin/dnsmasq");
    skip_unless!(
        is_root() && have("unshare") && have("ip") && dnsmasq.exists(),
        "needs root, unshare, ip and dnsmasq"
    );
    let tree = Tree::new();
    let t = tree.path("");
    fs::write(tree.path("resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
    // A DNS server of our own, in a network namespace of our own, seen
    // through a resolv.conf only this mount namespace has.
    let script = format!(
        "set -e\n\
         ip link set lo up\n\
         {dnsmasq} --port=53 --listen-address=127.0.0.1 --bind-interfaces --no-resolv \
         --no-hosts --user=root --pid-file={t}/dnsmasq.pid \
         --srv-host=_distcc._tcp.pool.test,v2.pool.test,4002,1,10 \
         --srv-host=_distcc._tcp.pool.test,v1.pool.test,4001,0,10 \
         --host-record=v1.pool.test,127.0.0.2 \
         --host-record=v2.pool.test,127.0.0.3 --host-record=v2.pool.test,127.0.0.4\n\
         trap 'kill $(cat {t}/dnsmasq.pid)' EXIT\n\
         mount --bind {t}/resolv.conf /etc/resolv.conf\n\
         \"$@\"\n",
        dnsmasq = dnsmasq.display(),
        t = t.display()
    );
    let inner = tree.client("_distcc._tcp.pool.test/2,lzo", &["--show-hosts"]);
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-m",
        "-n",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
        "sh",
    ])
    .arg(inner.get_program())
    .args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = run(cmd, T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The best priority first; a target's addresses in the resolver's order.
    let shown = text(&out.stdout);
    let mut lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.first(), Some(&"v1.pool.test:4001/2,lzo"), "{shown}");
    lines[1..].sort_unstable();
    assert_eq!(
        lines,
        [
            "v1.pool.test:4001/2,lzo",
            "127.0.0.3:4002/2,lzo",
            "127.0.0.4:4002/2,lzo"
        ],
        "{}",
        text(&out.stderr)
    );
}
