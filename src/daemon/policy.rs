//! Which argument lists the daemon compiles. This is the one place the
//! daemon's argument policy is written down; the data it applies lives in
//! the flag table (`args::flags::FLAGS`, its class column and
//! [`Class::server_safe`](crate::args::flags::Class::server_safe)).
//!
//! The rule: a received argv (after the compiler name, which the
//! whitelist in `compilers` judges) is compiled only if
//! - every option is a row of the flag table whose class is server-safe
//!   once its argument is known: code generation, warnings, optimisation,
//!   debug info, language standard, target knobs, and the preprocessor's
//!   `-D`/`-U`/`-I`/`-isystem`..., which name nothing on this machine
//!   because the source arrives preprocessed. `--sysroot`/`-isysroot` are
//!   accepted, as the reference daemon does: they steer only header and
//!   library search, and neither happens when compiling preprocessed
//!   input with `-c`/`-S`;
//! - an option the table knows only by a catch-all prefix (`-f...`,
//!   `-m...`) carries no path in its argument;
//! - there is `-c` or `-S`, at most one `-o`, and exactly one input, whose
//!   name looks like a C-family or assembler source. The input and output
//!   names are replaced by our own temp files, so absolute names and `..`
//!   (what distcc 3.4 sends for CMake and VPATH builds) are accepted and
//!   never opened;
//! - no word starts with `@`, wherever it stands.
//!
//! Everything else is refused with [`Code::BadArguments`](crate::exit::Code) (exit 101) and
//! the reason in the reply's stderr: programs and specs (`-wrapper`, `-B`,
//! `-specs=`, `-fplugin*`, `-Xclang`), files read or written beside the
//! job (`-Wa,-a...`, `-Wl,`, `-aux-info`, `-fdump-*`, `-save-temps`,
//! `-dumpbase`/`-dumpdir`, `-fprofile-*`, `-fsanitize-*list=`, `-MD`,
//! `-include`, ...), other modes (`-E`, `-M`), other output options.
//!
//! To extend the policy, add a row to the flag table (or make an existing
//! one more precise); never loosen a check here. What each refusal here
//! stops is said on the function that makes it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::refusal::Refusal;
use crate::args::flags::{Class, ModeFlag};
use crate::args::{parse_opt, Lang, Mode};

/// Checks the client's arguments (argv without the compiler name), for a
/// dialect whose reply cannot carry a `.dwo` file.
pub fn check(args: &[OsString]) -> Result<ServerJob, Refusal> {
    check_with(args, false)
}

/// [`check`]; `dwo_returned`: the reply carries the split DWARF file, so
/// `-gsplit-dwarf` is served when the compile writes an object to a
/// relative `-o` path inside the job dir (the object names its `.dwo` by
/// that path, and it must be the client's).
pub fn check_with(args: &[OsString], dwo_returned: bool) -> Result<ServerJob, Refusal> {
    check_no_response_file(args)?;
    let refused = |why: String| refusal(format!("refused arguments: {why}"));
    let job = server_scan(args).map_err(refused)?;
    if job.split_dwarf {
        if !dwo_returned {
            return Err(refused(
                "-gsplit-dwarf: writes a .dwo file next to the object, which this \
                 protocol cannot return"
                    .into(),
            ));
        }
        job.output_in_job_dir(args).map_err(refused)?;
    }
    Ok(job)
}

fn refusal(message: String) -> Refusal {
    Refusal::bad_arguments(message)
}

/// gcc and clang replace every word that starts with `@` by the contents
/// of the file it names, even where the word is an option's argument
/// (`-D @/etc/passwd`). That would let a client splice options we never
/// checked from any file on this machine (a response file it left in a
/// shared temp dir, `/proc/self/environ`), and echo files into the
/// compiler's error messages. No argument is exempt; our client expands
/// response files before sending.
fn check_no_response_file(args: &[OsString]) -> Result<(), Refusal> {
    match args.iter().find(|a| a.as_bytes().first() == Some(&b'@')) {
        Some(a) => Err(refusal(format!(
            "refused response file {:?}: words starting with @ are read as files",
            a.to_string_lossy()
        ))),
        None => Ok(()),
    }
}

/// The name a job's output gets in its private dir: fixed, so no name a
/// client chose is ever created, with the suffix gcc would give it.
pub fn output_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Object => "output.o",
        Mode::Assembly => "output.s",
    }
}

