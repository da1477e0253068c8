//! What the client knows of how busy each of our volunteers is: their
//! answers to the status query (`protocol::status`), cached in
//! `$DISTCC_DIR/status/` for [`TTL`] and shared by every client process of
//! the user, so a `make -j20` asks each host about once per TTL, not once
//! per job. One process refreshes a stale entry (it holds the entry's
//! lock file while it asks); the others use what is there meanwhile.
//!
//! An entry also records how many of the user's own slot locks on that
//! host were held when it was asked: the host's count includes those jobs,
//! and `place` adds the ones held now instead, which it knows exactly.
//! A host that closes the connection on the query (distcc 3.4) is
//! remembered like any extension it refuses (`spoken::speaks`); one that
//! cannot be reached is cached as silent, so no client waits on it again
//! within the TTL. A reply's note (`protocol::note`) carries the same
//! answer, which refreshes the entry as a query would ([`heard`]): a host
//! kept busy by the user's jobs is then hardly ever asked.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use fs2::FileExt;

use super::lock;
use super::spoken::{self, Extension};
use crate::hosts::{Host, Transport};
use crate::protocol::status::{self, Status};
use crate::protocol::WireError;
use crate::settings::Settings;
use crate::state::{host_key, replace_file};

/// How long an answer is used before it is asked again.
pub const TTL: Duration = Duration::from_millis(1000);
/// How long one query may take in all: the answer comes from the daemon's
/// accept loop, at once, or the host is not worth waiting for.
const QUERY_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the query may take when it tells a daemon of ours from distcc
/// 3.4, just after the host closed on a request: rare, and a guess made
/// on a slow answer would stick for a day.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A host's answer, with the user's slots held there when it was asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Known {
    pub status: Status,
    pub ours_then: u32,
}

/// The status of each host in `wanted` (`None`: silent, not ours, or not
/// a TCP host); `ours(i)` counts the user's slots held on host `i` now.
/// Fresh entries are read here; stale ones are asked again, at once. A
/// host that cannot be asked (a TLS port closes on the plain query) still
/// has what its last reply's note said, while that is fresh.
pub fn statuses(
    hosts: &[Host],
    wanted: &[usize],
    settings: &Settings,
    ours: &(dyn Fn(usize) -> u32 + Sync),
) -> Vec<Option<Known>> {
    let dir = settings.dir.join("status");
    let mut out: Vec<Option<Known>> = Vec::with_capacity(wanted.len());
    let mut stale: Vec<(usize, Option<Known>)> = Vec::new();
    for (at, &i) in wanted.iter().enumerate() {
        let host = &hosts[i];
        if !matches!(host.transport, Transport::Tcp { .. }) {
            out.push(None);
            continue;
        }
        match read_entry(&dir.join(host_key(&host.key()))) {
            Some((age, known)) if age < TTL => out.push(known),
            _ if !spoken::speaks(host, settings, Extension::Status) => out.push(None),
            cached => {
                out.push(None);
                stale.push((at, cached.and_then(|(_, k)| k)));
            }
        }
    }
    if stale.is_empty() {
        return out;
    }
    let asked: Vec<Option<Known>> = std::thread::scope(|scope| {
        let asks: Vec<_> = stale
            .iter()
            .map(|&(at, cached)| {
                let (i, dir) = (wanted[at], &dir);
                scope.spawn(move || refresh(&hosts[i], dir, settings, cached, || ours(i)))
            })
            .collect();
        asks.into_iter().map(|a| a.join().ok().flatten()).collect()
    });
    for ((at, _), known) in stale.iter().zip(asked) {
        out[*at] = known;
    }
    out
}

/// Keeps what `host` said of its load in a reply's note as its entry, as
/// if it had just been asked; the job that got the reply still holds its
/// slot, as the daemon still counts its connection.
pub fn heard(host: &Host, settings: &Settings, status: Status) {
    if !matches!(host.transport, Transport::Tcp { .. }) {
        return;
    }
    let key = host.key();
    let ours_then = lock::held(&lock::dir(settings), &key, host.limit);
    let path = settings.dir.join("status").join(host_key(&key));
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).ok();
    }
    write_entry(&path, Some(&Known { status, ours_then }));
}

/// Whether `host` runs a daemon of ours, asked now: it answers the status
/// query, which distcc 3.4 closes on (remembered, as `refresh` does). A
/// TLS host is ours (distcc 3.4 has no TLS); one that cannot be asked (an
/// ssh host, one that does not answer in time) counts as ours, the
/// cheaper guess to get wrong: one more closing of distcc 3.4, against a
/// daemon of ours spoken to without zstd or an extension for a day.
pub fn answers(host: &Host, settings: &Settings) -> bool {
    let Transport::Tcp { host: name, port } = &host.transport else {
        return true;
    };
    if host.tls {
        return true;
    }
    if !spoken::speaks(host, settings, Extension::Status) {
        return false;
    }
    match ask(name, *port, PROBE_TIMEOUT) {
        Asked::Answer(_) | Asked::Silent => true,
        Asked::Unspoken => {
            spoken::mark_unspoken(host, settings, Extension::Status);
            false
        }
    }
}

/// Asks `host` again, unless another client is asking it now (then what
/// was known, `cached`, will do meanwhile).
fn refresh(
    host: &Host,
    dir: &Path,
    settings: &Settings,
    cached: Option<Known>,
    ours: impl FnOnce() -> u32,
) -> Option<Known> {
    let Transport::Tcp { host: name, port } = &host.transport else {
        return None;
    };
    let path = dir.join(host_key(&host.key()));
    let Some(_refreshing) = refresh_lock(&path) else {
        return cached;
    };
    let ours_then = ours();
    let known = match ask(name, *port, QUERY_TIMEOUT) {
        Asked::Answer(status) => Some(Known { status, ours_then }),
        Asked::Unspoken => {
            spoken::mark_unspoken(host, settings, Extension::Status);
            None
        }
        Asked::Silent => None,
    };
    write_entry(&path, known.as_ref());
    known
}

