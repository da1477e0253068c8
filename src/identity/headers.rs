//! Exact mode's check of the volunteer's own files (system headers): the
//! client lists the paths its compiler opened or looked for, each with the
//! digest it found or "absent"; the volunteer compiles against its own
//! copies, so each must be the same bytes here, and each absent one must
//! be absent here too (a header found where the client's search found
//! nothing would change which file an `#include` picks).
//!
//! A directory counts as absent, as the preprocessor skips one found on
//! an include path. Digests come from the `Cache`, so a header is read
//! once while it stays the same file.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::{hex, Cache, Digest};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Digest(Digest),
    Absent,
}

/// What this host has at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Digest(Digest),
    Absent,
    /// Unreadable, or not a regular file: the compiler would fail on it
    /// or read something else.
    Unusable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub path: PathBuf,
    pub expected: Expect,
    pub found: Found,
}

/// `/usr/include/stdio.h: client has 3f2a9b1c0d4e, this host has 77aa00bb11cc`
impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let client = match &self.expected {
            Expect::Digest(d) => format!("client has {}", hex(&d[..6])),
            Expect::Absent => "client has none".to_string(),
        };
        let here = match &self.found {
            Found::Digest(d) => format!("this host has {}", hex(&d[..6])),
            Found::Absent => "this host has none".to_string(),
            Found::Unusable(why) => format!("this host cannot use its own ({why})"),
        };
        write!(f, "{}: {client}, {here}", self.path.display())
    }
}

/// The first `limit` files of `files` that this host does not have as the
/// client has them, in list order; empty when all agree. Cost when warm:
/// one `stat` a file. Digests computed here are saved to the cache dir.
pub fn check_files(cache: &Cache, files: &[(PathBuf, Expect)], limit: usize) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    for (path, expected) in files {
        if mismatches.len() >= limit {
            break;
        }
        let found = found_at(cache, path);
        let agree = match (expected, &found) {
            (Expect::Digest(e), Found::Digest(f)) => e == f,
            (Expect::Absent, Found::Absent) => true,
            _ => false,
        };
        if !agree {
            mismatches.push(Mismatch {
                path: path.clone(),
                expected: *expected,
                found,
            });
        }
    }
    if let Err(e) = cache.flush() {
        log::debug!("cache: saving file digests: {e}");
    }
    mismatches
}

fn found_at(cache: &Cache, path: &Path) -> Found {
    if !path.is_absolute() {
        return Found::Unusable("not an absolute path".to_string());
    }
    match cache.file_digest(path) {
        Ok(Some(d)) => Found::Digest(d),
        Ok(None) => Found::Absent,
        Err(e) if e.kind() == io::ErrorKind::IsADirectory => Found::Absent,
        Err(e) => Found::Unusable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest as _, Sha256};
    use std::fs;

    fn sha(bytes: &[u8]) -> Digest {
        Sha256::digest(bytes).into()
    }

    #[test]
    fn agreeing_files_pass_and_each_kind_of_difference_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let cache =
            Cache::new(Some(&dir.path().join("cache"))).with_racy_window(Default::default());
        let inc = dir.path().join("include");
        fs::create_dir(&inc).unwrap();
        fs::create_dir(inc.join("sys")).unwrap();
        fs::write(inc.join("stdio.h"), b"int printf();\n").unwrap();
        fs::write(inc.join("extra.h"), b"#define X 1\n").unwrap();
        let p = |name: &str| inc.join(name);

        let same = vec![
            (p("stdio.h"), Expect::Digest(sha(b"int printf();\n"))),
            (p("missing.h"), Expect::Absent),
            (p("sys"), Expect::Absent),
            (p("stdio.h/under"), Expect::Absent),
        ];
        assert_eq!(check_files(&cache, &same, 10), []);
        assert_eq!(cache.stats().files_hashed, 1);
        assert_eq!(check_files(&cache, &same, 10), []);
        assert_eq!(cache.stats().files_hashed, 1, "second check from the cache");
        assert_eq!(cache.stats().file_hits, 1);

        let client_stdio = sha(b"int printf(const char *, ...);\n");
        let differ = vec![
            (p("stdio.h"), Expect::Digest(client_stdio)),
            (p("extra.h"), Expect::Absent),
            (p("missing.h"), Expect::Digest(sha(b""))),
            (PathBuf::from("rel.h"), Expect::Absent),
        ];
        let found = check_files(&cache, &differ, 10);
        assert_eq!(found.len(), 4);
        assert_eq!(
            found[0].to_string(),
            format!(
                "{}: client has {}, this host has {}",
                p("stdio.h").display(),
                hex(&client_stdio[..6]),
                hex(&sha(b"int printf();\n")[..6])
            )
        );
        let extra = hex(&sha(b"#define X 1\n")[..6]);
        assert!(found[1]
            .to_string()
            .ends_with(&format!("client has none, this host has {extra}")));
        assert_eq!(found[1].found, Found::Digest(sha(b"#define X 1\n")));
        assert!(found[2].to_string().ends_with(", this host has none"));
        assert!(matches!(found[3].found, Found::Unusable(_)));

        assert_eq!(check_files(&cache, &differ, 2).len(), 2, "limit");
    }

    #[test]
    fn a_changed_header_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(None).with_racy_window(Default::default());
        let h = dir.path().join("a.h");
        fs::write(&h, b"one").unwrap();
        let list = vec![(h.clone(), Expect::Digest(sha(b"one")))];
        assert_eq!(check_files(&cache, &list, 1), []);
        fs::write(&h, b"three").unwrap();
        let found = check_files(&cache, &list, 1);
        assert_eq!(found[0].found, Found::Digest(sha(b"three")));
        assert_eq!(cache.stats().files_hashed, 2);
    }

    #[test]
    fn digests_persist_in_the_cache_dir() {
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("cache");
        let h = dir.path().join("a.h");
        fs::write(&h, b"one").unwrap();
        let list = vec![(h, Expect::Digest(sha(b"one")))];
        let first = Cache::new(Some(&cache_dir)).with_racy_window(Default::default());
        assert_eq!(check_files(&first, &list, 1), []);
        let second = Cache::new(Some(&cache_dir)).with_racy_window(Default::default());
        assert_eq!(check_files(&second, &list, 1), []);
        assert_eq!(second.stats().files_hashed, 0);
        assert_eq!(second.stats().file_hits, 1);
    }

    #[test]
    fn a_just_written_file_is_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(None).with_racy_window(std::time::Duration::from_secs(3600));
        let h = dir.path().join("a.h");
        fs::write(&h, b"one").unwrap();
        assert_eq!(cache.file_digest(&h).unwrap(), Some(sha(b"one")));
        assert_eq!(cache.file_digest(&h).unwrap(), Some(sha(b"one")));
        assert_eq!(cache.stats().files_hashed, 2);
        assert_eq!(cache.stats().file_hits, 0);
    }
}
