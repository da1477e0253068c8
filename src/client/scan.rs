//! Decides whether a compiler invocation can be distributed and, if so,
//! how to split it into a local preprocessing step and a remote compile.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::client::flags::{self, Class, DepFlag, ModeFlag, Shape, Value};
use crate::client::respfile;

/// The verdict on one command line.
#[derive(Debug)]
pub enum Scan {
    Remote(Job),
    /// Run the original command here; the text says why.
    Local(String),
}

/// What the remote compile produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `-c`
    Object,
    /// `-S`
    Assembly,
}

/// Source language, as gcc decides it from `-x` or the file suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    C,
    Cxx,
    ObjC,
    ObjCxx,
    /// Already preprocessed (`.i`, `.ii`, `.mi`, `.mii`).
    CPre,
    CxxPre,
    ObjCPre,
    ObjCxxPre,
    /// `.s`: plain assembler, no preprocessing.
    Asm,
    /// `.S`/`.sx`: assembler that goes through the preprocessor.
    AsmCpp,
}

/// What a file suffix or `-x` name denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Source(Lang),
    /// Compiling a header makes a precompiled header, a local-only job.
    Header,
    Other,
}

impl Lang {
    /// The language gcc infers from a file name, if it is a compilable
    /// (non-header) C-family or assembler source.
    pub fn from_path(path: &OsStr) -> Option<Lang> {
        match kind_of_suffix(driver_suffix(path.as_bytes())?) {
            Kind::Source(lang) => Some(lang),
            _ => None,
        }
    }

    /// Whether the source still has to go through the preprocessor.
    pub fn needs_cpp(self) -> bool {
        matches!(
            self,
            Lang::C | Lang::Cxx | Lang::ObjC | Lang::ObjCxx | Lang::AsmCpp
        )
    }

    /// The suffix (without dot) gcc gives this language once preprocessed;
    /// the server recognises the language from it, since it gets no `-x`.
    pub fn preprocessed_suffix(self) -> &'static str {
        match self {
            Lang::C | Lang::CPre => "i",
            Lang::Cxx | Lang::CxxPre => "ii",
            Lang::ObjC | Lang::ObjCPre => "mi",
            Lang::ObjCxx | Lang::ObjCxxPre => "mii",
            Lang::Asm | Lang::AsmCpp => "s",
        }
    }

    fn is_asm(self) -> bool {
        matches!(self, Lang::Asm | Lang::AsmCpp)
    }
}

fn kind_of_suffix(suffix: &[u8]) -> Kind {
    match suffix {
        b"c" => Kind::Source(Lang::C),
        b"cc" | b"cp" | b"cxx" | b"cpp" | b"CPP" | b"c++" | b"C" => Kind::Source(Lang::Cxx),
        b"m" => Kind::Source(Lang::ObjC),
        b"mm" | b"M" => Kind::Source(Lang::ObjCxx),
        b"i" => Kind::Source(Lang::CPre),
        b"ii" => Kind::Source(Lang::CxxPre),
        b"mi" => Kind::Source(Lang::ObjCPre),
        b"mii" => Kind::Source(Lang::ObjCxxPre),
        b"s" => Kind::Source(Lang::Asm),
        b"S" | b"sx" => Kind::Source(Lang::AsmCpp),
        b"h" | b"hh" | b"H" | b"hp" | b"hxx" | b"hpp" | b"HPP" | b"h++" | b"tcc" => Kind::Header,
        _ => Kind::Other,
    }
}

