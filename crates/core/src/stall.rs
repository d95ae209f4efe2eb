//! Stall detection: the node process is up, but its committed height has stopped moving, or it
//! has had too few peers, for longer than the stall threshold.
//!
//! The shell feeds a [`StallTracker`] what it sees on every turn (the time in milliseconds,
//! the committed height, the peer count, whether the node's RPC answered since it started) and
//! asks [`StallTracker::verdict`]. The rules:
//! - the clock starts when the node (re)starts ([`StallTracker::reset`]) and the first answer
//!   from its RPC after that sets the baseline: a node still starting up is not stalled;
//! - a node that is catching up (block sync) is never stalled;
//! - a node halted where it should halt is never stalled: at an upgrade height (committed
//!   `>= H-1` for a plan at `H`) or at a halt-height stop (committed `>=` the height the armed
//!   `--halt-height` stops it at);
//! - otherwise: the committed height unchanged for the threshold is a stall, and so is a peer
//!   count below the minimum for the threshold.
//!
//! The default threshold is [`STALL_BLOCKS`] times the median block time measured here, and
//! never less than [`MIN_STALL_AFTER`] ([`stall_threshold`]).

use std::collections::VecDeque;
use std::time::Duration;

/// The default threshold is this many median block times...
pub const STALL_BLOCKS: u32 = 20;
/// ...and at least this long.
pub const MIN_STALL_AFTER: Duration = Duration::from_secs(60);
/// Block intervals kept for the median.
const INTERVALS: usize = 64;

/// The threshold in force: the operator's, else `STALL_BLOCKS` median block times (at least
/// `MIN_STALL_AFTER`; exactly that while no block time was measured).
pub fn stall_threshold(explicit: Option<Duration>, median_block: Option<Duration>) -> Duration {
    explicit.unwrap_or_else(|| {
        median_block
            .map(|m| m.saturating_mul(STALL_BLOCKS))
            .unwrap_or(MIN_STALL_AFTER)
            .max(MIN_STALL_AFTER)
    })
}

/// What the shell knows besides the tracker's own history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StallContext {
    /// How long the height may stand still, or the peers stay too few, before it is a stall
    /// ([`stall_threshold`]).
    pub threshold: Duration,
    /// Fewer peers than this (for the threshold) is a stall; 0 turns the peer check off.
    pub min_peers: u32,
    /// The node reports it is catching up (block sync).
    pub catching_up: bool,
    /// The height of the upgrade the node halts at next and has not run yet, when one is known
    /// ([`crate::pending_upgrade_height`]: never one `current` already runs).
    pub upgrade_height: Option<i64>,
    /// The committed height at which the node's `--halt-height` stops it, when it runs with
    /// one.
    pub halt_stop_height: Option<i64>,
}

/// Why a node that is not moving is not stalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Excuse {
    /// Block sync.
    CatchingUp,
    /// Halted for the upgrade at this height.
    AtUpgradeHeight(i64),
    /// Stopped by its `--halt-height` (this committed height).
    AtHaltHeight(i64),
}

/// What is stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallReason {
    /// The committed height has stayed at `height` for `for_ms`.
    NoNewBlocks {
        /// The committed height the node is stuck at.
        height: i64,
        /// Milliseconds since this height was first seen.
        for_ms: u64,
    },
    /// Fewer than the minimum peers (`peers` now) for `for_ms`.
    TooFewPeers {
        /// The latest peer count seen.
        peers: u32,
        /// Milliseconds since the count first fell below the minimum.
        for_ms: u64,
    },
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallVerdict {
    /// The node's RPC has not answered since it started: no baseline yet.
    Starting,
    /// Within the threshold on both height and peers.
    Progressing,
    /// Not judged: the node is catching up, or halted where it should halt.
    Excused(Excuse),
    /// Stuck for at least the threshold: the height, or the peer count.
    Stalled(StallReason),
}

