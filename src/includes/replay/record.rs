//! The byte form of a kept scan: the scan's result, when it began, and
//! every answer it rested on, as `encode` writes them and `decode` reads
//! them back for `check`. Nothing read here is trusted: a damaged or
//! hostile record decodes to None, never to a panic.
//!
//! The form is compact rather than compressed: a record is written on
//! every walk and read on every replay, and compressing a big C++ unit's
//! (110 KiB, most of it the paths of candidates that were not there) cost
//! a tenth of the walk. Every path but a shadow's is named by a dir and a
//! last component from two tables: a unit probes each name in a few dirs,
//! so both tables are short. An answer's stamp that is a file read's is
//! named by the file.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::{Answer, Answers, Kind, Named, MAGIC};
use crate::includes::codec::{Reader, Writer};
use crate::includes::stamp::Stamp;
use crate::includes::token::FxMap;
use crate::includes::unit::{FileRead, Probe, ProbeKind, ScanResult};

/// The byte form of `r` with the answers it rested on; None when it
/// cannot be replayed. `more` are answers the caller adds (the probe's
/// skipped dirs, which must still be absent).
/// `began` is when the scan began, before any answer.
pub fn encode(
    r: &ScanResult,
    answers: &Answers,
    more: &[(Vec<u8>, Answer)],
    began: SystemTime,
) -> Option<Vec<u8>> {
    // Every field, named: one added to ScanResult must be kept here too.
    let ScanResult {
        files,
        probes,
        notes,
        fatal,
        undecided,
        shadows,
        lines,
    } = r;
    let dependency = probes.iter().any(|p| p.kind == ProbeKind::Dependency);
    if !answers.keepable || fatal.is_some() || dependency {
        return None;
    }
    let mut w = Writer::new(MAGIC);
    let began = began.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    w.u64(began.as_secs());
    w.u64(began.subsec_nanos() as u64);
    let paths = answers.paths.iter().chain(more);
    let named = files
        .iter()
        .map(|f| f.path.as_os_str().as_bytes())
        .chain(probes.iter().map(|p| p.path.as_os_str().as_bytes()))
        .chain(paths.clone().map(|(p, _)| p.as_slice()));
    let table = PathTable::of(named);
    // An answer's stamp is most often a file read's: named by its index.
    let mut stamps: FxMap<&Stamp, u64> = FxMap::default();
    for (i, f) in files.iter().enumerate() {
        if let Some(st) = &f.stamp {
            stamps.entry(st).or_insert(i as u64);
        }
    }
    table.out(&mut w);
    w.u64(files.len() as u64);
    for f in files {
        table.path_out(&mut w, f.path.as_os_str().as_bytes());
        w.bytes(&f.digest);
        w.u64(f.size);
        // A file read too recently to be sure of has none: a replay
        // checks it by content.
        match &f.stamp {
            Some(st) => {
                w.u64(1);
                st.write(&mut w);
            }
            None => w.u64(0),
        }
        w.u64(f.plain as u64);
    }
    w.u64(probes.len() as u64);
    for p in probes {
        table.path_out(&mut w, p.path.as_os_str().as_bytes());
        w.u64(p.kind.code());
        w.u64(p.exists as u64);
    }
    w.u64(notes.len() as u64);
    for n in notes {
        w.blob(n.as_bytes());
    }
    w.u64(*undecided as u64);
    w.u64(*lines as u64);
    w.u64(shadows.len() as u64);
    for p in shadows {
        w.blob(p.as_os_str().as_bytes());
    }
    w.u64(answers.relevant.len() as u64);
    for n in &answers.relevant {
        w.blob(n);
    }
    let mut dirs: Vec<_> = answers.dirs.iter().collect();
    dirs.sort_by(|a, b| a.0.cmp(b.0));
    w.u64(dirs.len() as u64);
    for (d, seen) in dirs {
        w.blob(d);
        match &seen.stamp {
            Some(st) => {
                w.u64(1);
                st.write(&mut w);
            }
            None => w.u64(0),
        }
        let mut unlisted: Vec<&[u8]> = seen.unlisted.iter().map(Vec::as_slice).collect();
        unlisted.sort_unstable();
        unlisted.dedup();
        w.u64(unlisted.len() as u64);
        for n in unlisted {
            w.blob(n);
        }
        match &seen.consulted {
            Some(present) => {
                w.u64(1 + present.len() as u64);
                for n in present {
                    w.blob(n);
                }
            }
            None => w.u64(0),
        }
    }
    w.u64(paths.clone().count() as u64);
    for (p, a) in paths {
        table.path_out(&mut w, p);
        answer_out(&mut w, a, &stamps);
    }
    Some(w.finish())
}

