//! Which files an exact-mode job (`exact`, `hashed`) ships: instead of
//! preprocessed text, the translation unit's own files, so the server
//! compiles the user's unmodified command line against the same sources
//! and gets the same object (debug info included) and diagnostics.
//!
//! Which files: the local compiler's own `-M` listing, the reliable
//! source. Files under the compiler's system include dirs are not sent:
//! the server compiles with its own system headers, as distcc's pump mode
//! does, so they must match (same distribution and compiler version).

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Component, Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use fs2::FileExt;

use super::cleanup;
use super::context::Context;
use super::cpp;
use super::job::Job;
use super::local;
use super::outcome::{Blame, Compiled, Failed};
use super::shipped::{self, Body, Shipped};
use crate::args::flags::PathArg;
use crate::args::{parse_opt, Lang, Mode};
use crate::exit::{self, Code};
use crate::includes::stamp::Stamp;
use crate::masquerade::Compiler;
use crate::protocol::hashed;
use crate::state::Phase;

/// The unit's files, listed once per job and kept across attempts.
pub struct Listed {
    /// The client's working directory, which the server recreates.
    pub cwd: PathBuf,
    /// The files to send, with absolute client paths.
    pub files: Vec<Shipped>,
    /// The files read under the system include dirs, which are not sent:
    /// our daemons check theirs against them (`assertions`).
    pub system: Vec<PathBuf>,
    /// The digests of those the scanner knows (settled stamps, see
    /// `shipped`), by name: not taken again for the assertions.
    pub system_known: HashMap<PathBuf, hashed::Digest>,
    /// How long listing and reading them took.
    pub took: Duration,
    /// What the include scanner expects the compile to read, when it
    /// listed the files (`scanned`); `None` for the compiler's listing.
    pub expected: Option<super::scanned::Expected>,
    /// Names the volunteer must see though none is expected to be read
    /// (`shadows`): only the scanner's listing has any.
    pub shadows: Vec<PathBuf>,
}

/// Lists and reads the unit's files in a local preprocessing slot, in the
/// monitor's Preprocess phase. `Ok(Err(..))`: the preprocessor failed the
/// job (a missing header, say); its diagnostics are printed.
pub fn list(ctx: &Context, job: &Job, cpp_slots: u32) -> Result<Result<Listed, Compiled>, Failed> {
    let local_fault = Failed::by(Blame::Local);
    let started = Instant::now();
    let cwd = std::env::current_dir()
        .context("finding the current directory")
        .map_err(local_fault)?;
    ctx.state.phase(Phase::Preprocess);
    let scratch = cpp::Temps::new(&ctx.settings.tmpdir, job).map_err(local_fault)?;
    let cpp_slot = ctx.cpp_slot(cpp_slots).map_err(local_fault)?;
    let cache = ctx.settings.dir.join("cache");
    let listing = collect(ctx.compiler, job, scratch.dir(), &cwd, &cache).map_err(local_fault)?;
    drop(cpp_slot);
    Ok(match listing {
        Err(status) => {
            ctx.state.local("the preprocessor failed");
            Err(Compiled(exit::of_wait_status(status.into_raw())))
        }
        Ok((files, system)) => Ok(Listed {
            cwd,
            files,
            system,
            system_known: HashMap::new(),
            took: started.elapsed(),
            expected: None,
            shadows: Vec::new(),
        }),
    })
}

/// The files to send, and the system files, which are not sent.
type Files = (Vec<Shipped>, Vec<PathBuf>);

/// Lists and reads every non-system file the compile reads, and names the
/// system files; `Err` is the preprocessor's failed status.
fn collect(
    compiler: &Compiler,
    job: &Job,
    scratch: &Path,
    cwd: &Path,
    cache: &Path,
) -> Result<Result<Files, ExitStatus>> {
    let list = scratch.join("deps.list");
    let mut cmd = local::command(compiler);
    // The driver as the compile will run it, `-c` or `-S` included: one
    // that adds options on compile lines only (a wrapper, a specs file)
    // then lists what the compile reads; `-M` still stops it after
    // preprocessing, and writes nothing else.
    let mode = match job.mode {
        Mode::Object => "-c",
        Mode::Assembly => "-S",
    };
    cmd.args(job.listing_args(list.as_os_str()))
        .arg(mode)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let status = cleanup::status(&mut cmd).map_err(|e| {
        anyhow!(Code::CompilerMissing)
            .context(format!("cannot run {}: {e}", compiler.path.display()))
    })?;
    if !status.success() {
        return Ok(Err(status));
    }
    let text = fs::read(&list).context("reading the file listing")?;
    let system = system_dirs(compiler, job, cache)?;
    let mut files = Vec::new();
    let mut system_files = Vec::new();
    let mut seen = Seen::default();
    for name in parse_make_deps(&text) {
        let path = absolute(cwd, Path::new(&name));
        if system.iter().any(|d| path.starts_with(d)) {
            system_files.push(path);
            continue;
        }
        add(&path, None, &mut files, &mut seen)?;
    }
    Ok(Ok((files, system_files)))
}

