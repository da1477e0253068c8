//! What the build needs to know about each gcc/clang option, as one table.
//!
//! The client uses it to split a compile into "preprocess here" and "compile
//! there"; the daemon uses the same rows to decide whether an argv it
//! received can be run without touching anything but its own temp files.
//! Anything not in the table is unknown and therefore treated as unsafe:
//! the client compiles locally and the daemon refuses.

/// How an option carries its argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Exact spelling, no argument (`-c`, `-MD`).
    Bare,
    /// A prefix; the rest of the word is the argument, possibly empty
    /// (`-O2`, `-Wl,x`, `-std=c11`, `-fdump-tree-all`).
    Joined,
    /// Exact spelling; the argument is the next word (`-Xclang x`).
    Separate,
    /// `-I dir` or `-Idir`.
    JoinedOrSeparate,
    /// `--param x=y` or `--param=x=y`: the joined form needs an `=`.
    EqOrSeparate,
}

/// What `-c`-like options select.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeFlag {
    Compile,
    Assemble,
    Preprocess,
    /// `-M`/`-MM`: implies `-E`, the only product is the dependency list.
    DepsOnly,
}

/// The dependency-file options; they need rewriting, not just copying,
/// because gcc picks different defaults under `-E`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepFlag {
    MD,
    MMD,
    MF,
    MT,
    MQ,
    MP,
    MG,
}

/// Options whose verdict depends on their argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// A comma list for the assembler (`-Wa,`): one bad item spoils it.
    AsmList,
    /// A single assembler word (`-Xassembler`).
    AsmArg,
    /// `-fopt-info[-kind][=file]`: only the file form is a problem.
    OptInfo,
    /// `-march=`/`-mtune=`/`-mcpu=`: `native` means "this machine".
    NotNative,
    /// The catch-all prefixes (`-f`, `-m`, `-g`, `-W`, `-O`): an option
    /// the table does not know by name is fine as long as its argument
    /// names no path. A path there is a file option we have not met yet
    /// (every compiler release adds some), which on the server could read
    /// or write outside the job dir and on the client would name a file
    /// the server does not have. Known path-carrying options that are
    /// harmless get their own row.
    NoPath,
}

