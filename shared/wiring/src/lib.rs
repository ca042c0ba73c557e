//! The wiring room: the one place that builds the services over an adapter family.
//!
//! `embedded` wires the laptop's adapters (SQLite, blob folder, the ASL interpreter),
//! `aws` the cloud's (DynamoDB, S3, SQS, Step Functions, KMS). Each is a cargo feature, so
//! the Lambdas turn on `aws` alone and never link SQLite or the interpreter; no adapter
//! crate depends on this one. `integrations` adds the WordPress and Shopify clients
//! (the embedded family always has them; of the Lambdas, the api, the scheduler and
//! stage-publish), attached by [`attach_integrations`] in both families.
//! `local-embeddings` (part of `embedded`) gives the offline provider the local
//! embedding model ([`offline_from_env`]).

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "embedded")]
pub mod backend;
pub mod billing;
#[cfg(feature = "embedded")]
pub mod embedded;

use std::sync::Arc;

#[cfg(feature = "embedded")]
pub use backend::Backend;
use igny8_ai::{AiError, AiProvider, OfflineProvider, OpenAiConfig, OpenAiProvider};
use igny8_core::automation::AutomationService;
use igny8_core::integration::{CredentialVault, IntegrationPorts};
use igny8_core::ports::{BlobStore, KeyProvider, Platforms};
pub use igny8_core::Services;

/// The AI provider the environment asks for: an OpenAI-compatible endpoint when
/// `IGNY8_AI_BASE_URL` and `IGNY8_AI_API_KEY` are set, else the offline provider
/// (see [`offline_from_env`]).
pub fn ai_from_env() -> Result<Arc<dyn AiProvider>, AiError> {
    match OpenAiConfig::from_env() {
        Some(config) => Ok(Arc::new(OpenAiProvider::new(config)?)),
        None => Ok(Arc::new(offline_from_env())),
    }
}

/// The offline provider, embedding with the local all-MiniLM-L6-v2 model when its
/// files are installed (`scripts/models.sh`; the embedded family only, through the
/// `local-embeddings` feature): semantic clustering then works with no network, and
/// `auto` picks it. Without the files, or in a Lambda, it has no embedding model.
pub fn offline_from_env() -> OfflineProvider {
    let provider = OfflineProvider::new();
    #[cfg(feature = "local-embeddings")]
    if let Some(embedder) = igny8_embed::MiniLmEmbedder::from_env() {
        return provider.with_embedder(Arc::new(embedder));
    }
    provider
}

/// Gives `services` their integrations — credentials sealed by `keys` (KMS in the cloud,
/// the local key file on a laptop), the platform clients, the images in `blobs` — and
/// binds the publishing stage of `automation` to the same publisher.
pub fn attach_integrations(
    services: Services,
    automation: &AutomationService,
    keys: Arc<dyn KeyProvider>,
    platforms: Platforms,
    blobs: Arc<dyn BlobStore>,
) -> Services {
    let services = services.with_integrations(IntegrationPorts { vault: CredentialVault::new(keys), platforms, blobs });
    automation.set_publishing(services.publishing.clone());
    services
}
