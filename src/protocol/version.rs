//! The protocol versions distcc speaks (there is no negotiation: the
//! server answers in the version the client asked for), the port it
//! listens on, and how `--version` says both.

use super::codec::Codec;

/// The TCP port distcc servers listen on unless told otherwise (IANA's
/// registration for distcc).
pub const DEFAULT_PORT: u16 = 3632;

/// Protocol versions. There is no negotiation: the server answers in the
/// version the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    /// Preprocessed source, raw bodies.
    V1 = 1,
    /// Preprocessed source, LZO1X bodies.
    V2 = 2,
    /// Sources and headers instead of preprocessed text ("pump"); LZO
    /// bodies; the reply adds the dependency file.
    V3 = 3,
}

impl Version {
    /// Every version we speak, client and server alike.
    pub const ALL: [Version; 3] = [Version::V1, Version::V2, Version::V3];

    /// The codec distcc 3.4 uses with this version.
    pub fn codec(self) -> Codec {
        match self {
            Version::V1 => Codec::Raw,
            Version::V2 | Version::V3 => Codec::Lzo,
        }
    }

    pub fn from_u32(n: u32) -> Option<Version> {
        match n {
            1 => Some(Version::V1),
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }

    pub fn number(self) -> u32 {
        self as u32
    }
}

/// What `--version` says about the wire, in the reference's words:
/// `(protocols 1, 2 and 3) (default port 3632)`.
pub fn version_banner() -> String {
    let numbers: Vec<String> = Version::ALL
        .iter()
        .map(|v| v.number().to_string())
        .collect();
    let (last, rest) = numbers.split_last().expect("at least one version");
    format!(
        "(protocols {} and {last}) (default port {DEFAULT_PORT})",
        rest.join(", ")
    )
}

/// `--version` of PROGRAM in distcc 3.4's form, which scripts (and 3.4's
/// own test suite) read: the name, version and platform, then the protocols
/// and port indented on the second line, then what this build adds.
pub fn version_text(program: &str) -> String {
    format!(
        "{program} {} {}-{}\n  {}\n  distcc in Rust: distcc 3.4's protocols, and for its own \
         daemons streamed sources and exact mode (,cpp hosts)\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS,
        version_banner()
    )
}

/// What a request's `DIST` says: the distcc version whose layout the head
/// has, and which of our extensions (if any) the rest of it follows, with
/// the codec of its bodies. The daemon serves each with its own dialect;
/// the reply is always the base version's, in the request's codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dist {
    /// distcc 3.4's protocols 1, 2 and 3.
    Plain(Version),
    /// Our streamed source (`stream`), over protocol 1 (raw) or 2 (LZO or
    /// zstd); the last field: the client reads a reply note (`note`).
    Streamed(Version, Codec, bool),
    /// Our content-addressed files (`hashed`), over protocol 3 (LZO or
    /// zstd); then: the client reads a reply note (`note`); the manifest
    /// may name shadows (`hashed::SHDW`).
    Hashed(Codec, bool, bool),
}

impl Dist {
    /// `DIST` values of the extensions (0x100 + the base protocol, + 0x10
    /// for zstd bodies); their modules, `stream` and `hashed`, own what
    /// follows the head. distcc 3.4 closes the connection on every one of
    /// them, and so does one of our daemons from before zstd on the zstd
    /// values, which is how a client learns what a host speaks.
    pub const STREAMED_RAW: u32 = 0x101;
    pub const STREAMED_LZO: u32 = 0x102;
    pub const HASHED: u32 = 0x103;
    pub const STREAMED_ZSTD: u32 = 0x112;
    pub const HASHED_ZSTD: u32 = 0x113;
    /// Added to an extension's value: the client reads a note after the
    /// reply (`note`). Our daemons from before notes close on these values,
    /// as on any they do not know, and the client asks without it then.
    pub const NOTED: u32 = 0x20;
    /// Added to a hashed value: the manifest may name shadows, empty
    /// files the volunteer must see (`hashed::SHDW`). Sent only by a
    /// request that has some; our daemons from before shadows close on
    /// it, and the client then sends none to that host.
    pub const SHADOWED: u32 = 0x40;

    pub fn from_u32(n: u32) -> Option<Dist> {
        let ext = n > 0x100;
        let noted = ext && n & Dist::NOTED != 0;
        let shadowed = ext && n & Dist::SHADOWED != 0;
        let flags = if ext { Dist::NOTED | Dist::SHADOWED } else { 0 };
        Some(match n & !flags {
            Dist::STREAMED_RAW if !shadowed => Dist::Streamed(Version::V1, Codec::Raw, noted),
            Dist::STREAMED_LZO if !shadowed => Dist::Streamed(Version::V2, Codec::Lzo, noted),
            Dist::STREAMED_ZSTD if !shadowed => Dist::Streamed(Version::V2, Codec::Zstd, noted),
            Dist::HASHED => Dist::Hashed(Codec::Lzo, noted, shadowed),
            Dist::HASHED_ZSTD => Dist::Hashed(Codec::Zstd, noted, shadowed),
            n if !ext => Dist::Plain(Version::from_u32(n)?),
            _ => return None,
        })
    }

