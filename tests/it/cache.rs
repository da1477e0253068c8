//! The daemon's result cache (`--cache-size`): a second client's identical
//! compile is answered from it without running the compiler, with the same
//! object; any change to what decides the output is a miss; a damaged or
//! half-written entry is never served after a restart; the cache keeps to
//! its size; a hit carries what the compile's reply did (the `.dwo` of
//! `-gsplit-dwarf`, exact mode's list of files read); the client says which
//! jobs were hits and misses, per job and in its summary.
//!
//! The daemon's compiler is a wrapper that logs each compile it runs into
//! the test's temp dir, so "the compiler did not run" is read, not guessed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::daemon::{fetch_stats, stat, stats_port};
use crate::skip_unless;
use crate::util::{exe, have, local, run, text, which, Daemon, Tree};

/// A tree whose daemon runs `wrap/gcc` (listed in `DISTCC_CMDLIST`), which
/// logs every compile (`-c`) to `wrap/calls` and runs the real gcc.
struct Setup {
    tree: Tree,
}

impl Setup {
    fn new() -> Setup {
        let tree = Tree::new();
        for d in ["wrap", "dc", "dc2"] {
            fs::create_dir(tree.path(d)).unwrap();
            // The daemon drops root to its own user.
            fs::set_permissions(tree.path(d), fs::Permissions::from_mode(0o777)).unwrap();
        }
        let s = Setup { tree };
        s.write_wrapper("");
        fs::write(
            s.tree.path("wrap/cmdlist"),
            format!("{}\n", s.tree.path("wrap/gcc").display()),
        )
        .unwrap();
        s
    }

    /// A setup with `unit.c`, which includes `unit.h`, in its work dir.
    fn with_unit() -> Setup {
        let s = Setup::new();
        s.tree.write("unit.h", HEADER);
        s.tree.write("unit.c", SOURCE);
        s
    }

