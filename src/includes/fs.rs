//! One unit's dealings with the file system: header lookups along the
//! search chains through the shared `FileCache`, and the record of what
//! was read (each file once, by the path the compiler opens it by) and
//! of every probe (candidates that were not there, `__has_include`
//! answers, include dirs). The search rules are `search`'s.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::files::{FileCache, Node, State};
use super::search::{join, Chains, FoundIn, How};
use super::token::{FxMap, Interner};
use super::unit::{FileRead, Probe, ProbeKind, ScanError};

pub struct Fs<'a> {
    pub files: &'a mut FileCache,
    pub chains: Chains,
    pub cwd: &'a Path,
    pub probes: Vec<Probe>,
    /// Paths by their `FileCache` id (owned keys only for the rare
    /// `__has_include` lookups that bypass the cache).
    probe_seen: FxMap<(u32, ProbeKind), ()>,
    probe_seen_by_name: FxMap<(Vec<u8>, ProbeKind), ()>,
    reads: Vec<(Rc<[u8]>, Rc<Node>)>,
    read_seen: FxMap<u32, ()>,
    /// Absolute paths are built here, not allocated per candidate.
    scratch: Vec<u8>,
    /// Searches done in this unit: a header included from many files
    /// is searched once. The key: how (tag, dir index), own dir, name.
    memo: FxMap<Box<[u8]>, Option<Found>>,
    key: Vec<u8>,
}

/// The file, its path's id, the path, and where it was found.
pub type Found = (Rc<Node>, u32, Rc<[u8]>, FoundIn);

impl<'a> Fs<'a> {
    pub fn new(
        files: &'a mut FileCache,
        chains: Chains,
        cwd: &'a Path,
        probes: Vec<Probe>,
    ) -> Fs<'a> {
        Fs {
            files,
            chains,
            cwd,
            probes,
            probe_seen: FxMap::default(),
            probe_seen_by_name: FxMap::default(),
            reads: Vec::new(),
            read_seen: FxMap::default(),
            scratch: Vec::new(),
            memo: FxMap::default(),
            key: Vec::new(),
        }
    }

    fn probe(&mut self, id: u32, path: &[u8], kind: ProbeKind) {
        if self.probe_seen.insert((id, kind), ()).is_none() {
            self.probes.push(Probe {
                path: PathBuf::from(OsString::from_vec(path.to_vec())),
                kind,
                exists: false,
            });
        }
    }

    fn probe_by_name(&mut self, path: &[u8], kind: ProbeKind, exists: bool) {
        if self
            .probe_seen_by_name
            .insert((path.to_vec(), kind), ())
            .is_none()
        {
            self.probes.push(Probe {
                path: PathBuf::from(OsString::from_vec(path.to_vec())),
                kind,
                exists,
            });
        }
    }

    /// `p` made absolute in `self.scratch`.
    fn absolute(&mut self, p: &[u8]) {
        self.scratch.clear();
        if p.first() != Some(&b'/') {
            self.scratch
                .extend_from_slice(self.cwd.as_os_str().as_bytes());
            self.scratch.push(b'/');
        }
        self.scratch.extend_from_slice(p);
    }

    /// What the cache says about compiler path `p`, with the path's id.
    fn look(&mut self, p: &[u8], int: &mut Interner) -> Result<(State, u32), ScanError> {
        self.absolute(p);
        self.files
            .lookup(&self.scratch, int)
            .map_err(|e| ScanError(format!("{}: {e}", String::from_utf8_lossy(&self.scratch))))
    }

    pub fn open_main(&mut self, name: &[u8], int: &mut Interner) -> Result<Rc<Node>, ScanError> {
        match self.look(name, int)? {
            (State::File(n), id) => {
                self.record_read(id, &Rc::from(name), &n);
                Ok(n)
            }
            _ => Err(ScanError(format!(
                "{}: no such source file",
                String::from_utf8_lossy(&self.scratch)
            ))),
        }
    }

    /// Finds a header to read; every candidate that was not it is a probe.
    pub fn find(
        &mut self,
        name: &[u8],
        how: How,
        kind: ProbeKind,
        int: &mut Interner,
    ) -> Result<Option<Found>, ScanError> {
        let (own, tag, idx): (&[u8], u8, u32) = match how {
            How::Quote { own_dir } if !self.chains.ignore_own_dir => (own_dir, 0, 0),
            How::Quote { .. } => (b"", 1, 0),
            How::Angled => (b"", 2, 0),
            How::Cmdline => (b"", 3, 0),
            How::Next(FoundIn::Dir(i)) => (b"", 4, i),
            How::Next(_) => (b"", 1, 0),
        };
        let memoize = kind == ProbeKind::Candidate;
        if memoize {
            self.key.clear();
            self.key.push(tag);
            self.key.extend_from_slice(&idx.to_le_bytes());
            self.key.extend_from_slice(own);
            self.key.push(0);
            self.key.extend_from_slice(name);
            if let Some(r) = self.memo.get(&self.key[..]) {
                return Ok(r.clone());
            }
        }
        let r = self.search(name, how, kind, int)?;
        if memoize {
            // The key is intact: `search` does not touch it.
            self.memo.insert(self.key.as_slice().into(), r.clone());
        }
        Ok(r)
    }

    fn search(
        &mut self,
        name: &[u8],
        how: How,
        kind: ProbeKind,
        int: &mut Interner,
    ) -> Result<Option<Found>, ScanError> {
        let chains = std::mem::take(&mut self.chains);
        let r = chains.search(name, how, |p| match self.look(p, int)? {
            (State::File(n), id) => Ok(Some((n, id))),
            (_, id) => {
                self.probe(id, p, kind);
                Ok(None)
            }
        });
        self.chains = chains;
        Ok(r?.map(|((n, id), p, f)| (n, id, Rc::from(p), f)))
    }

    /// Answers whether the name would be found, without reading it;
    /// every candidate asked, and the answer, are probes. None when a
    /// candidate cannot be examined.
    pub fn exists(&mut self, name: &[u8], how: How, kind: ProbeKind) -> Option<bool> {
        let chains = std::mem::take(&mut self.chains);
        let r = chains.search(name, how, |p| -> Result<Option<()>, ()> {
            self.absolute(p);
            let found = self.files.exists(&self.scratch).map_err(drop)?;
            self.probe_by_name(p, kind, found);
            Ok(found.then_some(()))
        });
        if kind == ProbeKind::HasInclude && matches!(r, Ok(None)) {
            for d in chains.skipped_from(name, how) {
                self.probe_by_name(&join(d, name), ProbeKind::Skipped, false);
            }
        }
        self.chains = chains;
        r.ok().map(|o| o.is_some())
    }

    pub fn record_read(&mut self, id: u32, path: &Rc<[u8]>, node: &Rc<Node>) {
        if self.read_seen.insert(id, ()).is_none() {
            self.reads.push((path.clone(), node.clone()));
        }
    }

    pub fn file_reads(&mut self) -> Vec<FileRead> {
        let reads = std::mem::take(&mut self.reads);
        reads
            .into_iter()
            .map(|(p, n)| {
                self.absolute(&p);
                FileRead {
                    path: PathBuf::from(OsString::from_vec(p.to_vec())),
                    digest: n.skel.digest,
                    size: n.skel.size,
                    stamp: n.settled.then_some(n.stamp),
                    plain: self.files.is_plain(&self.scratch),
                }
            })
            .collect()
    }
}
