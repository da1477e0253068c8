//! Asking a compiler driver what decides its output: its `-v` banner, and
//! the programs it runs for a language. gcc names its compiler proper and
//! assembler with `-print-prog-name=` (a bare name means "found on PATH"
//! when gcc runs it); clang has no `cc1` program (`-print-prog-name=cc1`
//! echoes `cc1`), so its `-###` plan is read instead: it names the binary
//! that really compiles, even behind a symlink chain or a wrapper script,
//! and an external assembler only when one is used. The banner is asked
//! for in the C locale, since gcc translates it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};

use super::{Kind, Lang};

/// What a driver reported, and the files whose bytes decide its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Probe {
    pub kind: Kind,
    /// The whole version line, vendor and package version included.
    pub version_line: String,
    pub version: String,
    pub target: String,
    /// gcc's "Configured with" line; empty for clang.
    pub configured: String,
    pub thread_model: String,
    /// Files the driver reads its defaults from: a gcc `specs` file
    /// ("Reading specs from"), a clang configuration file.
    pub config_files: Vec<PathBuf>,
    /// clang's driver mode, which its program name selects (`clang++`
    /// compiles a `.c` file as C++); empty for gcc.
    pub mode: &'static str,
    pub driver: PathBuf,
    pub compiler: PathBuf,
    pub assembler: Option<PathBuf>,
    pub libraries: Vec<PathBuf>,
}

/// `path_var` is the PATH the compiler will run with: gcc finds `as` on it.
pub(super) fn probe(driver: &Path, lang: Lang, path_var: Option<&OsStr>) -> Result<Probe> {
    let banner = run(driver, &["-v"])?.1;
    let mut probe =
        parse_banner(&banner).with_context(|| format!("{}: not gcc or clang", driver.display()))?;
    probe.driver = driver.to_path_buf();
    match probe.kind {
        Kind::Gcc => {
            let proper = lang.gcc_proper();
            probe.compiler = gcc_program(driver, proper)?
                .filter(|p| p.is_absolute())
                .ok_or_else(|| anyhow!("{} has no {proper}", driver.display()))?;
            let as_name = gcc_program(driver, "as")?.unwrap_or_else(|| "as".into());
            probe.assembler = Some(resolve_program(&as_name, path_var).ok_or_else(|| {
                anyhow!(
                    "{}: assembler {} not found",
                    driver.display(),
                    as_name.display()
                )
            })?);
        }
        Kind::Clang => {
            probe.mode = clang_mode(driver);
            let plan = run(driver, &["-###", "-c", "-x", lang.name(), "/dev/null"])?.1;
            let (compiler, assembler) = parse_clang_plan(&plan)
                .with_context(|| format!("{}: no -cc1 job in its -### plan", driver.display()))?;
            probe.libraries = compiler_libraries(&compiler)?;
            probe.compiler = compiler;
            probe.assembler = assembler;
        }
    }
    Ok(probe)
}

/// Runs the driver with `args`; its stdout and stderr.
fn run(driver: &Path, args: &[&str]) -> Result<(String, String)> {
    let out = Command::new(driver)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", driver.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let first = stderr.lines().next().unwrap_or("");
        bail!(
            "{} {}: {} {first}",
            driver.display(),
            args.join(" "),
            out.status
        );
    }
    Ok((String::from_utf8_lossy(&out.stdout).into_owned(), stderr))
}

fn parse_banner(text: &str) -> Option<Probe> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let (kind, version_line) = if let Some(l) = text.lines().find(|l| l.contains("clang version "))
    {
        (Kind::Clang, l.trim())
    } else {
        (
            Kind::Gcc,
            text.lines().find(|l| l.starts_with("gcc version "))?.trim(),
        )
    };
    let version = version_line
        .split_once("version ")?
        .1
        .split_whitespace()
        .next()?
        .to_string();
    Some(Probe {
        kind,
        version_line: version_line.to_string(),
        version,
        target: field("Target:")?,
        configured: field("Configured with:").unwrap_or_default(),
        thread_model: field("Thread model:").unwrap_or_default(),
        config_files: text
            .lines()
            .filter_map(|l| {
                l.strip_prefix("Reading specs from ")
                    .or_else(|| l.strip_prefix("Configuration file: "))
            })
            .map(|p| PathBuf::from(p.trim()))
            .collect(),
        mode: "",
        driver: PathBuf::new(),
        compiler: PathBuf::new(),
        assembler: None,
        libraries: Vec::new(),
    })
}

