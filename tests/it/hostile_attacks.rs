//! The attacks `hostile` sends: requests that try to run a program, load
//! a plugin, read or write a file outside the job dir, or break the
//! decoder, each with what it must get and the markers it would create.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use distcc::protocol::{self, stream, RequestHead, Version, DOTI};

use crate::util::*;

pub const SOURCE: &[u8] = b"int answer(void) { return 42; }\n";

/// What an attack must get to pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Refusal,
    RefusalOrDrop,
    /// Accepted, but what it names is replaced by the daemon's own file
    /// (`-o /abs/path`, which distcc 3.4 clients send for every job): the
    /// object comes back in the reply and nothing appears at the path.
    Rewritten,
}

pub struct Attack {
    pub name: String,
    pub version: Version,
    pub bytes: Vec<u8>,
    pub expect: Expect,
    /// Files the attack would create if it worked.
    pub markers: Vec<PathBuf>,
}

/// The request head, announcing `dist` as its `DIST` value.
fn head(version: Version, argv: &[&str], dist: u32) -> Vec<u8> {
    let head = RequestHead {
        version,
        cwd: None,
        argv: argv.iter().map(Into::into).collect(),
    };
    let mut buf = Vec::new();
    protocol::write_request_head_as(&mut buf, &head, dist).unwrap();
    buf
}

pub fn request(version: Version, argv: &[&str], doti: &[u8]) -> Vec<u8> {
    let mut buf = head(version, argv, version.number());
    protocol::write_body(&mut buf, DOTI, version.codec(), doti).unwrap();
    buf
}

/// The same request in our streamed protocol: the source in two chunks
/// (when it has two bytes), then the end marker.
pub fn stream_request(version: Version, argv: &[&str], doti: &[u8]) -> Vec<u8> {
    let mut buf = head(version, argv, stream::version_for(version));
    let (a, b) = doti.split_at(doti.len() / 2);
    for piece in [a, b] {
        if !piece.is_empty() {
            stream::push_chunk(&mut buf, version.codec(), piece);
        }
    }
    buf.extend_from_slice(&stream::end());
    buf
}

/// The world-writable dir attacks aim at, with the tools they plant: a
/// fake `as`, a script for specs to run, a plugin, response files.
pub struct Evil {
    dir: PathBuf,
    planted: Vec<String>,
}

impl Evil {
    pub fn new(tree: &Tree) -> Evil {
        let dir = tree.path("evil");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let m = |n: &str| dir.join(n).display().to_string();
        let (m_as, m_spec, m_plugin) = (m("M_as"), m("M_spec"), m("M_plugin"));
        let wrapper = format!("-wrapper /bin/sh,-c,touch\\ {}", m("M_rsp"));
        let runme = dir.join("runme");
        let mut evil = Evil {
            dir,
            planted: Vec::new(),
        };
        evil.plant("as", &format!("#!/bin/sh\ntouch {m_as}\nexec as \"$@\"\n"));
        evil.plant("runme", &format!("#!/bin/sh\ntouch {m_spec}\n"));
        evil.plant(
            "evil.specs",
            &format!("*invoke_as:\n%{{!S:-o %|.s |\n {} }}\n\n", runme.display()),
        );
        evil.plant("opts.rsp", &wrapper);
        evil.plant("define.rsp", &format!("X {wrapper}"));
        evil.plant(
            "plugin.c",
            &format!(
                "#include <fcntl.h>\nint plugin_is_GPL_compatible;\n\
                 __attribute__((constructor)) static void f(void) {{ creat(\"{m_plugin}\", 0644); }}\n\
                 int plugin_init(void) {{ return 0; }}\n"
            ),
        );
        let so = evil.dir.join("plugin.so");
        let mut cc = std::process::Command::new("gcc");
        cc.args(["-shared", "-fPIC", "-o"])
            .arg(&so)
            .arg(evil.dir.join("plugin.c"));
        assert!(run(cc, Duration::from_secs(60)).status.success());
        fs::set_permissions(&so, fs::Permissions::from_mode(0o755)).unwrap();
        evil.planted.push("plugin.so".into());
        evil
    }

    fn plant(&mut self, name: &str, text: &str) {
        let p = self.dir.join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        self.planted.push(name.into());
    }

    pub fn marker(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// What is in the dir besides the planted files.
    pub fn intruders(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !self.planted.contains(n))
            .collect();
        v.sort();
        v
    }
}

