#!/usr/bin/env bash
# Runs distcc 3.4's own test suite (test/testdistcc.py from the upstream
# source Debian ships) against our binaries, and fails unless every case
# that exercises the binaries passes.
#
# Nothing of upstream is committed or built: the orig tarball is fetched
# with `apt-get source` at run time, only its test/ directory is unpacked,
# and the suite finds our `distcc`, `distccd` and `distccmon-text` first on
# PATH, in the layout an install of ours makes (PREFIX/bin, and the
# masquerade dir PREFIX/lib/distcc/bin that whitelists compilers for our
# daemon), as upstream's own `make installcheck` tests an installed
# distcc. The suite is not patched.
#
# The run:
# - in a private network namespace (only `lo`): the suite's daemons listen
#   on every address without --listen, and a fixed port (42000) would
#   collide with anything else on the machine;
# - in a private pid namespace, so no daemon a case leaves behind outlives
#   the run;
# - as an unprivileged user (`nobody` when started as root): the suite is
#   written for a developer's account; as root, BadLogFile_Case cannot
#   make an unreadable log file, and a daemon started as root drops to an
#   unprivileged account that cannot write the suite's directories;
# - one case per python process, so each result is its exit status, not
#   parsed from output the suite's background daemons write into.
#
# Set-up: `apt-get source` needs a deb-src entry; `.ci/run` adds one (an
# installation step, not the test's). This script writes no system file:
# without a deb-src entry, pass the tarball with --orig.
#
# Usage: tests/reference-suite.sh [options] [CASE...]
#   --bin PATH     our binary (default: build with `cargo build --release`)
#   --client 3.4   the client is Debian's /usr/bin/distcc (default: ours)
#   --daemon 3.4   the daemon is Debian's /usr/bin/distccd (default: ours)
#   --reference    both: a control showing what the suite does here
#   --lzo          every host with ,lzo (upstream's `make lzo-check`)
#   --orig FILE    use this distcc_3.4*.orig.tar.gz instead of fetching it
#   --keep         keep the run directory (printed at the end)
#   CASE...        run only these cases (default: all but EXCLUDED)
#
# Exit status: 0 when every case run is OK or NOTRUN, except the cases in
# DELIBERATE, which must FAIL; 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

# Cases that unit-test upstream's C internals through helper programs of
# upstream's `make check` (h_*): they run no distcc binary, so they say
# nothing about ours. Our own unit tests cover the same behaviour.
declare -A EXCLUDED=(
    [ScanArgs_Case]="h_scanargs: upstream's dcc_scan_args() on argv tables"
    [ImplicitCompilerScan_Case]="h_scanargs: upstream's dcc_scan_args() without a compiler name"
    [StripArgs_Case]="h_strip: upstream's dcc_strip_local_args()"
    [IsSource_Case]="h_issource: upstream's dcc_is_source()/dcc_is_preprocessed()"
    [ExtractExtension_Case]="h_exten: upstream's dcc_find_extension()"
    [DotD_Case]="h_dotd: upstream's dcc_get_dotd_info() (its compiles run plain gcc)"
    [Compile_c_Case]="h_compile: upstream's pump-mode dcc_fresh_dependency_exists()"
    [InvalidHostSpec_Case]="h_hosts: upstream's dcc_parse_hosts() error paths"
    [ParseHostSpec_Case]="h_hosts: upstream's dcc_parse_hosts() struct dump"
    [ParseMask_Case]="h_parsemask: upstream's dcc_parse_mask()/dcc_check_address()"
    [Getline_Case]="h_getline: upstream's getline() replacement"
)

# Behaviours of the binaries we deliberately differ on (at most three).
# A key is CASE (every configuration) or CLIENT/DAEMON:CASE. Each must
# FAIL where it applies: a listed case that passes is reported too, so the
# list stays true.
# None at present: our distccd says "failed to exec" for a compiler it has
# no program for, as distcc 3.4 does (MissingCompiler_Case with Debian's
# client), though it still runs only compilers linked in a masquerade dir.
declare -A DELIBERATE=()

RESTRICTED_PATH=/usr/local/bin:/usr/bin:/bin

bin=
client=ours
daemon=ours
suite_opts=
orig=
keep=0
cases=()
while (($#)); do
    case $1 in
    --bin) bin=$(realpath "$2"); shift 2 ;;
    --client) client=$2; shift 2 ;;
    --daemon) daemon=$2; shift 2 ;;
    --reference) client=3.4 daemon=3.4; shift ;;
    --lzo) suite_opts=--lzo; shift ;;
    --orig) orig=$(realpath "$2"); shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option: $1" >&2; exit 2 ;;
    *) cases+=("$1"); shift ;;
    esac
