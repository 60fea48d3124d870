//! When to try a failed delivery again: exponential backoff with jitter,
//! capped, and never sooner than the receiver's Retry-After.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { initial: Duration::from_secs(1), max: Duration::from_secs(300) }
    }
}

/// The longest a receiver's Retry-After is honoured: a larger value (or
/// one that would overflow the clock) waits this long.
pub const RETRY_AFTER_CEILING: Duration = Duration::from_secs(3600);

impl RetryPolicy {
    /// The wait after the `attempt`-th failed attempt (1-based): initial ×
    /// 2^(attempt-1), capped at max, times a jitter factor in [0.8, 1.2]
    /// (`jitter` is a uniform sample in [0, 1)); then at least `retry_after`,
    /// itself at most [`RETRY_AFTER_CEILING`].
    pub fn delay(&self, attempt: u32, jitter: f64, retry_after: Option<Duration>) -> Duration {
        let exp = 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let base = (self.initial.as_secs_f64() * exp).min(self.max.as_secs_f64());
        let d = Duration::from_secs_f64(base * (0.8 + 0.4 * jitter.clamp(0.0, 1.0)));
        retry_after.map_or(d, |r| d.max(r.min(RETRY_AFTER_CEILING)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_table() {
        let p = RetryPolicy { initial: Duration::from_secs(1), max: Duration::from_secs(60) };
        let s = Duration::from_secs;
        // (attempt, jitter, retry_after, want)
        let cases = [
            (1, 0.5, None, s(1)),
            (2, 0.5, None, s(2)),
            (3, 0.5, None, s(4)),
            (7, 0.5, None, s(60)), // 64 capped at 60
            (40, 0.5, None, s(60)),
            (1, 0.0, None, Duration::from_millis(800)),
            (1, 1.0, None, Duration::from_millis(1200)),
            (1, 0.5, Some(s(30)), s(30)), // Retry-After wins when longer
            (7, 0.5, Some(s(5)), s(60)),
            // numbers from the network are bounded
            (1, 0.5, Some(s(9_223_372_036_854_775)), RETRY_AFTER_CEILING),
            (1, 0.5, Some(s(u64::MAX)), RETRY_AFTER_CEILING),
        ];
        for (attempt, jitter, ra, want) in cases {
            assert_eq!(p.delay(attempt, jitter, ra), want, "attempt {attempt} jitter {jitter} retry-after {ra:?}");
        }
    }
}
