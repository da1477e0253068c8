#!/usr/bin/env bash
# Benchmark: a real autoconf `./configure` with CC="distcc gcc", through
# our client and daemon and through Debian's distcc 3.4 (/usr/bin/distcc,
# /usr/bin/distccd), both daemons on loopback, against CC=gcc.
#
# distcc 3.4 compiles autoconf's probes (conftest.c) here, deciding by the
# input's basename (src/filename.c, dcc_source_needs_local); configure
# through distcc must not be slower than through 3.4. The project is made
# here: a configure.ac with the checks a small C library's has (headers,
# functions, types, sizes, libraries, compiler flags), some 180 probes,
# most of them compile-only (`gcc -c conftest.c`).
#
# Knobs (environment): RUNS=5 rounds (medians reported; configurations
# alternate within a round), BIN=path to our binary (default: a release
# build), KEEP=1 keeps the scratch dir. Needs autoconf, gcc, make, python3
# and Debian's distcc package. Prints a Markdown table on stdout.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-5}
REF_CLIENT=/usr/bin/distcc
REF_DAEMON=/usr/bin/distccd
for tool in "$REF_CLIENT" "$REF_DAEMON"; do
    [[ -x $tool ]] || { echo "missing $tool (apt-get install distcc)" >&2; exit 2; }
done
for tool in autoreconf gcc make python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

