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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use igny8_ai::offline::semantic::{plan_semantic_clusters, SemanticOptions};
use igny8_ai::{AiError, AiProvider, ClusterOptions, ClusterOut, ClusterPlan, ExistingCluster, KeywordInput, Usage};

use crate::domain::ClusterMode;
use crate::planner::import::normalise;
use crate::ports::ItemStore;
use crate::repo::{EmbeddingCache, EmbeddingScope, RepoError};

/// Keywords sent to the embedding model per call: the CLI's progress bar ticks per
/// batch, and a batch stays far below any `/embeddings` endpoint's input limit.
pub const EMBED_BATCH: usize = 64;

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

/// A cluster mode resolved against the provider: what will actually run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedMode {
    /// Lexical or semantic, never auto.
    pub mode: ClusterMode,
    /// The embedding model, when the mode is semantic.
    pub model: Option<String>,
    /// Why `auto` chose what it chose (semantic with model X, or lexical because
    /// there is none): the line the run's log and the CLI show. None for an explicit
    /// mode.
    pub reason: Option<String>,
}

/// Vectors of normalised keywords: what the cache had, and what it lacked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookup {
    /// Vectors found, by normalised keyword.
    pub found: BTreeMap<String, Vec<f32>>,
    /// Normalised keywords with no cached vector, sorted (so batches, and the
    /// vectors a model gives for them, do not depend on input order).
    pub missing: Vec<String>,
}

impl Lookup {
    /// The vector of every keyword, in order, once `found` holds them all.
    pub fn vectors(&self, keywords: &[KeywordInput]) -> Result<Vec<Vec<f32>>, AiError> {
        keywords
            .iter()
            .map(|k| {
                self.found
                    .get(&normalise(&k.keyword))
                    .cloned()
                    .ok_or_else(|| AiError::InvalidOutput(format!("no embedding for keyword {:?}", k.keyword)))
            })
            .collect()
    }

    /// Adds vectors embedded for `texts`.
    pub fn add(&mut self, texts: &[String], vectors: Vec<Vec<f32>>) {
        for (t, v) in texts.iter().zip(vectors) {
            self.found.insert(t.clone(), v);
        }
        let found = &self.found;
        self.missing.retain(|m| !found.contains_key(m));
    }
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

    /// The embedding cache this clustering reads and fills.
    pub fn cache(&self) -> EmbeddingCache {
        EmbeddingCache::new(Arc::clone(&self.store))
    }

    /// Resolves `mode` against the provider's embedding model: semantic without one
    /// is [`ClusteringError::NoEmbeddingModel`]; auto is semantic when there is one,
    /// else lexical, with the reason.
    pub fn resolve(&self, mode: ClusterMode) -> Result<ResolvedMode, ClusteringError> {
        let model = self.ai.embedding_model().filter(|m| !m.trim().is_empty());
        match (mode, model) {
            (ClusterMode::Lexical, _) => Ok(ResolvedMode { mode: ClusterMode::Lexical, model: None, reason: None }),
            (ClusterMode::Semantic, Some(model)) => {
                Ok(ResolvedMode { mode: ClusterMode::Semantic, model: Some(model), reason: None })
            }
            (ClusterMode::Semantic, None) => Err(ClusteringError::NoEmbeddingModel(NO_MODEL.into())),
            (ClusterMode::Auto, Some(model)) => Ok(ResolvedMode {
                mode: ClusterMode::Semantic,
                reason: Some(format!("cluster mode auto: semantic, embedding with {model}")),
                model: Some(model),
            }),
            (ClusterMode::Auto, None) => Ok(ResolvedMode {
                mode: ClusterMode::Lexical,
                model: None,
                reason: Some(format!("cluster mode auto: lexical, because {NO_MODEL}")),
            }),
        }
    }

    /// The cached vectors of `keywords` (normalised, each once) embedded by `model`
    /// in `scope`, and the keywords the cache lacks.
    pub async fn lookup(
        &self,
        scope: &EmbeddingScope,
        model: &str,
        keywords: impl IntoIterator<Item = &KeywordInput>,
    ) -> Result<Lookup, ClusteringError> {
        let texts: Vec<String> =
            keywords.into_iter().map(|k| normalise(&k.keyword)).collect::<BTreeSet<_>>().into_iter().collect();
        let cached = self.cache().get_many(scope, model, &texts).await?;
        let mut lookup = Lookup::default();
        for (text, vector) in texts.into_iter().zip(cached) {
            match vector {
                Some(v) => {
                    lookup.found.insert(text, v);
                }
                None => lookup.missing.push(text),
            }
        }
        Ok(lookup)
    }

