//! Secrets Manager secrets: the resource policy, the KMS key and rotation,
//! from `ListSecrets` and `GetResourcePolicy`
//! (<https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetResourcePolicy.html>).
//! Never the secret's value. Every request is signed, so a grant to `*`
//! opens the secret to any AWS principal.

use super::AuditContext;
use super::exposure::{self, Callers, Subject};
use crate::finding::Finding;
use crate::monkey::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const TECHNOLOGY: &str = "secretsmanager:secret";
const CALLERS: Callers = Callers::SignedOnly;
const POLICY: &str = "secret policy";

/// One secret, named by its name, in its region.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Secret {
    pub name: String,
    pub arn: String,
    /// The resource policy, normalised; `Null` when none is set.
    pub policy: Value,
    /// `KmsKeyId`; `None`: the AWS-managed key `aws/secretsmanager`.
    pub kms_key_id: Option<String>,
    pub rotation_enabled: bool,
}

impl Secret {
    pub fn snapshot(&self, account: &str, region: &str) -> Snapshot {
        Snapshot::new(TECHNOLOGY, account, region, &self.name, &serde_json::to_value(self).unwrap_or_default())
    }
}

pub fn summarize(old: &Secret, new: &Secret) -> (Vec<String>, &'static [&'static str]) {
    let mut out = exposure::policy_sentences(POLICY, &new.arn, &old.policy, &new.policy, CALLERS);
    if old.rotation_enabled != new.rotation_enabled {
        out.push(format!("rotation turned {}", if new.rotation_enabled { "on" } else { "off" }));
    }
    if old.kms_key_id != new.kms_key_id {
        let key = |k: &Option<String>| k.clone().unwrap_or_else(|| "aws/secretsmanager".into());
        out.push(format!("encryption key changed from {} to {}", key(&old.kms_key_id), key(&new.kms_key_id)));
    }
    (out, &["policy", "kms_key_id", "rotation_enabled"])
}

/// `secretsmanager-policy-public`, `secretsmanager-policy-foreign-account`.
pub fn audit(s: &Secret, region: &str, ctx: &AuditContext) -> Vec<Finding> {
    let ways = exposure::exposure(&s.policy, &s.arn, CALLERS, ctx.into());
    let subject = Subject {
        technology: TECHNOLOGY,
        service: "secretsmanager",
        policy: POLICY,
        account: &ctx.account,
        region,
        name: &s.name,
    };
    exposure::findings(subject, &ways)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::policy;
    use serde_json::json;

    #[test]
    fn a_foreign_reader_is_named_and_rotation_is_said() {
        let secret = |policy: Value, rotation_enabled: bool| Secret {
            name: "db".into(),
            arn: "arn:aws:secretsmanager:us-east-1:111111111111:secret:db-AbCdEf".into(),
            policy,
            kms_key_id: None,
            rotation_enabled,
        };
        let shared = policy::normalize(&json!({"Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::999999999999:role/reader"}, "Action": "secretsmanager:GetSecretValue",
            "Resource": "*"}]}));
        let ctx = AuditContext { account: "111111111111".into(), ..Default::default() };
        let f = audit(&secret(shared, true), "us-east-1", &ctx);
        assert_eq!(f.iter().map(|f| f.kind.as_str()).collect::<Vec<_>>(), ["secretsmanager-policy-foreign-account"]);
        assert_eq!(summarize(&secret(Value::Null, true), &secret(Value::Null, false)).0, ["rotation turned off"]);
    }
}
