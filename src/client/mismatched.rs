//! Hosts that refused a hashed job because their compiler, or a system
//! header, is not this client's, remembered (`state::mismatch`) so that
//! later jobs asserting the same skip them without a round trip, for the
//! backoff period. What is remembered is what the refusal was about:
//! - a compiler mismatch: the host and the compiler's identity, so jobs
//!   of another compiler (another language's compiler proper, another
//!   version) still go there;
//! - a system header mismatch: the host, the header's path and the
//!   client's digest of it (or that the client has none), whatever the
//!   compiler: the host's files are its own, so every job that asserts
//!   that header as this client has it would be refused there, and a job
//!   that does not read it is not.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::assertions::Asserted;
use super::context::Context;
use crate::hosts::Host;
use crate::protocol::hashed::{digest, hex, Digest};
use crate::state::{self, mismatch};

const COMPILER: &str = "compiler ";
const HEADER: &str = "header ";

fn compiler_key(wire: &[u8]) -> String {
    format!("{COMPILER}{}", hex(&digest(wire)))
}

fn header_key(path: &OsStr, d: Option<&Digest>) -> String {
    let path: String = path.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("{HEADER}{path} {}", d.map_or_else(|| "none".into(), hex))
}

/// Why `host` would refuse a job asserting `asserted`, if a refusal of
/// another job said so lately.
pub fn known(ctx: &Context, host: &Host, asserted: &Asserted) -> Option<String> {
    let settings = ctx.settings;
    let keys = mismatch::live(&state::dir(settings), &host.key(), settings.backoff_period);
    lacks(&keys, asserted).map(|what| format!("{host} was found lately to have {what}"))
}

/// Which of `asserted` the records `keys` say the host does not have.
fn lacks(keys: &[String], asserted: &Asserted) -> Option<String> {
    if keys.is_empty() {
        return None;
    }
    if let Some(id) = &asserted.assertions.identity {
        if keys.contains(&compiler_key(id)) {
            return Some("another compiler".into());
        }
    }
    let headers: HashSet<&str> = keys
        .iter()
        .filter(|k| k.starts_with(HEADER))
        .map(String::as_str)
        .collect();
    if headers.is_empty() {
        return None;
    }
    asserted
        .files
        .iter()
        .find(|(p, d)| headers.contains(header_key(p, d.as_ref()).as_str()))
        .map(|(p, _)| format!("another {}", Path::new(p).display()))
}

/// Remembers what `host`'s refusal of a job asserting `asserted` (its
/// message `stderr`) was about, if it was a mismatch.
pub fn refused(ctx: &Context, host: &Host, asserted: &Asserted, stderr: &str) {
    let settings = ctx.settings;
    if settings.backoff_period.is_zero() {
        return;
    }
    for key in keys_of_refusal(asserted, stderr) {
        log::info!("{host}: remembering the mismatch for later jobs: {key}");
        let dir = state::dir(settings);
        if let Err(e) = mismatch::record(&dir, &host.key(), &key, settings.backoff_period) {
            log::warn!("cannot record a mismatch of {host}: {e:#}");
        }
    }
}

/// The records a refusal's message calls for: the compiler's identity,
/// or the asserted header it names.
fn keys_of_refusal(asserted: &Asserted, stderr: &str) -> Vec<String> {
    if stderr.contains("compiler mismatch: ") {
        return asserted
            .assertions
            .identity
            .as_deref()
            .map(compiler_key)
            .into_iter()
            .collect();
    }
    if !stderr.contains("system header mismatch: ") {
        return Vec::new();
    }
    asserted
        .files
        .iter()
        .filter(|(p, _)| {
            let named = format!("system header mismatch: {}: ", Path::new(p).display());
            stderr.contains(&named)
        })
        .map(|(p, d)| header_key(p, d.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::identity::Assertions;

    fn asserted(identity: &[u8], files: &[(&str, Option<Digest>)]) -> Asserted {
        Asserted {
            assertions: Assertions {
                identity: Some(identity.to_vec()),
                system: None,
            },
            list: Vec::new(),
            files: files.iter().map(|(p, d)| (p.into(), *d)).collect(),
        }
    }

    #[test]
    fn a_compiler_mismatch_concerns_that_compiler_only() {
        let a = asserted(b"gcc-12", &[]);
        let keys = keys_of_refusal(&a, "distccd: compiler mismatch: here gcc-13");
        assert_eq!(keys.len(), 1);
        assert_eq!(lacks(&keys, &a).as_deref(), Some("another compiler"));
        assert_eq!(lacks(&keys, &asserted(b"gcc-13", &[])), None);
        assert!(keys_of_refusal(&a, "distccd: out of disk").is_empty());
    }

    #[test]
    fn a_header_mismatch_concerns_jobs_asserting_that_header_alike() {
        let (d1, d2) = (Some([1; 32]), Some([2; 32]));
        let a = asserted(
            b"gcc-12",
            &[("/usr/include/a.h", d1), ("/usr/include/b.h", None)],
        );
        let msg = "distccd: system header mismatch: /usr/include/b.h: client has none";
        let keys = keys_of_refusal(&a, msg);
        assert_eq!(keys.len(), 1);
        assert_eq!(
            lacks(&keys, &a).as_deref(),
            Some("another /usr/include/b.h")
        );
        // Another compiler reading the same header as absent: the same.
        let other = asserted(b"clang", &[("/usr/include/b.h", None)]);
        assert!(lacks(&keys, &other).is_some());
        // A job that does not read it, or has it: not concerned.
        assert_eq!(
            lacks(&keys, &asserted(b"gcc-12", &[("/usr/include/a.h", d1)])),
            None
        );
        assert_eq!(
            lacks(&keys, &asserted(b"gcc-12", &[("/usr/include/b.h", d2)])),
            None
        );
    }
}
