//! `distcc --check-hosts [COMPILER]`: asks every host of the host list
//! whether it has this machine's compiler (`COMPILER`, else `$CC`, else
//! `cc`), so a farm is checked in one command. Each host gets a tiny
//! hashed request asserting the compiler's identity (`protocol::identity`)
//! and compiles one empty unit: our daemon runs its compiler with that
//! identity or refuses naming both sides; distcc 3.4 closes on the
//! extension and cannot be verified. Exit status 1 when a host does not
//! match, cannot be reached or refuses; 0 otherwise.

use std::ffi::{OsStr, OsString};
use std::io::BufReader;

use anyhow::{anyhow, Context as _, Result};

use super::assertions;
use super::hashed::closed;
use crate::args::Lang;
use crate::exit::{self, Code};
use crate::hosts::{self, Host};
use crate::identity::{Cache, Identity};
use crate::masquerade;
use crate::protocol::hashed::{self, Entry, HashedFile};
use crate::protocol::identity::{write_assertions, Assertions};
use crate::protocol::{self, Limits, RequestHead, Version};
use crate::settings::Settings;
use crate::transport;

/// Where the probe's one file lives, as a client path the daemon mirrors.
const DIR: &str = "/distcc-check";

/// What one host said.
enum Verdict {
    Same,
    Mismatch(String),
    Unverifiable,
    Local,
    Failed(String),
}

impl Verdict {
    fn bad(&self) -> bool {
        matches!(self, Verdict::Mismatch(_) | Verdict::Failed(_))
    }
}

pub fn run(settings: &Settings, named: Option<&OsStr>) -> Result<u8> {
    let name = named.map(OsStr::to_os_string).unwrap_or_else(cc_name);
    let self_exe = std::env::current_exe().context("finding our own executable")?;
    let compiler = masquerade::find_compiler(&name, &name, false, &settings.path, &self_exe)?;
    let lang = if name.to_string_lossy().contains("++") {
        Lang::Cxx
    } else {
        Lang::C
    };
    let cache = Cache::new(Some(&settings.dir.join("cache")));
    let id = cache
        .identity(&compiler.path, assertions::lang(lang))
        .with_context(|| format!("taking the identity of {}", compiler.path.display()))?;
    println!("here: {id} at {}", compiler.path.display());
    let Some(loaded) = hosts::load(settings)? else {
        return Err(anyhow!(Code::NoHosts).context("no hosts: set DISTCC_HOSTS"));
    };
    let argv0 = std::path::Path::new(&name)
        .file_name()
        .unwrap_or(&name)
        .to_os_string();
    let mut bad = false;
    for host in &loaded.list.hosts {
        let verdict = if host.is_local() {
            Verdict::Local
        } else {
            check(settings, host, &argv0, &id, lang)
        };
        bad |= verdict.bad();
        println!("{}: {}", host.key(), say(&verdict, &id));
    }
    Ok(u8::from(bad))
}

/// `$CC`'s first word, or `cc`.
fn cc_name() -> OsString {
    std::env::var("CC")
        .ok()
        .and_then(|cc| cc.split_whitespace().next().map(OsString::from))
        .unwrap_or_else(|| "cc".into())
}

fn say(v: &Verdict, id: &Identity) -> String {
    match v {
        Verdict::Same => format!("same compiler ({id})"),
        Verdict::Mismatch(m) => m.clone(),
        Verdict::Unverifiable => "cannot verify (distcc 3.4)".into(),
        Verdict::Local => "compiles here".into(),
        Verdict::Failed(why) => format!("failed: {why}"),
    }
}

fn check(settings: &Settings, host: &Host, argv0: &OsStr, id: &Identity, lang: Lang) -> Verdict {
    let mut conn = match transport::connect(host, settings) {
        Ok(c) => c,
        Err(e) => return Verdict::Failed(format!("unreachable: {e:#}")),
    };
    conn.set_time_limit(Some(settings.io_timeout));
    match exchange(&mut conn, argv0, id, lang) {
        Ok(v) => v,
        Err(e) if closed(&e) => Verdict::Unverifiable,
        Err(e) => Verdict::Failed(format!("{e:#}")),
    }
}

/// The probe: one empty unit, asserted compiler, hashed dialect.
fn exchange(
    conn: &mut transport::Connection,
    argv0: &OsStr,
    id: &Identity,
    lang: Lang,
) -> Result<Verdict> {
    let source = if lang == Lang::Cxx {
        "check.cc"
    } else {
        "check.c"
    };
    let body = b"int distcc_check;\n";
    let head = RequestHead {
        version: Version::V3,
        cwd: Some(DIR.into()),
        argv: [
            argv0,
            "-c".as_ref(),
            source.as_ref(),
            "-o".as_ref(),
            "check.o".as_ref(),
        ]
        .map(OsStr::to_os_string)
        .to_vec(),
    };
    let manifest = [HashedFile {
        name: format!("{DIR}/{source}").into(),
        entry: Entry::Hashed(hashed::digest(body)),
    }];
    let assertions = Assertions {
        identity: Some(id.to_wire()),
        system: None,
    };
    let mut buf = Vec::new();
    protocol::write_request_head_as(&mut buf, &head, hashed::VERSION)?;
    write_assertions(&mut buf, &assertions)?;
    hashed::write_manifest(&mut buf, &manifest)?;
    std::io::Write::write_all(conn, &buf).context("sending the probe")?;
    let need = hashed::read_need(conn, &manifest).context("reading the answer")?;
    let bodies: Vec<&[u8]> = need.iter().map(|_| &body[..]).collect();
    buf.clear();
    hashed::write_bodies(&mut buf, Version::V3.codec(), &bodies)?;
    std::io::Write::write_all(conn, &buf).context("sending the probe")?;
    let reply = protocol::read_reply(
        &mut BufReader::new(conn),
        Version::V3,
        Version::V3.codec(),
        &Limits::for_replies(),
    )
    .context("reading the reply")?;
    let text = String::from_utf8_lossy(&reply.stderr);
    let text = text.trim();
    let stderr = text.strip_prefix("distccd: ").unwrap_or(text).to_string();
    let status = reply.status as i32;
    Ok(match exit::exit_code(status) {
        Some(0) => Verdict::Same,
        _ if stderr.contains("compiler mismatch: ") => Verdict::Mismatch(stderr),
        Some(c) if Code::is_distcc(c) => Verdict::Failed(format!("refused: {stderr}")),
        _ => Verdict::Failed(format!("the compiler failed (status {status}): {stderr}")),
    })
}
