//! Parse → decide: whether a command line goes to the volunteers at all.
//! The scanner (`scan`) judges the command line; this adds what only this
//! machine can say (an output directory that does not exist). A job that
//! stays here carries its reason, which `DISTCC_VERBOSE` prints and the
//! monitor's history keeps; it is not an error.

use std::ffi::OsString;
use std::path::Path;

use super::job::Job;
use super::scan::{self, Scan};
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
    match unwritable_output(&job) {
        Some(reason) => Decision::Local {
            reason,
            source: job.input,
        },
        None => Decision::Remote(job),
    }
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
