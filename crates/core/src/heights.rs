//! The running node's heights as the supervisor sampled them, and the one fact read from them
//! that no single sample can give: "this node has stopped with its block store one block ahead
//! of its app" — how a node of the newer halt-height meaning sits at its halt.
//!
//! Each sample pairs what CometBFT reports (`/status` `latest_block_height`: the block store)
//! with what the app reports (`/abci_info` `last_block_height`: the last committed block), read
//! together, stamped with the supervisor's monotonic clock in milliseconds.
//!
//! Why a few samples over a short window are enough: with the in-process ABCI client every SDK
//! node uses, `Info` (which answers `/abci_info`) takes the same lock as `FinalizeBlock` and
//! `Commit`. While a block executes, `/abci_info` waits instead of answering. A node that is
//! merely working on block N answers "N-1" only in the brief moment between finishing N and
//! committing it; a node halted before N answers "N-1" at once, every time. So several prompt
//! answers of (store N, app N-1) spread over a window far longer than that moment mean the
//! node stopped before N. (docs/node-facts.md, "Halt-height".)

use std::collections::VecDeque;

/// One look at the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeightSample {
    /// Monotonic milliseconds (the supervisor's clock).
    pub at_ms: u64,
    /// The block store's height (`/status` `latest_block_height`).
    pub latest: i64,
    /// The app's last committed height (`/abci_info` `last_block_height`).
    pub committed: i64,
}

/// The most recent samples of one node process (cleared when a new process starts), kept as
/// runs of equal (store, app) pairs so a long stop costs one entry, not one per sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeightHistory {
    runs: VecDeque<Run>,
}

/// Consecutive samples that agree on (store, app).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    latest: i64,
    committed: i64,
    first_ms: u64,
    last_ms: u64,
    count: usize,
}

/// How many runs are kept.
const KEEP: usize = 64;

/// How many agreeing samples "stopped before N" needs.
pub(crate) const STOPPED_BEFORE_MIN_SAMPLES: usize = 3;

/// The shortest window "stopped before N" needs between its first and last sample.
pub(crate) const STOPPED_BEFORE_MIN_WINDOW_MS: u64 = 5_000;

impl HeightHistory {
    /// An empty history, for a node process that has just started.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sample; the oldest runs beyond the capacity are dropped.
    pub fn push(&mut self, s: HeightSample) {
        if let Some(r) = self.runs.back_mut() {
            if (r.latest, r.committed) == (s.latest, s.committed) {
                r.last_ms = r.last_ms.max(s.at_ms);
                r.count = r.count.saturating_add(1);
                return;
            }
        }
        if self.runs.len() == KEEP {
            self.runs.pop_front();
        }
        self.runs.push_back(Run {
            latest: s.latest,
            committed: s.committed,
            first_ms: s.at_ms,
            last_ms: s.at_ms,
            count: 1,
        });
    }

    /// Forgets every sample; called when a new node process starts.
    pub fn clear(&mut self) {
        self.runs.clear();
    }

    /// The latest sample's heights and time.
    pub fn last(&self) -> Option<HeightSample> {
        self.runs.back().map(|r| HeightSample {
            at_ms: r.last_ms,
            latest: r.latest,
            committed: r.committed,
        })
    }

    /// Milliseconds per committed block as this supervisor saw them arrive: from the first time
    /// the oldest kept height was seen to the first time the newest was. `None` until the
    /// committed height has moved while watched. (A fallback for when the chain's own block
    /// times are not known yet.)
    pub fn observed_block_ms(&self) -> Option<u64> {
        let (first, last) = (self.runs.front()?, self.runs.back()?);
        let blocks = u64::try_from(last.committed.checked_sub(first.committed)?).ok()?;
        let span = last.first_ms.checked_sub(first.first_ms)?;
        (blocks > 0 && span > 0).then(|| (span / blocks).max(1))
    }

    /// Whether the node stopped with block `n` in its store and `n - 1` committed: the latest
    /// run of consecutive samples shows exactly (store `n`, app `n - 1`) in at least
    /// [`STOPPED_BEFORE_MIN_SAMPLES`] samples spanning at least `window_ms` (never less than
    /// [`STOPPED_BEFORE_MIN_WINDOW_MS`]).
    pub fn stopped_before(&self, n: i64, window_ms: u64) -> bool {
        let window_ms = window_ms.max(STOPPED_BEFORE_MIN_WINDOW_MS);
        self.runs.back().is_some_and(|r| {
            r.latest == n
                && Some(r.committed) == n.checked_sub(1)
                && r.count >= STOPPED_BEFORE_MIN_SAMPLES
                && r.last_ms.saturating_sub(r.first_ms) >= window_ms
        })
    }
}

