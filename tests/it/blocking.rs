//! A `gcc` wrapper for daemons whose jobs must run exactly as long as a
//! test needs: a compile (`-c`) with `-fno-ident` (a marker that changes
//! nothing a test checks) leaves a mark in `rec/` and waits for the test's
//! release file there; every other run, a client's preprocessing probe
//! with the marker among its flags included, runs the real gcc at once.
//! Clients run the same wrapper: our daemon runs only a compiler whose
//! identity (its driver's bytes among it) is the client's. Shared by the
//! placement and elastic-host tests.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

/// The flag that makes a job wait.
pub const MARKER: &str = "-fno-ident";

/// Writes the wrapper to `fake/gcc` of `tree` (with `rec/` for its marks)
/// and returns the PATH its daemons and clients should have.
pub fn install(tree: &Tree) -> std::ffi::OsString {
    for d in ["fake", "rec"] {
        fs::create_dir_all(tree.path(d)).unwrap();
        fs::set_permissions(tree.path(d), fs::Permissions::from_mode(0o777)).unwrap();
    }
    let r = tree.path("rec");
    let r = r.display();
    let wrapper = format!(
        "#!/bin/sh\n\
         marked=; compile=\n\
         for a in \"$@\"; do\n\
         case \"$a\" in\n\
         {MARKER}) marked=1;;\n\
         -c) compile=${{compile:-1}};;\n\
         -E|-M|-MM) compile=0;;\n\
         esac\n\
         done\n\
         if [ -n \"$marked\" ] && [ \"$compile\" = 1 ]; then\n\
         : > {r}/started.$$\n\
         i=0; until [ -e {r}/release ] || [ $i -ge 3000 ]; do sleep 0.1; i=$((i + 1)); done\n\
         fi\n\
         exec {gcc} \"$@\"\n",
        gcc = which("gcc").display()
    );
    let p = tree.path("fake/gcc");
    fs::write(&p, wrapper).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    let mut path: Vec<PathBuf> = vec![tree.path("fake")];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(path).unwrap()
}

/// How many marked jobs have started.
pub fn started(tree: &Tree) -> usize {
    fs::read_dir(tree.path("rec"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("started.")
        })
        .count()
}

/// Lets every marked job finish.
pub fn release(tree: &Tree) {
    fs::write(tree.path("rec/release"), b"").unwrap();
}

/// Polls `cond` until it holds or `limit` passes.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Jobs the daemon has logged, once it has logged `n` (or given up
/// waiting): it logs a job after its reply, so the client may finish first.
pub fn jobs_in(d: &Daemon, n: usize) -> usize {
    d.log_when(|l| l.matches(" status 0").count() >= n)
        .matches(" status 0")
        .count()
}
