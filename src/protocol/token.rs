//! The protocol's vocabulary: four-letter tokens, each starting a header,
//! and the header's size. What each is for is said where it is read
//! (`request`, `reply`, and the extensions `stream` and `hashed`).

/// Four letters that name a packet.
pub type Token = [u8; 4];

pub const DIST: &Token = b"DIST";
pub const CDIR: &Token = b"CDIR";
pub const ARGC: &Token = b"ARGC";
pub const ARGV: &Token = b"ARGV";
pub const DOTI: &Token = b"DOTI";
pub const NFIL: &Token = b"NFIL";
pub const NAME: &Token = b"NAME";
pub const FILE: &Token = b"FILE";
pub const LINK: &Token = b"LINK";
pub const DONE: &Token = b"DONE";
pub const STAT: &Token = b"STAT";
pub const SERR: &Token = b"SERR";
pub const SOUT: &Token = b"SOUT";
pub const DOTO: &Token = b"DOTO";
pub const DOTD: &Token = b"DOTD";
/// The split DWARF file (`-gsplit-dwarf`): our streamed dialect only.
pub const DDWO: &Token = b"DDWO";
/// Our hashed dialect's list of the files the compiler read.
pub const READ: &Token = b"READ";

/// Bytes in a header: the token, then eight hex digits.
pub const HEADER_LEN: usize = 12;
