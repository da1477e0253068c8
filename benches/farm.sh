#!/usr/bin/env bash
# awk programs are single-quoted on purpose.
# shellcheck disable=SC2016
# Benchmark: many clients, many volunteers. Three volunteers of different
# speed and two clients building at once, each machine in its own network
# namespace, compared with Debian's distcc 3.4 on the same set-up. It shows
# what placement costs: every client places its jobs alone, from its own
# lock files, taking the first free slot slot-number-major (slot 0 of each
# host in list order, then slot 1 ...). With the same host list, both
# clients start on the first host, every host gets the same number of
# jobs at once whatever its speed or the other client's load, and a job
# that lands on a slow host late holds up the end of the build. Writes
# its own section of benches/RESULTS.md (between the farm markers).
#
# The farm (benches/farm-net.sh, benches/farm-setup.sh): a bridge in a hub
# namespace; each volunteer and each client is a namespace with one veth
# to it and an address in 10.77.0.0/24 that exists only there (no route
# out, the host's own network untouched). Volunteer k is confined by a
# cgroup CPU quota (VOLUNTEER_CPUS, default 1.0, 0.5 and 0.25 CPU) and runs
# both daemons, ours on port 3632 and distcc 3.4's on 3642, each with
# --jobs VOL_JOBS; only one of them gets work at a time. Client k is
# confined to CLIENT_CPU (a developer's busy workstation) and builds the
# k-th project of PROJECTS with `make -jJ` and its own DISTCC_DIR, listing
# the volunteers in the same order as the other client, each with
# /HOST_LIMIT. Both builds start together.
#
# What it measures, per configuration, in rotating order:
#   - the wall time of both builds together (start to the end of the
#     later one), and of each;
#   - per volunteer: its CPU (cpuacct of its group, daemon and compilers),
#     its idle capacity (wall - CPU / quota: quota it could have used and
#     did not), the share of samples (every 0.5 s) in which no compiler ran
#     there, and the jobs it served (from its daemon's log: distcc 3.4's
#     COMPILE_OK lines, our "status N" lines), whose sum is checked against
#     the jobs the builds needed (none may have run locally);
#   - that every object is as the local build's (byte-identical, or after
#     strip-debug for -g objects: classic distcc compiles in the daemon's
#     directory);
#   - the load average before and after, and the CPU others used meanwhile.
# By default the volunteers' order in DISTCC_HOSTS rotates with the round
# (ORDER=rotate): round 1 lists the fastest first, round 2 the middle one,
# round 3 the slowest; the per-round table shows each.
#
# Scenario hooks (a volunteer that appears mid-build through DNS, one that
# is drained with SIGTERM mid-build) are benches/farm-scenarios.sh; the way
# a name resolves to many addresses inside the namespaces without touching
# system files is described in benches/farm-net.sh.
#
# Knobs (environment; the farm's own are listed in benches/farm-setup.sh:
# VOLUNTEER_CPUS, VOL_JOBS, HOST_LIMIT, CLIENT_CPU, J, PROJECTS,
# LATENCY_MS, KEEP):
#   RUNS=3        rounds (medians are reported); QUICK=1: RUNS=1
#   ONLY="..."    configurations (ref ours lzo)
#   ORDER=rotate  or a fixed list of volunteers, e.g. "3 1 2"
#   OUT=...       the results file (default benches/RESULTS.md)
#   NOTE=...      a sentence added to the report
#
# Needs: root, ip (iproute2), nsenter/unshare (util-linux), cgroup v1 with
# cpu and cpuacct or v2 with the cpu controller; cargo, gcc, g++, make,
# apt-get. Adds a deb-src entry if apt has none (see benches/lib.sh) and
# installs distcc, unicode-data, dpkg-dev, binutils if missing. Removes
# every namespace, veth, cgroup and process it made on exit, including on
# SIGINT and SIGTERM.

set -euo pipefail

CONFIGS=(
    "ref|ref||distcc 3.4"
    "ours|ours|,classic|ours"
    "lzo|ours|,lzo,classic|ours ,lzo"
)