    /// The streamed extension with bodies in `codec`: raw bodies over
    /// protocol 1's layout, compressed ones over protocol 2's.
    pub fn streamed(codec: Codec) -> Dist {
        match codec {
            Codec::Raw => Dist::Streamed(Version::V1, Codec::Raw, false),
            c => Dist::Streamed(Version::V2, c, false),
        }
    }

    /// The hashed extension with bodies in `codec` (LZO unless zstd: its
    /// base, protocol 3, always compresses).
    pub fn hashed(codec: Codec) -> Dist {
        match codec {
            Codec::Zstd => Dist::Hashed(Codec::Zstd, false, false),
            _ => Dist::Hashed(Codec::Lzo, false, false),
        }
    }

    /// The same request, asking for a reply note or not; distcc 3.4's
    /// protocols never carry one.
    pub fn noted(self, on: bool) -> Dist {
        match self {
            Dist::Plain(v) => Dist::Plain(v),
            Dist::Streamed(v, c, _) => Dist::Streamed(v, c, on),
            Dist::Hashed(c, _, s) => Dist::Hashed(c, on, s),
        }
    }

    /// The same request, its manifest naming shadows or not; only the
    /// hashed extension can.
    pub fn shadowed(self, on: bool) -> Dist {
        match self {
            Dist::Hashed(c, n, _) => Dist::Hashed(c, n, on),
            d => d,
        }
    }

    /// Whether the client reads a note after the reply.
    pub fn notes(self) -> bool {
        match self {
            Dist::Plain(_) => false,
            Dist::Streamed(_, _, on) | Dist::Hashed(_, on, _) => on,
        }
    }

    /// Whether the manifest may name shadows.
    pub fn shadows(self) -> bool {
        matches!(self, Dist::Hashed(_, _, true))
    }

    pub fn number(self) -> u32 {
        let n = match self {
            Dist::Plain(v) => v.number(),
            Dist::Streamed(_, Codec::Raw, _) => Dist::STREAMED_RAW,
            Dist::Streamed(_, Codec::Lzo, _) => Dist::STREAMED_LZO,
            Dist::Streamed(_, Codec::Zstd, _) => Dist::STREAMED_ZSTD,
            Dist::Hashed(Codec::Zstd, ..) => Dist::HASHED_ZSTD,
            Dist::Hashed(..) => Dist::HASHED,
        };
        let n = if self.notes() { n | Dist::NOTED } else { n };
        if self.shadows() {
            n | Dist::SHADOWED
        } else {
            n
        }
    }

    /// The version whose head layout and reply the request uses.
    pub fn base(self) -> Version {
        match self {
            Dist::Plain(v) | Dist::Streamed(v, ..) => v,
            Dist::Hashed(..) => Version::V3,
        }
    }

    /// The codec of the request's bodies and of its reply's.
    pub fn codec(self) -> Codec {
        match self {
            Dist::Plain(v) => v.codec(),
            Dist::Streamed(_, c, _) | Dist::Hashed(c, _, _) => c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dist_values_round_trip() {
        for n in [1, 2, 3, 0x101, 0x102, 0x103, 0x112, 0x113] {
            let d = Dist::from_u32(n).unwrap();
            assert_eq!(d.number(), n, "{d:?}");
            assert!(!d.notes());
            if n > 0x100 {
                let noted = Dist::from_u32(n | Dist::NOTED).unwrap();
                assert_eq!((noted.notes(), noted.noted(false)), (true, d), "{n:#x}");
                assert_eq!(d.noted(true).number(), n | Dist::NOTED);
            } else {
                assert_eq!(d.noted(true), d, "distcc 3.4's protocols carry no note");
            }
        }
        for n in [0x103, 0x113] {
            for noted in [false, true] {
                let d = Dist::from_u32(n).unwrap().noted(noted).shadowed(true);
                assert!(d.shadows() && d.notes() == noted);
                assert_eq!(Dist::from_u32(d.number()), Some(d));
                assert_eq!(d.shadowed(false).number() | Dist::SHADOWED, d.number());
            }
        }
        assert_eq!(Dist::from_u32(0x142), None, "only hashed names shadows");
        assert_eq!(Dist::from_u32(0x43), None);
        assert_eq!(Dist::streamed(Codec::Lzo).shadowed(true).number(), 0x102);
        assert_eq!(Dist::from_u32(0x111), None);
        assert_eq!(Dist::from_u32(0x131), None);
        assert_eq!(Dist::from_u32(0x22), None);
        assert_eq!(
            Dist::from_u32(0x110),
            None,
            "the status query is no request"
        );
        assert_eq!(Dist::streamed(Codec::Zstd).number(), 0x112);
        assert_eq!(Dist::hashed(Codec::Raw).number(), 0x103);
        assert_eq!(Dist::from_u32(0x113).unwrap().codec(), Codec::Zstd);
        assert_eq!(Dist::from_u32(2).unwrap().codec(), Codec::Lzo);
    }
}
