//! `distccd`'s own command line (argh), parsed with `from_args` so tests
//! need no process. The compiler's argv never meets this parser.
//!
//! distcc 3.4 parses with popt, which takes `--opt=value` and `-jN` as
//! well as `--opt value` and `-j N`, and init scripts, unit files and
//! distcc's own test suite use both; argh takes only the separate forms,
//! so the joined ones are split first ([`popt_forms`]).

use std::path::PathBuf;

use argh::FromArgs;

/// distccd: the distcc compile server. Runs whitelisted compilers on
/// preprocessed sources sent by distcc clients.
#[derive(FromArgs, Debug, Default, PartialEq)]
pub struct Options {
    /// run as a standalone server listening on a TCP port
    #[argh(switch)]
    pub daemon: bool,

    /// serve one connection on stdin/stdout (inetd, systemd Accept=yes, ssh)
    #[argh(switch)]
    pub inetd: bool,

    /// stay in the foreground instead of detaching
    #[argh(switch)]
    pub no_detach: bool,

    /// serve one job at a time in the foreground, for debugging
    #[argh(switch)]
    pub no_fork: bool,

    /// TCP port to listen on (default 3632)
    #[argh(option, short = 'p')]
    pub port: Option<u16>,

    /// address to listen on (default: all addresses)
    #[argh(option)]
    pub listen: Option<String>,

    /// allow clients from this address or CIDR network (repeatable;
    /// default: loopback only)
    #[argh(option, short = 'a')]
    pub allow: Vec<String>,

    /// allow clients from loopback and the private networks
    #[argh(switch)]
    pub allow_private: bool,

    /// maximum number of compiles running at once (default: cores + 2);
    /// as many more compilers may wait, idle, for a streamed source
    #[argh(option, short = 'j')]
    pub jobs: Option<u32>,

    /// maximum number of connections served at once: past their request
    /// head, sending their source, waiting for a job slot, compiling or
    /// reading their reply (default: 16 x jobs + 64); connections still
    /// sending their head wait apart, without a thread, up to what the
    /// descriptor limit allows
    #[argh(option)]
    pub max_connections: Option<u32>,

    /// niceness for the daemon and its compilers (default 5)
    #[argh(option, short = 'N')]
    pub nice: Option<i32>,

    /// write the daemon's pid to this file once listening
    #[argh(option, short = 'P')]
    pub pid_file: Option<PathBuf>,

    /// append log messages to this file (reopened on SIGHUP)
    #[argh(option)]
    pub log_file: Option<PathBuf>,

    /// log to stderr
    #[argh(switch)]
    pub log_stderr: bool,

    /// log level: critical, error, warning, notice, info or debug
    /// (default notice)
    #[argh(option)]
    pub log_level: Option<String>,

    /// log debug messages
    #[argh(switch)]
    pub verbose: bool,

    /// print the version and exit
    #[argh(switch)]
    pub version: bool,

    /// drop root privileges to this user (default: distcc, distccd, then
    /// nobody); compiling as root is refused
    #[argh(option)]
    pub user: Option<String>,

    /// kill a compiler that runs longer than this many seconds
    #[argh(option)]
    pub job_lifetime: Option<u64>,

    /// seconds a client may take to send its request, and to read the
    /// reply (default: $DISTCC_IO_TIMEOUT or 300)
    #[argh(option)]
    pub io_timeout: Option<u64>,

    /// serve a plain-text status page on the stats port
    #[argh(switch)]
    pub stats: bool,

    /// port of the status page (default 3633)
    #[argh(option)]
    pub stats_port: Option<u16>,

    /// a masquerade dir whose links name the allowed compilers (repeatable;
    /// adds to PREFIX/lib/distcc/bin and /usr/lib/distcc)
    #[argh(option)]
    pub compiler_dir: Vec<PathBuf>,

    /// feed the compiler its input from a temp file rather than a pipe
    /// (for temp dirs on NFS); accepted for compatibility: input always
    /// goes through a temp file here
    #[argh(switch)]
    pub no_fifo: bool,

    /// accepted for compatibility: jobs run on threads, not pre-forked
    /// processes
    #[argh(switch)]
    pub no_prefork: bool,

    /// exit after this many seconds, once running jobs are done
    #[argh(option)]
    pub lifetime: Option<u64>,

    /// CPU-time limit of each compiler, in seconds
    #[argh(option)]
    pub limit_cpu: Option<u64>,

    /// largest file a compiler may write, in MiB
    #[argh(option)]
    pub limit_fsize: Option<u64>,

    /// address-space limit of each compiler, in MiB
    #[argh(option)]
    pub limit_as: Option<u64>,

