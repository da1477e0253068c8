//! Source languages and compile modes as gcc's driver decides them: from
//! `-x` or the file suffix, `-c` or `-S`, and the file-name arithmetic
//! (suffixes, basenames) that goes with them. Which options select them is
//! the flag table's (`args::flags`).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// What a compile produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `-c`
    Object,
    /// `-S`
    Assembly,
}

impl Mode {
    /// The suffix (without dot) of what the mode writes: gcc's default
    /// output name is the input's stem with it.
    pub fn suffix(self) -> &'static str {
        match self {
            Mode::Object => "o",
            Mode::Assembly => "s",
        }
    }
}

/// Source language, as gcc decides it from `-x` or the file suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    C,
    Cxx,
    ObjC,
    ObjCxx,
    /// Already preprocessed (`.i`, `.ii`, `.mi`, `.mii`).
    CPre,
    CxxPre,
    ObjCPre,
    ObjCxxPre,
    /// `.s`: plain assembler, no preprocessing.
    Asm,
    /// `.S`/`.sx`: assembler that goes through the preprocessor.
    AsmCpp,
}

/// What a file suffix or `-x` name denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Source(Lang),
    /// Compiling a header makes a precompiled header, a local-only job.
    Header,
    Other,
}

impl Lang {
    /// The language gcc infers from a file name, if it is a compilable
    /// (non-header) C-family or assembler source.
    pub fn from_path(path: &OsStr) -> Option<Lang> {
        match kind_of_suffix(driver_suffix(path.as_bytes())?) {
            Kind::Source(lang) => Some(lang),
            _ => None,
        }
    }

    /// Whether the source still has to go through the preprocessor.
    pub fn needs_cpp(self) -> bool {
        matches!(
            self,
            Lang::C | Lang::Cxx | Lang::ObjC | Lang::ObjCxx | Lang::AsmCpp
        )
    }

    /// The suffix (without dot) gcc gives this language once preprocessed;
    /// the server recognises the language from it, since it gets no `-x`.
    pub fn preprocessed_suffix(self) -> &'static str {
        match self {
            Lang::C | Lang::CPre => "i",
            Lang::Cxx | Lang::CxxPre => "ii",
            Lang::ObjC | Lang::ObjCPre => "mi",
            Lang::ObjCxx | Lang::ObjCxxPre => "mii",
            Lang::Asm | Lang::AsmCpp => "s",
        }
    }

    pub fn is_asm(self) -> bool {
        matches!(self, Lang::Asm | Lang::AsmCpp)
    }
}

/// What a file suffix (without the dot) denotes to gcc's driver.
pub fn kind_of_suffix(suffix: &[u8]) -> Kind {
    match suffix {
        b"c" => Kind::Source(Lang::C),
        b"cc" | b"cp" | b"cxx" | b"cpp" | b"CPP" | b"c++" | b"C" => Kind::Source(Lang::Cxx),
        b"m" => Kind::Source(Lang::ObjC),
        b"mm" | b"M" => Kind::Source(Lang::ObjCxx),
        b"i" => Kind::Source(Lang::CPre),
        b"ii" => Kind::Source(Lang::CxxPre),
        b"mi" => Kind::Source(Lang::ObjCPre),
        b"mii" => Kind::Source(Lang::ObjCxxPre),
        b"s" => Kind::Source(Lang::Asm),
        b"S" | b"sx" => Kind::Source(Lang::AsmCpp),
        b"h" | b"hh" | b"H" | b"hp" | b"hxx" | b"hpp" | b"HPP" | b"h++" | b"tcc" => Kind::Header,
        _ => Kind::Other,
    }
}

/// The meaning of a `-x` argument; `None` for `-x none`.
pub fn kind_of_x(name: &[u8]) -> Option<Kind> {
    Some(match name {
        b"none" => return None,
        b"c" => Kind::Source(Lang::C),
        b"c++" => Kind::Source(Lang::Cxx),
        b"objective-c" => Kind::Source(Lang::ObjC),
        b"objective-c++" => Kind::Source(Lang::ObjCxx),
        b"cpp-output" => Kind::Source(Lang::CPre),
        b"c++-cpp-output" => Kind::Source(Lang::CxxPre),
        b"objective-c-cpp-output" | b"objc-cpp-output" => Kind::Source(Lang::ObjCPre),
        b"objective-c++-cpp-output" | b"objc++-cpp-output" => Kind::Source(Lang::ObjCxxPre),
        b"assembler" => Kind::Source(Lang::Asm),
        b"assembler-with-cpp" => Kind::Source(Lang::AsmCpp),
        b"c-header"
        | b"c++-header"
        | b"objective-c-header"
        | b"objective-c++-header"
        | b"c++-system-header"
        | b"c++-user-header" => Kind::Header,
        _ => Kind::Other,
    })
}

/// The last component of a path, as bytes.
pub fn basename(path: &[u8]) -> &[u8] {
    path.iter()
        .rposition(|&b| b == b'/')
        .map_or(path, |p| &path[p + 1..])
}

/// The suffix as gcc's driver sees it: after the last dot of the basename,
/// provided the dot is not its first character.
pub fn driver_suffix(path: &[u8]) -> Option<&[u8]> {
    let base = basename(path);
    match base.iter().rposition(|&b| b == b'.') {
        Some(dot) if dot > 0 => Some(&base[dot + 1..]),
        _ => None,
    }
}

/// `path` without its driver suffix and the dot before it.
pub fn strip_driver_suffix(path: &[u8]) -> &[u8] {
    match driver_suffix(path) {
        Some(suffix) => &path[..path.len() - suffix.len() - 1],
        None => path,
    }
}

/// `stem.suffix`.
pub fn with_suffix(stem: &[u8], suffix: &str) -> OsString {
    let mut v = stem.to_vec();
    v.push(b'.');
    v.extend_from_slice(suffix.as_bytes());
    OsString::from_vec(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_as_the_driver_sees_them() {
        assert_eq!(driver_suffix(b"dir.d/x.tar.c"), Some(&b"c"[..]));
        assert_eq!(driver_suffix(b"dir.d/.hidden"), None);
        assert_eq!(driver_suffix(b"noext"), None);
        assert_eq!(strip_driver_suffix(b"a/b.cc"), b"a/b");
        assert_eq!(with_suffix(b"x", Mode::Assembly.suffix()), "x.s");
        assert_eq!(Lang::from_path(OsStr::new("x.cpp")), Some(Lang::Cxx));
        assert_eq!(Lang::from_path(OsStr::new("x.h")), None);
        assert_eq!(kind_of_x(b"none"), None);
        assert_eq!(kind_of_x(b"c-header"), Some(Kind::Header));
    }
}
