//! Stall detection: the node process is up, but its committed height has stopped moving, or it
//! has had too few peers, for longer than the stall threshold.
//!
//! The shell feeds a [`StallTracker`] what it sees on every turn (the time in milliseconds,
//! the committed height, the peer count, and whether the node's RPC gave a fresh answer ([`HeightHeard`]))
//! and asks [`StallTracker::verdict`]. The rules:
//! - the clock starts when the node (re)starts ([`StallTracker::reset`]) and the first answer
//!   from its RPC after that sets the baseline: a node still starting up is not stalled;
//! - a node that is catching up (block sync) is never stalled;
//! - a node halted where it should halt is never stalled: at an upgrade height (committed
//!   `>= H-1` for a plan at `H`), at a halt-height stop (committed `>=` the height the armed
//!   `--halt-height`, or the operator's own halt height, stops it at), or past its halt time;
//! - a stall needs evidence that the node did not move: an answer, at least the threshold after
//!   the height was first seen, that still gives that height. The absence of fresh answers is
//!   not that evidence: a node whose RPC is slow or silent for the threshold is
//!   [`StallVerdict::Unanswered`], a verdict of its own;
//! - a peer count below the minimum for the threshold is a stall too.
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
    /// The node's halt time (Unix seconds; `--halt-time` or app.toml's `halt-time`), when set.
    pub halt_time: Option<i64>,
    /// The wall clock now (Unix seconds), for the halt time.
    pub now_unix: i64,
}

/// What the node's RPC told this turn about the committed height in hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeightHeard {
    /// Nothing since the node (re)started: the height in hand is an earlier run's.
    NotYet,
    /// Nothing new since the last turn: the height in hand was heard earlier (or came with a
    /// new block, which is evidence of movement but not of standing still).
    Earlier,
    /// A fresh answer came since the last turn and gave this committed height: it is the node's
    /// now.
    Fresh(i64),
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
    /// Past its halt time (these Unix seconds): it stops at the first block that reaches it.
    AtHaltTime(i64),
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
    /// No fresh answer for at least the threshold (`for_ms`), at this last known height: the
    /// node's RPC is slow or silent, which is not evidence that the node stopped.
    Unanswered {
        /// The last committed height heard.
        height: i64,
        /// Milliseconds since an answer last gave the node's height.
        for_ms: u64,
    },
}

