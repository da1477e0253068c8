//! A deterministic fuzzer for the request decoder and the argument policy,
//! run by `cargo test` for a bounded number of iterations (cargo-fuzz
//! needs a nightly toolchain; this needs nothing). Seeds: the distcc 3.4
//! requests in `tests/corpus/`, and requests our own writers produce for
//! ordinary and hostile command lines. Properties:
//! - decoding never panics, and no single allocation exceeds a bound set
//!   by the input's size, not by the lengths it announces;
//! - whatever `policy::check` accepts has no `@` word, one relative input,
//!   and only options the flag table marks safe on a server.
//!
//! `DISTCC_FUZZ_ITERATIONS=N` runs longer; `DISTCC_FUZZ_SEED=N` varies the
//! sequence. A failure prints the seed and the offending input.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use distcc::args::flags::{self, Value};
use distcc::daemon::policy;
use distcc::protocol::{self, Limits, Version, DOTI};

use crate::alloc;
use crate::hostile_attacks::request;

const DEFAULT_ITERATIONS: u64 = 20_000;

/// Largest single allocation a decode may make: the body buffers start at
/// no more than 1 MiB and grow with the data actually received, and LZO
/// output is bounded by 64x the input, so a few MiB covers every input
/// here (each under 64 KiB); an allocation sized by an announced length
/// (up to 4 GiB) would not fit.
const MAX_ALLOCATION: usize = 8 << 20;

fn iterations() -> u64 {
    std::env::var("DISTCC_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS)
}

/// xorshift64*: small, fast, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("DISTCC_FUZZ_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0x5eed_d15c_c0de_cafe_u64);
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// Command lines as real clients send them, and some that must be refused.
const ARGVS: &[&str] = &[
    "gcc -c -o x.o x.i",
    "x86_64-linux-gnu-gcc -O2 -c hello.c -o /home/u/h1.o",
    "g++ -O2 -g -Wall -std=c++17 -fPIC -m64 -c -o a.o a.ii",
    "cc -S -o x.s x.i",
    "gcc -c x.c -o x.o -wrapper /bin/sh,-c,id",
    "gcc -c x.c -o x.o -D @/etc/passwd",
    "sh -c id",
    "gcc -c x.c -o x.o -fplugin=/x.so -B/tmp -specs=/x",
];

fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut seeds: Vec<Vec<u8>> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("request.bin"))
        .map(|p| fs::read(p).unwrap())
        .collect();
    assert!(seeds.len() >= 4, "corpus requests missing in {dir:?}");
    let source = b"# 1 \"x.c\"\nint main(void) { return 0; }\n";
    for line in ARGVS {
        let argv: Vec<&str> = line.split(' ').collect();
        for v in [Version::V1, Version::V2] {
            seeds.push(request(v, &argv, source));
        }
    }
    seeds
}

/// Words the policy fuzzer builds command lines from: every row of the
/// flag table, with and without values that name files, plus inputs,
/// outputs and response files.
fn words() -> Vec<String> {
    let mut w: Vec<String> = [
        "-c",
        "-S",
        "-o",
        "x.o",
        "x.c",
        "x.i",
        "y.c",
        "/etc/x.c",
        "../x.c",
        "@x",
        "@x.c",
        "-",
        "",
        "/tmp/evil",
        "x",
        "-O2",
        "-fPIC",
        "-I/inc",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for f in flags::FLAGS {
        w.push(f.name.to_string());
        for v in ["/tmp/x", "x", "=/tmp/x", "native", "-adhln=/x,--64", "@r"] {
            w.push(format!("{}{v}", f.name));
        }
    }
    w
}

/// Applies one to four random edits.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &[u8]) -> Vec<u8> {
    const HEX: &[&[u8]] = &[
        b"ffffffff",
        b"00000000",
        b"7fffffff",
        b"00100000",
        b"000186a0",
    ];
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(8) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = *rng.pick(b"0fF\0\xff-@/.");
            }
            2 => {
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, bytes);
            }
            3 => v.truncate(at),
            4 if at < v.len() => {
                let end = (at + 1 + rng.below(64)).min(v.len());
                v.drain(at..end);
            }
            5 if at + 12 <= v.len() => {
                // A header's eight digits: an absurd or edge-case length.
                let digits = *rng.pick(HEX);
                v[at + 4..at + 12].copy_from_slice(digits);
            }
            6 => {
                let other = rng.pick(seeds);
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(256)).min(other.len());
                v.splice(at..at, other[from..end].iter().copied());
            }
            _ => {
                let end = (at + rng.below(32)).min(v.len());
                let chunk = v[at..end].to_vec();
                v.splice(at..at, chunk);
            }
        }
    }
    v.truncate(64 * 1024);
    v
}

