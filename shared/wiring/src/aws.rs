//! The platform on AWS: every adapter built once from one SDK configuration and the
//! function's environment, for the Lambdas (and `igny8 … --backend aws` later).

use std::sync::Arc;

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_kms::Client as KmsClient;
use aws_sdk_s3::Client as S3Client;
use aws_sdk_sfn::Client as SfnClient;
use aws_sdk_sqs::Client as SqsClient;

use igny8_ai::AiProvider;
use igny8_aws::config::{endpoint_override, sdk_config};
use igny8_aws::{DynamoStore, S3Blobs, SfnWorkflow, SqsQueue};
use igny8_core::automation::{AutomationPorts, AutomationService, IMAGE_QUEUE};
use igny8_core::ports::queue::validate_queue_name;
use igny8_core::ports::{ItemStore, SystemClock, UuidIds};
use igny8_core::Services;

use crate::billing::{seller_from_lookup, stripe_secret_from_lookup, WebhookSecret, STRIPE_SECRET_ENV};
use igny8_core::domain::SellerDetails;

/// Missing or unusable configuration, found at cold start rather than at the first
/// request that needs it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset.
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    /// A variable is set to something unusable.
    #[error("environment variable {name}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// The environment variable naming the integrations' KMS key.
pub const KMS_KEY_ENV: &str = "IGNY8_KMS_KEY_ID";

/// Where the platform's resources are (names from the SAM template's environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudConfig {
    /// DynamoDB table (`IGNY8_TABLE`).
    pub table: String,
    /// S3 bucket for logs and images (`IGNY8_BUCKET`).
    pub bucket: String,
    /// Automation state machine (`IGNY8_STATE_MACHINE_ARN`).
    pub state_machine_arn: String,
    /// Queue of stage 6's image jobs (`IGNY8_IMAGE_QUEUE`, default [`IMAGE_QUEUE`]).
    pub image_queue: String,
    /// Its URL when known (`IGNY8_IMAGE_QUEUE_URL`): saves a GetQueueUrl per cold start.
    pub image_queue_url: Option<String>,
    /// Endpoint override for emulators (`IGNY8_AWS_ENDPOINT`), None on AWS.
    pub endpoint: Option<String>,
    /// The Stripe webhook's signing secret (`IGNY8_STRIPE_WEBHOOK_SECRET`, filled by
    /// CloudFormation from Secrets Manager); None: webhooks are not configured.
    pub stripe_webhook_secret: Option<WebhookSecret>,
    /// The seller printed on every invoice (`IGNY8_SELLER_*`).
    pub seller: SellerDetails,
    /// The KMS key that wraps integration credentials' data keys (`IGNY8_KMS_KEY_ID`:
    /// its ARN or alias), set for the functions that seal or open them.
    pub kms_key_id: Option<String>,
}

impl CloudConfig {
    /// Reads the configuration from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests);
    /// empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let optional = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let required = |name: &'static str| optional(name).ok_or(ConfigError::Missing(name));
        let image_queue = optional("IGNY8_IMAGE_QUEUE").unwrap_or_else(|| IMAGE_QUEUE.to_owned());
        validate_queue_name(&image_queue)
            .map_err(|e| ConfigError::Invalid { name: "IGNY8_IMAGE_QUEUE", reason: e.to_string() })?;
        Ok(Self {
            table: required("IGNY8_TABLE")?,
            bucket: required("IGNY8_BUCKET")?,
            state_machine_arn: required("IGNY8_STATE_MACHINE_ARN")?,
            image_queue,
            image_queue_url: optional("IGNY8_IMAGE_QUEUE_URL"),
            endpoint: optional("IGNY8_AWS_ENDPOINT"),
            stripe_webhook_secret: stripe_secret_from_lookup(&lookup)
                .map_err(|e| ConfigError::Invalid { name: STRIPE_SECRET_ENV, reason: e.to_string() })?,
            seller: seller_from_lookup(&lookup),
            kms_key_id: optional(KMS_KEY_ENV),
        })
    }
}

/// Every service over the AWS adapters, built from one SDK configuration.
///
/// Fails only on an unusable `image_queue_url` (the rest was checked by
/// [`CloudConfig::from_lookup`]).
pub async fn automation(
    config: &CloudConfig,
    ai: Arc<dyn AiProvider>,
) -> Result<(Services, AutomationService), ConfigError> {
    let (services, automation, _) = build(config, ai).await?;
    Ok((services, automation))
}