/// The history the verdict needs. Times are milliseconds on any monotonic clock of the shell.
#[derive(Debug, Clone, Default)]
pub struct StallTracker {
    /// (height, since when it has been this height).
    height: Option<(i64, u64)>,
    /// When an answer (or a new block) last gave the node's height.
    heard: Option<u64>,
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
        self.heard = None;
        self.few_peers = None;
    }

    /// One turn's observations. `answer`: whether the node's RPC answered since it started
    /// (until then the height is the previous run's and says nothing) and whether this turn's
    /// height is a fresh answer. `peers`: `None` when unknown.
    pub fn observe(
        &mut self,
        now_ms: u64,
        answer: HeightHeard,
        committed: Option<i64>,
        peers: Option<u32>,
        min_peers: u32,
    ) {
        if answer == HeightHeard::NotYet {
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
                    self.heard = Some(now_ms);
                }
                Some(_) => {}
                None => {
                    self.height = Some((h, now_ms));
                    self.heard = Some(now_ms);
                }
            }
        }
        // An answer confirms the height only when it gives it (a partial answer without the
        // app's height, or a lagging one, is no evidence).
        if let HeightHeard::Fresh(said) = answer {
            if self.height.is_some_and(|(h, _)| said >= h) {
                self.heard = Some(now_ms);
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
        if let Some(t) = ctx.halt_time.filter(|t| ctx.now_unix >= *t) {
            return StallVerdict::Excused(Excuse::AtHaltTime(t));
        }
        let limit = ctx.threshold.as_millis() as u64;
        let heard = self.heard.unwrap_or(since);
        // Evidence: an answer at least the threshold after the height was first seen.
        let still = heard.saturating_sub(since);
        if still >= limit {
            return StallVerdict::Stalled(StallReason::NoNewBlocks {
                height,
                for_ms: still,
            });
        }
        let silent = now_ms.saturating_sub(heard);
        if silent >= limit {
            return StallVerdict::Unanswered {
                height,
                for_ms: silent,
            };
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
            halt_time: None,
            now_unix: 1_700_000_000,
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
        t.observe(0, HeightHeard::NotYet, Some(10), Some(5), 1);
        assert_eq!(t.verdict(5000, &c), StallVerdict::Starting);
        for (i, h) in (10..20).enumerate() {
            t.observe(i as u64 * 100, HeightHeard::Fresh(h), Some(h), Some(5), 1);
        }
        assert_eq!(t.median_block_time(), Some(Duration::from_millis(100)));
        assert_eq!(t.verdict(900, &c), StallVerdict::Progressing);
        t.observe(1500, HeightHeard::Fresh(19), Some(19), Some(5), 1);
        assert_eq!(t.verdict(1899, &c), StallVerdict::Progressing);
        // Only an answer a threshold after the height was first seen is evidence.
        assert_eq!(t.verdict(1900, &c), StallVerdict::Progressing);
        t.observe(1900, HeightHeard::Fresh(19), Some(19), Some(5), 1);
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
            t.observe(
                i * 100,
                HeightHeard::Fresh(i as i64 + 1),
                Some(i as i64 + 1),
                Some(0),
                1,
            );
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
        t.observe(3000, HeightHeard::Fresh(31), Some(31), Some(3), 1);
        t.observe(3100, HeightHeard::Fresh(32), Some(32), Some(0), 1);
        assert_eq!(t.verdict(3200, &c), StallVerdict::Progressing);
    }

    #[test]
    fn halts_and_sync_are_excused() {
        let mut t = StallTracker::new();
        t.observe(0, HeightHeard::Fresh(99), Some(99), Some(0), 1);
        let mut c = ctx(10);
        c.upgrade_height = Some(100);
        assert_eq!(
            t.verdict(1_000_000, &c),
            StallVerdict::Excused(Excuse::AtUpgradeHeight(100))
        );
        c.upgrade_height = Some(101);
        t.observe(1_000_000, HeightHeard::Fresh(99), Some(99), Some(0), 1);
        assert!(matches!(t.verdict(1_000_000, &c), StallVerdict::Stalled(_)));
        c.halt_stop_height = Some(99);
        assert_eq!(
            t.verdict(1_000_000, &c),
            StallVerdict::Excused(Excuse::AtHaltHeight(99))
        );
        c.halt_stop_height = None;
        c.halt_time = Some(c.now_unix + 1);
        assert!(matches!(t.verdict(1_000_000, &c), StallVerdict::Stalled(_)));
        c.halt_time = Some(c.now_unix);
        assert_eq!(
            t.verdict(1_000_000, &c),
            StallVerdict::Excused(Excuse::AtHaltTime(c.now_unix))
        );
        c.halt_time = None;
        c.catching_up = true;
        assert_eq!(
            t.verdict(1_000_000, &c),
            StallVerdict::Excused(Excuse::CatchingUp)
        );
    }

    #[test]
    fn silence_is_not_a_stall_but_a_verdict_of_its_own() {
        let mut t = StallTracker::new();
        let c = ctx(1000);
        t.observe(0, HeightHeard::Fresh(50), Some(50), Some(5), 1);
        // Turns go by with nothing new heard: the height in hand is old news.
        for now in (100..5000).step_by(100) {
            t.observe(now, HeightHeard::Earlier, Some(50), Some(5), 1);
        }
        assert_eq!(
            t.verdict(5000, &c),
            StallVerdict::Unanswered {
                height: 50,
                for_ms: 5000
            }
        );
        // An answer without the app's height (or a lagging one) confirms nothing.
        t.observe(5050, HeightHeard::Fresh(49), Some(50), Some(5), 1);
        assert!(matches!(
            t.verdict(5050, &c),
            StallVerdict::Unanswered { .. }
        ));
        // A late answer with a new height: it moved all along.
        t.observe(5100, HeightHeard::Fresh(90), Some(90), Some(5), 1);
        assert_eq!(t.verdict(5100, &c), StallVerdict::Progressing);
        // A new block from the websocket is movement too, without an answer.
        t.observe(5200, HeightHeard::Earlier, Some(91), Some(5), 1);
        assert_eq!(t.verdict(6100, &c), StallVerdict::Progressing);
    }

    /// [`HeightHeard`] without its height (a fresh answer gives the turn's height).
    #[derive(Debug, Clone, Copy)]
    enum Heard {
        NotYet,
        Earlier,
        Fresh,
    }

    /// One turn of a random history: time advances by `dt`, the height by `dh` (0: stuck), the
    /// RPC answers anew, not this turn, or not since the start; peers are some count or unknown.
    fn turns() -> impl Strategy<Value = Vec<(u64, i64, Heard, Option<u32>)>> {
        proptest::collection::vec(
            (
                0u64..5_000,
                prop_oneof![3 => Just(0i64), 1 => 1i64..3],
                prop_oneof![6 => Just(Heard::Fresh), 3 => Just(Heard::Earlier), 1 => Just(Heard::NotYet)],
                proptest::option::of(0u32..3),
            ),
            1..60,
        )
    }

    fn replay(
        t: &mut StallTracker,
        start_height: i64,
        turns: &[(u64, i64, Heard, Option<u32>)],
    ) -> (u64, i64) {
        let (mut now, mut h) = (0u64, start_height);
        for &(dt, dh, heard, peers) in turns {
            now += dt;
            h += dh;
            let answer = match heard {
                Heard::NotYet => HeightHeard::NotYet,
                Heard::Earlier => HeightHeard::Earlier,
                Heard::Fresh => HeightHeard::Fresh(h),
            };
            t.observe(now, answer, Some(h), peers, 1);
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
                t.observe(now, HeightHeard::Fresh(h), Some(h), Some(2), 1);
                prop_assert_eq!(t.verdict(now + 999, &ctx(1000)), StallVerdict::Progressing);
            }
        }

        #[test]
        fn late_answers_that_each_give_a_new_height_are_never_a_stall(
            gaps in proptest::collection::vec(1u64..30_000, 1..40), threshold in 1u64..10_000,
        ) {
            // However late each answer comes, each gives a higher height than the last.
            let mut t = StallTracker::new();
            let (mut now, mut h) = (0u64, 1i64);
            t.observe(now, HeightHeard::Fresh(h), Some(h), Some(2), 1);
            for gap in gaps {
                for quiet in (now + 1..now + gap).step_by(500) {
                    t.observe(quiet, HeightHeard::Earlier, Some(h), Some(2), 1);
                    prop_assert!(!matches!(t.verdict(quiet, &ctx(threshold)), StallVerdict::Stalled(_)));
                }
                now += gap;
                h += 1;
                t.observe(now, HeightHeard::Fresh(h), Some(h), Some(2), 1);
                prop_assert!(!matches!(t.verdict(now, &ctx(threshold)), StallVerdict::Stalled(_)));
            }
        }

        #[test]
        fn a_stuck_node_is_stalled_once_the_threshold_passes(
            threshold in 1u64..10_000, h in 1i64..1000,
        ) {
            let mut t = StallTracker::new();
            t.observe(0, HeightHeard::Fresh(h), Some(h), Some(5), 1);
            t.observe(threshold / 2, HeightHeard::Fresh(h), Some(h), Some(5), 1);
            t.observe(threshold, HeightHeard::Fresh(h), Some(h), Some(5), 1);
            prop_assert_eq!(
                t.verdict(threshold, &ctx(threshold)),
                StallVerdict::Stalled(StallReason::NoNewBlocks { height: h, for_ms: threshold })
            );
        }
    }
}
