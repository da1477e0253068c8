//! `distcc --probe`, the readiness probe: 0 while our daemon serves, 1
//! once SIGTERM makes it drain (a job still running keeps it there), 2
//! when nothing listens or the listener is not ours.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use crate::blocking::{self, wait_for};
use crate::skip_unless;
use crate::util::*;

const T: Duration = Duration::from_secs(60);

fn probe(tree: &Tree, target: &str) -> (Option<i32>, String) {
    let mut c = tree.client("", &["--probe", target]);
    c.env_remove("DISTCC_HOSTS");
    let out = run(c, T);
    (out.status.code(), text(&out.stdout))
}

#[test]
fn probe_says_serving_draining_or_down() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    let path = blocking::install(&tree);
    fs::create_dir_all(tree.path("other")).unwrap();
    fs::set_permissions(tree.path("other"), fs::Permissions::from_mode(0o777)).unwrap();
    tree.write("x.c", "int f(int x) { return x * 7; }\n");
    let mut d = Daemon::start_with(&tree, &["--no-sandbox"], |c| {
        c.env("PATH", &path);
    });
    let target = format!("127.0.0.1:{}", d.port);

    let (code, line) = probe(&tree, &target);
    assert_eq!(code, Some(0), "{line}");
    assert!(line.starts_with(&format!("{target}: serving")), "{line}");

    // A job the daemon must finish keeps it draining after SIGTERM.
    let mut job = tree.client(
        &d.host(),
        &["gcc", "-c", "x.c", "-o", "x.o", blocking::MARKER],
    );
    job.env("PATH", &path)
        .env("DISTCC_FALLBACK", "0")
        .env("DISTCC_DIR", tree.path("other"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut job = job.spawn().unwrap();
    assert!(wait_for(T, || blocking::started(&tree) == 1), "{}", d.log());
    // SAFETY: signalling our own child.
    unsafe { libc::kill(d.child.id() as i32, libc::SIGTERM) };
    assert!(
        wait_for(T, || probe(&tree, &target).0 == Some(1)),
        "{}",
        d.log()
    );
    let (_, line) = probe(&tree, &target);
    assert!(line.contains("draining"), "{line}");
    blocking::release(&tree);
    assert!(wait_bounded(&mut job, T).unwrap().success());
    assert!(
        wait_bounded(&mut d.child, T).is_some(),
        "daemon did not exit"
    );

    // Gone: nothing listens on its port.
    let (code, line) = probe(&tree, &target);
    assert_eq!(code, Some(2), "{line}");
    assert!(line.contains("not serving"), "{line}");

    // A listener that is not ours closes on the query.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = other.local_addr().unwrap().port();
    let closer = std::thread::spawn(move || drop(other.accept()));
    let (code, line) = probe(&tree, &format!("127.0.0.1:{port}"));
    closer.join().unwrap();
    assert_eq!(code, Some(2), "{line}");
    assert!(line.contains("closed the connection"), "{line}");

    // A bad target is distcc's argument error, not a probe result.
    let (code, _) = probe(&tree, "127.0.0.1:port");
    assert_eq!(code, Some(101));
}
