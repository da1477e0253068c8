//! `distccd`'s own command line (argh), parsed with `from_args` so tests
//! need no process. The compiler's argv never meets this parser.

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

    /// reference distcc's opt-out of the compiler whitelist: refused here,
    /// since it lets any client run any program
    #[argh(switch)]
    pub enable_tcp_insecure: bool,
}

impl Options {
    /// `--help` anywhere asks for help, as with the reference's parser
    /// (argh alone only honours it last).
    pub fn parse(args: &[&str]) -> Result<Options, argh::EarlyExit> {
        if args.contains(&"--help") {
            return Options::from_args(&["distccd"], &["--help"]);
        }
        Options::from_args(&["distccd"], args)
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
