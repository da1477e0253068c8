//! What the client does with a server's reply: a distcc exit code in its
//! status means the server did not compile (a failure to distribute, with
//! the server's message); anything else is the compiler's result, handed
//! to the user as the local compiler would have left it: diagnostics,
//! output, the files it wrote (`output`), its exit status.

use std::io::Write;
use std::path::Path;

use anyhow::anyhow;

use super::job::Job;
use super::outcome::{Attempt, Blame, Compiled, Failed};
use super::output;
use crate::exit::{self, Code};
use crate::protocol::{OutputKind, Reply};

/// Hands the remote compiler's results to the user. `deps_returned`: the
/// dialect ships the dependency file back (exact mode), so it is written
/// to the job's `.d` name too.
pub fn accept(job: &Job, mut reply: Reply, deps_returned: bool) -> Attempt {
    let status = reply.status as i32;
    if let Some(code) = exit::exit_code(status).filter(|&c| Code::is_distcc(c)) {
        return Err(refusal(code, &reply));
    }
    let deps = reply.take_output(OutputKind::Deps);
    std::io::stderr().write_all(&reply.stderr).ok();
    std::io::stdout().write_all(&reply.stdout).ok();
    std::io::stdout().flush().ok();
    let local_fault = Failed::by(Blame::Local);
    if status == 0 {
        output::write(Path::new(&job.output), reply.object()).map_err(local_fault)?;
        if let (Some(path), Some(dwo)) = (job.dwo_file(), reply.output(OutputKind::SplitDwarf)) {
            output::write(&path, dwo).map_err(local_fault)?;
        }
        if deps_returned {
            if let (Some(path), Some(deps)) = (job.dep_file(), deps) {
                output::write(Path::new(&path), &deps).map_err(local_fault)?;
            }
        }
    }
    // A failed compile leaves an existing output alone, as gcc does.
    Ok(Compiled(exit::of_wait_status(status)))
}

/// The server refused or could not run the compiler (any of distcc's
/// codes: a policy, a missing compiler, a full disk): nothing compiled, so
/// this is a failure to distribute, not the job's. The server's message is
/// the reason, and its code is ours if there is no fallback.
fn refusal(code: u8, reply: &Reply) -> Failed {
    let msg = String::from_utf8_lossy(&reply.stderr).trim().to_string();
    let msg = if msg.is_empty() {
        "(no message)".to_string()
    } else {
        msg
    };
    let err = match Code::from_u8(code) {
        Some(c) => anyhow!(c),
        None => anyhow!("exit {code}"),
    };
    Failed {
        err: err.context(format!("server failed with exit {code}: {msg}")),
        blame: if code == Code::Timeout.as_u8() {
            Blame::MidJob
        } else if code == Code::Busy.as_u8() {
            // Draining or shutting down: no work was lost, and the host
            // is going away, so on to the next host as if unreachable.
            Blame::Unreachable
        } else {
            Blame::Refused
        },
    }
}
