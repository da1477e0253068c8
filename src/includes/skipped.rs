//! The default include dirs a compiler skipped because they do not exist
//! here ("ignoring nonexistent directory" in `-v`), and where each sits
//! in its chain. A volunteer with the same compiler where such a dir
//! exists searches it; a `__has_include` that found nothing here could
//! find the name there, unseen by the check of the files read. So a
//! negative answer is asserted absent in each skipped dir the search
//! would have passed (`search::Chains::skipped_from`).
//!
//! `-v` lists the skipped dirs and the kept ones apart, each in chain
//! order, but not how they interleave. A second run tells: with every
//! kept dir also given as `-isystem` (which goes before the defaults),
//! each default is "ignoring duplicate directory" at its own place,
//! among the "ignoring nonexistent directory" lines of the skipped ones.
//! Where that run cannot tell, and for clang (which reports a missing dir
//! when it adds it, not where the chain has it), a skipped dir is placed
//! after every default: then any search that enters the defaults asserts it, which
//! may refuse a volunteer needlessly but never misses one.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::probe::macros_of;
use super::unit::Lang;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedDir {
    pub path: PathBuf,
    /// How many of the compiler's kept default dirs precede it.
    pub before: u32,
}

const NONEXISTENT: &str = "ignoring nonexistent directory \"";
const DUPLICATE: &str = "ignoring duplicate directory \"";

/// The skipped dirs of a `-v` run, each placed after all of `kept`.
pub fn listed(stderr: &str, kept: usize) -> Vec<SkippedDir> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix(NONEXISTENT))
        .map(|d| SkippedDir {
            path: PathBuf::from(d.trim_end_matches('"')),
            before: kept as u32,
        })
        .collect()
}

/// Places each of `skipped` among `kept` by the ordering run's stderr;
/// false (and `skipped` untouched) when the run's lines do not account
/// for every kept dir and every skipped one, in order.
pub fn place(stderr: &str, kept: &[PathBuf], skipped: &mut [SkippedDir]) -> bool {
    let mut passed = 0usize;
    let mut at = Vec::with_capacity(skipped.len());
    for l in stderr.lines() {
        if l.starts_with("#include ") {
            break;
        }
        if let Some(d) = l.strip_prefix(DUPLICATE) {
            // A default listed twice is a duplicate twice: only the next
            // kept dir moves the count on.
            if kept
                .get(passed)
                .is_some_and(|k| k.as_os_str() == d.trim_end_matches('"'))
            {
                passed += 1;
            }
        } else if let Some(d) = l.strip_prefix(NONEXISTENT) {
            let d = Path::new(d.trim_end_matches('"'));
            if at.len() < skipped.len() && skipped[at.len()].path == d {
                at.push(passed as u32);
            }
        }
    }
    if passed != kept.len() || at.len() != skipped.len() {
        return false;
    }
    for (s, before) in skipped.iter_mut().zip(at) {
        s.before = before;
    }
    true
}

/// Runs the compiler with every kept dir as `-isystem` and places the
/// skipped ones by its stderr; left after every default when it fails.
pub fn order(
    compiler: &Path,
    flags: &[OsString],
    lang: Lang,
    kept: &[PathBuf],
    skipped: &mut [SkippedDir],
) {
    if skipped.is_empty() {
        return;
    }
    let Ok(tmp) = tempfile::Builder::new().prefix("distcc-order-").tempdir() else {
        return;
    };
    let mut cmd = macros_of(compiler, flags, lang, tmp.path());
    for d in kept {
        cmd.arg("-isystem").arg(d);
    }
    let out = cmd.args(["-v", "/dev/null"]).output();
    match out {
        Ok(o) if o.status.success() => {
            if !place(&String::from_utf8_lossy(&o.stderr), kept, skipped) {
                log::debug!(
                    "{}: could not place the skipped include dirs",
                    compiler.display()
                );
            }
        }
        _ => log::debug!("{}: the include dir order run failed", compiler.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept() -> Vec<PathBuf> {
        [
            "/gcc/include",
            "/usr/local/include",
            "/usr/include/m",
            "/usr/include",
        ]
        .iter()
        .map(PathBuf::from)
        .collect()
    }

    /// gcc 12's `-v` on Debian, and the same with the kept dirs given as
    /// `-isystem` (a C++ run lists a default twice).
    const PLAIN: &str = "ignoring nonexistent directory \"/usr/local/include/m\"\n\
        ignoring nonexistent directory \"/gcc/include-fixed\"\n\
        ignoring nonexistent directory \"/tool/include\"\n\
        #include \"...\" search starts here:\n";
    const ORDERED: &str = "ignoring duplicate directory \"/gcc/include\"\n\
        ignoring nonexistent directory \"/usr/local/include/m\"\n\
        ignoring duplicate directory \"/usr/local/include\"\n\
        ignoring duplicate directory \"/usr/local/include\"\n\
        ignoring nonexistent directory \"/gcc/include-fixed\"\n\
        ignoring nonexistent directory \"/tool/include\"\n\
        ignoring duplicate directory \"/usr/include/m\"\n\
        ignoring duplicate directory \"/usr/include\"\n\
        #include \"...\" search starts here:\n\
        ignoring nonexistent directory \"/not/a/default\"\n";

    fn at(s: &[SkippedDir]) -> Vec<(&str, u32)> {
        s.iter()
            .map(|d| (d.path.to_str().unwrap(), d.before))
            .collect()
    }

    #[test]
    fn skipped_dirs_are_placed_among_the_kept_ones() {
        let mut s = listed(PLAIN, 4);
        assert_eq!(
            at(&s),
            [
                ("/usr/local/include/m", 4),
                ("/gcc/include-fixed", 4),
                ("/tool/include", 4)
            ]
        );
        assert!(place(ORDERED, &kept(), &mut s));
        assert_eq!(
            at(&s),
            [
                ("/usr/local/include/m", 1),
                ("/gcc/include-fixed", 2),
                ("/tool/include", 2)
            ]
        );
    }

    #[test]
    fn a_run_that_does_not_account_for_every_dir_places_nothing() {
        let mut s = listed(PLAIN, 4);
        // A kept dir that is not a duplicate: the run is not what it seems.
        let short = ORDERED.replace("ignoring duplicate directory \"/usr/include\"\n", "");
        assert!(!place(&short, &kept(), &mut s));
        // A skipped dir the run does not name.
        let other = ORDERED.replace("/tool/include", "/elsewhere");
        assert!(!place(&other, &kept(), &mut s));
        assert!(s.iter().all(|d| d.before == 4));
    }
}
