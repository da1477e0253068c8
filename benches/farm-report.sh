# shellcheck shell=bash
# The end of benches/farm.sh, sourced by it once the rounds are done:
# writes the farm section of RESULTS.md from $WORK/data/runs.tsv and the
# script's settings, keeping the rest of the file. Kept apart so that each
# file stays short.
# awk programs are single-quoted on purpose; $DATA is only read; ORDER and
# the rest are set by farm.sh.
# shellcheck disable=SC2016,SC2094,SC2153

# Columns of runs.tsv: 1 configuration, 2 round, 3 volunteers in host-list
# order (comma-separated), 4 wall ms of both builds, 5 wall ms per client,
# 6 CPU ns per volunteer, 7 jobs per volunteer, 8 share of samples with no
# compiler per volunteer, 9 mean running compilers per volunteer,
# 10 objects per client, 11 load before, 12 load after, 13 machine busy ns,
# 14 CPU ns per client. Lists are comma-separated, volunteers by number.
DATA=$WORK/data/runs.tsv

# med CFG AWK-EXPR: the median over the rounds of AWK-EXPR, where the
# list columns are split into arrays w (walls), cpu, jobs, idle, run, cc,
# and vc is the volunteers' CPU together.
med() {
    awk -F'\t' -v c="$1" '$1 == c {
            split($5, w, ","); split($6, cpu, ","); split($7, jobs, ","); split($8, idle, ",")
            split($9, run, ","); split($14, cc, ","); vc = 0; for (k in cpu) vc += cpu[k]
            print '"$2"' }' "$DATA" | sort -g |
        awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
f() { awk -v x="$1" -v d="$2" 'BEGIN { if (x == "nan" || x == "") print "-"; else printf "%.*f", d, x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "nan") printf "%.2f", a / b; else print "-" }'; }
# sum CFG COLUMN K: the K-th item of a list column summed over the rounds.
sum() { awk -F'\t' -v c="$1" -v col="$2" -v k="$3" '$1 == c { split($col, a, ","); s += a[k] } END { print s + 0 }' "$DATA"; }
cpu_of() { echo "${VOL_CPU[$(($1 - 1))]}"; }
HAS_REF=0
cfg_index ref >/dev/null && HAS_REF=1
Q=$(cpu_of "$FASTEST")
# The fastest volunteer's idle capacity: wall - its CPU / its quota.
IDLE_S='($4 / 1000 - cpu['"$FASTEST"'] / 1e9 / '"$Q"')'
OTHERS='($13 - s) / 1e9 / ($4 / 1000)'

# The machine's busy CPU less ours (volunteers and clients), in CPUs.
others() {
    awk -F'\t' -v c="$1" '$1 == c { split($6, a, ","); split($14, b, ","); s = 0
        for (k in a) s += a[k]; for (k in b) s += b[k]; print '"$OTHERS"' }' "$DATA" | sort -g |
        awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# The objects column over all rounds: the worst round's, per client. An
# item reads "SAME/TOTAL how"; it is good when SAME is TOTAL.
OK_ITEM='function ok(item, p) { split(item, p, "[/ ]"); return p[1] == p[2] }'
objects() {
    awk -F'\t' -v c="$1" "$OK_ITEM"' $1 == c { n = split($10, a, ","); for (k = 1; k <= n; k++) if (!(k in w) || !ok(a[k])) w[k] = a[k] }
        END { for (k = 1; k in w; k++) printf "%s%s", (k > 1 ? "; " : ""), w[k] }' "$DATA"
}
MISMATCH=0
for cfg in "${CFG_NAMES[@]}"; do
    if awk -F'\t' -v c="$cfg" "$OK_ITEM"' $1 == c { n = split($10, a, ","); for (k = 1; k <= n; k++) if (!ok(a[k])) bad = 1 } END { exit !bad }' "$DATA"; then
        MISMATCH=1
    fi
done
label() { echo "${CFG_LABEL[$(cfg_index "$1")]}"; }
# paired CFG: CFG's wall / distcc 3.4's in each round, and their geometric
# mean: the rounds differ (host order, others' load), a pair does not.
paired() {
    awk -F'\t' -v c="$1" '$1 == "ref" { r[$2] = $4 } $1 == c { w[$2] = $4 }
        END { for (k = 1; k in w; k++) if (k in r) { printf "%s%.2f", (n ? ", " : ""), w[k] / r[k]; g += log(w[k] / r[k]); n++ }
              if (n) printf "; geometric mean %.2f", exp(g / n) }' "$DATA"
}
vols_header() { local k; for ((k = 1; k <= NVOL; k++)); do printf 'v%d (%s CPU)%s' "$k" "$(cpu_of "$k")" "$([[ $k -lt $NVOL ]] && echo ' / ')"; done; }

