//! Preprocessing tokens as the scanner keeps them: 8 bytes each, the
//! spelling interned once per scanner (`Interner`), so comparing two
//! identifiers or looking a macro up is an integer operation. The lexer
//! that makes them is `lex`; what a directive's tokens mean is `skeleton`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// An interned spelling.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Sym(pub u32);

/// Punctuators the `#if` grammar and the macro engine care about; every
/// other punctuator is `Other` and keeps its spelling in `Tok::sym`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum P {
    LParen,
    RParen,
    Comma,
    Not,
    Tilde,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Shl,
    Shr,
    Lt,
    Gt,
    Le,
    Ge,
    EqEq,
    Ne,
    Amp,
    Caret,
    Pipe,
    AndAnd,
    OrOr,
    Question,
    Colon,
    Hash,
    HashHash,
    Ellipsis,
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Ident,
    Number,
    /// A character literal, prefix included (`L'a'`).
    Char,
    /// A string literal, prefix and quotes included.
    Str,
    /// `<name>` lexed as a header-name, brackets included.
    Header,
    Punct(P),
    /// A stray character (`@`, `\`, a lone quote).
    Other,
    /// In a macro body: the parameter whose index is `sym.0`.
    Param,
    /// An empty argument's stand-in while pasting (C11 6.10.3.3p2).
    Placemarker,
}

/// Whitespace preceded the token (matters to `#` and `<...>` rebuilding).
pub const PREV_WHITE: u8 = 1;
/// Painted blue: a macro name met while that macro was being expanded.
pub const NO_EXPAND: u8 = 2;
/// In a macro body: `#` applied to this parameter.
pub const STRINGIFY: u8 = 4;
/// In a macro body: `##` follows this token.
pub const PASTE_LEFT: u8 = 8;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Tok {
    pub sym: Sym,
    pub kind: Kind,
    pub flags: u8,
}

impl Tok {
    pub fn new(kind: Kind, sym: Sym, flags: u8) -> Tok {
        Tok { sym, kind, flags }
    }
    pub fn is(&self, p: P) -> bool {
        self.kind == Kind::Punct(p)
    }
    pub fn is_ident(&self, s: Sym) -> bool {
        self.kind == Kind::Ident && self.sym == s
    }
    pub fn white(&self) -> bool {
        self.flags & PREV_WHITE != 0
    }
}

/// A fast hasher for small keys (symbols, short spellings); not for
/// anything an attacker chooses where collisions would matter.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let v = u64::from_le_bytes(c.try_into().unwrap());
            self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(SEED);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(SEED);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = (self.0.rotate_left(5) ^ v as u64).wrapping_mul(SEED);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(SEED);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FxBuild = BuildHasherDefault<FxHasher>;
pub type FxMap<K, V> = HashMap<K, V, FxBuild>;

/// Spellings the engine recognises, interned first so their symbols are
/// constants. The order here is the order of the `sym` constants below.
const WELL_KNOWN: &[&str] = &[
    "defined",
    "__VA_ARGS__",
    "__VA_OPT__",
    "__has_include",
    "__has_include_next",
    "true",
    "false",
    "include",
    "include_next",
    "import",
    "define",
    "undef",
    "if",
    "ifdef",
    "ifndef",
    "elif",
    "elifdef",
    "elifndef",
    "else",
    "endif",
    "pragma",
    "once",
    "push_macro",
    "pop_macro",
    "GCC",
    "dependency",
    "line",
    "error",
    "embed",
    "_Pragma",
    "(",
    ")",
    ",",
    "#",
    "##",
    "<",
    ">",
    "",
    "1",
    "0",
    "__FILE__",
    "__LINE__",
    "__INCLUDE_LEVEL__",
    "__BASE_FILE__",
    "__FILE_NAME__",
    "__COUNTER__",
    "__DATE__",
    "__TIME__",
    "__TIMESTAMP__",
    "and",
    "or",
    "not",
    "bitand",
    "bitor",
    "xor",
    "compl",
    "not_eq",
    "STDC",
    "system_header",
    "warning",
];

