pub mod jsonl;
pub mod stdout;

#[cfg(test)]
pub(crate) fn test_event(kind: troop_core::EventKind) -> troop_core::FindingEvent {
    use troop_core::{FindingState, Severity, StoredFinding};
    troop_core::FindingEvent {
        event: kind,
        at: "2026-01-01T00:00:00Z".into(),
        finding: StoredFinding {
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
        },
    }
}
