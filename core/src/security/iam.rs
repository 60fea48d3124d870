//! IAM roles, users, groups and customer-managed policies: model, summaries, audits.

use super::AuditContext;
use super::access::{self, Reach};
use super::policy;
use crate::finding::{Finding, Severity};
use crate::monkey::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub const ROLE: &str = "iam:role";
pub const USER: &str = "iam:user";
pub const GROUP: &str = "iam:group";
pub const POLICY: &str = "iam:policy";
/// IAM is global: items and coverage use this region.
pub const GLOBAL: &str = "global";
pub const ADMIN_POLICY_ARN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Role {
    pub arn: String,
    pub name: String,
    pub path: String,
    pub trust_policy: Value,
    pub inline_policies: BTreeMap<String, Value>,
    /// ARNs, sorted.
    pub attached_policies: Vec<String>,
    pub permissions_boundary: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// An access key as both the credential report and ListAccessKeys give it.
/// The report names no key id, so a key is known by when it was created
/// (the report's `access_key_N_last_rotated`, ListAccessKeys' `CreateDate`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessKey {
    /// RFC 3339 UTC, to the second.
    pub created: String,
    /// `Active` or `Inactive`.
    pub status: String,
}

/// A user's credentials: access keys (sorted by creation) and whether an
/// MFA device is active.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    pub access_keys: Vec<AccessKey>,
    pub mfa_active: bool,
}

/// The IAM credential report
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_getting-report.html>):
/// its CSV, as GetCredentialReport returns it (base64-decoded), by user
/// name. The root row (`<root_account>`) is kept under that name. Columns
/// are found by header, so added columns change nothing; a key slot whose
/// `access_key_N_last_rotated` is `N/A` holds no key. Errors: not CSV, or a
/// column this reading needs is missing.
pub fn credential_report(csv_text: &str) -> Result<BTreeMap<String, Credentials>, String> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().map_err(|e| format!("credential report: {e}"))?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| format!("credential report has no `{name}` column"))
    };
    let user = column("user")?;
    let mfa = column("mfa_active")?;
    let slots = [
        (column("access_key_1_active")?, column("access_key_1_last_rotated")?),
        (column("access_key_2_active")?, column("access_key_2_last_rotated")?),
    ];
    let mut out = BTreeMap::new();
    for row in reader.records() {
        let row = row.map_err(|e| format!("credential report: {e}"))?;
        let field = |i: usize| row.get(i).unwrap_or_default();
        let mut access_keys: Vec<AccessKey> = slots
            .iter()
            .filter_map(|&(active, rotated)| {
                let created =
                    time::OffsetDateTime::parse(field(rotated), &time::format_description::well_known::Rfc3339).ok()?;
                let status = if field(active) == "true" { "Active" } else { "Inactive" };
                Some(AccessKey { created: crate::clock::rfc3339(created), status: status.into() })
            })
            .collect();
        access_keys.sort();
        out.insert(field(user).to_string(), Credentials { access_keys, mfa_active: field(mfa) == "true" });
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    pub arn: String,
    pub name: String,
    pub path: String,
    pub inline_policies: BTreeMap<String, Value>,
    pub attached_policies: Vec<String>,
    pub groups: Vec<String>,
    pub permissions_boundary: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Sorted by creation.
    pub access_keys: Vec<AccessKey>,
    /// An MFA device is active (the credential report's `mfa_active`).
    pub mfa_active: bool,
    /// Revisions stored before troop read the credential report listed
    /// MFA device serials and key ids instead: read, never written, so a
    /// change from that form is told as what it is.
    #[serde(rename = "mfa_devices", skip_serializing)]
    pub legacy_mfa_devices: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Group {
    pub arn: String,
    pub name: String,
    pub path: String,
    pub inline_policies: BTreeMap<String, Value>,
    pub attached_policies: Vec<String>,
}

/// A customer-managed policy: its default version's document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ManagedPolicy {
    pub arn: String,
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    pub document: Value,
}

pub fn snapshot<T: Serialize>(technology: &str, account: &str, name: &str, item: &T) -> Snapshot {
    Snapshot::new(technology, account, GLOBAL, name, &serde_json::to_value(item).unwrap_or_default())
}

/// The policy name in an ARN (`.../AdministratorAccess` → `AdministratorAccess`).
pub fn policy_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

// ---------------------------------------------------------------- summaries

