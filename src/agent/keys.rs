//! The agent's [`TlsClient`]: our key and pins as the files say now. Each
//! connection asks for it; the files are re-read when their stamp (inode,
//! size, modification time) changed, so a pin edited or replaced by
//! `distcc --trust` holds from the next connection on. The configs that
//! keep sessions outlive the reloads ([`Resumable`] keys them by pin).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Result;

use crate::tls::{Resumable, TlsClient, KEY_FILE, KNOWN_HOSTS_FILE};
use crate::transport::tls::key_comment;

/// A file's stamp; `None` if it is missing.
type Stamp = Option<(u64, u64, i64, i64)>;

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
}

pub struct Keys {
    dir: PathBuf,
    resumable: Arc<Resumable>,
    loaded: Mutex<Option<([Stamp; 2], TlsClient)>>,
}

impl Keys {
    pub fn new(dir: &Path) -> Keys {
        Keys {
            dir: dir.to_path_buf(),
            resumable: Arc::new(Resumable::default()),
            loaded: Mutex::new(None),
        }
    }

    /// The client for the files as they are now.
    pub fn client(&self) -> Result<TlsClient> {
        let stamps = [
            stamp(&self.dir.join(KEY_FILE)),
            stamp(&self.dir.join(KNOWN_HOSTS_FILE)),
        ];
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, client)) = &*loaded {
            if *seen == stamps && stamps[0].is_some() {
                return Ok(client.clone());
            }
        }
        let client = TlsClient::load(&self.dir, &key_comment())?.resuming(self.resumable.clone());
        // Stamped as before the read: a change during it is seen next time.
        *loaded = Some((stamps, client.clone()));
        Ok(client)
    }
}
