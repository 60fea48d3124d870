//! `[aws.organization]`: an AWS Organization on the emulator (moto serves
//! Organizations and lets STS AssumeRole into any account id), read through
//! the OU walk, tag filters, member roles, and the accounts that leave or
//! cannot be assumed.

use crate::support::proxy::{Fault, FaultProxy};
use crate::support::{Moto, Workspace, free_port, policy};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_organizations::types::Tag;
use serde_json::Value;

struct Org {
    root: String,
    prod: String,
    sandbox: String,
}

async fn organization(orgs: &aws_sdk_organizations::Client) -> Org {
    orgs.create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    let root = orgs.list_roots().send().await.unwrap().roots()[0].id().unwrap().to_string();
    let ou = |name: &'static str, parent: String| {
        let orgs = orgs.clone();
        async move {
            let out = orgs.create_organizational_unit().parent_id(parent).name(name).send().await.unwrap();
            out.organizational_unit.unwrap().id.unwrap()
        }
    };
    let prod = ou("prod", root.clone()).await;
    let sandbox = ou("sandbox", root.clone()).await;
    Org { root, prod, sandbox }
}

/// A member account in `parent`, with `tags`: its id.
async fn account(
    orgs: &aws_sdk_organizations::Client,
    org: &Org,
    name: &str,
    parent: &str,
    tags: &[(&str, &str)],
) -> String {
    let mut req = orgs.create_account().account_name(name).email(format!("{name}@example.com"));
    for (k, v) in tags {
        req = req.tags(Tag::builder().key(*k).value(*v).build().unwrap());
    }
    let id = req.send().await.unwrap().create_account_status.unwrap().account_id.unwrap();
    orgs.move_account().account_id(&id).source_parent_id(&org.root).destination_parent_id(parent).send().await.unwrap();
    id
}

