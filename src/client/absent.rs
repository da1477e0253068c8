//! The system headers a unit asked about and did not find: each
//! `__has_include` (or `__has_include_next`) that looked in a system dir
//! and found nothing there. Such an answer leaves no trace in the
//! compiler's list of files read, yet decides the output; a volunteer
//! that has the header would take the other branch unseen. So the client
//! asserts each absent (`assertions`), and our daemon refuses where one
//! is present.
//!
//! The same holds for the compiler's default dirs missing here (gcc's
//! "ignoring nonexistent directory"): a volunteer that has one searches
//! it, so the scan names the name in each such dir a negative search
//! passed (`includes::skipped`), and those are asserted absent too.
//!
//! Searches for `#include` need no such list: a header found earlier in
//! the chain on the volunteer is a file its compiler reads, which the
//! check of the reads (`verify`) catches. Only system dirs count: the
//! volunteer sees no other file than what the client sends.

use std::path::{Path, PathBuf};

use super::normal::normalise;
use crate::includes::{ProbeKind, ScanResult};

/// The absent `__has_include` candidates of `scan` under `system` dirs,
/// and in the default dirs missing here, absolute, sorted, once each.
pub fn system_probes(cwd: &Path, scan: &ScanResult, system: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = scan
        .probes
        .iter()
        .filter(|p| !p.exists)
        .filter_map(|p| match p.kind {
            ProbeKind::HasInclude => Some((normalise(cwd, &p.path), false)),
            ProbeKind::Skipped => Some((normalise(cwd, &p.path), true)),
            _ => None,
        })
        .filter(|(p, skipped)| *skipped || system.iter().any(|d| p.starts_with(d)))
        .map(|(p, _)| p)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::includes::Probe;

    fn probe(path: &str, kind: ProbeKind, exists: bool) -> Probe {
        Probe {
            path: path.into(),
            kind,
            exists,
        }
    }

    #[test]
    fn only_absent_has_include_answers_in_system_dirs() {
        let scan = ScanResult {
            probes: vec![
                probe("/sys/inc/b.h", ProbeKind::HasInclude, false),
                probe("/sys/inc/a.h", ProbeKind::HasInclude, false),
                probe("/sys/inc/b.h", ProbeKind::HasInclude, false),
                // Found: its bytes are asserted as a read or shipped.
                probe("/sys/inc/c.h", ProbeKind::HasInclude, true),
                // A search's miss: a file found earlier there is a read.
                probe("/sys/inc/d.h", ProbeKind::Candidate, false),
                probe("/sys/inc", ProbeKind::Dir, false),
                // Not a system dir: the volunteer sees only what is sent.
                probe("inc/e.h", ProbeKind::HasInclude, false),
                // In a default dir missing here: a volunteer may have it.
                probe("/sys/gone/f.h", ProbeKind::Skipped, false),
            ],
            ..ScanResult::default()
        };
        let got = system_probes(Path::new("/w"), &scan, &["/sys/inc".into()]);
        assert_eq!(
            got,
            [
                PathBuf::from("/sys/gone/f.h"),
                PathBuf::from("/sys/inc/a.h"),
                PathBuf::from("/sys/inc/b.h")
            ]
        );
    }
}
