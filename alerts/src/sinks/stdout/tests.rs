use super::*;
use crate::sinks::test_event;
use troop_core::EventKind;

#[test]
fn one_readable_line() {
    let ev = test_event(EventKind::Opened);
    assert_eq!(line(&ev), "[critical] opened        security/sg-open-ingress 111/us-east-1 sg-1: sg-1 is open");
}
