//! Decides whether a compiler invocation can be distributed and, if so,
//! how to split it into a local preprocessing step and a remote compile.
//! The command-line model it decides from (flag table, languages, option
//! parsing, response files) is `args`'; the decision, [`Scan`] and
//! [`Job`], is the client's own.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::args::flags::{Class, DepFlag, ModeFlag, PathArg};
use crate::args::lang::{
    basename, driver_suffix, kind_of_suffix, kind_of_x, strip_driver_suffix, with_suffix, Kind,
};
use crate::args::{parse_opt, respfile, Lang, Mode};

/// The verdict on one command line.
#[derive(Debug)]
pub enum Scan {
    Remote(Job),
    /// Run the original command here; the text says why.
    Local(String),
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
    /// Some option hands text to the preprocessor (`PathArg::CppText`).
    cpp_text: bool,
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

    /// Whether exact mode can carry this job: text passed to the
    /// preprocessor (`-Wp,`) hides files the server would have to write.
    pub fn exact_ok(&self) -> bool {
        self.deps.wp_file.is_none() && !self.cpp_text
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

/// What a stock distcc 3.4 daemon takes for an input (or, with `.o`, an
/// output) when it sees a bare word; used to keep such words out of the
/// forwarded option values.
fn looks_like_file_to_distcc(word: &[u8]) -> bool {
    let source = driver_suffix(word)
        .is_some_and(|s| matches!(kind_of_suffix(s), Kind::Source(_)) || s == b"s" || s == b"S");
    source || word.ends_with(b".o")
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
    let mut cpp_text = false;
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
                cpp_text |= opt.flag.path == Some(PathArg::CppText);
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
            mode.suffix(),
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
        cpp_text,
    })
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
