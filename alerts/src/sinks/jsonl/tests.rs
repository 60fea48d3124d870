use super::*;
use crate::sinks::test_event;
use troop_core::EventKind;

#[tokio::test]
async fn appends_one_event_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
    let sink = JsonlSink::build("log", &path).unwrap();
    sink.send(&[test_event(EventKind::Opened), test_event(EventKind::Resolved)]).await.unwrap();
    sink.send(&[test_event(EventKind::SeverityUp)]).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["earlier"], true);
    let events: Vec<&str> = lines[1..].iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["opened", "resolved", "severity_up"]);
    assert_eq!(lines[1]["version"], 1);
    assert_eq!(lines[1]["finding"]["fingerprint"], "fp1");
    assert_eq!(lines[1]["finding"]["state"], "open");
}

#[test]
fn unwritable_path_fails_at_build() {
    let err = JsonlSink::build("log", Path::new("/nonexistent-dir/x.jsonl")).err().unwrap();
    assert!(err.contains("/nonexistent-dir/x.jsonl"), "{err}");
}
