//! Exact mode on the server (protocol 3 and our hashed extension):
//! recreate the client's files under a private root at their client paths,
//! compile the client's own command line (`mirror_args`) from the mirrored
//! working directory, and map the root back out of everything returned
//! (`-ffile-prefix-map` for the object; `unmap` for diagnostics and the
//! `.d` file). The dialects `exact` and `hashed` say where each file's
//! content comes from; this module puts it in place.
//!
//! What a hostile client can do here is bounded by three rules, each
//! enforced below or in `mirror_args`: every name is an absolute,
//! normalised path and lands inside the root; every symlink is re-pointed
//! inside the root; every path-valued option either names something inside
//! the root (rewritten by us) or is refused. System headers are the
//! server's own, as in distcc's pump mode.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use super::cache::Compile;
use super::job::{self, Feed, Job};
use super::reads::ReadsFrom;
use super::refusal::Refusal;
use super::server::Server;
use crate::protocol::hashed::Digest;
use crate::protocol::{ReplyForm, Version};

#[cfg(test)]
use super::mirror_args::rewrite;
use super::mirror_args::{normalise, under, Rewritten};

/// Checks that `name` is absolute and free of `.`/`..`, so joining it to
/// the root cannot leave the root. Stops a client writing `/../../etc/x`.
fn check_client_path(name: &OsStr) -> Result<&Path, Refusal> {
    let p = Path::new(name);
    let clean = p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if clean && !name.as_bytes().contains(&0) {
        Ok(p)
    } else {
        Err(Refusal::bad_arguments(format!(
            "refused file name {:?}: not an absolute, normalised path",
            name.to_string_lossy()
        )))
    }
}

/// Where one mirrored file's content comes from.
pub enum Source<'a> {
    /// Written by the caller into the file created for it.
    Body(&'a mut dyn FnMut(&mut File) -> Result<()>),
    Link(&'a OsStr),
    /// A verified file of the content store, linked rather than copied.
    Stored(&'a Path),
}

/// A protocol-3 job whose arguments passed the checks, with its private
/// dir and root ready for files.
pub struct Mirror {
    compiler: String,
    source: String,
    program: PathBuf,
    cwd: PathBuf,
    job: tempfile::TempDir,
    root: PathBuf,
    plan: Rewritten,
}

/// Checks the cwd, the compiler and the arguments of a protocol-3 request,
/// and makes its job dir.
pub fn prepare(
    server: &Server,
    cwd: Option<&OsStr>,
    argv: &[OsString],
) -> Result<Result<Mirror, Refusal>> {
    let cwd = match cwd.map(check_client_path) {
        Some(Ok(c)) => c.to_path_buf(),
        Some(Err(r)) => return Ok(Err(r)),
        None => return Ok(Err(Refusal::bad_arguments("no working directory"))),
    };
    let program = match server.whitelist.resolve(&argv[0]) {
        Ok(p) => p,
        Err(r) => return Ok(Err(r)),
    };
    let job = job::dir(server).context("creating a job dir")?;
    let root = job.path().join("root");
    let plan = match super::mirror_args::rewrite(&argv[1..], &root, &cwd, job.path()) {
        Ok(p) => p,
        Err(r) => return Ok(Err(r)),
    };
    fs::create_dir(&root).context("creating the mirror root")?;
    Ok(Ok(Mirror {
        compiler: argv[0].to_string_lossy().into_owned(),
        source: job::source_name(argv),
        program,
        cwd,
        job,
        root,
        plan,
    }))
}

impl Mirror {
    /// The compiler the job will run.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Runs another compiler than the whitelist's: one with the client's
    /// identity under a related name (`verify`).
    pub fn set_program(&mut self, program: PathBuf) {
        self.program = program;
    }

    /// Puts one client file under the root at its client path.
    pub fn place(&self, name: &OsStr, source: Source) -> Result<Result<(), Refusal>> {
        let name = match check_client_path(name) {
            Ok(n) => n,
            Err(r) => return Ok(Err(r)),
        };
        let dest = under(&self.root, name);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let placed = match source {
            Source::Body(write) => {
                // O_NOFOLLOW: never write through a link, even one of ours.
                let created = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&dest);
                match created {
                    Ok(mut f) => return write(&mut f).map(Ok),
                    Err(e) => Err(e),
                }
            }
            Source::Link(target) => {
                let parent = name.parent().unwrap_or(Path::new("/"));
                let resolved = normalise(parent, Path::new(target));
                std::os::unix::fs::symlink(under(&self.root, &resolved), &dest)
            }
            Source::Stored(path) => {
                fs::hard_link(path, &dest).or_else(|_| fs::copy(path, &dest).map(drop))
            }
        };
        Ok(placed
            .map_err(|e| Refusal::bad_arguments(format!("cannot create {}: {e}", name.display()))))
    }

    /// Puts a shadow at a client path: an empty read-only file, by the
    /// same rules as any file, so never over a file or a dir already
    /// there (place every shipped file first) nor through a link at its
    /// name; one at a name whose dir is a client link lands where the
    /// link leads, inside the root like the link.
    pub fn shadow(&self, name: &OsStr) -> Result<Result<(), Refusal>> {
        use std::os::unix::fs::PermissionsExt;
        let mut read_only = |f: &mut File| -> Result<()> {
            f.set_permissions(fs::Permissions::from_mode(0o444))
                .context("making a shadow read-only")
        };
        self.place(name, Source::Body(&mut read_only))
    }

    /// Where the compile runs: the client's working directory, mirrored.
    pub fn run_dir(&self) -> PathBuf {
        under(&self.root, &self.cwd)
    }

    /// The compile this job will run, as the result cache keys it (a
    /// hashed job asks before its files are sent; its reply has the list
    /// of files read, as [`Mirror::into_job`]'s `reads` says). `run_dir`
    /// is [`Mirror::run_dir`]'s.
    pub fn compile<'m>(
        &'m self,
        run_dir: &'m Path,
        setting: &'m str,
        inputs: &'m Digest,
        reads: bool,
    ) -> Compile<'m> {
        Compile {
            program: &self.program,
            args: &self.plan.args,
            cwd: run_dir,
            dir: self.job.path(),
            version: Version::V3.number(),
            reads,
            source: &self.source,
            setting,
            inputs,
        }
    }

    /// The job to run once every file is in place: the client's own
    /// command line from the mirrored cwd, answered as protocol 3; with
    /// `reads` (our hashed dialect), also with the list of files read.
    pub fn into_job<'a>(self, reads: bool) -> Job<'a> {
        for d in &self.plan.dirs {
            // Search dirs stay inside the root by construction; a client
            // symlink there already points inside it too.
            fs::create_dir_all(d).ok();
        }
        let deps = self.plan.deps.then(|| self.job.path().join("deps.d"));
        let (reads, env, reply) = if reads {
            let (from, env) =
                ReadsFrom::choose(self.job.path(), self.plan.deps, self.plan.deps_all);
            (Some(from), env, ReplyForm::hashed(Version::V3.codec()))
        } else {
            (None, Vec::new(), ReplyForm::of(Version::V3))
        };
        let cwd = self.run_dir();
        Job {
            compiler: self.compiler,
            source: self.source,
            program: self.program,
            args: self.plan.args,
            cwd,
            unmap: Some(self.root.into_os_string().into_vec()),
            dir: self.job,
            object: self.plan.output,
            deps,
            feed: Feed::File,
            reply,
            reads,
            env,
            inputs: None,
            cached: None,
        }
    }
}

#[cfg(test)]
#[path = "mirror_tests.rs"]
mod tests;