    /// largest request body accepted, in MiB (default 1024)
    #[argh(option)]
    pub max_body: Option<u64>,

    /// run compilers without the Landlock filesystem sandbox (for wrapper
    /// compilers that must write outside the job dir)
    #[argh(switch)]
    pub no_sandbox: bool,

    /// size of exact mode's header store, in MiB (default 256; 0 disables)
    #[argh(option)]
    pub store_size: Option<u64>,

    /// serve TLS clients (hosts written `HOST,tls`) with the key and
    /// authorized_keys in this directory, on the TLS port
    #[argh(option)]
    pub tls_dir: Option<PathBuf>,

    /// TLS port (default 3634)
    #[argh(option)]
    pub tls_port: Option<u16>,

    /// serve only TLS clients: no plain port (needs --tls-dir)
    #[argh(switch)]
    pub tls_only: bool,

    /// create the TLS key in --tls-dir (and an empty authorized_keys),
    /// print its fingerprint, and exit
    #[argh(switch)]
    pub tls_keygen: bool,

    /// print the fingerprint of the TLS key in --tls-dir and exit, for
    /// clients to check before they pin it
    #[argh(switch)]
    pub tls_fingerprint: bool,
    /// size of the result cache shared by all clients, in MiB (default 0:
    /// off); identical compiles are then answered from it
    #[argh(option)]
    pub cache_size: Option<u64>,

    /// where the result cache lives (default $TMPDIR/distccd-cache-UID)
    #[argh(option)]
    pub cache_dir: Option<PathBuf>,

    /// announce this daemon on the local network (`_distcc._tcp`) through
    /// the system's Avahi, for clients with `+zeroconf` hosts
    #[argh(switch)]
    pub zeroconf: bool,

    /// accepted for compatibility with distcc 3.4, whose opt-out of its
    /// compiler whitelist it is; here only allowed compilers run, always
    #[argh(switch)]
    pub enable_tcp_insecure: bool,
}

/// Long options that take a value, as argh names them (a test checks the
/// list against the parser's own usage line).
const LONG_WITH_VALUE: &[&str] = &[
    "--allow",
    "--cache-dir",
    "--cache-size",
    "--compiler-dir",
    "--io-timeout",
    "--job-lifetime",
    "--jobs",
    "--lifetime",
    "--limit-as",
    "--limit-cpu",
    "--limit-fsize",
    "--listen",
    "--log-file",
    "--log-level",
    "--max-body",
    "--max-connections",
    "--nice",
    "--pid-file",
    "--port",
    "--stats-port",
    "--store-size",
    "--tls-dir",
    "--tls-port",
    "--user",
];

/// Short options that take a value.
const SHORT_WITH_VALUE: &[&str] = &["-N", "-P", "-a", "-j", "-p"];

/// `args` with popt's joined forms split as argh expects them:
/// `--port=3632` becomes `--port 3632`, `-j4` becomes `-j 4`. Anything
/// else, including `--switch=x`, is left for argh to judge.
pub fn popt_forms<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::with_capacity(args.len() + 4);
    for &a in args {
        if let Some((name, value)) = a.split_once('=') {
            if LONG_WITH_VALUE.contains(&name) {
                out.extend([name, value]);
                continue;
            }
        }
        let short = a.get(..2).filter(|s| SHORT_WITH_VALUE.contains(s));
        match short {
            Some(flag) if a.len() > 2 => out.extend([flag, &a[2..]]),
            _ => out.push(a),
        }
    }
    out
}

