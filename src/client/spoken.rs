//! What the client remembers of each host's dialects between jobs: the
//! extensions of ours a host closed the connection on (a distcc 3.4
//! daemon, or one of ours from before the extension), as marker files in
//! the state dir, so the next job asks in a dialect the host speaks.

use std::fs;

use crate::hosts::Host;
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
}

impl Extension {
    fn marker(self, host: &Host) -> String {
        let prefix = match self {
            Extension::Hashed => "plain3_",
            Extension::Stream => "nostream_",
            Extension::ReadList => "noreads_",
            Extension::Status => "nostatus_",
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
