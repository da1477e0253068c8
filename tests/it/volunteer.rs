//! The volunteer under faults: a temp dir that fills up, limits exceeded,
//! the daemon killed mid-compile, and the pid file on a clean stop; and
//! the helpers `inflate` (requests that inflate far beyond their size on
//! the wire) and `flood` (idle and trickling connections) share.
//!
//! Requests are written with the library's own protocol module, so a test
//! controls exactly what a client sends and when.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use distcc::protocol::{self, hashed, Limits, Reply, RequestHead, Version};

use crate::skip_unless;
use crate::util::*;

pub const T: Duration = Duration::from_secs(120);

/// An LZO1X stream of `n` zeros, as distcc's LZO would send a zero-filled
/// file: one literal, then long matches one byte back (about 255 zeros per
/// byte on the wire), then the end marker. Written out here because our
/// compressor takes seconds per 100 MiB in a debug build.
pub fn lzo_zeros(n: u64) -> Vec<u8> {
    assert!(n >= 4);
    let mut out = vec![17 + 1, 0];
    let mut left = n - 1;
    while left > 0 {
        // One match copies up to 64 MiB; at least 3 bytes each.
        let mut take = left.min(64 << 20);
        if left - take > 0 && left - take < 3 {
            take -= 3;
        }
        let len = take - 2;
        if len <= 31 {
            out.push(32 | len as u8);
        } else {
            let ext = len - 31;
            out.push(32);
            let zeros = (ext - 1) / 255;
            out.extend(std::iter::repeat_n(0u8, zeros as usize));
            out.push((ext - 255 * zeros) as u8);
        }
        out.extend_from_slice(&[0, 0]);
        left -= take;
    }
    out.extend_from_slice(&[0x11, 0, 0]);
    out
}

#[test]
fn lzo_zeros_is_a_valid_stream() {
    for n in [4u64, 5, 34, 35, 300, 100_000] {
        let c = lzo_zeros(n);
        let got = distcc::lzo::decompress(&c, n as usize).unwrap();
        assert!(got.len() as u64 == n && got.iter().all(|&b| b == 0), "{n}");
        let theirs = lzokay_native::decompress_all(&c, Some(n as usize)).unwrap();
        assert_eq!(theirs.len() as u64, n);
    }
}

/// A daemon whose compilers are stand-ins: `gcc` on its PATH writes a tiny
/// object and reads nothing, so a test of the daemon's own behaviour does
/// not wait for, or fill memory with, a real compile of a huge source.
pub struct Volunteer {
    pub tree: Tree,
}

impl Volunteer {
    pub fn new() -> Volunteer {
        let tree = Tree::new();
        for d in ["dtmp", "fake"] {
            let p = tree.path(d);
            fs::create_dir_all(&p).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o777)).unwrap();
        }
        let fake = tree.path("fake/gcc");
        fs::write(
            &fake,
            "#!/bin/sh\nout=\nwhile [ $# -gt 0 ]; do case \"$1\" in -o) out=\"$2\"; shift;; -o*) out=\"${1#-o}\";; esac; shift; done\n\
             printf 'fake object' > \"$out\"\n",
        )
        .unwrap();
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
        Volunteer { tree }
    }

    pub fn path_var(&self) -> OsString {
        let mut dirs = vec![self.tree.path("fake")];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(dirs).unwrap()
    }

    pub fn daemon(&self, extra: &[&str]) -> Daemon {
        let mut args = vec!["--no-sandbox"];
        args.extend_from_slice(extra);
        Daemon::start_with(&self.tree, &args, |c| {
            c.env("PATH", self.path_var())
                .env("TMPDIR", self.tree.path("dtmp"));
        })
    }
}

pub fn argv(words: &[&str]) -> Vec<OsString> {
    words.iter().map(Into::into).collect()
}

pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(T)).unwrap();
    s.set_write_timeout(Some(T)).unwrap();
    s
}

pub fn read_reply(s: &mut impl Read, version: Version) -> Reply {
    protocol::read_reply(s, version, version.codec(), &Limits::for_replies()).expect("reply")
}

/// The peak resident memory of process `pid`, in KiB (`VmHWM`).
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Processes whose working directory is under `dir`, with their names:
/// a job's compiler, its cc1 and its assembler all run in the job dir.
pub fn processes_in(dir: &Path) -> Vec<(u32, String)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let in_dir = fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir));
        let zombie = fs::read_to_string(e.path().join("stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        });
        if in_dir && !zombie {
            let name = fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            found.push((pid, name.trim().to_string()));
        }
    }
    found
}