/// The history the verdict needs. Times are milliseconds on any monotonic clock of the shell.
#[derive(Debug, Clone, Default)]
pub struct StallTracker {
    /// (height, since when it has been this height).
    height: Option<(i64, u64)>,
    /// Since when the peer count has been below the minimum (and what it is).
    few_peers: Option<(u32, u64)>,
    /// Per-block intervals between height changes seen here, for the median.
    intervals: VecDeque<u64>,
}

impl StallTracker {
    /// A tracker with no baseline and no block intervals measured.
    pub fn new() -> Self {
        Self::default()
    }

    /// The node (re)started: forget the baseline (block intervals are kept).
    pub fn reset(&mut self) {
        self.height = None;
        self.few_peers = None;
    }

    /// One turn's observations. `answered`: the node's RPC answered since it started (until
    /// then the height is the previous run's and says nothing). `peers`: `None` when unknown.
    pub fn observe(
        &mut self,
        now_ms: u64,
        answered: bool,
        committed: Option<i64>,
        peers: Option<u32>,
        min_peers: u32,
    ) {
        if !answered {
            return;
        }
        if let Some(h) = committed {
            match self.height {
                Some((old, since)) if h > old => {
                    let per_block = now_ms.saturating_sub(since) / (h - old) as u64;
                    self.intervals.push_back(per_block);
                    while self.intervals.len() > INTERVALS {
                        self.intervals.pop_front();
                    }
                    self.height = Some((h, now_ms));
                }
                Some(_) => {}
                None => self.height = Some((h, now_ms)),
            }
        }
        match peers {
            Some(p) if p < min_peers => {
                if self.few_peers.is_none() {
                    self.few_peers = Some((p, now_ms));
                }
                if let Some(fp) = self.few_peers.as_mut() {
                    fp.0 = p;
                }
            }
            // Enough peers, or unknown: nothing to hold against the node.
            _ => self.few_peers = None,
        }
    }

    /// The median time between two blocks as measured here (needs a few blocks).
    pub fn median_block_time(&self) -> Option<Duration> {
        if self.intervals.len() < 3 {
            return None;
        }
        let mut v: Vec<u64> = self.intervals.iter().copied().collect();
        v.sort_unstable();
        Some(Duration::from_millis(v[v.len() / 2]))
    }

    /// The last committed height seen and since when (ms).
    pub fn height_since(&self) -> Option<(i64, u64)> {
        self.height
    }

