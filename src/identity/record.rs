//! A computed identity with the files it was computed from: composing the
//! digest from a probe, telling whether the files are still the same (one
//! `stat` each), and the record's disk form. The driver's banner and the
//! paths it names come from running the driver, so they change only when
//! the driver's file does; the inputs cover everything else.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::diskfile::{self, put_blob, Reader};
use super::key::FileKey;
use super::probe::Probe;
use super::{wire, Digest, Identity, Lang, Part, PART_PREFIX};

const MAGIC: &[u8; diskfile::MAGIC_LEN] = b"dcccid01";

/// Printable fields longer than this are cut: they only name the compiler
/// to a person, the digest decides.
const MAX_FIELD: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Input {
    pub path: PathBuf,
    pub key: FileKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub identity: Identity,
    pub inputs: Vec<Input>,
}

/// A file's key and digest, and whether the key is too recent to trust
/// later (`FileKey::is_racy`).
pub(super) type Hashed = (FileKey, Digest, bool);

/// Builds the record of `probe`, digesting its files with `hash`. Returns
/// whether any input was racy: such a record is right now but must not be
/// kept.
pub(super) fn compose(
    probe: &Probe,
    lang: Lang,
    hash: &mut dyn FnMut(&Path) -> io::Result<Hashed>,
) -> anyhow::Result<(Record, bool)> {
    use anyhow::Context;
    let mut inputs = Vec::new();
    let mut racy = false;
    let mut file = |path: &Path| -> anyhow::Result<Digest> {
        let (key, digest, r) = hash(path).with_context(|| format!("reading {}", path.display()))?;
        racy |= r;
        inputs.push(Input {
            path: path.to_path_buf(),
            key,
        });
        Ok(digest)
    };
    let mut config = config_hasher(probe);
    for path in &probe.config_files {
        config.update(file(path)?);
    }
    let driver = file(&probe.driver)?;
    let compiler = file(&probe.compiler)?;
    let assembler = probe.assembler.as_deref().map(&mut file).transpose()?;
    let mut libraries = None::<Sha256>;
    for lib in &probe.libraries {
        let digest = file(lib)?;
        let h = libraries.get_or_insert_with(Sha256::new);
        h.update(lib.file_name().unwrap_or_default().as_bytes());
        h.update([0]);
        h.update(digest);
    }
    let parts: [Option<Digest>; 5] = [
        Some(config.finalize().into()),
        Some(driver),
        Some(compiler),
        assembler,
        libraries.map(|h| h.finalize().into()),
    ];
    let identity = Identity {
        kind: probe.kind,
        lang,
        version: printable(&probe.version),
        target: printable(&probe.target),
        digest: identity_digest(lang, &parts),
        parts: parts.map(|p| p.map(|d| d[..PART_PREFIX].try_into().unwrap())),
    };
    Ok((Record { identity, inputs }, racy))
}

/// The configuration part: the banner's fields, then the bytes of any
/// file the driver takes its defaults from.
fn config_hasher(p: &Probe) -> Sha256 {
    let mut h = Sha256::new();
    for field in [
        p.kind.name(),
        p.mode,
        &p.version_line,
        &p.target,
        &p.configured,
        &p.thread_model,
    ] {
        h.update(field.as_bytes());
        h.update([0]);
    }
    h
}

fn identity_digest(lang: Lang, parts: &[Option<Digest>; 5]) -> Digest {
    let mut h = Sha256::new();
    h.update(b"distcc compiler identity 1\0");
    h.update(lang.name().as_bytes());
    h.update([0]);
    for (part, digest) in Part::ALL.iter().zip(parts) {
        h.update([*part as u8]);
        match digest {
            Some(d) => {
                h.update([1]);
                h.update(d);
            }
            None => h.update([0]),
        }
    }
    h.finalize().into()
}

