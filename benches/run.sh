#!/usr/bin/env bash
# Benchmark: our distcc against the reference distcc 3.4 (Debian's
# /usr/bin/distcc and /usr/bin/distccd) and against plain local gcc, all on
# this one machine with the daemons on loopback. Writes benches/RESULTS.md.
#
# What it measures (see README, "Benchmarks"):
#   1. a parallel build of real C sources (Lua 5.4 + 5.3 library files from
#      the `lua-src` crate, 65 units), four ways in alternating order:
#      local `make -jJ`, reference client+daemon, ours, ours with `,lzo`;
#   2. per trivial job: hello.c compiled HELLO_N times in a row, wall and
#      CPU per job, against local gcc and the floor `gcc -E` + `gcc -c .i`;
#   3. a very large unit: `sqlite3.c` from `libsqlite3-sys` (bundled);
#   4. daemon RSS: idle, and peak under 8 concurrent jobs.
#
# Knobs (environment):
#   RUNS=5        rounds of each timed measurement (medians are reported)
#   QUICK=1       RUNS=2, HELLO_N=100, LARGE_RUNS=1: a few minutes
#   J=...         make -j and the per-host limit (default 2 x cores + 2)
#   HELLO_N=200   trivial compiles per round
#   LARGE_RUNS    rounds of the sqlite3.c measurement (default min(RUNS, 3))
#   LARGE_CFLAGS  flags for sqlite3.c (default -O0: the compile is the same
#                 for every configuration, so a short one shows the overhead;
#                 use -O2 for the realistic case, about 8x longer)
#   OUT=...       where to write the report (default benches/RESULTS.md)
#   NOTE=...      a sentence added to the report (e.g. "machine shared")
#   KEEP=1        keep the scratch dir
#
# Needs: cargo, gcc, make, /usr/bin/distcc and /usr/bin/distccd (Debian's
# `distcc` package), GNU time (/usr/bin/time, package `time`), python3 or
# nothing (for a free port). Run as any user; as root both daemons drop to
# the distccd account, so the scratch tree is made world-readable.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CORES=$(nproc)
if [[ ${QUICK:-0} == 1 ]]; then
    RUNS=${RUNS:-2}
    HELLO_N=${HELLO_N:-100}
    LARGE_RUNS=${LARGE_RUNS:-1}
fi
RUNS=${RUNS:-5}
J=${J:-$((2 * CORES + 2))}
HELLO_N=${HELLO_N:-200}
LARGE_RUNS=${LARGE_RUNS:-$((RUNS < 3 ? RUNS : 3))}
LARGE_CFLAGS=${LARGE_CFLAGS:--O0}
OUT=${OUT:-$ROOT/benches/RESULTS.md}
# Enough daemon slots for the 8-concurrent-jobs measurement, and never
# fewer than the build's -j, so the client's limit is the one that binds.
DJOBS=$((J > 8 ? J : 8))

REF_CLIENT=/usr/bin/distcc
REF_DAEMON=/usr/bin/distccd
TIME=/usr/bin/time
for tool in "$REF_CLIENT" "$REF_DAEMON" "$TIME"; do
    [[ -x $tool ]] || { echo "missing $tool (apt-get install distcc time)" >&2; exit 2; }