pub mod sym {
    use super::Sym;
    pub const DEFINED: Sym = Sym(0);
    pub const VA_ARGS: Sym = Sym(1);
    pub const VA_OPT: Sym = Sym(2);
    pub const HAS_INCLUDE: Sym = Sym(3);
    pub const HAS_INCLUDE_NEXT: Sym = Sym(4);
    pub const TRUE: Sym = Sym(5);
    pub const FALSE: Sym = Sym(6);
    pub const INCLUDE: Sym = Sym(7);
    pub const INCLUDE_NEXT: Sym = Sym(8);
    pub const IMPORT: Sym = Sym(9);
    pub const DEFINE: Sym = Sym(10);
    pub const UNDEF: Sym = Sym(11);
    pub const IF: Sym = Sym(12);
    pub const IFDEF: Sym = Sym(13);
    pub const IFNDEF: Sym = Sym(14);
    pub const ELIF: Sym = Sym(15);
    pub const ELIFDEF: Sym = Sym(16);
    pub const ELIFNDEF: Sym = Sym(17);
    pub const ELSE: Sym = Sym(18);
    pub const ENDIF: Sym = Sym(19);
    pub const PRAGMA: Sym = Sym(20);
    pub const ONCE: Sym = Sym(21);
    pub const PUSH_MACRO: Sym = Sym(22);
    pub const POP_MACRO: Sym = Sym(23);
    pub const GCC: Sym = Sym(24);
    pub const DEPENDENCY: Sym = Sym(25);
    pub const LINE: Sym = Sym(26);
    pub const ERROR: Sym = Sym(27);
    pub const EMBED: Sym = Sym(28);
    pub const PRAGMA_OP: Sym = Sym(29);
    pub const LPAREN: Sym = Sym(30);
    pub const RPAREN: Sym = Sym(31);
    pub const COMMA: Sym = Sym(32);
    pub const HASH: Sym = Sym(33);
    pub const HASHHASH: Sym = Sym(34);
    pub const LT: Sym = Sym(35);
    pub const GT: Sym = Sym(36);
    pub const EMPTY: Sym = Sym(37);
    pub const ONE: Sym = Sym(38);
    pub const ZERO: Sym = Sym(39);
    pub const FILE: Sym = Sym(40);
    pub const LINE_MACRO: Sym = Sym(41);
    pub const INCLUDE_LEVEL: Sym = Sym(42);
    pub const BASE_FILE: Sym = Sym(43);
    pub const FILE_NAME: Sym = Sym(44);
    pub const COUNTER: Sym = Sym(45);
    pub const DATE: Sym = Sym(46);
    pub const TIME: Sym = Sym(47);
    pub const TIMESTAMP: Sym = Sym(48);
    pub const AND: Sym = Sym(49);
    pub const OR: Sym = Sym(50);
    pub const NOT: Sym = Sym(51);
    pub const BITAND: Sym = Sym(52);
    pub const BITOR: Sym = Sym(53);
    pub const XOR: Sym = Sym(54);
    pub const COMPL: Sym = Sym(55);
    pub const NOT_EQ: Sym = Sym(56);
    pub const STDC: Sym = Sym(57);
    pub const SYSTEM_HEADER: Sym = Sym(58);
    pub const WARNING: Sym = Sym(59);
}

/// Every spelling the scanner has seen, each stored once. Symbols are only
/// meaningful within one interner; what crosses a process boundary is the
/// spelling (see `codec`).
///
/// Spellings live in one byte arena, found through an open-addressing
/// table of (hash, symbol) words: interning allocates nothing per
/// spelling, which matters to a new process that interns every spelling
/// of a few hundred headers.
pub struct Interner {
    bytes: Vec<u8>,
    /// (start, end) in `bytes`, by symbol.
    spans: Vec<(u32, u32)>,
    hashes: Vec<u32>,
    /// High 32 bits: the hash; low 32: symbol + 1; 0 is free.
    table: Vec<u64>,
}

impl Default for Interner {
    fn default() -> Self {
        Self::new()
    }
}

/// A hash of a short byte string (most spellings fit in 16 bytes: those
/// are read as two overlapping words), multiply-folded.
fn hash_bytes(s: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let fold = |a: u64, b: u64| {
        let m = (a as u128).wrapping_mul(b as u128);
        (m as u64) ^ ((m >> 64) as u64)
    };
    let n = s.len();
    let word = |i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap());
    let half = |i: usize| u32::from_le_bytes(s[i..i + 4].try_into().unwrap()) as u64;
    let (a, b) = match n {
        0 => (0, 0),
        1..=3 => (
            s[0] as u64 | (s[n / 2] as u64) << 8 | (s[n - 1] as u64) << 16,
            0,
        ),
        4..=8 => (half(0), half(n - 4)),
        9..=16 => (word(0), word(n - 8)),
        _ => {
            let mut h = K;
            let mut i = 0;
            while i + 8 < n {
                h = fold(h ^ word(i), K);
                i += 8;
            }
            (h, word(n - 8))
        }
    };
    fold(a ^ K ^ n as u64, b ^ 0xe703_7ed1_a0b4_28db)
}

/// Byte equality without a call for the short strings interning sees.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 16 {
        return a == b;
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