/// [`automation`], and a KMS client on the same SDK configuration for the functions
/// that add integrations (making a client sends nothing).
async fn build(
    config: &CloudConfig,
    ai: Arc<dyn AiProvider>,
) -> Result<(Services, AutomationService, KmsClient), ConfigError> {
    let endpoint = config.endpoint.as_deref();
    let shared = sdk_config(endpoint).await;
    let s3 = aws_sdk_s3::config::Builder::from(&shared).force_path_style(endpoint_override(endpoint).is_some()).build();
    let store: Arc<dyn ItemStore> = Arc::new(DynamoStore::new(DynamoClient::new(&shared), config.table.clone()));
    let services = Services::new(Arc::clone(&store));
    let queue = SqsQueue::new(SqsClient::new(&shared));
    if let Some(url) = &config.image_queue_url {
        queue
            .remember_url(&config.image_queue, url)
            .map_err(|e| ConfigError::Invalid { name: "IGNY8_IMAGE_QUEUE_URL", reason: e.to_string() })?;
    }
    let ports = AutomationPorts {
        store,
        blobs: Arc::new(S3Blobs::new(S3Client::from_conf(s3), config.bucket.clone())),
        queue: Arc::new(queue),
        ai,
        clock: Arc::new(SystemClock),
        ids: Arc::new(UuidIds),
    };
    let automation = AutomationService::new(ports, services.credits.clone());
    automation.set_workflow(Arc::new(SfnWorkflow::new(SfnClient::new(&shared), config.state_machine_arn.clone())));
    automation.set_image_queue(config.image_queue.clone());
    Ok((services, automation, KmsClient::new(&shared)))
}

/// [`automation`] for the functions that finalize invoices (the api and the
/// scheduler): their services render invoice PDFs into the bucket.
#[cfg(feature = "documents")]
pub async fn automation_with_documents(
    config: &CloudConfig,
    ai: Arc<dyn AiProvider>,
) -> Result<(Services, AutomationService), ConfigError> {
    let (services, automation) = automation(config, ai).await?;
    let blobs = Arc::clone(&automation.ports().blobs);
    Ok((crate::billing::with_invoice_pdfs(services, blobs, config.seller.clone()), automation))
}

/// [`automation`] for the functions that seal, open and publish with integration
/// credentials (stage-publish): data keys from KMS under `IGNY8_KMS_KEY_ID` (required
/// here), the real WordPress and Shopify clients, images from the bucket; the
/// publishing stage bound to the same publisher.
#[cfg(feature = "integrations")]
pub async fn automation_with_integrations(
    config: &CloudConfig,
    ai: Arc<dyn AiProvider>,
) -> Result<(Services, AutomationService), ConfigError> {
    let (services, automation, kms) = build(config, ai).await?;
    let services = integrations_on(services, &automation, config, kms)?;
    Ok((services, automation))
}

/// [`automation_with_documents`] and [`automation_with_integrations`] together: the api
/// (invoices, integrations CRUD, publishing) and the scheduler (renewals, sync).
#[cfg(all(feature = "documents", feature = "integrations"))]
pub async fn automation_with_documents_and_integrations(
    config: &CloudConfig,
    ai: Arc<dyn AiProvider>,
) -> Result<(Services, AutomationService), ConfigError> {
    let (services, automation, kms) = build(config, ai).await?;
    let services = integrations_on(services, &automation, config, kms)?;
    let blobs = Arc::clone(&automation.ports().blobs);
    Ok((crate::billing::with_invoice_pdfs(services, blobs, config.seller.clone()), automation))
}

