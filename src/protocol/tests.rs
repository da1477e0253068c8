//! Tests of the wire format against the reference's own bytes (the corpus
//! in tests/corpus) and against hostile input: truncations, bad tokens,
//! oversized lengths, LZO garbage.

use super::*;
use crate::exit::Code;
use crate::lzo;
use std::ffi::OsString;
use std::io;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(format!("{CORPUS}/{name}")).unwrap()
}

fn os(s: &str) -> OsString {
    OsString::from(s)
}

fn decode_request(bytes: &[u8]) -> Result<(RequestHead, Vec<u8>)> {
    let limits = Limits::default();
    let mut r = bytes;
    let head = read_request_head(&mut r, &limits)?;
    let doti = read_body(&mut r, DOTI, head.version.codec(), &limits)?;
    if !r.is_empty() {
        return Err(WireError::BadValue {
            token: *DOTI,
            why: "trailing bytes".into(),
        });
    }
    Ok((head, doti))
}

#[test]
fn version_banner_names_every_version_served() {
    assert_eq!(
        version_banner(),
        "(protocols 1, 2 and 3) (default port 3632)"
    );
    for n in 1..=3 {
        assert_eq!(Version::from_u32(n).map(Version::number), Some(n));
    }
}

#[test]
fn version_text_has_distcc_34s_form() {
    for program in ["distcc", "distccd"] {
        let v = version_text(program);
        let lines: Vec<&str> = v.lines().collect();
        assert!(lines.len() >= 3, "3.4's suite splits off two lines: {v}");
        let first: Vec<&str> = lines[0].split(' ').collect();
        assert_eq!(first.len(), 3, "{v}");
        assert_eq!(first[0], program);
        assert_eq!(first[1], env!("CARGO_PKG_VERSION"));
        assert!(first[2]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
        assert!(lines[1].starts_with("  (protocols 1, 2 and 3) "), "{v}");
        assert!(lines[1].ends_with(" (default port 3632)"), "{v}");
    }
}

#[test]
fn header_format() {
    assert_eq!(&header(ARGC, 4), b"ARGC00000004");
    assert_eq!(&header(DOTI, 0xdeadbeef), b"DOTIdeadbeef");
}

#[test]
fn corpus_requests_decode() {
    let (head, doti) = decode_request(&corpus("v1-hello-request.bin")).unwrap();
    assert_eq!(head.version, Version::V1);
    assert_eq!(
        head.argv,
        ["x86_64-linux-gnu-gcc", "-O2", "-c", "hello.c", "-o", "h1.o"]
            .map(os)
            .to_vec()
    );
    assert!(doti.ends_with(b"int main(void) { return 0; }\n"));

    for name in ["v2-lzo-stdio-request.bin", "v2-lzo-error-request.bin"] {
        let (head, doti) = decode_request(&corpus(name)).unwrap();
        assert_eq!(head.version, Version::V2);
        assert!(doti.starts_with(b"# 0 \""), "{name}");
    }
    let (_, doti) = decode_request(&corpus("v2-lzo-stdio-request.bin")).unwrap();
    assert!(String::from_utf8_lossy(&doti).contains("puts(\"hi\")"));
    let (_, doti) = decode_request(&corpus("v2-lzo-error-request.bin")).unwrap();
    assert!(doti.ends_with(b"int g(void) { return 1 +; }\n"));
}

#[test]
fn corpus_replies_decode() {
    let limits = Limits::default();
    let r = read_reply(
        &mut &corpus("v1-hello-reply.bin")[..],
        Version::V1,
        Version::V1.codec(),
        &limits,
    )
    .unwrap();
    assert_eq!(r.status, 0);
    assert!(r.object().starts_with(b"\x7fELF"));

    let r = read_reply(
        &mut &corpus("v2-lzo-stdio-reply.bin")[..],
        Version::V2,
        Version::V2.codec(),
        &limits,
    )
    .unwrap();
    assert_eq!(r.status, 0);
    assert!(r.object().starts_with(b"\x7fELF"));

    for (name, v) in [
        ("v1-error-reply.bin", Version::V1),
        ("v2-lzo-error-reply.bin", Version::V2),
    ] {
        let r = read_reply(&mut &corpus(name)[..], v, v.codec(), &limits).unwrap();
        assert_eq!(r.status, 0x100, "{name}");
        assert!(r.object().is_empty());
        let msg = String::from_utf8_lossy(&r.stderr);
        assert!(msg.contains("error: expected expression"), "{name}: {msg}");
    }
}

#[test]
fn corpus_replies_reencode_identically_in_v1() {
    // Our writer produces exactly the reference's bytes where no compression
    // choice is involved.
    for name in ["v1-hello-reply.bin", "v1-error-reply.bin"] {
        let bytes = corpus(name);
        let r = read_reply(
            &mut &bytes[..],
            Version::V1,
            Version::V1.codec(),
            &Limits::default(),
        )
        .unwrap();
        let mut out = Vec::new();
        write_reply(&mut out, Version::V1, Version::V1.codec(), &r).unwrap();
        assert_eq!(out, bytes, "{name}");
    }
    let bytes = corpus("v1-hello-request.bin");
    let (head, doti) = decode_request(&bytes).unwrap();
    let mut out = Vec::new();
    write_request_head(&mut out, &head).unwrap();
    write_body(&mut out, DOTI, Version::V1.codec(), &doti).unwrap();
    assert_eq!(out, bytes);
}

#[test]
fn request_round_trips_every_version() {
    for version in [Version::V1, Version::V2, Version::V3] {
        let head = RequestHead {
            version,
            cwd: (version == Version::V3).then(|| os("/home/u/src")),
            argv: ["gcc", "-c", "x.c", "-o", "x.o"].map(os).to_vec(),
        };
        let mut buf = Vec::new();
        write_request_head(&mut buf, &head).unwrap();
        let files = vec![
            NamedFile {
                name: os("/home/u/src/x.c"),
                body: FileBody::File(b"int x;\n".repeat(100)),
            },
            NamedFile {
                name: os("/home/u/src/l.h"),
                body: FileBody::Link(os("x.h")),
            },
            NamedFile {
                name: os("/home/u/src/empty.h"),
                body: FileBody::File(Vec::new()),
            },
        ];
        if version == Version::V3 {
            write_files(&mut buf, version.codec(), &files).unwrap();
        } else {
            write_body(&mut buf, DOTI, version.codec(), b"int x;\n").unwrap();
        }
        let limits = Limits::default();
        let mut r = &buf[..];
        assert_eq!(read_request_head(&mut r, &limits).unwrap(), head);
        if version == Version::V3 {
            assert_eq!(read_files(&mut r, version.codec(), &limits).unwrap(), files);
        } else {
            assert_eq!(
                read_body(&mut r, DOTI, version.codec(), &limits).unwrap(),
                b"int x;\n"
            );
        }
        assert!(r.is_empty());
    }
}

#[test]
fn reply_round_trips_every_version() {
    for version in [Version::V1, Version::V2, Version::V3] {
        let mut reply = Reply {
            status: 0x100,
            stderr: b"x.c:1: error\n".to_vec(),
            stdout: Vec::new(),
            outputs: Vec::new(),
            note: None,
        };
        reply.set_output(OutputKind::Object, vec![7u8; 5000]);
        if version == Version::V3 {
            reply.set_output(OutputKind::Deps, b"x.o: x.c\n".to_vec());
        }
        let mut buf = Vec::new();
        write_reply(&mut buf, version, version.codec(), &reply).unwrap();
        let got = read_reply(
            &mut &buf[..],
            version,
            version.codec(),
            &Limits::for_replies(),
        )
        .unwrap();
        assert_eq!(got, reply);
    }
}

#[test]
fn every_truncation_of_a_request_is_an_error() {
    for name in ["v1-hello-request.bin", "v2-lzo-stdio-request.bin"] {
        let bytes = corpus(name);
        for cut in 0..bytes.len() {
            let err = decode_request(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(
                    err,
                    WireError::Closed { .. } | WireError::Truncated { .. } | WireError::Lzo { .. }
                ),
                "{name} cut at {cut}: {err}"
            );
            if cut == 0 {
                assert!(matches!(err, WireError::Closed { .. }));
            }
        }
    }
}

#[test]
fn every_truncation_of_a_reply_is_an_error() {
    let bytes = corpus("v2-lzo-stdio-reply.bin");
    for cut in 0..bytes.len() {
        let r = read_reply(
            &mut &bytes[..cut],
            Version::V2,
            Version::V2.codec(),
            &Limits::default(),
        );
        assert!(r.is_err(), "cut at {cut}");
    }
}

#[test]
fn wrong_token_is_quoted() {
    let err = read_header(&mut &b"DIXT00000001"[..], DIST).unwrap_err();
    assert!(matches!(err, WireError::BadToken { .. }));
    assert_eq!(err.to_string(), "expected token DIST, received \"DIXT\"");
    assert_eq!(err.code(), Code::Protocol);
}

#[test]
fn non_hex_digits_rejected() {
    for bad in [
        &b"ARGC0000000g"[..],
        b"ARGC -000001",
        b"ARGC0x000001",
        b"ARGC\0\0\0\0\0\0\0\0",
    ] {
        let err = read_header(&mut &bad[..], ARGC).unwrap_err();
        assert!(matches!(err, WireError::BadNumber { .. }), "{bad:?}");
    }
}

#[test]
fn unsupported_version_rejected() {
    for v in [0u32, 4, 0xffff_ffff] {
        let buf = header(DIST, v);
        let err = read_request_head(&mut &buf[..], &Limits::default()).unwrap_err();
        assert!(matches!(err, WireError::BadValue { .. }));
    }
}

#[test]
fn oversized_lengths_rejected_before_allocation() {
    let limits = Limits::default();
    let mut req = Vec::new();
    write_header(&mut req, DIST, 1).unwrap();
    write_header(&mut req, ARGC, 100_000).unwrap();
    let err = read_request_head(&mut &req[..], &limits).unwrap_err();
    assert!(matches!(err, WireError::TooLarge { .. }));

    let mut req = Vec::new();
    write_header(&mut req, DIST, 1).unwrap();
    write_header(&mut req, ARGC, 1).unwrap();
    write_header(&mut req, ARGV, 0x0100_0000).unwrap();
    let err = read_request_head(&mut &req[..], &limits).unwrap_err();
    assert!(matches!(err, WireError::TooLarge { .. }));

    // A 4 GiB body announced with nothing behind it.
    let buf = header(DOTI, 0xffff_ffff);
    let err = read_body(&mut &buf[..], DOTI, Version::V1.codec(), &limits).unwrap_err();
    assert!(matches!(err, WireError::TooLarge { .. }));

    // Within the limit but not sent: a truncation, and no big buffer.
    let small = Limits {
        max_body: 1 << 40,
        ..limits
    };
    let err = read_body(&mut &buf[..], DOTI, Version::V1.codec(), &small).unwrap_err();
    assert!(matches!(err, WireError::Truncated { got: 0, .. }));
}

#[test]
fn zero_argc_rejected() {
    let mut req = Vec::new();
    write_header(&mut req, DIST, 1).unwrap();
    write_header(&mut req, ARGC, 0).unwrap();
    assert!(read_request_head(&mut &req[..], &Limits::default()).is_err());
}

#[test]
fn nul_in_argv_rejected() {
    let mut req = Vec::new();
    write_header(&mut req, DIST, 1).unwrap();
    write_header(&mut req, ARGC, 1).unwrap();
    write_raw(&mut req, ARGV, b"gc\0c").unwrap();
    let err = read_request_head(&mut &req[..], &Limits::default()).unwrap_err();
    assert!(matches!(err, WireError::BadValue { .. }));
}

#[test]
fn lzo_garbage_is_an_error() {
    let limits = Limits::default();
    let mut x: u32 = 7;
    for len in 1..300usize {
        let mut body = Vec::with_capacity(len);
        for _ in 0..len {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            body.push((x >> 24) as u8);
        }
        let mut buf = Vec::new();
        write_raw(&mut buf, DOTI, &body).unwrap();
        // Garbage either fails or decodes within the bound; it never panics.
        if let Ok(out) = read_body(&mut &buf[..], DOTI, Version::V2.codec(), &limits) {
            assert!(out.len() as u64 <= limits.max_body);
        }
    }
}

/// Inflation is bounded by size, not by ratio: 1 MiB of zeros compresses
/// about 255 times, as a source's large constant tables nearly do, and is
/// read whole, in memory or into a file; past `max_body` it is refused.
#[test]
fn inflation_is_bounded_by_size_not_ratio() {
    let zeros = vec![0u8; 1 << 20];
    let body = lzo::compress(&zeros);
    assert!(
        body.len() * 200 < 1 << 20,
        "the test needs a ratio over 200"
    );
    let mut buf = Vec::new();
    write_raw(&mut buf, DOTI, &body).unwrap();
    let codec = Version::V2.codec();
    let got = read_body(&mut &buf[..], DOTI, codec, &Limits::default()).unwrap();
    assert!(got == zeros);
    let mut file = Vec::new();
    read_body_to(&mut &buf[..], DOTI, codec, &Limits::default(), &mut file).unwrap();
    assert!(file == zeros);
    let small = Limits {
        max_body: (1 << 20) - 1,
        ..Limits::default()
    };
    let err = read_body(&mut &buf[..], DOTI, codec, &small).unwrap_err();
    assert!(matches!(err, WireError::Lzo { .. }));
    let err = read_body_to(&mut &buf[..], DOTI, codec, &small, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, WireError::Lzo { .. }));
    // Cut short inside the body: a truncation, not a malformed stream.
    let cut = &buf[..buf.len() - 3];
    let err = read_body_to(
        &mut &cut[..],
        DOTI,
        codec,
        &Limits::default(),
        &mut Vec::new(),
    );
    assert!(matches!(err, Err(WireError::Truncated { .. })), "{err:?}");
}