/// gcc's answer to `-print-prog-name=name`: a path, or the bare name when
/// gcc would look it up on PATH.
fn gcc_program(driver: &Path, name: &str) -> Result<Option<PathBuf>> {
    let out = run(driver, &[&format!("-print-prog-name={name}")])?.0;
    let answer = out.trim_end_matches('\n');
    Ok((!answer.is_empty()).then(|| PathBuf::from(answer)))
}

/// A program as `execvp` would find it: a name with a slash as it is, a
/// bare name in the first PATH dir that holds an executable of that name.
pub(super) fn resolve_program(name: &Path, path_var: Option<&OsStr>) -> Option<PathBuf> {
    if name.as_os_str().as_bytes().contains(&b'/') {
        return Some(name.to_path_buf());
    }
    let path_var = path_var?;
    std::env::split_paths(path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|p| is_executable_file(p))
}

pub(super) fn is_executable_file(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// clang's driver mode from its program name, as clang derives it: the
/// name without a version suffix (`clang++-14`), matched by its ending.
fn clang_mode(driver: &Path) -> &'static str {
    let name = driver.file_name().unwrap_or_default().to_string_lossy();
    let name = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    let name = name.trim_end_matches('-');
    if name.ends_with("++") {
        "g++"
    } else if name.ends_with("cl") {
        "cl"
    } else if name.ends_with("cpp") {
        "cpp"
    } else {
        "gcc"
    }
}

/// From clang's `-###` plan (one job a line, each argument quoted): the
/// binary of the `-cc1` job, and the program of the first other job (an
/// external assembler; none with the integrated one).
fn parse_clang_plan(text: &str) -> Option<(PathBuf, Option<PathBuf>)> {
    let jobs: Vec<Vec<OsString>> = text
        .lines()
        .filter(|l| l.starts_with(" \""))
        .map(split_quoted)
        .collect();
    let compiler = jobs
        .iter()
        .find(|j| j.get(1).is_some_and(|a| a == "-cc1"))?
        .first()?;
    let other = jobs
        .iter()
        .find(|j| j.get(1).is_some_and(|a| a != "-cc1"))
        .and_then(|j| j.first());
    Some((PathBuf::from(compiler), other.map(PathBuf::from)))
}

/// Splits `"a" "b\"c"` as clang quotes a job: each argument in double
/// quotes, a backslash escaping the next character.
fn split_quoted(line: &str) -> Vec<OsString> {
    let mut args = Vec::new();
    let mut bytes = line.bytes();
    while let Some(b) = bytes.next() {
        if b != b'"' {
            continue;
        }
        let mut arg = Vec::new();
        while let Some(b) = bytes.next() {
            match b {
                b'"' => break,
                b'\\' => arg.extend(bytes.next()),
                _ => arg.push(b),
            }
        }
        args.push(OsStr::from_bytes(&arg).to_os_string());
    }
    args
}

/// Library name prefixes that hold the compiler itself: Debian's clang is
/// a 140 kB binary over `libclang-cpp` and `libLLVM`, which do the work.
/// Other libraries (libc, libstdc++, zlib) do not decide the object, and
/// counting them would refuse hosts that differ by a security update.
const COMPILER_LIBRARIES: [&str; 2] = ["libLLVM", "libclang"];

/// The compiler's own shared libraries, as the dynamic loader resolves
/// them (`ldd`), sorted by name; none for a static binary.
fn compiler_libraries(compiler: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(compiler)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .context("running ldd to find the compiler's libraries")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let all = format!("{text}{}", String::from_utf8_lossy(&out.stderr));
        if all.contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        bail!("ldd {}: {}", compiler.display(), out.status);
    }
    Ok(parse_ldd(&text))
}

fn parse_ldd(text: &str) -> Vec<PathBuf> {
    let mut libs: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.trim().split_once(" => ")?;
            let path = rest.rsplit_once(" (").map_or(rest, |(p, _)| p);
            COMPILER_LIBRARIES
                .iter()
                .any(|p| name.starts_with(p))
                .then(|| PathBuf::from(path))
        })
        .collect();
    libs.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    libs
}

#[cfg(test)]
mod tests {
    use super::*;

    const GCC_BANNER: &str = "Using built-in specs.\n\
        COLLECT_GCC=gcc\n\
        Target: x86_64-linux-gnu\n\
        Configured with: ../src/configure -v --prefix=/usr\n\
        Thread model: posix\n\
        Supported LTO compression algorithms: zlib zstd\n\
        gcc version 12.2.0 (Debian 12.2.0-14+deb12u1) \n";

    const CLANG_BANNER: &str = "Debian clang version 14.0.6\n\
        Target: x86_64-pc-linux-gnu\n\
        Thread model: posix\n\
        InstalledDir: /usr/bin\n\
        Found candidate GCC installation: /usr/bin/../lib/gcc/x86_64-linux-gnu/12\n";

