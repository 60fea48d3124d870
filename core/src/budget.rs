//! Request budgets: a token bucket per (service, account, region), so a pass
//! over many accounts and regions stays under each API's rate instead of
//! finding the limit by being throttled. Pure arithmetic plus one async
//! `acquire`; on tokio's clock, so tests drive it with a paused clock.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Tokens refill at `rate` per second up to `burst`. A request takes one
/// token; when none is left it reserves the next one and waits for it, so
/// waiting callers are served in arrival order and the rate holds exactly.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket. `rate` must be > 0; `burst` is at least 1.
    pub fn new(rate: f64, burst: f64, now: Instant) -> TokenBucket {
        let burst = burst.max(1.0);
        TokenBucket { rate: rate.max(f64::MIN_POSITIVE), burst, tokens: burst, last: now }
    }

    /// Take one token at `now`: how long the caller must wait before using it.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst) - 1.0;
        if self.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-self.tokens / self.rate) }
    }
}

/// A shareable bucket.
#[derive(Debug)]
pub struct RequestBudget {
    bucket: Mutex<TokenBucket>,
}

impl RequestBudget {
    pub fn new(rate: f64) -> RequestBudget {
        RequestBudget { bucket: Mutex::new(TokenBucket::new(rate, rate, Instant::now())) }
    }

    /// Wait for this request's turn.
    pub async fn acquire(&self) {
        let wait = self.bucket.lock().unwrap_or_else(|p| p.into_inner()).reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn reserve_table() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // (rate, burst, request offsets in ms, expected waits in ms)
        type Case = (f64, f64, Vec<u64>, Vec<u64>);
        let cases: Vec<Case> = vec![
            // a full bucket serves its burst at once, then one per 1/rate
            (10.0, 3.0, vec![0, 0, 0, 0, 0], vec![0, 0, 0, 100, 200]),
            // time refills it
            (10.0, 1.0, vec![0, 100, 200], vec![0, 0, 0]),
            // refill is capped at burst: a long idle gap does not bank tokens
            (10.0, 2.0, vec![0, 0, 10_000, 10_000, 10_000], vec![0, 0, 0, 0, 100]),
            // a burst below 1 is treated as 1
            (2.0, 0.0, vec![0, 0], vec![0, 500]),
            // requests arriving mid-wait queue behind earlier reservations
            (4.0, 1.0, vec![0, 0, 100, 100], vec![0, 250, 400, 650]),
        ];
        for (rate, burst, at, want) in cases {
            let mut b = TokenBucket::new(rate, burst, t0);
            let got: Vec<u64> = at.iter().map(|a| b.reserve(t0 + ms(*a)).as_millis() as u64).collect();
            assert_eq!(got, want, "rate {rate} burst {burst} at {at:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_hold_the_rate() {
        let budget = Arc::new(RequestBudget::new(10.0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let b = budget.clone();
            tasks.push(tokio::spawn(async move {
                b.acquire().await;
                Instant::now()
            }));
        }
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap().duration_since(start));
        }
        done.sort();
        // 10 at once (the burst), then 10 per second: the 50th at 4 s.
        assert_eq!(done.iter().filter(|d| d.is_zero()).count(), 10);
        assert_eq!(done[49], Duration::from_secs(4));
        // no second ever serves more than burst + rate requests
        for w in 0..4 {
            let n = done.iter().filter(|d| d.as_secs_f64() >= w as f64 && d.as_secs_f64() < w as f64 + 1.0).count();
            assert!(n <= 20, "second {w}: {n}");
        }
    }
}