/// Attaches integrations on KMS; a function wired for them without a key is refused
/// at cold start.
#[cfg(feature = "integrations")]
fn integrations_on(
    services: Services,
    automation: &AutomationService,
    config: &CloudConfig,
    kms: KmsClient,
) -> Result<Services, ConfigError> {
    let key_id = config.kms_key_id.clone().ok_or(ConfigError::Missing(KMS_KEY_ENV))?;
    let keys = Arc::new(igny8_aws::KmsKeys::new(kms, key_id));
    let blobs = Arc::clone(&automation.ports().blobs);
    Ok(crate::attach_integrations(services, automation, keys, igny8_platforms::default_platforms(), blobs))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name: &str| map.get(name).cloned()
    }

    const BASE: [(&str, &str); 3] = [
        ("IGNY8_TABLE", "t"),
        ("IGNY8_BUCKET", "b"),
        ("IGNY8_STATE_MACHINE_ARN", "arn:aws:states:us-east-1:1:stateMachine:m"),
    ];

    #[test]
    fn the_image_queue_defaults_to_the_embedded_name() {
        let config = CloudConfig::from_lookup(lookup(&BASE)).expect("config");
        assert_eq!(config.image_queue, IMAGE_QUEUE);
        assert_eq!(config.image_queue_url, None);
        assert_eq!(config.endpoint, None);
        assert_eq!(config.stripe_webhook_secret, None);
        assert_eq!(config.kms_key_id, None);
    }

    #[cfg(feature = "integrations")]
    #[tokio::test]
    async fn integrations_need_the_kms_key_and_bind_the_publisher() {
        let mut vars = BASE.to_vec();
        vars.push(("IGNY8_AWS_ENDPOINT", "http://127.0.0.1:1"));
        let config = CloudConfig::from_lookup(lookup(&vars)).expect("config");
        let ai = Arc::new(igny8_ai::OfflineProvider::new());
        let missing = automation_with_integrations(&config, ai.clone()).await.err();
        assert_eq!(missing, Some(ConfigError::Missing(KMS_KEY_ENV)));
        vars.push((KMS_KEY_ENV, "alias/igny8-integrations"));
        let config = CloudConfig::from_lookup(lookup(&vars)).expect("config");
        assert_eq!(config.kms_key_id.as_deref(), Some("alias/igny8-integrations"));
        let (services, _) = automation_with_integrations(&config, ai).await.expect("wired");
        assert!(services.integrations.ports().is_ok(), "integrations are configured");
    }

    #[test]
    fn the_stripe_secret_comes_from_the_environment_and_a_weak_one_is_refused() {
        let mut vars = BASE.to_vec();
        vars.push((STRIPE_SECRET_ENV, "whsec_0123456789abcdef0123"));
        let config = CloudConfig::from_lookup(lookup(&vars)).expect("config");
        assert_eq!(config.stripe_webhook_secret.map(|s| s.as_bytes().len()), Some(26));
        vars.push((STRIPE_SECRET_ENV, "whsec_x7q"));
        let e = CloudConfig::from_lookup(lookup(&vars)).expect_err("weak");
        assert!(matches!(e, ConfigError::Invalid { name: STRIPE_SECRET_ENV, .. }));
        assert!(!e.to_string().contains("x7q"), "the secret is not echoed");
    }

    #[test]
    fn the_image_queue_and_its_url_come_from_the_environment() {
        let mut vars = BASE.to_vec();
        vars.push(("IGNY8_IMAGE_QUEUE", "stack-images"));
        vars.push(("IGNY8_IMAGE_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/stack-images"));
        let config = CloudConfig::from_lookup(lookup(&vars)).expect("config");
        assert_eq!(config.image_queue, "stack-images");
        assert_eq!(config.image_queue_url.as_deref(), Some("https://sqs.us-east-1.amazonaws.com/1/stack-images"));
    }

    #[test]
    fn bad_or_missing_settings_are_refused() {
        assert_eq!(CloudConfig::from_lookup(lookup(&BASE[1..])), Err(ConfigError::Missing("IGNY8_TABLE")));
        let mut vars = BASE.to_vec();
        vars.push(("IGNY8_IMAGE_QUEUE", "not a queue"));
        assert!(matches!(
            CloudConfig::from_lookup(lookup(&vars)),
            Err(ConfigError::Invalid { name: "IGNY8_IMAGE_QUEUE", .. })
        ));
    }

    #[tokio::test]
    async fn the_service_sends_to_the_configured_queue() {
        let mut vars = BASE.to_vec();
        vars.push(("IGNY8_IMAGE_QUEUE", "stack-images"));
        vars.push(("IGNY8_AWS_ENDPOINT", "http://127.0.0.1:1"));
        let config = CloudConfig::from_lookup(lookup(&vars)).expect("config");
        let (_, service) = automation(&config, Arc::new(igny8_ai::OfflineProvider::new())).await.expect("wiring");
        assert_eq!(service.image_queue(), "stack-images");
        vars.push(("IGNY8_IMAGE_QUEUE_URL", "stack-images"));
        let config = CloudConfig::from_lookup(lookup(&vars)).expect("config");
        let bad = automation(&config, Arc::new(igny8_ai::OfflineProvider::new())).await;
        assert!(matches!(bad, Err(ConfigError::Invalid { name: "IGNY8_IMAGE_QUEUE_URL", .. })));
    }
}
