#!/usr/bin/env bash
# awk expressions are single-quoted on purpose; $(cpu_group ...) is unquoted on purpose.
# shellcheck disable=SC2016,SC2046,SC2207
# Benchmark: a simulated farm with a weak client. One machine cannot show a
# farm, so the client side (make, the shell, distcc and everything they
# start) is confined by a cgroup to a fraction of a CPU, while two loopback
# daemons per implementation use the rest of the machine. Writes its own
# section of benches/RESULTS.md (between the weak-client markers); the
# object checks and the report are in weak-client-report.sh.
#
# What it measures, per project and configuration, in alternating order:
#   - wall time of `make -jJ` of a real project;
#   - the client cgroup's total CPU (make, shell, links, distcc, its
#     preprocessor);
#   - distcc's own client CPU apart from make, the shell and linking: CC and
#     CXX are a wrapper that moves each compiler invocation into its own
#     accounting cgroup before it execs the client, so the sum over the
#     compile jobs' groups is the client's cost, its local preprocessor
#     included; invocations without -c (links, probes) are summed apart;
#     our client's scan agent runs in the group of the job that started
#     it, so its CPU is in the sum (each build starts its own: the agent
#     an earlier build left is ended first);
#   - the same per-job accounting for an unconfined local gcc build, so the
#     client's CPU can be given as a share of the local compile CPU;
#   - the daemons' CPU (their own cgroup) and any other CPU used on the
#     machine meanwhile (from /proc/stat), with the load average before and
#     after each build: other users of the machine show there;
#   - that every build's objects are byte-identical to the local build's.
#
# Projects (real sources from Debian's archive, fetched at run time):
#   zstd  `programs/zstd` of the `libzstd` source package: 43 C units and a
#         stdin probe compiled with -c, default flags (-O3, no -g);
#   re2   the `re2` source package (20220601): `make` builds 22 C++ units
#         twice (static and -fPIC for the shared library), 44 jobs, default
#         flags -O3 -g. Picked because its own Makefile is plain make, it
#         has no dependency beyond the C++ library, and its units are
#         typical C++ (standard headers dominate the preprocessing). Its
#         Unicode tables are generated before timing, as Debian does
#         (REBUILD_TABLES=1, with the `unicode-data` package).
#
# Set-up (changes to the system, all idempotent): if apt has no deb-src
# entry for the release's main component, one is added in its own file,
# /etc/apt/sources.list.d/distcc-bench-src.sources, copied from the
# machine's own `deb` entry, followed by `apt-get update`; the packages
# `distcc`, `unicode-data`, `dpkg-dev` and `binutils` are installed if
# missing. Cgroups: the script creates its own groups (names ending in its
# PID), sets their quota and weights, and removes them all on
# exit (a process left in one goes back to the root); it changes no
# setting of any other group.
#
# Knobs (environment):
#   RUNS=3          rounds (medians are reported); QUICK=1: RUNS=1
#   CLIENT_CPU=0.1  the client's CPU limit, in CPUs
#   J=...           make -j (default 2 x cores + 2); each daemon takes J/2
#   PROJECTS="zstd re2"   which projects
#   ONLY="..."      which configurations (names from CONFIGS below)
#   WRAP_N=200      invocations used to measure the wrapper's own cost
#   QUIET=0.3       before each build, wait until the machine's busy CPU is
#                   below this many CPUs (at most QUIET_WAIT=120 s); off
#                   by default
#   PRIORITY=1      the daemons and the local build also get the top CPU
#                   weight, so others' work on a shared machine slows them
#                   little (0: they compete as any process)
#   OUT=...         the results file (default benches/RESULTS.md)
#   NOTE=...        a sentence added to the report
#   MAKE_VARS=...   variables for every build's make, local ones included
#                   (MAKE_VARS="CFLAGS=-O0" for zstd): cheaper compiles
#                   stand in for a farm with more volunteer cores per
#                   client, as the client's work does not depend on -O
#   SECTION=...     the report's section name in the results file
#                   (default weak-client; another name keeps both)
#   KEEP=1          keep the scratch dir
#
# Needs: root, cgroup v1 with the cpu and cpuacct controllers (separate or
# co-mounted), or cgroup v2 with the cpu controller enabled at the root;
# cargo, gcc, g++, make, apt-get.

set -euo pipefail

