//! The packaging in `packaging/`: the Debian package built from the tree
//! and installed into a temp root (never this machine's), and
//! `systemd-analyze verify` on the units.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::install::{executable, names, src_dir, LIMIT};
use crate::skip_unless;
use crate::util::{exe, have, run, text, Tree};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn debian_package_installs_into_a_temp_root() {
    skip_unless!(
        have("dpkg") && have("dpkg-deb") && is_root(),
        "dpkg or root missing: dpkg needs root to own the files it unpacks"
    );
    let tree = Tree::new();
    let out_dir = tree.path("deb");
    let mut build = Command::new(src_dir().join("packaging/debian/build-deb.sh"));
    build
        .arg("--binary")
        .arg(exe())
        .arg("--output")
        .arg(&out_dir)
        .args(["--compression", "none"]);
    let out = run(build, LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let deb = PathBuf::from(text(&out.stdout).trim());
    assert!(deb.starts_with(&out_dir) && deb.is_file(), "{deb:?}");

    // The maintainer scripts run unchrooted: without DPKG_ROOT handling
    // they would change this machine, so refuse before installing.
    let mut info = Command::new("dpkg-deb");
    info.arg("-I").arg(&deb).arg("postinst");
    let postinst = text(&run(info, LIMIT).stdout);
    assert!(postinst.contains("DPKG_ROOT"), "{postinst}");

    // An empty dpkg database in a temp root holding one "compiler". Every
    // dpkg call names that root: this machine's database is never used.
    let root = tree.path("root");
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "usr/bin"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    executable(&root.join("usr/bin/gcc-99"), "#!/bin/sh\n");
    executable(&root.join("usr/bin/cpp-99"), "#!/bin/sh\n");
    let dpkg = |args: &[&std::ffi::OsStr]| {
        let mut c = Command::new("dpkg");
        c.arg(format!("--root={}", root.display()))
            .args(["--force-script-chrootless", "--force-depends"])
            .args(args);
        let out = run(c, LIMIT);
        assert!(out.status.success(), "dpkg {args:?}: {}", text(&out.stderr));
    };

    dpkg(&["-i".as_ref(), deb.as_os_str()]);
    let status = fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    assert!(
        status.contains("Package: distcc-rs\nStatus: install ok installed"),
        "{status}"
    );
    assert_eq!(
        fs::metadata(root.join("usr/bin/distcc")).unwrap().len(),
        fs::metadata(exe()).unwrap().len()
    );
    assert_eq!(
        fs::read_link(root.join("usr/bin/distccd")).unwrap(),
        Path::new("distcc")
    );
    for f in [
        "usr/sbin/update-distcc-symlinks",
        "lib/systemd/system/distccd.service",
        "lib/systemd/system/distccd.socket",
        "lib/systemd/system/distccd@.service",
        "etc/default/distcc",
        "etc/logrotate.d/distccd",
        "usr/lib/sysusers.d/distcc-rs.conf",
    ] {
        assert!(root.join(f).is_file(), "{f} missing");
    }
    // The postinst linked the root's compiler, not this machine's.
    let masq_dir = root.join("usr/lib/distcc/bin");
    assert_eq!(names(&masq_dir), ["gcc-99"]);
    assert_eq!(
        fs::read_link(masq_dir.join("gcc-99")).unwrap(),
        Path::new("../../../bin/distcc")
    );

    dpkg(&["--purge".as_ref(), "distcc-rs".as_ref()]);
    for gone in ["usr/bin/distcc", "usr/lib/distcc", "etc/default/distcc"] {
        assert!(!root.join(gone).exists(), "{gone} left after purge");
    }
    assert!(root.join("usr/bin/gcc-99").exists());
}

/// `systemd-analyze verify` in a throwaway root, as packaging/README.md
/// describes; silence means no problems, so output fails the test.
fn verify_units(units: &Path) -> String {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    for d in ["usr/bin", "etc/systemd/system", "usr/lib/systemd/system"] {
        fs::create_dir_all(r.join(d)).unwrap();
    }
    for dir in ["/lib/systemd/system", "/usr/lib/systemd/system"] {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let to = r.join("usr/lib/systemd/system").join(e.file_name());
            if e.path().is_file() && !to.exists() {
                fs::copy(e.path(), to).ok();
            }
        }
    }
    executable(&r.join("usr/bin/distccd"), "#!/bin/sh\n");
    let names = ["distccd.service", "distccd.socket", "distccd@.service"];
    for n in names {
        fs::copy(units.join(n), r.join("etc/systemd/system").join(n)).unwrap();
    }
    let mut c = Command::new("systemd-analyze");
    c.arg("verify")
        .arg(format!("--root={}", r.display()))
        .args(names)
        .current_dir(r.join("etc/systemd/system"));
    let out = run(c, LIMIT);
    format!(
        "{}{}{}",
        if out.status.success() { "" } else { "failed\n" },
        text(&out.stdout),
        text(&out.stderr)
    )
}

#[test]
fn systemd_units_verify() {
    skip_unless!(have("systemd-analyze"), "systemd-analyze not installed");
    let units = src_dir().join("packaging/systemd");
    assert_eq!(verify_units(&units), "");

    // The check can fail: a misspelt directive is reported.
    let broken = tempfile::tempdir().unwrap();
    for e in fs::read_dir(&units).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), broken.path().join(e.file_name())).unwrap();
    }
    let service = broken.path().join("distccd.service");
    let text = fs::read_to_string(&service).unwrap();
    fs::write(&service, text.replace("PrivateTmp=", "PrivateTnp=")).unwrap();
    assert!(verify_units(broken.path()).contains("PrivateTnp"));
}
