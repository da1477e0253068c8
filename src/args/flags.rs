//! What the build needs to know about each gcc/clang option, as one table:
//! its name, how it takes its argument ([`Shape`]), what it is for
//! ([`Class`]), and whether the argument names a path ([`PathArg`]).
//!
//! The client uses it to split a compile into "preprocess here" and "compile
//! there"; the daemon uses the same rows to decide whether an argv it
//! received can be run without touching anything but its own temp files,
//! and exact mode's mirror to find the paths it must move into its root.
//! Anything not in the table is unknown and therefore treated as unsafe:
//! the client compiles locally and the daemon refuses.
//!
//! The table is sorted by name (a test checks it), so [`lookup`] is a few
//! binary searches, one per prefix of the word that could be a name.

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
    /// `-gsplit-dwarf`: the compile writes a `.dwo` file next to the
    /// object, which only our streamed dialect carries back. Anywhere else
    /// it is [`Class::Local`]'s "compile here" (or a daemon's refusal).
    SplitDwarf,
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

/// What the path in an option's argument is, for options whose argument
/// names a file or directory. Whoever moves a compile elsewhere must
/// rewrite such a path, refuse it, or know it is harmless there: this
/// column is the one place that says which options those are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathArg {
    /// A directory searched for headers (`-I`, `-isystem`, ...).
    SearchDir,
    /// A file the preprocessor reads into the source (`-include`).
    Include,
    /// The root system headers and libraries are looked up under
    /// (`--sysroot`, `-isysroot`).
    Sysroot,
    /// `OLD=NEW`, OLD a path prefix rewritten in what the compiler writes
    /// (`-ffile-prefix-map=`).
    PrefixMap,
    /// A file the compile writes (`-o`, `-MF`).
    Output,
    /// Text handed to the preprocessor (`-Wp,`, `-Xpreprocessor`): files
    /// it names are hidden from us.
    CppText,
    /// Any other file, directory or program on this machine.
    Other,
}

