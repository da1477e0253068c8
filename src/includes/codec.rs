//! The byte form of a compiler probe as the cross-process cache keeps it
//! (skeletons have their own, `image`): a magic string, LEB128 integers,
//! length-prefixed bytes. Every read is bounds-checked; a reader returns
//! None on anything it did not write, and the caller then probes again.

pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new(magic: &[u8]) -> Writer {
        let mut w = Writer { buf: Vec::new() };
        w.u64(magic.len() as u64);
        w.buf.extend_from_slice(magic);
        w
    }

    pub fn u64(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(b);
                return;
            }
            self.buf.push(b | 0x80);
        }
    }

    /// Raw bytes; the reader must know their length.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub fn blob(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.bytes(b);
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

pub struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8], magic: &[u8]) -> Option<Reader<'a>> {
        let mut r = Reader { b, i: 0 };
        let n = r.u64()? as usize;
        if r.bytes(n)? != magic {
            return None;
        }
        Some(r)
    }

    pub fn u64(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.b.get(self.i)?;
            self.i += 1;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.i.checked_add(n)?;
        let s = self.b.get(self.i..end)?;
        self.i = end;
        Some(s)
    }

    pub fn blob(&mut self) -> Option<&'a [u8]> {
        let n = self.u64()? as usize;
        self.bytes(n)
    }

    /// Succeeds only when every byte was consumed.
    pub fn end(&self) -> Option<()> {
        (self.i == self.b.len()).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip() {
        let mut w = Writer::new(b"m");
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            w.u64(v);
        }
        let b = w.finish();
        let mut r = Reader::new(&b, b"m").unwrap();
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            assert_eq!(r.u64(), Some(v));
        }
        assert!(r.end().is_some());
        assert!(Reader::new(&b, b"other").is_none());
    }
}
