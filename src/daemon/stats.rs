//! What the daemon counts: the job-slot semaphore that bounds running
//! compilers, and the figures behind the `--stats` page and the logs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::run::Ended;

/// Bounds how many compilers run at once. Connections wait here only after
/// their whole request has arrived, so an idle client never holds a slot.
pub struct Semaphore {
    free: Mutex<u32>,
    cv: Condvar,
}

pub struct Permit<'a>(&'a Semaphore);

impl Semaphore {
    pub fn new(n: u32) -> Semaphore {
        Semaphore {
            free: Mutex::new(n.max(1)),
            cv: Condvar::new(),
        }
    }

    pub fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.cv.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Permit(self)
    }

    /// A permit if one is free now.
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if *free == 0 {
            return None;
        }
        *free -= 1;
        Some(Permit(self))
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|e| e.into_inner());
        *free += 1;
        self.0.cv.notify_one();
    }
}

#[derive(Default)]
pub struct Stats {
    started: Option<Instant>,
    accepted: AtomicU64,
    running: AtomicU64,
    max_running: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    refused: AtomicU64,
    dropped: AtomicU64,
    compile_ms: AtomicU64,
    per_compiler: Mutex<BTreeMap<String, u64>>,
    /// TLS connections by the client key's name in authorized_keys, and
    /// those refused in the handshake (unknown key, not TLS, broken).
    per_key: Mutex<BTreeMap<String, u64>>,
    tls_refused: AtomicU64,
    /// TLS connections that resumed an earlier session (counted in
    /// `per_key` too).
    tls_resumed: AtomicU64,
    /// The longest compile: milliseconds, source, compiler.
    longest: Mutex<Option<(u64, String, String)>>,
    /// The last minutes since start, as a ring: compiles ended in each,
    /// and compiler-milliseconds spent in each.
    minutes: Mutex<[Minute; RING]>,
}

const RING: usize = 16;

#[derive(Default, Clone, Copy)]
struct Minute {
    /// Minutes since the daemon started.
    index: u64,
    compiles: u64,
    busy_ms: u64,
}

