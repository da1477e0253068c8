//! Our hashed dialect's verification aid: the list of files the compiler
//! actually read, returned with the reply (`OutputKind::Reads`), so the
//! client can check that its include scanner shipped all of them.
//!
//! The list is the compiler's own dependency output. gcc writes one
//! dependency file per compile, so: without dependency options of the
//! user's, `SUNPRO_DEPENDENCIES` asks for one in the job dir (every file,
//! system headers included, the source left out) without touching the
//! command line, which the object records; with `-MD`, the user's file
//! lists every file already; with `-MMD` it leaves system headers out, so
//! the command line is run once more as a listing only (`-M`, after the
//! object is read), the volunteer paying what the client no longer does.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use super::unmap;

/// Where the list of files read comes from.
#[derive(Debug, Clone)]
pub enum ReadsFrom {
    /// A file the compiler writes because of `SUNPRO_DEPENDENCIES`.
    Env(PathBuf),
    /// The user's own dependency file (from `-MD`: every file).
    Deps,
    /// A second run with `-M` into this file (the user's `-MMD` file
    /// leaves system headers out).
    Rerun(PathBuf),
}

impl ReadsFrom {
    /// How a mirrored compile with (`deps`: the user's dependency file,
    /// `deps_all`: from `-MD`) or without its own dependency options gets
    /// its list, and the environment that asks for it.
    pub fn choose(
        job_dir: &Path,
        deps: bool,
        deps_all: bool,
    ) -> (ReadsFrom, Vec<(OsString, OsString)>) {
        let file = job_dir.join("reads.d");
        if deps {
            let from = if deps_all {
                ReadsFrom::Deps
            } else {
                ReadsFrom::Rerun(file)
            };
            return (from, Vec::new());
        }
        let env = vec![("SUNPRO_DEPENDENCIES".into(), file.clone().into_os_string())];
        (ReadsFrom::Env(file), env)
    }

    /// The list for the reply: `all` (every file, system headers too),
    /// then the dependency text with the mirror's root taken out; empty
    /// when the compiler wrote none (a fatal error), which the client
    /// cannot verify.
    pub fn collect(&self, deps_file: Option<&Path>, unmap_prefix: Option<&[u8]>) -> Vec<u8> {
        let file = match self {
            ReadsFrom::Env(f) | ReadsFrom::Rerun(f) => Some(f.as_path()),
            ReadsFrom::Deps => deps_file,
        };
        let Some(text) = file.and_then(|f| fs::read(f).ok()) else {
            return Vec::new();
        };
        let text = match unmap_prefix {
            Some(p) => unmap::reflow_deps(&unmap::remove_all(text, p)),
            None => text,
        };
        let mut out = b"all\n".to_vec();
        out.extend_from_slice(&text);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_every_file_read() {
        let dir = tempfile::tempdir().unwrap();
        let (env_way, env) = ReadsFrom::choose(dir.path(), false, false);
        assert_eq!(env[0].0, "SUNPRO_DEPENDENCIES");
        assert!(env_way.collect(None, None).is_empty(), "nothing written");
        fs::write(
            dir.path().join("reads.d"),
            "x.o: /r/root/w/h.h /usr/include/stdio.h\n",
        )
        .unwrap();
        let got = env_way.collect(None, Some(b"/r/root"));
        assert_eq!(got, b"all\nx.o: /w/h.h /usr/include/stdio.h\n");
        let user = dir.path().join("deps.d");
        fs::write(&user, "x.o: x.c h.h\n").unwrap();
        let (md, env) = ReadsFrom::choose(dir.path(), true, true);
        assert!(env.is_empty(), "the user's own file is the list");
        assert_eq!(md.collect(Some(&user), None), b"all\nx.o: x.c h.h\n");
        let (mmd, _) = ReadsFrom::choose(dir.path(), true, false);
        assert!(matches!(mmd, ReadsFrom::Rerun(_)), "-MMD's file is partial");
    }
}
