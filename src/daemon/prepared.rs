//! A job as a dialect prepares it for `job` to run: the program and argv,
//! its private dir and files, how the compiler is fed, the reply's form;
//! or the refusal a dialect makes instead (a [`Verdict`]).

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::reads::ReadsFrom;
use super::refusal::Refusal;
use super::server::Server;
use super::stats::Permit;
use crate::args::Lang;
use crate::exit::Code;
use crate::protocol::hashed::Digest;
use crate::protocol::{Reply, ReplyForm, RequestHead};

/// A compile ready to run.
pub struct Job<'a> {
    /// argv[0] as the client sent it, for the log and the stats page.
    pub compiler: String,
    /// The source's name as the client sent it, for the stats page.
    pub source: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Where the compiler runs.
    pub cwd: PathBuf,
    /// The job's private dir; removed before the reply is sent.
    pub dir: tempfile::TempDir,
    /// The object (or assembly) the compiler writes.
    pub object: PathBuf,
    /// The dependency file to return (protocol 3).
    pub deps: Option<PathBuf>,
    /// A server-side prefix to remove from diagnostics and the `.d` file.
    pub unmap: Option<Vec<u8>>,
    pub feed: Feed<'a>,
    /// How the answer goes on the wire.
    pub reply: ReplyForm,
    /// Where the list of files read comes from, when the reply has one.
    pub reads: Option<ReadsFrom>,
    /// Variables set for this compile on top of the server's.
    pub env: Vec<(OsString, OsString)>,
    /// The digest of the job's inputs (`cache::Inputs`), when its dialect
    /// took them: then the result cache may answer or keep it.
    pub inputs: Option<Digest>,
    /// The reply the result cache had for it already (a hashed job asks
    /// before its files are sent).
    pub cached: Option<Reply>,
}

impl Job<'_> {
    /// A compile of preprocessed source in its own job `dir`, which is also
    /// where it runs and writes `output_name`: the plain and streamed
    /// dialects' jobs. Fed from a file until the caller says otherwise.
    pub fn in_dir(
        head: &RequestHead,
        program: PathBuf,
        args: Vec<OsString>,
        dir: tempfile::TempDir,
        output_name: impl AsRef<Path>,
    ) -> Self {
        Job {
            compiler: head.argv[0].to_string_lossy().into_owned(),
            source: source_name(&head.argv),
            program,
            args,
            cwd: dir.path().to_path_buf(),
            object: dir.path().join(output_name),
            dir,
            deps: None,
            unmap: None,
            feed: Feed::File,
            reply: ReplyForm::of(head.version),
            reads: None,
            env: Vec::new(),
            inputs: None,
            cached: None,
        }
    }
}

/// A job ready to run, or why it will not: what a dialect makes of a
/// request.
pub type Verdict<'a> = std::result::Result<Job<'a>, Refusal>;

/// A fresh private dir for one job under the daemon's temp dir.
pub fn dir(server: &Server) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("distccd_")
        .tempdir_in(&server.tmpdir)
}

/// Tells the client to go ahead, then fills the compiler's stdin (the
/// pipe's write end) with the streamed source and hands the pipe back open.
pub type PipeFeed<'a> = Box<dyn FnMut(&mut dyn Write, File) -> Result<File> + 'a>;

/// How the compiler gets its input.
pub enum Feed<'a> {
    /// From a file in the job dir; stdin is /dev/null.
    File,
    /// From a pipe, the compiler started before its source has arrived:
    /// `feed` tells the client to go ahead, then fills the pipe's write end
    /// with the source and hands it back open. The compiler, which reads
    /// its whole input before compiling, starts its work only once the
    /// pipe is closed, and that waits for a job slot.
    Pipe {
        feed: PipeFeed<'a>,
        /// Held from before the compiler starts until it has a job slot.
        token: Permit<'a>,
    },
}

/// What became of one connection, for the log.
#[derive(Debug)]
pub struct Outcome {
    pub compiler: String,
    pub status: Option<i32>,
    pub refused: Option<Code>,
}

/// The name `source` gets in a [`Job`]: the last word that names a source
/// and is not `-o`'s.
pub fn source_name(argv: &[OsString]) -> String {
    argv.iter()
        .enumerate()
        .skip(1)
        .rfind(|(i, a)| {
            !a.to_string_lossy().starts_with('-')
                && Lang::from_path(a).is_some()
                && argv[i - 1] != "-o"
        })
        .map_or_else(|| "none".into(), |(_, a)| a.to_string_lossy().into_owned())
}
