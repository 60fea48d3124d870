use super::*;
use crate::sinks::test_notification;
use troop_core::alerting::Reason;

#[test]
fn one_readable_line_per_finding() {
    let n = test_notification(Reason::First);
    assert_eq!(lines(&n), "[critical] first     security/sg-open-ingress 111/us-east-1 sg-1: sg-1 is open\n");
    let mut r = test_notification(Reason::Resolved);
    r.resolved = std::mem::take(&mut r.firing);
    assert_eq!(lines(&r), "[critical] resolved  security/sg-open-ingress 111/us-east-1 sg-1: sg-1 is open\n");
}

#[test]
fn only_what_the_message_is_about() {
    let mut n = test_notification(Reason::New);
    let mut old = (*n.firing[0]).clone();
    old.fingerprint = "fp0".into();
    old.resource = "sg-0".into();
    n.firing.insert(0, std::sync::Arc::new(old));
    assert_eq!(lines(&n).lines().count(), 1, "sg-0 was told before: {}", lines(&n));
    assert!(lines(&n).contains("sg-1"));
    n.reason = Reason::Repeat;
    assert_eq!(lines(&n).lines().count(), 2, "a repeat lists everything firing");
}
