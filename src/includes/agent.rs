//! The scan agent's wire, and the client's way to it: a per-user process
//! (`helper`) that keeps one `Session` for every job of its user, so a
//! header's skeleton is decoded once per build into memory instead of
//! once per job from the cache file. A job sends its unit and compiler
//! and gets the scan back; the agent's scan is the same code over the
//! same cache, so its result is the same as the job's own would be.
//!
//! The agent serves a job only when it sees the same files under the
//! same names: the same root (device and inode of `/`) and the same
//! mount namespace. Anything else (no agent, a refusal, a malformed or
//! late answer) and the job scans in its own process (`walk_unit`): the
//! agent never fails a job.
//!
//! One agent per build of distcc and machine (its socket is named by the
//! executable's identity and the host name): a client never talks to an
//! agent of another version, whose scanner may differ.
//!
//! Framing: a u32 length (little-endian) and a `codec` message each way.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::codec::{Reader, Writer};
use super::session::{kept_scan, walk_unit, Compiler, Kept};
use super::stamp::Stamp;
use super::unit::{
    DirOpt, FileRead, Lang, MacroOpt, Probe, ProbeKind, ScanError, ScanResult, Unit,
};
use crate::helper;
use crate::identity::Digest;

/// The name the agent runs under (argv[0]); `role` knows it.
pub const PROGRAM: &str = "distcc-scan-agent";

/// Where agents note their start and end, in the cache dir.
pub const LOG: &str = "scan-agent.log";

const REQUEST: &[u8] = b"distcc-scan-request-1";
const REPLY: &[u8] = b"distcc-scan-reply-1";

/// Past this a message is not one of ours.
const MAX_MESSAGE: u32 = 64 << 20;

/// How long a job waits for the agent's answer before scanning itself. A
/// cold scan on a client held to a fraction of a CPU, queued behind
/// others, can take seconds; a stopped agent costs each job this once.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The scan of `unit`, by the agent for `cache_dir` if `use_agent` and
/// one can be had, else in this process; with what `DISTCC_VERBOSE`
/// says of it.
pub fn scan(
    cache_dir: &Path,
    compiler: &Compiler,
    unit: &Unit,
    use_agent: bool,
) -> Result<ScanResult, ScanError> {
    // A kept scan that holds is replayed here: that is cheaper than
    // asking (the agent would do the same, and the answer crosses a
    // socket). A walk is the agent's.
    let (store, key) = match kept_scan(cache_dir, compiler, unit) {
        Kept::Holds(r) => return Ok(r),
        Kept::Not(store, key) => (store, key),
    };
    if use_agent {
        match ask(cache_dir, compiler, unit) {
            Ok(Answer::Scanned(r, told)) => {
                log::debug!("{told} (the scan agent)");
                return r;
            }
            Ok(Answer::Refused(why)) => log::debug!("the scan agent refused: {why}"),
            Err(e) => log::debug!("no scan agent: {e}"),
        }
    }
    walk_unit(*store, key, compiler, unit)
}

/// The agent's kind: its socket and lock in the cache dir, named by this
/// executable's identity and the machine's name (a cache dir on a shared
/// file system holds the sockets of agents on other machines, which no
/// process here can reach).
pub fn kind() -> io::Result<helper::Kind> {
    let exe = std::fs::metadata(std::env::current_exe()?)?;
    let mut host = [0u8; 256];
    // SAFETY: gethostname writes at most `host.len()` bytes into `host`.
    unsafe { libc::gethostname(host.as_mut_ptr().cast(), host.len()) };
    let mut h = Sha256::new();
    h.update(host);
    for v in [
        exe.dev(),
        exe.ino(),
        exe.mtime() as u64,
        exe.mtime_nsec() as u64,
    ] {
        h.update(v.to_le_bytes());
    }
    let id = crate::identity::hex(&h.finalize()[..8]);
    Ok(helper::Kind {
        program: PROGRAM,
        socket: format!("scan-agent-{id}.sock"),
        // One for every version: starts are rare, and names never pile up.
        lock: "scan-agent.lock".into(),
    })
}

