//! What every step of one job reads and nothing changes: the settings,
//! the real compiler, the compiler's name and the user's arguments, and
//! the record the monitor sees ([`Context`]). The host loop hands it down
//! to each dialect; nothing below it reaches back up.

use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::path::Path;

use super::{lock, pick};
use crate::masquerade::Compiler;
use crate::settings::Settings;
use crate::state::JobState;

pub struct Context<'a> {
    pub settings: &'a Settings,
    pub compiler: &'a Compiler,
    /// The compiler as the user named it, sent as argv[0].
    pub name: &'a OsStr,
    /// The user's arguments, unexpanded (what a local compile runs).
    pub args: &'a [OsString],
    /// What the monitor sees of this job.
    pub state: &'a JobState,
    /// Compiler identities and file digests (`$DISTCC_DIR/cache`), one
    /// cache for the job, so the scan and the assertions take the
    /// compiler's identity once.
    pub identities: &'a crate::identity::Cache,
}

impl Context<'_> {
    /// The server's argv[0]: the compiler's basename.
    pub fn argv0(&self) -> OsString {
        Path::new(self.name)
            .file_name()
            .unwrap_or(self.name)
            .to_os_string()
    }

    /// gcc colours diagnostics only when its stderr is a terminal, and the
    /// server's never is: ask for colour explicitly when ours is and the
    /// user has not chosen.
    pub fn colour_arg(&self) -> Option<OsString> {
        let chosen = self.args.iter().any(|a| {
            let a = a.to_string_lossy();
            a.starts_with("-fdiagnostics-color") || a.starts_with("-fno-diagnostics-color")
        });
        (!chosen && self.settings.colour && std::io::stderr().is_terminal())
            .then(|| "-fdiagnostics-color=always".into())
    }

    /// The server's argv: argv[0], then `args`, then colour if wanted.
    pub fn server_argv(&self, args: Vec<OsString>) -> Vec<OsString> {
        let mut argv = vec![self.argv0()];
        argv.extend(args);
        argv.extend(self.colour_arg());
        argv
    }

    /// Takes one of the `slots` local preprocessing slots, waiting if all
    /// are busy.
    pub fn cpp_slot(&self, slots: u32) -> anyhow::Result<lock::Slot> {
        lock::acquire_cpp(&pick::lock_dir(self.settings), slots)
    }
}
