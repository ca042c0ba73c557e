//! Keyword clustering as one service for the run's stage 1 and for `igny8 cluster`:
//! the cluster mode resolved against the provider (semantic needs an embedding
//! model; `auto` falls back to lexical and says why), keyword embeddings read from
//! the embedding cache and only the missing ones embedded, then the grouping
//! (lexical: [`igny8_ai::offline::cluster`], semantic:
//! [`igny8_ai::offline::semantic`]).
//!
//! Why a cache: embeddings depend only on the model and the keyword's text, so a
//! re-run, or new keywords joining old clusters, embeds (and pays for) only the
//! keywords never seen before.

use std::sync::Arc;

use igny8_ai::{AiError, AiProvider, ClusterOut, KeywordInput};

use crate::domain::ClusterMode;
use crate::ports::ItemStore;
use crate::repo::RepoError;

/// Why clustering could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ClusteringError {
    /// Semantic clustering was asked for, but the provider has no embedding model.
    #[error("semantic clustering needs an embedding model: {0}")]
    NoEmbeddingModel(String),
    /// The provider failed.
    #[error(transparent)]
    Ai(#[from] AiError),
    /// The embedding cache could not be read or written.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl ClusteringError {
    /// Stable code for the edges.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoEmbeddingModel(_) => "embedding_model_missing",
            Self::Ai(_) => "ai_failed",
            Self::Repo(e) => e.code(),
        }
    }
}

/// What `igny8 cluster` gets back: the clusters (named by the algorithm; no paid
/// naming call) and how they were made.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusteringOutcome {
    /// The clusters, `keywords` indices into the input, pillar first.
    pub clusters: Vec<ClusterOut>,
    /// The mode used: lexical or semantic, never auto.
    pub mode: ClusterMode,
    /// Why `auto` fell back to lexical, when it did.
    pub fallback: Option<String>,
    /// Keywords whose embedding came from the cache.
    pub cached: usize,
    /// Keywords embedded by the model in this call.
    pub embedded: usize,
}

/// Clustering over a provider and the store that holds the embedding cache.
#[derive(Clone)]
pub struct KeywordClustering {
    ai: Arc<dyn AiProvider>,
    store: Arc<dyn ItemStore>,
}

impl KeywordClustering {
    /// Clustering with `ai`'s embedding model and the cache in `store`.
    pub fn new(ai: Arc<dyn AiProvider>, store: Arc<dyn ItemStore>) -> Self {
        Self { ai, store }
    }

    /// Groups a keyword list with no site and no credits (`igny8 cluster`): the
    /// embeddings are cached under the local scope. `progress(done, total)` is
    /// called after each embedding batch.
    pub async fn cluster_list(
        &self,
        keywords: &[KeywordInput],
        mode: ClusterMode,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<ClusteringOutcome, ClusteringError> {
        let _ = (keywords, mode, progress, &self.ai, &self.store);
        todo!("cluster a list")
    }
}
