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
//!   a file (`chars`: its byte-level helpers); `skeleton`: a file's digest and directives, `image` its
//!   bytes; `codec`: the probe's bytes;
//! - `macros`: definitions and the macro table; `expand`: expansion;
//!   `expr`: `#if` evaluation, `literal`: the values of its literals;
//! - `search`: gcc's include chains; `files`: the stat/skeleton cache,
//!   with `listing`s of dirs; `skipped`: the default dirs missing here;
//!   `fs`: one unit's lookups and records; `shadow`: the names that
//!   could stand in front of a predicted file;
//!   `walk`: one unit's walk;
//! - `pack`: one file shared by processes; `store`: what is kept in it
//!   (skeletons, listings, probes) and when; `claim`: cold work done
//!   once among processes that want it at the same time;
//! - `unit`: what the caller gives and gets; `probe`: the compiler probe,
//!   `base` what its answers contribute to each scan;
//!   `session`: the client's entry point, `scan_unit`, which puts them
//!   together over the cache dir; `agent`: the same done by a per-user
//!   process that keeps it all in memory between jobs.

pub mod agent;
pub mod base;
pub mod builtins;
pub mod chars;
pub mod claim;
pub mod codec;
pub mod expand;
pub mod expr;
pub mod files;
pub mod fs;
pub mod image;
pub mod lex;
pub mod listing;
pub mod literal;
pub mod macros;
pub mod pack;
pub mod probe;
pub mod replay;
pub mod search;
pub mod session;
pub mod shadow;
pub mod skeleton;
pub mod skipped;
pub mod stamp;
pub mod store;
pub mod token;
pub mod unit;
pub mod walk;

use std::rc::Rc;

use base::Base;
use files::FileCache;
use macros::{parse_define, Macro, Macros};
use probe::CompilerInfo;
use search::Chains;
use token::{FxMap, Interner, Sym};
use walk::{Top, TopHow, Walk};

pub use probe::{probe, ProbeCache};
pub use session::{scan_unit, Compiler};
pub use store::{Store, StoreStats};
pub use unit::{DirOpt, FileRead, Lang, MacroOpt, Probe, ProbeKind, ScanError, ScanResult, Unit};

/// A long-lived scanner: its file cache and compiler setups serve every
/// unit it scans. Not thread-safe; one per thread or process.
#[derive(Default)]
pub struct Scanner {
    int: Interner,
    files: FileCache,
    bases: FxMap<[u8; 32], Rc<Base>>,
    cmdline: FxMap<String, Option<(Sym, Rc<Macro>)>>,
    /// Builtin calls met without an answer (see `builtins`).
    questions: Vec<Vec<u8>>,
}

impl Scanner {
    pub fn new() -> Scanner {
        Scanner::default()
    }

    /// A scanner that also keeps and finds skeletons and listings in
    /// `store` (the cross-process cache).
    pub fn with_store(store: Store) -> Scanner {
        Scanner {
            files: FileCache::new(store),
            ..Scanner::default()
        }
    }

    pub fn store(&mut self) -> &mut Store {
        &mut self.files.store
    }

    /// The answers the last scan rested on (`replay`).
    pub fn answers(&mut self) -> &mut replay::Answers {
        &mut self.files.answers
    }

    /// The files `unit` reads and the probes it makes, as the compiler
    /// described by `cc` would.
    pub fn scan(&mut self, unit: &Unit, cc: &CompilerInfo) -> Result<ScanResult, ScanError> {
        self.files.begin();
        let base = match self.bases.get(&cc.id) {
            Some(b) => b.clone(),
            None => {
                let b = Rc::new(Base::new(cc, &mut self.int, &mut self.files.store));
                self.bases.insert(cc.id, b.clone());
                b
            }
        };
        let src = unit.source.as_os_str().as_encoded_bytes().to_vec();
        let mut probes = Vec::new();
        let chains = if unit.lang == Some(Lang::Preprocessed) {
            Chains::default()
        } else {
            Chains::build(unit, &base.dirs, &base.skipped, &mut probes, &mut |p| {
                self.files.dir_id(p)
            })
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
        let mut macros = Macros::over(&base.macros);
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
        w.answers = builtins::Answers::new(cc.key);
        let r = w.run(&tops);
        self.questions = std::mem::take(&mut w.answers.questions);
        r?;
        Ok(w.finish())
    }

    /// The builtin calls the last scan met without an answer: asking
    /// the compiler (`probe::answer_builtins`) and keeping the answers
    /// (`Store::keep_builtin`) makes the next scan exact there.
    pub fn take_questions(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.questions)
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
                m.define(*s, macros::Slot::Def(d.clone()), true);
            }
        }
    }
}

#[cfg(test)]
mod walk_tests;
