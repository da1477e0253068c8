//! distcc 3.4's protocol 3 (pump mode; our client's exact mode without the
//! content store): after the head, the unit's own files, each with its
//! client path. They are placed in the mirror (`mirror`) and the client's
//! command line compiles there.

use std::io::Read;

use anyhow::{Context, Result};

use super::job::Verdict;
use super::mirror::{self, Source};
use super::server::Server;
use crate::protocol::{self, FileBody, RequestHead};

/// Reads the files of a protocol-3 request whose head has been read, and
/// prepares its compile.
pub fn prepare<'a, R: Read>(
    server: &'a Server,
    head: RequestHead,
    input: &mut R,
) -> Result<Verdict<'a>> {
    let files = protocol::read_files(input, head.version.codec(), &server.limits)
        .context("reading files")?;
    let mirror = match mirror::prepare(server, head.cwd.as_deref(), &head.argv)? {
        Ok(m) => m,
        Err(r) => return Ok(Err(r)),
    };
    for f in &files {
        let source = match &f.body {
            FileBody::File(data) => Source::Data(data),
            FileBody::Link(target) => Source::Link(target),
        };
        if let Err(r) = mirror.place(&f.name, source)? {
            return Ok(Err(r));
        }
    }
    Ok(Ok(mirror.into_job()))
}
