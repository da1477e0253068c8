//! The full corpus, driven by `benches/scan-corpus.sh`: units files
//! named in `SCAN_CORPUS` (`name=path,name=path`), the report written to
//! `SCAN_CORPUS_REPORT`, `SCAN_CORPUS_ROUNDS` cost rounds per unit.
//! Ignored by default: it needs the sources the script fetches, and it
//! measures time.

use super::project::{markdown, run};
use super::Recorded;

#[test]
#[ignore]
fn full() {
    let Ok(spec) = std::env::var("SCAN_CORPUS") else {
        eprintln!("SKIPPED: SCAN_CORPUS is not set (benches/scan-corpus.sh sets it)");
        return;
    };
    let rounds: usize = std::env::var("SCAN_CORPUS_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    if let Ok(mode) = std::env::var("SCAN_CORPUS_PROFILE") {
        return profile(&spec, &mode, rounds);
    }
    let mut reps = Vec::new();
    for item in spec.split(',') {
        let (name, path) = item.split_once('=').expect("name=path");
        let text = std::fs::read_to_string(path).expect("units file");
        let units: Vec<Recorded> = text.lines().filter_map(Recorded::from_line).collect();
        eprintln!("{name}: {} units", units.len());
        let rep = run(name, &units, rounds);
        eprintln!("{}", markdown(std::slice::from_ref(&rep)));
        reps.push(rep);
    }
    let md = markdown(&reps);
    if let Ok(out) = std::env::var("SCAN_CORPUS_REPORT") {
        std::fs::write(out, &md).unwrap();
    }
    println!("{md}");
    let misses: usize = reps.iter().map(|r| r.misses()).sum();
    assert_eq!(misses, 0, "the scanner missed files gcc or clang read");
}

/// Only scans, `rounds` times per unit, warm or cold: a workload for a
/// profiler (`SCAN_CORPUS_PROFILE=warm|cold`).
fn profile(spec: &str, mode: &str, rounds: usize) {
    let mut probes = distcc::includes::ProbeCache::default();
    for item in spec.split(',') {
        let (_, path) = item.split_once('=').expect("name=path");
        let text = std::fs::read_to_string(path).expect("units file");
        let units: Vec<Recorded> = text.lines().filter_map(Recorded::from_line).collect();
        let mut warm = distcc::includes::Scanner::new();
        for u in &units {
            let info = super::info_for(&mut probes, u, &super::driver("gcc", u)).unwrap();
            let _ = warm.scan(&u.unit, &info);
            for _ in 0..rounds {
                if mode == "cold" {
                    let _ = distcc::includes::Scanner::new().scan(&u.unit, &info);
                } else {
                    let _ = warm.scan(&u.unit, &info);
                }
            }
        }
    }
}
