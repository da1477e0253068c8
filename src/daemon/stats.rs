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
    running: AtomicU64,
    max_running: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    refused: AtomicU64,
    dropped: AtomicU64,
    compile_ms: AtomicU64,
    per_compiler: Mutex<BTreeMap<String, u64>>,
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

    /// A compiler ended; `ok` when it succeeded. Failures include those
    /// killed at their lifetime, which are also counted apart.
    pub fn finish(&self, ok: bool, ended: Ended, took: Duration) {
        if ok { &self.done } else { &self.failed }.fetch_add(1, Relaxed);
        if ended == Ended::LifetimeOver {
            self.timed_out.fetch_add(1, Relaxed);
        }
        self.compile_ms.fetch_add(took.as_millis() as u64, Relaxed);
    }

    pub fn refused(&self) {
        self.refused.fetch_add(1, Relaxed);
    }

    /// A connection that ended without a job: bad request, timeout, hangup.
    pub fn dropped(&self) {
        self.dropped.fetch_add(1, Relaxed);
    }

    pub fn max_running(&self) -> u64 {
        self.max_running.load(Relaxed)
    }

    /// The plain-text status page: one `key value` per line, then one
    /// `compiler NAME COUNT` line per compiler that has run.
    pub fn render(&self, jobs: u32) -> String {
        let uptime = self.started.map(|s| s.elapsed().as_secs()).unwrap_or(0);
        let done = self.done.load(Relaxed);
        let failed = self.failed.load(Relaxed);
        let mut s = format!(
            "argv /distccd\n\
             uptime {uptime}\n\
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
            s.push_str(&format!("compiler {name} {n}\n"));
        }
        s
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
        assert!(stats.render(2).contains("compiler gcc 16\n"));
    }
}
