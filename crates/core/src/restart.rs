//! The crash-restart policy: exponential backoff, and a crash loop that ends supervision.
//!
//! Times are plain milliseconds handed in by the caller (the shell reads the clock), so the
//! policy is a pure function of the crash history. Only the differences between them count, so
//! any clock that never jumps will do: the shell feeds milliseconds of the monotonic clock since
//! it started, never wall time (an NTP step would otherwise hide or invent a crash loop).

use std::collections::VecDeque;
use std::time::Duration;

use crate::backoff::Backoff;

/// Settings for [`CrashPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashPolicyConfig {
    /// Delay before the first restart.
    pub initial: Duration,
    /// Largest delay between restarts.
    pub max: Duration,
    /// How many crashes within `window` count as a crash loop.
    pub loop_max: u32,
    /// How far back crashes are remembered; older ones no longer count toward `loop_max`.
    pub window: Duration,
}

/// What to do after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashDecision {
    /// Start the node again after this delay.
    RestartAfter(Duration),
    /// Too many crashes too quickly: stop supervising with an error.
    GiveUp {
        /// Crashes inside the window, this one included (at least `loop_max`).
        crashes: u32,
        /// The configured crash-loop window.
        window: Duration,
    },
}

/// Whether a node that crashed is started again at all: only a node *started* (`start`; a
/// one-off command such as `export` that fails is the operator's to run again), and only while
/// `SWITCHYARD_RESTART_ON_CRASH` is on. Otherwise supervision ends with the node's exit code.
pub fn restarts_after_crash(restart_on_crash: bool, node_args: &[String]) -> bool {
    restart_on_crash && crate::node_args::is_start_command(node_args)
}

/// Remembers recent crashes and decides on each new one.
#[derive(Debug, Clone)]
pub struct CrashPolicy {
    cfg: CrashPolicyConfig,
    crashes_ms: VecDeque<u64>,
}

impl CrashPolicy {
    /// A policy with no crashes recorded yet.
    pub fn new(cfg: CrashPolicyConfig) -> Self {
        CrashPolicy {
            cfg,
            crashes_ms: VecDeque::new(),
        }
    }

    /// Records a crash at `now_ms` and decides what happens next.
    pub fn on_crash(&mut self, now_ms: u64) -> CrashDecision {
        let window_ms = self.cfg.window.as_millis() as u64;
        while let Some(&t) = self.crashes_ms.front() {
            if now_ms.saturating_sub(t) >= window_ms {
                self.crashes_ms.pop_front();
            } else {
                break;
            }
        }
        self.crashes_ms.push_back(now_ms);
        let recent = self.crashes_ms.len() as u32;
        if recent >= self.cfg.loop_max {
            return CrashDecision::GiveUp {
                crashes: recent,
                window: self.cfg.window,
            };
        }
        // The n-th crash in the window waits the n-th delay of the backoff.
        let mut backoff = Backoff::new(self.cfg.initial, self.cfg.max);
        let delay = (0..recent.max(1)).map(|_| backoff.next_delay()).last();
        CrashDecision::RestartAfter(delay.unwrap_or(self.cfg.initial))
    }

    /// Crashes currently inside the window.
    pub fn recent_crashes(&self) -> usize {
        self.crashes_ms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cfg() -> CrashPolicyConfig {
        CrashPolicyConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(8),
            loop_max: 5,
            window: Duration::from_secs(600),
        }
    }

    #[test]
    fn backoff_doubles_then_caps_then_gives_up() {
        let mut p = CrashPolicy::new(CrashPolicyConfig {
            loop_max: 6,
            ..cfg()
        });
        let delays: Vec<_> = (0..5).map(|i| p.on_crash(i * 1000)).collect();
        assert_eq!(
            delays,
            [1, 2, 4, 8, 8].map(|s| CrashDecision::RestartAfter(Duration::from_secs(s)))
        );
        assert!(matches!(
            p.on_crash(5000),
            CrashDecision::GiveUp { crashes: 6, .. }
        ));
    }

    #[test]
    fn crashes_seconds_apart_are_a_loop_whatever_the_clock_says_between() {
        // Three crashes a second apart on the caller's clock: a loop, however far a wall clock
        // would have jumped meanwhile (that is why the caller must not hand in wall time).
        let mut p = CrashPolicy::new(CrashPolicyConfig {
            loop_max: 3,
            ..cfg()
        });
        assert!(matches!(p.on_crash(10_000), CrashDecision::RestartAfter(_)));
        assert!(matches!(p.on_crash(11_000), CrashDecision::RestartAfter(_)));
        assert_eq!(
            p.on_crash(12_000),
            CrashDecision::GiveUp {
                crashes: 3,
                window: Duration::from_secs(600)
            }
        );
    }

    #[test]
    fn crashes_outside_the_window_are_forgotten() {
        let mut p = CrashPolicy::new(cfg());
        for i in 0..4 {
            p.on_crash(i * 1000);
        }
        // Long after: the history has aged out, so backoff starts over.
        assert_eq!(
            p.on_crash(3_600_000),
            CrashDecision::RestartAfter(Duration::from_secs(1))
        );
        assert_eq!(p.recent_crashes(), 1);
    }

    #[test]
    fn only_a_started_node_is_restarted() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert!(restarts_after_crash(true, &args("start --home /h")));
        assert!(!restarts_after_crash(false, &args("start --home /h")));
        assert!(!restarts_after_crash(true, &args("export --home /h")));
        assert!(!restarts_after_crash(true, &[]));
    }

    proptest! {
        /// Decisions depend on the gaps between crashes only, never on where the clock started:
        /// the same history read from two clocks with different origins decides the same.
        #[test]
        fn decisions_depend_only_on_the_gaps_between_crashes(
            gaps in proptest::collection::vec(0u64..1_500_000, 1..30),
            origin in 0u64..(u64::MAX / 2),
        ) {
            let mut from_zero = CrashPolicy::new(cfg());
            let mut shifted = CrashPolicy::new(cfg());
            let mut now = 0;
            for g in gaps {
                now += g;
                prop_assert_eq!(from_zero.on_crash(now), shifted.on_crash(origin + now));
            }
        }

        #[test]
        fn never_gives_up_below_the_limit_and_delay_is_bounded(gaps in proptest::collection::vec(0u64..2_000_000, 1..40)) {
            let mut p = CrashPolicy::new(cfg());
            let mut now = 0;
            for g in gaps {
                now += g;
                match p.on_crash(now) {
                    CrashDecision::RestartAfter(d) => {
                        prop_assert!(d <= cfg().max && d >= cfg().initial);
                        prop_assert!(p.recent_crashes() < 5);
                    }
                    CrashDecision::GiveUp { crashes, .. } => prop_assert!(crashes >= 5),
                }
            }
        }
    }
}
