//! Our exact-mode extension (`protocol::hashed`): the client lists its
//! files by digest; those the content store has are linked into the mirror
//! at once, the rest are asked for (`NEED`), checked against their digests,
//! stored, and placed. The compile and the reply are exact mode's.

use std::io::{Read, Write};

use anyhow::{Context, Result};

use super::cache::Inputs;
use super::job::Verdict;
use super::mirror::{self, Mirror, Source};
use super::refusal::Refusal;
use super::server::Server;
use super::store::Store;
use crate::exit::Code;
use crate::protocol::hashed::{self, Digest, Entry, HashedFile};
use crate::protocol::{Codec, Reply, RequestHead};

/// Reads the file list of a hashed request whose head has been read, asks
/// for the files the store lacks, places every file, and prepares the
/// compile. The client waits for `NEED` before anything else, so a refusal
/// before it is preceded by an empty one.
pub fn prepare<'a, R: Read>(
    server: &'a Server,
    head: RequestHead,
    codec: Codec,
    input: &mut R,
    output: &mut dyn Write,
) -> Result<Verdict<'a>> {
    let Known {
        mirror,
        manifest,
        missing,
        store,
    } = match before_need(server, &head, input) {
        Ok(Ok(known)) => known,
        Ok(Err(r)) => {
            hashed::write_need(output, &[])?;
            output.flush()?;
            return Ok(Err(r));
        }
        Err(e) => {
            // Whatever went wrong, the client waits for NEED: an empty
            // one, then whatever reply the error makes.
            hashed::write_need(output, &[]).ok();
            output.flush().ok();
            return Err(e);
        }
    };
    let inputs = inputs_of(&manifest);
    if let Some(reply) = answered_early(server, &mirror, &inputs, &missing) {
        // From the digests alone: no body is asked for.
        hashed::write_need(output, &[])?;
        output.flush().context("asking for files")?;
        let mut job = mirror.into_job();
        job.inputs = Some(inputs);
        job.cached = Some(reply);
        return Ok(Ok(job));
    }
    let indices: Vec<u32> = missing.iter().map(|(i, _)| *i).collect();
    hashed::write_need(output, &indices)?;
    output.flush().context("asking for files")?;
    let mut total: u64 = 0;
    for (i, d) in &missing {
        let name = &manifest[*i as usize].name;
        // Each body streams into the store, digested on the way; the
        // bodies together stay within the request limit.
        let room = server.limits.max_body - total;
        let fill = |w: &mut dyn Write| -> Result<u64> {
            let mut w = w;
            let n =
                hashed::read_file_body_to(input, codec, room, &mut w).context("reading a file")?;
            total += n;
            Ok(n)
        };
        let placed = match store.insert_with(d, fill)? {
            Some(path) => mirror.place(name, Source::Stored(&path))?,
            None => Err(Refusal::new(
                Code::Protocol,
                format!("{} does not match its digest", name.to_string_lossy()),
            )),
        };
        if let Err(r) = placed {
            return Ok(Err(r));
        }
    }
    log::debug!(
        "exact job: {} files, {} sent, {} bytes",
        manifest.len(),
        missing.len(),
        total
    );
    let mut job = mirror.into_job();
    job.inputs = Some(inputs);
    Ok(Ok(job))
}

/// The result cache's digest of a hashed request's files.
fn inputs_of(manifest: &[HashedFile]) -> Digest {
    let mut inputs = Inputs::files();
    for f in manifest {
        match &f.entry {
            Entry::Hashed(d) => inputs.file(&f.name, d),
            Entry::Link(target) => inputs.link(&f.name, target),
        }
    }
    inputs.finish()
}

/// The cached reply to a job whose bodies are still to come, if the
/// result cache has one: worth asking only when bodies are missing.
fn answered_early(
    server: &Server,
    mirror: &Mirror,
    inputs: &Digest,
    missing: &[(u32, Digest)],
) -> Option<Reply> {
    let cache = server.cache.as_ref().filter(|_| !missing.is_empty())?;
    let run_dir = mirror.run_dir();
    let key = cache.key(&mirror.compile(&run_dir, &server.cache_setting, inputs))?;
    cache.get_early(&key)
}

/// What a hashed request is before `NEED`: its file list read, its
/// arguments checked, the files the store has placed.
struct Known<'s> {
    mirror: Mirror,
    manifest: Vec<HashedFile>,
    /// The files the store lacks: their indices, for `NEED`, and digests.
    missing: Vec<(u32, Digest)>,
    store: &'s Store,
}

fn before_need<'s, R: Read>(
    server: &'s Server,
    head: &RequestHead,
    input: &mut R,
) -> Result<Result<Known<'s>, Refusal>> {
    let manifest = hashed::read_manifest(input, &server.limits).context("reading the file list")?;
    let Some(store) = &server.store else {
        let r = Refusal::new(Code::Protocol, "this server has no content store");
        return Ok(Err(r));
    };
    let mirror = match mirror::prepare(server, head.cwd.as_deref(), &head.argv)? {
        Ok(m) => m,
        Err(r) => return Ok(Err(r)),
    };
    Ok(
        place_known(&mirror, store, &manifest)?.map(|missing| Known {
            mirror,
            manifest,
            missing,
            store,
        }),
    )
}

/// Places the links and the files the store has; returns the files it
/// lacks (their indices, for `NEED`, and digests).
fn place_known(
    mirror: &Mirror,
    store: &Store,
    manifest: &[HashedFile],
) -> Result<Result<Vec<(u32, Digest)>, Refusal>> {
    let mut missing = Vec::new();
    for (i, f) in manifest.iter().enumerate() {
        let placed = match &f.entry {
            Entry::Link(target) => mirror.place(&f.name, Source::Link(target))?,
            Entry::Hashed(d) => match store.get(d) {
                Some(path) => mirror.place(&f.name, Source::Stored(&path))?,
                None => {
                    missing.push((i as u32, *d));
                    Ok(())
                }
            },
        };
        if let Err(r) = placed {
            return Ok(Err(r));
        }
    }
    Ok(Ok(missing))
}
