//! One unit's dealings with the file system: header lookups along the
//! search chains through the shared `FileCache`, and the record of what
//! was read (each file once, by the path the compiler opens it by) and
//! of every probe (candidates that were not there, `__has_include`
//! answers, include dirs). The search rules are `search`'s.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::files::{FileCache, Node, State};
use super::search::{abs, Chains, FoundIn, How};
use super::token::{FxMap, Interner};
use super::unit::{FileRead, Probe, ProbeKind, ScanError};

pub struct Fs<'a> {
    pub files: &'a mut FileCache,
    pub chains: Chains,
    pub cwd: &'a Path,
    pub probes: Vec<Probe>,
    probe_seen: FxMap<(Vec<u8>, ProbeKind), ()>,
    reads: Vec<(Vec<u8>, Rc<Node>)>,
    read_seen: FxMap<Vec<u8>, ()>,
}

type Found = (Rc<Node>, Vec<u8>, FoundIn);

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
            reads: Vec::new(),
            read_seen: FxMap::default(),
        }
    }

    fn probe(&mut self, path: &[u8], kind: ProbeKind, exists: bool) {
        if self.probe_seen.insert((path.to_vec(), kind), ()).is_none() {
            self.probes.push(Probe {
                path: PathBuf::from(OsString::from_vec(path.to_vec())),
                kind,
                exists,
            });
        }
    }

    pub fn open_main(&mut self, name: &[u8], int: &mut Interner) -> Result<Rc<Node>, ScanError> {
        let p = abs(self.cwd, name);
        match self.files.lookup(&p, int) {
            Ok(State::File(n)) => {
                self.record_read(name, &n);
                Ok(n)
            }
            Ok(_) => Err(ScanError(format!("{}: no such source file", p.display()))),
            Err(e) => Err(ScanError(format!("{}: {e}", p.display()))),
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
        let chains = std::mem::replace(
            &mut self.chains,
            Chains {
                dirs: Vec::new(),
                bracket: 0,
                ignore_own_dir: false,
            },
        );
        let r = chains.search(name, how, |p| {
            let a = abs(self.cwd, p);
            match self.files.lookup(&a, int) {
                Ok(State::File(n)) => Ok(Some(n)),
                Ok(_) => {
                    self.probe(p, kind, false);
                    Ok(None)
                }
                Err(e) => Err(ScanError(format!("{}: {e}", a.display()))),
            }
        });
        self.chains = chains;
        r
    }

    /// Answers whether the name would be found, without reading it;
    /// every candidate asked, and the answer, are probes. None when a
    /// candidate cannot be examined.
    pub fn exists(&mut self, name: &[u8], how: How, kind: ProbeKind) -> Option<bool> {
        let chains = std::mem::replace(
            &mut self.chains,
            Chains {
                dirs: Vec::new(),
                bracket: 0,
                ignore_own_dir: false,
            },
        );
        let r = chains.search(name, how, |p| -> Result<Option<()>, ()> {
            let a = abs(self.cwd, p);
            match std::fs::metadata(&a) {
                Ok(m) if !m.is_dir() => {
                    self.probe(p, kind, true);
                    Ok(Some(()))
                }
                Ok(_) => {
                    self.probe(p, kind, false);
                    Ok(None)
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                    self.probe(p, kind, false);
                    Ok(None)
                }
                Err(_) => Err(()),
            }
        });
        self.chains = chains;
        r.ok().map(|o| o.is_some())
    }

    pub fn record_read(&mut self, path: &[u8], node: &Rc<Node>) {
        if self.read_seen.insert(path.to_vec(), ()).is_none() {
            self.reads.push((path.to_vec(), node.clone()));
        }
    }

    pub fn file_reads(&mut self) -> Vec<FileRead> {
        let reads = std::mem::take(&mut self.reads);
        reads
            .into_iter()
            .map(|(p, n)| {
                let a = abs(self.cwd, &p);
                FileRead {
                    canonical: self.files.canonical(&a),
                    path: PathBuf::from(OsString::from_vec(p)),
                    digest: n.skel.digest,
                    size: n.skel.size,
                }
            })
            .collect()
    }
}
