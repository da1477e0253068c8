# shellcheck shell=bash
# Shell helpers shared by the benchmark scripts (sourced, not run).

# Prints a free TCP port on 127.0.0.1 (a random guess without python3).
free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
    else
        echo $((20000 + RANDOM % 40000))
    fi
}

# Waits (bounded) until something listens on 127.0.0.1:$1, without
# connecting (a connection would be a job to the daemon).
wait_listening() {
    local hex i
    hex=$(printf ':%04X ' "$1")
    for ((i = 0; i < 100; i++)); do
        grep -q "0100007F${hex}[0-9A-F:]* 0A " /proc/net/tcp && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# Prints the port our daemon, started with `--port 0 --log-stderr` into the
# file $1, listens on, once (bounded wait) it has logged it.
ours_port() {
    local i port
    for ((i = 0; i < 100; i++)); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1" 2>/dev/null | head -1)
        [[ -n $port ]] && { echo "$port"; return 0; }
        sleep 0.05
    done
    cat "$1" >&2
    return 1
}

# Checksums of a build's objects, paths relative to the tree (zstd's object
# dir is named after a hash of $(CC), so it is normalised). With "strip",
# of the objects after objcopy --strip-debug (through the scratch file $3).
object_sums() {
    local tree=$1 mode=$2 tmp=$3 f
    (cd "$tree" && find . -name '*.o' | sort) | while read -r f; do
        if [[ $mode == strip ]]; then
            objcopy --strip-debug "$tree/$f" "$tmp"
            printf '%s %s\n' "$(sha256sum <"$tmp" | cut -d' ' -f1)" "$f"
        else
            printf '%s %s\n' "$(sha256sum <"$tree/$f" | cut -d' ' -f1)" "$f"
        fi
    done | sed 's|/conf_[0-9a-f]*/|/conf/|'
}

# The release's codename (bookworm ...), for apt-get source.
# shellcheck source=/dev/null
SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")

# Whether apt has a deb-src entry for $SUITE main (one-line or deb822).
have_deb_src() {
    grep -rqsE "^deb-src .* $SUITE .*main" /etc/apt/sources.list /etc/apt/sources.list.d/*.list && return 0
    # deb822 stanzas: Types with deb-src, the suite and main in the same stanza.
    awk -v suite="$SUITE" 'BEGIN { RS = ""; found = 1 }
        /(^|\n)Types:[^\n]*deb-src/ && $0 ~ ("(^|\n)Suites:[^\n]*[ ]" suite "([ ]|\n|$)") && /(^|\n)Components:[^\n]*main/ { found = 0 }
        END { exit found }' /etc/apt/sources.list.d/*.sources 2>/dev/null
}

# Makes `apt-get source` work: if apt has no deb-src entry for the
# release's main component, adds one in its own file,
# /etc/apt/sources.list.d/distcc-bench-src.sources, copied from the
# machine's own `deb` entry, then runs `apt-get update`. Idempotent. The
# caller defines log and die.
ensure_deb_src() {
    local SRC_LIST=/etc/apt/sources.list.d/distcc-bench-src.sources stanza uri
    [[ -n $SUITE ]] || die "no VERSION_CODENAME in /etc/os-release"
    if ! have_deb_src; then
        log "adding a deb-src entry for $SUITE main in $SRC_LIST"
        # The machine's own deb stanza for the suite, with deb-src for its type.
        stanza=$(awk -v suite="$SUITE" 'BEGIN { RS = "" }
            /(^|\n)Types:[^\n]*deb/ && $0 ~ ("(^|\n)Suites:[^\n]*[ ]" suite "([ ]|\n|$)") { print; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
        if [[ -n $stanza ]]; then
            grep -E '^(URIs|Signed-By):' <<<"$stanza" | {
                echo "Types: deb-src"
                echo "Suites: $SUITE"
                echo "Components: main"
                cat
            } >"$SRC_LIST"
        else
            uri=$(awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
            [[ -n $uri ]] || die "no deb entry for $SUITE to copy into a deb-src entry"
            printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\n' "$uri" "$SUITE" >"$SRC_LIST"
        fi
        apt-get update -qq
    fi
}

# replace_section NAME SECTION OUT SCRATCH: puts the file SECTION (which
# opens with "<!-- NAME: begin" and closes with "<!-- NAME: end -->") in
# place of OUT's section NAME, or appends it; the rest of OUT is kept.
replace_section() {
    local name=$1 section=$2 out=$3 tmp=$4
    if [[ -f $out ]] && grep -q "^<!-- $name: begin" "$out"; then
        awk -v sec="$section" -v b="^<!-- $name: begin" -v e="^<!-- $name: end" '
            $0 ~ b { while ((getline l < sec) > 0) print l; skip = 1; next }
            $0 ~ e { skip = 0; next }
            !skip' "$out" >"$tmp"
    else
        { [[ -f $out ]] && cat "$out" && echo; cat "$section"; } >"$tmp"
    fi
    cp "$tmp" "$out"
}

# fetch_project_sources DIR LOG PROJECT...: the Debian source packages of
# the projects (zstd: libzstd, re2) fetched with `apt-get source` and
# unpacked into DIR/PROJECT, re2's Unicode tables generated before any
# timing, as Debian does; sets SRC_VERSIONS ("libzstd 1.5.4+dfsg2-5, ...").
# The caller defines log and die, and has run ensure_deb_src.
fetch_project_sources() {
    local dir=$1 logf=$2 dsc pkg name
    shift 2
    log "fetching sources: apt-get source $*"
    (cd "$dir" && apt-get source --download-only -qq "$@" >"$logf" 2>&1) ||
        { cat "$logf" >&2; die "apt-get source failed"; }
    SRC_VERSIONS=""
    for dsc in "$dir"/*.dsc; do
        pkg=$(basename "$dsc" .dsc)
        case $pkg in libzstd_*) name=zstd ;; re2_*) name=re2 ;; *) continue ;; esac
        (cd "$dir" && dpkg-source -x "$dsc" "$name" >/dev/null 2>&1) || die "dpkg-source -x $dsc failed"
        SRC_VERSIONS+="${SRC_VERSIONS:+, }${pkg/_/ }"
    done
    if [[ -d $dir/re2 ]]; then
        (cd "$dir/re2" && make -s REBUILD_TABLES=1 re2/perl_groups.cc re2/unicode_casefold.cc re2/unicode_groups.cc)
    fi
    chmod -R a+rX "$dir"
}