done

die() { echo "reference-suite: $*" >&2; exit 1; }

# The reason CASE is a deliberate difference in this configuration.
deliberate() {
    local k
    for k in "$1" "$client/$daemon:$1"; do
        if [[ -v DELIBERATE[$k] ]]; then
            echo "${DELIBERATE[$k]}"
            return 0
        fi
    done
    return 1
}

for tool in unshare ip timeout python3 $( ((EUID == 0)) && echo setpriv); do
    command -v "$tool" >/dev/null || die "needs $tool"
done

run=$(mktemp -d "${TMPDIR:-/tmp}/distcc-refsuite.XXXXXX")
cleanup() {
    if ((keep)); then echo "run directory kept: $run"; else rm -rf "$run"; fi
}
trap cleanup EXIT

# --- the suite, from Debian's source package --------------------------------
have_deb_src() {
    apt-cache showsrc distcc 2>/dev/null | grep -q '^Package: distcc'
}

fetch_orig() {
    command -v apt-get >/dev/null || die "no apt-get; pass --orig FILE"
    have_deb_src || die "no deb-src entry for distcc (.ci/run adds one); pass --orig FILE"
    mkdir "$run/src"
    # --tar-only: the orig tarball alone (apt checks its hash against the
    # signed Sources index); Debian's own patches are not wanted.
    if ! (cd "$run/src" && apt-get source --download-only --tar-only -qq distcc) >"$run/apt.log" 2>&1; then
        cat "$run/apt.log" >&2
        die "apt-get source distcc failed"
    fi
    orig=$(echo "$run"/src/distcc_3.4*.orig.tar.gz)
    [[ -f $orig ]] || die "apt-get source did not fetch distcc_3.4*.orig.tar.gz"
}

[[ -n $orig ]] || fetch_orig
mkdir "$run/suite"
tar -xzf "$orig" -C "$run/suite" --strip-components=2 --wildcards 'distcc-*/test/*'
[[ -f $run/suite/testdistcc.py ]] || die "$orig has no test/testdistcc.py"

# --- the binaries under test --------------------------------------------------
# The layout an install of ours makes (install.sh): PREFIX/bin/distcc and
# its daemon and monitor names, and the masquerade dir
# PREFIX/lib/distcc/bin, whose links are the compilers our daemon serves.
prefix=$run/prefix
mkdir -p "$prefix/bin" "$prefix/lib/distcc/bin"
for role in client daemon; do
    [[ ${!role} == ours || ${!role} == 3.4 ]] || die "--$role: ours or 3.4, not ${!role}"
done
if [[ $client == ours || $daemon == ours ]]; then
    if [[ -z $bin ]]; then
        cargo build --release --quiet
        bin=$(realpath "${CARGO_TARGET_DIR:-target}/release/distcc")
    fi
    [[ -x $bin ]] || die "not an executable: $bin"
    # A copy, so the unprivileged user can run it wherever the tree is.
    install -m 0755 "$bin" "$prefix/bin/distcc.ours"
    for c in cc gcc c++ g++; do
        if PATH=$RESTRICTED_PATH command -v "$c" >/dev/null; then
            ln -s ../../../bin/distcc.ours "$prefix/lib/distcc/bin/$c"
        fi
    done
fi
pick() { # ROLE NAME: link NAME to the binary chosen for ROLE
    if [[ ${!1} == ours ]]; then ln -s distcc.ours "$prefix/bin/$2"; else ln -s "/usr/bin/$2" "$prefix/bin/$2"; fi
}
pick client distcc
pick daemon distccd
pick client distccmon-text
# lsdistcc is upstream's network scanner, not one of our programs:
# Lsdistcc_Case runs Debian's (from RESTRICTED_PATH) against the daemon.
if ! PATH=$RESTRICTED_PATH command -v lsdistcc >/dev/null; then
    EXCLUDED[Lsdistcc_Case]="needs Debian's lsdistcc (apt-get install distcc)"
fi

