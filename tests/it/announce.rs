//! `distccd --zeroconf`: the daemon runs `avahi-publish-service` with
//! distcc 3.4's records, a `+zeroconf` client finds it through what was
//! published, the announcement is withdrawn (its child ended and reaped)
//! when the daemon starts draining, and without Avahi's tools the daemon
//! says so and serves anyway.
//!
//! Avahi is a fake on the daemon's and client's PATH, never the system's:
//! an `avahi-publish-service` that records its arguments and pid and waits,
//! and an `avahi-browse` that answers with the service so recorded, as
//! the real pair would on a network.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::blocking::{self, jobs_in, wait_for};
use crate::skip_unless;
use crate::util::*;

const T: Duration = Duration::from_secs(60);

fn script(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Installs the fake Avahi tools in `avahi/` and returns the PATH with
/// them first, before `rest`.
fn fake_avahi(tree: &Tree, rest: &std::ffi::OsStr) -> std::ffi::OsString {
    let bin = tree.path("avahi");
    fs::create_dir_all(&bin).unwrap();
    // The daemon drops root: its child writes here as another user.
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o777)).unwrap();
    let rec = tree.path("avahi/published");
    let rec = rec.display();
    script(
        &bin.join("avahi-publish-service"),
        &format!(
            "#!/bin/sh\n\
             echo $$ > {rec}.pid\n\
             for a in \"$@\"; do printf '%s\\n' \"$a\"; done > {rec}.tmp\n\
             mv {rec}.tmp {rec}\n\
             exec sleep 600\n"
        ),
    );
    script(
        &bin.join("avahi-browse"),
        &format!(
            "#!/bin/sh\n\
             [ -e {rec} ] || exit 0\n\
             set --\n\
             while IFS= read -r a; do case \"$a\" in -*) ;; *) set -- \"$@\" \"$a\";; esac; done < {rec}\n\
             name=$1; type=$2; port=$3; shift 3\n\
             txt=; for t in \"$@\"; do txt=\"$txt \\\"$t\\\"\"; done\n\
             echo \"+;lo;IPv4;$name;$type;local\"\n\
             echo \"=;lo;IPv4;$name;$type;local;box.local;127.0.0.1;$port;${{txt# }}\"\n"
        ),
    );
    let mut path = vec![bin];
    path.extend(std::env::split_paths(rest));
    std::env::join_paths(path).unwrap()
}

fn alive(pid: &str) -> bool {
    Path::new("/proc").join(pid.trim()).exists()
}

#[test]
fn zeroconf_announces_the_daemon_and_withdraws_when_draining() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    let path = fake_avahi(&tree, &blocking::install(&tree));
    fs::create_dir_all(tree.path("other")).unwrap();
    fs::set_permissions(tree.path("other"), fs::Permissions::from_mode(0o777)).unwrap();
    tree.write("x.c", "int f(int x) { return x * 7; }\n");
    let mut d = Daemon::start_with(&tree, &["--no-sandbox", "--zeroconf"], |c| {
        c.env("PATH", &path);
    });
    let published = tree.path("avahi/published");
    assert!(wait_for(T, || published.exists()), "{}", d.log());
    let args: Vec<String> = fs::read_to_string(&published)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let names: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    assert!(names[0].starts_with("distcc@"), "{args:?}");
    assert_eq!(names[1], "_distcc._tcp");
    assert_eq!(*names[2], d.port.to_string());
    assert_eq!(names[3], "txtvers=1");
    let cpus: u32 = args
        .iter()
        .find_map(|a| a.strip_prefix("cpus="))
        .expect("a cpus= record")
        .parse()
        .unwrap();
    assert!(cpus >= 1);
    assert!(args.iter().any(|a| a.starts_with("jobs=")), "{args:?}");

    // A +zeroconf client finds it, with distcc 3.4's 4 jobs per CPU.
    let client = |dir: &str, args: &[&str]| {
        let mut c = tree.client("+zeroconf", args);
        c.env("PATH", &path)
            .env("DISTCC_FALLBACK", "0")
            .env("DISTCC_DIR", tree.path(dir));
        c
    };
    let shown = run(client("state", &["--show-hosts"]), T);
    assert_eq!(
        text(&shown.stdout),
        format!("127.0.0.1:{}/{}\n", d.port, cpus * 4)
    );
    let out = run(client("state", &["gcc", "-c", "x.c", "-o", "x.o"]), T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(jobs_in(&d, 1), 1, "{}", d.log());

    // Draining: the announcement goes at once, the running job finishes.
    let pid = fs::read_to_string(tree.path("avahi/published.pid")).unwrap();
    assert!(alive(&pid));
    let mut job = client(
        "other",
        &["gcc", "-c", "x.c", "-o", "y.o", blocking::MARKER],
    );
    job.stdout(Stdio::null()).stderr(Stdio::null());
    let mut job = job.spawn().unwrap();
    assert!(wait_for(T, || blocking::started(&tree) == 1), "{}", d.log());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(d.child.id() as i32, libc::SIGTERM) };
    assert!(wait_for(T, || !alive(&pid)), "{}", d.log());
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "exited before its job"
    );
    blocking::release(&tree);
    assert!(wait_bounded(&mut job, T).unwrap().success());
    assert!(
        wait_bounded(&mut d.child, T).is_some(),
        "daemon did not exit"
    );
}

#[test]
fn zeroconf_announcement_ends_with_the_daemon() {
    let tree = Tree::new();
    let path = fake_avahi(&tree, &std::env::var_os("PATH").unwrap_or_default());
    let mut d = Daemon::start_with(&tree, &["--zeroconf"], |c| {
        c.env("PATH", &path);
    });
    let pid_file = tree.path("avahi/published.pid");
    assert!(
        wait_for(T, || tree.path("avahi/published").exists()),
        "{}",
        d.log()
    );
    let pid = fs::read_to_string(pid_file).unwrap();
    assert!(alive(&pid));
    assert!(d.stop().is_some(), "daemon did not exit");
    assert!(!alive(&pid), "the announcement outlived the daemon");
}

#[test]
fn zeroconf_without_avahi_says_so_and_serves() {
    skip_unless!(
        have("gcc") && !have("avahi-publish-service"),
        "gcc missing, or Avahi's tools installed (the test must not run them)"
    );
    let tree = Tree::new();
    tree.write("x.c", "int f(int x) { return x * 7; }\n");
    let d = Daemon::start(&tree, &["--zeroconf"]);
    let log = d.log_when(|l| l.contains("avahi-publish-service"));
    assert!(log.contains("install Avahi's tools"), "{log}");
    let out = run(
        tree.client(&d.host(), &["gcc", "-c", "x.c", "-o", "x.o"]),
        T,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(jobs_in(&d, 1), 1, "{}", d.log());
}