done
for tool in cargo gcc make; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# --- scratch dir and cleanup -------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/distcc-bench.XXXXXX")
chmod 755 "$WORK"
DAEMON_PIDS=()
cleanup() {
    local p
    for p in "${DAEMON_PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${DAEMON_PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    if [[ ${KEEP:-0} == 1 ]]; then
        log "scratch kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
mkdir -p "$WORK"/{data,log,tree,fetch/src}
chmod 777 "$WORK/log"

# --- our binary --------------------------------------------------------------

log "building ours (cargo build --release)"
(cd "$ROOT" && cargo build --release --quiet)
OURS=$ROOT/target/release/distcc
mkdir -p "$WORK/bin"
ln -s "$OURS" "$WORK/bin/distccd"

# --- real C sources from the crates registry ---------------------------------

log "fetching lua-src and libsqlite3-sys through cargo"
cat >"$WORK/fetch/Cargo.toml" <<'EOF'
[package]
name = "distcc-bench-sources"
version = "0.0.0"
edition = "2021"

[dependencies]
lua-src = "551"
libsqlite3-sys = { version = "0.40", features = ["bundled"] }
EOF
echo 'fn main() {}' >"$WORK/fetch/src/main.rs"
(cd "$WORK/fetch" && cargo fetch --quiet)
# The manifest paths say where cargo unpacked each crate, wherever
# CARGO_HOME is.
crate_dir() {
    (cd "$WORK/fetch" && cargo metadata --format-version 1 --quiet) |
        grep -o "\"manifest_path\":\"[^\"]*/$1-[0-9][^\"]*/Cargo.toml\"" |
        head -1 | sed -e 's/^"manifest_path":"//' -e 's|/Cargo.toml"$||'
}
LUA_CRATE=$(crate_dir lua-src)
SQLITE_CRATE=$(crate_dir libsqlite3-sys)
[[ -d $LUA_CRATE && -d $SQLITE_CRATE ]] || { echo "crate sources not found" >&2; exit 2; }
LUA54=$(ls -d "$LUA_CRATE"/lua-5.4* | sort -V | tail -1)
LUA53=$(ls -d "$LUA_CRATE"/lua-5.3* | sort -V | tail -1)

TREE=$WORK/tree
mkdir -p "$TREE/lua54" "$TREE/lua53" "$TREE/large"
cp "$LUA54"/*.[ch] "$TREE/lua54/"
cp "$LUA53"/*.[ch] "$TREE/lua53/"
cp "$SQLITE_CRATE"/sqlite3/sqlite3.[ch] "$TREE/large/"
UNITS=$(ls "$TREE"/lua5?/*.c | wc -l)
# Lua's own flags (its src/Makefile, target linux), per version.
cat >"$TREE/Makefile" <<'EOF'
CC ?= gcc
CFLAGS = -O2 -Wall -Wextra -DLUA_USE_LINUX
OBJS = $(patsubst %.c,%.o,$(wildcard lua54/*.c lua53/*.c))
all: $(OBJS)
lua54/%.o: lua54/%.c
	$(CC) $(CFLAGS) -DLUA_COMPAT_5_3 -c $< -o $@
lua53/%.o: lua53/%.c
	$(CC) $(CFLAGS) -DLUA_COMPAT_5_2 -c $< -o $@
clean:
	rm -f lua54/*.o lua53/*.o
.PHONY: all clean
EOF
cat >"$TREE/hello.c" <<'EOF'
#include <stdio.h>
int main(void) { puts("hello, world"); return 0; }
EOF
chmod -R a+rX "$TREE"

# --- daemons -----------------------------------------------------------------

# free_port, wait_listening, ours_port.
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"

REF_PORT=$(free_port)
log "starting the reference distccd on 127.0.0.1:$REF_PORT"
"$REF_DAEMON" --daemon --no-detach --listen 127.0.0.1 --port "$REF_PORT" \
    --allow 127.0.0.1 --jobs "$DJOBS" --log-file "$WORK/log/ref.log" &
REF_PID=$!
DAEMON_PIDS+=("$REF_PID")
wait_listening "$REF_PORT"

log "starting our distccd"
"$WORK/bin/distccd" --daemon --no-detach --listen 127.0.0.1 --port 0 \
    --jobs "$DJOBS" --log-stderr 2>"$WORK/log/ours.log" &
OURS_PID=$!
DAEMON_PIDS+=("$OURS_PID")
OURS_PORT=$(ours_port "$WORK/log/ours.log") || exit 2

# A daemon's own processes: the main one and those of its children still
# running the daemon's program (not the compilers they start).
daemon_pids() {
    local main=$1 exe c
    exe=$(readlink "/proc/$main/exe")
    echo "$main"
    for c in $(pgrep -P "$main" || true); do
        if [[ $(readlink "/proc/$c/exe" 2>/dev/null) == "$exe" ]]; then echo "$c"; fi
    done
}
# Prints "SUM MAX" in KiB of a /proc status field over a daemon's processes.
daemon_mem() {
    local field=$2 p v sum=0 max=0
    for p in $(daemon_pids "$1"); do
        v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || true)
        [[ -n $v ]] || continue
        sum=$((sum + v))
        if ((v > max)); then max=$v; fi
    done
    echo "$sum $max"
}
# Prints the summed PSS in KiB of a daemon's processes: shared pages split
# between them, so a pre-forking daemon is not counted once per process.
daemon_pss() {
    local p sum=0 v
    for p in $(daemon_pids "$1"); do
        v=$(awk '$1 == "Pss:" { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || true)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}
# Resets the peak RSS (VmHWM) of a daemon's processes (root only).
reset_hwm() {
    local p
    for p in $(daemon_pids "$1"); do
        echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true
    done
}

sleep 0.2
read -r REF_IDLE_SUM REF_IDLE_MAX < <(daemon_mem "$REF_PID" VmRSS)
REF_IDLE_NPROC=$(daemon_pids "$REF_PID" | wc -l)
REF_IDLE_PSS=$(daemon_pss "$REF_PID")
read -r OURS_IDLE_SUM _ < <(daemon_mem "$OURS_PID" VmRSS)
OURS_IDLE_PSS=$(daemon_pss "$OURS_PID")

# --- configurations ----------------------------------------------------------

# Each client gets its own state dir, so no lock or backoff is shared.
mkdir -p "$WORK/state/ref" "$WORK/state/ours" "$WORK/state/lzo" "$WORK/state/exact" "$WORK/state/whole"
# Runs "$@" with the client environment of configuration $1.
with_cfg() {
    local cfg=$1
    shift
    case $cfg in
    local) env -u DISTCC_HOSTS "$@" ;;
    ref) DISTCC_DIR=$WORK/state/ref DISTCC_HOSTS="127.0.0.1:$REF_PORT/$DJOBS" DISTCC_FALLBACK=0 "$@" ;;
    ours) DISTCC_DIR=$WORK/state/ours DISTCC_HOSTS="127.0.0.1:$OURS_PORT/$DJOBS,classic" DISTCC_FALLBACK=0 "$@" ;;
    lzo) DISTCC_DIR=$WORK/state/lzo DISTCC_HOSTS="127.0.0.1:$OURS_PORT/$DJOBS,lzo,classic" DISTCC_FALLBACK=0 "$@" ;;
    whole) DISTCC_DIR=$WORK/state/whole DISTCC_HOSTS="127.0.0.1:$OURS_PORT/$DJOBS,classic" DISTCC_STREAM=0 DISTCC_FALLBACK=0 "$@" ;;
    exact) DISTCC_DIR=$WORK/state/exact DISTCC_HOSTS="127.0.0.1:$OURS_PORT/$DJOBS,cpp,lzo" DISTCC_FALLBACK=0 "$@" ;;
    reflzo) DISTCC_DIR=$WORK/state/ref DISTCC_HOSTS="127.0.0.1:$REF_PORT/$DJOBS,lzo" DISTCC_FALLBACK=0 "$@" ;;
    *) echo "unknown configuration $cfg" >&2; return 2 ;;
    esac
}
cc_of() {
    case $1 in
    local) echo gcc ;;
    ref | reflzo) echo "$REF_CLIENT gcc" ;;
    ours | lzo | exact | whole) echo "$OURS gcc" ;;
    esac
}
# Rotates the list "$@" by $ROUND, so no configuration always goes first.
rotate() {
    local k=$((ROUND % $#)) a=("$@")
    echo "${a[@]:k}" "${a[@]:0:k}"
}
now_ns() { date +%s%N; }
record() { echo "$3" >>"$WORK/data/$1.$2"; }

# --- 1. parallel build --------------------------------------------------------

BUILD_CFGS=(local ref ours lzo whole exact)
for ((ROUND = 0; ROUND < RUNS; ROUND++)); do
    for cfg in $(rotate "${BUILD_CFGS[@]}"); do
        make -s -C "$TREE" clean
        log "build round $((ROUND + 1))/$RUNS: $cfg (make -j$J, $UNITS units)"
        t0=$(now_ns)
        # Lua's -Wextra warnings go to a file, not the terminal.
        if ! with_cfg "$cfg" "$TIME" -o "$WORK/cpu" -f '%U %S' \
            make -s -C "$TREE" -j"$J" CC="$(cc_of "$cfg")" >/dev/null 2>"$WORK/log/make.err"; then
            tail -20 "$WORK/log/make.err" >&2
            exit 1
        fi
        t1=$(now_ns)
        record build "$cfg" $(((t1 - t0) / 1000000))
        read -r u s <"$WORK/cpu"
        record buildcpu "$cfg" "$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.0f", (u + s) * 1000 }')"
    done
done
make -s -C "$TREE" clean

# --- 2. per trivial job ------------------------------------------------------

# Loops of HELLO_N compiles, each under GNU time: its user+sys counts every
# process it waited for (the client, its preprocessor; the local compiler
# for gcc), never the daemon's.
# shellcheck disable=SC2016 # the loops expand N and CC when they run
hello_loop() {
    local what=$1
    case $what in
    shell) echo 'for ((i = 0; i < N; i++)); do /bin/true; done' ;;
    cpp) echo 'for ((i = 0; i < N; i++)); do gcc -E hello.c -o hello.i; done' ;;
    floor) echo 'for ((i = 0; i < N; i++)); do gcc -E hello.c -o hello.i && gcc -c hello.i -o hello.o; done' ;;
    *) echo 'for ((i = 0; i < N; i++)); do $CC -c hello.c -o hello.o; done' ;;
    esac
}
HELLO_CFGS=(shell cpp floor local ref ours lzo whole exact)
for ((ROUND = 0; ROUND < RUNS; ROUND++)); do
    log "trivial jobs round $((ROUND + 1))/$RUNS ($HELLO_N each)"
    for cfg in $(rotate "${HELLO_CFGS[@]}"); do
        case $cfg in shell | cpp | floor) envcfg=local ;; *) envcfg=$cfg ;; esac
        t0=$(now_ns)
        (cd "$TREE" && with_cfg "$envcfg" env N="$HELLO_N" CC="$(cc_of "$envcfg")" \
            "$TIME" -o "$WORK/cpu" -f '%U %S' bash -c "$(hello_loop "$cfg")")
        t1=$(now_ns)
        record hello "$cfg" "$(awk -v d=$((t1 - t0)) -v n="$HELLO_N" 'BEGIN { printf "%.3f", d / n / 1e6 }')"
        read -r u s <"$WORK/cpu"
        record hellocpu "$cfg" "$(awk -v u="$u" -v s="$s" -v n="$HELLO_N" 'BEGIN { printf "%.3f", (u + s) * 1000 / n }')"
    done
done

# --- 3. a very large unit ------------------------------------------------------

log "large unit: preprocessing sqlite3.c once for the .i runs"
# shellcheck disable=SC2086 # LARGE_CFLAGS is a list of flags
(cd "$TREE/large" && gcc $LARGE_CFLAGS -E sqlite3.c -o sqlite3.i)
LARGE_I_BYTES=$(stat -c %s "$TREE/large/sqlite3.i")
LARGE_CFGS=(cppE localI ref reflzo ours lzo whole refI reflzoI oursI lzoI)
for ((ROUND = 0; ROUND < LARGE_RUNS; ROUND++)); do
    for cfg in $(rotate "${LARGE_CFGS[@]}"); do
        log "large unit round $((ROUND + 1))/$LARGE_RUNS: $cfg"
        case $cfg in
        cppE) envcfg=local cmd="gcc $LARGE_CFLAGS -E sqlite3.c -o out.i" ;;
        localI) envcfg=local cmd="gcc $LARGE_CFLAGS -c sqlite3.i -o out.o" ;;
        *I) envcfg=${cfg%I} cmd="$(cc_of "${cfg%I}") $LARGE_CFLAGS -c sqlite3.i -o out.o" ;;
        *) envcfg=$cfg cmd="$(cc_of "$cfg") $LARGE_CFLAGS -c sqlite3.c -o out.o" ;;
        esac
        reset_hwm "$REF_PID"
        reset_hwm "$OURS_PID"
        t0=$(now_ns)
        # shellcheck disable=SC2086
        (cd "$TREE/large" && with_cfg "$envcfg" "$TIME" -o "$WORK/cpu" -f '%U %S %M' $cmd)
        t1=$(now_ns)
        record large "$cfg" $(((t1 - t0) / 1000000))
        read -r u s m <"$WORK/cpu"
        record largerss "$cfg" "$m"
        case $envcfg in
        ref | reflzo) read -r sum max < <(daemon_mem "$REF_PID" VmHWM) ;;
        ours | lzo | whole) read -r sum max < <(daemon_mem "$OURS_PID" VmHWM) ;;
        *) max=0 ;;
        esac
        record largedrss "$cfg" "$max"
    done
done
LARGE_O_BYTES=$(stat -c %s "$TREE/large/out.o")

# --- 4. daemon RSS under 8 concurrent jobs -----------------------------------------

# lparser.c: a mid-sized unit, so eight of them overlap on two cores too.
CONC_SRC=lua54/lparser.c
for cfg in ref ours lzo; do
    log "8 concurrent jobs: $cfg"
    case $cfg in ref) pid=$REF_PID ;; *) pid=$OURS_PID ;; esac
    reset_hwm "$pid"
    pids=()
    for k in 1 2 3 4 5 6 7 8; do
        # shellcheck disable=SC2046 # "CLIENT gcc" is two words
        (cd "$TREE" && with_cfg "$cfg" $(cc_of "$cfg") -O2 -DLUA_USE_LINUX -c "$CONC_SRC" -o "conc$k.o") &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    read -r sum max < <(daemon_mem "$pid" VmHWM)
    record conchwm "$cfg" "$sum $max $(daemon_pids "$pid" | wc -l)"
done
CONC_O_BYTES=$(stat -c %s "$TREE/conc1.o")
sleep 0.5
read -r REF_AFTER_SUM _ < <(daemon_mem "$REF_PID" VmRSS)
read -r OURS_AFTER_SUM _ < <(daemon_mem "$OURS_PID" VmRSS)
REF_AFTER_PSS=$(daemon_pss "$REF_PID")
OURS_AFTER_PSS=$(daemon_pss "$OURS_PID")

# --- report --------------------------------------------------------------------

median() { sort -g "$WORK/data/$1.$2" | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
samples() { paste -sd' ' "$WORK/data/$1.$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
minus_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", a - b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

B_LOCAL=$(median build local) B_REF=$(median build ref) B_OURS=$(median build ours) B_LZO=$(median build lzo)
B_EXACT=$(median build exact) B_WHOLE=$(median build whole)
H() { median hello "$1"; }
HC() { median hellocpu "$1"; }
L() { median large "$1"; }
LR() { median largerss "$1"; }
LD() { median largedrss "$1"; }
CPP_E=$(L cppE)

# Sections that other scripts write between their own markers
# ("<!-- NAME: begin" ... "<!-- NAME: end -->") are kept, after this report.
KEPT=$(awk '/^<!-- [a-z-]+: begin/ { keep = 1 } keep { print } /^<!-- [a-z-]+: end/ { keep = 0 }' "$OUT" 2>/dev/null || true)
{
    echo "# Benchmark results"
    echo
    echo "Produced by \`benches/run.sh\` (see README, \"Benchmarks\")."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $CORES cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), $(free -h | awk '/^Mem:/ { print $2 }') RAM, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- $(gcc --version | head -1); reference: $($REF_CLIENT --version | head -1)"
    echo "- ours: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown) (release build)"
    echo "- settings: RUNS=$RUNS, J=$J (make -j and per-host limit), daemons --jobs $DJOBS, HELLO_N=$HELLO_N, LARGE_RUNS=$LARGE_RUNS, LARGE_CFLAGS=$LARGE_CFLAGS"
    [[ -n ${NOTE:-} ]] && echo "- note: $NOTE"
    echo
    echo "Medians of the rounds; configurations alternate within each round. Both"
    echo "daemons run on this machine, so a remote job competes with the client for"
    echo "the same cores: these figures are distcc's overhead, not a speed-up."
    echo
    echo "## Parallel build: $UNITS units of Lua 5.4 + 5.3 (-O2), make -j$J"
    echo
    echo "| configuration | wall ms | client-side CPU ms | ours / reference | / local | samples (ms) |"
    echo "|---|---:|---:|---:|---:|---|"
    echo "| local gcc | $B_LOCAL | $(median buildcpu local) | | 1.00 | $(samples build local) |"
    echo "| reference distcc 3.4 | $B_REF | $(median buildcpu ref) | | $(ratio "$B_REF" "$B_LOCAL") | $(samples build ref) |"
    echo "| ours | $B_OURS | $(median buildcpu ours) | $(ratio "$B_OURS" "$B_REF") | $(ratio "$B_OURS" "$B_LOCAL") | $(samples build ours) |"
    echo "| ours ,lzo | $B_LZO | $(median buildcpu lzo) | $(ratio "$B_LZO" "$B_REF") | $(ratio "$B_LZO" "$B_LOCAL") | $(samples build lzo) |"
    echo "| ours, not streamed (DISTCC_STREAM=0) | $B_WHOLE | $(median buildcpu whole) | $(ratio "$B_WHOLE" "$B_REF") | $(ratio "$B_WHOLE" "$B_LOCAL") | $(samples build whole) |"
    echo "| ours ,cpp,lzo (exact mode) | $B_EXACT | $(median buildcpu exact) | $(ratio "$B_EXACT" "$B_REF") | $(ratio "$B_EXACT" "$B_LOCAL") | $(samples build exact) |"
    echo
    echo "Client-side CPU: user+sys of make and everything it waited for (clients,"
    echo "preprocessors; for local, the compilers too); the daemons' work is not in it."
    echo "\`,lzo\` / plain: $(ratio "$B_LZO" "$B_OURS"); exact mode / plain: $(ratio "$B_EXACT" "$B_OURS")."
    echo
    echo "## Per trivial job: hello.c, $HELLO_N in a row"
    echo
    echo "| what | wall ms/job | CPU ms/job (client + cpp) | CPU ms/job outside cpp and the shell loop | samples (wall ms/job) |"
    echo "|---|---:|---:|---:|---|"
    SHELL_C=$(HC shell) CPP_C=$(HC cpp)
    echo "| shell loop (/bin/true) | $(H shell) | $SHELL_C | | $(samples hello shell) |"
    echo "| gcc -E only | $(H cpp) | $CPP_C | | $(samples hello cpp) |"
    echo "| floor: gcc -E, then gcc -c of the .i | $(H floor) | $(HC floor) | | $(samples hello floor) |"
    echo "| local gcc -c | $(H local) | $(HC local) | | $(samples hello local) |"
    for cfg in ref ours lzo whole exact; do
        case $cfg in ref) name="reference distcc 3.4" ;; ours) name="ours" ;; lzo) name="ours ,lzo" ;; whole) name="ours, not streamed" ;; exact) name="ours ,cpp,lzo (exact mode)" ;; esac
        echo "| $name | $(H $cfg) | $(HC $cfg) | $(minus "$(HC $cfg)" "$CPP_C") | $(samples hello $cfg) |"
    done
    echo
    echo "Ours / reference, wall: $(ratio "$(H ours)" "$(H ref)"); ours minus floor: $(minus "$(H ours)" "$(H floor)") ms"
    echo "(not streamed: $(minus "$(H whole)" "$(H floor)") ms)"
    echo "(reference minus floor: $(minus "$(H ref)" "$(H floor)") ms). Client CPU, ours / reference:"
    echo "$(ratio "$(HC ours)" "$(HC ref)"). The \"outside cpp\" column subtracts the \`gcc -E\` loop's CPU"
    echo "(which includes the same shell loop), leaving the distcc client's own CPU per job."
    echo
    echo "## A very large unit: sqlite3.c ($LARGE_CFLAGS; $((LARGE_I_BYTES / 1024)) KiB preprocessed, object $((LARGE_O_BYTES / 1024)) KiB)"
    echo
    echo "\`.c\` rows preprocess on the client; \`.i\` rows send the already preprocessed"
    echo "file, so their time is exactly \"end of preprocessing to object on disk\", and"
    echo "their client RSS is the client's own (no preprocessor child)."
    echo
    echo "| what | wall ms | minus gcc -E ($CPP_E ms) | client peak RSS MiB | daemon peak RSS MiB (largest process) |"
    echo "|---|---:|---:|---:|---:|"
    echo "| local gcc -E | $CPP_E | | $(mib "$(LR cppE)") | |"
    echo "| local gcc -c of the .i | $(L localI) | | $(mib "$(LR localI)") | |"
    for cfg in ref reflzo ours lzo whole; do
        case $cfg in ref) name="reference" ;; reflzo) name="reference ,lzo" ;; ours) name="ours" ;; lzo) name="ours ,lzo" ;; whole) name="ours, not streamed" ;; esac
        echo "| $name, .c | $(L $cfg) | $(minus_ms "$(L $cfg)" "$CPP_E") | $(mib "$(LR $cfg)") (max of client and cpp) | $(mib "$(LD $cfg)") |"
        [[ $cfg == whole ]] || echo "| $name, .i | $(L ${cfg}I) | | $(mib "$(LR ${cfg}I)") | $(mib "$(LD ${cfg}I)") |"
    done
    echo
    echo "End of preprocessing to object, ours / reference: plain $(ratio "$(L oursI)" "$(L refI)"),"
    echo "\`,lzo\` $(ratio "$(L lzoI)" "$(L reflzoI)"); ours \`,lzo\` / ours plain: $(ratio "$(L lzoI)" "$(L oursI)")."
    echo "Overhead over compiling the .i locally: reference $(minus_ms "$(L refI)" "$(L localI)") ms, ours $(minus_ms "$(L oursI)" "$(L localI)") ms."
    echo "From a \`.c\` (our client streams it; the time after preprocessing is the"
    echo "wall time minus \`gcc -E\`'s): ours / reference, plain $(ratio "$(minus_ms "$(L ours)" "$CPP_E")" "$(minus_ms "$(L ref)" "$CPP_E")"),"
    echo "\`,lzo\` $(ratio "$(minus_ms "$(L lzo)" "$CPP_E")" "$(minus_ms "$(L reflzo)" "$CPP_E")")."
    echo
    echo "## Daemon memory"
    echo
    read -r rs rm rn <<<"$(cat "$WORK/data/conchwm.ref")"
    read -r os om _ <<<"$(cat "$WORK/data/conchwm.ours")"
    read -r ls lm _ <<<"$(cat "$WORK/data/conchwm.lzo")"
    echo "| | reference distccd | ours | ours ,lzo |"
    echo "|---|---:|---:|---:|"
    echo "| idle RSS after start, MiB (all processes) | $(mib "$REF_IDLE_SUM") ($REF_IDLE_NPROC processes, largest $(mib "$REF_IDLE_MAX")) | $(mib "$OURS_IDLE_SUM") | |"
    echo "| idle PSS after start, MiB (shared pages split) | $(mib "$REF_IDLE_PSS") | $(mib "$OURS_IDLE_PSS") | |"
    echo "| peak RSS under 8 concurrent jobs, MiB: sum of the processes' peaks | $(mib "$rs") ($rn processes) | $(mib "$os") | $(mib "$ls") |"
    echo "| the same, largest single process | $(mib "$rm") | $(mib "$om") | $(mib "$lm") |"
    echo "| per job beyond idle, MiB ((peak sum - idle) / 8) | $(awk -v p="$rs" -v i="$REF_IDLE_SUM" 'BEGIN { printf "%.2f", (p - i) / 8 / 1024 }') | $(awk -v p="$os" -v i="$OURS_IDLE_SUM" 'BEGIN { printf "%.2f", (p - i) / 8 / 1024 }') | $(awk -v p="$ls" -v i="$OURS_IDLE_SUM" 'BEGIN { printf "%.2f", (p - i) / 8 / 1024 }') |"
    echo "| idle RSS after all the runs, MiB | $(mib "$REF_AFTER_SUM") | $(mib "$OURS_AFTER_SUM") | |"
    echo "| idle PSS after all the runs, MiB | $(mib "$REF_AFTER_PSS") | $(mib "$OURS_AFTER_PSS") | |"
    echo
    echo "Eight clients at once compile \`$CONC_SRC\` (-O2; object $((CONC_O_BYTES / 1024)) KiB)."
    echo "Peaks are VmHWM, reset before the jobs through /proc/PID/clear_refs (needs"
    echo "root; otherwise they are peaks since start). The reference pre-forks one process"
    echo "per slot and each holds its own peak, so its sum over-states a simultaneous"
    echo "peak; ours is one process with a thread per job. Compiler processes are"
    echo "counted for neither. A reset sets the peak to the current RSS, so memory a"
    echo "daemon kept from earlier jobs shows as the floor of every later peak."
} >"$OUT"
if [[ -n $KEPT ]]; then printf '\n%s\n' "$KEPT" >>"$OUT"; fi
log "wrote $OUT"
cat "$OUT"
