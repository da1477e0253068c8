//! Where a job will finish first, when our own daemons say how busy they
//! are (`status`). No central scheduler: every client process decides
//! alone, from the hosts' answers (shared for a moment by all the user's
//! clients) and the user's own slot locks (exact, and fresh).
//!
//! A host's estimate, in units of one job alone on one CPU:
//! `max(1, (n + 1) / min(cores, slots))`, where `n` is the jobs it has now
//! (its own count of running and queued requests as last asked, minus the
//! user's slots held then, plus the user's slots held now), `cores` the
//! CPU it says its compilers may use and `slots` its `--jobs`. A job alone
//! on a free CPU takes 1; on a volunteer given a quarter of a CPU, 4; on
//! one with twice as many jobs as CPUs, about 2. Equal estimates go to the
//! host that holds more of the unit's files (`affinity`: fewer bytes to
//! send, and never at the cost of a later finish), then to the host less
//! loaded for its size, then in the user's order. A host that
//! says it is draining gets nothing. A host that does not answer (distcc
//! 3.4, an ssh host, `localhost`) is taken to have as many CPUs as its
//! limit in the host list; when no host answers, `pick` keeps distcc's own
//! order (slot 0 of every host, then slot 1 ...).

use super::lock;
use super::status::{self, Known};
use crate::hosts::Host;
use crate::settings::Settings;

/// What is known of one host for placing a job.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Load {
    /// Jobs there now, the user's included.
    jobs: f64,
    /// Jobs it runs at full speed at once: its CPUs, at most its slots.
    cores: f64,
    draining: bool,
}

/// The hosts of `active` (indices into `hosts`) best first, draining ones
/// left out; `None` when no host answers the status query. `held[i]`:
/// how much of the unit host `i` holds already (`affinity`), if known.
pub fn rank(
    hosts: &[Host],
    active: &[usize],
    settings: &Settings,
    held: &[u8],
) -> Option<Vec<usize>> {
    if active.len() < 2 {
        return None;
    }
    let dir = lock::dir(settings);
    let ours: Vec<u32> = hosts
        .iter()
        .map(|h| lock::held(&dir, &h.key(), h.limit))
        .collect();
    let known = status::statuses(hosts, active, settings, &|i| ours[i]);
    if known.iter().all(Option::is_none) {
        return None;
    }
    let loads: Vec<(usize, Load)> = active
        .iter()
        .zip(&known)
        .map(|(&i, k)| (i, load(&hosts[i], ours[i], k.as_ref())))
        .collect();
    Some(order(&loads, &|i| held.get(i).copied().unwrap_or(0)))
}

fn load(host: &Host, ours_now: u32, known: Option<&Known>) -> Load {
    match known {
        Some(k) => {
            let theirs = (k.status.running + k.status.queued).saturating_sub(k.ours_then);
            Load {
                jobs: f64::from(theirs + ours_now),
                cores: k.status.cores.min(f64::from(k.status.slots)).max(0.01),
                draining: k.status.draining,
            }
        }
        None => Load {
            jobs: f64::from(ours_now),
            cores: f64::from(host.limit.max(1)),
            draining: false,
        },
    }
}

/// How long one more job would take there, in jobs-alone-on-a-CPU.
fn finish(l: &Load) -> f64 {
    crowding(l).max(1.0)
}

/// Jobs per CPU, with one more.
fn crowding(l: &Load) -> f64 {
    (l.jobs + 1.0) / l.cores
}

/// Host indices, soonest finish first, then the one holding more of the
/// unit (`held`); draining hosts left out.
fn order(loads: &[(usize, Load)], held: &dyn Fn(usize) -> u8) -> Vec<usize> {
    let mut ranked: Vec<&(usize, Load)> = loads.iter().filter(|(_, l)| !l.draining).collect();
    // Stable: what is equal keeps the user's order.
    ranked.sort_by(|(i, a), (j, b)| {
        finish(a)
            .total_cmp(&finish(b))
            .then(held(*j).cmp(&held(*i)))
            .then(crowding(a).total_cmp(&crowding(b)))
    });
    ranked.into_iter().map(|(i, _)| *i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order0(loads: &[(usize, Load)]) -> Vec<usize> {
        order(loads, &|_| 0)
    }

    fn l(jobs: u32, cores: f64) -> Load {
        Load {
            jobs: f64::from(jobs),
            cores,
            draining: false,
        }
    }

    #[test]
    fn jobs_go_where_they_finish_first() {
        // Idle volunteers of 0.5, 0.25 and 1 CPU: the fast one first.
        assert_eq!(
            order0(&[(0, l(0, 0.5)), (1, l(0, 0.25)), (2, l(0, 1.0))]),
            [2, 0, 1]
        );
        // The fast one with three jobs is as slow as the quarter CPU, idle
        // (4 each): the user's order decides.
        assert_eq!(
            order0(&[(0, l(0, 0.25)), (1, l(3, 1.0)), (2, l(1, 0.5))]),
            [0, 1, 2]
        );
        // Both would run it at once: the emptier one for its size first.
        assert_eq!(order0(&[(0, l(2, 4.0)), (1, l(0, 2.0))]), [1, 0]);
        // A big idle machine beats a busy small one, and a draining host
        // gets nothing.
        let mut drained = l(0, 64.0);
        drained.draining = true;
        assert_eq!(
            order0(&[(0, l(2, 1.0)), (1, l(6, 8.0)), (2, drained)]),
            [1, 0]
        );
    }

    #[test]
    fn a_host_holding_the_unit_wins_only_among_equals() {
        let holds_1 = |i: usize| if i == 1 { 4 } else { 0 };
        // Both idle: the holder, though listed second.
        assert_eq!(order(&[(0, l(0, 2.0)), (1, l(0, 2.0))], &holds_1), [1, 0]);
        // Both would run it at once, the holder busier for its size: the
        // bytes saved count more than the room left.
        assert_eq!(order(&[(0, l(0, 4.0)), (1, l(2, 4.0))], &holds_1), [1, 0]);
        // The holder would queue it: the free host, whatever it lacks.
        assert_eq!(order(&[(0, l(0, 1.0)), (1, l(1, 1.0))], &holds_1), [0, 1]);
        assert_eq!(order(&[(0, l(0, 0.5)), (1, l(0, 0.25))], &holds_1), [0, 1]);
        // More held wins over less.
        let some = |i: usize| [1, 3, 2][i];
        assert_eq!(
            order(&[(0, l(0, 1.0)), (1, l(0, 1.0)), (2, l(0, 1.0))], &some),
            [1, 2, 0]
        );
    }

    #[test]
    fn the_users_own_slots_replace_those_counted_when_asked() {
        let host: Host = crate::hosts::parse("10.0.0.1/4").unwrap().hosts[0].clone();
        let known = Known {
            status: crate::protocol::status::Status {
                slots: 4,
                running: 4,
                queued: 2,
                cores: 2.0,
                ..Default::default()
            },
            ours_then: 3,
        };
        // Six there when asked, three of them ours; one of ours since done.
        assert_eq!(load(&host, 2, Some(&known)).jobs, 5.0);
        // Two CPUs, but one slot: one job at a time.
        let one_slot = Known {
            status: crate::protocol::status::Status {
                slots: 1,
                ..known.status
            },
            ..known
        };
        assert_eq!(load(&host, 0, Some(&one_slot)).cores, 1.0);
        // Not ours: as many CPUs as its limit, and only our jobs known.
        assert_eq!(load(&host, 1, None), l(1, 4.0));
    }
}
