#!/usr/bin/env bash
# The include scanner's correctness corpus and cost figures.
#
# For every unit of real C and C++ projects (Debian source packages:
# zstd, libjpeg-turbo, leveldb, protobuf, snappy), the scanner's file set must
# contain what `gcc -M` and `clang -M` list with the same flags in the
# same dir; extra files are counted. Each unit's command line is the one
# the project's own CMake build uses (compile_commands.json, configured
# only: nothing is compiled). Then, per unit, the scanner's CPU in-process,
# cold (a new scanner: every file read) and warm (skeletons in memory: a
# stat per file and the walk), against the CPU of `gcc -M`.
#
# Appends a section to benches/RESULTS.md (OUT=... to write elsewhere).
#
# Set-up (CI-style, needs root): adds a deb-src entry next to the
# machine's deb entry if there is none, runs apt-get update, installs
# cmake, dpkg-dev and clang if missing.
#
# Knobs: ROUNDS=3 (cost rounds per unit), WORK=dir (keep sources there
# between runs), PACKAGES="zstd libjpeg-turbo leveldb protobuf snappy".

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/benches/RESULTS.md}
ROUNDS=${ROUNDS:-3}
PACKAGES=${PACKAGES:-zstd libjpeg-turbo leveldb protobuf snappy}
log() { printf '[scan-corpus %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# --- set-up --------------------------------------------------------------

if ! grep -rqs '^Types: deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    log "adding a deb-src entry"
    src=$(grep -rls '^Types: deb$' /etc/apt/sources.list.d/*.sources | head -1)
    [[ -n $src ]] || { echo "no deb822 deb entry to mirror" >&2; exit 2; }
    # The first stanza of the deb entry, as deb-src.
    awk 'BEGIN{RS=""} NR==1{print; exit}' "$src" |
        sed -e 's/^Types: deb$/Types: deb-src/' >/etc/apt/sources.list.d/scan-corpus-src.sources
    apt-get update -qq
fi
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v dpkg-source >/dev/null || missing+=(dpkg-dev)
command -v clang >/dev/null || missing+=(clang)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/scan-corpus.XXXXXX")}
mkdir -p "$WORK/src" "$WORK/units"
cd "$WORK/src"

# --- sources and their compile commands ----------------------------------

cmake_flags() {
    case $1 in
    zstd) echo "-DZSTD_BUILD_TESTS=OFF" ;;
    leveldb) echo "-DLEVELDB_BUILD_TESTS=OFF -DLEVELDB_BUILD_BENCHMARKS=OFF" ;;
    protobuf) echo "-Dprotobuf_BUILD_TESTS=OFF" ;;
    snappy) echo "-DSNAPPY_BUILD_TESTS=OFF -DSNAPPY_BUILD_BENCHMARKS=OFF" ;;
    *) echo "" ;;
    esac
}

# compile_commands.json to "cwd TAB arg0 US arg1 ..." lines.
to_units() {
    python3 - "$1" <<'EOF'
import json, shlex, sys
for e in json.load(open(sys.argv[1])):
    args = e.get("arguments") or shlex.split(e["command"])
    print(e["directory"] + "\t" + "\x1f".join(args))
EOF
}

SPEC=()
for pkg in $PACKAGES; do
    name=$(apt-cache showsrc "$pkg" | sed -n 's/^Package: //p' | head -1)
    ver=$(apt-cache showsrc "$pkg" | sed -n 's/^Version: //p' | head -1)
    ver=${ver#*:}
    dir=$WORK/src/$name-${ver%-*}
    if [[ ! -d $dir ]]; then
        log "apt-get source $pkg"
        apt-get source -qq "$pkg" >/dev/null 2>&1
    fi
    [[ -d $dir ]] || { echo "no source tree $dir for $pkg" >&2; exit 2; }
    srcdir=$dir
    [[ -f $dir/CMakeLists.txt ]] || srcdir=$dir/build/cmake
    log "configuring $pkg ($srcdir)"
    # shellcheck disable=SC2046
    cmake -S "$srcdir" -B "$WORK/build-$pkg" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
        -DCMAKE_BUILD_TYPE=Release $(cmake_flags "$pkg") >"$WORK/build-$pkg.log" 2>&1 ||
        { tail -20 "$WORK/build-$pkg.log" >&2; exit 2; }
    to_units "$WORK/build-$pkg/compile_commands.json" >"$WORK/units/$pkg.tsv"
    log "$pkg: $(wc -l <"$WORK/units/$pkg.tsv") units"
    SPEC+=("$pkg=$WORK/units/$pkg.tsv")
done

# --- the run ---------------------------------------------------------------

REPORT=$WORK/report.md
log "scanning and comparing (release build)"
(cd "$ROOT" && SCAN_CORPUS=$(IFS=,; echo "${SPEC[*]}") SCAN_CORPUS_REPORT=$REPORT \
    SCAN_CORPUS_ROUNDS=$ROUNDS cargo test --release --quiet --test it scan_corpus::full::full \
    -- --ignored --nocapture >&2)

{
    echo
    echo "## Include scanner: correctness corpus and cost"
    echo
    echo "Produced by \`benches/scan-corpus.sh\` (ROUNDS=$ROUNDS)."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) cores, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- $(gcc --version | head -1); $(clang --version | head -1)"
    echo "- ours: $(cd "$ROOT" && git rev-parse --short HEAD)"
    echo "- sources: Debian source packages $(for s in "${SPEC[@]}"; do printf '%s ' "${s%%=*}"; done), each unit's command from its CMake build"
    echo
    echo "Misses (a file \`-M\` lists that the scanner did not) must be 0."
    echo "Extra files cost bytes only. Cold: a new scanner per unit, every"
    echo "file read and lexed; warm: the skeletons in memory, one stat per"
    echo "file and the walk; both in-process. gcc -M: user+sys of the process."
    echo
    # Sources as under the WORK dir, wherever this run kept it.
    sed "s#$WORK/#WORK/#g" "$REPORT"
} >>"$OUT"
log "appended to $OUT"
