//! Exact mode on the server (protocol 3): recreate the client's files
//! under a private root at their client paths, compile the client's own
//! command line from the mirrored working directory, and map the root back
//! out of everything returned (`-ffile-prefix-map` for the object; byte
//! replacement for diagnostics and the `.d` file).
//!
//! What a hostile client can do here is bounded by three rules, each
//! enforced below: every name is an absolute, normalised path and lands
//! inside the root; every symlink is re-pointed inside the root; every
//! path-valued option either names something inside the root (rewritten
//! by us) or is refused. System headers are the server's own, as in
//! distcc's pump mode.

use std::ffi::{OsStr, OsString};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

use super::compilers::Refusal;
use super::policy;
use super::serve::{Job, Outcome, Server};
use crate::args::flags::{Class, DepFlag, ModeFlag, PathArg, Shape};
use crate::args::{parse_opt, Lang, Mode, Opt};
use crate::exit::Code;
use crate::protocol::{FileBody, NamedFile, RequestHead};

fn refusal(message: String) -> Refusal {
    Refusal {
        code: Code::BadArguments,
        message,
    }
}

/// Checks that `name` is absolute and free of `.`/`..`, so joining it to
/// the root cannot leave the root. Stops a client writing `/../../etc/x`.
fn check_client_path(name: &OsStr) -> Result<&Path, Refusal> {
    let p = Path::new(name);
    let clean = p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if clean && !name.as_bytes().contains(&0) {
        Ok(p)
    } else {
        Err(refusal(format!(
            "refused file name {:?}: not an absolute, normalised path",
            name.to_string_lossy()
        )))
    }
}

