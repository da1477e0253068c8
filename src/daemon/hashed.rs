//! Our exact-mode extension (`protocol::hashed`): the client lists its
//! files by digest; those the content store has are linked into the mirror
//! at once, the rest are asked for (`NEED`), checked against their digests,
//! stored, and placed. The compile and the reply are exact mode's. What
//! the request asserts about its compiler and system headers is checked
//! by `verify` before `NEED`, or, for a system list this daemon has not
//! seen, right after it. A job the result cache has is answered from the
//! digests alone, with an empty `NEED`, once the assertions are checked
//! (the system list too, which the client sends without bodies).

use std::io::{self, Read, Write};

use anyhow::{Context, Result};

use super::cache::Inputs;
use super::job::Verdict;
use super::mirror::{self, Mirror, Source};
use super::refusal::Refusal;
use super::server::Server;
use super::store::Store;
use super::verify::SystemList;
use crate::exit::Code;
use crate::protocol::hashed::{self, Digest, Entry, HashedFile};
use crate::protocol::identity::{self as asserted, Assertions};
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
    let known = match before_need(server, &head, input) {
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
    let Known {
        mirror,
        manifest,
        missing,
        store,
        ask_system,
    } = known;
    let inputs = inputs_of(&manifest);
    // A result the cache has needs no body: an empty NEED.
    let early = answered_early(server, &mirror, &inputs, &missing);
    let indices: Vec<u32> = match early {
        Some(_) => Vec::new(),
        None => missing.iter().map(|(i, _)| *i).collect(),
    };
    if ask_system.is_some() {
        asserted::write_list_request(output)?;
    }
    hashed::write_need(output, &indices)?;
    output.flush().context("asking for files")?;
    if let Some(digest) = ask_system {
        // Checked before any answer, a cached one included.
        let files = asserted::read_list(input, &server.limits, &digest)
            .context("reading the system file list")?;
        let list = server.verifier.remember(digest, files);
        if let Err(r) = server.verifier.system(&list, mirror.program()) {
            return Ok(Err(r));
        }
    }
    if let Some(reply) = early {
        let mut job = mirror.into_job(true);
        job.inputs = Some(inputs);
        job.cached = Some(reply);
        return Ok(Ok(job));
    }
    let total = match receive_missing(server, codec, input, &mirror, store, &manifest, &missing)? {
        Ok(total) => total,
        Err(r) => return Ok(Err(r)),
    };
    if let Err(r) = place_shadows(&mirror, &manifest)? {
        return Ok(Err(r));
    }
    log::debug!(
        "exact job: {} files, {} sent, {} bytes",
        manifest.len(),
        missing.len(),
        total
    );
    let mut job = mirror.into_job(true);
    job.inputs = Some(inputs);
    Ok(Ok(job))
}

/// Receives the bodies asked for (`missing`) into the store and places
/// them; returns the bytes received.
fn receive_missing<R: Read>(
    server: &Server,
    codec: Codec,
    input: &mut R,
    mirror: &Mirror,
    store: &Store,
    manifest: &[HashedFile],
    missing: &[(u32, Digest)],
) -> Result<Result<u64, Refusal>> {
    let mut total: u64 = 0;
    for (i, d) in missing {
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
    Ok(Ok(total))
}

/// Places the shadows, once every file is in place: one at a name a file
/// or a dir has is refused, as the client never sends such a one.
fn place_shadows(mirror: &Mirror, manifest: &[HashedFile]) -> Result<Result<(), Refusal>> {
    for f in manifest.iter().filter(|f| f.entry == Entry::Shadow) {
        if let Err(r) = mirror.shadow(&f.name)? {
            return Ok(Err(r));
        }
    }
    Ok(Ok(()))
}

/// The result cache's digest of a hashed request's files.
fn inputs_of(manifest: &[HashedFile]) -> Digest {
    let mut inputs = Inputs::files();
    for f in manifest {
        match &f.entry {
            Entry::Hashed(d) => inputs.file(&f.name, d),
            Entry::Link(target) => inputs.link(&f.name, target),
            Entry::Shadow => inputs.shadow(&f.name),
        }
    }
    inputs.finish()
}

/// The cached reply to a job whose bodies are still to come, if the
/// result cache has one: worth asking only when bodies are missing. The
/// key has the compiler `verify` chose, the one the job would run.
fn answered_early(
    server: &Server,
    mirror: &Mirror,
    inputs: &Digest,
    missing: &[(u32, Digest)],
) -> Option<Reply> {
    let cache = server.cache.as_ref().filter(|_| !missing.is_empty())?;
    let run_dir = mirror.run_dir();
    let key = cache.key(&mirror.compile(&run_dir, &server.cache_setting, inputs, true))?;
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
    /// The digest of a system list this daemon must ask for.
    ask_system: Option<Digest>,
}

fn before_need<'s, R: Read>(
    server: &'s Server,
    head: &RequestHead,
    input: &mut R,
) -> Result<Result<Known<'s>, Refusal>> {
    let (assertions, next) = asserted::read_assertions(input).context("reading the request")?;
    let mut rest = io::Cursor::new(next).chain(&mut *input);
    let manifest =
        hashed::read_manifest(&mut rest, &server.limits).context("reading the file list")?;
    let Some(store) = &server.store else {
        let r = Refusal::new(Code::Protocol, "this server has no content store");
        return Ok(Err(r));
    };
    let mut mirror = match mirror::prepare(server, head.cwd.as_deref(), &head.argv)? {
        Ok(m) => m,
        Err(r) => return Ok(Err(r)),
    };
    let ask_system = match verify(server, head, &assertions, &mut mirror) {
        Ok(ask) => ask,
        Err(r) => return Ok(Err(r)),
    };
    Ok(
        place_known(&mirror, store, &manifest)?.map(|missing| Known {
            mirror,
            manifest,
            missing,
            store,
            ask_system,
        }),
    )
}

/// Checks what the request asserts: runs the compiler with the client's
/// identity, and checks a system list this daemon knows; returns the
/// digest of one it must ask for.
fn verify(
    server: &Server,
    head: &RequestHead,
    assertions: &Assertions,
    mirror: &mut Mirror,
) -> Result<Option<Digest>, Refusal> {
    if let Some(wire) = &assertions.identity {
        let program = mirror.program().to_path_buf();
        let chosen = server
            .verifier
            .compiler(&server.whitelist, &head.argv[0], program, wire)?;
        mirror.set_program(chosen);
    }
    let Some(digest) = assertions.system else {
        return Ok(None);
    };
    let known: Option<SystemList> = server.verifier.known(&digest);
    match known {
        Some(list) => server
            .verifier
            .system(&list, mirror.program())
            .map(|()| None),
        None => Ok(Some(digest)),
    }
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
            // After every file (`place_shadows`).
            Entry::Shadow => Ok(()),
        };
        if let Err(r) = placed {
            return Ok(Err(r));
        }
    }
    Ok(Ok(missing))
}
