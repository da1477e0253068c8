//! What a hashed request asserts about its compile (`protocol::identity`),
//! checked before anything runs: the compiler among this host's whose
//! identity is the client's (a volunteer with gcc-12 and gcc-13 serves
//! clients of either under the name `gcc`), and the system files the
//! client's compiler read, which must be the same bytes here. A mismatch
//! is a refusal naming both sides, so the client compiles elsewhere and
//! no object of another compiler is ever returned.
//!
//! Identities and file digests are cached by file identity (`identity::
//! Cache`), and system lists by their digest, so a warm job costs a few
//! `stat`s per compiler tried and one per system file.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::compilers::Whitelist;
use super::refusal::Refusal;
use super::sandbox::readable_trees;
use crate::exit::Code;
use crate::identity::{self, Cache, Expect, Identity};
use crate::protocol::identity::{Digest, SystemFile};

/// Entries of all kept lists together; past it the table starts over (a
/// list has a few hundred entries, and a farm builds with a handful of
/// configurations; a list itself is at most `protocol::identity::MAX_LIST`).
const MAX_ENTRIES: usize = 200_000;

/// A system list as received, with where each path leads here (for the
/// trees a compiler may read), resolved once per list.
pub struct Received {
    files: Vec<(PathBuf, Expect)>,
    resolved: Vec<Option<PathBuf>>,
}

pub type SystemList = Arc<Received>;

#[derive(Default)]
struct Lists {
    by_digest: HashMap<Digest, SystemList>,
    entries: usize,
}

pub struct Verifier {
    cache: Cache,
    lists: Mutex<Lists>,
    self_exe: Option<PathBuf>,
}

impl Verifier {
    /// A verifier whose digests are kept in `dir` as well as in memory.
    pub fn new(dir: Option<&Path>) -> Verifier {
        Verifier {
            cache: Cache::new(dir),
            lists: Mutex::default(),
            self_exe: std::env::current_exe().ok(),
        }
    }

    /// The program to run for a client that asked for `requested` (which
    /// the whitelist resolved to `program`) and sent its compiler's
    /// identity `wire`: `program` itself, or a variant of the same name on
    /// the search path (`gcc-12`, `x86_64-linux-gnu-gcc-12`) with the
    /// client's identity.
    pub fn compiler(
        &self,
        whitelist: &Whitelist,
        requested: &OsStr,
        program: PathBuf,
        wire: &[u8],
    ) -> Result<PathBuf, Refusal> {
        let wanted = Identity::from_wire(wire)
            .map_err(|e| Refusal::new(Code::Protocol, format!("refused request: {e}")))?;
        let name = Path::new(requested)
            .file_name()
            .unwrap_or(requested)
            .to_string_lossy();
        let mut dirs: Vec<PathBuf> = program
            .parent()
            .map(Path::to_path_buf)
            .into_iter()
            .collect();
        dirs.extend(whitelist.search_path().iter().cloned());
        let same = |a: &Path, b: &Path| fs::canonicalize(a).ok() == fs::canonicalize(b).ok();
        let mut candidates = vec![program.clone()];
        candidates.extend(
            identity::candidates(&name, &dirs, self.self_exe.as_deref())
                .into_iter()
                .filter(|p| !same(p, &program)),
        );
        let chosen = identity::resolve(&self.cache, &wanted, &candidates)
            .map_err(|m| Refusal::new(Code::CompilerMissing, format!("compiler mismatch: {m}")))?;
        if chosen != program {
            log::info!(
                "{name}: running {}, which has the client's identity {wanted}",
                chosen.display()
            );
        }
        Ok(chosen)
    }

    /// A system list this daemon has been sent before.
    pub fn known(&self, digest: &Digest) -> Option<SystemList> {
        self.lists.lock().ok()?.by_digest.get(digest).cloned()
    }

    /// Keeps a list that arrived (its digest checked by the reader).
    pub fn remember(&self, digest: Digest, files: Vec<SystemFile>) -> SystemList {
        let files: Vec<(PathBuf, Expect)> = files
            .into_iter()
            .map(|(path, d)| {
                let expect = d.map_or(Expect::Absent, Expect::Digest);
                (PathBuf::from(path), expect)
            })
            .collect();
        let resolved = files
            .iter()
            .map(|(p, _)| fs::canonicalize(p).ok())
            .collect();
        let list = Arc::new(Received { files, resolved });
        if let Ok(mut lists) = self.lists.lock() {
            if lists.entries + list.files.len() > MAX_ENTRIES {
                *lists = Lists::default();
            }
            lists.entries += list.files.len();
            lists.by_digest.insert(digest, list.clone());
        }
        list
    }

    /// Whether this host has every system file as the client has it, for
    /// `compiler`. Only files a compiler may read here (`sandbox`) are
    /// read: any other is refused unread, so a client learns nothing of
    /// them.
    pub fn system(&self, list: &Received, compiler: &Path) -> Result<(), Refusal> {
        let trees = readable_trees(compiler);
        let outside = list.files.iter().zip(&list.resolved).find(|(_, real)| {
            real.as_ref()
                .is_some_and(|r| !trees.iter().any(|t| r.starts_with(t)))
        });
        if let Some(((path, _), _)) = outside {
            let why = format!(
                "system header mismatch: {}: outside what a compiler may read here",
                path.display()
            );
            return Err(Refusal::new(Code::CompilerMissing, why));
        }
        match identity::check_files(&self.cache, &list.files, 1).first() {
            None => Ok(()),
            Some(m) => Err(Refusal::new(
                Code::CompilerMissing,
                format!("system header mismatch: {m}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_kept_by_digest_and_checked() {
        // A compiler of its own tree, as one under /opt would be.
        let dir = tempfile::tempdir().unwrap();
        let compiler = dir.path().join("bin/gcc");
        fs::create_dir_all(dir.path().join("bin")).unwrap();
        fs::write(&compiler, b"").unwrap();
        fs::create_dir_all(dir.path().join("include")).unwrap();
        let h = dir.path().join("include/h.h");
        fs::write(&h, b"int x;\n").unwrap();
        let v = Verifier::new(None);
        assert!(v.known(&[1; 32]).is_none());
        let good = crate::protocol::hashed::digest(b"int x;\n");
        let list = v.remember([1; 32], vec![(h.clone().into(), Some(good))]);
        assert!(v.known(&[1; 32]).is_some());
        assert_eq!(v.system(&list, &compiler), Ok(()));
        let r = v.system(&list, Path::new("/usr/bin/gcc")).unwrap_err();
        assert!(
            r.message.ends_with("outside what a compiler may read here"),
            "{}",
            r.message
        );
        let bad = v.remember([2; 32], vec![(h.clone().into(), Some([0; 32]))]);
        let r = v.system(&bad, &compiler).unwrap_err();
        assert_eq!(r.code, Code::CompilerMissing);
        assert!(
            r.message.starts_with("system header mismatch: "),
            "{}",
            r.message
        );
        assert!(
            r.message.contains(&h.display().to_string()),
            "{}",
            r.message
        );
    }
}
