//! A cached result's key: everything that decides a compile's output on
//! this daemon, digested. The identity (the bytes of its programs, its
//! configuration: `identity`) of the compiler the daemon runs, which in
//! our hashed dialect is the one with the client's identity; the protocol
//! version and dialect (which outputs the reply carries); in exact mode a
//! stamp of this machine's system headers (`system`); the argument vector
//! and working directory after the daemon's rewrites; the compilers'
//! environment and limits; and the inputs: the preprocessed source in
//! classic mode, every shipped file with its client path in exact mode
//! ([`Inputs`]).
//!
//! The job's private dir is random and reaches no output the client gets
//! (exact mode maps it out; classic mode compiles under fixed names inside
//! it), so wherever it appears in an argument it is replaced by a marker.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::protocol::hashed::Digest;

/// Bumped when the key's make-up or the entry format changes, so an old
/// cache dir is a cold one rather than a wrong one.
const SCHEME: &[u8] = b"distccd result key 2";

/// The digest of a job's inputs, as the dialect that received them saw
/// them.
pub struct Inputs(Sha256);

impl Inputs {
    /// Classic mode: the one preprocessed source.
    pub fn source(d: &Digest) -> Digest {
        let mut i = Inputs::files();
        i.field(b"source");
        i.field(d);
        i.finish()
    }

    /// Exact mode: files and links by client path, added in request order.
    pub fn files() -> Inputs {
        Inputs(Sha256::new())
    }

    fn field(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    pub fn file(&mut self, name: &OsStr, d: &Digest) {
        self.field(b"file");
        self.field(name.as_bytes());
        self.field(d);
    }

    pub fn link(&mut self, name: &OsStr, target: &OsStr) {
        self.field(b"link");
        self.field(name.as_bytes());
        self.field(target.as_bytes());
    }

    /// A shadow: an empty file at `name` (`protocol::hashed::SHDW`).
    pub fn shadow(&mut self, name: &OsStr) {
        self.field(b"shadow");
        self.field(name.as_bytes());
    }

    pub fn finish(self) -> Digest {
        self.0.finalize().into()
    }
}

/// What a key is made of, borrowed from the job.
pub struct Parts<'a> {
    /// The compiler's identity digests (one per language it may run as).
    pub identities: &'a [Digest],
    /// Exact mode: the stamp of the volunteer's system headers.
    pub system: Option<&'a Digest>,
    pub version: u32,
    /// Whether the reply carries the list of files read (our hashed
    /// dialect), which protocol 3's own does not.
    pub reads: bool,
    pub args: &'a [OsString],
    pub cwd: &'a Path,
    /// The job's private dir, replaced by a marker wherever it appears.
    pub dir: &'a Path,
    /// The compilers' environment and limits, as text.
    pub setting: &'a str,
    pub inputs: &'a Digest,
}

pub fn key(p: &Parts) -> Digest {
    let mut h = Inputs(Sha256::new());
    h.field(SCHEME);
    for id in p.identities {
        h.field(id);
    }
    h.field(p.system.map_or(&[][..], |d| &d[..]));
    h.field(&p.version.to_le_bytes());
    h.field(&[p.reads as u8]);
    h.field(&(p.args.len() as u64).to_le_bytes());
    let dir = p.dir.as_os_str().as_bytes();
    for a in p.args {
        h.field(&unjob(a.as_bytes(), dir));
    }
    h.field(&unjob(p.cwd.as_os_str().as_bytes(), dir));
    h.field(p.setting.as_bytes());
    h.field(p.inputs);
    h.finish()
}

/// `arg` with every occurrence of the job dir replaced by a marker that no
/// path contains.
fn unjob(arg: &[u8], dir: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(arg.len());
    let mut rest = arg;
    while !dir.is_empty() {
        match rest.windows(dir.len()).position(|w| w == dir) {
            Some(i) => {
                out.extend_from_slice(&rest[..i]);
                out.extend_from_slice(b"\0job\0");
                rest = &rest[i + dir.len()..];
            }
            None => break,
        }
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(args: &'a [OsString], dir: &'a Path, inputs: &'a Digest) -> Parts<'a> {
        Parts {
            identities: &[[1; 32]],
            system: None,
            version: 2,
            reads: false,
            args,
            cwd: dir,
            dir,
            setting: "PATH=/usr/bin",
            inputs,
        }
    }

    #[test]
    fn the_job_dir_does_not_matter_but_everything_else_does() {
        let inputs = Inputs::source(&[7; 32]);
        let a: Vec<OsString> = vec!["-O2".into(), "-I/tmp/distccd_AAAA/root/inc".into()];
        let b: Vec<OsString> = vec!["-O2".into(), "-I/tmp/distccd_BBBB/root/inc".into()];
        let ka = key(&parts(&a, Path::new("/tmp/distccd_AAAA"), &inputs));
        let kb = key(&parts(&b, Path::new("/tmp/distccd_BBBB"), &inputs));
        assert_eq!(ka, kb);
        let flag: Vec<OsString> = vec!["-O3".into(), "-I/tmp/distccd_AAAA/root/inc".into()];
        assert_ne!(
            ka,
            key(&parts(&flag, Path::new("/tmp/distccd_AAAA"), &inputs))
        );
        let other = Inputs::source(&[8; 32]);
        assert_ne!(ka, key(&parts(&a, Path::new("/tmp/distccd_AAAA"), &other)));
        let mut p = parts(&a, Path::new("/tmp/distccd_AAAA"), &inputs);
        p.identities = &[[2; 32]];
        assert_ne!(ka, key(&p));
        let mut p = parts(&a, Path::new("/tmp/distccd_AAAA"), &inputs);
        p.reads = true;
        assert_ne!(ka, key(&p), "a reply with the list of files read");
    }

    #[test]
    fn fields_cannot_run_into_each_other() {
        let inputs = Inputs::source(&[0; 32]);
        let dir = Path::new("/j");
        let one: Vec<OsString> = vec!["-DA".into(), "B".into()];
        let two: Vec<OsString> = vec!["-DAB".into()];
        assert_ne!(
            key(&parts(&one, dir, &inputs)),
            key(&parts(&two, dir, &inputs))
        );
        let mut f = Inputs::files();
        f.file("/a".as_ref(), &[0; 32]);
        let mut l = Inputs::files();
        l.link("/a".as_ref(), "x".as_ref());
        assert_ne!(f.finish(), l.finish());
    }
}