pub enum Answer {
    Scanned(Result<ScanResult, ScanError>, String),
    /// The agent will not scan for this process; the reason.
    Refused(String),
}

fn ask(cache_dir: &Path, compiler: &Compiler, unit: &Unit) -> io::Result<Answer> {
    // The agent runs from another dir, with another PATH.
    let path = compiler.path;
    if path.components().count() < 2 {
        return Ok(Answer::Refused(format!(
            "a compiler named without a dir: {}",
            path.display()
        )));
    }
    let request = Request {
        view: View::here()?,
        compiler: unit.cwd.join(path),
        identity: *compiler.identity,
        probe_flags: compiler.probe_flags.to_vec(),
        unit: unit.clone(),
    };
    let kind = kind()?;
    let mut sock = helper::reach(cache_dir, &kind)
        .ok_or_else(|| io::Error::other("none answers and none could be started"))?;
    let socket = cache_dir.join(&kind.socket);
    let reached = crate::sys::identity(&socket);
    sock.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    sock.set_write_timeout(Some(ANSWER_TIMEOUT))?;
    let reply = write_message(&mut sock, &request.encode()).and_then(|()| read_message(&mut sock));
    match reply {
        Ok(reply) => decode_reply(&reply).ok_or_else(|| io::Error::other("a malformed answer")),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            // A stopped or wedged agent: its socket goes, so that the next
            // job starts a new agent instead of waiting too (the old one
            // ends when it sees its socket gone).
            if reached.is_some() && crate::sys::identity(&socket) == reached {
                let _ = std::fs::remove_file(&socket);
            }
            Err(io::Error::other(format!(
                "no answer in {} s; its socket is removed",
                ANSWER_TIMEOUT.as_secs()
            )))
        }
        Err(e) => Err(e),
    }
}

/// What names mean to a process: its root and its mount namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub root: (u64, u64),
    pub mounts: Vec<u8>,
}

impl View {
    pub fn here() -> io::Result<View> {
        let root = std::fs::metadata("/")?;
        let mounts = std::fs::read_link("/proc/self/ns/mnt")?;
        Ok(View {
            root: (root.dev(), root.ino()),
            mounts: mounts.into_os_string().into_vec(),
        })
    }
}

/// One job's question.
#[derive(Clone, Debug)]
pub struct Request {
    pub view: View,
    pub compiler: PathBuf,
    pub identity: Digest,
    pub probe_flags: Vec<OsString>,
    pub unit: Unit,
}

impl Request {
    pub fn compiler(&self) -> Compiler<'_> {
        Compiler {
            path: &self.compiler,
            identity: &self.identity,
            probe_flags: &self.probe_flags,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(REQUEST);
        w.u64(self.view.root.0);
        w.u64(self.view.root.1);
        w.blob(&self.view.mounts);
        path(&mut w, &self.compiler);
        w.bytes(&self.identity);
        w.u64(self.probe_flags.len() as u64);
        for f in &self.probe_flags {
            w.blob(f.as_bytes());
        }
        // Every field, named: one added to Unit must travel too.
        let Unit {
            lang,
            cwd,
            source,
            dirs,
            macros,
            imacros,
            includes,
            sysroot,
            trigraphs,
            env_cpath,
            env_lang_path,
        } = &self.unit;
        // 0: not known; else the language's code and one.
        w.u64(lang.map_or(0, |l| l.code() + 1));
        path(&mut w, cwd);
        path(&mut w, source);
        w.u64(dirs.len() as u64);
        for d in dirs {
            let (tag, p) = match d {
                DirOpt::I(p) => (0, Some(p)),
                DirOpt::Quote(p) => (1, Some(p)),
                DirOpt::System(p) => (2, Some(p)),
                DirOpt::After(p) => (3, Some(p)),
                DirOpt::Split => (4, None),
            };
            w.u64(tag);
            if let Some(p) = p {
                path(&mut w, p);
            }
        }
        w.u64(macros.len() as u64);
        for m in macros {
            let (tag, text) = match m {
                MacroOpt::Define(t) => (0, t),
                MacroOpt::Undef(t) => (1, t),
            };
            w.u64(tag);
            w.blob(text.as_bytes());
        }
        paths(&mut w, imacros);
        paths(&mut w, includes);
        optional(&mut w, sysroot.as_ref().map(|p| p.as_os_str()));
        w.u64(*trigraphs as u64);
        optional(&mut w, env_cpath.as_deref());
        optional(&mut w, env_lang_path.as_deref());
        w.finish()
    }

