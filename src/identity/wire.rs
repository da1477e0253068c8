//! The identity as it crosses the network, and as records store it:
//!
//! ```text
//! 0      format (1)
//! 1      kind: 1 gcc, 2 clang
//! 2      lang: 1 c, 2 c++, 3 objective-c, 4 objective-c++
//! 3..35  digest (SHA-256)
//! 35     parts present: bit i for Part::ALL[i]
//! ...    4 bytes per present part, in Part::ALL order
//! ...    version: length (1, at most 64), graphic ASCII
//! ...    target:  length (1, at most 64), graphic ASCII
//! ```
//!
//! About 75 bytes for gcc (150 as hex): the digest decides a match, the
//! rest lets the daemon name the client's compiler in a refusal and say
//! which part differs. A reader checks every length and value, so a
//! hostile peer gets an error, never a panic or a misleading message.

use std::fmt;

use super::{hex, Identity, Kind, Lang, Part, PART_PREFIX};

const FORMAT: u8 = 1;
const MAX_FIELD: usize = 64;
/// The longest valid encoding; a reader may refuse anything longer unread.
pub const MAX_LEN: usize = 3 + 32 + 1 + 5 * PART_PREFIX + 2 * (1 + MAX_FIELD);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    Truncated,
    TrailingBytes(usize),
    Format(u8),
    Kind(u8),
    Lang(u8),
    Parts(u8),
    Field(&'static str),
    Hex,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => write!(f, "compiler identity truncated"),
            WireError::TrailingBytes(n) => write!(f, "compiler identity: {n} bytes too many"),
            WireError::Format(v) => write!(
                f,
                "compiler identity format {v} unknown (expected {FORMAT})"
            ),
            WireError::Kind(v) => write!(f, "compiler identity: kind {v} unknown"),
            WireError::Lang(v) => write!(f, "compiler identity: language {v} unknown"),
            WireError::Parts(v) => write!(f, "compiler identity: parts {v:#04x} invalid"),
            WireError::Field(name) => write!(f, "compiler identity: {name} not printable"),
            WireError::Hex => write!(f, "compiler identity: not hex"),
        }
    }
}

impl std::error::Error for WireError {}

fn kind_code(k: Kind) -> u8 {
    match k {
        Kind::Gcc => 1,
        Kind::Clang => 2,
    }
}

fn lang_code(l: Lang) -> u8 {
    match l {
        Lang::C => 1,
        Lang::Cxx => 2,
        Lang::ObjC => 3,
        Lang::ObjCxx => 4,
    }
}

impl Identity {
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_LEN);
        out.extend_from_slice(&[FORMAT, kind_code(self.kind), lang_code(self.lang)]);
        out.extend_from_slice(&self.digest);
        let present = self
            .parts
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_some())
            .fold(0u8, |bits, (i, _)| bits | 1 << i);
        out.push(present);
        for p in self.parts.iter().flatten() {
            out.extend_from_slice(p);
        }
        for field in [&self.version, &self.target] {
            let bytes = &field.as_bytes()[..field.len().min(MAX_FIELD)];
            out.push(bytes.len() as u8);
            out.extend_from_slice(bytes);
        }
        out
    }

    pub fn to_hex(&self) -> String {
        hex(&self.to_wire())
    }

    pub fn from_wire(data: &[u8]) -> Result<Identity, WireError> {
        from_wire(data)
    }

    pub fn from_hex(text: &str) -> Result<Identity, WireError> {
        if !text.len().is_multiple_of(2) || text.len() > 2 * MAX_LEN {
            return Err(WireError::Hex);
        }
        let bytes: Option<Vec<u8>> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect();
        from_wire(&bytes.ok_or(WireError::Hex)?)
    }
}

