//! The include scanner's cost as the client pays it: every distcc job is
//! a new process, so each unit is scanned by a new process of this
//! binary through `includes::scan_unit` over a cache dir, as the client
//! will, and compared with the CPU of `gcc -M` on the same unit.
//!
//! - cold: the cache holds only what concerns the compiler (its probe and
//!   its answers to builtin calls, as after the first jobs of the
//!   machine): every file is read, lexed and hashed, every dir listed, and
//!   all of it appended to the cache;
//! - warm: the cache holds what earlier jobs of the project left (each
//!   unit is scanned once first): the unit's kept scan is replayed, every
//!   file and searched dir is `stat`'ed;
//! - warm walk: the same cache, but the unit's kept scan does not apply
//!   (a new `-D` each run, as a changed header or flag would do): the
//!   unit is walked with skeletons and listings from the cache, and its
//!   new scan kept;
//! - edit: the same cache, the unit's source just edited outside its
//!   directives (a comment line appended, taken out after the run), as
//!   in the edit-and-rebuild loop: its kept scan holds, and the edited
//!   file is read, digested and lexed;
//! - agent warm, agent walk: warm and warm walk as a client does them by
//!   default, through the scan agent (one per cache dir, started by the
//!   first such run and kept by the rest): the figure is the child's CPU
//!   from the question to the answer plus the agent's CPU meanwhile (its
//!   `schedstat`).
//!
//! Per run, the child reports its own CPU for the scan (from before
//! `scan_unit` to after it, which includes opening the cache and writing
//! to it), and the parent takes the child's whole CPU from `wait4` (exec,
//! start-up, the compiler identity, the scan). `gcc -M` is measured the
//! same way. Medians over rounds, then over each project's units.
//! Every scan's file set is checked against the unit's `-M` list: the
//! misses column counts the files it lacked, over all runs (must be 0).
//!
//! `cargo bench --bench scan_unit -- NAME=UNITS.tsv[,NAME=UNITS.tsv...]`
//! with units files as `benches/scan-corpus.sh` writes them; `ROUNDS=3`;
//! `OUT=file` for the markdown table; `DETAIL=file` for one line per unit.
//!
//! `CONCURRENT=N` measures a build's cold start instead (`concurrent`):
//! per unit, N processes scan it at once over one empty cache dir (as
//! `make -jN` starts N jobs), against N at once over N empty dirs (each
//! does all the work, as before processes shared their cold work).

#[path = "../tests/it/scan_corpus/args.rs"]
#[allow(dead_code)]
mod args;
#[path = "../tests/it/scan_corpus/deps.rs"]
mod deps;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

#[path = "scan_unit/concurrent.rs"]
mod concurrent;

use args::Recorded;
use distcc::identity;
use distcc::includes::{self, Compiler, Lang, MacroOpt};

fn main() {
    // The agent a child starts runs this binary under the agent's name.
    let argv0 = std::env::args_os().next().unwrap_or_default();
    if Path::new(&argv0).file_name() == Some(std::ffi::OsStr::new(includes::agent::PROGRAM)) {
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        std::process::exit(distcc::scan_agent::main(&args).map_or(1, i32::from));
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some("--child") => child(&argv[1..]),

        Some("--bench") | None => usage(),
        Some(spec) => match std::env::var("CONCURRENT")
            .ok()
            .and_then(|n| n.parse().ok())
        {
            Some(n) => concurrent::parent(spec, n),
            None => parent(spec),
        },
    }
}

fn usage() {
    eprintln!("usage: scan_unit NAME=UNITS.tsv[,NAME=UNITS.tsv...] (see the file's header)");
}

fn cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn id_lang(l: Lang) -> identity::Lang {
    match l {
        Lang::Cxx => identity::Lang::Cxx,
        _ => identity::Lang::C,
    }
}

