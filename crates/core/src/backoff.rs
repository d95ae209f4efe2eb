//! Exponential backoff: the one rule every retry loop in switchyard follows (the chain watcher's
//! reconnects, the block feed's websocket, download retries, crash restarts). It starts at
//! `initial`, doubles after each failure up to `max`, and starts over after a success.
//!
//! Pure: it hands out delays; the caller sleeps.

use std::time::Duration;

/// A doubling delay between `initial` and `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A backoff from `initial` up to `max` (`max` below `initial` is raised to it).
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            next: initial,
        }
    }

    /// The delay to wait now; the one after it is twice as long, up to the maximum.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        d
    }

    /// The delay the next failure will wait, without counting it.
    pub fn peek(&self) -> Duration {
        self.next
    }

    /// After a success: the next failure waits `initial` again.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn doubles_caps_and_resets() {
        let s = Duration::from_secs;
        let mut b = Backoff::new(s(1), s(5));
        let got: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        assert_eq!(got, [s(1), s(2), s(4), s(5), s(5)]);
        b.reset();
        assert_eq!(b.peek(), s(1));
        assert_eq!(Backoff::new(s(3), s(1)).next_delay(), s(3));
    }

    proptest! {
        #[test]
        fn always_within_bounds(i in 0u64..10_000_000, m in 0u64..10_000_000, n in 0usize..80) {
            let (i, m) = (Duration::from_millis(i), Duration::from_millis(m));
            let mut b = Backoff::new(i, m);
            for _ in 0..n {
                let d = b.next_delay();
                prop_assert!(d >= i && d <= m.max(i));
            }
        }
    }
}
