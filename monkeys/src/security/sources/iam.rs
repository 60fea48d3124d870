//! IAM through paginated GetAccountAuthorizationDetails (roles, users,
//! groups and customer-managed policies in one bulk listing, no per-role
//! calls). Access keys and MFA are not in that listing: they come from the
//! credential report (a few calls for any number of users); a user the
//! report does not have yet (created since it was generated) costs one
//! ListAccessKeys and one ListMFADevices, at bounded concurrency.

use super::{Part, Reader, Scope};
use crate::aws::{AwsError, ErrorKind, classify};
use async_trait::async_trait;
use aws_sdk_iam::types::{AttachedPermissionsBoundary, AttachedPolicy, EntityType, PolicyDetail, Tag};
use futures::StreamExt;
use std::collections::BTreeMap;
use troop_core::security::iam::{AccessKey, Credentials, Group, ManagedPolicy, Role, User};
use troop_core::security::{iam, policy};

pub(crate) struct Iam;

const TECHNOLOGIES: &[&str] = &[iam::ROLE, iam::USER, iam::GROUP, iam::POLICY];

#[async_trait]
impl super::Source for Iam {
    fn technologies(&self) -> &'static [&'static str] {
        TECHNOLOGIES
    }
    fn scope(&self) -> Scope {
        Scope::Account
    }
    fn actions(&self) -> &'static [&'static str] {
        &[
            "iam:GetAccountAuthorizationDetails",
            "iam:GenerateCredentialReport",
            "iam:GetCredentialReport",
            "iam:ListAccessKeys",
            "iam:ListMFADevices",
        ]
    }
    /// IAM is global: its events are in us-east-1's event history.
    fn events_region(&self, _technology: &str, _item_region: &str) -> String {
        "us-east-1".into()
    }
    async fn read(&self, r: &Reader<'_>, part: &mut Part) {
        let (acct, region) = (r.account(), iam::GLOBAL);
        let client = r.aws.iam(r.target, r.calls);
        let listing = match iam(&client, r.aws.endpoint(), r.concurrency).await {
            Ok(l) => l,
            Err(e) => return part.failed(TECHNOLOGIES, acct, region, e),
        };
        let ctx = &r.audit;
        for role in &listing.roles {
            part.report.findings.extend(iam::audit_role(role, ctx));
            part.report.snapshots.push(iam::snapshot(iam::ROLE, acct, &role.name, role));
        }
        for u in &listing.users {
            if let Some((_, why)) = listing.unreadable_users.iter().find(|(n, _)| n == &u.name) {
                // Keys/MFA unknown: keep the stored state and its findings.
                part.unreadable(iam::USER, acct, region, &u.name, why);
                continue;
            }
            part.report.findings.extend(iam::audit_user(u, ctx));
            part.report.snapshots.push(iam::snapshot(iam::USER, acct, &u.name, u));
        }
        for g in &listing.groups {
            part.report.findings.extend(iam::audit_group(g, ctx));
            part.report.snapshots.push(iam::snapshot(iam::GROUP, acct, &g.name, g));
        }
        for p in &listing.policies {
            part.report.findings.extend(iam::audit_policy(p, ctx));
            part.report.snapshots.push(iam::snapshot(iam::POLICY, acct, &p.name, p));
        }
        part.covered(TECHNOLOGIES, acct, region);
    }
}

#[derive(Debug, Default)]
pub(crate) struct IamListing {
    pub roles: Vec<Role>,
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub policies: Vec<ManagedPolicy>,
    /// Users whose keys or MFA devices could not be read: (name, reason).
    pub unreadable_users: Vec<(String, String)>,
}

/// The name, or the last segment of the ARN when a listing leaves it out.
fn name(name: Option<&str>, arn: Option<&str>) -> String {
    match name.filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => arn.map(|a| a.rsplit('/').next().unwrap_or(a).to_string()).unwrap_or_default(),
    }
}

fn doc(raw: Option<&str>) -> serde_json::Value {
    policy::content(raw)
}

fn inline(list: &[PolicyDetail]) -> BTreeMap<String, serde_json::Value> {
    list.iter().map(|p| (p.policy_name().unwrap_or_default().to_string(), doc(p.policy_document()))).collect()
}

fn attached(list: &[AttachedPolicy]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().filter_map(|a| a.policy_arn().map(str::to_string)).collect();
    v.sort();
    v.dedup();
    v
}

fn boundary(b: Option<&AttachedPermissionsBoundary>) -> Option<String> {
    b.and_then(|b| b.permissions_boundary_arn()).map(str::to_string)
}

