//! Counts AWS API calls per service:operation through an SDK interceptor, so a
//! scan can report (debug log and /metrics) how many calls it made.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct CallCounter {
    by_operation: Mutex<BTreeMap<String, u64>>,
}

#[derive(Debug, Clone)]
pub struct CountingInterceptor(Arc<CallCounter>);

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
        *self.0.by_operation.lock().unwrap_or_else(|e| e.into_inner()).entry(op).or_default() += 1;
        Ok(())
    }
}

impl CallCounter {
    pub fn interceptor(self: &Arc<Self>) -> CountingInterceptor {
        CountingInterceptor(self.clone())
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.by_operation.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    /// Calls made since `before` (a previous snapshot), as report counters:
    /// `aws_api_calls` plus one `aws_api_calls:<service:operation>` each.
    pub fn counters_since(&self, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        let mut total = 0;
        for (op, n) in self.snapshot() {
            let d = n - before.get(&op).copied().unwrap_or(0);
            if d > 0 {
                total += d;
                out.insert(format!("aws_api_calls:{op}"), d);
            }
        }
        out.insert("aws_api_calls".into(), total);
        out
    }
}
