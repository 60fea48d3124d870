//! Copies of data shared by permission rather than by policy: EBS snapshots
//! (`createVolumePermission`), AMIs (`launchPermission`) and RDS snapshots
//! (the `restore` attribute). Each is shared with everyone (`all`), with
//! named accounts, or (AMIs) with an organization or OU
//! (<https://docs.aws.amazon.com/ebs/latest/userguide/ebs-modifying-snapshot-permissions.html>,
//! <https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/sharingamis-explicit.html>,
//! <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ShareSnapshot.html>).
//!
//! Findings: `<kind>-public` (critical: anyone can copy the data) and
//! `<kind>-foreign-account` (warning: an account outside the estate can),
//! with `<kind>` `ec2-snapshot`, `ec2-image`, `rds-snapshot`.

use super::{AuditContext, item_finding};
use crate::finding::{Finding, Severity};
use crate::monkey::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const EBS_SNAPSHOT: &str = "ec2:snapshot";
pub const IMAGE: &str = "ec2:image";
pub const RDS_SNAPSHOT: &str = "rds:snapshot";

/// Who may use a copy besides its owner.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Sharing {
    /// Shared with everyone (`Group: all`, `restore: all`).
    pub public: bool,
    /// Accounts it is shared with, sorted.
    pub accounts: Vec<String>,
    /// Organizations and OUs it is shared with (ARNs), sorted.
    pub organizations: Vec<String>,
}

impl Sharing {
    /// From the permission list's values: `all` or account ids (as the
    /// three APIs give them), sorted and de-duplicated.
    pub fn of(values: impl IntoIterator<Item = String>, organizations: impl IntoIterator<Item = String>) -> Sharing {
        let mut s = Sharing::default();
        for v in values {
            if v == "all" {
                s.public = true;
            } else if !s.accounts.contains(&v) {
                s.accounts.push(v);
            }
        }
        s.accounts.sort();
        s.organizations = organizations.into_iter().collect();
        s.organizations.sort();
        s.organizations.dedup();
        s
    }
}

/// One shared copy: an EBS snapshot, an AMI or an RDS snapshot, named by
/// its id (the RDS snapshot identifier), in its region.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Copy {
    pub id: String,
    /// The AMI's name, the snapshot's description, or the database the RDS
    /// snapshot is of.
    pub description: Option<String>,
    pub encrypted: bool,
    pub sharing: Sharing,
}

impl Copy {
    pub fn snapshot(&self, technology: &str, account: &str, region: &str) -> Snapshot {
        Snapshot::new(technology, account, region, &self.id, &serde_json::to_value(self).unwrap_or_default())
    }
}

fn noun(technology: &str) -> &'static str {
    match technology {
        IMAGE => "launch",
        _ => "restore",
    }
}

/// Reviewer sentences: "shared with everyone", "shared with account
/// 999999999999", "no longer shared with …".
pub fn summarize(old: &Copy, new: &Copy) -> (Vec<String>, &'static [&'static str]) {
    let mut out = Vec::new();
    let (a, b) = (&old.sharing, &new.sharing);
    if a.public != b.public {
        out.push(if b.public { "shared with everyone".into() } else { "no longer shared with everyone".into() });
    }
    for x in b.accounts.iter().filter(|x| !a.accounts.contains(x)) {
        out.push(format!("shared with account {x}"));
    }
    for x in a.accounts.iter().filter(|x| !b.accounts.contains(x)) {
        out.push(format!("no longer shared with account {x}"));
    }
    for x in b.organizations.iter().filter(|x| !a.organizations.contains(x)) {
        out.push(format!("shared with {x}"));
    }
    for x in a.organizations.iter().filter(|x| !b.organizations.contains(x)) {
        out.push(format!("no longer shared with {x}"));
    }
    if old.encrypted != new.encrypted {
        out.push(format!("encryption turned {}", if new.encrypted { "on" } else { "off" }));
    }
    (out, &["sharing", "encrypted"])
}

/// The finding kinds of a technology: (`…-public`, `…-foreign-account`).
pub fn kinds(technology: &str) -> (String, String) {
    let base = technology.replace(':', "-");
    (format!("{base}-public"), format!("{base}-foreign-account"))
}

/// `<kind>-public` (critical) and `<kind>-foreign-account` (warning:
/// accounts neither the item's own nor known).
pub fn audit(technology: &str, c: &Copy, region: &str, ctx: &AuditContext) -> Vec<Finding> {
    let (public, foreign) = kinds(technology);
    let at = (ctx.account.as_str(), region, c.id.as_str());
    let mut out = Vec::new();
    if c.sharing.public {
        let reason = format!("anyone may {} it{}", noun(technology), if c.encrypted { "" } else { " (unencrypted)" });
        out.push(item_finding(technology, &public, Severity::Critical, at, &[reason], json!({})));
    }
    let strangers: Vec<&String> =
        c.sharing.accounts.iter().filter(|a| **a != ctx.account && !ctx.known_accounts.contains(a)).collect();
    if !strangers.is_empty() {
        let list: Vec<&str> = strangers.iter().map(|s| s.as_str()).collect();
        let reason = format!(
            "account{} {} may {} it",
            if list.len() == 1 { "" } else { "s" },
            list.join(", "),
            noun(technology)
        );
        out.push(item_finding(technology, &foreign, Severity::Warning, at, &[reason], json!({"accounts": list})));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_and_summary_table() {
        let ctx = AuditContext {
            account: "111111111111".into(),
            known_accounts: vec!["222222222222".into()],
            ..Default::default()
        };
        let copy = |values: &[&str]| Copy {
            id: "snap-1".into(),
            encrypted: false,
            sharing: Sharing::of(values.iter().map(|v| v.to_string()), []),
            ..Default::default()
        };
        let kinds_of = |c: &Copy, t: &str| {
            audit(t, c, "us-east-1", &ctx).into_iter().map(|f| (f.kind, f.severity)).collect::<Vec<_>>()
        };
        assert!(kinds_of(&copy(&[]), EBS_SNAPSHOT).is_empty());
        assert!(kinds_of(&copy(&["222222222222", "111111111111"]), EBS_SNAPSHOT).is_empty(), "known accounts");
        assert_eq!(kinds_of(&copy(&["all"]), EBS_SNAPSHOT), [("ec2-snapshot-public".to_string(), Severity::Critical)]);
        assert_eq!(
            kinds_of(&copy(&["999999999999", "all"]), RDS_SNAPSHOT),
            [
                ("rds-snapshot-public".to_string(), Severity::Critical),
                ("rds-snapshot-foreign-account".to_string(), Severity::Warning)
            ]
        );
        let f = audit(IMAGE, &copy(&["999999999999"]), "us-east-1", &ctx);
        assert_eq!(f[0].kind, "ec2-image-foreign-account");
        assert_eq!(f[0].title, "image snap-1: account 999999999999 may launch it");
        assert_eq!(
            summarize(&copy(&[]), &copy(&["all", "999999999999"])).0,
            ["shared with everyone", "shared with account 999999999999"]
        );
        assert_eq!(summarize(&copy(&["all"]), &copy(&[])).0, ["no longer shared with everyone"]);
    }
}
