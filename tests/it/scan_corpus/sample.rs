//! The CI-sized sample of the corpus: crates that bundle C and C++
//! sources, fetched through cargo at test time (skipped with a message
//! when that fails): Lua 5.4 (`lua-src`), zstd's library (`zstd-sys`),
//! LevelDB in C++ (`leveldb-sys`). Each unit's command line is the one
//! the project's own build uses, written out here.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::project::{markdown, run};
use super::Recorded;

const MANIFEST: &str = r#"[package]
name = "scan-corpus-sources"
version = "0.0.0"
edition = "2021"

[dependencies]
lua-src = "551"
zstd-sys = "=2.1.3"
leveldb-sys = "=2.0.9"
"#;

/// The unpacked crate dirs, by crate name.
fn fetch(dir: &Path) -> Option<Vec<(String, PathBuf)>> {
    std::fs::create_dir_all(dir.join("src")).ok()?;
    std::fs::write(dir.join("Cargo.toml"), MANIFEST).ok()?;
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").ok()?;
    let ok = Command::new("cargo")
        .args(["fetch", "--quiet"])
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    let meta = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--quiet"])
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&meta.stdout);
    let mut out = Vec::new();
    for krate in ["lua-src", "zstd-sys", "leveldb-sys"] {
        let key = "\"manifest_path\":\"";
        let dir = text
            .match_indices(key)
            .map(|(i, _)| &text[i + key.len()..])
            .filter_map(|rest| rest.split('"').next())
            .find(|p| {
                Path::new(p)
                    .parent()
                    .and_then(|d| d.file_name())
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{krate}-")))
            })?;
        out.push((krate.to_string(), Path::new(dir).parent()?.to_path_buf()));
    }
    Some(out)
}

fn sources(dir: &Path, ext: &str, skip: &[&str]) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| {
        let n = p.file_name().unwrap().to_string_lossy();
        n.ends_with(ext) && !skip.iter().any(|s| n.contains(s))
    });
    v.sort();
    v
}

fn units(cwd: &Path, files: &[PathBuf], flags: &[&str]) -> Vec<Recorded> {
    files
        .iter()
        .filter_map(|f| {
            let mut argv: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
            argv.extend([
                "-c".into(),
                f.to_string_lossy().into_owned(),
                "-o".into(),
                "x.o".into(),
            ]);
            Recorded::from_args(cwd, &argv)
        })
        .collect()
}

#[test]
fn sample() {
    if !super::have("gcc") {
        eprintln!("SKIPPED: gcc is not installed");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("scan-corpus-")
        .tempdir()
        .unwrap();
    let Some(crates) = fetch(tmp.path()) else {
        eprintln!("SKIPPED: the corpus crates could not be fetched");
        return;
    };
    let dir = |k: &str| crates.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let mut reps = Vec::new();

    let lua = std::fs::read_dir(dir("lua-src"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("lua-5.4")
        })
        .max()
        .unwrap();
    let files = sources(&lua, ".c", &[]);
    let u = units(
        &lua,
        &files,
        &["-O2", "-Wall", "-DLUA_USE_LINUX", "-DLUA_COMPAT_5_3"],
    );
    reps.push(run("lua-5.4 (lua-src)", &u, 0));

    let zlib = dir("zstd-sys").join("zstd/lib");
    let mut files = Vec::new();
    for sub in ["common", "compress", "decompress", "dictBuilder"] {
        files.extend(sources(&zlib.join(sub), ".c", &[]));
    }
    let u = units(
        &zlib,
        &files,
        &[
            "-O3",
            "-I.",
            "-Icommon",
            "-DZSTD_MULTITHREAD=1",
            "-DXXH_NAMESPACE=ZSTD_",
            "-pthread",
        ],
    );
    reps.push(run("zstd lib (zstd-sys)", &u, 0));

    let ldb = dir("leveldb-sys").join("deps/leveldb-1.22");
    let mut files = Vec::new();
    for sub in ["db", "table", "util"] {
        files.extend(sources(
            &ldb.join(sub),
            ".cc",
            &["_test", "_bench", "windows", "testutil", "testharness"],
        ));
    }
    let u = units(
        &ldb,
        &files,
        &[
            "-std=c++11",
            "-O2",
            "-I.",
            "-Iinclude",
            "-DLEVELDB_PLATFORM_POSIX=1",
            "-DLEVELDB_IS_BIG_ENDIAN=0",
        ],
    );
    reps.push(run("leveldb 1.22 C++ (leveldb-sys)", &u, 0));

    let md = markdown(&reps);
    println!("{md}");
    for r in &reps {
        let gcc = r.per.iter().find(|p| p.compiler == "gcc").unwrap();
        assert!(
            gcc.compared * 10 >= r.units * 9,
            "{} compared of {}:\n{md}",
            gcc.compared,
            r.units
        );
    }
    assert_eq!(reps.iter().map(|r| r.misses()).sum::<usize>(), 0, "\n{md}");
}
