//! The note our daemon adds after a reply, for our own clients that ask
//! for it: whether the result came from its result cache, and how busy it
//! is as it replies (the status query's answer, `status`), so a client
//! that keeps a volunteer busy learns its load without asking.
//!
//! ```text
//! client: DIST 0x1xx + 0x20        (`Dist::NOTED`, on streamed and hashed
//!                                   requests only)
//! daemon: DONE ... (the reply, its extras, READ)
//!         NOTE len body            body: "KEY VALUE\n" lines, ASCII
//! ```
//!
//! Keys: `cache` (`hit`, `miss`, or `off` when the daemon keeps no cache
//! or cannot key the job; absent when no compile was looked up, as for a
//! refusal), then the status query's keys. Unknown keys are ignored, so
//! either side may add some. The note is sent to every request that asked
//! for it, empty when there is nothing to say; a client reads a reply that
//! ends before it (a refusal from before the request was read) as one
//! without a note. Neither side sends or expects one otherwise: an older
//! client of ours never asks, and distcc 3.4's protocols cannot.

use std::fmt::Write as _;
use std::io::{self, Read, Write};

use super::error::{Result, WireError};
use super::packet::{read_len, read_raw, write_raw};
use super::status::Status;
use super::token::Token;

/// The note's token.
pub const NOTE: &Token = b"NOTE";
/// Largest note a client reads.
pub const MAX_NOTE: u32 = 4096;

/// What the result cache said of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheUse {
    /// The result came from the cache: no compiler ran.
    Hit,
    /// Compiled; the result is kept for the next identical job.
    Miss,
    /// No cache on the daemon, or a job it cannot key.
    Off,
}

impl CacheUse {
    pub fn word(self) -> &'static str {
        match self {
            CacheUse::Hit => "hit",
            CacheUse::Miss => "miss",
            CacheUse::Off => "off",
        }
    }

    pub fn parse(word: &str) -> Option<CacheUse> {
        Some(match word {
            "hit" => CacheUse::Hit,
            "miss" => CacheUse::Miss,
            "off" => CacheUse::Off,
            _ => return None,
        })
    }
}

/// What a daemon says after a reply.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Note {
    pub cache: Option<CacheUse>,
    pub status: Option<Status>,
}

impl Note {
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        if let Some(c) = self.cache {
            let _ = writeln!(s, "cache {}", c.word());
        }
        if let Some(st) = &self.status {
            s.push_str(&st.to_text());
        }
        s
    }

    /// Parses a body; a status is there when its `slots` line is.
    pub fn from_text(text: &str) -> Result<Note> {
        let mut note = Note::default();
        let mut has_status = false;
        for line in text.lines() {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "cache" => {
                    note.cache =
                        Some(CacheUse::parse(value).ok_or_else(|| WireError::BadValue {
                            token: *NOTE,
                            why: format!("bad cache line {line:?}"),
                        })?)
                }
                "slots" => has_status = true,
                _ => {}
            }
        }
        if has_status {
            note.status = Some(Status::from_text(text).map_err(|e| WireError::BadValue {
                token: *NOTE,
                why: e.to_string(),
            })?);
        }
        Ok(note)
    }
}

/// Writes the note (`body`: [`Note::to_text`], or empty).
pub fn write_note<W: Write>(w: &mut W, body: &[u8]) -> io::Result<()> {
    write_raw(w, NOTE, body)
}

/// Reads a note; `None` when the reply ended before it.
pub fn read_note<R: Read>(r: &mut R) -> Result<Option<Note>> {
    let len = match read_len(r, NOTE, MAX_NOTE as u64) {
        Ok(len) => len,
        Err(WireError::Closed { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let body = read_raw(r, NOTE, len)?;
    let text = String::from_utf8(body).map_err(|_| WireError::BadValue {
        token: *NOTE,
        why: "the note is not text".into(),
    })?;
    Note::from_text(&text).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::packet::header;

    #[test]
    fn notes_round_trip_and_tolerate_new_keys() {
        let status = Status {
            slots: 4,
            running: 1,
            queued: 2,
            cores: 2.5,
            load: 0.5,
            draining: false,
        };
        for note in [
            Note::default(),
            Note {
                cache: Some(CacheUse::Hit),
                status: Some(status),
            },
            Note {
                cache: Some(CacheUse::Off),
                status: None,
            },
            Note {
                cache: None,
                status: Some(status),
            },
        ] {
            let mut wire = Vec::new();
            write_note(&mut wire, note.to_text().as_bytes()).unwrap();
            assert_eq!(read_note(&mut &wire[..]).unwrap(), Some(note));
        }
        let more = Note::from_text("cache miss\nheaders 12\n").unwrap();
        assert_eq!(more.cache, Some(CacheUse::Miss));
        assert_eq!(more.status, None);
        assert!(Note::from_text("cache maybe\n").is_err());
        assert!(Note::from_text("slots many\n").is_err());
    }

    #[test]
    fn a_reply_that_ends_before_its_note_has_none() {
        assert_eq!(read_note(&mut &b""[..]).unwrap(), None);
        assert!(read_note(&mut &b"NOTE0000"[..]).is_err(), "a torn header");
        let huge = header(NOTE, MAX_NOTE + 1);
        assert!(read_note(&mut &huge[..]).is_err());
        assert!(read_note(&mut &header(b"DOTO", 0)[..]).is_err());
    }
}