/// What the option is for, from the point of view of distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Only the preprocessor looks at it. Dropped from the server argv; a
    /// server that receives it anyway can ignore it, because after
    /// preprocessing it names nothing that will be opened.
    Cpp,
    /// Preprocessor only, but it names a file the preprocessor reads or
    /// writes (`-include`, `-Wp,`). Dropped; a server must refuse it.
    CppFiles,
    /// Dependency-file generation (local preprocessor only).
    Deps(DepFlag),
    /// `-o`.
    Output,
    Mode(ModeFlag),
    /// `-x`: positional, so it is re-derived rather than forwarded.
    Lang,
    /// Matters to the compiler proper (and maybe the preprocessor), names
    /// no file or program: sent to both sides.
    Safe,
    /// Only the link step reads it; inert with `-c`/`-S`, so the server
    /// never needs it, and accepting it is harmless.
    Link,
    /// Free text for the linker (`-Wl,`, `-Xlinker`): inert with `-c` too,
    /// so the client drops it, but a server refuses it, since what it
    /// carries is not checked anywhere.
    LinkerText,
    /// The compile must happen on this machine; the text says why.
    Local(&'static str),
    /// Harmless on a server, but a compile of preprocessed text would not
    /// give the same bytes: our client keeps it local, a daemon accepts it
    /// (distcc 3.4 clients send it).
    Inexact(&'static str),
    /// Verdict depends on the argument; see [`Flag::classify`].
    Check(Check),
}

impl Class {
    /// Whether a daemon may run a received argv containing this option.
    pub fn server_safe(self) -> bool {
        matches!(
            self,
            Class::Cpp
                | Class::Safe
                | Class::Inexact(_)
                | Class::Link
                | Class::Output
                | Class::Mode(ModeFlag::Compile)
                | Class::Mode(ModeFlag::Assemble)
        )
    }
}

/// One row of the table.
#[derive(Debug, PartialEq, Eq)]
pub struct Flag {
    pub name: &'static str,
    pub shape: Shape,
    pub class: Class,
}

/// How the argument of a matched option is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// The option takes none.
    Absent,
    /// Glued to the option (possibly empty for `Shape::Joined`).
    Joined(&'a str),
    /// The next word of the argv.
    Next,
}

impl Flag {
    /// The class once the argument is known. `value` is `None` when the
    /// option takes no argument or the argument is not available.
    pub fn classify(&self, value: Option<&str>) -> Class {
        let Class::Check(check) = self.class else {
            return self.class;
        };
        let v = value.unwrap_or("");
        match check {
            Check::AsmList => v
                .split(',')
                .find_map(asm_item)
                .map_or(Class::Safe, Class::Local),
            Check::AsmArg => asm_item(v).map_or(Class::Safe, Class::Local),
            // `-fopt-info-vec=file` writes a report file; plain forms go to stderr.
            Check::OptInfo if v.contains('=') => Class::Local("writes an optimisation report file"),
            Check::OptInfo => Class::Safe,
            Check::NotNative if v.starts_with("native") => {
                Class::Local("targets the local CPU, which the server does not have")
            }
            Check::NotNative => Class::Safe,
            Check::NoPath if v.contains('/') => {
                Class::Local("option not in the flag table names a path")
            }
            Check::NoPath => Class::Safe,
        }
    }
}

/// Assembler options known not to read or write files on their own. The
/// assembler accepts file-naming options under many spellings, so this is a
/// whitelist: anything else keeps the job local.
#[rustfmt::skip]
const ASM_SAFE: &[&str] = &[
    "--noexecstack", "--execstack", "--compress-debug-sections", "--nocompress-debug-sections",
    "--gdwarf", "-gdwarf", "--gen-debug", "-g", "--32", "--64", "--x32", "-W", "--no-warn",
    "--warn", "--fatal-warnings", "-mrelax-relocations=", "-mx86-used-note=", "-mno-shared",
    "-mshared", "-mbig-obj", "-march=", "-mtune=", "-mcpu=", "-mfpu=", "-mfloat-abi=", "-mabi=",
    "-mimplicit-it=", "-mthumb", "-marm", "-mmnemonic=", "-msyntax=", "-mnaked-reg", "-EL",
    "-EB", "-K", "-L", "--keep-locals", "--strip-local-absolute", "--reduce-memory-overheads",
    "--divide", "-O", "-n", "-Q", "-R", "--size-check=", "--elf-stt-common=", "-mno-fix-",
    "-mfix-", "-mno-branches-within-32B-boundaries", "-mbranches-within-32B-boundaries",
    "-malign-branch", "-mevexrcig=", "-moperand-check=", "-msse-check=", "-mvex", "-mevex",
    "--sectname-subst", "--nops=", "-mamd64", "-mintel64", "--generate-missing-build-notes=",
    "--no-pad-sections", "-mno-relax", "-mrelax",
];

fn asm_item(item: &str) -> Option<&'static str> {
    if item.contains("native") {
        return Some("assembler targets the local CPU");
    }
    if item.starts_with("-a") || item.starts_with("--listing") {
        return Some("assembler listing file");
    }
    if item.starts_with("--MD") || item.starts_with("-MD") {
        return Some("assembler writes a dependency file");
    }
    if item.is_empty() || ASM_SAFE.iter().any(|s| item.starts_with(s)) {
        return None;
    }
    Some("assembler option not known to be file-free")
}

use self::Check::*;
use self::Class::{Cpp, CppFiles, Deps, Lang, Link, LinkerText, Local, Mode, Output, Safe};
use DepFlag::*;
use ModeFlag::*;
use Shape::*;

const fn f(name: &'static str, shape: Shape, class: Class) -> Flag {
    Flag { name, shape, class }
}

const JS: Shape = JoinedOrSeparate;
const EQ: Shape = EqOrSeparate;

