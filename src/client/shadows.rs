//! What the volunteer must see at the names the scan found could stand in
//! front of a predicted file (`includes::shadow`): a compile that reads
//! one where the scan did not expect it would, on a volunteer without it,
//! fall through to the predicted file, and the check of the files read
//! (`verify`) could not tell. So each such name is made to exist there:
//! - under a system dir (the volunteer's own), it is asserted present
//!   with its digest, like the system headers read (`assertions`);
//! - elsewhere it is a shadow, a name without a body: our daemon puts an
//!   empty file there (`protocol::hashed::SHDW`). If the compile opens it,
//!   it is a file read that was not predicted, and the job is redone.
//!
//! Most units have none. A name under a dir that is a link here is left
//! out (said under `DISTCC_VERBOSE`): the volunteer sees the link only if
//! it was shipped, and a shadow through it could land on a shipped file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::normal::normalise;
use super::scanned::Expected;
use super::shipped::Shipped;

/// The names to make exist on the volunteer, absolute and normalised.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shadows {
    /// Non-system names, sent as shadows.
    pub names: Vec<PathBuf>,
    /// Names under system dirs, asserted present.
    pub system: Vec<PathBuf>,
}

/// Sorts the scan's `found` names into shadows and system assertions,
/// leaving out what is predicted (read or shipped) already.
pub fn of(cwd: &Path, found: &[PathBuf], expected: &Expected, files: &[Shipped]) -> Shadows {
    let mut out = Shadows::default();
    if found.is_empty() {
        return out;
    }
    let shipped: HashSet<&Path> = files.iter().map(|f| Path::new(&f.name)).collect();
    for p in found {
        let p = normalise(cwd, p);
        if expected.files.contains(&p) || shipped.contains(p.as_path()) {
            continue;
        }
        if expected.system.iter().any(|d| p.starts_with(d)) {
            out.system.push(p);
        } else if linked_dir(&p) {
            log::info!("{}: under a linked dir; no shadow sent", p.display());
        } else {
            out.names.push(p);
        }
    }
    for v in [&mut out.names, &mut out.system] {
        v.sort();
        v.dedup();
    }
    out
}

/// Whether `p`'s dir is reached through a link (or cannot be resolved).
fn linked_dir(p: &Path) -> bool {
    let dir = p.parent().unwrap_or(Path::new("/"));
    std::fs::canonicalize(dir).map_or(true, |c| c != dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::shipped::Body;

    #[test]
    fn predicted_names_are_left_out_and_system_ones_asserted() {
        let tmp = tempfile::tempdir().unwrap();
        let t = std::fs::canonicalize(tmp.path()).unwrap();
        for d in ["src", "inc", "sys", "real"] {
            std::fs::create_dir(t.join(d)).unwrap();
        }
        std::os::unix::fs::symlink(t.join("real"), t.join("lnk")).unwrap();
        let expected = Expected {
            files: [t.join("inc/common.h")].into_iter().collect(),
            system: vec![t.join("sys")],
        };
        let shipped = [Shipped {
            name: t.join("inc/found.h").into_os_string(),
            body: Body::Known([0; 32]),
        }];
        let found = [
            PathBuf::from("src/common.h"),
            PathBuf::from("src/../src/common.h"),
            PathBuf::from("inc/common.h"),
            PathBuf::from("inc/found.h"),
            PathBuf::from("sys/common.h"),
            PathBuf::from("lnk/common.h"),
        ];
        let got = of(&t, &found, &expected, &shipped);
        assert_eq!(
            got,
            Shadows {
                names: vec![t.join("src/common.h")],
                system: vec![t.join("sys/common.h")],
            }
        );
        assert_eq!(of(&t, &[], &expected, &shipped), Shadows::default());
    }
}
