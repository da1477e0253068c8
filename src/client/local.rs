//! Running the real compiler here, unchanged: for jobs that cannot go
//! remote, for `localhost` slots, and as the fallback when distribution
//! fails. stdin, stdout and stderr are the user's; the exit status is the
//! compiler's.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{anyhow, Context, Result};

use super::cleanup;
use crate::exit::Code;
use crate::masquerade::{Compiler, SAFEGUARD};

/// A command for the real compiler with our environment adjustments: the
/// recursion guard, and the trimmed PATH of a masquerade.
pub fn command(compiler: &Compiler) -> Command {
    let mut cmd = Command::new(&compiler.path);
    cmd.env(SAFEGUARD, &compiler.path);
    if let Some(p) = &compiler.search_path {
        cmd.env("PATH", p);
    }
    cmd
}

/// Runs `compiler args` with inherited stdio and returns its wait status.
pub fn run(compiler: &Compiler, args: &[OsString]) -> Result<ExitStatus> {
    let mut cmd = command(compiler);
    cmd.args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let status = cleanup::status(&mut cmd)
        .map_err(|e| {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                Code::CompilerMissing
            } else {
                Code::Generic
            };
            let why = crate::sys::strerror(&e);
            anyhow!(code).context(format!("failed to exec {}: {why}", compiler.path.display()))
        })
        .context("compiling locally")?;
    Ok(status)
}

/// Runs `compiler args` here and returns its exit status as a shell
/// reports it.
pub fn run_status(compiler: &Compiler, args: &[OsString]) -> Result<u8> {
    let status = run(compiler, args)?;
    Ok(crate::exit::of_wait_status(status.into_raw()))
}
