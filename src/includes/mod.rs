//! The include scanner: finds the files the compiler's preprocessor would
//! open for a unit, and the file-system questions it would ask, without
//! running it. It works from each file's directive skeleton (built once
//! per file content and kept) and from the compiler's predefined macros
//! and default dirs (asked once per compiler and flags, `probe`).
//!
//! Where it cannot decide a condition it takes both branches (a superset
//! costs bytes, never correctness); where it cannot know a file name it
//! says so (`ScanError`) and the caller asks the compiler instead.
//!
//! Layers, bottom up:
//! - `token`: tokens, interned spellings; `lex`: directive lines out of
//!   a file; `skeleton`: a file's digest and directives; `codec`: bytes;
//! - `macros`: definitions and the macro table; `expand`: expansion;
//!   `expr`: `#if` evaluation, `literal`: the values of its literals;
//! - `search`: gcc's include chains; `files`: the stat/skeleton cache;
//!   `fs`: one unit's lookups and records; `walk`: one unit's walk;
//! - `unit`: what the caller gives and gets; `probe`: the compiler probe.

pub mod codec;
pub mod expand;
pub mod expr;
pub mod files;
pub mod fs;
pub mod lex;
pub mod literal;
pub mod macros;
pub mod probe;
pub mod search;
pub mod skeleton;
pub mod token;
pub mod unit;
pub mod walk;

use std::rc::Rc;

use files::{FileCache, Stamp};
use macros::{parse_define, Macro, Macros, Special};
use probe::{CompilerInfo, Family};
use search::Chains;
use token::{FxMap, Interner, Sym};
use walk::{Top, TopHow, Walk};

pub use probe::{probe, ProbeCache};
pub use unit::{DirOpt, FileRead, Lang, MacroOpt, Probe, ProbeKind, ScanError, ScanResult, Unit};

/// How a compiler tells a `#pragma once` file seen before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnceRule {
    /// gcc: same size, mtime and content, at any path.
    Content,
    /// clang: the same file.
    Inode,
}

/// What a compiler contributes to every scan, built once per probe.
pub struct Base {
    pub macros: Macros,
    pub opts: expr::Options,
    pub once: OnceRule,
    pub dirs: Vec<std::path::PathBuf>,
    pub preincludes: Vec<Vec<u8>>,
}

impl Base {
    fn new(cc: &CompilerInfo, int: &mut Interner) -> Base {
        let mut m = Macros::default();
        let lexed = lex::lex(&cc.predefined, int);
        for l in &lexed.lines {
            let toks = &lexed.toks[l.start as usize..l.end as usize];
            if toks.first().is_some_and(|t| t.sym == token::sym::DEFINE) {
                if let Some((name, def)) = parse_define(&toks[1..]) {
                    m.define(name, &Rc::new(def), true);
                }
            }
        }
        for s in &cc.specials {
            let sp = match s.as_str() {
                "__has_include" => Special::HasInclude,
                "__has_include_next" => Special::HasIncludeNext,
                "__FILE__" => Special::File,
                "__LINE__" => Special::Line,
                "__INCLUDE_LEVEL__" => Special::IncludeLevel,
                "__BASE_FILE__" => Special::BaseFile,
                "__FILE_NAME__" => Special::FileName,
                "__COUNTER__" | "__DATE__" | "__TIME__" | "__TIMESTAMP__" => Special::UnknownValue,
                _ => Special::Opaque,
            };
            m.set_special(int.intern(s.as_bytes()), sp);
        }
        let has = |name: &[u8]| {
            cc.predefined.split(|&c| c == b'\n').any(|l| {
                l.strip_prefix(b"#define ")
                    .is_some_and(|r| r.starts_with(name) && r.get(name.len()) == Some(&b' '))
            })
        };
        let clang = cc.family == Family::Clang;
        // Clones keep this capacity: a unit's own macros then rarely
        // make the table grow.
        m.reserve(4096);
        Base {
            macros: m,
            opts: expr::Options {
                cplusplus: has(b"__cplusplus"),
                unsigned_char: has(b"__CHAR_UNSIGNED__"),
                header_trailing_space: clang,
            },
            once: if clang {
                OnceRule::Inode
            } else {
                OnceRule::Content
            },
            dirs: cc.dirs.clone(),
            preincludes: cc.preincludes.clone(),
        }
    }
}

