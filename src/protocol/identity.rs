//! Our hashed request's assertions about the compile's environment, so a
//! daemon never compiles with another compiler or other system headers
//! than the client's: optional tokens between the head and `NFIL`, and one
//! optional exchange before `NEED`. Spoken only inside our hashed
//! extension (`hashed`); distcc 3.4's protocols are untouched.
//!
//! ```text
//! client: DIST 00000103 CDIR ARGC ARGV...
//!         [CCID len <compiler identity>]     (identity::Identity::to_wire)
//!         [SYSD 00000020 <32 bytes>]         SHA-256 of the SYSL below
//!         NFIL ...                            (as `hashed`)
//! daemon: [SYSQ 00000000]                     only after SYSD, when it does
//!                                             not know that list yet
//!         NEED ...
//! client: [SYSL n, n x (NAME path, HASH 00000020 <32> | ABSN 00000000)]
//!                                             only after SYSQ, sorted by path
//!         FILE ...                            (as `hashed`)
//! ```
//!
//! The list travels once per daemon and list: a warm daemon sees 44 bytes
//! for it (the digest), plus the identity's ~80. A daemon that cannot
//! verify (no `SYSD`, no `CCID`) compiles as before.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;

use super::error::{Result, WireError};
use super::limits::Limits;
use super::packet::{
    header, next_header, read_digest, read_header, read_raw, read_string, write_header, write_raw,
};
use super::token::{Token, HEADER_LEN, NAME, NFIL};

pub const CCID: &Token = b"CCID";
pub const SYSD: &Token = b"SYSD";
pub const SYSQ: &Token = b"SYSQ";
pub const SYSL: &Token = b"SYSL";
pub const ABSN: &Token = b"ABSN";
const HASH: &Token = b"HASH";

/// Longest identity a reader accepts (the identity's own format is
/// shorter; its module checks it).
pub const MAX_IDENTITY: u32 = 512;

/// Largest system list a reader accepts, encoded: a unit that reads 2,000
/// system headers has a list of about 200 KB.
pub const MAX_LIST: u64 = 4 << 20;

pub type Digest = [u8; 32];

/// What a client asserts about its compile's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assertions {
    /// The compiler's identity in its wire form.
    pub identity: Option<Vec<u8>>,
    /// The digest of the system-file list (`list_bytes`).
    pub system: Option<Digest>,
}

/// One system file as the client's compiler found it: its digest, or
/// `None` where it looked and found nothing.
pub type SystemFile = (OsString, Option<Digest>);

pub fn write_assertions<W: Write>(w: &mut W, a: &Assertions) -> io::Result<()> {
    if let Some(id) = &a.identity {
        write_raw(w, CCID, id)?;
    }
    if let Some(d) = &a.system {
        write_raw(w, SYSD, d)?;
    }
    Ok(())
}

/// Reads the assertions, if any, up to and including the header of `NFIL`,
/// which it returns for the manifest's reader to chain in front of the rest.
pub fn read_assertions<R: Read>(r: &mut R) -> Result<(Assertions, [u8; HEADER_LEN])> {
    let mut a = Assertions::default();
    loop {
        let h = next_header(r, NFIL)?;
        let token: Token = h[..4].try_into().expect("four bytes");
        let mut chained = io::Cursor::new(h).chain(&mut *r);
        match &token {
            CCID if a.identity.is_none() && a.system.is_none() => {
                let len = read_header(&mut chained, CCID)?;
                if len > MAX_IDENTITY {
                    return Err(WireError::TooLarge {
                        token: *CCID,
                        len: len as u64,
                        limit: MAX_IDENTITY as u64,
                    });
                }
                a.identity = Some(read_raw(&mut chained, CCID, len as usize)?);
            }
            SYSD if a.system.is_none() => a.system = Some(read_digest(&mut chained, SYSD)?),
            _ => return Ok((a, h)),
        }
    }
}

/// The daemon asks for the list whose digest it does not know.
pub fn write_list_request<W: Write + ?Sized>(w: &mut W) -> io::Result<()> {
    w.write_all(&header(SYSQ, 0))
}

