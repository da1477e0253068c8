//! distcc in Rust: one executable that is the client (`distcc`), the
//! compile server (`distccd`), the monitor (`distccmon-text`), and any
//! compiler it is linked as (a masquerade dir of `gcc`, `cc`, ... links).
//!
//! The layout has three floors; a module imports only from its own floor
//! or below, a shared layer never imports a role, and no role imports
//! another.
//!
//! Floor 1, leaves (import nothing above them):
//! - `exit`: distcc's exit codes and the wait status that carries them.
//! - `sys`: the few libc wrappers (pipes, non-blocking fds, poll and
//!   epoll, file identity, is-executable, process exists, CPUs, strerror).
//! - `lzo`: the LZO1X codec; `zstd`: zstd bodies for our own dialects.
//! - `role`: which program we are, from argv[0].
//! - `settings`: the environment, read once (client's and daemon's).
//! - `masquerade`: finding the real compiler, the recursion guard.
//! - `logging`: where our own messages go (never stdout).
//!
//! Floor 2, shared by every role:
//! - `includes`: the include scanner: which files a unit reads, from
//!   cached directive skeletons, without running the preprocessor.
//! - `protocol`: the wire format over Read/Write (a Codec per connection,
//!   a reply with named outputs; our extensions: `stream`, `hashed`,
//!   `identity` assertions, the `status` query).
//! - `args`: the compiler command line as data: the flag table (with a
//!   path column), option parsing, languages and modes, response files.
//! - `hosts`: the `DISTCC_HOSTS` grammar, the host list, where it is read.
//! - `identity`: what a compiler is (version, target, the bytes of its
//!   programs), cached by file identity; a daemon's choice among compilers.
//! - `state`: what clients share on disk and the monitor reads: running
//!   jobs, history, backoff, the state dir.
//! - `tls`: keys, pins and authorized keys, a TLS 1.3 stream (rustls).
//! - `helper`: a per-user helper process (the agents): started by a
//!   client, detached, serving its user only, ending itself when idle.
//! - `transport`: one type for a byte stream to a volunteer (TCP, ssh,
//!   TLS, TLS through the agent).
//!
//! Floor 3, the roles:
//! - `client`: scanning a command line, choosing a host, preprocessing,
//!   remote and local compiles, the fallback.
//! - `daemon`: the server: listening, policy, running compilers, replies.
//! - `monitor`: `distccmon-text`, from the state files clients leave.
//! - `agent`: `distcc-tls-agent`, the per-user process the client starts
//!   to keep TLS sessions with volunteers, so that jobs resume them.
//! - `scan_agent`: `distcc-scan-agent`, the per-user process the client
//!   starts to scan its jobs' units with every header's skeleton kept in
//!   memory.
//!
//! This file is the one place an error becomes a process status.

// Floor 1.
pub mod exit;
pub mod logging;
pub mod lzo;
pub mod masquerade;
pub mod role;
pub mod settings;
pub mod sys;
pub mod zstd;

// Floor 2.
pub mod args;
pub mod helper;
pub mod hosts;
pub mod identity;
pub mod includes;
pub mod protocol;
pub mod state;
pub mod tls;
pub mod transport;

// Floor 3.
pub mod agent;
pub mod client;
pub mod daemon;
pub mod monitor;
pub mod scan_agent;

use std::ffi::OsString;
use std::process::ExitCode;

use role::Role;

pub fn main() -> ExitCode {
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_else(|| OsString::from("distcc"));
    let args: Vec<OsString> = argv.collect();
    let role = Role::from_argv0(&argv0);
    let (prog, result) = match &role {
        Role::Client => ("distcc", client::main(&argv0, None, args)),
        Role::Compiler(name) => ("distcc", client::main(&argv0, Some(name), args)),
        Role::Daemon => ("distccd", daemon::main(&args)),
        Role::Monitor => ("distccmon-text", monitor::main(&args)),
        Role::TlsAgent => (transport::agent::PROGRAM, agent::main(&args)),
        Role::ScanAgent => (includes::agent::PROGRAM, scan_agent::main(&args)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let code = protocol::exit_code(&err);
            eprintln!("{prog}: error: {err:#}");
            ExitCode::from(code.as_u8())
        }
    }
}