/// The dirs and the last components of the record's paths, each once,
/// and where.
#[derive(Default)]
struct PathTable<'a> {
    dirs: Part<'a>,
    names: Part<'a>,
}

#[derive(Default)]
struct Part<'a> {
    list: Vec<&'a [u8]>,
    index: FxMap<&'a [u8], u64>,
}

impl<'a> Part<'a> {
    fn add(&mut self, s: &'a [u8]) {
        let n = self.list.len() as u64;
        if *self.index.entry(s).or_insert(n) == n {
            self.list.push(s);
        }
    }

    fn out(&self, w: &mut Writer) {
        w.u64(self.list.len() as u64);
        for s in &self.list {
            w.blob(s);
        }
    }
}

impl<'a> PathTable<'a> {
    fn of(paths: impl Iterator<Item = &'a [u8]>) -> PathTable<'a> {
        let mut t = PathTable::default();
        for p in paths {
            let (dir, name) = split(p);
            t.dirs.add(dir);
            t.names.add(name);
        }
        t
    }

    fn out(&self, w: &mut Writer) {
        self.dirs.out(w);
        self.names.out(w);
    }

    fn path_out(&self, w: &mut Writer, p: &[u8]) {
        let (dir, name) = split(p);
        w.u64(self.dirs.index[dir]);
        w.u64(self.names.index[name]);
    }
}

/// The table's parts as read back.
struct Parts<'a> {
    dirs: Vec<&'a [u8]>,
    names: Vec<&'a [u8]>,
}

impl<'a> Parts<'a> {
    fn read(r: &mut Reader<'a>) -> Option<Parts<'a>> {
        let mut part = || -> Option<Vec<&'a [u8]>> {
            let mut v = Vec::new();
            for _ in 0..r.u64()? {
                v.push(r.blob()?);
            }
            Some(v)
        };
        Some(Parts {
            dirs: part()?,
            names: part()?,
        })
    }
}

/// A path as its dir (with the slash) and its last component.
fn split(p: &[u8]) -> (&[u8], &[u8]) {
    let at = p.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1);
    p.split_at(at)
}

fn bytes_in(r: &mut Reader, t: &Parts) -> Option<Vec<u8>> {
    let dir = t.dirs.get(usize::try_from(r.u64()?).ok()?)?;
    let name = t.names.get(usize::try_from(r.u64()?).ok()?)?;
    let mut p = Vec::with_capacity(dir.len() + name.len());
    p.extend_from_slice(dir);
    p.extend_from_slice(name);
    Some(p)
}

fn path_in(r: &mut Reader, t: &Parts) -> Option<PathBuf> {
    Some(PathBuf::from(OsString::from_vec(bytes_in(r, t)?)))
}

/// A kept scan as read back, its names borrowed from the unpacked bytes.
pub(super) struct Kept<'a> {
    /// When the scan began, before any answer.
    pub began: SystemTime,
    pub result: ScanResult,
    /// The names whole listings were consulted for.
    pub relevant: Vec<&'a [u8]>,
    pub dirs: Vec<KeptDir<'a>>,
    /// Each path asked about, and what it answered.
    pub paths: Vec<(Vec<u8>, Answer)>,
}

/// A dir as the scan took it (`DirSeen`).
pub(super) struct KeptDir<'a> {
    pub path: &'a [u8],
    pub stamp: Option<Stamp>,
    pub unlisted: Vec<&'a [u8]>,
    pub consulted: Option<Vec<&'a [u8]>>,
}