# --- configurations -------------------------------------------------------------
#
# One line per configuration of a distributed build:
#   name|client|host options|fidelity|label|environment
# client: `ref` (Debian's /usr/bin/distcc against /usr/bin/distccd) or `ours`;
# host options: appended to each host of DISTCC_HOSTS (",lzo", ",cpp,lzo");
# fidelity: `exact` objects must equal the local ones byte for byte;
#   `classic` too, except that where the local objects carry debug info they
#   are compared after `objcopy --strip-debug` (the preprocessed unit is
#   compiled in the daemon's directory, so DW_AT_comp_dir differs by design);
# environment: extra VAR=value words for the client, space-separated.
# The local gcc build is always measured, as the reference.
CONFIGS=(
    "ref|ref||classic|distcc 3.4|"
    "ours|ours|,classic|classic|ours, classic|"
    "lzo|ours|,lzo,classic|classic|ours, classic ,lzo|"
    "exact|ours|,cpp,lzo|exact|ours, exact ,cpp,lzo|"
    "default|ours||exact|ours, default (exact, scanner)|"
    "exactm|ours|,cpp,lzo|exact|ours, exact -M listing|DISTCC_SCAN=0"
)

# Projects: the make command (run in a fresh copy of the sources under
# $WORK/tree), the make variable naming the compiler, and the compiler.
project_make() {
    case $1 in
    zstd) echo "make -C $WORK/tree/zstd/programs -j$J zstd ${MAKE_VARS:-}" ;;
    re2) echo "make -C $WORK/tree/re2 -j$J ${MAKE_VARS:-}" ;;
    esac
}
project_compiler_var() { case $1 in zstd) echo CC ;; re2) echo CXX ;; esac; }
project_compiler() { case $1 in zstd) echo gcc ;; re2) echo g++ ;; esac; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMMAND_LINE="$(for v in RUNS QUICK CLIENT_CPU J PROJECTS ONLY WRAP_N QUIET QUIET_WAIT PRIORITY MAKE_VARS SECTION; do if [[ -n ${!v:-} ]]; then printf '%s=%q ' "$v" "${!v}"; fi; done)benches/weak-client.sh"
CORES=$(nproc)
[[ ${QUICK:-0} == 1 ]] && RUNS=${RUNS:-1}
RUNS=${RUNS:-3}
CLIENT_CPU=${CLIENT_CPU:-0.1}
J=${J:-$((2 * CORES + 2))}
PER_HOST=$(((J + 1) / 2))
PROJECTS=${PROJECTS:-zstd re2}
WRAP_N=${WRAP_N:-200}
PRIORITY=${PRIORITY:-1}
OUT=${OUT:-$ROOT/benches/RESULTS.md}
REF_CLIENT=/usr/bin/distcc
REF_DAEMON=/usr/bin/distccd

