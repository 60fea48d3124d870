//! The alert gateway's pure logic: label matchers, the routing tree,
//! silences, and grouping with dedup (what each receiver was told and when
//! to tell it again). The store keeps the state and the outbox; sinks in
//! troop-alerts deliver. Times are milliseconds since the Unix epoch.

pub mod group;
pub mod matcher;
pub mod posted;
pub mod route;
pub mod silence;

#[cfg(test)]
mod tests;

pub use group::{Changed, Group, Groups, Input, Member, Notification, Reason};
pub use matcher::{Matcher, Op};
pub use route::{DEFAULT_GROUP_BY, Route, RouteTree, Timing};
pub use silence::Silence;

pub type Millis = i64;

/// Milliseconds since the epoch of a time.
pub fn millis(t: time::OffsetDateTime) -> Millis {
    (t.unix_timestamp_nanos() / 1_000_000) as Millis
}