SECTION=$WORK/section.md
{
    echo "<!-- farm: begin (written by benches/farm.sh; other scripts keep it) -->"
    echo "## Farm: ${NVOL} volunteers of different speed, ${NCLIENT} clients building at once"
    echo
    echo "Produced by \`$COMMAND_LINE\` (see README, \"Benchmarks\")."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $RUNS round(s), $((ELAPSED / 60)) min"
    echo "- machine: $CORES cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), $(free -h | awk '/^Mem:/ { print $2 }') RAM, kernel $(uname -r), cgroup $FARM_CG"
    echo "- load: \`uptime\` before: $START_UPTIME; after: $END_UPTIME"
    echo "- $(gcc --version | head -1); reference: $($REF_CLIENT --version | head -1)"
    echo "- ours: $COMMIT$DIRTY (release build)"
    echo "- sources: Debian $SUITE source packages $SRC_VERSIONS"
    echo "- volunteers: $(for ((k = 1; k <= NVOL; k++)); do printf 'v%d %s CPU; ' "$k" "$(cpu_of "$k")"; done)each daemon --jobs $VOL_JOBS; hosts /$HOST_LIMIT in DISTCC_HOSTS"
    echo "- clients: $(for ((k = 1; k <= NCLIENT; k++)); do printf 'c%d builds %s; ' "$k" "${CLIENT_PROJ[$((k - 1))]}"; done)each confined to $CLIENT_CPU CPU, make -j$J, DISTCC_FALLBACK=0"
    echo "- volunteer order in DISTCC_HOSTS: $([[ $ORDER == rotate ]] && echo "rotating with the round, from the fastest (round 1) down" || echo "$ORDER in every round")${LATENCY_MS:+; netem delay ${LATENCY_MS} ms on every machine}"
    [[ -n ${NOTE:-} ]] && echo "- note: $NOTE"
    echo
    echo "Each machine is a network namespace on a private bridge; each volunteer's daemon"
    echo "and compilers run in a cgroup with its CPU quota, each client's make, client and"
    echo "preprocessor in one with $CLIENT_CPU CPU; all groups have the top CPU weight, so"
    echo "others' work on the machine takes little of their quotas. Both builds start"
    echo "together; \"both builds\" is the time until the later one ends. The fastest"
    echo "volunteer's idle capacity is wall - its CPU / its quota; \"no compiler\" is the share"
    echo "of 0.5 s samples in which no cc1/cc1plus ran in its group. Jobs per volunteer come"
    echo "from the daemons' logs; together the builds need $JOBS_NEEDED compile jobs (with"
    echo "DISTCC_FALLBACK=0 none can run locally unnoticed). Medians of the rounds; the"
    echo "configurations rotate within each round."
    echo
    echo "| configuration | both builds, s | / 3.4 | $(for ((k = 1; k <= NCLIENT; k++)); do printf '%s, s | ' "${CLIENT_PROJ[$((k - 1))]}"; done)fastest volunteer (v$FASTEST) idle, s | idle / wall | no compiler | jobs $(vols_header), all rounds | volunteers' CPU, s | others' CPU | objects as local |"
    printf '|---|---:|---:|%s---:|---:|---:|---|---:|---:|---|\n' "$(for ((k = 1; k <= NCLIENT; k++)); do printf -- '---:|'; done)"
    rw=$(med ref '$4 / 1000')
    for cfg in "${CFG_NAMES[@]}"; do
        w=$(med "$cfg" '$4 / 1000')
        rs=$(ratio "$w" "$rw")
        ((HAS_REF)) || rs=""
        walls=""
        for ((k = 1; k <= NCLIENT; k++)); do walls+="$(f "$(med "$cfg" "w[$k] / 1000")" 1) | "; done
        jobs=$(for ((k = 1; k <= NVOL; k++)); do printf '%s%s' "$(sum "$cfg" 7 "$k")" "$([[ $k -lt $NVOL ]] && echo ' / ')"; done)
        vcpu=$(med "$cfg" 'vc / 1e9')
        echo "| $(label "$cfg") | $(f "$w" 1) | $rs | $walls$(f "$(med "$cfg" "$IDLE_S")" 1) | $(f "$(med "$cfg" "$IDLE_S / (\$4 / 1000) * 100")" 0)% | $(f "$(med "$cfg" "idle[$FASTEST] * 100")" 0)% | $jobs | $(f "$vcpu" 1) | $(f "$(others "$cfg")" 2) | $(objects "$cfg") |"
    done
    echo
    if ((HAS_REF)); then
        for cfg in "${CFG_NAMES[@]}"; do
            [[ $cfg == ref ]] && continue
            echo "$(label "$cfg") / distcc 3.4, both builds: $(ratio "$(med "$cfg" '$4 / 1000')" "$rw") (issue 20's target, after its placement work: <= 0.8);"
            echo "round by round (the same host order): $(paired "$cfg")."
        done
        echo
    fi
    cap=$(awk -v l="$VOLUNTEER_CPUS" 'BEGIN { n = split(l, a, " "); for (k = 1; k <= n; k++) s += a[k]; print s }')
    echo "The volunteers together have $cap CPU: if the builds' compile CPU (the volunteers' CPU"
    echo "column) were spread over all of it, they would take that CPU / $cap at least."
    echo
    echo "Per volunteer (medians): CPU used, its share of the volunteer's quota over the"
    echo "wall time of both builds, the share of samples with no compiler running, and the"
    echo "mean number of compilers running."
    echo
    echo "| configuration | $(for ((k = 1; k <= NVOL; k++)); do printf 'v%d (%s CPU): CPU s, used, no compiler, running | ' "$k" "$(cpu_of "$k")"; done)"
    printf '|---|%s\n' "$(for ((k = 1; k <= NVOL; k++)); do printf -- '---|'; done)"
    for cfg in "${CFG_NAMES[@]}"; do
        row="| $(label "$cfg") |"
        for ((k = 1; k <= NVOL; k++)); do
            row+=" $(f "$(med "$cfg" "cpu[$k] / 1e9")" 1), $(f "$(med "$cfg" "cpu[$k] / 1e9 / $(cpu_of "$k") / (\$4 / 1000) * 100")" 0)%, $(f "$(med "$cfg" "idle[$k] * 100")" 0)%, $(f "$(med "$cfg" "run[$k]")" 1) |"
        done
        echo "$row"
    done
    echo
    echo "Rounds, in order: the volunteers as listed in DISTCC_HOSTS (by quota), wall s of"
    echo "both builds and of each, jobs per volunteer (v1 / v2 / ...), the fastest"
    echo "volunteer's idle capacity, load average before and after, others' CPU."
    echo
    echo "| configuration | round | host order (CPU) | both builds, s | each, s | jobs | fastest idle, s | load | others' CPU |"
    echo "|---|---:|---|---:|---|---|---:|---|---:|"
    while IFS=$'\t' read -r cfg round order total walls _ jobs _ _ _ l0 l1 busy ccpu; do
        cpus=$(for k in ${order//,/ }; do cpu_of "$k"; done | paste -sd' ')
        idle=$(awk -F'\t' -v c="$cfg" -v r="$round" '$1 == c && $2 == r { split($6, cpu, ","); print '"$IDLE_S"' }' "$DATA")
        oth=$(awk -F'\t' -v c="$cfg" -v r="$round" '$1 == c && $2 == r { split($6, a, ","); split($14, b, ","); s = 0
            for (k in a) s += a[k]; for (k in b) s += b[k]; print '"$OTHERS"' }' "$DATA")
        echo "| $(label "$cfg") | $round | $cpus | $(f "$(awk -v t="$total" 'BEGIN { print t / 1000 }')" 1) | $(awk -v l="$walls" 'BEGIN { n = split(l, a, ","); for (k = 1; k <= n; k++) printf "%s%.1f", (k > 1 ? " " : ""), a[k] / 1000 }') | ${jobs//,/ \/ } | $(f "$idle" 1) | $l0-$l1 | $(f "$oth" 2) |"
        : "$busy" "$ccpu"
    done <"$DATA"
    echo
    echo "What this set-up cannot show: the volunteers' quotas are slices of the same two"
    echo "cores, shared with the clients and with whatever else runs on the machine, so a"
    echo "volunteer may get less than its quota while busy (others' CPU shows how much ran"
    echo "beside); a CFS quota throttles in 100 ms periods, which is not a slower CPU; the"
    echo "bridge has no latency or bandwidth limit unless LATENCY_MS is set (and this"
    echo "kernel may lack netem); every volunteer has the same compilers and headers."
    echo "<!-- farm: end -->"
} >"$SECTION"

replace_section farm "$SECTION" "$OUT" "$WORK/out.md"
log "wrote $OUT"
cat "$SECTION"
if ((MISMATCH)); then
    log "some objects differ from the local build's: see the table"
    exit 1
fi
