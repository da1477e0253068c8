//! distcc's own command line, before any compiler's: `--help`,
//! `--version`, `--show-hosts`, `--check-hosts` (`check`), `-j`,
//! `--probe` (`probe`), and telling `distcc gcc ...` (a compiler named)
//! from `distcc -c x.c` (none: `cc`). Everything after the compiler's
//! name is the compiler's and never parsed here.

use std::ffi::{OsStr, OsString};

use anyhow::{anyhow, Result};

use crate::exit::Code;
use crate::hosts;
use crate::settings::Settings;

const USAGE: &str = "\
Usage:
   distcc [COMPILER] [compile options] -o OBJECT -c SOURCE
   distcc [--help | --version | --show-hosts | -j]
   distcc --check-hosts [COMPILER]   does each host have this compiler ($CC)?
   distcc --tls-key                            print this client's TLS key
   distcc --trust HOST[:PORT] [SHA256:...]     pin a volunteer's TLS key
   distcc --probe HOST[:PORT]   is our daemon there serving? exit 0 serving,
                                1 draining, 2 unreachable (a readiness probe)

   COMPILER defaults to cc. Jobs that compile one source to an object go to
   the hosts in $DISTCC_HOSTS; everything else runs here.

Environment:
   DISTCC_HOSTS           HOST[/LIMIT][:PORT][,lzo][,cpp|,classic][,tls] ... (see the
                          manual); hosts running this daemon get exact mode unless
                          they say ,classic (preprocess here, as distcc 3.4)
   DISTCC_SCAN=0          exact mode: list each unit's files with the compiler (-M)
                          instead of the include scanner
   DISTCC_VERBOSE=1       explain each decision on stderr
   DISTCC_LOG=FILE        write distcc's messages to FILE instead of stderr
   DISTCC_DIR             locks and state (default ~/.distcc)
   DISTCC_FALLBACK=0      fail instead of compiling locally when distribution fails
   DISTCC_IO_TIMEOUT      seconds each phase of a remote job may take (default 300)
   DISTCC_BACKOFF_PERIOD  seconds a failed host is skipped (default 60)
   DISTCC_SAVE_TEMPS=1    keep the preprocessed file and say where
   DISTCC_STATS=1         say where each job went and its time per phase
";

/// What the command line asks of distcc.
pub enum Request {
    /// Run the compiler `name` with `args`.
    Compile { name: OsString, args: Vec<OsString> },
    /// One of distcc's own options was answered; exit with this status.
    Answered(u8),
}

/// Reads distcc's own options. `masquerade`: we were invoked under a
/// compiler's name, so every argument is the compiler's.
pub fn parse(
    masquerade: Option<&str>,
    args: Vec<OsString>,
    settings: &Settings,
) -> Result<Request> {
    if let Some(name) = masquerade {
        return Ok(Request::Compile {
            name: name.into(),
            args,
        });
    }
    let compile = |name: OsString, args: Vec<OsString>| Ok(Request::Compile { name, args });
    match args.first().and_then(|a| a.to_str()) {
        None if args.is_empty() => {
            eprint!("{USAGE}");
            Err(anyhow!(Code::BadArguments).context("no compiler command given"))
        }
        Some("--help") => {
            print!("{USAGE}");
            Ok(Request::Answered(0))
        }
        Some("--version") => {
            print!("{}", crate::protocol::version_text("distcc"));
            Ok(Request::Answered(0))
        }
        Some("--show-hosts") => show_hosts(settings).map(Request::Answered),
        Some("--check-hosts") => {
            super::check::run(settings, args.get(1).map(OsString::as_os_str)).map(Request::Answered)
        }
        Some("-j") => show_jobs(settings).map(Request::Answered),
        Some("--probe") if args.len() <= 2 => {
            super::probe::run(args.get(1).and_then(|a| a.to_str())).map(Request::Answered)
        }
        Some("--tls-key") if args.len() == 1 => {
            super::trust::show_key(settings).map(Request::Answered)
        }
        Some("--trust") => {
            let rest: Option<Vec<String>> = args[1..]
                .iter()
                .map(|a| a.to_str().map(String::from))
                .collect();
            let rest = rest.ok_or_else(|| {
                anyhow!(Code::BadArguments).context("--trust arguments must be UTF-8")
            })?;
            super::trust::trust(settings, &rest).map(Request::Answered)
        }
        _ if names_compiler(&args[0]) => compile(args[0].clone(), args[1..].to_vec()),
        _ => compile("cc".into(), args),
    }
}

/// `distcc gcc ...` names its compiler; `distcc -c x.c` and `distcc x.c`
/// do not (then it is `cc`), as in the reference.
fn names_compiler(first: &OsStr) -> bool {
    let s = first.to_string_lossy();
    !(s.starts_with('-')
        || crate::args::Lang::from_path(first).is_some()
        || [".o", ".a", ".so", ".h", ".hpp"]
            .iter()
            .any(|e| s.ends_with(e)))
}

fn show_hosts(settings: &Settings) -> Result<u8> {
    match hosts::load(settings)? {
        None => {
            Err(anyhow!(Code::NoHosts)
                .context("no hosts: set DISTCC_HOSTS or write ~/.distcc/hosts"))
        }
        Some(l) => {
            for h in &super::resolve::expand(&l.list, &settings.dir).hosts {
                println!("{h}");
            }
            Ok(0)
        }
    }
}

fn show_jobs(settings: &Settings) -> Result<u8> {
    let n = hosts::load(settings)?.map_or(0, |l| {
        super::resolve::expand(&l.list, &settings.dir).total_slots()
    });
    println!("{}", n.max(1));
    Ok(0)
}