/// The window "stopped before" waits for, from the chain's average block time: three blocks'
/// worth, and never less than [`STOPPED_BEFORE_MIN_WINDOW_MS`].
pub fn stopped_before_window_ms(average_block_ms: Option<u64>) -> u64 {
    average_block_ms
        .map(|b| b.saturating_mul(3))
        .unwrap_or(0)
        .max(STOPPED_BEFORE_MIN_WINDOW_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn observed_block_time_needs_the_committed_height_to_move() {
        let mut h = HeightHistory::new();
        assert_eq!(h.observed_block_ms(), None);
        h.push(s(1_000, 5, 4));
        h.push(s(1_400, 5, 4));
        assert_eq!(h.observed_block_ms(), None);
        h.push(s(3_000, 7, 6));
        // 2 blocks in the 2 s between first seeing 4 and first seeing 6.
        assert_eq!(h.observed_block_ms(), Some(1_000));
        h.push(s(9_000, 7, 6));
        assert_eq!(h.observed_block_ms(), Some(1_000));
        // A height going back (a new process, a restore) gives no estimate, not a wrap.
        let mut back = HeightHistory::new();
        back.push(s(0, 9, 8));
        back.push(s(10, 3, 2));
        assert_eq!(back.observed_block_ms(), None);
    }

    fn s(at_ms: u64, latest: i64, committed: i64) -> HeightSample {
        HeightSample {
            at_ms,
            latest,
            committed,
        }
    }

    fn history(samples: &[HeightSample]) -> HeightHistory {
        let mut h = HeightHistory::new();
        for x in samples {
            h.push(*x);
        }
        h
    }

    #[test]
    fn a_node_halted_before_n_is_seen_after_the_window() {
        let h = history(&[
            s(0, 98, 98),
            s(500, 99, 98),
            s(2_000, 99, 98),
            s(4_000, 99, 98),
        ]);
        assert!(!h.stopped_before(99, 5_000), "4 s is not yet the window");
        let h = history(&[
            s(0, 98, 98),
            s(500, 99, 98),
            s(3_000, 99, 98),
            s(5_600, 99, 98),
        ]);
        assert!(h.stopped_before(99, 5_000));
        assert!(!h.stopped_before(100, 5_000));
    }

    #[test]
    fn progress_or_too_few_samples_is_not_a_stop() {
        // Two samples far apart are not enough.
        assert!(!history(&[s(0, 99, 98), s(60_000, 99, 98)]).stopped_before(99, 5_000));
        // The run must be the latest one: the node moved on after it.
        let h = history(&[
            s(0, 99, 98),
            s(3_000, 99, 98),
            s(6_000, 99, 98),
            s(6_100, 99, 99),
        ]);
        assert!(!h.stopped_before(99, 5_000));
        // A window shorter than the floor is raised to it.
        assert!(
            !history(&[s(0, 99, 98), s(1_000, 99, 98), s(2_000, 99, 98)]).stopped_before(99, 100)
        );
    }

    #[test]
    fn window_follows_block_time() {
        assert_eq!(stopped_before_window_ms(None), 5_000);
        assert_eq!(stopped_before_window_ms(Some(500)), 5_000);
        assert_eq!(stopped_before_window_ms(Some(6_000)), 18_000);
        assert_eq!(stopped_before_window_ms(Some(u64::MAX)), u64::MAX);
    }

    proptest! {
        /// A node that keeps committing (every sample has committed >= latest - 1 and the app
        /// catches up with the store within the run) is never taken for stopped, whatever the
        /// timing of the samples, as long as it commits once per window.
        #[test]
        fn a_progressing_node_is_never_stopped(
            gaps in proptest::collection::vec(1u64..4_000, 1..40),
            start in 1i64..1_000_000,
        ) {
            let mut h = HeightHistory::new();
            let mut t = 0u64;
            let mut height = start;
            for (i, g) in gaps.iter().enumerate() {
                t += g;
                // Alternate: block stored but not yet committed, then committed.
                if i % 2 == 0 {
                    h.push(s(t, height + 1, height));
                } else {
                    height += 1;
                    h.push(s(t, height, height));
                }
                for n in [height, height + 1] {
                    prop_assert!(!h.stopped_before(n, 5_000));
                }
            }
        }

        /// Extreme values never panic.
        #[test]
        fn extreme_samples_do_not_panic(
            xs in proptest::collection::vec((any::<u64>(), any::<i64>(), any::<i64>()), 0..10),
            n in any::<i64>(),
            w in any::<u64>(),
        ) {
            let h = history(&xs.iter().map(|&(a, l, c)| s(a, l, c)).collect::<Vec<_>>());
            let _ = h.stopped_before(n, w);
        }
    }
}
