# shellcheck shell=bash
# The end of benches/weak-client.sh, sourced by it once the rounds are done:
# checks every build's objects against the local build's, then writes the
# report section of RESULTS.md from $WORK/data/builds.tsv and the script's
# settings. Kept apart so that each file stays short.
# awk expressions are single-quoted on purpose.
# shellcheck disable=SC2016

# --- same objects as local ------------------------------------------------------------------

# Prints "SAME/TOTAL" for sums $2 against $1, with the first differing
# objects' names when some differ.
MISMATCH=0
compare_sums() {
    local total same
    total=$(wc -l <"$1")
    same=$(comm -12 <(sort "$1") <(sort "$2") | wc -l)
    if [[ $same == "$total" && $(wc -l <"$2") == "$total" ]]; then
        echo "$same/$total"
    else
        echo "$same/$total (differ: $(comm -13 <(sort "$1") <(sort "$2") | awk '{ print $2 }' | head -3 | paste -sd' '))"
    fi
}
# For each project and configuration: every round against local round 1;
# the worst round is reported, with how it was compared.
declare -A SAME
for proj in $PROJECTS; do
    debug=$(cat "$WORK/data/$proj.debug")
    for cfg in local "${CFG_NAMES[@]}"; do
        kind=plain how="byte-identical"
        if [[ $cfg != local && $debug == 1 && ${CFG_FID[$(cfg_index "$cfg")]} == classic ]]; then
            kind=strip how="after strip-debug"
        fi
        worst=
        for ((r = 1; r <= RUNS; r++)); do
            got=$(compare_sums "$WORK/sums/$proj.local.1.$kind" "$WORK/sums/$proj.$cfg.$r.$kind")
            if [[ $got == *differ* ]]; then MISMATCH=1; fi
            if [[ -z $worst || $got == *differ* ]]; then worst=$got; fi
        done
        SAME[$proj.$cfg]="$worst $how"
    done
done

# --- report ------------------------------------------------------------------------------------

