//! Exact mode (`,cpp` hosts): a multi-directory build with relative,
//! absolute and symlinked include paths, byte-identical to a local build
//! with `-g`; bytes on the wire against protocol 2, cold and warm; and the
//! reference daemon as a protocol-3 peer.

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;
use std::time::Duration;

use crate::skip_unless;
use crate::util::*;

pub fn project(tree: &Tree, files: usize) {
    let abs_inc = tree.work().join("vendor/include");
    tree.write(
        "vendor/include/vendor.h",
        "#pragma once\n#define VENDOR_SCALE 3\n",
    );
    tree.write(
        "include/common.h",
        "#pragma once\n#include \"../include/detail/more.h\"\n#define TWICE(x) ((x) + (x))\n",
    );
    tree.write(
        "include/detail/more.h",
        "#pragma once\nstatic inline int more(int x) { return x * 7; }\n",
    );
    tree.write("real-gen/gen.h", "#pragma once\n#define GENERATED 11\n");
    symlink(tree.work().join("real-gen"), tree.work().join("gen")).unwrap();
    let mut objs = Vec::new();
    for i in 0..files {
        let dir = if i % 2 == 0 { "src/a" } else { "src/b" };
        tree.write(
            &format!("{dir}/f{i}.c"),
            &format!(
                "#include <stdio.h>\n#include \"common.h\"\n#include <vendor.h>\n#include \"gen/gen.h\"\n\
                 int f{i}(int x) {{ int unused_{i}; return TWICE(x) + more(x) * VENDOR_SCALE + GENERATED + {i}; }}\n\
                 void p{i}(void) {{ printf(\"%d\\n\", f{i}({i})); }}\n"
            ),
        );
        objs.push(format!("obj/f{i}.o"));
    }
    tree.write(
        "Makefile",
        &format!(
            "CC ?= gcc\nOBJS = {}\nall: $(OBJS)\n\
             obj/%.o: src/a/%.c\n\t@mkdir -p obj\n\t$(CC) -g -O1 -Wall -Iinclude -I{} -I. -MMD -c $< -o $@\n\
             obj/%.o: src/b/%.c\n\t@mkdir -p obj\n\t$(CC) -g -O1 -Wall -Iinclude -I{} -I. -MMD -c $< -o $@\n",
            objs.join(" "),
            abs_inc.display(),
            abs_inc.display()
        ),
    );
}

pub fn make(tree: &Tree, cc: &str, hosts: Option<&str>) -> std::process::Output {
    let mut c = Command::new("make");
    c.args(["-j4", &format!("CC={cc}")])
        .current_dir(tree.work())
        .env("DISTCC_DIR", tree.path("state"))
        .env("DISTCC_FALLBACK", "0")
        .env(
            "PATH",
            format!(
                "{}:{}",
                tree.path("bin").display(),
                tree.cpponly_path().to_string_lossy()
            ),
        );
    if let Some(h) = hosts {
        c.env("DISTCC_HOSTS", h);
    } else {
        c.env("PATH", std::env::var("PATH").unwrap());
    }
    run(c, Duration::from_secs(300))
}

