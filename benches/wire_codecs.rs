//! Bytes on the wire and CPU per job for each body codec: none (protocol
//! 1), LZO (protocols 2 and 3, distcc 3.4's), and zstd (our extensions).
//! Real units: every `.c` of Lua 5.4, from the `lua-src` crate fetched
//! through cargo at bench time, preprocessed and compiled `-O2 -g` here.
//! A job's request body is its preprocessed source, its reply body the
//! object (stderr is empty). CPU is this thread's, compressing on one end
//! and inflating on the other, per job, median of `N` rounds (default 20).
//!
//! `cargo bench --bench wire_codecs` prints the table; with
//! `RESULTS=benches/RESULTS.md` it also replaces its marked section there.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use distcc::protocol::{read_body, write_body, Codec, Limits, DOTI, DOTO};

#[path = "common/lua_src.rs"]
mod lua_src;
#[path = "common/results.rs"]
mod results;
use lua_src::lua_sources;

const BEGIN: &str =
    "<!-- wire-codecs: begin (written by benches/wire_codecs.rs; other scripts keep it) -->";
const END: &str = "<!-- wire-codecs: end -->";

/// (preprocessed source, object) of each unit, `-O2 -g`.
fn units(src: &Path, out: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut names: Vec<PathBuf> = fs::read_dir(src)
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    names.sort();
    let gcc = |args: &[&str], file: &Path, to: &Path| {
        let ok = Command::new("gcc")
            .args(["-O2", "-g", "-DLUA_USE_LINUX", "-DLUA_COMPAT_5_3"])
            .args(args)
            .arg(file)
            .arg("-o")
            .arg(to)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| fs::read(to).unwrap())
    };
    names
        .iter()
        .filter_map(|c| {
            let i = gcc(&["-E"], c, &out.join("unit.i"))?;
            let o = gcc(&["-c"], c, &out.join("unit.o"))?;
            Some((i, o))
        })
        .collect()
}

fn thread_cpu_ns() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128
}

struct Row {
    codec: Codec,
    request: f64,
    reply: f64,
    compress_ms: f64,
    inflate_ms: f64,
}

fn measure(codec: Codec, units: &[(Vec<u8>, Vec<u8>)], rounds: usize) -> Row {
    let limits = Limits::for_replies();
    let (mut req, mut rep) = (0usize, 0usize);
    let mut compress = Vec::new();
    let mut inflate = Vec::new();
    for round in 0..rounds {
        let (mut c_ns, mut i_ns) = (0u128, 0u128);
        for (i, o) in units {
            let t = thread_cpu_ns();
            let mut a = Vec::new();
            write_body(&mut a, DOTI, codec, i).unwrap();
            let mut b = Vec::new();
            write_body(&mut b, DOTO, codec, o).unwrap();
            c_ns += thread_cpu_ns() - t;
            let t = thread_cpu_ns();
            assert_eq!(&read_body(&mut &a[..], DOTI, codec, &limits).unwrap(), i);
            assert_eq!(&read_body(&mut &b[..], DOTO, codec, &limits).unwrap(), o);
            i_ns += thread_cpu_ns() - t;
            if round == 0 {
                req += a.len();
                rep += b.len();
            }
        }
        compress.push(c_ns as f64 / 1e6 / units.len() as f64);
        inflate.push(i_ns as f64 / 1e6 / units.len() as f64);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    Row {
        codec,
        request: req as f64 / units.len() as f64,
        reply: rep as f64 / units.len() as f64,
        compress_ms: median(&mut compress),
        inflate_ms: median(&mut inflate),
    }
}

fn table(rows: &[Row], units: &[(Vec<u8>, Vec<u8>)]) -> String {
    let n = units.len() as f64;
    let src = units.iter().map(|u| u.0.len()).sum::<usize>() as f64 / n / 1024.0;
    let obj = units.iter().map(|u| u.1.len()).sum::<usize>() as f64 / n / 1024.0;
    let raw = rows[0].request + rows[0].reply;
    let mut s = format!(
        "## Body codecs on the wire: Lua 5.4, {} units, -O2 -g\n\n\
         Per job: the request's preprocessed source (mean {src:.0} KiB) and the reply's object \
         (mean {obj:.0} KiB, -g). CPU: compressing both on the sending ends plus inflating both \
         on the receiving ends, one thread, median of rounds. `cargo bench --bench wire_codecs`.\n\n\
         | codec | request KiB/job | reply KiB/job | total KiB/job | of none | compress ms/job | inflate ms/job |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        units.len()
    );
    for r in rows {
        let name = match r.codec {
            Codec::Raw => "none (protocol 1)".to_string(),
            Codec::Lzo => "LZO1X-1 (protocols 2, 3; distcc 3.4)".to_string(),
            Codec::Zstd => format!("zstd level {} (ours)", distcc::zstd::LEVEL),
        };
        s += &format!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.0}% | {:.2} | {:.2} |\n",
            r.request / 1024.0,
            r.reply / 1024.0,
            (r.request + r.reply) / 1024.0,
            100.0 * (r.request + r.reply) / raw,
            r.compress_ms,
            r.inflate_ms
        );
    }
    s
}

fn main() {
    let rounds: usize = std::env::var("N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let scratch = tempfile::tempdir().unwrap();
    let src = lua_sources(&scratch.path().join("fetch"));
    let units = units(&src, scratch.path());
    assert!(!units.is_empty(), "no unit compiled");
    let rows: Vec<Row> = [Codec::Raw, Codec::Lzo, Codec::Zstd]
        .into_iter()
        .map(|c| measure(c, &units, rounds))
        .collect();
    let text = table(&rows, &units);
    print!("{text}");
    results::write_section(BEGIN, END, &text);
}
