//! distcc in Rust: one executable that is the client (`distcc`), the
//! compile server (`distccd`), the monitor (`distccmon-text`), and any
//! compiler it is linked as (a masquerade dir of `gcc`, `cc`, ... links).
//!
//! Layout:
//! - `role`: which of those we are, from argv[0].
//! - `exit`: distcc's exit codes; this file is the only place errors
//!   become a process status.
//! - `settings`: the `DISTCC_*` environment, read once.
//! - `protocol`, `lzo`: the wire format and its compression.
//! - `masquerade`: finding the real compiler, the recursion guard.
//! - `client`: argument scanning, host choice, preprocessing, remote and
//!   local compiles.
//! - `daemon`: the server.
//! - `monitor`: `distccmon-text`, from the state files clients leave.
//! - `logging`: where our own messages go (never stdout).
//! - `poll`: waiting on several fds with a deadline.

pub mod client;
pub mod daemon;
pub mod exit;
pub mod includes;
pub mod logging;
pub mod lzo;
pub mod masquerade;
pub mod monitor;
pub mod poll;
pub mod protocol;
pub mod role;
pub mod settings;

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
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let code = exit::code_of(&err);
            eprintln!("{prog}: error: {err:#}");
            ExitCode::from(code.as_u8())
        }
    }
}