    pub fn decode(b: &[u8]) -> Option<Request> {
        let mut r = Reader::new(b, REQUEST)?;
        let view = View {
            root: (r.u64()?, r.u64()?),
            mounts: r.blob()?.to_vec(),
        };
        let compiler = get_path(&mut r)?;
        let identity: Digest = r.bytes(32)?.try_into().ok()?;
        let probe_flags = (0..r.u64()?)
            .map(|_| Some(OsStr::from_bytes(r.blob()?).to_owned()))
            .collect::<Option<Vec<_>>>()?;
        let lang = match r.u64()? {
            0 => None,
            c => Some(Lang::of_code(c - 1)?),
        };
        let cwd = get_path(&mut r)?;
        let source = get_path(&mut r)?;
        let dirs = (0..r.u64()?)
            .map(|_| {
                Some(match r.u64()? {
                    0 => DirOpt::I(get_path(&mut r)?),
                    1 => DirOpt::Quote(get_path(&mut r)?),
                    2 => DirOpt::System(get_path(&mut r)?),
                    3 => DirOpt::After(get_path(&mut r)?),
                    4 => DirOpt::Split,
                    _ => return None,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let macros = (0..r.u64()?)
            .map(|_| {
                let tag = r.u64()?;
                let text = String::from_utf8(r.blob()?.to_vec()).ok()?;
                match tag {
                    0 => Some(MacroOpt::Define(text)),
                    1 => Some(MacroOpt::Undef(text)),
                    _ => None,
                }
            })
            .collect::<Option<Vec<_>>>()?;
        let imacros = get_paths(&mut r)?;
        let includes = get_paths(&mut r)?;
        let sysroot = get_optional(&mut r)?.map(PathBuf::from);
        let trigraphs = r.u64()? != 0;
        let env_cpath = get_optional(&mut r)?;
        let env_lang_path = get_optional(&mut r)?;
        r.end()?;
        Some(Request {
            view,
            compiler,
            identity,
            probe_flags,
            unit: Unit {
                lang,
                cwd,
                source,
                dirs,
                macros,
                imacros,
                includes,
                sysroot,
                trigraphs,
                env_cpath,
                env_lang_path,
            },
        })
    }
}

/// The agent's answer: a scan (or the scanner's reason it cannot tell)
/// with its verbose line, or a refusal.
pub fn encode_reply(answer: &Answer) -> Vec<u8> {
    let mut w = Writer::new(REPLY);
    match answer {
        Answer::Refused(why) => {
            w.u64(0);
            w.blob(why.as_bytes());
        }
        Answer::Scanned(Err(e), told) => {
            w.u64(1);
            w.blob(told.as_bytes());
            w.blob(e.0.as_bytes());
        }
        Answer::Scanned(Ok(s), told) => {
            w.u64(2);
            w.blob(told.as_bytes());
            result(&mut w, s);
        }
    }
    w.finish()
}

pub fn decode_reply(b: &[u8]) -> Option<Answer> {
    let mut r = Reader::new(b, REPLY)?;
    let text = |r: &mut Reader| Some(String::from_utf8_lossy(r.blob()?).into_owned());
    let answer = match r.u64()? {
        0 => Answer::Refused(text(&mut r)?),
        1 => {
            let told = text(&mut r)?;
            Answer::Scanned(Err(ScanError(text(&mut r)?)), told)
        }
        2 => {
            let told = text(&mut r)?;
            Answer::Scanned(Ok(get_result(&mut r)?), told)
        }
        _ => return None,
    };
    r.end()?;
    Some(answer)
}

fn result(w: &mut Writer, s: &ScanResult) {
    // Every field, named: one added to ScanResult must travel too.
    let ScanResult {
        files,
        probes,
        notes,
        fatal,
        undecided,
        shadows,
        lines,
    } = s;
    w.u64(files.len() as u64);
    for f in files {
        path(w, &f.path);
        w.bytes(&f.digest);
        w.u64(f.size);
        match &f.stamp {
            None => w.u64(0),
            Some(st) => {
                w.u64(1);
                st.write(w);
            }
        }
        w.u64(f.plain as u64);
    }
    w.u64(probes.len() as u64);
    for p in probes {
        path(w, &p.path);
        w.u64(p.kind.code());
        w.u64(p.exists as u64);
    }
    w.u64(notes.len() as u64);
    for n in notes {
        w.blob(n.as_bytes());
    }
    optional(w, fatal.as_deref().map(OsStr::new));
    w.u64(*undecided as u64);
    paths(w, shadows);
    w.u64(*lines as u64);
}

fn get_result(r: &mut Reader) -> Option<ScanResult> {
    let files = (0..r.u64()?)
        .map(|_| {
            let path = get_path(r)?;
            let digest = r.bytes(32)?.try_into().ok()?;
            let size = r.u64()?;
            let stamp = match r.u64()? {
                0 => None,
                1 => Some(Stamp::read(r)?),
                _ => return None,
            };
            let plain = r.u64()? != 0;
            Some(FileRead {
                path,
                digest,
                size,
                stamp,
                plain,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let probes = (0..r.u64()?)
        .map(|_| {
            let path = get_path(r)?;
            let kind = ProbeKind::of_code(r.u64()?)?;
            let exists = r.u64()? != 0;
            Some(Probe { path, kind, exists })
        })
        .collect::<Option<Vec<_>>>()?;
    let notes = (0..r.u64()?)
        .map(|_| Some(String::from_utf8_lossy(r.blob()?).into_owned()))
        .collect::<Option<Vec<_>>>()?;
    let fatal = get_optional(r)?.map(|s| s.to_string_lossy().into_owned());
    let undecided = u32::try_from(r.u64()?).ok()?;
    let shadows = get_paths(r)?;
    let lines = r.u64()? != 0;
    Some(ScanResult {
        files,
        probes,
        notes,
        fatal,
        undecided,
        shadows,
        lines,
    })
}

fn path(w: &mut Writer, p: &Path) {
    w.blob(p.as_os_str().as_bytes());
}

fn paths(w: &mut Writer, ps: &[PathBuf]) {
    w.u64(ps.len() as u64);
    for p in ps {
        path(w, p);
    }
}

fn optional(w: &mut Writer, v: Option<&OsStr>) {
    match v {
        None => w.u64(0),
        Some(v) => {
            w.u64(1);
            w.blob(v.as_bytes());
        }
    }
}

fn get_path(r: &mut Reader) -> Option<PathBuf> {
    Some(PathBuf::from(OsStr::from_bytes(r.blob()?)))
}

fn get_paths(r: &mut Reader) -> Option<Vec<PathBuf>> {
    (0..r.u64()?).map(|_| get_path(r)).collect()
}

fn get_optional(r: &mut Reader) -> Option<Option<OsString>> {
    match r.u64()? {
        0 => Some(None),
        1 => Some(Some(OsStr::from_bytes(r.blob()?).to_owned())),
        _ => None,
    }
}

pub fn write_message(w: &mut impl Write, msg: &[u8]) -> io::Result<()> {
    let mut framed = Vec::with_capacity(4 + msg.len());
    framed.extend_from_slice(&(msg.len() as u32).to_le_bytes());
    framed.extend_from_slice(msg);
    w.write_all(&framed)
}

pub fn read_message(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len > MAX_MESSAGE {
        return Err(io::Error::other("a message too long"));
    }
    let mut msg = vec![0u8; len as usize];
    r.read_exact(&mut msg)?;
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            view: View {
                root: (3, 2),
                mounts: b"mnt:[4026531840]".to_vec(),
            },
            compiler: "/usr/bin/gcc".into(),
            identity: [9; 32],
            probe_flags: vec!["-m32".into(), OsString::from_vec(vec![0xff, b'x'])],
            unit: Unit {
                lang: Some(Lang::Cxx),
                cwd: "/src/proj".into(),
                source: "a b.cc".into(),
                dirs: vec![
                    DirOpt::I("inc".into()),
                    DirOpt::Split,
                    DirOpt::Quote("q".into()),
                    DirOpt::System("/s".into()),
                    DirOpt::After("after".into()),
                ],
                macros: vec![
                    MacroOpt::Define("F(x)=x+1".into()),
                    MacroOpt::Undef("G".into()),
                ],
                imacros: vec!["m.h".into()],
                includes: vec!["config.h".into(), "pre.h".into()],
                sysroot: Some("/sys root".into()),
                trigraphs: true,
                env_cpath: Some("a:b".into()),
                env_lang_path: None,
            },
        }
    }

    #[test]
    fn a_request_round_trips() {
        let q = request();
        let b = q.encode();
        let d = Request::decode(&b).expect("decodes");
        assert_eq!(d.view, q.view);
        assert_eq!(d.compiler, q.compiler);
        assert_eq!(d.identity, q.identity);
        assert_eq!(d.probe_flags, q.probe_flags);
        assert_eq!(format!("{:?}", d.unit), format!("{:?}", q.unit));
        // Every truncation is refused, not misread.
        for n in 0..b.len() {
            assert!(Request::decode(&b[..n]).is_none(), "cut at {n}");
        }
    }

    #[test]
    fn a_reply_round_trips() {
        let s = ScanResult {
            files: vec![
                FileRead {
                    path: "a.c".into(),
                    digest: [1; 32],
                    size: 10,
                    stamp: Some(Stamp {
                        dev: 1,
                        ino: 2,
                        size: 10,
                        mtime: -5,
                        mtime_ns: 6,
                        ctime: 7,
                        ctime_ns: 8,
                    }),
                    plain: true,
                },
                FileRead {
                    path: "/usr/include/stdio.h".into(),
                    digest: [2; 32],
                    size: 20,
                    stamp: None,
                    plain: false,
                },
            ],
            probes: vec![Probe {
                path: "/x/y.h".into(),
                kind: ProbeKind::HasInclude,
                exists: false,
            }],
            notes: vec!["#error reached".into()],
            fatal: Some("missing.h".into()),
            undecided: 3,
            shadows: vec!["/x/z.h".into()],
            lines: true,
        };
        let b = encode_reply(&Answer::Scanned(Ok(s.clone()), "told".into()));
        let Some(Answer::Scanned(Ok(d), told)) = decode_reply(&b) else {
            panic!("a scan")
        };
        assert_eq!(told, "told");
        assert_eq!(d.files, s.files);
        assert_eq!(d.probes, s.probes);
        assert_eq!(
            (d.notes, d.fatal, d.undecided, d.shadows, d.lines),
            (s.notes, s.fatal, s.undecided, s.shadows, s.lines)
        );
        for n in 0..b.len() {
            assert!(decode_reply(&b[..n]).is_none(), "cut at {n}");
        }
        let b = encode_reply(&Answer::Scanned(Err(ScanError("why".into())), "t".into()));
        assert!(
            matches!(decode_reply(&b), Some(Answer::Scanned(Err(ScanError(w)), _)) if w == "why")
        );
        let b = encode_reply(&Answer::Refused("no".into()));
        assert!(matches!(decode_reply(&b), Some(Answer::Refused(w)) if w == "no"));
    }

    #[test]
    fn this_process_sees_its_own_view() {
        assert_eq!(View::here().unwrap(), View::here().unwrap());
    }
}
