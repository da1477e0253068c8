//! Serving our exact-mode extension (`protocol::hashed`): files the
//! content store has are linked into the job at once, the rest are asked
//! for, checked against their digests, stored, and placed. The compile and
//! the reply are exact mode's (`mirror`).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::RawFd;

use anyhow::{Context, Result};

use super::compilers::Refusal;
use super::mirror::{self, Source};
use super::serve::{Outcome, Server};
use crate::exit::Code;
use crate::protocol::hashed::{self, Entry};
use crate::protocol::{RequestHead, Version};

pub fn serve<R: Read, W: Write>(
    server: &Server,
    cwd: Option<OsString>,
    argv: Vec<OsString>,
    input: &mut R,
    output: &mut W,
    client_fd: RawFd,
) -> Result<Outcome> {
    let manifest = hashed::read_manifest(input, &server.limits).context("reading the file list")?;
    // The reply is a protocol-3 reply.
    let head = RequestHead {
        version: Version::V3,
        cwd,
        argv,
    };
    let compiler = head.argv[0].to_string_lossy().into_owned();
    let store = match &server.store {
        Some(s) => s,
        None => {
            let r = Refusal {
                code: Code::Protocol,
                message: "this server has no content store".into(),
            };
            return super::serve::refuse(server, output, &head, compiler, r);
        }
    };
    let prepared = match mirror::prepare(server, head.cwd.as_deref(), &head.argv)? {
        Ok(p) => p,
        Err(r) => {
            // The client waits for NEED before anything else.
            hashed::write_need(output, &[])?;
            output.flush()?;
            return super::serve::refuse(server, output, &head, compiler, r);
        }
    };
    let mut missing = Vec::new();
    for (i, f) in manifest.iter().enumerate() {
        let placed = match &f.entry {
            Entry::Link(target) => mirror::place(&prepared.root, &f.name, Source::Link(target))?,
            Entry::Hashed(d) => match store.get(d) {
                Some(path) => mirror::place(&prepared.root, &f.name, Source::Stored(&path))?,
                None => {
                    missing.push(i as u32);
                    Ok(())
                }
            },
        };
        if let Err(r) = placed {
            hashed::write_need(output, &[])?;
            output.flush()?;
            return super::serve::refuse(server, output, &head, compiler, r);
        }
    }
    hashed::write_need(output, &missing)?;
    output.flush().context("asking for files")?;
    let mut total: u64 = 0;
    for &i in &missing {
        let f = &manifest[i as usize];
        let body = hashed::read_file_body(input, head.version.codec(), &server.limits)
            .context("reading a file")?;
        total += body.len() as u64;
        if total > server.limits.max_body {
            anyhow::bail!("files exceed the request limit");
        }
        let Entry::Hashed(d) = &f.entry else {
            unreachable!("NEED lists hashed entries only")
        };
        let placed = match store.insert(d, &body)? {
            Some(path) => mirror::place(&prepared.root, &f.name, Source::Stored(&path))?,
            None => Err(Refusal {
                code: Code::Protocol,
                message: format!("{} does not match its digest", f.name.to_string_lossy()),
            }),
        };
        if let Err(r) = placed {
            return super::serve::refuse(server, output, &head, compiler, r);
        }
    }
    log::debug!(
        "exact job: {} files, {} sent, {} bytes",
        manifest.len(),
        missing.len(),
        total
    );
    mirror::compile(server, &head, prepared, output, client_fd)
}
