//! The local preprocessor run: started as a child so the connection to the
//! volunteer can be made while it works.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};

use anyhow::{anyhow, Result};

use super::local;
use super::scan::Job;
use crate::exit::Code;
use crate::masquerade::Compiler;

/// Where the preprocessed text goes: a private temp dir, removed on drop
/// unless `DISTCC_SAVE_TEMPS` keeps it.
pub struct Temps {
    dir: tempfile::TempDir,
    pub preprocessed: PathBuf,
}

impl Temps {
    pub fn new(tmpdir: &Path, job: &Job) -> Result<Temps> {
        let dir = tempfile::Builder::new()
            .prefix("distcc_")
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

    /// Keeps the files for inspection and returns where they are.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }
}

pub struct Preprocessor {
    child: Child,
}

impl Preprocessor {
    /// Starts `compiler cpp_args` writing to `temps.preprocessed`.
    pub fn start(compiler: &Compiler, job: &Job, temps: &Temps) -> Result<Preprocessor> {
        let args: Vec<OsString> = job.cpp_args(temps.preprocessed.as_os_str());
        log::debug!("preprocessing: {} {:?}", compiler.path.display(), args);
        let child = local::command(compiler)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                anyhow!(Code::CompilerMissing)
                    .context(format!("cannot run {}: {e}", compiler.path.display()))
            })?;
        Ok(Preprocessor { child })
    }

    pub fn wait(mut self) -> Result<ExitStatus> {
        Ok(self.child.wait()?)
    }
}

impl Drop for Preprocessor {
    fn drop(&mut self) {
        // Reached only when the caller gave up early; never leave a child.
        if let Ok(None) = self.child.try_wait() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}
