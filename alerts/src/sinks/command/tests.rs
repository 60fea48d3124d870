use super::*;
use crate::sinks::test_notification;
use troop_core::alerting::Reason;

fn sh(script: &str, timeout: Duration) -> CommandSink {
    CommandSink::build("fix", &["sh".into(), "-c".into(), script.into()], timeout).unwrap()
}

#[tokio::test]
async fn the_program_gets_the_notification_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("got.json");
    let s = sh(&format!("cat > {}", out.display()), Duration::from_secs(10));
    s.send(&test_notification(Reason::First)).await.unwrap();
    let got: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(got["reason"], "first");
    assert_eq!(got["firing"][0]["resource"], "sg-1");
}

#[tokio::test]
async fn a_failing_program_is_permanent_a_hanging_one_is_killed_and_retried() {
    let n = test_notification(Reason::First);
    match sh("echo no credentials >&2; exit 3", Duration::from_secs(10)).send(&n).await {
        Err(SinkError::Permanent(m)) => assert!(m.contains("exit status: 3") && m.contains("no credentials"), "{m}"),
        other => panic!("{other:?}"),
    }
    let t = std::time::Instant::now();
    match sh("sleep 30", Duration::from_millis(200)).send(&n).await {
        Err(SinkError::Transient { message, .. }) => assert!(message.contains("killed"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(10));
    match CommandSink::build("x", &["/nonexistent/troop-hook".into()], Duration::from_secs(1)).unwrap().send(&n).await {
        Err(SinkError::Transient { message, .. }) => assert!(message.contains("cannot run"), "{message}"),
        other => panic!("{other:?}"),
    }
}
