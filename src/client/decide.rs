//! Parse → decide: whether a command line goes to the volunteers at all.
//! The scanner (`scan`) judges the command line; this adds what only this
//! machine can say (an output directory that does not exist). A job that
//! stays here carries its reason, which `DISTCC_VERBOSE` prints and the
//! monitor's history keeps; it is not an error.

use std::ffi::OsString;
use std::path::Path;

use super::job::Job;
use super::scan::{self, Scan};
use super::streamed;
use crate::hosts::{self, Host};
use crate::settings::Settings;
use crate::state;

/// Where a job runs.
pub enum Decision {
    /// Here, unchanged: why, and the source the monitor names the job by.
    Local { reason: String, source: OsString },
    /// On the volunteers (or here as the fallback).
    Remote(Job),
}

pub fn decide(args: &[OsString]) -> Decision {
    let job = match scan::scan(args) {
        Scan::Local(reason) => {
            let source = state::source_of(args).into();
            return Decision::Local { reason, source };
        }
        Scan::Remote(job) => job,
    };
    match unwritable_output(&job).or_else(|| split_dwarf_here(&job)) {
        Some(reason) => Decision::Local {
            reason,
            source: job.input,
        },
        None => Decision::Remote(job),
    }
}

/// A remote `-gsplit-dwarf` job stays here, quietly, when no host in the
/// list may return its `.dwo` (only our daemons do, in the streamed
/// dialect): rather than a failure to distribute on every host, every
/// time. A list that cannot be read is the host loop's to report.
pub fn with_hosts(decision: Decision, settings: &Settings) -> Decision {
    let job = match decision {
        Decision::Remote(job) if job.split_dwarf() => job,
        other => return other,
    };
    let Ok(Some(loaded)) = hosts::load(settings) else {
        return Decision::Remote(job);
    };
    let returns_dwo = |h: &Host| h.is_local() || streamed::suits(settings, &job, h);
    if loaded.list.hosts.is_empty() || loaded.list.hosts.iter().any(returns_dwo) {
        return Decision::Remote(job);
    }
    Decision::Local {
        reason: "-gsplit-dwarf: no host may return the .dwo file (only distcc in Rust's \
                 daemons do, in the streamed dialect)"
            .into(),
        source: job.input,
    }
}

/// A `-gsplit-dwarf` object records its `.dwo` by the `-o` path, which a
/// server reproduces only below its job dir; `-S` writes no `.dwo` there.
fn split_dwarf_here(job: &Job) -> Option<String> {
    if !job.split_dwarf() {
        return None;
    }
    if job.mode != crate::args::Mode::Object {
        return Some("-gsplit-dwarf with -S".into());
    }
    let output = Path::new(&job.output);
    (!crate::args::stays_below(output)).then(|| {
        format!(
            "-gsplit-dwarf with -o {}: the .dwo is named by that path, which only a \
             relative one without .. keeps on a server",
            output.display()
        )
    })
}

/// An output dir that does not exist fails the local compile with the
/// assembler's own message; let the compiler say it rather than a remote
/// compile followed by our error.
fn unwritable_output(job: &Job) -> Option<String> {
    let dir = match Path::new(&job.output).parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => return None,
    };
    (!dir.is_dir()).then(|| format!("output directory {} does not exist", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(line: &str) -> Option<String> {
        let args: Vec<OsString> = line.split(' ').map(OsString::from).collect();
        match decide(&args) {
            Decision::Local { reason, .. } => Some(reason),
            Decision::Remote(_) => None,
        }
    }

    #[test]
    fn split_dwarf_goes_out_only_when_a_server_can_name_its_dwo() {
        assert_eq!(reason("-g -gsplit-dwarf -c x.c -o x.o"), None);
        assert_eq!(reason("-g -gsplit-dwarf -c x.c"), None);
        let tmp = std::env::temp_dir().join("x.o");
        for line in [
            format!("-gsplit-dwarf -c x.c -o {}", tmp.display()),
            "-gsplit-dwarf -c x.c -o ./../x.o".into(),
            "-gsplit-dwarf -S x.c".into(),
        ] {
            let why = reason(&line).unwrap_or_else(|| panic!("{line}: distributed"));
            assert!(why.contains("-gsplit-dwarf"), "{line}: {why}");
        }
    }
}
