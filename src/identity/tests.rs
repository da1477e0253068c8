//! Identities of real compilers: this machine's gcc (and clang when it is
//! installed), wrappers that report another version, copies with a byte
//! changed, the cache's reuse and invalidation, and a daemon's choice
//! among several compilers. Tests skip with a message when gcc is absent.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use super::probe::resolve_program;
use super::*;

fn on_path(name: &str) -> Option<PathBuf> {
    let found = resolve_program(Path::new(name), std::env::var_os("PATH").as_deref());
    if found.is_none() {
        eprintln!("skipped: no {name} on PATH");
    }
    found
}

fn output(program: &Path, arg: &str) -> String {
    let out = Command::new(program).arg(arg).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn executable(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A `gcc` that forwards to the real one but reports version 99.1.0.
fn wrapper_reporting_99(dir: &Path, gcc: &Path) -> PathBuf {
    let path = dir.join("gcc");
    executable(
        &path,
        &format!(
            "#!/bin/sh\n\
             if [ \"$*\" = -v ]; then\n\
               '{gcc}' -v 2>&1 | sed 's/^gcc version [^ ]*/gcc version 99.1.0/' >&2\n\
               exit 0\n\
             fi\n\
             case \"$1\" in -dumpversion|-dumpfullversion) echo 99.1.0; exit 0;; esac\n\
             exec '{gcc}' \"$@\"\n",
            gcc = gcc.display()
        ),
    );
    path
}

/// A copy of the gcc driver that still finds its `cc1`: gcc looks for it
/// relative to its own dir (`bin/../lib/gcc/...`), so the copy gets a
/// `lib` beside its `bin` that leads to the real one.
fn copied_gcc(dir: &Path, gcc: &Path) -> PathBuf {
    let real = fs::canonicalize(gcc).unwrap();
    let lib = real.parent().unwrap().parent().unwrap().join("lib");
    fs::create_dir(dir.join("bin")).unwrap();
    symlink(lib, dir.join("lib")).unwrap();
    let copy = dir.join("bin").join("gcc");
    fs::copy(&real, &copy).unwrap();
    copy
}

fn set_mtime(path: &Path, secs_since_epoch: u64) {
    let file = fs::File::options().write(true).open(path).unwrap();
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs_since_epoch);
    file.set_modified(t).unwrap();
}

fn test_cache(dir: Option<&Path>) -> Cache {
    Cache::new(dir).with_racy_window(Duration::ZERO)
}

#[test]
fn gcc_identity_names_version_target_and_its_programs() {
    let Some(gcc) = on_path("gcc") else { return };
    let cache = Cache::new(None);
    let c = cache.identity(&gcc, Lang::C).unwrap();
    assert_eq!(c.kind, Kind::Gcc);
    assert_eq!(c.version, output(&gcc, "-dumpfullversion"));
    assert_eq!(c.target, output(&gcc, "-dumpmachine"));
    assert!(c
        .to_string()
        .starts_with(&format!("gcc {} {} c (", c.version, c.target)));
    for part in [Part::Config, Part::Driver, Part::Compiler, Part::Assembler] {
        assert!(c.part(part).is_some(), "{part:?}");
    }
    assert_eq!(c.part(Part::Libraries), None);

    let cxx = cache.identity(&gcc, Lang::Cxx).unwrap();
    assert_ne!(cxx.digest, c.digest, "cc1plus is not cc1");
    assert_eq!(c.differing_parts(&cxx), [Part::Compiler]);
    assert_eq!(Identity::from_wire(&cxx.to_wire()), Ok(cxx.clone()));
    assert!(cxx.to_wire().len() < 100, "{} bytes", cxx.to_wire().len());
}

#[test]
fn names_of_one_gcc_share_its_identity() {
    let Some(gcc) = on_path("gcc") else { return };
    let cache = Cache::new(None);
    let by_name = cache.identity(Path::new("gcc"), Lang::C).unwrap();
    let real = fs::canonicalize(&gcc).unwrap();
    assert_eq!(cache.identity(&real, Lang::C).unwrap(), by_name);
    let dir = tempfile::tempdir().unwrap();
    symlink(&gcc, dir.path().join("cc")).unwrap();
    assert_eq!(
        cache.identity(&dir.path().join("cc"), Lang::C).unwrap(),
        by_name
    );
}

#[test]
fn a_wrapper_reporting_another_version_is_another_compiler() {
    let Some(gcc) = on_path("gcc") else { return };
    let dir = tempfile::tempdir().unwrap();
    let wrapper = wrapper_reporting_99(dir.path(), &gcc);
    let cache = test_cache(None);
    let real = cache.identity(&gcc, Lang::Cxx).unwrap();
    let other = cache.identity(&wrapper, Lang::Cxx).unwrap();
    assert_eq!(other.version, "99.1.0");
    assert_eq!(other.target, real.target);
    assert_ne!(other.digest, real.digest);
    assert_eq!(real.differing_parts(&other), [Part::Config, Part::Driver]);
}

#[test]
fn a_copied_driver_is_the_same_compiler_until_a_byte_changes() {
    let Some(gcc) = on_path("gcc") else { return };
    let dir = tempfile::tempdir().unwrap();
    let copy = copied_gcc(dir.path(), &gcc);
    set_mtime(&copy, 1_600_000_000);
    let cache = test_cache(None);
    let original = cache.identity(&gcc, Lang::C).unwrap();
    let copied = cache.identity(&copy, Lang::C).unwrap();
    assert_eq!(copied, original, "same bytes elsewhere: same compiler");

    let mut bytes = fs::read(&copy).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    fs::write(&copy, &bytes).unwrap();
    set_mtime(&copy, 1_600_000_001);
    let changed = cache.identity(&copy, Lang::C).unwrap();
    assert_eq!(changed.version, original.version);
    assert_eq!(original.differing_parts(&changed), [Part::Driver]);
    assert_eq!(cache.stats().identities_computed, 3);
}

#[test]
fn identities_are_computed_once_then_found_in_memory_or_on_disk() {
    let Some(gcc) = on_path("gcc") else { return };
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");
    let first = Cache::new(Some(&cache_dir));
    let id = first.identity(&gcc, Lang::C).unwrap();
    assert_eq!(first.identity(&gcc, Lang::C).unwrap(), id);
    let s = first.stats();
    assert_eq!((s.identities_computed, s.identity_memory_hits), (1, 1));
    assert!(s.bytes_hashed > 0);

    let second = Cache::new(Some(&cache_dir));
    assert_eq!(second.identity(&gcc, Lang::C).unwrap(), id);
    let s = second.stats();
    assert_eq!((s.identities_computed, s.identity_disk_hits), (0, 1));
    assert_eq!(s.files_hashed, 0, "a disk hit reads no compiler");
}

#[test]
fn a_touched_compiler_is_identified_again() {
    let Some(gcc) = on_path("gcc") else { return };
    let dir = tempfile::tempdir().unwrap();
    let copy = copied_gcc(dir.path(), &gcc);
    let cache_dir = dir.path().join("cache");
    set_mtime(&copy, 1_600_000_000);
    let id = test_cache(Some(&cache_dir))
        .identity(&copy, Lang::C)
        .unwrap();
    set_mtime(&copy, 1_700_000_000);
    let cache = test_cache(Some(&cache_dir));
    assert_eq!(cache.identity(&copy, Lang::C).unwrap(), id, "same bytes");
    assert_eq!(
        cache.stats().identities_computed,
        1,
        "the stale record was not used"
    );
    assert_eq!(cache.identity(&copy, Lang::C).unwrap(), id);
    assert_eq!(cache.stats().identity_memory_hits, 1);
}

#[test]
fn a_damaged_record_is_ignored_and_replaced() {
    let Some(gcc) = on_path("gcc") else { return };
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");
    let id = Cache::new(Some(&cache_dir))
        .identity(&gcc, Lang::C)
        .unwrap();
    let records: Vec<PathBuf> = fs::read_dir(&cache_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("compiler-")
        })
        .collect();
    assert_eq!(records.len(), 1);
    let good = fs::read(&records[0]).unwrap();
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x40;
    for damaged in [
        flipped,
        good[..good.len() - 7].to_vec(),
        b"garbage".to_vec(),
    ] {
        fs::write(&records[0], &damaged).unwrap();
        let cache = Cache::new(Some(&cache_dir));
        assert_eq!(cache.identity(&gcc, Lang::C).unwrap(), id);
        assert_eq!(cache.stats().identities_computed, 1);
        assert_eq!(fs::read(&records[0]).unwrap(), good, "rewritten whole");
    }
}

