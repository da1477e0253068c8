//! The compiler whitelist: which programs a client may make the daemon run.
//!
//! A client names its compiler as argv[0]. That name runs only if it is a
//! link in a masquerade dir (ours at `PREFIX/lib/distcc/bin`, Debian's
//! `/usr/lib/distcc`, or a `--compiler-dir`) or a line of the file named by
//! `DISTCC_CMDLIST`, as in distcc 3.x. The program that runs is then the
//! real compiler of that name found on the daemon's PATH with the
//! masquerade dirs skipped, never the link itself (which is distcc) and
//! never anything the client spells as a path of its own choosing: this is
//! what stops CVE-2004-2687 (`ARGV sh -c ...`).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::refusal::Refusal;
use crate::exit::Code;
use crate::sys::{identity, is_executable};

#[derive(Debug, Clone)]
pub struct Whitelist {
    dirs: Vec<PathBuf>,
    /// `DISTCC_CMDLIST` entries: bare names or absolute paths.
    listed: Vec<PathBuf>,
    search_path: Vec<PathBuf>,
    self_id: Option<(u64, u64)>,
}

/// The masquerade dirs consulted when none is given: our own install's and
/// the reference's.
pub fn default_dirs(self_exe: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(prefix) = fs::canonicalize(self_exe)
        .ok()
        .and_then(|p| p.parent()?.parent().map(Path::to_path_buf))
    {
        dirs.push(prefix.join("lib/distcc/bin"));
    }
    for d in [
        "/usr/lib/distcc/bin",
        "/usr/lib/distcc",
        "/usr/local/lib/distcc/bin",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// Reads a `DISTCC_CMDLIST` file: one command per line, `#` comments.
pub fn read_cmdlist(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    Ok(fs::read_to_string(path)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(PathBuf::from)
        .collect())
}

impl Whitelist {
    pub fn new(
        dirs: Vec<PathBuf>,
        listed: Vec<PathBuf>,
        path_var: &OsStr,
        self_exe: &Path,
    ) -> Self {
        let dirs: Vec<PathBuf> = dirs.into_iter().filter(|d| d.is_dir()).collect();
        let canon_dirs: Vec<PathBuf> = dirs
            .iter()
            .filter_map(|d| fs::canonicalize(d).ok())
            .collect();
        let search_path = std::env::split_paths(path_var)
            .filter(|d| d.is_absolute())
            .filter(|d| {
                fs::canonicalize(d)
                    .map(|c| !canon_dirs.contains(&c))
                    .unwrap_or(false)
            })
            .collect();
        Whitelist {
            dirs,
            listed,
            search_path,
            self_id: identity(self_exe),
        }
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The dirs real compilers are looked up in, masquerade dirs left out.
    pub fn search_path(&self) -> &[PathBuf] {
        &self.search_path
    }

    /// The program to run for the client's argv[0], or why not.
    pub fn resolve(&self, requested: &OsStr) -> Result<PathBuf, Refusal> {
        let shown = requested.to_string_lossy();
        let bytes = requested.as_bytes();
        if bytes.is_empty() || bytes[0] == b'-' {
            return Err(Refusal::new(
                Code::BadArguments,
                format!("{shown:?} is not a compiler name"),
            ));
        }
        let path = Path::new(requested);
        if path.is_absolute() {
            return self.resolve_absolute(path);
        }
        if bytes.contains(&b'/') {
            return Err(Refusal::new(
                Code::BadArguments,
                format!("relative compiler path {shown:?} is not allowed"),
            ));
        }
        self.resolve_name(requested)
    }

    fn resolve_name(&self, name: &OsStr) -> Result<PathBuf, Refusal> {
        let shown = name.to_string_lossy();
        if let Some(listed) = self
            .listed
            .iter()
            .find(|l| l.is_absolute() && l.file_name() == Some(name))
        {
            return if is_executable(listed) {
                Ok(listed.clone())
            } else {
                Err(Refusal::new(
                    Code::CompilerMissing,
                    format!("{} is listed but not executable", listed.display()),
                ))
            };
        }
        let links: Vec<PathBuf> = self
            .dirs
            .iter()
            .map(|d| d.join(name))
            .filter(|p| p.symlink_metadata().is_ok())
            .collect();
        let listed_bare = self.listed.iter().any(|l| l.as_os_str() == name);
        if links.is_empty() && !listed_bare {
            // No program of that name at all: distcc 3.4's words (its
            // test suite and scripts look for "failed to exec").
            let message = match self.on_path(name) {
                false => format!("failed to exec {shown}: no such compiler on this server"),
                true => format!(
                    "compiler {shown:?} is not allowed: it is not linked in a masquerade dir ({})",
                    self.dirs_text()
                ),
            };
            return Err(Refusal::new(Code::CompilerMissing, message));
        }
        // Links in the masquerade dirs point at a distcc binary, ours or the
        // reference's; skip whatever they resolve to.
        let masq_ids: Vec<(u64, u64)> = links.iter().filter_map(|l| identity(l)).collect();
        for dir in &self.search_path {
            let candidate = dir.join(name);
            if !is_executable(&candidate) {
                continue;
            }
            let id = identity(&candidate);
            if id.is_some() && (id == self.self_id || masq_ids.contains(&id.unwrap())) {
                continue;
            }
            return Ok(candidate);
        }
        Err(Refusal::new(
            Code::CompilerMissing,
            format!("failed to exec {shown}: allowed, but not installed on this server"),
        ))
    }

    /// Whether an executable of this name is on the search path.
    fn on_path(&self, name: &OsStr) -> bool {
        self.search_path
            .iter()
            .any(|dir| is_executable(&dir.join(name)))
    }

    /// An absolute compiler name. distcc 3.4 strips `/usr/bin/` and
    /// `/bin/` and looks up what is left, so clients send `/usr/bin/gcc`
    /// for "gcc" as this daemon resolves it; we do the same. Any other
    /// absolute name is served only if it is, file for file, a compiler
    /// some allowed name resolves to, and then that compiler runs: never a
    /// path of the client's choosing.
    fn resolve_absolute(&self, path: &Path) -> Result<PathBuf, Refusal> {
        let shown = path.display();
        let stripped = ["/usr/bin", "/bin"]
            .iter()
            .filter_map(|dir| path.strip_prefix(dir).ok())
            .find(|rest| rest.components().count() == 1);
        if let Some(name) = stripped {
            if let Ok(program) = self.resolve_name(name.as_os_str()) {
                return Ok(program);
            }
        }
        let target = fs::canonicalize(path).map_err(|e| {
            Refusal::new(
                Code::CompilerMissing,
                format!("compiler path {shown} does not exist on this server: {e}"),
            )
        })?;
        let same = |program: &PathBuf| fs::canonicalize(program).is_ok_and(|c| c == target);
        let allowed = self.allowed().into_iter().find_map(|name| {
            let program = self.resolve_name(&name).ok()?;
            same(&program).then_some(program)
        });
        allowed.ok_or_else(|| {
            Refusal::new(
                Code::BadArguments,
                format!(
                    "compiler path {shown} is not an allowed compiler: it is none of the \
                     compilers linked in a masquerade dir ({}) or listed in DISTCC_CMDLIST",
                    self.dirs_text()
                ),
            )
        })
    }

    /// Every name a client may give as its compiler.
    fn allowed(&self) -> Vec<OsString> {
        let mut names = allowed_names(self);
        names.extend(
            self.listed
                .iter()
                .filter_map(|l| l.file_name().map(OsStr::to_os_string)),
        );
        names.sort();
        names.dedup();
        names
    }

    fn dirs_text(&self) -> String {
        if self.dirs.is_empty() {
            return "none found".into();
        }
        let v: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        v.join(", ")
    }
}

/// Names a whitelist allows, for logs and `--help`-style listings.
pub fn allowed_names(w: &Whitelist) -> Vec<OsString> {
    let mut names: Vec<OsString> = w
        .dirs
        .iter()
        .filter_map(|d| fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    struct Setup {
        tmp: tempfile::TempDir,
        w: Whitelist,
    }

    fn exe(p: &Path) {
        fs::write(p, "#!/bin/sh\n").unwrap();
        fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn setup(listed: Vec<PathBuf>) -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        for d in ["bin", "masq", "real", "other"] {
            fs::create_dir(t.join(d)).unwrap();
        }
        exe(&t.join("bin/distcc"));
        exe(&t.join("real/gcc"));
        exe(&t.join("real/sh"));
        exe(&t.join("other/cc1"));
        symlink(t.join("bin/distcc"), t.join("masq/gcc")).unwrap();
        symlink(t.join("bin/distcc"), t.join("masq/ghost")).unwrap();
        let path = std::env::join_paths([t.join("masq"), t.join("real"), t.join("other")]).unwrap();
        let w = Whitelist::new(vec![t.join("masq")], listed, &path, &t.join("bin/distcc"));
        Setup { tmp, w }
    }

    #[test]
    fn linked_name_resolves_to_real_compiler() {
        let s = setup(vec![]);
        assert_eq!(
            s.w.resolve("gcc".as_ref()).unwrap(),
            s.tmp.path().join("real/gcc")
        );
    }

    #[test]
    fn cve_2004_2687_shell_is_refused() {
        let s = setup(vec![]);
        let r = s.w.resolve("sh".as_ref()).unwrap_err();
        assert_eq!(r.code, Code::CompilerMissing);
        assert!(s.w.resolve("/bin/sh".as_ref()).is_err());
        assert!(s.w.resolve("cc1".as_ref()).is_err());
    }

    #[test]
    fn paths_the_client_chooses_are_refused() {
        let s = setup(vec![]);
        for bad in ["../real/gcc", "real/gcc", "-gcc", "", "./gcc"] {
            assert!(s.w.resolve(bad.as_ref()).is_err(), "{bad}");
        }
        // An absolute path is fine only when it is the allowed compiler.
        let real = s.tmp.path().join("real/gcc");
        assert_eq!(s.w.resolve(real.as_os_str()).unwrap(), real);
        let other = s.tmp.path().join("real/sh");
        let r = s.w.resolve(other.as_os_str()).unwrap_err();
        assert_eq!(r.code, Code::BadArguments);
        assert!(
            r.message.contains("not an allowed compiler"),
            "{}",
            r.message
        );
    }

    #[test]
    fn absolute_names_that_are_an_allowed_compiler_run_that_compiler() {
        let s = setup(vec![]);
        let t = s.tmp.path();
        // Another name for the allowed gcc, of a name no dir links.
        symlink(t.join("real/gcc"), t.join("other/my-gcc")).unwrap();
        assert_eq!(
            s.w.resolve(t.join("other/my-gcc").as_os_str()).unwrap(),
            t.join("real/gcc")
        );
        // distcc 3.4 strips /usr/bin/ and /bin/: the name is looked up.
        assert_eq!(
            s.w.resolve("/usr/bin/gcc".as_ref()).unwrap(),
            t.join("real/gcc")
        );
        assert_eq!(
            s.w.resolve("/bin/gcc".as_ref()).unwrap(),
            t.join("real/gcc")
        );
        let r = s.w.resolve("/usr/bin/sh".as_ref()).unwrap_err();
        assert_eq!(r.code, Code::BadArguments, "{}", r.message);
        let r = s.w.resolve("/no/such/gcc".as_ref()).unwrap_err();
        assert_eq!(r.code, Code::CompilerMissing, "{}", r.message);
    }

    #[test]
    fn linked_but_missing_compiler() {
        let s = setup(vec![]);
        let r = s.w.resolve("ghost".as_ref()).unwrap_err();
        assert_eq!(r.code, Code::CompilerMissing);
        assert!(
            r.message.starts_with("failed to exec ghost: ") && r.message.contains("not installed"),
            "{}",
            r.message
        );
    }

    /// A name nothing here answers to is "failed to exec", as distcc 3.4
    /// says; a program that exists but is not allowed is "not allowed".
    #[test]
    fn missing_compiler_in_distcc_34s_words() {
        let s = setup(vec![]);
        let r = s.w.resolve("nosuchcc".as_ref()).unwrap_err();
        assert_eq!(r.code, Code::CompilerMissing);
        assert_eq!(
            r.message,
            "failed to exec nosuchcc: no such compiler on this server"
        );
        let r = s.w.resolve("sh".as_ref()).unwrap_err();
        assert!(r.message.contains("is not allowed"), "{}", r.message);
    }

    #[test]
    fn cmdlist_entries() {
        let tmp_listed = setup(vec![PathBuf::from("sh")]);
        assert_eq!(
            tmp_listed.w.resolve("sh".as_ref()).unwrap(),
            tmp_listed.tmp.path().join("real/sh")
        );
        let s = setup(vec![]);
        let abs = s.tmp.path().join("other/cc1");
        let path = std::env::join_paths([s.tmp.path().join("real")]).unwrap();
        let w = Whitelist::new(
            vec![],
            vec![abs.clone()],
            &path,
            &s.tmp.path().join("bin/distcc"),
        );
        assert_eq!(w.resolve("cc1".as_ref()).unwrap(), abs);
    }
}
