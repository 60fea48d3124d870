use super::*;
use crate::sinks::test_notification;
use troop_core::alerting::Reason;

#[tokio::test]
async fn appends_one_notification_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
    let sink = JsonlSink::build("log", &path).unwrap();
    sink.send(&test_notification(Reason::First)).await.unwrap();
    sink.send(&test_notification(Reason::Escalated)).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["earlier"], true);
    let reasons: Vec<&str> = lines[1..].iter().map(|l| l["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["first", "escalated"]);
    assert_eq!(lines[1]["version"], 2);
    assert_eq!(lines[1]["at"], "2026-01-01T00:00:00Z");
    assert_eq!(lines[1]["firing"][0]["fingerprint"], "fp1");
}

#[test]
fn unwritable_path_fails_at_build() {
    let err = JsonlSink::build("log", Path::new("/nonexistent-dir/x.jsonl")).err().unwrap();
    assert!(err.contains("/nonexistent-dir/x.jsonl"), "{err}");
}