/// `base` joined with `rel`, `..` resolved lexically and clamped at `/`:
/// the client-side meaning of a symlink target or relative option value,
/// which by construction stays inside the mirror.
fn normalise(base: &Path, rel: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in base.join(rel).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn under(root: &Path, client: &Path) -> PathBuf {
    root.join(client.strip_prefix("/").unwrap_or(client))
}

/// Where one mirrored file's content comes from.
pub(super) enum Source<'a> {
    Data(&'a [u8]),
    Link(&'a OsStr),
    /// A verified file of the content store, linked rather than copied.
    Stored(&'a Path),
}

/// Puts one client file under `root` at its client path.
pub(super) fn place(root: &Path, name: &OsStr, source: Source) -> Result<Result<(), Refusal>> {
    let name = match check_client_path(name) {
        Ok(n) => n,
        Err(r) => return Ok(Err(r)),
    };
    let dest = under(root, name);
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let placed = match source {
        Source::Data(data) => {
            // O_NOFOLLOW: never write through a link, even one of ours.
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&dest)
                .and_then(|mut f| f.write_all(data))
        }
        Source::Link(target) => {
            let resolved = normalise(name.parent().unwrap_or(Path::new("/")), Path::new(target));
            std::os::unix::fs::symlink(under(root, &resolved), &dest)
        }
        Source::Stored(path) => {
            fs::hard_link(path, &dest).or_else(|_| fs::copy(path, &dest).map(drop))
        }
    };
    Ok(placed.map_err(|e| refusal(format!("cannot create {}: {e}", name.display()))))
}

/// The client's argv (without the compiler), rewritten for the mirror:
/// absolute paths into the root, output and dependency file into the job
/// dir. Anything the daemon cannot vouch for is refused.
struct Rewritten {
    args: Vec<OsString>,
    /// Directories the compile searches, to create even if empty.
    dirs: Vec<PathBuf>,
    deps: bool,
    /// What the compiler writes, in the job dir.
    output: PathBuf,
}

/// How a rewritten value is glued to its option (`-I` `x`, `-Ix`,
/// `--include-directory=x`); empty when the value is a word of its own.
fn joined_prefix(opt: &Opt) -> OsString {
    if opt.separate {
        return OsString::new();
    }
    let mut joined = OsString::from(opt.flag.name);
    if opt.flag.shape == Shape::EqOrSeparate {
        joined.push("=");
    }
    joined
}

/// One walk over the argv, option by option, rather than a pass per kind
/// of option: what a word means depends on the words before it (`-x`
/// makes any name a source, the mode names the output), and every option
/// must meet exactly one verdict, which one `match` shows at a glance.
fn rewrite(args: &[OsString], root: &Path, cwd: &Path, job: &Path) -> Result<Rewritten, Refusal> {
    let into_root = |v: &OsStr| -> OsString {
        let p = Path::new(v);
        if p.is_absolute() {
            under(root, &normalise(Path::new("/"), p)).into_os_string()
        } else {
            v.to_os_string()
        }
    };
    let mut out: Vec<OsString> = Vec::with_capacity(args.len() + 2);
    // Lowest priority: gcc applies the last matching map, so the user's own
    // maps (rewritten below) still win for their paths.
    let mut map = OsString::from("-ffile-prefix-map=");
    map.push(root);
    map.push("=");
    out.push(map);
    let mut dirs = vec![under(root, cwd)];
    let (mut input, mut deps) = (false, false);
    let mut mode: Option<Mode> = None;
    // Where the output's name goes, once the mode has chosen it: the word
    // in `out`, and what is glued before the name.
    let mut outputs: Vec<(usize, OsString)> = Vec::new();
    // After `-x LANG`, any name is a source of that language.
    let mut language_given = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let bytes = a.as_bytes();
        if bytes.first() != Some(&b'-') || bytes == b"-" {
            if (!language_given && Lang::from_path(a).is_none()) || input {
                return Err(refusal(format!("refused input {:?}", a.to_string_lossy())));
            }
            input = true;
            out.push(into_root(a));
            i += 1;
            continue;
        }
        let opt = parse_opt(args, i).map_err(|e| refusal(format!("refused arguments: {e}")))?;
        let value = opt.value.map(OsStr::to_os_string).unwrap_or_default();
        // Which options name a path, and what kind, is the flag table's.
        let new_value: Option<OsString> = match (opt.class(), opt.flag.path) {
            (Class::Output, _) => {
                if opt.separate {
                    out.push(args[i].clone());
                }
                outputs.push((out.len(), joined_prefix(&opt)));
                out.push(OsString::new());
                i += opt.span();
                continue;
            }
            (Class::Deps(DepFlag::MF), _) => Some(job.join("deps.d").into_os_string()),
            (Class::Deps(DepFlag::MD | DepFlag::MMD), _) => {
                deps = true;
                None
            }
            (Class::Lang, _) => {
                language_given = value != "none";
                None
            }
            (Class::Deps(_) | Class::Link, _) => None,
            (Class::Mode(ModeFlag::Assemble), _) => {
                mode = Some(Mode::Assembly);
                None
            }
            (Class::Mode(ModeFlag::Compile), _) => {
                mode = mode.or(Some(Mode::Object));
                None
            }
            (
                Class::Cpp | Class::CppFiles,
                Some(kind @ (PathArg::SearchDir | PathArg::Include)),
            ) => {
                let v = into_root(&value);
                if kind == PathArg::SearchDir {
                    let p = Path::new(&value);
                    dirs.push(if p.is_absolute() {
                        PathBuf::from(&v)
                    } else {
                        under(root, &normalise(cwd, p))
                    });
                }
                Some(v)
            }
            (Class::Safe, Some(PathArg::PrefixMap)) => {
                // OLD=NEW with OLD a client path: it now lives under the root.
                let (old, new) = match value.as_bytes().iter().position(|&b| b == b'=') {
                    Some(eq) => (&value.as_bytes()[..eq], &value.as_bytes()[eq..]),
                    None => (value.as_bytes(), &b""[..]),
                };
                let mut v = into_root(OsStr::from_bytes(old)).into_vec();
                v.extend_from_slice(new);
                Some(OsString::from_vec(v))
            }
            (Class::Safe, Some(PathArg::Sysroot)) => {
                return Err(refusal(format!(
                    "{} is not supported in exact mode",
                    opt.text
                )));
            }
            (class, _) if class.server_safe() => None,
            (Class::Local(why), _) => return Err(refusal(format!("refused {}: {why}", opt.text))),
            _ => return Err(refusal(format!("refused {} in exact mode", opt.text))),
        };
        match new_value {
            None => out.extend(args[i..i + opt.span()].iter().cloned()),
            Some(v) => {
                if opt.separate {
                    out.push(args[i].clone());
                }
                let mut word = joined_prefix(&opt);
                word.push(v);
                out.push(word);
            }
        }
        i += opt.span();
    }
    let (true, Some(mode)) = (input, mode) else {
        return Err(refusal(
            "refused: not a compile of one source (-c or -S)".into(),
        ));
    };
    let output = job.join(policy::output_name(mode));
    if outputs.is_empty() {
        out.extend(["-o".into(), OsString::new()]);
        outputs.push((out.len() - 1, OsString::new()));
    }
    for (k, mut word) in outputs {
        word.push(&output);
        out[k] = word;
    }
    Ok(Rewritten {
        args: out,
        dirs,
        deps,
        output,
    })
}

/// Re-wraps a `.d` file the way gcc wraps it (72 columns, counted on the
/// names as written). gcc wrapped the server's copy at the lengths of the
/// mirrored paths; once the root is removed, the breaks must move back to
/// where the client's compiler would have put them.
pub(super) fn reflow_deps(d: &[u8]) -> Vec<u8> {
    const COLMAX: usize = 72;
    let joined = String::from_utf8_lossy(d).replace(" \\\n", " ");
    let mut lines = joined.split_inclusive('\n');
    let Some(rule) = lines.next() else {
        return d.to_vec();
    };
    let mut tokens: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut chars = rule.trim_end_matches('\n').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ' ' => {
                if !cur.is_empty() {
                    tokens.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    let Some(colon) = tokens.iter().position(|t| t.ends_with(':')) else {
        return d.to_vec();
    };
    let mut out = String::with_capacity(d.len() + 16);
    let mut col = 0usize;
    let write_name = |out: &mut String, name: &str, col: &mut usize| {
        if *col > 0 {
            if *col + name.len() > COLMAX {
                out.push_str(" \\\n");
                *col = 0;
            }
            *col += 1;
            out.push(' ');
        }
        *col += name.len();
        out.push_str(name);
    };
    for (i, t) in tokens[..=colon].iter().enumerate() {
        let name = if i == colon {
            &t[..t.len() - 1]
        } else {
            t.as_str()
        };
        write_name(&mut out, name, &mut col);
    }
    out.push(':');
    col += 1;
    for t in &tokens[colon + 1..] {
        write_name(&mut out, t, &mut col);
    }
    out.push('\n');
    for l in lines {
        out.push_str(l);
    }
    out.into_bytes()
}

/// A protocol-3 job whose arguments passed the checks, with its private
/// dir and root ready for files.
pub(super) struct Prepared {
    compiler: String,
    program: PathBuf,
    cwd: PathBuf,
    job: tempfile::TempDir,
    pub root: PathBuf,
    plan: Rewritten,
}

/// Checks the cwd, the compiler and the arguments of a protocol-3 request.
pub(super) fn prepare(
    server: &Server,
    cwd: Option<&OsStr>,
    argv: &[OsString],
) -> Result<Result<Prepared, Refusal>> {
    let compiler = argv[0].to_string_lossy().into_owned();
    let cwd = match cwd.map(check_client_path) {
        Some(Ok(c)) => c.to_path_buf(),
        Some(Err(r)) => return Ok(Err(r)),
        None => return Ok(Err(refusal("no working directory".into()))),
    };
    let program = match server.whitelist.resolve(&argv[0]) {
        Ok(p) => p,
        Err(r) => return Ok(Err(r)),
    };
    let job = tempfile::Builder::new()
        .prefix("distccd_")
        .tempdir_in(&server.tmpdir)
        .context("creating a job dir")?;
    let root = job.path().join("root");
    let plan = match rewrite(&argv[1..], &root, &cwd, job.path()) {
        Ok(p) => p,
        Err(r) => return Ok(Err(r)),
    };
    fs::create_dir(&root).context("creating the mirror root")?;
    Ok(Ok(Prepared {
        compiler,
        program,
        cwd,
        job,
        root,
        plan,
    }))
}

/// Compiles a prepared job whose files are in place, and replies.
pub(super) fn compile<W: Write>(
    server: &Server,
    head: &RequestHead,
    p: Prepared,
    output: &mut W,
    client_fd: RawFd,
) -> Result<Outcome> {
    for d in &p.plan.dirs {
        // Search dirs stay inside the root by construction; a client
        // symlink there already points inside it too.
        fs::create_dir_all(d).ok();
    }
    let object = p.plan.output;
    let deps = p.plan.deps.then(|| p.job.path().join("deps.d"));
    super::serve::compile_and_reply(
        server,
        output,
        head,
        Job {
            compiler: p.compiler,
            program: p.program,
            args: p.plan.args,
            cwd: under(&p.root, &p.cwd),
            unmap: Some(p.root.into_os_string().into_vec()),
            dir: p.job,
            object,
            deps,
            client_fd,
        },
        None,
    )
}

/// Serves one protocol-3 request whose head and files have been read.
pub fn serve<W: Write>(
    server: &Server,
    head: &RequestHead,
    files: Vec<NamedFile>,
    output: &mut W,
    client_fd: RawFd,
) -> Result<Outcome> {
    let compiler = head.argv[0].to_string_lossy().into_owned();
    let prepared = match prepare(server, head.cwd.as_deref(), &head.argv)? {
        Ok(p) => p,
        Err(r) => return super::serve::refuse(server, output, head, compiler, r),
    };
    for f in &files {
        let source = match &f.body {
            FileBody::File(data) => Source::Data(data),
            FileBody::Link(target) => Source::Link(target),
        };
        if let Err(r) = place(&prepared.root, &f.name, source)? {
            return super::serve::refuse(server, output, head, compiler, r);
        }
    }
    drop(files);
    compile(server, head, prepared, output, client_fd)
}

#[cfg(test)]
#[path = "mirror_tests.rs"]
mod tests;