/// `cwd`-relative paths made absolute, lexically (`..` kept: the server
/// recreates the directories the compiler walks through).
fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

/// The names already added, and what the dirs walked through turned out
/// to be: the files of a unit share their dirs, so each dir is looked at
/// once per listing, not once per file under it.
#[derive(Default)]
pub(super) struct Seen {
    names: BTreeSet<PathBuf>,
    dirs: HashMap<PathBuf, Step>,
}

/// What a path's component is, by `lstat`.
#[derive(Clone)]
enum Step {
    Absent,
    Link(PathBuf),
    Other,
}

/// A digest the include scanner has for a file, and the stamp under
/// which it holds.
#[derive(Clone, Copy)]
pub(super) struct Known {
    pub digest: hashed::Digest,
    pub stamp: Stamp,
    /// The scan examined the name itself as a regular file (an `lstat`
    /// with this stamp, moments ago in this process): it is not looked at
    /// again. Else its stamp is checked here.
    pub plain: bool,
}

/// Adds `path` and, for each symlink on the way to it, a `LINK` entry and
/// its target, so the server resolves names the way this machine does.
/// Names are sent resolved (`..` applied after the links before it), as
/// the kernel would resolve them. A file that still has the stamp of
/// `known` is not read: it goes by that digest (`Body::Known`).
pub(super) fn add(
    path: &Path,
    known: Option<Known>,
    files: &mut Vec<Shipped>,
    seen: &mut Seen,
) -> Result<()> {
    add_within(path, known, files, seen, 0)
}

fn add_within(
    path: &Path,
    known: Option<Known>,
    files: &mut Vec<Shipped>,
    seen: &mut Seen,
    depth: u32,
) -> Result<()> {
    let comps: Vec<Component> = path.components().collect();
    let mut prefix = PathBuf::from("/");
    for (i, comp) in comps.iter().enumerate() {
        match comp {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
            Component::ParentDir => {
                prefix.pop();
                continue;
            }
            Component::Normal(n) => prefix.push(n),
        }
        let last = i + 1 == comps.len();
        let step = if last {
            file_step(&prefix, known, files, seen)?
        } else {
            step_of(&prefix, seen)?
        };
        match step {
            Step::Absent => return Ok(()),
            Step::Other => {}
            Step::Link(target) => {
                if seen.names.insert(prefix.clone()) {
                    files.push(Shipped {
                        name: prefix.clone().into_os_string(),
                        body: Body::Link(target.clone().into_os_string()),
                    });
                }
                // The kernel's own bound on links followed (ELOOP).
                if depth >= 40 {
                    return Err(anyhow!(
                        "too many levels of symbolic links in {}",
                        path.display()
                    ));
                }
                // Continue from the link's target, so every file is sent
                // under the name its real directory gives it.
                let mut rest = absolute(prefix.parent().unwrap_or(Path::new("/")), &target);
                for c in &comps[i + 1..] {
                    rest.push(c);
                }
                // Past a link at the name's end, the scan's view of the
                // name is not the target's: its stamp is checked there.
                let known = known.map(|k| Known {
                    plain: k.plain && !last,
                    ..k
                });
                return add_within(&rest, known, files, seen, depth + 1);
            }
        }
    }
    Ok(())
}

/// Adds the file at the end of a name, unless it is a link (returned, to
/// be followed). A file the scan examined as a plain file with a settled
/// digest is not looked at; one with another stamp now is read.
fn file_step(
    name: &Path,
    known: Option<Known>,
    files: &mut Vec<Shipped>,
    seen: &mut Seen,
) -> Result<Step> {
    if let Some(k) = known.filter(|k| k.plain) {
        if seen.names.insert(name.to_path_buf()) {
            files.push(Shipped {
                name: name.as_os_str().to_os_string(),
                body: Body::Known(k.digest),
            });
        }
        return Ok(Step::Other);
    }
    let m = match fs::symlink_metadata(name) {
        Err(_) => return Ok(Step::Absent),
        Ok(m) if m.file_type().is_symlink() => return Ok(Step::Link(fs::read_link(name)?)),
        Ok(m) => m,
    };
    if m.is_file() && seen.names.insert(name.to_path_buf()) {
        let body = match known {
            Some(k) if Stamp::of(&m) == k.stamp => Body::Known(k.digest),
            _ => Body::Read(
                shipped::read_body(name).with_context(|| format!("reading {}", name.display()))?,
            ),
        };
        files.push(Shipped {
            name: name.as_os_str().to_os_string(),
            body,
        });
    }
    Ok(Step::Other)
}