/// The meaning of a `-x` argument; `None` for `-x none`.
fn kind_of_x(name: &[u8]) -> Option<Kind> {
    Some(match name {
        b"none" => return None,
        b"c" => Kind::Source(Lang::C),
        b"c++" => Kind::Source(Lang::Cxx),
        b"objective-c" => Kind::Source(Lang::ObjC),
        b"objective-c++" => Kind::Source(Lang::ObjCxx),
        b"cpp-output" => Kind::Source(Lang::CPre),
        b"c++-cpp-output" => Kind::Source(Lang::CxxPre),
        b"objective-c-cpp-output" | b"objc-cpp-output" => Kind::Source(Lang::ObjCPre),
        b"objective-c++-cpp-output" | b"objc++-cpp-output" => Kind::Source(Lang::ObjCxxPre),
        b"assembler" => Kind::Source(Lang::Asm),
        b"assembler-with-cpp" => Kind::Source(Lang::AsmCpp),
        b"c-header"
        | b"c++-header"
        | b"objective-c-header"
        | b"objective-c++-header"
        | b"c++-system-header"
        | b"c++-user-header" => Kind::Header,
        _ => Kind::Other,
    })
}

/// Where each word of the argv goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Local preprocessor and server.
    Both,
    /// Local preprocessor only.
    CppOnly,
    /// Dependency-file options: the local preprocessor's, or the server's
    /// in exact mode; never part of a file listing.
    Deps,
    /// Neither: re-emitted in canonical form (`-c`, `-S`, `-o`).
    Drop,
    Input,
}

/// Dependency options seen on the command line.
#[derive(Clone, Debug, Default)]
struct Deps {
    /// `-MD` or `-MMD` given to the driver.
    driver: bool,
    /// Last `-MF` (gcc uses the last one).
    mf: Option<OsString>,
    /// Any `-MT`/`-MQ`: then gcc adds no default target.
    has_target: bool,
    /// File named by `-Wp,-MD,file` / `-Wp,-MMD,file`.
    wp_file: Option<OsString>,
}

/// Knobs for the client-side decision.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    /// Send `.s`/`.S` sources too. Off by default: a stock distcc 3.4
    /// daemon is built without remote assembly and rejects them.
    pub remote_assemble: bool,
}

/// A distributable compile.
#[derive(Clone, Debug)]
pub struct Job {
    /// The source as typed.
    pub input: OsString,
    /// The `-o` value, or gcc's default (input basename, `.o`/`.s`, in cwd).
    pub output: OsString,
    pub mode: Mode,
    pub lang: Lang,
    /// The argv after `@file` expansion.
    args: Vec<OsString>,
    roles: Vec<Role>,
    explicit_output: bool,
    deps: Deps,
}

impl Job {
    /// The argv after `@file` expansion.
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// Whether the input must be preprocessed here; if not, the input file
    /// itself is what the server compiles.
    pub fn needs_cpp(&self) -> bool {
        self.lang.needs_cpp()
    }

    /// Arguments for the local preprocessor: writes the preprocessed text
    /// to `pre_out` and the dependency file exactly as the full compile
    /// would. Under `-E` gcc derives the `.d` name from `-o` and the target
    /// from the input name, so both are pinned explicitly here.
    pub fn cpp_args(&self, pre_out: &OsStr) -> Vec<OsString> {
        let mut out: Vec<OsString> = self
            .args
            .iter()
            .zip(&self.roles)
            .filter(|(_, role)| **role != Role::Drop)
            .map(|(arg, _)| arg.clone())
            .collect();
        out.extend(["-E".into(), "-o".into(), pre_out.to_os_string()]);
        // gcc itself passes `-MQ <output>`, so `$` is doubled the same way.
        out.extend(self.pinned_deps());
        out
    }

    /// The dependency options that pin gcc's defaults (file and target),
    /// which change when the output or the mode is not the user's own.
    fn pinned_deps(&self) -> Vec<OsString> {
        let mut out = Vec::new();
        if self.deps.driver {
            if let Some(dep) = self.dep_file() {
                out.extend(["-MF".into(), dep]);
            }
            if !self.deps.has_target {
                out.extend(["-MQ".into(), self.dep_target()]);
            }
        }
        out
    }

    /// Arguments that make the local preprocessor list, into `list`, every
    /// file the compile reads (`-M`): exact mode ships those files.
    pub fn listing_args(&self, list: &OsStr) -> Vec<OsString> {
        let mut out: Vec<OsString> = self
            .args
            .iter()
            .zip(&self.roles)
            .filter(|(_, role)| !matches!(role, Role::Drop | Role::Deps))
            .map(|(arg, _)| arg.clone())
            .collect();
        out.extend(["-M".into(), "-MF".into(), list.to_os_string()]);
        out
    }

