//! Which argument lists the daemon compiles: the flag table's "safe on the
//! server" column (`client::flags`) applied to every option, plus the
//! checks on file names that only the server side needs.
//!
//! Everything not known to be harmless is refused, so the policy grows by
//! adding rows to the flag table, never by loosening a check here. What
//! each refusal stops is said where it is made.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use super::compilers::Refusal;
use crate::client::scan::{self, ServerJob};
use crate::exit::Code;

/// Checks the client's arguments (argv without the compiler name).
pub fn check(args: &[OsString]) -> Result<ServerJob, Refusal> {
    let job = scan::server_scan(args).map_err(|why| Refusal {
        code: Code::BadArguments,
        message: format!("refused arguments: {why}"),
    })?;
    check_input_name(&args[job.input_index])?;
    Ok(job)
}

/// The input is replaced by our own temp file, but a name that climbs out
/// of the job dir or names an absolute path says the client is probing for
/// files on the server; refuse it rather than guess its intent.
fn check_input_name(name: &OsString) -> Result<(), Refusal> {
    let p = Path::new(name);
    let climbs = p.components().any(|c| c == Component::ParentDir);
    if p.is_absolute() || climbs || name.as_bytes().contains(&0) {
        return Err(Refusal {
            code: Code::BadArguments,
            message: format!(
                "refused input name {:?}: absolute or contains \"..\"",
                name.to_string_lossy()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn ordinary_compiles_pass() {
        for ok in [
            "-c hello.c -o hello.o",
            "-O2 -g -Wall -c x.c -o x.o",
            "-S x.c -o x.s",
            "-std=c++17 -fPIC -c a.cpp -o a.o",
            "-c x.i -o x.o",
        ] {
            assert!(check(&args(ok)).is_ok(), "{ok}");
        }
    }

    #[test]
    fn hostile_arguments_are_refused() {
        for bad in [
            "-c x.c -o x.o -wrapper /bin/sh",
            "-c x.c -o x.o -B/tmp/evil",
            "-c x.c -o x.o -fplugin=/tmp/evil.so",
            "-c x.c -o x.o -specs=/tmp/evil.specs",
            "-c x.c -o x.o @/etc/passwd",
            "-c x.c -o x.o -Wa,-adhln=/tmp/listing",
            "-c x.c -o x.o -Wl,-rpath,/x",
            "-c x.c -o x.o -aux-info /tmp/aux",
            "-c x.c -o x.o -fdump-tree-all",
            "-c x.c -o x.o -save-temps",
            "-c /etc/passwd.c -o x.o",
            "-c ../../x.c -o x.o",
            "-c a.c b.c -o x.o",
            "sh -c id",
            "-c x.c -o x.o -fprofile-generate=/tmp/p",
        ] {
            assert!(check(&args(bad)).is_err(), "{bad}");
        }
    }
}