/// What the dir component `prefix` is, looked at once per listing.
fn step_of(prefix: &Path, seen: &mut Seen) -> Result<Step> {
    if let Some(s) = seen.dirs.get(prefix) {
        return Ok(s.clone());
    }
    let step = match fs::symlink_metadata(prefix) {
        Err(_) => Step::Absent,
        Ok(m) if m.file_type().is_symlink() => Step::Link(fs::read_link(prefix)?),
        Ok(_) => Step::Other,
    };
    seen.dirs.insert(prefix.to_path_buf(), step.clone());
    Ok(step)
}

/// The compiler's default include dirs for this job's language, from
/// `-E -v`, remembered in `cache` per compiler binary (path, size, mtime),
/// language and the options that move them: asking costs a compiler run.
pub(super) fn system_dirs(compiler: &Compiler, job: &Job, cache: &Path) -> Result<Vec<PathBuf>> {
    let lang = match job.lang {
        Lang::Cxx | Lang::CxxPre => "c++",
        Lang::ObjC | Lang::ObjCPre => "objective-c",
        Lang::ObjCxx | Lang::ObjCxxPre => "objective-c++",
        _ => "c",
    };
    let moving = moving_options(job.args());
    let meta = fs::metadata(&compiler.path).context("reading the compiler's metadata")?;
    let key = format!(
        "{}\0{}.{}\0{}\0{lang}\0{moving:?}",
        compiler.path.display(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.len()
    );
    let remembered = cache.join(format!(
        "sysdirs_{}",
        &hashed::hex(&hashed::digest(key.as_bytes()))[..32]
    ));
    let read = || {
        fs::read_to_string(&remembered)
            .ok()
            .map(|text| text.lines().map(PathBuf::from).collect())
    };
    if let Some(dirs) = read() {
        return Ok(dirs);
    }
    // The first jobs of a build start at once: one asks, the others wait
    // for its answer instead of each running the compiler (the kernel
    // drops the lock of a job that dies).
    let lock = fs::create_dir_all(cache).ok().and_then(|()| {
        fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(cache.join("sysdirs.lock"))
            .ok()
    });
    if lock.as_ref().is_some_and(|l| l.lock_exclusive().is_ok()) {
        if let Some(dirs) = read() {
            return Ok(dirs);
        }
    }
    let out = local::command(compiler)
        .args(&moving)
        .args(["-x", lang, "-E", "-v", "/dev/null", "-o", "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("asking the compiler for its include dirs")?;
    let dirs = parse_search_list(&out.stderr);
    let mut text = String::new();
    for d in &dirs {
        text.push_str(&d.to_string_lossy());
        text.push('\n');
    }
    // Best effort: a cache that cannot be written only costs the query.
    if fs::create_dir_all(cache).is_ok() {
        if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(cache) {
            if std::io::Write::write_all(&mut tmp, text.as_bytes()).is_ok() {
                tmp.persist(&remembered).ok();
            }
        }
    }
    Ok(dirs)
}

/// The options that move the compiler's system include dirs, with their
/// arguments: a sysroot (the flag table's `PathArg::Sysroot`), target
/// switches (`-m...`), the language standard, `-nostdinc`.
fn moving_options(args: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        // Inputs are no options; the scanner has vetted every option.
        let Ok(opt) = parse_opt(args, i) else {
            i += 1;
            continue;
        };
        let name = opt.flag.name;
        if opt.flag.path == Some(PathArg::Sysroot)
            || name.starts_with("-m")
            || name.starts_with("-nostdinc")
            || name == "-std="
        {
            out.extend_from_slice(&args[i..i + opt.span()]);
        }
        i += opt.span();
    }
    out
}

fn parse_search_list(stderr: &[u8]) -> Vec<PathBuf> {
    let text = String::from_utf8_lossy(stderr);
    let mut dirs = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("#include <...> search starts here:") {
            inside = true;
        } else if line.starts_with("End of search list.") {
            break;
        } else if inside {
            let d = line.trim();
            let d = d.strip_suffix(" (framework directory)").unwrap_or(d);
            dirs.push(fs::canonicalize(d).unwrap_or_else(|_| PathBuf::from(d)));
            dirs.push(PathBuf::from(d));
        }
    }
    dirs
}

/// The prerequisites of the first make rule as gcc writes it:
/// backslash-newline continuations, `\ ` for spaces in names, `$$` for
/// `$`; the phony rules `-MP` adds after it are not read.
pub fn parse_make_deps(text: &[u8]) -> Vec<OsString> {
    let colon = text
        .windows(2)
        .position(|w| w == b": " || w == b":\n")
        .map_or(0, |p| p + 1);
    let body = &text[colon..];
    let mut names = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'\\' if body.get(i + 1) == Some(&b'\n') => i += 1,
            b'\\' if body.get(i + 1) == Some(&b' ') => {
                cur.push(b' ');
                i += 1;
            }
            b'$' if body.get(i + 1) == Some(&b'$') => {
                cur.push(b'$');
                i += 1;
            }
            b'\n' => break,
            b' ' | b'\t' => {
                if !cur.is_empty() {
                    names.push(OsString::from_vec(std::mem::take(&mut cur)));
                }
            }
            b => cur.push(b),
        }
        i += 1;
    }
    if !cur.is_empty() {
        names.push(OsString::from_vec(cur));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_deps() {
        let text = b"obj/x.o: src/x.c include/h.h \\\n /usr/include/stdio.h my\\ file.h a$$b.h\n";
        let names: Vec<String> = parse_make_deps(text)
            .into_iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "src/x.c",
                "include/h.h",
                "/usr/include/stdio.h",
                "my file.h",
                "a$b.h"
            ]
        );
    }

    #[test]
    fn options_that_move_the_system_dirs() {
        let args: Vec<OsString> = [
            "-O2",
            "--sysroot",
            "/sdk",
            "-isysroot/sdk2",
            "-m32",
            "-march=x86-64",
            "-std=c11",
            "-nostdinc",
            "-Iinc",
            "-c",
            "x.c",
            "-DX=-m64",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let moving: Vec<String> = moving_options(&args)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            moving,
            [
                "--sysroot",
                "/sdk",
                "-isysroot/sdk2",
                "-m32",
                "-march=x86-64",
                "-std=c11",
                "-nostdinc"
            ]
        );
    }

    #[test]
    fn search_list() {
        let err = b"ignoring nonexistent directory \"/x\"\n#include \"...\" search starts here:\n\
            #include <...> search starts here:\n /usr/lib/gcc/x86_64-linux-gnu/12/include\n /usr/include\n\
            End of search list.\n";
        let dirs = parse_search_list(err);
        assert!(dirs.contains(&PathBuf::from("/usr/include")));
    }

    #[test]
    fn parent_dirs_resolve_after_links() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        fs::create_dir_all(t.join("a/b")).unwrap();
        fs::write(t.join("a/h.h"), "int x;\n").unwrap();
        let mut files = Vec::new();
        add(
            &t.join("a/b/../h.h"),
            None,
            &mut files,
            &mut Seen::default(),
        )
        .unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].name, t.join("a/h.h").into_os_string());
    }

    #[test]
    fn symlinks_are_sent_with_their_targets() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        fs::create_dir(t.join("real")).unwrap();
        fs::write(t.join("real/h.h"), "int x;\n").unwrap();
        std::os::unix::fs::symlink("real", t.join("inc")).unwrap();
        let mut files = Vec::new();
        add(&t.join("inc/h.h"), None, &mut files, &mut Seen::default()).unwrap();
        assert_eq!(files.len(), 2);
        assert!(matches!(&files[0].body, Body::Link(l) if l == "real"));
        assert_eq!(files[1].name, t.join("real/h.h").into_os_string());
    }

    #[test]
    fn a_link_to_a_known_file_is_followed_and_the_target_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        fs::write(t.join("real.h"), "int x;\n").unwrap();
        std::os::unix::fs::symlink("real.h", t.join("l.h")).unwrap();
        let known = Known {
            digest: hashed::digest(b"int x;\n"),
            stamp: Stamp::of(&fs::metadata(t.join("real.h")).unwrap()),
            // A scan says a link is not plain.
            plain: false,
        };
        let before = shipped::body_reads();
        let mut files = Vec::new();
        add(
            &t.join("l.h"),
            Some(known),
            &mut files,
            &mut Seen::default(),
        )
        .unwrap();
        assert_eq!(shipped::body_reads(), before);
        assert!(matches!(&files[0].body, Body::Link(l) if l == "real.h"));
        assert_eq!(files[1].name, t.join("real.h").into_os_string());
        assert_eq!(files[1].body, Body::Known(known.digest));
    }
}