/// Kills whatever a failed test left running in `dir`.
struct Reaper(PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        for (pid, _) in processes_in(&self.0) {
            // SAFETY: signalling a process this test's daemon started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

/// A C++ unit whose constant evaluation runs for minutes: cc1plus is busy
/// for as long as a test needs.
const SLOW_CXX: &str = "constexpr unsigned long long spin(unsigned long long n) {\n\
    unsigned long long s = 0;\n\
    for (unsigned long long i = 0; i < n; ++i) s += i ^ (s >> 3);\n\
    return s;\n}\n\
constexpr unsigned long long slow_marker = spin(200000000000ULL);\n\
unsigned long long get() { return slow_marker; }\n";

/// Polls `cond` every 20 ms until it holds or `limit` passes.
pub fn poll_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILL of the daemon mid-compile takes its compilers with it: the
/// driver, cc1plus and the assembler all die, where they used to run on
/// with no parent and no --job-lifetime.
#[test]
fn compilers_die_with_a_killed_daemon() {
    skip_unless!(have("g++"), "g++ not installed");
    let v = Volunteer::new();
    let dtmp = v.tree.path("dtmp");
    let _reaper = Reaper(dtmp.clone());
    // The real compilers, found on the daemon's ordinary PATH.
    let mut d = Daemon::start_with(&v.tree, &["--job-lifetime", "600"], |c| {
        c.env("TMPDIR", &dtmp);
    });
    let buf = crate::daemon::request_for(
        &[
            "g++",
            "-std=c++17",
            "-fconstexpr-loop-limit=2147483647",
            "-fconstexpr-ops-limit=4294967296000",
            "-c",
            "slow.cpp",
            "-o",
            "slow.o",
        ],
        SLOW_CXX,
    );
    let mut s = connect(d.port);
    s.write_all(&buf).unwrap();
    let running = poll_until(T, || {
        processes_in(&dtmp)
            .iter()
            .any(|(_, name)| name == "cc1plus")
    });
    assert!(running, "the compile never started: {}", d.log());
    let before = processes_in(&dtmp);
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    let killed = Instant::now();
    let gone = poll_until(Duration::from_secs(30), || processes_in(&dtmp).is_empty());
    let took = killed.elapsed();
    println!("job processes {before:?} gone {took:?} after the daemon's SIGKILL");
    assert!(gone, "still running: {:?}", processes_in(&dtmp));
    drop(s);
}

/// Makes the tree's `distccd` start in a mount namespace of its own, with
/// a tmpfs of `size` mounted on `dtmp/` there: the daemon's TMPDIR is
/// small, and the mount goes with the daemon. Root only.
fn on_small_tmpfs(tree: &Tree, size: &str) -> bool {
    // SAFETY: getter.
    if unsafe { libc::geteuid() } != 0 || !have("unshare") || !have("mount") {
        return false;
    }
    let real = tree.path("real");
    fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(exe(), real.join("distccd")).unwrap();
    let wrapper = tree.path("bin/distccd");
    fs::remove_file(&wrapper).unwrap();
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec unshare -m --propagation private sh -c \
             'mount -t tmpfs -o size={size},mode=1777 tmpfs \"$1\" && shift && exec \"$@\"' \
             sh {} {} \"$@\"\n",
            tree.path("dtmp").display(),
            real.join("distccd").display()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    true
}

/// A full disk on the volunteer is a failure to distribute, said as one:
/// the daemon answers with distcc's I/O error code and says why, and the
/// client compiles locally. Before, a job whose object did not fit came
/// back as status 1 with empty stderr (gcc's message could not be written
/// either), and the build failed.
#[test]
fn a_full_volunteer_disk_ends_in_a_local_compile_with_a_message() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    let dtmp = tree.path("dtmp");
    fs::create_dir_all(&dtmp).unwrap();
    skip_unless!(
        on_small_tmpfs(&tree, "1m"),
        "needs root, unshare and mount for a tmpfs in a mount namespace"
    );
    // 400,000 ints: 2.6 MB preprocessed, a 1.6 MB object; neither fits.
    let mut src = String::from("const int big[] = {");
    for i in 0..400_000 {
        src.push_str(&format!("{i},"));
    }
    src.push_str("};\nint get(int i) { return big[i]; }\n");
    tree.write("big.c", &src);
    let want = local(&tree, "gcc", &["-c", "big.c", "-o", "want.o"]);
    assert!(want.status.success());
    let want = fs::read(tree.work().join("want.o")).unwrap();
    let d = Daemon::start_with(&tree, &[], |c| {
        c.env("TMPDIR", &dtmp);
    });
    // Streamed, the source goes to the compiler through a pipe and only
    // the object does not fit; unstreamed, the source does not either.
    for stream in ["1", "0"] {
        let mut c = tree.client(
            &format!("{},classic", d.host()),
            &["gcc", "-c", "big.c", "-o", "big.o"],
        );
        c.env("DISTCC_STREAM", stream);
        let out = run(c, T);
        let err = text(&out.stderr);
        assert!(
            out.status.success(),
            "DISTCC_STREAM={stream}: {err}\n{}",
            d.log()
        );
        assert!(
            fs::read(tree.work().join("big.o")).unwrap() == want,
            "DISTCC_STREAM={stream}: not the local object"
        );
        assert!(
            err.contains("exit 107"),
            "DISTCC_STREAM={stream}: {err}\n{}",
            d.log()
        );
        assert!(
            err.contains("no space left"),
            "DISTCC_STREAM={stream}: {err}"
        );
        // "compiling locally", or distcc 3.4's "running locally instead".
        assert!(err.contains("locally"), "DISTCC_STREAM={stream}: {err}");
        fs::remove_file(tree.work().join("big.o")).unwrap();
    }
    let log = d.log_when(|l| l.matches("no space left").count() >= 2);
    let said: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("no space left"))
        .collect();
    assert!(said.len() >= 2, "{log}");
    assert!(said.iter().all(|l| l.contains("(warn)")), "{log}");
}

