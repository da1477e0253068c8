//! Byte-level helpers of the lexer's fast paths: character classes as
//! one table lookup, a byte search eight bytes at a time, and the length
//! of a punctuator by maximal munch. Splices (`\\` newline) are the
//! lexer's concern: these look at raw bytes.

pub fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | 0x0b | 0x0c | b'\r')
}

/// Byte classes for the loops that skip text: `token::is_ident_char`,
/// `is_ident_start` and `is_blank` as one table lookup.
pub const ID: u8 = 1;
pub const ID_START: u8 = 2;
pub const BLANK: u8 = 4;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80 {
            t[c] |= ID;
            if !b.is_ascii_digit() {
                t[c] |= ID_START;
            }
        }
        if matches!(b, b' ' | b'\t' | 0x0b | 0x0c | b'\r') {
            t[c] |= BLANK;
        }
        c += 1;
    }
    t
};

pub fn class(c: u8) -> u8 {
    CLASS[c as usize]
}

/// How many newlines `b` holds. Counted in blocks with a byte-wide
/// running count per lane, which the compiler turns into a few vector
/// instructions per 16 or 32 bytes (a count kept in a `usize` per byte
/// is several times slower, and the lexer counts every line it passes).
pub fn count_newlines(b: &[u8]) -> usize {
    let mut blocks = b.chunks_exact(255);
    let mut n = 0;
    for block in &mut blocks {
        n += block
            .iter()
            .fold(0u8, |a, &c| a.wrapping_add((c == b'\n') as u8)) as usize;
    }
    n + blocks.remainder().iter().filter(|&&c| c == b'\n').count()
}

/// The index of the next `needle` at or after `from`, eight bytes at a
/// time.
pub fn find_byte(b: &[u8], from: usize, needle: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pat = LO * needle as u64;
    let mut i = from;
    while i + 8 <= b.len() {
        let x = u64::from_le_bytes(b[i..i + 8].try_into().unwrap()) ^ pat;
        let found = x.wrapping_sub(LO) & !x & HI;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i.min(b.len())..]
        .iter()
        .position(|&c| c == needle)
        .map(|p| i + p)
}

/// The length of the punctuator that starts `b` (maximal munch), 0 if
/// none does. Splices are the caller's concern.
pub fn punct_len(b: &[u8]) -> usize {
    let at = |k: usize| b.get(k).copied().unwrap_or(0);
    let (c0, c1, c2) = (at(0), at(1), at(2));
    match c0 {
        b'%' if c1 == b':' && c2 == b'%' && at(3) == b':' => 4,
        b'.' if c1 == b'.' && c2 == b'.' => 3,
        b'<' if c1 == b'<' && c2 == b'=' => 3,
        b'>' if c1 == b'>' && c2 == b'=' => 3,
        b'-' if c1 == b'>' && c2 == b'*' => 3,
        b'<' if c1 == b'=' && c2 == b'>' => 3,
        b'#' if c1 == b'#' => 2,
        b'%' if matches!(c1, b':' | b'>' | b'=') => 2,
        b'<' if matches!(c1, b':' | b'%' | b'<' | b'=') => 2,
        b':' if matches!(c1, b'>' | b':') => 2,
        b'-' if matches!(c1, b'>' | b'-' | b'=') => 2,
        b'+' if matches!(c1, b'+' | b'=') => 2,
        b'>' if matches!(c1, b'>' | b'=') => 2,
        b'=' | b'!' | b'*' | b'/' | b'^' if c1 == b'=' => 2,
        b'&' if matches!(c1, b'&' | b'=') => 2,
        b'|' if matches!(c1, b'|' | b'=') => 2,
        b'.' if c1 == b'*' => 2,
        b'(' | b')' | b'[' | b']' | b'{' | b'}' | b',' | b';' | b'!' | b'~' | b'+' | b'-'
        | b'*' | b'/' | b'%' | b'<' | b'>' | b'&' | b'^' | b'|' | b'?' | b':' | b'.' | b'='
        | b'#' => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::includes::token::{is_ident_char, is_ident_start, PUNCTUATORS};

    #[test]
    fn newlines_are_counted_across_blocks() {
        // Lengths around the block size, newlines at every third byte and
        // in runs longer than a block (a byte-wide count must not wrap).
        for len in [0, 1, 254, 255, 256, 509, 510, 511, 2000] {
            let sparse: Vec<u8> = (0..len)
                .map(|i| if i % 3 == 0 { b'\n' } else { b'x' })
                .collect();
            let dense = vec![b'\n'; len];
            for b in [sparse, dense] {
                let want = b.iter().filter(|&&c| c == b'\n').count();
                assert_eq!(count_newlines(&b), want, "len {len}");
            }
        }
    }

    #[test]
    fn classes_match_the_predicates() {
        for c in 0..=255u8 {
            assert_eq!(class(c) & ID != 0, is_ident_char(c), "{c}");
            assert_eq!(class(c) & ID_START != 0, is_ident_start(c), "{c}");
            assert_eq!(class(c) & BLANK != 0, is_blank(c), "{c}");
        }
    }

    #[test]
    fn bytes_are_found_past_word_boundaries() {
        let b = b"0123456789abcdef*xyz*";
        assert_eq!(find_byte(b, 0, b'*'), Some(16));
        assert_eq!(find_byte(b, 17, b'*'), Some(20));
        assert_eq!(find_byte(b, 0, b'!'), None);
        assert_eq!(find_byte(b"", 0, b'!'), None);
        for i in 0..40 {
            let mut v = vec![b'.'; 40];
            v[i] = 0x80 | b'*';
            v[(i + 7) % 40] = b'*';
            let want = v.iter().position(|&c| c == b'*');
            assert_eq!(find_byte(&v, 0, b'*'), want, "at {i}");
        }
    }

    #[test]
    fn punctuators_by_maximal_munch() {
        for p in PUNCTUATORS {
            let mut b = p.to_vec();
            b.push(b' ');
            assert_eq!(punct_len(&b), p.len(), "{}", String::from_utf8_lossy(p));
        }
        assert_eq!(punct_len(b"<<=x"), 3);
        assert_eq!(punct_len(b"%:%"), 2);
        assert_eq!(punct_len(b"@"), 0);
    }
}
