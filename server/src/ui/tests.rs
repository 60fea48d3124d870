use super::*;

#[test]
fn a_form_token_is_bound_to_its_user() {
    let ui = Ui::new();
    let ana = ui.csrf_token("ana").unwrap();
    assert_eq!(ana.len(), 64);
    assert!(ui.csrf_ok("ana", &ana));
    // (who, token, accepted)
    let cases = [("bob", ana.as_str(), false), ("ana", "", false), ("ana", &ana[..63], false), ("ana", "0", false)];
    for (who, token, want) in cases {
        assert_eq!(ui.csrf_ok(who, token), want, "{who} {token:?}");
    }
    assert_ne!(Ui::new().csrf_token("ana").unwrap(), ana, "each process draws its own key");
}

#[test]
fn every_value_is_escaped_and_loses_its_control_characters() {
    let ui = Ui::new();
    let html = ui.error(StatusCode::BAD_REQUEST, "<script>alert(1)</script> \"x' \u{1b}[2J\u{7}\nnext line");
    let body = futures_body(html);
    assert!(body.contains("&lt;script&gt;alert(1)&lt;"), "{body}");
    assert!(body.contains("&quot;x&#x27;") || body.contains("&#34;x&#39;"), "{body}");
    assert!(body.contains("\u{FFFD}[2J\u{FFFD}\nnext line"), "{body:?}");
    assert!(!body.contains('\u{1b}'));
}

fn futures_body(r: Response) -> String {
    assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], CSP);
    let bytes = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(axum::body::to_bytes(r.into_body(), 1 << 20))
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn diff_lines_are_classified_for_colour() {
    let diff = "--- revision 1\n+++ revision 2\n@@ -3,4 +3,5 @@\n   \"a\": 1,\n-  \"b\": 2\n+  \"b\": 3\n";
    let got: Vec<(&str, String)> = views::diff_lines(diff).into_iter().map(|l| (l.class, l.text)).collect();
    let want = [("hunk", "@@ -3,4 +3,5 @@"), ("same", "   \"a\": 1,"), ("del", "-  \"b\": 2"), ("add", "+  \"b\": 3")];
    assert_eq!(got, want.map(|(c, t)| (c, t.to_string())));
}
