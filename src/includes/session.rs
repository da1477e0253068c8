//! The client's entry point: `scan_unit` scans one unit in a process that
//! has seen nothing before (each distcc job is one), with what earlier
//! jobs of the user left in the cache dir: the compiler's probe (keyed by
//! the compiler's identity, the flags that change its answers and the
//! language), the skeletons of the files and the listings of the dirs
//! (keyed by their stamps, see `store`). What it computes that earlier
//! jobs did not, it leaves there for later ones.
//!
//! A `Session` does the same for several units in one process (tests,
//! benchmarks, a long-lived caller), keeping what it learnt in memory too.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::image;
use super::pack::Limits;
use super::probe::{self, CompilerInfo};
use super::replay;
use super::skeleton::{digest_of, Skeleton};
use super::stamp::Stamp;
use super::store::{Store, StoreStats, RACY};
use super::token::Interner;
use super::unit::{Lang, ScanError, ScanResult, Unit};
use super::Scanner;
use crate::identity::Digest as IdentityDigest;

/// The compiler a unit is scanned for.
#[derive(Clone, Copy, Debug)]
pub struct Compiler<'a> {
    /// The real compiler, as the client would run it.
    pub path: &'a Path,
    /// Its identity's digest (`identity::Cache::identity`): a probe is
    /// kept per identity, so a compiler upgraded in place is probed again.
    pub identity: &'a IdentityDigest,
    /// The unit's flags that change the probe's answers, in order
    /// (`probe::affects_probe` tells which).
    pub probe_flags: &'a [OsString],
}

/// The files `unit` reads and the probes it makes, with `compiler`,
/// using and filling the cache in `cache_dir` (the client's
/// `$DISTCC_DIR/cache`). A `ScanError` means only the compiler can tell
/// (the caller then asks it); a cache that cannot be used only costs
/// time. Made for one call per process (see the end); a caller that
/// scans many units keeps a `Session`.
pub fn scan_unit(
    cache_dir: &Path,
    compiler: &Compiler,
    unit: &Unit,
) -> Result<ScanResult, ScanError> {
    match kept_scan(cache_dir, compiler, unit) {
        Kept::Holds(r) => Ok(r),
        Kept::Not(store, key) => walk_unit(*store, key, compiler, unit),
    }
}

/// The walk `scan_unit` makes when the kept scan does not hold, over the
/// cache `kept_scan` opened, kept under `key`.
pub fn walk_unit(
    store: Store,
    key: Option<[u8; 32]>,
    compiler: &Compiler,
    unit: &Unit,
) -> Result<ScanResult, ScanError> {
    let mut s = Session::with_store(store);
    let r = s.walk(compiler, unit, key);
    log::debug!("{}", told_walk(&s.store_stats(), s.files_read()));
    // The cache file is closed and unmapped; what the scan built in
    // memory (a few MB in many small allocations) is not freed: a job's
    // process ends soon, and freeing costs more than scanning a small
    // unit. So: one call per process, as a client job makes.
    drop(std::mem::take(s.scanner.store()));
    std::mem::forget(s);
    r
}

/// The unit's kept scan if it holds (`replay`), or the cache opened to
/// walk it and the key its scan will be kept under.
pub enum Kept {
    Holds(ScanResult),
    Not(Box<Store>, Option<[u8; 32]>),
}

/// A replay alone, as a new process does it: a replayed unit needs no
/// scanner (its tables alone are some 20 pages to fault in), so this
/// looks before one is made.
pub fn kept_scan(cache_dir: &Path, compiler: &Compiler, unit: &Unit) -> Kept {
    let mut store = Store::open(cache_dir, Limits::default(), RACY);
    let key = replay_key(compiler, unit);
    match replayed(&mut store, key.as_ref(), unit) {
        Some(r) => {
            log::debug!("{}", told_replay(&store.stats));
            Kept::Holds(r)
        }
        None => Kept::Not(Box::new(store), key),
    }
}