/// `--child CACHE LINE`: one unit, as a client job would scan it.
/// Prints `start identity scan files reads` (µs of CPU, counts).
fn child(a: &[String]) {
    let start = cpu_now();
    let cache = Path::new(&a[0]);
    let u = Recorded::from_line(&a[1]).expect("a unit line");
    let driver = PathBuf::from(
        a[1].split('\t')
            .nth(1)
            .unwrap()
            .split('\x1f')
            .next()
            .unwrap(),
    );
    let ids = identity::Cache::new(Some(cache));
    let lang = u.unit.lang.unwrap();
    let id = ids
        .identity(&driver, id_lang(lang))
        .expect("compiler identity");
    let _ = ids.flush();
    if a.get(2).map(String::as_str) == Some("identity-only") {
        return;
    }
    let flags: Vec<OsString> = u.probe_flags.iter().map(OsString::from).collect();
    let cc = Compiler {
        path: &driver,
        identity: &id.digest,
        probe_flags: &flags,
    };
    let mut unit = u.unit.clone();
    // An edit of the source outside its directives, undone after the run.
    let source = u.cwd.join(&u.unit.source);
    let original = (a.get(2).map(String::as_str) == Some("edit")).then(|| {
        let bytes = std::fs::read(&source).expect("the unit's source");
        let nonce = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let mut edited = bytes.clone();
        edited.extend_from_slice(format!("\n// distcc bench edit {nonce}\n").as_bytes());
        std::fs::write(&source, edited).expect("editing the source");
        bytes
    });
    let mode = a.get(2).map(String::as_str).unwrap_or("");
    if mode == "walk" || mode == "agent-walk" {
        // A macro no kept scan has: this unit's is never replayed.
        let nonce = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        unit.macros.push(MacroOpt::Define(format!(
            "DISTCC_BENCH_WALK_{}_{nonce}",
            std::process::id()
        )));
    }
    let agent = mode.starts_with("agent").then(|| agent_cpu(cache));
    let t0 = cpu_now();
    let r = if mode == "compiler-only" {
        let mut s = includes::session::Session::open(cache);
        s.keep_files(false);
        s.scan(&cc, &unit)
    } else if agent.is_some() {
        includes::agent::scan(cache, &cc, &unit, true)
    } else {
        includes::scan_unit(cache, &cc, &unit)
    };
    let mut t1 = cpu_now();
    if let Some((pid, before)) = agent {
        t1 += schedstat(pid).expect("the scan agent still runs") - before;
    }
    if let Some(bytes) = original {
        std::fs::write(&source, bytes).expect("restoring the source");
    }
    let r = r.unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(3)
    });
    let mut out = format!(
        "{} {} {} {}\n",
        start.as_micros(),
        (t0 - start).as_micros(),
        (t1 - t0).as_micros(),
        r.files.len()
    );
    for f in &r.files {
        out.push_str(&f.path.to_string_lossy());
        out.push('\n');
    }
    print!("{out}");
}

/// The scan agent for `cache` (started if none runs) and its CPU so far.
fn agent_cpu(cache: &Path) -> (i32, Duration) {
    let kind = includes::agent::kind().unwrap();
    let sock = distcc::helper::reach(cache, &kind).expect("a scan agent");
    let cred = distcc::helper::peer(&sock).expect("the agent's pid");
    // Nonsense, answered with a refusal: once it is read, the agent has
    // done its work for this connection (but closing it).
    let mut sock = sock;
    includes::agent::write_message(&mut sock, b"?").unwrap();
    includes::agent::read_message(&mut sock).unwrap();
    drop(sock);
    (cred.pid, schedstat(cred.pid).unwrap())
}

/// A process's CPU time so far, to the nanosecond: the sum of its
/// threads' `schedstat` (the agent's workers are threads).
fn schedstat(pid: i32) -> Option<Duration> {
    let mut ns = 0u64;
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let s = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        ns += s
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
    }
    Some(Duration::from_nanos(ns))
}

/// Runs `cmd` and returns its CPU (user + system, from `wait4`) and
/// stdout; None if it failed.
fn run(cmd: &mut Command) -> Option<(Duration, String)> {
    let mut c = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut out = String::new();
    use std::io::Read;
    c.stdout.take().unwrap().read_to_string(&mut out).ok()?;
    Some((reap(&c)?, out))
}

/// Waits for `c` and returns its CPU (user + system, from `wait4`); None
/// if it failed.
fn reap(c: &std::process::Child) -> Option<Duration> {
    let mut status = 0;
    // SAFETY: wait4 on our own child, filling structs we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(c.id() as i32, &mut status, 0, &mut ru) };
    if r < 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return None;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Some(tv(ru.ru_utime) + tv(ru.ru_stime))
}

