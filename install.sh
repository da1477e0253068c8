#!/usr/bin/env bash
# Install (or uninstall) the distcc multicall binary, its daemon/monitor
# names and the compiler masquerade directory.
#
# Re-running is safe: the binary is replaced atomically and the masquerade
# links are refreshed (new compilers added, vanished ones dropped).

set -euo pipefail

prog=${0##*/}

usage() {
    cat <<EOF
Usage: $prog [options]

Options:
  --prefix DIR    installation prefix (default: ~/.local, or /usr/local as root)
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
destdir=
binary=
build=1
links=1
uninstall=0
demo=0

while (($#)); do
    case $1 in
        --prefix) (($# >= 2)) || die "--prefix needs an argument"; prefix=$2; shift ;;
        --prefix=*) prefix=${1#*=} ;;
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

bindir=$prefix/bin
sbindir=$prefix/sbin
datadir=$prefix/share/distcc
masq_dir=$prefix/lib/distcc/bin

[[ -x $updater ]] || die "missing $updater"

# Only a symlink carrying exactly the value we write is ours to replace or
# remove; anything else at that name belongs to someone else.
our_link() {
    [[ -L $1 && $(readlink -- "$1") == "$2" ]]
}

if ((uninstall)); then
    "$updater" --remove --quiet --root "$destdir" \
        --dir "$masq_dir" --binary "$bindir/distcc"
    rmdir -- "$destdir$prefix/lib/distcc" 2>/dev/null || true
    for name in distccd distccmon-text; do
        if our_link "$destdir$bindir/$name" distcc; then
            rm -f -- "$destdir$bindir/$name"
        fi
    done
    for f in "$bindir/distcc" "$sbindir/update-distcc-symlinks" "$datadir/compilers"; do
        if [[ -f $destdir$f && ! -L $destdir$f ]]; then
            rm -f -- "$destdir$f"
        fi
    done
    rmdir -- "$destdir$datadir" 2>/dev/null || true
    printf '%s: removed distcc from %s\n' "$prog" "$destdir${prefix:-/}"
    exit 0
fi

if [[ -z $binary ]]; then
    if ((build)); then
        command -v cargo >/dev/null || die "cargo not found; install Rust or pass --binary"
        (cd "$src_dir" && cargo build --release --locked)
    fi
    binary=$src_dir/target/release/distcc
fi
[[ -f $binary && -x $binary ]] || die "no executable binary at $binary"

umask 022
install -d -m 0755 -- "$destdir$bindir" "$destdir$sbindir" "$destdir$datadir" "$destdir$masq_dir"

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

cat <<EOF
$prog: installed distcc into ${destdir}${prefix:-/}
To compile through distcc by plain compiler names, put the masquerade
directory first on PATH:

    export PATH="$masq_dir:\$PATH"

After installing or removing compilers, refresh the links with:

    $sbindir/update-distcc-symlinks
EOF

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
