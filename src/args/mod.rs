//! The compiler command line as data, shared by every role: the flag table
//! (`flags`: arity, joined or separate, class, carries a path), option
//! parsing (`opt`), source languages and modes (`lang`), and response
//! files (`respfile`). The client's scanner decides from it what to send
//! (`client::scan`), the daemon's policy what to accept (`daemon::policy`),
//! exact mode's mirror what to rewrite (`daemon::mirror`); none of those
//! decisions live here.

pub mod flags;
pub mod lang;
pub mod opt;
pub mod respfile;

pub use lang::{Lang, Mode};

/// Whether a path names a file below the directory it is relative to:
/// relative, without `..`, and naming a file. Such an output can be
/// written under the same name in a job dir elsewhere (`-gsplit-dwarf`
/// objects record their `.dwo` by this name).
pub fn stays_below(path: &std::path::Path) -> bool {
    use std::path::Component;
    path.file_name().is_some()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}
pub use opt::{parse_opt, Opt};
