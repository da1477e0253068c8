//! Outputs land where and as the compiler would write them: a device stays
//! a device, a symlink is written through, in every mode and on fallback.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, FileTypeExt};
use std::path::Path;
use std::time::Duration;

use crate::skip_unless;
use crate::util::*;

fn mknod_null(path: &Path) -> bool {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; the node is made in the test's
    // own temp dir, with /dev/null's device number (1, 3).
    unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) == 0 }
}

/// Every way a job can end: plain, exact mode, and a fallback to a local
/// compile (a host where nothing listens).
fn host_variants(d: &Daemon) -> Vec<(&'static str, String)> {
    vec![
        ("plain", d.host()),
        ("exact", format!("{},cpp", d.host())),
        ("fallback", format!("127.0.0.1:{}", free_port())),
    ]
}

#[test]
fn a_device_output_stays_a_device() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    let null = tree.work().join("null");
    skip_unless!(mknod_null(&null), "making a device node needs root");
    tree.write("t.c", "int f(void) { return 1; }\n");
    let d = Daemon::start(&tree, &[]);
    for (how, hosts) in host_variants(&d) {
        for extra in [&["-c"][..], &["-S"][..], &["-c", "-MD", "-MF", "null"][..]] {
            let mut args = vec!["gcc"];
            args.extend_from_slice(extra);
            args.extend(["t.c", "-o", "null"]);
            let out = run(tree.client(&hosts, &args), Duration::from_secs(120));
            assert!(
                out.status.success(),
                "{how} {args:?}: {}",
                text(&out.stderr)
            );
            let meta = fs::symlink_metadata(&null).unwrap();
            assert!(
                meta.file_type().is_char_device(),
                "{how} {args:?} replaced the device"
            );
        }
    }
    let left: Vec<_> = fs::read_dir(tree.work())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".distcc-"))
        .collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
}

#[test]
fn a_symlinked_output_lands_in_its_target() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("t.c", "int f(void) { return 2; }\n");
    fs::create_dir(tree.work().join("real")).unwrap();
    let want = local(&tree, "gcc", &["-c", "t.c", "-o", "want.o"]);
    assert!(want.status.success());
    let want = fs::read(tree.work().join("want.o")).unwrap();
    let d = Daemon::start(&tree, &[]);
    for (how, hosts) in host_variants(&d) {
        let target = tree.work().join("real").join(format!("{how}.o"));
        let link = tree.work().join(format!("{how}.o"));
        symlink(format!("real/{how}.o"), &link).unwrap();
        let name = format!("{how}.o");
        let out = run(
            tree.client(&hosts, &["gcc", "-c", "t.c", "-o", &name]),
            Duration::from_secs(120),
        );
        assert!(out.status.success(), "{how}: {}", text(&out.stderr));
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{how}: the link was replaced"
        );
        assert_eq!(fs::read(&target).unwrap(), want, "{how}: the target");
    }
}
