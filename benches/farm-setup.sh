# shellcheck shell=bash
# The set-up shared by benches/farm.sh and benches/farm-scenarios.sh
# (sourced, not run): knobs and their defaults, packages and Debian
# sources, our release binary, the local reference builds, the volunteers
# and clients of the farm, one client's build, and the object check.
# Network and CPU primitives are in farm-net.sh.
#
# Machines of the farm (addresses inside the farm's namespaces only):
#   volunteer k (k = 1, 2, ...)  node vk, $FARM_NET.(10+k), group vk with
#                                the k-th quota of VOLUNTEER_CPUS; our daemon
#                                on port OURS_PORT, distcc 3.4's on REF_PORT,
#                                both with --jobs VOL_JOBS
#   client k                     node ck, $FARM_NET.(20+k), group ck with
#                                CLIENT_CPU
# Knobs (environment), with their defaults:
#   VOLUNTEER_CPUS="1.0 0.5 0.25"  one quota per volunteer, in CPUs
#   VOL_JOBS=4        each daemon's --jobs (distcc's default on a 2-core box)
#   HOST_LIMIT=4      each host's /LIMIT in the clients' DISTCC_HOSTS
#   CLIENT_CPU=0.15   each client's quota: make, the shell, the client, cpp
#   J=8               each client's make -j
#   PROJECTS="zstd re2"  one project per client, so also how many clients
#   LATENCY_MS=       if set, netem delay on every machine's eth0 (needs
#                     the sch_netem qdisc; both ways, so RTT = 2 x this)
#   KEEP=1            keep the scratch dir

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VOLUNTEER_CPUS=${VOLUNTEER_CPUS:-1.0 0.5 0.25}
VOL_JOBS=${VOL_JOBS:-4}
HOST_LIMIT=${HOST_LIMIT:-4}
CLIENT_CPU=${CLIENT_CPU:-0.15}
J=${J:-8}
PROJECTS=${PROJECTS:-zstd re2}
OURS_PORT=3632
REF_PORT=3642
REF_CLIENT=/usr/bin/distcc
REF_DAEMON=/usr/bin/distccd
read -ra VOL_CPU <<<"$VOLUNTEER_CPUS"
read -ra CLIENT_PROJ <<<"$PROJECTS"

# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"
# shellcheck source=benches/farm-net.sh
. "$ROOT/benches/farm-net.sh"

# The scratch dir, removed by farm_cleanup unless KEEP=1.
farm_cleanup_hook() {
    [[ -n ${WORK:-} ]] || return 0
    if [[ ${KEEP:-0} == 1 ]]; then log "scratch kept in $WORK"; else rm -rf "$WORK"; fi
}
farm_workdir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/distcc-farm.XXXXXX")
    chmod 755 "$WORK"
    mkdir -p "$WORK"/{src,tree,bin,sums,state,data,dns}
    mkdir -m 777 "$WORK/log"
}

# --- packages, sources, our binary ---------------------------------------------------

farm_packages() {
    local tool missing=()
    for tool in cargo gcc g++ make apt-get; do command -v "$tool" >/dev/null || die "missing $tool"; done
    ensure_deb_src
    [[ -x $REF_CLIENT && -x $REF_DAEMON ]] || missing+=(distcc)
    [[ -d /usr/share/unicode ]] || missing+=(unicode-data)
    command -v dpkg-source >/dev/null || missing+=(dpkg-dev)
    command -v objcopy >/dev/null || missing+=(binutils)
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# Fetches and unpacks the projects' Debian sources into $WORK/src/PROJECT.
farm_sources() {
    local pkgs=() proj
    for proj in $(printf '%s\n' "${CLIENT_PROJ[@]}" | sort -u); do
        case $proj in zstd) pkgs+=(zstd) ;; re2) pkgs+=(re2) ;; *) die "unknown project $proj (zstd, re2)" ;; esac
    done
    fetch_project_sources "$WORK/src" "$WORK/log/apt.log" "${pkgs[@]}"
}

# Sets OURS, OURS_DAEMON, and COMMIT and DIRTY for the reports.
# shellcheck disable=SC2034
farm_ours() {
    log "building ours (cargo build --release)"
    (cd "$ROOT" && cargo build --release --quiet)
    OURS=$ROOT/target/release/distcc
    OURS_DAEMON=$WORK/bin/distccd
    ln -sf "$OURS" "$OURS_DAEMON"
    COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
    DIRTY=
    if [[ -n $(cd "$ROOT" && git status --porcelain --untracked-files=no 2>/dev/null) ]]; then DIRTY=" (with uncommitted changes)"; fi
}

# --- projects --------------------------------------------------------------------------

# farm_make_cmd PROJECT TREE COMPILER-PREFIX: the make command line, one
# word per line (the compiler variable is one word with spaces).
farm_make_cmd() {
    local proj=$1 tree=$2 prefix=$3
    case $proj in
    zstd) printf '%s\n' make -C "$tree/programs" -j"$J" zstd "CC=${prefix}gcc" ;;
    re2) printf '%s\n' make -C "$tree" -j"$J" "CXX=${prefix}g++" ;;
    esac
}

# A fresh copy of PROJECT's sources at $2.
farm_tree() { rm -rf "$2" && cp -a "$WORK/src/$1" "$2"; }