log() { printf '[farm %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { echo "farm: $*" >&2; exit 2; }

# shellcheck source=benches/farm-setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/farm-setup.sh"

COMMAND_LINE="$(for v in RUNS QUICK ONLY ORDER VOLUNTEER_CPUS VOL_JOBS HOST_LIMIT CLIENT_CPU J PROJECTS LATENCY_MS; do if [[ -n ${!v:-} ]]; then printf '%s=%q ' "$v" "${!v}"; fi; done)benches/farm.sh"
[[ ${QUICK:-0} == 1 ]] && RUNS=${RUNS:-1}
RUNS=${RUNS:-3}
ORDER=${ORDER:-rotate}
OUT=${OUT:-$ROOT/benches/RESULTS.md}
CORES=$(nproc)
NVOL=${#VOL_CPU[@]}
NCLIENT=${#CLIENT_PROJ[@]}

CFG_NAMES=() CFG_CLIENT=() CFG_OPTS=() CFG_LABEL=()
for line in "${CONFIGS[@]}"; do
    IFS='|' read -r name client opts label <<<"$line"
    if [[ -n ${ONLY:-} && " $ONLY " != *" $name "* ]]; then continue; fi
    CFG_NAMES+=("$name") CFG_CLIENT+=("$client") CFG_OPTS+=("$opts") CFG_LABEL+=("$label")
done
((${#CFG_NAMES[@]} > 0)) || die "ONLY=$ONLY selects no configuration"
cfg_index() {
    local i
    for i in "${!CFG_NAMES[@]}"; do [[ ${CFG_NAMES[$i]} == "$1" ]] && { echo "$i"; return; }; done
    return 1
}
# The fastest volunteer (the largest quota; the first of equals).
FASTEST=$(for k in "${!VOL_CPU[@]}"; do echo "$((k + 1)) ${VOL_CPU[$k]}"; done | sort -k2,2gr -s | head -1 | cut -d' ' -f1)


# --- set-up ------------------------------------------------------------------------

FARM=dfarm-$$
farm_workdir
farm_init
farm_packages
farm_sources
farm_ours
farm_local_builds
for ((k = 1; k <= NVOL; k++)); do farm_volunteer "$k"; done
for ((k = 1; k <= NCLIENT; k++)); do farm_client "$k"; done
log "farm: volunteers ${VOLUNTEER_CPUS// /, } CPU; clients ${PROJECTS// /, } at $CLIENT_CPU CPU each"

# --- one measurement -------------------------------------------------------------------

machine_busy_ns() {
    awk '$1 == "cpu" { printf "%.0f\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1e9 / '"$(getconf CLK_TCK)"' }' /proc/stat
}
load1() { cut -d' ' -f1 /proc/loadavg; }

# Every 0.5 s, one line: the number of compilers (cc1, cc1plus) running in
# each volunteer's group. Runs until killed.
sampler() {
    local k n p c line
    while :; do
        line=
        for ((k = 1; k <= NVOL; k++)); do
            n=0
            for p in $(farm_group_pids "v$k"); do
                c=
                read -r c 2>/dev/null <"/proc/$p/comm" || continue
                case $c in cc1 | cc1plus) n=$((n + 1)) ;; esac
            done
            line+="${line:+ }$n"
        done
        echo "$line"
        sleep 0.5
    done
}

# The compile jobs a build needs: the objects of the local build.
jobs_needed() {
    local k n=0
    for ((k = 1; k <= NCLIENT; k++)); do n=$((n + $(wc -l <"$WORK/sums/${CLIENT_PROJ[$((k - 1))]}.plain"))); done
    echo "$n"
}

# measure CFG ROUND ORDER...: both builds at once with the volunteers
# listed in ORDER; one line of $WORK/data/runs.tsv (columns in the report).
measure() {
    local cfg=$1 round=$2 i kind opts hosts k t0 t_end l0 l1 b0 b1 samp spid
    shift 2
    local order=("$@") pids=() ends=() cpu0=() cpu1=() jobs0=() jobs1=() walls=() objs=()
    i=$(cfg_index "$cfg")
    kind=${CFG_CLIENT[$i]} opts=${CFG_OPTS[$i]}
    hosts=$(farm_hosts "$kind" "$opts" "${order[@]}")
    for ((k = 1; k <= NVOL; k++)); do
        cpu0[k]=$(farm_usage_ns "v$k")
        jobs0[k]=$(farm_jobs_in_log "$kind" "$WORK/log/v$k.$kind.log")
    done
    l0=$(load1) b0=$(machine_busy_ns)
    log "round $round/$RUNS: $cfg, hosts in order ${order[*]} (load $l0)"
    samp=$WORK/data/samples.$cfg.$round
    sampler >"$samp" &
    spid=$!
    t0=$(date +%s%N)
    for ((k = 1; k <= NCLIENT; k++)); do
        farm_build_start "$k" "${CLIENT_PROJ[$((k - 1))]}" "$kind" "$hosts" "$WORK/tree/c$k"
        pids[k]=$BUILD_PID
    done
    # wait -n -p: each build's end as it happens, whichever ends first.
    local failed=0 done_pid st ccpu0=() ccpu=()
    for ((k = 1; k <= NCLIENT; k++)); do ccpu0[k]=$(farm_usage_ns "c$k"); done
    local left=("${pids[@]:1}")
    while ((${#left[@]})); do
        st=0
        wait -n -p done_pid "${left[@]}" || st=$?
        for ((k = 1; k <= NCLIENT; k++)); do
            [[ ${pids[$k]} == "$done_pid" ]] || continue
            ends[k]=$(date +%s%N)
            ((st == 0)) || failed=$k
        done
        for i in "${!left[@]}"; do [[ ${left[$i]} != "$done_pid" ]] || unset 'left[i]'; done
    done
    t_end=$(date +%s%N)
    kill "$spid"
    wait "$spid" 2>/dev/null || true
    FARM_PGIDS=()
    if ((failed)); then
        tail -30 "$WORK/tree/c$failed.log" >&2
        die "client $failed's build failed ($cfg)"
    fi
    b1=$(machine_busy_ns) l1=$(load1)
    for ((k = 1; k <= NVOL; k++)); do
        cpu1[k]=$(($(farm_usage_ns "v$k") - cpu0[k]))
        jobs1[k]=$(($(farm_jobs_in_log "$kind" "$WORK/log/v$k.$kind.log") - jobs0[k]))
    done
    for ((k = 1; k <= NCLIENT; k++)); do
        walls[k]=$(((ends[k] - t0) / 1000000))
        ccpu[k]=$(($(farm_usage_ns "c$k") - ccpu0[k]))
        objs[k]=$(farm_check_objects "${CLIENT_PROJ[$((k - 1))]}" "$WORK/tree/c$k" || true)
    done
    # Sampled idle share and mean running compilers per volunteer.
    local idle busy
    idle=$(awk '{ for (k = 1; k <= NF; k++) { if ($k == 0) z[k]++; s[k] += $k } n++ }
        END { for (k = 1; k <= NF; k++) printf "%s%.3f", (k > 1 ? "," : ""), z[k] / n }' "$samp")
    busy=$(awk '{ for (k = 1; k <= NF; k++) s[k] += $k; n++ }
        END { for (k = 1; k <= NF; k++) printf "%s%.2f", (k > 1 ? "," : ""), s[k] / n }' "$samp")
    local IFS=,
    printf '%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n' "$cfg" "$round" "${order[*]}" \
        $(((t_end - t0) / 1000000)) "${walls[*]:1}" "${cpu1[*]:1}" "${jobs1[*]:1}" "$idle" "$busy" \
        "${objs[*]:1}" "$l0" "$l1" $((b1 - b0)) "${ccpu[*]:1}" >>"$WORK/data/runs.tsv"
    unset IFS
}

# --- the rounds ------------------------------------------------------------------------

rotate() { # rotates "$@" by $ROUND
    local k=$((ROUND % $#)) a=("$@")
    echo "${a[@]:k}" "${a[@]:0:k}"
}
START_UPTIME=$(uptime | sed 's/^ *//')
START_TIME=$(date +%s)
# With ORDER=rotate, round r lists the volunteers from the r-th by speed.
read -ra BY_SPEED <<<"$(for k in "${!VOL_CPU[@]}"; do echo "$((k + 1)) ${VOL_CPU[$k]}"; done | sort -k2,2gr -s | cut -d' ' -f1 | paste -sd' ')"
for ((ROUND = 0; ROUND < RUNS; ROUND++)); do
    if [[ $ORDER == rotate ]]; then
        read -ra order <<<"$(rotate "${BY_SPEED[@]}")"
    else
        read -ra order <<<"$ORDER"
    fi
    for cfg in $(rotate "${CFG_NAMES[@]}"); do
        measure "$cfg" $((ROUND + 1)) "${order[@]}"
    done
done
END_UPTIME=$(uptime | sed 's/^ *//')
ELAPSED=$(($(date +%s) - START_TIME))
JOBS_NEEDED=$(jobs_needed)

# shellcheck source=benches/farm-report.sh
. "$ROOT/benches/farm-report.sh"
