//! A recorded compile command line, read into the scanner's `Unit`, the
//! flags its compiler probe needs, and the arguments `-M` is run with
//! (the command without its outputs). Only what the corpus projects use
//! is mapped; an unknown flag is passed to the probe, the safe side.

use std::path::{Path, PathBuf};

use distcc::includes::{probe::affects_probe, DirOpt, Lang, MacroOpt, Unit};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub cwd: PathBuf,
    pub unit: Unit,
    pub probe_flags: Vec<String>,
    /// Everything but the compiler, `-c`, `-o x` and dependency outputs.
    pub m_args: Vec<String>,
}

fn lang_of(file: &str) -> Option<Lang> {
    let ext = file.rsplit('.').next()?;
    Some(match ext {
        "c" => Lang::C,
        "cc" | "cpp" | "cxx" | "C" | "c++" => Lang::Cxx,
        "S" => Lang::AsmCpp,
        _ => return None,
    })
}

/// Flags followed by a separate argument that the scan ignores.
const SKIP_WITH_ARG: &[&str] = &["-o", "-MF", "-MT", "-MQ"];
const SKIP: &[&str] = &["-c", "-MD", "-MMD", "-MP", "-M", "-MM", "-E", "-S"];

impl Recorded {
    /// `argv` without the compiler; None when it is not one C/C++ compile.
    pub fn from_args(cwd: &Path, argv: &[String]) -> Option<Recorded> {
        let mut u = Unit {
            cwd: cwd.to_path_buf(),
            ..Unit::default()
        };
        let mut probe_flags = Vec::new();
        let mut m_args = Vec::new();
        let mut source = None;
        let mut forced_lang = None;
        let mut i = 0;
        while i < argv.len() {
            let a = argv[i].as_str();
            i += 1;
            if SKIP_WITH_ARG.contains(&a) {
                i += 1;
                continue;
            }
            if SKIP.contains(&a) || a.starts_with("-MF") || a.starts_with("-o") {
                continue;
            }
            let before = i;
            // Flags with a value, joined or separate.
            let mut value = |flag: &str| -> Option<String> {
                let rest = a.strip_prefix(flag)?;
                if rest.is_empty() {
                    i += 1;
                    argv.get(i - 1).cloned()
                } else {
                    Some(rest.to_string())
                }
            };
            if a == "-I-" {
                u.dirs.push(DirOpt::Split);
            } else if let Some(v) = value("-iquote") {
                u.dirs.push(DirOpt::Quote(v.into()));
            } else if let Some(v) = value("-isystem") {
                u.dirs.push(DirOpt::System(v.into()));
            } else if let Some(v) = value("-idirafter") {
                u.dirs.push(DirOpt::After(v.into()));
            } else if let Some(v) = value("-imacros") {
                u.imacros.push(v.into());
            } else if let Some(v) = value("-include") {
                u.includes.push(v.into());
            } else if let Some(v) = value("-I") {
                u.dirs.push(DirOpt::I(v.into()));
            } else if let Some(v) = value("-D") {
                u.macros.push(MacroOpt::Define(v));
            } else if let Some(v) = value("-U") {
                u.macros.push(MacroOpt::Undef(v));
            } else if let Some(v) = value("-x") {
                forced_lang = match v.as_str() {
                    "c" => Some(Lang::C),
                    "c++" => Some(Lang::Cxx),
                    "assembler-with-cpp" => Some(Lang::AsmCpp),
                    _ => return None,
                };
            } else if let Some(root) = a.strip_prefix("--sysroot=") {
                u.sysroot = Some(PathBuf::from(root));
                probe_flags.push(a.to_string());
            } else if a.starts_with("-W")
                || a.starts_with("-g")
                || a == "-w"
                || a.starts_with("-pipe")
            {
                // Diagnostics and debug info: no effect on what is read.
            } else if a.starts_with('-') {
                if let Some(std) = a.strip_prefix("-std=") {
                    u.trigraphs = std.starts_with('c') || std.starts_with("iso");
                }
                if a == "-ansi" || a == "-trigraphs" {
                    u.trigraphs = true;
                }
                // When in doubt, a flag goes to the probe.
                let _ = affects_probe(a);
                probe_flags.push(a.to_string());
            } else if lang_of(a).is_some() && source.is_none() {
                source = Some(a.to_string());
            } else {
                // An object, a library, or a second source: not one unit.
                return None;
            }
            m_args.extend(argv[before - 1..i].iter().cloned());
        }
        let source = source?;
        u.lang = Some(forced_lang.or_else(|| lang_of(&source))?);
        u.source = source.into();
        Some(Recorded {
            cwd: cwd.to_path_buf(),
            unit: u,
            probe_flags,
            m_args,
        })
    }

    /// A line of a units file: `cwd TAB arg0 US arg1 US ...` (US is 0x1f).
    pub fn from_line(line: &str) -> Option<Recorded> {
        let (cwd, args) = line.split_once('\t')?;
        let argv: Vec<String> = args.split('\x1f').map(str::to_string).collect();
        Recorded::from_args(Path::new(cwd), argv.get(1..)?)
    }
}

#[test]
fn maps_a_typical_command() {
    let argv: Vec<String> = [
        "-DNDEBUG",
        "-I/x/inc",
        "-isystem",
        "/y",
        "-O2",
        "-std=gnu11",
        "-fPIC",
        "-Wall",
        "-MD",
        "-MT",
        "a.o",
        "-MF",
        "a.o.d",
        "-o",
        "a.o",
        "-c",
        "/x/a.c",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let r = Recorded::from_args(Path::new("/b"), &argv).unwrap();
    assert_eq!(r.unit.lang, Some(Lang::C));
    assert_eq!(r.unit.dirs.len(), 2);
    assert_eq!(r.probe_flags, vec!["-O2", "-std=gnu11", "-fPIC"]);
    assert!(!r.unit.trigraphs);
    assert_eq!(
        r.m_args,
        vec![
            "-DNDEBUG",
            "-I/x/inc",
            "-isystem",
            "/y",
            "-O2",
            "-std=gnu11",
            "-fPIC",
            "-Wall",
            "/x/a.c"
        ]
    );
    let link: Vec<String> = ["a.o", "b.o", "-o", "prog"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(Recorded::from_args(Path::new("/b"), &link).is_none());
}
