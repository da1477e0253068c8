#!/usr/bin/env bash
# Install (or uninstall) the distcc multicall binary, its daemon/monitor
# names and the compiler masquerade directory.
#
# Every path it writes is announced before anything is built or written.
# As root the default prefix is /usr/local, which comes before /usr on every
# user's PATH: an install there that would hide another distcc (a
# distribution's /usr/bin/distcc) is refused unless --prefix is given.
#
# Re-running is safe: the binary is replaced atomically and the masquerade
# links are refreshed (new compilers added, vanished ones dropped).
# --uninstall removes the files and links an install put there and the
# directories it created (listed in PREFIX/share/distcc/created-dirs), each
# only once nothing else is left in it.

set -euo pipefail

prog=${0##*/}

usage() {
    cat <<EOF
Usage: $prog [options]

Options:
  --prefix DIR    installation prefix (default: ~/.local, or /usr/local as
                  root; as root, an install that would hide another distcc
                  on the default PATH needs --prefix given explicitly)
  --destdir DIR   stage every written path under DIR (for packaging);
                  symlinks stay relative to PREFIX
  --binary PATH   install this prebuilt binary instead of building
  --no-build      do not run cargo; install target/release/distcc as is
  --no-links      create the masquerade directory but leave it empty
                  (packages populate it on the target at install time)
  --uninstall     remove what a previous install with the same
                  --prefix/--destdir put there
  --demo          after installing, start a loopback distccd, compile a
                  file through it, compare with a local compile, stop it
  -h, --help      show this help

Installs:
  PREFIX/bin/distcc                      the binary
  PREFIX/bin/distccd, distccmon-text     symlinks to distcc
  PREFIX/lib/distcc/bin/NAME             masquerade links, one per compiler
  PREFIX/sbin/update-distcc-symlinks     refreshes those links
  PREFIX/share/distcc/compilers          compiler names it links
  PREFIX/share/distcc/created-dirs       directories it created, for
                                         --uninstall (not with --destdir)
EOF
}

die() {
    printf '%s: %s\n' "$prog" "$*" >&2
    exit 1
}

src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
updater=$src_dir/masquerade/update-distcc-symlinks
compilers=$src_dir/masquerade/compilers

if ((EUID == 0)); then
    prefix=/usr/local
else
    prefix=${HOME:?HOME is not set}/.local
fi
prefix_given=0
destdir=
binary=
build=1
links=1
uninstall=0
demo=0

while (($#)); do
    case $1 in
        --prefix) (($# >= 2)) || die "--prefix needs an argument"; prefix=$2; prefix_given=1; shift ;;
        --prefix=*) prefix=${1#*=}; prefix_given=1 ;;
        --destdir) (($# >= 2)) || die "--destdir needs an argument"; destdir=$2; shift ;;
        --destdir=*) destdir=${1#*=} ;;
        --binary) (($# >= 2)) || die "--binary needs an argument"; binary=$2; shift ;;
        --binary=*) binary=${1#*=} ;;
        --no-build) build=0 ;;
        --no-links) links=0 ;;
        --uninstall) uninstall=1 ;;
        --demo) demo=1 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done

# Relative paths given on the command line mean the caller's cwd.
[[ $prefix == /* ]] || prefix=$PWD/$prefix
[[ -z $destdir || $destdir == /* ]] || destdir=$PWD/$destdir
[[ -z $binary || $binary == /* ]] || binary=$PWD/$binary
while [[ $prefix == */ && $prefix != / ]]; do prefix=${prefix%/}; done
while [[ $destdir == */ ]]; do destdir=${destdir%/}; done
[[ $prefix == / ]] && prefix=
# The record of created directories is one path a line.
[[ $prefix$destdir != *$'\n'* ]] || die "a newline in --prefix or --destdir is not supported"

bindir=$prefix/bin
sbindir=$prefix/sbin
datadir=$prefix/share/distcc
masq_dir=$prefix/lib/distcc/bin
record=$datadir/created-dirs

[[ -x $updater ]] || die "missing $updater"

# Every path this script writes, said before it writes (or builds) any.
say_where() {
    local how=
    if ((!prefix_given && EUID == 0)); then
        how=" (the default as root; --prefix DIR to choose)"
    elif ((!prefix_given)); then
        how=" (the default; --prefix DIR to choose)"
    fi
    if [[ -n $destdir ]]; then
        printf '%s: %s distcc for %s, staged under %s:\n' "$prog" "$1" "${prefix:-/}" "$destdir"
    else
        printf '%s: %s distcc in %s%s:\n' "$prog" "$1" "${prefix:-/}" "$how"
    fi
    printf '  %-18s %s\n' \
        "binary" "$destdir$bindir/distcc" \
        "daemon, monitor" "$destdir$bindir/distccd, $destdir$bindir/distccmon-text (links to distcc)" \
        "masquerade dir" "$destdir$masq_dir/ (a link to distcc per compiler)" \
        "link updater" "$destdir$sbindir/update-distcc-symlinks" \
        "compiler names" "$destdir$datadir/compilers"
    if [[ -z $destdir ]]; then
        printf '  %-18s %s\n' "uninstall record" "$record (the directories it created)"
    fi
}

# The standard system PATH, the start of every user's PATH, whatever this
# shell's own PATH holds (sudo, cron and scripts often trim it).
system_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Fills `hidden` with the executables named like ours that our copies would
# hide (later on PATH or the system PATH than where ours go), and `hiding`
# with those that would hide ours (earlier). Ours, or the same file under
# another name (a merged /usr), do not count.
find_conflicts() {
    local -a all dirs=()
    local d seen=: entry dir name other pos i known
    hidden=()
    hiding=()
    IFS=: read -r -a all <<<"${PATH:-}:$system_path"
    for d in "${all[@]}"; do
        [[ $d == /* ]] || continue
        while [[ $d == */ && $d != / ]]; do d=${d%/}; done
        [[ $seen == *":$d:"* ]] && continue
        seen+=$d:
        dirs+=("$d")
    done
    for entry in "$bindir/distcc" "$bindir/distccd" "$bindir/distccmon-text" \
        "$sbindir/update-distcc-symlinks"; do
        dir=${entry%/*} name=${entry##*/}
        pos=-1
        for i in "${!dirs[@]}"; do
            if [[ ${dirs[i]} == "$dir" ]] || [[ -d $dir && ${dirs[i]} -ef $dir ]]; then
                pos=$i
                break
            fi
        done
        ((pos >= 0)) || continue
        for i in "${!dirs[@]}"; do
            ((i != pos)) || continue
            other=${dirs[i]}/$name
            [[ -f $other && -x $other ]] || continue
            [[ $other -ef $entry ]] && continue
            for known in "${hidden[@]}" "${hiding[@]}"; do
                [[ $other -ef $known ]] && continue 2
            done
            if ((i > pos)); then
                hidden+=("$other")
            else
                hiding+=("$other")
            fi
        done
    done
}

# Says what the install would shadow, before anything is written. As root
# with the default prefix that is a change for every user that nobody asked
# for, so it is refused; an explicit --prefix is the request.
check_shadowing() {
    local f
    find_conflicts
    if ((${#hidden[@]})); then
        if ((EUID == 0 && !prefix_given)); then
            {
                printf '%s: refusing to install into %s as root without --prefix:\n' "$prog" "${prefix:-/}"
                printf '%s: %s comes first on every user'\''s PATH, so for every user\n' "$prog" "$bindir"
                printf '%s: these would no longer run by their plain names:\n' "$prog"
                printf '    %s\n' "${hidden[@]}"
                printf '%s: to replace them for every user anyway, say so: --prefix %s\n' "$prog" "${prefix:-/}"
                printf '%s: to install beside them instead: --prefix /opt/distcc\n' "$prog"
                printf '%s: (then put /opt/distcc/bin first on PATH where it is wanted)\n' "$prog"
            } >&2
            exit 1
        fi
        if ((EUID == 0)) && [[ :$system_path: == *":$bindir:"* ]]; then
            printf '%s: WARNING: for every user, these will no longer run by their plain names:\n' "$prog" >&2
        else
            printf '%s: note: on this PATH, these will no longer run by their plain names:\n' "$prog" >&2
        fi
        for f in "${hidden[@]}"; do
            printf '    %s\n' "$f" >&2
        done
    fi
    if ((${#hiding[@]})); then
        printf '%s: note: these come first on PATH and run instead of the installed ones:\n' "$prog" >&2
        printf '    %s\n' "${hiding[@]}" >&2
    fi
    return 0
}

# Only a symlink carrying exactly the value we write is ours to replace or
# remove; anything else at that name belongs to someone else.
our_link() {
    [[ -L $1 && $(readlink -- "$1") == "$2" ]]
}

# The directories that creating $1 makes (it and missing parents), as
# paths on the target system.
missing_dirs() {
    local d=$1
    while [[ -n $d && ! -d $destdir$d ]]; do
        printf '%s\n' "$d"
        d=${d%/*}
    done
}

uninstall() {
    local -a dirs kept=()
    local d f name
    say_where removing
    if [[ -f $destdir$record && ! -L $destdir$record ]]; then
        mapfile -t dirs <"$destdir$record"
    else
        # An install by an older script, or a staged one: only distcc's own
        # directories are known to be ours.
        dirs=("$masq_dir" "$prefix/lib/distcc" "$datadir")
    fi
    "$updater" --remove --keep-dir --quiet --root "$destdir" \
        --dir "$masq_dir" --binary "$bindir/distcc"
    for name in distccd distccmon-text; do
        if our_link "$destdir$bindir/$name" distcc; then
            rm -f -- "$destdir$bindir/$name"
        fi
    done
    for f in "$bindir/distcc" "$sbindir/update-distcc-symlinks" "$datadir/compilers" "$record"; do
        if [[ -f $destdir$f && ! -L $destdir$f ]]; then
            rm -f -- "$destdir$f"
        fi
    done
    # Longest first: a directory's children go before it. Only an empty
    # one is removed, and only inside the prefix.
    while IFS= read -r d; do
        [[ $d == "$prefix"/* || ($d == "$prefix" && -n $prefix) ]] || continue
        [[ -d $destdir$d && ! -L $destdir$d ]] || continue
        rmdir -- "$destdir$d" 2>/dev/null || kept+=("$d")
    done < <(printf '%s\n' "${dirs[@]}" | awk 'NF { print length($0) "\t" $0 }' | LC_ALL=C sort -rn | cut -f2-)
    for d in "${kept[@]}"; do
        printf '%s: kept %s: it holds other files\n' "$prog" "$d"
    done
    printf '%s: removed distcc from %s\n' "$prog" "$destdir${prefix:-/}"
}

if ((uninstall)); then
    uninstall
    exit 0
fi

say_where installing
# A staged install is for another system, whose PATH is not this one's.
[[ -n $destdir ]] || check_shadowing

if [[ -z $binary ]]; then
    if ((build)); then
        command -v cargo >/dev/null || die "cargo not found; install Rust or pass --binary"
        (cd "$src_dir" && cargo build --release --locked)
    fi
    binary=$src_dir/target/release/distcc
fi
[[ -f $binary && -x $binary ]] || die "no executable binary at $binary"

# The directories this install creates, added to those earlier installs
# created (a re-install finds them present), for --uninstall. A staged
# install is owned by the package manager instead.
created=()
if [[ -z $destdir ]]; then
    for d in "$bindir" "$sbindir" "$datadir" "$masq_dir"; do
        while IFS= read -r line; do
            created+=("$line")
        done < <(missing_dirs "$d")
    done
    if [[ -f $record && ! -L $record ]]; then
        while IFS= read -r line; do
            [[ $line == /* && -d $line ]] && created+=("$line")
        done <"$record"
    fi
fi

umask 022
install -d -m 0755 -- "$destdir$bindir" "$destdir$sbindir" "$destdir$datadir" "$destdir$masq_dir"

if [[ -z $destdir ]]; then
    tmp=$(mktemp -- "$datadir/.created-dirs.XXXXXX")
    trap 'rm -f -- "$tmp"' EXIT
    if ((${#created[@]})); then
        printf '%s\n' "${created[@]}" | LC_ALL=C sort -u >"$tmp"
    fi
    chmod 0644 -- "$tmp"
    mv -f -- "$tmp" "$record"
    trap - EXIT
fi

# Copy to a temporary name in the same directory, then rename over the old
# binary: running daemons and compiles keep their old inode instead of
# executing a half-written file (and "Text file busy" is avoided).
tmp=$destdir$bindir/.distcc.new.$$
trap 'rm -f -- "$tmp"' EXIT
install -m 0755 -- "$binary" "$tmp"
mv -f -- "$tmp" "$destdir$bindir/distcc"
trap - EXIT

for name in distccd distccmon-text; do
    link=$destdir$bindir/$name
    our_link "$link" distcc && continue
    if [[ -d $link && ! -L $link ]]; then
        die "$link is a directory; refusing to replace it"
    fi
    ln -sfn -- distcc "$link.new.$$"
    mv -fT -- "$link.new.$$" "$link"
done

install -m 0755 -- "$updater" "$destdir$sbindir/update-distcc-symlinks"
install -m 0644 -- "$compilers" "$destdir$datadir/compilers"

if ((links)); then
    "$updater" --root "$destdir" --list "$compilers" \
        --dir "$masq_dir" --binary "$bindir/distcc"
fi

on_path=0
IFS=: read -r -a path_dirs <<<"${PATH:-}"
for d in "${path_dirs[@]}"; do
    [[ $d == "$bindir" ]] && on_path=1
done

printf '%s: installed distcc into %s\n' "$prog" "${destdir}${prefix:-/}"
if [[ -z $destdir ]] && ((!on_path)); then
    printf '%s: %s is not on PATH; add it to run distcc by name:\n\n' "$prog" "$bindir"
    printf "    export PATH=\"%s:\$PATH\"\n\n" "$bindir"
fi
cat <<EOF
To compile through distcc by plain compiler names, put the masquerade
directory first on PATH:

    export PATH="$masq_dir:\$PATH"

After installing or removing compilers, refresh the links with:

    $sbindir/update-distcc-symlinks
EOF
if ((prefix_given)); then
    printf '\nTo remove it again: %s --uninstall --prefix %q\n' "$0" "${prefix:-/}"
else
    printf '\nTo remove it again: %s --uninstall\n' "$0"
fi

stop_demo() {
    if [[ -n ${demo_pid:-} ]]; then
        kill "$demo_pid" 2>/dev/null || true
        wait "$demo_pid" 2>/dev/null || true
    fi
    rm -rf -- "${demo_work:-}"
}

# A real distributed compile on this machine: the installed daemon on a
# loopback port the kernel picks, the installed client, by name and through
# the masquerade dir, each object compared with a local compile.
run_demo() {
    [[ -z $destdir ]] || die "--demo cannot run a --destdir staging install"
    command -v gcc >/dev/null || die "--demo needs gcc"
    local log port i
    demo_pid=
    demo_work=$(mktemp -d)
    chmod 755 "$demo_work"
    log=$demo_work/distccd.log
    trap 'stop_demo' EXIT
    printf '#include <stdio.h>\nint main(void) { puts("hello from distcc"); return 0; }\n' >"$demo_work/hello.c"
    # Created here, not by the daemon's redirection: the background job may
    # not have opened it yet when the first sed below reads it, and a failed
    # sed in an assignment ends the script under set -e.
    : >"$log"
    "$bindir/distccd" --daemon --no-detach --listen 127.0.0.1 --port 0 \
        --log-stderr --compiler-dir "$masq_dir" </dev/null >/dev/null 2>"$log" &
    demo_pid=$!
    port=
    for ((i = 0; i < 100; i++)); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
        [[ -n $port ]] && break
        kill -0 "$demo_pid" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n $port ]] || { cat "$log" >&2; die "distccd did not start"; }
    printf '%s: distccd listening on 127.0.0.1:%s\n' "$prog" "$port"
    (
        cd "$demo_work"
        # Its own state dir: no locks or backoff records left in ~/.distcc.
        export DISTCC_HOSTS="127.0.0.1:$port" DISTCC_VERBOSE=1 DISTCC_FALLBACK=0 \
            DISTCC_DIR="$demo_work/state"
        "$bindir/distcc" gcc -O2 -c hello.c -o remote.o
        PATH="$masq_dir:$PATH" gcc -O2 -c hello.c -o masquerade.o
        gcc -O2 -c hello.c -o local.o
        cmp remote.o local.o
        cmp masquerade.o local.o
    ) || die "demo compile failed"
    # The daemon logs a job after sending its reply, so the line may trail
    # the client's exit by a moment.
    for ((i = 0; i < 50; i++)); do
        (($(grep -c 'gcc status 0' "$log") >= 2)) && break
        sleep 0.1
    done
    (($(grep -c 'gcc status 0' "$log") >= 2)) || { cat "$log" >&2; die "the daemon did not compile both jobs"; }
    printf '%s: compiled remotely on the loopback daemon; objects identical to a local compile\n' "$prog"
}

if ((demo)); then
    run_demo
fi