/// Open tcp/22 to the world in `account`, through its member role: the group's id.
async fn open_ssh(base: &aws_config::SdkConfig, account: &str) -> String {
    let role = format!("arn:aws:iam::{account}:role/troop-readonly");
    let provider =
        aws_config::sts::AssumeRoleProvider::builder(role).session_name("seed").configure(base).build().await;
    let sdk = base.to_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build();
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let vpc = ec2.create_vpc().cidr_block("10.7.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let g = ec2.create_security_group().group_name("ssh").description("ssh").vpc_id(vpc).send().await.unwrap();
    let g = g.group_id.unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(&g)
        .ip_permissions(crate::support::world_ingress(22))
        .send()
        .await
        .unwrap();
    g
}

/// The open findings of `kind`: (account, resource, labels).
fn open(ws: &Workspace, kind: &str) -> Vec<(String, String, Value)> {
    let f = ws.run(&["findings", "--format", "json"]).json();
    let mut out: Vec<(String, String, Value)> = f
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == kind)
        .map(|x| (x["account"].as_str().unwrap().into(), x["resource"].as_str().unwrap().into(), x["labels"].clone()))
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

fn config(moto: &str, org: &str, extra_endpoints: &str) -> String {
    format!(
        r#"
[aws]
regions = ["us-east-1"]
endpoint_url = "{moto}"
{extra_endpoints}
[aws.organization]
role_name = "troop-readonly"
{org}
refresh = "1s"
[monkeys.certs]
enabled = false
[monkeys.limits]
enabled = false
"#
    )
}

#[tokio::test]
async fn accounts_under_an_ou_with_a_tag_and_listed_ones_are_read_through_their_roles_and_one_that_leaves_is_kept() {
    let moto = Moto::start();
    let base = moto.sdk("us-east-1").await;
    let orgs = aws_sdk_organizations::Client::new(&base);
    let org = organization(&orgs).await;
    // prod/web, nested: found by the walk below prod
    let web_ou = orgs
        .create_organizational_unit()
        .parent_id(&org.prod)
        .name("web")
        .send()
        .await
        .unwrap()
        .organizational_unit
        .unwrap()
        .id
        .unwrap();
    let web = account(&orgs, &org, "web", &web_ou, &[("env", "prod"), ("team", "web")]).await;
    let data = account(&orgs, &org, "data", &org.prod, &[("env", "prod")]).await;
    let staging = account(&orgs, &org, "staging", &org.prod, &[("env", "staging")]).await;
    let sandbox = account(&orgs, &org, "sandbox", &org.sandbox, &[("env", "prod")]).await;
    let mut groups = std::collections::BTreeMap::new();
    for a in [&web, &data, &staging, &sandbox] {
        groups.insert(a.clone(), open_ssh(&base, a).await);
    }

    // [[aws.accounts]] beside the organization: sandbox (outside the OU) is
    // read too, and web's own entry says how web is read and labelled
    let role = |a: &str| format!("arn:aws:iam::{a}:role/troop-readonly");
    let statics = format!(
        "[[aws.accounts]]\nid = \"{sandbox}\"\nname = \"sandbox-static\"\nrole_arn = \"{}\"\n\
         [[aws.accounts]]\nid = \"{web}\"\nname = \"web-static\"\nrole_arn = \"{}\"\nlabels = {{ team = \"override\" }}\n",
        role(&sandbox),
        role(&web)
    );
    let ws = Workspace::new(&config(
        &moto.endpoint,
        &format!("ou_ids = [\"{}\"]\naccount_tags = {{ env = \"prod\" }}", org.prod),
        &statics,
    ));
    // every call made is one the published policies allow
    policy::scan(&ws, &[]);
    let label = |name: &str, extra: &[(&str, &str)]| {
        let mut l = serde_json::json!({"account_name": name, "env": "prod"});
        for (k, v) in extra {
            l[*k] = Value::from(*v);
        }
        l
    };
    let mut want = vec![
        (web.clone(), groups[&web].clone(), serde_json::json!({"account_name": "web-static", "team": "override"})),
        (data.clone(), groups[&data].clone(), label("data", &[])),
        (sandbox.clone(), groups[&sandbox].clone(), serde_json::json!({"account_name": "sandbox-static"})),
    ];
    want.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    // staging (another tag) and the management account (the root) are not read
    assert_eq!(open(&ws, "sg-open-ingress"), want);
    // the organization's accounts are its own: a role trusting the management account is no finding
    assert_eq!(open(&ws, "iam-trust-foreign-account"), vec![]);
    let status = ws.run(&["status", "--format", "json"]).json();
    let accounts: std::collections::BTreeSet<String> =
        status.as_array().unwrap().iter().filter_map(|s| s["account"].as_str().map(str::to_string)).collect();
    assert_eq!(accounts, [web.clone(), data.clone(), sandbox.clone()].into(), "{status:#}");

    // data leaves the organization: no longer read, and what troop knew of it is kept
    orgs.remove_account_from_organization().account_id(&data).send().await.unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100)); // past refresh
    ws.run(&["scan"]).assert_code(0);
    assert_eq!(open(&ws, "sg-open-ingress"), want, "data's finding stays as it was");
    let item = format!("ec2:security-group/{data}/us-east-1/{}", groups[&data]);
    let history = ws.run(&["history", &item, "--format", "json"]).json();
    let changes: Vec<&str> = history.as_array().unwrap().iter().map(|r| r["change"].as_str().unwrap()).collect();
    assert_eq!(changes, ["created"], "the group of an account that left is not marked deleted: {history:#}");
    let status = ws.run(&["status", "--format", "json"]).json();
    assert!(
        status.as_array().unwrap().iter().all(|s| s["account"] != data.as_str()),
        "an account that left has no shard: {status:#}"
    );
}