    /// Embeds `texts` through the provider, [`EMBED_BATCH`] a call, checking that
    /// each call answers one finite, non-empty vector per text, all of one size (a
    /// wrong answer is [`AiError::InvalidOutput`]); the usage is summed.
    /// `progress(done, total)` is called after each batch.
    pub async fn embed(
        &self,
        texts: &[String],
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<(Vec<Vec<f32>>, Usage), AiError> {
        let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(texts.len());
        let mut usage = Usage { model: self.ai.embedding_model().unwrap_or_default(), tokens_in: 0, tokens_out: 0 };
        for batch in texts.chunks(EMBED_BATCH) {
            let (got, u) = self.ai.embed(batch).await?;
            check_vectors(batch.len(), &got, vectors.first().map(Vec::len))?;
            vectors.extend(got);
            usage.tokens_in += u.tokens_in;
            usage.tokens_out += u.tokens_out;
            if !u.model.is_empty() {
                usage.model = u.model;
            }
            progress(vectors.len(), texts.len());
        }
        Ok((vectors, usage))
    }

    /// Plans clusters from embeddings (see
    /// [`igny8_ai::offline::semantic::plan_semantic_clusters`]) on the blocking pool:
    /// the linkage is CPU work.
    pub async fn plan_semantic(
        keywords: &[KeywordInput],
        vectors: Vec<Vec<f32>>,
        existing: &[ExistingCluster],
        existing_vectors: Vec<Vec<Vec<f32>>>,
    ) -> Result<ClusterPlan, AiError> {
        let (keywords, existing) = (keywords.to_vec(), existing.to_vec());
        blocking(move || {
            plan_semantic_clusters(&keywords, &vectors, &existing, &existing_vectors, &SemanticOptions::default())
        })
        .await
    }

    /// Groups a keyword list with no site and no credits (`igny8 cluster`): the
    /// embeddings are cached under the local scope, each batch as soon as it is
    /// embedded (an interrupted run resumes where it stopped). `progress(done,
    /// total)` is called after each embedding batch. Clusters keep the algorithm's
    /// names (no naming call).
    pub async fn cluster_list(
        &self,
        keywords: &[KeywordInput],
        mode: ClusterMode,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<ClusteringOutcome, ClusteringError> {
        let resolved = self.resolve(mode)?;
        let fallback = resolved.reason.clone().filter(|_| resolved.mode == ClusterMode::Lexical);
        let empty = ClusteringOutcome { clusters: Vec::new(), mode: resolved.mode, fallback, cached: 0, embedded: 0 };
        if keywords.is_empty() {
            return Ok(empty);
        }
        let Some(model) = resolved.model.filter(|_| resolved.mode == ClusterMode::Semantic) else {
            let owned = keywords.to_vec();
            let clusters =
                blocking(move || igny8_ai::offline::cluster::cluster_keywords(&owned, &ClusterOptions::default()))
                    .await?;
            return Ok(ClusteringOutcome { clusters, ..empty });
        };
        let scope = EmbeddingScope::Local;
        let mut lookup = self.lookup(&scope, &model, keywords).await?;
        let (cached, total) = (lookup.found.len(), lookup.missing.len());
        let cache = self.cache();
        let missing = lookup.missing.clone();
        let mut done = 0;
        for batch in missing.chunks(EMBED_BATCH) {
            let (vectors, _) = self.embed(batch, &|_, _| ()).await?;
            let entries: Vec<(String, Vec<f32>)> = batch.iter().cloned().zip(vectors.iter().cloned()).collect();
            cache.put_many(&scope, &model, &entries).await?;
            lookup.add(batch, vectors);
            done += batch.len();
            progress(done, total);
        }
        let vectors = lookup.vectors(keywords)?;
        let plan = Self::plan_semantic(keywords, vectors, &[], Vec::new()).await?;
        Ok(ClusteringOutcome { clusters: plan.clusters, cached, embedded: total, ..empty })
    }
}

/// What `auto` and `semantic` say when the provider has no embedding model.
const NO_MODEL: &str = "the AI provider has no embedding model (install the local one with scripts/models.sh, \
                        or configure one for the OpenAI-compatible endpoint)";

/// Checks one embedding answer: `expected` vectors, finite, non-empty, all of one
/// size (`dims` when vectors came before).
fn check_vectors(expected: usize, vectors: &[Vec<f32>], dims: Option<usize>) -> Result<(), AiError> {
    if vectors.len() != expected {
        return Err(AiError::InvalidOutput(format!(
            "the embedding model answered {} vectors for {expected} keywords",
            vectors.len()
        )));
    }
    let dims = dims.or_else(|| vectors.first().map(Vec::len)).unwrap_or(0);
    if let Some(bad) = vectors.iter().find(|v| v.is_empty() || v.len() != dims || v.iter().any(|x| !x.is_finite())) {
        return Err(AiError::InvalidOutput(format!(
            "the embedding model answered a vector of {} dimensions (expected {dims}, finite)",
            bad.len()
        )));
    }
    Ok(())
}

/// Runs CPU work on the blocking pool when there is a runtime.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, AiError> + Send + 'static) -> Result<T, AiError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| AiError::Provider(format!("clustering task failed: {e}")))?
    } else {
        work()
    }
}
