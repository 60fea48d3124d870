//! The one list of monkeys: name → how to build it from the config.

use crate::aws::AwsContext;
use std::sync::Arc;
use std::time::Duration;
use troop_config::{Config, MonkeyCommon};
use troop_core::Monkey;
use troop_core::scheduler::Schedule;

/// Every monkey name troop knows, in the order passes are reported.
pub const NAMES: &[&str] = troop_core::MONKEYS;

pub struct Built {
    pub monkey: Arc<dyn Monkey>,
    pub schedule: Schedule,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("unknown monkey `{0}` (known: security, certs, limits)")]
    Unknown(String),
    #[error("monkey `{monkey}`: {reason}")]
    Invalid { monkey: &'static str, reason: String },
}

fn schedule(c: &MonkeyCommon) -> Schedule {
    Schedule { interval: c.interval, jitter: c.jitter, timeout: c.timeout.max(Duration::from_secs(1)) }
}

/// Build the enabled monkeys, or exactly those in `only` (enabled or not) when
/// it is non-empty.
pub fn build(cfg: &Config, aws: &Arc<AwsContext>, only: &[String]) -> Result<Vec<Built>, BuildError> {
    for n in only {
        if !NAMES.contains(&n.as_str()) {
            return Err(BuildError::Unknown(n.clone()));
        }
    }
    let wanted = |name: &str, enabled: bool| if only.is_empty() { enabled } else { only.iter().any(|n| n == name) };
    let mut built = Vec::new();
    let m = &cfg.monkeys;
    if wanted("security", m.security.common.enabled) {
        built.push(Built {
            monkey: Arc::new(crate::security::SecurityMonkey::new(
                aws.clone(),
                cfg.aws.known_accounts.iter().chain(cfg.aws.accounts.iter().map(|a| &a.id)).cloned().collect(),
                cfg.aws.concurrency,
                m.security.technologies.clone(),
            )),
            schedule: schedule(&m.security.common),
        });
    }
    if wanted("certs", m.certs.common.enabled) {
        let monkey = crate::certs::CertsMonkey::new(&m.certs, aws.clone())
            .map_err(|reason| BuildError::Invalid { monkey: "certs", reason })?;
        built.push(Built { monkey: Arc::new(monkey), schedule: schedule(&m.certs.common) });
    }
    if wanted("limits", m.limits.common.enabled) {
        built.push(Built {
            monkey: Arc::new(crate::limits::LimitsMonkey::new(&m.limits, aws.clone())),
            schedule: schedule(&m.limits.common),
        });
    }
    Ok(built)
}
