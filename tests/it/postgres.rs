//! troop on a PostgreSQL store (a throw-away cluster per test): every verb,
//! the daemon's HTTP reads, a SIGKILL in the middle of a shard's commit, and
//! `troop store migrate` from SQLite. (The store contract itself runs against
//! PostgreSQL in troop-store's conformance suite; `scan::*::postgres` run
//! the scan's end-to-end tests.)

use crate::support::{Backend, Moto, Workspace, free_port, http_get, wait_for, world_ingress};
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use time::OffsetDateTime;

async fn open_group(moto: &Moto, name: &str, port: i32) -> String {
    let ec2 = moto.ec2("us-east-1").await;
    let vpc = ec2.create_vpc().cidr_block("10.3.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let g = ec2.create_security_group().group_name(name).description(name).vpc_id(vpc).send().await.unwrap();
    let g = g.group_id.unwrap();
    ec2.authorize_security_group_ingress().group_id(&g).ip_permissions(world_ingress(port)).send().await.unwrap();
    g
}

fn json(ws: &Workspace, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let r = ws.run(&all);
    r.assert_code(0);
    r.json()
}

#[tokio::test]
async fn every_verb_and_the_http_api_work_on_postgres() {
    let moto = Moto::start();
    let group = open_group(&moto, "bastion", 22).await;
    let port = free_port();
    let ws = Workspace::for_emulator_on(Backend::Postgres, &moto.endpoint, "");
    let cfg = std::fs::read_to_string(ws.file("troop.toml")).unwrap();
    ws.write_config(&cfg.replace("[agent]\n", &format!("[agent]\nlisten = \"127.0.0.1:{port}\"\n")));
    ws.run(&["config", "check"]).assert_code(0);
    // a read verb does not make a store of an empty database
    let missing = ws.run(&["findings"]);
    missing.assert_code(2);
    assert!(missing.stderr.contains("nothing has been recorded there"), "{}", missing.stderr);
    ws.run(&["scan"]).assert_code(0);

    let findings = json(&ws, &["findings"]);
    assert_eq!(findings.as_array().unwrap().len(), 1, "{findings:#}");
    assert_eq!(findings[0]["resource"], group.as_str());
    let changes = json(&ws, &["changes", "--since", "1h"]);
    let item = changes
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "bastion")
        .and_then(|c| c["item"].as_str())
        .unwrap()
        .to_string();
    let history = json(&ws, &["history", &item]);
    assert_eq!(history[0]["change"], "created");
    ws.run(&["diff", &item]).assert_code(0);
    ws.run(&["certs"]).assert_code(0);
    ws.run(&["limits"]).assert_code(0);
    let silence =
        ws.run(&["silence", "add", "--match", "kind=sg-open-ingress", "--for", "1h", "--reason", "maintenance"]);
    silence.assert_code(0);
    let silences = json(&ws, &["silence", "list"]);
    let id = silences[0]["id"].as_str().unwrap().to_string();
    ws.run(&["silence", "remove", &id]).assert_code(0);
    ws.run(&["alerts", "status"]).assert_code(0);

    // the daemon's reads go through the same store
    let addr = format!("127.0.0.1:{port}");
    let mut daemon = ws.cmd(&["run"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let up = wait_for(Duration::from_secs(30), || http_get(&addr, "/healthz").ok().filter(|(s, _)| *s == 200));
    let answers: Vec<(String, u16)> =
        ["/api/v1/findings", "/api/v1/changes?since=1h", "/api/v1/status", "/metrics", "/"]
            .iter()
            .map(|p| (p.to_string(), http_get(&addr, p).map(|(s, _)| s).unwrap_or(0)))
            .collect();
    // the running daemon is a replica alive, and its shards' lag is exported
    let alive = wait_for(Duration::from_secs(20), || {
        let t = ws.run(&["status"]);
        t.stdout.contains("REPLICAS ALIVE: 1").then_some(t.stdout)
    });
    let (_, metrics) = http_get(&addr, "/metrics").unwrap_or_default();
    let (_, status) = http_get(&addr, "/api/v1/status").unwrap_or_default();
    let _ = daemon.kill();
    let out = daemon.wait_with_output().unwrap();
    assert!(up.is_some(), "/healthz never answered: {}", String::from_utf8_lossy(&out.stderr));
    for (path, status) in answers {
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(alive.is_some(), "no replica alive in `troop status`");
    assert!(
        metrics.contains("troop_shard_lag_seconds{monkey=\"security\",shard=\"security/123456789012\"}"),
        "{metrics}"
    );
    let status: Value = serde_json::from_str(&status).unwrap();
    assert!(status.as_array().unwrap().iter().any(|r| r["shard"] == "security/123456789012/us-east-1"), "{status:#}");
}

#[tokio::test]
async fn sigkill_mid_shard_commit_leaves_postgres_as_it_was() {
    let moto = Moto::start();
    open_group(&moto, "db", 5432).await;
    let ws = Workspace::for_emulator_on(Backend::Postgres, &moto.endpoint, "");
    ws.kill_mid_commit(&["scan"]);
    // The held shard's transaction died with the connection: its pass is not
    // there (the others, read in parallel, may have committed theirs).
    let counts = ws.store(|s| s.pass_counts().unwrap());
    let ok_before = counts.get("ok").copied().unwrap_or(0);
    assert!(ok_before < 3, "the held shard committed: {counts:?}");

    ws.run(&["scan"]).assert_code(0);
    let (counts, revisions, open) = ws.store(|s| {
        (
            s.pass_counts().unwrap(),
            s.revisions_since(OffsetDateTime::UNIX_EPOCH).unwrap(),
            s.findings(&troop_core::store::FindingFilter::default()).unwrap(),
        )
    });
    assert_eq!(counts.get("ok"), Some(&(ok_before + 3)), "{counts:?}");
    assert!(revisions.iter().all(|r| r.revision == 1 && r.change == "created"), "no item written twice");
    let mut items: Vec<&str> = revisions.iter().map(|r| r.item.as_str()).collect();
    items.dedup();
    assert_eq!(items.len(), revisions.len());
    assert_eq!(open.len(), 1, "{open:#?}");
}

#[tokio::test]
async fn store_migrate_copies_a_sqlite_store_into_postgres_and_refuses_a_non_empty_one() {
    let moto = Moto::start();
    let group = open_group(&moto, "web", 3389).await;
    let ws = Workspace::for_emulator(&moto.endpoint, "");
    ws.run(&["scan"]).assert_code(0);
    // a change, a silence, a resolved finding: history to carry over
    let ec2 = moto.ec2("us-east-1").await;
    ec2.revoke_security_group_ingress().group_id(&group).ip_permissions(world_ingress(3389)).send().await.unwrap();
    ws.run(&["scan"]).assert_code(0);
    ws.run(&["silence", "add", "--match", "kind=sg-open-ingress", "--for", "2h", "--reason", "rollout", "--force"])
        .assert_code(0);
    let before: Vec<Value> = ["findings --state all", "changes --since 1h", "silence list"]
        .iter()
        .map(|v| json(&ws, &v.split(' ').collect::<Vec<_>>()))
        .collect();
    let sent = std::fs::read_to_string(ws.file("events.jsonl")).unwrap().lines().count();

    let cluster = troop_store::testing::PgCluster::start().unwrap();
    let target = cluster.fresh_db().unwrap();
    let r = ws.run(&["store", "migrate", "--from", "sqlite://troop.db", "--to", &target, "--format", "json"]);
    r.assert_code(0);
    let tables = r.json();
    for t in tables.as_array().unwrap() {
        assert_eq!(t["source"], t["target"], "{t}");
    }
    let rows = |name: &str| tables.as_array().unwrap().iter().find(|t| t["table"] == name).unwrap()["target"].clone();
    assert!(rows("revisions").as_i64().unwrap() >= 3, "{tables:#}");
    assert_eq!(rows("silences"), 1);
    assert!(rows("outbox").as_i64().unwrap() >= 2, "{tables:#}");

    // the same answers from the copy
    let cfg = std::fs::read_to_string(ws.file("troop.toml")).unwrap();
    ws.write_config(&cfg.replace("sqlite://troop.db", &target));
    let after: Vec<Value> = ["findings --state all", "changes --since 1h", "silence list"]
        .iter()
        .map(|v| json(&ws, &v.split(' ').collect::<Vec<_>>()))
        .collect();
    assert_eq!(before, after);
    // the alert log's cursor came along: nothing already sent is sent again
    ws.run(&["scan"]).assert_code(0);
    assert_eq!(std::fs::read_to_string(ws.file("events.jsonl")).unwrap().lines().count(), sent);

    let again = ws.run(&["store", "migrate", "--from", "sqlite://troop.db", "--to", &target]);
    again.assert_code(2);
    assert!(again.stderr.contains("not empty"), "{}", again.stderr);
    // and on from PostgreSQL to PostgreSQL, every table's count the same
    let onward = cluster.fresh_db().unwrap();
    let r = ws.run(&["store", "migrate", "--from", &target, "--to", &onward, "--format", "json"]);
    r.assert_code(0);
    for t in r.json().as_array().unwrap() {
        assert_eq!(t["source"], t["target"], "{t}");
    }
    let passes = r.json().as_array().unwrap().iter().find(|t| t["table"] == "passes").unwrap()["target"].clone();
    assert!(passes.as_i64().unwrap() > 6, "the scan on the copy came along: {passes}");
    ws.run(&["store", "migrate", "--from", &target, "--to", "sqlite://other.db"]).assert_code(2);
    let bad = ws.run(&["store", "migrate", "--from", "sqlite://nope.db", "--to", &target]);
    bad.assert_code(2);
}

/// `sslmode` means what it means to libpq, against a server that takes TLS
/// only: `require` encrypts without checking, `verify-ca` checks the chain,
/// `verify-full` the chain and the host; `disable` is turned away.
#[test]
fn sslmode_is_libpqs_against_a_tls_only_server() {
    use crate::support::tls;
    let (nb, na) = (tls::now() - time::Duration::days(1), tls::now() + time::Duration::days(30));
    let ca = tls::root("troop test db CA", nb, na);
    let other_ca = tls::root("someone else", nb, na);
    // issued for 127.0.0.1; a second server's certificate names another host
    let server = tls::leaf(&ca, &["127.0.0.1"], nb, na);
    let cluster = troop_store::testing::PgCluster::start_tls(&server.cert_pem, &server.key_pem).unwrap();
    let db = cluster.fresh_db().unwrap().replace("?sslmode=disable", "");
    let ws = Workspace::new("");
    std::fs::write(ws.file("ca.pem"), ca.pem()).unwrap();
    std::fs::write(ws.file("other.pem"), other_ca.pem()).unwrap();
    // a write verb (a read verb refuses a database troop never wrote to)
    let silence = ["silence", "add", "--match", "kind=x", "--for", "1h", "--reason", "tls", "--force"];
    let findings_with = |query: &str| {
        let cfg = format!("[agent]\nstore = \"{db}?{query}\"\n");
        ws.write_config(&cfg);
        ws.run(&silence)
    };
    let ca_file = ws.file("ca.pem").display().to_string();
    let other_file = ws.file("other.pem").display().to_string();
    findings_with(&format!("sslmode=verify-full&sslrootcert={ca_file}")).assert_code(0);
    findings_with(&format!("sslmode=verify-ca&sslrootcert={ca_file}")).assert_code(0);
    findings_with("sslmode=require").assert_code(0);
    findings_with("sslmode=prefer").assert_code(0);
    let untrusted = findings_with(&format!("sslmode=verify-full&sslrootcert={other_file}"));
    untrusted.assert_code(2);
    assert!(untrusted.stderr.to_lowercase().contains("certificate"), "{}", untrusted.stderr);
    let plain = findings_with("sslmode=disable");
    plain.assert_code(2);
    assert!(plain.stderr.contains("pg_hba.conf") || plain.stderr.contains("no encryption"), "{}", plain.stderr);

    // a certificate for another name: verify-ca accepts it, verify-full does not
    let elsewhere = tls::leaf(&ca, &["db.example"], nb, na);
    let cluster = troop_store::testing::PgCluster::start_tls(&elsewhere.cert_pem, &elsewhere.key_pem).unwrap();
    let db2 = cluster.fresh_db().unwrap().replace("?sslmode=disable", "");
    let run = |query: &str| {
        ws.write_config(&format!("[agent]\nstore = \"{db2}?{query}\"\n"));
        ws.run(&silence)
    };
    run(&format!("sslmode=verify-ca&sslrootcert={ca_file}")).assert_code(0);
    let wrong_host = run(&format!("sslmode=verify-full&sslrootcert={ca_file}"));
    wrong_host.assert_code(2);
    assert!(wrong_host.stderr.to_lowercase().contains("certificate"), "{}", wrong_host.stderr);
}

/// Two `troop run` replicas on one store share the shards: each shard is
/// read once per interval, by whichever replica gets to it, and both show
/// in `troop status`.
#[tokio::test]
async fn two_replicas_read_each_shard_once_per_interval() {
    let moto = Moto::start();
    open_group(&moto, "shared", 22).await;
    let ws = Workspace::for_emulator_on(Backend::Postgres, &moto.endpoint, "");
    let base = std::fs::read_to_string(ws.file("troop.toml")).unwrap();
    let with = |port: u16| {
        base.replace("[agent]\n", &format!("[agent]\nlisten = \"127.0.0.1:{port}\"\n"))
            .replace("[monkeys.security]\n", "[monkeys.security]\ninterval = \"15s\"\njitter = 0\n")
    };
    let (pa, pb) = (free_port(), free_port());
    std::fs::write(ws.file("a.toml"), with(pa)).unwrap();
    std::fs::write(ws.file("b.toml"), with(pb)).unwrap();
    let spawn = |cfg: &str| ws.cmd(&["-c", cfg, "run"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // A starts and reads every shard; B starts after: its first pass finds
    // them fresh (not due) instead of reading them again
    let t0 = std::time::Instant::now();
    let mut a = spawn("a.toml");
    let read = wait_for(Duration::from_secs(15), || {
        let st = ws.run(&["status", "--format", "json"]);
        let rows = serde_json::from_str::<Value>(&st.stdout).ok()?;
        let done = rows.as_array()?.iter().filter(|r| r["last_success"].is_string()).count();
        (done == 3).then_some(())
    });
    let mut b = spawn("b.toml");
    let both = wait_for(Duration::from_secs(15), || {
        let t = ws.run(&["status"]);
        t.stdout.contains("REPLICAS ALIVE: 2").then_some(())
    });
    // two rounds of 15 s: A's at 0 and 15 s; B's at its start and 15 s later find them fresh
    std::thread::sleep(Duration::from_secs(24).saturating_sub(t0.elapsed()));
    for p in [&mut a, &mut b] {
        let _ = std::process::Command::new("kill").args(["-TERM", &p.id().to_string()]).status();
    }
    for p in [&mut a, &mut b] {
        let _ = wait_for(Duration::from_secs(10), || p.try_wait().unwrap());
        let _ = p.kill();
    }
    assert!(read.is_some(), "the first replica read every shard");
    assert!(both.is_some(), "both replicas alive in `troop status`");
    let cluster = ws.pg.as_ref().unwrap();
    let db = ws.store_url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    let counts = cluster
        .psql_in(&db, "SELECT shard, COUNT(*) FROM passes WHERE status = 'ok' GROUP BY shard ORDER BY shard")
        .unwrap();
    let rows: Vec<&str> = counts.lines().collect();
    assert_eq!(rows.len(), 3, "the account and its two regions: {counts}");
    for row in &rows {
        let count: i64 = row.split('|').nth(1).unwrap().parse().unwrap();
        assert_eq!(count, 2, "each shard read once per round, two rounds: {counts}");
    }
}

/// A replica stalled past its lease (SIGSTOP) while reading a shard: another
/// takes the shard over and commits; woken (SIGCONT), the stalled one
/// learns it lost the lease and writes nothing: the store keeps the newer pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_stalled_past_its_lease_cannot_write_when_it_wakes() {
    use crate::support::proxy::FaultProxy;
    let moto = Moto::start();
    open_group(&moto, "stalled", 22).await;
    let ws = Workspace::for_emulator_on(Backend::Postgres, &moto.endpoint, "");
    let cfg = std::fs::read_to_string(ws.file("troop.toml")).unwrap().replace("[agent]\n", "[agent]\nlease = \"3s\"\n");
    ws.write_config(&cfg);
    // the stalled replica reads through a proxy that holds its S3 listing
    let proxy = FaultProxy::start(&moto.endpoint).await;
    std::fs::write(ws.file("slow.toml"), cfg.replace(&moto.endpoint, &proxy.endpoint)).unwrap();
    proxy.hold(&["ListBuckets"]);
    let slow = ws
        .cmd(&["-c", "slow.toml", "scan", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(60), || (proxy.arrived("ListBuckets") > 0).then_some(()))
        .expect("the slow replica reached its S3 listing");
    let pid = slow.id().to_string();
    std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    std::thread::sleep(Duration::from_secs(5)); // past its 3 s lease

    let fresh = ws.run(&["scan", "--format", "json"]);
    fresh.assert_code(0);
    let account = "security/123456789012";
    let holder = |ws: &Workspace| {
        let st = ws.run(&["status", "--format", "json"]);
        st.json().as_array().unwrap().iter().find(|r| r["shard"] == account).unwrap()["last_holder"].clone()
    };
    let newer = holder(&ws);

    proxy.release();
    std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    let out = tokio::task::spawn_blocking(move || slow.wait_with_output()).await.unwrap().unwrap();
    let slow = crate::support::Run::from(out);
    slow.assert_code(1);
    assert_eq!(slow.json()[0]["status"], "superseded", "{}", slow.stdout);
    let shards = slow.json()[0]["shards"].clone();
    let mine = shards.as_array().unwrap().iter().find(|s| s["shard"] == account).unwrap().clone();
    assert_eq!(mine["status"], "superseded", "{shards:#}");
    assert!(slow.stderr.contains("not stored"), "{}", slow.stderr);
    // the store still holds the newer pass, committed by the other replica
    assert_eq!(holder(&ws), newer);
    let counts = ws.store(|s| s.pass_counts().unwrap());
    assert_eq!(
        counts.get("ok"),
        Some(&5),
        "the slow replica's two regions and the fresh scan's three shards: {counts:?}"
    );
}

/// Two daemons on one store: one holds the gateway. Killed (SIGKILL) with a
/// notification pending, the other takes the gateway over and delivers it,
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_passes_to_another_replica_and_delivers_what_was_pending_once() {
    use crate::support::receiver::Receiver;
    let moto = Moto::start();
    open_group(&moto, "gw", 22).await;
    let hook = Receiver::start().await;
    hook.answer(503);
    let sinks = format!(
        "[alerts]\nretry_initial = \"100ms\"\nretry_max = \"400ms\"\ngroup_wait = \"0s\"\ngroup_interval = \"1s\"\n\
         [[alerts.sinks]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n",
        hook.url
    );
    let ws = Workspace::for_emulator_on(Backend::Postgres, &moto.endpoint, &sinks);
    let base = std::fs::read_to_string(ws.file("troop.toml")).unwrap();
    // the first pass at once (no jitter in the first delay)
    let with = |port: u16| {
        base.replace("[agent]\n", &format!("[agent]\nlisten = \"127.0.0.1:{port}\"\n"))
            .replace("[monkeys.security]\n", "[monkeys.security]\ninterval = \"1h\"\njitter = 0\n")
    };
    std::fs::write(ws.file("a.toml"), with(free_port())).unwrap();
    std::fs::write(ws.file("b.toml"), with(free_port())).unwrap();
    let spawn = |cfg: &str| ws.cmd(&["-c", cfg, "run"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let mut daemons = [spawn("a.toml"), spawn("b.toml")];
    // one of them reads the group and tries to deliver (refused: pending)
    let tried = wait_for(Duration::from_secs(60), || (hook.received().len() >= 2).then_some(()));
    let cluster = ws.pg.as_ref().unwrap();
    let db = ws.store_url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    let holder = cluster.psql_in(&db, "SELECT owner FROM alert_lease WHERE until > 0").unwrap();
    let pid: u32 = holder.trim().split(':').nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    let (gone, other) = if daemons[0].id() == pid { (0, 1) } else { (1, 0) };
    daemons[gone].kill().unwrap(); // SIGKILL: its lease is left behind
    daemons[gone].wait().unwrap();
    hook.answer(200);
    let delivered = wait_for(Duration::from_secs(60), || (!hook.accepted().is_empty()).then_some(()));
    std::thread::sleep(Duration::from_secs(3)); // anything sent twice would arrive by now
    let _ = daemons[other].kill();
    let _ = daemons[other].wait();
    assert!(tried.is_some(), "nobody tried the receiver");
    assert!(pid == daemons[0].id() || pid == daemons[1].id(), "the lease names a daemon: {holder}");
    assert!(delivered.is_some(), "the pending notification was never delivered");
    let ids: Vec<String> =
        hook.accepted().iter().map(|r| r.json()["id"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(ids.len(), 1, "delivered once: {ids:?}");
    let now_holder = cluster.psql_in(&db, "SELECT owner FROM alert_lease").unwrap();
    assert!(now_holder.contains(&format!(":{}:", daemons[other].id())), "{now_holder}");
}

/// A role that may only read reads (troop sets nothing up on an up-to-date
/// store), and a database that holds another application's `findings` is
/// refused with the server's reason.
#[test]
fn a_read_only_role_reads_and_a_foreign_table_is_named() {
    let cluster = troop_store::testing::PgCluster::start().unwrap();
    let url = cluster.fresh_db().unwrap();
    let db = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    let ws = Workspace::new(&format!("[agent]\nstore = \"{url}\"\n"));
    ws.run(&["silence", "add", "--match", "kind=x", "--for", "1h", "--reason", "ro", "--force"]).assert_code(0);
    cluster
        .psql_in(
            &db,
            "CREATE ROLE reader LOGIN; GRANT USAGE ON SCHEMA public TO reader; \
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader; REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        )
        .unwrap();
    let ro = url.replace("troop@", "reader@");
    std::fs::write(ws.file("ro.toml"), format!("[agent]\nstore = \"{ro}\"\n")).unwrap();
    for verb in [&["silence", "list"][..], &["findings"], &["status"], &["alerts", "status"], &["changes"]] {
        let mut args = vec!["-c", "ro.toml"];
        args.extend(verb);
        let r = ws.run(&args);
        r.assert_code(0);
    }

    let other = cluster.fresh_db().unwrap();
    let other_db = other.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    cluster.psql_in(&other_db, "CREATE TABLE findings (id int)").unwrap();
    std::fs::write(ws.file("other.toml"), format!("[agent]\nstore = \"{other}\"\n")).unwrap();
    let r =
        ws.run(&["-c", "other.toml", "silence", "add", "--match", "kind=x", "--for", "1h", "--reason", "x", "--force"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("already exists") && r.stderr.contains("database (or schema) of its own"),
        "{}",
        r.stderr
    );
    // and a read verb still finds no store there
    ws.run(&["-c", "other.toml", "findings"]).assert_code(2);
}
