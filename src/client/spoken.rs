//! What the client remembers of each host's dialects between jobs: the
//! extensions of ours a host closed the connection on (a distcc 3.4
//! daemon, or one of ours from before the extension), as marker files in
//! the state dir, so the next job asks in a dialect the host speaks.

use std::fs;

use crate::hosts::Host;
use crate::protocol::Codec;
use crate::settings::Settings;
use crate::state::{self, host_key};

/// Our protocol extensions, which only our own daemon speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extension {
    /// Exact mode's hashed file transfer (`protocol::hashed`).
    Hashed,
    /// The source streamed while it is preprocessed (`protocol::stream`).
    Stream,
    /// The list of files read after a hashed reply (`OutputKind::Reads`),
    /// which our daemons from before it do not send.
    ReadList,
    /// The status query (`protocol::status`), for placement (`place`).
    Status,
    /// zstd bodies in either extension (`crate::zstd`).
    Zstd,
    /// The note after a reply in either extension (`protocol::note`).
    Notes,
    /// Shadows in a hashed request (`protocol::hashed::SHDW`).
    Shadows,
}

impl Extension {
    fn marker(self, host: &Host) -> String {
        let prefix = match self {
            Extension::Hashed => "plain3_",
            Extension::Stream => "nostream_",
            Extension::ReadList => "noreads_",
            Extension::Status => "nostatus_",
            Extension::Zstd => "nozstd_",
            Extension::Notes => "nonotes_",
            Extension::Shadows => "noshadows_",
        };
        format!("{prefix}{}", host_key(&host.key()))
    }
}

/// Whether to offer `host` an extension: yes, unless it refused it within
/// the last day (a reference daemon, or one of ours from before it).
pub fn speaks(host: &Host, settings: &Settings, ext: Extension) -> bool {
    let marker = state::dir(settings).join(ext.marker(host));
    match fs::metadata(marker).and_then(|m| m.modified()) {
        Ok(t) => t.elapsed().map_or(true, |age| age.as_secs() > 24 * 3600),
        Err(_) => true,
    }
}

/// Remembers that `host` closed the connection on an extension.
pub fn mark_unspoken(host: &Host, settings: &Settings, ext: Extension) {
    let dir = state::dir(settings);
    fs::create_dir_all(&dir).ok();
    fs::write(dir.join(ext.marker(host)), b"").ok();
}

/// The codec of our extension dialects with `host`, whose base protocol
/// would use `base`: zstd where compression is asked for (`,lzo`) and the
/// host has not closed on it; raw stays raw (a fast LAN, or a loopback).
pub fn extension_codec(host: &Host, settings: &Settings, base: Codec) -> Codec {
    if base == Codec::Lzo && speaks(host, settings, Extension::Zstd) {
        Codec::Zstd
    } else {
        base
    }
}

/// Whether to ask `host` for a note after each reply of our extensions.
pub fn notes(host: &Host, settings: &Settings) -> bool {
    speaks(host, settings, Extension::Notes)
}

/// Whether to name shadows to `host`, for a request that has some.
pub fn shadows(host: &Host, settings: &Settings) -> bool {
    speaks(host, settings, Extension::Shadows)
}

/// Remembers that `host` closed the connection on a request in `ext` with
/// `codec`, with a note or not (`noted`), with shadows or not
/// (`shadowed`), and returns what that takes away: the newest thing the
/// request asked for, as a daemon of ours from before it speaks the rest
/// (shadows came after notes, which came after zstd, which came after
/// both extensions). On a request with a note or shadows, whether the
/// host answers the status query tells such a daemon from distcc 3.4,
/// which closes on all of them: then those go, and the next newest with
/// them, so distcc 3.4 costs no more closings than before them.
pub fn mark_closed_on(
    host: &Host,
    settings: &Settings,
    ext: Extension,
    codec: Codec,
    (noted, shadowed): (bool, bool),
) -> Extension {
    let ours = (noted || shadowed) && super::status::answers(host, settings);
    for (asked, newer) in [(shadowed, Extension::Shadows), (noted, Extension::Notes)] {
        if asked {
            mark_unspoken(host, settings, newer);
            if ours {
                return newer;
            }
        }
    }
    let ext = if codec == Codec::Zstd {
        Extension::Zstd
    } else {
        ext
    };
    mark_unspoken(host, settings, ext);
    ext
}