    /// The verdict at `now_ms`.
    pub fn verdict(&self, now_ms: u64, ctx: &StallContext) -> StallVerdict {
        let Some((height, since)) = self.height else {
            return StallVerdict::Starting;
        };
        if ctx.catching_up {
            return StallVerdict::Excused(Excuse::CatchingUp);
        }
        if let Some(h) = ctx.upgrade_height.filter(|h| height >= h - 1) {
            return StallVerdict::Excused(Excuse::AtUpgradeHeight(h));
        }
        if let Some(s) = ctx.halt_stop_height.filter(|s| height >= *s) {
            return StallVerdict::Excused(Excuse::AtHaltHeight(s));
        }
        let limit = ctx.threshold.as_millis() as u64;
        let still = now_ms.saturating_sub(since);
        if still >= limit {
            return StallVerdict::Stalled(StallReason::NoNewBlocks {
                height,
                for_ms: still,
            });
        }
        if let Some((peers, few_since)) = self.few_peers.filter(|_| ctx.min_peers > 0) {
            let few = now_ms.saturating_sub(few_since);
            if few >= limit {
                return StallVerdict::Stalled(StallReason::TooFewPeers { peers, for_ms: few });
            }
        }
        StallVerdict::Progressing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ctx(threshold_ms: u64) -> StallContext {
        StallContext {
            threshold: Duration::from_millis(threshold_ms),
            min_peers: 1,
            catching_up: false,
            upgrade_height: None,
            halt_stop_height: None,
        }
    }

    #[test]
    fn thresholds() {
        assert_eq!(stall_threshold(None, None), MIN_STALL_AFTER);
        assert_eq!(
            stall_threshold(None, Some(Duration::from_secs(1))),
            MIN_STALL_AFTER
        );
        assert_eq!(
            stall_threshold(None, Some(Duration::from_secs(6))),
            Duration::from_secs(120)
        );
        assert_eq!(
            stall_threshold(Some(Duration::from_secs(5)), Some(Duration::from_secs(6))),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn a_height_that_stops_moving_is_a_stall_once_the_threshold_passes() {
        let mut t = StallTracker::new();
        let c = ctx(1000);
        assert_eq!(t.verdict(0, &c), StallVerdict::Starting);
        // Not answering yet: still starting, whatever the old height says.
        t.observe(0, false, Some(10), Some(5), 1);
        assert_eq!(t.verdict(5000, &c), StallVerdict::Starting);
        for (i, h) in (10..20).enumerate() {
            t.observe(i as u64 * 100, true, Some(h), Some(5), 1);
        }
        assert_eq!(t.median_block_time(), Some(Duration::from_millis(100)));
        assert_eq!(t.verdict(900, &c), StallVerdict::Progressing);
        t.observe(1500, true, Some(19), Some(5), 1);
        assert_eq!(t.verdict(1899, &c), StallVerdict::Progressing);
        assert_eq!(
            t.verdict(1900, &c),
            StallVerdict::Stalled(StallReason::NoNewBlocks {
                height: 19,
                for_ms: 1000
            })
        );
        // Restarted: starting again until the RPC answers.
        t.reset();
        assert_eq!(t.verdict(5000, &c), StallVerdict::Starting);
    }

    #[test]
    fn too_few_peers_for_the_threshold_is_a_stall_and_zero_minimum_turns_it_off() {
        let mut t = StallTracker::new();
        let mut c = ctx(1000);
        for i in 0..30u64 {
            t.observe(i * 100, true, Some(i as i64 + 1), Some(0), 1);
        }
        assert_eq!(
            t.verdict(2900, &c),
            StallVerdict::Stalled(StallReason::TooFewPeers {
                peers: 0,
                for_ms: 2900
            })
        );
        c.min_peers = 0;
        assert_eq!(t.verdict(2900, &c), StallVerdict::Progressing);
        // Peers come back: the clock starts over.
        c.min_peers = 1;
        t.observe(3000, true, Some(31), Some(3), 1);
        t.observe(3100, true, Some(32), Some(0), 1);
        assert_eq!(t.verdict(3200, &c), StallVerdict::Progressing);
    }

    #[test]
    fn halts_and_sync_are_excused() {
        let mut t = StallTracker::new();
        t.observe(0, true, Some(99), Some(0), 1);
        let mut c = ctx(10);
        c.upgrade_height = Some(100);
        assert_eq!(
            t.verdict(1_000_000, &c),
            StallVerdict::Excused(Excuse::AtUpgradeHeight(100))
        );
        c.upgrade_height = Some(101);
        assert!(matches!(t.verdict(1_000_000, &c), StallVerdict::Stalled(_)));
        c.halt_stop_height = Some(99);
        assert_eq!(
            t.verdict(1_000_000, &c),
            StallVerdict::Excused(Excuse::AtHaltHeight(99))
        );
        c.halt_stop_height = None;
        c.catching_up = true;
        assert_eq!(
            t.verdict(1_000_000, &c),
            StallVerdict::Excused(Excuse::CatchingUp)
        );
    }

    /// One turn of a random history: time advances by `dt`, the height by `dh` (0: stuck), the
    /// RPC answers or not, peers are some count or unknown.
    fn turns() -> impl Strategy<Value = Vec<(u64, i64, bool, Option<u32>)>> {
        proptest::collection::vec(
            (
                0u64..5_000,
                prop_oneof![3 => Just(0i64), 1 => 1i64..3],
                prop_oneof![9 => Just(true), 1 => Just(false)],
                proptest::option::of(0u32..3),
            ),
            1..60,
        )
    }

    fn replay(
        t: &mut StallTracker,
        start_height: i64,
        turns: &[(u64, i64, bool, Option<u32>)],
    ) -> (u64, i64) {
        let (mut now, mut h) = (0u64, start_height);
        for &(dt, dh, answered, peers) in turns {
            now += dt;
            h += dh;
            t.observe(now, answered, Some(h), peers, 1);
        }
        (now, h)
    }

    proptest! {
        #[test]
        fn halted_at_an_upgrade_height_is_never_a_stall(
            turns in turns(), threshold in 1u64..10_000, start in 1i64..1000, ahead in 0i64..3, later in 0u64..1_000_000,
        ) {
            let mut t = StallTracker::new();
            let (now, _) = replay(&mut t, start, &turns);
            // The plan is at the last height seen + 1 or below: the node committed at least H-1.
            let h = t.height_since().map_or(start, |(h, _)| h);
            let mut c = ctx(threshold);
            c.upgrade_height = Some(h + 1 - ahead);
            prop_assert!(!matches!(t.verdict(now + later, &c), StallVerdict::Stalled(_)));
        }

        #[test]
        fn stopped_at_its_halt_height_is_never_a_stall(
            turns in turns(), threshold in 1u64..10_000, start in 1i64..1000, below in 0i64..3, later in 0u64..1_000_000,
        ) {
            let mut t = StallTracker::new();
            let (now, _) = replay(&mut t, start, &turns);
            let h = t.height_since().map_or(start, |(h, _)| h);
            let mut c = ctx(threshold);
            c.halt_stop_height = Some(h - below);
            prop_assert!(!matches!(t.verdict(now + later, &c), StallVerdict::Stalled(_)));
        }

        #[test]
        fn catching_up_is_never_a_stall(
            turns in turns(), threshold in 1u64..10_000, later in 0u64..1_000_000,
        ) {
            let mut t = StallTracker::new();
            let (now, _) = replay(&mut t, 1, &turns);
            let mut c = ctx(threshold);
            c.catching_up = true;
            prop_assert!(!matches!(t.verdict(now + later, &c), StallVerdict::Stalled(_)));
        }

        #[test]
        fn a_stall_is_never_called_before_the_threshold(
            turns in turns(), threshold in 1u64..10_000,
        ) {
            let mut t = StallTracker::new();
            let (now, _) = replay(&mut t, 1, &turns);
            match t.verdict(now, &ctx(threshold)) {
                StallVerdict::Stalled(StallReason::NoNewBlocks { for_ms, .. })
                | StallVerdict::Stalled(StallReason::TooFewPeers { for_ms, .. }) => {
                    prop_assert!(for_ms >= threshold)
                }
                _ => {}
            }
        }

        #[test]
        fn a_node_moving_faster_than_the_threshold_with_peers_is_never_stalled(
            steps in proptest::collection::vec((1u64..1000, 1i64..3), 1..60),
        ) {
            let mut t = StallTracker::new();
            let (mut now, mut h) = (0u64, 1i64);
            for (dt, dh) in steps {
                now += dt;
                h += dh;
                t.observe(now, true, Some(h), Some(2), 1);
                prop_assert_eq!(t.verdict(now + 999, &ctx(1000)), StallVerdict::Progressing);
            }
        }

        #[test]
        fn a_stuck_node_is_stalled_once_the_threshold_passes(
            threshold in 1u64..10_000, h in 1i64..1000,
        ) {
            let mut t = StallTracker::new();
            t.observe(0, true, Some(h), Some(5), 1);
            t.observe(threshold / 2, true, Some(h), Some(5), 1);
            prop_assert_eq!(
                t.verdict(threshold, &ctx(threshold)),
                StallVerdict::Stalled(StallReason::NoNewBlocks { height: h, for_ms: threshold })
            );
        }
    }
}
