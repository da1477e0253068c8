//! Finding the real compiler behind a name, and refusing to find ourselves.
//!
//! Invoked as `gcc` from a masquerade dir (a dir of links to this binary put
//! first on PATH), we trim PATH up to and including that dir and look the
//! name up in what remains, skipping any entry that is this very executable
//! (a second masquerade dir, a stray link). The trimmed PATH is what the
//! compiler and its helpers (`as`, `ld`, `collect2`) see, so they cannot
//! reach the masquerade either.
//!
//! A loop that the PATH walk cannot see (a wrapper script that calls
//! `distcc` again, `CC=distcc` baked into a compiler wrapper) is caught by
//! [`SAFEGUARD`]: every compiler we start inherits it, and a client that
//! finds it set is being run by its own compiler.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

use crate::exit::Code;
use crate::sys::{identity, is_executable};

/// Set in the environment of every compiler the client starts; its value
/// names the compiler, for the recursion message.
pub const SAFEGUARD: &str = "_DISTCC_SAFEGUARD";

/// The real compiler to run, and the PATH it should run with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiler {
    pub path: PathBuf,
    /// PATH with the masquerade dirs removed; `None` keeps ours.
    pub search_path: Option<OsString>,
}

/// Fails with exit 111 when `value` says a compiler we started ran us.
pub fn check_safeguard(value: Option<&OsStr>) -> Result<()> {
    match value {
        Some(v) if !v.is_empty() => Err(anyhow!(Code::Recursion).context(format!(
            "distcc was started again by the compiler it ran ({}); \
             a wrapper or link calls distcc recursively",
            v.to_string_lossy()
        ))),
        _ => Ok(()),
    }
}

/// Resolves `name` to the real compiler.
///
/// `masquerade`: we were invoked as `argv0` (a compiler name), so PATH is
/// trimmed through the dir that holds that link. Otherwise (`distcc gcc`)
/// PATH is searched whole, skipping only entries that are ourselves.
pub fn find_compiler(
    name: &OsStr,
    argv0: &OsStr,
    masquerade: bool,
    path_var: &OsStr,
    self_exe: &Path,
) -> Result<Compiler> {
    let me = identity(self_exe);
    let is_me = |p: &Path| me.is_some() && identity(p) == me;

    if Path::new(name).components().count() > 1 {
        let p = PathBuf::from(name);
        if is_me(&p) {
            return Err(
                anyhow!(Code::Recursion).context(format!("{} is distcc itself", p.display()))
            );
        }
        return Ok(Compiler {
            path: p,
            search_path: None,
        });
    }

    let dirs: Vec<PathBuf> = std::env::split_paths(path_var).collect();
    let start = if masquerade {
        masquerade_dir_index(argv0, name, &dirs, &is_me).map_or(0, |i| i + 1)
    } else {
        0
    };
    let remaining = &dirs[start..];
    let mut skipped = Vec::new();
    for dir in remaining {
        let candidate = dir.join(name);
        if !is_executable(&candidate) {
            continue;
        }
        if is_me(&candidate) {
            skipped.push(candidate);
            continue;
        }
        let search_path = if masquerade {
            Some(std::env::join_paths(remaining).unwrap_or_else(|_| path_var.to_os_string()))
        } else {
            None
        };
        return Ok(Compiler {
            path: candidate,
            search_path,
        });
    }
    if skipped.is_empty() {
        return Err(anyhow!(Code::CompilerMissing).context(format!(
            "failed to exec {}: No such file or directory (not found on PATH)",
            name.to_string_lossy()
        )));
    }
    let chains: Vec<String> = skipped.iter().map(|p| link_chain(p)).collect();
    let after = match start {
        0 => String::new(),
        i => format!(" after the masquerade dir {}", dirs[i - 1].display()),
    };
    Err(anyhow!(Code::Recursion).context(format!(
        "calling {:?} would loop back into distcc: every {:?} on PATH{after} is distcc \
         itself ({}); refusing to call myself",
        name.to_string_lossy(),
        name.to_string_lossy(),
        chains.join("; ")
    )))
}

/// `p -> hop -> ... -> target`, following symlinks one at a time, so the
/// recursion message shows how a link reaches us (`masq/gcc -> other/gcc
/// -> bin/distcc`) rather than only where it starts.
fn link_chain(p: &Path) -> String {
    // Linux gives up after 40 hops; so do we, rather than loop forever.
    const MAX_HOPS: usize = 40;
    let mut hops = vec![p.display().to_string()];
    let mut cur = p.to_path_buf();
    for _ in 0..MAX_HOPS {
        let Ok(target) = fs::read_link(&cur) else {
            break;
        };
        cur = normalise(&cur.parent().unwrap_or(Path::new("/")).join(target));
        hops.push(cur.display().to_string());
    }
    hops.join(" -> ")
}

