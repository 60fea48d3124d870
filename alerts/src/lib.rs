//! troop-alerts: the alert sinks and their registry.
//!
//! Every sink is a folder of the same shape under `sinks/`: a `build` from its
//! (already validated, see troop-config) configuration, the `Sink` impl, and
//! its tests. [`registry::build`] is the only place that maps a config `type`
//! to a sink. Building may do IO (resolve secrets, open files); validation
//! never does and lives in troop-config.

pub mod registry;
pub mod sinks;

/// Version of the JSON event payload written by sinks (jsonl today, webhook later).
pub const PAYLOAD_VERSION: u32 = 1;

/// The JSON payload of one finding event, as sinks write it.
pub fn event_json(sink: &str, ev: &troop_core::FindingEvent) -> serde_json::Value {
    serde_json::json!({
        "version": PAYLOAD_VERSION,
        "sink": sink,
        "event": ev.event.as_str(),
        "at": ev.at,
        "finding": ev.finding,
    })
}
