//! The few libc wrappers the roles share: pipes and non-blocking fds
//! (`fd`), waiting on fds (`poll`, and `epoll` for many at once), a file's identity and whether it may
//! be executed (`fs`), whether a process exists and how many CPUs there
//! are (`process`), the resolver's raw query (`resolv`), an OS error in the C library's words (`error`). Each is a thin, safe wrapper with its `unsafe` block
//! there, so no role repeats a syscall's error handling. Signal handlers
//! stay with the daemon (`daemon::signals`) and the monitor, whose needs
//! differ; socket options with `transport`.

pub mod epoll;
pub mod error;
pub mod fd;
pub mod fs;
pub mod poll;
pub mod process;
pub mod resolv;

pub use error::strerror;
pub use fd::{pipe, raise_fd_limit, set_nonblocking};
pub use fs::{identity, is_executable};
pub use poll::{poll_any, poll_events, wait_readable};
pub use process::{online_cpus, process_exists};
