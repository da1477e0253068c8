#!/usr/bin/env bash
# Benchmark: the client's CPU per trivial job over TLS (`HOST,tls`) against
# plain TCP, with the real client and daemon on loopback. Each job is
# `distcc gcc -c hello.i`: a preprocessed unit, so the client runs no
# preprocessor and its CPU is distcc's own (process start, host choice,
# connect, the TLS handshake with its key and pin files, send, receive,
# write the object). The daemon's CPU is not counted.
#
#   benches/tls-client.sh [JOBS [ROUNDS]]        (default 200 jobs, 5 rounds)
#
# Rounds alternate plain and TLS; the report is the median per-job CPU
# (user + system, from getrusage of the finished clients) of each, and
# their difference. BIN (default target/release/distcc) is the binary.
#
# Needs: gcc, python3. As root the daemon drops to the distccd account,
# so the scratch tree is made world-readable.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${1:-200}
ROUNDS=${2:-5}
BIN=${BIN:-$ROOT/target/release/distcc}
[[ -x $BIN ]] || { echo "build first: cargo build --release ($BIN)" >&2; exit 2; }
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/distcc-tls-bench.XXXXXX")
chmod 755 "$WORK"
DAEMON=
cleanup() {
    [[ -n $DAEMON ]] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/bin" "$WORK/masq" "$WORK/client" "$WORK/w"
chmod 777 "$WORK/w"
ln -s "$BIN" "$WORK/bin/distcc"
ln -s "$BIN" "$WORK/bin/distccd"
ln -s "$BIN" "$WORK/masq/gcc"
printf 'int hello(int x) { return x + 1; }\n' >"$WORK/w/hello.c"
gcc -E "$WORK/w/hello.c" -o "$WORK/w/hello.i"
export DISTCC_DIR=$WORK/client DISTCC_FALLBACK=0 DISTCC_BACKOFF_PERIOD=0

# The five setup commands of the README.
"$WORK/bin/distccd" --tls-keygen --tls-dir "$WORK/tls" >/dev/null 2>&1
key=$("$WORK/bin/distcc" --tls-key 2>/dev/null | cut -d' ' -f1,2)
echo "$key bench" >>"$WORK/tls/authorized_keys"
"$WORK/bin/distccd" --daemon --no-detach --listen 127.0.0.1 --port 0 \
    --tls-dir "$WORK/tls" --tls-port 0 --log-stderr --compiler-dir "$WORK/masq" \
    2>"$WORK/daemon.log" &
DAEMON=$!
PLAIN=$(ours_port "$WORK/daemon.log")
for ((i = 0; i < 100; i++)); do
    TLS=$(sed -n 's/.*TLS: listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/daemon.log")
    [[ -n $TLS ]] && break
    sleep 0.05
done
"$WORK/bin/distcc" --trust "127.0.0.1:$TLS" >/dev/null 2>&1

cd "$WORK/w"
python3 - "$WORK/bin/distcc" "$PLAIN" "$TLS" "$JOBS" "$ROUNDS" <<'EOF'
import os, resource, statistics, subprocess, sys

client, plain, tls, jobs, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
hosts = {"plain": f"127.0.0.1:{plain}", "tls": f"127.0.0.1:{tls},tls"}

def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

def round_of(mode):
    env = dict(os.environ, DISTCC_HOSTS=hosts[mode])
    before = cpu()
    for _ in range(jobs):
        subprocess.run([client, "gcc", "-c", "hello.i", "-o", "hello.o"], env=env, check=True)
    return (cpu() - before) / jobs * 1000

per = {"plain": [], "tls": []}
for _ in range(rounds):
    for mode in ("plain", "tls"):
        per[mode].append(round_of(mode))
p, t = statistics.median(per["plain"]), statistics.median(per["tls"])
print(f"client CPU per job, median of {rounds} rounds of {jobs} jobs:")
print(f"  plain TCP  {p:.3f} ms   (rounds: {', '.join(f'{x:.3f}' for x in per['plain'])})")
print(f"  TLS        {t:.3f} ms   (rounds: {', '.join(f'{x:.3f}' for x in per['tls'])})")
print(f"  TLS adds   {t - p:.3f} ms per job")
EOF
