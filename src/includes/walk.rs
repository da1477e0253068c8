//! The walk over one unit: files entered in the order the preprocessor
//! enters them (`-imacros`, the compiler's pre-include, `-include`, the
//! source), each file's skeleton run directive by directive with a
//! conditional stack, macros defined and undefined as they come.
//!
//! Undecided conditions are taken both ways. A group taken that way, and
//! a file entered from one, is "maybe": `uncertain` counts the maybe
//! levels open, and while it is non-zero a `#define`/`#undef` makes its
//! macro unknown, `#pragma once` only maybe applies, and a missing header
//! is not fatal. An `#include` whose name depends on an unknown macro
//! ends the scan with a `ScanError`.
//!
//! `#pragma once` follows the compiler: gcc skips a file whose size,
//! mtime (seconds) and content equal a once-only file's, even at another
//! path (checked with gcc 12: a `cp -p` copy is skipped); clang compares
//! file identity. Include guards are an optimisation: a file whose guard
//! is defined is not walked again, which changes nothing it would do.

use std::rc::Rc;

use super::base::{Base, OnceRule};
use super::builtins::Answers;
use super::expand::{Dyn, ExpandError, Expander};
use super::expr::{self, header_name, Oracle};
use super::fs::Fs;
use super::macros::{DefSource, Macros, Slot};
use super::search::{dir_of, FoundIn, How};
use super::skeleton::{Dir, DirKind, Skeleton, NO_NAME, NO_NEXT};
use super::token::{FxMap, Interner, Kind, Sym};
use super::unit::{ProbeKind, ScanError, ScanResult, Unit};
use crate::includes::files::Node;

/// gcc's limit ("#include nested depth 200 exceeds maximum of 200").
const MAX_DEPTH: usize = 200;

/// What a compiler compares to tell a `#pragma once` file was seen.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum OnceKey {
    Content(i64, u64, [u8; 32]),
    Inode(u64, u64),
}

struct Frame {
    skel: Rc<Skeleton>,
    pc: usize,
    path: Rc<[u8]>,
    found: FoundIn,
    maybe: bool,
    cond_base: usize,
    line_changed: bool,
    key: OnceKey,
}

#[derive(Default)]
struct Cond {
    /// A branch was certainly taken: the rest of the chain is skipped.
    closed: bool,
    /// A branch was maybe taken: any later one is at most maybe.
    seen_maybe: bool,
    /// The current group is taken as maybe (counted in `uncertain`).
    cur_maybe: bool,
}

/// A file the walk starts from, in order.
pub struct Top {
    pub name: Vec<u8>,
    pub how: TopHow,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TopHow {
    /// `-include`, `-imacros`: `./`, then the quote chain; must exist.
    Cmdline,
    /// The compiler's pre-include (`stdc-predef.h`): `<>`, if found.
    Preinclude,
    Main,
}

pub struct Walk<'a> {
    pub int: &'a mut Interner,
    pub fs: Fs<'a>,
    pub base: &'a Base,
    pub unit: &'a Unit,
    pub macros: Macros,
    stack: Vec<Frame>,
    conds: Vec<Cond>,
    uncertain: u32,
    /// Once-only files; the value says whether certainly so.
    once: FxMap<OnceKey, bool>,
    /// Files entered, for `#import`; the value says whether certainly.
    entered: FxMap<OnceKey, bool>,
    scratch: expr::Scratch,
    /// The compiler's answers to builtin calls, and the questions left.
    pub answers: Answers,
    pub res: ScanResult,
    /// Set by an expansion of `__LINE__` (`ScanResult::lines`).
    line_asked: std::cell::Cell<bool>,
}

