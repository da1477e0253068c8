//! The values of literals in `#if`: integer pp-numbers (C's suffixes,
//! `'` separators, `0b` binary) and character constants, as gcc computes
//! them for x86-64 targets. `expr` does the arithmetic.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Num {
    pub v: u64,
    pub unsigned: bool,
}

impl Num {
    pub fn int(v: i64) -> Num {
        Num {
            v: v as u64,
            unsigned: false,
        }
    }
    pub fn truth(b: bool) -> Num {
        Num::int(b as i64)
    }
    pub fn nz(&self) -> bool {
        self.v != 0
    }
}

/// An integer pp-number (C's suffixes, `'` separators, 0b binary).
pub fn parse_number(s: &[u8]) -> Result<Num, &'static str> {
    let owned: Vec<u8>;
    let s = if s.contains(&b'\'') {
        owned = s.iter().copied().filter(|&c| c != b'\'').collect();
        &owned[..]
    } else {
        s
    };
    let (radix, digits_from) = if s.len() > 1 && s[0] == b'0' && matches!(s[1], b'x' | b'X') {
        (16, 2)
    } else if s.len() > 1 && s[0] == b'0' && matches!(s[1], b'b' | b'B') {
        (2, 2)
    } else if s[0] == b'0' {
        (8, 0)
    } else {
        (10, 0)
    };
    let end = s[digits_from..]
        .iter()
        .position(|&c| !c.is_ascii_hexdigit() || (radix != 16 && !c.is_ascii_digit()))
        .map_or(s.len(), |p| p + digits_from);
    let digits = &s[digits_from..end];
    let suffix = &s[end..];
    if suffix
        .first()
        .is_some_and(|&c| matches!(c, b'.' | b'e' | b'E' | b'p' | b'P'))
        || (radix == 16 && digits.contains(&b'.'))
    {
        return Err("floating constant in preprocessor expression");
    }
    if digits.is_empty() && radix != 8 {
        return Err("invalid integer constant");
    }
    let mut lower = [0u8; 3];
    if suffix.len() > lower.len() {
        return Err("invalid suffix on integer constant");
    }
    for (l, c) in lower.iter_mut().zip(suffix) {
        *l = c.to_ascii_lowercase();
    }
    let unsigned_suffix = match &lower[..suffix.len()] {
        b"" | b"l" | b"ll" | b"z" => false,
        b"u" | b"ul" | b"lu" | b"ull" | b"llu" | b"uz" | b"zu" => true,
        _ => return Err("invalid suffix on integer constant"),
    };
    if matches!(
        suffix,
        b"lL" | b"Ll" | b"ulL" | b"uLl" | b"lLu" | b"Llu" | b"UlL" | b"ULl" | b"lLU" | b"LlU"
    ) {
        return Err("invalid suffix on integer constant");
    }
    let mut v: u64 = 0;
    for &c in digits {
        let d = (c as char)
            .to_digit(radix)
            .ok_or("invalid digit in constant")? as u64;
        v = v
            .checked_mul(radix as u64)
            .and_then(|v| v.checked_add(d))
            .ok_or("integer constant is too large for its type")?;
    }
    Ok(Num {
        v,
        unsigned: unsigned_suffix || v > i64::MAX as u64,
    })
}

/// A character constant's value as gcc computes it for x86-64 targets:
/// narrow chars are `char` (signed unless `-funsigned-char`), several
/// chars make an `int` big-endian, `L` is a signed 32-bit wchar_t,
/// `u`/`U` are unsigned 16/32-bit. One function for all escapes and
/// prefixes, since they interact (a wide prefix changes how bytes and
/// escapes combine), which is why it is long.
pub fn parse_char(s: &[u8], unsigned_char: bool) -> Result<Num, &'static str> {
    let q = s
        .iter()
        .position(|&c| c == b'\'')
        .ok_or("bad character constant")?;
    let prefix = &s[..q];
    let body = &s[q + 1..s.len() - 1];
    let mut vals: Vec<u32> = Vec::new();
    let mut i = 0;
    let wide = !prefix.is_empty() && prefix != b"u8";
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != b'\\' {
            if wide && c >= 0x80 {
                let len = match c {
                    0xc0..=0xdf => 2,
                    0xe0..=0xef => 3,
                    _ => 4,
                };
                let end = (i - 1 + len).min(body.len());
                let ch = std::str::from_utf8(&body[i - 1..end])
                    .ok()
                    .and_then(|x| x.chars().next())
                    .ok_or("invalid UTF-8 in character constant")?;
                vals.push(ch as u32);
                i = end;
            } else {
                vals.push(c as u32);
            }
            continue;
        }
        let e = *body.get(i).ok_or("bad escape")?;
        i += 1;
        let v = match e {
            b'n' => 10,
            b't' => 9,
            b'v' => 11,
            b'b' => 8,
            b'r' => 13,
            b'f' => 12,
            b'a' => 7,
            b'e' | b'E' => 27,
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                for _ in 0..2 {
                    match body.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + (d - b'0') as u32;
                            i += 1;
                        }
                        _ => break,
                    }
                }
                v
            }
            b'x' => {
                let mut v: u32 = 0;
                let start = i;
                while let Some(d) = body.get(i).and_then(|&d| (d as char).to_digit(16)) {
                    v = v.wrapping_mul(16).wrapping_add(d);
                    i += 1;
                }
                if i == start {
                    return Err("\\x used with no following hex digits");
                }
                v
            }
            b'u' | b'U' => return Err("universal character in character constant"),
            other => other as u32,
        };
        vals.push(v);
    }
    if vals.is_empty() {
        return Err("empty character constant");
    }
    let (width, unsigned) = match prefix {
        b"" | b"u8" => (8u32, unsigned_char),
        b"L" => (32, false),
        b"u" => (16, true),
        b"U" => (32, true),
        _ => return Err("bad character constant prefix"),
    };
    if prefix.is_empty() && vals.len() > 1 {
        // Multi-character: an int, each char 8 bits, last 4 count.
        let mut r: u32 = 0;
        for v in &vals {
            r = (r << 8) | (v & 0xff);
        }
        return Ok(Num::int(r as i32 as i64));
    }
    let v = *vals.last().unwrap() as u64 & ((1u64 << width) - 1);
    let sign = 1u64 << (width - 1);
    if !unsigned && v & sign != 0 {
        return Ok(Num::int((v | !((1u64 << width) - 1)) as i64));
    }
    Ok(Num::int(v as i64))
}