    /// Exact mode: the user's command line, unchanged but for pinned
    /// dependency options, which the server needs to write the `.d` file
    /// gcc would write here.
    pub fn exact_args(&self) -> Vec<OsString> {
        let mut out = self.args.clone();
        out.extend(self.pinned_deps());
        out
    }

    /// Whether exact mode can carry this job: `-Wp,` options hide files the
    /// server would have to write.
    pub fn exact_ok(&self) -> bool {
        self.deps.wp_file.is_none()
            && !self
                .args
                .iter()
                .any(|a| a.as_bytes().starts_with(b"-Wp,") || a.as_bytes() == b"-Xpreprocessor")
    }

    /// Arguments the server compiles with: only options the compiler
    /// proper needs, canonical `-c`/`-S` and `-o`, and the input renamed
    /// to the preprocessed suffix so no `-x` is needed.
    pub fn server_args(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = self
            .args
            .iter()
            .zip(&self.roles)
            .filter(|(_, role)| **role == Role::Both)
            .map(|(arg, _)| arg.clone())
            .collect();
        out.push(match self.mode {
            Mode::Object => "-c".into(),
            Mode::Assembly => "-S".into(),
        });
        out.extend(["-o".into(), self.output.clone()]);
        // The server only needs the suffix; its policy refuses input names
        // that are absolute or climb with "..", so the directory stays here.
        // A name that would read as an option or a response file keeps a
        // "./" in front.
        let base = basename(self.input.as_bytes());
        let mut stem = Vec::from(strip_driver_suffix(base));
        if matches!(base.first(), Some(b'-' | b'@')) {
            stem.splice(0..0, *b"./");
        }
        out.push(with_suffix(&stem, self.lang.preprocessed_suffix()));
        out
    }

    /// The dependency file gcc would write, if any. Already-preprocessed
    /// input skips the preprocessor, and with it the `.d` file.
    pub fn dep_file(&self) -> Option<OsString> {
        if !self.lang.needs_cpp() {
            return None;
        }
        if !self.deps.driver {
            return self.deps.wp_file.clone();
        }
        if let Some(mf) = &self.deps.mf {
            return Some(mf.clone());
        }
        Some(if self.explicit_output {
            // gcc's `%.d%*`: the last dot after the last slash, even a leading one.
            let out = self.output.as_bytes();
            let base = out.iter().rposition(|&b| b == b'/').map_or(0, |p| p + 1);
            let stem = match out[base..].iter().rposition(|&b| b == b'.') {
                Some(dot) => &out[..base + dot],
                None => out,
            };
            with_suffix(stem, "d")
        } else {
            with_suffix(strip_driver_suffix(basename(self.input.as_bytes())), "d")
        })
    }

    /// The target gcc names in the dependency file when none is given:
    /// the `-o` value, else the preprocessor's own default (input basename
    /// with its last suffix replaced by `.o`, even under `-S`).
    fn dep_target(&self) -> OsString {
        if self.explicit_output {
            return self.output.clone();
        }
        let base = basename(self.input.as_bytes());
        let stem = base
            .iter()
            .rposition(|&b| b == b'.')
            .map_or(base, |dot| &base[..dot]);
        with_suffix(stem, "o")
    }
}

fn basename(path: &[u8]) -> &[u8] {
    path.iter()
        .rposition(|&b| b == b'/')
        .map_or(path, |p| &path[p + 1..])
}

/// The suffix as gcc's driver sees it: after the last dot of the basename,
/// provided the dot is not its first character.
fn driver_suffix(path: &[u8]) -> Option<&[u8]> {
    let base = basename(path);
    match base.iter().rposition(|&b| b == b'.') {
        Some(dot) if dot > 0 => Some(&base[dot + 1..]),
        _ => None,
    }
}

