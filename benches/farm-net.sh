# shellcheck shell=bash
# A private build farm on one machine, for benches/farm.sh and
# benches/farm-scenarios.sh (sourced, not run): network namespaces joined by
# a bridge, cgroups that give each simulated machine its CPU, daemons
# started inside both, a name that resolves to many addresses, and the
# cleanup that removes all of it however the script ends.
#
# Network: one namespace per machine, named "$FARM-NAME", plus "$FARM-hub"
# holding the bridge `br0`. Each machine's veth pair is created from inside
# the hub with its other end moved straight into the machine's namespace
# (`eth0`), so no interface ever exists in the host's own namespace. The
# addresses ($FARM_NET.X/24, 10.77.0.0/24 by default) exist only inside
# these namespaces; there is no route out of them, so no traffic leaves.
# Processes enter a namespace with `nsenter --net` (not `ip netns exec`,
# which remounts /sys and would hide the cgroup file systems).
#
# CPU: cgroup v1 (cpu and cpuacct hierarchies, separate or co-mounted) or
# v2 with the cpu controller enabled at the root. A machine's group
# "$FARM-NAME" gets a CFS quota (its CPUs) and the top weight, so other
# users of a shared machine do not take its quota.
#
# Names with many addresses, without touching system files (the mechanism
# recommended for the tests of hosts that come and go): the process that
# must resolve runs in a private mount namespace (`unshare -m`, private
# propagation) where a file of the scratch dir is bind-mounted over
# /etc/hosts. glibc's getaddrinfo returns every address listed for a name
# in /etc/hosts, in file order, and reads the file at every lookup (no
# cache without nscd), so the answer is exactly what the test wrote. To
# change it mid-build, a new file is bind-mounted on top from inside the
# same mount namespace (`nsenter --target PID --mount`): a mount is atomic,
# so a lookup sees the old list or the new one, never a half-written file
# (rewriting the bound file in place could be read truncated). The mount
# namespace, and so the bind mounts, vanish with its last process.
# SRV records, which /etc/hosts cannot hold, need a DNS server: see
# farm_dnsmasq_start below (Debian's dnsmasq-base, in the hub namespace,
# with the client's /etc/resolv.conf bind-mounted the same way).
#
# The caller defines log() and die(), sets WORK (its scratch dir) and
# FARM (a prefix unique to the run, e.g. dfarm-$$), then calls farm_init.

FARM_NET=${FARM_NET:-10.77.0}
FARM_NODES=() FARM_GROUPS=() FARM_PIDS=() FARM_PGIDS=() FARM_DNSMASQ_PID=
declare -A FARM_DAEMON=()

# --- cgroups ------------------------------------------------------------------------

