//! ECR repositories: the repository policy (who may pull or push) and tag
//! mutability, from `DescribeRepositories` and `GetRepositoryPolicy`
//! (<https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_GetRepositoryPolicy.html>).
//! Every ECR request is signed (docker logs in with a token from a signed
//! call), so a grant to `*` opens the repository to any AWS principal.

use super::AuditContext;
use super::exposure::{self, Callers, Subject};
use crate::finding::Finding;
use crate::monkey::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const TECHNOLOGY: &str = "ecr:repository";
const CALLERS: Callers = Callers::SignedOnly;
const POLICY: &str = "repository policy";

/// One repository, named by its repository name, in its region.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Repository {
    pub name: String,
    pub arn: String,
    /// The repository policy, normalised; `Null` when none is set.
    pub policy: Value,
    /// `MUTABLE` or `IMMUTABLE`.
    pub image_tag_mutability: String,
}

impl Repository {
    pub fn snapshot(&self, account: &str, region: &str) -> Snapshot {
        Snapshot::new(TECHNOLOGY, account, region, &self.name, &serde_json::to_value(self).unwrap_or_default())
    }
}

pub fn summarize(old: &Repository, new: &Repository) -> (Vec<String>, &'static [&'static str]) {
    let mut out = exposure::policy_sentences(POLICY, &new.arn, &old.policy, &new.policy, CALLERS);
    if old.image_tag_mutability != new.image_tag_mutability {
        out.push(format!("image tags now {}", new.image_tag_mutability.to_lowercase()));
    }
    (out, &["policy", "image_tag_mutability"])
}

/// `ecr-policy-public`, `ecr-policy-foreign-account`.
pub fn audit(r: &Repository, region: &str, ctx: &AuditContext) -> Vec<Finding> {
    let ways = exposure::exposure(&r.policy, &r.arn, CALLERS, ctx.into());
    let subject = Subject {
        technology: TECHNOLOGY,
        service: "ecr",
        policy: POLICY,
        account: &ctx.account,
        region,
        name: &r.name,
    };
    exposure::findings(subject, &ways)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::policy;
    use serde_json::json;

    #[test]
    fn a_pull_for_anyone_is_public_and_tag_mutability_is_said() {
        let repo = |policy: Value, m: &str| Repository {
            name: "app".into(),
            arn: "arn:aws:ecr:us-east-1:111111111111:repository/app".into(),
            policy,
            image_tag_mutability: m.into(),
        };
        let pull = policy::normalize(&json!({"Statement": [{"Sid": "Pull", "Effect": "Allow", "Principal": "*",
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]}));
        let ctx = AuditContext { account: "111111111111".into(), ..Default::default() };
        let f = audit(&repo(pull.clone(), "MUTABLE"), "us-east-1", &ctx);
        assert_eq!(f.iter().map(|f| f.kind.as_str()).collect::<Vec<_>>(), ["ecr-policy-public"]);
        assert_eq!(
            f[0].title,
            "repository app: repository policy allows any AWS principal ecr:BatchGetImage, ecr:GetDownloadUrlForLayer through statement \"Pull\""
        );
        assert_eq!(
            summarize(&repo(Value::Null, "MUTABLE"), &repo(Value::Null, "IMMUTABLE")).0,
            ["image tags now immutable"]
        );
    }
}
