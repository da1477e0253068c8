//! One cached result on disk: the reply a compile produced (status,
//! stderr, stdout, every returned file by kind), framed and checksummed so
//! a torn or damaged file reads as absent, never as a result.
//!
//! ```text
//! "distccd-result 1\n"  status u32  stderr (u64 len, bytes)  stdout (...)
//! count u32, then count x (kind u8, u64 len, bytes)
//! SHA-256 of everything above
//! ```
//! Integers are little-endian. The whole file is read at once: entries are
//! a compile's outputs, which a reply holds in memory anyway.

use crate::protocol::hashed::digest;
use crate::protocol::{Output, OutputKind, Reply};

const MAGIC: &[u8] = b"distccd-result 1\n";

fn kind_tag(kind: OutputKind) -> u8 {
    match kind {
        OutputKind::Object => 0,
        OutputKind::Deps => 1,
        OutputKind::SplitDwarf => 2,
        OutputKind::Reads => 3,
    }
}

fn tag_kind(tag: u8) -> Option<OutputKind> {
    match tag {
        0 => Some(OutputKind::Object),
        1 => Some(OutputKind::Deps),
        2 => Some(OutputKind::SplitDwarf),
        3 => Some(OutputKind::Reads),
        _ => None,
    }
}

fn put_blob(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// The bytes of an entry holding `reply`.
pub fn encode(reply: &Reply) -> Vec<u8> {
    let size: usize = reply.stderr.len()
        + reply.stdout.len()
        + reply
            .outputs
            .iter()
            .map(|o| o.body.len() + 9)
            .sum::<usize>();
    let mut out = Vec::with_capacity(size + 128);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&reply.status.to_le_bytes());
    put_blob(&mut out, &reply.stderr);
    put_blob(&mut out, &reply.stdout);
    out.extend_from_slice(&(reply.outputs.len() as u32).to_le_bytes());
    for o in &reply.outputs {
        out.push(kind_tag(o.kind));
        put_blob(&mut out, &o.body);
    }
    let sum = digest(&out);
    out.extend_from_slice(&sum);
    out
}

/// Reads an entry's bytes; `None` if they are not a whole, intact entry.
pub fn decode(bytes: &[u8]) -> Option<Reply> {
    let body_len = bytes.len().checked_sub(32)?;
    let (body, sum) = bytes.split_at(body_len);
    if digest(body) != sum || !body.starts_with(MAGIC) {
        return None;
    }
    let mut r = Reader(&body[MAGIC.len()..]);
    let status = u32::from_le_bytes(r.take(4)?.try_into().ok()?);
    let stderr = r.blob()?.to_vec();
    let stdout = r.blob()?.to_vec();
    let count = u32::from_le_bytes(r.take(4)?.try_into().ok()?);
    let mut reply = Reply {
        status,
        stderr,
        stdout,
        outputs: Vec::new(),
        note: None,
    };
    for _ in 0..count {
        let kind = tag_kind(r.take(1)?[0])?;
        let body = r.blob()?.to_vec();
        reply.outputs.push(Output { kind, body });
    }
    r.0.is_empty().then_some(reply)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn blob(&mut self) -> Option<&'a [u8]> {
        let len = u64::from_le_bytes(self.take(8)?.try_into().ok()?);
        self.take(usize::try_from(len).ok()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Reply {
        let mut r = Reply {
            status: 0,
            stderr: b"x.c:1: warning: unused\n".to_vec(),
            stdout: Vec::new(),
            outputs: Vec::new(),
            note: None,
        };
        r.set_output(OutputKind::Object, vec![0x7f, b'E', b'L', b'F', 0, 1, 2]);
        r.set_output(OutputKind::Deps, b"x.o: x.c x.h\n".to_vec());
        r.set_output(OutputKind::SplitDwarf, b"dwo".to_vec());
        r.set_output(OutputKind::Reads, b"all\nx.o: x.c x.h\n".to_vec());
        r
    }

    #[test]
    fn round_trip() {
        let r = sample();
        assert_eq!(decode(&encode(&r)), Some(r));
        let empty = Reply::default();
        assert_eq!(decode(&encode(&empty)), Some(empty));
    }

    #[test]
    fn every_truncation_and_any_flipped_byte_is_no_entry() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert_eq!(decode(&b), None, "byte {i} flipped");
        }
    }
}