farm_cg_detect() {
    if [[ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us && -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]]; then
        FARM_CG=v1
        FARM_CPU_H=$(realpath /sys/fs/cgroup/cpu)
        FARM_ACCT_H=$(realpath /sys/fs/cgroup/cpuacct)
        FARM_PERIOD=100000
    elif [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
        FARM_CG=v2
        FARM_CPU_H=/sys/fs/cgroup
        FARM_ACCT_H=$FARM_CPU_H
        FARM_PERIOD=100000
        grep -qw cpu "$FARM_CPU_H/cgroup.subtree_control" ||
            die "cgroup v2 without the cpu controller enabled at the root; this script does not change that"
    else
        die "no cgroup v1 cpu+cpuacct hierarchies and no cgroup v2 at /sys/fs/cgroup"
    fi
}

# farm_group NAME [CPUS]: a group with a quota of CPUS (none if empty) and
# the top weight, in both hierarchies.
farm_group() {
    local name=$FARM-$1 cpus=${2:-} d quota
    for d in "$FARM_CPU_H/$name" "$FARM_ACCT_H/$name"; do
        [[ -d $d ]] && continue
        mkdir "$d"
        FARM_GROUPS+=("$d")
    done
    d=$FARM_CPU_H/$name
    if [[ $FARM_CG == v1 ]]; then
        echo 262144 >"$d/cpu.shares"
        echo "$FARM_PERIOD" >"$d/cpu.cfs_period_us"
        [[ -z $cpus ]] || awk -v c="$cpus" -v p="$FARM_PERIOD" 'BEGIN { printf "%d\n", c * p }' >"$d/cpu.cfs_quota_us"
    else
        echo 10000 >"$d/cpu.weight"
        quota=max
        [[ -z $cpus ]] || quota=$(awk -v c="$cpus" -v p="$FARM_PERIOD" 'BEGIN { printf "%d", c * p }')
        echo "$quota $FARM_PERIOD" >"$d/cpu.max"
    fi
}

# CPU time used by group NAME and its descendants so far, in ns.
farm_usage_ns() {
    local d=$FARM_ACCT_H/$FARM-$1
    if [[ $FARM_CG == v1 ]]; then cat "$d/cpuacct.usage"; else awk '$1 == "usage_usec" { printf "%.0f\n", $2 * 1000 }' "$d/cpu.stat"; fi
}

# The pids in group NAME (for sampling what runs there).
farm_group_pids() { cat "$FARM_ACCT_H/$FARM-$1/cgroup.procs"; }

# Removes a group; a process still in it goes back to the root group.
farm_remove_group() {
    local d=$1 p root
    [[ -d $d ]] || return 0
    case $d in "$FARM_CPU_H"/*) root=$FARM_CPU_H ;; *) root=$FARM_ACCT_H ;; esac
    while read -r p; do echo "$p" >"$root/cgroup.procs" 2>/dev/null || true; done <"$d/cgroup.procs"
    rmdir "$d" 2>/dev/null || log "could not remove cgroup $d"
}

# --- namespaces ---------------------------------------------------------------------

farm_ns() { echo "/run/netns/$FARM-$1"; }

farm_net_init() {
    ip netns add "$FARM-hub"
    FARM_NODES+=(hub)
    ip -n "$FARM-hub" link set lo up
    ip -n "$FARM-hub" link add br0 type bridge
    ip -n "$FARM-hub" addr add "$FARM_NET.1/24" dev br0
    ip -n "$FARM-hub" link set br0 up
}

# farm_node NAME HOST: namespace $FARM-NAME with eth0 at $FARM_NET.HOST.
farm_node() {
    local name=$1 addr=$FARM_NET.$2 ns=$FARM-$1
    ip netns add "$ns"
    FARM_NODES+=("$name")
    ip -n "$FARM-hub" link add "p$2" type veth peer name eth0 netns "$ns"
    ip -n "$FARM-hub" link set "p$2" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
}

# farm_latency NAME MS: delays every packet leaving NAME by MS ms (netem).
farm_latency() {
    tc -n "$FARM-$1" qdisc add dev eth0 root netem delay "${2}ms" 2>/dev/null ||
        die "tc netem is not available in this kernel (LATENCY_MS needs the sch_netem qdisc)"
}

# farm_run NODE GROUP COMMAND...: runs COMMAND in NODE's namespace and in
# cgroup GROUP (empty: the caller's own). The groups are entered first,
# then the namespace. In a subshell (`farm_run ... &`, `$(farm_run ...)`)
# it execs, so that $! is COMMAND's own pid (sh, nsenter and setsid exec
# in turn), which the caller can signal and wait for; a subshell must not
# expect to go on after it.
farm_run() {
    local node=$1 group=$2 dirs=()
    shift 2
    if [[ -n $group ]]; then
        dirs=("$FARM_CPU_H/$FARM-$group")
        [[ $FARM_ACCT_H == "$FARM_CPU_H" ]] || dirs+=("$FARM_ACCT_H/$FARM-$group")
    fi
    # shellcheck disable=SC2016 # expanded by that sh
    local run=(sh -c 'while [ "$1" != -- ]; do echo $$ >"$1/cgroup.procs"; shift; done; shift; exec "$@"'
        sh "${dirs[@]}" -- nsenter --net="$(farm_ns "$node")" "$@")
    if [[ $BASHPID != "$$" ]]; then exec "${run[@]}"; fi
    "${run[@]}"
}

# farm_wait_listening NODE HOST PORT [udp]: bounded wait until something
# listens on $FARM_NET.HOST:PORT (TCP, or UDP) inside NODE, without
# connecting (a connection would be a job to a daemon).
farm_wait_listening() {
    local want i table=/proc/net/tcp state=" 0A "
    if [[ ${4:-} == udp ]]; then table=/proc/net/udp state=" "; fi
    want=$(awk -v a="$FARM_NET.$2" -v p="$3" 'BEGIN { split(a, o, "."); printf "%02X%02X%02X%02X:%04X", o[4], o[3], o[2], o[1], p }')
    for ((i = 0; i < 200; i++)); do
        nsenter --net="$(farm_ns "$1")" cat "$table" | grep -q " $want [0-9A-F:]*$state" && return 0
        sleep 0.05
    done
    die "nothing listens on $FARM_NET.$2:$3${4:+ ($4)} in $1"
}

# farm_daemon NODE HOST GROUP KIND PORT LOG [JOBS]: starts a daemon in
# NODE and GROUP, listening on $FARM_NET.HOST:PORT and allowing the farm's
# network; KIND is `ref` ($REF_DAEMON) or `ours` ($OURS_DAEMON). Its pid
# goes to FARM_PIDS and to FARM_DAEMON[NODE.KIND].
farm_daemon() {
    local node=$1 addr=$FARM_NET.$2 group=$3 kind=$4 port=$5 logf=$6 jobs=${7:-}
    local args=(--daemon --no-detach --listen "$addr" --port "$port" --allow "$FARM_NET.0/24" --log-level info)
    [[ -z $jobs ]] || args+=(--jobs "$jobs")
    : >"$logf"
    chmod 666 "$logf"
    if [[ $kind == ref ]]; then
        farm_run "$node" "$group" "$REF_DAEMON" "${args[@]}" --log-file "$logf" &
    else
        farm_run "$node" "$group" "$OURS_DAEMON" "${args[@]}" --log-stderr 2>"$logf" &
    fi
    FARM_PIDS+=($!)
    # shellcheck disable=SC2034 # read by the scripts that source this
    FARM_DAEMON[$node.$kind]=$!
    farm_wait_listening "$node" "$2" "$port"
}

# Jobs a daemon's log shows as served so far (one line per finished job
# in each implementation's own format).
farm_jobs_in_log() {
    case $1 in
    ref) grep -c 'COMPILE_OK\|COMPILE_ERROR' "$2" || true ;;
    ours) grep -cE ': [^ ]+ status [0-9]+$' "$2" || true ;;
    esac
}

# --- names with many addresses ------------------------------------------------------

# farm_hosts_file FILE NAME HOST...: an /etc/hosts listing $FARM_NET.HOST
# for NAME once per HOST, in order, after the usual loopback lines.
farm_hosts_file() {
    local file=$1 name=$2 h
    shift 2
    { printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n'; for h in "$@"; do printf '%s.%s\t%s\n' "$FARM_NET" "$h" "$name"; done; } >"$file.tmp"
    mv "$file.tmp" "$file"
}

# farm_run_resolving NODE GROUP HOSTS PIDFILE RESOLV COMMAND...: farm_run,
# with HOSTS bind-mounted over /etc/hosts (and RESOLV, unless empty, over
# /etc/resolv.conf) in a private mount namespace; the pid of a process in
# that namespace is written to PIDFILE, for farm_rebind_hosts. The binds
# happen before COMMAND starts.
farm_run_resolving() {
    local node=$1 group=$2 hosts=$3 pidfile=$4 resolv=$5
    shift 5
    # shellcheck disable=SC2016 # expanded by that sh
    farm_run "$node" "$group" unshare --mount --propagation private sh -c \
        'mount --bind "$1" /etc/hosts && { [ -z "$3" ] || mount --bind "$3" /etc/resolv.conf; } &&
         echo $$ >"$2" && shift 3 && exec "$@"' sh "$hosts" "$pidfile" "$resolv" "$@"
}

# farm_rebind_hosts PIDFILE HOSTS: from now on, lookups in that mount
# namespace read HOSTS (stacked on the previous bind mount, atomically).
farm_rebind_hosts() {
    nsenter --target "$(cat "$1")" --mount mount --bind "$2" /etc/hosts
}

# farm_dnsmasq_start CONF: a DNS server for the farm at $FARM_NET.1:53 in
# the hub namespace, from Debian's dnsmasq-base, answering only from CONF
# (no upstream, no /etc/hosts, no cache, so every answer is current):
#   addn-hosts=FILE                       A records, re-read on SIGHUP
#   srv-host=_distcc._tcp.farm.test,v1.farm.test,3632
# SRV records are read at start only: farm_dnsmasq_restart applies a new
# CONF. A client then needs a resolv.conf saying `nameserver $FARM_NET.1`,
# bind-mounted over /etc/resolv.conf the way farm_run_resolving does
# /etc/hosts (glibc re-reads resolv.conf when it changes).
farm_dnsmasq_start() {
    command -v dnsmasq >/dev/null || die "dnsmasq is missing (apt-get install dnsmasq-base)"
    farm_run hub "" dnsmasq --keep-in-foreground --conf-file="$1" --no-resolv --no-hosts \
        --cache-size=0 --bind-interfaces --listen-address="$FARM_NET.1" --port=53 \
        --user=root --pid-file= --log-facility=- 2>>"$WORK/log/dnsmasq.log" &
    FARM_DNSMASQ_PID=$!
    farm_wait_listening hub 1 53 udp
    # Listening, but perhaps another one (a bind that failed).
    kill -0 "$FARM_DNSMASQ_PID" 2>/dev/null || die "dnsmasq did not start (see $WORK/log/dnsmasq.log)"
}
farm_dnsmasq_restart() {
    if [[ -n $FARM_DNSMASQ_PID ]]; then
        kill "$FARM_DNSMASQ_PID" 2>/dev/null || true
        wait "$FARM_DNSMASQ_PID" 2>/dev/null || true
        FARM_DNSMASQ_PID=
    fi
    farm_dnsmasq_start "$1"
}

# --- set-up and cleanup -------------------------------------------------------------

farm_init() {
    [[ $(id -u) == 0 ]] || die "must run as root (network namespaces, cgroups)"
    local tool
    for tool in ip nsenter unshare mount; do command -v "$tool" >/dev/null || die "missing $tool"; done
    farm_cg_detect
    farm_sweep_dead
    trap farm_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    farm_net_init
}

# What runs killed outright left behind (SIGKILL passes no trap):
# namespaces and groups named for a run (dfarm-PID-...) whose PID is gone
# and which hold no process.
farm_sweep_dead() {
    local n d pid
    for n in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        [[ $n =~ ^dfarm-([0-9]+)- ]] || continue
        pid=${BASH_REMATCH[1]}
        kill -0 "$pid" 2>/dev/null && continue
        [[ -z $(ip netns pids "$n" 2>/dev/null) ]] || continue
        ip netns delete "$n" 2>/dev/null && log "removed namespace $n, left by a run that was killed"
    done
    for d in "$FARM_CPU_H"/dfarm-* "$FARM_ACCT_H"/dfarm-*; do
        [[ -d $d && ${d##*/} =~ ^dfarm-([0-9]+)- ]] || continue
        pid=${BASH_REMATCH[1]}
        kill -0 "$pid" 2>/dev/null && continue
        [[ -z $(cat "$d/cgroup.procs" 2>/dev/null) ]] || continue
        rmdir "$d" 2>/dev/null && log "removed cgroup $d, left by a run that was killed"
    done
    return 0
}

# Everything farm_* created goes: builds (by their process group),
# processes (by pid), namespaces (the hub last: deleting a machine's
# namespace removes its veth pair), cgroups.
farm_cleanup() {
    local p i
    for p in "${FARM_PGIDS[@]}"; do kill -- "-$p" 2>/dev/null || true; done
    for p in "${FARM_PGIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    for p in "${FARM_PIDS[@]}" $FARM_DNSMASQ_PID; do kill "$p" 2>/dev/null || true; done
    for p in "${FARM_PIDS[@]}" $FARM_DNSMASQ_PID; do wait "$p" 2>/dev/null || true; done
    for ((i = ${#FARM_NODES[@]} - 1; i >= 0; i--)); do
        ip netns delete "$FARM-${FARM_NODES[$i]}" 2>/dev/null || log "could not delete namespace $FARM-${FARM_NODES[$i]}"
    done
    for ((i = ${#FARM_GROUPS[@]} - 1; i >= 0; i--)); do farm_remove_group "${FARM_GROUPS[$i]}"; done
    if declare -F farm_cleanup_hook >/dev/null; then farm_cleanup_hook; fi
}