/// A long-lived scanner: its file cache and compiler setups serve every
/// unit it scans. Not thread-safe; one per thread or process.
#[derive(Default)]
pub struct Scanner {
    int: Interner,
    files: FileCache,
    bases: FxMap<[u8; 32], Rc<Base>>,
    cmdline: FxMap<String, Option<(Sym, Rc<Macro>)>>,
}

impl Scanner {
    pub fn new() -> Scanner {
        Scanner::default()
    }

    /// The files `unit` reads and the probes it makes, as the compiler
    /// described by `cc` would.
    pub fn scan(&mut self, unit: &Unit, cc: &CompilerInfo) -> Result<ScanResult, ScanError> {
        self.files.begin();
        let base = match self.bases.get(&cc.id) {
            Some(b) => b.clone(),
            None => {
                let b = Rc::new(Base::new(cc, &mut self.int));
                self.bases.insert(cc.id, b.clone());
                b
            }
        };
        let src = unit.source.as_os_str().as_encoded_bytes().to_vec();
        let mut probes = Vec::new();
        let chains = if unit.lang == Some(Lang::Preprocessed) {
            Chains::default()
        } else {
            Chains::build(unit, &base.dirs, &mut probes)
        };
        let fs = fs::Fs::new(&mut self.files, chains, &unit.cwd, probes);
        if unit.lang == Some(Lang::Preprocessed) {
            let mut fs = fs;
            fs.open_main(&src, &mut self.int)?;
            return Ok(ScanResult {
                files: fs.file_reads(),
                ..ScanResult::default()
            });
        }
        let mut macros = base.macros.clone();
        for m in &unit.macros {
            apply(&mut macros, m, &mut self.cmdline, &mut self.int);
        }
        let mut tops = Vec::new();
        let bytes = |p: &std::path::Path| p.as_os_str().as_encoded_bytes().to_vec();
        for p in &unit.imacros {
            tops.push(Top {
                name: bytes(p),
                how: TopHow::Cmdline,
            });
        }
        for p in &base.preincludes {
            tops.push(Top {
                name: p.clone(),
                how: TopHow::Preinclude,
            });
        }
        for p in &unit.includes {
            tops.push(Top {
                name: bytes(p),
                how: TopHow::Cmdline,
            });
        }
        tops.push(Top {
            name: src,
            how: TopHow::Main,
        });
        let mut w = Walk::new(&mut self.int, fs, &base, unit, macros);
        w.run(&tops)?;
        Ok(w.finish())
    }

    /// Skeletons held, for a cache that outlives the process.
    pub fn export_skeletons(&self) -> Vec<(Stamp, Vec<u8>)> {
        self.files.entries(&self.int)
    }

    /// A skeleton from such a cache; false if the bytes are not one.
    pub fn import_skeleton(&mut self, stamp: Stamp, bytes: &[u8]) -> bool {
        self.files.preload(stamp, bytes, &mut self.int)
    }

    /// Files read and skeletons built so far (cold work done).
    pub fn files_read(&self) -> u64 {
        self.files.reads
    }

    /// `stat` calls made so far.
    pub fn stats(&self) -> u64 {
        self.files.stats
    }
}

/// `-D`/`-U`: `-D X` is `#define X 1`, `-D X=V` is `#define X V`.
fn apply(
    m: &mut Macros,
    opt: &MacroOpt,
    cache: &mut FxMap<String, Option<(Sym, Rc<Macro>)>>,
    int: &mut Interner,
) {
    match opt {
        MacroOpt::Undef(name) => {
            let s = int.intern(name.as_bytes());
            m.undef(s, true);
        }
        MacroOpt::Define(text) => {
            let def = cache.entry(text.clone()).or_insert_with(|| {
                let (name, value) = text.split_once('=').unwrap_or((text, "1"));
                let line = format!("{name} {value}");
                let mut toks = Vec::new();
                lex::lex_line(line.as_bytes(), int, &mut toks);
                parse_define(&toks).map(|(s, d)| (s, Rc::new(d)))
            });
            if let Some((s, d)) = def {
                m.define(*s, d, true);
            }
        }
    }
}

#[cfg(test)]
mod walk_tests;
