//! What a hashed request asserts about the compile (`protocol::identity`):
//! the identity of the compiler this client would run, and the system
//! files it reads (which the volunteer takes from its own disk), each with
//! its digest. Both come from `identity::Cache` in `$DISTCC_DIR/cache`, so
//! a warm job costs one small record file and a `stat` per file; a system
//! file the include scanner has just named by a settled digest is not
//! looked at again.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

use super::context::Context;
use super::job::Job;
use crate::args::Lang;
use crate::identity::{self, Cache};
use crate::protocol::hashed::Digest;
use crate::protocol::identity::{self as wire, Assertions, SystemFile};

/// The assertions of one job, and the system list the daemon may ask for.
pub struct Asserted {
    pub assertions: Assertions,
    /// The list `assertions.system` is the digest of, as it goes on the wire.
    pub list: Vec<u8>,
    /// That list's entries, sorted by path.
    pub files: Vec<SystemFile>,
}

/// The language whose compiler proper the job runs.
pub fn lang(lang: Lang) -> identity::Lang {
    match lang {
        Lang::Cxx | Lang::CxxPre => identity::Lang::Cxx,
        Lang::ObjC | Lang::ObjCPre => identity::Lang::ObjC,
        Lang::ObjCxx | Lang::ObjCxxPre => identity::Lang::ObjCxx,
        _ => identity::Lang::C,
    }
}

/// What this job asserts. A compiler whose identity cannot be taken (not
/// gcc or clang) asserts nothing about itself, and the daemon runs what
/// it has, as distcc always did; said under `DISTCC_VERBOSE`.
pub fn of(
    ctx: &Context,
    job: &Job,
    system: &[PathBuf],
    known: &HashMap<PathBuf, Digest>,
) -> Asserted {
    let cache = ctx.identities;
    let identity = match cache.identity(&ctx.compiler.path, lang(job.lang)) {
        Ok(id) => Some(id.to_wire()),
        Err(e) => {
            log::info!(
                "cannot take the identity of {}: {e:#}; the server's compiler is not verified",
                ctx.compiler.path.display()
            );
            None
        }
    };
    let files = system_files(cache, system, known);
    if let Err(e) = cache.flush() {
        log::debug!("cache: saving file digests: {e}");
    }
    let list = if files.is_empty() {
        Vec::new()
    } else {
        wire::list_bytes(&files).unwrap_or_default()
    };
    let system = (!list.is_empty()).then(|| wire::digest_of(&list));
    Asserted {
        assertions: Assertions { identity, system },
        list,
        files,
    }
}

/// The system files with their digests, sorted by path, once each; a file
/// that cannot be read is left out (the compiler read it, so it is rare,
/// and the daemon then finds its own copy unasserted, as before).
fn system_files(
    cache: &Cache,
    paths: &[PathBuf],
    known: &HashMap<PathBuf, Digest>,
) -> Vec<SystemFile> {
    let mut files: Vec<SystemFile> = paths
        .iter()
        .filter_map(|p| match known.get(p) {
            Some(d) => Some((OsString::from(p), Some(*d))),
            None => match cache.file_digest(p) {
                Ok(d) => Some((OsString::from(p), d)),
                Err(e) => {
                    log::debug!("{}: {e}; not asserted", p.display());
                    None
                }
            },
        })
        .collect();
    files.sort();
    files.dedup_by(|a, b| a.0 == b.0);
    files
}