/// The kept scan in unpacked bytes; None if they are not one, whole.
pub(super) fn decode(raw: &[u8]) -> Option<Kept<'_>> {
    let mut r = Reader::new(raw, MAGIC)?;
    let began = SystemTime::UNIX_EPOCH
        + Duration::new(
            r.u64()?,
            u32::try_from(r.u64()?)
                .ok()
                .filter(|&n| n < 1_000_000_000)?,
        );
    let table = Parts::read(&mut r)?;
    let mut result = ScanResult::default();
    for _ in 0..r.u64()? {
        let path = path_in(&mut r, &table)?;
        let digest: [u8; 32] = r.bytes(32)?.try_into().ok()?;
        let size = r.u64()?;
        let stamp = match r.u64()? {
            0 => None,
            _ => Some(Stamp::read(&mut r)?),
        };
        let plain = r.u64()? != 0;
        result.files.push(FileRead {
            path,
            digest,
            size,
            stamp,
            plain,
        });
    }
    for _ in 0..r.u64()? {
        let path = path_in(&mut r, &table)?;
        let kind = ProbeKind::of_code(r.u64()?)?;
        let exists = r.u64()? != 0;
        result.probes.push(Probe { path, kind, exists });
    }
    for _ in 0..r.u64()? {
        result
            .notes
            .push(String::from_utf8(r.blob()?.to_vec()).ok()?);
    }
    result.undecided = u32::try_from(r.u64()?).ok()?;
    result.lines = match r.u64()? {
        0 => false,
        1 => true,
        _ => return None,
    };
    for _ in 0..r.u64()? {
        let p = r.blob()?;
        result
            .shadows
            .push(PathBuf::from(OsString::from_vec(p.to_vec())));
    }
    let mut relevant = Vec::new();
    for _ in 0..r.u64()? {
        relevant.push(r.blob()?);
    }
    let mut dirs = Vec::new();
    for _ in 0..r.u64()? {
        let path = r.blob()?;
        let stamp = match r.u64()? {
            0 => None,
            _ => Some(Stamp::read(&mut r)?),
        };
        let mut unlisted = Vec::new();
        for _ in 0..r.u64()? {
            unlisted.push(r.blob()?);
        }
        let consulted = match r.u64()? {
            0 => None,
            n => {
                let mut present = Vec::new();
                for _ in 1..n {
                    present.push(r.blob()?);
                }
                Some(present)
            }
        };
        dirs.push(KeptDir {
            path,
            stamp,
            unlisted,
            consulted,
        });
    }
    let mut paths = Vec::new();
    for _ in 0..r.u64()? {
        let p = bytes_in(&mut r, &table)?;
        paths.push((p, answer_in(&mut r, &result.files)?));
    }
    r.end()?;
    Some(Kept {
        began,
        result,
        relevant,
        dirs,
        paths,
    })
}

/// `stamps`: the files' stamps, by the index of a file read that had it.
fn answer_out(w: &mut Writer, a: &Answer, stamps: &FxMap<&Stamp, u64>) {
    match a {
        Answer::Name(Named::Missing) => w.u64(0),
        Answer::Name(Named::NotFile) => w.u64(1),
        Answer::Name(Named::File { stamp, plain }) => match stamps.get(stamp) {
            Some(&i) => {
                w.u64(9 + *plain as u64);
                w.u64(i);
            }
            None => {
                w.u64(2 + *plain as u64);
                stamp.write(w);
            }
        },
        Answer::Exists(k) => w.u64(4 + *k as u64),
        Answer::Id(None) => w.u64(7),
        Answer::Id(Some((dev, ino))) => {
            w.u64(8);
            w.u64(*dev);
            w.u64(*ino);
        }
    }
}