impl<'a> Walk<'a> {
    pub fn new(
        int: &'a mut Interner,
        fs: Fs<'a>,
        base: &'a Base,
        unit: &'a Unit,
        macros: Macros,
    ) -> Walk<'a> {
        Walk {
            int,
            fs,
            base,
            unit,
            macros,
            stack: Vec::new(),
            conds: Vec::new(),
            uncertain: 0,
            once: FxMap::default(),
            entered: FxMap::default(),
            scratch: expr::Scratch::default(),
            answers: Answers::default(),
            res: ScanResult::default(),
            line_asked: std::cell::Cell::new(false),
        }
    }

    pub fn run(&mut self, tops: &[Top]) -> Result<(), ScanError> {
        // The compiler opens the source before anything it pre-includes.
        if let Some(main) = tops.iter().find(|t| t.how == TopHow::Main) {
            self.fs.open_main(&main.name, self.int)?;
        }
        for t in tops {
            if self.res.fatal.is_some() {
                break;
            }
            let how = match t.how {
                TopHow::Main => {
                    let node = self.fs.open_main(&t.name, self.int)?;
                    self.enter(node, Rc::from(&t.name[..]), FoundIn::NoSearch, false)?;
                    self.drain()?;
                    continue;
                }
                TopHow::Cmdline => How::Cmdline,
                TopHow::Preinclude => How::Angled,
            };
            match self.fs.find(&t.name, how, ProbeKind::Candidate, self.int)? {
                Some((node, id, path, found)) => {
                    self.fs.record_read(id, &path, &node);
                    self.enter(node, path, found, false)?;
                    self.drain()?;
                }
                None if t.how == TopHow::Cmdline => {
                    self.res.fatal = Some(format!(
                        "{}: No such file or directory",
                        String::from_utf8_lossy(&t.name)
                    ));
                }
                None => {}
            }
        }
        Ok(())
    }

    fn certain(&self) -> bool {
        self.uncertain == 0
    }

    fn drain(&mut self) -> Result<(), ScanError> {
        while let Some(top) = self.stack.last_mut() {
            let skel = top.skel.clone();
            if top.pc >= skel.dirs.len() {
                self.pop_frame();
                continue;
            }
            let d = skel.dirs[top.pc];
            top.pc += 1;
            self.directive(&skel, d)?;
            if self.res.fatal.is_some() {
                self.stack.clear();
            }
        }
        Ok(())
    }

    fn pop_frame(&mut self) {
        let f = self.stack.pop().unwrap();
        while self.conds.len() > f.cond_base {
            if self.conds.pop().unwrap().cur_maybe {
                self.uncertain -= 1;
            }
        }
        if f.maybe {
            self.uncertain -= 1;
        }
    }

    fn directive(&mut self, skel: &Rc<Skeleton>, d: Dir) -> Result<(), ScanError> {
        let certain = self.certain();
        match d.kind {
            DirKind::If => {
                let t = self.eval_if(skel, &d);
                self.conds.push(Cond::default());
                self.branch(t, &d);
            }
            DirKind::Ifdef | DirKind::Ifndef => {
                let t = self.ifdef(&d);
                self.conds.push(Cond::default());
                self.branch(t, &d);
            }
            DirKind::Elif | DirKind::Elifdef | DirKind::Elifndef | DirKind::Else => {
                if !self.in_cond() {
                    return Ok(());
                }
                self.leave_group();
                if self.conds.last().unwrap().closed {
                    self.skip(&d);
                    return Ok(());
                }
                let t = match d.kind {
                    DirKind::Else => Some(true),
                    DirKind::Elif => self.eval_if(skel, &d),
                    _ => self.ifdef(&d),
                };
                self.branch(t, &d);
            }
            DirKind::Endif => {
                if self.in_cond() {
                    self.leave_group();
                    self.conds.pop();
                }
            }
            DirKind::Define => {
                let name = skel.defs[d.arg as usize].name;
                let src: Rc<dyn DefSource> = skel.clone();
                self.macros.define(name, Slot::Kept(src, d.arg), certain);
            }
            DirKind::Undef => self.macros.undef(Sym(d.arg), certain),
            DirKind::Include | DirKind::IncludeNext | DirKind::Import => {
                self.include(skel, &d)?;
            }
            DirKind::PragmaOnce => {
                let key = self.stack.last().unwrap().key;
                let e = self.once.entry(key).or_insert(false);
                *e |= certain;
            }
            DirKind::PushMacro => self.macros.push_macro(Sym(d.arg), certain),
            DirKind::PopMacro => self.macros.pop_macro(Sym(d.arg), certain),
            DirKind::Line => self.stack.last_mut().unwrap().line_changed = true,
            DirKind::Error => {
                if certain {
                    let f = &self.stack.last().unwrap().path;
                    self.res.notes.push(format!(
                        "{}:{}: #error reached",
                        String::from_utf8_lossy(f),
                        d.line
                    ));
                }
            }
            DirKind::Dependency => self.dependency(skel, &d)?,
            DirKind::Embed => return Err(self.cannot(&d, "#embed is not scanned")),
        }
        Ok(())
    }

    fn cannot(&self, d: &Dir, why: &str) -> ScanError {
        let f = self.stack.last().map(|f| &f.path[..]).unwrap_or(b"");
        ScanError(format!("{}:{}: {why}", String::from_utf8_lossy(f), d.line))
    }

    fn in_cond(&self) -> bool {
        self.conds.len() > self.stack.last().map_or(0, |f| f.cond_base)
    }

    fn skip(&mut self, d: &Dir) {
        let f = self.stack.last_mut().unwrap();
        f.pc = if d.next == NO_NEXT {
            f.skel.dirs.len()
        } else {
            d.next as usize
        };
    }

    fn branch(&mut self, t: Option<bool>, d: &Dir) {
        let c = self.conds.last_mut().unwrap();
        match t {
            Some(true) => {
                c.closed = true;
                if c.seen_maybe {
                    c.cur_maybe = true;
                    self.uncertain += 1;
                }
            }
            Some(false) => self.skip(d),
            None => {
                c.seen_maybe = true;
                c.cur_maybe = true;
                self.uncertain += 1;
                self.res.undecided += 1;
            }
        }
    }

    fn leave_group(&mut self) {
        let c = self.conds.last_mut().unwrap();
        if c.cur_maybe {
            c.cur_maybe = false;
            self.uncertain -= 1;
        }
    }

    fn ifdef(&self, d: &Dir) -> Option<bool> {
        if d.arg == NO_NAME {
            return None;
        }
        let def = self.macros.defined(Sym(d.arg))?;
        Some(match d.kind {
            DirKind::Ifdef | DirKind::Elifdef => def,
            _ => !def,
        })
    }

    fn eval_if(&mut self, skel: &Skeleton, d: &Dir) -> Option<bool> {
        let f = self.stack.last().unwrap();
        let dynv = Dyn {
            file: (!f.line_changed).then_some(&f.path[..]),
            line: (!f.line_changed).then_some(d.line),
            line_asked: &self.line_asked,
            depth: self.stack.len() as u32 - 1,
            base_file: self.unit.source.as_os_str().as_encoded_bytes(),
        };
        let mut oracle = HasInclude {
            fs: &mut self.fs,
            own_dir: dir_of(&f.path),
            found: f.found,
            answers: &mut self.answers,
        };
        expr::eval(
            skel.operands(d),
            &self.macros,
            self.int,
            &dynv,
            &self.base.opts,
            &mut oracle,
            &mut self.scratch,
        )
        .ok()
    }

    /// The name operand of `#include` and `#pragma GCC dependency`.
    fn name_of(
        &mut self,
        ops: &[crate::includes::token::Tok],
        d: &Dir,
    ) -> Result<Option<(Vec<u8>, bool)>, ScanError> {
        if let Some(t) = ops.first() {
            if matches!(t.kind, Kind::Str | Kind::Header) && self.int.get(t.sym).len() >= 2 {
                let s = self.int.get(t.sym);
                if matches!(s[0], b'"' | b'<') {
                    return Ok(Some((s[1..s.len() - 1].to_vec(), t.kind == Kind::Header)));
                }
            }
        }
        let f = self.stack.last().unwrap();
        let dynv = Dyn {
            file: (!f.line_changed).then_some(&f.path[..]),
            line: (!f.line_changed).then_some(d.line),
            line_asked: &self.line_asked,
            depth: self.stack.len() as u32 - 1,
            base_file: self.unit.source.as_os_str().as_encoded_bytes(),
        };
        let mut exp = Expander::new(ops, &self.macros, self.int, &dynv);
        let r = match exp.get() {
            Ok(Some(first)) => header_name(&mut exp, first, self.base.opts.header_trailing_space),
            Ok(None) => Err(ExpandError::Invalid(
                "#include expects \"FILENAME\" or <FILENAME>",
            )),
            Err(e) => Err(e),
        };
        match r {
            Ok(n) => Ok(Some(n)),
            Err(ExpandError::Unknown(s)) => {
                let name = String::from_utf8_lossy(self.int.get(s)).into_owned();
                Err(self.cannot(
                    d,
                    &format!("#include name depends on the undecided macro {name}"),
                ))
            }
            Err(ExpandError::Invalid(why)) => {
                let f = String::from_utf8_lossy(&self.stack.last().unwrap().path).into_owned();
                self.res.notes.push(format!("{f}:{}: {why}", d.line));
                Ok(None)
            }
        }
    }

    fn how<'p>(&self, angled: bool, next: bool, own_dir: &'p [u8]) -> How<'p> {
        how(self.stack.last().unwrap().found, angled, next, own_dir)
    }

    fn include(&mut self, skel: &Skeleton, d: &Dir) -> Result<(), ScanError> {
        let Some((name, angled)) = self.name_of(skel.operands(d), d)? else {
            return Ok(());
        };
        let own = dir_of(&self.stack.last().unwrap().path).to_vec();
        let how = self.how(angled, d.kind == DirKind::IncludeNext, &own);
        match self.fs.find(&name, how, ProbeKind::Candidate, self.int)? {
            Some((node, id, path, found)) => {
                self.fs.record_read(id, &path, &node);
                self.enter(node, path, found, d.kind == DirKind::Import)
            }
            None => {
                let msg = format!(
                    "{}: No such file or directory",
                    String::from_utf8_lossy(&name)
                );
                if self.certain() {
                    self.res.fatal = Some(msg);
                } else {
                    self.res.notes.push(msg);
                }
                Ok(())
            }
        }
    }

    fn dependency(&mut self, skel: &Skeleton, d: &Dir) -> Result<(), ScanError> {
        let ops = skel.operands(d);
        let Some((name, angled)) = self.name_of(&ops[2.min(ops.len())..], d)? else {
            return Ok(());
        };
        let own = dir_of(&self.stack.last().unwrap().path).to_vec();
        let how = self.how(angled, false, &own);
        self.fs.exists(&name, how, ProbeKind::Dependency);
        Ok(())
    }

    fn once_key(&self, n: &Node) -> OnceKey {
        match self.base.once {
            OnceRule::Content => OnceKey::Content(n.stamp.mtime, n.stamp.size, n.skel.digest),
            OnceRule::Inode => OnceKey::Inode(n.stamp.dev, n.stamp.ino),
        }
    }

    fn enter(
        &mut self,
        node: Rc<Node>,
        path: Rc<[u8]>,
        found: FoundIn,
        import: bool,
    ) -> Result<(), ScanError> {
        let key = self.once_key(&node);
        let certain = self.certain();
        let mut maybe = !certain;
        match self.once.get(&key) {
            Some(true) => return Ok(()),
            Some(false) => maybe = true,
            None => {}
        }
        if import {
            match self.entered.get(&key) {
                Some(true) => {
                    self.once.insert(key, true);
                    return Ok(());
                }
                Some(false) => maybe = true,
                None => {}
            }
            let e = self.once.entry(key).or_insert(false);
            *e |= certain;
        }
        if let Some(g) = node.skel.guard {
            if self.macros.defined(g) == Some(true) {
                return Ok(());
            }
        }
        if node.skel.trigraphs && self.unit.trigraphs {
            return Err(ScanError(format!(
                "{} contains trigraphs",
                String::from_utf8_lossy(&path)
            )));
        }
        if self.stack.len() >= MAX_DEPTH {
            if certain {
                self.res.fatal = Some("#include nested too deeply".into());
                return Ok(());
            }
            return Err(ScanError(
                "#include nested too deeply in an undecided branch".into(),
            ));
        }
        let e = self.entered.entry(key).or_insert(false);
        *e |= !maybe;
        if maybe {
            self.uncertain += 1;
        }
        self.stack.push(Frame {
            skel: node.skel.clone(),
            pc: 0,
            path,
            found,
            maybe,
            cond_base: self.conds.len(),
            line_changed: false,
            key,
        });
        Ok(())
    }

    pub fn finish(mut self) -> ScanResult {
        self.res.lines = self.line_asked.get();
        self.res.files = self.fs.file_reads();
        self.res.probes = std::mem::take(&mut self.fs.probes);
        self.res.shadows = super::shadow::shadows(
            &mut self.fs,
            &self.res.files,
            &self.res.probes,
            &self.base.dirs,
        );
        self.res
    }
}

/// `__has_include` answered by the same search as `#include`.
struct HasInclude<'f, 'a> {
    fs: &'f mut Fs<'a>,
    own_dir: &'f [u8],
    found: FoundIn,
    answers: &'f mut Answers,
}

impl Oracle for HasInclude<'_, '_> {
    fn has_include(&mut self, name: &[u8], angled: bool, next: bool) -> Option<bool> {
        let how = how(self.found, angled, next, self.own_dir);
        self.fs.exists(name, how, ProbeKind::HasInclude)
    }

    fn builtin(&mut self, query: &[u8]) -> Option<i64> {
        self.answers.get(query, &mut self.fs.files.store)
    }
}

/// The lookup for a name met in a file found as `found`: `#include_next`
/// resumes after that dir; in the main file, or one opened by absolute
/// name, it is a plain `#include` (gcc warns and does that).
fn how(found: FoundIn, angled: bool, next: bool, own_dir: &[u8]) -> How<'_> {
    match (next, found) {
        (true, FoundIn::Dir(_) | FoundIn::Own | FoundIn::Cwd) => How::Next(found),
        _ if angled => How::Angled,
        _ => How::Quote { own_dir },
    }
}
