//! CloudTrail trails: whether they log, where, and how well, from
//! `DescribeTrails` (a region's own trails) and `GetTrailStatus`
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_DescribeTrails.html>).
//! troop's own "who changed it" reads CloudTrail: a trail turned off is a
//! change a reviewer must see. Each trail is an item of its home region.

use super::{AuditContext, item_finding};
use crate::finding::{Finding, Severity};
use crate::monkey::Snapshot;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub const TECHNOLOGY: &str = "cloudtrail:trail";

pub mod rules {
    pub const LOGGING_OFF: &str = "cloudtrail-logging-off";
    pub const SINGLE_REGION: &str = "cloudtrail-single-region";
    pub const LOG_VALIDATION_OFF: &str = "cloudtrail-log-file-validation-off";
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Trail {
    pub name: String,
    pub arn: String,
    pub home_region: String,
    /// `GetTrailStatus` `IsLogging`.
    pub is_logging: bool,
    pub is_multi_region_trail: bool,
    pub is_organization_trail: bool,
    pub log_file_validation_enabled: bool,
    pub include_global_service_events: bool,
    pub s3_bucket_name: String,
    pub kms_key_id: Option<String>,
}

impl Trail {
    pub fn snapshot(&self, account: &str, region: &str) -> Snapshot {
        Snapshot::new(TECHNOLOGY, account, region, &self.name, &serde_json::to_value(self).unwrap_or_default())
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

pub fn summarize(old: &Trail, new: &Trail) -> (Vec<String>, &'static [&'static str]) {
    let mut out = Vec::new();
    if old.is_logging != new.is_logging {
        out.push(if new.is_logging { "logging started" } else { "logging stopped" }.into());
    }
    if old.is_multi_region_trail != new.is_multi_region_trail {
        out.push(
            if new.is_multi_region_trail { "now logs every region" } else { "now logs its home region only" }.into(),
        );
    }
    if old.log_file_validation_enabled != new.log_file_validation_enabled {
        out.push(format!("log file validation turned {}", on_off(new.log_file_validation_enabled)));
    }
    if old.include_global_service_events != new.include_global_service_events {
        out.push(format!("global service events (IAM, STS) turned {}", on_off(new.include_global_service_events)));
    }
    if old.s3_bucket_name != new.s3_bucket_name {
        out.push(format!("now delivers to bucket {} (was {})", new.s3_bucket_name, old.s3_bucket_name));
    }
    if old.kms_key_id != new.kms_key_id {
        let key = |k: &Option<String>| k.clone().unwrap_or_else(|| "none".into());
        out.push(format!("encryption key changed from {} to {}", key(&old.kms_key_id), key(&new.kms_key_id)));
    }
    (
        out,
        &[
            "is_logging",
            "is_multi_region_trail",
            "log_file_validation_enabled",
            "include_global_service_events",
            "s3_bucket_name",
            "kms_key_id",
        ],
    )
}

/// `cloudtrail-logging-off` (critical: changes go unrecorded, troop's
/// attribution included), `cloudtrail-single-region` (warning: CIS 3.1
/// wants every region logged), `cloudtrail-log-file-validation-off`
/// (warning: CIS 3.2, log files can be altered undetected).
pub fn audit(t: &Trail, region: &str, ctx: &AuditContext) -> Vec<Finding> {
    let at = (ctx.account.as_str(), region, t.name.as_str());
    let mut out = Vec::new();
    let mut raise = |kind: &str, severity: Severity, reason: String| {
        out.push(item_finding(TECHNOLOGY, kind, severity, at, &[reason], json!({"arn": t.arn})));
    };
    if !t.is_logging {
        raise(rules::LOGGING_OFF, Severity::Critical, "logging is stopped".into());
    }
    if !t.is_multi_region_trail {
        raise(rules::SINGLE_REGION, Severity::Warning, format!("logs {} only", t.home_region));
    }
    if !t.log_file_validation_enabled {
        raise(rules::LOG_VALIDATION_OFF, Severity::Warning, "log file validation is off".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_and_summary_table() {
        let good = Trail {
            name: "org".into(),
            home_region: "us-east-1".into(),
            is_logging: true,
            is_multi_region_trail: true,
            log_file_validation_enabled: true,
            include_global_service_events: true,
            s3_bucket_name: "logs".into(),
            ..Default::default()
        };
        let ctx = AuditContext { account: "1".into(), ..Default::default() };
        let kinds =
            |t: &Trail| audit(t, "us-east-1", &ctx).into_iter().map(|f| (f.kind, f.severity)).collect::<Vec<_>>();
        assert!(kinds(&good).is_empty());
        let mut bad = good.clone();
        bad.is_logging = false;
        bad.is_multi_region_trail = false;
        bad.log_file_validation_enabled = false;
        assert_eq!(
            kinds(&bad),
            [
                (rules::LOGGING_OFF.to_string(), Severity::Critical),
                (rules::SINGLE_REGION.to_string(), Severity::Warning),
                (rules::LOG_VALIDATION_OFF.to_string(), Severity::Warning),
            ]
        );
        assert_eq!(
            summarize(&good, &bad).0,
            ["logging stopped", "now logs its home region only", "log file validation turned off"]
        );
    }
}