const INFO: Class = Local("information query, not a compile");
const LOCAL_CPU: Class = Local("targets the local CPU, which the server does not have");
const PROFILE: Class = Local("profile data is read or written next to the object");
const COVERAGE: Class = Local("coverage notes are written next to the object");
const DUMP: Class = Local("writes compiler dump files");
const MODULES: Class = Local("modules need a module cache or mapper on this machine");
const LISTFILE: Class = Local("reads a list file on this machine");
const TOOLCHAIN: Class = Local("selects compiler programs or specs on this machine");
const OPAQUE: Class = Local("passes options whose effect is unknown");
const GENERIC: Class = Class::Check(NoPath);
const DIAG_FILE: Class = Local("writes diagnostics to a file");

/// The table. `lookup` takes the longest matching name, so specific rows
/// (`-march=native`, `-fdump-`) override general prefixes (`-m`, `-f`).
pub static FLAGS: &[Flag] = &[
    // ---- mode and output --------------------------------------------------
    f("-c", Bare, Mode(Compile)),
    f("--compile", Bare, Mode(Compile)),
    f("-S", Bare, Mode(Assemble)),
    f("--assemble", Bare, Mode(Assemble)),
    f("-E", Bare, Mode(Preprocess)),
    f("--preprocess", Bare, Mode(Preprocess)),
    f("-M", Bare, Mode(DepsOnly)),
    f("-MM", Bare, Mode(DepsOnly)),
    f("--dependencies", Bare, Mode(DepsOnly)),
    f("--user-dependencies", Bare, Mode(DepsOnly)),
    f("-o", JS, Output),
    f("--output", EQ, Output),
    f("-x", JS, Lang),
    f("--language", EQ, Lang),
    f(
        "-fsyntax-only",
        Bare,
        Local("no object is produced (-fsyntax-only)"),
    ),
    // ---- dependency files -------------------------------------------------
    f("-MD", Bare, Deps(MD)),
    f("--write-dependencies", Bare, Deps(MD)),
    f("-MMD", Bare, Deps(MMD)),
    f("--write-user-dependencies", Bare, Deps(MMD)),
    f("-MF", JS, Deps(MF)),
    f("-MT", JS, Deps(MT)),
    f("-MQ", JS, Deps(MQ)),
    f("-MP", Bare, Deps(MP)),
    f("-MG", Bare, Deps(MG)),
    f("-MJ", JS, Local("writes a compilation database entry")),
    f("-Mmodules", Bare, MODULES),
    f("-Mno-modules", Bare, MODULES),
    f("-fdeps-", Joined, MODULES),
    // ---- preprocessor only ------------------------------------------------
    f("-D", JS, Cpp),
    f("--define-macro", EQ, Cpp),
    f("-U", JS, Cpp),
    f("--undefine-macro", EQ, Cpp),
    f("-A", JS, Cpp),
    f("--assert", EQ, Cpp),
    f("-I", JS, Cpp),
    f("--include-directory", EQ, Cpp),
    f("-I-", Bare, Cpp),
    f("-iquote", JS, Cpp),
    f("-isystem", JS, Cpp),
    f("-idirafter", JS, Cpp),
    f("--include-directory-after", EQ, Cpp),
    f("-iprefix", JS, Cpp),
    f("--include-prefix", EQ, Cpp),
    f("-iwithprefix", JS, Cpp),
    f("--include-with-prefix", EQ, Cpp),
    f("-iwithprefixbefore", JS, Cpp),
    f("--include-with-prefix-before", EQ, Cpp),
    f("-imultilib", JS, Cpp),
    f("-imultiarch", JS, Cpp),
    f("-cxx-isystem", JS, Cpp),
    f("-F", JS, Cpp),
    f("-nostdinc", Bare, Cpp),
    f("-nostdinc++", Bare, Cpp),
    f("--no-standard-includes", Bare, Cpp),
    f("-nobuiltininc", Bare, Cpp),
    f("-nostdlibinc", Bare, Cpp),
    f("-undef", Bare, Cpp),
    f("-traditional-cpp", Bare, Cpp),
    f("--traditional-cpp", Bare, Cpp),
    f("-remap", Bare, Cpp),
    f("-H", Bare, Cpp),
    f("--trace-includes", Bare, Cpp),
    f("-C", Bare, Cpp),
    f("--comments", Bare, Cpp),
    f("-CC", Bare, Cpp),
    f("--comments-in-macros", Bare, Cpp),
    f("-P", Bare, Cpp),
    f("--no-line-commands", Bare, Cpp),
    f("-dD", Bare, Cpp),
    f("-dI", Bare, Cpp),
    f("-dM", Bare, Cpp),
    f("-dN", Bare, Cpp),
    f("-dU", Bare, Cpp),
    f("-fdirectives-only", Bare, Cpp),
    f("-fno-directives-only", Bare, Cpp),
    f("-fworking-directory", Bare, Cpp),
    f("-fno-working-directory", Bare, Cpp),
    f("-fpch-deps", Bare, Cpp),
    f("-fno-canonical-system-headers", Bare, Cpp),
    f("-fmax-include-depth=", Joined, Cpp),
    f("-fdebug-cpp", Bare, Cpp),
    // __FILE__ is expanded during preprocessing; the server never sees it.
    f("-fmacro-prefix-map=", Joined, Cpp),
    // The preprocessor converts the source to UTF-8. Passing this to the
    // server makes it decode that UTF-8 again as (say) Latin-1, mangling
    // every non-ASCII literal -- so it must stay on this side only.
    f("-finput-charset=", Joined, Cpp),
    // Header search only once -c is given; clang and gcc both need nothing
    // from it after preprocessing.
    f("-gcc-toolchain", Separate, Cpp),
    f("--gcc-toolchain", EQ, Cpp),
    f("-include", JS, CppFiles),
    f("--include", EQ, CppFiles),
    f("-imacros", JS, CppFiles),
    f("--imacros", EQ, CppFiles),
    f(
        "-include-pch",
        JS,
        Local("precompiled header is on this machine"),
    ),
    f(
        "-fpch-preprocess",
        Bare,
        Local("output refers to a precompiled header on this machine"),
    ),
    f("-Wp,", Joined, CppFiles),
    f("-Xpreprocessor", Separate, CppFiles),
    // ---- both sides, names nothing ----------------------------------------
    f("-O", Joined, GENERIC),
    f("--optimize", Joined, GENERIC),
    f("-W", Joined, GENERIC),
    f("--warn-", Joined, GENERIC),
    f("--extra-warnings", Bare, Safe),
    f("-w", Bare, Safe),
    f("--no-warnings", Bare, Safe),
    f("-f", Joined, GENERIC),
    f("-m", Joined, GENERIC),
    f("-g", Joined, GENERIC),
    f("--debug", Bare, Safe),
    f("-std=", Joined, Safe),
    f("--std", EQ, Safe),
    f("-ansi", Bare, Safe),
    f("--ansi", Bare, Safe),
    f("-pedantic", Bare, Safe),
    f("--pedantic", Bare, Safe),
    f("-pedantic-errors", Bare, Safe),
    f("--pedantic-errors", Bare, Safe),
    // Trigraphs change both what the preprocessor and the compiler accept.
    f("-trigraphs", Bare, Safe),
    f("--trigraphs", Bare, Safe),
    f("-traditional", Bare, Safe),
    f("-pipe", Bare, Safe),
    f("--pipe", Bare, Safe),
    f("-v", Bare, Safe),
    f("--verbose", Bare, Safe),
    f("-Q", Bare, Safe),
    f("-p", Bare, Safe),
    f("-pg", Bare, Safe),
    f("-pthread", Bare, Safe),
    f("-pthreads", Bare, Safe),
    f("--param", EQ, Safe),
    // -G is a code-generation knob (small-data threshold) on several targets.
    f("-G", JS, Safe),
    f("-arch", Separate, Safe),
    f("-target", Separate, Safe),
    f("--target", EQ, Safe),
    // Header search (done locally) and, on Darwin, the SDK version clang
    // stamps into the object. Forwarded, as distcc always has.
    f("-isysroot", JS, Safe),
    f("--sysroot", EQ, Safe),
    f("-stdlib=", Joined, Safe),
    f("--stdlib", EQ, Safe),
    f("-dA", Bare, Safe),
    f("-dp", Bare, Safe),
    f("-dP", Bare, Safe),
    f("-no-integrated-cpp", Bare, Safe),
    f("--no-integrated-cpp", Bare, Safe),
    f("-no-canonical-prefixes", Bare, Safe),
    f("-integrated-as", Bare, Safe),
    f("-no-integrated-as", Bare, Safe),
    f("-emit-llvm", Bare, Safe),
    f("-Qunused-arguments", Bare, Safe),
    f("-Qn", Bare, Safe),
    f("-Qy", Bare, Safe),
    f("-fpreprocessed", Bare, Safe),
    f("-fexec-charset=", Joined, Safe),
    f("-fwide-exec-charset=", Joined, Safe),
    // Path-valued, but only text stamped into the object or compared with
    // names the compiler already has; nothing is opened.
    f("-fdebug-prefix-map=", Joined, Safe),
    f("-fdebug-compilation-dir=", Joined, Safe),
    f("-frandom-seed=", Joined, Safe),
    f("-finstrument-functions-exclude-file-list=", Joined, Safe),
    f("-ffile-prefix-map=", Joined, Safe),
    f("-fopt-info", Joined, Class::Check(OptInfo)),
    f("-march=", Joined, Class::Check(NotNative)),
    f("-mtune=", Joined, Class::Check(NotNative)),
    f("-mcpu=", Joined, Class::Check(NotNative)),
    f("-march=native", Bare, LOCAL_CPU),
    f("-mtune=native", Bare, LOCAL_CPU),
    f("-mcpu=native", Bare, LOCAL_CPU),
    f("-Wa,", Joined, Class::Check(AsmList)),
    f("-Xassembler", Separate, Class::Check(AsmArg)),
    // ---- link only --------------------------------------------------------
    f("-Wl,", Joined, LinkerText),
    f("-Xlinker", Separate, LinkerText),
    f("-l", JS, Link),
    f("-L", JS, Link),
    f("--library-directory", EQ, Link),
    f("-u", JS, Link),
    f("-e", JS, Link),
    f("--entry", EQ, Link),
    f("-T", JS, Link),
    f("-z", JS, Link),
    f("-s", Bare, Link),
    f("-r", Bare, Link),
    f("-static", Bare, Link),
    f("-static-pie", Bare, Link),
    f("-static-libgcc", Bare, Link),
    f("-static-libstdc++", Bare, Link),
    f("-static-libasan", Bare, Link),
    f("-static-libtsan", Bare, Link),
    f("-static-libubsan", Bare, Link),
    f("-static-liblsan", Bare, Link),
    f("-shared", Bare, Link),
    f("-shared-libgcc", Bare, Link),
    f("-symbolic", Bare, Link),
    f("-rdynamic", Bare, Link),
    f("-pie", Bare, Link),
    f("-no-pie", Bare, Link),
    f("-nostdlib", Bare, Link),
    f("-nostdlib++", Bare, Link),
    f("-nodefaultlibs", Bare, Link),
    f("-nostartfiles", Bare, Link),
    f("-nolibc", Bare, Link),
    f("-fuse-ld=", Joined, Link),
    f("--ld-path=", Joined, Link),
    f("-rpath", Separate, Link),
    f("-dynamic", Bare, Link),
    f("-dynamiclib", Bare, Link),
    f("-bundle", Bare, Link),
    f("-framework", Separate, Link),
    f("-install_name", Separate, Link),
    // ---- forces local -----------------------------------------------------
    f(
        "-save-temps",
        Joined,
        Local("writes intermediate files next to the output"),
    ),
    f(
        "--save-temps",
        Joined,
        Local("writes intermediate files next to the output"),
    ),
    f(
        "-time",
        Joined,
        Local("reports timing of local subprocesses"),
    ),
    f("--coverage", Bare, COVERAGE),
    f("-coverage", Bare, COVERAGE),
    f("-ftest-coverage", Joined, COVERAGE),
    f("-fcoverage-", Joined, COVERAGE),
    f("-fprofile", Joined, PROFILE),
    f("-fauto-profile", Joined, PROFILE),
    f("-fcreate-profile", Bare, PROFILE),
    f("-fbranch-probabilities", Bare, PROFILE),
    f("-fcs-profile-generate", Joined, PROFILE),
    f(
        "-fstack-usage",
        Joined,
        Local("writes a .su file next to the object"),
    ),
    f(
        "-fcallgraph-info",
        Joined,
        Local("writes a .ci file next to the object"),
    ),
    f(
        "-gsplit-dwarf",
        Joined,
        Local("writes a .dwo file next to the object"),
    ),
    f(
        "-flto",
        Joined,
        Class::Inexact(
            "LTO bytecode records the compile's own options, which differ for preprocessed input",
        ),
    ),
    f("-fdump-", Joined, DUMP),
    f("-fcompare-debug", Joined, DUMP),
    f("-d", Joined, DUMP),
    f("-dumpbase", JS, DUMP),
    f("-dumpbase-ext", JS, DUMP),
    f("-dumpdir", JS, DUMP),
    f("-dumpversion", Bare, INFO),
    f("-dumpfullversion", Bare, INFO),
    f("-dumpmachine", Bare, INFO),
    f("-dumpspecs", Bare, INFO),
    f("-print-", Joined, INFO),
    f("--print-", Joined, INFO),
    f("--help", Joined, INFO),
    f("--target-help", Bare, INFO),
    f("--version", Bare, INFO),
    f("-###", Bare, INFO),
    f(
        "-frepo",
        Bare,
        Local("template repository lives next to the object"),
    ),
    f("-aux-info", JS, Local("writes a prototype file")),
    f("-specs=", Joined, TOOLCHAIN),
    f("--specs", EQ, TOOLCHAIN),
    f("-B", JS, TOOLCHAIN),
    f("--prefix", EQ, TOOLCHAIN),
    f("-wrapper", Separate, TOOLCHAIN),
    f("-b", JS, TOOLCHAIN),
    f("-V", JS, TOOLCHAIN),
    f("--driver-mode=", Joined, TOOLCHAIN),
    f("-ccc-", Joined, TOOLCHAIN),
    f("-cc1", Joined, TOOLCHAIN),
    f(
        "-fplugin",
        Joined,
        Local("loads a compiler plugin from this machine"),
    ),
    f(
        "-iplugindir=",
        Joined,
        Local("loads a compiler plugin from this machine"),
    ),
    f(
        "-fpass-plugin=",
        Joined,
        Local("loads a compiler plugin from this machine"),
    ),
    f(
        "-load",
        Separate,
        Local("loads a compiler plugin from this machine"),
    ),
    f("-Xclang", Separate, OPAQUE),
    f("-mllvm", Separate, OPAQUE),
    f("-Xanalyzer", Separate, OPAQUE),
    f("-Xopenmp-target", Joined, OPAQUE),
    f("-Xarch_", Joined, OPAQUE),
    f("-Xcuda-", Joined, OPAQUE),
    f("-ObjC", Bare, Local("language override")),
    f("-ObjC++", Bare, Local("language override")),
    f("-fmodules", Joined, MODULES),
    f("-fmodule-", Joined, MODULES),
    f("-fimplicit-module", Joined, MODULES),
    f("-fprebuilt-module-path=", Joined, MODULES),
    f("-fbuiltin-module-map", Bare, MODULES),
    f("-fcxx-modules", Bare, MODULES),
    f(
        "-fsave-optimization-record",
        Joined,
        Local("writes an optimisation record"),
    ),
    f(
        "-foptimization-record-file=",
        Joined,
        Local("writes an optimisation record"),
    ),
    f(
        "-ftime-trace",
        Joined,
        Local("writes a trace file next to the object"),
    ),
    f(
        "-fcrash-diagnostics-dir=",
        Joined,
        Local("names a directory on this machine"),
    ),
    f("-fsanitize-blacklist=", Joined, LISTFILE),
    f("-fsanitize-ignorelist=", Joined, LISTFILE),
    f("-fsanitize-system-ignorelist=", Joined, LISTFILE),
    f("-fsanitize-coverage-allowlist=", Joined, LISTFILE),
    f("-fsanitize-coverage-whitelist=", Joined, LISTFILE),
    f("-fsanitize-coverage-ignorelist=", Joined, LISTFILE),
    f("-fsanitize-coverage-blacklist=", Joined, LISTFILE),
    f("-fxray-always-instrument=", Joined, LISTFILE),
    f("-fxray-never-instrument=", Joined, LISTFILE),
    f("-fxray-attr-list=", Joined, LISTFILE),
    f("-fthinlto-index=", Joined, LISTFILE),
    f("-fltrans", Joined, Local("internal LTO stage")),
    f("-fwpa", Joined, Local("internal LTO stage")),
    f("-fresolution=", Joined, Local("internal LTO stage")),
    f(
        "-working-directory",
        EQ,
        Local("changes the directory files are resolved in"),
    ),
    f("-rewrite-objc", Bare, Local("not a compile")),
    f("-fdiagnostics-add-output=", Joined, DIAG_FILE),
    f("-fdiagnostics-set-output=", Joined, DIAG_FILE),
    f("-fdiagnostics-format=sarif-file", Bare, DIAG_FILE),
    f("-fdiagnostics-format=json-file", Bare, DIAG_FILE),
    f(
        "-fproc-stat-report",
        Joined,
        Local("writes subprocess statistics to a file"),
    ),
    f(
        "-fembed-offload-object=",
        Joined,
        Local("embeds a file from this machine"),
    ),
    f(
        "-fthin-link-bitcode=",
        Joined,
        Local("writes a ThinLTO summary file"),
    ),
    f("-fmemory-profile", Joined, PROFILE),
    f("-fbasic-block-sections=list=", Joined, LISTFILE),
    f(
        "-fself-test",
        Joined,
        Local("runs the compiler's self tests from a source dir"),
    ),
    f(
        "-fintrinsic-modules-path",
        JS,
        Local("reads Fortran modules on this machine"),
    ),
    f(
        "-flto-incremental",
        Joined,
        Local("keeps an LTO cache on this machine"),
    ),
    f("-gen-reproducer", Joined, Local("writes crash reproducers")),
    f(
        "-gen-cdb-fragment-path",
        Separate,
        Local("writes a compilation database entry"),
    ),
];

