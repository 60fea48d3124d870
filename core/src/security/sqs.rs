//! SQS queues: the queue policy (who may send, receive, purge) and
//! server-side encryption, from `GetQueueAttributes`
//! (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_GetQueueAttributes.html>).
//! SQS answers anonymous requests a policy allows, so a grant to `*` is
//! open to anyone ([`Callers::Anonymous`]).

use super::AuditContext;
use super::exposure::{self, Callers, Subject};
use crate::finding::Finding;
use crate::monkey::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const TECHNOLOGY: &str = "sqs:queue";
const CALLERS: Callers = Callers::Anonymous;
const POLICY: &str = "queue policy";

/// One queue, named by its queue name, in its region.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Queue {
    pub name: String,
    /// `QueueArn`: `arn:aws:sqs:REGION:ACCOUNT:NAME`.
    pub arn: String,
    /// `Policy`, normalised ([`policy::normalize`]); `Null` when none is set.
    pub policy: Value,
    /// `KmsMasterKeyId` (SSE-KMS), when set.
    pub kms_master_key_id: Option<String>,
    /// `SqsManagedSseEnabled` (SSE-SQS).
    pub sqs_managed_sse: bool,
}

impl Queue {
    pub fn snapshot(&self, account: &str, region: &str) -> Snapshot {
        Snapshot::new(TECHNOLOGY, account, region, &self.name, &serde_json::to_value(self).unwrap_or_default())
    }
    fn encryption(&self) -> String {
        match (&self.kms_master_key_id, self.sqs_managed_sse) {
            (Some(k), _) => format!("SSE-KMS with {k}"),
            (None, true) => "SSE-SQS".into(),
            (None, false) => "none".into(),
        }
    }
}

pub fn summarize(old: &Queue, new: &Queue) -> (Vec<String>, &'static [&'static str]) {
    let mut out = exposure::policy_sentences(POLICY, &new.arn, &old.policy, &new.policy, CALLERS);
    if old.encryption() != new.encryption() {
        out.push(format!("encryption changed from {} to {}", old.encryption(), new.encryption()));
    }
    (out, &["policy", "kms_master_key_id", "sqs_managed_sse"])
}

/// `sqs-policy-public`, `sqs-policy-foreign-account`.
pub fn audit(q: &Queue, region: &str, ctx: &AuditContext) -> Vec<Finding> {
    let ways = exposure::exposure(&q.policy, &q.arn, CALLERS, ctx.into());
    let subject = Subject {
        technology: TECHNOLOGY,
        service: "sqs",
        policy: POLICY,
        account: &ctx.account,
        region,
        name: &q.name,
    };
    exposure::findings(subject, &ways)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::policy;
    use serde_json::json;

    fn queue(policy: Value) -> Queue {
        Queue {
            name: "jobs".into(),
            arn: "arn:aws:sqs:us-east-1:111111111111:jobs".into(),
            policy,
            ..Default::default()
        }
    }

    #[test]
    fn summary_and_audit() {
        let open = policy::normalize(&json!({"Statement": [{"Sid": "Open", "Effect": "Allow", "Principal": "*",
            "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-east-1:111111111111:jobs"}]}));
        let (sentences, _) = summarize(&queue(Value::Null), &queue(open.clone()));
        assert_eq!(
            sentences,
            [
                "queue policy now allows anyone sqs:SendMessage through statement \"Open\"",
                "queue policy added",
                "statement Allow sqs:SendMessage on arn:aws:sqs:us-east-1:111111111111:jobs to * added to the queue policy",
            ]
        );
        let (sentences, _) = summarize(&queue(open.clone()), &queue(Value::Null));
        assert_eq!(sentences[..2], ["queue policy no longer allows anyone sqs:SendMessage", "queue policy removed"]);
        let mut sse = queue(Value::Null);
        sse.sqs_managed_sse = true;
        assert_eq!(summarize(&queue(Value::Null), &sse).0, ["encryption changed from none to SSE-SQS"]);
        let ctx = AuditContext { account: "111111111111".into(), ..Default::default() };
        let kinds: Vec<String> = audit(&queue(open), "us-east-1", &ctx).into_iter().map(|f| f.kind).collect();
        assert_eq!(kinds, ["sqs-policy-public"]);
        assert!(audit(&queue(Value::Null), "us-east-1", &ctx).is_empty());
    }
}
