//! SNS topics: the topic policy (who may publish, subscribe, change it) and
//! server-side encryption, from `GetTopicAttributes`
//! (<https://docs.aws.amazon.com/sns/latest/api/API_GetTopicAttributes.html>).
//! SNS's API actions are signed requests, so a grant to `*` opens the topic
//! to any AWS principal ([`Callers::SignedOnly`]). The default policy SNS
//! writes (`AWS: *` pinned by `AWS:SourceOwner` to the topic's account)
//! reaches no one outside.

use super::AuditContext;
use super::exposure::{self, Callers, Subject};
use crate::finding::Finding;
use crate::monkey::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const TECHNOLOGY: &str = "sns:topic";
const CALLERS: Callers = Callers::SignedOnly;
const POLICY: &str = "topic policy";

/// One topic, named by its topic name, in its region.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Topic {
    pub name: String,
    /// `TopicArn`: `arn:aws:sns:REGION:ACCOUNT:NAME`.
    pub arn: String,
    /// `Policy`, normalised; `Null` when none is returned.
    pub policy: Value,
    /// `KmsMasterKeyId`, when set.
    pub kms_master_key_id: Option<String>,
}

impl Topic {
    pub fn snapshot(&self, account: &str, region: &str) -> Snapshot {
        Snapshot::new(TECHNOLOGY, account, region, &self.name, &serde_json::to_value(self).unwrap_or_default())
    }
}

pub fn summarize(old: &Topic, new: &Topic) -> (Vec<String>, &'static [&'static str]) {
    let mut out = exposure::policy_sentences(POLICY, &new.arn, &old.policy, &new.policy, CALLERS);
    if old.kms_master_key_id != new.kms_master_key_id {
        let key = |k: &Option<String>| k.clone().unwrap_or_else(|| "none".into());
        out.push(format!(
            "encryption key changed from {} to {}",
            key(&old.kms_master_key_id),
            key(&new.kms_master_key_id)
        ));
    }
    (out, &["policy", "kms_master_key_id"])
}

/// `sns-policy-public`, `sns-policy-foreign-account`.
pub fn audit(t: &Topic, region: &str, ctx: &AuditContext) -> Vec<Finding> {
    let ways = exposure::exposure(&t.policy, &t.arn, CALLERS, ctx.into());
    let subject = Subject {
        technology: TECHNOLOGY,
        service: "sns",
        policy: POLICY,
        account: &ctx.account,
        region,
        name: &t.name,
    };
    exposure::findings(subject, &ways)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::policy;
    use serde_json::json;

    #[test]
    fn the_default_policy_is_private_and_a_star_is_not() {
        let arn = "arn:aws:sns:us-east-1:111111111111:alerts";
        // as SNS writes it: "AWS:SourceOwner" in SNS's spelling
        let default = policy::normalize(&json!({"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [{
            "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": ["SNS:GetTopicAttributes", "SNS:Publish", "SNS:Subscribe"], "Resource": arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": "111111111111"}}}]}));
        let topic = |policy: Value| Topic { name: "alerts".into(), arn: arn.into(), policy, kms_master_key_id: None };
        let ctx = AuditContext { account: "111111111111".into(), ..Default::default() };
        assert!(audit(&topic(default.clone()), "us-east-1", &ctx).is_empty());
        let mut open = default.clone();
        open["Statement"][0].as_object_mut().unwrap().remove("Condition");
        let f = audit(&topic(open.clone()), "us-east-1", &ctx);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, "sns-policy-public");
        assert!(f[0].title.starts_with("topic alerts: topic policy allows any AWS principal SNS:GetTopicAttributes"));
        let (sentences, _) = summarize(&topic(default), &topic(open));
        assert!(
            sentences[0].starts_with("topic policy now allows any AWS principal SNS:GetTopicAttributes"),
            "{sentences:?}"
        );
    }
}
