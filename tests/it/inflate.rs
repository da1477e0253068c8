//! Requests that inflate far beyond their size on the wire, one per
//! dialect, four at once: the daemon's memory must not grow with them.

use std::io::Write;
use std::thread;
use std::time::Instant;

use distcc::protocol::{self, hashed, stream, Reply, RequestHead, Version};

use crate::util::text;
use crate::volunteer::{argv, connect, lzo_zeros, peak_rss_kib, read_reply, Volunteer};

const BIG: u64 = 600 << 20;

/// The head of a protocol-2 request for a big source.
fn big_head() -> RequestHead {
    RequestHead {
        version: Version::V2,
        cwd: None,
        argv: argv(&["gcc", "-c", "big.c", "-o", "big.o"]),
    }
}

/// Protocol 2: one DOTI body of `BIG` zeros.
fn plain_request(port: u16) -> Reply {
    let mut s = connect(port);
    let mut buf = Vec::new();
    protocol::write_request_head(&mut buf, &big_head()).unwrap();
    protocol::write_raw(&mut buf, protocol::DOTI, &lzo_zeros(BIG)).unwrap();
    s.write_all(&buf).unwrap();
    read_reply(&mut s, Version::V2)
}

/// Our streamed protocol over 2: `BIG` zeros in 4 MiB chunks.
fn streamed_request(port: u16) -> Reply {
    let mut s = connect(port);
    let mut buf = Vec::new();
    protocol::write_request_head_as(&mut buf, &big_head(), stream::LZO).unwrap();
    s.write_all(&buf).unwrap();
    assert_eq!(stream::read_answer(&mut s).unwrap(), stream::Answer::Go);
    let chunk = lzo_zeros(stream::MAX_CHUNK as u64);
    let mut framed = protocol::header(stream::DOTC, chunk.len() as u32).to_vec();
    framed.extend_from_slice(&chunk);
    for _ in 0..BIG / stream::MAX_CHUNK as u64 {
        s.write_all(&framed).unwrap();
    }
    s.write_all(&stream::end()).unwrap();
    read_reply(&mut s, Version::V2)
}

fn exact_head() -> RequestHead {
    RequestHead {
        version: Version::V3,
        cwd: Some("/p".into()),
        argv: argv(&["gcc", "-c", "/p/x.c", "-o", "/p/x.o"]),
    }
}

const SOURCE: &[u8] = b"#include \"big.h\"\nint x;\n";

/// Protocol 3: a source and a `BIG` header of zeros.
fn exact_request(port: u16) -> Reply {
    let mut s = connect(port);
    let mut buf = Vec::new();
    protocol::write_request_head(&mut buf, &exact_head()).unwrap();
    protocol::write_header(&mut buf, protocol::NFIL, 2).unwrap();
    protocol::write_raw(&mut buf, protocol::NAME, b"/p/x.c").unwrap();
    protocol::write_body(&mut buf, protocol::FILE, Version::V3.codec(), SOURCE).unwrap();
    protocol::write_raw(&mut buf, protocol::NAME, b"/p/big.h").unwrap();
    protocol::write_raw(&mut buf, protocol::FILE, &lzo_zeros(BIG)).unwrap();
    s.write_all(&buf).unwrap();
    read_reply(&mut s, Version::V3)
}

/// The SHA-256 of `n` zeros, without holding them.
fn digest_of_zeros(n: u64) -> hashed::Digest {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    let block = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(block.len() as u64) as usize;
        h.update(&block[..k]);
        left -= k as u64;
    }
    h.finalize().into()
}

/// Our hashed extension: the same files by digest, then their bodies.
fn hashed_request(port: u16) -> Reply {
    let big = digest_of_zeros(BIG);
    let mut s = connect(port);
    let mut buf = Vec::new();
    protocol::write_request_head_as(&mut buf, &exact_head(), hashed::VERSION).unwrap();
    let files = [
        hashed::HashedFile {
            name: "/p/x.c".into(),
            entry: hashed::Entry::Hashed(hashed::digest(SOURCE)),
        },
        hashed::HashedFile {
            name: "/p/big.h".into(),
            entry: hashed::Entry::Hashed(big),
        },
    ];
    hashed::write_manifest(&mut buf, &files).unwrap();
    s.write_all(&buf).unwrap();
    let need = hashed::read_need(&mut s, &files).unwrap();
    let mut bodies = Vec::new();
    for i in need {
        match i {
            0 => protocol::write_body(&mut bodies, protocol::FILE, Version::V3.codec(), SOURCE)
                .unwrap(),
            _ => protocol::write_raw(&mut bodies, protocol::FILE, &lzo_zeros(BIG)).unwrap(),
        }
    }
    s.write_all(&bodies).unwrap();
    read_reply(&mut s, Version::V3)
}

/// Four requests at once, each about 2.4 MB on the wire inflating to
/// 600 MiB, one in each dialect: the daemon inflates into the jobs' files,
/// so its memory stays a small constant per connection (it held each body
/// whole before: 614 MiB for one, 2.4 GiB for four).
#[test]
fn inflating_requests_cost_the_daemon_no_memory() {
    let v = Volunteer::new();
    let d = v.daemon(&["--jobs", "4"]);
    let port = d.port;
    let started = Instant::now();
    type Request = fn(u16) -> Reply;
    let requests: [(&str, Request); 4] = [
        ("plain", plain_request),
        ("streamed", streamed_request),
        ("exact", exact_request),
        ("hashed", hashed_request),
    ];
    let handles: Vec<_> = requests
        .into_iter()
        .map(|(name, f)| (name, thread::spawn(move || f(port))))
        .collect();
    for (name, h) in handles {
        let r = h.join().unwrap();
        assert_eq!(r.status, 0, "{name}: {}", text(&r.stderr));
        assert_eq!(r.object(), b"fake object", "{name}");
    }
    let took = started.elapsed();
    let peak = peak_rss_kib(d.child.id());
    println!("daemon peak RSS with four 600 MiB-inflating requests: {peak} KiB ({took:?})");
    assert!(peak < 64 << 10, "peak RSS {peak} KiB");
}
