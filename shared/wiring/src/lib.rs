//! The wiring room: the one place that builds the services over an adapter family.
//!
//! `embedded` wires the laptop's adapters (SQLite, blob folder, the ASL interpreter),
//! `aws` the cloud's (DynamoDB, S3, SQS, Step Functions). Each is a cargo feature, so the
//! Lambdas turn on `aws` alone and never link SQLite or the interpreter; no adapter
//! crate depends on this one.

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
pub use igny8_core::Services;

/// The AI provider the environment asks for: an OpenAI-compatible endpoint when
/// `IGNY8_AI_BASE_URL` and `IGNY8_AI_API_KEY` are set, else the offline provider.
pub fn ai_from_env() -> Result<Arc<dyn AiProvider>, AiError> {
    match OpenAiConfig::from_env() {
        Some(config) => Ok(Arc::new(OpenAiProvider::new(config)?)),
        None => Ok(Arc::new(OfflineProvider::new())),
    }
}
