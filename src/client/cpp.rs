//! The local preprocessor run: started as a child so the connection to the
//! volunteer can be made while it works.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, ExitStatus, Stdio};

use anyhow::{anyhow, Result};

use super::cleanup::{self, Temp};
use super::job::Job;
use super::local;
use crate::exit::Code;
use crate::masquerade::Compiler;

/// Where the preprocessed text goes: a private temp dir, removed on drop
/// unless `DISTCC_SAVE_TEMPS` keeps it, and by `cleanup` if a signal ends
/// the client first.
pub struct Temps {
    dir: tempfile::TempDir,
    pub preprocessed: PathBuf,
}

impl Temps {
    pub fn new(tmpdir: &Path, job: &Job) -> Result<Temps> {
        let _hold = cleanup::place(tmpdir, Temp::Tmpdir);
        let dir = tempfile::Builder::new()
            .prefix(&Temp::Tmpdir.prefix())
            .tempdir_in(tmpdir)
            .map_err(|e| {
                anyhow!(Code::IoError).context(format!("temp dir in {}: {e}", tmpdir.display()))
            })?;
        let preprocessed = dir
            .path()
            .join(format!("source.{}", job.lang.preprocessed_suffix()));
        Ok(Temps { dir, preprocessed })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates the file the streamed path copies the preprocessor's
    /// output into (read back for chunks sent late).
    pub fn create_copy(&self) -> Result<File> {
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.preprocessed)
            .map_err(|e| {
                anyhow!(Code::IoError).context(format!("{}: {e}", self.preprocessed.display()))
            })
    }

    /// Keeps the files for inspection and returns where they are.
    pub fn keep(self) -> PathBuf {
        let kept = self.dir.keep();
        if let Some(tmpdir) = kept.parent() {
            cleanup::forget(tmpdir, Temp::Tmpdir);
        }
        kept
    }
}

pub struct Preprocessor {
    child: Child,
}

impl Preprocessor {
    /// Starts `compiler cpp_args` writing to `temps.preprocessed`.
    pub fn start(compiler: &Compiler, job: &Job, temps: &Temps) -> Result<Preprocessor> {
        let args = job.cpp_args(temps.preprocessed.as_os_str());
        Self::spawn(compiler, &args, Stdio::inherit())
    }

    /// Starts `compiler cpp_args` writing to a pipe, returned with it.
    pub fn start_piped(compiler: &Compiler, job: &Job) -> Result<(Preprocessor, ChildStdout)> {
        // gcc -E takes "-o -" as its stdout.
        let args = job.cpp_args("-".as_ref());
        let mut pre = Self::spawn(compiler, &args, Stdio::piped())?;
        let pipe = pre.child.stdout.take().expect("piped stdout");
        Ok((pre, pipe))
    }

    fn spawn(compiler: &Compiler, args: &[OsString], stdout: Stdio) -> Result<Preprocessor> {
        log::debug!("preprocessing: {} {:?}", compiler.path.display(), args);
        let mut cmd = local::command(compiler);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::inherit());
        let child = cleanup::spawn(&mut cmd).map_err(|e| {
            anyhow!(Code::CompilerMissing)
                .context(format!("cannot run {}: {e}", compiler.path.display()))
        })?;
        Ok(Preprocessor { child })
    }

    pub fn wait(mut self) -> Result<ExitStatus> {
        let status = self.child.wait();
        cleanup::reaped(&self.child);
        Ok(status?)
    }
}

impl Drop for Preprocessor {
    fn drop(&mut self) {
        // Reached only when the caller gave up early; never leave a child.
        if let Ok(None) = self.child.try_wait() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
        cleanup::reaped(&self.child);
    }
}
