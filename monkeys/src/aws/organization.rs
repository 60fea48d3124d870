//! `[aws.organization]`: the member accounts of an AWS Organization, read
//! with the ambient credentials (the management account or a delegated
//! administrator).
//!
//! Calls (AWS Organizations API reference): `ListAccounts` when no OU is
//! named, else `ListAccountsForParent` and `ListOrganizationalUnitsForParent`
//! from each named OU or root down (the OU walk); `ListTagsForResource` per
//! account (its tags filter it and become its findings' labels). Every list
//! is paginated. Only accounts in state `ACTIVE` are read (a suspended or
//! closing account cannot be assumed into).

use super::{AwsContext, AwsError, Counters, classify};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One member account, as the organization lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: String,
    pub name: String,
    /// The account's ARN in the organization
    /// (`arn:{partition}:organizations::{management}:account/o-…/{id}`).
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

/// The partition of an ARN (`aws`, `aws-cn`, `aws-us-gov`); `aws` when the
/// text is not an ARN.
pub fn partition(arn: &str) -> &str {
    match arn.split(':').collect::<Vec<_>>()[..] {
        ["arn", p, ..] if !p.is_empty() => p,
        _ => "aws",
    }
}

/// The management account of an organization account ARN
/// (`arn:aws:organizations::{management}:account/o-…/{id}`).
pub fn management_account(arn: &str) -> Option<String> {
    match arn.split(':').collect::<Vec<_>>()[..] {
        ["arn", _, "organizations", _, management, _] if !management.is_empty() => Some(management.to_string()),
        _ => None,
    }
}

/// The role to assume in `member`: `arn:{partition}:iam::{id}:role/{role_name}`
/// with `{account_id}` and `{account_name}` of the template replaced.
pub fn role_arn(role_name: &str, member: &Member) -> String {
    let name = role_name.replace("{account_id}", &member.id).replace("{account_name}", &member.name);
    format!("arn:{}:iam::{}:role/{name}", partition(&member.arn), member.id)
}

/// Whether `tags` carries every one of `wanted` (key and value, exactly).
pub fn has_tags(tags: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>) -> bool {
    wanted.iter().all(|(k, v)| tags.get(k) == Some(v))
}

/// Labels of a member's findings: its tags, and its name as `account_name`
/// (a tag of that name yields to the name).
pub fn labels(member: &Member) -> BTreeMap<String, String> {
    let mut l = member.tags.clone();
    l.insert("account_name".into(), member.name.clone());
    l
}

fn active(state: Option<&aws_sdk_organizations::types::AccountState>) -> bool {
    // an emulator that writes no State yet: taken as active
    state.is_none_or(|s| *s == aws_sdk_organizations::types::AccountState::Active)
}

fn member(a: &aws_sdk_organizations::types::Account) -> Option<Member> {
    active(a.state()).then(|| Member {
        id: a.id().unwrap_or_default().to_string(),
        name: a.name().unwrap_or_default().to_string(),
        arn: a.arn().unwrap_or_default().to_string(),
        tags: BTreeMap::new(),
    })
}

