//! `[[aws.accounts]]` with STS AssumeRole, and the ambient endpoint override.
//! moto keeps a separate estate per account and maps assumed-role credentials
//! to the role's account, so cross-account reads are real here.

use crate::support::{Moto, Workspace};
use aws_credential_types::provider::SharedCredentialsProvider;

async fn open_group(ec2: &aws_sdk_ec2::Client, name: &str, port: i32) -> String {
    let vpc = ec2.create_vpc().cidr_block("10.9.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let g = ec2.create_security_group().group_name(name).description(name).vpc_id(vpc).send().await.unwrap();
    let g = g.group_id.unwrap();
    let perm = crate::support::world_ingress(port);
    ec2.authorize_security_group_ingress().group_id(&g).ip_permissions(perm).send().await.unwrap();
    g
}

const ROLE: &str = "arn:aws:iam::111111111111:role/troop-readonly";

#[tokio::test]
async fn each_account_is_read_with_its_own_credentials() {
    let moto = Moto::start();
    let base = moto.sdk("us-east-1").await;
    let in_a = open_group(&aws_sdk_ec2::Client::new(&base), "a-ssh", 22).await;
    let provider =
        aws_config::sts::AssumeRoleProvider::builder(ROLE).session_name("seed").configure(&base).build().await;
    let as_b = base.to_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build();
    let in_b = open_group(&aws_sdk_ec2::Client::new(&as_b), "b-rdp", 3389).await;

    let ws = Workspace::new(&format!(
        r#"
[aws]
regions = ["us-east-1"]
endpoint_url = "{}"
[[aws.accounts]]
id = "123456789012"
name = "prod"
[[aws.accounts]]
id = "111111111111"
name = "shared"
role_arn = "{ROLE}"
labels = {{ team = "core" }}
[monkeys.certs]
enabled = false
[monkeys.limits]
services = ["s3"]
service_quotas = false
[monkeys.limits.overrides."s3/L-DC2B2D3D"]
limit = 1
"#,
        moto.endpoint
    ));
    // one bucket in the first account: at its (overridden) limit of 1
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&base).force_path_style(true).build())
        .create_bucket()
        .bucket("prod-logs")
        .send()
        .await
        .unwrap();
    ws.run(&["scan"]).assert_code(0);
    // every monkey's findings carry the account's name and labels, not only the security monkey's
    let q = ws.run(&["findings", "--monkey", "limits", "--format", "json"]).json();
    assert_eq!(q.as_array().unwrap().len(), 1, "{q:#}");
    assert_eq!(
        (q[0]["account"].as_str(), q[0]["labels"]["account_name"].as_str()),
        (Some("123456789012"), Some("prod"))
    );
    let r = ws.run(&["findings", "--monkey", "security", "--format", "json"]);
    let f = r.json();
    let mut got: Vec<(String, String, String)> = f
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "sg-open-ingress")
        .map(|x| {
            (x["account"].as_str().unwrap().into(), x["resource"].as_str().unwrap().into(), x["labels"].to_string())
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("111111111111".to_string(), in_b, r#"{"account_name":"shared","team":"core"}"#.to_string()),
            ("123456789012".to_string(), in_a, r#"{"account_name":"prod"}"#.to_string()),
        ]
    );
}

#[tokio::test]
async fn aws_endpoint_url_from_the_environment_is_honoured() {
    let moto = Moto::start();
    let g = open_group(&moto.ec2("us-east-1").await, "env-endpoint", 22).await;
    let ws = Workspace::new(
        "[aws]\nregions = [\"us-east-1\"]\n[monkeys.certs]\nenabled = false\n[monkeys.limits]\nenabled = false\n",
    );
    let out = ws.cmd(&["scan"]).env("AWS_ENDPOINT_URL", &moto.endpoint).output().unwrap();
    crate::support::Run::from(out).assert_code(0);
    let r = ws.run(&["findings", "--format", "json"]);
    assert_eq!(r.json()[0]["resource"], g.as_str());
}
