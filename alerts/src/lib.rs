//! troop-alerts: the alert gateway at run time and its sinks.
//!
//! `gateway` consumes the alert log the store keeps (every committed pass
//! appends its finding events in its own transaction), routes, groups and
//! dedups with `troop_core::alerting`, and queues notifications in per-sink
//! outboxes that each sink drains on its own with retries.
//!
//! Every sink is a folder of the same shape under `sinks/`: a `build` from
//! its (already validated, see troop-config) configuration, the `Sink` impl,
//! and its tests. [`registry::build`] is the only place that maps a config
//! `type` to a sink. Building may do IO (resolve secrets, open files);
//! validation never does and lives in troop-config.

pub mod gateway;
pub mod http;
pub mod registry;
pub mod retry;
pub mod sinks;
pub mod template;

use troop_core::alerting::Notification;

/// Version of the JSON notification payload (jsonl, webhook, command).
pub const PAYLOAD_VERSION: u32 = 2;

pub use troop_core::clock::rfc3339_ms;

/// A notification's time as RFC 3339.
pub fn at(n: &Notification) -> String {
    rfc3339_ms(n.at)
}

/// The versioned JSON payload of one notification, as sinks send it.
pub fn notification_json(n: &Notification) -> serde_json::Value {
    serde_json::json!({
        "version": PAYLOAD_VERSION,
        "id": n.id,
        "group_id": n.group_id,
        "sink": n.sink,
        "route": n.route,
        "reason": n.reason.as_str(),
        "status": n.status,
        "at": at(n),
        "group_labels": n.group_labels,
        "firing": n.firing,
        "resolved": n.resolved,
        "changed": n.changed,
    })
}