/// A `NAME=UNITS.tsv` item: the name, and the units the file holds.
fn project(item: &str) -> (&str, Vec<String>) {
    let (name, path) = item.split_once('=').expect("NAME=UNITS.tsv");
    let text = std::fs::read_to_string(path).expect("units file");
    let lines = text
        .lines()
        .filter(|l| Recorded::from_line(l).is_some())
        .map(String::from)
        .collect();
    (name, lines)
}

/// Prints the table and writes it to `OUT` if set.
fn report(md: &str) {
    println!("{md}");
    if let Ok(out) = std::env::var("OUT") {
        std::fs::write(out, md).unwrap();
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One child run.
struct Scan {
    /// The whole process's CPU, and the scan's, in µs.
    whole: f64,
    scan: f64,
    files: Vec<PathBuf>,
}

fn scan_run(cache: &Path, line: &str, mode: &str) -> Option<Scan> {
    let exe = std::env::current_exe().ok()?;
    let (cpu, out) = run(Command::new(exe)
        .arg("--child")
        .arg(cache)
        .arg(line)
        .arg(mode))?;
    let mut lines = out.lines();
    let f: Vec<f64> = lines
        .next()?
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    Some(Scan {
        whole: cpu.as_secs_f64() * 1e6,
        scan: *f.get(2)?,
        files: lines.map(PathBuf::from).collect(),
    })
}

/// Files of `-M`'s list that the scan lacks.
fn misses(reference: &BTreeSet<PathBuf>, cwd: &Path, s: &Scan) -> usize {
    let ours: BTreeSet<PathBuf> = s.files.iter().map(|p| deps::canonical(cwd, p)).collect();
    reference.difference(&ours).count()
}

#[derive(Default)]
struct Row {
    units: usize,
    /// Files of `-M`'s list missing from a scan, over all runs.
    misses: usize,
    gcc: Vec<f64>,
    cold: Vec<f64>,
    warm: Vec<f64>,
    cold_whole: Vec<f64>,
    warm_whole: Vec<f64>,
    cold_ratio: Vec<f64>,
    warm_ratio: Vec<f64>,
    walk: Vec<f64>,
    walk_ratio: Vec<f64>,
    edit: Vec<f64>,
    edit_ratio: Vec<f64>,
    agent_warm: Vec<f64>,
    agent_warm_ratio: Vec<f64>,
    agent_walk: Vec<f64>,
    agent_walk_ratio: Vec<f64>,
    files: Vec<f64>,
}

fn parent(spec: &str) {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let mut md = String::new();
    let mut detail = String::new();
    md.push_str("| project | units | misses | files (median) | gcc -M µs | cold µs | warm µs | warm walk µs | edit µs | agent warm µs | agent walk µs | cold / gcc -M | warm / gcc -M | warm walk / gcc -M | edit / gcc -M | agent warm / gcc -M | agent walk / gcc -M | whole process cold µs | whole process warm µs |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for item in spec.split(',') {
        let (name, lines) = project(item);
        let tmp = tempfile::Builder::new()
            .prefix("scan-unit-")
            .tempdir()
            .unwrap();
        let (template, cold, warm) = (
            tmp.path().join("template"),
            tmp.path().join("cold"),
            tmp.path().join("warm"),
        );
        let exe = std::env::current_exe().unwrap();
        // What concerns the compilers (probes, answers to builtin calls)
        // for every unit of the project, no files.
        for l in &lines {
            let _ = run(Command::new(&exe)
                .arg("--child")
                .arg(&template)
                .arg(l)
                .arg("compiler-only"));
        }
        copy_dir(&template, &warm);
        let mut row = Row::default();
        for (k, l) in lines.iter().enumerate() {
            let u = Recorded::from_line(l).unwrap();
            let driver = l.split('\t').nth(1).unwrap().split('\x1f').next().unwrap();
            let (mut g, mut c, mut w, mut cw, mut ww) = (vec![], vec![], vec![], vec![], vec![]);
            let (mut wk, mut ed, mut aw, mut ak) = (vec![], vec![], vec![], vec![]);
            let mut files = 0;
            let Some(reference) = deps::reference_deps(&u, Path::new(driver)) else {
                eprintln!("{name}: -M fails on unit {k}");
                continue;
            };
            let Some(first) = scan_run(&warm, l, "") else {
                eprintln!("{name}: cannot scan unit {k}");
                continue;
            };
            let mut missed = misses(&reference, &u.cwd, &first);
            for _ in 0..rounds {
                let m = run(Command::new(driver)
                    .args(&u.m_args)
                    .args(["-M", "-MF", "/dev/null"])
                    .current_dir(&u.cwd));
                if let Some((cpu, _)) = m {
                    g.push(cpu.as_secs_f64() * 1e6);
                }
                let _ = std::fs::remove_dir_all(&cold);
                copy_dir(&template, &cold);
                if let Some(r) = scan_run(&cold, l, "") {
                    c.push(r.scan);
                    cw.push(r.whole);
                    files = r.files.len();
                    missed += misses(&reference, &u.cwd, &r);
                }
                if let Some(r) = scan_run(&warm, l, "") {
                    w.push(r.scan);
                    ww.push(r.whole);
                    missed += misses(&reference, &u.cwd, &r);
                }
                if let Some(r) = scan_run(&warm, l, "walk") {
                    wk.push(r.scan);
                    missed += misses(&reference, &u.cwd, &r);
                }
                if let Some(r) = scan_run(&warm, l, "agent-warm") {
                    aw.push(r.scan);
                    missed += misses(&reference, &u.cwd, &r);
                }
                if let Some(r) = scan_run(&warm, l, "agent-walk") {
                    ak.push(r.scan);
                    missed += misses(&reference, &u.cwd, &r);
                }
            }
            // After the others: an edited source leaves a stamp a replay
            // cannot trust for a few seconds, and would read it again.
            for _ in 0..rounds {
                if let Some(r) = scan_run(&warm, l, "edit") {
                    ed.push(r.scan);
                    missed += misses(&reference, &u.cwd, &r);
                }
            }
            if missed > 0 {
                eprintln!(
                    "{name}: unit {k} ({}): {missed} misses",
                    u.unit.source.display()
                );
            }
            row.misses += missed;
            if [&g, &c, &w, &wk, &ed, &aw, &ak]
                .iter()
                .any(|v| v.is_empty())
            {
                continue;
            }
            let (aw, ak) = (median(&mut aw), median(&mut ak));
            let (g, c, w, wk, ed) = (
                median(&mut g),
                median(&mut c),
                median(&mut w),
                median(&mut wk),
                median(&mut ed),
            );
            let (cw, ww) = (median(&mut cw), median(&mut ww));
            let _ = writeln!(
                detail,
                "{name}\t{}\t{files}\t{g:.0}\t{c:.0}\t{w:.0}\t{wk:.0}\t{ed:.0}\t{aw:.0}\t{ak:.0}\t{cw:.0}\t{ww:.0}",
                u.unit.source.display()
            );
            row.units += 1;
            row.gcc.push(g);
            row.cold.push(c);
            row.warm.push(w);
            row.walk.push(wk);
            row.walk_ratio.push(wk / g);
            row.edit.push(ed);
            row.edit_ratio.push(ed / g);
            row.agent_warm.push(aw);
            row.agent_warm_ratio.push(aw / g);
            row.agent_walk.push(ak);
            row.agent_walk_ratio.push(ak / g);
            row.cold_whole.push(cw);
            row.warm_whole.push(ww);
            row.cold_ratio.push(c / g);
            row.warm_ratio.push(w / g);
            row.files.push(files as f64);
        }
        let line = format!(
            "| {name} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} | {:.0} |",
            row.units,
            row.misses,
            median(&mut row.files),
            median(&mut row.gcc),
            median(&mut row.cold),
            median(&mut row.warm),
            median(&mut row.walk),
            median(&mut row.edit),
            median(&mut row.agent_warm),
            median(&mut row.agent_walk),
            median(&mut row.cold_ratio),
            median(&mut row.warm_ratio),
            median(&mut row.walk_ratio),
            median(&mut row.edit_ratio),
            median(&mut row.agent_warm_ratio),
            median(&mut row.agent_walk_ratio),
            median(&mut row.cold_whole),
            median(&mut row.warm_whole),
        );
        eprintln!("{line}");
        md.push_str(&line);
        md.push('\n');
    }
    report(&md);
    if let Ok(out) = std::env::var("DETAIL") {
        std::fs::write(out, &detail).unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
