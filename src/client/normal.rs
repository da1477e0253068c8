//! Paths in the one form the scan's list and the server's list of files
//! read are compared in: absolute from the job's cwd, with `.` and `..`
//! applied lexically (as the compiler names them, links not followed).

use std::path::{Component, Path, PathBuf};

/// `p` made absolute from `cwd` with `.` and `..` applied lexically, the
/// form both the scan's and the server's lists are compared in.
pub fn normalise(cwd: &Path, p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    let joined;
    let p = if p.is_absolute() {
        p
    } else {
        joined = cwd.join(p);
        &joined
    };
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
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
    }
}
