#!/usr/bin/env bash
# Benchmark: how long a client takes to give up on a volunteer that has
# stopped (SIGSTOP: the kernel still accepts the connection and buffers
# the request, and nothing ever answers), with DISTCC_IO_TIMEOUT=T, for
# our client and Debian's distcc 3.4, each against both daemons, then the
# local fallback. The wall time includes that fallback compile (a tiny
# unit) and the client's start.
#
# Knobs: T=20 (seconds), BIN=our binary (default: a release build),
# BIN_BEFORE=another build of ours to compare (optional). Needs gcc,
# python3 and Debian's distcc package. Prints a Markdown table on stdout.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T=${T:-20}
REF_CLIENT=/usr/bin/distcc
REF_DAEMON=/usr/bin/distccd
[[ -x $REF_CLIENT && -x $REF_DAEMON ]] || { echo "missing Debian's distcc" >&2; exit 2; }

log() { printf '[timeouts bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/distcc-timeouts.XXXXXX")
chmod 755 "$WORK"
GROUPS_TO_KILL=()
cleanup() {
    local g
    for g in "${GROUPS_TO_KILL[@]}"; do
        kill -CONT -- "-$g" 2>/dev/null || true
        kill -TERM -- "-$g" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [[ -z ${BIN:-} ]]; then
    log "building ours (cargo build --release)"
    (cd "$ROOT" && cargo build --release --quiet)
    BIN=$ROOT/target/release/distcc
fi
mkdir -p "$WORK/bin" "$WORK/log" "$WORK/dir" "$WORK/src"
chmod 777 "$WORK/log"
ln -s "$BIN" "$WORK/bin/distccd"
echo 'int twice(int x) { return 2 * x; }' >"$WORK/src/t.c"
chmod -R a+rX "$WORK"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Each daemon in a process group of its own, so it stops whole (distcc
# 3.4 pre-forks workers that accept connections themselves).
REF_PORT=$(free_port)
setsid "$REF_DAEMON" --daemon --no-detach --listen 127.0.0.1 --port "$REF_PORT" \
    --allow 127.0.0.1 --log-file "$WORK/log/ref.log" &
REF_PGID=$!
GROUPS_TO_KILL+=("$REF_PGID")
setsid "$WORK/bin/distccd" --daemon --no-detach --listen 127.0.0.1 --port 0 \
    --log-stderr 2>"$WORK/log/ours.log" &
OURS_PGID=$!
GROUPS_TO_KILL+=("$OURS_PGID")
OURS_PORT=
for ((i = 0; i < 200; i++)); do
    OURS_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/log/ours.log" | head -1)
    [[ -n $OURS_PORT ]] && break
    sleep 0.05
done
for ((i = 0; i < 200; i++)); do
    grep -q "$(printf ':%04X ' "$REF_PORT")" /proc/net/tcp && break
    sleep 0.05
done
[[ -n $OURS_PORT ]] || { cat "$WORK/log/ours.log" >&2; exit 2; }
kill -STOP -- "-$REF_PGID" "-$OURS_PGID"

now_ms() { date +%s%3N; }
# name|client|daemon port|extra env
RUNS_LIST=(
    "distcc 3.4 -> stopped distccd 3.4|$REF_CLIENT|$REF_PORT|"
    "distcc 3.4 -> stopped ours|$REF_CLIENT|$OURS_PORT|"
    "ours -> stopped distccd 3.4|$BIN|$REF_PORT|DISTCC_STREAM=0"
    "ours -> stopped ours|$BIN|$OURS_PORT,classic|DISTCC_STREAM=0"
    "ours -> stopped ours, streamed|$BIN|$OURS_PORT,classic|DISTCC_STREAM=1"
    "ours -> stopped ours, exact mode|$BIN|$OURS_PORT,cpp,lzo|"
)
if [[ -n ${BIN_BEFORE:-} ]]; then
    RUNS_LIST+=(
        "before -> stopped ours|$BIN_BEFORE|$OURS_PORT|DISTCC_STREAM=0"
        "before -> stopped ours, streamed|$BIN_BEFORE|$OURS_PORT|DISTCC_STREAM=1"
        "before -> stopped ours, exact mode|$BIN_BEFORE|$OURS_PORT,cpp,lzo|"
    )
fi

echo "## Giving up on a stopped volunteer, DISTCC_IO_TIMEOUT=$T"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- wall time from the client's start to its exit, the local fallback compile included"
echo
echo "| client -> volunteer | seconds | / T | fell back |"
echo "|---|---:|---:|---|"
for r in "${RUNS_LIST[@]}"; do
    IFS='|' read -r name client port extra <<<"$r"
    rm -f "$WORK/src/t.o"
    # A fresh state dir with the default backoff: with backoff off, 3.4
    # asks the same stopped host again and again.
    rm -rf "$WORK/dir"
    mkdir -p "$WORK/dir"
    t0=$(now_ms)
    (cd "$WORK/src" && env $extra DISTCC_HOSTS="127.0.0.1:$port" DISTCC_DIR="$WORK/dir" \
        DISTCC_IO_TIMEOUT="$T" timeout $((10 * T)) "$client" gcc -c t.c -o t.o \
        2>"$WORK/log/client.err") || true
    t1=$(now_ms)
    ok=no
    [[ -s $WORK/src/t.o ]] && ok=yes
    secs=$(python3 -c "print(f'{($t1 - $t0) / 1000:.1f}')")
    ratio=$(python3 -c "print(f'{($t1 - $t0) / 1000 / $T:.2f}')")
    log "$name: $secs s: $(tr '\n' ' ' <"$WORK/log/client.err")"
    echo "| $name | $secs | $ratio | $ok |"
done
