use super::*;
use crate::sinks::test_notification;
use troop_core::alerting::Reason;

#[test]
fn block_kit_with_every_user_string_escaped() {
    let mut n = test_notification(Reason::First);
    let mut f = (*n.firing[0]).clone();
    f.title = "<!channel> open & <http://evil|click>".into();
    n.firing = vec![std::sync::Arc::new(f)];
    let m = message(&n, &Template::default_named("slack", SLACK)).unwrap();
    let blocks = m["blocks"].as_array().unwrap();
    assert_eq!(
        blocks.iter().map(|b| b["type"].as_str().unwrap()).collect::<Vec<_>>(),
        ["header", "section", "context"]
    );
    let text = blocks[1]["text"]["text"].as_str().unwrap();
    assert!(text.contains("*CRITICAL* &lt;!channel&gt; open &amp; &lt;http://evil|click&gt;"), "{text}");
    assert!(!text.contains("<!channel>"));
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert!(m["text"].as_str().unwrap().contains("first: 1 firing monkey=security"));
}

#[test]
fn a_hostile_resource_is_text_in_slack() {
    let mut n = test_notification(Reason::First);
    let mut f = (*n.firing[0]).clone();
    f.title = "<script>alert(1)</script> \"onmouseover=alert(2) x \u{1b}[2J\u{1b}]0;owned\u{7}".into();
    f.resource = "sg-<b>\u{1b}[31m".into();
    n.firing = vec![std::sync::Arc::new(f)];
    let m = message(&n, &Template::default_named("slack", SLACK)).unwrap();
    let text = m["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt; \"onmouseover=alert(2) x \u{FFFD}[2J"), "{text:?}");
    assert!(text.contains("sg-&lt;b&gt;\u{FFFD}[31m"), "{text:?}");
    assert!(!m.to_string().contains("\\u001b") && !text.contains('\u{1b}'), "{m}");
}

#[test]
fn a_template_file_replaces_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slack.j2");
    std::fs::write(
        &path,
        "{{ firing|length }} for {{ group_labels.monkey }}: {% for f in firing %}{{ f.resource }}{% endfor %}",
    )
    .unwrap();
    let t = Template::from_file(&path, "slack").unwrap();
    let m = message(&test_notification(Reason::First), &t).unwrap();
    assert_eq!(m["blocks"][1]["text"]["text"], "1 for security: sg-1");
}