/// Finds the row for one argv word, preferring the longest matching name,
/// and says where its argument is. `None` means the option is unknown.
pub fn lookup(arg: &str) -> Option<(&'static Flag, Value<'_>)> {
    let mut best: Option<(&'static Flag, Value<'_>)> = None;
    for flag in FLAGS {
        let Some(value) = matches(flag, arg) else {
            continue;
        };
        if best.is_none_or(|(b, _)| flag.name.len() > b.name.len()) {
            best = Some((flag, value));
        }
    }
    best
}

fn matches<'a>(flag: &Flag, arg: &'a str) -> Option<Value<'a>> {
    let rest = arg.strip_prefix(flag.name)?;
    match flag.shape {
        Bare if rest.is_empty() => Some(Value::Absent),
        Separate if rest.is_empty() => Some(Value::Next),
        Joined => Some(Value::Joined(rest)),
        JoinedOrSeparate if rest.is_empty() => Some(Value::Next),
        JoinedOrSeparate => Some(Value::Joined(rest)),
        EqOrSeparate if rest.is_empty() => Some(Value::Next),
        EqOrSeparate => rest.strip_prefix('=').map(Value::Joined),
        Bare | Separate => None,
    }
}

#[cfg(test)]
#[path = "flags_tests.rs"]
mod tests;
