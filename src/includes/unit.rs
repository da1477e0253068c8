//! What the caller tells the scanner about one compile (`Unit`, filled
//! from the shared argument model; argv is not parsed here) and what it
//! gets back (`ScanResult`, or `ScanError` when only the compiler can
//! tell, and the caller falls back to asking it).

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

pub use super::stamp::Stamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    C,
    Cxx,
    /// `.S`, `-x assembler-with-cpp`: preprocessed with C's lexer.
    AsmCpp,
    /// `.i`, `.ii`, `-x cpp-output`: read as it is, nothing to scan.
    Preprocessed,
}

impl Lang {
    /// Its number in byte forms (compiler probes, the scan agent's wire).
    pub fn code(self) -> u64 {
        match self {
            Lang::C => 0,
            Lang::Cxx => 1,
            Lang::AsmCpp => 2,
            Lang::Preprocessed => 3,
        }
    }

    pub fn of_code(c: u64) -> Option<Lang> {
        Some(match c {
            0 => Lang::C,
            1 => Lang::Cxx,
            2 => Lang::AsmCpp,
            3 => Lang::Preprocessed,
            _ => return None,
        })
    }
}

/// An include-dir option, in command-line order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DirOpt {
    /// `-I dir`
    I(PathBuf),
    /// `-iquote dir`
    Quote(PathBuf),
    /// `-isystem dir`
    System(PathBuf),
    /// `-idirafter dir`
    After(PathBuf),
    /// `-I-`: the `-I` dirs before it become quote dirs (and earlier
    /// `-iquote` dirs are dropped, as gcc does), and a file's own dir is
    /// no longer searched for `#include "..."`.
    Split,
}

/// `-D` and `-U`, in command-line order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MacroOpt {
    /// `-D name`, `-D name=value`, `-D 'name(args)=body'`.
    Define(String),
    /// `-U name`
    Undef(String),
}

#[derive(Clone, Debug, Default)]
pub struct Unit {
    pub lang: Option<Lang>,
    /// The compiler's working directory; relative paths are from here.
    pub cwd: PathBuf,
    /// The source file as written on the command line.
    pub source: PathBuf,
    pub dirs: Vec<DirOpt>,
    pub macros: Vec<MacroOpt>,
    /// `-imacros` files, in order (processed before `-include` files).
    pub imacros: Vec<PathBuf>,
    /// `-include` files, in order.
    pub includes: Vec<PathBuf>,
    /// `--sysroot`/`-isysroot`: the meaning of a leading `=` in a dir.
    pub sysroot: Option<PathBuf>,
    /// `-trigraphs` or a strict `-std=c..`: a file with a trigraph then
    /// makes the scan give up rather than guess.
    pub trigraphs: bool,
    /// The environment's `CPATH` (like `-I` after all of them).
    pub env_cpath: Option<OsString>,
    /// `C_INCLUDE_PATH` or `CPLUS_INCLUDE_PATH`, whichever the language
    /// reads (like `-isystem` after all of them).
    pub env_lang_path: Option<OsString>,
}

/// One file the preprocessor reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRead {
    /// As the compiler opens it (relative to `Unit::cwd` if relative).
    pub path: PathBuf,
    pub digest: [u8; 32],
    pub size: u64,
    /// The stamp under which `digest` holds, when it is settled (see
    /// `files::Node`): a file that still has this stamp need not be read
    /// again to be named by its digest. `None`: read it to know.
    pub stamp: Option<Stamp>,
    /// The name is a regular file itself, not a symlink (whose target
    /// `stamp` would be) nor a device or a fifo: then `stamp` is what an
    /// `lstat` of the name would give as the scan examined it.
    pub plain: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// An include dir given or defaulted; a missing one is dropped.
    Dir,
    /// A place a searched header was looked for.
    Candidate,
    /// A `__has_include` lookup.
    HasInclude,
    /// Where a `__has_include` that found nothing would also have looked
    /// on a host that has a default dir the compiler skipped here as
    /// nonexistent (`skipped`): always absent here.
    Skipped,
    /// `#pragma GCC dependency`.
    Dependency,
}

impl ProbeKind {
    /// Its number in byte forms (kept scans, the scan agent's answers).
    pub fn code(self) -> u64 {
        match self {
            ProbeKind::Dir => 0,
            ProbeKind::Candidate => 1,
            ProbeKind::HasInclude => 2,
            ProbeKind::Dependency => 3,
            ProbeKind::Skipped => 4,
        }
    }

    pub fn of_code(c: u64) -> Option<ProbeKind> {
        Some(match c {
            0 => ProbeKind::Dir,
            1 => ProbeKind::Candidate,
            2 => ProbeKind::HasInclude,
            3 => ProbeKind::Dependency,
            4 => ProbeKind::Skipped,
            _ => return None,
        })
    }
}

/// A question the preprocessor asked the file system. The answers that
/// found nothing leave no trace in a dependency list, yet decide the
/// output; a volunteer must answer them the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub path: PathBuf,
    pub kind: ProbeKind,
    /// A directory for `Dir`, a file that is not a directory otherwise.
    pub exists: bool,
}

#[derive(Clone, Debug, Default)]
pub struct ScanResult {
    /// Every file read, first-opened first (the source itself first).
    pub files: Vec<FileRead>,
    pub probes: Vec<Probe>,
    /// Things worth a line in `DISTCC_VERBOSE`: `#error` reached,
    /// directives the compiler will reject.
    pub notes: Vec<String>,
    /// Set when the compile will stop at a missing header: what the
    /// compiler reads up to there is all there is to send.
    pub fatal: Option<String>,
    /// Conditions the scan could not decide (it took both branches).
    pub undecided: u32,
    /// Existing names that could stand in front of a predicted file in a
    /// search the scan did not foresee (`shadow`), absolute.
    pub shadows: Vec<PathBuf>,
    /// Some directive asked `__LINE__`: the lines its files' directives
    /// stand on are part of what the walk saw (`replay` then wants an
    /// edited file's directives on the same lines).
    pub lines: bool,
}

/// Only the compiler can say which files this unit reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanError(pub String);

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "cannot scan: {}", self.0)
    }
}

impl std::error::Error for ScanError {}