fn answer_in(r: &mut Reader, files: &[FileRead]) -> Option<Answer> {
    Some(match r.u64()? {
        0 => Answer::Name(Named::Missing),
        1 => Answer::Name(Named::NotFile),
        t @ (2 | 3) => Answer::Name(Named::File {
            stamp: Stamp::read(r)?,
            plain: t == 3,
        }),
        t @ (9 | 10) => Answer::Name(Named::File {
            stamp: files.get(usize::try_from(r.u64()?).ok()?)?.stamp?,
            plain: t == 10,
        }),
        4 => Answer::Exists(Kind::Missing),
        5 => Answer::Exists(Kind::Dir),
        6 => Answer::Exists(Kind::Other),
        7 => Answer::Id(None),
        8 => Answer::Id(Some((r.u64()?, r.u64()?))),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn stamp(n: u64) -> Stamp {
        Stamp {
            dev: 1,
            ino: n,
            size: 10 * n,
            mtime: 1_700_000_000 + n as i64,
            mtime_ns: 5,
            ctime: 1_700_000_000,
            ctime_ns: 7,
        }
    }

    /// A record with something in every field.
    fn kept_bytes() -> Vec<u8> {
        let result = ScanResult {
            files: vec![
                FileRead {
                    path: "u.c".into(),
                    digest: [3; 32],
                    size: 10,
                    stamp: Some(stamp(1)),
                    plain: true,
                },
                FileRead {
                    path: "/inc/h.h".into(),
                    digest: [4; 32],
                    size: 20,
                    stamp: None,
                    plain: false,
                },
            ],
            probes: vec![Probe {
                path: "/inc/none.h".into(),
                kind: ProbeKind::HasInclude,
                exists: false,
            }],
            notes: vec!["#error reached".into()],
            fatal: None,
            undecided: 2,
            shadows: vec!["/inc/x.h".into()],
            lines: true,
        };
        let mut a = Answers::default();
        a.dir(b"/inc", Some(stamp(9)));
        a.unlisted(b"/inc", b"gone.h");
        a.unlisted(b"/inc", b"away.h");
        a.unlisted(b"/inc", b"gone.h");
        a.relevant(vec![b"h.h".to_vec(), b"x.h".to_vec()]);
        a.consulted(b"/inc", vec![b"h.h".to_vec()]);
        a.path(
            b"/inc/h.h",
            Answer::Name(Named::File {
                stamp: stamp(2),
                plain: true,
            }),
        );
        a.path(b"/inc", Answer::Id(Some((1, 9))));
        // A file read's stamp, which the record names by the file.
        a.path(
            b"/src/u.c",
            Answer::Name(Named::File {
                stamp: stamp(1),
                plain: false,
            }),
        );
        let more = [(b"/opt".to_vec(), Answer::Exists(Kind::Missing))];
        let began = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_100, 42);
        encode(&result, &a, &more, began).unwrap()
    }

    #[test]
    fn a_record_reads_back_whole() {
        let raw = kept_bytes();
        let k = decode(&raw).unwrap();
        assert_eq!(
            k.began,
            SystemTime::UNIX_EPOCH + Duration::new(1_700_000_100, 42)
        );
        let files: Vec<&Path> = k.result.files.iter().map(|f| f.path.as_path()).collect();
        assert_eq!(files, [Path::new("u.c"), Path::new("/inc/h.h")]);
        assert_eq!(k.result.probes[0].path, Path::new("/inc/none.h"));
        assert_eq!(k.result.shadows, [Path::new("/inc/x.h")]);
        assert_eq!(k.result.files[0].stamp, Some(stamp(1)));
        assert_eq!(k.result.files[1].stamp, None);
        assert_eq!(k.result.probes[0].kind, ProbeKind::HasInclude);
        assert_eq!(k.result.notes, ["#error reached"]);
        assert_eq!(k.result.undecided, 2);
        assert!(k.result.lines);
        assert_eq!(k.relevant, [b"h.h".as_slice(), b"x.h"]);
        assert_eq!(k.dirs.len(), 1);
        let d = &k.dirs[0];
        assert_eq!((d.path, d.stamp), (b"/inc".as_slice(), Some(stamp(9))));
        assert_eq!(d.unlisted, [b"away.h".as_slice(), b"gone.h"]);
        assert_eq!(d.consulted.as_deref(), Some([b"h.h".as_slice()].as_slice()));
        let paths: Vec<&[u8]> = k.paths.iter().map(|(p, _)| p.as_slice()).collect();
        assert_eq!(
            paths,
            [b"/inc/h.h".as_slice(), b"/inc", b"/src/u.c", b"/opt"]
        );
        let file = |stamp, plain| Answer::Name(Named::File { stamp, plain });
        assert_eq!(k.paths[0].1, file(stamp(2), true));
        assert_eq!(k.paths[1].1, Answer::Id(Some((1, 9))));
        assert_eq!(k.paths[2].1, file(stamp(1), false));
        assert_eq!(k.paths[3].1, Answer::Exists(Kind::Missing));
    }

    #[test]
    fn a_cut_or_damaged_record_is_refused_without_a_panic() {
        let raw = kept_bytes();
        for n in 0..raw.len() {
            assert!(decode(&raw[..n]).is_none(), "cut at {n} read as whole");
        }
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0xa5;
            let _ = decode(&bad);
        }
    }

    #[test]
    fn a_scan_that_cannot_be_checked_is_not_kept() {
        let began = SystemTime::now();
        let mut a = Answers::default();
        a.spoil();
        assert!(encode(&ScanResult::default(), &a, &[], began).is_none());
        let fatal = ScanResult {
            fatal: Some("missing.h".into()),
            ..ScanResult::default()
        };
        assert!(encode(&fatal, &Answers::default(), &[], began).is_none());
    }
}
