//! `-gsplit-dwarf`: the compile writes a `.dwo` file next to the object.
//! Between our client and daemon it is compiled remotely in our streamed
//! dialect, which returns the `.dwo` (distcc 3.4's protocols cannot, and
//! 3.4 loses it); both files are byte-identical to a local compile's.
//! Where it cannot come back (a distcc 3.4 daemon, an absolute `-o`), the
//! job runs here and the `.dwo` is still there.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::skip_unless;
use crate::util::*;

const T: Duration = Duration::from_secs(120);

const SRC: &str = "#include <stdio.h>\n\
    struct point { int x, y; };\n\
    static int dot(struct point a, struct point b) { return a.x * b.x + a.y * b.y; }\n\
    int main(void) { struct point p = {3, 4}; printf(\"%d\\n\", dot(p, p)); return 0; }\n";

/// The object and `.dwo` a local `gcc ARGS -o OUTPUT` writes in `work/`,
/// then removed so the next compile writes them afresh.
fn local_pair(tree: &Tree, args: &[&str], output: &str) -> (Vec<u8>, Vec<u8>) {
    let mut all = args.to_vec();
    all.extend(["-o", output]);
    let out = local(tree, "gcc", &all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    take_pair(tree, output)
}

fn take_pair(tree: &Tree, output: &str) -> (Vec<u8>, Vec<u8>) {
    let object = tree.work().join(output);
    let dwo = object.with_extension("dwo");
    let pair = (
        fs::read(&object).unwrap(),
        fs::read(&dwo).unwrap_or_else(|e| panic!("{}: {e}", dwo.display())),
    );
    fs::remove_file(object).unwrap();
    fs::remove_file(dwo).unwrap();
    pair
}

/// Our client to our daemon in classic mode (raw and `,lzo`) and to a
/// `,cpp` host: each compile remote (the client's gcc may only
/// preprocess), object and `.dwo` the local ones, with `-o` in a subdir.
#[test]
fn split_dwarf_compiles_remotely_and_its_dwo_comes_back() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("t.c", SRC);
    fs::create_dir(tree.work().join("obj")).unwrap();
    let args = ["-g", "-gsplit-dwarf", "-O2", "-c", "t.c"];
    let d = Daemon::start(&tree, &[]);
    let mut jobs = 0;
    for output in ["obj/t.o", "t.o"] {
        let want = local_pair(&tree, &args, output);
        for h in ["", ",lzo", ",cpp,lzo"] {
            let mut all = vec!["gcc"];
            all.extend(args);
            all.extend(["-o", output]);
            let mut c = tree.client(&format!("{}{h}", d.host()), &all);
            c.env("PATH", tree.cpponly_path())
                .env("DISTCC_FALLBACK", "0");
            let out = run(c, T);
            assert!(out.status.success(), "{output}{h}: {}", text(&out.stderr));
            let got = take_pair(&tree, output);
            assert!(got.0 == want.0, "{output}{h}: not the local object");
            assert!(got.1 == want.1, "{output}{h}: not the local .dwo");
            jobs += 1;
        }
    }
    let log = d.log_when(|l| l.matches(": gcc status 0").count() >= jobs);
    assert_eq!(log.matches(": gcc status 0").count(), jobs, "{log}");
}

/// Where the `.dwo` cannot come back the job runs here, whole: to
/// Debian's distccd (its protocols cannot carry it), and with an absolute
/// `-o` (the object names its `.dwo` by that path). Debian's client,
/// which would lose the `.dwo`, is refused by our daemon and compiles
/// here too.
#[test]
fn split_dwarf_runs_here_where_the_dwo_cannot_come_back() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("t.c", SRC);
    let args = ["-g", "-gsplit-dwarf", "-O2", "-c", "t.c"];
    let absolute = tree.work().join("abs.o");
    let absolute = absolute.to_str().unwrap();
    let ours = Daemon::start(&tree, &[]);
    let mut cases: Vec<(String, &str, Command)> = Vec::new();
    let with = |hosts: &str, output: &str| {
        let mut all = vec!["gcc"];
        all.extend(args);
        all.extend(["-o", output]);
        tree.client(hosts, &all)
    };
    cases.push(("absolute -o".into(), absolute, with(&ours.host(), absolute)));
    let reference = RefDaemon::available().then(RefDaemon::start);
    if let Some(r) = &reference {
        cases.push(("to distcc 3.4".into(), "t.o", with(&r.host(), "t.o")));
    }
    if Path::new("/usr/bin/distcc").exists() {
        let mut c = Command::new("/usr/bin/distcc");
        c.arg("gcc")
            .args(args)
            .args(["-o", "t.o"])
            .current_dir(tree.work())
            .env("DISTCC_HOSTS", ours.host())
            .env("DISTCC_DIR", tree.path("state"))
            .stdin(Stdio::null());
        cases.push(("from distcc 3.4".into(), "t.o", c));
    } else {
        eprintln!("SKIPPED (part): Debian's distcc not installed");
    }
    for (what, output, c) in cases {
        let want = local_pair(&tree, &args, output);
        let out = run(c, T);
        assert!(out.status.success(), "{what}: {}", text(&out.stderr));
        let got = take_pair(&tree, output);
        assert!(got == want, "{what}: not the local object and .dwo");
    }
    let log = ours.log();
    assert!(!log.contains("gcc status 0"), "{log}");
}

/// When no host in the list may return the `.dwo` (streaming off, or a
/// distcc 3.4 daemon once it is known not to speak our dialect), the job
/// stays here by decision: no failure to distribute, no warning, no
/// connection.
#[test]
fn split_dwarf_stays_here_quietly_when_no_host_returns_the_dwo() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("t.c", SRC);
    let args = ["gcc", "-g", "-gsplit-dwarf", "-c", "t.c", "-o", "t.o"];
    let want = local_pair(&tree, &args[1..5], "t.o");
    let ours = Daemon::start(&tree, &[]);
    let mut cases = vec![("DISTCC_STREAM=0", ours.host(), false)];
    let reference = RefDaemon::available().then(RefDaemon::start);
    if let Some(r) = &reference {
        // The first job finds out that it does not speak our dialect.
        cases.push(("distcc 3.4, first", r.host(), true));
        cases.push(("distcc 3.4, known", r.host(), false));
    } else {
        eprintln!("SKIPPED (part): Debian's distcc not installed");
    }
    for (what, host, may_warn) in cases {
        let mut c = tree.client(&host, &args);
        if what == "DISTCC_STREAM=0" {
            c.env("DISTCC_STREAM", "0");
        }
        let out = run(c, T);
        assert!(out.status.success(), "{what}: {}", text(&out.stderr));
        assert!(
            may_warn || out.stderr.is_empty(),
            "{what}: {}",
            text(&out.stderr)
        );
        assert!(take_pair(&tree, "t.o") == want, "{what}");
    }
    let log = ours.log();
    assert!(!log.contains(": gcc "), "no job reached our daemon: {log}");
}
