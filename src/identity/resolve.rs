//! A daemon's choice of compiler for a client's request: clients ask for
//! a name (`gcc`) and send the identity of the compiler they would have
//! run; the volunteer may have several under that name (`gcc`, `gcc-12`,
//! `gcc-13`, `x86_64-linux-gnu-gcc-12`), and the one with that identity
//! runs. Which names a client may ask for at all is the daemon's whitelist
//! (`daemon::compilers`); this module only chooses among what it allows.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::probe::is_executable_file;
use super::{Cache, Identity, Part};

/// A candidate and what it turned out to be.
#[derive(Debug, Clone)]
pub struct Probed {
    pub path: PathBuf,
    pub identity: Result<Identity, String>,
}

/// No candidate has the client's identity; says so naming both sides.
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub client: Identity,
    pub here: Vec<Probed>,
}

/// `client has gcc 12.2.0 x86_64-linux-gnu c (3f2a9b1c0d4e), this host has
/// gcc 13.1.0 x86_64-linux-gnu c (9b1c77aa0213) at /usr/bin/gcc-13`: one
/// line; where version and target agree, the parts that differ.
impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client has {}, this host has ", self.client)?;
        if self.here.is_empty() {
            return write!(f, "no compiler of that name");
        }
        for (i, probed) in self.here.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            match &probed.identity {
                Ok(id) => {
                    write!(f, "{id} at {}", probed.path.display())?;
                    if same_name(id, &self.client) {
                        let parts: Vec<&str> = self
                            .client
                            .differing_parts(id)
                            .into_iter()
                            .map(Part::name)
                            .collect();
                        if !parts.is_empty() {
                            write!(f, " (differs in {})", parts.join(", "))?;
                        }
                    }
                }
                Err(e) => write!(f, "{}: {e}", probed.path.display())?,
            }
        }
        Ok(())
    }
}

fn same_name(a: &Identity, b: &Identity) -> bool {
    a.kind == b.kind && a.version == b.version && a.target == b.target
}

/// The first of `candidates` whose identity for the client's language is
/// `wanted`. Each candidate's identity is cached, so after the first job
/// this costs a few `stat`s per candidate tried.
pub fn resolve(
    cache: &Cache,
    wanted: &Identity,
    candidates: &[PathBuf],
) -> Result<PathBuf, Box<Mismatch>> {
    let mut here = Vec::new();
    for path in candidates {
        match cache.identity(path, wanted.lang) {
            Ok(id) if id.digest == wanted.digest => return Ok(path.clone()),
            Ok(id) => here.push(Probed {
                path: path.clone(),
                identity: Ok(id),
            }),
            Err(e) => here.push(Probed {
                path: path.clone(),
                identity: Err(format!("{e:#}")),
            }),
        }
    }
    Err(Box::new(Mismatch {
        client: wanted.clone(),
        here,
    }))
}

/// The executables in `dirs` that may answer a request for `name`: `name`
/// itself, versioned (`gcc-12`, `gcc-12.2`), and with a target prefix
/// (`x86_64-linux-gnu-gcc`, `x86_64-linux-gnu-gcc-12`). Exact names come
/// first, dirs in order; a file reached under several names is listed
/// once. `self_exe` (distcc itself, which masquerade links lead to) is
/// never a candidate: running it would recurse.
pub fn candidates(name: &str, dirs: &[PathBuf], self_exe: Option<&Path>) -> Vec<PathBuf> {
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    if let Some(id) = self_exe.and_then(file_id) {
        seen.insert(id);
    }
    let mut exact = Vec::new();
    let mut related = Vec::new();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| answers(name, n))
            .collect();
        names.sort();
        for n in names {
            let path = dir.join(&n);
            if n == name {
                exact.push(path);
            } else {
                related.push(path);
            }
        }
    }
    exact
        .into_iter()
        .chain(related)
        .filter(|p| is_executable_file(p))
        .filter(|p| file_id(p).is_some_and(|id| seen.insert(id)))
        .collect()
}

fn file_id(p: &Path) -> Option<(u64, u64)> {
    fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether a file called `file` is a variant of the compiler `name`.
fn answers(name: &str, file: &str) -> bool {
    let is_version = |v: &str| {
        v.starts_with(|c: char| c.is_ascii_digit())
            && v.chars().all(|c| c.is_ascii_digit() || c == '.')
    };
    let versioned = |rest: &str| rest.is_empty() || rest.strip_prefix('-').is_some_and(is_version);
    if let Some(rest) = file.strip_prefix(name) {
        if versioned(rest) {
            return true;
        }
    }
    // A target prefix: `arch-vendor-os` or `arch-os`, at least one dash.
    file.match_indices(&format!("-{name}")).any(|(at, m)| {
        let prefix = &file[..at];
        prefix.contains('-')
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            && versioned(&file[at + m.len()..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn versioned_and_prefixed_names_answer() {
        for (name, file, yes) in [
            ("gcc", "gcc", true),
            ("gcc", "gcc-12", true),
            ("gcc", "gcc-12.2.0", true),
            ("gcc", "x86_64-linux-gnu-gcc", true),
            ("gcc", "x86_64-linux-gnu-gcc-12", true),
            ("gcc", "arm-none-eabi-gcc", true),
            ("gcc", "gcc-ar-12", false),
            ("gcc", "gccgo", false),
            ("gcc", "gcc-", false),
            ("gcc", "gcc-x", false),
            ("gcc", "ccache-gcc", false),
            ("gcc", "x86_64-linux-gnu-gcc-ar", false),
            ("g++", "x86_64-linux-gnu-g++-12", true),
            ("clang", "clang-14", true),
            ("clang", "clang++", false),
            ("clang", "clang-cpp-14", false),
            ("clang++", "clang++-14", true),
            ("cc", "gcc", false),
        ] {
            assert_eq!(answers(name, file), yes, "{name} / {file}");
        }
    }

    #[test]
    fn candidates_come_exact_first_once_each_and_never_self() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        let exe = |p: &Path| {
            fs::write(p, "#!/bin/sh\n").unwrap();
            fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
        };
        exe(&a.join("gcc-13"));
        exe(&b.join("gcc-12"));
        exe(&b.join("gcc"));
        exe(&b.join("gcc-ar-12"));
        fs::write(b.join("gcc-11"), "not executable").unwrap();
        symlink(b.join("gcc-12"), b.join("x86_64-linux-gnu-gcc-12")).unwrap();
        exe(&tmp.path().join("distcc"));
        symlink(tmp.path().join("distcc"), a.join("gcc")).unwrap();

        let found = candidates(
            "gcc",
            &[a.clone(), b.clone()],
            Some(&tmp.path().join("distcc")),
        );
        assert_eq!(found, [b.join("gcc"), a.join("gcc-13"), b.join("gcc-12")]);
        let found = candidates("gcc", &[a.clone(), tmp.path().join("none")], None);
        assert_eq!(found, [a.join("gcc"), a.join("gcc-13")]);
    }
}
