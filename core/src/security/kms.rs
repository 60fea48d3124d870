//! KMS customer-managed keys: the key policy, automatic rotation and
//! scheduled deletion, from `DescribeKey`, `GetKeyPolicy` (policy `default`)
//! and `GetKeyRotationStatus`
//! (<https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html>).
//! AWS-managed keys are AWS's to govern and are not recorded. Every KMS
//! request is signed, so a grant to `*` opens the key to any AWS principal
//! ([`Callers::SignedOnly`]).

use super::exposure::{self, Callers, Subject};
use super::{AuditContext, item_finding};
use crate::finding::{Finding, Severity};
use crate::monkey::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const TECHNOLOGY: &str = "kms:key";
const CALLERS: Callers = Callers::SignedOnly;
const POLICY: &str = "key policy";

pub mod rules {
    pub const ROTATION_OFF: &str = "kms-rotation-off";
    pub const PENDING_DELETION: &str = "kms-key-pending-deletion";
}

/// One customer-managed key, named by its key id, in its region.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Key {
    pub key_id: String,
    pub arn: String,
    /// Aliases (`alias/app`), sorted.
    pub aliases: Vec<String>,
    pub description: Option<String>,
    /// `KeyState`: `Enabled`, `Disabled`, `PendingDeletion`, ...
    pub key_state: String,
    /// `KeySpec`: `SYMMETRIC_DEFAULT`, `RSA_2048`, `HMAC_256`, ...
    pub key_spec: String,
    /// `Origin`: `AWS_KMS`, `EXTERNAL`, `AWS_CLOUDHSM`, `EXTERNAL_KEY_STORE`.
    pub origin: String,
    /// `DeletionDate` (RFC 3339) while deletion is scheduled.
    pub deletion_date: Option<String>,
    /// `KeyRotationEnabled`; `None` where rotation does not apply or could
    /// not be asked (not a symmetric key of origin `AWS_KMS`, or not enabled).
    pub rotation_enabled: Option<bool>,
    /// The `default` key policy, normalised.
    pub policy: Value,
}

impl Key {
    pub fn snapshot(&self, account: &str, region: &str) -> Snapshot {
        Snapshot::new(TECHNOLOGY, account, region, &self.key_id, &serde_json::to_value(self).unwrap_or_default())
    }

    /// Automatic rotation applies to symmetric encryption keys whose key
    /// material KMS generated
    /// (<https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html>).
    pub fn rotation_applies(&self) -> bool {
        self.key_spec == "SYMMETRIC_DEFAULT" && self.origin == "AWS_KMS"
    }
}

pub fn summarize(old: &Key, new: &Key) -> (Vec<String>, &'static [&'static str]) {
    let mut out = exposure::policy_sentences(POLICY, &new.arn, &old.policy, &new.policy, CALLERS);
    if old.key_state != new.key_state {
        let when = new.deletion_date.as_deref().map(|d| format!(" (deletion on {d})")).unwrap_or_default();
        out.push(format!("key state changed from {} to {}{when}", old.key_state, new.key_state));
    }
    match (old.rotation_enabled, new.rotation_enabled) {
        (Some(true), Some(false)) => out.push("automatic rotation turned off".into()),
        (Some(false), Some(true)) => out.push("automatic rotation turned on".into()),
        _ => {}
    }
    for a in new.aliases.iter().filter(|a| !old.aliases.contains(a)) {
        out.push(format!("alias {a} added"));
    }
    for a in old.aliases.iter().filter(|a| !new.aliases.contains(a)) {
        out.push(format!("alias {a} removed"));
    }
    (out, &["policy", "key_state", "deletion_date", "rotation_enabled", "aliases"])
}

