//! distcc 3.4's protocols 1 and 2 (the plain dialect): after the head, one
//! `DOTI` body holding the preprocessed source. It goes straight to a file
//! in the job dir, and is checked after it has all arrived, so a refused
//! client reads our reason rather than a reset. The job compiles that file
//! under a name of ours, its output under another.

use std::fs::{self, File};
use std::io::{self, Read, Write};

use anyhow::{Context, Result};

use super::cache::Inputs;
use super::job::{self, Job, Verdict};
use super::policy;
use super::server::Server;
use crate::protocol::hashed::Digesting;
use crate::protocol::{self, RequestHead};

/// Reads the source of a protocol 1 or 2 request whose head has been read,
/// and prepares its compile.
pub fn prepare<'a, R: Read>(
    server: &'a Server,
    head: RequestHead,
    input: &mut R,
) -> Result<Verdict<'a>> {
    let dir = job::dir(server)
        .with_context(|| format!("creating a job dir in {}", server.tmpdir.display()))?;
    let received = dir.path().join("received");
    let source = {
        // Digested on the way, for the result cache's key.
        let mut file = Digesting::new(io::BufWriter::with_capacity(
            64 * 1024,
            File::create(&received).context("creating the job's input")?,
        ));
        protocol::read_body_to(
            input,
            protocol::DOTI,
            head.version.codec(),
            &server.limits,
            &mut file,
        )
        .context("reading preprocessed source")?;
        let (mut file, digest) = file.finish();
        file.flush().context("writing the job's input")?;
        digest
    };
    let plan = match policy::check(&head.argv[1..]) {
        Ok(plan) => plan,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let program = match server.whitelist.resolve(&head.argv[0]) {
        Ok(p) => p,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let input_name = format!("input{}", plan.temp_suffix);
    let output_name = policy::output_name(plan.mode);
    fs::rename(&received, dir.path().join(&input_name)).context("naming the job's input")?;
    let args = plan.rewrite(&head.argv[1..], input_name.as_ref(), output_name.as_ref());
    let mut job = Job::in_dir(&head, program, args, dir, output_name);
    job.inputs = Some(Inputs::source(&source));
    Ok(Ok(job))
}
