//! A distributable compile, as the scanner (`scan`) found it, and the
//! command lines derived from it for each half of the work: the local
//! preprocessor's, the file listing's (exact mode), the server's. Which
//! words go where was decided once, per word, by the scanner ([`Role`]);
//! this file only assembles argvs from those decisions and knows gcc's
//! defaults for dependency files.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::args::lang::{basename, strip_driver_suffix, with_suffix};
use crate::args::{Lang, Mode};

/// Where each word of the argv goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// Local preprocessor and server.
    Both,
    /// Local preprocessor only.
    CppOnly,
    /// Dependency-file options: the local preprocessor's, or the server's
    /// in exact mode; never part of a file listing.
    Deps,
    /// A dependency file asked of the preprocessor itself (`-Wp,-MD,file`,
    /// `-Xpreprocessor -MD -Xpreprocessor file`): the local preprocessor's;
    /// exact mode sends driver options that write the same file instead.
    CppDeps,
    /// Only the linker reads it (`-Wl,`, `-l`): inert in a compile. The
    /// local preprocessor gets it as it always did; exact mode leaves it
    /// out, since a server refuses what it cannot vouch for.
    Link,
    /// Neither: re-emitted in canonical form (`-c`, `-S`, `-o`).
    Drop,
    Input,
}

/// Dependency options seen on the command line.
#[derive(Clone, Debug, Default)]
pub(super) struct Deps {
    /// `-MD` or `-MMD` given to the driver.
    pub(super) driver: bool,
    /// Last `-MF` (gcc uses the last one).
    pub(super) mf: Option<OsString>,
    /// Any `-MT`/`-MQ`: then gcc adds no default target.
    pub(super) has_target: bool,
    /// File named by `-Wp,-MD,file` / `-Wp,-MMD,file` (or the same through
    /// `-Xpreprocessor`).
    pub(super) wp_file: Option<OsString>,
    /// That file is `-MMD`'s (system headers left out).
    pub(super) wp_mmd: bool,
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
    pub(super) args: Vec<OsString>,
    pub(super) roles: Vec<Role>,
    pub(super) explicit_output: bool,
    pub(super) deps: Deps,
    /// Some option hands text to the preprocessor (`PathArg::CppText`).
    pub(super) cpp_text: bool,
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
            .filter(|(_, role)| !matches!(role, Role::Drop | Role::Deps | Role::CppDeps))
            .map(|(arg, _)| arg.clone())
            .collect();
        out.extend(["-M".into(), "-MF".into(), list.to_os_string()]);
        out
    }

    /// Exact mode: the user's command line, unchanged but for pinned
    /// dependency options, which the server needs to write the `.d` file
    /// gcc would write here.
    pub fn exact_args(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = self
            .args
            .iter()
            .zip(&self.roles)
            .filter(|(_, role)| !matches!(role, Role::CppDeps | Role::Link))
            .map(|(arg, _)| arg.clone())
            .collect();
        out.extend(self.pinned_deps());
        out.extend(self.cpp_deps_as_driver());
        out
    }

    /// `-Wp,-MD,file` as driver options that write the same file: the
    /// preprocessor itself names its target after the input (basename,
    /// last suffix replaced by `.o`), quoted as `-MQ` quotes.
    fn cpp_deps_as_driver(&self) -> Vec<OsString> {
        match (&self.deps.wp_file, self.deps.driver) {
            (Some(file), false) => vec![
                if self.deps.wp_mmd { "-MMD" } else { "-MD" }.into(),
                "-MF".into(),
                file.clone(),
                "-MQ".into(),
                self.input_target(),
            ],
            _ => Vec::new(),
        }
    }

    /// `-gsplit-dwarf`: the compile also writes a `.dwo` file named after
    /// the object, which only our streamed dialect returns.
    pub fn split_dwarf(&self) -> bool {
        self.args
            .iter()
            .zip(&self.roles)
            .any(|(arg, role)| *role == Role::Both && arg == "-gsplit-dwarf")
    }

    /// The `.dwo` file a `-gsplit-dwarf` compile writes, as gcc and clang
    /// name it: the object's name with its last suffix replaced.
    pub fn dwo_file(&self) -> Option<std::path::PathBuf> {
        self.split_dwarf()
            .then(|| std::path::Path::new(&self.output).with_extension("dwo"))
    }

    /// Whether exact mode can carry this job: other text passed to the
    /// preprocessor (`-Wp,`, `-Xpreprocessor`) may name files the server
    /// would have to read or write, hidden from us.
    pub fn exact_ok(&self) -> bool {
        !self.cpp_text
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
        self.input_target()
    }

    /// The preprocessor's own default target: the input's basename with
    /// its last suffix replaced by `.o`.
    fn input_target(&self) -> OsString {
        let base = basename(self.input.as_bytes());
        let stem = base
            .iter()
            .rposition(|&b| b == b'.')
            .map_or(base, |dot| &base[..dot]);
        with_suffix(stem, "o")
    }
}
