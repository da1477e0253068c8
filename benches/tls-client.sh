#!/usr/bin/env bash
# Benchmark: the client's CPU per trivial job over TLS (`HOST,tls`) against
# plain TCP, with the real client and daemon on loopback. Each job is
# `distcc gcc -c hello.i`: a preprocessed unit, so the client runs no
# preprocessor and its CPU is distcc's own (process start, host choice,
# connect, TLS, send, receive, write the object). The daemon's CPU is not
# counted.
#
#   benches/tls-client.sh [JOBS [ROUNDS]]        (default 200 jobs, 5 rounds)
#
# Three ways, alternating within each round:
# - plain: plain TCP;
# - direct: TLS with the job's own full handshake (DISTCC_TLS_AGENT=0);
# - agent: TLS through the client's TLS agent, which resumes sessions; the
#   agent's CPU over the round (utime + stime of /proc/PID/stat) is added
#   to the clients'.
# The report is the median per-job CPU (user + system, from getrusage of
# the finished clients) of each, and what TLS adds. BIN (default
# target/release/distcc) is the binary. The table goes into OUT (default
# benches/RESULTS.md) between its tls-client markers; OUT=/dev/null skips.
#
# Needs: gcc, python3. As root the daemon drops to the distccd account,
# so the scratch tree is made world-readable.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${1:-200}
ROUNDS=${2:-5}
BIN=${BIN:-$ROOT/target/release/distcc}
OUT=${OUT:-$ROOT/benches/RESULTS.md}
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
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$WORK/bin/distcc" "$PLAIN" "$TLS" "$JOBS" "$ROUNDS" "$DISTCC_DIR/tls/agent.log" \
    >"$WORK/table" <<'EOF'
import os, resource, statistics, subprocess, sys

client, plain, tls, agent_log = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[6]
jobs, rounds = int(sys.argv[4]), int(sys.argv[5])
modes = {
    "plain": ({"DISTCC_HOSTS": f"127.0.0.1:{plain}"}, "plain TCP"),
    "direct": ({"DISTCC_HOSTS": f"127.0.0.1:{tls},tls", "DISTCC_TLS_AGENT": "0"},
               "TLS, the job's own full handshake"),
    "agent": ({"DISTCC_HOSTS": f"127.0.0.1:{tls},tls"},
              "TLS through the agent (resumed; agent CPU included)"),
}
tick = os.sysconf("SC_CLK_TCK")

def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

def agent_pid():
    with open(agent_log) as f:
        return int([l for l in f if l.endswith(" listening\n")][-1].split()[0])

def agent_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick

def job(env):
    subprocess.run([client, "gcc", "-c", "hello.i", "-o", "hello.o"], env=env, check=True)

def round_of(mode):
    env = dict(os.environ, **modes[mode][0])
    pid = agent_pid() if mode == "agent" else None
    before = cpu()
    before_agent = agent_cpu(pid) if pid else 0.0
    for _ in range(jobs):
        job(env)
    spent = cpu() - before
    if pid:
        if agent_pid() != pid:
            sys.exit("the agent was replaced during a round")
        agent_share[mode].append((agent_cpu(pid) - before_agent) / jobs * 1000)
        spent += agent_cpu(pid) - before_agent
    return spent / jobs * 1000

# Starts the agent and gives it a session to resume.
job(dict(os.environ, **modes["agent"][0]))
per = {m: [] for m in modes}
agent_share = {m: [] for m in modes}
for _ in range(rounds):
    for mode in modes:
        per[mode].append(round_of(mode))
med = {m: statistics.median(v) for m, v in per.items()}
print(f"Client CPU per job (user + system), medians of {rounds} alternating rounds of {jobs} jobs:")
print()
print("| way | per job | TLS adds | of which the agent | rounds |")
print("|---|---|---|---|---|")
for mode, (_, what) in modes.items():
    adds = "-" if mode == "plain" else f"{med[mode] - med['plain']:+.3f} ms"
    share = f"{statistics.median(agent_share[mode]):.3f} ms" if agent_share[mode] else "-"
    rounds_shown = ", ".join(f"{x:.3f}" for x in per[mode])
    print(f"| {what} | {med[mode]:.3f} ms | {adds} | {share} | {rounds_shown} |")
EOF
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
cat "$WORK/table"
echo "load average before: $LOAD_BEFORE; after: $LOAD_AFTER"

[[ $OUT == /dev/null ]] && exit 0
{
    echo "<!-- tls-client: begin (written by benches/tls-client.sh; other scripts keep it) -->"
    echo "## TLS per trivial job: the client's CPU (issue 19)"
    echo
    echo "\`benches/tls-client.sh $JOBS $ROUNDS\` at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')," \
        "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $LOAD_BEFORE before and" \
        "$LOAD_AFTER after. Each job is \`distcc gcc -c hello.i\` (no preprocessor), a new" \
        "process; the daemon's CPU is not counted, the TLS agent's is."
    echo
    cat "$WORK/table"
    echo "<!-- tls-client: end -->"
} >"$WORK/section"
python3 - "$OUT" "$WORK/section" <<'EOF'
import re, sys
out, section = sys.argv[1], open(sys.argv[2]).read()
try:
    text = open(out).read()
except FileNotFoundError:
    text = ""
marked = re.compile(r"<!-- tls-client: begin.*?<!-- tls-client: end -->\n", re.S)
if marked.search(text):
    text = marked.sub(lambda _: section, text)
else:
    text = text.rstrip("\n") + "\n" + section
open(out, "w").write(text)
EOF
echo "written to $OUT"