fn strip_driver_suffix(path: &[u8]) -> &[u8] {
    match driver_suffix(path) {
        Some(suffix) => &path[..path.len() - suffix.len() - 1],
        None => path,
    }
}

fn with_suffix(stem: &[u8], suffix: &str) -> OsString {
    let mut v = stem.to_vec();
    v.push(b'.');
    v.extend_from_slice(suffix.as_bytes());
    OsString::from_vec(v)
}

/// What a stock distcc 3.4 daemon takes for an input (or, with `.o`, an
/// output) when it sees a bare word; used to keep such words out of the
/// forwarded option values.
fn looks_like_file_to_distcc(word: &[u8]) -> bool {
    let source = driver_suffix(word)
        .is_some_and(|s| matches!(kind_of_suffix(s), Kind::Source(_)) || s == b"s" || s == b"S");
    source || word.ends_with(b".o")
}

/// One option occurrence, resolved against the flag table.
pub(crate) struct Opt<'a> {
    pub(crate) text: String,
    pub(crate) flag: &'static flags::Flag,
    pub(crate) value: Option<&'a OsStr>,
    /// Set for `-o file` and friends, where the value is a word of its own.
    pub(crate) separate: bool,
}

pub(crate) fn parse_opt(args: &[OsString], i: usize) -> Result<Opt<'_>, String> {
    let text = args[i].to_string_lossy().into_owned();
    let (flag, value) = flags::lookup(&text).ok_or_else(|| format!("unknown option {text}"))?;
    let (value, separate) = match value {
        Value::Absent => (None, false),
        Value::Joined(_) => {
            // Slice the original bytes: the name is ASCII, so offsets agree
            // even when the rest is not UTF-8.
            let skip = flag.name.len() + usize::from(flag.shape == Shape::EqOrSeparate);
            (Some(OsStr::from_bytes(&args[i].as_bytes()[skip..])), false)
        }
        Value::Next => match args.get(i + 1) {
            Some(next) => (Some(next.as_os_str()), true),
            None => return Err(format!("missing argument to {text}")),
        },
    };
    Ok(Opt {
        text,
        flag,
        value,
        separate,
    })
}

impl Opt<'_> {
    pub(crate) fn class(&self) -> Class {
        let value = self.value.map(|v| v.to_string_lossy());
        self.flag.classify(value.as_deref())
    }

    pub(crate) fn span(&self) -> usize {
        1 + usize::from(self.separate)
    }
}

/// Classifies a command line (without the compiler name), expanding
/// `@file` arguments first.
pub fn scan(args: &[OsString]) -> Scan {
    scan_with(args, &Policy::default())
}

/// [`scan`] with explicit policy knobs.
pub fn scan_with(args: &[OsString], policy: &Policy) -> Scan {
    match respfile::expand(args).and_then(|args| parse(args, policy)) {
        Ok(job) => Scan::Remote(job),
        Err(why) => Scan::Local(why),
    }
}

