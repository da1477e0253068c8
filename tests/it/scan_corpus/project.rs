//! One project's run: every unit compared with each compiler's `-M`,
//! optionally the cost figures, and the report lines.

use std::fmt::Write;
use std::path::PathBuf;

use distcc::includes::{ProbeCache, Scanner};

use super::measure::{median, reference_cpu, thread_cpu};
use super::{compare, driver, have, info_for, Recorded};

#[derive(Default, Debug)]
pub struct PerCompiler {
    pub compiler: String,
    pub compared: usize,
    pub reference_failed: usize,
    pub cannot: Vec<String>,
    pub misses: Vec<(PathBuf, PathBuf)>,
    pub extras: usize,
    pub units_with_extras: usize,
    /// (unit, extra file), the first few.
    pub extra_files: Vec<(PathBuf, PathBuf)>,
}

#[derive(Default, Debug)]
pub struct Cost {
    pub units: usize,
    pub cold_us: f64,
    pub warm_us: f64,
    pub gcc_us: f64,
    pub warm_ratio: f64,
    pub cold_ratio: f64,
}

#[derive(Default, Debug)]
pub struct Report {
    pub name: String,
    pub units: usize,
    pub per: Vec<PerCompiler>,
    pub cost: Option<Cost>,
}

impl Report {
    pub fn misses(&self) -> usize {
        self.per.iter().map(|p| p.misses.len()).sum()
    }
}

/// `rounds`: cost rounds per unit (0: no cost figures).
pub fn run(name: &str, units: &[Recorded], rounds: usize) -> Report {
    let mut rep = Report {
        name: name.to_string(),
        units: units.len(),
        ..Report::default()
    };
    let mut probes = ProbeCache::default();
    for family in ["gcc", "clang"] {
        if !have(family) {
            eprintln!("SKIPPED: {family} is not installed");
            continue;
        }
        let mut scanner = Scanner::new();
        let mut p = PerCompiler {
            compiler: family.to_string(),
            ..PerCompiler::default()
        };
        for u in units {
            let o = compare(&mut scanner, &mut probes, u, &driver(family, u));
            if o.reference_failed {
                p.reference_failed += 1;
                continue;
            }
            if let Some(why) = o.cannot {
                p.cannot.push(format!("{}: {why}", u.unit.source.display()));
                continue;
            }
            p.compared += 1;
            p.extras += o.extras.len();
            p.units_with_extras += !o.extras.is_empty() as usize;
            for e in o.extras {
                if p.extra_files.len() < 20 {
                    p.extra_files.push((u.unit.source.clone(), e));
                }
            }
            for m in o.misses {
                p.misses.push((u.unit.source.clone(), m));
            }
        }
        if family == "gcc" && rounds > 0 {
            rep.cost = Some(cost(&mut scanner, &mut probes, units, rounds));
        }
        rep.per.push(p);
    }
    rep
}

/// Per unit: cold (a new scanner, every file read), warm (this scanner,
/// which has seen the unit: one stat per file and the walk), and the CPU
/// of `gcc -M`; medians of the rounds, then medians over units.
fn cost(scanner: &mut Scanner, probes: &mut ProbeCache, units: &[Recorded], rounds: usize) -> Cost {
    let (mut cold, mut warm, mut gcc, mut wr, mut cr) = (vec![], vec![], vec![], vec![], vec![]);
    for u in units {
        let cc = driver("gcc", u);
        let Ok(info) = info_for(probes, u, &cc) else {
            continue;
        };
        if scanner.scan(&u.unit, &info).is_err() {
            continue;
        }
        let (mut c, mut w, mut g) = (vec![], vec![], vec![]);
        for _ in 0..rounds {
            let t = thread_cpu();
            let _ = scanner.scan(&u.unit, &info);
            w.push((thread_cpu() - t).as_secs_f64() * 1e6);
            let t = thread_cpu();
            let mut fresh = Scanner::new();
            let _ = fresh.scan(&u.unit, &info);
            c.push((thread_cpu() - t).as_secs_f64() * 1e6);
            drop(fresh);
            if let Some(d) = reference_cpu(u, &cc) {
                g.push(d.as_secs_f64() * 1e6);
            }
        }
        if g.is_empty() {
            continue;
        }
        let (c, w, g) = (median(&mut c), median(&mut w), median(&mut g));
        cold.push(c);
        warm.push(w);
        gcc.push(g);
        wr.push(w / g);
        cr.push(c / g);
    }
    Cost {
        units: gcc.len(),
        cold_us: median(&mut cold),
        warm_us: median(&mut warm),
        gcc_us: median(&mut gcc),
        warm_ratio: median(&mut wr),
        cold_ratio: median(&mut cr),
    }
}

pub fn markdown(reps: &[Report]) -> String {
    let mut s = String::new();
    s.push_str("| project | units | compiler | compared | -M failed | cannot scan | misses | extra files (units with any) |\n");
    s.push_str("|---|---:|---|---:|---:|---:|---:|---|\n");
    for r in reps {
        for p in &r.per {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} ({}) |",
                r.name,
                r.units,
                p.compiler,
                p.compared,
                p.reference_failed,
                p.cannot.len(),
                p.misses.len(),
                p.extras,
                p.units_with_extras
            );
        }
    }
    if reps.iter().any(|r| r.cost.is_some()) {
        s.push_str("\nCost per unit, CPU, medians over the project's units (scanner in-process, `gcc -M` as a process):\n\n");
        s.push_str(
            "| project | units | gcc -M µs | cold µs | warm µs | cold / gcc -M | warm / gcc -M |\n",
        );
        s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
        for r in reps {
            if let Some(c) = &r.cost {
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.0} | {:.0} | {:.0} | {:.3} | {:.3} |",
                    r.name, c.units, c.gcc_us, c.cold_us, c.warm_us, c.cold_ratio, c.warm_ratio
                );
            }
        }
    }
    let notes: Vec<String> = reps
        .iter()
        .flat_map(|r| {
            r.per.iter().flat_map(move |p| {
                p.cannot
                    .iter()
                    .map(move |c| format!("- {} / {}: {c}", r.name, p.compiler))
                    .chain(p.misses.iter().map(move |(u, m)| {
                        format!(
                            "- MISS {} / {}: {} needs {}",
                            r.name,
                            p.compiler,
                            u.display(),
                            m.display()
                        )
                    }))
                    .chain(p.extra_files.iter().map(move |(u, e)| {
                        format!(
                            "- extra {} / {}: {} also sends {}",
                            r.name,
                            p.compiler,
                            u.display(),
                            e.display()
                        )
                    }))
            })
        })
        .take(80)
        .collect();
    if !notes.is_empty() {
        s.push('\n');
        s.push_str(&notes.join("\n"));
        s.push('\n');
    }
    s
}