fn inline_changes(out: &mut Vec<String>, old: &BTreeMap<String, Value>, new: &BTreeMap<String, Value>) {
    for (name, doc) in new {
        match old.get(name) {
            None => {
                out.push(format!("inline policy '{name}' added"));
                policy::statement_changes(out, &Value::Null, doc, &format!("inline policy '{name}'"));
            }
            Some(o) if o != doc => policy::statement_changes(out, o, doc, &format!("inline policy '{name}'")),
            _ => {}
        }
    }
    for name in old.keys().filter(|k| !new.contains_key(*k)) {
        out.push(format!("inline policy '{name}' removed"));
    }
}

fn attached_changes(out: &mut Vec<String>, old: &[String], new: &[String]) {
    for a in new.iter().filter(|a| !old.contains(a)) {
        out.push(format!("managed policy {} attached", policy_name(a)));
    }
    for a in old.iter().filter(|a| !new.contains(a)) {
        out.push(format!("managed policy {} detached", policy_name(a)));
    }
}

fn boundary_changes(out: &mut Vec<String>, old: &Option<String>, new: &Option<String>) {
    match (old, new) {
        (None, Some(b)) => out.push(format!("permissions boundary {} set", policy_name(b))),
        (Some(_), None) => out.push("permissions boundary removed".into()),
        (Some(a), Some(b)) if a != b => out.push(format!("permissions boundary changed to {}", policy_name(b))),
        _ => {}
    }
}

/// Who a trust policy lets in, in words: "account 999999999999", "service ec2.amazonaws.com", "anyone (*)".
fn trusted(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for st in policy::statements(doc).into_iter().filter(|s| policy::is_allow(s)) {
        for (kind, p) in policy::principals(st) {
            let who = match (kind.as_str(), p.as_str()) {
                (_, "*") => "anyone (*)".to_string(),
                ("AWS", p) => match policy::principal_account(p) {
                    Some(a) if p.len() == 12 || p.ends_with(":root") => format!("account {a}"),
                    Some(_) => format!("principal {p}"),
                    None => format!("principal {p}"),
                },
                ("Service", s) => format!("service {s}"),
                ("Federated", f) => format!("federated {f}"),
                (k, p) => format!("{k} {p}"),
            };
            if !out.contains(&who) {
                out.push(who);
            }
        }
    }
    out
}

pub fn summarize_role(old: &Role, new: &Role) -> (Vec<String>, &'static [&'static str]) {
    let mut out = Vec::new();
    if old.trust_policy != new.trust_policy {
        let (a, b) = (trusted(&old.trust_policy), trusted(&new.trust_policy));
        for w in b.iter().filter(|w| !a.contains(w)) {
            out.push(format!("trust policy now allows {w}"));
        }
        for w in a.iter().filter(|w| !b.contains(w)) {
            out.push(format!("trust policy no longer allows {w}"));
        }
        if a == b {
            policy::statement_changes(&mut out, &old.trust_policy, &new.trust_policy, "trust policy");
        }
    }
    inline_changes(&mut out, &old.inline_policies, &new.inline_policies);
    attached_changes(&mut out, &old.attached_policies, &new.attached_policies);
    boundary_changes(&mut out, &old.permissions_boundary, &new.permissions_boundary);
    super::tag_changes(&mut out, &old.tags, &new.tags);
    (out, &["trust_policy", "inline_policies", "attached_policies", "permissions_boundary", "tags"])
}

pub fn summarize_user(old: &User, new: &User) -> (Vec<String>, &'static [&'static str]) {
    let mut out = Vec::new();
    inline_changes(&mut out, &old.inline_policies, &new.inline_policies);
    attached_changes(&mut out, &old.attached_policies, &new.attached_policies);
    boundary_changes(&mut out, &old.permissions_boundary, &new.permissions_boundary);
    for g in new.groups.iter().filter(|g| !old.groups.contains(g)) {
        out.push(format!("added to group {g}"));
    }
    for g in old.groups.iter().filter(|g| !new.groups.contains(g)) {
        out.push(format!("removed from group {g}"));
    }
    if let Some(devices) = &old.legacy_mfa_devices {
        credentials_from_legacy(&mut out, old, devices, new);
    } else {
        credential_changes(&mut out, old, new);
    }
    super::tag_changes(&mut out, &old.tags, &new.tags);
    (
        out,
        &[
            "inline_policies",
            "attached_policies",
            "permissions_boundary",
            "groups",
            "access_keys",
            "mfa_active",
            "mfa_devices",
            "tags",
        ],
    )
}

