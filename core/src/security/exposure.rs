//! Who can reach a resource through its resource policy: the one exposure
//! auditor of every resource-policy technology (KMS key policies, SQS queue
//! and SNS topic policies, and the ones to come). It reads the policy with
//! [`super::access::grants`], so Principal forms, NotPrincipal, Deny
//! statements and the narrowing condition keys are judged once, as
//! [`super::access`] documents; this module names the audience each way in
//! reaches, says what a change gained or lost, and raises the findings.
//!
//! Audiences, widest first:
//! - **anyone**: a grant to `"*"` or `{"AWS": "*"}` (the same principal, per
//!   [the Principal element](https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-anonymous))
//!   on a service that answers unsigned requests ([`Callers::Anonymous`]:
//!   S3, SQS, SNS);
//! - **any AWS principal**: the same grant on a service that only answers
//!   signed requests ([`Callers::SignedOnly`]: KMS, Lambda, ECR, Secrets
//!   Manager): anyone who opens an AWS account;
//! - **foreign accounts**: accounts named (in Principal or pinned by a
//!   condition) that are neither the resource's own nor a known one;
//! - **organizations**: members of an organization (`aws:PrincipalOrgID`);
//! - the rest (this account, known accounts, service principals, a grant
//!   pinned to a network path) reaches no one outside.
//!
//! Findings: `<service>-policy-public` (critical) for anyone or any AWS
//! principal, `<service>-policy-foreign-account` (warning) for foreign
//! accounts, each reason naming who, what and through which statement.

use super::access::{self, Matcher, Reach};
use crate::{Finding, Severity};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;

/// Whether a service answers requests without an AWS signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callers {
    /// Anonymous requests are served when a policy allows `*` (S3, SQS, SNS).
    Anonymous,
    /// Every request is signed by some AWS principal (KMS, Lambda, ECR,
    /// Secrets Manager): `*` means any AWS account's principals.
    SignedOnly,
}

/// Who a way in reaches, outside the resource's own account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Audience {
    /// Anyone, anonymous included.
    Anyone,
    /// Any authenticated principal of any AWS account.
    AnyAwsPrincipal,
    /// Principals of these accounts, none of them the estate's.
    Accounts(BTreeSet<String>),
    /// Members of these organizations (or OU paths).
    Organizations(BTreeSet<String>),
}

impl Audience {
    /// Anyone or any AWS principal.
    pub fn is_public(&self) -> bool {
        matches!(self, Audience::Anyone | Audience::AnyAwsPrincipal)
    }
}

impl fmt::Display for Audience {
    /// "anyone", "any AWS principal", "account 999999999999", "accounts a, b",
    /// "organization o-abc".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |noun: &str, set: &BTreeSet<String>| {
            let names: Vec<&str> = set.iter().map(String::as_str).collect();
            format!("{noun}{} {}", if names.len() == 1 { "" } else { "s" }, names.join(", "))
        };
        match self {
            Audience::Anyone => f.write_str("anyone"),
            Audience::AnyAwsPrincipal => f.write_str("any AWS principal"),
            Audience::Accounts(a) => f.write_str(&list("account", a)),
            Audience::Organizations(o) => f.write_str(&list("organization", o)),
        }
    }
}

/// One way in that reaches beyond the resource's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub audience: Audience,
    /// The statement's actions as a reviewer reads them ("kms:Decrypt",
    /// "every action except sqs:DeleteQueue", "every action").
    pub actions: String,
    /// The statement: its `Sid` quoted, else its position ("statement 2")
    /// in the document as troop stores and shows it (statements in
    /// canonical order: `troop diff` and the item page show that order).
    pub statement: String,
    /// `policy::describe` of the statement.
    pub description: String,
}

impl Access {
    /// "any AWS principal kms:Decrypt through statement \"Open\"".
    pub fn sentence(&self) -> String {
        format!("{} {} through {}", self.audience, self.actions, self.statement)
    }
}

/// Who the estate is: the resource's own account and the accounts trusted
/// like it (`[aws] known_accounts`, the configured accounts, the organization's).
#[derive(Debug, Clone, Copy)]
pub struct Estate<'a> {
    pub account: &'a str,
    pub known_accounts: &'a [String],
}

impl<'a> From<&'a super::AuditContext> for Estate<'a> {
    fn from(c: &'a super::AuditContext) -> Self {
        Estate { account: &c.account, known_accounts: &c.known_accounts }
    }
}

fn actions_text(m: &Matcher) -> String {
    match m {
        Matcher::Only(ps) => ps.join(", "),
        Matcher::AllBut(ps) => format!("every action except {}", ps.join(", ")),
        Matcher::Any => "every action".into(),
    }
}

