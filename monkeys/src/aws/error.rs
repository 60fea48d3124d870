//! AWS SDK errors turned into one readable line and a kind the monkeys act on.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::error::Error as StdError;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Connection refused, DNS failure, TLS failure, timeout.
    Unreachable,
    /// The credentials were rejected or missing.
    Credentials,
    AccessDenied,
    Throttled,
    /// Local configuration (no region...).
    Config,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AwsError {}

impl AwsError {
    pub fn config(msg: impl Into<String>) -> Self {
        AwsError { kind: ErrorKind::Config, message: msg.into() }
    }
}

fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].trim().to_string()).filter(|s| !s.is_empty())
}

/// Every message of an error and its sources, outermost first.
fn error_chain(e: &(dyn StdError + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut cur = e;
    while let Some(next) = cur.source() {
        out.push(next.to_string());
        cur = next;
    }
    out
}

/// The innermost cause's message, the one that usually says what happened.
fn root_cause(e: &(dyn StdError + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

const CREDENTIAL_CODES: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "AuthFailure",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
];
const DENIED_CODES: &[&str] = &["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AllAccessDisabled"];
const THROTTLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "RequestThrottled",
    "RequestThrottledException",
];

/// The proxy for `target` (an endpoint URL, or `AWS`: https to AWS),
/// redacted, unless `NO_PROXY` exempts its host.
fn proxy_for(target: &str) -> Option<String> {
    troop_core::proxy::for_url(if target == "AWS" { "https://amazonaws.com" } else { target })
}

/// Describe an SDK error for `operation` (e.g. `ec2:DescribeSecurityGroups`).
pub fn classify<E>(operation: &str, endpoint: Option<&str>, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let shown = endpoint.map(troop_core::proxy::redact);
    let target = shown.as_deref().unwrap_or("AWS");
    tracing::debug!(operation, error = %aws_smithy_types::error::display::DisplayErrorContext(&err), "AWS call failed");
    match &err {
        SdkError::DispatchFailure(d) => {
            let chain = error_chain(&err);
            let inner =
                chain.last().map(|m| m.lines().next().unwrap_or_default().trim_end_matches("Attempted:").trim());
            let inner = inner.unwrap_or_default().to_string();
            if d.is_user() || chain.iter().any(|m| m.to_lowercase().contains("credential")) {
                // No credentials in the chain, or a bad profile: say so in one line.
                return AwsError {
                    kind: ErrorKind::Credentials,
                    message: format!(
                        "no usable AWS credentials for {operation}: {inner} (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or run with an instance role)"
                    ),
                };
            }
            let via = proxy_for(target).map(|p| format!(" through the proxy {p}")).unwrap_or_default();
            AwsError {
                kind: ErrorKind::Unreachable,
                message: format!("cannot reach {target}{via} ({operation}): {inner}"),
            }
        }
        SdkError::TimeoutError(_) => {
            AwsError { kind: ErrorKind::Unreachable, message: format!("{operation} against {target} timed out") }
        }
        SdkError::ConstructionFailure(_) => {
            let inner = StdError::source(&err).map(root_cause).unwrap_or_else(|| err.to_string());
            let kind =
                if inner.to_lowercase().contains("credential") { ErrorKind::Credentials } else { ErrorKind::Other };
            AwsError { kind, message: format!("{operation}: {inner}") }
        }
        _ => {
            let raw = err.raw_response();
            let status = raw.map(|r| r.status().as_u16());
            let body =
                raw.and_then(|r| r.body().bytes()).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            // Some endpoints wrap errors differently from what the SDK expects
            // (`<Errors><Error>`); read the code from the body then.
            let code =
                err.code().map(str::to_string).or_else(|| xml_tag(&body, "Code")).unwrap_or_else(|| match status {
                    Some(401 | 403) => "AccessDenied".to_string(),
                    Some(429) => "Throttling".to_string(),
                    Some(s) => format!("HTTP{s}"),
                    None => "Unknown".to_string(),
                });
            let detail = err
                .message()
                .map(str::to_string)
                .or_else(|| xml_tag(&body, "Message"))
                .unwrap_or_else(|| StdError::source(&err).map(root_cause).unwrap_or_else(|| err.to_string()));
            let kind = if CREDENTIAL_CODES.contains(&code.as_str()) {
                ErrorKind::Credentials
            } else if DENIED_CODES.contains(&code.as_str()) {
                ErrorKind::AccessDenied
            } else if THROTTLE_CODES.contains(&code.as_str()) {
                ErrorKind::Throttled
            } else {
                ErrorKind::Other
            };
            let prefix = match kind {
                ErrorKind::Credentials => "AWS rejected the credentials: ",
                ErrorKind::AccessDenied => "access denied: ",
                ErrorKind::Throttled => "throttled past retries: ",
                _ => "",
            };
            AwsError { kind, message: format!("{prefix}{operation} failed with {code}: {detail}") }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::xml_tag;

    #[test]
    fn reads_codes_from_either_error_shape() {
        let query =
            "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>";
        let ec2 = "<Response><Errors><Error><Code>AuthFailure</Code><Message>no</Message></Error></Errors></Response>";
        assert_eq!(xml_tag(query, "Code").as_deref(), Some("Throttling"));
        assert_eq!(xml_tag(query, "Message").as_deref(), Some("Rate exceeded"));
        assert_eq!(xml_tag(ec2, "Code").as_deref(), Some("AuthFailure"));
        assert_eq!(xml_tag("{}", "Code"), None);
        assert_eq!(xml_tag("<Code></Code>", "Code"), None);
    }
}