/// Read the organization's members that `org` selects, in the order the
/// organization lists them, each once. Errors name the call that failed.
pub async fn members(
    ctx: &AwsContext,
    org: &troop_config::Organization,
    calls: &Arc<Counters>,
) -> Result<Vec<Member>, AwsError> {
    let client = ctx.organizations(calls);
    let endpoint = ctx.endpoint_for("organizations");
    let mut found: Vec<Member> = Vec::new();
    if org.ou_ids.is_empty() {
        let mut pages = client.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("organizations:ListAccounts", endpoint, e))?;
            found.extend(page.accounts().iter().filter_map(member));
        }
    } else {
        // the OU walk: every named OU or root, and every OU below it
        let mut parents: Vec<String> = org.ou_ids.clone();
        let mut walked = BTreeSet::new();
        while let Some(parent) = parents.pop() {
            if !walked.insert(parent.clone()) {
                continue;
            }
            let mut pages = client.list_accounts_for_parent().parent_id(&parent).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify("organizations:ListAccountsForParent", endpoint, e))?;
                found.extend(page.accounts().iter().filter_map(member));
            }
            let mut pages = client.list_organizational_units_for_parent().parent_id(&parent).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify("organizations:ListOrganizationalUnitsForParent", endpoint, e))?;
                parents.extend(page.organizational_units().iter().filter_map(|ou| ou.id().map(str::to_string)));
            }
        }
        let mut seen = BTreeSet::new();
        found.retain(|m| seen.insert(m.id.clone()));
    }
    // each account's tags, `[aws] concurrency` at once (within the budget)
    let client = &client;
    let tagged: Vec<Result<Member, AwsError>> = futures::stream::iter(found)
        .map(|mut m| async move {
            let mut pages = client.list_tags_for_resource().resource_id(&m.id).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify("organizations:ListTagsForResource", endpoint, e))?;
                m.tags.extend(page.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())));
            }
            Ok(m)
        })
        .buffered(ctx.concurrency())
        .collect()
        .await;
    let mut found = tagged.into_iter().collect::<Result<Vec<Member>, AwsError>>()?;
    found.retain(|m| has_tags(&m.tags, &org.account_tags));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, name: &str, arn: &str) -> Member {
        Member { id: id.into(), name: name.into(), arn: arn.into(), tags: BTreeMap::new() }
    }

    #[test]
    fn role_arns_follow_the_template_and_the_partition() {
        let std = "arn:aws:organizations::111111111111:account/o-abc/222222222222";
        let cn = "arn:aws-cn:organizations::111111111111:account/o-abc/222222222222";
        // (template, member's arn, role ARN)
        let cases = [
            ("troop-readonly", std, "arn:aws:iam::222222222222:role/troop-readonly"),
            ("audit/troop", std, "arn:aws:iam::222222222222:role/audit/troop"),
            ("troop-{account_name}", std, "arn:aws:iam::222222222222:role/troop-prod"),
            ("t-{account_id}", cn, "arn:aws-cn:iam::222222222222:role/t-222222222222"),
            ("troop", "not an arn", "arn:aws:iam::222222222222:role/troop"),
        ];
        for (template, arn, want) in cases {
            assert_eq!(role_arn(template, &m("222222222222", "prod", arn)), want, "{template} {arn}");
        }
    }

    #[test]
    fn the_management_account_is_read_from_an_account_arn() {
        let cases = [
            ("arn:aws:organizations::111111111111:account/o-abc/222222222222", Some("111111111111")),
            ("arn:aws-cn:organizations::333333333333:account/o-x/4", Some("333333333333")),
            ("arn:aws:iam::111111111111:role/x", None),
            ("", None),
        ];
        for (arn, want) in cases {
            assert_eq!(management_account(arn).as_deref(), want, "{arn}");
        }
    }

    #[test]
    fn tag_filters_need_every_tag_exactly() {
        let tags: BTreeMap<String, String> =
            [("env".to_string(), "prod".to_string()), ("team".to_string(), "core".to_string())].into();
        let want = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        // (wanted, selected)
        let cases = [
            (want(&[]), true),
            (want(&[("env", "prod")]), true),
            (want(&[("env", "prod"), ("team", "core")]), true),
            (want(&[("env", "Prod")]), false),
            (want(&[("env", "prod"), ("cost", "x")]), false),
            (want(&[("Env", "prod")]), false),
        ];
        for (wanted, selected) in cases {
            assert_eq!(has_tags(&tags, &wanted), selected, "{wanted:?}");
        }
    }

    #[test]
    fn labels_are_the_tags_and_the_name() {
        let mut x = m("222222222222", "prod", "");
        x.tags = [("env".to_string(), "prod".to_string()), ("account_name".to_string(), "tag".to_string())].into();
        assert_eq!(
            labels(&x),
            [("account_name".to_string(), "prod".to_string()), ("env".to_string(), "prod".to_string())].into()
        );
    }
}
