//! Integration tests: real daemons on 127.0.0.1 (port 0), real gcc.
//! Tests that need gcc or Debian's distcc skip with a message without them.

mod sshd;
mod util;

mod alloc;
mod cache;
mod daemon;
mod dropin;
mod exact;
mod faults;
mod flood;
mod fuzz;
mod hosts;
mod inflate;
mod install;

mod hostile;
mod hostile_attacks;
mod interop;
mod interrupted;
mod lock_slots;
mod messages;
mod monitor;
mod outputs;
mod packaging;
mod same;
mod scan;
mod scan_corpus;
mod ssh;
mod stream;
mod volunteer;
mod zstd;
