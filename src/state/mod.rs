//! What the client processes of one user share on disk, in the state dir
//! (`$DISTCC_DIR/state`), and the monitor reads: a record per running job
//! (`running`), the history of finished jobs (`history`), per-host
//! failure records (`backoff`), what a host was found to lack
//! (`mismatch`), and the phases a job goes through
//! (`phase`); where they live (`paths`); each client's reused, locked
//! file holding its record and its temp-file journal (`slot`). Writers are the client's; readers are the monitor's and the
//! client's own. Slot locks live beside it but are the client's alone
//! (`client::lock`).

pub mod backoff;
pub mod history;
pub mod mismatch;
pub mod paths;
pub mod phase;
pub mod running;
pub mod slot;

pub use history::Listing;
pub use paths::{dir, host_key, replace_file, unescape_key};
pub use phase::{Phase, PHASES};
pub use running::{list, source_of, JobState, Running};
