//! Paths in the one form the scan's list and the server's list of files
//! read are compared in: absolute from the job's cwd, with `.` and `..`
//! applied lexically (as the compiler names them, links not followed).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// `p` made absolute from `cwd` with `.` and `..` applied lexically, the
/// form both the scan's and the server's lists are compared in. Done on
/// bytes: a warm job normalises every file it names, and `Path`'s
/// component walk showed in its profile.
pub fn normalise(cwd: &Path, p: &Path) -> PathBuf {
    let p = p.as_os_str().as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(cwd.as_os_str().len() + p.len() + 1);
    if p.first() != Some(&b'/') {
        push_all(&mut out, cwd.as_os_str().as_bytes());
    }
    push_all(&mut out, p);
    if out.is_empty() {
        out.push(b'/');
    }
    PathBuf::from(OsString::from_vec(out))
}

/// Appends `path`'s components to `out` (a normalised absolute path, or
/// empty for the root), applying `.` and `..`.
fn push_all(out: &mut Vec<u8>, path: &[u8]) {
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                let cut = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(cut);
            }
            name => {
                out.push(b'/');
                out.extend_from_slice(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_relative_and_dotted_paths() {
        let cwd = Path::new("/w/p");
        assert_eq!(
            normalise(cwd, Path::new("inc/../a.h")),
            Path::new("/w/p/a.h")
        );
        assert_eq!(normalise(cwd, Path::new("./b.h")), Path::new("/w/p/b.h"));
        assert_eq!(
            normalise(cwd, Path::new("/usr//x.h")),
            Path::new("/usr/x.h")
        );
        assert_eq!(normalise(cwd, Path::new("../../../x.h")), Path::new("/x.h"));
        assert_eq!(normalise(cwd, Path::new("..")), Path::new("/w"));
        assert_eq!(normalise(cwd, Path::new("../..")), Path::new("/"));
        assert_eq!(normalise(Path::new("/"), Path::new(".")), Path::new("/"));
        assert_eq!(
            normalise(Path::new("/w/"), Path::new("a/./b/")),
            Path::new("/w/a/b")
        );
    }

    #[test]
    fn agrees_with_a_component_walk() {
        use std::path::Component;
        let walk = |cwd: &Path, p: &Path| {
            let mut out = PathBuf::from("/");
            for c in cwd.join(p).components() {
                match c {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::Normal(n) => out.push(n),
                    _ => {}
                }
            }
            out
        };
        let parts = ["a", "..", ".", "", "b.h", "..."];
        for x in parts {
            for y in parts {
                for z in parts {
                    let p = format!("{x}/{y}/{z}");
                    for cwd in ["/w/p", "/", "/w"] {
                        let (cwd, p) = (Path::new(cwd), Path::new(&p));
                        assert_eq!(normalise(cwd, p), walk(cwd, p), "{cwd:?} {p:?}");
                    }
                }
            }
        }
    }
}