    #[test]
    fn banners_give_kind_version_target_and_configuration() {
        let p = parse_banner(GCC_BANNER).unwrap();
        assert_eq!(p.kind, Kind::Gcc);
        assert_eq!(p.version, "12.2.0");
        assert_eq!(
            p.version_line,
            "gcc version 12.2.0 (Debian 12.2.0-14+deb12u1)"
        );
        assert_eq!(p.target, "x86_64-linux-gnu");
        assert_eq!(p.configured, "../src/configure -v --prefix=/usr");
        assert_eq!(p.thread_model, "posix");
        assert_eq!(p.config_files, [] as [PathBuf; 0], "built-in specs");

        let p = parse_banner(CLANG_BANNER).unwrap();
        assert_eq!(p.kind, Kind::Clang);
        assert_eq!(p.version, "14.0.6");
        assert_eq!(p.version_line, "Debian clang version 14.0.6");
        assert_eq!(p.target, "x86_64-pc-linux-gnu");
        assert_eq!(p.configured, "");

        let with_files = format!(
            "Reading specs from /opt/gcc/lib/specs\nConfiguration file: /opt/clang.cfg\n{GCC_BANNER}"
        );
        assert_eq!(
            parse_banner(&with_files).unwrap().config_files,
            [PathBuf::from("/opt/gcc/lib/specs"), "/opt/clang.cfg".into()]
        );

        assert_eq!(parse_banner("tcc version 0.9.27\nTarget: x\n"), None);
        assert_eq!(parse_banner("gcc version 12.2.0\n"), None, "no target");
    }

    #[test]
    fn clang_plans_name_the_compiler_and_an_external_assembler() {
        let integrated = "clang version 14.0.6\n (in-process)\n \
            \"/usr/lib/llvm-14/bin/clang\" \"-cc1\" \"-triple\" \"x86_64-pc-linux-gnu\" \"-o\" \"null.o\"\n";
        assert_eq!(
            parse_clang_plan(integrated),
            Some((PathBuf::from("/usr/lib/llvm-14/bin/clang"), None))
        );
        let external = " \"/opt/my clang/bin/clang\" \"-cc1\" \"-S\"\n \
            \"/usr/bin/as\" \"--64\" \"-o\" \"null.o\"\n";
        assert_eq!(
            parse_clang_plan(external),
            Some((
                PathBuf::from("/opt/my clang/bin/clang"),
                Some(PathBuf::from("/usr/bin/as"))
            ))
        );
        assert_eq!(parse_clang_plan(" \"/usr/bin/as\" \"x\"\n"), None);
        assert_eq!(split_quoted(r#" "a\"b" "c\\d" "#), ["a\"b", "c\\d"]);
    }

    #[test]
    fn clang_modes_follow_the_program_name() {
        for (name, mode) in [
            ("/usr/bin/clang", "gcc"),
            ("clang-14", "gcc"),
            ("clang++", "g++"),
            ("clang++-14", "g++"),
            ("x86_64-linux-gnu-clang++-14.0", "g++"),
            ("c++", "g++"),
            ("clang-cl", "cl"),
            ("clang-cpp-14", "cpp"),
            ("cc", "gcc"),
        ] {
            assert_eq!(clang_mode(Path::new(name)), mode, "{name}");
        }
    }

    #[test]
    fn ldd_output_gives_the_compiler_libraries_only() {
        let text = "\tlinux-vdso.so.1 (0x00007f6a2bbb7000)\n\
            \tlibclang-cpp.so.14 => /lib/x86_64-linux-gnu/libclang-cpp.so.14 (0x00007f6a28200000)\n\
            \tlibLLVM-14.so.1 => /lib/x86_64-linux-gnu/libLLVM-14.so.1 (0x00007f6a21800000)\n\
            \tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f6a21400000)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f6a2bbb9000)\n";
        assert_eq!(
            parse_ldd(text),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libLLVM-14.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libclang-cpp.so.14"),
            ]
        );
    }

    #[test]
    fn bare_program_names_are_found_on_the_given_path() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("as");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::write(dir.path().join("plain"), "").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let var = std::env::join_paths(["/nonexistent".as_ref(), dir.path()]).unwrap();
        assert_eq!(resolve_program(Path::new("as"), Some(&var)), Some(exe));
        assert_eq!(resolve_program(Path::new("plain"), Some(&var)), None);
        assert_eq!(resolve_program(Path::new("as"), None), None);
        assert_eq!(
            resolve_program(Path::new("/x/as"), None),
            Some(PathBuf::from("/x/as"))
        );
    }
}