DATA=$WORK/data/builds.tsv
# Columns of builds.tsv: 1 project, 2 configuration, 3 round, 4 wall ms,
# 5 client group ns, 6 compile jobs ns, 7 compile jobs, 8 other
# invocations ns, 9 other invocations, 10 daemons ns, 11 everything else on
# the machine ns, 12 load before, 13 load after, 14 ms until the daemons
# first ran a compile (-1: never), 15 ms after they last did, 16 ms with
# the daemons saturated.
# med PROJECT CFG AWK-EXPR: the median over rounds of AWK-EXPR.
med() {
    awk -F'\t' -v p="$1" -v c="$2" '$1 == p && $2 == c { print '"$3"' }' "$DATA" | sort -g |
        awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# samples PROJECT CFG AWK-EXPR DECIMALS: the rounds' values in order.
samples() {
    awk -F'\t' -v p="$1" -v c="$2" -v d="$4" '$1 == p && $2 == c { printf "%s%.*f", s, d, '"$3"'; s = " " }' "$DATA"
}
f() { awk -v x="$1" -v d="$2" 'BEGIN { if (x == "nan" || x == "") print "-"; else printf "%.*f", d, x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "nan") printf "%.2f", a / b; else print "-" }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "nan") printf "%.1f%%", 100 * a / b; else print "-" }'; }

WALL='$4 / 1000'
PERJOB='$6 / $7 / 1e6'
MAKESH='($5 - $6 - $8) / 1e9'
OTHERS='$11 / 1e9 / ($4 / 1000)'
HAS_REF=0
cfg_index ref >/dev/null && HAS_REF=1
label_of() { if [[ $1 == local ]]; then echo "local gcc, unconfined"; else echo "${CFG_LABEL[$(cfg_index "$1")]}"; fi; }

NAME=${SECTION:-weak-client}
SECTION=$WORK/section.md
{
    echo "<!-- $NAME: begin (written by benches/weak-client.sh; other scripts keep it) -->"
    echo "## Weak client: make and distcc confined to $CLIENT_CPU CPU${MAKE_VARS:+ (make $MAKE_VARS)}"
    echo
    echo "Produced by \`$COMMAND_LINE\` (see README, \"Benchmarks\")."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $RUNS round(s), $((ELAPSED / 60)) min"
    echo "- machine: $CORES cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), $(free -h | awk '/^Mem:/ { print $2 }') RAM, kernel $(uname -r), cgroup $CG"
    echo "- load average at the start: $START_LOAD; at the end: $END_LOAD"
    echo "- $(gcc --version | head -1); reference: $($REF_CLIENT --version | head -1)"
    echo "- ours: $COMMIT$DIRTY (release build)"
    echo "- sources: Debian $SUITE source packages $SRC_VERSIONS"
    echo "- knobs: CLIENT_CPU=$CLIENT_CPU (cfs quota $QUOTA us per $PERIOD us), J=$J (make -j), two daemons per implementation with --jobs $PER_HOST and host limit /$PER_HOST, RUNS=$RUNS"
    [[ -n ${NOTE:-} ]] && echo "- note: $NOTE"
    echo
    echo "make, the shell, the distcc client and all they start run in a cpu cgroup"
    echo "limited to $CLIENT_CPU CPU; the daemons (and the compilers they start) run"
    echo "outside it on the rest of the machine. CC/CXX is a wrapper that moves each"
    echo "compiler invocation into its own cpuacct group before it execs the client:"
    echo "\"client CPU per job\" is the sum over the compile jobs' groups (the client and"
    echo "its local preprocessor, \`gcc -E\` or \`gcc -M\`) over the number of jobs;"
    echo "invocations without \`-c\` (links, the Makefiles' probes) are summed apart; make"
    echo "and the shell are the rest of the client group. The local build runs unconfined"
    echo "with the same wrapper: its per-job sum is the compile CPU of the same units."
    echo "The wrapper (\`benches/acct-exec.c\`) adds $WRAP_ADDS_US us of CPU per invocation, counted with"
    echo "make and the shell, as it runs before its move; what it leaves inside a job"
    echo "group (the end of its move) is at most $WRAP_IN_JOB_US us per job (a move and an exit,"
    echo "measured), not subtracted."
    echo "The client group has the most CPU weight a group can have, so others' load"
    if [[ $PRIORITY == 1 ]]; then
        echo "on the machine does not take its quota; the daemons and the local build"
        echo "have it too (PRIORITY=1), so others' work slows them little."
    else
        echo "on the machine does not take its quota; the daemons have no such priority."
    fi
    echo "Each build starts from a fresh copy of the sources; each configuration keeps"
    echo "its own DISTCC_DIR across rounds."
    echo "\"Others' CPU\" is the machine's busy time during the build less the client"
    echo "group and the daemons, in CPUs: other users of the machine. Medians of the rounds."
    echo "A build's wall time is at least the larger of \"client-bound\" (the client group's"
    echo "CPU / $CLIENT_CPU) and \"daemon-bound\" (the daemons' CPU / $CORES cores), plus what"
    echo "cannot overlap: the Makefiles' serial probes, the last jobs' compiles, the link."
    for proj in $PROJECTS; do
        nj=$(med "$proj" local '$7')
        lj=$(med "$proj" local "$PERJOB")
        lc=$(med "$proj" local '$6')
        echo
        case $proj in
        zstd) echo "### zstd \`programs/zstd\`: $nj compile jobs (C, ${MAKE_VARS:-default flags -O3}), make -j$J" ;;
        re2) echo "### re2: $nj compile jobs (C++, ${MAKE_VARS:-default flags -O3 -g}; 22 units, static and -fPIC), make -j$J" ;;
        *) echo "### $proj: $nj compile jobs, make -j$J" ;;
        esac
        echo
        echo "| configuration | wall s | wall / 3.4 | client CPU ms/job | / 3.4 | client CPU s, all jobs | share of local compile CPU | links, probes s | make, shell s | client group s | client-bound s | daemons s | daemon-bound s | others' CPU | objects as local |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        rw=$(med "$proj" ref "$WALL") rj=$(med "$proj" ref "$PERJOB")
        for cfg in local "${CFG_NAMES[@]}"; do
            w=$(med "$proj" "$cfg" "$WALL") pj=$(med "$proj" "$cfg" "$PERJOB")
            if [[ $cfg == local ]]; then
                rws="" rjs="" share="(the reference)"
            else
                rws=$(ratio "$w" "$rw") rjs=$(ratio "$pj" "$rj") share=$(pct "$(med "$proj" "$cfg" '$6')" "$lc")
            fi
            ((HAS_REF)) || rws="" rjs=""
            cb=
            [[ $cfg == local ]] || cb=$(f "$(med "$proj" "$cfg" '$5 / 1e9 / '"$CLIENT_CPU")" 1)
            echo "| $(label_of "$cfg") | $(f "$w" 1) | $rws | $(f "$pj" 1) | $rjs | $(f "$(med "$proj" "$cfg" '$6 / 1e9')" 2) | $share | $(f "$(med "$proj" "$cfg" '$8 / 1e9')" 2) | $(f "$(med "$proj" "$cfg" "$MAKESH")" 2) | $(f "$(med "$proj" "$cfg" '$5 / 1e9')" 2) | $cb | $(f "$(med "$proj" "$cfg" '$10 / 1e9')" 1) | $(f "$(med "$proj" "$cfg" '$10 / 1e9 / '"$CORES")" 1) | $(f "$(med "$proj" "$cfg" "$OTHERS")" 2) | ${SAME[$proj.$cfg]} |"
        done
        echo
        echo "The local row's \"client CPU ms/job\" is gcc's own compile CPU per job ($(f "$lj" 0) ms)."
        floor=$(awk -v c="$lc" -v n="$CORES" 'BEGIN { print c / 1e9 / n }')
        echo "Whatever the client, the daemons need the local compile CPU / $CORES cores, $(f "$floor" 1) s here$( ((HAS_REF)) && echo ", $(ratio "$floor" "$rw")x distcc 3.4's wall")."
        if ((HAS_REF)); then
            for cfg in "${CFG_NAMES[@]}"; do
                [[ $cfg == ref || ${CFG_CLIENT[$(cfg_index "$cfg")]} != ours ]] && continue
                echo "${CFG_LABEL[$(cfg_index "$cfg")]} against distcc 3.4: client CPU $(ratio "$(med "$proj" "$cfg" "$PERJOB")" "$rj")x (target <= 0.25x),"
                echo "wall $(ratio "$(med "$proj" "$cfg" "$WALL")" "$rw")x (target <= 0.6x), share of local compile CPU $(pct "$(med "$proj" "$cfg" '$6')" "$lc") (target <= 1%; distcc 3.4: $(pct "$(med "$proj" ref '$6')" "$lc"))."
            done
        fi
        echo
        echo "Where the wall time went (medians, s): before the daemons' first compile (make's"
        echo "serial probes, the first jobs' client side), the compile phase and how much of it"
        echo "had the daemons saturated (90% of the $CORES cores less the client's $CLIENT_CPU), and after"
        echo "their last compile (the link). \"Floor\": head + daemons' CPU / $CORES cores + tail,"
        echo "the wall time if the daemons had had every core from the first compile to the"
        echo "last: no client can beat it with these daemons, this head and this tail."
        echo
        echo "| configuration | wall | head | compile phase | daemons saturated | tail | floor | floor / 3.4's wall |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|"
        for cfg in "${CFG_NAMES[@]}"; do
            w=$(med "$proj" "$cfg" "$WALL")
            fl=$(med "$proj" "$cfg" '($14 < 0 ? "nan" : ($14 + $15) / 1000 + $10 / 1e9 / '"$CORES"')')
            fls=$(ratio "$fl" "$rw")
            ((HAS_REF)) || fls=""
            echo "| $(label_of "$cfg") | $(f "$w" 1) | $(f "$(med "$proj" "$cfg" '($14 < 0 ? "nan" : $14 / 1000)')" 1) | $(f "$(med "$proj" "$cfg" '($14 < 0 ? "nan" : ($4 - $14 - $15) / 1000)')" 1) | $(f "$(med "$proj" "$cfg" '$16 / 1000')" 1) | $(f "$(med "$proj" "$cfg" '($14 < 0 ? "nan" : $15 / 1000)')" 1) | $(f "$fl" 1) | $fls |"
        done
        echo
        echo "Rounds, in order: wall s; client ms/job; others' CPU (CPUs); load average"
        echo "before and after the build."
        echo
        echo "| configuration | wall s | client ms/job | others' CPU | load |"
        echo "|---|---|---|---|---|"
        for cfg in local "${CFG_NAMES[@]}"; do
            echo "| $(label_of "$cfg") | $(samples "$proj" "$cfg" "$WALL" 1) | $(samples "$proj" "$cfg" "$PERJOB" 1) | $(samples "$proj" "$cfg" "$OTHERS" 2) | $(awk -F'\t' -v p="$proj" -v c="$cfg" '$1 == p && $2 == c { printf "%s%s-%s", s, $12, $13; s = ", " }' "$DATA") |"
        done
    done
    echo
    echo "What this set-up cannot show: the daemons share the machine's two cores"
    echo "with each other and with the client, so the volunteers' compile time is that"
    echo "of one small machine, not a farm (a config whose wall time approaches the"
    echo "daemons' CPU / $((CORES)) is bound by them, not by the client); loopback has no network"
    echo "latency or bandwidth limit; the quota throttles the client in 100 ms periods,"
    echo "which is not the same as a slow CPU. A client-side helper process that outlives"
    echo "the build would be counted only up to the build's end."
    echo "<!-- $NAME: end -->"
} >"$SECTION"

replace_section "$NAME" "$SECTION" "$OUT" "$WORK/out.md"
log "wrote $OUT"
cat "$SECTION"
if ((MISMATCH)); then
    log "some objects differ from the local build's: see the table"
    exit 1
fi