/// What `DISTCC_VERBOSE` says of a replayed unit, from the counts of its
/// scan alone.
fn told_replay(st: &StoreStats) -> String {
    format!(
        "scan cache: the unit's kept scan holds; files read again: {}",
        st.replay_reads
    )
}

/// And of a walked one.
fn told_walk(st: &StoreStats, files_read: u64) -> String {
    format!(
        "scan cache: {} skeletons found by stamp, {} files read ({} lexed, the rest found by content), {} too recent to keep",
        st.skeleton_hits,
        files_read,
        files_read - st.content_hits,
        st.racy
    )
}

pub struct Session {
    scanner: Scanner,
    infos: HashMap<[u8; 32], Rc<CompilerInfo>>,
    /// Compiler probes run (not found in memory or in the cache).
    pub probes_run: u64,
    /// Compiler runs that answered builtin calls (`builtins`).
    pub builtin_runs: u64,
    /// Units whose kept scan held (`replay`): nothing walked.
    pub replayed: u64,
    /// Whether kept scans are looked for (tests of the layers below
    /// turn it off).
    pub replays: bool,
}

impl Session {
    pub fn open(cache_dir: &Path) -> Session {
        Session::open_with(cache_dir, Limits::default(), RACY)
    }

    /// With other limits and racy window (tests use a window of zero and
    /// change stamps explicitly).
    pub fn open_with(cache_dir: &Path, limits: Limits, racy: Duration) -> Session {
        Session::with_store(Store::open(cache_dir, limits, racy))
    }

    fn with_store(store: Store) -> Session {
        Session {
            scanner: Scanner::with_store(store),
            infos: HashMap::new(),
            probes_run: 0,
            builtin_runs: 0,
            replayed: 0,
            replays: true,
        }
    }

    /// Scans `unit`. When the scan met builtin calls the cache has no
    /// answer for, the compiler is asked them all in one run, and the
    /// unit is scanned again with the answers (the first scan's result is
    /// a superset of the second's).
    ///
    /// A unit scanned before, whose every file-system answer is still the
    /// same, is not walked: its kept result is (`replay`).
    pub fn scan(&mut self, compiler: &Compiler, unit: &Unit) -> Result<ScanResult, ScanError> {
        let kept = replay_key(compiler, unit);
        if self.replays {
            if let Some(r) = replayed(self.scanner.store(), kept.as_ref(), unit) {
                self.replayed += 1;
                return Ok(r);
            }
        }
        self.walk(compiler, unit, kept)
    }

    /// As `scan`, with what `DISTCC_VERBOSE` says of it (a long-lived
    /// caller's counts are since the call began).
    pub fn scan_told(
        &mut self,
        compiler: &Compiler,
        unit: &Unit,
    ) -> (Result<ScanResult, ScanError>, String) {
        let (stats, read, replayed) = (self.store_stats(), self.files_read(), self.replayed);
        let r = self.scan(compiler, unit);
        let now = self.store_stats();
        let since = StoreStats {
            skeleton_hits: now.skeleton_hits - stats.skeleton_hits,
            content_hits: now.content_hits - stats.content_hits,
            racy: now.racy - stats.racy,
            replay_reads: now.replay_reads - stats.replay_reads,
            ..now
        };
        let told = match self.replayed > replayed {
            true => told_replay(&since),
            false => told_walk(&since, self.files_read() - read),
        };
        (r, told)
    }

    /// Whether the cache file this session reads was replaced since it
    /// opened it (compacted by a writer): a long-lived caller then opens
    /// a new session, or it would keep reading and appending to the old.
    pub fn cache_replaced(&mut self) -> bool {
        self.scanner.store().replaced()
    }