fn parse(args: Vec<OsString>, policy: &Policy) -> Result<Job, String> {
    let mut roles = vec![Role::Both; args.len()];
    let mut input: Option<(usize, Option<Kind>)> = None;
    let mut x: Option<Kind> = None;
    let (mut compile, mut assemble) = (false, false);
    let mut output: Option<OsString> = None;
    let mut deps = Deps::default();
    let mut forwarded_values = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let word = args[i].as_bytes();
        if word == b"-" {
            return Err("reads the source from standard input".into());
        }
        if word.first() != Some(&b'-') {
            if word.first() == Some(&b'@') {
                return Err(format!(
                    "unreadable response file {}",
                    args[i].to_string_lossy()
                ));
            }
            if input.is_some() {
                return Err("several input files".into());
            }
            input = Some((i, x));
            roles[i] = Role::Input;
            i += 1;
            continue;
        }
        let opt = parse_opt(&args, i)?;
        let value = opt.value.map(OsStr::as_bytes);
        let role = match opt.class() {
            Class::Local(why) | Class::Inexact(why) => return Err(format!("{}: {why}", opt.text)),
            Class::Mode(ModeFlag::Compile) => {
                compile = true;
                Role::Drop
            }
            Class::Mode(ModeFlag::Assemble) => {
                assemble = true;
                Role::Drop
            }
            Class::Mode(ModeFlag::Preprocess) => return Err("preprocessing only (-E)".into()),
            Class::Mode(ModeFlag::DepsOnly) => {
                return Err(format!("{}: dependency generation only", opt.text))
            }
            Class::Output => {
                output = opt.value.map(OsStr::to_os_string);
                Role::Drop
            }
            Class::Lang => {
                x = kind_of_x(value.unwrap_or_default());
                Role::CppOnly
            }
            Class::Deps(dep) => {
                match dep {
                    DepFlag::MD | DepFlag::MMD => deps.driver = true,
                    DepFlag::MF => deps.mf = opt.value.map(OsStr::to_os_string),
                    DepFlag::MT | DepFlag::MQ => deps.has_target = true,
                    DepFlag::MP | DepFlag::MG => {}
                }
                Role::Deps
            }
            Class::CppFiles => {
                let value = value.unwrap_or_default();
                if opt.flag.name == "-Wp," {
                    let items: Vec<&[u8]> = value.split(|&b| b == b',').collect();
                    for pair in items.windows(2) {
                        if pair[0] == b"-MD" || pair[0] == b"-MMD" {
                            deps.wp_file = Some(OsStr::from_bytes(pair[1]).to_os_string());
                        }
                    }
                } else if opt.flag.name == "-Xpreprocessor" && value.starts_with(b"-M") {
                    return Err("dependency options passed through -Xpreprocessor".into());
                }
                Role::CppOnly
            }
            Class::Cpp | Class::Link | Class::LinkerText => Role::CppOnly,
            Class::Safe | Class::Check(_) => {
                if opt.separate {
                    forwarded_values.push(i + 1);
                }
                Role::Both
            }
        };
        roles[i..i + opt.span()].fill(role);
        i += opt.span();
    }

    let (input_index, x_kind) = input.ok_or("no input file")?;
    if !compile && !assemble {
        return Err("linking (no -c or -S)".into());
    }
    let input = args[input_index].clone();
    let kind = x_kind
        .unwrap_or_else(|| driver_suffix(input.as_bytes()).map_or(Kind::Other, kind_of_suffix));
    let lang = match kind {
        Kind::Source(lang) => lang,
        Kind::Header => return Err("precompiled header generation".into()),
        Kind::Other if x_kind.is_some() => {
            return Err("language not supported for distribution".into())
        }
        Kind::Other => {
            return Err(format!(
                "{} is not a compilable source",
                input.to_string_lossy()
            ))
        }
    };
    let mode = if assemble {
        Mode::Assembly
    } else {
        Mode::Object
    };
    if lang.is_asm() && mode == Mode::Assembly {
        return Err("-S on assembler source".into());
    }
    if lang.is_asm() && !policy.remote_assemble {
        return Err("assembler source (distcc 3.4 servers do not assemble)".into());
    }
    if deps.driver && deps.wp_file.is_some() {
        return Err("both -MD/-MMD and -Wp,-MD".into());
    }
    if let Some(&k) = forwarded_values
        .iter()
        .find(|&&k| looks_like_file_to_distcc(args[k].as_bytes()))
    {
        return Err(format!(
            "option argument {} would look like a file to the server",
            args[k].to_string_lossy()
        ));
    }
    let explicit_output = output.is_some();
    let output = match output {
        Some(o) if o == "-" => return Err("writes the output to standard output".into()),
        Some(o) => o,
        None => with_suffix(
            strip_driver_suffix(basename(input.as_bytes())),
            if mode == Mode::Object { "o" } else { "s" },
        ),
    };
    Ok(Job {
        input,
        output,
        mode,
        lang,
        args,
        roles,
        explicit_output,
        deps,
    })
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