/// From a revision that listed key ids and MFA serials: what can be
/// compared (MFA on or off, how many keys are active), said as such.
fn credentials_from_legacy(out: &mut Vec<String>, old: &User, devices: &[String], new: &User) {
    out.push("access keys and MFA now read from the credential report".into());
    if devices.is_empty() == new.mfa_active {
        out.push(format!("MFA turned {}", if new.mfa_active { "on" } else { "off" }));
    }
    let active = |u: &User| u.access_keys.iter().filter(|k| k.status == "Active").count();
    if active(old) != active(new) {
        out.push(format!("active access keys changed from {} to {}", active(old), active(new)));
    }
}

fn credential_changes(out: &mut Vec<String>, old: &User, new: &User) {
    for k in &new.access_keys {
        match old.access_keys.iter().find(|o| o.created == k.created) {
            None => out.push(format!("access key created {} added ({})", k.created, k.status)),
            Some(o) if o.status != k.status => {
                let verb = if k.status == "Active" { "activated" } else { "deactivated" };
                out.push(format!("access key created {} {verb}", k.created));
            }
            _ => {}
        }
    }
    for k in old.access_keys.iter().filter(|o| !new.access_keys.iter().any(|n| n.created == o.created)) {
        out.push(format!("access key created {} deleted", k.created));
    }
    if old.mfa_active != new.mfa_active {
        out.push(format!("MFA turned {}", if new.mfa_active { "on" } else { "off" }));
    }
}

pub fn summarize_group(old: &Group, new: &Group) -> (Vec<String>, &'static [&'static str]) {
    let mut out = Vec::new();
    inline_changes(&mut out, &old.inline_policies, &new.inline_policies);
    attached_changes(&mut out, &old.attached_policies, &new.attached_policies);
    (out, &["inline_policies", "attached_policies"])
}

pub fn summarize_policy(old: &ManagedPolicy, new: &ManagedPolicy) -> (Vec<String>, &'static [&'static str]) {
    let mut out = Vec::new();
    policy::statement_changes(&mut out, &old.document, &new.document, "the policy document");
    (out, &["document"])
}

// ---------------------------------------------------------------- audits

/// Rule codes (finding kinds). Stable: never rename one.
pub mod rules {
    pub const ADMIN: &str = "iam-admin";
    pub const PASSROLE_STAR: &str = "iam-passrole-star";
    pub const NOT_ACTION: &str = "iam-allow-not-action";
    pub const TRUST_ANYONE: &str = "iam-trust-anyone";
    pub const TRUST_FOREIGN: &str = "iam-trust-foreign-account";
    pub const KEY_NO_MFA: &str = "iam-user-key-without-mfa";
}

struct Hit {
    rule: &'static str,
    severity: Severity,
    why: String,
}

/// Risky statements in one policy document, `place` naming it ("inline policy 'x'").
/// Actions match as IAM matches them (case-insensitive, `*` and `?` anywhere,
/// `NotAction`), through [`access`].
/// `denies`: every policy document of the identity (an explicit Deny in any
/// of them takes an Allow back).
fn policy_hits(doc: &Value, place: &str, account: &str, denies: &[&Value], hits: &mut Vec<Hit>) {
    let mut admin = false;
    let all_denied = access::denies_everything(denies);
    for st in access::statements(doc).into_iter().filter(|s| s.allow) {
        if access::allows_every_action(&st) && st.covers_resource("*") && !all_denied {
            admin = true;
            hits.push(Hit { rule: rules::ADMIN, severity: Severity::Critical, why: format!("{place} allows * on *") });
        }
        if st.raw.get("NotAction").is_some() || st.raw.get("NotResource").is_some() {
            hits.push(Hit {
                rule: rules::NOT_ACTION,
                severity: Severity::Warning,
                why: format!("{place}: {}", policy::describe(st.raw)),
            });
        }
    }
    // PassRole on every role of the account (`*`, `arn:aws:iam::*:role/*`,
    // ...); * on * already says so.
    let every_role = format!("arn:aws:iam::{account}:role/*");
    if !admin
        && !access::denied(denies, "iam:PassRole", &every_role)
        && let Some(st) = access::allows(doc, "iam:PassRole", &every_role)
    {
        hits.push(Hit {
            rule: rules::PASSROLE_STAR,
            severity: Severity::Warning,
            why: format!("{place} allows iam:PassRole on every role ({})", policy::describe(st.raw)),
        });
    }
}

