//! Which argument lists the daemon compiles. This is the one place the
//! daemon's argument policy is written down; the data it applies lives in
//! the flag table (`client::flags::FLAGS`, its class column and
//! [`Class::server_safe`](crate::client::flags::Class::server_safe)).
//!
//! The rule: a received argv (after the compiler name, which the
//! whitelist in `compilers` judges) is compiled only if
//! - every option is a row of the flag table whose class is server-safe
//!   once its argument is known: code generation, warnings, optimisation,
//!   debug info, language standard, target knobs, and the preprocessor's
//!   `-D`/`-U`/`-I`/`-isystem`..., which name nothing on this machine
//!   because the source arrives preprocessed. `--sysroot`/`-isysroot` are
//!   accepted, as the reference daemon does: they steer only header and
//!   library search, and neither happens when compiling preprocessed
//!   input with `-c`/`-S`;
//! - an option the table knows only by a catch-all prefix (`-f...`,
//!   `-m...`) carries no path in its argument;
//! - there is `-c` or `-S`, at most one `-o`, and exactly one input, whose
//!   name looks like a C-family or assembler source. The input and output
//!   names are replaced by our own temp files, so absolute names and `..`
//!   (what distcc 3.4 sends for CMake and VPATH builds) are accepted and
//!   never opened;
//! - no word starts with `@`, wherever it stands.
//!
//! Everything else is refused with [`Code::BadArguments`] (exit 101) and
//! the reason in the reply's stderr: programs and specs (`-wrapper`, `-B`,
//! `-specs=`, `-fplugin*`, `-Xclang`), files read or written beside the
//! job (`-Wa,-a...`, `-Wl,`, `-aux-info`, `-fdump-*`, `-save-temps`,
//! `-dumpbase`/`-dumpdir`, `-fprofile-*`, `-fsanitize-*list=`, `-MD`,
//! `-include`, ...), other modes (`-E`, `-M`), other output options.
//!
//! To extend the policy, add a row to the flag table (or make an existing
//! one more precise); never loosen a check here. What each refusal here
//! stops is said on the function that makes it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use super::compilers::Refusal;
use crate::client::scan::{self, ServerJob};
use crate::exit::Code;

/// Checks the client's arguments (argv without the compiler name).
pub fn check(args: &[OsString]) -> Result<ServerJob, Refusal> {
    check_no_response_file(args)?;
    let job =
        scan::server_scan(args).map_err(|why| refusal(format!("refused arguments: {why}")))?;
    Ok(job)
}

fn refusal(message: String) -> Refusal {
    Refusal {
        code: Code::BadArguments,
        message,
    }
}

/// gcc and clang replace every word that starts with `@` by the contents
/// of the file it names, even where the word is an option's argument
/// (`-D @/etc/passwd`). That would let a client splice options we never
/// checked from any file on this machine (a response file it left in a
/// shared temp dir, `/proc/self/environ`), and echo files into the
/// compiler's error messages. No argument is exempt; our client expands
/// response files before sending.
fn check_no_response_file(args: &[OsString]) -> Result<(), Refusal> {
    match args.iter().find(|a| a.as_bytes().first() == Some(&b'@')) {
        Some(a) => Err(refusal(format!(
            "refused response file {:?}: words starting with @ are read as files",
            a.to_string_lossy()
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