#[test]
fn programs_that_are_not_gcc_or_clang_have_no_identity() {
    let cache = Cache::new(None);
    let err = cache.identity(Path::new("/bin/true"), Lang::C).unwrap_err();
    assert!(format!("{err:#}").contains("not gcc or clang"), "{err:#}");
    let err = cache
        .identity(Path::new("no-such-compiler-anywhere"), Lang::C)
        .unwrap_err();
    assert!(err.to_string().contains("not found on PATH"), "{err}");
}

#[test]
fn clang_identity_covers_its_real_binary_and_driver_mode() {
    let (Some(clang), Some(gcc)) = (on_path("clang"), on_path("gcc")) else {
        return;
    };
    let cache = Cache::new(None);
    let c = cache.identity(&clang, Lang::C).unwrap();
    assert_eq!(c.kind, Kind::Clang);
    assert_eq!(c.version, output(&clang, "-dumpversion"));
    assert_eq!(c.target, output(&clang, "-dumpmachine"));
    assert!(c.part(Part::Compiler).is_some());
    assert_eq!(c.part(Part::Assembler), None, "integrated assembler");
    assert_ne!(c.digest, cache.identity(&gcc, Lang::C).unwrap().digest);

    let real = fs::canonicalize(&clang).unwrap();
    let dir = tempfile::tempdir().unwrap();
    symlink(&real, dir.path().join("clang-99")).unwrap();
    symlink(&real, dir.path().join("clang++")).unwrap();
    assert_eq!(
        cache
            .identity(&dir.path().join("clang-99"), Lang::C)
            .unwrap(),
        c
    );
    let cxx_mode = cache
        .identity(&dir.path().join("clang++"), Lang::C)
        .unwrap();
    assert_eq!(c.differing_parts(&cxx_mode), [Part::Config], "driver mode");
}