    /// The scan itself, kept under `kept` for a later replay.
    fn walk(
        &mut self,
        compiler: &Compiler,
        unit: &Unit,
        kept: Option<[u8; 32]>,
    ) -> Result<ScanResult, ScanError> {
        let info = self.compiler_info(compiler, unit.lang)?;
        // Before any answer: what a later replay judges stamps settled by.
        let began = SystemTime::now();
        let mut r = self.scanner.scan(unit, &info);
        let questions = self.scanner.take_questions();
        if !questions.is_empty() {
            // Other processes may be asking the same at once: one asks,
            // the others find its answers.
            let store = self.scanner.store();
            let claim = store.claim_compiler(&info.key, true);
            let questions: Vec<Vec<u8>> = match claim {
                Some(_) => questions
                    .into_iter()
                    .filter(|q| store.builtin_latest(&info.key, q).is_none())
                    .collect(),
                None => questions,
            };
            if !questions.is_empty() {
                self.builtin_runs += 1;
                let answers = probe::answer_builtins(
                    compiler.path,
                    compiler.probe_flags,
                    info.lang,
                    &questions,
                );
                let store = self.scanner.store();
                for (q, a) in questions.iter().zip(answers) {
                    store.keep_builtin(&info.key, q, a);
                }
                store.flush();
            }
            drop(claim);
            r = self.scanner.scan(unit, &info);
            if !self.scanner.take_questions().is_empty() {
                self.scanner.answers().spoil();
            }
        }
        if let (Some(key), Ok(result)) = (&kept, &r) {
            let skipped = replay::still_absent(info.absent_dirs.iter().map(|d| d.path.as_path()));
            if let Some(bytes) = replay::encode(result, self.scanner.answers(), &skipped, began) {
                self.scanner.store().keep_scan(key, &bytes);
            }
        }
        self.scanner.store().flush();
        r
    }

    /// Keeps only what concerns the compiler (probes, builtin answers),
    /// not files and dirs: for a benchmark's "cold" cache.
    pub fn keep_files(&mut self, keep: bool) {
        self.scanner.store().keep_files = keep;
    }

    pub fn store_stats(&mut self) -> StoreStats {
        self.scanner.store().stats
    }

    /// Files read and lexed so far (work the cache did not save).
    pub fn files_read(&self) -> u64 {
        self.scanner.files_read()
    }

    /// `stat` calls made so far.
    pub fn stat_calls(&self) -> u64 {
        self.scanner.stats()
    }

    /// The probe's answers: from memory, from the cache (unless a default
    /// dir it skipped has appeared since), or by running the compiler.
    pub fn compiler_info(
        &mut self,
        cc: &Compiler,
        lang: Option<Lang>,
    ) -> Result<Rc<CompilerInfo>, ScanError> {
        let lang = lang.ok_or_else(|| ScanError("the unit's language is not known".into()))?;
        if lang == Lang::Preprocessed {
            // Nothing is searched or evaluated in a preprocessed unit.
            let none = probe::parse(b"", b"", b"", Path::new(""), lang);
            return Ok(Rc::new(none));
        }
        let key = probe_key(cc, lang);
        if let Some(i) = self.infos.get(&key) {
            // A long-lived session sees a default dir appear, as a new
            // process would.
            if !i.is_stale() {
                return Ok(i.clone());
            }
        }
        let store = self.scanner.store();
        let usable = |i: &CompilerInfo| i.lang == lang && !i.is_stale();
        let cached = store
            .probe(&key)
            .and_then(CompilerInfo::decode)
            .filter(usable);
        let mut info = match cached {
            Some(i) => i,
            None => {
                // Other processes may be probing the same at once: one
                // probes, the others find its answers.
                let claim = store.claim_compiler(&key, false);
                let theirs = match claim {
                    Some(_) => store
                        .probe_latest(&key)
                        .and_then(CompilerInfo::decode)
                        .filter(usable),
                    None => None,
                };
                match theirs {
                    Some(i) => i,
                    None => {
                        self.probes_run += 1;
                        let i = probe::probe(cc.path, cc.probe_flags, lang)
                            .map_err(|e| ScanError(format!("compiler probe: {e:#}")))?;
                        let store = self.scanner.store();
                        store.keep_probe(&key, &i.encode());
                        store.flush();
                        i
                    }
                }
            }
        };
        info.key = key;
        let info = Rc::new(info);
        self.infos.insert(key, info.clone());
        Ok(info)
    }
}

