//! Protocol 3's list of files, what a client sends after the head: `NFIL`,
//! then for each file its `NAME` and a `FILE` body or a `LINK` target.
//! [`FileList`] reads it one file at a time and passes each body on as it
//! arrives, so a server holds none of them in memory; [`read_files`]
//! collects them. Either way names, targets and inflated bodies together
//! stay within `max_body`.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;

use super::codec::{copy_body, write_body, Codec};
use super::error::{Result, WireError};
use super::limits::Limits;
use super::packet::{
    len_u32, parse_hex, read_full, read_header, read_string, write_header, write_raw,
};
use super::token::{Token, FILE, HEADER_LEN, LINK, NAME, NFIL};

/// One file of a protocol-3 request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileBody {
    File(Vec<u8>),
    Link(OsString),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFile {
    pub name: OsString,
    pub body: FileBody,
}

pub fn write_files<W: Write>(w: &mut W, codec: Codec, files: &[NamedFile]) -> io::Result<()> {
    write_header(w, NFIL, len_u32(files.len())?)?;
    for f in files {
        write_raw(w, NAME, f.name.as_bytes())?;
        match &f.body {
            FileBody::File(data) => write_body(w, FILE, codec, data)?,
            FileBody::Link(target) => write_raw(w, LINK, target.as_bytes())?,
        }
    }
    Ok(())
}

/// Reads `NFIL`, the number of files that follow, within the limit.
pub fn read_file_count<R: Read>(r: &mut R, limits: &Limits) -> Result<u32> {
    let n = read_header(r, NFIL)?;
    if n > limits.max_files {
        return Err(WireError::TooLarge {
            token: *NFIL,
            len: n as u64,
            limit: limits.max_files as u64,
        });
    }
    Ok(n)
}

/// What the next file of a list is, once its name is read.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A body of `len` bytes on the wire follows: take it with
    /// [`FileList::body_to`], or it is skipped.
    File {
        len: u32,
    },
    Link(OsString),
}

/// A protocol-3 file list being read.
pub struct FileList<'r, R> {
    r: &'r mut R,
    codec: Codec,
    limits: Limits,
    left: u32,
    /// Names, targets and bodies so far, bodies counted inflated.
    total: u64,
    /// The wire length of a body announced and not yet taken.
    pending: Option<u32>,
}

impl<'r, R: Read> FileList<'r, R> {
    /// Reads `NFIL`; the files follow.
    pub fn new(r: &'r mut R, codec: Codec, limits: &Limits) -> Result<Self> {
        let left = read_file_count(r, limits)?;
        Ok(FileList {
            r,
            codec,
            limits: *limits,
            left,
            total: 0,
            pending: None,
        })
    }

    /// The next file's name and what follows it; `None` after the last.
    pub fn next_file(&mut self) -> Result<Option<(OsString, Incoming)>> {
        if let Some(len) = self.pending {
            self.body_to(len, &mut io::sink())?;
        }
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let name = read_string(self.r, NAME, self.limits.max_path)?;
        self.count(name.len() as u64, NAME)?;
        let mut h = [0u8; HEADER_LEN];
        read_full(self.r, &mut h, FILE, false)?;
        let token: Token = h[..4].try_into().expect("four bytes");
        let value = parse_hex(&token, h[4..].try_into().expect("eight bytes"))?;
        let incoming = match &token {
            FILE => {
                if value as u64 > self.limits.max_body - self.total {
                    return Err(self.too_large(self.total + value as u64, FILE));
                }
                self.pending = Some(value);
                Incoming::File { len: value }
            }
            LINK => {
                // Re-feed the header to the typed reader.
                let mut chained = io::Cursor::new(h).chain(&mut *self.r);
                let target = read_string(&mut chained, LINK, self.limits.max_path)?;
                self.count(target.len() as u64, LINK)?;
                Incoming::Link(target)
            }
            _ => {
                return Err(WireError::BadToken {
                    expected: *FILE,
                    got: token,
                })
            }
        };
        Ok(Some((name, incoming)))
    }

    /// Writes the pending body, inflated, to `w`; returns its size.
    pub fn body_to<W: Write>(&mut self, len: u32, w: &mut W) -> Result<u64> {
        debug_assert_eq!(self.pending, Some(len));
        self.pending = None;
        let room = self.limits.max_body - self.total;
        let written = copy_body(self.r, FILE, self.codec, len as u64, room, w)?;
        // Each body may use what the files before it left of `max_body`,
        // counted inflated: a list of small bodies that each grow 255
        // times must not add up to more than one large body could.
        self.count(written.max(len as u64), FILE)?;
        Ok(written)
    }

    fn count(&mut self, n: u64, token: &Token) -> Result<()> {
        self.total += n;
        if self.total > self.limits.max_body {
            return Err(self.too_large(self.total, token));
        }
        Ok(())
    }

    fn too_large(&self, len: u64, token: &Token) -> WireError {
        WireError::TooLarge {
            token: *token,
            len,
            limit: self.limits.max_body,
        }
    }
}

/// Reads a whole file list into memory.
pub fn read_files<R: Read>(r: &mut R, codec: Codec, limits: &Limits) -> Result<Vec<NamedFile>> {
    let mut list = FileList::new(r, codec, limits)?;
    let mut files = Vec::with_capacity((list.left as usize).min(1024));
    while let Some((name, incoming)) = list.next_file()? {
        let body = match incoming {
            Incoming::File { len } => {
                let mut data = Vec::with_capacity((len as usize).min(1 << 20));
                list.body_to(len, &mut data)?;
                FileBody::File(data)
            }
            Incoming::Link(target) => FileBody::Link(target),
        };
        files.push(NamedFile { name, body });
    }
    Ok(files)
}