/// One row of the table.
#[derive(Debug, PartialEq, Eq)]
pub struct Flag {
    pub name: &'static str,
    pub shape: Shape,
    pub class: Class,
    /// Set when the argument names a path.
    pub path: Option<PathArg>,
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
use PathArg::{CppText, Include, Other, PrefixMap, SearchDir, Sysroot};
use Shape::*;

const fn f(name: &'static str, shape: Shape, class: Class) -> Flag {
    Flag {
        name,
        shape,
        class,
        path: None,
    }
}

impl Flag {
    /// The row, saying its argument names a path of this kind.
    const fn path(self, kind: PathArg) -> Flag {
        Flag {
            path: Some(kind),
            ..self
        }
    }
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

/// The table, sorted by name. `lookup` takes the longest matching name, so
/// specific rows (`-march=native`, `-fdump-`) override general prefixes
/// (`-m`, `-f`).
pub static FLAGS: &[Flag] = TABLE;

/// The longest name in the table: no longer prefix of a word can match.
const LONGEST: usize = {
    let mut i = 0;
    let mut longest = 0;
    while i < TABLE.len() {
        if TABLE[i].name.len() > longest {
            longest = TABLE[i].name.len();
        }
        i += 1;
    }
    longest
};

const TABLE: &[Flag] = &[
    f("-###", Bare, INFO),
    f("--ansi", Bare, Safe),
    f("--assemble", Bare, Mode(Assemble)),
    f("--assert", EQ, Cpp),
    f("--comments", Bare, Cpp),
    f("--comments-in-macros", Bare, Cpp),
    f("--compile", Bare, Mode(Compile)),
    f("--coverage", Bare, COVERAGE),
    f("--debug", Bare, Safe),
    f("--define-macro", EQ, Cpp),
    f("--dependencies", Bare, Mode(DepsOnly)),
    f("--driver-mode=", Joined, TOOLCHAIN),
    f("--entry", EQ, Link),
    f("--extra-warnings", Bare, Safe),
    // As -gcc-toolchain: header search only, done before the server.
    f("--gcc-toolchain", EQ, Cpp).path(Other),
    f("--help", Joined, INFO),
    f("--imacros", EQ, CppFiles).path(Include),
    f("--include", EQ, CppFiles).path(Include),
    f("--include-directory", EQ, Cpp).path(SearchDir),
    f("--include-directory-after", EQ, Cpp).path(SearchDir),
    f("--include-prefix", EQ, Cpp).path(Other),
    f("--include-with-prefix", EQ, Cpp).path(Other),
    f("--include-with-prefix-before", EQ, Cpp).path(Other),
    f("--language", EQ, Lang),
    f("--ld-path=", Joined, Link).path(Other),
    f("--library-directory", EQ, Link).path(Other),
    f("--no-integrated-cpp", Bare, Safe),
    f("--no-line-commands", Bare, Cpp),
    f("--no-standard-includes", Bare, Cpp),
    f("--no-warnings", Bare, Safe),
    f("--optimize", Joined, GENERIC),
    f("--output", EQ, Output).path(PathArg::Output),
    f("--param", EQ, Safe),
    f("--pedantic", Bare, Safe),
    f("--pedantic-errors", Bare, Safe),
    f("--pipe", Bare, Safe),
    f("--prefix", EQ, TOOLCHAIN).path(Other),
    f("--preprocess", Bare, Mode(Preprocess)),
    f("--print-", Joined, INFO),
    f(
        "--save-temps",
        Joined,
        Local("writes intermediate files next to the output"),
    ),
    f("--specs", EQ, TOOLCHAIN).path(Other),
    f("--std", EQ, Safe),
    f("--stdlib", EQ, Safe),
    // As -isysroot: header search (done locally) and the SDK version.
    f("--sysroot", EQ, Safe).path(Sysroot),
    f("--target", EQ, Safe),
    f("--target-help", Bare, INFO),
    f("--trace-includes", Bare, Cpp),
    f("--traditional-cpp", Bare, Cpp),
    // As -trigraphs: both the preprocessor and the compiler care.
    f("--trigraphs", Bare, Safe),
    f("--undefine-macro", EQ, Cpp),
    f("--user-dependencies", Bare, Mode(DepsOnly)),
    f("--verbose", Bare, Safe),
    f("--version", Bare, INFO),
    f("--warn-", Joined, GENERIC),
    f("--write-dependencies", Bare, Deps(MD)),
    f("--write-user-dependencies", Bare, Deps(MMD)),
    f("-A", JS, Cpp),
    f("-B", JS, TOOLCHAIN).path(Other),
    f("-C", Bare, Cpp),
    f("-CC", Bare, Cpp),
    f("-D", JS, Cpp),
    f("-E", Bare, Mode(Preprocess)),
    f("-F", JS, Cpp).path(SearchDir),
    // -G is a code-generation knob (small-data threshold) on several targets.
    f("-G", JS, Safe),
    f("-H", Bare, Cpp),
    f("-I", JS, Cpp).path(SearchDir),
    f("-I-", Bare, Cpp),
    f("-L", JS, Link).path(Other),
    f("-M", Bare, Mode(DepsOnly)),
    f("-MD", Bare, Deps(MD)),
    f("-MF", JS, Deps(MF)).path(PathArg::Output),
    f("-MG", Bare, Deps(MG)),
    f("-MJ", JS, Local("writes a compilation database entry")).path(Other),
    f("-MM", Bare, Mode(DepsOnly)),
    f("-MMD", Bare, Deps(MMD)),
    f("-MP", Bare, Deps(MP)),
    f("-MQ", JS, Deps(MQ)),
    f("-MT", JS, Deps(MT)),
    f("-Mmodules", Bare, MODULES),
    f("-Mno-modules", Bare, MODULES),
    f("-O", Joined, GENERIC),
    f("-ObjC", Bare, Local("language override")),
    f("-ObjC++", Bare, Local("language override")),
    f("-P", Bare, Cpp),
    f("-Q", Bare, Safe),
    f("-Qn", Bare, Safe),
    f("-Qunused-arguments", Bare, Safe),
    f("-Qy", Bare, Safe),
    f("-S", Bare, Mode(Assemble)),
    f("-T", JS, Link).path(Other),
    f("-U", JS, Cpp),
    f("-V", JS, TOOLCHAIN),
    f("-W", Joined, GENERIC),
    f("-Wa,", Joined, Class::Check(AsmList)),
    f("-Wl,", Joined, LinkerText),
    f("-Wp,", Joined, CppFiles).path(CppText),
    f("-Xanalyzer", Separate, OPAQUE),
    f("-Xarch_", Joined, OPAQUE),
    f("-Xassembler", Separate, Class::Check(AsmArg)),
    f("-Xclang", Separate, OPAQUE),
    f("-Xcuda-", Joined, OPAQUE),
    f("-Xlinker", Separate, LinkerText),
    f("-Xopenmp-target", Joined, OPAQUE),
    f("-Xpreprocessor", Separate, CppFiles).path(CppText),
    f("-ansi", Bare, Safe),
    f("-arch", Separate, Safe),
    f("-aux-info", JS, Local("writes a prototype file")).path(Other),
    f("-b", JS, TOOLCHAIN),
    f("-bundle", Bare, Link),
    f("-c", Bare, Mode(Compile)),
    f("-cc1", Joined, TOOLCHAIN),
    f("-ccc-", Joined, TOOLCHAIN),
    f("-coverage", Bare, COVERAGE),
    f("-cxx-isystem", JS, Cpp).path(SearchDir),
    f("-d", Joined, DUMP),
    f("-dA", Bare, Safe),
    f("-dD", Bare, Cpp),
    f("-dI", Bare, Cpp),
    f("-dM", Bare, Cpp),
    f("-dN", Bare, Cpp),
    f("-dP", Bare, Safe),
    f("-dU", Bare, Cpp),
    f("-dp", Bare, Safe),
    f("-dumpbase", JS, DUMP),
    f("-dumpbase-ext", JS, DUMP),
    f("-dumpdir", JS, DUMP).path(Other),
    f("-dumpfullversion", Bare, INFO),
    f("-dumpmachine", Bare, INFO),
    f("-dumpspecs", Bare, INFO),
    f("-dumpversion", Bare, INFO),
    f("-dynamic", Bare, Link),
    f("-dynamiclib", Bare, Link),
    f("-e", JS, Link),
    f("-emit-llvm", Bare, Safe),
    f("-f", Joined, GENERIC),
    f("-fauto-profile", Joined, PROFILE),
    f("-fbasic-block-sections=list=", Joined, LISTFILE).path(Other),
    f("-fbranch-probabilities", Bare, PROFILE),
    f("-fbuiltin-module-map", Bare, MODULES),
    f(
        "-fcallgraph-info",
        Joined,
        Local("writes a .ci file next to the object"),
    ),
    f("-fcompare-debug", Joined, DUMP),
    f("-fcoverage-", Joined, COVERAGE),
    f(
        "-fcrash-diagnostics-dir=",
        Joined,
        Local("names a directory on this machine"),
    )
    .path(Other),
    f("-fcreate-profile", Bare, PROFILE),
    f("-fcs-profile-generate", Joined, PROFILE),
    f("-fcxx-modules", Bare, MODULES),
    // Path-valued, stamped into the object; nothing is opened.
    f("-fdebug-compilation-dir=", Joined, Safe).path(Other),
    f("-fdebug-cpp", Bare, Cpp),
    // Path-valued, but only text stamped into the object or compared with
    // names the compiler already has; nothing is opened.
    f("-fdebug-prefix-map=", Joined, Safe).path(PrefixMap),
    f("-fdeps-", Joined, MODULES),
    f("-fdiagnostics-add-output=", Joined, DIAG_FILE),
    f("-fdiagnostics-format=json-file", Bare, DIAG_FILE),
    f("-fdiagnostics-format=sarif-file", Bare, DIAG_FILE),
    f("-fdiagnostics-set-output=", Joined, DIAG_FILE),
    f("-fdirectives-only", Bare, Cpp),
    f("-fdump-", Joined, DUMP),
    f(
        "-fembed-offload-object=",
        Joined,
        Local("embeds a file from this machine"),
    )
    .path(Other),
    f("-fexec-charset=", Joined, Safe),
    // Path-valued, stamped into the object; nothing is opened.
    f("-ffile-prefix-map=", Joined, Safe).path(PrefixMap),
    f("-fimplicit-module", Joined, MODULES),
    // The preprocessor converts the source to UTF-8. Passing this to the
    // server makes it decode that UTF-8 again as (say) Latin-1, mangling
    // every non-ASCII literal -- so it must stay on this side only.
    f("-finput-charset=", Joined, Cpp),
    // Names compared with the source names; nothing is opened.
    f("-finstrument-functions-exclude-file-list=", Joined, Safe),
    f(
        "-fintrinsic-modules-path",
        JS,
        Local("reads Fortran modules on this machine"),
    )
    .path(Other),
    f(
        "-flto",
        Joined,
        Class::Inexact(
            "LTO bytecode records the compile's own options, which differ for preprocessed input",
        ),
    ),
    f(
        "-flto-incremental",
        Joined,
        Local("keeps an LTO cache on this machine"),
    ),
    f("-fltrans", Joined, Local("internal LTO stage")),
    // __FILE__ is expanded during preprocessing; the server never sees it.
    f("-fmacro-prefix-map=", Joined, Cpp).path(PrefixMap),
    f("-fmax-include-depth=", Joined, Cpp),
    f("-fmemory-profile", Joined, PROFILE),
    f("-fmodule-", Joined, MODULES),
    f("-fmodules", Joined, MODULES),
    f("-fno-canonical-system-headers", Bare, Cpp),
    f("-fno-directives-only", Bare, Cpp),
    f("-fno-working-directory", Bare, Cpp),
    f("-fopt-info", Joined, Class::Check(OptInfo)),
    f(
        "-foptimization-record-file=",
        Joined,
        Local("writes an optimisation record"),
    )
    .path(Other),
    f(
        "-fpass-plugin=",
        Joined,
        Local("loads a compiler plugin from this machine"),
    )
    .path(Other),
    f("-fpch-deps", Bare, Cpp),
    f(
        "-fpch-preprocess",
        Bare,
        Local("output refers to a precompiled header on this machine"),
    ),
    f(
        "-fplugin",
        Joined,
        Local("loads a compiler plugin from this machine"),
    ),
    f("-fprebuilt-module-path=", Joined, MODULES).path(Other),
    f("-fpreprocessed", Bare, Safe),
    f(
        "-fproc-stat-report",
        Joined,
        Local("writes subprocess statistics to a file"),
    ),
    f("-fprofile", Joined, PROFILE),
    f("-framework", Separate, Link),
    // Often an object name, but only hashed; nothing is opened.
    f("-frandom-seed=", Joined, Safe),
    f(
        "-frepo",
        Bare,
        Local("template repository lives next to the object"),
    ),
    f("-fresolution=", Joined, Local("internal LTO stage")).path(Other),
    f("-fsanitize-blacklist=", Joined, LISTFILE).path(Other),
    f("-fsanitize-coverage-allowlist=", Joined, LISTFILE).path(Other),
    f("-fsanitize-coverage-blacklist=", Joined, LISTFILE).path(Other),
    f("-fsanitize-coverage-ignorelist=", Joined, LISTFILE).path(Other),
    f("-fsanitize-coverage-whitelist=", Joined, LISTFILE).path(Other),
    f("-fsanitize-ignorelist=", Joined, LISTFILE).path(Other),
    f("-fsanitize-system-ignorelist=", Joined, LISTFILE).path(Other),
    f(
        "-fsave-optimization-record",
        Joined,
        Local("writes an optimisation record"),
    ),
    f(
        "-fself-test",
        Joined,
        Local("runs the compiler's self tests from a source dir"),
    ),
    f(
        "-fstack-usage",
        Joined,
        Local("writes a .su file next to the object"),
    ),
    f(
        "-fsyntax-only",
        Bare,
        Local("no object is produced (-fsyntax-only)"),
    ),
    f("-ftest-coverage", Joined, COVERAGE),
    f(
        "-fthin-link-bitcode=",
        Joined,
        Local("writes a ThinLTO summary file"),
    )
    .path(Other),
    f("-fthinlto-index=", Joined, LISTFILE).path(Other),
    f(
        "-ftime-trace",
        Joined,
        Local("writes a trace file next to the object"),
    ),
    f("-fuse-ld=", Joined, Link),
    f("-fwide-exec-charset=", Joined, Safe),
    f("-fworking-directory", Bare, Cpp),
    f("-fwpa", Joined, Local("internal LTO stage")),
    f("-fxray-always-instrument=", Joined, LISTFILE).path(Other),
    f("-fxray-attr-list=", Joined, LISTFILE).path(Other),
    f("-fxray-never-instrument=", Joined, LISTFILE).path(Other),
    f("-g", Joined, GENERIC),
    // Header search only once -c is given; clang and gcc both need nothing
    // from it after preprocessing.
    f("-gcc-toolchain", Separate, Cpp).path(Other),
    f(
        "-gen-cdb-fragment-path",
        Separate,
        Local("writes a compilation database entry"),
    )
    .path(Other),
    f("-gen-reproducer", Joined, Local("writes crash reproducers")),
    // Bare, it writes a .dwo next to the object, which our streamed
    // dialect returns; clang's `=split` and `=single` stay here.
    f("-gsplit-dwarf", Bare, Class::SplitDwarf),
    f(
        "-gsplit-dwarf=",
        Joined,
        Local("writes a .dwo file next to the object"),
    ),
    f("-idirafter", JS, Cpp).path(SearchDir),
    f("-imacros", JS, CppFiles).path(Include),
    f("-imultiarch", JS, Cpp),
    f("-imultilib", JS, Cpp).path(Other),
    f("-include", JS, CppFiles).path(Include),
    f(
        "-include-pch",
        JS,
        Local("precompiled header is on this machine"),
    )
    .path(Other),
    f("-install_name", Separate, Link).path(Other),
    f("-integrated-as", Bare, Safe),
    f(
        "-iplugindir=",
        Joined,
        Local("loads a compiler plugin from this machine"),
    )
    .path(Other),
    f("-iprefix", JS, Cpp).path(Other),
    f("-iquote", JS, Cpp).path(SearchDir),
    // Header search (done locally) and, on Darwin, the SDK version clang
    // stamps into the object. Forwarded, as distcc always has.
    f("-isysroot", JS, Safe).path(Sysroot),
    f("-isystem", JS, Cpp).path(SearchDir),
    f("-iwithprefix", JS, Cpp).path(Other),
    f("-iwithprefixbefore", JS, Cpp).path(Other),
    f("-l", JS, Link),
    f(
        "-load",
        Separate,
        Local("loads a compiler plugin from this machine"),
    )
    .path(Other),
    f("-m", Joined, GENERIC),
    f("-march=", Joined, Class::Check(NotNative)),
    f("-march=native", Bare, LOCAL_CPU),
    f("-mcpu=", Joined, Class::Check(NotNative)),
    f("-mcpu=native", Bare, LOCAL_CPU),
    f("-mllvm", Separate, OPAQUE),
    f("-mtune=", Joined, Class::Check(NotNative)),
    f("-mtune=native", Bare, LOCAL_CPU),
    f("-no-canonical-prefixes", Bare, Safe),
    f("-no-integrated-as", Bare, Safe),
    f("-no-integrated-cpp", Bare, Safe),
    f("-no-pie", Bare, Link),
    f("-nobuiltininc", Bare, Cpp),
    f("-nodefaultlibs", Bare, Link),
    f("-nolibc", Bare, Link),
    f("-nostartfiles", Bare, Link),
    f("-nostdinc", Bare, Cpp),
    f("-nostdinc++", Bare, Cpp),
    f("-nostdlib", Bare, Link),
    f("-nostdlib++", Bare, Link),
    f("-nostdlibinc", Bare, Cpp),
    f("-o", JS, Output).path(PathArg::Output),
    f("-p", Bare, Safe),
    f("-pedantic", Bare, Safe),
    f("-pedantic-errors", Bare, Safe),
    f("-pg", Bare, Safe),
    f("-pie", Bare, Link),
    f("-pipe", Bare, Safe),
    f("-print-", Joined, INFO),
    f("-pthread", Bare, Safe),
    f("-pthreads", Bare, Safe),
    f("-r", Bare, Link),
    f("-rdynamic", Bare, Link),
    f("-remap", Bare, Cpp),
    f("-rewrite-objc", Bare, Local("not a compile")),
    f("-rpath", Separate, Link).path(Other),
    f("-s", Bare, Link),
    f(
        "-save-temps",
        Joined,
        Local("writes intermediate files next to the output"),
    ),
    f("-shared", Bare, Link),
    f("-shared-libgcc", Bare, Link),
    f("-specs=", Joined, TOOLCHAIN).path(Other),
    f("-static", Bare, Link),
    f("-static-libasan", Bare, Link),
    f("-static-libgcc", Bare, Link),
    f("-static-liblsan", Bare, Link),
    f("-static-libstdc++", Bare, Link),
    f("-static-libtsan", Bare, Link),
    f("-static-libubsan", Bare, Link),
    f("-static-pie", Bare, Link),
    f("-std=", Joined, Safe),
    f("-stdlib=", Joined, Safe),
    f("-symbolic", Bare, Link),
    f("-target", Separate, Safe),
    f(
        "-time",
        Joined,
        Local("reports timing of local subprocesses"),
    ),
    f("-traditional", Bare, Safe),
    f("-traditional-cpp", Bare, Cpp),
    // Trigraphs change both what the preprocessor and the compiler accept.
    f("-trigraphs", Bare, Safe),
    f("-u", JS, Link),
    f("-undef", Bare, Cpp),
    f("-v", Bare, Safe),
    f("-w", Bare, Safe),
    f(
        "-working-directory",
        EQ,
        Local("changes the directory files are resolved in"),
    )
    .path(Other),
    f("-wrapper", Separate, TOOLCHAIN).path(Other),
    f("-x", JS, Lang),
    f("-z", JS, Link),
];

/// Finds the row for one argv word, preferring the longest matching name,
/// and says where its argument is. `None` means the option is unknown.
///
/// Every name that can match is a prefix of the word. The greatest name
/// not after the word is the longest such prefix if it is one; if not,
/// every prefix name is also a prefix of what the two share, so the search
/// goes on in that shorter prefix. A name that is a prefix but does not
/// take this word's shape sends it on among the shorter names. Each round
/// shortens the prefix: a word costs a binary search or two, not one per
/// length (a job parses its command line several times over).
pub fn lookup(arg: &str) -> Option<(&'static Flag, Value<'_>)> {
    let mut end = arg.len().min(LONGEST);
    loop {
        while !arg.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            return None;
        }
        let key = &arg.as_bytes()[..end];
        let at = FLAGS.partition_point(|f| f.name.as_bytes() <= key);
        let flag = &FLAGS[at.checked_sub(1)?];
        let name = flag.name.as_bytes();
        let shared = name.iter().zip(key).take_while(|(a, b)| a == b).count();
        if shared < name.len() {
            end = shared;
            continue;
        }
        if let Some(value) = matches(flag, arg) {
            return Some((flag, value));
        }
        end = name.len() - 1;
    }
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