/// Counts a compiler as running while alive.
pub struct Running<'a>(&'a Stats);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Relaxed);
    }
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            started: Some(Instant::now()),
            ..Stats::default()
        }
    }

    pub fn start(&self, compiler: &str) -> Running<'_> {
        let now = self.running.fetch_add(1, Relaxed) + 1;
        self.max_running.fetch_max(now, Relaxed);
        *self
            .per_compiler
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(compiler.to_string())
            .or_default() += 1;
        Running(self)
    }

    /// A connection was accepted (and passed `--allow`).
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Relaxed);
    }

    /// A compiler ended; `ok` when it succeeded. Failures include those
    /// killed at their lifetime, which are also counted apart. `source` is
    /// the input's name as the client sent it.
    pub fn finish(&self, ok: bool, ended: Ended, took: Duration, compiler: &str, source: &str) {
        if ok { &self.done } else { &self.failed }.fetch_add(1, Relaxed);
        if ended == Ended::LifetimeOver {
            self.timed_out.fetch_add(1, Relaxed);
        }
        let ms = took.as_millis() as u64;
        self.compile_ms.fetch_add(ms, Relaxed);
        {
            let mut longest = self.longest.lock().unwrap_or_else(|e| e.into_inner());
            if longest.as_ref().is_none_or(|(m, _, _)| ms > *m) {
                *longest = Some((ms, source.to_string(), compiler.to_string()));
            }
        }
        // The compile's time goes to each minute it overlapped.
        let Some(started) = self.started else { return };
        let end_ms = started.elapsed().as_millis() as u64;
        let start_ms = end_ms.saturating_sub(ms);
        let mut ring = self.minutes.lock().unwrap_or_else(|e| e.into_inner());
        let first = (start_ms / 60_000).max((end_ms / 60_000).saturating_sub(RING as u64 - 1));
        for index in first..=end_ms / 60_000 {
            let from = start_ms.max(index * 60_000);
            let to = end_ms.min((index + 1) * 60_000);
            let slot = Self::minute(&mut ring, index);
            slot.busy_ms += to.saturating_sub(from);
            if index == end_ms / 60_000 {
                slot.compiles += 1;
            }
        }
    }

    /// The ring's slot for minute `index`, cleared if it held an older one.
    fn minute(ring: &mut [Minute; RING], index: u64) -> &mut Minute {
        let slot = &mut ring[(index % RING as u64) as usize];
        if slot.index != index {
            *slot = Minute {
                index,
                ..Minute::default()
            };
        }
        slot
    }

    /// Compiles ended in the last `n` minutes (the current one included),
    /// and the average number running over the `n` whole minutes before
    /// the current one.
    fn recent(&self, n: u64) -> (u64, u64) {
        let Some(started) = self.started else {
            return (0, 0);
        };
        let now = started.elapsed().as_secs() / 60;
        let ring = self.minutes.lock().unwrap_or_else(|e| e.into_inner());
        let held = |index: u64| {
            ring.iter()
                .find(|m| m.index == index && m.compiles + m.busy_ms > 0)
        };
        let compiles = (now.saturating_sub(n - 1)..=now)
            .filter_map(held)
            .map(|m| m.compiles)
            .sum();
        let busy: u64 = (now.saturating_sub(n)..now)
            .filter_map(held)
            .map(|m| m.busy_ms)
            .sum();
        (compiles, busy / (n * 60_000))
    }

    pub fn refused(&self) {
        self.refused.fetch_add(1, Relaxed);
    }

    /// A TLS client proved the key listed as `name`.
    pub fn tls_client(&self, name: &str) {
        *self
            .per_key
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_string())
            .or_default() += 1;
    }

    /// A TLS client's handshake resumed an earlier session.
    pub fn tls_resumed(&self) {
        self.tls_resumed.fetch_add(1, Relaxed);
    }

    /// A TLS handshake failed or was refused.
    pub fn tls_refused(&self) {
        self.tls_refused.fetch_add(1, Relaxed);
    }

    /// A connection that ended without a job: bad request, timeout, hangup.
    pub fn dropped(&self) {
        self.dropped.fetch_add(1, Relaxed);
    }

    /// Compilers holding a job slot now.
    pub fn running(&self) -> u64 {
        self.running.load(Relaxed)
    }

    pub fn max_running(&self) -> u64 {
        self.max_running.load(Relaxed)
    }

    /// The status page: the `<distccstats>` block in distcc 3.4's format
    /// and order (what its monitoring plugins parse), then our own `key
    /// value` lines and one `compiler NAME COUNT` per compiler that ran.
    /// `tmpdir` is where jobs run, for its free space.
    pub fn render(&self, jobs: u32, tmpdir: &std::path::Path) -> String {
        let mut s = String::with_capacity(2048);
        self.render_reference(&mut s, jobs, tmpdir);
        self.render_own(&mut s, jobs);
        s
    }

    /// The `<distccstats>` block, field for field as distcc 3.4 writes it.
    fn render_reference(&self, s: &mut String, jobs: u32, tmpdir: &std::path::Path) {
        use std::fmt::Write as _;
        let done = self.done.load(Relaxed);
        let failed = self.failed.load(Relaxed);
        let timed_out = self.timed_out.load(Relaxed);
        let running = self.running.load(Relaxed);
        let (longest_ms, longest_name, longest_compiler) = self
            .longest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .map_or((-1, "none".into(), "none".into()), |(ms, n, c)| {
                (ms as i64, n, c)
            });
        let (c1, k1) = self.recent(1);
        let (c5, k5) = self.recent(5);
        let (c15, k15) = self.recent(15);
        let load = super::machine::load_average();
        let procs = super::machine::processes();
        let _ = write!(
            s,
            "argv /distccd\n\
             <distccstats>\n\
             dcc_tcp_accept {}\n\
             dcc_rej_bad_req {}\n\
             dcc_rej_overload 0\n\
             dcc_compile_ok {done}\n\
             dcc_compile_error {}\n\
             dcc_compile_timeout {timed_out}\n\
             dcc_cli_disconnect {}\n\
             dcc_other 0\n\
             dcc_longest_job {}\n\
             dcc_longest_job_compiler {}\n\
             dcc_longest_job_time_msecs {longest_ms}\n\
             dcc_max_kids {jobs}\n\
             dcc_avg_kids1 {k1}\n\
             dcc_avg_kids2 {k5}\n\
             dcc_avg_kids3 {k15}\n\
             dcc_current_load {running}\n\
             dcc_load1 {:.2}\n\
             dcc_load2 {:.2}\n\
             dcc_load3 {:.2}\n\
             dcc_num_compiles1 {c1}\n\
             dcc_num_compiles2 {c5}\n\
             dcc_num_compiles3 {c15}\n\
             dcc_num_procstate_D {}\n\
             dcc_max_RSS {}\n\
             dcc_max_RSS_name ({})\n\
             dcc_io_rate -1\n\
             dcc_free_space {} MB\n\
             </distccstats>\n",
            self.accepted.load(Relaxed),
            self.refused.load(Relaxed),
            failed - timed_out.min(failed),
            self.dropped.load(Relaxed),
            one_word(&longest_name),
            one_word(&longest_compiler),
            load[0],
            load[1],
            load[2],
            procs.in_disk_wait,
            procs.max_rss_kib,
            one_word(&procs.max_rss_name),
            super::machine::free_mib(tmpdir),
        );
    }

    /// Our own lines after the reference's block.
    fn render_own(&self, s: &mut String, jobs: u32) {
        use std::fmt::Write as _;
        let uptime = self.started.map(|s| s.elapsed().as_secs()).unwrap_or(0);
        let done = self.done.load(Relaxed);
        let failed = self.failed.load(Relaxed);
        let _ = write!(
            s,
            "uptime {uptime}\n\
             jobs_limit {jobs}\n\
             jobs_running {}\n\
             jobs_max_running {}\n\
             jobs_done {done}\n\
             jobs_failed {failed}\n\
             jobs_timed_out {}\n\
             jobs_refused {}\n\
             connections_dropped {}\n\
             compile_ms_total {}\n",
            self.running.load(Relaxed),
            self.max_running.load(Relaxed),
            self.timed_out.load(Relaxed),
            self.refused.load(Relaxed),
            self.dropped.load(Relaxed),
            self.compile_ms.load(Relaxed),
        );
        for (name, n) in self
            .per_compiler
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(s, "compiler {name} {n}");
        }
        let per_key = self.per_key.lock().unwrap_or_else(|e| e.into_inner());
        for (name, n) in per_key.iter() {
            let _ = writeln!(s, "tls_key {} {n}", one_word(name));
        }
        let refused = self.tls_refused.load(Relaxed);
        if refused > 0 || !per_key.is_empty() {
            let _ = writeln!(s, "tls_refused {refused}");
            let _ = writeln!(s, "tls_resumed {}", self.tls_resumed.load(Relaxed));
        }
    }
}

