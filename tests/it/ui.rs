//! The web UI in a real headless Chromium (WebDriver): a reviewer's whole
//! review through the page, hostile names rendered as text on every page,
//! the forms' protection against cross-site posts, and a screenshot of each
//! page at 1,000 px into `screenshots/` (README.md names it).

use crate::http_access::{Daemon, PROMETHEUS_HASH, basic, request, start};
use crate::support::webdriver::Browser;
use crate::support::{Moto, Workspace, free_port, world_ingress};
use std::path::PathBuf;

/// What no page may run or pass raw to a terminal: a script element (a
/// security group's name), an attribute breaking out of its quotes (its
/// description), and terminal escape sequences, clear screen and set title
/// (a posted alert's label: AWS refuses control characters in tags, any
/// process may post them).
const HOSTILE_NAME: &str = "<script>alert(1)</script>";
const HOSTILE_DESCRIPTION: &str = "\"onmouseover=alert(2) x='";
const HOSTILE_ESCAPES: &str = "db\u{1b}[2J\u{1b}]0;owned\u{7}";
/// A tag value (EC2 takes any character in a tag but control characters,
/// which its XML cannot carry).
const HOSTILE_TAG: &str = "\"onmouseover=alert(5) <script>alert(6)</script>";

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Review {
    _moto: Moto,
    ws: Workspace,
    _daemon: Daemon,
    addr: String,
    group: String,
    hostile: String,
}