fn identity_hits(inline: &BTreeMap<String, Value>, attached: &[String], account: &str, hits: &mut Vec<Hit>) {
    // Deny statements of every inline policy apply to all of the identity's Allows.
    let docs: Vec<&Value> = inline.values().collect();
    for (name, doc) in inline {
        policy_hits(doc, &format!("inline policy '{name}'"), account, &docs, hits);
    }
    if attached.iter().any(|a| a == ADMIN_POLICY_ARN) && !access::denies_everything(&docs) {
        hits.push(Hit {
            rule: rules::ADMIN,
            severity: Severity::Critical,
            why: "managed policy AdministratorAccess attached".into(),
        });
    }
}

fn findings(technology: &str, account: &str, arn: &str, name: &str, hits: Vec<Hit>) -> Vec<Finding> {
    // One finding per rule: the worst severity, every reason in the details.
    let mut by_rule: BTreeMap<&str, (Severity, Vec<String>)> = BTreeMap::new();
    for h in hits {
        let e = by_rule.entry(h.rule).or_insert((h.severity, vec![]));
        e.0 = e.0.max(h.severity);
        if !e.1.contains(&h.why) {
            e.1.push(h.why);
        }
    }
    let what = super::label(technology);
    by_rule
        .into_iter()
        .map(|(rule, (severity, reasons))| Finding {
            monkey: super::MONKEY.into(),
            kind: rule.into(),
            severity,
            account: account.into(),
            region: GLOBAL.into(),
            resource: arn.into(),
            title: format!("{what} {name}: {}", reasons.join("; ")),
            details: serde_json::json!({
                "item": Snapshot::item_id(technology, account, GLOBAL, name),
                "technology": technology,
                "rule": rule,
                "reasons": reasons,
            }),
            labels: Default::default(),
            scope: technology.into(),
        })
        .collect()
}

pub fn audit_role(r: &Role, ctx: &AuditContext) -> Vec<Finding> {
    let mut hits = Vec::new();
    identity_hits(&r.inline_policies, &r.attached_policies, &ctx.account, &mut hits);
    // Who may assume the role: principals after conditions and Deny statements.
    for g in access::grants(&r.trust_policy, "sts:AssumeRole*") {
        match &g.reach {
            Reach::Public => hits.push(Hit {
                rule: rules::TRUST_ANYONE,
                severity: Severity::Critical,
                why: format!("trust policy lets anyone assume the role: {}", g.statement),
            }),
            Reach::Accounts(accts) => {
                for acct in accts.iter().filter(|a| **a != ctx.account && !ctx.known_accounts.contains(a)) {
                    hits.push(Hit {
                        rule: rules::TRUST_FOREIGN,
                        severity: Severity::Warning,
                        why: format!("trust policy allows account {acct}, which is not a known account"),
                    });
                }
            }
            _ => {}
        }
    }
    findings(ROLE, &ctx.account, &r.arn, &r.name, hits)
}

pub fn audit_user(u: &User, ctx: &AuditContext) -> Vec<Finding> {
    let mut hits = Vec::new();
    identity_hits(&u.inline_policies, &u.attached_policies, &ctx.account, &mut hits);
    if !u.mfa_active
        && let Some(k) = u.access_keys.iter().find(|k| k.status == "Active")
    {
        hits.push(Hit {
            rule: rules::KEY_NO_MFA,
            severity: Severity::Warning,
            why: format!("active access key created {} and no MFA device", k.created),
        });
    }
    findings(USER, &ctx.account, &u.arn, &u.name, hits)
}

pub fn audit_group(g: &Group, ctx: &AuditContext) -> Vec<Finding> {
    let mut hits = Vec::new();
    identity_hits(&g.inline_policies, &g.attached_policies, &ctx.account, &mut hits);
    findings(GROUP, &ctx.account, &g.arn, &g.name, hits)
}

