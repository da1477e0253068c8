# Copyright 2024 Gentoo Authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

# Regenerate CRATES from Cargo.lock whenever dependencies change
# (e.g. with pycargoebuild); a stale list fails at fetch time.
CRATES="
	android_system_properties@0.1.6
	anyhow@1.0.105
	argh@0.1.19
	argh_derive@0.1.19
	argh_shared@0.1.19
	autocfg@1.5.1
	bitflags@2.13.2
	bumpalo@3.20.4
	byteorder@1.5.0
	cc@1.11.3
	cfg-if@1.0.5
	chrono@0.4.45
	core-foundation-sys@0.8.7
	errno@0.3.15
	fastrand@2.5.0
	find-msvc-tools@0.1.15
	flexi_logger@0.31.10
	fs2@0.4.3
	futures-core@0.3.34
	futures-task@0.3.34
	futures-util@0.3.34
	getrandom@0.4.3
	iana-time-zone-haiku@0.1.2
	iana-time-zone@0.1.65
	js-sys@0.3.107
	libc@0.2.191
	linux-raw-sys@0.12.1
	log@0.4.35
	lzokay-native@0.1.0
	num-traits@0.2.19
	once_cell@1.21.4
	pin-project-lite@0.2.18
	proc-macro2@1.0.107
	quote@1.0.47
	r-efi@6.0.0
	rustix@1.1.6
	rustversion@1.0.23
	serde@1.0.229
	serde_core@1.0.229
	serde_derive@1.0.229
	shlex@2.0.1
	slab@0.4.12
	socket2@0.6.5
	syn@2.0.119
	syn@3.0.10
	tempfile@3.27.0
	thiserror-impl@1.0.69
	thiserror-impl@2.0.21
	thiserror@1.0.69
	thiserror@2.0.21
	unicode-ident@1.0.27
	wasm-bindgen-macro-support@0.2.130
	wasm-bindgen-macro@0.2.130
	wasm-bindgen-shared@0.2.130
	wasm-bindgen@0.2.130
	winapi-i686-pc-windows-gnu@0.4.0
	winapi-x86_64-pc-windows-gnu@0.4.0
	winapi@0.3.9
	windows-core@0.62.2
	windows-implement@0.60.2
	windows-interface@0.59.3
	windows-link@0.2.1
	windows-result@0.4.1
	windows-strings@0.5.1
	windows-sys@0.61.2
"

inherit cargo systemd

DESCRIPTION="Distributed C/C++ compiler, a Rust drop-in for distcc 3.4"
HOMEPAGE="https://example.org/distcc-rs"
# No release tarball is published yet: point this at one (e.g. made with
# `git archive --prefix=${P}/ v${PV}`) before using the ebuild.
SRC_URI="
	https://example.org/distcc-rs/${P}.tar.gz
	${CARGO_CRATE_URIS}
"

LICENSE="GPL-2+"
# Licenses of the vendored crates; pycargoebuild computes the exact set.
LICENSE+=" Apache-2.0 MIT Unicode-3.0"
SLOT="0"
KEYWORDS="~amd64 ~arm64"

# Both install /usr/bin/distcc and /usr/lib/distcc/bin.
RDEPEND="
	acct-user/distcc
	!sys-devel/distcc
"

QA_FLAGS_IGNORED="usr/bin/distcc"

src_install() {
	dobin "$(cargo_target_dir)"/distcc
	dosym distcc /usr/bin/distccd
	dosym distcc /usr/bin/distccmon-text

	dosbin masquerade/update-distcc-symlinks
	insinto /usr/share/distcc
	doins masquerade/compilers
	# Populated in pkg_postinst: which compilers exist is known only on the
	# installed system (and changes with gcc-config / new slots).
	keepdir /usr/lib/distcc/bin

	systemd_dounit packaging/systemd/distccd.service
	systemd_dounit packaging/systemd/distccd.socket
	systemd_dounit packaging/systemd/distccd@.service
	# Gentoo's account is "distcc" and its settings live in conf.d; a
	# drop-in adapts the shared units instead of forking them.
	local unit
	for unit in distccd.service distccd@.service; do
		insinto "$(systemd_get_systemunitdir)/${unit}.d"
		newins - 00gentoo.conf <<-EOT
			[Service]
			User=distcc
			Group=distcc
			EnvironmentFile=-/etc/conf.d/distccd
		EOT
	done

	newconfd packaging/default/distcc distccd

	insinto /etc/logrotate.d
	newins packaging/logrotate/distccd distccd
	sed -i -e 's/create 0640 distccd adm/create 0640 distcc daemon/' \
		"${ED}"/etc/logrotate.d/distccd || die

	insinto /etc/distcc
	newins - hosts <<-EOT
		# distcc hosts, most preferred first, e.g.:
		#   localhost/2 192.168.0.2/8,lzo 192.168.0.3/8,lzo
	EOT

	dodoc packaging/README.md packaging/gentoo/make.conf.example
}

pkg_postinst() {
	# The links mirror the compilers on the running system's PATH, which
	# says nothing about a different ROOT.
	if [[ -z ${ROOT} ]]; then
		"${EROOT}"/usr/sbin/update-distcc-symlinks --quiet \
			--dir /usr/lib/distcc/bin --binary /usr/bin/distcc ||
			ewarn "update-distcc-symlinks failed; re-run it by hand"
	else
		ewarn "Run update-distcc-symlinks inside ${ROOT} once it is booted."
	fi

	elog "Re-run update-distcc-symlinks after installing or removing a"
	elog "compiler (new gcc slot, cross toolchain, clang) so the masquerade"
	elog "directory and distccd's whitelist stay in sync."
	elog "Daemon options: /etc/conf.d/distccd (DISTCCD_OPTS)."
	elog "Client hosts: /etc/distcc/hosts; see make.conf.example in"
	elog "/usr/share/doc/${PF} for FEATURES=distcc."
}

pkg_prerm() {
	# Only on real removal: an upgrade's pkg_postinst refreshes the links.
	if [[ -z ${REPLACED_BY_VERSION} ]]; then
		"${EROOT}"/usr/sbin/update-distcc-symlinks --remove --quiet \
			--root "${ROOT}" --dir /usr/lib/distcc/bin --binary /usr/bin/distcc ||
			ewarn "could not remove the masquerade links in /usr/lib/distcc/bin"
	fi
}
