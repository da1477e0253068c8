//! `distcc [COMPILER] ARGS...` and the masquerading compiler names.
//!
//! A job flows one way, parse → decide → act, and nothing below calls
//! back up:
//! - `cli` reads distcc's own options and finds the compiler's name
//!   (`check` answers `--check-hosts`);
//! - `decide` asks `scan` (which builds a `job`) whether the command line
//!   can go to the volunteers, and adds what only this machine knows;
//! - `local` runs a job that stays here, unchanged;
//! - `distribute` is the host loop: `pick` a host through the `lock`
//!   slots and the backoff records (ranked by `place` from the hosts'
//!   `status` when our daemons answer it, and by which of the unit's
//!   files each holds, `affinity`), over the host list as
//!   `resolve` expands it (a name with many addresses, one host each;
//!   `_distcc._tcp.` names by their `srv` records; `+zeroconf`'s
//!   volunteers from `zeroconf`), make one `attempt` there, then retry,
//!   fall back, or fail with distcc's code;
//! - `attempt` picks the dialect for the host, one file each: `plain`
//!   (protocols 1 and 2, the source preprocessed whole by `cpp`),
//!   `streamed` (ours: the source sent while `cpp` writes it, via `tee`),
//!   `exact` (protocol 3: the unit's files, found by `listing`, each
//!   `shipped` with its bytes or the scanner's digest) and
//!   `hashed` (ours: exact mode's files by digest, with the compiler and
//!   system headers it asserts, `assertions`); every dialect moves
//!   bytes through `connection` (over `transport`) and returns an answer;
//! - `reply` accepts a reply: a distcc code is a failure to distribute,
//!   anything else the compiler's result, whose files `output` writes;
//!   `heard` takes in the note our daemons add (a cache hit, their load).
//!
//! `trust` answers `--tls-key` and `--trust` (the `,tls` keys).
//! `cleanup` removes what a signal would leave (temp files, children).
//! `context` is what every step reads; `outcome` keeps the three outcomes
//! apart in the types: the compiler ran (its status is passed through),
//! the job runs locally by decision (a reason, not an error), and distcc
//! failed (fall back, or exit with distcc's code).

pub mod absent;
pub mod affinity;
pub mod assertions;
pub mod attempt;
pub mod check;
pub mod cleanup;
pub mod cli;
pub mod connection;
pub mod context;
pub mod cpp;
pub mod decide;
pub mod distribute;
pub mod exact;
pub mod hashed;
pub mod heard;
pub mod job;
pub mod listing;
pub mod local;
pub mod lock;
pub mod mismatched;
pub mod normal;
pub mod outcome;
pub mod output;
pub mod pick;
pub mod place;
pub mod plain;
pub mod probe;
pub mod reply;
pub mod resolve;
pub mod scan;
pub mod scanned;
pub mod shadows;
pub mod shipped;
pub mod spoken;
pub mod srv;
pub mod status;
pub mod streamed;
pub mod tee;
pub mod trust;
pub mod unit;
pub mod verify;
pub mod zeroconf;

use std::ffi::{OsStr, OsString};

use anyhow::{Context as _, Result};

use crate::masquerade;
use crate::settings::Settings;
use crate::state::{self, JobState};
use cli::Request;
use context::Context;
use decide::Decision;

/// Runs the client. `masquerade_name` is set when we were invoked under a
/// compiler's name (`argv0`), `args` excludes argv[0].
pub fn main(argv0: &OsStr, masquerade_name: Option<&str>, args: Vec<OsString>) -> Result<u8> {
    let settings = Settings::from_env();
    masquerade::check_safeguard(settings.safeguard.as_deref())?;
    crate::logging::client(settings.log.as_deref(), settings.verbose);
    let (name, args) = match cli::parse(masquerade_name, args, &settings)? {
        Request::Compile { name, args } => (name, args),
        Request::Answered(code) => return Ok(code),
    };

    let self_exe = std::env::current_exe().context("finding our own executable")?;
    let compiler = masquerade::find_compiler(
        &name,
        argv0,
        masquerade_name.is_some(),
        &settings.path,
        &self_exe,
    )?;
    log::debug!("compiler {:?} is {}", name, compiler.path.display());

    cleanup::install(&state::dir(&settings));
    let _finish = Finish;
    match decide::with_hosts(decide::decide(&args), &settings) {
        Decision::Local { reason, source } => {
            log::info!("running locally: {reason}");
            let job_state = JobState::start(&settings, &source);
            job_state.local(&reason);
            job_state.finish(local::run_status(&compiler, &args))
        }
        Decision::Remote(job) => {
            cleanup::sweep_dead(&state::dir(&settings));
            let job_state = JobState::start(&settings, &job.input);
            let identities = crate::identity::Cache::new(Some(&settings.dir.join("cache")));
            let ctx = Context {
                settings: &settings,
                compiler: &compiler,
                name: &name,
                args: &args,
                state: &job_state,
                identities: &identities,
            };
            let result = distribute::run(&ctx, &job);
            job_state.finish(result)
        }
    }
}

/// Ends the job's cleanup record however `main` returns.
struct Finish;

impl Drop for Finish {
    fn drop(&mut self) {
        cleanup::finish();
    }
}
