//! Decides whether a compiler invocation can be distributed and, if so,
//! what each word of it is for ([`Role`]): the verdict is [`Scan`], and a
//! distributable compile is a [`Job`] (`job`, which builds the argvs of
//! each half from those roles). The command-line model it decides from
//! (flag table, languages, option parsing, response files) is `args`'.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use super::job::{Deps, Job, Role};
use crate::args::flags::{Class, DepFlag, ModeFlag, PathArg};
use crate::args::lang::{
    basename, driver_suffix, kind_of_suffix, kind_of_x, strip_driver_suffix, with_suffix, Kind,
};
use crate::args::{parse_opt, respfile, Lang, Mode, Opt};

/// The verdict on one command line.
#[derive(Debug)]
pub enum Scan {
    Remote(Job),
    /// Run the original command here; the text says why.
    Local(String),
}

/// Knobs for the client-side decision.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    /// Send `.s`/`.S` sources too. Off by default: a stock distcc 3.4
    /// daemon is built without remote assembly and rejects them.
    pub remote_assemble: bool,
}

/// What a stock distcc 3.4 daemon takes for an input (or, with `.o`, an
/// output) when it sees a bare word; used to keep such words out of the
/// forwarded option values.
fn looks_like_file_to_distcc(word: &[u8]) -> bool {
    let source = driver_suffix(word)
        .is_some_and(|s| matches!(kind_of_suffix(s), Kind::Source(_)) || s == b"s" || s == b"S");
    source || word.ends_with(b".o")
}

/// autoconf's probes, `conftest.c` and the like: distcc 3.4 compiles them
/// here (`dcc_source_needs_local`, by the input's basename), since a
/// probe is tiny and configure runs hundreds of them one after another,
/// each waiting for the last.
fn is_autoconf_probe(input: &[u8]) -> bool {
    let base = basename(input);
    base.starts_with(b"conftest.") || base.starts_with(b"tmp.conftest.")
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
    let mut p = Parser::new(&args);
    let mut i = 0;
    while i < args.len() {
        i += p.word(i)?;
    }
    let found = p.finish()?;
    found.into_job(args, policy)
}

/// The walk over the argv: what each word is, and what the words say
/// together so far.
struct Parser<'a> {
    args: &'a [OsString],
    roles: Vec<Role>,
    /// The input's index, and the `-x` language in force before it.
    input: Option<(usize, Option<Kind>)>,
    x: Option<Kind>,
    compile: bool,
    assemble: bool,
    output: Option<OsString>,
    deps: Deps,
    cpp_text: bool,
    /// `-Xpreprocessor -MD` (or `-MMD`, when `true`) waiting for the next
    /// `-Xpreprocessor` to name its file.
    xpre_dep: Option<bool>,
    /// Indexes of option values given as words of their own, which a
    /// distcc 3.4 daemon could mistake for files.
    forwarded_values: Vec<usize>,
}

/// What the walk found, before the checks that need all of it.
struct Found {
    roles: Vec<Role>,
    input_index: usize,
    x_kind: Option<Kind>,
    mode: Mode,
    output: Option<OsString>,
    deps: Deps,
    cpp_text: bool,
    forwarded_values: Vec<usize>,
}