/// What a refused request is told: the distcc code in the status and the
/// reason on stderr.
fn refusal_of(r: &Reply) -> (u32, String) {
    assert_eq!(r.status & 0xff, 0, "an exit status, not a signal");
    (r.status >> 8, text(&r.stderr))
}

/// A request past a limit gets the reason, in a reply of its own protocol,
/// before the connection closes; it used to be closed without a word, and
/// the client saw a reset.
#[test]
fn limit_violations_are_answered_with_the_reason() {
    let v = Volunteer::new();
    let d = v.daemon(&[]);
    let send = |bytes: Vec<u8>, version: Version| {
        let mut s = connect(d.port);
        // Written from a thread: the daemon answers before it has read
        // everything, and reads the rest only to let us read the answer.
        let mut w = s.try_clone().unwrap();
        let writer = thread::spawn(move || w.write_all(&bytes).is_ok());
        let reply = read_reply(&mut s, version);
        writer.join().unwrap();
        refusal_of(&reply)
    };
    let head = |version: Version, argv: Vec<OsString>| {
        let mut buf = Vec::new();
        let cwd = (version == Version::V3).then(|| "/p".into());
        let head = RequestHead { version, cwd, argv };
        protocol::write_request_head(&mut buf, &head).unwrap();
        buf
    };
    let long_arg = format!("-DX={}", "x".repeat(70 << 10));
    let many: Vec<OsString> = std::iter::once("gcc".into())
        .chain((0..40).map(|_| OsString::from(format!("-DY={}", "y".repeat(60 << 10)))))
        .collect();
    let mut files = head(Version::V3, argv(&["gcc", "-c", "/p/x.c"]));
    protocol::write_header(&mut files, protocol::NFIL, 100_001).unwrap();
    let mut hashed_files = Vec::new();
    let exact = RequestHead {
        version: Version::V3,
        cwd: Some("/p".into()),
        argv: argv(&["gcc", "-c", "/p/x.c"]),
    };
    protocol::write_request_head_as(&mut hashed_files, &exact, hashed::VERSION).unwrap();
    protocol::write_header(&mut hashed_files, protocol::NFIL, 100_001).unwrap();
    let cases = [
        (
            "an argument over 64 KiB",
            head(Version::V1, argv(&["gcc", &long_arg])),
            Version::V1,
        ),
        ("arguments over 2 MiB", head(Version::V2, many), Version::V2),
        ("over 100,000 files", files, Version::V3),
    ];
    for (what, bytes, version) in cases {
        let (code, serr) = send(bytes, version);
        assert_eq!(code, 109, "{what}: {serr}");
        assert!(serr.contains("exceeds the limit"), "{what}: {serr}");
    }
    // The hashed extension's client waits for NEED first: an empty one.
    let mut s = connect(d.port);
    s.write_all(&hashed_files).unwrap();
    assert_eq!(hashed::read_need(&mut s, &[]).unwrap(), Vec::<u32>::new());
    let (code, serr) = refusal_of(&read_reply(&mut s, Version::V3));
    assert_eq!(code, 109, "{serr}");
    assert!(
        serr.contains("NFIL of 100001 exceeds the limit of 100000"),
        "{serr}"
    );
    let log = d.log_when(|l| l.matches("exceeds the limit").count() >= 4);
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("exceeds the limit") && l.contains("(warn)"))
            .count(),
        4,
        "{log}"
    );
}

/// SIGTERM removes the pid file, also where only its owner may (a sticky
/// dir such as /tmp, once the daemon has dropped root), and only while it
/// still names this daemon.
#[test]
fn sigterm_removes_the_pid_file_that_names_us() {
    // SAFETY: getter.
    let root = unsafe { libc::geteuid() } == 0;
    let v = Volunteer::new();
    let sticky = v.tree.path("run");
    fs::create_dir(&sticky).unwrap();
    fs::set_permissions(&sticky, fs::Permissions::from_mode(0o1777)).unwrap();
    let pid_file = sticky.join("distccd.pid");
    let arg = pid_file.to_str().unwrap();
    let mut d = v.daemon(&["--pid-file", arg]);
    assert_eq!(
        fs::read_to_string(&pid_file).unwrap().trim(),
        d.child.id().to_string()
    );
    assert!(d.stop().is_some_and(|s| s.success()), "{}", d.log());
    assert!(
        !pid_file.exists(),
        "pid file left (root: {root}): {}",
        d.log()
    );

    // Another daemon's pid file by now: left alone.
    let mut d = v.daemon(&["--pid-file", arg]);
    fs::write(&pid_file, "1\n").unwrap();
    assert!(d.stop().is_some_and(|s| s.success()), "{}", d.log());
    assert_eq!(fs::read_to_string(&pid_file).unwrap(), "1\n");
}