/// Decodes one request as the daemon does and returns its argv, checking
/// that no allocation exceeded the bound.
fn decode(bytes: &[u8]) -> Option<Vec<OsString>> {
    let limits = Limits::default();
    let (result, largest) = alloc::largest_during(|| {
        let mut r = bytes;
        let head = protocol::read_request_head(&mut r, &limits).ok()?;
        if head.version == Version::V3 {
            protocol::read_files(&mut r, head.version.codec(), &limits).ok()?;
        } else {
            protocol::read_body(&mut r, DOTI, head.version.codec(), &limits).ok()?;
        }
        Some(head.argv)
    });
    assert!(
        largest <= MAX_ALLOCATION,
        "decoding allocated {largest} bytes at once for {} input bytes: {:?}",
        bytes.len(),
        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
    );
    result
}

/// The property the daemon's safety rests on, checked independently of
/// the scanner: walk the accepted argv with the flag table alone.
fn assert_accepted_is_safe(args: &[OsString]) {
    let Ok(job) = policy::check(args) else {
        return;
    };
    let shown = || format!("{args:?}");
    let input = &args[job.input_index];
    assert!(!Path::new(input).is_absolute(), "{}", shown());
    let mut i = 0;
    while i < args.len() {
        let word = args[i].as_bytes();
        assert_ne!(word.first(), Some(&b'@'), "{}", shown());
        if i == job.input_index || Some(i) == job.output_index {
            i += 1;
            continue;
        }
        let text = args[i].to_string_lossy();
        let (flag, value) = flags::lookup(&text)
            .unwrap_or_else(|| panic!("accepted unknown word {text:?} in {}", shown()));
        let (value, span) = match value {
            Value::Absent => (None, 1),
            Value::Joined(v) => (Some(v.to_string()), 1),
            Value::Next => (args.get(i + 1).map(|a| a.to_string_lossy().into()), 2),
        };
        let class = flag.classify(value.as_deref());
        assert!(
            class.server_safe(),
            "accepted {text:?} ({class:?}) in {}",
            shown()
        );
        i += span;
    }
}

#[test]
fn request_decoder_survives_mutations() {
    let seeds = seeds();
    for s in &seeds {
        let argv = decode(s).expect("every seed decodes");
        assert_accepted_is_safe(&argv[1..]);
    }
    let mut rng = Rng::new();
    let (mut decoded, mut accepted) = (0, 0);
    for _ in 0..iterations() {
        let base = rng.pick(&seeds).clone();
        let input = mutate(&mut rng, &seeds, &base);
        if let Some(argv) = decode(&input) {
            decoded += 1;
            accepted += u64::from(policy::check(&argv[1..]).is_ok());
            assert_accepted_is_safe(&argv[1..]);
        }
    }
    eprintln!(
        "fuzz: decoder: {} inputs, {decoded} decoded, {accepted} accepted",
        iterations()
    );
    assert!(
        decoded > 0,
        "the mutator never produced a decodable request"
    );
}

#[test]
fn policy_accepts_only_server_safe_options() {
    let words = words();
    let mut rng = Rng::new();
    let mut accepted = 0;
    for _ in 0..iterations() {
        // A valid skeleton with random words spliced in, so that some
        // command lines get past the structural checks to the options.
        let mut args: Vec<OsString> = vec!["-c".into(), "x.c".into(), "-o".into(), "x.o".into()];
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(args.len() + 1);
            args.insert(at, rng.pick(&words).into());
        }
        accepted += u64::from(policy::check(&args).is_ok());
        assert_accepted_is_safe(&args);
    }
    eprintln!(
        "fuzz: policy: {} command lines, {accepted} accepted",
        iterations()
    );
    assert!(
        accepted > 0,
        "nothing accepted: the fuzzer tests only refusals"
    );
}