// the fault proxy runs on the test's runtime while the binary runs
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_whose_role_cannot_be_assumed_gives_one_read_error_and_the_others_are_read() {
    let moto = Moto::start();
    let base = moto.sdk("us-east-1").await;
    let orgs = aws_sdk_organizations::Client::new(&base);
    let org = organization(&orgs).await;
    let good = account(&orgs, &org, "good", &org.prod, &[]).await;
    let locked = account(&orgs, &org, "locked", &org.prod, &[]).await;
    let g = open_ssh(&base, &good).await;
    let _ = open_ssh(&base, &locked).await;
    // STS refuses the role of one account, as when its trust policy does not name troop
    let sts = FaultProxy::start(&moto.endpoint).await;
    sts.set(vec![Fault::query(&["Action=AssumeRole", &format!("iam%3A%3A{locked}%3Arole")], 403, "AccessDenied")]);
    let ws = Workspace::new(&config(&moto.endpoint, "", &format!("[aws.endpoints]\nsts = \"{}\"", sts.endpoint)));
    let r = ws.run(&["scan", "--format", "json"]);
    let errors = open(&ws, "read-error");
    assert_eq!(
        errors.len(),
        1,
        "one read-error for the account, not one per technology or region: {errors:?}\n{}\n{}",
        r.stdout,
        r.stderr
    );
    // the pass is ok: one account unreadable is a finding, not a failed pass
    r.assert_code(0);
    assert_eq!((errors[0].0.as_str(), errors[0].1.as_str()), (locked.as_str(), locked.as_str()));
    let f = ws.run(&["findings", "--format", "json"]).json();
    let title = f.as_array().unwrap().iter().find(|x| x["kind"] == "read-error").unwrap()["title"].clone();
    assert!(
        title.as_str().unwrap().contains(&format!("arn:aws:iam::{locked}:role/troop-readonly"))
            && title.as_str().unwrap().contains("AccessDenied"),
        "{title}"
    );
    let read: Vec<String> = open(&ws, "sg-open-ingress").into_iter().map(|(a, r, _)| format!("{a}/{r}")).collect();
    assert!(read.contains(&format!("{good}/{g}")), "{read:?}");
    assert!(read.iter().all(|x| !x.starts_with(&locked)), "{read:?}");

    // access granted: the read-error resolves and the account is read
    sts.set(vec![]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ws.run(&["scan"]).assert_code(0);
    assert_eq!(open(&ws, "read-error"), vec![]);
    assert!(open(&ws, "sg-open-ingress").iter().any(|(a, _, _)| *a == locked));
}

/// An organization of `n` member accounts under one OU, each with tcp/22
/// open to the world in us-east-1: the accounts' ids.
async fn estate(moto: &Moto, n: usize) -> Vec<String> {
    let base = moto.sdk("us-east-1").await;
    let orgs = aws_sdk_organizations::Client::new(&base);
    let org = organization(&orgs).await;
    let mut ids = Vec::new();
    for i in 0..n {
        let id = account(&orgs, &org, &format!("member-{i:02}"), &org.prod, &[("env", "prod")]).await;
        open_ssh(&base, &id).await;
        ids.push(id);
    }
    ids
}

/// An organization of `n` accounts on the emulator, a PostgreSQL store and
/// a webhook receiver that accepts every notification.
struct Replicas {
    moto: Moto,
    accounts: Vec<String>,
    /// The OU the accounts are in.
    ou: String,
    hook: crate::support::receiver::Receiver,
    ws: Workspace,
}

async fn replicas(n: usize) -> Replicas {
    let moto = Moto::start();
    let accounts = estate(&moto, n).await;
    let hook = crate::support::receiver::Receiver::start().await;
    let sinks = format!(
        "[alerts]\ngroup_wait = \"0s\"\ngroup_interval = \"1s\"\n[[alerts.sinks]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n",
        hook.url
    );
    let ws = Workspace::for_emulator_on(crate::support::Backend::Postgres, &moto.endpoint, &sinks);
    let orgs = aws_sdk_organizations::Client::new(&moto.sdk("us-east-1").await);
    let ou = orgs.list_parents().child_id(&accounts[0]).send().await.unwrap().parents()[0].id().unwrap().to_string();
    Replicas { moto, accounts, ou, hook, ws }
}

/// The config of a replica of `troop run` on the PostgreSQL store, reading
/// the organization's `ou` at `aws` (the emulator or a proxy in front of it)
/// every `interval`, with leases of `lease`, on a free port.
fn replicas_config(ws: &Workspace, aws: &str, ou: &str, interval: &str, lease: &str) -> String {
    let base = std::fs::read_to_string(ws.file("troop.toml")).unwrap();
    let endpoint = base.lines().find(|l| l.starts_with("endpoint_url")).unwrap().to_string();
    base.replace(&endpoint, &format!("endpoint_url = \"{aws}\""))
        .replace("[agent]\n", &format!("[agent]\nlease = \"{lease}\"\nlisten = \"127.0.0.1:{}\"\n", free_port()))
        .replace(
            "[monkeys.certs]\n",
            &format!("[aws.organization]\nrole_name = \"troop-readonly\"\nou_ids = [\"{ou}\"]\n[monkeys.certs]\n"),
        )
        .replace("[monkeys.security]\n", &format!("[monkeys.security]\ninterval = \"{interval}\"\njitter = 0\n"))
}

/// Successful passes per shard, from the pass log (`passes`): (count, owners).
fn passes_by_shard(ws: &Workspace) -> std::collections::BTreeMap<String, (i64, Vec<String>)> {
    let cluster = ws.pg.as_ref().unwrap();
    let db = ws.store_url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    let rows = cluster
        .psql_in(
            &db,
            "SELECT shard, COUNT(*), string_agg(DISTINCT owner, ',') FROM passes WHERE status = 'ok' GROUP BY shard",
        )
        .unwrap_or_default(); // none before the first replica creates the schema
    rows.lines()
        .filter_map(|l| {
            let mut p = l.split('|');
            let shard = p.next()?.to_string();
            let n = p.next()?.parse().ok()?;
            let owners = p.next().unwrap_or_default().split(',').map(str::to_string).collect();
            Some((shard, (n, owners)))
        })
        .collect()
}

/// No notification reached `hook` twice and no finding was announced in
/// two: how many findings were announced.
fn each_sent_once(hook: &crate::support::receiver::Receiver) -> usize {
    let sent = delivered(hook);
    let ids: std::collections::BTreeSet<&String> = sent.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), sent.len(), "a notification reached the receiver twice: {sent:?}");
    let mut announced: Vec<&String> = sent.iter().flat_map(|(_, f)| f).collect();
    let all = announced.len();
    announced.sort();
    announced.dedup();
    assert_eq!(announced.len(), all, "a finding was announced twice: {sent:?}");
    all
}