/// Requests that try to run a program other than a whitelisted compiler,
/// or make the compiler run, load, read or write something it should not.
pub fn argument_attacks(evil: &Evil) -> Vec<Attack> {
    let p = |n: &str| evil.path(n);
    let mut out = Vec::new();
    // Each attack goes twice: whole, and through our streamed protocol,
    // where the compiler starts before the source arrives.
    let mut add = |name: &str, argv: Vec<String>, doti: &[u8], expect: Expect, markers: &[&str]| {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let markers: Vec<PathBuf> = markers.iter().map(|m| evil.marker(m)).collect();
        out.push(Attack {
            name: name.into(),
            version: Version::V1,
            bytes: request(Version::V1, &argv, doti),
            expect,
            markers: markers.clone(),
        });
        out.push(Attack {
            name: format!("{name} (streamed)"),
            version: Version::V1,
            bytes: stream_request(Version::V1, &argv, doti),
            expect,
            markers,
        });
    };
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let touch = format!("touch {}\n", p("M_cve"));
    // CVE-2004-2687 as scanners send it, then with arguments our policy
    // accepts, so only the whitelist stands between the client and a shell
    // that would run the "source" as a script.
    add(
        "CVE-2004-2687 sh -c",
        s(&["sh", "-c", &touch, "#", "-c", "main.c"]),
        b"",
        Expect::Refusal,
        &["M_cve"],
    );
    for prog in [
        "sh",
        "/bin/sh",
        "./sh",
        "../../../../bin/sh",
        "bin/sh",
        "env",
    ] {
        add(
            &format!("compiler name {prog}"),
            s(&[prog, "x.c", "-c", "-o", "x.o"]),
            touch.as_bytes(),
            Expect::Refusal,
            &["M_cve"],
        );
    }
    let gcc = |extra: &[&str]| {
        let mut v = s(&["gcc", "-c", "x.c", "-o", "x.o"]);
        v.extend(extra.iter().map(|a| a.to_string()));
        v
    };
    let touch_m = |m: &str| format!("/bin/sh,-c,touch {}", p(m));
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("-wrapper", gcc(&["-wrapper", &touch_m("M_wrap")]), "M_wrap"),
        (
            "-fplugin=",
            gcc(&[&format!("-fplugin={}", p("plugin.so"))]),
            "M_plugin",
        ),
        (
            "-B dir with a fake as",
            gcc(&[&format!("-B{}/", evil.dir.display())]),
            "M_as",
        ),
        (
            "-specs=",
            gcc(&[&format!("-specs={}", p("evil.specs"))]),
            "M_spec",
        ),
        ("@file", gcc(&[&format!("@{}", p("opts.rsp"))]), "M_rsp"),
        (
            "-D @file",
            gcc(&["-D", &format!("@{}", p("define.rsp"))]),
            "M_rsp",
        ),
        (
            "-Wa,-adhln=",
            gcc(&[&format!("-Wa,-adhln={}", p("M_lst"))]),
            "M_lst",
        ),
        (
            "-Xassembler -adhln=",
            gcc(&["-Xassembler", &format!("-adhln={}", p("M_lst"))]),
            "M_lst",
        ),
        ("-aux-info", gcc(&["-aux-info", &p("M_aux")]), "M_aux"),
        (
            "-save-temps -dumpdir",
            gcc(&["-save-temps", "-dumpdir", &p("M_st-")]),
            "M_st-x.s",
        ),
        (
            "-fdump-tree-all -dumpdir",
            gcc(&["-fdump-tree-all", "-dumpdir", &p("M_d-")]),
            "M_d-x.c.005t.original",
        ),
        (
            "-dumpbase",
            gcc(&["-dumpbase", &p("M_db"), "-fdump-tree-original"]),
            "M_db.005t.original",
        ),
        (
            "--coverage -dumpdir",
            gcc(&["--coverage", "-dumpdir", &p("M_cov-")]),
            "M_cov-x.gcno",
        ),
        (
            "-fprofile-generate=",
            gcc(&[&format!("-fprofile-generate={}", p("M_prof"))]),
            "M_prof",
        ),
        (
            "-fstack-usage -dumpdir",
            gcc(&["-fstack-usage", "-dumpdir", &p("M_su-")]),
            "M_su-x.su",
        ),
        (
            "-Xclang -load",
            gcc(&["-Xclang", "-load", "-Xclang", &p("plugin.so")]),
            "M_plugin",
        ),
        (
            "-iplugindir=",
            gcc(&[
                &format!("-iplugindir={}", evil.dir.display()),
                "-fplugin=plugin",
            ]),
            "M_plugin",
        ),
        (
            "-fsanitize-blacklist=",
            gcc(&["-fsanitize=address", "-fsanitize-blacklist=/etc/passwd"]),
            "M_none",
        ),
        ("-Wl,", gcc(&[&format!("-Wl,-Map={}", p("M_map"))]), "M_map"),
        ("second -o", gcc(&["-o", &p("M_out2.o")]), "M_out2.o"),
        (
            "--output=",
            s(&["gcc", "-c", "x.c", &format!("--output={}", p("M_out3.o"))]),
            "M_out3.o",
        ),
        ("second input", gcc(&[&p("other.c")]), "M_none"),
        ("-E to stdout", s(&["gcc", "-E", "x.c"]), "M_none"),
    ];
    for (name, argv, marker) in cases {
        add(name, argv, SOURCE, Expect::Refusal, &[marker]);
    }
    // Names as distcc 3.4 sends them for CMake and VPATH builds: replaced
    // by the job's own files, never opened.
    add(
        "absolute input is rewritten",
        s(&["gcc", "-c", &p("M_in.c"), "-o", "x.o"]),
        SOURCE,
        Expect::Rewritten,
        &["M_in.c"],
    );
    add(
        "input with .. is rewritten",
        s(&["gcc", "-c", "../../M_up.c", "-o", "x.o"]),
        SOURCE,
        Expect::Rewritten,
        &[],
    );
    add(
        "absolute -o is rewritten",
        s(&["gcc", "-c", "x.c", "-o", &p("M_abs.o")]),
        SOURCE,
        Expect::Rewritten,
        &["M_abs.o"],
    );
    out
}

