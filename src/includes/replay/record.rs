//! The byte form of a kept scan: the scan's result, when it began, and
//! every answer it rested on, as `encode` writes them and `decode` reads
//! them back for `check`. Nothing read here is trusted: a damaged or
//! hostile record decodes to None, never to a panic.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::{Answer, Answers, Kind, Named, MAGIC};
use crate::includes::codec::{Reader, Writer};
use crate::includes::stamp::Stamp;
use crate::includes::unit::{FileRead, Probe, ProbeKind, ScanResult};

/// Larger kept scans are not read back (a bound against a damaged or
/// hostile cache; a big C++ unit's is some 100 KiB).
const MAX_BYTES: usize = 16 << 20;

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
    } = r;
    let dependency = probes.iter().any(|p| p.kind == ProbeKind::Dependency);
    if !answers.keepable || fatal.is_some() || dependency {
        return None;
    }
    let mut w = Writer::new(MAGIC);
    let began = began.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    w.u64(began.as_secs());
    w.u64(began.subsec_nanos() as u64);
    w.u64(files.len() as u64);
    for f in files {
        w.blob(f.path.as_os_str().as_bytes());
        w.bytes(&f.digest);
        w.u64(f.size);
        // A file read too recently to be sure of has none: a replay
        // checks it by content.
        match &f.stamp {
            Some(st) => {
                w.u64(1);
                stamp_out(&mut w, st);
            }
            None => w.u64(0),
        }
        w.u64(f.plain as u64);
    }
    w.u64(probes.len() as u64);
    for p in probes {
        w.blob(p.path.as_os_str().as_bytes());
        w.u64(kind_code(p.kind));
        w.u64(p.exists as u64);
    }
    w.u64(notes.len() as u64);
    for n in notes {
        w.blob(n.as_bytes());
    }
    w.u64(*undecided as u64);
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
                stamp_out(&mut w, st);
            }
            None => w.u64(0),
        }
        w.u64(seen.unlisted.len() as u64);
        for n in &seen.unlisted {
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
    let paths = answers.paths.iter().chain(more);
    w.u64(paths.clone().count() as u64);
    for (p, a) in paths {
        w.blob(p);
        answer_out(&mut w, a);
    }
    Some(crate::zstd::compress(&w.finish()))
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
    pub paths: Vec<(&'a [u8], Answer)>,
}

/// A dir as the scan took it (`DirSeen`).
pub(super) struct KeptDir<'a> {
    pub path: &'a [u8],
    pub stamp: Option<Stamp>,
    pub unlisted: Vec<&'a [u8]>,
    pub consulted: Option<Vec<&'a [u8]>>,
}

