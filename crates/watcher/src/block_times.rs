//! A sliding window of recent block times, for estimating the average block time and so the
//! time left until an upgrade height.
//!
//! Heights and times come from the network, so nothing here may overflow or divide by zero:
//! a node claiming blocks from year 1 to year 9999, heights of `i64::MIN`/`i64::MAX`, or a plan
//! `i64::MAX` blocks away gives a large (saturated) answer or none, never a panic.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The last `capacity` (height, time) pairs seen, in height order.
#[derive(Debug, Clone)]
pub(crate) struct BlockTimes {
    window: VecDeque<(i64, DateTime<Utc>)>,
    capacity: usize,
}

impl BlockTimes {
    pub(crate) fn new(capacity: usize) -> Self {
        BlockTimes {
            window: VecDeque::new(),
            capacity: capacity.max(2),
        }
    }

    /// Records a block. Older or repeated heights are ignored; a height jump is fine (the
    /// average divides by the height difference).
    pub(crate) fn push(&mut self, height: i64, time: DateTime<Utc>) {
        if self.window.back().is_some_and(|&(h, _)| h >= height) {
            return;
        }
        self.window.push_back((height, time));
        while self.window.len() > self.capacity {
            self.window.pop_front();
        }
    }

    /// Average seconds per block over the window, when it spans at least two blocks and time
    /// moved forward.
    pub(crate) fn average(&self) -> Option<Duration> {
        let (&(h0, t0), &(h1, t1)) = (self.window.front()?, self.window.back()?);
        average_between(h0, t0, h1, t1)
    }
}

/// Average block time between two blocks; `None` unless `h1 > h0` and time moved forward.
pub(crate) fn average_between(
    h0: i64,
    t0: DateTime<Utc>,
    h1: i64,
    t1: DateTime<Utc>,
) -> Option<Duration> {
    // i128: the difference of two i64 heights always fits, and so do nanoseconds between any two
    // times chrono can represent (about ±262,000 years).
    let blocks = i128::from(h1) - i128::from(h0);
    if blocks <= 0 {
        return None;
    }
    let span = t1.signed_duration_since(t0);
    let nanos = i128::from(span.num_seconds()) * 1_000_000_000 + i128::from(span.subsec_nanos());
    if nanos <= 0 {
        return None;
    }
    Some(duration_from_nanos(nanos / blocks))
}

/// Time until `target` at `per_block`, counted from `height` (zero when already there);
/// saturates at [`Duration::MAX`].
pub(crate) fn eta(height: i64, target: i64, per_block: Duration) -> Duration {
    let blocks = (i128::from(target) - i128::from(height)).max(0);
    let nanos = i128::try_from(per_block.as_nanos()).unwrap_or(i128::MAX);
    duration_from_nanos(nanos.saturating_mul(blocks))
}

/// A non-negative nanosecond count as a `Duration`, saturating at [`Duration::MAX`].
fn duration_from_nanos(nanos: i128) -> Duration {
    let nanos = nanos.max(0);
    match u64::try_from(nanos / 1_000_000_000) {
        Ok(secs) => Duration::new(secs, (nanos % 1_000_000_000) as u32),
        Err(_) => Duration::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn averages_over_the_window_and_ignores_repeats() {
        let mut w = BlockTimes::new(3);
        assert_eq!(w.average(), None);
        w.push(10, t(0));
        assert_eq!(w.average(), None);
        w.push(11, t(6));
        w.push(11, t(100));
        w.push(9, t(100));
        assert_eq!(w.average(), Some(Duration::from_secs(6)));
        w.push(12, t(12));
        w.push(14, t(16)); // window now 11..14: 10s over 3 blocks
        assert_eq!(w.average(), Some(Duration::from_secs(10) / 3));
        assert_eq!(eta(14, 20, Duration::from_secs(5)), Duration::from_secs(30));
        assert_eq!(eta(30, 20, Duration::from_secs(5)), Duration::ZERO);
        assert_eq!(average_between(5, t(10), 6, t(10)), None);
    }

    fn year(y: i32) -> DateTime<Utc> {
        chrono::NaiveDate::from_ymd_opt(y, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
    }

    /// A node whose blocks span year 1 to year 9999 made `plan` and `run` panic with "overflow
    /// when multiplying duration by scalar"; extreme heights overflowed or divided by zero.
    #[test]
    fn extreme_heights_and_times_saturate_instead_of_panicking() {
        let per_block = average_between(1, year(1), 2, year(9999)).unwrap();
        assert!(
            per_block > Duration::from_secs(300_000_000_000),
            "{per_block:?}"
        );
        assert_eq!(eta(2, i64::MAX, per_block), Duration::MAX);
        assert_eq!(eta(i64::MIN, i64::MAX, Duration::MAX), Duration::MAX);
        assert_eq!(eta(i64::MAX, i64::MIN, Duration::MAX), Duration::ZERO);
        assert_eq!(
            eta(1, 1_000_001, Duration::from_secs(6)),
            Duration::from_secs(6_000_000)
        );
        // A height difference of 2^32 used to be cast to a u32 zero and divide by it.
        let d = average_between(0, year(2000), 1 << 32, year(2001)).unwrap();
        assert!(d < Duration::from_millis(10), "{d:?}");
        assert!(average_between(i64::MIN, year(1), i64::MAX, year(9999)).is_some());
        assert_eq!(
            average_between(i64::MAX, year(1), i64::MIN, year(9999)),
            None
        );
        assert_eq!(average_between(1, year(9999), 2, year(1)), None);
        let mut w = BlockTimes::new(3);
        w.push(i64::MIN, year(1));
        w.push(i64::MAX, year(9999));
        assert!(w.average().is_some());
    }
}