/// An estate with a security group that gains `tcp/22 from 0.0.0.0/0`
/// between two scans (revisions 1 and 2, a finding), a world-open group
/// named to break pages, two posted alerts in another account (one
/// labelled with terminal escapes), and `troop run`
/// serving the UI to `ana` (read, silences:write, alerts:write) and `viewer`
/// (read only), both with the password `pr0m-pass`.
async fn review() -> Review {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1").await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let vpc = ec2.create_vpc().cidr_block("10.9.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let group = ec2
        .create_security_group()
        .group_name("app")
        .description("app servers")
        .vpc_id(&vpc)
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let hostile = ec2
        .create_security_group()
        .group_name(HOSTILE_NAME)
        .description(HOSTILE_DESCRIPTION)
        .vpc_id(&vpc)
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::SecurityGroup)
                .tags(aws_sdk_ec2::types::Tag::builder().key("owner").value(HOSTILE_TAG).build())
                .build(),
        )
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    ec2.authorize_security_group_ingress().group_id(&hostile).ip_permissions(world_ingress(3389)).send().await.unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let ws = Workspace::new(&format!(
        "[agent]\nstore = \"sqlite://troop.db\"\nlisten = \"{addr}\"\n\
         [agent.http.basic_auth_users]\nana = \"{PROMETHEUS_HASH}\"\nviewer = \"{PROMETHEUS_HASH}\"\n\
         [agent.http.user_scopes]\nana = [\"read\", \"silences:write\", \"alerts:write\"]\nviewer = [\"read\"]\n\
         [aws]\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n\
         [monkeys.security]\ninterval = \"1h\"\n[monkeys.certs]\nenabled = false\n[monkeys.limits]\nenabled = false\n",
        moto.endpoint
    ));
    ws.run(&["scan"]).assert_code(0);
    ec2.authorize_security_group_ingress().group_id(&group).ip_permissions(world_ingress(22)).send().await.unwrap();
    ws.run(&["scan"]).assert_code(0);
    let daemon = start(ws.cmd(&["run"]), &addr, None);
    let alert = serde_json::json!([
        {"labels": {"alertname": "DiskFull", "severity": "warning", "account": "999999999999", "instance": "db-1"}},
        {"labels": {"alertname": "Hostile", "severity": "warning", "account": "999999999999", "instance": HOSTILE_ESCAPES},
         "annotations": {"summary": format!("{HOSTILE_NAME} on {HOSTILE_ESCAPES}")}},
    ])
    .to_string();
    let a = request(
        &addr,
        None,
        "POST",
        "/api/v2/alerts",
        &[("Authorization", &basic("ana", "pr0m-pass")), ("Content-Type", "application/json")],
        alert.as_bytes(),
    )
    .unwrap();
    assert_eq!(a.status, 200, "{a:?}");
    Review { _moto: moto, ws, _daemon: daemon, addr, group, hostile }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_filters_reads_the_diff_and_silences_a_finding_in_a_real_browser() {
    let r = review().await;
    let b = Browser::start(1000).await;
    let base = format!("http://ana:pr0m-pass@{}", r.addr);
    let shots = screenshots();

    // the overview: open findings by severity, the last hour's changes
    b.goto(&format!("{base}/")).await;
    let text = b.page_text().await;
    assert!(text.contains("Open findings: 4"), "{text}");
    assert!(text.contains("signed in as ana"), "{text}");
    b.screenshot(&shots.join("overview.png")).await;

    // findings, filtered to one account through the form
    b.goto(&format!("{base}/findings")).await;
    assert!(b.text(&b.find("#count").await).await.starts_with("4 findings"));
    let account = b.find("input[name=account]").await;
    b.fill(&account, "123456789012").await;
    b.click(&b.find(".filters button[type=submit]").await).await;
    b.wait_url("account=123456789012").await;
    assert!(b.text(&b.find("#count").await).await.starts_with("2 findings"));
    for row in b.find_all("#findings tbody tr").await {
        assert!(b.text(&row).await.contains("123456789012/us-east-1"));
    }
    // the filter can be silenced whole: its matchers prefilled
    let whole = b.attribute(&b.find("#silence-filter").await, "href").await.unwrap_or_default();
    assert!(whole.ends_with("/silences?matcher=account%3D123456789012"), "{whole}");
    b.screenshot(&shots.join("findings.png")).await;

    // the security group's page: the reviewer's sentence, the coloured diff
    b.click(&b.find(&format!("#findings a[href*='{}']", r.group)).await).await;
    b.wait_url("/items/ec2%3Asecurity-group%2F123456789012%2Fus-east-1%2F").await;
    let sentences = b.text(&b.find("#sentences").await).await;
    assert!(sentences.contains("ingress tcp/22 from 0.0.0.0/0 added"), "{sentences}");
    assert!(b.page_text().await.contains("From revision 1 (created"), "the diff is between revisions 1 and 2");
    let mut added = None;
    for line in b.find_all("#diff .add").await {
        if b.text(&line).await.contains("0.0.0.0/0") {
            added = Some(line);
        }
    }
    let added = added.expect("an added line with the world's range");
    assert_eq!(b.css(&added, "background-color").await, "rgba(230, 244, 234, 1)", "additions are green");
    b.screenshot(&shots.join("item.png")).await;

    // silence its finding from the page, with a reason
    b.click(&b.find("#item-findings a.action").await).await;
    b.wait_url("/silences?matcher=").await;
    let matchers = b.find("textarea[name=matchers]").await;
    assert!(
        b.text(&matchers).await.contains(&r.group)
            || b.attribute(&matchers, "value").await.unwrap_or_default().contains(&r.group)
    );
    let reason = b.find("input[name=reason]").await;
    b.fill(&reason, "jump host until the VPN lands (ticket SEC-42)").await;
    b.click(&b.find("#silence-form button").await).await;
    b.wait_url("/silences?added=").await;
    let added = b.text(&b.find("#added").await).await;
    assert!(added.starts_with("Silence s-"), "{added}");
    let listed = b.text(&b.find("#silences").await).await;
    assert!(listed.contains("SEC-42") && listed.contains("ana"), "the author is the signed-in user: {listed}");
    b.screenshot(&shots.join("silences.png")).await;

    // marked silenced on the findings page and on the item's
    b.goto(&format!("{base}/findings?state=silenced")).await;
    let rows = b.text(&b.find("#findings").await).await;
    assert!(rows.contains(&r.group) && rows.contains("silenced"), "{rows}");
    b.goto(&format!("{base}/findings?account=123456789012")).await;
    assert!(b.text(&b.find("#count").await).await.starts_with("1 finding"), "one left open");

    // the other pages, for the reviewer's eyes
    for (path, name) in [("/changes?since=24h", "changes"), ("/certs", "certs"), ("/limits", "limits")] {
        b.goto(&format!("{base}{path}")).await;
        assert!(b.find_all("main h1").await.len() == 1, "{path} rendered");
        b.screenshot(&shots.join(format!("{name}.png"))).await;
    }
    b.quit().await;

    // a 390 px phone: every page fits its width (wide tables scroll inside
    // their own box)
    let phone = Browser::start(390).await;
    let item = format!("/items/ec2%3Asecurity-group%2F123456789012%2Fus-east-1%2F{}", r.group);
    for path in ["/", "/findings", "/changes?since=24h", "/silences", "/certs", "/limits", item.as_str()] {
        phone.goto(&format!("{base}{path}")).await;
        let widths = phone.eval("return [window.innerWidth, document.documentElement.scrollWidth]").await;
        assert_eq!(widths[0], 390, "the phone's viewport");
        assert!(widths[1].as_i64().unwrap_or(i64::MAX) <= 390, "{path} is wider than a phone: {widths}");
    }
    phone.goto(&format!("{base}/findings")).await;
    phone.screenshot(&shots.join("findings-390px.png")).await;
    phone.quit().await;

    // the silences were the store's: the CLI lists the one added here
    let cli = r.ws.run(&["silence", "list", "--format", "json"]);
    assert!(cli.stdout.contains("SEC-42"), "{}", cli.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_text_on_every_page_and_no_script_runs() {
    let r = review().await;
    let item = format!("ec2:security-group/123456789012/us-east-1/{}", r.hostile);
    let encoded: String = item.replace(':', "%3A").replace('/', "%2F");
    let pages = [
        "/".to_string(),
        "/findings".to_string(),
        format!("/findings?q={}", "%3Cscript%3E"),
        "/changes?since=24h".to_string(),
        format!("/items/{encoded}"),
        "/silences?matcher=resource%3D%22%3Cscript%3Ealert(3)%3C%2Fscript%3E%22&reason=%22onmouseover%3Dalert(4)"
            .into(),
        "/certs".into(),
        "/limits".into(),
    ];
    let b = Browser::start(1000).await;
    for path in &pages {
        b.goto(&format!("http://ana:pr0m-pass@{}{path}", r.addr)).await;
        assert!(!b.alert_open().await, "{path}: a script ran");
        assert!(b.find_all("script").await.is_empty(), "{path}: a script element");
        let handlers = b.eval("return [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length").await;
        assert_eq!(handlers, 0, "{path}: an event-handler attribute");
    }
    // shown as the text it is
    b.goto(&format!("http://ana:pr0m-pass@{}/items/{encoded}", r.addr)).await;
    assert_eq!(b.text(&b.find("#item-name").await).await, HOSTILE_NAME);
    let diff = b.text(&b.find("#diff").await).await;
    assert!(diff.contains("onmouseover=alert(2)"), "{diff}");
    assert!(diff.contains("onmouseover=alert(5) <script>alert(6)</script>"), "the tag, as text: {diff}");
    b.goto(&format!("http://ana:pr0m-pass@{}/findings?q=%3Cscript%3E", r.addr)).await;
    let rows = b.text(&b.find("#findings").await).await;
    assert!(rows.contains(HOSTILE_NAME), "{rows}");
    assert!(rows.contains("db\u{FFFD}[2J\u{FFFD}]0;owned\u{FFFD}"), "terminal escapes are replaced: {rows:?}");
    b.quit().await;

    // on the wire: escaped, with a policy that lets nothing run
    let a = request(
        &r.addr,
        None,
        "GET",
        &format!("/items/{encoded}"),
        &[("Authorization", &basic("ana", "pr0m-pass"))],
        b"",
    )
    .unwrap();
    assert_eq!(a.status, 200);
    assert!(a.body.contains("&lt;script&gt;alert(1)&lt;") && !a.body.contains(HOSTILE_NAME), "{}", a.body);
    let csp = a.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");
    let a = request(&r.addr, None, "GET", "/findings?state=all", &[("Authorization", &basic("ana", "pr0m-pass"))], b"")
        .unwrap();
    assert!(a.body.contains("db\u{FFFD}[2J") && !a.body.contains('\u{1b}'), "no escape byte reaches the page");
}

#[test]
fn the_silence_forms_refuse_cross_site_posts_missing_tokens_and_read_only_users() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt.block_on(review());
    let ana = basic("ana", "pr0m-pass");
    let viewer = basic("viewer", "pr0m-pass");
    let page = request(&r.addr, None, "GET", "/silences", &[("Authorization", &ana)], b"").unwrap();
    let token = page.body.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_string();
    let form = |csrf: &str| format!("csrf={csrf}&matchers=kind%3D%22DiskFull%22&duration=2h&reason=maintenance");
    let post = |auth: &str, extra: &[(&str, &str)], body: &str| {
        let mut h = vec![("Authorization", auth), ("Content-Type", "application/x-www-form-urlencoded")];
        h.extend_from_slice(extra);
        request(&r.addr, None, "POST", "/silences", &h, body.as_bytes()).unwrap()
    };
    let same_origin = format!("http://{}", r.addr);
    // (who, extra headers, token, status)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String, u16);
    let cases: Vec<Case> = vec![
        (&viewer, vec![], token.clone(), 403),
        (&ana, vec![], String::new(), 403),
        (&ana, vec![], "0".repeat(64), 403),
        (&ana, vec![("Origin", "https://evil.example")], token.clone(), 403),
        (&ana, vec![("Sec-Fetch-Site", "cross-site")], token.clone(), 403),
        (&ana, vec![("Origin", &same_origin)], token.clone(), 303),
    ];
    for (who, extra, csrf, want) in &cases {
        let a = post(who, extra, &form(csrf));
        assert_eq!(a.status, *want, "{extra:?} token {csrf:?}: {}", a.body);
    }
    // the viewer's token is not the writer's: a read-only user gets no form
    let viewer_page = request(&r.addr, None, "GET", "/silences", &[("Authorization", &viewer)], b"").unwrap();
    assert!(!viewer_page.body.contains("name=\"csrf\""));
    let a = post(&ana, &[], &"csrf=&matchers=&duration=2h&reason=x".replace("csrf=", &format!("csrf={token}")));
    assert_eq!(a.status, 400, "no matchers: {}", a.body);
    assert!(a.body.contains("matchers: at least one matcher is needed"), "{}", a.body);
    // silences that mute everything, or end as they start, are refused
    for (matchers, duration, why) in [
        ("alertname%3D~%22.*%22", "2h", "must not match an empty"),
        ("team!%3Dx", "2h", "must not match an empty"),
        ("kind%3DDiskFull", "1ns", "at least a second"),
    ] {
        let body = format!("csrf={token}&matchers={matchers}&duration={duration}&reason=x");
        let a = post(&ana, &[], &body);
        assert_eq!(a.status, 400, "{matchers} for {duration}: {}", a.body);
        assert!(a.body.contains(why), "{}", a.body);
    }
    // an opaque origin is another site; a body that is not a form has no token
    assert_eq!(post(&ana, &[("Origin", "null")], &form(&token)).status, 403);
    let not_a_form = request(&r.addr, None, "POST", "/silences", &[("Authorization", &ana)], b"{}").unwrap();
    assert_eq!(not_a_form.status, 403, "{}", not_a_form.body);
    let listed = r.ws.run(&["silence", "list", "--format", "json"]).json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "only the accepted post was stored: {listed}");
    assert_eq!(listed[0]["author"], "ana");

    // every answer carries the headers, the guard's refusals and unknown paths included
    let get = |path: &str, auth: Option<&str>| {
        let h: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        request(&r.addr, None, "GET", path, &h, b"").unwrap()
    };
    for (path, auth, status) in [
        ("/", None, 401),
        ("/nothing-here", Some(ana.as_str()), 404),
        ("/items/%FF", Some(ana.as_str()), 400),
        ("/findings?technology=ec2%3Anothing", Some(ana.as_str()), 400),
        ("/findings?severity=info", Some(ana.as_str()), 200),
        ("/api/v1/findings", Some(ana.as_str()), 200),
    ] {
        let a = get(path, auth);
        assert_eq!(a.status, status, "{path}: {}", a.body);
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert!(a.header("content-security-policy").is_some_and(|c| c.contains("default-src 'none'")), "{path}");
    }
    assert_eq!(get("/login", Some(&ana)).status, 303, "a signed-in reader goes back to the overview");
    // the overview's counts are what their links list
    let overview = get("/", Some(&ana)).body;
    assert!(overview.contains("findings?severity=warning&amp;only=1\">warning: "), "{overview}");
    let n: usize = overview.split(">warning: ").nth(1).unwrap().split('<').next().unwrap().parse().unwrap();
    let listed = get("/findings?severity=warning&only=1", Some(&ana)).body;
    assert!(listed.contains(&format!("<strong>{n}</strong> finding")), "{n}: {listed}");
}
