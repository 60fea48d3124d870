use super::*;
use crate::sinks::test_notification;
use troop_core::alerting::Reason;

fn sink(to: &[&str], to_owners: bool, fallback: Option<&str>) -> SmtpSink {
    let to: Vec<String> = to.iter().map(|s| s.to_string()).collect();
    SmtpSink::build(
        "mail",
        SmtpSettings {
            server: "127.0.0.1:2525",
            security: SmtpSecurity::None,
            ca_file: None,
            from: "troop <troop@example.com>",
            to: &to,
            to_owners,
            fallback,
            credentials: None,
            subject_template: None,
            text_template: None,
            html_template: None,
        },
    )
    .unwrap()
}

#[test]
fn recipients_table() {
    let mut n = test_notification(Reason::First);
    let mut f = (*n.firing[0]).clone();
    f.labels.insert("owner".into(), "shop@example.com".into());
    let mut g = f.clone();
    g.labels.insert("owner".into(), "payments team".into()); // not an address
    n.firing = vec![std::sync::Arc::new(f), std::sync::Arc::new(g)];
    let cases: Vec<(SmtpSink, Vec<&str>)> = vec![
        (sink(&[], true, None), vec!["shop@example.com"]),
        (sink(&["ops@example.com"], true, None), vec!["ops@example.com", "shop@example.com"]),
        (sink(&["ops@example.com"], false, None), vec!["ops@example.com"]),
        (sink(&[], false, Some("fallback@example.com")), vec!["fallback@example.com"]),
        (sink(&[], true, Some("fallback@example.com")), vec!["shop@example.com"]),
    ];
    for (s, want) in cases {
        assert_eq!(s.recipients(&n), want);
    }
    assert!(sink(&[], false, None).message(&n).unwrap_err().contains("no recipients"));
}

#[test]
fn text_and_html_bodies() {
    let n = test_notification(Reason::First);
    let m = sink(&["ops@example.com"], true, None).message(&n).unwrap();
    let raw = String::from_utf8(m.formatted()).unwrap();
    assert!(raw.contains("Subject: [troop] FIRST: 1 firing monkey=security"), "{raw}");
    assert!(raw.contains("Content-Type: text/plain"), "{raw}");
    assert!(raw.contains("Content-Type: text/html"), "{raw}");
    assert!(raw.contains("sg-1 is open"), "{raw}");
}

#[test]
fn a_hostile_resource_is_text_in_both_bodies() {
    let mut n = test_notification(Reason::First);
    let mut f = (*n.firing[0]).clone();
    f.title = "<script>alert(1)</script> \"onmouseover=alert(2) x \u{1b}[2J\u{1b}]0;owned\u{7}".into();
    n.firing = vec![std::sync::Arc::new(f)];
    let ctx = crate::notification_json(&n);
    let html = Template::default_named("email.html", crate::template::HTML).render(&ctx).unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;") && !html.contains("<script>"), "{html}");
    assert!(html.contains("&quot;onmouseover=alert(2)") && html.contains("\u{FFFD}[2J"), "{html}");
    let text = Template::default_named("email.txt", crate::template::TEXT).render(&ctx).unwrap();
    assert!(
        text.contains("<script>alert(1)</script> \"onmouseover=alert(2) x \u{FFFD}[2J\u{FFFD}]0;owned\u{FFFD}"),
        "{text:?}"
    );
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'));
    // and the message built from them says the same
    let raw = String::from_utf8(sink(&["ops@example.com"], false, None).message(&n).unwrap().formatted()).unwrap();
    assert!(!raw.contains('\u{1b}'));
}

#[test]
fn bad_addresses_fail_at_build() {
    let to = vec!["not an address".to_string()];
    let e = SmtpSink::build(
        "mail",
        SmtpSettings {
            server: "127.0.0.1:2525",
            security: SmtpSecurity::None,
            ca_file: None,
            from: "troop@example.com",
            to: &to,
            to_owners: true,
            fallback: None,
            credentials: None,
            subject_template: None,
            text_template: None,
            html_template: None,
        },
    )
    .err()
    .unwrap();
    assert!(e.contains("not an address"), "{e}");
}
