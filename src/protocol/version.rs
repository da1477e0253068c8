//! The protocol versions distcc speaks (there is no negotiation: the
//! server answers in the version the client asked for), the port it
//! listens on, and how `--version` says both.

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
/// has, and which of our extensions (if any) the rest of it follows. The
/// daemon serves each with its own dialect; the reply is always the base
/// version's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dist {
    /// distcc 3.4's protocols 1, 2 and 3.
    Plain(Version),
    /// Our streamed source (`stream`), over protocol 1 or 2.
    Streamed(Version),
    /// Our content-addressed files (`hashed`), over protocol 3.
    Hashed,
}

impl Dist {
    /// `DIST` values of the extensions (0x100 + the base protocol); their
    /// modules, `stream` and `hashed`, own what follows the head.
    pub const STREAMED_RAW: u32 = 0x101;
    pub const STREAMED_LZO: u32 = 0x102;
    pub const HASHED: u32 = 0x103;

    pub fn from_u32(n: u32) -> Option<Dist> {
        Some(match n {
            Dist::STREAMED_RAW => Dist::Streamed(Version::V1),
            Dist::STREAMED_LZO => Dist::Streamed(Version::V2),
            Dist::HASHED => Dist::Hashed,
            n => Dist::Plain(Version::from_u32(n)?),
        })
    }

    pub fn number(self) -> u32 {
        match self {
            Dist::Plain(v) => v.number(),
            Dist::Streamed(Version::V1) => Dist::STREAMED_RAW,
            Dist::Streamed(_) => Dist::STREAMED_LZO,
            Dist::Hashed => Dist::HASHED,
        }
    }

    /// The version whose head layout, bodies and reply the request uses.
    pub fn base(self) -> Version {
        match self {
            Dist::Plain(v) | Dist::Streamed(v) => v,
            Dist::Hashed => Version::V3,
        }
    }
}
