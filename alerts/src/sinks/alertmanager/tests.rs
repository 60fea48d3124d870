use super::*;
use crate::sinks::test_notification;
use troop_core::alerting::Reason;

#[test]
fn firing_alerts_end_four_intervals_ahead_resolved_ones_now() {
    let mut n = test_notification(Reason::First);
    let mut f = (*n.firing[0]).clone();
    f.labels.insert("owner".into(), "shop-team".into());
    f.labels.insert("cost-center".into(), "42".into());
    n.firing = vec![std::sync::Arc::new(f.clone())];
    let a = alerts(&n, Duration::from_secs(300));
    assert_eq!(a[0]["labels"]["alertname"], "sg-open-ingress");
    assert_eq!(a[0]["labels"]["severity"], "critical");
    assert_eq!(a[0]["labels"]["owner"], "shop-team");
    assert_eq!(a[0]["labels"]["cost_center"], "42", "label names sanitized");
    assert_eq!(a[0]["annotations"]["summary"], "sg-1 is open");
    assert_eq!(a[0]["startsAt"], "2026-01-01T00:00:00Z");
    assert_eq!(a[0]["endsAt"], "2026-01-01T00:20:00Z");
    n.resolved = std::mem::take(&mut n.firing);
    assert_eq!(alerts(&n, Duration::from_secs(300))[0]["endsAt"], "2026-01-01T00:00:00Z");
}