die() { echo "weak-client: $*" >&2; exit 2; }
log() { printf '[weak %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

[[ $(id -u) == 0 ]] || die "must run as root (it creates cgroups)"
for tool in cargo gcc g++ make apt-get; do
    command -v "$tool" >/dev/null || die "missing $tool"
done

# Selected configurations, parsed into parallel arrays.
CFG_NAMES=() CFG_CLIENT=() CFG_OPTS=() CFG_FID=() CFG_LABEL=() CFG_ENV=()
for line in "${CONFIGS[@]}"; do
    IFS='|' read -r name client opts fid label env <<<"$line"
    if [[ -n ${ONLY:-} && " $ONLY " != *" $name "* ]]; then continue; fi
    CFG_NAMES+=("$name") CFG_CLIENT+=("$client") CFG_OPTS+=("$opts")
    CFG_FID+=("$fid") CFG_LABEL+=("$label") CFG_ENV+=("$env")
done
((${#CFG_NAMES[@]} > 0)) || die "ONLY=$ONLY selects no configuration"
cfg_index() {
    local i
    for i in "${!CFG_NAMES[@]}"; do [[ ${CFG_NAMES[$i]} == "$1" ]] && { echo "$i"; return; }; done
    return 1
}

# --- cgroups ----------------------------------------------------------------------

# CPU_H: the hierarchy with the cpu controller (quota); ACCT_H: the one
# with CPU accounting. The same directory on cgroup v2 or where cpu and
# cpuacct are co-mounted; then accounting groups nest inside the quota
# group, as a process has one place in a hierarchy.
if [[ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us && -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]]; then
    CG=v1
    CPU_H=$(realpath /sys/fs/cgroup/cpu)
    ACCT_H=$(realpath /sys/fs/cgroup/cpuacct)
elif [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    CG=v2
    CPU_H=/sys/fs/cgroup
    ACCT_H=$CPU_H
    grep -qw cpu "$CPU_H/cgroup.subtree_control" ||
        die "cgroup v2 without the cpu controller enabled at the root (cgroup.subtree_control); this script does not change that"
else
    die "no cgroup v1 cpu+cpuacct hierarchies and no cgroup v2 at /sys/fs/cgroup"
fi

# CPU time of a cgroup and its descendants, in ns.
usage_ns() {
    if [[ $CG == v1 ]]; then cat "$1/cpuacct.usage"; else awk '$1 == "usage_usec" { printf "%.0f\n", $2 * 1000 }' "$1/cpu.stat"; fi
}

# Removes a group and everything under it; a process still in it (one that
# outlived its build, such as a client's helper) goes back to the root.
remove_group() {
    local d p root
    [[ -d $1 ]] || return 0
    case $1 in "$CPU_H"/*) root=$CPU_H ;; *) root=$ACCT_H ;; esac
    while read -r d; do
        while read -r p; do
            echo "$p" >"$root/cgroup.procs" 2>/dev/null || true
        done <"$d/cgroup.procs"
        rmdir "$d" 2>/dev/null || log "could not remove cgroup $d"
    done < <(find "$1" -depth -type d)
}

# Everything the script starts or creates goes when it ends, however it ends.
GNAME=distcc-weak-$$
OUR_GROUPS=() DAEMON_PIDS=() WORK=
cleanup() {
    local p i
    for p in "${DAEMON_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${DAEMON_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    for ((i = ${#OUR_GROUPS[@]} - 1; i >= 0; i--)); do remove_group "${OUR_GROUPS[$i]}"; done
    [[ -n $WORK ]] || return 0
    if [[ ${KEEP:-0} == 1 ]]; then log "scratch kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Creates group $1 in hierarchy $2 unless it exists (co-mounted case).
make_group() {
    local d=$2/$1
    [[ -d $d ]] && return 0
    mkdir "$d"
    OUR_GROUPS+=("$d")
}
make_group "$GNAME-client" "$CPU_H"
make_group "$GNAME-client" "$ACCT_H"
for g in local daemons; do
    make_group "$GNAME-$g" "$CPU_H"
    make_group "$GNAME-$g" "$ACCT_H"
done
# cpu_group NAME: the quota/weight group a process of group NAME must enter
# besides its accounting group (none where they are the same hierarchy).
# Its output, a path without spaces or nothing, is used unquoted on purpose.
cpu_group() { if [[ $CPU_H != "$ACCT_H" ]]; then echo "$CPU_H/$GNAME-$1"; fi; }
# The quota: CLIENT_CPU per period. The most weight a group can have for
# the client: whatever else runs on the machine, it gets its quota when it
# wants it, as its own CPU would; with PRIORITY=1 for the daemons and the
# local build too.
if [[ $CG == v1 ]]; then
    PERIOD=$(cat "$CPU_H/$GNAME-client/cpu.cfs_period_us") WEIGHT_FILE=cpu.shares TOP_WEIGHT=262144
else
    PERIOD=100000 WEIGHT_FILE=cpu.weight TOP_WEIGHT=10000
fi
QUOTA=$(awk -v c="$CLIENT_CPU" -v p="$PERIOD" 'BEGIN { printf "%d", c * p }')
if [[ $CG == v1 ]]; then
    echo "$QUOTA" >"$CPU_H/$GNAME-client/cpu.cfs_quota_us"
else
    echo "$QUOTA $PERIOD" >"$CPU_H/$GNAME-client/cpu.max"
fi
for g in client $([[ $PRIORITY == 1 ]] && echo local daemons); do
    echo "$TOP_WEIGHT" >"$CPU_H/$GNAME-$g/$WEIGHT_FILE"
done

# --- scratch dir, daemons and cleanup ------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/distcc-weak.XXXXXX")
chmod 755 "$WORK"
mkdir -p "$WORK"/{data,log,src,tree,bin,sums,state}
chmod 777 "$WORK/log"

# --- set-up: packages and sources ---------------------------------------------------

# SUITE, ensure_deb_src (and free_port, wait_listening, ours_port).
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"
ensure_deb_src
missing=()
[[ -x $REF_CLIENT && -x $REF_DAEMON ]] || missing+=(distcc)
[[ -d /usr/share/unicode ]] || missing+=(unicode-data)
command -v dpkg-source >/dev/null || missing+=(dpkg-dev)
command -v objcopy >/dev/null || missing+=(binutils)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

fetch_project_sources "$WORK/src" "$WORK/log/apt.log" zstd re2

# --- our binary and the wrapper -------------------------------------------------------

log "building ours (cargo build --release)"
(cd "$ROOT" && cargo build --release --quiet)
OURS=$ROOT/target/release/distcc
ln -s "$OURS" "$WORK/bin/distccd"
COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=
if [[ -n $(cd "$ROOT" && git status --porcelain --untracked-files=no 2>/dev/null) ]]; then DIRTY=" (with uncommitted changes)"; fi

# The accounting wrapper (acct-exec.c beside this script): CC="$WRAP client
# gcc" moves each invocation into $DWB_JOBS/c.PID (a compile) or l.PID
# (anything else) of the accounting hierarchy before it execs the client. On
# a co-mounted or v2 hierarchy $DWB_JOBS is below the quota group, so the job
# stays confined. Static where the C library allows: a cheaper exec.
WRAP=$WORK/bin/acct-exec
gcc -O2 -static -o "$WRAP" "$ROOT/benches/acct-exec.c" 2>/dev/null ||
    gcc -O2 -o "$WRAP" "$ROOT/benches/acct-exec.c"

# `sh -c "$ENTER" sh GROUP... -- COMMAND...` runs COMMAND inside the cgroups.
# shellcheck disable=SC2016 # expanded by that sh
ENTER='while [ "$1" != -- ]; do echo $$ >"$1/cgroup.procs"; shift; done; shift; exec "$@"'

DGROUP=$ACCT_H/$GNAME-daemons
REF_PORTS=() OURS_PORTS=()
for k in 1 2; do
    port=$(free_port)
    sh -c "$ENTER" sh $(cpu_group daemons) "$DGROUP" -- "$REF_DAEMON" --daemon --no-detach --listen 127.0.0.1 --port "$port" \
        --allow 127.0.0.1 --jobs "$PER_HOST" --log-file "$WORK/log/ref$k.log" &
    DAEMON_PIDS+=($!)
    wait_listening "$port" || die "the reference daemon did not start"
    REF_PORTS+=("$port")
    : >"$WORK/log/ours$k.log"
    sh -c "$ENTER" sh $(cpu_group daemons) "$DGROUP" -- "$WORK/bin/distccd" --daemon --no-detach --listen 127.0.0.1 --port 0 \
        --jobs "$PER_HOST" --log-stderr 2>"$WORK/log/ours$k.log" &
    DAEMON_PIDS+=($!)
    port=$(ours_port "$WORK/log/ours$k.log") || die "our daemon did not start"
    OURS_PORTS+=("$port")
done
log "daemons: reference on ${REF_PORTS[*]}, ours on ${OURS_PORTS[*]}"

# --- one build ---------------------------------------------------------------------------

# Busy CPU time of the whole machine so far, in ns (all but idle and iowait).
machine_busy_ns() {
    awk '$1 == "cpu" { printf "%.0f\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1e9 / '"$(getconf CLK_TCK)"' }' /proc/stat
}
load1() { cut -d' ' -f1 /proc/loadavg; }
# With QUIET=C, waits (at most QUIET_WAIT seconds) until the machine's busy
# CPU over 3 s is below C CPUs: others' builds then overlap fewer of ours.
wait_quiet() {
    [[ -n ${QUIET:-} ]] || return 0
    local deadline=$((SECONDS + ${QUIET_WAIT:-120})) a b
    while ((SECONDS < deadline)); do
        a=$(machine_busy_ns)
        sleep 3
        b=$(machine_busy_ns)
        awk -v d=$((b - a)) -v q="$QUIET" 'BEGIN { exit !(d / 3e9 < q) }' && return 0
    done
    log "machine still busy after ${QUIET_WAIT:-120} s; measuring anyway"
}
sum_jobs() { # prefix: prints "COUNT NS" over $b/prefix.* groups
    local n=0 s=0 d
    for d in "$1"/"$2".*; do
        [[ -d $d ]] || continue
        n=$((n + 1)) s=$((s + $(usage_ns "$d")))
    done
    echo "$n $s"
}
# The daemons' CPU every 100 ms while a build runs, as "MS NS" lines (ms
# since $1, the build's start in ns; the daemons' CPU in ns) into $2.
# Forks nothing, so it takes next to no CPU from the daemons it watches: a
# read that times out on a FIFO nobody writes is its sleep.
sample_daemons() {
    local t0=$1 out=$2 fd u k v
    [[ -p $WORK/tick ]] || mkfifo "$WORK/tick"
    exec {fd}<>"$WORK/tick"
    while :; do
        if [[ $CG == v1 ]]; then
            read -r u <"$DGROUP/cpuacct.usage"
        else
            while read -r k v; do [[ $k == usage_usec ]] && u=$((v * 1000)); done <"$DGROUP/cpu.stat"
        fi
        echo "$(((${EPOCHREALTIME/./} * 1000 - t0) / 1000000)) $u"
        read -r -t 0.1 -u "$fd" _ || true
    done >"$out"
}
# Where a build's wall time went, from the samples ($1) and its wall ms
# ($2): "HEAD TAIL SATURATED" in ms: until the daemons first ran a compile
# (0.5 CPU or more over a sample), after they last did, and how long they
# used at least 90% of what the client's quota leaves of the machine.
phases() {
    awk -v wall="$2" -v full="$(awk -v c="$CORES" -v q="$CLIENT_CPU" 'BEGIN { print 0.9 * (c - q) }')" '
        NR > 1 && $1 > t {
            cpus = ($2 - u) / 1e6 / ($1 - t)
            if (cpus >= 0.5) { if (first == "") first = t; last = $1 }
            if (cpus >= full) sat += $1 - t
        }
        { t = $1; u = $2 }
        END {
            if (first == "") { print "-1 -1 0"; exit }
            tail = wall - last; if (tail < 0) tail = 0
            printf "%d %d %d\n", first, tail, sat
        }' "$1"
}
# Ends the scan agents a configuration's earlier builds left in its
# DISTCC_DIR ($1): an agent runs in the accounting group of the job that
# started it, so each build starts its own and pays for it.
end_scan_agents() {
    local log=$1/cache/scan-agent.log pid
    [[ -f $log ]] || return 0
    while read -r pid _; do
        [[ $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") == distcc-scan-agent* ]] || continue
        kill "$pid" 2>/dev/null || continue
        tail --pid="$pid" -f /dev/null
    done <"$log"
}
BUILD_SEQ=0
# Builds project $1 in configuration $2 (round $3) from a fresh copy of
# the sources, and appends one line to $WORK/data/builds.tsv.
run_build() {
    local proj=$1 cfg=$2 round=$3 i prefix groups b env_words=() tree
    local t0 t1 busy0 busy1 d0 d1 l0 l1 total nc sc nl sl
    tree=$WORK/tree/$proj
    rm -rf "$tree"
    cp -a "$WORK/src/$proj" "$tree"
    BUILD_SEQ=$((BUILD_SEQ + 1))
    if [[ $cfg == local ]]; then
        b=$ACCT_H/$GNAME-local/b$BUILD_SEQ
        mkdir "$b"
        groups=($(cpu_group local) "$b")
        prefix=$WRAP
        env_words=(-u DISTCC_HOSTS)
    else
        i=$(cfg_index "$cfg")
        b=$ACCT_H/$GNAME-client/b$BUILD_SEQ
        mkdir "$b"
        groups=($(cpu_group client) "$b")
        local opts=${CFG_OPTS[$i]} ports hosts=""
        if [[ ${CFG_CLIENT[$i]} == ref ]]; then
            prefix="$WRAP $REF_CLIENT" ports=("${REF_PORTS[@]}")
        else
            prefix="$WRAP $OURS" ports=("${OURS_PORTS[@]}")
        fi
        for p in "${ports[@]}"; do hosts+="${hosts:+ }127.0.0.1:$p/$PER_HOST$opts"; done
        mkdir -p "$WORK/state/$cfg"
        end_scan_agents "$WORK/state/$cfg"
        # shellcheck disable=SC2206 # the environment column is a word list
        env_words=(DISTCC_DIR="$WORK/state/$cfg" DISTCC_HOSTS="$hosts" DISTCC_FALLBACK=0 ${CFG_ENV[$i]})
    fi
    local mk
    read -ra mk <<<"$(project_make "$proj")"
    wait_quiet
    l0=$(load1)
    log "round $round/$RUNS: $proj, $cfg (load $l0)"
    busy0=$(machine_busy_ns) d0=$(usage_ns "$DGROUP") t0=$(date +%s%N)
    sample_daemons "$t0" "$WORK/data/samples.$BUILD_SEQ" &
    local sampler=$!
    if ! env "${env_words[@]}" DWB_JOBS="$b" sh -c "$ENTER" sh "${groups[@]}" -- \
        "${mk[@]}" "$(project_compiler_var "$proj")=$prefix $(project_compiler "$proj")" \
        >"$WORK/log/$proj.$cfg.log" 2>&1; then
        tail -30 "$WORK/log/$proj.$cfg.log" >&2
        die "build failed: $proj $cfg"
    fi
    t1=$(date +%s%N) d1=$(usage_ns "$DGROUP") busy1=$(machine_busy_ns)
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    local head tail sat
    read -r head tail sat < <(phases "$WORK/data/samples.$BUILD_SEQ" $(((t1 - t0) / 1000000)))
    l1=$(load1)
    total=$(usage_ns "$b")
    read -r nc sc < <(sum_jobs "$b" c)
    read -r nl sl < <(sum_jobs "$b" l)
    remove_group "$b"
    printf '%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%d\t%d\n' "$proj" "$cfg" "$round" \
        $(((t1 - t0) / 1000000)) "$total" "$sc" "$nc" "$sl" "$nl" $((d1 - d0)) \
        $((busy1 - busy0 - total - (d1 - d0))) "$l0" "$l1" "$head" "$tail" "$sat" >>"$WORK/data/builds.tsv"
    if [[ $cfg == local ]]; then
        if objdump -h "$(find "$tree" -name '*.o' | head -1)" | grep -q '\.debug_info'; then
            echo 1 >"$WORK/data/$proj.debug"
        else
            echo 0 >"$WORK/data/$proj.debug"
        fi
    fi
    object_sums "$tree" plain "$WORK/strip.o" >"$WORK/sums/$proj.$cfg.$round.plain"
    if [[ $cfg == local ]] || [[ ${CFG_FID[$(cfg_index "$cfg")]} == classic ]]; then
        object_sums "$tree" strip "$WORK/strip.o" >"$WORK/sums/$proj.$cfg.$round.strip"
    fi
}

# --- the wrapper's own cost -----------------------------------------------------------------

# WRAP_N invocations of /bin/true in an unconfined group: bare, through the
# wrapper, and through the wrapper stopping right after its move. The
# second less the first is what the wrapper adds to the client group (its
# own exec and the move: make-and-shell time, as it happens before the
# move); the third's job groups hold what it leaves inside a job (the end
# of the write and the exit), to compare with the client's CPU per job.
wrap_cost() { # name env-words prefix: prints "TOTAL_NS JOBS_NS JOBS"
    local b n s total
    b=$ACCT_H/$GNAME-local/wrap$1
    mkdir "$b"
    # shellcheck disable=SC2086 # $2 and $3 are word lists
    env DWB_JOBS="$b" $2 sh -c "$ENTER" sh "$b" -- sh -c \
        'i=0; while [ $i -lt '"$WRAP_N"' ]; do '"$3"' /bin/true -c x.c; i=$((i + 1)); done'
    total=$(usage_ns "$b")
    read -r n s < <(sum_jobs "$b" c)
    remove_group "$b"
    echo "$total $s $n"
}
read -r BARE_NS _ _ < <(wrap_cost bare "" "")
read -r WRAPPED_NS _ WRAP_JOBS_N < <(wrap_cost wrapped "" "$WRAP")
read -r _ TAIL_NS _ < <(wrap_cost tail DWB_MEASURE=1 "$WRAP")
[[ $WRAP_JOBS_N == "$WRAP_N" ]] || die "wrapper check: $WRAP_JOBS_N job groups for $WRAP_N invocations"
WRAP_ADDS_US=$(((WRAPPED_NS - BARE_NS) / WRAP_N / 1000))
WRAP_IN_JOB_US=$((TAIL_NS / WRAP_N / 1000))
log "wrapper: adds ${WRAP_ADDS_US} us per invocation, ${WRAP_IN_JOB_US} us of it in the job group"

# --- the rounds -------------------------------------------------------------------------------

rotate() { # rotates "$@" by $ROUND, so no configuration always goes first
    local k=$((ROUND % $#)) a=("$@")
    echo "${a[@]:k}" "${a[@]:0:k}"
}
START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
START_TIME=$(date +%s)
for ((ROUND = 0; ROUND < RUNS; ROUND++)); do
    for proj in $PROJECTS; do
        for cfg in $(rotate local "${CFG_NAMES[@]}"); do
            run_build "$proj" "$cfg" $((ROUND + 1))
        done
    done
done
END_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - START_TIME))

# --- same objects as local, and the report ---------------------------------------------------

# shellcheck source=benches/weak-client-report.sh
. "$ROOT/benches/weak-client-report.sh"