/// Every way into the resource `arn` that `doc` guards, reaching outside
/// the estate, in statement order. `doc` is a resource policy in any
/// spelling AWS accepts; `Null` (no policy) reaches no one. Statements are
/// judged against `arn` ([`access::grants_on`]); an empty `arn` judges
/// every statement as if it named the resource.
pub fn exposure(doc: &Value, arn: &str, callers: Callers, estate: Estate) -> Vec<Access> {
    let mut out: Vec<Access> = Vec::new();
    let resource = Some(arn).filter(|a| !a.is_empty());
    for g in access::grants_on(doc, "*", resource) {
        let audience = match g.reach {
            Reach::Public => match callers {
                Callers::Anonymous => Audience::Anyone,
                Callers::SignedOnly => Audience::AnyAwsPrincipal,
            },
            Reach::Accounts(accts) => {
                let foreign: BTreeSet<String> =
                    accts.into_iter().filter(|a| a != estate.account && !estate.known_accounts.contains(a)).collect();
                if foreign.is_empty() {
                    continue;
                }
                Audience::Accounts(foreign)
            }
            Reach::Organizations(orgs) => Audience::Organizations(orgs),
            // A service acting for its callers, an identity provider's
            // users, a canonical user, or everyone through a fixed network
            // path: nobody outside the estate by name.
            Reach::Services(_) | Reach::Federated(_) | Reach::CanonicalUsers(_) | Reach::Restricted { .. } => continue,
        };
        let statement = match &g.sid {
            Some(sid) => format!("statement \"{sid}\""),
            None => format!("statement {}", g.index + 1),
        };
        let access = Access { audience, actions: actions_text(&g.actions), statement, description: g.statement };
        // one principal list gives one way in per principal: merge accounts
        match out.iter_mut().find(|a| a.statement == access.statement && a.actions == access.actions) {
            Some(Access { audience: Audience::Accounts(have), .. })
                if matches!(access.audience, Audience::Accounts(_)) =>
            {
                if let Audience::Accounts(more) = access.audience {
                    have.extend(more);
                }
            }
            Some(same) if same.audience == access.audience => {}
            _ => out.push(access),
        }
    }
    out
}

/// Reviewer sentences for a policy change, by who gained or lost which
/// actions ("key policy now allows any AWS principal kms:Decrypt through
/// statement \"Open\"", "queue policy no longer allows account 999999999999
/// sqs:SendMessage"). A rewording that changes no one's reach says nothing
/// here; the statement-level sentences say what moved.
pub fn changes(what: &str, arn: &str, (old, new): (&Value, &Value), callers: Callers, estate: Estate) -> Vec<String> {
    let key = |a: &Access| (a.audience.clone(), a.actions.clone());
    let before = exposure(old, arn, callers, estate);
    let after = exposure(new, arn, callers, estate);
    let had: BTreeSet<_> = before.iter().map(key).collect();
    let has: BTreeSet<_> = after.iter().map(key).collect();
    let mut out: Vec<String> = after
        .iter()
        .filter(|a| !had.contains(&key(a)))
        .map(|a| format!("{what} now allows {}", a.sentence()))
        .collect();
    out.extend(
        before
            .iter()
            .filter(|a| !has.contains(&key(a)))
            .map(|a| format!("{what} no longer allows {} {}", a.audience, a.actions)),
    );
    out
}

/// Every sentence for a change of a resource policy (`Null`: none): who
/// gained or lost access ([`changes`], judged from `account` alone: the
/// sentence is the same whoever reads it later), then the policy added or
/// removed, or each statement added or removed. `arn` is the resource's
/// (its account is the estate the sentences judge by).
pub fn policy_sentences(what: &str, arn: &str, old: &Value, new: &Value, callers: Callers) -> Vec<String> {
    if old == new {
        return vec![];
    }
    let account = super::policy::principal_account(arn).unwrap_or_default();
    let mut out = changes(what, arn, (old, new), callers, Estate { account: &account, known_accounts: &[] });
    match (old.is_null(), new.is_null()) {
        (true, false) => out.push(format!("{what} added")),
        (false, true) => out.push(format!("{what} removed")),
        _ => {}
    }
    super::policy::statement_changes(&mut out, old, new, &format!("the {what}"));
    out
}

/// What an exposure finding is about: the item it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// SPEC's technology name (`kms:key`).
    pub technology: &'a str,
    /// The finding kind's service part (`kms` → `kms-policy-public`).
    pub service: &'a str,
    /// What a reviewer calls the policy ("key policy").
    pub policy: &'a str,
    pub account: &'a str,
    pub region: &'a str,
    /// The item's name (the resource).
    pub name: &'a str,
}