/// `kms-policy-public`, `kms-policy-foreign-account`, `kms-rotation-off`
/// (warning: a symmetric KMS-generated key that is enabled and does not
/// rotate, AWS Config's `cmk-backing-key-rotation-enabled`) and
/// `kms-key-pending-deletion` (warning: data encrypted under it becomes
/// unreadable on the deletion date).
pub fn audit(k: &Key, region: &str, ctx: &AuditContext) -> Vec<Finding> {
    let ways = exposure::exposure(&k.policy, &k.arn, CALLERS, ctx.into());
    let subject = Subject {
        technology: TECHNOLOGY,
        service: "kms",
        policy: POLICY,
        account: &ctx.account,
        region,
        name: &k.key_id,
    };
    let mut out = exposure::findings(subject, &ways);
    let at = (ctx.account.as_str(), region, k.key_id.as_str());
    if k.key_state == "Enabled" && k.rotation_applies() && k.rotation_enabled == Some(false) {
        let reasons = ["automatic rotation is off".to_string()];
        out.push(item_finding(TECHNOLOGY, rules::ROTATION_OFF, Severity::Warning, at, &reasons, json!({})));
    }
    if k.key_state == "PendingDeletion" {
        let when = k.deletion_date.as_deref().unwrap_or("a scheduled date");
        let reasons = [format!("scheduled for deletion on {when}")];
        let extra = json!({"deletion_date": k.deletion_date});
        out.push(item_finding(TECHNOLOGY, rules::PENDING_DELETION, Severity::Warning, at, &reasons, extra));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::policy;

    fn key() -> Key {
        Key {
            key_id: "k-1".into(),
            arn: "arn:aws:kms:us-east-1:111111111111:key/k-1".into(),
            key_state: "Enabled".into(),
            key_spec: "SYMMETRIC_DEFAULT".into(),
            origin: "AWS_KMS".into(),
            rotation_enabled: Some(true),
            policy: policy::normalize(&json!({"Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "kms:*", "Resource": "*"}]})),
            ..Default::default()
        }
    }

    #[test]
    fn audit_table() {
        let ctx = AuditContext { account: "111111111111".into(), ..Default::default() };
        let with = |f: &dyn Fn(&mut Key)| {
            let mut k = key();
            f(&mut k);
            k
        };
        let cases: Vec<(&str, Key, Vec<&str>)> = vec![
            ("the default policy", key(), vec![]),
            ("rotation off", with(&|k| k.rotation_enabled = Some(false)), vec!["kms-rotation-off"]),
            (
                "rotation off on an asymmetric key does not apply",
                with(&|k| {
                    k.rotation_enabled = Some(false);
                    k.key_spec = "RSA_2048".into();
                }),
                vec![],
            ),
            (
                "imported material cannot rotate",
                with(&|k| {
                    k.rotation_enabled = Some(false);
                    k.origin = "EXTERNAL".into();
                }),
                vec![],
            ),
            (
                "pending deletion",
                with(&|k| {
                    k.key_state = "PendingDeletion".into();
                    k.deletion_date = Some("2026-12-07T00:00:00Z".into());
                    k.rotation_enabled = None;
                }),
                vec!["kms-key-pending-deletion"],
            ),
            (
                "any AWS principal may decrypt",
                with(&|k| {
                    k.policy["Statement"].as_array_mut().unwrap().push(json!({"Effect": "Allow",
                        "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt"], "Resource": ["*"]}))
                }),
                vec!["kms-policy-public"],
            ),
            (
                "a foreign account may encrypt",
                with(&|k| {
                    k.policy["Statement"].as_array_mut().unwrap().push(json!({"Effect": "Allow",
                        "Principal": {"AWS": ["arn:aws:iam::999999999999:root"]}, "Action": ["kms:Encrypt"], "Resource": ["*"]}))
                }),
                vec!["kms-policy-foreign-account"],
            ),
        ];
        for (name, k, want) in cases {
            let got: Vec<String> = audit(&k, "us-east-1", &ctx).into_iter().map(|f| f.kind).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn summary_table() {
        let mut off = key();
        off.rotation_enabled = Some(false);
        assert_eq!(summarize(&key(), &off).0, ["automatic rotation turned off"]);
        let mut doomed = key();
        doomed.key_state = "PendingDeletion".into();
        doomed.deletion_date = Some("2026-12-07T00:00:00Z".into());
        assert_eq!(
            summarize(&key(), &doomed).0,
            ["key state changed from Enabled to PendingDeletion (deletion on 2026-12-07T00:00:00Z)"]
        );
        let mut aliased = key();
        aliased.aliases = vec!["alias/app".into()];
        assert_eq!(summarize(&key(), &aliased).0, ["alias alias/app added"]);
    }
}
