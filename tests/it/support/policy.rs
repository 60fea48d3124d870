//! `deploy/iam/troop-readonly.json`, the policy the README tells operators to
//! give troop's role, and `deploy/iam/troop-organization.json`, what the
//! identity troop starts from needs besides to read an organization and
//! assume the member roles, must allow every AWS call a scan makes: scans
//! that reach each service check their calls against them.

use super::{Run, Workspace};
use serde_json::Value;

/// The IAM action for an SDK call (`Metadata` service name and operation).
fn action(service: &str, operation: &str) -> String {
    let prefix = match service {
        "EC2" => "ec2",
        "IAM" => "iam",
        "S3" | "S3 Control" => "s3",
        "STS" => "sts",
        "ACM" => "acm",
        "Route 53" => "route53",
        "CloudFront" => "cloudfront",
        "CloudTrail" => "cloudtrail",
        "Elastic Load Balancing v2" => "elasticloadbalancing",
        "Auto Scaling" => "autoscaling",
        "Service Quotas" => "servicequotas",
        "Organizations" => "organizations",
        "KMS" => "kms",
        "SQS" => "sqs",
        "SNS" => "sns",
        "Lambda" => "lambda",
        "ECR" => "ecr",
        "Secrets Manager" => "secretsmanager",
        "RDS" => "rds",
        other => panic!("no IAM prefix known for the SDK service `{other}`: add it here and to the policy"),
    };
    // where the permission's name is not the operation's
    let name = match (service, operation) {
        ("S3", "ListBuckets") => "ListAllMyBuckets",
        ("S3", "GetPublicAccessBlock") => "GetBucketPublicAccessBlock",
        ("S3 Control", "GetPublicAccessBlock") => "GetAccountPublicAccessBlock",
        _ => operation,
    };
    format!("{prefix}:{name}")
}

fn allowed() -> Vec<String> {
    let mut out = Vec::new();
    for file in ["troop-readonly.json", "troop-organization.json"] {
        let path = format!("{}/deploy/iam/{file}", env!("CARGO_MANIFEST_DIR"));
        let policy: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for st in policy["Statement"].as_array().unwrap() {
            let actions: Vec<String> =
                st["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
            // every statement allows; only the member role is named as a resource
            let resource = if actions == ["sts:AssumeRole"] { "arn:aws:iam::*:role/troop-readonly" } else { "*" };
            assert_eq!((st["Effect"].as_str(), st["Resource"].as_str()), (Some("Allow"), Some(resource)), "{st}");
            out.extend(actions);
        }
    }
    out
}

/// Every call in a `troop scan --format json` summary is allowed.
pub fn assert_allows(scan: &Value) {
    let allowed = allowed();
    let mut calls = 0;
    for monkey in scan.as_array().unwrap() {
        for op in monkey["aws_api_calls_by_operation"].as_object().unwrap().keys() {
            let (service, operation) = op.split_once(':').unwrap();
            let action = action(service, operation);
            // GetCallerIdentity needs no permission
            assert!(
                action == "sts:GetCallerIdentity" || allowed.contains(&action),
                "deploy/iam/troop-{{readonly,organization}}.json do not allow {action}, which the {} monkey calls",
                monkey["monkey"]
            );
            calls += 1;
        }
    }
    assert!(calls > 0, "the scan made no AWS calls: nothing checked");
}

/// `troop scan ARGS --format json`, which must succeed, its calls checked
/// against the policy.
pub fn scan(ws: &Workspace, args: &[&str]) -> Run {
    let mut a = vec!["scan"];
    a.extend(args);
    a.extend(["--format", "json"]);
    let r = ws.run(&a);
    r.assert_code(0);
    assert_allows(&r.json());
    r
}