#[test]
fn v3_file_list_limits() {
    let limits = Limits::default();
    let buf = header(NFIL, 100_001);
    assert!(matches!(
        read_files(&mut &buf[..], Version::V3.codec(), &limits),
        Err(WireError::TooLarge { .. })
    ));
    let mut buf = header(NFIL, 1).to_vec();
    write_raw(&mut buf, NAME, b"/x").unwrap();
    write_header(&mut buf, DOTO, 0).unwrap();
    assert!(matches!(
        read_files(&mut &buf[..], Version::V3.codec(), &limits),
        Err(WireError::BadToken { .. })
    ));
}

#[test]
fn argv_total_is_bounded() {
    let limits = Limits {
        max_argv_total: 100,
        ..Limits::default()
    };
    let head = RequestHead {
        version: Version::V1,
        cwd: None,
        argv: (0..5).map(|_| OsString::from("x".repeat(30))).collect(),
    };
    let mut buf = Vec::new();
    write_request_head(&mut buf, &head).unwrap();
    match read_request_head(&mut &buf[..], &limits) {
        Err(WireError::TooLarge { token, limit, .. }) => {
            assert_eq!((&token, limit), (ARGV, 100));
        }
        other => panic!("{other:?}"),
    }
    let fits = Limits {
        max_argv_total: 150,
        ..limits
    };
    assert_eq!(read_request_head(&mut &buf[..], &fits).unwrap(), head);
}