/// Finding kinds of an exposure: `<service>-policy-public` and
/// `<service>-policy-foreign-account`.
pub fn kinds(service: &str) -> (String, String) {
    (format!("{service}-policy-public"), format!("{service}-policy-foreign-account"))
}

/// The findings of a resource's exposure: one `<service>-policy-public`
/// (critical) listing every way anyone gets in, one
/// `<service>-policy-foreign-account` (warning) listing every foreign
/// account's. Organizations raise none (an organization is the estate's
/// own unless a foreign account is named).
pub fn findings(s: Subject, ways: &[Access]) -> Vec<Finding> {
    let (public_kind, foreign_kind) = kinds(s.service);
    let public: Vec<&Access> = ways.iter().filter(|a| a.audience.is_public()).collect();
    let foreign: Vec<&Access> = ways.iter().filter(|a| matches!(a.audience, Audience::Accounts(_))).collect();
    let mut out = Vec::new();
    for (kind, severity, ways) in
        [(public_kind, Severity::Critical, public), (foreign_kind, Severity::Warning, foreign)]
    {
        if ways.is_empty() {
            continue;
        }
        let reasons: Vec<String> = ways.iter().map(|a| format!("{} allows {}", s.policy, a.sentence())).collect();
        let accounts: BTreeSet<&String> = ways
            .iter()
            .flat_map(|a| match &a.audience {
                Audience::Accounts(set) => set.iter().collect(),
                _ => vec![],
            })
            .collect();
        out.push(super::item_finding(
            s.technology,
            &kind,
            severity,
            (s.account, s.region, s.name),
            &reasons,
            serde_json::json!({
                "statements": ways.iter().map(|a| &a.description).collect::<Vec<_>>(),
                "accounts": accounts,
            }),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OWN: &str = "111111111111";
    const FOREIGN: &str = "999999999999";

    fn known() -> Vec<String> {
        vec!["222222222222".into()]
    }

    fn st(principal: Value, action: &str, condition: Option<Value>) -> Value {
        let mut s = json!({"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*"});
        if let Some(c) = condition {
            s["Condition"] = c;
        }
        s
    }

    fn doc(statements: Vec<Value>) -> Value {
        json!({"Version": "2012-10-17", "Statement": statements})
    }

    fn who(d: &Value, callers: Callers) -> Vec<String> {
        let k = known();
        exposure(d, "", callers, Estate { account: OWN, known_accounts: &k }).iter().map(Access::sentence).collect()
    }

    #[test]
    fn audience_table() {
        use Callers::*;
        let own_root = format!("arn:aws:iam::{OWN}:root");
        let foreign_role = format!("arn:aws:iam::{FOREIGN}:role/x");
        let cases: Vec<(&str, Value, Callers, Vec<&str>)> = vec![
            ("no policy", Value::Null, Anonymous, vec![]),
            (
                "star",
                doc(vec![st(json!("*"), "sqs:SendMessage", None)]),
                Anonymous,
                vec!["anyone sqs:SendMessage through statement 1"],
            ),
            (
                "AWS star is the same principal",
                doc(vec![st(json!({"AWS": "*"}), "sqs:SendMessage", None)]),
                Anonymous,
                vec!["anyone sqs:SendMessage through statement 1"],
            ),
            (
                "signed-only service",
                doc(vec![st(json!({"AWS": "*"}), "kms:Decrypt", None)]),
                SignedOnly,
                vec!["any AWS principal kms:Decrypt through statement 1"],
            ),
            ("own account", doc(vec![st(json!({"AWS": own_root}), "kms:*", None)]), SignedOnly, vec![]),
            ("known account", doc(vec![st(json!({"AWS": "222222222222"}), "kms:*", None)]), SignedOnly, vec![]),
            (
                "foreign role",
                doc(vec![st(json!({"AWS": foreign_role}), "kms:Decrypt", None)]),
                SignedOnly,
                vec!["account 999999999999 kms:Decrypt through statement 1"],
            ),
            (
                "own and two foreign in one statement",
                doc(vec![st(json!({"AWS": [OWN, FOREIGN, "888888888888"]}), "sqs:*", None)]),
                Anonymous,
                vec!["accounts 888888888888, 999999999999 sqs:* through statement 1"],
            ),
            (
                "service principal",
                doc(vec![st(json!({"Service": "sns.amazonaws.com"}), "sqs:SendMessage", None)]),
                Anonymous,
                vec![],
            ),
            (
                "star pinned to the own account",
                doc(vec![st(json!("*"), "sqs:SendMessage", Some(json!({"StringEquals": {"aws:SourceAccount": OWN}})))]),
                Anonymous,
                vec![],
            ),
            (
                "star pinned to a foreign account",
                doc(vec![st(
                    json!("*"),
                    "sqs:SendMessage",
                    Some(json!({"ArnLike": {"aws:SourceArn": format!("arn:aws:sns:us-east-1:{FOREIGN}:t")}})),
                )]),
                Anonymous,
                vec!["account 999999999999 sqs:SendMessage through statement 1"],
            ),
            (
                "star pinned to an organization",
                doc(vec![st(
                    json!("*"),
                    "kms:Decrypt",
                    Some(json!({"StringEquals": {"aws:PrincipalOrgID": "o-abc"}})),
                )]),
                SignedOnly,
                vec!["organization o-abc kms:Decrypt through statement 1"],
            ),
            (
                "SecureTransport does not narrow",
                doc(vec![st(json!("*"), "sqs:SendMessage", Some(json!({"Bool": {"aws:SecureTransport": "true"}})))]),
                Anonymous,
                vec!["anyone sqs:SendMessage through statement 1"],
            ),
            (
                "SourceVpce narrows to a network path",
                doc(vec![st(
                    json!("*"),
                    "sqs:SendMessage",
                    Some(json!({"StringEquals": {"aws:SourceVpce": "vpce-1"}})),
                )]),
                Anonymous,
                vec![],
            ),
            (
                "a wildcard SourceArn does not narrow",
                doc(vec![st(
                    json!("*"),
                    "sqs:SendMessage",
                    Some(json!({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:*"}})),
                )]),
                Anonymous,
                vec!["anyone sqs:SendMessage through statement 1"],
            ),
            (
                "NotPrincipal with Allow lets in everyone else",
                doc(vec![
                    json!({"Effect": "Allow", "NotPrincipal": {"AWS": FOREIGN}, "Action": "sns:Publish", "Resource": "*"}),
                ]),
                Anonymous,
                vec!["anyone sns:Publish through statement 1"],
            ),
            (
                "a Deny to everyone cancels the grant",
                doc(vec![
                    st(json!("*"), "sqs:SendMessage", None),
                    json!({"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": "*"}),
                ]),
                Anonymous,
                vec![],
            ),
            (
                "a Deny outside the org keeps only the org",
                doc(vec![
                    st(json!("*"), "kms:Decrypt", None),
                    json!({"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
                           "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc"}}}),
                ]),
                SignedOnly,
                vec!["organization o-abc kms:Decrypt through statement 1"],
            ),
            (
                "a Deny of other actions cancels nothing",
                doc(vec![
                    st(json!("*"), "sqs:SendMessage", None),
                    json!({"Effect": "Deny", "Principal": "*", "Action": "sqs:DeleteQueue", "Resource": "*"}),
                ]),
                Anonymous,
                vec!["anyone sqs:SendMessage through statement 1"],
            ),
            (
                "Sid names the statement; NotAction reads as every action except",
                doc(vec![
                    json!({"Sid": "Open", "Effect": "Allow", "Principal": "*", "NotAction": "sqs:DeleteQueue", "Resource": "*"}),
                ]),
                Anonymous,
                vec!["anyone every action except sqs:DeleteQueue through statement \"Open\""],
            ),
            (
                "the second statement is named by position",
                doc(vec![st(json!({"AWS": OWN}), "kms:*", None), st(json!({"AWS": FOREIGN}), "kms:Encrypt", None)]),
                SignedOnly,
                vec!["account 999999999999 kms:Encrypt through statement 2"],
            ),
            (
                "a Deny alone reaches no one",
                doc(vec![json!({"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"})]),
                Anonymous,
                vec![],
            ),
        ];
        for (name, d, callers, want) in cases {
            assert_eq!(who(&d, callers), want, "{name}");
            // as stored, normalised (statements in canonical order, so
            // positions may differ): the same audiences and actions
            let reach = |v: Vec<String>| -> Vec<String> {
                v.into_iter().map(|s| s.split(" through ").next().unwrap_or_default().to_string()).collect()
            };
            let stored = who(&crate::security::policy::normalize(&d), callers);
            assert_eq!(reach(stored), reach(want.iter().map(|s| s.to_string()).collect()), "{name}, normalised");
        }
    }

    #[test]
    fn statements_are_judged_against_the_resource() {
        let k = known();
        let e = Estate { account: OWN, known_accounts: &k };
        let arn = "arn:aws:sqs:us-east-1:111111111111:y-jobs";
        let allow = |resource: &str| json!({"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": resource});
        let deny = |key: &str, value: &str| {
            let mut d = json!({"Effect": "Deny", "Principal": "*", "Action": "sqs:*"});
            d[key] = json!(value);
            d
        };
        let cases: Vec<(&str, Value, usize)> = vec![
            ("open on this queue", doc(vec![allow(arn)]), 1),
            ("open on another queue only", doc(vec![allow("arn:aws:sqs:us-east-1:111111111111:other")]), 0),
            ("a Deny by pattern covers this queue", doc(vec![allow("*"), deny("Resource", "arn:aws:sqs:*:*:y-*")]), 0),
            (
                "a Deny by NotResource covers this queue",
                doc(vec![allow("*"), deny("NotResource", "arn:aws:sqs:*:*:x")]),
                0,
            ),
            ("a Deny of another queue", doc(vec![allow("*"), deny("Resource", "arn:aws:sqs:*:*:other")]), 1),
            (
                "an Allow whose NotResource excludes this queue",
                doc(vec![json!({"Effect": "Allow", "Principal": "*",
                "Action": "sqs:SendMessage", "NotResource": "arn:aws:sqs:*:*:y-*"})]),
                0,
            ),
        ];
        for (name, d, want) in cases {
            assert_eq!(exposure(&d, arn, Callers::Anonymous, e).len(), want, "{name}");
        }
    }

    #[test]
    fn kms_caller_account_pins_the_account() {
        let k = known();
        let e = Estate { account: OWN, known_accounts: &k };
        let via = |account: &str| {
            doc(vec![st(
                json!({"AWS": "*"}),
                "kms:Decrypt",
                Some(json!({"StringEquals":
                {"kms:CallerAccount": account, "kms:ViaService": "s3.us-east-1.amazonaws.com"}})),
            )])
        };
        assert!(exposure(&via(OWN), "", Callers::SignedOnly, e).is_empty());
        let foreign: Vec<String> =
            exposure(&via(FOREIGN), "", Callers::SignedOnly, e).iter().map(Access::sentence).collect();
        assert_eq!(foreign, ["account 999999999999 kms:Decrypt through statement 1"]);
    }

    #[test]
    fn changes_name_who_gained_and_who_lost() {
        let k = known();
        let e = Estate { account: OWN, known_accounts: &k };
        let private = doc(vec![st(json!({"AWS": OWN}), "kms:*", None)]);
        let public = doc(vec![st(json!({"AWS": OWN}), "kms:*", None), st(json!({"AWS": "*"}), "kms:Decrypt", None)]);
        assert_eq!(
            changes("key policy", "", (&private, &public), Callers::SignedOnly, e),
            ["key policy now allows any AWS principal kms:Decrypt through statement 2"]
        );
        assert_eq!(
            changes("key policy", "", (&public, &private), Callers::SignedOnly, e),
            ["key policy no longer allows any AWS principal kms:Decrypt"]
        );
        // renaming a statement changes no one's reach
        let mut renamed = public.clone();
        renamed["Statement"][1]["Sid"] = json!("Renamed");
        assert!(changes("key policy", "", (&public, &renamed), Callers::SignedOnly, e).is_empty());
        assert!(changes("queue policy", "", (&Value::Null, &private), Callers::Anonymous, e).is_empty());
    }

    #[test]
    fn findings_say_who_and_through_which_statement() {
        let k = known();
        let e = Estate { account: OWN, known_accounts: &k };
        let d =
            doc(vec![st(json!("*"), "sqs:SendMessage", None), st(json!({"AWS": FOREIGN}), "sqs:ReceiveMessage", None)]);
        let ways = exposure(&d, "", Callers::Anonymous, e);
        let s = Subject {
            technology: "sqs:queue",
            service: "sqs",
            policy: "queue policy",
            account: OWN,
            region: "us-east-1",
            name: "jobs",
        };
        let f = findings(s, &ways);
        let got: Vec<(&str, Severity)> = f.iter().map(|f| (f.kind.as_str(), f.severity)).collect();
        assert_eq!(got, [("sqs-policy-public", Severity::Critical), ("sqs-policy-foreign-account", Severity::Warning)]);
        assert_eq!(f[0].title, "queue jobs: queue policy allows anyone sqs:SendMessage through statement 1");
        assert_eq!(f[1].details["accounts"], json!([FOREIGN]));
        assert_eq!(f[1].details["item"], "sqs:queue/111111111111/us-east-1/jobs");
        assert!(findings(s, &[]).is_empty());
    }
}
