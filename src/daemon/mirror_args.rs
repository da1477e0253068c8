//! Exact mode's command line: the client's argv, rewritten to compile in
//! the mirror (`mirror`). Every path an option names moves under the
//! mirror's root, the output and the dependency file go to the job dir,
//! and anything the daemon cannot vouch for is refused. Which options name
//! a path, and what kind of path, is the flag table's path column
//! (`args::flags::PathArg`); this module only says what to do with each
//! kind.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use super::policy;
use super::refusal::Refusal;
use crate::args::flags::{self, Class, DepFlag, ModeFlag, PathArg, Shape, Value};
use crate::args::{parse_opt, Lang, Mode, Opt};

/// `base` joined with `rel`, `..` resolved lexically and clamped at `/`:
/// the client-side meaning of a symlink target or relative option value,
/// which by construction stays inside the mirror.
pub fn normalise(base: &Path, rel: &Path) -> PathBuf {
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

/// Where the client's absolute path `client` lives in the mirror.
pub fn under(root: &Path, client: &Path) -> PathBuf {
    root.join(client.strip_prefix("/").unwrap_or(client))
}

/// The client's argv (without the compiler), rewritten for the mirror:
/// absolute paths into the root, output and dependency file into the job
/// dir.
pub struct Rewritten {
    pub args: Vec<OsString>,
    /// Directories the compile searches, to create even if empty.
    pub dirs: Vec<PathBuf>,
    /// Whether the compile writes a dependency file (`deps.d` in the job
    /// dir) to return.
    pub deps: bool,
    /// That file lists every file read, system headers included (`-MD`).
    pub deps_all: bool,
    /// What the compiler writes, in the job dir.
    pub output: PathBuf,
}

/// Rewrites `args` (the client's argv after the compiler) to compile in
/// the mirror at `root`, from the client's `cwd`, writing into `job`.
///
/// One walk over the argv, option by option, rather than a pass per kind
/// of option: what a word means depends on the words before it (`-x`
/// makes any name a source, the mode names the output), and every option
/// meets exactly one verdict ([`Walk::action`]).
pub fn rewrite(
    args: &[OsString],
    root: &Path,
    cwd: &Path,
    job: &Path,
) -> Result<Rewritten, Refusal> {
    let mut walk = Walk::new(root, cwd, job);
    let mut i = 0;
    while i < args.len() {
        i += walk.word(args, i)?;
    }
    walk.finish()
}

/// What becomes of one option in the rewritten argv.
enum Action {
    /// Copied as it is.
    Keep,
    /// Its value replaced, glued as the client glued it.
    Value(OsString),
    /// The output's name, filled in once the mode has chosen it.
    Output,
    /// Left out: inert in a compile, and nothing we would vouch for.
    Drop,
}

/// What the next word handed to the preprocessor is, after one of its
/// options that takes a value: in its own syntax, `-MD FILE` and `-MMD
/// FILE` name the dependency file (the driver's `-MD` takes none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CppNext {
    Option,
    DepsFile,
    Path(PathArg),
    Value,
}

struct Walk<'p> {
    root: &'p Path,
    cwd: &'p Path,
    job: &'p Path,
    out: Vec<OsString>,
    dirs: Vec<PathBuf>,
    input: bool,
    deps: bool,
    /// The last of `-MD`/`-MMD` was `-MMD`: the file leaves system
    /// headers out.
    mmd: bool,
    mode: Option<Mode>,
    /// Where the output's name goes: the word in `out`, and what is glued
    /// before the name.
    outputs: Vec<(usize, OsString)>,
    /// After `-x LANG`, any name is a source of that language.
    language_given: bool,
    /// Where the words handed to the preprocessor (`-Wp,`,
    /// `-Xpreprocessor`) stand.
    cpp_next: CppNext,
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

