//! Cost of compiler identities and system-header checks: cold (probe the
//! driver, digest its programs), warm in one process (a daemon: a few
//! `stat`s), and warm in a new process (a client job: one record file
//! read, then the same `stat`s).
//!
//! Then one job's share (`per_job`): the system headers of a C++ unit
//! that includes a few standard headers, the bytes its assertions put on
//! the wire (`protocol::identity`), cold and warm, and what building them
//! (client) and checking them (daemon) costs when warm.
//!
//! `cargo bench --bench identity` (optionally `-- COMPILER...`, default
//! `gcc` and `clang` where installed; `N=` warm iterations).

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use distcc::identity::{check_files, Cache, Expect, Lang};
use distcc::protocol::identity::{digest_of, list_bytes, write_assertions, Assertions};

fn per_call(n: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed() / n
}

/// The client passes the compiler it found as a path; a bare name would
/// add one `stat` per PATH dir before it to every lookup.
fn on_path(name: &OsStr) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn compiler(name: &OsStr, n: u32) {
    let Some(driver) = on_path(name) else {
        println!("{}: not on PATH", name.to_string_lossy());
        return;
    };
    let driver = driver.as_path();
    let dir = tempfile::tempdir().unwrap();
    for lang in [Lang::C, Lang::Cxx] {
        let cache = Cache::new(Some(dir.path()));
        let start = Instant::now();
        let id = match cache.identity(driver, lang) {
            Ok(id) => id,
            Err(e) => {
                println!("{}: {e:#}", driver.display());
                return;
            }
        };
        let cold = start.elapsed();
        let mb = cache.stats().bytes_hashed as f64 / 1e6;
        println!("{id}");
        println!(
            "  wire {} bytes, hex {} chars",
            id.to_wire().len(),
            id.to_hex().len()
        );
        println!("  cold: {cold:.1?} ({mb:.1} MB digested)");
        let warm = per_call(n, || {
            cache.identity(driver, lang).unwrap();
        });
        println!("  warm, same process: {warm:.2?} per lookup");
        let fresh = per_call(n / 10, || {
            Cache::new(Some(dir.path())).identity(driver, lang).unwrap();
        });
        println!("  warm, new process (record file): {fresh:.2?} per lookup");
    }
    let stat = per_call(n, || {
        std::fs::metadata(driver).unwrap();
    });
    println!("  (one stat of {}: {stat:.2?})", driver.display());
}

/// Every header under `/usr/include`, checked as a client would list them.
fn headers(n: u32) {
    let mut files = Vec::new();
    let mut dirs = vec![PathBuf::from("/usr/include")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => dirs.push(path),
                Ok(t) if t.is_file() => files.push(path),
                _ => {}
            }
        }
    }
    let scratch = tempfile::tempdir().unwrap();
    let cache = Cache::new(Some(scratch.path()));
    let list: Vec<(PathBuf, Expect)> = files
        .iter()
        .map(|p| {
            (
                p.clone(),
                Expect::Digest(cache.file_digest(p).unwrap().unwrap()),
            )
        })
        .collect();
    let mb = cache.stats().bytes_hashed as f64 / 1e6;
    let cold_cache = Cache::new(None);
    let start = Instant::now();
    assert!(check_files(&cold_cache, &list, 1).is_empty());
    let cold = start.elapsed();
    println!("{} files under /usr/include ({mb:.1} MB)", list.len());
    println!("  cold check: {cold:.1?}");
    let warm = per_call(n.clamp(1, 100), || {
        assert!(check_files(&cache, &list, 1).is_empty());
    });
    println!(
        "  warm check, same process: {warm:.2?} ({:.2?} per file)",
        warm / list.len() as u32
    );
    let fresh = per_call(n.clamp(1, 20), || {
        let cache = Cache::new(Some(scratch.path()));
        assert!(check_files(&cache, &list, 1).is_empty());
    });
    println!("  warm check, new process (digest file): {fresh:.2?}");
}

/// The system headers `g++ -M` lists for a unit of standard includes.
fn unit_headers(dir: &std::path::Path) -> Vec<PathBuf> {
    let src = dir.join("unit.cc");
    std::fs::write(
        &src,
        "#include <vector>\n#include <string>\n#include <map>\n#include <iostream>\n#include <cstdio>\n",
    )
    .unwrap();
    let out = std::process::Command::new("g++")
        .arg("-M")
        .arg(&src)
        .output()
        .expect("run g++ -M");
    let text = String::from_utf8_lossy(&out.stdout).replace("\\\n", " ");
    text.split_whitespace()
        .filter(|w| w.starts_with("/usr/"))
        .map(PathBuf::from)
        .collect()
}

/// One job's assertions: bytes on the wire, and their cost when warm.
fn per_job(n: u32) {
    let Some(driver) = on_path(OsStr::new("g++")) else {
        println!("per job: g++ not on PATH");
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let headers = unit_headers(scratch.path());
    let cache_dir = scratch.path().join("cache");
    // What the client does per job, in a new process each time: identity
    // from its record file, digests from the digest file, list encoded.
    let build = || {
        let cache = Cache::new(Some(&cache_dir));
        let id = cache.identity(&driver, Lang::Cxx).unwrap();
        let mut files: Vec<_> = headers
            .iter()
            .map(|p| (p.clone().into_os_string(), cache.file_digest(p).unwrap()))
            .collect();
        files.sort();
        cache.flush().unwrap();
        let list = list_bytes(&files).unwrap();
        let a = Assertions {
            identity: Some(id.to_wire()),
            system: Some(digest_of(&list)),
        };
        (a, list)
    };
    let (assertions, list) = build();
    let mut head = Vec::new();
    write_assertions(&mut head, &assertions).unwrap();
    println!("per job: a C++ unit with {} system headers", headers.len());
    println!(
        "  on the wire, warm daemon: {} bytes (identity and list digest)",
        head.len()
    );
    println!(
        "  on the wire, first job per daemon and list: {} more (ask 12, list {})",
        12 + list.len(),
        list.len()
    );
    let client = per_call(n.clamp(1, 200), || {
        build();
    });
    println!("  client, warm, new process: {client:.2?} per job");
    let daemon_cache = Cache::new(None);
    let expect: Vec<(PathBuf, Expect)> = headers
        .iter()
        .map(|p| {
            (
                p.clone(),
                Expect::Digest(daemon_cache.file_digest(p).unwrap().unwrap()),
            )
        })
        .collect();
    let daemon = per_call(n.clamp(1, 1000), || {
        daemon_cache.identity(&driver, Lang::Cxx).unwrap();
        assert!(check_files(&daemon_cache, &expect, 1).is_empty());
    });
    println!("  daemon, warm, same process: {daemon:.2?} per job (identity and headers)");
}

fn main() {
    let n: u32 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let names = if args.is_empty() {
        vec!["gcc".to_string(), "clang".to_string()]
    } else {
        args
    };
    for name in names {
        compiler(OsStr::new(&name), n);
    }
    headers(n);
    per_job(n);
}
