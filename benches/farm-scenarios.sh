#!/usr/bin/env bash
# awk programs are single-quoted on purpose.
# shellcheck disable=SC2016
# Scenario hooks on the farm of benches/farm.sh (the same namespaces,
# quotas and projects; see benches/farm-setup.sh for the farm's knobs):
# volunteers that come and go mid-build. Each scenario runs the clients'
# builds once, prints what happened and whether issue 20's check holds,
# and the script exits 1 if a check failed. Results go to their own
# section of benches/RESULTS.md (between the farm-scenarios markers).
#
#   add    The clients' DISTCC_HOSTS names one DNS name, farm.test, that
#          resolves to volunteers 1-3. Once the volunteers have served
#          AFTER jobs, a fourth volunteer (namespace, cgroup of ADD_CPU,
#          daemons) starts and is added to the name's answer. Check: it
#          serves jobs before the builds end.
#   dns    No build: checks the name mechanisms themselves inside a
#          client's namespaces (with DNS=hosts and, if dnsmasq is
#          installed, DNS=dnsmasq): farm.test first resolves to volunteers
#          1-3, then, after the change the add scenario makes, to 1-4, in
#          order; with dnsmasq the SRV records follow; the machine's own
#          /etc/hosts and /etc/resolv.conf are unchanged.
#   drain  The clients list volunteers 1-3. Once they have served AFTER
#          jobs, volunteer DRAIN (default the fastest) gets SIGTERM. Check:
#          no job is lost (the builds run with DISTCC_FALLBACK=0 and make
#          -k, so a lost job is a failed compile and a missing object),
#          and the daemon exits once its running jobs are done.
#
# How farm.test resolves (DNS=hosts, the default; see farm-net.sh): each
# client runs in a private mount namespace where a scratch file is
# bind-mounted over /etc/hosts, listing one line per volunteer; glibc's
# getaddrinfo returns every line's address, in order, and reads the file
# at each lookup. Adding the volunteer bind-mounts a new file on top, from
# inside each client's mount namespace, which is atomic. The script checks
# the mechanism itself with getent inside a client's namespaces, so a
# failed check means the client did not use the new address, not that it
# could not see it. With DNS=dnsmasq (Debian's dnsmasq-base), a DNS server
# in the hub namespace answers farm.test (A records, re-read on SIGHUP) and
# _distcc._tcp.farm.test (SRV records, one per volunteer, port 3632), and
# each client's /etc/resolv.conf is bind-mounted to point at it; the
# script checks the SRV answer with a minimal DNS query in Python.
# HOSTS_ENTRY replaces the DISTCC_HOSTS entry (e.g. for an SRV syntax).
#
# Knobs (environment):
#   AFTER=20        jobs served before the volunteer comes or goes
#   KIND=ours       ours, ref (distcc 3.4's client and daemons) or both
#                   ("ours ref": each scenario runs for each)
#   OPTS=,lzo       host options appended to each host
#   ADD_CPU=0.5     the added volunteer's quota
#   DRAIN=          the drained volunteer (default the fastest)
#   DNS=hosts       or dnsmasq (add only)
#   HOSTS_ENTRY=    the add scenario's DISTCC_HOSTS (default
#                   farm.test:PORT/HOST_LIMIT$OPTS)
#   PROJECTS="zstd zstd"  (here the default is the shorter pair)
#   OUT, NOTE, KEEP as in farm.sh
# Usage: benches/farm-scenarios.sh [dns] [add] [drain]   (all by default)

set -euo pipefail