/// Where the daemon has to substitute its own file names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerJob {
    pub input_index: usize,
    /// Index of the output name; `None` when there is no `-o` (then gcc's
    /// default would apply, and [`ServerJob::rewrite`] appends one).
    pub output_index: Option<usize>,
    /// The output is glued to the option (`-ofoo.o`).
    pub output_joined: bool,
    /// Suffix, with dot, the daemon's temporary input needs so the
    /// compiler recognises the (preprocessed) language.
    pub temp_suffix: &'static str,
    pub mode: Mode,
    /// `-gsplit-dwarf`: a `.dwo` file is written next to the object.
    pub split_dwarf: bool,
}

impl ServerJob {
    /// The client's `-o` path, when the compile may write it as it is,
    /// under the job dir: an object, named relative and without `..`.
    pub fn output_in_job_dir<'a>(&self, args: &'a [OsString]) -> Result<&'a Path, String> {
        let named = match self.output_index {
            Some(k) if self.output_joined => Path::new(OsStr::from_bytes(&args[k].as_bytes()[2..])),
            Some(k) => Path::new(&args[k]),
            None => return Err("-gsplit-dwarf without -o".into()),
        };
        match self.mode {
            Mode::Object if crate::args::stays_below(named) => Ok(named),
            Mode::Object => Err(format!(
                "-gsplit-dwarf with -o {}: only a relative path without .. is served",
                named.display()
            )),
            Mode::Assembly => Err("-gsplit-dwarf with -S".into()),
        }
    }

    /// `args` with the input and output replaced by the daemon's files.
    pub fn rewrite(&self, args: &[OsString], input: &OsStr, output: &OsStr) -> Vec<OsString> {
        let mut out = args.to_vec();
        out[self.input_index] = input.to_os_string();
        match self.output_index {
            Some(k) if self.output_joined => {
                let mut joined = OsString::from("-o");
                joined.push(output);
                out[k] = joined;
            }
            Some(k) => out[k] = output.to_os_string(),
            None => out.extend(["-o".into(), output.to_os_string()]),
        }
        out
    }
}

/// Checks an argv received by the daemon: every option must be known and
/// harmless on this machine, there must be `-c` or `-S`, and exactly one
/// input that looks like a source.
pub fn server_scan(args: &[OsString]) -> Result<ServerJob, String> {
    let mut input: Option<(usize, Lang)> = None;
    let mut output = None;
    let mut mode = None;
    let mut split_dwarf = false;
    let mut i = 0;
    while i < args.len() {
        let word = args[i].as_bytes();
        if word.first() != Some(&b'-') || word == b"-" {
            let lang = Lang::from_path(&args[i])
                .ok_or_else(|| format!("{} is not a source file", args[i].to_string_lossy()))?;
            if input.replace((i, lang)).is_some() {
                return Err("several input files".into());
            }
            i += 1;
            continue;
        }
        let opt = parse_opt(args, i)?;
        let class = opt.class();
        if class == Class::SplitDwarf {
            // Whether the dialect can return its .dwo is `check_with`'s.
            split_dwarf = true;
            i += opt.span();
            continue;
        }
        if !class.server_safe() {
            return Err(match class {
                Class::Local(why) => format!("{}: {why}", opt.text),
                _ => format!("{} is not accepted on a server", opt.text),
            });
        }
        match class {
            Class::Mode(ModeFlag::Assemble) => mode = Some(Mode::Assembly),
            Class::Mode(ModeFlag::Compile) => mode = mode.or(Some(Mode::Object)),
            Class::Output if opt.value.is_some_and(|v| v == "-") => {
                return Err("output to standard output".into())
            }
            // gcc obeys the last -o, we rewrite one: a second is refused
            // rather than reasoned about.
            Class::Output if output.is_some() => return Err("several -o options".into()),
            Class::Output if opt.separate => output = Some((i + 1, false)),
            Class::Output if opt.flag.name == "-o" => output = Some((i, true)),
            Class::Output => return Err(format!("{}: use -o", opt.text)),
            _ => {}
        }
        i += opt.span();
    }
    let mode = mode.ok_or("not a compile (no -c or -S)")?;
    let (input_index, lang) = input.ok_or("no input file")?;
    Ok(ServerJob {
        input_index,
        output_index: output.map(|(k, _)| k),
        output_joined: output.is_some_and(|(_, joined)| joined),
        temp_suffix: match lang.preprocessed_suffix() {
            "i" => ".i",
            "ii" => ".ii",
            "mi" => ".mi",
            "mii" => ".mii",
            _ => ".s",
        },
        mode,
        split_dwarf,
    })
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