fn tags(list: &[Tag]) -> BTreeMap<String, String> {
    list.iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

async fn iam(client: &aws_sdk_iam::Client, endpoint: Option<&str>, concurrency: usize) -> Result<IamListing, AwsError> {
    let mut out = IamListing::default();
    let mut pages = client
        .get_account_authorization_details()
        .filter(EntityType::Role)
        .filter(EntityType::User)
        .filter(EntityType::Group)
        .filter(EntityType::LocalManagedPolicy)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("iam:GetAccountAuthorizationDetails", endpoint, e))?;
        for r in page.role_detail_list() {
            out.roles.push(Role {
                arn: r.arn().unwrap_or_default().into(),
                name: name(r.role_name(), r.arn()),
                path: r.path().unwrap_or("/").into(),
                trust_policy: doc(r.assume_role_policy_document()),
                inline_policies: inline(r.role_policy_list()),
                attached_policies: attached(r.attached_managed_policies()),
                permissions_boundary: boundary(r.permissions_boundary()),
                tags: tags(r.tags()),
            });
        }
        for u in page.user_detail_list() {
            let mut groups: Vec<String> = u.group_list().to_vec();
            groups.sort();
            out.users.push(User {
                arn: u.arn().unwrap_or_default().into(),
                name: name(u.user_name(), u.arn()),
                path: u.path().unwrap_or("/").into(),
                inline_policies: inline(u.user_policy_list()),
                attached_policies: attached(u.attached_managed_policies()),
                groups,
                permissions_boundary: boundary(u.permissions_boundary()),
                tags: tags(u.tags()),
                access_keys: vec![],
                mfa_active: false,
                legacy_mfa_devices: None,
            });
        }
        for g in page.group_detail_list() {
            out.groups.push(Group {
                arn: g.arn().unwrap_or_default().into(),
                name: name(g.group_name(), g.arn()),
                path: g.path().unwrap_or("/").into(),
                inline_policies: inline(g.group_policy_list()),
                attached_policies: attached(g.attached_managed_policies()),
            });
        }
        for p in page.policies() {
            let default = p.policy_version_list().iter().find(|v| v.is_default_version());
            out.policies.push(ManagedPolicy {
                arn: p.arn().unwrap_or_default().into(),
                name: name(p.policy_name(), p.arn()),
                path: p.path().unwrap_or("/").into(),
                description: p.description().filter(|d| !d.is_empty()).map(str::to_string),
                document: doc(default.and_then(|v| v.document())),
            });
        }
    }
    // Keys and MFA: the credential report, and per user for those it does not have yet.
    let report = match credential_report(client, endpoint).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("IAM credential report unavailable, reading keys and MFA per user: {}", e.message);
            BTreeMap::new()
        }
    };
    let mut missing: Vec<(usize, String)> = Vec::new();
    for (i, u) in out.users.iter_mut().enumerate() {
        match report.get(&u.name) {
            Some(c) => {
                u.access_keys = c.access_keys.clone();
                u.mfa_active = c.mfa_active;
            }
            None => missing.push((i, u.name.clone())),
        }
    }
    let details: Vec<(usize, Result<Credentials, AwsError>)> = futures::stream::iter(missing)
        .map(|(i, name)| async move { (i, user_credentials(client, &name, endpoint).await) })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (i, res) in details {
        match res {
            Ok(c) => {
                out.users[i].access_keys = c.access_keys;
                out.users[i].mfa_active = c.mfa_active;
            }
            Err(e) => out.unreadable_users.push((out.users[i].name.clone(), e.message)),
        }
    }
    Ok(out)
}

/// Attempts at GenerateCredentialReport before reading users one by one.
const REPORT_ATTEMPTS: u32 = 10;

/// The account's credential report: GetCredentialReport, and when there is
/// none yet or it has expired (IAM keeps one for four hours),
/// GenerateCredentialReport until IAM says COMPLETE, then
/// GetCredentialReport again. One call in the steady state, a few at most,
/// whatever the number of users. Keys and MFA are as of the report's
/// generation (docs/security.md says what that means).
async fn credential_report(
    client: &aws_sdk_iam::Client,
    endpoint: Option<&str>,
) -> Result<BTreeMap<String, Credentials>, AwsError> {
    use aws_sdk_iam::types::ReportStateType;
    let get = || async {
        match client.get_credential_report().send().await {
            Ok(report) => {
                let text = report.content.map(|b| b.into_inner()).unwrap_or_default();
                let parsed = iam::credential_report(&String::from_utf8_lossy(&text));
                parsed.map(Some).map_err(|m| AwsError { kind: ErrorKind::Other, message: m })
            }
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_credential_report_not_present_exception()
                        || s.is_credential_report_expired_exception()
                        || s.is_credential_report_not_ready_exception()
                }) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify("iam:GetCredentialReport", endpoint, e)),
        }
    };
    if let Some(report) = get().await? {
        return Ok(report);
    }
    for attempt in 0..REPORT_ATTEMPTS {
        let state = client
            .generate_credential_report()
            .send()
            .await
            .map_err(|e| classify("iam:GenerateCredentialReport", endpoint, e))?
            .state;
        if state == Some(ReportStateType::Complete)
            && let Some(report) = get().await?
        {
            return Ok(report);
        }
        tokio::time::sleep(std::time::Duration::from_millis(250 * u64::from(attempt + 1))).await;
    }
    Err(AwsError { kind: ErrorKind::Other, message: "the credential report was not ready in time".into() })
}

/// A user's access keys and whether an MFA device is active, asked for the
/// user alone (ListAccessKeys, ListMFADevices): for users created since
/// the credential report was generated.
async fn user_credentials(
    client: &aws_sdk_iam::Client,
    user: &str,
    endpoint: Option<&str>,
) -> Result<Credentials, AwsError> {
    let mut keys = Vec::new();
    let mut pages = client.list_access_keys().user_name(user).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("iam:ListAccessKeys", endpoint, e))?;
        for k in page.access_key_metadata() {
            keys.push(AccessKey {
                created: k.create_date().map(|d| troop_core::clock::rfc3339_unix(d.secs())).unwrap_or_default(),
                status: k.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            });
        }
    }
    keys.sort();
    let mut mfa_active = false;
    let mut pages = client.list_mfa_devices().user_name(user).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("iam:ListMFADevices", endpoint, e))?;
        mfa_active |= !page.mfa_devices().is_empty();
    }
    Ok(Credentials { access_keys: keys, mfa_active })
}
