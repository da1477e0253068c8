//! Compiler identity: what decides a compiler's output for a given input,
//! reduced to a digest that our client and daemon compare before a job, so
//! an object from another compiler is never returned silently.
//!
//! An identity is per (compiler, language): gcc compiles C with `cc1` and
//! C++ with `cc1plus`. It covers the version line, the target, gcc's
//! "Configured with" line, and the bytes of every program that writes the
//! object: the driver, the compiler proper (`cc1*`, or clang's own binary
//! with its `libLLVM`/`libclang-cpp`), and the assembler gcc runs. Paths
//! are left out: the same bytes installed elsewhere are the same compiler.
//!
//! - `probe`: asking a driver what it runs (`-v`, `-print-prog-name`, `-###`).
//! - `key`, `digests`, `diskfile`: file identity (device, inode, size,
//!   times), SHA-256 of file bodies cached by it, the checksummed cache files.
//! - `record`, `cache`: an identity computed once per binary and revalidated
//!   by a few `stat`s, in memory and in a cache dir the caller names.
//! - `wire`: the form that crosses the network (a few dozen bytes).
//! - `resolve`: a daemon's choice among several installed compilers.
//! - `headers`: exact mode's check of the volunteer's system headers.

mod cache;
mod digests;
mod diskfile;
mod headers;
mod key;
mod probe;
mod record;
mod resolve;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;

pub use cache::{Cache, Stats};
pub use headers::{check_files, Expect, Found, Mismatch as FileMismatch};
pub use key::FileKey;
pub use resolve::{candidates, resolve, Mismatch, Probed};
pub use wire::WireError;

/// SHA-256 of a file's bytes: the digest the hashed protocol uses.
pub type Digest = [u8; 32];

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Gcc,
    Clang,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gcc => "gcc",
            Kind::Clang => "clang",
        }
    }
}

/// The language of a job, which picks the compiler proper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    C,
    Cxx,
    ObjC,
    ObjCxx,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::C, Lang::Cxx, Lang::ObjC, Lang::ObjCxx];

    /// The name `-x` takes.
    pub fn name(self) -> &'static str {
        match self {
            Lang::C => "c",
            Lang::Cxx => "c++",
            Lang::ObjC => "objective-c",
            Lang::ObjCxx => "objective-c++",
        }
    }

    /// gcc's compiler proper for this language.
    fn gcc_proper(self) -> &'static str {
        match self {
            Lang::C => "cc1",
            Lang::Cxx => "cc1plus",
            Lang::ObjC => "cc1obj",
            Lang::ObjCxx => "cc1objplus",
        }
    }
}

/// The components an identity digests separately, so that a mismatch can
/// say which of them differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Version line, target, configuration, thread model, driver mode.
    Config,
    Driver,
    /// `cc1`/`cc1plus`, or clang's own binary.
    Compiler,
    Assembler,
    /// Shared libraries that hold the compiler itself (`libLLVM`, ...).
    Libraries,
}

impl Part {
    pub const ALL: [Part; 5] = [
        Part::Config,
        Part::Driver,
        Part::Compiler,
        Part::Assembler,
        Part::Libraries,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Part::Config => "configuration",
            Part::Driver => "driver",
            Part::Compiler => "compiler proper",
            Part::Assembler => "assembler",
            Part::Libraries => "compiler libraries",
        }
    }
}

/// Bytes of each part's digest kept in an identity: enough to say which
/// part differs, not to decide a match (the full `digest` does that).
pub const PART_PREFIX: usize = 4;

/// A compiler's identity for one language. Two compilers whose identities
/// have the same `digest` produce the same object from the same input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub kind: Kind,
    pub lang: Lang,
    /// The short version, `12.2.0`.
    pub version: String,
    /// The target triple the driver reports, `x86_64-linux-gnu`.
    pub target: String,
    pub digest: Digest,
    /// A prefix of each part's digest, in `Part::ALL` order; `None` where
    /// the compiler has no such part (clang's integrated assembler).
    pub parts: [Option<[u8; PART_PREFIX]>; 5],
}

impl Identity {
    /// The hex prefix of the digest shown in messages.
    pub fn short(&self) -> String {
        hex(&self.digest[..6])
    }

    pub fn part(&self, part: Part) -> Option<[u8; PART_PREFIX]> {
        self.parts[part as usize]
    }

    /// The parts in which `other` differs, for a mismatch message.
    pub fn differing_parts(&self, other: &Identity) -> Vec<Part> {
        Part::ALL
            .into_iter()
            .filter(|&p| self.part(p) != other.part(p))
            .collect()
    }
}

/// `gcc 12.2.0 x86_64-linux-gnu c++ (3f2a9b1c0d4e)`: for log lines and
/// messages that name both sides.
impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} ({})",
            self.kind.name(),
            self.version,
            self.target,
            self.lang.name(),
            self.short()
        )
    }
}
