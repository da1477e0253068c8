//! The daemon's result cache on a clean rebuild: Lua 5.4's units (from the
//! `lua-src` crate, fetched through cargo at bench time), `-O2 -g`, built
//! through our client against one daemon with `--cache-size`, four jobs at
//! a time. First a cold build (every job a miss), then the same clean
//! build from a second client (its own state dir) against the warm cache.
//! Wall time and the daemon's CPU (its own and its compilers') per build,
//! classic (`,lzo,classic`) and exact mode (`,cpp,lzo`), each in a fresh cache.
//!
//! `cargo bench --bench result_cache`; with `RESULTS=benches/RESULTS.md`
//! it also replaces its marked section there.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[path = "common/lua_src.rs"]
mod lua_src;
#[path = "common/results.rs"]
mod results;

const BEGIN: &str =
    "<!-- result-cache: begin (written by benches/result_cache.rs; other scripts keep it) -->";
const END: &str = "<!-- result-cache: end -->";
const JOBS: usize = 4;

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_distcc"))
}

fn open_dir(p: &Path) {
    fs::create_dir_all(p).unwrap();
    // The daemon drops root to its own user.
    fs::set_permissions(p, fs::Permissions::from_mode(0o777)).unwrap();
}

struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn start(scratch: &Path, cache: &Path) -> Daemon {
        let masq = scratch.join("masq");
        if !masq.exists() {
            open_dir(&masq);
            symlink(exe(), masq.join("gcc")).unwrap();
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(exe())
            .arg0("distccd")
            .args(["--daemon", "--no-detach", "--listen", "127.0.0.1"])
            .args([
                "--allow",
                "127.0.0.1",
                "--jobs",
                "4",
                "--log-level",
                "error",
            ])
            .arg("--port")
            .arg(port.to_string())
            .arg("--compiler-dir")
            .arg(&masq)
            .args(["--cache-size", "1024", "--cache-dir"])
            .arg(cache)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start distccd");
        let until = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "distccd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child, port }
    }

    /// CPU seconds of the daemon and the compilers it has reaped.
    fn cpu(&self) -> f64 {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        // utime, stime, cutime, cstime: fields 14-17, 12-15 after the name.
        let ticks: u64 = fields[11..15]
            .iter()
            .map(|f| f.parse::<u64>().unwrap())
            .sum();
        // SAFETY: sysconf has no preconditions.
        ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().ok();
    }
}

use std::os::unix::process::CommandExt;

/// One clean build of `units` into `out` by a client with state `state`;
/// its wall time.
fn build(units: &[PathBuf], out: &Path, state: &Path, hosts: &str) -> Duration {
    open_dir(out);
    open_dir(state);
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..JOBS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(unit) = units.get(i) else { break };
                let obj = out.join(format!("{i}.o"));
                let st = Command::new(exe())
                    .args([
                        "gcc",
                        "-O2",
                        "-g",
                        "-DLUA_USE_LINUX",
                        "-DLUA_COMPAT_5_3",
                        "-c",
                    ])
                    .arg(unit)
                    .arg("-o")
                    .arg(&obj)
                    .env("DISTCC_HOSTS", hosts)
                    .env("DISTCC_DIR", state)
                    .env("DISTCC_FALLBACK", "0")
                    .env_remove("DISTCC_VERBOSE")
                    .status()
                    .unwrap();
                assert!(st.success(), "{}", unit.display());
            });
        }
    });
    start.elapsed()
}

fn objects(dir: &Path, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| fs::read(dir.join(format!("{i}.o"))).unwrap())
        .collect()
}

fn main() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
    let src = lua_src::lua_sources(&root.join("fetch"));
    let mut units: Vec<PathBuf> = fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    units.sort();
    let mut text = format!(
        "## Result cache: a clean rebuild from a second client, warm daemon cache\n\n\
         Lua 5.4, {} units, -O2 -g, {JOBS} jobs at a time, one daemon (`--jobs 4 --cache-size \
         1024`) on loopback. Cold: the first build, every job a miss. Warm: the same clean build \
         from another client (its own state dir), every job a hit. Daemon CPU: its own and its \
         compilers'. The machine's 2 cores were shared with other work, so compare rows, not absolute times. `cargo bench --bench result_cache`.\n\n\
         | mode | build | wall s | daemon CPU s | objects |\n|---|---|---:|---:|---|\n",
        units.len()
    );
    for (mode, opts) in [("classic", ",lzo,classic"), ("exact", ",cpp,lzo")] {
        let cache = root.join(format!("cache-{mode}"));
        open_dir(&cache);
        let daemon = Daemon::start(root, &cache);
        let hosts = format!("127.0.0.1:{}/4{opts}", daemon.port);
        let mut cold_objects = Vec::new();
        for build_name in ["cold", "warm"] {
            let out = root.join(format!("out-{mode}-{build_name}"));
            let state = root.join(format!("state-{mode}-{build_name}"));
            let cpu = daemon.cpu();
            let wall = build(&units, &out, &state, &hosts);
            let cpu = daemon.cpu() - cpu;
            let objs = objects(&out, units.len());
            let same = match build_name {
                "cold" => {
                    cold_objects = objs;
                    "(first build)".to_string()
                }
                _ => {
                    let n = objs
                        .iter()
                        .zip(&cold_objects)
                        .filter(|(a, b)| a == b)
                        .count();
                    format!("{n}/{} byte-identical to cold", objs.len())
                }
            };
            let row = format!(
                "| {mode} `{opts}` | {build_name} | {:.2} | {cpu:.2} | {same} |\n",
                wall.as_secs_f64()
            );
            print!("{row}");
            text += &row;
        }
    }
    println!();
    results::write_section(BEGIN, END, &text);
}
