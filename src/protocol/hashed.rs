//! Our extension of protocol 3 for exact mode, spoken only between our own
//! client and daemon: the client sends each file's SHA-256 instead of its
//! body, the daemon answers with the files its content store lacks, and
//! only those bodies cross the network. System and project headers then
//! travel once per daemon instead of once per job.
//!
//! ```text
//! client: DIST 00000103 (LZO) or 00000113 (zstd)  CDIR  ARGC  ARGV...  NFIL n
//!         n x ( NAME path, then LINK target | HASH 00000020 <32 bytes>
//!                                            | SHDW 00000000 )
//! daemon: NEED k, then k x INDX i        (indices of HASH entries it lacks)
//! client: k x FILE body                  (in the order asked)
//! daemon: DONE 00000003 STAT SERR SOUT DOTO DOTD   (as protocol 3, in the
//!                                                    request's codec)
//! ```
//!
//! The reference daemon closes the connection on version 0x103, which the
//! client takes as "speak plain protocol 3 to this host".
//!
//! A shadow (`SHDW`, only under `Dist::SHADOWED`) is a name that exists on
//! the client and that the compile is not expected to read: the daemon
//! puts an empty file there, so a search that reaches it stops there as
//! on the client, and the file read shows in the list of files read.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;

use super::codec::{copy_body, write_body, Codec};
use super::error::{Result, WireError};
use super::files::read_file_count;
use super::limits::Limits;
use super::packet::{
    next_header, read_digest, read_header, read_len, read_string, write_header, write_raw,
};
use super::token::{Token, FILE, LINK, NAME, NFIL};
use super::version::Dist;

/// The `DIST` values of the extension, with LZO and zstd bodies.
pub const VERSION: u32 = Dist::HASHED;
pub const VERSION_ZSTD: u32 = Dist::HASHED_ZSTD;

pub const HASH: &Token = b"HASH";
pub const NEED: &Token = b"NEED";
pub const INDX: &Token = b"INDX";
pub const SHDW: &Token = b"SHDW";

pub type Digest = [u8; 32];

pub fn digest(data: &[u8]) -> Digest {
    use sha2::{Digest as _, Sha256};
    Sha256::digest(data).into()
}

/// A writer that passes bytes on and digests them as they go, so a body is
/// checked without being held.
pub struct Digesting<W> {
    inner: W,
    hasher: sha2::Sha256,
}

impl<W: Write> Digesting<W> {
    pub fn new(inner: W) -> Digesting<W> {
        use sha2::Digest as _;
        Digesting {
            inner,
            hasher: sha2::Sha256::new(),
        }
    }

    /// The writer back, and the digest of everything written.
    pub fn finish(self) -> (W, Digest) {
        use sha2::Digest as _;
        (self.inner, self.hasher.finalize().into())
    }
}

impl<W: Write> Write for Digesting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use sha2::Digest as _;
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// One file of an extended request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Hashed(Digest),
    Link(OsString),
    /// Something is there on the client; no body (`SHDW`).
    Shadow,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedFile {
    pub name: OsString,
    pub entry: Entry,
}

