#!/usr/bin/env bash
# Build target/debian/distcc-rs_VERSION_ARCH.deb straight from the tree with
# dpkg-deb, without debhelper or a debian/ source directory.
#
# The masquerade links are not in the package: which compilers exist is a
# property of the machine the package is installed on, so the maintainer
# scripts create them there (and a dpkg file trigger refreshes them when
# compilers come and go).

set -euo pipefail

prog=${0##*/}

usage() {
    cat <<EOF
Usage: $prog [--binary PATH] [--no-build] [--output DIR] [--compression TYPE]

  --binary PATH       package this prebuilt binary instead of building
  --no-build          package target/release/distcc without running cargo
  --output DIR        where to write the .deb (default: target/debian)
  --compression TYPE  xz (default), gzip or none; none is for test builds
                      of a large unoptimised binary
  -h, --help      show this help
EOF
}

die() {
    printf '%s: %s\n' "$prog" "$*" >&2
    exit 1
}

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
pkgdir=$top/packaging

binary=
build=1
outdir=$top/target/debian
compression=xz

while (($#)); do
    case $1 in
        --binary) (($# >= 2)) || die "--binary needs an argument"; binary=$2; shift ;;
        --binary=*) binary=${1#*=} ;;
        --no-build) build=0 ;;
        --output) (($# >= 2)) || die "--output needs an argument"; outdir=$2; shift ;;
        --output=*) outdir=${1#*=} ;;
        --compression) (($# >= 2)) || die "--compression needs an argument"; compression=$2; shift ;;
        --compression=*) compression=${1#*=} ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done
[[ -z $binary || $binary == /* ]] || binary=$PWD/$binary
[[ $outdir == /* ]] || outdir=$PWD/$outdir
case $compression in
    xz | gzip | none) ;;
    *) die "unknown compression: $compression (xz, gzip or none)" ;;
esac

for tool in dpkg-deb dpkg install; do
    command -v "$tool" >/dev/null || die "$tool not found (it comes with dpkg/coreutils on Debian and derivatives)"
done

# The version of the [package] section, not of some dependency table.
version=$(awk '
    /^\[/ { in_pkg = ($0 == "[package]") }
    in_pkg && /^version[[:space:]]*=/ {
        sub(/^version[[:space:]]*=[[:space:]]*"/, ""); sub(/".*/, ""); print; exit
    }' "$top/Cargo.toml")
[[ -n $version ]] || die "cannot read the package version from Cargo.toml"
# Debian versions order "~" before anything; Cargo pre-releases use "-".
deb_version=${version/-/\~}
arch=$(dpkg --print-architecture)

umask 022
staging=$(mktemp -d "${TMPDIR:-/tmp}/distcc-rs-deb.XXXXXX")
trap 'rm -rf -- "$staging"' EXIT
root=$staging/root
mkdir -p "$root"

install_args=(--prefix /usr --destdir "$root" --no-links)
if [[ -n $binary ]]; then
    install_args+=(--binary "$binary")
elif ((!build)); then
    install_args+=(--no-build)
fi
"$top/install.sh" "${install_args[@]}" >/dev/null

install -D -m 0644 "$pkgdir/systemd/distccd.service" "$root/lib/systemd/system/distccd.service"
install -D -m 0644 "$pkgdir/systemd/distccd.socket" "$root/lib/systemd/system/distccd.socket"
install -D -m 0644 "$pkgdir/systemd/distccd@.service" "$root/lib/systemd/system/distccd@.service"
install -D -m 0644 "$pkgdir/default/distcc" "$root/etc/default/distcc"
install -D -m 0644 "$pkgdir/logrotate/distccd" "$root/etc/logrotate.d/distccd"
install -D -m 0644 "$pkgdir/sysusers/distcc-rs.conf" "$root/usr/lib/sysusers.d/distcc-rs.conf"
install -D -m 0644 "$pkgdir/README.md" "$root/usr/share/doc/distcc-rs/README.packaging.md"

# Shared-library dependencies of the real binary; a placeholder binary
# (e.g. a script used to test packaging) just gets libc.
depends="libc6"
if command -v dpkg-shlibdeps >/dev/null && command -v file >/dev/null &&
    file -L "$root/usr/bin/distcc" | grep -q ELF; then
    shl=$staging/shlibs
    mkdir -p "$shl/debian"
    printf 'Source: distcc-rs\n\nPackage: distcc-rs\nArchitecture: any\n' >"$shl/debian/control"
    if detected=$(cd "$shl" && dpkg-shlibdeps -O "$root/usr/bin/distcc" 2>/dev/null); then
        detected=${detected#shlibs:Depends=}
        [[ -n $detected ]] && depends=$detected
    fi
fi

mkdir -p "$root/DEBIAN"
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)

cat >"$root/DEBIAN/control" <<EOF
Package: distcc-rs
Version: $deb_version
Architecture: $arch
Maintainer: distcc-rs developers <distcc-rs@localhost>
Installed-Size: $installed_size
Depends: $depends, adduser | passwd
Recommends: gcc | clang
Suggests: logrotate
Conflicts: distcc
Replaces: distcc
Provides: distcc
Section: devel
Priority: optional
Description: distributed C/C++ compiler client and server (Rust)
 A drop-in reimplementation of distcc 3.4: the distcc client sends
 preprocessed compile jobs to distccd servers on other machines, which
 run the same compiler and return the object files.
 .
 One binary provides distcc, distccd and distccmon-text.  Compiler names
 found on the system are linked into /usr/lib/distcc/bin, which is both
 the masquerade directory for PATH and the daemon's compiler whitelist.
EOF

cat >"$root/DEBIAN/conffiles" <<EOF
/etc/default/distcc
/etc/logrotate.d/distccd
EOF

# Any package adding or removing files in these directories may add or
# remove a compiler; noawait because nothing depends on the links being
# refreshed before that package is configured.
cat >"$root/DEBIAN/triggers" <<EOF
interest-noawait /usr/bin
interest-noawait /usr/lib/gcc
interest-noawait /usr/lib/gcc-cross
EOF

for script in postinst prerm postrm; do
    install -m 0755 "$pkgdir/debian/$script" "$root/DEBIAN/$script"
done

(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' |
    LC_ALL=C sort -z | xargs -0r md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

mkdir -p "$outdir"
deb=$outdir/distcc-rs_${deb_version}_${arch}.deb
dpkg-deb --root-owner-group -Z"$compression" --build "$root" "$deb" >/dev/null
printf '%s\n' "$deb"
