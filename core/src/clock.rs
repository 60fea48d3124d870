//! Wall-clock time, injectable so tests can pin it.

use time::OffsetDateTime;

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Wall time that advances with tokio's clock: the wall time at creation
/// plus tokio's elapsed time since. Real time in production; under a paused
/// test clock, time moves only when the test advances it.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    wall: OffsetDateTime,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn new() -> TokioClock {
        TokioClock { wall: OffsetDateTime::now_utc(), start: tokio::time::Instant::now() }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> OffsetDateTime {
        self.wall + self.start.elapsed()
    }
}

/// RFC 3339 in UTC with second precision, the format of every time troop prints.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC).replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Unix seconds (how stores keep times) as [`rfc3339`]; the number itself
/// when out of range.
pub fn rfc3339_unix(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).map(rfc3339).unwrap_or_else(|_| unix.to_string())
}

/// Milliseconds since the epoch (`alerting::Millis`, leases and the
/// outbox) as [`rfc3339`]; the number itself when out of range.
pub fn rfc3339_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(rfc3339)
        .unwrap_or_else(|_| ms.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn stored_times_as_rfc3339() {
        assert_eq!(super::rfc3339_unix(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(super::rfc3339_ms(1_700_000_000_999), "2023-11-14T22:13:20Z");
        // out of range: the number, never a panic
        assert_eq!(super::rfc3339_unix(i64::MAX), i64::MAX.to_string());
        assert_eq!(super::rfc3339_ms(i64::MIN), i64::MIN.to_string());
    }
}