/// Graphic ASCII only, so a field prints safely on either side.
fn printable(s: &str) -> String {
    s.chars()
        .take(MAX_FIELD)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

impl Record {
    /// Whether every input is still the file the identity was computed
    /// from: the whole cost of a cache hit.
    pub fn is_current(&self) -> bool {
        self.inputs
            .iter()
            .all(|i| matches!(FileKey::stat(&i.path), Ok(Some(k)) if k == i.key))
    }

    pub fn encode(&self, cache_key: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_blob(&mut out, cache_key);
        out.extend_from_slice(&(self.inputs.len() as u32).to_le_bytes());
        for i in &self.inputs {
            put_blob(&mut out, i.path.as_os_str().as_bytes());
            i.key.encode(&mut out);
        }
        put_blob(&mut out, &self.identity.to_wire());
        out
    }

    /// The record in `body` if it was stored under `cache_key` (a file
    /// name is a hash prefix of the key, so the key itself is checked).
    pub fn decode(body: &[u8], cache_key: &[u8]) -> Option<Record> {
        let mut r = Reader::new(body);
        if r.blob()? != cache_key {
            return None;
        }
        let n = r.u32()? as usize;
        let mut inputs = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let path = PathBuf::from(OsStr::from_bytes(r.blob()?));
            let key = FileKey::decode(&mut r)?;
            inputs.push(Input { path, key });
        }
        let identity = wire::from_wire(r.blob()?).ok()?;
        r.is_empty().then_some(Record { identity, inputs })
    }

    pub fn load(path: &Path, cache_key: &[u8]) -> Option<Record> {
        Record::decode(&diskfile::read(path, MAGIC)?, cache_key)
    }

    pub fn save(&self, dir: &Path, name: &str, cache_key: &[u8]) -> io::Result<()> {
        diskfile::write(dir, name, MAGIC, &self.encode(cache_key))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Kind;
    use super::*;

    fn probe() -> Probe {
        Probe {
            kind: Kind::Gcc,
            version_line: "gcc version 12.2.0 (Debian)".into(),
            version: "12.2.0".into(),
            target: "x86_64-linux-gnu".into(),
            configured: "--prefix=/usr".into(),
            thread_model: "posix".into(),
            config_files: vec![],
            mode: "",
            driver: "/usr/bin/gcc".into(),
            compiler: "/usr/lib/gcc/cc1".into(),
            assembler: Some("/usr/bin/as".into()),
            libraries: vec![],
        }
    }

    /// Digests made from the path, so a test can vary one file's bytes.
    fn fake_hash(changed: &'static str) -> impl FnMut(&Path) -> io::Result<Hashed> {
        move |p: &Path| {
            let mut d = [0u8; 32];
            let name = p.as_os_str().as_bytes();
            d[..name.len().min(32)].copy_from_slice(&name[..name.len().min(32)]);
            if p == Path::new(changed) {
                d[0] ^= 1;
            }
            let key = FileKey {
                dev: 1,
                ino: name.len() as u64,
                size: 0,
                mtime: 0,
                ctime: 0,
            };
            Ok((key, d, false))
        }
    }

    fn compose_with(p: &Probe, lang: Lang, changed: &'static str) -> Record {
        compose(p, lang, &mut fake_hash(changed)).unwrap().0
    }

    #[test]
    fn every_part_changes_the_digest_and_is_named() {
        let base = compose_with(&probe(), Lang::C, "");
        assert_eq!(base.inputs.len(), 3);
        assert_eq!(base.identity.to_string().split(' ').count(), 5);
        let cases: Vec<(Record, Part)> = vec![
            (
                compose_with(&probe(), Lang::C, "/usr/bin/gcc"),
                Part::Driver,
            ),
            (
                compose_with(&probe(), Lang::C, "/usr/lib/gcc/cc1"),
                Part::Compiler,
            ),
            (
                compose_with(&probe(), Lang::C, "/usr/bin/as"),
                Part::Assembler,
            ),
            (
                compose_with(
                    &Probe {
                        configured: "--prefix=/opt".into(),
                        ..probe()
                    },
                    Lang::C,
                    "",
                ),
                Part::Config,
            ),
            (
                compose_with(
                    &Probe {
                        libraries: vec!["/lib/libLLVM.so".into()],
                        ..probe()
                    },
                    Lang::C,
                    "",
                ),
                Part::Libraries,
            ),
        ];
        for (other, part) in cases {
            assert_ne!(other.identity.digest, base.identity.digest, "{part:?}");
            assert_eq!(base.identity.differing_parts(&other.identity), [part]);
        }
        let cxx = compose_with(&probe(), Lang::Cxx, "");
        assert_ne!(cxx.identity.digest, base.identity.digest, "language");
        assert!(base.identity.differing_parts(&cxx.identity).is_empty());
    }

    #[test]
    fn records_survive_encoding_under_their_key_only() {
        let rec = compose_with(&probe(), Lang::Cxx, "");
        let body = rec.encode(b"key");
        assert_eq!(Record::decode(&body, b"key"), Some(rec));
        assert_eq!(Record::decode(&body, b"other"), None);
        assert_eq!(Record::decode(&body[..body.len() - 1], b"key"), None);
    }

    #[test]
    fn printable_fields_are_cut_and_cleaned() {
        assert_eq!(printable("12.2\u{1b}[0m x"), "12.2?[0m?x");
        assert_eq!(printable(&"9".repeat(100)).len(), MAX_FIELD);
    }
}
