//! The bounds every reader enforces on what a peer announces, checked
//! before anything is allocated; the protocol itself has none.

/// Bounds a reader enforces; the protocol itself has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_argc: u32,
    pub max_arg: u32,
    /// All ARGV bodies together: without it a request could hold
    /// `max_argc * max_arg` (256 MiB) before anything is checked. Linux
    /// refuses to exec much more than 2 MiB of arguments anyway.
    pub max_argv_total: u64,
    pub max_path: u32,
    pub max_files: u32,
    /// Largest body, compressed or not, and largest inflated body; for a
    /// protocol-3 file list, the largest total. A job thus holds at most
    /// `max_argv_total + max_body` bytes of request in memory.
    pub max_body: u64,
    /// Largest ratio of inflated to compressed size.
    pub max_inflation: u64,
}

impl Limits {
    /// What a client accepts in replies from servers it chose: objects with
    /// large zero-filled sections legitimately compress past 64x, up to the
    /// format's own ceiling of about 255x.
    pub fn for_replies() -> Limits {
        Limits {
            max_inflation: 256,
            ..Limits::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_argc: 4096,
            max_arg: 64 * 1024,
            max_argv_total: 2 << 20,
            max_path: 4096,
            max_files: 100_000,
            max_body: 1 << 30,
            max_inflation: 64,
        }
    }
}