pub fn write_manifest<W: Write>(w: &mut W, files: &[HashedFile]) -> io::Result<()> {
    let n = u32::try_from(files.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many files"))?;
    write_header(w, NFIL, n)?;
    for f in files {
        write_raw(w, NAME, f.name.as_bytes())?;
        match &f.entry {
            Entry::Hashed(d) => write_raw(w, HASH, d)?,
            Entry::Link(t) => write_raw(w, LINK, t.as_bytes())?,
            Entry::Shadow => write_header(w, SHDW, 0)?,
        }
    }
    Ok(())
}

pub fn read_manifest<R: Read>(r: &mut R, limits: &Limits) -> Result<Vec<HashedFile>> {
    let n = read_file_count(r, limits)?;
    let mut files = Vec::with_capacity((n as usize).min(1024));
    for _ in 0..n {
        let name = read_string(r, NAME, limits.max_path)?;
        let h = next_header(r, HASH)?;
        let token: Token = h[..4].try_into().expect("four bytes");
        let mut chained = io::Cursor::new(h).chain(&mut *r);
        let entry = match &token {
            HASH => Entry::Hashed(read_digest(&mut chained, HASH)?),
            LINK => Entry::Link(read_string(&mut chained, LINK, limits.max_path)?),
            SHDW => match read_header(&mut chained, SHDW)? {
                0 => Entry::Shadow,
                n => {
                    return Err(WireError::BadValue {
                        token: *SHDW,
                        why: format!("a shadow has no body, not {n} bytes"),
                    })
                }
            },
            _ => {
                return Err(WireError::BadToken {
                    expected: *HASH,
                    got: token,
                })
            }
        };
        files.push(HashedFile { name, entry });
    }
    Ok(files)
}

pub fn write_need<W: Write + ?Sized>(w: &mut W, missing: &[u32]) -> io::Result<()> {
    let n = u32::try_from(missing.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many"))?;
    let mut buf = Vec::with_capacity(12 * (missing.len() + 1));
    write_header(&mut buf, NEED, n)?;
    for &i in missing {
        write_header(&mut buf, INDX, i)?;
    }
    w.write_all(&buf)
}

/// Reads the daemon's list of missing files; each index must name a
/// hashed entry of the manifest, once, in increasing order.
pub fn read_need<R: Read>(r: &mut R, files: &[HashedFile]) -> Result<Vec<u32>> {
    let n = read_header(r, NEED)?;
    if n as usize > files.len() {
        return Err(WireError::TooLarge {
            token: *NEED,
            len: n as u64,
            limit: files.len() as u64,
        });
    }
    let mut out: Vec<u32> = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let i = read_header(r, INDX)?;
        let valid = files
            .get(i as usize)
            .is_some_and(|f| matches!(f.entry, Entry::Hashed(_)))
            && out.last().is_none_or(|&last| i > last);
        if !valid {
            return Err(WireError::BadValue {
                token: *INDX,
                why: format!("index {i} is not a hashed file in order"),
            });
        }
        out.push(i);
    }
    Ok(out)
}

/// The bodies asked for, in the order asked, compressed by the
/// connection's codec.
pub fn write_bodies<W: Write>(w: &mut W, codec: Codec, bodies: &[&[u8]]) -> io::Result<()> {
    for b in bodies {
        write_body(w, FILE, codec, b)?;
    }
    Ok(())
}

/// Reads one asked-for body into `w`, inflated to at most `limit` bytes;
/// returns its size.
pub fn read_file_body_to<R: Read, W: Write>(
    r: &mut R,
    codec: Codec,
    limit: u64,
    w: &mut W,
) -> Result<u64> {
    let len = read_len(r, FILE, limit)? as u64;
    copy_body(r, FILE, codec, len, limit, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip() {
        let files = vec![
            HashedFile {
                name: "/p/x.c".into(),
                entry: Entry::Hashed(digest(b"int x;\n")),
            },
            HashedFile {
                name: "/p/inc".into(),
                entry: Entry::Link("real".into()),
            },
            HashedFile {
                name: "/p/src/common.h".into(),
                entry: Entry::Shadow,
            },
        ];
        let mut buf = Vec::new();
        write_manifest(&mut buf, &files).unwrap();
        assert_eq!(
            read_manifest(&mut &buf[..], &Limits::default()).unwrap(),
            files
        );

        let mut need = Vec::new();
        write_need(&mut need, &[0]).unwrap();
        assert_eq!(read_need(&mut &need[..], &files).unwrap(), vec![0]);
        let mut bad = Vec::new();
        write_need(&mut bad, &[1]).unwrap();
        assert!(
            read_need(&mut &bad[..], &files).is_err(),
            "a link has no body"
        );
        let mut shadow = Vec::new();
        write_need(&mut shadow, &[2]).unwrap();
        assert!(
            read_need(&mut &shadow[..], &files).is_err(),
            "nor has a shadow"
        );
    }

    #[test]
    fn digesting_a_stream_is_digesting_its_bytes() {
        let mut w = Digesting::new(Vec::new());
        w.write_all(b"ab").unwrap();
        w.write_all(b"c").unwrap();
        let (bytes, d) = w.finish();
        assert_eq!((bytes, d), (b"abc".to_vec(), digest(b"abc")));
    }

    #[test]
    fn digest_is_sha256() {
        assert_eq!(
            hex(&digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
