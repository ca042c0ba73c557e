//! Optimization (issue 13, items 1, 3 and 4): validation and the analyzer over a
//! stored article ([`ContentChecks`], no AI: approval and publishing use it too), and
//! the optimizer ([`OptimizationService`]): an AI rewrite of what the analyzer flags,
//! charged like every AI call, kept only when it scores higher.

pub mod checks;
pub mod service;

pub use checks::{ContentAnalysis, ContentChecks};
pub use service::{OptimizationService, OptimizeEstimate};

use crate::billing::CreditError;
use crate::domain::ContentId;
use crate::repo::RepoError;

/// Why an optimization request failed.
#[derive(Debug, thiserror::Error)]
pub enum OptimizationError {
    /// No such article for the caller.
    #[error("not found: {0}")]
    NotFound(String),
    /// The article has nothing to analyze yet (no body).
    #[error("content {0} is not ready: {1}")]
    NotReady(ContentId, String),
    /// The account cannot pay for the rewrite.
    #[error(transparent)]
    Credits(#[from] CreditError),
    /// The provider failed (nothing was charged).
    #[error("the AI provider failed: {0}")]
    Ai(#[from] igny8_ai::AiError),
    /// Storage failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl OptimizationError {
    /// Stable code for the API and CLI.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::NotReady(..) => "content_not_ready",
            Self::Credits(e) => e.code(),
            Self::Ai(e) if e.is_transient() => "ai_unavailable",
            Self::Ai(_) => "ai_failed",
            Self::Repo(e) => e.code(),
        }
    }
}