/// The list as it goes on the wire; its SHA-256 is what `SYSD` carries.
/// `files` must be sorted by path, so one list has one digest.
pub fn list_bytes(files: &[SystemFile]) -> io::Result<Vec<u8>> {
    let n = u32::try_from(files.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many files"))?;
    let mut buf = Vec::with_capacity(16 + files.len() * 100);
    write_header(&mut buf, SYSL, n)?;
    for (path, digest) in files {
        write_raw(&mut buf, NAME, path.as_bytes())?;
        match digest {
            Some(d) => write_raw(&mut buf, HASH, d)?,
            None => write_header(&mut buf, ABSN, 0)?,
        }
    }
    Ok(buf)
}

pub fn digest_of(list: &[u8]) -> Digest {
    use sha2::{Digest as _, Sha256};
    Sha256::digest(list).into()
}

/// Reads a list sent after `SYSQ` and checks it against the `SYSD` digest
/// (re-encoded, so any well-formed list has exactly one encoding).
pub fn read_list<R: Read>(
    r: &mut R,
    limits: &Limits,
    expected: &Digest,
) -> Result<Vec<SystemFile>> {
    let n = read_header(r, SYSL)?;
    if n > limits.max_files {
        return Err(WireError::TooLarge {
            token: *SYSL,
            len: n as u64,
            limit: limits.max_files as u64,
        });
    }
    let mut files = Vec::with_capacity((n as usize).min(1024));
    let mut total: u64 = 0;
    for _ in 0..n {
        let name = read_string(r, NAME, limits.max_path)?;
        total += 2 * HEADER_LEN as u64 + 32 + name.len() as u64;
        if total > MAX_LIST {
            return Err(WireError::TooLarge {
                token: *SYSL,
                len: total,
                limit: MAX_LIST,
            });
        }
        let h = next_header(r, HASH)?;
        let mut chained = io::Cursor::new(h).chain(&mut *r);
        let digest = match &h[..4] {
            b"ABSN" => {
                read_header(&mut chained, ABSN)?;
                None
            }
            _ => Some(read_digest(&mut chained, HASH)?),
        };
        files.push((name, digest));
    }
    let sorted = files.windows(2).all(|w| w[0].0 < w[1].0);
    let bytes = list_bytes(&files)?;
    if !sorted || digest_of(&bytes) != *expected {
        return Err(WireError::BadValue {
            token: *SYSL,
            why: "the list does not match its digest".into(),
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::hashed::{read_manifest, write_manifest, Entry, HashedFile};

    fn list() -> Vec<SystemFile> {
        vec![
            ("/usr/include/missing.h".into(), None),
            ("/usr/include/stdio.h".into(), Some([7; 32])),
        ]
    }

    #[test]
    fn assertions_then_the_manifest() {
        let files = vec![HashedFile {
            name: "/p/x.c".into(),
            entry: Entry::Hashed([1; 32]),
        }];
        let bytes = list_bytes(&list()).unwrap();
        for a in [
            Assertions::default(),
            Assertions {
                identity: Some(b"id".to_vec()),
                system: Some(digest_of(&bytes)),
            },
            Assertions {
                identity: None,
                system: Some([3; 32]),
            },
        ] {
            let mut buf = Vec::new();
            write_assertions(&mut buf, &a).unwrap();
            write_manifest(&mut buf, &files).unwrap();
            let mut r = &buf[..];
            let (got, next) = read_assertions(&mut r).unwrap();
            assert_eq!(got, a);
            let mut chained = io::Cursor::new(next).chain(r);
            assert_eq!(
                read_manifest(&mut chained, &Limits::default()).unwrap(),
                files
            );
        }
    }

    #[test]
    fn a_list_must_match_its_digest_and_order() {
        let bytes = list_bytes(&list()).unwrap();
        let d = digest_of(&bytes);
        let limits = Limits::default();
        assert_eq!(read_list(&mut &bytes[..], &limits, &d).unwrap(), list());
        assert!(read_list(&mut &bytes[..], &limits, &[0; 32]).is_err());
        let mut unsorted = list();
        unsorted.reverse();
        let bytes = list_bytes(&unsorted).unwrap();
        assert!(read_list(&mut &bytes[..], &limits, &digest_of(&bytes)).is_err());
    }

    #[test]
    fn oversized_or_repeated_assertions_are_refused() {
        let mut buf = Vec::new();
        write_header(&mut buf, CCID, MAX_IDENTITY + 1).unwrap();
        assert!(read_assertions(&mut &buf[..]).is_err());
        let mut buf = Vec::new();
        write_raw(&mut buf, SYSD, &[0; 31]).unwrap();
        assert!(read_assertions(&mut &buf[..]).is_err());
        // A second CCID is not an assertion: it goes to the manifest's
        // reader, which refuses it.
        let mut buf = Vec::new();
        write_raw(&mut buf, CCID, b"a").unwrap();
        write_raw(&mut buf, CCID, b"b").unwrap();
        let (_, next) = read_assertions(&mut &buf[..]).unwrap();
        assert_eq!(&next[..4], CCID);

        let long = "/x".repeat(2000);
        let files: Vec<SystemFile> = (0..1100)
            .map(|i| (format!("{long}{i:05}").into(), None))
            .collect();
        let bytes = list_bytes(&files).unwrap();
        let err = read_list(&mut &bytes[..], &Limits::default(), &digest_of(&bytes));
        assert!(matches!(err, Err(WireError::TooLarge { .. })), "{err:?}");
    }
}
