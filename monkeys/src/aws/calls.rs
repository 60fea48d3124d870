//! Counts AWS API calls per service:operation through an SDK interceptor, so a
//! scan can report (debug log and /metrics) how many calls it made.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::Arc;
use troop_core::monkey::Counters;

/// Counts each AWS call of a read into its [`Counters`]: `aws_api_calls`
/// and `aws_api_calls:<service:operation>`.
#[derive(Debug, Clone)]
pub struct CountingInterceptor(Arc<Counters>);

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "troop-call-counter"
    }

    // Not `read_before_execution`: client-level interceptors run that before the
    // operation's configuration (and its `Metadata`) is in the bag.
    fn read_before_serialization(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op =
            cfg.load::<Metadata>().map(|m| format!("{}:{}", m.service(), m.name())).unwrap_or_else(|| "unknown".into());
        tracing::debug!(operation = %op, "aws api call");
        self.0.add(TOTAL, 1);
        self.0.add(&format!("{TOTAL}:{op}"), 1);
        Ok(())
    }
}

/// The counter of every AWS call (`aws_api_calls`).
pub const TOTAL: &str = "aws_api_calls";

/// The interceptor that counts a client's calls into `counters`.
pub fn interceptor(counters: &Arc<Counters>) -> CountingInterceptor {
    CountingInterceptor(counters.clone())
}