    fn write_wrapper(&self, extra: &str) {
        let p = self.tree.path("wrap/gcc");
        let script = format!(
            "#!/bin/sh\n{extra}\ncase \" $* \" in *\" -c \"*) echo \"$*\" >> {};; esac\nexec {} \"$@\"\n",
            self.tree.path("wrap/calls").display(),
            which("gcc").display()
        );
        fs::write(&p, script).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn cache_dir(&self) -> PathBuf {
        self.tree.path("dc/cache")
    }

    fn daemon(&self, mib: &str) -> Daemon {
        self.daemon_in(mib, "dc")
    }

    /// A daemon whose temp dir (and so exact mode's file store) is `tmp`.
    fn daemon_in(&self, mib: &str, tmp: &str) -> Daemon {
        let tmp = self.tree.path(tmp);
        let dir = self.cache_dir();
        let args = [
            "--cache-size",
            mib,
            "--cache-dir",
            dir.to_str().unwrap(),
            // The wrapper writes its log outside the job dir.
            "--no-sandbox",
            "--stats",
            "--stats-port",
            "0",
        ];
        Daemon::start_with(&self.tree, &args, |c| {
            c.env("DISTCC_CMDLIST", self.tree.path("wrap/cmdlist"))
                .env("TMPDIR", &tmp);
        })
    }

    /// Compiles that ran on the daemon so far.
    fn calls(&self) -> usize {
        fs::read_to_string(self.tree.path("wrap/calls"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    /// One client (its own state dir) compiling `args` on `hosts`; the
    /// object's bytes.
    fn compile(&self, client: &str, hosts: &str, args: &[&str], out: &str) -> Vec<u8> {
        let state = self.tree.path(&format!("state-{client}"));
        fs::create_dir_all(&state).unwrap();
        let mut all = vec!["gcc"];
        all.extend_from_slice(args);
        all.extend(["-o", out]);
        let mut cmd = self.tree.client(hosts, &all);
        cmd.env("DISTCC_DIR", &state)
            .env("PATH", self.tree.cpponly_path())
            .env("DISTCC_FALLBACK", "0");
        let o = run(cmd, Duration::from_secs(120));
        assert!(o.status.success(), "{all:?}: {}", text(&o.stderr));
        fs::read(self.tree.work().join(out)).unwrap()
    }

    fn entries(&self) -> Vec<(String, u64)> {
        fs::read_dir(self.cache_dir())
            .unwrap()
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().to_string_lossy().into_owned();
                (name.len() == 64).then(|| (name, e.metadata().unwrap().len()))
            })
            .collect()
    }
}

const HEADER: &str = "#define SCALE 3\nstatic inline int scale(int x) { return x * SCALE; }\n";
const SOURCE: &str = "#include \"unit.h\"\nint f(int x) { return scale(x) + 1; }\n";

#[test]
fn a_second_clients_identical_compile_is_a_hit_and_changes_are_misses() {
    skip_unless!(have("gcc"), "gcc not installed");
    let s = Setup::with_unit();
    let daemon = s.daemon("64");
    for (mode, opts) in [("classic", ",lzo,classic"), ("exact", ",cpp,lzo")] {
        let hosts = format!("{}{opts}", daemon.host());
        let flags = ["-O2", "-g", "-c", "unit.c"];
        let before = s.calls();
        let first = s.compile("a", &hosts, &flags, "a.o");
        assert_eq!(s.calls(), before + 1, "{mode}: the first compile runs");
        let second = s.compile("b", &hosts, &flags, "b.o");
        assert_eq!(s.calls(), before + 1, "{mode}: the second is a hit");
        assert!(first == second, "{mode}: the hit's object is the first's");
        if mode == "exact" {
            let want = local(&s.tree, "gcc", &["-O2", "-g", "-c", "unit.c", "-o", "l.o"]);
            assert!(want.status.success());
            assert!(second == fs::read(s.tree.work().join("l.o")).unwrap());
        }

        // One flag changed: a miss.
        s.compile("b", &hosts, &["-O1", "-g", "-c", "unit.c"], "c.o");
        assert_eq!(s.calls(), before + 2, "{mode}: another flag is a miss");

        // One byte of the header changed: a miss, and the new object.
        s.tree.write("unit.h", &HEADER.replace('3', "4"));
        let changed = s.compile("b", &hosts, &flags, "d.o");
        assert_eq!(s.calls(), before + 3, "{mode}: another header is a miss");
        assert!(changed != first, "{mode}: the new header's object");
        s.tree.write("unit.h", HEADER);
    }
    let log = daemon.log();
    assert!(log.contains("answered from the result cache"), "{log}");
    // Per mode: one hit; misses for the first compile, the flag, the header.
    let page = fetch_stats(stats_port(&daemon));
    assert_eq!(stat(&page, "cache_hits"), 2, "{page}");
    assert_eq!(stat(&page, "cache_misses"), 6, "{page}");
    assert_eq!(stat(&page, "cache_stored"), 6, "{page}");
}

#[test]
fn a_hashed_job_is_answered_from_its_digests_before_any_body_is_sent() {
    skip_unless!(have("gcc"), "gcc not installed");
    let s = Setup::new();
    // A header far larger than a file list.
    let mut big = String::from(HEADER);
    for i in 0..2000 {
        big.push_str(&format!("int declared_{i}(int, char *, double);\n"));
    }
    s.tree.write("unit.h", &big);
    s.tree.write("unit.c", SOURCE);
    let first = {
        let daemon = s.daemon_in("64", "dc");
        logged_exact(&s, &daemon, "a", "a.o")
    };
    // Another daemon on the same cache, with an empty file store: it lacks
    // every body, yet needs none.
    let daemon = s.daemon_in("64", "dc2");
    let second = logged_exact(&s, &daemon, "b", "b.o");
    println!(
        "bytes sent: cold store {}, answered early {}",
        first.1, second.1
    );
    assert_eq!(s.calls(), 1, "answered without a compile");
    assert!(second.0 == first.0, "the same object");
    assert!(
        second.1 * 3 < first.1,
        "bodies went out: {} bytes sent, {} by the cold job",
        second.1,
        first.1
    );
}

/// An exact-mode compile of `unit.c` by client `client`: its object and
/// the bytes its request put on the wire, as its log says.
fn logged_exact(s: &Setup, daemon: &Daemon, client: &str, out: &str) -> (Vec<u8>, usize) {
    let log = s.tree.path(&format!("state-{client}.log"));
    let state = s.tree.path(&format!("state-{client}"));
    fs::create_dir_all(&state).unwrap();
    let mut cmd = s.tree.client(
        &format!("{},cpp,lzo", daemon.host()),
        &["gcc", "-O2", "-g", "-c", "unit.c", "-o", out],
    );
    cmd.env("DISTCC_DIR", &state)
        .env("DISTCC_LOG", &log)
        .env("PATH", s.tree.cpponly_path())
        .env("DISTCC_FALLBACK", "0");
    let o = run(cmd, Duration::from_secs(120));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let log = fs::read_to_string(&log).unwrap();
    let sent: usize = log
        .lines()
        .find_map(|l| {
            let end = l.find(" bytes on the wire")?;
            l[..end].rsplit(' ').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no byte count: {log}"));
    (fs::read(s.tree.work().join(out)).unwrap(), sent)
}

#[test]
fn another_compiler_identity_is_a_miss() {
    skip_unless!(have("gcc"), "gcc not installed");
    let s = Setup::with_unit();
    let daemon = s.daemon("64");
    let hosts = format!("{},lzo", daemon.host());
    let flags = ["-O2", "-c", "unit.c"];
    s.compile("a", &hosts, &flags, "a.o");
    s.compile("b", &hosts, &flags, "b.o");
    assert_eq!(s.calls(), 1);
    // The same name, other bytes: another compiler as far as the key goes.
    s.write_wrapper("# upgraded");
    s.compile("b", &hosts, &flags, "c.o");
    assert_eq!(s.calls(), 2, "a changed compiler is a miss");
}

#[test]
fn damaged_and_half_written_entries_are_never_served_after_a_restart() {
    skip_unless!(have("gcc"), "gcc not installed");
    let s = Setup::with_unit();
    let want = local(&s.tree, "gcc", &["-O2", "-c", "unit.c", "-o", "want.o"]);
    assert!(want.status.success());
    let want = fs::read(s.tree.work().join("want.o")).unwrap();
    let flags = ["-O2", "-c", "unit.c"];

    let mut daemon = s.daemon("64");
    let hosts = format!("{},lzo", daemon.host());
    assert!(s.compile("a", &hosts, &flags, "a.o") == want);
    let entries = s.entries();
    assert_eq!(entries.len(), 1, "one entry kept");
    // Killed outright; what a crash mid-store could leave: the entry torn
    // (as a disk without our rename's ordering would), and a temp file.
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    let entry = s.cache_dir().join(&entries[0].0);
    let bytes = fs::read(&entry).unwrap();
    fs::write(&entry, &bytes[..bytes.len() - 40]).unwrap();
    let temp = s.cache_dir().join(format!("tmp.{}.1.0", entries[0].0));
    fs::write(&temp, &bytes[..bytes.len() / 2]).unwrap();

    let daemon = s.daemon("64");
    let hosts = format!("{},lzo", daemon.host());
    assert!(!temp.exists(), "the half-written file is gone at start");
    assert!(s.compile("b", &hosts, &flags, "b.o") == want);
    assert_eq!(s.calls(), 2, "the torn entry was not served: a compile ran");
    assert!(s.compile("c", &hosts, &flags, "c.o") == want);
    assert_eq!(s.calls(), 2, "the entry, whole again, is served");
}

#[test]
fn the_cache_stays_under_its_size() {
    skip_unless!(have("gcc"), "gcc not installed");
    let s = Setup::new();
    let daemon = s.daemon("1");
    let hosts = format!("{},lzo", daemon.host());
    let mut sizes = Vec::new();
    for i in 0..6 {
        // -g objects of a few hundred KiB each.
        let mut src = String::new();
        for j in 0..1000 {
            src.push_str(&format!(
                "struct s{i}_{j} {{ int a; double b; }}; int f{i}_{j}(struct s{i}_{j} *p) {{ return p->a; }}\n"
            ));
        }
        let name = format!("u{i}.c");
        s.tree.write(&name, &src);
        s.compile("a", &hosts, &["-O2", "-g", "-c", &name], &format!("u{i}.o"));
        let total: u64 = s.entries().iter().map(|e| e.1).sum();
        assert!(total <= 1 << 20, "after unit {i}: {total} bytes");
        sizes.push(total);
    }
    assert!(
        s.entries().len() < 6,
        "older entries were evicted: {sizes:?}"
    );
    assert!(!s.entries().is_empty());
}

/// A daemon with a result cache that runs the compilers as any daemon does
/// (no wrapper: the client's compiler identity is its own).
fn cached_daemon(tree: &Tree) -> Daemon {
    // The daemon drops root to its own user.
    fs::create_dir(tree.path("dc")).unwrap();
    fs::set_permissions(tree.path("dc"), fs::Permissions::from_mode(0o777)).unwrap();
    let dir = tree.path("dc/cache");
    let args = [
        "--cache-size",
        "64",
        "--cache-dir",
        dir.to_str().unwrap(),
        "--stats",
        "--stats-port",
        "0",
    ];
    Daemon::start_with(tree, &args, |_| {})
}

/// A `-gsplit-dwarf` hit brings the `.dwo` back as the compile did: both
/// files identical to a local compile's.
#[test]
fn a_split_dwarf_hit_brings_back_its_dwo() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write(
        "t.c",
        SOURCE.replace("#include \"unit.h\"\n", HEADER).as_str(),
    );
    let args = [
        "gcc",
        "-g",
        "-gsplit-dwarf",
        "-O2",
        "-c",
        "t.c",
        "-o",
        "t.o",
    ];
    let pair = || {
        let o = fs::read(tree.work().join("t.o")).unwrap();
        let d = fs::read(tree.work().join("t.dwo")).unwrap();
        fs::remove_file(tree.work().join("t.o")).unwrap();
        fs::remove_file(tree.work().join("t.dwo")).unwrap();
        (o, d)
    };
    let out = local(&tree, "gcc", &args[1..]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want = pair();
    let daemon = cached_daemon(&tree);
    for client in ["a", "b"] {
        let state = tree.path(&format!("state-{client}"));
        let mut cmd = tree.client(&format!("{},lzo", daemon.host()), &args);
        // The client's gcc may only preprocess: the compile is remote.
        cmd.env("DISTCC_DIR", &state)
            .env("PATH", tree.cpponly_path())
            .env("DISTCC_FALLBACK", "0");
        let o = run(cmd, Duration::from_secs(120));
        assert!(o.status.success(), "{client}: {}", text(&o.stderr));
        let got = pair();
        assert!(got.0 == want.0, "{client}: not the local object");
        assert!(got.1 == want.1, "{client}: not the local .dwo");
    }
    let page = fetch_stats(stats_port(&daemon));
    assert_eq!(stat(&page, "cache_hits"), 1, "{page}");
}

/// In exact mode with a scanned listing, a hit carries the list of files
/// the compiler read, as the compile's reply did: the second client's
/// scan is verified by it, not redone with the compiler's own listing.
#[test]
fn an_exact_hit_carries_the_list_of_files_read() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("unit.h", HEADER);
    tree.write("unit.c", SOURCE);
    let daemon = cached_daemon(&tree);
    for client in ["a", "b"] {
        let state = tree.path(&format!("state-{client}"));
        fs::create_dir_all(&state).unwrap();
        let log = tree.path(&format!("{client}.log"));
        let mut cmd = tree.client(
            &format!("{},lzo", daemon.host()),
            &["gcc", "-O2", "-c", "unit.c", "-o", "u.o"],
        );
        cmd.env("DISTCC_DIR", &state)
            .env("DISTCC_LOG", &log)
            .env("DISTCC_FALLBACK", "0");
        let o = run(cmd, Duration::from_secs(120));
        assert!(o.status.success(), "{client}: {}", text(&o.stderr));
        let log = fs::read_to_string(&log).unwrap();
        assert!(log.contains("list files (scan)"), "{client}: {log}");
        assert!(!log.contains("scanner miss"), "{client}: {log}");
        // The extension markers live in DISTCC_DIR's state dir.
        let noreads = fs::read_dir(state.join("state")).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("noreads_")
        });
        assert!(!noreads, "{client}: the reply had no list of files read");
    }
    let page = fetch_stats(stats_port(&daemon));
    assert_eq!(stat(&page, "cache_hits"), 1, "{page}");
}

/// Compiles `unit.c` on `hosts` with `DISTCC_VERBOSE` as client `client`
/// (its own DISTCC_DIR, so its own history); what the client said.
fn verbose(s: &Setup, client: &str, hosts: &str, out: &str) -> String {
    let state = s.tree.path(&format!("state-{client}"));
    fs::create_dir_all(&state).unwrap();
    let mut cmd = s
        .tree
        .client(hosts, &["gcc", "-O2", "-c", "unit.c", "-o", out]);
    cmd.env("DISTCC_DIR", &state)
        .env("DISTCC_VERBOSE", "1")
        .env("PATH", s.tree.cpponly_path())
        .env("DISTCC_FALLBACK", "0");
    let o = run(cmd, Duration::from_secs(120));
    let err = text(&o.stderr);
    assert!(o.status.success(), "{client}: {err}");
    err
}

/// `distccmon-text --summary` over client `client`'s history.
fn summary(s: &Setup, client: &str) -> String {
    let mon = s.tree.path("bin/distccmon-text");
    if !mon.exists() {
        std::os::unix::fs::symlink(exe(), &mon).unwrap();
    }
    let mut c = std::process::Command::new(mon);
    c.arg("--summary")
        .env("DISTCC_DIR", s.tree.path(&format!("state-{client}")));
    let o = run(c, Duration::from_secs(30));
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout)
}

