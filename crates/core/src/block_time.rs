//! Whether a node's latest block time can be believed.
//!
//! Every estimate of when an upgrade comes, and of whether the node is behind, rests on the
//! latest block time a node reports. A time before any CometBFT chain existed, or far ahead of
//! this host's clock, is no fact about the chain (a broken node, a wrong answer, a fake): the
//! caller must say the chain cannot be told, not compute from it.

/// Earliest block time taken as real, in Unix seconds (2016-01-01T00:00:00Z): no CometBFT chain
/// has blocks from before 2016.
pub const EARLIEST_PLAUSIBLE_BLOCK_UNIX: i64 = 1_451_606_400;

/// How far ahead of this host's clock a block time may be, in seconds: clock skew, not a century.
pub const MOST_BLOCK_TIME_AHEAD_SECS: i64 = 86_400;

/// What a latest block time is, held against this host's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockTimeVerdict {
    /// Neither before 2016 nor more than a day ahead of the host's clock: usable.
    Plausible,
    /// Before [`EARLIEST_PLAUSIBLE_BLOCK_UNIX`].
    BeforeAnyChain,
    /// More than [`MOST_BLOCK_TIME_AHEAD_SECS`] ahead of the host's clock.
    AheadOfClock,
}

/// Judges a block time (`block_unix`, Unix seconds) against the host's clock (`now_unix`).
pub fn judge_block_time(block_unix: i64, now_unix: i64) -> BlockTimeVerdict {
    if block_unix < EARLIEST_PLAUSIBLE_BLOCK_UNIX {
        BlockTimeVerdict::BeforeAnyChain
    } else if block_unix > now_unix.saturating_add(MOST_BLOCK_TIME_AHEAD_SECS) {
        BlockTimeVerdict::AheadOfClock
    } else {
        BlockTimeVerdict::Plausible
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_272_000; // 2026-06-01T00:00:00Z

    #[test]
    fn real_times_are_plausible() {
        assert_eq!(judge_block_time(NOW - 60, NOW), BlockTimeVerdict::Plausible);
        // cosmoshub-4's genesis era, and a block half a day ahead (a skewed clock)
        assert_eq!(
            judge_block_time(1_576_081_894, NOW),
            BlockTimeVerdict::Plausible
        );
        assert_eq!(
            judge_block_time(NOW + 43_200, NOW),
            BlockTimeVerdict::Plausible
        );
        assert_eq!(
            judge_block_time(EARLIEST_PLAUSIBLE_BLOCK_UNIX, NOW),
            BlockTimeVerdict::Plausible
        );
        assert_eq!(
            judge_block_time(NOW + MOST_BLOCK_TIME_AHEAD_SECS, NOW),
            BlockTimeVerdict::Plausible
        );
    }

    #[test]
    fn nonsense_times_are_refused() {
        assert_eq!(
            judge_block_time(-62_135_596_800, NOW),
            BlockTimeVerdict::BeforeAnyChain
        ); // year 1
        assert_eq!(
            judge_block_time(EARLIEST_PLAUSIBLE_BLOCK_UNIX - 1, NOW),
            BlockTimeVerdict::BeforeAnyChain
        );
        assert_eq!(
            judge_block_time(NOW + MOST_BLOCK_TIME_AHEAD_SECS + 1, NOW),
            BlockTimeVerdict::AheadOfClock
        );
        assert_eq!(
            judge_block_time(253_402_300_799, NOW),
            BlockTimeVerdict::AheadOfClock
        ); // 9999
           // the ends of the range do not overflow
        assert_eq!(
            judge_block_time(i64::MAX, i64::MAX),
            BlockTimeVerdict::Plausible
        );
        assert_eq!(
            judge_block_time(i64::MIN, i64::MIN),
            BlockTimeVerdict::BeforeAnyChain
        );
    }
}
