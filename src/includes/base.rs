//! What a compiler contributes to every scan of a unit (`Base`): its
//! predefined macros, the options its `#if` arithmetic depends on, how it
//! recognises a `#pragma once` file, its default dirs and pre-includes.
//! Built once per probe answer; a new process takes the predefined macros
//! from the cross-process store as a skeleton (no lexing, no parsing),
//! which the macro table then points into.

use std::rc::Rc;

use super::expr;
use super::macros::{DefSource, Macros, Slot, Special};
use super::probe::{CompilerInfo, Family};
use super::skeleton::Skeleton;
use super::skipped::SkippedDir;
use super::store::Store;
use super::token::{FxMap, Interner, Sym};

/// How a compiler tells a `#pragma once` file seen before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnceRule {
    /// gcc: same size, mtime and content, at any path.
    Content,
    /// clang: the same file.
    Inode,
}

pub struct Base {
    pub macros: Rc<FxMap<Sym, Slot>>,
    pub opts: expr::Options,
    pub once: OnceRule,
    pub dirs: Vec<std::path::PathBuf>,
    pub skipped: Vec<SkippedDir>,
    pub preincludes: Vec<Vec<u8>>,
}

impl Base {
    pub fn new(cc: &CompilerInfo, int: &mut Interner, store: &mut Store) -> Base {
        let sk = match store.base(&cc.id, int) {
            Some(sk) => sk,
            None => {
                let sk = Skeleton::build(&cc.predefined, int);
                store.keep_base(&cc.id, &sk, int);
                sk
            }
        };
        let mut m = Macros::default();
        let names: Vec<Sym> = sk.defs.iter().map(|d| d.name).collect();
        let src: Rc<dyn DefSource> = Rc::new(sk);
        for (i, name) in names.into_iter().enumerate() {
            m.set(name, Slot::Kept(src.clone(), i as u32));
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
        let mut has = |name: &[u8]| m.get(int.intern(name)).is_some();
        let opts = expr::Options {
            cplusplus: has(b"__cplusplus"),
            unsigned_char: has(b"__CHAR_UNSIGNED__"),
            header_trailing_space: cc.family == Family::Clang,
        };
        Base {
            macros: m.into_shared(),
            opts,
            once: if cc.family == Family::Clang {
                OnceRule::Inode
            } else {
                OnceRule::Content
            },
            dirs: cc.dirs.clone(),
            skipped: cc.absent_dirs.clone(),
            preincludes: cc.preincludes.clone(),
        }
    }
}
