//! Header affinity in placement: among volunteers where a job would finish
//! equally soon, the one that already holds the unit's headers (sent by an
//! earlier job of the user, in our hashed dialect) gets it; a holder that
//! would queue it does not.

use std::fmt::Write as _;
use std::fs;
use std::time::Duration;

use crate::blocking::{jobs_in, wait_for};
use crate::placement::Rig;
use crate::skip_unless;
use crate::util::*;

const T: Duration = Duration::from_secs(60);

/// A header of some size that both units include, and the two units.
fn write_units(rig: &Rig) {
    let mut big = String::from("#pragma once\n");
    for i in 0..3000 {
        writeln!(
            big,
            "static inline int shared_{i}(int x) {{ return x + {i}; }}"
        )
        .unwrap();
    }
    rig.tree.write("big.h", &big);
    rig.tree.write(
        "x.c",
        "#include \"big.h\"\nint f(int x) { return shared_7(x); }\n",
    );
    rig.tree.write(
        "y.c",
        "#include \"big.h\"\nint g(int x) { return shared_9(x) * 3; }\n",
    );
    rig.tree.write("z.c", "int h(int x) { return x - 1; }\n");
}

/// Compiles `src` on `hosts`, and checks the object is a local compile's.
fn compiled(rig: &Rig, hosts: &str, src: &str, obj: &str) {
    let out = run(rig.compile(hosts, src, obj, false), T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let here = format!("local-{obj}");
    let out = local(&rig.tree, "gcc", &["-c", src, "-o", &here]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let work = rig.tree.work();
    assert_eq!(
        fs::read(work.join(obj)).unwrap(),
        fs::read(work.join(&here)).unwrap(),
        "{obj} differs from a local compile"
    );
}

#[test]
fn the_unit_goes_to_the_volunteer_that_holds_its_headers() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    write_units(&rig);
    let a = rig.daemon(&[]);
    let b = rig.daemon(&[]);
    // Both idle: the list's order decides, so x.c (and big.h) go to b.
    compiled(&rig, &format!("{} {}", b.host(), a.host()), "x.c", "x.o");
    assert_eq!(jobs_in(&b, 1), 1, "{}", b.log());
    let records = rig.tree.path("state/affinity");
    assert_eq!(
        fs::read_dir(&records).unwrap().count(),
        1,
        "one host recorded"
    );
    // a is listed first now and as free, but b holds big.h.
    compiled(&rig, &format!("{} {}", a.host(), b.host()), "y.c", "y.o");
    assert_eq!(jobs_in(&b, 2), 2, "a: {}\nb: {}", a.log(), b.log());
}

#[test]
fn a_busy_holder_does_not_get_the_unit_over_a_free_host() {
    skip_unless!(have("gcc"), "gcc not installed");
    let rig = Rig::new();
    write_units(&rig);
    let busy = rig.daemon(&["--jobs", "1"]);
    let free = rig.daemon(&["--jobs", "1"]);
    let hosts = format!("{}/4 {}/4", busy.host(), free.host());
    compiled(&rig, &hosts, "x.c", "x.o");
    assert_eq!(jobs_in(&busy, 1), 1, "{}", busy.log());
    // Another user's job takes the holder's only slot, and the answers
    // our client cached before it are forgotten.
    let mut theirs = rig.other_user(&busy.host(), "z.c", "z.o");
    assert!(wait_for(T, || rig.started() == 1), "{}", busy.log());
    fs::remove_dir_all(rig.tree.path("state/status")).unwrap();
    compiled(&rig, &hosts, "y.c", "y.o");
    assert_eq!(jobs_in(&free, 1), 1, "{}", free.log());
    rig.release();
    assert!(wait_bounded(&mut theirs, T).unwrap().success());
    assert_eq!(jobs_in(&busy, 2), 2, "{}", busy.log());
}
