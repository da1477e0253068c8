//! Lua 5.4's C sources for benchmarks, from the `lua-src` crate, fetched
//! through cargo into a scratch project at bench time (never kept in the
//! repository). Included by the benches that need real units.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Lua 5.4's sources: fetched by cargo into a scratch project, found by the
/// manifest path cargo reports, wherever CARGO_HOME is.
pub fn lua_sources(scratch: &Path) -> PathBuf {
    fs::create_dir_all(scratch.join("src")).unwrap();
    fs::write(
        scratch.join("Cargo.toml"),
        "[package]\nname = \"codec-bench-sources\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nlua-src = \"551\"\n",
    )
    .unwrap();
    fs::write(scratch.join("src/main.rs"), "fn main() {}\n").unwrap();
    let meta = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--quiet"])
        .current_dir(scratch)
        .output()
        .expect("cargo metadata");
    let meta = String::from_utf8_lossy(&meta.stdout);
    let key = "\"manifest_path\":\"";
    let manifest = meta
        .split(key)
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .find(|p| p.contains("/lua-src-"))
        .expect("lua-src in cargo metadata");
    let krate = Path::new(manifest).parent().unwrap();
    let mut dirs: Vec<PathBuf> = fs::read_dir(krate)
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("lua-5.4")
        })
        .collect();
    dirs.sort();
    dirs.pop().expect("a lua-5.4 dir")
}