/// The bytes `encode` gave, unpacked (within the bound).
pub(super) fn unpack(bytes: &[u8]) -> Option<Vec<u8>> {
    crate::zstd::decompress(bytes, MAX_BYTES).ok()
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
    let mut result = ScanResult::default();
    for _ in 0..r.u64()? {
        let path = path_in(&mut r)?;
        let digest: [u8; 32] = r.bytes(32)?.try_into().ok()?;
        let size = r.u64()?;
        let stamp = match r.u64()? {
            0 => None,
            _ => Some(stamp_in(&mut r)?),
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
        let path = path_in(&mut r)?;
        let kind = kind_of(r.u64()?)?;
        let exists = r.u64()? != 0;
        result.probes.push(Probe { path, kind, exists });
    }
    for _ in 0..r.u64()? {
        result
            .notes
            .push(String::from_utf8(r.blob()?.to_vec()).ok()?);
    }
    result.undecided = u32::try_from(r.u64()?).ok()?;
    for _ in 0..r.u64()? {
        result.shadows.push(path_in(&mut r)?);
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
            _ => Some(stamp_in(&mut r)?),
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
        let p = r.blob()?;
        paths.push((p, answer_in(&mut r)?));
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

fn path_in(r: &mut Reader) -> Option<PathBuf> {
    Some(PathBuf::from(OsString::from_vec(r.blob()?.to_vec())))
}

fn stamp_out(w: &mut Writer, s: &Stamp) {
    for v in [s.dev, s.ino, s.size] {
        w.u64(v);
    }
    for v in [s.mtime, s.mtime_ns, s.ctime, s.ctime_ns] {
        w.u64(v as u64);
    }
}

fn stamp_in(r: &mut Reader) -> Option<Stamp> {
    Some(Stamp {
        dev: r.u64()?,
        ino: r.u64()?,
        size: r.u64()?,
        mtime: r.u64()? as i64,
        mtime_ns: r.u64()? as i64,
        ctime: r.u64()? as i64,
        ctime_ns: r.u64()? as i64,
    })
}

fn answer_out(w: &mut Writer, a: &Answer) {
    match a {
        Answer::Name(Named::Missing) => w.u64(0),
        Answer::Name(Named::NotFile) => w.u64(1),
        Answer::Name(Named::File { stamp, plain }) => {
            w.u64(2 + *plain as u64);
            stamp_out(w, stamp);
        }
        Answer::Exists(k) => w.u64(4 + *k as u64),
        Answer::Id(None) => w.u64(7),
        Answer::Id(Some((dev, ino))) => {
            w.u64(8);
            w.u64(*dev);
            w.u64(*ino);
        }
    }
}

fn answer_in(r: &mut Reader) -> Option<Answer> {
    Some(match r.u64()? {
        0 => Answer::Name(Named::Missing),
        1 => Answer::Name(Named::NotFile),
        t @ (2 | 3) => Answer::Name(Named::File {
            stamp: stamp_in(r)?,
            plain: t == 3,
        }),
        4 => Answer::Exists(Kind::Missing),
        5 => Answer::Exists(Kind::Dir),
        6 => Answer::Exists(Kind::Other),
        7 => Answer::Id(None),
        8 => Answer::Id(Some((r.u64()?, r.u64()?))),
        _ => return None,
    })
}

fn kind_code(k: ProbeKind) -> u64 {
    match k {
        ProbeKind::Dir => 0,
        ProbeKind::Candidate => 1,
        ProbeKind::HasInclude => 2,
        ProbeKind::Dependency => 3,
        ProbeKind::Skipped => 4,
    }
}

fn kind_of(c: u64) -> Option<ProbeKind> {
    Some(match c {
        0 => ProbeKind::Dir,
        1 => ProbeKind::Candidate,
        2 => ProbeKind::HasInclude,
        3 => ProbeKind::Dependency,
        4 => ProbeKind::Skipped,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        };
        let mut a = Answers::default();
        a.dir(b"/inc", Some(stamp(9)));
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
        let more = [(b"/opt".to_vec(), Answer::Exists(Kind::Missing))];
        let began = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_100, 42);
        unpack(&encode(&result, &a, &more, began).unwrap()).unwrap()
    }

    #[test]
    fn a_record_reads_back_whole() {
        let raw = kept_bytes();
        let k = decode(&raw).unwrap();
        assert_eq!(
            k.began,
            SystemTime::UNIX_EPOCH + Duration::new(1_700_000_100, 42)
        );
        assert_eq!(k.result.files.len(), 2);
        assert_eq!(k.result.files[0].stamp, Some(stamp(1)));
        assert_eq!(k.result.files[1].stamp, None);
        assert_eq!(k.result.probes[0].kind, ProbeKind::HasInclude);
        assert_eq!(k.result.notes, ["#error reached"]);
        assert_eq!(k.result.undecided, 2);
        assert_eq!(k.relevant, [b"h.h".as_slice(), b"x.h"]);
        assert_eq!(k.dirs.len(), 1);
        let d = &k.dirs[0];
        assert_eq!((d.path, d.stamp), (b"/inc".as_slice(), Some(stamp(9))));
        assert_eq!(d.unlisted, [b"gone.h".as_slice()]);
        assert_eq!(d.consulted.as_deref(), Some([b"h.h".as_slice()].as_slice()));
        let paths: Vec<&[u8]> = k.paths.iter().map(|(p, _)| *p).collect();
        assert_eq!(paths, [b"/inc/h.h".as_slice(), b"/inc", b"/opt"]);
        assert_eq!(k.paths[2].1, Answer::Exists(Kind::Missing));
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
        assert!(unpack(b"not zstd").is_none());
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