/// Folds `.` and `..` without touching the filesystem, for display only.
fn normalise(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(c);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The PATH entry we were found in as a masquerading compiler.
fn masquerade_dir_index(
    argv0: &OsStr,
    name: &OsStr,
    dirs: &[PathBuf],
    is_me: &dyn Fn(&Path) -> bool,
) -> Option<usize> {
    let argv0 = Path::new(argv0);
    if argv0.components().count() > 1 {
        // Invoked by path: the dir of that path, wherever it is on PATH.
        let parent = argv0.parent()?;
        let canon = fs::canonicalize(parent).ok()?;
        return dirs
            .iter()
            .position(|d| fs::canonicalize(d).ok().as_deref() == Some(canon.as_path()));
    }
    dirs.iter().position(|d| is_me(&d.join(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn exe(dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    struct Tree {
        _tmp: tempfile::TempDir,
        me: PathBuf,
        masq: PathBuf,
        later_masq: PathBuf,
        real: PathBuf,
    }

    fn tree() -> Tree {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        let masq = tmp.path().join("masq");
        let later_masq = tmp.path().join("masq2");
        let real = tmp.path().join("real");
        for d in [&bin, &masq, &later_masq, &real] {
            fs::create_dir(d).unwrap();
        }
        let me = exe(&bin, "distcc");
        symlink(&me, masq.join("gcc")).unwrap();
        symlink(&me, later_masq.join("gcc")).unwrap();
        exe(&real, "gcc");
        Tree {
            _tmp: tmp,
            me,
            masq,
            later_masq,
            real,
        }
    }

    fn path(dirs: &[&Path]) -> OsString {
        std::env::join_paths(dirs).unwrap()
    }

    #[test]
    fn masquerade_trims_through_its_dir_and_skips_self() {
        let t = tree();
        let p = path(&[&t.real, &t.masq, &t.later_masq, &t.real]);
        let c = find_compiler("gcc".as_ref(), "gcc".as_ref(), true, &p, &t.me).unwrap();
        assert_eq!(c.path, t.real.join("gcc"));
        // The real dir before the masquerade is trimmed away with it.
        assert_eq!(c.search_path.unwrap(), path(&[&t.later_masq, &t.real]));
    }

    #[test]
    fn masquerade_by_path() {
        let t = tree();
        let argv0 = t.masq.join("gcc");
        let p = path(&[&t.masq, &t.real]);
        let c = find_compiler("gcc".as_ref(), argv0.as_os_str(), true, &p, &t.me).unwrap();
        assert_eq!(c.path, t.real.join("gcc"));
    }

    #[test]
    fn only_ourselves_is_recursion() {
        let t = tree();
        let p = path(&[&t.masq, &t.later_masq]);
        let err = find_compiler("gcc".as_ref(), "gcc".as_ref(), true, &p, &t.me).unwrap_err();
        assert_eq!(crate::exit::code_of(&err), Code::Recursion);
        assert!(format!("{err:#}").contains("masq2"), "{err:#}");
    }

    #[test]
    fn recursion_message_shows_each_link_hop() {
        let t = tree();
        let other = t._tmp.path().join("other");
        let masq3 = t._tmp.path().join("masq3");
        fs::create_dir(&other).unwrap();
        fs::create_dir(&masq3).unwrap();
        symlink("../bin/distcc", other.join("gcc")).unwrap();
        symlink(other.join("gcc"), masq3.join("gcc")).unwrap();
        let p = path(&[&t.masq, &masq3]);
        let err = find_compiler("gcc".as_ref(), "gcc".as_ref(), true, &p, &t.me).unwrap_err();
        assert_eq!(crate::exit::code_of(&err), Code::Recursion);
        let want = format!(
            "{} -> {} -> {}",
            masq3.join("gcc").display(),
            other.join("gcc").display(),
            t.me.display()
        );
        let msg = format!("{err:#}");
        assert!(msg.contains(&want), "{msg}");
        assert!(msg.contains(&t.masq.display().to_string()), "{msg}");
    }

    #[test]
    fn link_chain_stops_on_a_symlink_cycle() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        symlink(&b, &a).unwrap();
        symlink(&a, &b).unwrap();
        assert_eq!(link_chain(&a).matches(" -> ").count(), 40);
    }

    #[test]
    fn missing_compiler() {
        let t = tree();
        let p = path(&[&t.real]);
        let err = find_compiler("clang".as_ref(), "distcc".as_ref(), false, &p, &t.me).unwrap_err();
        assert_eq!(crate::exit::code_of(&err), Code::CompilerMissing);
    }

    #[test]
    fn plain_client_skips_links_to_self() {
        let t = tree();
        let p = path(&[&t.masq, &t.real]);
        let c = find_compiler("gcc".as_ref(), "distcc".as_ref(), false, &p, &t.me).unwrap();
        assert_eq!(c.path, t.real.join("gcc"));
        assert_eq!(c.search_path, None);
    }

    #[test]
    fn explicit_path_to_self_is_recursion() {
        let t = tree();
        let link = t.masq.join("gcc");
        let err = find_compiler(
            link.as_os_str(),
            "distcc".as_ref(),
            false,
            "".as_ref(),
            &t.me,
        )
        .unwrap_err();
        assert_eq!(crate::exit::code_of(&err), Code::Recursion);
    }

    #[test]
    fn safeguard() {
        assert!(check_safeguard(None).is_ok());
        assert!(check_safeguard(Some("".as_ref())).is_ok());
        let err = check_safeguard(Some("/usr/bin/gcc".as_ref())).unwrap_err();
        assert_eq!(crate::exit::code_of(&err), Code::Recursion);
    }
}
