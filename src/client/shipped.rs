//! A file an exact-mode job ships, under the name the server gives it,
//! and its body: bytes read already, or only the digest the include
//! scanner has for the file's unchanged stamp. A warm job names its files
//! by those digests without reading them (`hashed`); a body is read only
//! when a server lacks it, and is then checked against the digest that
//! was announced: a file changed since it was listed is never sent under
//! a digest that is not its own (`Stale`, and the job lists again).

use std::borrow::Cow;
use std::cell::Cell;
use std::ffi::OsString;
use std::fmt;
use std::path::Path;

use crate::protocol::hashed::{self, Digest, Entry};
use crate::protocol::{FileBody, NamedFile};

/// What is known of a shipped file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Read when it was listed.
    Read(Vec<u8>),
    /// Not read: the scanner's digest for the stamp the file still had
    /// when it was listed.
    Known(Digest),
    /// A symlink and its target.
    Link(OsString),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipped {
    /// The absolute name, as the server recreates it and as it is read.
    pub name: OsString,
    pub body: Body,
}

/// A file whose bytes are no longer the ones it was listed with (changed,
/// removed or unreadable since): nothing of it may be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale(pub String);

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} changed since it was listed", self.0)
    }
}

impl std::error::Error for Stale {}

thread_local! {
    /// File bodies read on this thread, listing or sending: what a warm
    /// job should not need (the tests' seam).
    static BODY_READS: Cell<u64> = const { Cell::new(0) };
}

/// File bodies read on this thread so far.
pub fn body_reads() -> u64 {
    BODY_READS.with(Cell::get)
}

/// Reads a file's body, counted.
pub fn read_body(path: &Path) -> std::io::Result<Vec<u8>> {
    BODY_READS.with(|n| n.set(n.get() + 1));
    std::fs::read(path)
}

impl Shipped {
    /// The file's manifest entry: its digest (hashed only if it was read
    /// when listed) or its link target. Reads nothing.
    pub fn entry(&self) -> Entry {
        match &self.body {
            Body::Read(data) => Entry::Hashed(hashed::digest(data)),
            Body::Known(d) => Entry::Hashed(*d),
            Body::Link(t) => Entry::Link(t.clone()),
        }
    }

    /// The bytes to send for a file (`None` for a link): a `Known` file is
    /// read now, and must still have its digest.
    pub fn bytes(&self) -> Result<Option<Cow<'_, [u8]>>, Stale> {
        match &self.body {
            Body::Read(data) => Ok(Some(Cow::Borrowed(data))),
            Body::Link(_) => Ok(None),
            Body::Known(d) => {
                let path = Path::new(&self.name);
                let stale = || Stale(path.display().to_string());
                let data = read_body(path).map_err(|_| stale())?;
                if hashed::digest(&data) != *d {
                    return Err(stale());
                }
                Ok(Some(Cow::Owned(data)))
            }
        }
    }

    /// As protocol 3 carries it: with its bytes, read and checked now.
    pub fn named(&self) -> Result<NamedFile, Stale> {
        let body = match self.bytes()? {
            Some(data) => FileBody::File(data.into_owned()),
            None => match &self.body {
                Body::Link(t) => FileBody::Link(t.clone()),
                _ => unreachable!("only a link has no bytes"),
            },
        };
        Ok(NamedFile {
            name: self.name.clone(),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(path: &Path, data: &[u8]) -> Shipped {
        Shipped {
            name: path.as_os_str().to_os_string(),
            body: Body::Known(hashed::digest(data)),
        }
    }

    #[test]
    fn entries_read_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let f = known(&tmp.path().join("absent.h"), b"int x;\n");
        let before = body_reads();
        assert_eq!(f.entry(), Entry::Hashed(hashed::digest(b"int x;\n")));
        assert_eq!(body_reads(), before);
    }

    #[test]
    fn a_known_body_is_read_and_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("h.h");
        std::fs::write(&p, "int x;\n").unwrap();
        let f = known(&p, b"int x;\n");
        assert_eq!(f.bytes().unwrap().as_deref(), Some(&b"int x;\n"[..]));
        // Changed since it was listed, even to the same size: never sent
        // under the old digest.
        std::fs::write(&p, "int y;\n").unwrap();
        assert!(f.bytes().is_err());
        assert!(f.named().is_err());
        std::fs::remove_file(&p).unwrap();
        assert!(f.bytes().is_err(), "removed since");
    }
}
