use super::*;
use crate::sinks::test_notification;
use troop_core::alerting::Reason;

#[test]
fn trigger_then_resolve_with_the_same_dedup_key() {
    let n = test_notification(Reason::First);
    let t = event(&n, "rk").unwrap();
    assert_eq!(t["event_action"], "trigger");
    assert_eq!(t["routing_key"], "rk");
    assert_eq!(t["payload"]["severity"], "critical");
    assert_eq!(t["payload"]["summary"], "1 firing: sg-1 is open");
    assert_eq!(t["payload"]["source"], "111/us-east-1");
    assert_eq!(t["payload"]["timestamp"], "2026-01-01T00:00:00Z");
    let mut r = test_notification(Reason::Resolved);
    r.resolved = std::mem::take(&mut r.firing);
    let r = event(&r, "rk").unwrap();
    assert_eq!(r["event_action"], "resolve");
    assert_eq!(r["dedup_key"], t["dedup_key"]);
    assert!(r.get("payload").is_none());
}
