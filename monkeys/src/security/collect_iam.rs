//! IO: IAM through paginated GetAccountAuthorizationDetails (roles, users,
//! groups and customer-managed policies in one bulk listing, no per-role
//! calls). Access keys and MFA devices are not in that listing: they cost one
//! ListAccessKeys and one ListMFADevices per user, at bounded concurrency.

use crate::aws::{AwsError, classify};
use aws_sdk_iam::types::{AttachedPermissionsBoundary, AttachedPolicy, EntityType, PolicyDetail, Tag};
use futures::StreamExt;
use std::collections::BTreeMap;
use troop_core::security::iam::{AccessKey, Group, ManagedPolicy, Role, User};
use troop_core::security::policy;

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
    match raw {
        None => serde_json::Value::Null,
        Some(r) => policy::parse(r).unwrap_or_else(|e| serde_json::json!({ "unparsed": r, "error": e })),
    }
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

pub(crate) async fn iam(
    client: &aws_sdk_iam::Client,
    endpoint: Option<&str>,
    concurrency: usize,
) -> Result<IamListing, AwsError> {
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
                mfa_devices: vec![],
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
    // Keys and MFA devices, per user.
    let names: Vec<(usize, String)> = out.users.iter().enumerate().map(|(i, u)| (i, u.name.clone())).collect();
    let details: Vec<(usize, Result<Credentials, AwsError>)> = futures::stream::iter(names)
        .map(|(i, name)| async move { (i, user_credentials(client, &name, endpoint).await) })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (i, res) in details {
        match res {
            Ok((keys, mfa)) => {
                out.users[i].access_keys = keys;
                out.users[i].mfa_devices = mfa;
            }
            Err(e) => out.unreadable_users.push((out.users[i].name.clone(), e.message)),
        }
    }
    Ok(out)
}

/// A user's access keys and MFA device serials.
type Credentials = (Vec<AccessKey>, Vec<String>);

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
                id: k.access_key_id().unwrap_or_default().into(),
                status: k.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
            });
        }
    }
    keys.sort();
    let mut mfa = Vec::new();
    let mut pages = client.list_mfa_devices().user_name(user).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("iam:ListMFADevices", endpoint, e))?;
        mfa.extend(page.mfa_devices().iter().map(|d| d.serial_number().to_string()));
    }
    mfa.sort();
    Ok((keys, mfa))
}