#[test]
fn multi_directory_build_is_identical_with_debug_info() {
    skip_unless!(have("gcc") && have("make"), "gcc or make missing");
    let tree = Tree::new();
    project(&tree, 12);
    let local = make(&tree, "gcc", None);
    assert!(local.status.success(), "{}", text(&local.stderr));
    let want = dir_contents(&tree.work().join("obj"));
    let want_warnings = text(&local.stderr);
    fs::remove_dir_all(tree.work().join("obj")).unwrap();

    let daemon = Daemon::start(&tree, &[]);
    let out = make(
        &tree,
        "distcc gcc",
        Some(&format!("{},cpp,lzo", daemon.host())),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = dir_contents(&tree.work().join("obj"));
    assert_eq!(want.len(), 24, "12 objects and 12 .d files");
    for ((wn, w), (gn, g)) in want.iter().zip(&got) {
        assert_eq!(wn, gn);
        assert!(
            w == g,
            "{wn} differs from the local build:\n{}\n---\n{}",
            text(w),
            text(g)
        );
    }
    // Same warnings, quoted source lines included (make's own lines aside).
    let diag = |s: &str| -> Vec<String> {
        let mut v: Vec<String> = s
            .lines()
            .filter(|l| !l.starts_with("make"))
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    assert_eq!(diag(&want_warnings), diag(&text(&out.stderr)));
}

/// Parses "N bytes on the wire" from a client log.
fn wire_bytes(log: &str) -> Vec<usize> {
    log.lines()
        .filter_map(|l| {
            let end = l.find(" bytes on the wire")?;
            l[..end]
                .rsplit(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[test]
fn warm_header_store_sends_less_than_protocol_2() {
    skip_unless!(have("gcc"), "gcc missing");
    let tree = Tree::new();
    // A project header of realistic weight, included by every unit, with
    // names varied enough that a good compressor cannot make it vanish.
    let mut big = String::from("#pragma once\n");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..3000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.push_str(&format!(
            "int api_function_{i}(int a{:x}, const char *n{:x}, double s{:x});\n",
            x & 0xffff,
            (x >> 16) & 0xffff,
            (x >> 32) & 0xffff
        ));
    }
    tree.write("include/api.h", &big);
    for i in 0..5 {
        tree.write(&format!("u{i}.c"), &format!("#include <stdio.h>\n#include \"api.h\"\nint u{i}(void) {{ return api_function_{i}(1, \"x\", 2.0); }}\n"));
    }
    // A private temp dir, so the daemon's header store starts cold.
    let tmp = tree.path("daemon-tmp");
    fs::create_dir(&tmp).unwrap();
    // The daemon drops root to an unprivileged user.
    fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let daemon = Daemon::start_with(&tree, &[], |c| {
        c.env("TMPDIR", &tmp);
    });
    let mut per_mode = Vec::new();
    for (label, opts) in [
        ("protocol 2 (lzo)", ",lzo,classic"),
        ("exact, cold store", ",cpp,lzo"),
        ("exact, warm store", ",cpp,lzo"),
    ] {
        let log = tree.path(&format!(
            "state/{}.log",
            label.replace([' ', ',', '(', ')'], "_")
        ));
        for i in 0..5 {
            let src = format!("u{i}.c");
            let obj = format!("u{i}.o");
            let mut cmd = tree.client(
                &format!("{}{opts}", daemon.host()),
                &["gcc", "-Iinclude", "-c", &src, "-o", &obj],
            );
            cmd.env("DISTCC_LOG", &log)
                .env("DISTCC_FALLBACK", "0")
                .env("PATH", tree.cpponly_path());
            let out = run(cmd, Duration::from_secs(60));
            assert!(out.status.success(), "{label}: {}", text(&out.stderr));
        }
        let bytes = wire_bytes(&fs::read_to_string(&log).unwrap());
        assert_eq!(bytes.len(), 5, "{label}: one figure per job");
        let per_job = bytes.iter().sum::<usize>() / bytes.len();
        println!("bytes sent per job, {label}: {per_job}");
        per_mode.push(per_job);
    }
    assert!(
        per_mode[2] < per_mode[0],
        "warm exact mode sends less than protocol 2: {per_mode:?}"
    );
    assert!(
        per_mode[2] * 5 < per_mode[1],
        "the warm store saves the header: {per_mode:?}"
    );
}

#[test]
fn reference_daemon_serves_plain_protocol_3() {
    skip_unless!(have("gcc"), "gcc missing");
    skip_unless!(RefDaemon::available(), "Debian's distcc is not installed");
    let tree = Tree::new();
    project(&tree, 2);
    let daemon = RefDaemon::start();
    for i in 0..2 {
        let dir = if i % 2 == 0 { "src/a" } else { "src/b" };
        let src = format!("{dir}/f{i}.c");
        let args = [
            "-O1",
            "-Iinclude",
            "-Ivendor/include",
            "-I.",
            "-c",
            &src,
            "-o",
        ];
        let local_obj = format!("l{i}.o");
        let mut l = args.to_vec();
        l.push(&local_obj);
        assert!(local(&tree, "gcc", &l).status.success());
        let remote_obj = format!("r{i}.o");
        let mut r = vec!["gcc"];
        r.extend(args);
        r.push(&remote_obj);
        let mut cmd = tree.client(&format!("{},cpp,lzo", daemon.host()), &r);
        cmd.env("DISTCC_FALLBACK", "0")
            .env("PATH", tree.cpponly_path());
        let out = run(cmd, Duration::from_secs(60));
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(
            fs::read(tree.work().join(&local_obj)).unwrap(),
            fs::read(tree.work().join(&remote_obj)).unwrap()
        );
    }
    let remembered = fs::read_dir(tree.path("state/state")).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("plain3_")
    });
    assert!(
        remembered,
        "the client remembers the reference speaks plain protocol 3"
    );
}

/// `-Wp,-MD,file` (the Linux kernel's `-Wp,-MMD`) and `-Xpreprocessor -MD
/// -Xpreprocessor file` go in exact mode and give gcc's own `.d` file; a
/// compile carrying linker options (CMake's checks pass `-Wl,...`) does
/// too, since they are inert in a compile.
#[test]
fn linker_options_and_preprocessor_dependency_files_stay_in_exact_mode() {
    skip_unless!(have("gcc"), "gcc not installed");
    let tree = Tree::new();
    tree.write("src/x.c", "#include \"h.h\"\nint x(void) { return H; }\n");
    tree.write("src/h.h", "#define H 42\n");
    fs::create_dir_all(tree.work().join("obj")).unwrap();
    let daemon = Daemon::start(&tree, &[]);
    let log = tree.path("state/client.log");
    let cases: &[&[&str]] = &[
        &[
            "-g",
            "-O2",
            "-Wp,-MD,obj/x.d",
            "-c",
            "src/x.c",
            "-o",
            "obj/x.o",
        ],
        &[
            "-g",
            "-Wp,-MMD,obj/.x.o.d",
            "-c",
            "src/x.c",
            "-o",
            "obj/x.o",
        ],
        &[
            "-g",
            "-Xpreprocessor",
            "-MD",
            "-Xpreprocessor",
            "obj/x.d",
            "-c",
            "src/x.c",
            "-o",
            "obj/x.o",
        ],
        &[
            "-g",
            "-Wl,--version-script,/abs/path.map",
            "-lm",
            "-c",
            "src/x.c",
            "-o",
            "obj/x.o",
        ],
    ];
    for args in cases {
        // The compile as gcc does it here, then through distcc.
        let mut want = Vec::new();
        for (round, path) in [("local", None), ("exact", Some(tree.cpponly_path()))] {
            for f in ["obj/x.o", "obj/x.d", "obj/.x.o.d"] {
                fs::remove_file(tree.work().join(f)).ok();
            }
            let out = match path {
                None => local(&tree, "gcc", args),
                Some(p) => {
                    fs::remove_file(&log).ok();
                    let mut full = vec!["gcc"];
                    full.extend_from_slice(args);
                    let mut cmd = tree.client(&format!("{},cpp", daemon.host()), &full);
                    cmd.env("PATH", p)
                        .env("DISTCC_FALLBACK", "0")
                        .env("DISTCC_LOG", &log);
                    run(cmd, Duration::from_secs(120))
                }
            };
            assert!(
                out.status.success(),
                "{round} {args:?}: {}",
                text(&out.stderr)
            );
            let files: Vec<(String, Vec<u8>)> = dir_contents(&tree.work().join("obj"));
            if round == "local" {
                want = files;
            } else {
                assert!(want == files, "{args:?}: outputs differ from gcc's");
                let logged = fs::read_to_string(&log).unwrap();
                assert!(
                    logged.contains("(exact)"),
                    "{args:?} went in exact mode: {logged}"
                );
            }
        }
        assert!(!want.is_empty());
    }
}
