//! A job's command line as the include scanner needs it (`includes::Unit`
//! and the flags its compiler probe depends on), read through the shared
//! flag table. An option that changes what the preprocessor opens in a
//! way the scanner does not model is a `ScanError`: the caller then asks
//! the compiler (`listing`), as it always did.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::job::{Job, Role};
use crate::args::flags::{Class, PathArg};
use crate::args::{parse_opt, Lang};
use crate::includes::probe::affects_probe;
use crate::includes::{self, DirOpt, MacroOpt, ScanError, Unit};

/// What the scanner needs of one job.
pub struct Mapped {
    pub unit: Unit,
    /// The flags that change the compiler probe's answers, in order.
    pub probe_flags: Vec<OsString>,
}

/// Options the scanner does not model, though they change what is
/// searched: only the compiler can tell which files they lead to.
const UNMODELLED: &[&str] = &[
    "-F",
    "-cxx-isystem",
    "--include",
    "--include-directory",
    "--include-directory-after",
    "--include-prefix",
    "--include-with-prefix",
    "--include-with-prefix-before",
    "-iprefix",
    "-iwithprefix",
    "-iwithprefixbefore",
    "-imultilib",
    "-imultiarch",
    "-remap",
    "-traditional-cpp",
    "-fpreprocessed",
    "-fdirectives-only",
];

/// Reads `job` into a scanner unit, with `cwd` and the environment's
/// include paths.
pub fn map(job: &Job, cwd: &Path) -> Result<Mapped, ScanError> {
    let lang = scan_lang(job.lang)?;
    let mut unit = Unit {
        lang: Some(lang),
        cwd: cwd.to_path_buf(),
        source: PathBuf::from(&job.input),
        env_cpath: std::env::var_os("CPATH"),
        env_lang_path: std::env::var_os(match lang {
            includes::Lang::Cxx => "CPLUS_INCLUDE_PATH",
            _ => "C_INCLUDE_PATH",
        }),
        ..Unit::default()
    };
    let mut probe_flags = Vec::new();
    let args = job.args();
    let mut i = 0;
    while i < args.len() {
        if job.roles[i] == Role::Input {
            i += 1;
            continue;
        }
        let opt = parse_opt(args, i).map_err(ScanError)?;
        let span = opt.span();
        let value = opt.value.map(PathBuf::from);
        word(&mut unit, opt.flag.name, opt.flag, value)?;
        if affects_probe(&opt.text) || opt.flag.path == Some(PathArg::Sysroot) {
            probe_flags.extend_from_slice(&args[i..i + span]);
        }
        i += span;
    }
    Ok(Mapped { unit, probe_flags })
}

fn scan_lang(lang: Lang) -> Result<includes::Lang, ScanError> {
    Ok(match lang {
        Lang::C => includes::Lang::C,
        Lang::Cxx => includes::Lang::Cxx,
        Lang::AsmCpp => includes::Lang::AsmCpp,
        other => return Err(ScanError(format!("language {other:?} is not scanned"))),
    })
}

/// One option's contribution to the unit.
fn word(
    unit: &mut Unit,
    name: &str,
    flag: &crate::args::flags::Flag,
    value: Option<PathBuf>,
) -> Result<(), ScanError> {
    if UNMODELLED.contains(&name) {
        return Err(ScanError(format!("{name} is not modelled")));
    }
    let text = || {
        value
            .as_ref()
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    match name {
        "-I-" => unit.dirs.push(DirOpt::Split),
        "-I" => unit.dirs.extend(value.map(DirOpt::I)),
        "-iquote" => unit.dirs.extend(value.map(DirOpt::Quote)),
        "-isystem" => unit.dirs.extend(value.map(DirOpt::System)),
        "-idirafter" => unit.dirs.extend(value.map(DirOpt::After)),
        "-include" => unit.includes.extend(value),
        "-imacros" => unit.imacros.extend(value),
        "-D" => unit.macros.push(MacroOpt::Define(text())),
        "-U" => unit.macros.push(MacroOpt::Undef(text())),
        "--sysroot" | "-isysroot" => unit.sysroot = value,
        "-trigraphs" | "-ansi" => unit.trigraphs = true,
        "-std=" => {
            let v = text();
            unit.trigraphs = v.starts_with('c') || v.starts_with("iso");
        }
        _ => {
            // Any other option naming a file the preprocessor reads is one
            // the scanner does not know.
            let reads = matches!(flag.path, Some(PathArg::SearchDir | PathArg::Include))
                || matches!(flag.class, Class::CppFiles);
            if reads {
                return Err(ScanError(format!("{name} is not modelled")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::scan::{scan, Scan};

    fn job(args: &[&str]) -> Job {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        match scan(&args) {
            Scan::Remote(j) => j,
            Scan::Local(why) => panic!("local: {why}"),
        }
    }

    #[test]
    fn maps_search_dirs_macros_and_forced_includes() {
        let j = job(&[
            "-Iinc",
            "-iquote",
            "q",
            "-isystem",
            "s",
            "-idirafter",
            "a",
            "-DX=1",
            "-UY",
            "-include",
            "f.h",
            "-O2",
            "-std=c11",
            "-c",
            "x.c",
            "-o",
            "x.o",
        ]);
        let m = map(&j, Path::new("/w")).unwrap();
        assert_eq!(
            m.unit.dirs,
            [
                DirOpt::I("inc".into()),
                DirOpt::Quote("q".into()),
                DirOpt::System("s".into()),
                DirOpt::After("a".into())
            ]
        );
        assert_eq!(
            m.unit.macros,
            [MacroOpt::Define("X=1".into()), MacroOpt::Undef("Y".into())]
        );
        assert_eq!(m.unit.includes, [PathBuf::from("f.h")]);
        assert_eq!(m.unit.source, PathBuf::from("x.c"));
        assert!(m.unit.trigraphs, "-std=c11 means trigraphs");
        assert_eq!(m.probe_flags, ["-O2", "-std=c11"]);
    }

    #[test]
    fn unmodelled_search_options_give_up() {
        let j = job(&["-iprefix", "p", "-iwithprefix", "w", "-c", "x.c"]);
        assert!(map(&j, Path::new("/w")).is_err());
    }
}
