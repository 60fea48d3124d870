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