impl<'a> Parser<'a> {
    fn new(args: &'a [OsString]) -> Parser<'a> {
        Parser {
            args,
            roles: vec![Role::Both; args.len()],
            input: None,
            x: None,
            compile: false,
            assemble: false,
            output: None,
            deps: Deps::default(),
            cpp_text: false,
            xpre_dep: None,
            forwarded_values: Vec::new(),
        }
    }

    /// Classifies the word at `i` (with its argument); returns how many
    /// words that took.
    fn word(&mut self, i: usize) -> Result<usize, String> {
        let word = self.args[i].as_bytes();
        if word == b"-" {
            return Err("reads the source from standard input".into());
        }
        if word.first() == Some(&b'-') {
            return self.option(i);
        }
        if word.first() == Some(&b'@') {
            return Err(format!(
                "unreadable response file {}",
                self.args[i].to_string_lossy()
            ));
        }
        if self.input.is_some() {
            return Err("several input files".into());
        }
        self.input = Some((i, self.x));
        self.roles[i] = Role::Input;
        Ok(1)
    }

    fn option(&mut self, i: usize) -> Result<usize, String> {
        let opt = parse_opt(self.args, i)?;
        let role = self.role_of(&opt, i)?;
        self.roles[i..i + opt.span()].fill(role);
        Ok(opt.span())
    }

    /// Where an option goes, noting what it says about the job.
    fn role_of(&mut self, opt: &Opt, i: usize) -> Result<Role, String> {
        let value = opt.value.map(OsStr::as_bytes);
        Ok(match opt.class() {
            Class::Local(why) | Class::Inexact(why) => return Err(format!("{}: {why}", opt.text)),
            Class::Mode(mode) => self.mode(mode, opt)?,
            Class::Output => {
                self.output = opt.value.map(OsStr::to_os_string);
                Role::Drop
            }
            Class::Lang => {
                self.x = kind_of_x(value.unwrap_or_default());
                Role::CppOnly
            }
            Class::Deps(dep) => {
                match dep {
                    DepFlag::MD | DepFlag::MMD => self.deps.driver = true,
                    DepFlag::MF => self.deps.mf = opt.value.map(OsStr::to_os_string),
                    DepFlag::MT | DepFlag::MQ => self.deps.has_target = true,
                    DepFlag::MP | DepFlag::MG => {}
                }
                Role::Deps
            }
            Class::CppFiles => self.cpp_files(opt)?,
            Class::Cpp => Role::CppOnly,
            Class::Link | Class::LinkerText => Role::Link,
            Class::Safe | Class::Check(_) | Class::SplitDwarf => {
                if opt.separate {
                    self.forwarded_values.push(i + 1);
                }
                Role::Both
            }
        })
    }

    fn mode(&mut self, mode: ModeFlag, opt: &Opt) -> Result<Role, String> {
        match mode {
            ModeFlag::Compile => self.compile = true,
            ModeFlag::Assemble => self.assemble = true,
            ModeFlag::Preprocess => return Err("preprocessing only (-E)".into()),
            ModeFlag::DepsOnly => return Err(format!("{}: dependency generation only", opt.text)),
        }
        Ok(Role::Drop)
    }

    /// Options that hand files to the preprocessor. A dependency file asked
    /// of the preprocessor itself (the Linux kernel passes `-Wp,-MMD,file`
    /// to every compile) is understood; other text is opaque, and keeps
    /// exact mode away.
    fn cpp_files(&mut self, opt: &Opt) -> Result<Role, String> {
        let value = opt.value.map(OsStr::as_bytes).unwrap_or_default();
        if opt.flag.name == "-Wp," {
            let items: Vec<&[u8]> = value.split(|&b| b == b',').collect();
            for pair in items.windows(2) {
                if pair[0] == b"-MD" || pair[0] == b"-MMD" {
                    self.cpp_dep_file(pair[1], pair[0] == b"-MMD");
                }
            }
            if let [b"-MD" | b"-MMD", _] = items[..] {
                return Ok(Role::CppDeps);
            }
        } else if opt.flag.name == "-Xpreprocessor" {
            if let Some(mmd) = self.xpre_dep.take() {
                // The preprocessor takes the next word it is given as the
                // file, whatever it looks like.
                self.cpp_dep_file(value, mmd);
                return Ok(Role::CppDeps);
            }
            if value == b"-MD" || value == b"-MMD" {
                self.xpre_dep = Some(value == b"-MMD");
                return Ok(Role::CppDeps);
            }
            if value.starts_with(b"-M") {
                return Err("dependency options passed through -Xpreprocessor".into());
            }
        }
        self.cpp_text |= opt.flag.path == Some(PathArg::CppText);
        Ok(Role::CppOnly)
    }

    fn cpp_dep_file(&mut self, file: &[u8], mmd: bool) {
        self.deps.wp_file = Some(OsStr::from_bytes(file).to_os_string());
        self.deps.wp_mmd = mmd;
    }

    /// The checks that need the whole command line.
    fn finish(self) -> Result<Found, String> {
        let (input_index, x_kind) = self.input.ok_or("no input file")?;
        if self.xpre_dep.is_some() {
            return Err("-Xpreprocessor -MD without a file to write".into());
        }
        let mode = match (self.compile, self.assemble) {
            (false, false) => return Err("linking (no -c or -S)".into()),
            (_, true) => Mode::Assembly,
            (true, false) => Mode::Object,
        };
        Ok(Found {
            roles: self.roles,
            input_index,
            x_kind,
            mode,
            output: self.output,
            deps: self.deps,
            cpp_text: self.cpp_text,
            forwarded_values: self.forwarded_values,
        })
    }
}

impl Found {
    /// The source's language, from `-x` or its suffix.
    fn lang(&self, input: &OsStr) -> Result<Lang, String> {
        let kind = self
            .x_kind
            .unwrap_or_else(|| driver_suffix(input.as_bytes()).map_or(Kind::Other, kind_of_suffix));
        match kind {
            Kind::Source(lang) => Ok(lang),
            Kind::Header => Err("precompiled header generation".into()),
            Kind::Other if self.x_kind.is_some() => {
                Err("language not supported for distribution".into())
            }
            Kind::Other => Err(format!(
                "{} is not a compilable source",
                input.to_string_lossy()
            )),
        }
    }

    fn into_job(self, args: Vec<OsString>, policy: &Policy) -> Result<Job, String> {
        let input = args[self.input_index].clone();
        if is_autoconf_probe(input.as_bytes()) {
            return Err("autoconf test (conftest.*), compiled here as distcc 3.4 does".into());
        }
        let lang = self.lang(&input)?;
        let mode = self.mode;
        if lang.is_asm() && mode == Mode::Assembly {
            return Err("-S on assembler source".into());
        }
        if lang.is_asm() && !policy.remote_assemble {
            return Err("assembler source (distcc 3.4 servers do not assemble)".into());
        }
        if self.deps.driver && self.deps.wp_file.is_some() {
            return Err("both -MD/-MMD and -Wp,-MD".into());
        }
        if let Some(&k) = self
            .forwarded_values
            .iter()
            .find(|&&k| looks_like_file_to_distcc(args[k].as_bytes()))
        {
            return Err(format!(
                "option argument {} would look like a file to the server",
                args[k].to_string_lossy()
            ));
        }
        let explicit_output = self.output.is_some();
        let output = match self.output {
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
            roles: self.roles,
            explicit_output,
            deps: self.deps,
            cpp_text: self.cpp_text,
        })
    }
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