/// The key `unit`'s whole scan is kept under (`replay`); none for a
/// unit whose language says nothing is searched.
fn replay_key(compiler: &Compiler, unit: &Unit) -> Option<[u8; 32]> {
    match unit.lang {
        Some(lang) if lang != Lang::Preprocessed => {
            Some(replay::key(&probe_key(compiler, lang), unit))
        }
        _ => None,
    }
}

/// The scan kept under `key`, if it holds (`replay`).
fn replayed(store: &mut Store, key: Option<&[u8; 32]>, unit: &Unit) -> Option<ScanResult> {
    let kept = store.scan(key?)?.to_vec();
    replay::replay(&kept, &unit.cwd, &mut Moved(store))
}

/// A moved file's digest for a replay: kept under its new stamp by an
/// earlier job, or read now (and kept for the next, once settled).
struct Moved<'a>(&'a mut Store);

impl replay::Contents for Moved<'_> {
    fn settled(&self, st: &Stamp, at: SystemTime) -> bool {
        self.0.settled_at(st, at)
    }

    fn digest(&mut self, path: &[u8], st: &Stamp) -> Option<([u8; 32], bool)> {
        let settled = self.0.keepable(st, SystemTime::now());
        if settled {
            if let Some(d) = self.0.digest_by_stamp(st) {
                return Some((d, true));
            }
        }
        self.0.stats.replay_reads += 1;
        let mut f = std::fs::File::open(OsStr::from_bytes(path)).ok()?;
        let mut bytes = Vec::with_capacity(st.size as usize + 1);
        f.read_to_end(&mut bytes).ok()?;
        // The file as read is the one asked about, whole.
        let now = Stamp::of(&f.metadata().ok()?);
        if now != *st || bytes.len() as u64 != st.size {
            return None;
        }
        let digest = digest_of(&bytes);
        if settled {
            self.0.keep_digest(st, &digest);
        }
        Some((digest, settled))
    }

    fn walks_as(
        &mut self,
        path: &[u8],
        st: &Stamp,
        then: &[u8; 32],
        now: &[u8; 32],
        lines: bool,
    ) -> bool {
        let Some(was) = self.0.content_image(then) else {
            return false;
        };
        match self
            .0
            .content_image(now)
            .or_else(|| self.lex(path, st, now))
        {
            Some(is) => image::same_walk(&was, &is, lines),
            None => false,
        }
    }
}

impl Moved<'_> {
    /// The skeleton of the file at `path` (stamp `st`, content `digest`)
    /// in its byte form, lexed now and kept for the jobs after (once its
    /// stamp is settled); None if the file is no longer that.
    fn lex(&mut self, path: &[u8], st: &Stamp, digest: &[u8; 32]) -> Option<Vec<u8>> {
        self.0.stats.replay_reads += 1;
        let mut f = std::fs::File::open(OsStr::from_bytes(path)).ok()?;
        let mut bytes = Vec::with_capacity(st.size as usize + 1);
        f.read_to_end(&mut bytes).ok()?;
        if Stamp::of(&f.metadata().ok()?) != *st || digest_of(&bytes) != *digest {
            return None;
        }
        let mut int = Interner::new();
        let sk = Skeleton::build_digested(&bytes, *digest, &mut int);
        if self.0.keepable(st, SystemTime::now()) {
            self.0.keep_skeleton_of_content(&sk, &int);
        }
        Some(sk.encode(&int))
    }
}

/// What a probe's answers depend on: the compiler (by identity, not by
/// path: the same bytes elsewhere answer the same), the language and the
/// flags. The path is kept too, since the default dirs a driver reports
/// can depend on where it is installed.
fn probe_key(cc: &Compiler, lang: Lang) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"scan-probe-1\0");
    h.update(cc.identity);
    h.update(cc.path.as_os_str().as_bytes());
    h.update([0, lang as u8]);
    for f in cc.probe_flags {
        h.update(f.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
