//! The change log any process posts to, beside what troop saw: `POST
//! /api/v1/events` and `troop timeline` ("what happened in the last hour?").

use crate::http_access::{Answer, request};
use crate::support::{Moto, Workspace, free_port, world_open_group};
use std::time::Duration;

fn post_event(addr: &str, body: &str, content_type: &str) -> Answer {
    request(
        addr,
        None,
        "POST",
        "/api/v1/events",
        &[("Authorization", "Bearer ci-token"), ("Content-Type", content_type)],
        body.as_bytes(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_events_sit_beside_security_revisions_in_time_order_and_a_retry_is_stored_once() {
    let moto = Moto::start();
    let ec2 = moto.ec2("us-east-1").await;
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let ws = Workspace::for_emulator(
        &moto.endpoint,
        "[[agent.http.tokens]]\nname = \"ci\"\ntoken = \"ci-token\"\nscopes = [\"read\", \"events:write\"]\n",
    );
    // the daemon serves HTTP only; `troop scan` reads the emulator
    let text = std::fs::read_to_string(ws.file("troop.toml"))
        .unwrap()
        .replace("store = \"sqlite://troop.db\"\n", &format!("store = \"sqlite://troop.db\"\nlisten = \"{addr}\"\n"))
        .replace("[monkeys.security]\n", "[monkeys.security]\nenabled = false\n");
    std::fs::write(ws.file("serve.toml"), text).unwrap();
    let _d = crate::http_access::start(ws.cmd(&["-c", "serve.toml", "run"]), &addr, None);

    // before: a config change, posted as a CloudEvent
    let a = post_event(
        &addr,
        r#"{"specversion": "1.0", "id": "cfg-7", "source": "chef", "type": "config",
            "subject": "bastion", "data": {"summary": "sshd_config: PermitRootLogin no"}}"#,
        "application/cloudevents+json",
    );
    assert_eq!(a.status, 201, "{}", a.body);
    std::thread::sleep(Duration::from_millis(1100));
    // then a security group opened to the world, read through the emulator
    let group = world_open_group(&ec2, "10.7.0.0/16", "bastion-sg", 22).await;
    ws.run(&["scan", "--monkey", "security"]).assert_code(0);
    std::thread::sleep(Duration::from_millis(1100));
    // after: the deployment that explains it, posted twice (a retry)
    let deploy = r#"{"source": "ci", "id": "run-981", "type": "deployment", "summary": "bastion opened for the vendor",
        "resource": "bastion-sg", "labels": {"ticket": "OPS-12"}}"#;
    let first = post_event(&addr, deploy, "application/json");
    let again = post_event(&addr, deploy, "application/json");
    assert_eq!((first.status, again.status), (201, 200), "stored, then already stored");
    // a bad event: 400 naming the field, nothing stored
    let bad = post_event(&addr, r#"{"source": "ci", "type": "deployment"}"#, "application/json");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("summary"), "{}", bad.body);

    let out = ws.run(&["timeline", "--since", "1h", "--format", "json"]);
    out.assert_code(0);
    let lines = out.json();
    let lines = lines.as_array().unwrap();
    let at: Vec<&str> = lines.iter().map(|l| l["at"].as_str().unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "time order: {at:?}");
    let position = |f: &dyn Fn(&serde_json::Value) -> bool| lines.iter().position(f);
    let config = position(&|l| l["kind"] == "event" && l["type"] == "config").expect("the CloudEvent");
    let opened = position(&|l| l["kind"] == "revision" && l["resource"] == "bastion-sg").expect("the group's revision");
    let alert = position(&|l| l["kind"] == "alert" && l["transition"] == "opened" && l["resource"] == group.as_str())
        .expect("the finding it opened");
    let deployed: Vec<usize> =
        (0..lines.len()).filter(|&i| lines[i]["kind"] == "event" && lines[i]["id"] == "run-981").collect();
    assert_eq!(deployed.len(), 1, "posted twice, stored once: {lines:?}");
    assert!(config < opened && opened <= alert && alert < deployed[0], "{lines:#?}");
    assert_eq!(lines[config]["source"], "chef");
    assert_eq!(lines[config]["resource"], "bastion");
    assert_eq!(lines[opened]["source"], "security");
    assert_eq!(lines[opened]["summary"], "security group bastion-sg created");
    assert!(lines[alert]["summary"].as_str().unwrap().contains("tcp/22"), "{}", lines[alert]);
    assert_eq!(lines[deployed[0]]["labels"]["ticket"], "OPS-12");

    // the API answers the same lines; filters narrow them
    let api =
        request(&addr, None, "GET", "/api/v1/timeline?since=1h", &[("Authorization", "Bearer ci-token")], b"").unwrap();
    assert_eq!(api.status, 200);
    let api: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(api.as_array().unwrap().len(), lines.len());
    let ci = ws.run(&["timeline", "--since", "1h", "--source", "ci", "--format", "json"]).json();
    assert_eq!(ci.as_array().unwrap().len(), 1, "{ci}");
    let deploys = ws.run(&["timeline", "--type", "deployment", "--format", "json"]).json();
    assert_eq!(deploys.as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap()).collect::<Vec<_>>(), ["run-981"]);
    let table = ws.run(&["timeline"]);
    assert!(table.stdout.contains("bastion opened for the vendor"), "{}", table.stdout);
}