log() { printf '[farm-scenario %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { echo "farm-scenarios: $*" >&2; exit 2; }

PROJECTS=${PROJECTS:-zstd zstd}
# shellcheck source=benches/farm-setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/farm-setup.sh"

SCENARIOS=("$@")
((${#SCENARIOS[@]})) || SCENARIOS=(dns add drain)
AFTER=${AFTER:-20}
KINDS=${KIND:-ours}
OPTS=${OPTS-,lzo}
ADD_CPU=${ADD_CPU:-0.5}
DNS=${DNS:-hosts}
OUT=${OUT:-$ROOT/benches/RESULTS.md}
NVOL=${#VOL_CPU[@]}
NCLIENT=${#CLIENT_PROJ[@]}
for KIND in $KINDS; do [[ $KIND == ours || $KIND == ref ]] || die "KIND=$KIND: ours, ref or both"; done
DRAIN=${DRAIN:-$(for k in "${!VOL_CPU[@]}"; do echo "$((k + 1)) ${VOL_CPU[$k]}"; done | sort -k2,2gr -s | head -1 | cut -d' ' -f1)}
BUILDS=0
for s in "${SCENARIOS[@]}"; do
    case $s in dns) ;; add | drain) BUILDS=1 ;; *) die "unknown scenario $s (dns, add, drain)" ;; esac
done
[[ $DNS == hosts || $DNS == dnsmasq ]] || die "DNS=$DNS: hosts or dnsmasq"

FARM=dfarm-$$
farm_workdir
farm_init
farm_packages
if [[ $DNS == dnsmasq ]] && ! command -v dnsmasq >/dev/null; then
    log "installing dnsmasq-base"
    apt-get install -y -qq dnsmasq-base >/dev/null
fi
farm_ours
if ((BUILDS)); then
    farm_sources
    farm_local_builds
    for ((k = 1; k <= NVOL; k++)); do farm_volunteer "$k"; done
fi
for ((k = 1; k <= NCLIENT; k++)); do farm_client "$k"; done

jobs_served() { # jobs the daemons of KIND served so far, over volunteers $@
    local k n=0
    for k in "$@"; do n=$((n + $(farm_jobs_in_log "$KIND" "$WORK/log/v$k.$KIND.log"))); done
    echo "$n"
}
# Polls (bounded by the builds: it returns when they are over) until the
# volunteers $@ have served AFTER jobs more than BASE. Returns 1 if the
# builds ended first.
wait_for_jobs() {
    local base=$1
    shift
    while (($(jobs_served "$@") - base < AFTER)); do
        builds_running || return 1
        sleep 0.2
    done
}
# Whether a build is still running (a finished one is a zombie until waited).
builds_running() {
    local p
    for p in "${PIDS[@]}"; do
        [[ $(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null) =~ ^[^Z]$ ]] && return 0
    done
    return 1
}
# Starts every client's build; PIDS gets their pids.
start_builds() {
    local hosts=$1 k
    shift
    PIDS=()
    for ((k = 1; k <= NCLIENT; k++)); do
        farm_build_start "$k" "${CLIENT_PROJ[$((k - 1))]}" "$KIND" "$hosts" "$WORK/tree/c$k" "$@"
        PIDS+=("$BUILD_PID")
    done
}
# Waits for the builds; sets BUILDS_FAILED (how many) and OBJECTS.
finish_builds() {
    local k p
    OBJECTS="" BUILDS_FAILED=0
    for k in "${!PIDS[@]}"; do
        p=${PIDS[$k]}
        wait "$p" || BUILDS_FAILED=$((BUILDS_FAILED + 1))
        OBJECTS+="${OBJECTS:+; }$(farm_check_objects "${CLIENT_PROJ[$k]}" "$WORK/tree/c$((k + 1))" || true)"
    done
    FARM_PGIDS=()
}
# Compiles that failed in the builds (make -k goes on past them).
failed_compiles() {
    local k n=0
    for ((k = 1; k <= NCLIENT; k++)); do n=$((n + $(grep -c 'Error [0-9]' "$WORK/tree/c$k.log" || true))); done
    echo "$n"
}
# "N of M": the compile jobs the daemons served since mark_jobs (volunteers
# $@) of those the builds needed (one per object of the local builds; a
# job the client ran locally, by policy or as a fallback, is not served).
served_of_needed() {
    local k n=0 m=0
    for k in "$@"; do n=$((n + $(farm_jobs_in_log "$KIND" "$WORK/log/v$k.$KIND.log") - ${JOBS_MARK[$k]:-0})); done
    for ((k = 0; k < NCLIENT; k++)); do m=$((m + $(wc -l <"$WORK/sums/${CLIENT_PROJ[$k]}.plain"))); done
    echo "$n of $m"
}
objects_ok() { awk -v s="$OBJECTS" 'BEGIN { n = split(s, a, "; "); for (k = 1; k <= n; k++) { split(a[k], p, "[/ ]"); if (p[1] != p[2]) exit 1 } }'; }
# jobs_since VOLUNTEER...: "vK N / ..." for the jobs each served since
# mark_jobs (a volunteer added since then counts from zero).
declare -A JOBS_MARK=()
mark_jobs() { local k; for ((k = 1; k <= NVOL + 2; k++)); do JOBS_MARK[$k]=$(farm_jobs_in_log "$KIND" "$WORK/log/v$k.$KIND.log" 2>/dev/null); done; }
jobs_since() {
    local k out=""
    for k in "$@"; do out+="${out:+ / }v$k $(($(farm_jobs_in_log "$KIND" "$WORK/log/v$k.$KIND.log") - ${JOBS_MARK[$k]:-0}))"; done
    echo "$out"
}

RESULTS=() FAILED=0 ADDED=0

# --- add -----------------------------------------------------------------------------

# A minimal DNS query from node $1 (the SRV records of $2 from server $3), printing
# "priority weight port target" lines: Python's standard library has no
# resolver for SRV, and this check must not need another package.
srv_query() {
    nsenter --net="$(farm_ns "$1")" python3 - "$2" "$3" <<'PY'
import random, socket, struct, sys
name, server = sys.argv[1], sys.argv[2]
qid = random.randrange(65536)
q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 33, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(q, (server, 53))
r = s.recv(4096)
def skip_name(b, i):
    while b[i]:
        if b[i] >= 192:
            return i + 2
        i += b[i] + 1
    return i + 1
def read_name(b, i):
    out = []
    while b[i]:
        if b[i] >= 192:
            return ".".join(out + [read_name(b, ((b[i] & 63) << 8) | b[i + 1])])
        out.append(b[i + 1:i + 1 + b[i]].decode())
        i += b[i] + 1
    return ".".join(out)
an = struct.unpack(">H", r[6:8])[0]
i = skip_name(r, 12) + 4
for _ in range(an):
    i = skip_name(r, i)
    typ, _, _, rdlen = struct.unpack(">HHIH", r[i:i + 10])
    i += 10
    if typ == 33:
        pri, wt, port = struct.unpack(">HHH", r[i:i + 6])
        print(pri, wt, port, read_name(r, i + 6))
    i += rdlen
PY
}

# Writes the DNS answer for volunteers $@: the hosts file (DNS=hosts), or
# dnsmasq's A and SRV records.
dns_publish() {
    local n=$1 k
    shift
    farm_hosts_file "$WORK/dns/hosts.$n" farm.test "$@"
    [[ $DNS == dnsmasq ]] || return 0
    for k in "$@"; do printf '%s.%s\tv%s.farm.test farm.test\n' "$FARM_NET" "$k" "$((k - 10))"; done >"$WORK/dns/addn.$n"
    {
        echo "addn-hosts=$WORK/dns/addn.$n"
        for k in "$@"; do echo "srv-host=_distcc._tcp.farm.test,v$((k - 10)).farm.test,$PORT"; done
    } >"$WORK/dns/dnsmasq.$n.conf"
}

scenario_add() {
    local entry base failed t0 t_add t1 resolved srv="" k
    # Each run adds a volunteer of its own (one per KIND).
    k=$((NVOL + 1 + ADDED))
    ADDED=$((ADDED + 1))
    log "scenario add ($KIND): farm.test = volunteers 1-$NVOL; volunteer $k joins after $AFTER jobs"
    dns_publish 1 $(seq 11 $((10 + NVOL)))
    if [[ $DNS == dnsmasq ]]; then
        farm_dnsmasq_restart "$WORK/dns/dnsmasq.1.conf"
        printf 'nameserver %s.1\noptions attempts:5 timeout:1\n' "$FARM_NET" >"$WORK/dns/resolv.conf"
        # The clients resolve through the server: their /etc/hosts lacks the name.
        farm_hosts_file "$WORK/dns/hosts.1" localhost
        export BUILD_RESOLV_CONF=$WORK/dns/resolv.conf
    fi
    entry=${HOSTS_ENTRY:-farm.test:$PORT/$HOST_LIMIT$OPTS}
    mark_jobs
    base=$(jobs_served $(seq 1 "$NVOL"))
    t0=$(date +%s%N)
    BUILD_HOSTS_FILE=$WORK/dns/hosts.1 start_builds "$entry"
    local added=0
    if wait_for_jobs "$base" $(seq 1 "$NVOL"); then
        farm_volunteer "$k" "$ADD_CPU"
        dns_publish 2 $(seq 11 $((10 + NVOL))) $((10 + k))
        if [[ $DNS == dnsmasq ]]; then
            farm_dnsmasq_restart "$WORK/dns/dnsmasq.2.conf"
            srv=$(srv_query c1 _distcc._tcp.farm.test "$FARM_NET.1" | sort | awk '{ print $4 ":" $3 }' | paste -sd' ')
        else
            for ((c = 1; c <= NCLIENT; c++)); do farm_rebind_hosts "$WORK/tree/c$c.pid" "$WORK/dns/hosts.2"; done
        fi
        t_add=$(date +%s%N)
        # What a lookup in client 1's namespaces now returns.
        resolved=$(nsenter --target "$(cat "$WORK/tree/c1.pid")" --mount --net getent ahostsv4 farm.test | awk '$2 == "STREAM" { print $1 }' | paste -sd' ')
        added=1
        log "volunteer $k added: farm.test now resolves to $resolved${srv:+; SRV $srv}"
    fi
    finish_builds
    failed=$BUILDS_FAILED
    t1=$(date +%s%N)
    local jobs_new=0 verdict when=""
    if ((added)); then
        jobs_new=$(farm_jobs_in_log "$KIND" "$WORK/log/v$k.$KIND.log")
        when=", $(((t_add - t0) / 1000000000)) s into the build"
    fi
    if ((added && jobs_new > 0 && failed == 0)) && objects_ok; then verdict=PASS; else verdict=FAIL FAILED=1; fi
    local shown
    mapfile -t shown < <(seq 1 "$NVOL")
    ((added)) && shown+=("$k")
    RESULTS+=("| add ($KIND, DNS=$DNS) | DISTCC_HOSTS=\"$entry\"; v$k ($ADD_CPU CPU) added after $AFTER jobs$when | lookups then returned: ${resolved:-(not added: the builds ended first)}${srv:+; SRV: $srv} | $(jobs_since "${shown[@]}"); served $(served_of_needed "${shown[@]}") | $failed failed build(s), $(failed_compiles) failed compile(s); objects: $OBJECTS; $(((t1 - t0) / 1000000000)) s | **$verdict**: the added volunteer served $jobs_new job(s) |")
}

# --- dns -----------------------------------------------------------------------------

# resolve_in PIDFILE: the IPv4 addresses farm.test has for a process in
# that mount namespace and client 1's network namespace, in order.
resolve_in() {
    nsenter --target "$(cat "$1")" --mount --net getent ahostsv4 farm.test | awk '$2 == "STREAM" { print $1 }' | paste -sd' '
}
# A process that holds a client's mount namespace for the checks; its pid
# is in the pidfile once the binds are made (bounded wait).
hold_namespace() {
    local pidfile=$1 i
    rm -f "$pidfile"
    farm_run_resolving c1 "" "$2" "$pidfile" "${3:-}" sleep infinity &
    FARM_PIDS+=($!)
    for ((i = 0; i < 100; i++)); do [[ -s $pidfile ]] && return 0; sleep 0.05; done
    die "the namespace holder did not start"
}
expect() { # WHAT GOT WANT
    if [[ $2 == "$3" ]]; then echo "$1: $2"; else echo "$1: got '$2', expected '$3'"; fi
}
scenario_dns() {
    local sys0 sys1 modes=(hosts) mode got want3 want4 srv3 srv4 out=() pidfile DNS
    sys0=$(cat /etc/hosts /etc/resolv.conf | sha256sum)
    want3="$FARM_NET.11 $FARM_NET.12 $FARM_NET.13"
    want4="$want3 $FARM_NET.14"
    srv3="v1.farm.test:$PORT v2.farm.test:$PORT v3.farm.test:$PORT"
    srv4="$srv3 v4.farm.test:$PORT"
    command -v dnsmasq >/dev/null && modes+=(dnsmasq)
    for mode in "${modes[@]}"; do
        DNS=$mode
        pidfile=$WORK/dns/holder.$mode
        dns_publish 1 11 12 13
        if [[ $mode == hosts ]]; then
            hold_namespace "$pidfile" "$WORK/dns/hosts.1"
            out+=("$(expect "hosts, first" "$(resolve_in "$pidfile")" "$want3")")
            dns_publish 2 11 12 13 14
            farm_rebind_hosts "$pidfile" "$WORK/dns/hosts.2"
            out+=("$(expect "hosts, after the rebind" "$(resolve_in "$pidfile")" "$want4")")
        else
            printf 'nameserver %s.1\n' "$FARM_NET" >"$WORK/dns/resolv.conf"
            farm_hosts_file "$WORK/dns/hosts.none" localhost
            farm_dnsmasq_restart "$WORK/dns/dnsmasq.1.conf"
            hold_namespace "$pidfile" "$WORK/dns/hosts.none" "$WORK/dns/resolv.conf"
            out+=("$(expect "dnsmasq A, first" "$(resolve_in "$pidfile" | tr ' ' '\n' | sort -V | paste -sd' ')" "$want3")")
            got=$(srv_query c1 _distcc._tcp.farm.test "$FARM_NET.1" | awk '{ print $4 ":" $3 }' | sort | paste -sd' ')
            out+=("$(expect "dnsmasq SRV, first" "$got" "$srv3")")
            dns_publish 2 11 12 13 14
            farm_dnsmasq_restart "$WORK/dns/dnsmasq.2.conf"
            out+=("$(expect "dnsmasq A, after the restart" "$(resolve_in "$pidfile" | tr ' ' '\n' | sort -V | paste -sd' ')" "$want4")")
            got=$(srv_query c1 _distcc._tcp.farm.test "$FARM_NET.1" | awk '{ print $4 ":" $3 }' | sort | paste -sd' ')
            out+=("$(expect "dnsmasq SRV, after the restart" "$got" "$srv4")")
        fi
    done
    sys1=$(cat /etc/hosts /etc/resolv.conf | sha256sum)
    out+=("$(expect "the machine's /etc/hosts and /etc/resolv.conf" "$([[ $sys0 == "$sys1" ]] && echo unchanged || echo changed)" unchanged)")
    printf '%s\n' "${out[@]}" >&2
    local verdict=PASS
    [[ ${out[*]} != *expected* ]] || verdict=FAIL FAILED=1
    RESULTS+=("| dns ($(printf '%s' "${modes[0]}"; printf ', %s' "${modes[@]:1}")) | farm.test for volunteers 1-3, then 1-4, inside client 1's namespaces (no daemons) | $(printf '%s' "${out[0]}"; printf '; %s' "${out[@]:1}") | - | - | **$verdict** |")
}

# --- drain ---------------------------------------------------------------------------

scenario_drain() {
    local base failed pid t0 t_term t_exit t1 st=0 running before after
    log "scenario drain ($KIND): volunteer $DRAIN gets SIGTERM after $AFTER jobs"
    mark_jobs
    base=$(jobs_served $(seq 1 "$NVOL"))
    t0=$(date +%s%N)
    start_builds "$(farm_hosts "$KIND" "$OPTS" $(seq 1 "$NVOL"))" MAKEFLAGS=-k
    pid=${FARM_DAEMON[v$DRAIN.$KIND]}
    local termed=0
    if wait_for_jobs "$base" $(seq 1 "$NVOL"); then
        running=$(farm_group_pids "v$DRAIN" | while read -r p; do cat "/proc/$p/comm" 2>/dev/null; done | grep -cE '^(cc1|cc1plus)$' || true)
        before=$(farm_jobs_in_log "$KIND" "$WORK/log/v$DRAIN.$KIND.log")
        t_term=$(date +%s%N)
        kill -TERM "$pid"
        wait "$pid" || st=$?
        t_exit=$(date +%s%N)
        after=$(farm_jobs_in_log "$KIND" "$WORK/log/v$DRAIN.$KIND.log")
        termed=1
        log "volunteer $DRAIN: SIGTERM with $running compiler(s) running; exited $st after $(((t_exit - t_term) / 1000000)) ms, $((after - before)) job(s) finished meanwhile"
    fi
    finish_builds
    failed=$BUILDS_FAILED
    t1=$(date +%s%N)
    local lost verdict when="" what="not drained: the builds ended first"
    lost=$(failed_compiles)
    if ((termed)); then
        when=", $(((t_term - t0) / 1000000000)) s into the build"
        what="$running compiler process(es) at SIGTERM; the daemon exited (status $st) after $(((t_exit - t_term) / 1000000)) ms, having finished $((after - before)) more job(s)"
    fi
    if ((termed && failed == 0 && lost == 0)) && objects_ok; then verdict=PASS; else verdict=FAIL FAILED=1; fi
    RESULTS+=("| drain ($KIND) | hosts v1-v$NVOL$OPTS; SIGTERM to v$DRAIN ($(cpu_of_vol "$DRAIN") CPU) after $AFTER jobs$when | $what | $(jobs_since $(seq 1 "$NVOL")); served $(served_of_needed $(seq 1 "$NVOL")) | $failed failed build(s), $lost failed compile(s); objects: $OBJECTS; $(((t1 - t0) / 1000000000)) s | **$verdict**: $lost job(s) lost |")
}
cpu_of_vol() { echo "${VOL_CPU[$(($1 - 1))]}"; }

for s in "${SCENARIOS[@]}"; do
    for KIND in $KINDS; do
        PORT=$OURS_PORT
        [[ $KIND == ref ]] && PORT=$REF_PORT
        case $s in
        dns) if [[ $KIND == ours ]]; then scenario_dns; fi ;;
        add) scenario_add ;;
        drain) scenario_drain ;;
        esac
    done
done

SECTION=$WORK/section.md
{
    echo "<!-- farm-scenarios: begin (written by benches/farm-scenarios.sh; other scripts keep it) -->"
    echo "## Farm scenarios: volunteers that come and go mid-build"
    echo
    echo "Produced by \`benches/farm-scenarios.sh ${SCENARIOS[*]}\` on the farm of \`benches/farm.sh\`"
    echo "($(date -u '+%Y-%m-%d %H:%M UTC'); ours: $COMMIT$DIRTY; volunteers ${VOLUNTEER_CPUS// /, } CPU with --jobs $VOL_JOBS;"
    echo "clients ${PROJECTS// /, } at $CLIENT_CPU CPU, make -j$J, DISTCC_FALLBACK=0; load at the end: $(cut -d' ' -f1-3 /proc/loadavg))."
    [[ -n ${NOTE:-} ]] && echo "Note: $NOTE"
    echo
    echo "| scenario | set-up | what happened | jobs per volunteer | builds | issue 20's check |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${RESULTS[@]}"
    echo "<!-- farm-scenarios: end -->"
} >"$SECTION"
replace_section farm-scenarios "$SECTION" "$OUT" "$WORK/out.md"
log "wrote $OUT"
cat "$SECTION"
exit "$FAILED"