pub const HIT: &str = ": result from the daemon's cache";
pub const MISS: &str = ": not in the daemon's cache";

/// Whether the client's stderr `err` says `what` of `host` (its key; the
/// line names the host with its options).
pub fn said(err: &str, host: &str, what: &str) -> bool {
    err.lines()
        .any(|l| l.contains(&format!("{host}/")) && l.contains(what))
}

/// The columns of `host`'s row in a summary's host table.
fn host_row(summary: &str, host: &str) -> Vec<String> {
    let line = summary
        .lines()
        .find(|l| l.starts_with(host))
        .unwrap_or_else(|| panic!("no row for {host}: {summary}"));
    line.split_whitespace().map(String::from).collect()
}

/// The daemon's note after each reply says whether the result came from
/// its cache: the client says so under DISTCC_VERBOSE and its history
/// counts it, in the streamed and the hashed dialect alike, and for a
/// hashed job answered from its digests before any body was sent.
#[test]
fn hits_and_misses_show_in_the_clients_verbose_output_and_summary() {
    skip_unless!(have("gcc"), "gcc not installed");
    let s = Setup::with_unit();
    let mut daemon = s.daemon("64");
    let host = daemon.host();
    for (mode, opts) in [("streamed", ",lzo,classic"), ("hashed", ",cpp,lzo")] {
        let hosts = format!("{host}{opts}");
        let first = verbose(&s, mode, &hosts, "a.o");
        assert!(said(&first, &host, MISS), "{mode}: {first}");
        assert!(!first.contains(HIT), "{mode}: {first}");
        let second = verbose(&s, mode, &hosts, "b.o");
        assert!(said(&second, &host, HIT), "{mode}: {second}");
        assert!(!second.contains(MISS), "{mode}: {second}");
        let text = summary(&s, mode);
        assert!(
            text.contains("result cache: hits 1, misses 1"),
            "{mode}: {text}"
        );
        let header = host_row(&text, "host");
        let row = host_row(&text, &host);
        assert_eq!(header[header.len() - 2..], ["hits", "misses"], "{text}");
        assert_eq!(row[row.len() - 2..], ["1", "1"], "{mode}: {text}");
    }
    assert_eq!(s.calls(), 2, "one compile per dialect");
    daemon.stop();

    // Another daemon on the same cache with an empty file store answers
    // from the digests alone, and says so too.
    let early = s.daemon_in("64", "dc2");
    let hosts = format!("{},cpp,lzo", early.host());
    let err = verbose(&s, "early", &hosts, "c.o");
    assert!(said(&err, &early.host(), HIT), "{err}");
    assert_eq!(s.calls(), 2, "answered without a compile");
}

/// A daemon without a cache says so in its notes, and the client shows
/// neither hits nor misses anywhere.
#[test]
fn without_a_cache_neither_hits_nor_misses_appear() {
    skip_unless!(have("gcc"), "gcc not installed");
    let s = Setup::with_unit();
    let daemon = Daemon::start_with(&s.tree, &["--no-sandbox"], |c| {
        c.env("DISTCC_CMDLIST", s.tree.path("wrap/cmdlist"));
    });
    for opts in [",lzo,classic", ",cpp,lzo"] {
        let hosts = format!("{}{opts}", daemon.host());
        for out in ["a.o", "b.o"] {
            let err = verbose(&s, "off", &hosts, out);
            assert!(!err.contains(HIT) && !err.contains(MISS), "{err}");
        }
    }
    let text = summary(&s, "off");
    assert!(text.starts_with("4 jobs"), "{text}");
    assert!(!text.contains("cache") && !text.contains("hits"), "{text}");
}
