//! Integration tests: real daemons on 127.0.0.1 (port 0), real gcc.
//! Tests that need gcc or Debian's distcc skip with a message without them.

mod blocking;
mod sshd;
mod util;

mod absent;
mod affinity;
mod alloc;
mod announce;
mod cache;
mod clang;
mod daemon;
mod dropin;
mod elastic;
mod exact;
mod faults;
mod flood;
mod fuzz;
mod hosts;
mod identity;
mod inflate;
mod install;

mod hostile;
mod hostile_attacks;
mod interop;
mod interrupted;
mod lock_slots;
mod messages;
mod monitor;
mod notes;
mod outputs;
mod packaging;
mod placement;
mod readiness;
mod same;
mod scan;
mod scan_corpus;
mod scanned;
mod shadows;
mod split_dwarf;
mod ssh;
mod stream;
mod tls;
mod tls_agent;
mod volunteer;
mod zstd;
