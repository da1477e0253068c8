//! The byte form of what the scanner caches across processes (skeletons,
//! compiler probes): a magic string, LEB128 integers, length-prefixed
//! bytes, and tokens as a local string table plus (kind, flags, index)
//! triples, so symbols never leave the interner that made them. Every
//! read is bounds-checked; a reader returns None on anything it did not
//! write, and the caller then rebuilds from the source.

use super::token::{punct_of, FxMap, Interner, Kind, Sym, Tok};

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

    pub fn toks(&mut self, toks: &[Tok], int: &Interner) {
        let mut local: FxMap<Sym, u64> = FxMap::default();
        let mut table: Vec<Sym> = Vec::new();
        let idx: Vec<u64> = toks
            .iter()
            .map(|t| {
                *local.entry(t.sym).or_insert_with(|| {
                    table.push(t.sym);
                    table.len() as u64 - 1
                })
            })
            .collect();
        self.u64(table.len() as u64);
        for s in &table {
            self.blob(int.get(*s));
        }
        self.u64(toks.len() as u64);
        for (t, i) in toks.iter().zip(idx) {
            self.u64(kind_code(t.kind));
            self.u64(t.flags as u64);
            self.u64(i);
        }
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

    pub fn toks(&mut self, int: &mut Interner) -> Option<Vec<Tok>> {
        let n = self.u64()? as usize;
        if n > self.b.len() {
            return None;
        }
        let mut table = Vec::with_capacity(n);
        for _ in 0..n {
            let s = self.blob()?;
            table.push((int.intern(s), s));
        }
        let n = self.u64()? as usize;
        if n > self.b.len() {
            return None;
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let code = self.u64()?;
            let flags = u8::try_from(self.u64()?).ok()?;
            let &(sym, spelling) = table.get(self.u64()? as usize)?;
            out.push(Tok::new(kind_of(code, spelling)?, sym, flags));
        }
        Some(out)
    }

    /// Succeeds only when every byte was consumed.
    pub fn end(&self) -> Option<()> {
        (self.i == self.b.len()).then_some(())
    }
}

fn kind_code(k: Kind) -> u64 {
    match k {
        Kind::Ident => 0,
        Kind::Number => 1,
        Kind::Char => 2,
        Kind::Str => 3,
        Kind::Header => 4,
        Kind::Punct(_) => 5,
        Kind::Other => 6,
        Kind::Param => 7,
        Kind::Placemarker => 8,
    }
}

/// Punctuators are re-classified from their spelling.
fn kind_of(code: u64, spelling: &[u8]) -> Option<Kind> {
    Some(match code {
        0 => Kind::Ident,
        1 => Kind::Number,
        2 => Kind::Char,
        3 => Kind::Str,
        4 => Kind::Header,
        5 => Kind::Punct(punct_of(spelling)),
        6 => Kind::Other,
        7 => Kind::Param,
        8 => Kind::Placemarker,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::includes::lex::lex_line;

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

    #[test]
    fn tokens_cross_interners() {
        let mut a = Interner::new();
        let mut toks = Vec::new();
        lex_line(b"f(x) x ## y \"s\" <= 'c'", &mut a, &mut toks);
        let mut w = Writer::new(b"t");
        w.toks(&toks, &a);
        let bytes = w.finish();
        let mut b = Interner::new();
        b.intern(b"shifts every symbol");
        let mut r = Reader::new(&bytes, b"t").unwrap();
        let back = r.toks(&mut b).unwrap();
        assert_eq!(back.len(), toks.len());
        for (x, y) in toks.iter().zip(&back) {
            assert_eq!(a.get(x.sym), b.get(y.sym));
            assert_eq!((x.kind, x.flags), (y.kind, y.flags));
        }
        // Truncations are refused, never a panic.
        for cut in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..cut], b"t");
            if let Some(r) = r.as_mut() {
                assert!(r.toks(&mut b).is_none() || r.end().is_none());
            }
        }
    }
}