log() { printf '[configure bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/distcc-configure.XXXXXX")
chmod 755 "$WORK"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [[ ${KEEP:-0} == 1 ]]; then log "scratch kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [[ -z ${BIN:-} ]]; then
    log "building ours (cargo build --release)"
    (cd "$ROOT" && cargo build --release --quiet)
    BIN=$ROOT/target/release/distcc
fi
mkdir -p "$WORK/bin" "$WORK/log" "$WORK/dir"
chmod 777 "$WORK/log"
ln -s "$BIN" "$WORK/bin/distcc"
ln -s "$BIN" "$WORK/bin/distccd"

# --- the project -------------------------------------------------------------

PROJ=$WORK/proj
mkdir -p "$PROJ"
{
    echo 'AC_INIT([probe], [1.0])'
    echo 'AC_CONFIG_HEADERS([config.h])'
    echo 'AC_PROG_CC'
    echo 'AC_C_CONST'
    echo 'AC_C_INLINE'
    echo 'AC_C_BIGENDIAN'
    echo 'AC_TYPE_SIZE_T'
    echo 'AC_TYPE_SSIZE_T'
    echo 'AC_TYPE_OFF_T'
    echo 'AC_TYPE_PID_T'
    echo 'AC_TYPE_UINT8_T'
    echo 'AC_TYPE_UINT16_T'
    echo 'AC_TYPE_UINT32_T'
    echo 'AC_TYPE_UINT64_T'
    echo 'AC_TYPE_INTPTR_T'
    echo 'AC_CHECK_HEADERS([stdio.h stdlib.h string.h strings.h unistd.h fcntl.h errno.h limits.h \
        stdint.h inttypes.h stddef.h stdarg.h signal.h time.h sys/time.h sys/types.h sys/stat.h \
        sys/wait.h sys/socket.h sys/select.h sys/mman.h sys/resource.h sys/ioctl.h netinet/in.h \
        arpa/inet.h netdb.h poll.h pthread.h dlfcn.h locale.h langinfo.h wchar.h wctype.h \
        termios.h pwd.h grp.h dirent.h glob.h regex.h zlib.h no_such_header.h])'
    echo 'AC_CHECK_FUNCS([strdup strndup strlcpy strcasecmp strerror_r memmem memrchr mmap munmap \
        getpagesize sysconf poll select epoll_create kqueue pipe2 dup3 accept4 fork vfork \
        posix_spawn clock_gettime gettimeofday nanosleep setlocale nl_langinfo iconv realpath \
        getline getdelim fdopendir openat fstatat readlinkat mkostemp posix_fallocate \
        sigaction sigprocmask no_such_function])'
    echo 'AC_CHECK_SIZEOF([int])'
    echo 'AC_CHECK_SIZEOF([long])'
    echo 'AC_CHECK_SIZEOF([long long])'
    echo 'AC_CHECK_SIZEOF([void *])'
    echo 'AC_CHECK_SIZEOF([size_t])'
    echo 'AC_CHECK_SIZEOF([off_t])'
    echo 'AC_CHECK_ALIGNOF([double])'
    echo 'AC_CHECK_TYPES([long double, __int128, ptrdiff_t, struct timespec], [], [], [#include <time.h>])'
    echo 'AC_CHECK_MEMBERS([struct stat.st_mtim, struct stat.st_blksize], [], [], [#include <sys/stat.h>])'
    echo 'AC_CHECK_DECLS([strdup, memmem, O_CLOEXEC], [], [], [#define _GNU_SOURCE
#include <string.h>
#include <fcntl.h>])'
    echo 'AC_SEARCH_LIBS([sqrt], [m])'
    echo 'AC_SEARCH_LIBS([dlopen], [dl])'
    echo 'AC_SEARCH_LIBS([pthread_create], [pthread])'
    echo 'AC_SEARCH_LIBS([clock_gettime], [rt])'
    for flag in -Wall -Wextra -Wshadow -Wformat=2 -fstack-protector-strong -fno-common \
        -fvisibility=hidden -Wno-unused-parameter -Wstrict-prototypes; do
        echo "saved_CFLAGS=\$CFLAGS; CFLAGS=\"\$CFLAGS $flag\""
        echo "AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])], [], [CFLAGS=\$saved_CFLAGS])"
    done
    echo 'AC_CONFIG_FILES([Makefile])'
    echo 'AC_OUTPUT'
} >"$PROJ/configure.ac"
printf 'all:\n\t@true\n' >"$PROJ/Makefile.in"
log "autoreconf"
(cd "$PROJ" && autoreconf -fi >/dev/null 2>&1)
chmod -R a+rX "$WORK"

# --- daemons -----------------------------------------------------------------

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

REF_PORT=$(free_port)
"$REF_DAEMON" --daemon --no-detach --listen 127.0.0.1 --port "$REF_PORT" \
    --allow 127.0.0.1 --jobs 8 --log-file "$WORK/log/ref.log" &
PIDS+=($!)
"$WORK/bin/distccd" --daemon --no-detach --listen 127.0.0.1 --port 0 \
    --jobs 8 --log-stderr 2>"$WORK/log/ours.log" &
PIDS+=($!)
OURS_PORT=
for ((i = 0; i < 200; i++)); do
    OURS_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/log/ours.log" | head -1)
    [[ -n $OURS_PORT ]] && break
    sleep 0.05
done
[[ -n $OURS_PORT ]] || { cat "$WORK/log/ours.log" >&2; exit 2; }
for ((i = 0; i < 200; i++)); do
    grep -q "$(printf ':%04X ' "$REF_PORT")" /proc/net/tcp && break
    sleep 0.05
done

# --- runs --------------------------------------------------------------------

# name|CC|DISTCC_HOSTS
CONFIGS=(
    "local gcc|gcc|"
    "reference distcc 3.4|$REF_CLIENT gcc|127.0.0.1:$REF_PORT"
    "ours|$WORK/bin/distcc gcc|127.0.0.1:$OURS_PORT,classic"
    "ours ,cpp,lzo (exact mode)|$WORK/bin/distcc gcc|127.0.0.1:$OURS_PORT,cpp,lzo"
)
declare -A SAMPLES
now_ms() { date +%s%3N; }
probes=

for ((r = 1; r <= RUNS; r++)); do
    for c in "${CONFIGS[@]}"; do
        IFS='|' read -r name cc hosts <<<"$c"
        rm -rf "$WORK/build" "$WORK/dir"/*
        cp -r "$PROJ" "$WORK/build"
        t0=$(now_ms)
        (cd "$WORK/build" && env CC="$cc" DISTCC_HOSTS="$hosts" DISTCC_DIR="$WORK/dir" \
            DISTCC_LOG="$WORK/log/client.log" ./configure -q >/dev/null 2>"$WORK/log/configure.err") ||
            { log "$name: configure failed"; cat "$WORK/log/configure.err" >&2; exit 1; }
        t1=$(now_ms)
        SAMPLES[$name]+="$((t1 - t0)) "
        if [[ -z $probes && $name == "local gcc" ]]; then
            probes=$(grep -c '^configure:[0-9]*: gcc' "$WORK/build/config.log" || true)
        fi
        log "round $r, $name: $((t1 - t0)) ms"
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
remote_ours=$(grep -c 'status 0' "$WORK/log/ours.log" || true)
remote_ref=$(grep -c 'job complete' "$WORK/log/ref.log" || true)
ref_ms=$(echo "${SAMPLES[reference distcc 3.4]}" | median)

echo "## ./configure with CC=\"distcc gcc\" ($probes compiler runs, $RUNS rounds)"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- ours: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown); jobs that reached a daemon over all rounds: ours $remote_ours, reference $remote_ref"
echo
echo "| configuration | wall ms (median) | / reference | samples (ms) |"
echo "|---|---:|---:|---|"
for c in "${CONFIGS[@]}"; do
    IFS='|' read -r name _ _ <<<"$c"
    m=$(echo "${SAMPLES[$name]}" | median)
    ratio=$(python3 -c "print(f'{$m / $ref_ms:.2f}')")
    echo "| $name | $m | $ratio | ${SAMPLES[$name]}|"
done