/// A name as one word of a `key value` line: a client's file name may
/// hold spaces or newlines.
fn one_word(name: &str) -> String {
    let w: String = name
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if w.is_empty() {
        "none".into()
    } else {
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn semaphore_bounds_concurrency() {
        let sem = Arc::new(Semaphore::new(2));
        let stats = Arc::new(Stats::new());
        let handles: Vec<_> = (0..16)
            .map(|_| {
                let (sem, stats) = (sem.clone(), stats.clone());
                std::thread::spawn(move || {
                    let _p = sem.acquire();
                    let _r = stats.start("gcc");
                    std::thread::yield_now();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(stats.max_running() <= 2);
        let page = stats.render(2, std::path::Path::new("/tmp"));
        assert!(page.contains("compiler gcc 16\n"), "{page}");
    }

    #[test]
    fn the_reference_block_counts_jobs() {
        let stats = Stats::new();
        for _ in 0..3 {
            stats.accepted();
        }
        drop(stats.start("gcc"));
        stats.finish(true, Ended::Exited, Duration::from_millis(40), "gcc", "a.c");
        stats.finish(
            true,
            Ended::Exited,
            Duration::from_millis(90),
            "g++",
            "my file.cc",
        );
        stats.finish(
            false,
            Ended::LifetimeOver,
            Duration::from_millis(5),
            "gcc",
            "b.c",
        );
        stats.refused();
        let page = stats.render(4, std::path::Path::new("/tmp"));
        let block: Vec<&str> = page
            .lines()
            .skip_while(|l| *l != "<distccstats>")
            .take_while(|l| *l != "</distccstats>")
            .collect();
        for want in [
            "dcc_tcp_accept 3",
            "dcc_rej_bad_req 1",
            "dcc_compile_ok 2",
            "dcc_compile_error 0",
            "dcc_compile_timeout 1",
            "dcc_longest_job my_file.cc",
            "dcc_longest_job_compiler g++",
            "dcc_longest_job_time_msecs 90",
            "dcc_max_kids 4",
            "dcc_num_compiles1 3",
            "dcc_num_compiles3 3",
        ] {
            assert!(block.contains(&want), "{want} missing: {page}");
        }
        assert!(page.contains("\njobs_done 2\n"), "{page}");
        assert!(page.contains("\n</distccstats>\nuptime "), "{page}");
    }
}
