//! The one place where AWS SDK configuration is built, shared by every adapter in `aws/`.
//!
//! Every AWS adapter (DynamoDB, S3, SQS, Step Functions) must resolve region, endpoint
//! and credentials the same way, or a laptop pointed at an emulator would work for one
//! service and fail for the next. Building the `SdkConfig` here keeps those rules in
//! one function; each adapter only layers its service-specific tweaks on top.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// The SDK's interceptor types, the same for every service client (they come from
/// `aws-smithy-runtime-api`): one interceptor can observe DynamoDB, S3 and SQS alike,
/// as the request-counting benchmarks do.
pub use aws_sdk_dynamodb::config::{Intercept, SharedInterceptor};

/// Region used when neither the environment nor a profile names one, so a laptop
/// pointed at an emulator needs no AWS configuration at all.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The endpoint override, if one is really given: an empty string means "none", so an
/// unset-but-exported environment variable does not point clients at nothing.
pub fn endpoint_override(endpoint: Option<&str>) -> Option<&str> {
    endpoint.filter(|e| !e.is_empty())
}

/// Loads the shared SDK configuration from the standard AWS chain.
///
/// `endpoint` points every client built from it at an emulator (moto, LocalStack);
/// when it is given and the environment holds no AWS credentials, static
/// `test`/`test` credentials are used so a laptop needs no AWS account. The region
/// falls back to [`DEFAULT_REGION`].
pub async fn sdk_config(endpoint: Option<&str>) -> SdkConfig {
    // The loader resolves the region itself (environment, profile, IMDS) with the same
    // HTTPS client as everything else; a chain built outside it would have none.
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
    if let Some(endpoint) = endpoint_override(endpoint) {
        loader = loader.endpoint_url(endpoint);
        if !credentials_in_env() {
            loader = loader.credentials_provider(Credentials::new("test", "test", None, None, "igny8-emulator"));
        }
    }
    let config = loader.load().await;
    if config.region().is_some() {
        return config;
    }
    config.into_builder().region(Region::new(DEFAULT_REGION)).build()
}

/// The one HTTPS client every service client (and the credential providers) uses:
/// rustls on ring. The SDK's default would link aws-lc, a C library that made up most of
/// each Lambda zip; ring is smaller and already built for the AI provider's client.
fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// Whether the environment names credentials (keys, a profile, web identity, a
/// container role): then they win over the emulator's static ones, so pointing at a
/// real endpoint with real credentials still works.
fn credentials_in_env() -> bool {
    [
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_endpoint_means_none() {
        assert_eq!(endpoint_override(None), None);
        assert_eq!(endpoint_override(Some("")), None);
        assert_eq!(endpoint_override(Some("http://127.0.0.1:5000")), Some("http://127.0.0.1:5000"));
    }

    #[tokio::test]
    async fn emulator_config_has_endpoint_and_a_region() {
        let config = sdk_config(Some("http://127.0.0.1:1")).await;
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:1"));
        assert!(config.region().is_some());
    }
}