impl<'p> Walk<'p> {
    fn new(root: &'p Path, cwd: &'p Path, job: &'p Path) -> Walk<'p> {
        // Lowest priority: gcc applies the last matching map, so the user's
        // own maps (rewritten below) still win for their paths.
        let mut map = OsString::from("-ffile-prefix-map=");
        map.push(root);
        map.push("=");
        Walk {
            root,
            cwd,
            job,
            out: vec![map],
            dirs: vec![under(root, cwd)],
            input: false,
            deps: false,
            mmd: false,
            mode: None,
            outputs: Vec::new(),
            language_given: false,
            cpp_next: CppNext::Option,
        }
    }

    /// An absolute client path moved into the root; a relative one stays,
    /// since the compile runs in the mirrored cwd.
    fn in_root(&self, v: &OsStr) -> OsString {
        let p = Path::new(v);
        if p.is_absolute() {
            under(self.root, &normalise(Path::new("/"), p)).into_os_string()
        } else {
            v.to_os_string()
        }
    }

    /// Takes the word at `args[i]` and what belongs to it; returns how many
    /// words that was.
    fn word(&mut self, args: &[OsString], i: usize) -> Result<usize, Refusal> {
        let a = &args[i];
        let bytes = a.as_bytes();
        if bytes.first() != Some(&b'-') || bytes == b"-" {
            if (!self.language_given && Lang::from_path(a).is_none()) || self.input {
                return Err(Refusal::bad_arguments(format!(
                    "refused input {:?}",
                    a.to_string_lossy()
                )));
            }
            self.input = true;
            self.out.push(self.in_root(a));
            return Ok(1);
        }
        let opt = parse_opt(args, i)
            .map_err(|e| Refusal::bad_arguments(format!("refused arguments: {e}")))?;
        let action = self.action(&opt)?;
        if matches!(action, Action::Value(_) | Action::Output) && opt.separate {
            self.out.push(args[i].clone());
        }
        match action {
            Action::Keep => self.out.extend(args[i..i + opt.span()].iter().cloned()),
            Action::Drop => {}
            Action::Value(v) => {
                let mut word = joined_prefix(&opt);
                word.push(v);
                self.out.push(word);
            }
            Action::Output => {
                self.outputs.push((self.out.len(), joined_prefix(&opt)));
                self.out.push(OsString::new());
            }
        }
        Ok(opt.span())
    }

    /// The verdict on one option: which options name a path, and what
    /// kind, is the flag table's; anything not named here is refused.
    fn action(&mut self, opt: &Opt) -> Result<Action, Refusal> {
        let value = opt.value.map(OsStr::to_os_string).unwrap_or_default();
        Ok(match (opt.class(), opt.flag.path) {
            (Class::Output, _) => Action::Output,
            (Class::Deps(DepFlag::MF), _) => Action::Value(self.deps_file()),
            (Class::Deps(d @ (DepFlag::MD | DepFlag::MMD)), _) => {
                self.deps = true;
                self.mmd = d == DepFlag::MMD;
                Action::Keep
            }
            (Class::Lang, _) => {
                self.language_given = value != "none";
                Action::Keep
            }
            (Class::Deps(_) | Class::Link, _) => Action::Keep,
            (Class::Mode(ModeFlag::Assemble), _) => {
                self.mode = Some(Mode::Assembly);
                Action::Keep
            }
            (Class::Mode(ModeFlag::Compile), _) => {
                self.mode = self.mode.or(Some(Mode::Object));
                Action::Keep
            }
            (
                Class::Cpp | Class::CppFiles,
                Some(kind @ (PathArg::SearchDir | PathArg::Include)),
            ) => Action::Value(self.search_path(&value, kind)),
            (Class::Safe, Some(PathArg::PrefixMap)) => Action::Value(self.prefix_map(&value)),
            (Class::CppFiles, Some(PathArg::CppText)) => Action::Value(self.cpp_text(opt, &value)?),
            // `-Wl,`, `-Xlinker`: no linker runs in a compile (CMake's
            // checks pass a version script's path with `-c`).
            (Class::LinkerText, _) => Action::Drop,
            (Class::Safe, Some(PathArg::Sysroot)) => {
                return Err(Refusal::bad_arguments(format!(
                    "{} is not supported in exact mode",
                    opt.text
                )));
            }
            (class, _) if class.server_safe() => Action::Keep,
            (Class::Local(why), _) => {
                return Err(Refusal::bad_arguments(format!(
                    "refused {}: {why}",
                    opt.text
                )))
            }
            _ => {
                return Err(Refusal::bad_arguments(format!(
                    "refused {} in exact mode",
                    opt.text
                )))
            }
        })
    }

    /// The dependency file, in the job dir.
    fn deps_file(&self) -> OsString {
        self.job.join("deps.d").into_os_string()
    }

    /// A header search dir or included file, in the root; a search dir is
    /// also remembered, to be created even if the client sent no file in
    /// it (gcc warns about a missing one).
    fn search_path(&mut self, value: &OsStr, kind: PathArg) -> OsString {
        let v = self.in_root(value);
        if kind == PathArg::SearchDir {
            let p = Path::new(value);
            self.dirs.push(if p.is_absolute() {
                PathBuf::from(&v)
            } else {
                under(self.root, &normalise(self.cwd, p))
            });
        }
        v
    }

    /// `OLD=NEW` with OLD a client path: it now lives under the root.
    fn prefix_map(&self, value: &OsStr) -> OsString {
        let (old, new) = match value.as_bytes().iter().position(|&b| b == b'=') {
            Some(eq) => (&value.as_bytes()[..eq], &value.as_bytes()[eq..]),
            None => (value.as_bytes(), &b""[..]),
        };
        let mut v = self.in_root(OsStr::from_bytes(old)).into_vec();
        v.extend_from_slice(new);
        OsString::from_vec(v)
    }

    /// The value of `-Wp,` (comma-separated words) or `-Xpreprocessor` (one
    /// word), each word rewritten for the mirror as the preprocessor will
    /// read it. A value may follow its option in the next `-Xpreprocessor`,
    /// not across a `-Wp,`.
    fn cpp_text(&mut self, opt: &Opt, value: &OsStr) -> Result<OsString, Refusal> {
        if opt.flag.name != "-Wp," {
            return self.cpp_word(value);
        }
        let mut words = Vec::new();
        for w in value.as_bytes().split(|&b| b == b',') {
            let new = self.cpp_word(OsStr::from_bytes(w))?;
            if new.as_bytes().contains(&b',') {
                return Err(Refusal::bad_arguments(format!(
                    "refused {}: a rewritten path would hold a comma",
                    opt.text
                )));
            }
            words.push(new.into_vec());
        }
        if self.cpp_next != CppNext::Option {
            return Err(Refusal::bad_arguments(format!(
                "refused {}: an option lacks its value",
                opt.text
            )));
        }
        Ok(OsString::from_vec(words.join(&b',')))
    }

    /// One word handed to the preprocessor, rewritten as the same option
    /// on the driver's command line would be: search dirs and included
    /// files into the root, the dependency file into the job dir, and the
    /// flag table's verdict on anything else.
    fn cpp_word(&mut self, word: &OsStr) -> Result<OsString, Refusal> {
        match std::mem::replace(&mut self.cpp_next, CppNext::Option) {
            CppNext::DepsFile => return Ok(self.deps_file()),
            CppNext::Path(kind) => return Ok(self.search_path(word, kind)),
            CppNext::Value => return Ok(word.to_os_string()),
            CppNext::Option => {}
        }
        let text = word.to_string_lossy();
        let refused =
            || Refusal::bad_arguments(format!("refused {text} for the preprocessor in exact mode"));
        let (flag, value) = flags::lookup(&text).ok_or_else(refused)?;
        let joined = match value {
            Value::Joined(v) => Some(v),
            Value::Absent | Value::Next => None,
        };
        let next = match (flag.classify(joined), value, flag.path) {
            (Class::Deps(d @ (DepFlag::MD | DepFlag::MMD)), Value::Absent, _) => {
                self.deps = true;
                self.mmd = d == DepFlag::MMD;
                CppNext::DepsFile
            }
            (Class::Deps(DepFlag::MF), Value::Next, _) => CppNext::DepsFile,
            (Class::Deps(DepFlag::MF), _, _) => {
                let mut w = OsString::from("-MF");
                w.push(self.deps_file());
                return Ok(w);
            }
            (Class::Deps(_), Value::Next, _) => CppNext::Value,
            (Class::Deps(_), _, _) => CppNext::Option,
            (
                Class::Cpp | Class::CppFiles,
                _,
                Some(kind @ (PathArg::SearchDir | PathArg::Include)),
            ) => match joined {
                None => CppNext::Path(kind),
                Some(v) => {
                    let mut w = OsString::from(flag.name);
                    if flag.shape == Shape::EqOrSeparate {
                        w.push("=");
                    }
                    w.push(self.search_path(OsStr::new(v), kind));
                    return Ok(w);
                }
            },
            (Class::Cpp | Class::Safe, Value::Next, None) => CppNext::Value,
            (Class::Cpp | Class::Safe, _, None) => CppNext::Option,
            _ => return Err(refused()),
        };
        self.cpp_next = next;
        Ok(word.to_os_string())
    }

    /// The argv once every word is taken: a compile of one source, its
    /// output named in the job dir.
    fn finish(mut self) -> Result<Rewritten, Refusal> {
        if self.cpp_next != CppNext::Option {
            return Err(Refusal::bad_arguments(
                "refused -Xpreprocessor: an option for the preprocessor lacks its value",
            ));
        }
        let (true, Some(mode)) = (self.input, self.mode) else {
            return Err(Refusal::bad_arguments(
                "refused: not a compile of one source (-c or -S)",
            ));
        };
        let output = self.job.join(policy::output_name(mode));
        if self.outputs.is_empty() {
            self.out.extend(["-o".into(), OsString::new()]);
            self.outputs.push((self.out.len() - 1, OsString::new()));
        }
        for (k, mut word) in std::mem::take(&mut self.outputs) {
            word.push(&output);
            self.out[k] = word;
        }
        Ok(Rewritten {
            args: self.out,
            dirs: self.dirs,
            deps: self.deps,
            deps_all: self.deps && !self.mmd,
            output,
        })
    }
}
