pub mod alertmanager;
pub mod command;
pub mod jsonl;
pub mod pagerduty;
pub mod slack;
pub mod smtp;
pub mod stdout;
pub mod webhook;

#[cfg(test)]
pub(crate) fn test_finding() -> troop_core::StoredFinding {
    use troop_core::{FindingState, Severity, StoredFinding};
    StoredFinding {
        fingerprint: "fp1".into(),
        monkey: "security".into(),
        kind: "sg-open-ingress".into(),
        severity: Severity::Critical,
        state: FindingState::Open,
        account: "111".into(),
        region: "us-east-1".into(),
        resource: "sg-1".into(),
        title: "sg-1 is open".into(),
        details: serde_json::json!({}),
        labels: Default::default(),
        scope: "ec2:security-group".into(),
        first_seen: "2026-01-01T00:00:00Z".into(),
        last_seen: "2026-01-01T00:00:00Z".into(),
        resolved_at: None,
    }
}

/// One notification with one firing finding, at 2026-01-01T00:00:00Z.
#[cfg(test)]
pub(crate) fn test_notification(reason: troop_core::alerting::Reason) -> troop_core::alerting::Notification {
    troop_core::alerting::Notification {
        id: format!("g1-0-{}", reason.as_str()),
        group_id: "g1".into(),
        sink: "test".into(),
        route: "default:0".into(),
        group_labels: [("monkey".to_string(), "security".to_string())].into(),
        reason,
        status: "firing".into(),
        at: 1_767_225_600_000,
        firing: vec![std::sync::Arc::new(test_finding())],
        resolved: vec![],
        changed: vec!["fp1".into()],
    }
}