/// Each notification a receiver accepted: (id, the fingerprints it
/// announced as new or escalated: `changed`).
fn delivered(hook: &crate::support::receiver::Receiver) -> Vec<(String, Vec<String>)> {
    hook.accepted()
        .iter()
        .map(|r| {
            let n = r.json();
            let changed = n["changed"].as_array().cloned().unwrap_or_default();
            let fps = changed.iter().filter_map(|f| f.as_str().map(str::to_string)).collect();
            (n["id"].as_str().unwrap_or_default().to_string(), fps)
        })
        .collect()
}

fn stop(mut daemons: Vec<std::process::Child>) {
    for p in &daemons {
        let _ = std::process::Command::new("kill").args(["-TERM", &p.id().to_string()]).status();
    }
    for p in &mut daemons {
        let _ = crate::support::wait_for(std::time::Duration::from_secs(10), || p.try_wait().unwrap());
        let _ = p.kill();
        let _ = p.wait();
    }
}

/// Three replicas, one PostgreSQL, an organization of 30 accounts in two
/// regions: every shard is read once per round, the work is shared, and no
/// notification reaches the receiver twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_read_an_organization_of_thirty_accounts_once_per_round() {
    use std::process::Stdio;
    use std::time::Duration;
    let Replicas { moto, accounts, ou, hook, ws } = replicas(30).await;
    let mut daemons = Vec::new();
    for name in ["a", "b", "c"] {
        let file = format!("{name}.toml");
        std::fs::write(ws.file(&file), replicas_config(&ws, &moto.endpoint, &ou, "40s", "60s")).unwrap();
        daemons.push(ws.cmd(&["-c", &file, "run"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    }
    // 30 accounts × (the account, us-east-1, eu-west-1)
    let shards = 90;
    let t0 = std::time::Instant::now();
    let first = crate::support::wait_for(Duration::from_secs(38), || {
        let p = passes_by_shard(&ws);
        (p.len() == shards && p.values().all(|(n, _)| *n == 1)).then_some(t0.elapsed())
    });
    // the second round starts 40 s after the first: each shard read once more
    let second = crate::support::wait_for(Duration::from_secs(75).saturating_sub(t0.elapsed()), || {
        let p = passes_by_shard(&ws);
        (p.len() == shards && p.values().all(|(n, _)| *n >= 2)).then_some(t0.elapsed())
    });
    let counts = passes_by_shard(&ws);
    // wait for the notifications of the last findings, then stop
    std::thread::sleep(Duration::from_secs(3));
    stop(daemons);
    assert!(first.is_some(), "the first round read every shard once: {counts:?}");
    assert!(second.is_some(), "the second round read every shard again: {counts:?}");
    assert_eq!(counts.len(), shards, "{counts:?}");
    for (shard, (n, _)) in &counts {
        assert_eq!(*n, 2, "{shard} read once per round, two rounds: {counts:?}");
        assert!(accounts.iter().any(|a| shard.contains(a.as_str())), "only the organization's accounts: {shard}");
    }
    let owners: std::collections::BTreeSet<&String> = counts.values().flat_map(|(_, o)| o).collect();
    assert!(owners.len() >= 2, "the replicas shared the work: {owners:?}");
    // each notification once, each finding announced once
    let announced = each_sent_once(&hook);
    assert!(announced >= 30, "every account's open group announced: {announced}");
}

/// A replica killed (SIGKILL) in the middle of its pass, holding shards:
/// the other two take them over once the lease lapses, within lease + one
/// interval; nothing is lost and no notification is sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_pass_loses_its_shards_to_the_others_within_lease_and_interval() {
    use crate::support::proxy::FaultProxy;
    use std::process::Stdio;
    use std::time::Duration;
    let Replicas { moto, accounts, ou, hook, ws } = replicas(6).await;
    let (lease, interval) = (Duration::from_secs(4), Duration::from_secs(12));
    // the victim reads through a proxy that holds its security-group listings: it holds their leases
    let proxy = FaultProxy::start(&moto.endpoint).await;
    proxy.hold(&["DescribeSecurityGroups"]);
    std::fs::write(ws.file("victim.toml"), replicas_config(&ws, &proxy.endpoint, &ou, "12s", "4s")).unwrap();
    for name in ["a", "b"] {
        std::fs::write(ws.file(&format!("{name}.toml")), replicas_config(&ws, &moto.endpoint, &ou, "12s", "4s"))
            .unwrap();
    }
    let spawn = |file: &str| ws.cmd(&["-c", file, "run"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let mut victim = spawn("victim.toml");
    crate::support::wait_for(Duration::from_secs(60), || (proxy.arrived("DescribeSecurityGroups") >= 2).then_some(()))
        .expect("the victim reached its security-group listings");
    let survivors = vec![spawn("a.toml"), spawn("b.toml")];
    std::thread::sleep(Duration::from_secs(1));
    victim.kill().unwrap(); // SIGKILL: its leases are left behind
    victim.wait().unwrap();
    let killed = std::time::Instant::now();
    let shards = accounts.len() * 3;
    let done = crate::support::wait_for(lease + interval + Duration::from_secs(10), || {
        let p = passes_by_shard(&ws);
        (p.len() == shards).then_some(killed.elapsed())
    });
    std::thread::sleep(Duration::from_secs(3));
    let counts = passes_by_shard(&ws);
    let metrics: Vec<String> = ["a.toml", "b.toml"]
        .iter()
        .map(|f| {
            let cfg = std::fs::read_to_string(ws.file(f)).unwrap();
            let listen = cfg.lines().find(|l| l.starts_with("listen")).unwrap().split('"').nth(1).unwrap().to_string();
            crate::support::http_get(&listen, "/metrics").map(|(_, b)| b).unwrap_or_default()
        })
        .collect();
    stop(survivors);
    let done = done.unwrap_or_else(|| panic!("the victim's shards were never done: {counts:?}"));
    assert!(
        done <= lease + interval + Duration::from_secs(5),
        "done {done:?} after the kill: lease + interval + slack"
    );
    let takeovers: f64 = metrics
        .iter()
        .flat_map(|m| m.lines())
        .filter(|l| l.starts_with("troop_shard_takeovers_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(takeovers >= 1.0, "the survivors took the victim's shards over: {metrics:?}");
    // nothing lost: every account's open group is a finding; nothing sent twice
    let open_groups = open(&ws, "sg-open-ingress");
    for a in &accounts {
        assert!(open_groups.iter().any(|(acct, _, _)| acct == a), "{a}'s open group: {open_groups:?}");
    }
    each_sent_once(&hook);
    proxy.release();
}
