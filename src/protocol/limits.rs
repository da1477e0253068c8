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
    /// protocol-3 file list, the largest total. Bodies are bounded by size
    /// alone, never by how well they compress: a source with large constant
    /// tables legitimately inflates 200 times and more. The daemon inflates
    /// into the job's files, so a body costs it disk, not memory.
    pub max_body: u64,
}

impl Limits {
    /// What a client accepts in replies from servers it chose: the same
    /// bounds (objects with large zero-filled sections compress as well as
    /// sources with large tables).
    pub fn for_replies() -> Limits {
        Limits::default()
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
        }
    }
}