pub(super) fn from_wire(data: &[u8]) -> Result<Identity, WireError> {
    let mut rest = data;
    let mut take = |n: usize| -> Result<&[u8], WireError> {
        if rest.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let head = take(3)?;
    if head[0] != FORMAT {
        return Err(WireError::Format(head[0]));
    }
    let kind = match head[1] {
        1 => Kind::Gcc,
        2 => Kind::Clang,
        v => return Err(WireError::Kind(v)),
    };
    let lang = match head[2] {
        1 => Lang::C,
        2 => Lang::Cxx,
        3 => Lang::ObjC,
        4 => Lang::ObjCxx,
        v => return Err(WireError::Lang(v)),
    };
    let digest = take(32)?.try_into().unwrap();
    let present = take(1)?[0];
    if present >> Part::ALL.len() != 0 {
        return Err(WireError::Parts(present));
    }
    let mut parts = [None; 5];
    for (i, part) in parts.iter_mut().enumerate() {
        if present & 1 << i != 0 {
            *part = Some(take(PART_PREFIX)?.try_into().unwrap());
        }
    }
    let mut field = |name: &'static str| -> Result<String, WireError> {
        let n = take(1)?[0] as usize;
        let bytes = take(n)?;
        if n > MAX_FIELD || !bytes.iter().all(u8::is_ascii_graphic) {
            return Err(WireError::Field(name));
        }
        Ok(String::from_utf8(bytes.to_vec()).expect("ASCII"))
    };
    let version = field("version")?;
    let target = field("target")?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes(rest.len()));
    }
    Ok(Identity {
        kind,
        lang,
        version,
        target,
        digest,
        parts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Identity {
        Identity {
            kind: Kind::Gcc,
            lang: Lang::Cxx,
            version: "12.2.0".into(),
            target: "x86_64-linux-gnu".into(),
            digest: [0x3f; 32],
            parts: [Some([1; 4]), Some([2; 4]), Some([3; 4]), Some([4; 4]), None],
        }
    }

    #[test]
    fn identities_survive_the_wire_and_hex() {
        let id = sample();
        let wire = id.to_wire();
        assert_eq!(wire.len(), 3 + 32 + 1 + 16 + 7 + 17);
        assert!(wire.len() <= MAX_LEN);
        assert_eq!(Identity::from_wire(&wire), Ok(id.clone()));
        assert_eq!(Identity::from_hex(&id.to_hex()), Ok(id.clone()));
        let clang = Identity {
            kind: Kind::Clang,
            lang: Lang::ObjCxx,
            parts: [None, None, None, None, Some([9; 4])],
            ..id
        };
        assert_eq!(Identity::from_wire(&clang.to_wire()), Ok(clang));
    }

    #[test]
    fn the_printable_form_names_compiler_and_digest() {
        assert_eq!(
            sample().to_string(),
            "gcc 12.2.0 x86_64-linux-gnu c++ (3f3f3f3f3f3f)"
        );
    }

    #[test]
    fn malformed_identities_are_refused() {
        let wire = sample().to_wire();
        for n in 0..wire.len() {
            assert_eq!(
                from_wire(&wire[..n]),
                Err(WireError::Truncated),
                "{n} bytes"
            );
        }
        let with = |i: usize, v: u8| {
            let mut w = wire.clone();
            w[i] = v;
            from_wire(&w)
        };
        assert_eq!(with(0, 2), Err(WireError::Format(2)));
        assert_eq!(with(1, 0), Err(WireError::Kind(0)));
        assert_eq!(with(2, 9), Err(WireError::Lang(9)));
        assert_eq!(with(35, 0x20), Err(WireError::Parts(0x20)));
        let version_at = 36 + 16;
        assert_eq!(
            with(version_at + 1, b'\n'),
            Err(WireError::Field("version"))
        );
        let mut long = wire.clone();
        long.push(0);
        assert_eq!(from_wire(&long), Err(WireError::TrailingBytes(1)));
        assert_eq!(Identity::from_hex("0"), Err(WireError::Hex));
        assert_eq!(Identity::from_hex("zz"), Err(WireError::Hex));
        assert_eq!(Identity::from_hex("é0"), Err(WireError::Hex));
    }
}
