//! Checks a scanned job's reply before anything of it is used: the list
//! of files the server's compiler read (`OutputKind::Reads`, our hashed
//! dialect) must hold only files the include scanner predicted (shipped,
//! or system headers it resolved). Anything else means the scan missed
//! a file, and the server may have compiled something else than this
//! machine would: the job is redone with the compiler's own listing.
//! A missing list (a fatal error stops the compiler before it writes
//! one, as a header the scan did not ship does) is a miss too.

use std::path::Path;

use super::listing::parse_make_deps;
use super::normal::normalise;
use super::scanned::Expected;
use crate::protocol::{OutputKind, Reply};

/// Why a reply does not verify.
#[derive(Debug, PartialEq, Eq)]
pub struct Miss(pub String);

/// Checks `reply` against what the scan of the job in `cwd` expected.
pub fn check(reply: &Reply, cwd: &Path, expected: &Expected) -> Result<(), Miss> {
    let list = reply.output(OutputKind::Reads).unwrap_or_default();
    let Some(nl) = list.iter().position(|&b| b == b'\n') else {
        return Err(Miss("the server sent no list of files read".into()));
    };
    let (kind, text) = (&list[..nl], &list[nl + 1..]);
    if kind != b"all" && kind != b"user" {
        return Err(Miss("the server's list of files read is unknown".into()));
    }
    for name in parse_make_deps(text) {
        let path = normalise(cwd, Path::new(&name));
        if !expected.files.contains(&path) && !same_file_expected(&path, expected) {
            return Err(Miss(format!(
                "the server read {}, which the scan did not find",
                path.display()
            )));
        }
    }
    Ok(())
}

/// The same file under another name the scan used (a symlinked dir):
/// only looked for when the names differ, which is rare.
fn same_file_expected(path: &Path, expected: &Expected) -> bool {
    let Ok(real) = std::fs::canonicalize(path) else {
        return false;
    };
    expected
        .files
        .iter()
        .any(|e| std::fs::canonicalize(e).is_ok_and(|r| r == real))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(list: &str) -> Reply {
        let mut r = Reply::default();
        r.set_output(OutputKind::Reads, list.as_bytes().to_vec());
        r
    }

    #[test]
    fn every_file_read_must_have_been_predicted() {
        let cwd = Path::new("/w");
        let expected = Expected {
            files: ["/w/x.c", "/w/inc/h.h", "/usr/include/stdio.h"]
                .iter()
                .map(Into::into)
                .collect(),
            system: vec!["/usr/include".into()],
        };
        let ok = reply("all\nx.o: inc/../inc/h.h \\\n /usr/include/stdio.h\n");
        assert_eq!(check(&ok, cwd, &expected), Ok(()));
        let user = reply("user\nx.o: x.c inc/h.h\ninc/h.h:\n");
        assert_eq!(check(&user, cwd, &expected), Ok(()), "-MP's rules skipped");
        let sys = reply("all\nx.o: /usr/include/other.h\n");
        assert!(
            check(&sys, cwd, &expected).is_err(),
            "unpredicted system header"
        );
        let proj = reply("all\nx.o: inc/g.h\n");
        assert!(check(&proj, cwd, &expected).is_err());
        assert!(check(&Reply::default(), cwd, &expected).is_err(), "no list");
        assert!(check(&reply(""), cwd, &expected).is_err(), "empty list");
    }
}