pub fn audit_policy(p: &ManagedPolicy, ctx: &AuditContext) -> Vec<Finding> {
    let mut hits = Vec::new();
    policy_hits(&p.document, "the policy document", &ctx.account, &[&p.document], &mut hits);
    findings(POLICY, &ctx.account, &p.arn, &p.name, hits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(statements: Value) -> Value {
        policy::normalize(&json!({"Version": "2012-10-17", "Statement": statements}))
    }

    fn trust(principal: Value) -> Value {
        doc(json!([{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]))
    }

    fn role() -> Role {
        Role {
            arn: "arn:aws:iam::111111111111:role/app".into(),
            name: "app".into(),
            path: "/".into(),
            trust_policy: trust(json!({"Service": "ec2.amazonaws.com"})),
            ..Default::default()
        }
    }

    fn ctx() -> AuditContext {
        AuditContext {
            account: "111111111111".into(),
            known_accounts: vec!["222222222222".into()],
            ..Default::default()
        }
    }

    #[test]
    fn role_summary_table() {
        let base = role();
        let mut admin = base.clone();
        admin.attached_policies.push(ADMIN_POLICY_ARN.into());
        let mut foreign = base.clone();
        foreign.trust_policy = doc(json!([
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"}
        ]));
        let mut inline = base.clone();
        inline
            .inline_policies
            .insert("x".into(), doc(json!([{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::data/*"}])));
        let mut inline2 = inline.clone();
        inline2.inline_policies.insert(
            "x".into(),
            doc(json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"}])),
        );
        let mut bounded = base.clone();
        bounded.permissions_boundary = Some("arn:aws:iam::111111111111:policy/boundary".into());
        let cases: Vec<(&Role, &Role, Vec<&str>)> = vec![
            (&base, &base, vec![]),
            (&base, &admin, vec!["managed policy AdministratorAccess attached"]),
            (&admin, &base, vec!["managed policy AdministratorAccess detached"]),
            (&base, &foreign, vec!["trust policy now allows account 999999999999"]),
            (&foreign, &base, vec!["trust policy no longer allows account 999999999999"]),
            (
                &base,
                &inline,
                vec![
                    "inline policy 'x' added",
                    "statement Allow s3:* on arn:aws:s3:::data/* added to inline policy 'x'",
                ],
            ),
            (
                &inline,
                &inline2,
                vec![
                    "statement Allow s3:GetObject on arn:aws:s3:::data/* added to inline policy 'x'",
                    "statement Allow s3:* on arn:aws:s3:::data/* removed from inline policy 'x'",
                ],
            ),
            (&inline, &base, vec!["inline policy 'x' removed"]),
            (&base, &bounded, vec!["permissions boundary boundary set"]),
        ];
        for (a, b, want) in cases {
            assert_eq!(summarize_role(a, b).0, want);
        }
    }

    #[test]
    fn user_summary_table() {
        let base = User { name: "alice".into(), groups: vec!["dev".into()], ..Default::default() };
        let mut keyed = base.clone();
        keyed.access_keys.push(AccessKey { created: "2026-11-30T10:00:00Z".into(), status: "Active".into() });
        let mut inactive = keyed.clone();
        inactive.access_keys[0].status = "Inactive".into();
        let mut moved = base.clone();
        moved.groups = vec!["ops".into()];
        let mut mfa = base.clone();
        mfa.mfa_active = true;
        let cases: Vec<(&User, &User, Vec<&str>)> = vec![
            (&base, &keyed, vec!["access key created 2026-11-30T10:00:00Z added (Active)"]),
            (&keyed, &inactive, vec!["access key created 2026-11-30T10:00:00Z deactivated"]),
            (&keyed, &base, vec!["access key created 2026-11-30T10:00:00Z deleted"]),
            (&base, &moved, vec!["added to group ops", "removed from group dev"]),
            (&base, &mfa, vec!["MFA turned on"]),
            (&mfa, &base, vec!["MFA turned off"]),
        ];
        for (a, b, want) in cases {
            assert_eq!(summarize_user(a, b).0, want);
        }
        // a revision stored before the credential report, read as stored
        let legacy: User = serde_json::from_value(serde_json::json!({"name": "alice", "groups": ["dev"],
            "access_keys": [{"id": "AKIA1", "status": "Active"}], "mfa_devices": ["arn:aws:iam::1:mfa/alice"]}))
        .unwrap();
        let mut now = keyed.clone();
        now.mfa_active = true;
        let cases: Vec<(&User, &User, Vec<&str>)> = vec![
            (&legacy, &now, vec!["access keys and MFA now read from the credential report"]),
            (
                &legacy,
                &base,
                vec![
                    "access keys and MFA now read from the credential report",
                    "MFA turned off",
                    "active access keys changed from 1 to 0",
                ],
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(summarize_user(a, b).0, want);
        }
    }

    fn kinds(f: Vec<Finding>) -> Vec<(String, Severity)> {
        f.into_iter().map(|f| (f.kind, f.severity)).collect()
    }

    #[test]
    fn role_audit_table() {
        let with = |f: &dyn Fn(&mut Role)| {
            let mut r = role();
            f(&mut r);
            r
        };
        let cases: Vec<(Role, Vec<(&str, Severity)>)> = vec![
            (role(), vec![]),
            (with(&|r| r.attached_policies.push(ADMIN_POLICY_ARN.into())), vec![(rules::ADMIN, Severity::Critical)]),
            (
                with(&|r| {
                    r.inline_policies
                        .insert("all".into(), doc(json!({"Effect": "Allow", "Action": "*", "Resource": "*"})));
                }),
                // * on * also covers iam:PassRole on *
                vec![(rules::ADMIN, Severity::Critical)],
            ),
            (
                with(&|r| {
                    r.inline_policies.insert(
                        "pass".into(),
                        doc(json!({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"})),
                    );
                }),
                vec![(rules::PASSROLE_STAR, Severity::Warning)],
            ),
            (
                with(&|r| {
                    r.inline_policies
                        .insert("deny".into(), doc(json!({"Effect": "Deny", "Action": "*", "Resource": "*"})));
                }),
                vec![],
            ),
            (
                with(&|r| {
                    r.inline_policies
                        .insert("not".into(), doc(json!({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})));
                }),
                vec![(rules::NOT_ACTION, Severity::Warning)],
            ),
            (with(&|r| r.trust_policy = trust(json!("*"))), vec![(rules::TRUST_ANYONE, Severity::Critical)]),
            (
                with(&|r| {
                    r.inline_policies.insert(
                        "roles".into(),
                        doc(json!({"Effect": "Allow", "Action": "iam:*Role*", "Resource": "*"})),
                    );
                }),
                vec![(rules::PASSROLE_STAR, Severity::Warning)],
            ),
            (
                with(&|r| {
                    r.inline_policies.insert(
                        "lower".into(),
                        doc(json!({"Effect": "Allow", "Action": "IAM:passrole", "Resource": "arn:aws:iam::*:role/*"})),
                    );
                }),
                vec![(rules::PASSROLE_STAR, Severity::Warning)],
            ),
            (
                with(&|r| {
                    r.inline_policies.insert(
                        "one".into(),
                        doc(json!({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::111111111111:role/app"})),
                    );
                }),
                vec![],
            ),
            (
                with(&|r| {
                    r.inline_policies
                        .insert("star".into(), doc(json!({"Effect": "Allow", "Action": "*:*", "Resource": "*"})));
                }),
                vec![(rules::ADMIN, Severity::Critical)],
            ),
            (
                // a Deny of everything takes admin back
                with(&|r| {
                    r.inline_policies.insert(
                        "both".into(),
                        doc(json!([{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "*", "Resource": "*"}])),
                    );
                }),
                vec![],
            ),
            (
                // an explicit Deny in another inline policy of the same identity wins
                with(&|r| {
                    r.inline_policies.insert(
                        "allow".into(),
                        doc(json!({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"})),
                    );
                    r.inline_policies.insert(
                        "deny".into(),
                        doc(json!({"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*"})),
                    );
                }),
                vec![],
            ),
            (
                // a Deny on one role leaves PassRole on every other
                with(&|r| {
                    r.inline_policies.insert(
                        "allow".into(),
                        doc(json!([{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
                            {"Effect": "Deny", "Action": "iam:PassRole", "Resource": "arn:aws:iam::111111111111:role/x"}])),
                    );
                }),
                vec![(rules::PASSROLE_STAR, Severity::Warning)],
            ),
            (
                // Deny + NotPrincipal keeps the spared foreign role in
                with(&|r| {
                    r.trust_policy = doc(json!([
                        {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
                        {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::999999999999:role/r"}, "Action": "sts:AssumeRole"}]));
                }),
                vec![(rules::TRUST_FOREIGN, Severity::Warning)],
            ),
            (
                with(&|r| {
                    r.trust_policy = doc(json!([{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole",
                        "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]));
                }),
                vec![(rules::TRUST_ANYONE, Severity::Critical)],
            ),
            (
                with(&|r| {
                    r.trust_policy = doc(json!([{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:*",
                        "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}]));
                }),
                vec![],
            ),
            (
                with(&|r| {
                    r.trust_policy = doc(json!([{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:PrincipalAccount": "999999999999"}}}]));
                }),
                vec![(rules::TRUST_FOREIGN, Severity::Warning)],
            ),
            (
                with(&|r| {
                    r.trust_policy = doc(json!([{"Effect": "Allow",
                        "Principal": {"Federated": "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}}]));
                }),
                vec![(rules::TRUST_ANYONE, Severity::Critical)],
            ),
            (
                with(&|r| {
                    r.trust_policy = doc(json!([{"Effect": "Allow",
                        "Principal": {"Federated": "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/app:*"}}}]));
                }),
                vec![],
            ),
            (
                with(&|r| {
                    r.trust_policy = doc(json!([
                        {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
                        {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}]));
                }),
                vec![],
            ),
            (
                with(&|r| {
                    r.trust_policy = doc(
                        json!([{"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "sts:AssumeRole"}]),
                    );
                }),
                vec![(rules::TRUST_ANYONE, Severity::Critical)],
            ),
            (
                with(&|r| r.trust_policy = trust(json!({"AWS": "arn:aws:iam::999999999999:root"}))),
                vec![(rules::TRUST_FOREIGN, Severity::Warning)],
            ),
            (with(&|r| r.trust_policy = trust(json!({"AWS": "arn:aws:iam::222222222222:root"}))), vec![]),
            (with(&|r| r.trust_policy = trust(json!({"AWS": "111111111111"}))), vec![]),
        ];
        for (r, want) in cases {
            let want: Vec<(String, Severity)> = want.into_iter().map(|(k, s)| (k.to_string(), s)).collect();
            assert_eq!(kinds(audit_role(&r, &ctx())), want, "{:?}", r.inline_policies);
        }
        let f = &audit_role(&with(&|r| r.attached_policies.push(ADMIN_POLICY_ARN.into())), &ctx())[0];
        assert_eq!(f.resource, "arn:aws:iam::111111111111:role/app");
        assert_eq!(f.details["item"], "iam:role/111111111111/global/app");
        assert_eq!(f.title, "role app: managed policy AdministratorAccess attached");
    }

    #[test]
    fn user_audit_needs_mfa_for_active_keys() {
        let mut u = User { name: "bob".into(), arn: "arn:aws:iam::111111111111:user/bob".into(), ..Default::default() };
        assert!(audit_user(&u, &ctx()).is_empty());
        u.access_keys.push(AccessKey { created: "2026-01-01T00:00:00Z".into(), status: "Inactive".into() });
        assert!(audit_user(&u, &ctx()).is_empty());
        u.access_keys.push(AccessKey { created: "2026-02-01T00:00:00Z".into(), status: "Active".into() });
        assert_eq!(kinds(audit_user(&u, &ctx())), vec![(rules::KEY_NO_MFA.to_string(), Severity::Warning)]);
        u.mfa_active = true;
        assert!(audit_user(&u, &ctx()).is_empty());
    }

    #[test]
    fn credential_report_table() {
        // as IAM writes it (root row included), columns found by name
        let csv = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n\
<root_account>,arn:aws:iam::111111111111:root,2020-01-01T00:00:00+00:00,not_supported,2026-11-01T00:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
alice,arn:aws:iam::111111111111:user/alice,2024-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,2026-02-01T00:00:00+00:00,N/A,N/A,N/A,false,2025-02-01T10:30:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A\n\
bob,arn:aws:iam::111111111111:user/bob,2024-01-01T00:00:00+00:00,true,no_information,N/A,N/A,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n";
        let r = credential_report(csv).unwrap();
        assert_eq!(r.len(), 3);
        assert!(r["<root_account>"].mfa_active && r["<root_account>"].access_keys.is_empty());
        assert_eq!(
            r["alice"],
            Credentials {
                access_keys: vec![
                    AccessKey { created: "2025-02-01T10:30:00Z".into(), status: "Inactive".into() },
                    AccessKey { created: "2026-02-01T00:00:00Z".into(), status: "Active".into() },
                ],
                mfa_active: false,
            }
        );
        assert_eq!(r["bob"], Credentials { access_keys: vec![], mfa_active: true });
        assert!(credential_report("user,arn\nx,y\n").unwrap_err().contains("mfa_active"));
    }
}