impl Interner {
    pub fn new() -> Interner {
        let mut i = Interner {
            bytes: Vec::with_capacity(64 << 10),
            spans: Vec::with_capacity(4096),
            hashes: Vec::with_capacity(4096),
            table: vec![0; 8192],
        };
        for (n, s) in WELL_KNOWN.iter().enumerate() {
            let got = i.intern(s.as_bytes());
            debug_assert_eq!(got, Sym(n as u32));
        }
        i
    }

    pub fn intern(&mut self, s: &[u8]) -> Sym {
        let h = hash_bytes(s) as u32;
        let mask = self.table.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let e = self.table[i];
            if e == 0 {
                break;
            }
            if (e >> 32) as u32 == h {
                let sym = (e as u32 - 1) as usize;
                let (a, b) = self.spans[sym];
                if same_bytes(&self.bytes[a as usize..b as usize], s) {
                    return Sym(sym as u32);
                }
            }
            i = (i + 1) & mask;
        }
        let y = self.spans.len() as u32;
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(s);
        self.spans.push((start, self.bytes.len() as u32));
        self.hashes.push(h);
        self.table[i] = (h as u64) << 32 | (y as u64 + 1);
        if self.spans.len() * 2 > self.table.len() {
            self.grow();
        }
        Sym(y)
    }

    fn grow(&mut self) {
        let n = self.table.len() * 2;
        let mut table = vec![0u64; n];
        for (sym, &h) in self.hashes.iter().enumerate() {
            let mut i = h as usize & (n - 1);
            while table[i] != 0 {
                i = (i + 1) & (n - 1);
            }
            table[i] = (h as u64) << 32 | (sym as u64 + 1);
        }
        self.table = table;
    }

    pub fn get(&self, y: Sym) -> &[u8] {
        let (a, b) = self.spans[y.0 as usize];
        &self.bytes[a as usize..b as usize]
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

pub fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80
}

pub fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// Classifies a punctuator spelling (digraphs included).
pub fn punct_of(s: &[u8]) -> P {
    match s {
        b"(" => P::LParen,
        b")" => P::RParen,
        b"," => P::Comma,
        b"!" => P::Not,
        b"~" => P::Tilde,
        b"+" => P::Plus,
        b"-" => P::Minus,
        b"*" => P::Star,
        b"/" => P::Slash,
        b"%" => P::Percent,
        b"<<" => P::Shl,
        b">>" => P::Shr,
        b"<" => P::Lt,
        b">" => P::Gt,
        b"<=" => P::Le,
        b">=" => P::Ge,
        b"==" => P::EqEq,
        b"!=" => P::Ne,
        b"&" => P::Amp,
        b"^" => P::Caret,
        b"|" => P::Pipe,
        b"&&" => P::AndAnd,
        b"||" => P::OrOr,
        b"?" => P::Question,
        b":" => P::Colon,
        b"#" | b"%:" => P::Hash,
        b"##" | b"%:%:" => P::HashHash,
        b"..." => P::Ellipsis,
        _ => P::Other,
    }
}

/// Every punctuator of C and C++, longest first, for maximal munch.
pub const PUNCTUATORS: &[&[u8]] = &[
    b"%:%:", b"...", b"<<=", b">>=", b"->*", b"<=>", b"##", b"%:", b"<:", b":>", b"<%", b"%>",
    b"::", b"->", b"++", b"--", b"<<", b">>", b"<=", b">=", b"==", b"!=", b"&&", b"||", b"*=",
    b"/=", b"%=", b"+=", b"-=", b"&=", b"^=", b"|=", b".*", b"(", b")", b"[", b"]", b"{", b"}",
    b",", b";", b"!", b"~", b"+", b"-", b"*", b"/", b"%", b"<", b">", b"&", b"^", b"|", b"?", b":",
    b".", b"=", b"#",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_symbols_are_constants() {
        let mut i = Interner::new();
        assert_eq!(i.intern(b"defined"), sym::DEFINED);
        assert_eq!(i.intern(b"__VA_OPT__"), sym::VA_OPT);
        assert_eq!(i.intern(b"_Pragma"), sym::PRAGMA_OP);
        assert_eq!(i.intern(b"warning"), sym::WARNING);
        assert_eq!(i.intern(b"0"), sym::ZERO);
        let n = i.intern(b"fresh");
        assert_eq!(i.get(n), b"fresh");
        assert_eq!(i.intern(b"fresh"), n);
    }

    #[test]
    fn punctuators_classify() {
        assert_eq!(punct_of(b"%:%:"), P::HashHash);
        assert_eq!(punct_of(b"<="), P::Le);
        assert_eq!(punct_of(b"<:"), P::Other);
        assert!(PUNCTUATORS.windows(2).all(|w| w[0].len() >= w[1].len()));
    }

    #[test]
    fn tok_is_eight_bytes() {
        assert_eq!(std::mem::size_of::<Tok>(), 8);
    }
}