/// Many small LZO bodies that each inflate within the bound must still
/// not add up past `max_body` once inflated.
#[test]
fn v3_inflated_total_is_bounded() {
    let limits = Limits {
        max_body: 100_000,
        ..Limits::default()
    };
    let files: Vec<NamedFile> = (0..10)
        .map(|i| NamedFile {
            name: format!("/f{i}").into(),
            body: FileBody::File(vec![0; 20_000]),
        })
        .collect();
    let mut buf = Vec::new();
    write_files(&mut buf, Version::V3.codec(), &files).unwrap();
    assert!(buf.len() < 10_000, "the test needs bodies that compress");
    assert!(read_files(&mut &buf[..], Version::V3.codec(), &limits).is_err());
    let roomy = Limits {
        max_body: 300_000,
        ..limits
    };
    assert_eq!(
        read_files(&mut &buf[..], Version::V3.codec(), &roomy).unwrap(),
        files
    );
}

#[test]
fn wire_errors_carry_their_exit_code_through_context() {
    let closed = anyhow::Error::new(WireError::Closed { expected: *DONE }).context("reading");
    assert_eq!(exit_code(&closed), Code::Truncated);
    let bad = read_header(&mut &b"DIXT00000001"[..], DIST).unwrap_err();
    assert_eq!(exit_code(&anyhow::Error::new(bad)), Code::Protocol);
    let timeout = WireError::Io(io::Error::from(io::ErrorKind::TimedOut));
    assert_eq!(exit_code(&anyhow::Error::new(timeout)), Code::Timeout);
    let explicit = anyhow::anyhow!(Code::Busy).context("x");
    assert_eq!(exit_code(&explicit), Code::Busy);
}
