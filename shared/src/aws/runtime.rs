//! The platform on AWS: every adapter built once from one SDK configuration and the
//! function's environment, for the Lambdas (and `igny8 … --backend aws` later).

use std::sync::Arc;

use aws_sdk_dynamodb::Client as DynamoClient;
use aws_sdk_s3::Client as S3Client;
use aws_sdk_sfn::Client as SfnClient;
use aws_sdk_sqs::Client as SqsClient;

use super::config::{endpoint_override, sdk_config};
use super::{DynamoStore, S3Blobs, SfnWorkflow, SqsQueue};
use crate::ai::{AiError, AiProvider, OfflineProvider, OpenAiConfig, OpenAiProvider};
use crate::automation::{AutomationPorts, AutomationService};
use crate::backend::Services;
use crate::ports::{ItemStore, SystemClock, UuidIds};

/// Missing or unusable configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {0} is not set")]
pub struct MissingSetting(pub &'static str);

/// Where the platform's resources are (names from the SAM template's environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudConfig {
    /// DynamoDB table (`IGNY8_TABLE`).
    pub table: String,
    /// S3 bucket for logs and images (`IGNY8_BUCKET`).
    pub bucket: String,
    /// Automation state machine (`IGNY8_STATE_MACHINE_ARN`).
    pub state_machine_arn: String,
    /// Endpoint override for emulators (`IGNY8_AWS_ENDPOINT`), None on AWS.
    pub endpoint: Option<String>,
}

impl CloudConfig {
    /// Reads the configuration from the environment.
    pub fn from_env() -> Result<Self, MissingSetting> {
        let var = |name: &'static str| std::env::var(name).map_err(|_| MissingSetting(name));
        Ok(Self {
            table: var("IGNY8_TABLE")?,
            bucket: var("IGNY8_BUCKET")?,
            state_machine_arn: var("IGNY8_STATE_MACHINE_ARN")?,
            endpoint: std::env::var("IGNY8_AWS_ENDPOINT").ok().filter(|e| !e.is_empty()),
        })
    }
}

/// The AI provider the environment asks for: an OpenAI-compatible endpoint when
/// `IGNY8_AI_BASE_URL` and `IGNY8_AI_API_KEY` are set, else the offline provider.
pub fn ai_from_env() -> Result<Arc<dyn AiProvider>, AiError> {
    match OpenAiConfig::from_env() {
        Some(config) => Ok(Arc::new(OpenAiProvider::new(config)?)),
        None => Ok(Arc::new(OfflineProvider::new())),
    }
}

/// Every service over the AWS adapters, built from one SDK configuration.
pub async fn automation(config: &CloudConfig, ai: Arc<dyn AiProvider>) -> (Services, AutomationService) {
    let endpoint = config.endpoint.as_deref();
    let shared = sdk_config(endpoint).await;
    let s3 = aws_sdk_s3::config::Builder::from(&shared).force_path_style(endpoint_override(endpoint).is_some()).build();
    let store: Arc<dyn ItemStore> = Arc::new(DynamoStore::new(DynamoClient::new(&shared), config.table.clone()));
    let services = Services::new(Arc::clone(&store));
    let ports = AutomationPorts {
        store,
        blobs: Arc::new(S3Blobs::new(S3Client::from_conf(s3), config.bucket.clone())),
        queue: Arc::new(SqsQueue::new(SqsClient::new(&shared))),
        ai,
        clock: Arc::new(SystemClock),
        ids: Arc::new(UuidIds),
    };
    let automation = AutomationService::new(ports, services.credits.clone());
    automation.set_workflow(Arc::new(SfnWorkflow::new(SfnClient::new(&shared), config.state_machine_arn.clone())));
    (services, automation)
}
