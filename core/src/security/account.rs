//! Account-wide settings that change what other items mean: today S3 Block
//! Public Access set on the account (S3 Control `GetPublicAccessBlock`), which
//! combines with every bucket's own block, most restrictive wins
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html>).
//!
//! One item per account, region `global`, named [`NAME`]: turning a setting
//! off is a revision a reviewer sees like any other change.

use super::s3::PublicAccessBlock;
use crate::monkey::Snapshot;
use serde::{Deserialize, Serialize};

pub const TECHNOLOGY: &str = "account:settings";
/// Account-wide settings live in this region.
pub const GLOBAL: &str = "global";
/// The item's name.
pub const NAME: &str = "account";

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// S3 Block Public Access on the account; None when none is configured
    /// (S3 Control answers `NoSuchPublicAccessBlockConfiguration`).
    pub s3_public_access_block: Option<PublicAccessBlock>,
}

impl Settings {
    pub fn snapshot(&self, account: &str) -> Snapshot {
        Snapshot::new(TECHNOLOGY, account, GLOBAL, NAME, &serde_json::to_value(self).unwrap_or_default())
    }
}

pub fn summarize(old: &Settings, new: &Settings) -> (Vec<String>, &'static [&'static str]) {
    let mut out = Vec::new();
    let off = PublicAccessBlock::default();
    let (a, b) = (old.s3_public_access_block.unwrap_or(off), new.s3_public_access_block.unwrap_or(off));
    for ((name, was), (_, now)) in a.flags().into_iter().zip(b.flags()) {
        if was != now {
            out.push(format!("account S3 public-access block {name} turned {}", if now { "on" } else { "off" }));
        }
    }
    (out, &["s3_public_access_block"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_table() {
        let all = PublicAccessBlock {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        };
        let on = Settings { s3_public_access_block: Some(all) };
        let none = Settings::default();
        let mut one_off = on.clone();
        one_off.s3_public_access_block.as_mut().unwrap().restrict_public_buckets = false;
        let cases: Vec<(&Settings, &Settings, Vec<&str>)> = vec![
            (&on, &on, vec![]),
            (&on, &one_off, vec!["account S3 public-access block RestrictPublicBuckets turned off"]),
            (&one_off, &on, vec!["account S3 public-access block RestrictPublicBuckets turned on"]),
            (
                &none,
                &on,
                vec![
                    "account S3 public-access block BlockPublicAcls turned on",
                    "account S3 public-access block IgnorePublicAcls turned on",
                    "account S3 public-access block BlockPublicPolicy turned on",
                    "account S3 public-access block RestrictPublicBuckets turned on",
                ],
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(summarize(a, b).0, want);
        }
        assert_eq!(on.snapshot("111111111111").item, "account:settings/111111111111/global/account");
    }
}