impl Options {
    /// `--help` anywhere asks for help, as with the reference's parser
    /// (argh alone only honours it last).
    pub fn parse(args: &[&str]) -> Result<Options, argh::EarlyExit> {
        if args.contains(&"--help") {
            return Options::from_args(&["distccd"], &["--help"]);
        }
        Options::from_args(&["distccd"], &popt_forms(args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typical_daemon_line() {
        let o = Options::parse(&[
            "--daemon",
            "--no-detach",
            "--listen",
            "127.0.0.1",
            "--port",
            "4000",
            "--allow",
            "127.0.0.1",
            "--allow",
            "10.0.0.0/8",
            "--log-file",
            "/tmp/d.log",
            "-j",
            "3",
        ])
        .unwrap();
        assert!(o.daemon && o.no_detach);
        assert_eq!(o.port, Some(4000));
        assert_eq!(o.allow, vec!["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(o.jobs, Some(3));
        assert_eq!(o.listen.as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn short_options() {
        let o = Options::parse(&["-p", "1", "-N", "10", "-P", "/run/d.pid", "-a", "::1"]).unwrap();
        assert_eq!(o.port, Some(1));
        assert_eq!(o.nice, Some(10));
        assert_eq!(o.pid_file, Some(PathBuf::from("/run/d.pid")));
        assert_eq!(o.allow, vec!["::1"]);
    }

    #[test]
    fn bad_options_are_errors() {
        assert!(Options::parse(&["--port", "x"]).is_err());
        assert!(Options::parse(&["--bogus"]).is_err());
        assert!(Options::parse(&["--port", "70000"]).is_err());
    }

    /// distcc's own test suite starts the daemon with this line.
    #[test]
    fn the_reference_suites_command_line() {
        let o = Options::parse(&[
            "--verbose",
            "--lifetime=60",
            "--daemon",
            "--log-file",
            "/tmp/l",
            "--pid-file",
            "/tmp/p",
            "--port",
            "4000",
            "--allow",
            "127.0.0.1",
            "--enable-tcp-insecure",
        ])
        .unwrap();
        assert!(o.verbose && o.daemon && o.enable_tcp_insecure);
        assert_eq!((o.lifetime, o.port), (Some(60), Some(4000)));
    }

    /// Every option that takes a value, in each of popt's forms, parses as
    /// it does in argh's.
    #[test]
    fn every_value_option_in_both_forms() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("--allow", Some("-a"), "10.0.0.0/8"),
            ("--cache-dir", None, "/var/cache/distccd"),
            ("--cache-size", None, "1024"),
            ("--compiler-dir", None, "/opt/masq"),
            ("--io-timeout", None, "30"),
            ("--job-lifetime", None, "60"),
            ("--jobs", Some("-j"), "4"),
            ("--lifetime", None, "60"),
            ("--limit-as", None, "2048"),
            ("--limit-cpu", None, "100"),
            ("--limit-fsize", None, "512"),
            ("--listen", None, "127.0.0.1"),
            ("--log-file", None, "/var/log/d.log"),
            ("--log-level", None, "info"),
            ("--max-body", None, "100"),
            ("--max-connections", None, "20"),
            ("--nice", Some("-N"), "10"),
            ("--pid-file", Some("-P"), "/run/d.pid"),
            ("--port", Some("-p"), "3632"),
            ("--stats-port", None, "3633"),
            ("--store-size", None, "64"),
            ("--tls-dir", None, "/etc/distcc/tls"),
            ("--tls-port", None, "3634"),
            ("--user", None, "distcc"),
        ];
        let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
        assert_eq!(names, LONG_WITH_VALUE, "every value option is covered");
        for &(long, short, value) in cases {
            let want = Options::parse(&[long, value]).unwrap();
            assert_ne!(want, Options::default(), "{long}");
            let joined = format!("{long}={value}");
            assert_eq!(
                Options::parse(&[joined.as_str()]).unwrap(),
                want,
                "{joined}"
            );
            if let Some(short) = short {
                assert_eq!(Options::parse(&[short, value]).unwrap(), want, "{short}");
                let glued = format!("{short}{value}");
                assert_eq!(Options::parse(&[glued.as_str()]).unwrap(), want, "{glued}");
            }
        }
        assert!(Options::parse(&["--daemon=yes"]).is_err());
        // A value that holds an =, as --log-file=a=b does, keeps it.
        let o = Options::parse(&["--log-file=/tmp/a=b"]).unwrap();
        assert_eq!(o.log_file, Some(PathBuf::from("/tmp/a=b")));
    }

    /// The lists of options that take a value are the parser's own.
    #[test]
    fn value_options_are_those_the_parser_knows() {
        let help = Options::parse(&["--help"]).unwrap_err().output;
        let usage = help.lines().next().unwrap();
        let mut long = Vec::new();
        let mut short = Vec::new();
        for item in usage.split('[').skip(1) {
            let mut words = item.trim_end_matches([']', ' ']).split(' ');
            let (Some(name), Some(_value)) = (words.next(), words.next()) else {
                continue;
            };
            if name.starts_with("--") {
                long.push(name.to_string());
            } else {
                short.push(name.to_string());
                let at = help.find(&format!("  {name}, --")).unwrap() + name.len() + 4;
                long.push(help[at..].split_whitespace().next().unwrap().to_string());
            }
        }
        long.sort();
        short.sort();
        assert_eq!(long, LONG_WITH_VALUE);
        assert_eq!(short, SHORT_WITH_VALUE);
    }

    #[test]
    fn help_is_an_early_exit() {
        for args in [
            &["--help"][..],
            &["--help", "--port", "1"],
            &["-p", "1", "--help"],
        ] {
            let e = Options::parse(args).unwrap_err();
            assert!(e.status.is_ok(), "{args:?}");
            assert!(e.output.contains("--allow"));
        }
    }
}