/// Malformed, oversized and truncated requests.
pub fn protocol_attacks() -> Vec<Attack> {
    let mut out = Vec::new();
    let mut add = |name: &str, version: Version, bytes: Vec<u8>| {
        out.push(Attack {
            name: name.into(),
            version,
            bytes,
            expect: Expect::RefusalOrDrop,
            markers: Vec::new(),
        })
    };
    let mut many = b"DIST00000001ARGC000186a0".to_vec();
    for _ in 0..100_000 {
        many.extend_from_slice(b"ARGV00000002-c");
    }
    add("100 000 ARGV", Version::V1, many);
    add(
        "4 GiB ARGV",
        Version::V1,
        b"DIST00000001ARGC00000001ARGVffffffff".to_vec(),
    );
    let mut big = request(Version::V1, &["gcc", "-c", "x.c"], b"");
    big.truncate(big.len() - 12);
    big.extend_from_slice(b"DOTIffffffff");
    big.extend_from_slice(&[b'x'; 4096]);
    add("4 GiB DOTI", Version::V1, big);
    let zeros = vec![0u8; 4 << 20];
    let bomb = distcc::lzo::compress(&zeros);
    let ratio = zeros.len() / bomb.len();
    assert!(ratio > 64, "LZO of zeros inflates only {ratio}x");
    let mut lzo = request(Version::V2, &["gcc", "-c", "x.c", "-o", "x.o"], b"");
    lzo.truncate(lzo.len() - 12);
    protocol::write_raw(&mut lzo, DOTI, &bomb).unwrap();
    add(&format!("LZO DOTI inflating {ratio}x"), Version::V2, lzo);
    add(
        "wrong magic",
        Version::V1,
        b"GET / HTTP/1.0\r\n\r\n".to_vec(),
    );
    add(
        "version 9",
        Version::V1,
        b"DIST00000009ARGC00000001".to_vec(),
    );
    add(
        "bad hex",
        Version::V1,
        b"DIST00000001ARGC0000000zARGV".to_vec(),
    );
    add(
        "NUL in ARGV",
        Version::V1,
        b"DIST00000001ARGC00000001ARGV00000003g\0c".to_vec(),
    );
    let argv = ["gcc", "-O2", "-c", "x.c", "-o", "x.o"];
    let mut bomb_chunk = stream_request(Version::V2, &argv, b"");
    bomb_chunk.truncate(bomb_chunk.len() - 12);
    protocol::write_raw(&mut bomb_chunk, stream::DOTC, &bomb).unwrap();
    bomb_chunk.extend_from_slice(&stream::end());
    add(
        &format!("streamed LZO chunk inflating {ratio}x"),
        Version::V2,
        bomb_chunk,
    );
    let mut huge = stream_request(Version::V1, &argv, b"");
    huge.truncate(huge.len() - 12);
    huge.extend_from_slice(b"DOTCffffffff");
    huge.extend_from_slice(&[b'x'; 4096]);
    add("streamed 4 GiB chunk", Version::V1, huge);
    let mut garbage = stream_request(Version::V2, &argv, b"");
    garbage.truncate(garbage.len() - 12);
    protocol::write_raw(&mut garbage, stream::DOTC, &[0xff; 64]).unwrap();
    add("streamed LZO garbage", Version::V2, garbage);
    for version in [Version::V1, Version::V2] {
        let full = stream_request(version, &argv, SOURCE);
        for cut in [13, 30, full.len() - 20, full.len() - 1] {
            add(
                &format!("v{} stream cut at {cut}/{}", version.number(), full.len()),
                version,
                full[..cut].to_vec(),
            );
        }
    }
    for version in [Version::V1, Version::V2] {
        let full = request(version, &["gcc", "-O2", "-c", "x.c", "-o", "x.o"], SOURCE);
        for cut in [1, 12, 20, 30, 47, full.len() - 10, full.len() - 1] {
            add(
                &format!("v{} request cut at {cut}/{}", version.number(), full.len()),
                version,
                full[..cut].to_vec(),
            );
        }
    }
    out
}
