//! A build's cold start: `make -jN` with an empty cache dir starts N
//! client jobs at once. Per unit, N child processes (each as a client
//! job: compiler identity, probe, scan) run at once over one empty cache
//! dir, with claims ("after": each piece of cold work done once between
//! them) and without ("before": the lock file's name taken by a dir, so
//! no claim can be made and each process does all the work, as before
//! claims existed). One process alone over an empty dir, both ways, shows
//! what claiming costs a job that waits for no one. Every dir starts with
//! the compiler's identity only (shared before claims too), so the
//! difference is the scan's work: the compiler probe, builtin answers,
//! skeletons and listings. The CPU of the processes (user + system, from
//! `wait4`) and the wall time of the batch; medians over rounds, then
//! over the units.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use distcc::includes::claim::LOCK_NAME;

use super::{copy_dir, median, project, reap, report, run};

/// CPU of each of the children, and the wall time until all ended.
fn batch(caches: &[&Path], line: &str) -> Option<(Duration, Duration)> {
    let exe = std::env::current_exe().ok()?;
    let start = Instant::now();
    let children: Vec<_> = caches
        .iter()
        .map(|c| {
            Command::new(&exe)
                .arg("--child")
                .arg(c)
                .arg(line)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
        })
        .collect::<Result<_, _>>()
        .ok()?;
    let mut cpu = Duration::ZERO;
    let mut ok = true;
    for c in children {
        match reap(&c) {
            Some(t) => cpu += t,
            None => ok = false,
        }
    }
    ok.then(|| (cpu, start.elapsed()))
}

#[derive(Default)]
struct Row {
    /// CPU of N at once, before and after; wall time of the batch.
    cpu: [Vec<f64>; 2],
    wall: [Vec<f64>; 2],
    ratio: Vec<f64>,
    /// CPU of one process alone, before and after.
    one: [Vec<f64>; 2],
}

/// `CONCURRENT=N`: the table of before against after, per project.
/// `UNITS=K` takes every K-th unit of each project (default 1: all).
pub fn parent(spec: &str, n: usize) {
    let rounds: usize = env_num("ROUNDS", 3);
    let every: usize = env_num("UNITS", 1).max(1);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut md = String::from(
        "| project | units | N | CPU of N before, ms | after, ms | after / before | wall of N before, ms | after, ms | one job alone before, ms | after, ms |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for item in spec.split(',') {
        let (name, lines) = project(item);
        let lines: Vec<String> = lines.into_iter().step_by(every).collect();
        let tmp = tempfile::Builder::new()
            .prefix("scan-concurrent-")
            .tempdir()
            .unwrap();
        let mut row = Row::default();
        let template = tmp.path().join("template");
        let exe = std::env::current_exe().unwrap();
        let mut dirs = 0;
        let mut fresh = |claims: bool| {
            dirs += 1;
            let d = tmp.path().join(format!("cache-{dirs}"));
            copy_dir(&template, &d);
            if !claims {
                std::fs::create_dir(d.join(LOCK_NAME)).unwrap();
            }
            d
        };
        for (k, l) in lines.iter().enumerate() {
            let _ = run(Command::new(&exe)
                .arg("--child")
                .arg(&template)
                .arg(l)
                .arg("identity-only"));
            let mut cpu: [Vec<f64>; 2] = Default::default();
            let mut wall: [Vec<f64>; 2] = Default::default();
            let mut one: [Vec<f64>; 2] = Default::default();
            for _ in 0..rounds {
                for (i, claims) in [false, true].into_iter().enumerate() {
                    let d = fresh(claims);
                    if let Some((c, w)) = batch(&vec![d.as_path(); n], l) {
                        cpu[i].push(ms(c));
                        wall[i].push(ms(w));
                    }
                    let d = fresh(claims);
                    if let Some((c, _)) = batch(&[d.as_path()], l) {
                        one[i].push(ms(c));
                    }
                }
            }
            if cpu.iter().chain(&one).any(Vec::is_empty) {
                eprintln!("{name}: unit {k} failed to scan");
                continue;
            }
            let (b, a) = (median(&mut cpu[0]), median(&mut cpu[1]));
            row.ratio.push(a / b);
            for i in 0..2 {
                row.cpu[i].push(median(&mut cpu[i]));
                row.wall[i].push(median(&mut wall[i]));
                row.one[i].push(median(&mut one[i]));
            }
        }
        let [c0, c1] = &mut row.cpu;
        let [w0, w1] = &mut row.wall;
        let [o0, o1] = &mut row.one;
        let line = format!(
            "| {name} | {} | {n} | {:.1} | {:.1} | {:.3} | {:.1} | {:.1} | {:.1} | {:.1} |",
            row.ratio.len(),
            median(c0),
            median(c1),
            median(&mut row.ratio),
            median(w0),
            median(w1),
            median(o0),
            median(o1),
        );
        eprintln!("{line}");
        md.push_str(&line);
        md.push('\n');
    }
    report(&md);
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
