//! ssh mode through a real sshd on loopback (see `sshd.rs`): `@HOST`
//! hosts make the client run `$DISTCC_SSH HOST distccd --inetd` and speak
//! the protocol over its pipes. The volunteer's `distccd` is found by name
//! on the login's PATH, as on a real volunteer. The client's own compilers
//! may only preprocess, so every object here was compiled over ssh.

use std::fs;
use std::process::Command;
use std::time::Duration;

use crate::sshd::{Sshd, Volunteer};
use crate::util::*;

const HELLO: &str = "#include <stdio.h>\n\
    int main(void) { printf(\"%d\\n\", 6 * 7); return 0; }\n";

/// Which client compiles.
#[derive(Clone, Copy)]
enum Client {
    Ours,
    Reference,
}

/// A tree and an sshd whose volunteer runs `volunteer`; `None` (with a
/// message) when something the test needs is not installed.
fn setup(client: Client, volunteer: Volunteer) -> Option<(Tree, Sshd)> {
    let needs_reference = matches!(client, Client::Reference) || volunteer == Volunteer::Reference;
    let missing = Sshd::unavailable()
        .or_else(|| (!have("gcc")).then_some("gcc not installed"))
        .or_else(|| {
            (needs_reference && !RefDaemon::available())
                .then_some("Debian's distcc 3.4 not installed")
        });
    if let Some(why) = missing {
        eprintln!("SKIPPED: {why}");
        return None;
    }
    let tree = Tree::new();
    let sshd = Sshd::start(&tree, volunteer);
    Some((tree, sshd))
}

/// Compiles hello.c with `-O2` over ssh, plain and with `,lzo`, and checks
/// each object against a local compile. `ssh` is the `DISTCC_SSH` value.
fn compile_over_ssh(tree: &Tree, client: Client, ssh: &str) {
    tree.write("hello.c", HELLO);
    let want = {
        let out = local(tree, "gcc", &["-O2", "-c", "hello.c", "-o", "local.o"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        fs::read(tree.work().join("local.o")).unwrap()
    };
    for opts in ["", ",lzo"] {
        let hosts = format!("@127.0.0.1{opts}");
        let args = ["gcc", "-O2", "-c", "hello.c", "-o", "remote.o"];
        fs::remove_file(tree.work().join("remote.o")).ok();
        let mut cmd = match client {
            Client::Ours => tree.client(&hosts, &args),
            Client::Reference => {
                let mut c = Command::new("/usr/bin/distcc");
                c.args(args)
                    .current_dir(tree.work())
                    .env("DISTCC_HOSTS", &hosts)
                    .env("DISTCC_DIR", tree.path("state"));
                c
            }
        };
        cmd.env("DISTCC_SSH", ssh)
            .env("DISTCC_FALLBACK", "0")
            .env("PATH", tree.cpponly_path());
        let out = run(cmd, Duration::from_secs(120));
        assert!(out.status.success(), "{hosts}: {}", text(&out.stderr));
        assert_eq!(
            fs::read(tree.work().join("remote.o")).unwrap(),
            want,
            "{hosts}: object differs from local gcc"
        );
    }
}

#[test]
fn ssh_our_client_to_our_distccd() {
    let Some((tree, sshd)) = setup(Client::Ours, Volunteer::Ours) else {
        return;
    };
    compile_over_ssh(&tree, Client::Ours, &sshd.ssh().to_string_lossy());
    assert_eq!(sshd.calls(), "--inetd\n--inetd\n", "how distccd was run");
    // The daemon logs how a job ended after its reply is sent: the client
    // may be done before the line is written.
    crate::blocking::wait_for(Duration::from_secs(60), || {
        sshd.daemon_log().matches("inetd: ").count() >= 2
    });
    let log = sshd.daemon_log();
    assert_eq!(log.matches("inetd: ").count(), 2, "{log}");
}

/// Debian's distcc client runs `distccd --inetd --enable-tcp-insecure` on
/// an `@host` volunteer; ours accepts the option and serves.
#[test]
fn ssh_reference_client_to_our_distccd() {
    let Some((tree, sshd)) = setup(Client::Reference, Volunteer::Ours) else {
        return;
    };
    compile_over_ssh(&tree, Client::Reference, &sshd.ssh().to_string_lossy());
    assert_eq!(
        sshd.calls(),
        "--inetd --enable-tcp-insecure\n--inetd --enable-tcp-insecure\n",
        "how distcc 3.4 runs distccd"
    );
    // The daemon logs how a job ended after its reply is sent: the client
    // may be done before the line is written.
    crate::blocking::wait_for(Duration::from_secs(60), || {
        sshd.daemon_log().matches("inetd: ").count() >= 2
    });
    let log = sshd.daemon_log();
    assert_eq!(log.matches("inetd: ").count(), 2, "{log}");
}

/// The control: distcc 3.4 on both ends, through the same sshd.
#[test]
fn ssh_reference_client_to_reference_distccd() {
    let Some((tree, sshd)) = setup(Client::Reference, Volunteer::Reference) else {
        return;
    };
    compile_over_ssh(&tree, Client::Reference, &sshd.ssh().to_string_lossy());
    assert_eq!(
        sshd.calls(),
        "--inetd --enable-tcp-insecure\n--inetd --enable-tcp-insecure\n"
    );
}

/// distcc 3.4 splits DISTCC_SSH on spaces (`ssh -p 2222 -i key` works);
/// so does our client.
#[test]
fn ssh_our_client_with_options_in_distcc_ssh() {
    let Some((tree, sshd)) = setup(Client::Ours, Volunteer::Ours) else {
        return;
    };
    compile_over_ssh(&tree, Client::Ours, &sshd.ssh_words());
    assert_eq!(sshd.calls(), "--inetd\n--inetd\n");
}

/// distcc 3.4 accepts the same words, so the words themselves are right.
#[test]
fn ssh_reference_client_with_options_in_distcc_ssh() {
    let Some((tree, sshd)) = setup(Client::Reference, Volunteer::Reference) else {
        return;
    };
    compile_over_ssh(&tree, Client::Reference, &sshd.ssh_words());
}
