//! Per-service request budgets: every SDK client's HTTP connector waits for a
//! token of its (service, account, region) bucket before each attempt, so a
//! pass stays under the API's rate rather than being throttled into retries.
//! Retries take tokens too. The bucket arithmetic is `troop_core::budget`.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use troop_core::budget::RequestBudget;

/// Requests per second per account and region when `[aws.request_rate]` does
/// not name the service: at or below each API's documented or observed
/// steady rate (EC2's describe bucket refills at 20/s; CloudTrail
/// LookupEvents allows 2/s; Route53 5/s per account).
pub const DEFAULT_RATES: &[(&str, f64)] = &[
    ("ec2", 20.0),
    ("iam", 10.0),
    ("s3", 50.0),
    ("s3control", 10.0),
    ("sts", 20.0),
    ("cloudtrail", 2.0),
    ("servicequotas", 5.0),
    ("acm", 10.0),
    ("elbv2", 10.0),
    ("autoscaling", 10.0),
    ("route53", 5.0),
    ("cloudfront", 5.0),
    // not published; the adaptive retry mode slows down if AWS throttles
    ("organizations", 10.0),
];

const FALLBACK_RATE: f64 = 10.0;

/// The buckets of one process, created on first use.
#[derive(Debug, Default)]
pub struct Budgets {
    rates: BTreeMap<String, f64>,
    buckets: Mutex<HashMap<(String, String, String), Arc<RequestBudget>>>,
}

impl Budgets {
    pub fn new(configured: &BTreeMap<String, f64>) -> Budgets {
        let mut rates: BTreeMap<String, f64> = DEFAULT_RATES.iter().map(|(s, r)| (s.to_string(), *r)).collect();
        rates.extend(configured.iter().map(|(s, r)| (s.clone(), *r)));
        Budgets { rates, buckets: Mutex::new(HashMap::new()) }
    }

    pub fn rate(&self, service: &str) -> f64 {
        self.rates.get(service).copied().unwrap_or(FALLBACK_RATE)
    }

    fn bucket(&self, service: &str, account: &str, region: &str) -> Arc<RequestBudget> {
        let mut m = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        m.entry((service.to_string(), account.to_string(), region.to_string()))
            .or_insert_with(|| Arc::new(RequestBudget::new(self.rate(service))))
            .clone()
    }

    /// `inner`, waiting on the (service, account, region) bucket before each request.
    pub fn client(&self, inner: &SharedHttpClient, service: &str, account: &str, region: &str) -> SharedHttpClient {
        SharedHttpClient::new(Budgeted { inner: inner.clone(), budget: self.bucket(service, account, region) })
    }
}

#[derive(Debug)]
struct Budgeted {
    inner: SharedHttpClient,
    budget: Arc<RequestBudget>,
}

impl HttpClient for Budgeted {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(BudgetedConnector {
            inner: self.inner.http_connector(settings, components),
            budget: self.budget.clone(),
        })
    }
}

#[derive(Debug)]
struct BudgetedConnector {
    inner: SharedHttpConnector,
    budget: Arc<RequestBudget>,
}

impl HttpConnector for BudgetedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, budget) = (self.inner.clone(), self.budget.clone());
        HttpConnectorFuture::new(async move {
            budget.acquire().await;
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_rates_override_defaults_and_buckets_are_shared_per_key() {
        let b = Budgets::new(&[("ec2".to_string(), 3.0), ("newsvc".to_string(), 1.0)].into());
        assert_eq!(b.rate("ec2"), 3.0);
        assert_eq!(b.rate("cloudtrail"), 2.0);
        assert_eq!(b.rate("newsvc"), 1.0);
        assert_eq!(b.rate("unheard-of"), FALLBACK_RATE);
        let x = b.bucket("ec2", "111", "us-east-1");
        assert!(Arc::ptr_eq(&x, &b.bucket("ec2", "111", "us-east-1")));
        assert!(!Arc::ptr_eq(&x, &b.bucket("ec2", "111", "eu-west-1")));
        assert!(!Arc::ptr_eq(&x, &b.bucket("ec2", "222", "us-east-1")));
        assert!(!Arc::ptr_eq(&x, &b.bucket("iam", "111", "us-east-1")));
    }
}
