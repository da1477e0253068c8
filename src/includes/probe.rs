//! The compiler probe: what the scanner must know about a compiler and
//! its target-affecting flags, asked once by running it over an empty
//! unit: `-E -dM` prints the predefined macros, `-v` the default include
//! dirs, `-MD` the files it pre-includes (gcc's `stdc-predef.h`), and a
//! few `#ifdef` lines tell which builtins (`__has_include`,
//! `__has_builtin`, ...) it has. Run in the C locale, without the
//! `*_INCLUDE_PATH` variables, which the unit states itself.
//!
//! `ProbeCache` keeps answers in memory per (compiler, flags, language);
//! `CompilerInfo::encode`/`decode` give the bytes a disk cache keyed by
//! the compiler's identity and the flags would keep.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::codec::{Reader, Writer};
use super::skipped::{self, SkippedDir};
use super::unit::Lang;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Gcc,
    Clang,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompilerInfo {
    pub family: Family,
    pub lang: Lang,
    /// `#define` lines, as `-dM` printed them.
    pub predefined: Vec<u8>,
    /// The default `#include <...>` dirs, in order.
    pub dirs: Vec<PathBuf>,
    /// Default dirs the compiler skipped as nonexistent, in chain order,
    /// each with its place among `dirs`: a volunteer that has one
    /// searches it (`skipped`); if one appears here, the answers above
    /// are stale.
    pub absent_dirs: Vec<SkippedDir>,
    /// Names pre-included through the `<>` chain before `-include`s.
    pub preincludes: Vec<Vec<u8>>,
    /// Builtins that `#ifdef` reports defined.
    pub specials: Vec<String>,
    /// A digest of all the above: one scanner setup per distinct value.
    pub id: [u8; 32],
    /// What answers to builtin calls are kept under (`builtins`): the
    /// session's probe key (compiler identity, flags, language), `id`
    /// where there is none.
    pub key: [u8; 32],
}

/// Builtins a compiler may have; `#ifdef` tells which it has.
pub const SPECIALS: &[&str] = &[
    "__has_include",
    "__has_include_next",
    "__has_builtin",
    "__has_attribute",
    "__has_cpp_attribute",
    "__has_c_attribute",
    "__has_feature",
    "__has_extension",
    "__has_warning",
    "__has_declspec_attribute",
    "__has_embed",
    "__has_constexpr_builtin",
    "__is_identifier",
    "__is_target_arch",
    "__is_target_vendor",
    "__is_target_os",
    "__is_target_environment",
    "__is_target_variant_os",
    "__is_target_variant_environment",
    "__building_module",
    "_Pragma",
    "__FILE__",
    "__LINE__",
    "__INCLUDE_LEVEL__",
    "__BASE_FILE__",
    "__FILE_NAME__",
    "__COUNTER__",
    "__DATE__",
    "__TIME__",
    "__TIMESTAMP__",
];

const MARK: &str = "__distcc_probe_";

/// Whether a flag changes what the probe answers, so it must be passed
/// to it: the language standard, target and code-generation options,
/// and those that drop default dirs or macros. When in doubt, yes.
pub fn affects_probe(flag: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "-std=",
        "-m",
        "-f",
        "-O",
        "--sysroot",
        "-isysroot",
        "-target",
        "--target",
        "-nostdinc",
        "-undef",
        "-x",
        "-ansi",
        "-pthread",
        "-trigraphs",
        "-march",
        "-mtune",
        "-specs",
        "-B",
        "--gcc-toolchain",
        "-stdlib",
        "-fopenmp",
        "-pedantic",
    ];
    PREFIXES.iter().any(|p| flag.starts_with(p))
}

fn lang_flag(lang: Lang) -> &'static str {
    match lang {
        Lang::C | Lang::Preprocessed => "c",
        Lang::Cxx => "c++",
        Lang::AsmCpp => "assembler-with-cpp",
    }
}

/// `compiler FLAGS -x LANG -E -dM` run in `dir`, with none of the
/// environment that would add include dirs or write a dependency file
/// somewhere of the user's.
pub(super) fn macros_of(compiler: &Path, flags: &[OsString], lang: Lang, dir: &Path) -> Command {
    let mut cmd = Command::new(compiler);
    cmd.args(flags)
        .args(["-x", lang_flag(lang), "-E", "-dM"])
        .current_dir(dir)
        .env("LC_ALL", "C")
        .env_remove("CPATH")
        .env_remove("C_INCLUDE_PATH")
        .env_remove("CPLUS_INCLUDE_PATH")
        .env_remove("OBJC_INCLUDE_PATH")
        .env_remove("DEPENDENCIES_OUTPUT")
        .env_remove("SUNPRO_DEPENDENCIES")
        .stdin(Stdio::null());
    cmd
}