#[test]
fn a_daemon_picks_the_candidate_with_the_clients_identity() {
    let Some(gcc) = on_path("gcc") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (wrapped, versioned) = (tmp.path().join("a"), tmp.path().join("b"));
    fs::create_dir(&wrapped).unwrap();
    fs::create_dir(&versioned).unwrap();
    let wrapper = wrapper_reporting_99(&wrapped, &gcc);
    symlink(&gcc, versioned.join("gcc-12")).unwrap();
    let list = candidates("gcc", &[wrapped, versioned.clone()], None);
    assert_eq!(list, [wrapper.clone(), versioned.join("gcc-12")]);

    let cache = test_cache(None);
    let client = cache.identity(&gcc, Lang::Cxx).unwrap();
    assert_eq!(
        resolve(&cache, &client, &list).unwrap(),
        versioned.join("gcc-12")
    );
    let client_99 = cache.identity(&wrapper, Lang::Cxx).unwrap();
    assert_eq!(resolve(&cache, &client_99, &list).unwrap(), wrapper);

    let mut unknown = client.clone();
    unknown.digest[0] ^= 1;
    unknown.parts[Part::Compiler as usize] = Some([0; PART_PREFIX]);
    let message = resolve(&cache, &unknown, &list).unwrap_err().to_string();
    let expected_start = format!(
        "client has gcc {} {} c++ ({}), this host has gcc 99.1.0 {} c++ (",
        client.version,
        client.target,
        unknown.short(),
        client.target
    );
    assert!(message.starts_with(&expected_start), "{message}");
    assert!(
        message.contains(&format!(
            "{client} at {}",
            versioned.join("gcc-12").display()
        )),
        "{message}"
    );
    assert!(
        message.ends_with("(differs in compiler proper)"),
        "{message}"
    );
    assert!(!message.contains('\n'));

    let none = resolve(&cache, &client, &[]).unwrap_err().to_string();
    assert!(
        none.ends_with("this host has no compiler of that name"),
        "{none}"
    );
}

#[test]
fn gcc_and_clang_under_one_name_serve_clients_of_either() {
    let (Some(clang), Some(gcc)) = (on_path("clang"), on_path("gcc")) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    fs::create_dir(&one).unwrap();
    fs::create_dir(&two).unwrap();
    symlink(&clang, one.join("cc")).unwrap();
    symlink(&gcc, two.join("cc")).unwrap();
    let list = candidates("cc", &[one.clone(), two.clone()], None);
    assert_eq!(list, [one.join("cc"), two.join("cc")]);
    let cache = Cache::new(None);
    for (client, host) in [(&gcc, two.join("cc")), (&clang, one.join("cc"))] {
        let wanted = cache.identity(client, Lang::C).unwrap();
        assert_eq!(resolve(&cache, &wanted, &list).unwrap(), host);
    }
}

/// Client processes that miss at once (make starting many jobs) compute
/// the identity once between them: the others wait and read its record.
#[test]
fn concurrent_misses_compute_once_per_cache_dir() {
    let Some(gcc) = on_path("gcc") else { return };
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");
    let computed: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    // A cache each, as separate processes have.
                    let cache = Cache::new(Some(&cache_dir));
                    cache.identity(&gcc, Lang::C).unwrap();
                    cache.stats().identities_computed
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(computed, 1);
}
