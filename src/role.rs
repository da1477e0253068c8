//! Which program we are, from the basename of argv[0]: one executable plays
//! the client, the daemon, the monitor, and any compiler it is linked as.

use std::ffi::OsStr;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// `distcc [COMPILER] ARGS...`
    Client,
    /// `distccd [OPTIONS]`
    Daemon,
    /// `distccmon-text [DELAY]`
    Monitor,
    /// `distcc-tls-agent DIR`: started by the client, never by hand.
    TlsAgent,
    /// `distcc-scan-agent DIR`: started by the client, never by hand.
    ScanAgent,
    /// Invoked through a masquerade link: `gcc ARGS...` runs as the client
    /// with the real compiler of that name.
    Compiler(String),
}

impl Role {
    pub fn from_argv0(argv0: &OsStr) -> Role {
        let base = Path::new(argv0)
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_default();
        match base.as_str() {
            "distcc" | "" => Role::Client,
            "distccd" => Role::Daemon,
            "distccmon-text" => Role::Monitor,
            "distcc-tls-agent" => Role::TlsAgent,
            "distcc-scan-agent" => Role::ScanAgent,
            name => Role::Compiler(name.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("distcc", Role::Client),
            ("/usr/bin/distcc", Role::Client),
            ("./target/release/distcc", Role::Client),
            ("distccd", Role::Daemon),
            ("/usr/sbin/distccd", Role::Daemon),
            ("distccmon-text", Role::Monitor),
            ("distcc-tls-agent", Role::TlsAgent),
            ("distcc-scan-agent", Role::ScanAgent),
            ("gcc", Role::Compiler("gcc".into())),
            (
                "/usr/lib/distcc/bin/x86_64-linux-gnu-g++-12",
                Role::Compiler("x86_64-linux-gnu-g++-12".into()),
            ),
            ("c++", Role::Compiler("c++".into())),
            ("clang", Role::Compiler("clang".into())),
        ];
        for (argv0, want) in cases {
            assert_eq!(Role::from_argv0(OsStr::new(argv0)), want, "{argv0}");
        }
    }
}
