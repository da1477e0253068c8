//! distcc 3.4's protocol 3 (pump mode; our client's exact mode without the
//! content store): after the head, the unit's own files, each with its
//! client path. They are placed in the mirror (`mirror`) and the client's
//! command line compiles there.

use std::fs::File;
use std::io::{self, Read, Write};

use anyhow::{Context, Result};

use super::cache::Inputs;
use super::job::Verdict;
use super::mirror::{self, Source};
use super::server::Server;
use crate::protocol::hashed::Digesting;
use crate::protocol::{FileList, Incoming, RequestHead};

/// Checks a protocol-3 request whose head has been read, then places its
/// files in the mirror as they arrive (none is held in memory), and
/// prepares its compile.
pub fn prepare<'a, R: Read>(
    server: &'a Server,
    head: RequestHead,
    input: &mut R,
) -> Result<Verdict<'a>> {
    let mirror = match mirror::prepare(server, head.cwd.as_deref(), &head.argv)? {
        Ok(m) => m,
        Err(r) => return Ok(Err(r)),
    };
    let mut files =
        FileList::new(input, head.version.codec(), &server.limits).context("reading files")?;
    // Each file digested on the way, for the result cache's key.
    let mut inputs = Inputs::files();
    while let Some((name, incoming)) = files.next_file().context("reading files")? {
        let placed = match incoming {
            Incoming::Link(target) => {
                inputs.link(&name, &target);
                mirror.place(&name, Source::Link(&target))?
            }
            Incoming::File { len } => {
                let mut write = |f: &mut File| -> Result<()> {
                    let mut w = Digesting::new(io::BufWriter::with_capacity(64 * 1024, f));
                    files.body_to(len, &mut w).context("reading a file")?;
                    let (mut w, digest) = w.finish();
                    inputs.file(&name, &digest);
                    w.flush().context("writing a file")
                };
                mirror.place(&name, Source::Body(&mut write))?
            }
        };
        if let Err(r) = placed {
            return Ok(Err(r));
        }
    }
    let mut job = mirror.into_job(false);
    job.inputs = Some(inputs.finish());
    Ok(Ok(job))
}