enum Asked {
    Answer(Status),
    /// It closed on the query: not ours.
    Unspoken,
    /// Unreachable, or too slow.
    Silent,
}

fn ask(name: &str, port: u16, limit: Duration) -> Asked {
    let Some(addr) = (name, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    else {
        return Asked::Silent;
    };
    let Ok(mut s) = TcpStream::connect_timeout(&addr, limit) else {
        return Asked::Silent;
    };
    s.set_read_timeout(Some(limit)).ok();
    s.set_write_timeout(Some(limit)).ok();
    if s.write_all(&status::query()).is_err() {
        return Asked::Silent;
    }
    match status::read_status(&mut s) {
        Ok(st) => Asked::Answer(st),
        Err(WireError::Closed { .. } | WireError::Truncated { .. }) => Asked::Unspoken,
        Err(WireError::Io(e)) if e.kind() == ErrorKind::ConnectionReset => Asked::Unspoken,
        Err(e) => {
            log::debug!("{name}:{port}: status: {e}");
            Asked::Silent
        }
    }
}

/// The entry's age and what it says (`None` inside: silent).
fn read_entry(path: &Path) -> Option<(Duration, Option<Known>)> {
    let meta = fs::metadata(path).ok()?;
    let age = SystemTime::now()
        .duration_since(meta.modified().ok()?)
        .unwrap_or_default();
    let text = fs::read_to_string(path).ok()?;
    Some((age, parse_entry(&text)))
}

fn parse_entry(text: &str) -> Option<Known> {
    let text = text.trim_end_matches(' ');
    let (first, rest) = text.split_once('\n')?;
    let ours_then = first.strip_prefix("ours ")?.parse().ok()?;
    let status = Status::from_text(rest).ok()?;
    Some(Known { status, ours_then })
}

fn entry_text(known: Option<&Known>) -> String {
    match known {
        Some(k) => format!("ours {}\n{}", k.ours_then, k.status.to_text()),
        None => "silent\n".into(),
    }
}

/// Entries are padded to this width and rewritten in place.
const ENTRY_WIDTH: usize = 256;

/// Rewrites the entry in place, padded to one width: every job writes
/// its host's entry, and a rename over an existing file makes ext4 start
/// writing the new one out at once (its replace-by-rename heuristic), a
/// disk request per job. A reader that meets a write half done gets a
/// line that does not parse, or numbers of two moments: hints either way.
fn write_entry(path: &Path, known: Option<&Known>) {
    use std::os::unix::fs::FileExt;
    let mut text = entry_text(known).into_bytes();
    if text.len() > ENTRY_WIDTH {
        // A cache: a failure costs a query next time.
        replace_file(path, &text).ok();
        return;
    }
    text.resize(ENTRY_WIDTH, b' ');
    // Not truncated: the padded write covers all of an older entry.
    let open = || {
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
    };
    let file = open().or_else(|_| {
        fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
        open()
    });
    if let Ok(f) = file {
        f.write_all_at(&text, 0).ok();
    }
}

/// The entry's refresh lock, if no other process holds it.
fn refresh_lock(path: &Path) -> Option<File> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let dir = path.parent()?;
    fs::create_dir_all(dir).ok()?;
    let file = File::create(PathBuf::from(name)).ok()?;
    file.try_lock_exclusive().ok()?;
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let k = Known {
            status: Status {
                slots: 4,
                running: 2,
                queued: 1,
                cores: 0.5,
                load: 0.25,
                draining: false,
            },
            ours_then: 3,
        };
        assert_eq!(parse_entry(&entry_text(Some(&k))), Some(k));
        assert_eq!(parse_entry(&entry_text(None)), None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status").join("h");
        write_entry(&path, Some(&k));
        let (age, back) = read_entry(&path).unwrap();
        assert_eq!(back, Some(k));
        assert!(age < Duration::from_secs(3600));
        // Rewritten in place, a shorter entry leaves nothing of the longer.
        write_entry(&path, None);
        assert_eq!(read_entry(&path).unwrap().1, None);
        write_entry(&path, Some(&k));
        assert_eq!(read_entry(&path).unwrap().1, Some(k));
        let held = refresh_lock(&path).unwrap();
        assert!(refresh_lock(&path).is_none(), "the lock is exclusive");
        drop(held);
        assert!(refresh_lock(&path).is_some());
    }

    /// A reply's note is used as a query's answer, by a host that cannot
    /// be asked too (no query is made here: the entry is fresh, or the
    /// host is known to close on the query).
    #[test]
    fn a_notes_status_is_used_while_fresh_even_where_no_query_is_answered() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::from_lookup(|name| match name {
            "DISTCC_DIR" => Some(dir.path().into()),
            _ => None,
        });
        let hosts = crate::hosts::parse("127.0.0.1:9/2,tls").unwrap().hosts;
        spoken::mark_unspoken(&hosts[0], &settings, Extension::Status);
        let none = |_| 0;
        assert_eq!(statuses(&hosts, &[0], &settings, &none), [None]);
        let st = Status {
            slots: 2,
            running: 1,
            cores: 2.0,
            ..Status::default()
        };
        heard(&hosts[0], &settings, st);
        let known = Known {
            status: st,
            ours_then: 0,
        };
        assert_eq!(statuses(&hosts, &[0], &settings, &none), [Some(known)]);
    }
}
