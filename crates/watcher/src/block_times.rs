//! A sliding window of recent block times, for estimating the average block time and so the
//! time left until an upgrade height.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The last `capacity` (height, time) pairs seen, in height order.
#[derive(Debug, Clone)]
pub struct BlockTimes {
    window: VecDeque<(i64, DateTime<Utc>)>,
    capacity: usize,
}

impl BlockTimes {
    pub fn new(capacity: usize) -> Self {
        BlockTimes {
            window: VecDeque::new(),
            capacity: capacity.max(2),
        }
    }

    /// Records a block. Older or repeated heights are ignored; a height jump is fine (the
    /// average divides by the height difference).
    pub fn push(&mut self, height: i64, time: DateTime<Utc>) {
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
    pub fn average(&self) -> Option<Duration> {
        let (&(h0, t0), &(h1, t1)) = (self.window.front()?, self.window.back()?);
        average_between(h0, t0, h1, t1)
    }
}

/// Average block time between two blocks.
pub fn average_between(h0: i64, t0: DateTime<Utc>, h1: i64, t1: DateTime<Utc>) -> Option<Duration> {
    if h1 <= h0 {
        return None;
    }
    let ms = (t1 - t0).num_milliseconds();
    if ms <= 0 {
        return None;
    }
    Some(Duration::from_millis(ms as u64) / (h1 - h0) as u32)
}

/// Seconds until `target` at `per_block`, counted from `height` (0 when already there).
pub fn eta(height: i64, target: i64, per_block: Duration) -> Duration {
    let blocks = (target - height).max(0) as u32;
    per_block * blocks
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
}