/// Runs the compiler once and reads its answers.
pub fn probe(compiler: &Path, flags: &[OsString], lang: Lang) -> Result<CompilerInfo> {
    let tmp = tempfile::Builder::new()
        .prefix("distcc-probe-")
        .tempdir()
        .context("probe temp dir")?;
    let input = tmp.path().join("probe.h");
    let deps = tmp.path().join("probe.d");
    let mut text = String::new();
    for (i, s) in SPECIALS.iter().enumerate() {
        text.push_str(&format!("#ifdef {s}\n#define {MARK}{i} 1\n#endif\n"));
    }
    std::fs::write(&input, text).context("writing the probe input")?;
    let out = macros_of(compiler, flags, lang, tmp.path())
        .args(["-v", "-MD", "-MF"])
        .arg(&deps)
        .arg(&input)
        .output()
        .with_context(|| format!("running {}", compiler.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed to preprocess an empty file: {}",
            compiler.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let d = std::fs::read(&deps).unwrap_or_default();
    let mut info = parse(&out.stdout, &out.stderr, &d, &input, lang);
    // clang reports a missing dir when it adds it, not in chain order.
    if info.family == Family::Gcc && !info.absent_dirs.is_empty() {
        skipped::order(compiler, flags, lang, &info.dirs, &mut info.absent_dirs);
        info.seal();
    }
    Ok(info)
}

/// Reads the probe's outputs (split out so it can be tested on text).
pub fn parse(stdout: &[u8], stderr: &[u8], deps: &[u8], input: &Path, lang: Lang) -> CompilerInfo {
    let mut predefined = Vec::new();
    let mut specials = Vec::new();
    for line in stdout.split(|&c| c == b'\n') {
        let l = String::from_utf8_lossy(line);
        if let Some(rest) = l.strip_prefix(&format!("#define {MARK}")) {
            let n: usize = rest
                .split(' ')
                .next()
                .unwrap_or("")
                .parse()
                .unwrap_or(usize::MAX);
            if let Some(s) = SPECIALS.get(n) {
                specials.push(s.to_string());
            }
            continue;
        }
        if line.starts_with(b"#define ") {
            predefined.extend_from_slice(line);
            predefined.push(b'\n');
        }
    }
    let err = String::from_utf8_lossy(stderr);
    let mut dirs = Vec::new();
    let mut inside = false;
    for l in err.lines() {
        if l.starts_with("#include <...> search starts here:") {
            inside = true;
        } else if l.starts_with("End of search list.") {
            inside = false;
        } else if inside && l.starts_with(' ') {
            let d = l.trim().trim_end_matches(" (framework directory)");
            dirs.push(PathBuf::from(d));
        }
    }
    let family = if predefined
        .split(|&c| c == b'\n')
        .any(|l| l.starts_with(b"#define __clang__ "))
    {
        Family::Clang
    } else {
        Family::Gcc
    };
    let preincludes = preincludes_of(deps, input, &dirs);
    let absent_dirs = skipped::listed(&err, dirs.len());
    let mut info = CompilerInfo {
        family,
        lang,
        predefined,
        dirs,
        absent_dirs,
        preincludes,
        specials,
        id: [0; 32],
        key: [0; 32],
    };
    info.seal();
    info
}

/// The files `-MD` lists besides the input, as names relative to the
/// default dir they were found in.
fn preincludes_of(deps: &[u8], input: &Path, dirs: &[PathBuf]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(deps).replace("\\\n", " ");
    let Some((_, list)) = text.split_once(": ") else {
        return Vec::new();
    };
    let input = input.to_string_lossy();
    list.split_whitespace()
        .filter(|p| *p != input && !p.ends_with("probe.h"))
        .filter_map(|p| {
            dirs.iter().find_map(|d| {
                Path::new(p)
                    .strip_prefix(d)
                    .ok()
                    .map(|r| r.as_os_str().as_bytes().to_vec())
            })
        })
        .collect()
}

const MAGIC: &[u8] = b"distcc-compiler-probe-4";

impl CompilerInfo {
    /// Sets `id` (and `key`) to the digest of the fields.
    pub fn seal(&mut self) {
        self.id = Sha256::digest(self.encode_fields()).into();
        self.key = self.id;
    }

    fn encode_fields(&self) -> Vec<u8> {
        let mut w = Writer::new(MAGIC);
        w.u64(match self.family {
            Family::Gcc => 0,
            Family::Clang => 1,
        });
        w.u64(self.lang.code());
        w.blob(&self.predefined);
        w.u64(self.dirs.len() as u64);
        for d in &self.dirs {
            w.blob(d.as_os_str().as_bytes());
        }
        w.u64(self.absent_dirs.len() as u64);
        for d in &self.absent_dirs {
            w.blob(d.path.as_os_str().as_bytes());
            w.u64(d.before.into());
        }
        w.u64(self.preincludes.len() as u64);
        for p in &self.preincludes {
            w.blob(p);
        }
        w.u64(self.specials.len() as u64);
        for s in &self.specials {
            w.blob(s.as_bytes());
        }
        w.finish()
    }

    /// The fields, then `id` (so that a decoder need not hash them).
    pub fn encode(&self) -> Vec<u8> {
        let mut b = self.encode_fields();
        b.extend_from_slice(&self.id);
        b
    }

    /// Whether a dir the compiler skipped has appeared since the probe.
    pub fn is_stale(&self) -> bool {
        self.absent_dirs.iter().any(|d| d.path.exists())
    }

    pub fn decode(b: &[u8]) -> Option<CompilerInfo> {
        let (b, id) = b.split_at_checked(b.len().checked_sub(32)?)?;
        let mut r = Reader::new(b, MAGIC)?;
        let family = match r.u64()? {
            0 => Family::Gcc,
            1 => Family::Clang,
            _ => return None,
        };
        let lang = Lang::of_code(r.u64()?)?;
        let predefined = r.blob()?.to_vec();
        let list = |r: &mut Reader| -> Option<Vec<Vec<u8>>> {
            let n = r.u64()? as usize;
            let mut v = Vec::with_capacity(n.min(b.len()));
            for _ in 0..n {
                v.push(r.blob()?.to_vec());
            }
            Some(v)
        };
        let paths = |v: Vec<Vec<u8>>| -> Vec<PathBuf> {
            v.into_iter()
                .map(|d| PathBuf::from(OsStr::from_bytes(&d)))
                .collect()
        };
        let dirs = paths(list(&mut r)?);
        let n = r.u64()? as usize;
        let mut absent_dirs = Vec::with_capacity(n.min(b.len()));
        for _ in 0..n {
            let path = PathBuf::from(OsStr::from_bytes(r.blob()?));
            let before = u32::try_from(r.u64()?).ok()?;
            absent_dirs.push(SkippedDir { path, before });
        }
        let preincludes = list(&mut r)?;
        let specials = list(&mut r)?
            .into_iter()
            .map(|s| String::from_utf8(s).ok())
            .collect::<Option<Vec<_>>>()?;
        r.end()?;
        Some(CompilerInfo {
            family,
            lang,
            predefined,
            dirs,
            absent_dirs,
            preincludes,
            specials,
            id: id.try_into().ok()?,
            key: id.try_into().ok()?,
        })
    }
}

/// The compiler's values for builtin calls (`builtins`), asked in one
/// run: each value's 64 bits as `#if` tests whose outcome `-dM` shows.
/// A run that fails is split in halves, so one question the compiler
/// rejects does not lose the others' answers; its own answer is None.
pub fn answer_builtins(
    compiler: &Path,
    flags: &[OsString],
    lang: Lang,
    queries: &[Vec<u8>],
) -> Vec<Option<i64>> {
    if queries.is_empty() {
        return Vec::new();
    }
    if let Some(v) = ask(compiler, flags, lang, queries) {
        return v;
    }
    if queries.len() == 1 {
        return vec![None];
    }
    let (a, b) = queries.split_at(queries.len() / 2);
    let mut v = answer_builtins(compiler, flags, lang, a);
    v.extend(answer_builtins(compiler, flags, lang, b));
    v
}

const ANSWER: &str = "__distcc_answer_";

fn ask(
    compiler: &Path,
    flags: &[OsString],
    lang: Lang,
    queries: &[Vec<u8>],
) -> Option<Vec<Option<i64>>> {
    let tmp = tempfile::Builder::new()
        .prefix("distcc-builtins-")
        .tempdir()
        .ok()?;
    let input = tmp.path().join("builtins.h");
    let mut text = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        for bit in 0..64 {
            text.extend_from_slice(b"#if ((");
            text.extend_from_slice(q);
            text.extend_from_slice(
                format!(") + 0u) >> {bit} & 1\n#define {ANSWER}{i}_{bit} 1\n#endif\n").as_bytes(),
            );
        }
    }
    std::fs::write(&input, text).ok()?;
    let out = macros_of(compiler, flags, lang, tmp.path())
        .arg(&input)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut bits = vec![0u64; queries.len()];
    let prefix = format!("#define {ANSWER}");
    for line in out.stdout.split(|&c| c == b'\n') {
        let Some(rest) = line.strip_prefix(prefix.as_bytes()) else {
            continue;
        };
        let rest = String::from_utf8_lossy(rest);
        let (i, bit) = rest.split(' ').next()?.split_once('_')?;
        let (i, bit): (usize, u32) = (i.parse().ok()?, bit.parse().ok()?);
        *bits.get_mut(i)? |= 1u64.checked_shl(bit)?;
    }
    Some(bits.into_iter().map(|b| Some(b as i64)).collect())
}

/// Probe answers kept for the life of the process.
#[derive(Default)]
pub struct ProbeCache {
    map: HashMap<(PathBuf, Vec<OsString>, Lang), Rc<CompilerInfo>>,
}

impl ProbeCache {
    pub fn get(
        &mut self,
        compiler: &Path,
        flags: &[OsString],
        lang: Lang,
    ) -> Result<Rc<CompilerInfo>> {
        let key = (compiler.to_path_buf(), flags.to_vec(), lang);
        if let Some(i) = self.map.get(&key) {
            return Ok(i.clone());
        }
        let info = Rc::new(probe(compiler, flags, lang)?);
        self.map.insert(key, info.clone());
        Ok(info)
    }
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