# Builds each project once locally (unconfined, no distcc): the objects
# every distributed build is compared with, and its wall time for scale.
farm_local_builds() {
    local proj tree t0 t1 cmd=()
    for proj in $(printf '%s\n' "${CLIENT_PROJ[@]}" | sort -u); do
        tree=$WORK/tree/local-$proj
        farm_tree "$proj" "$tree"
        mapfile -t cmd < <(farm_make_cmd "$proj" "$tree" "")
        log "local build of $proj (make -j$J, unconfined)"
        t0=$(date +%s%N)
        "${cmd[@]}" >"$WORK/log/local-$proj.log" 2>&1 || { tail -20 "$WORK/log/local-$proj.log" >&2; die "local build of $proj failed"; }
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000000)) >"$WORK/data/local-$proj.ms"
        object_sums "$tree" plain "$WORK/strip.o" >"$WORK/sums/$proj.plain"
        object_sums "$tree" strip "$WORK/strip.o" >"$WORK/sums/$proj.strip"
        if objdump -h "$(find "$tree" -name '*.o' | head -1)" | grep -q '\.debug_info'; then
            echo 1 >"$WORK/data/$proj.debug"
        else
            echo 0 >"$WORK/data/$proj.debug"
        fi
        rm -rf "$tree"
    done
}

# farm_check_objects PROJECT TREE: "SAME/TOTAL how" against the local
# build; classic distcc compiles the preprocessed unit in the daemon's
# directory, so objects with debug info are compared after strip-debug.
# Returns 1 when some differ.
farm_check_objects() {
    local proj=$1 tree=$2 kind=plain how=byte-identical total same got
    if [[ $(cat "$WORK/data/$proj.debug") == 1 ]]; then kind=strip how="after strip-debug"; fi
    got=$WORK/sums/check.$$
    object_sums "$tree" "$kind" "$WORK/strip.o" >"$got"
    total=$(wc -l <"$WORK/sums/$proj.$kind")
    same=$(comm -12 <(sort "$WORK/sums/$proj.$kind") <(sort "$got") | wc -l)
    echo "$same/$total $how"
    [[ $same == "$total" && $(wc -l <"$got") == "$total" ]]
}

# --- machines ----------------------------------------------------------------------------

# farm_volunteer K [CPUS]: volunteer K with both daemons.
farm_volunteer() {
    local k=$1 cpus=${2:-${VOL_CPU[$(($1 - 1))]}}
    farm_group "v$k" "$cpus"
    farm_node "v$k" $((10 + k))
    [[ -z ${LATENCY_MS:-} ]] || farm_latency "v$k" "$LATENCY_MS"
    farm_daemon "v$k" $((10 + k)) "v$k" ours "$OURS_PORT" "$WORK/log/v$k.ours.log" "$VOL_JOBS"
    farm_daemon "v$k" $((10 + k)) "v$k" ref "$REF_PORT" "$WORK/log/v$k.ref.log" "$VOL_JOBS"
}
farm_client() {
    farm_group "c$1" "$CLIENT_CPU"
    farm_node "c$1" $((20 + $1))
    [[ -z ${LATENCY_MS:-} ]] || farm_latency "c$1" "$LATENCY_MS"
}

# farm_hosts KIND OPTS K...: a DISTCC_HOSTS value listing volunteers K...
# in that order, for the daemons of KIND (ref or ours).
farm_hosts() {
    local kind=$1 opts=$2 port=$OURS_PORT k out=""
    shift 2
    [[ $kind == ref ]] && port=$REF_PORT
    for k in "$@"; do out+="${out:+ }$FARM_NET.$((10 + k)):$port/$HOST_LIMIT$opts"; done
    echo "$out"
}

# farm_build_start K PROJECT KIND HOSTS TREE [ENV...]: client K builds
# PROJECT in TREE (a fresh copy) with the client of KIND and DISTCC_HOSTS
# HOSTS, in the background, in its own session (so the whole build can be
# stopped by its process group). Sets BUILD_PID. Output goes to TREE.log.
# With BUILD_HOSTS_FILE set, the build resolves names through that file,
# and BUILD_RESOLV_CONF if set (farm_run_resolving; the mount namespace's
# pid in TREE.pid).
farm_build_start() {
    local k=$1 proj=$2 kind=$3 hosts=$4 tree=$5 client cmd=()
    shift 5
    client=$OURS
    [[ $kind == ref ]] && client=$REF_CLIENT
    farm_tree "$proj" "$tree"
    rm -rf "$tree.state" && mkdir -p "$tree.state"
    mapfile -t cmd < <(farm_make_cmd "$proj" "$tree" "$client ")
    local run=(farm_run "c$k" "c$k")
    [[ -z ${BUILD_HOSTS_FILE:-} ]] || run=(farm_run_resolving "c$k" "c$k" "$BUILD_HOSTS_FILE" "$tree.pid" "${BUILD_RESOLV_CONF:-}")
    "${run[@]}" setsid env DISTCC_DIR="$tree.state" DISTCC_HOSTS="$hosts" DISTCC_FALLBACK=0 "$@" \
        "${cmd[@]}" >"$tree.log" 2>&1 &
    BUILD_PID=$!
    FARM_PGIDS+=("$BUILD_PID")
}