if ((${#cases[@]} == 0)); then
    mapfile -t cases < <(cd "$run/suite" && python3 -c \
        'import testdistcc; print("\n".join(t.__name__ for t in testdistcc.tests))')
    kept=()
    for c in "${cases[@]}"; do [[ -v EXCLUDED[$c] ]] || kept+=("$c"); done
    cases=("${kept[@]}")
fi

# --- the run ------------------------------------------------------------------
# The inner script runs in the namespaces, as the unprivileged user.
cat >"$run/inner.sh" <<'EOF'
#!/bin/sh
# One case per process; appends "CASE STATUS SECONDS" to results. This is
# the pid namespace's init: it must trap TERM to be stoppable at all, and
# waits in the background so the trap runs at once; its exit kills every
# process left in the namespace.
trap 'exit 143' INT TERM HUP
cd "$RUN/suite" || exit 1
for c in "$@"; do
    case $c in
    Concurrent_Case | HundredFold_Case | BigAssFile_Case) limit=900 ;;
    *) limit=300 ;; # the suite's daemons live 60 s
    esac
    start=$(date +%s)
    timeout -k 10 "$limit" python3 testdistcc.py $SUITE_OPTS "$c" >"$RUN/logs/$c.log" 2>&1 &
    if wait $!; then
        if grep -q 'NOTRUN, ' "$RUN/logs/$c.log"; then s=NOTRUN; else s=OK; fi
    else
        s=FAIL
    fi
    echo "$c $s $(($(date +%s) - start))" >>"$RUN/results"
    printf '%-42s %s\n' "$c" "$s"
done
EOF
chmod 0755 "$run/inner.sh"
mkdir "$run/logs"
: >"$run/results"

env_for_suite=(env -i PATH="$prefix/bin:$RESTRICTED_PATH" HOME="$run" LANG=C LC_ALL=C
    RUN="$run" SUITE_OPTS="$suite_opts")
started=$(date +%s)
if [[ $EUID -eq 0 ]]; then
    chmod 0755 "$run"
    chown -R nobody:nogroup "$run/suite" "$run/logs" "$run/results"
    unshare --net --pid --fork --mount-proc sh -c \
        'ip link set lo up && exec "$@"' sh \
        setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
        "${env_for_suite[@]}" "$run/inner.sh" "${cases[@]}"
else
    # Without root: a user namespace owns the network namespace; the
    # suite then runs as our own uid again, without capabilities.
    uid=$(id -u) gid=$(id -g)
    unshare --map-root-user --net --pid --fork --mount-proc sh -c \
        'ip link set lo up && exec "$@"' sh \
        unshare --map-user="$uid" --map-group="$gid" -- \
        "${env_for_suite[@]}" "$run/inner.sh" "${cases[@]}"
fi
elapsed=$(($(date +%s) - started))

# --- the verdict --------------------------------------------------------------
declare -A count=([OK]=0 [FAIL]=0 [NOTRUN]=0)
unexpected=()
differences=()
while read -r c s _; do
    count[$s]=$((count[$s] + 1))
    if why=$(deliberate "$c"); then
        differences+=("$c ($s): $why")
        [[ $s == FAIL ]] || unexpected+=("$c: listed as a deliberate difference but $s")
    elif [[ $s == FAIL ]]; then
        unexpected+=("$c")
    fi
done <"$run/results"

echo
echo "distcc 3.4 test suite${suite_opts:+ ($suite_opts)}: client $client, daemon $daemon${bin:+ (ours: $bin)}"
echo "  OK ${count[OK]}  FAIL ${count[FAIL]}  NOTRUN ${count[NOTRUN]}  (${elapsed}s)"
while read -r c s _; do
    [[ $s == NOTRUN ]] || continue
    echo "  NOTRUN $c: $(grep -o 'NOTRUN, .*' "$run/logs/$c.log" | head -1 | cut -c9-)"
done <"$run/results"
echo "  excluded: $(printf '%s\n' "${!EXCLUDED[@]}" | sort | tr '\n' ' ')"
for d in "${differences[@]}"; do
    echo "  deliberate difference: $d"
done
if ((${#unexpected[@]})); then
    echo "  failing:"
    printf '    %s\n' "${unexpected[@]}"
    # Each failure's traceback, then the end of its log (the last command
    # the case ran, with its output); the whole log is in logs/ (--keep).
    for c in "${unexpected[@]}"; do
        c=${c%%:*}
        echo
        echo "=== $c ==="
        sed -n '/^Traceback/,/^test_log:/p' "$run/logs/$c.log" | head -c 4000
        echo "..."
        tail -n 15 "$run/logs/$c.log" | cut -c1-400
    done
    exit 1
fi
