//! A file's stamp: what identifies its content without reading it
//! (device, inode, size, change times to the nanosecond). The scanner's
//! file view and its cross-process store both key on it.

use std::os::unix::fs::MetadataExt;

use super::codec::{Reader, Writer};

/// What identifies a file's content without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: i64,
    pub mtime_ns: i64,
    pub ctime: i64,
    pub ctime_ns: i64,
}

impl Stamp {
    pub fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: m.mtime(),
            mtime_ns: m.mtime_nsec(),
            ctime: m.ctime(),
            ctime_ns: m.ctime_nsec(),
        }
    }

    /// Its byte form (`codec`), in kept scans and the scan agent's answers.
    pub fn write(&self, w: &mut Writer) {
        for v in [self.dev, self.ino, self.size] {
            w.u64(v);
        }
        for v in [self.mtime, self.mtime_ns, self.ctime, self.ctime_ns] {
            w.u64(v as u64);
        }
    }

    pub fn read(r: &mut Reader) -> Option<Stamp> {
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
}
