//! AI: the plain-data types every AI function exchanges, the [`AiProvider`] trait
//! that hides which model does the work, and the deterministic [`OfflineProvider`].
//!
//! Why a trait: the automation pipeline (keywords → clusters → ideas → articles →
//! image prompts → images) must run the same on a laptop with no network (offline
//! provider, real algorithms, reproducible output) and in the cloud (an
//! OpenAI-compatible HTTP endpoint). Every call also returns a [`Usage`] so credits
//! and usage logs are recorded identically for both.

#![warn(missing_docs)]

pub mod offline;
pub mod openai;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use offline::OfflineProvider;
pub use openai::{OpenAiConfig, OpenAiProvider};

/// One keyword as delivered by a keyword tool or import; the unit clustering works on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeywordInput {
    /// The search phrase, as typed by searchers.
    pub keyword: String,
    /// Monthly search volume; drives pillar choice and cluster ranking.
    pub volume: i64,
    /// Ranking difficulty (0–100) when known; carried for idea prioritisation.
    pub difficulty: Option<i64>,
    /// Cost per click when known; a commercial-value hint.
    pub cpc: Option<f64>,
    /// Intent label from the keyword tool when known; it outvotes cue words.
    pub intent: Option<String>,
}

impl KeywordInput {
    /// A keyword with only text and volume, the common case for imports and tests.
    pub fn new(keyword: impl Into<String>, volume: i64) -> Self {
        Self { keyword: keyword.into(), volume, difficulty: None, cpc: None, intent: None }
    }
}

/// A group of keywords one piece of content can target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterOut {
    /// Human-readable topic name built from the cluster's top terms.
    pub name: String,
    /// The keyword the cluster's main article should rank for (highest volume).
    pub pillar_keyword: String,
    /// Indices into the input keyword slice, highest volume first.
    pub keywords: Vec<usize>,
    /// informational | commercial | transactional | navigational.
    pub intent: String,
    /// Sum of member volumes, for ranking clusters.
    pub total_volume: i64,
    /// One-sentence summary shown to the user.
    pub description: String,
}

/// A cluster a site already has, as clustering sees it: new keywords that belong to
/// its topic join it instead of founding a duplicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExistingCluster {
    /// Its name as stored.
    pub name: String,
    /// Its pillar keyword as stored.
    pub pillar_keyword: String,
    /// Its member keywords (text and metrics), which define its topic.
    pub keywords: Vec<KeywordInput>,
}

/// The grouping of a keyword set decided over the whole set at once: which new
/// keywords join which existing cluster, and the new clusters the rest form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterPlan {
    /// Per existing cluster, in the order given: the indices of the new keywords that
    /// join it (ascending; empty when none do).
    pub joins: Vec<Vec<usize>>,
    /// The new clusters, their `keywords` indices into the new keywords; every new
    /// keyword is in exactly one join or one new cluster.
    pub clusters: Vec<ClusterOut>,
}

/// What a provider says about a cluster whose members are decided: its name,
/// one-sentence description and intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterLabel {
    /// Human-readable topic name.
    pub name: String,
    /// One-sentence summary shown to the user.
    pub description: String,
    /// informational | commercial | transactional | navigational.
    pub intent: String,
}

/// A content idea derived from a cluster, ready to become a writer task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdeaOut {
    /// Proposed article title.
    pub title: String,
    /// H2 headings, in order.
    pub outline: Vec<String>,
    /// The keyword the article targets.
    pub target_keyword: String,
    /// Supporting keywords to mention.
    pub secondary_keywords: Vec<String>,
    /// Suggested length in words.
    pub word_target: u32,
    /// guide | how_to | listicle | comparison | review | product_page | resource_page.
    pub content_type: String,
}

/// A generated article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleOut {
    /// The article title (also its `<h1>`).
    pub title: String,
    /// Well-formed HTML body.
    pub html: String,
    /// Words of visible text in `html`; the figure credits are charged on.
    pub word_count: u32,
    /// Search-snippet description, at most 160 characters.
    pub meta_description: String,
}

/// What the optimizer asks a provider to rewrite: the article as it stands and the
/// analyzer checks that flagged it (ids of `igny8_seo::analyze::check`, e.g.
/// `keyphrase_in_seo_title`, `meta_description_length`, `sentence_length`), so the
/// provider rewrites only what was flagged and leaves the rest as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizeRequest {
    /// The article title.
    pub title: String,
    /// The meta description.
    pub meta_description: String,
    /// The body HTML (its `<h1>` is the title).
    pub html: String,
    /// The keyphrase the article should rank for.
    pub focus_keyphrase: String,
    /// The site's language (`en` …).
    pub language: String,
    /// The flagged checks' ids.
    pub flagged: Vec<String>,
}

/// A rewritten article: every field, rewritten or as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizeOut {
    /// The article title.
    pub title: String,
    /// The meta description.
    pub meta_description: String,
    /// The body HTML, well-formed, its links and images kept.
    pub html: String,
}

/// A prompt for one image in an article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImagePromptOut {
    /// The text-to-image prompt.
    pub prompt: String,
    /// Accessible alt text for the image.
    pub alt_text: String,
    /// featured | in_article.
    pub placement: String,
    /// The heading the image belongs to (the title for the featured image).
    pub heading: String,
}

/// A generated image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageOut {
    /// PNG file bytes.
    pub png: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Model usage of one call, recorded in the credit usage log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Model identifier that served the call.
    pub model: String,
    /// Prompt tokens (estimated for the offline provider).
    pub tokens_in: i64,
    /// Completion tokens (estimated for the offline provider).
    pub tokens_out: i64,
}

/// Clusters named per [`AiProvider::name_clusters`] request: small enough that a chat
/// model sees every cluster's keywords in one prompt.
pub const NAMING_BATCH: usize = 25;

/// Tuning knobs for keyword clustering; see [`offline::cluster`] for their roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterOptions {
    /// Minimum cosine similarity for two keywords to be linked in the graph (0–1).
    pub similarity_threshold: f32,
    /// Minimum average-linkage similarity for two clusters to merge (0–1).
    pub linkage_threshold: f32,
    /// Largest allowed cluster; merges beyond it are refused.
    pub max_cluster_size: usize,
    /// Nearest neighbours kept per keyword in the sparse graph.
    pub max_neighbors: usize,
    /// Posting-list entries scanned per common term when looking for neighbours
    /// (half around the keyword's own list position, half the term's shortest
    /// keywords); bounds the work so it never becomes all-pairs.
    pub max_postings: usize,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            similarity_threshold: 0.2,
            linkage_threshold: 0.2,
            max_cluster_size: 200,
            max_neighbors: 20,
            max_postings: 200,
        }
    }
}

/// Why an AI call failed; [`AiError::is_transient`] tells the pipeline whether a
/// retry with backoff may help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AiError {
    /// The request itself is wrong (empty input, bad option); retrying cannot help.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The provider throttled us; retry after the given delay.
    #[error("rate limited; retry after {retry_after:?}")]
    RateLimited {
        /// How long the provider asked us to wait.
        retry_after: Duration,
    },
    /// The call did not finish in time; may succeed on retry.
    #[error("AI call timed out")]
    Timeout,
    /// The provider is temporarily unavailable (5xx, connection reset).
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The provider failed permanently (bad credentials, malformed response).
    #[error("provider error: {0}")]
    Provider(String),
    /// The model answered, but not with what was asked (JSON of the wrong shape, an
    /// answer cut off at `max_tokens`) even after the bounded retries with the
    /// validation error in the prompt. Not transient: the item fails, its held
    /// credits are released and nothing is stored from the answer.
    #[error("invalid model output: {0}")]
    InvalidOutput(String),
    /// The provider cannot do this at all (no embedding model installed or
    /// configured); the caller chooses another way (lexical clustering) or reports it.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// `error`, from a call the model had already spent tokens on: the
    /// OpenAI-compatible provider sums the usage of every attempt, and a call that
    /// finally fails with [`AiError::InvalidOutput`] was still paid for by the server
    /// (the caller records the tokens in the usage log, charging nothing). Displays,
    /// classifies ([`AiError::is_transient`]) and matches ([`AiError::cause`],
    /// [`AiError::invalid_output`]) as `error` itself; built by [`AiError::with_usage`].
    #[error("{error}")]
    Spent {
        /// Why the call failed.
        error: Box<AiError>,
        /// The tokens the server counted for the call's attempts.
        usage: Usage,
    },
}

impl AiError {
    /// True when retrying the same call later may succeed (throttling, timeouts,
    /// outages); the automation run retries these with backoff and fails on others.
    pub fn is_transient(&self) -> bool {
        matches!(self.cause(), AiError::RateLimited { .. } | AiError::Timeout | AiError::Unavailable(_))
    }

    /// This error with the usage the failed call spent attached (replacing any
    /// attached before), so the tokens reach the usage log although the call failed.
    pub fn with_usage(self, usage: Usage) -> Self {
        AiError::Spent { error: Box::new(self.into_cause()), usage }
    }

    /// Why the call failed, without the usage [`AiError::with_usage`] attached: match
    /// on this, not on `self`, to tell the kinds of failure apart.
    pub fn cause(&self) -> &AiError {
        match self {
            AiError::Spent { error, .. } => error.cause(),
            other => other,
        }
    }

    /// [`AiError::cause`] by value.
    pub fn into_cause(self) -> AiError {
        match self {
            AiError::Spent { error, .. } => error.into_cause(),
            other => other,
        }
    }

    /// The tokens the failed call spent, when the provider knows them (None when the
    /// call failed before any answer, or the provider counts nothing).
    pub fn usage(&self) -> Option<&Usage> {
        match self {
            AiError::Spent { usage, .. } => Some(usage),
            _ => None,
        }
    }

    /// The message of an [`AiError::InvalidOutput`] (with or without usage attached):
    /// the one test callers need to fail an item instead of the run.
    pub fn invalid_output(&self) -> Option<&str> {
        match self.cause() {
            AiError::InvalidOutput(message) => Some(message),
            _ => None,
        }
    }
}

/// A sentence-embedding model run in this process (all-MiniLM-L6-v2 on candle, in
/// `igny8-embed`): the port the offline provider embeds through, so igny8-ai itself
/// never links a tensor library and the Lambdas stay small (they embed through the
/// OpenAI-compatible `/embeddings` endpoint instead).
pub trait Embedder: Send + Sync {
    /// The model's id as recorded in the embedding cache and usage logs; vectors
    /// of different models are never mixed.
    fn model(&self) -> &str;

    /// Unit-length (L2-normalised) vectors, one per text, in order. Blocking (CPU
    /// work): callers run it on the blocking pool, in batches they choose (the
    /// CLI's progress bar ticks per batch).
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, AiError>;
}

/// An AI backend: each method is one billable AI function of the pipeline.
#[async_trait]
pub trait AiProvider: Send + Sync {
    /// Decides the grouping of a site's waiting keywords over the whole set at once:
    /// which join an existing cluster of the site and which new clusters the rest
    /// form (each with a pillar among its members and a provisional name). Why over
    /// the whole set: grouping batch by batch makes one cluster per batch for the same
    /// topic. The default is the deterministic offline algorithm
    /// ([`offline::cluster::plan_clusters`]), so every provider groups the same way
    /// unless it has a better model of similarity (embeddings).
    async fn plan_clusters(
        &self,
        keywords: &[KeywordInput],
        existing: &[ExistingCluster],
        options: &ClusterOptions,
    ) -> Result<ClusterPlan, AiError> {
        let (keywords, existing, options) = (keywords.to_vec(), existing.to_vec(), options.clone());
        let plan = move || offline::cluster::plan_clusters(&keywords, &existing, &options);
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::task::spawn_blocking(plan)
                .await
                .map_err(|e| AiError::Provider(format!("clustering task failed: {e}")))?
        } else {
            plan()
        }
    }

    /// Names and describes clusters whose members are already decided (one batch,
    /// small enough for one model request); `keywords` is the slice the clusters'
    /// indices point into. Returns one label per cluster, in order. This is the paid
    /// call of stage 1. The default keeps the labels the clustering algorithm gave.
    async fn name_clusters(
        &self,
        clusters: &[ClusterOut],
        keywords: &[KeywordInput],
    ) -> Result<(Vec<ClusterLabel>, Usage), AiError> {
        Ok(offline::label_clusters(clusters, keywords))
    }

    /// Groups keywords into named topic clusters: the grouping of
    /// [`AiProvider::plan_clusters`] (with no existing clusters), labelled by
    /// [`AiProvider::name_clusters`] in batches of [`NAMING_BATCH`] clusters.
    async fn cluster_keywords(
        &self,
        keywords: &[KeywordInput],
        options: &ClusterOptions,
    ) -> Result<(Vec<ClusterOut>, Usage), AiError> {
        let mut clusters = self.plan_clusters(keywords, &[], options).await?.clusters;
        let mut usage = Usage { model: String::new(), tokens_in: 0, tokens_out: 0 };
        for batch in clusters.chunks_mut(NAMING_BATCH) {
            let (labels, u) = self.name_clusters(batch, keywords).await?;
            for (cluster, label) in batch.iter_mut().zip(labels) {
                cluster.name = label.name;
                cluster.description = label.description;
                cluster.intent = label.intent;
            }
            usage.model = u.model;
            usage.tokens_in += u.tokens_in;
            usage.tokens_out += u.tokens_out;
        }
        Ok((clusters, usage))
    }

    /// Proposes `count` content ideas for a cluster; `keywords` is the slice the
    /// cluster's indices point into.
    async fn generate_ideas(
        &self,
        cluster: &ClusterOut,
        keywords: &[KeywordInput],
        count: usize,
    ) -> Result<(Vec<IdeaOut>, Usage), AiError>;

    /// Writes an article for an idea at about `word_target` words.
    async fn generate_article(&self, idea: &IdeaOut, word_target: u32) -> Result<(ArticleOut, Usage), AiError>;

    /// Proposes up to `max` image prompts for an article (featured first).
    async fn generate_image_prompts(
        &self,
        article: &ArticleOut,
        max: usize,
    ) -> Result<(Vec<ImagePromptOut>, Usage), AiError>;

    /// Renders one image for a prompt; a zero width or height means the default
    /// 1024×576.
    async fn generate_image(&self, prompt: &str, width: u32, height: u32) -> Result<(ImageOut, Usage), AiError>;

    /// Rewrites what the analyzer flagged in an article (title, meta description,
    /// introduction, headings, long sentences); the optimizer keeps the result only
    /// when it scores higher.
    async fn optimize_article(&self, request: &OptimizeRequest) -> Result<(OptimizeOut, Usage), AiError>;

    /// The embedding model this provider embeds keywords with, or None when it has
    /// none (semantic clustering then is unavailable and `auto` falls back to
    /// lexical). The id keys the embedding cache.
    fn embedding_model(&self) -> Option<String> {
        None
    }

    /// Unit-length embeddings of `texts`, one per text, in order, with the call's
    /// usage. The default: [`AiError::Unsupported`].
    async fn embed(&self, texts: &[String]) -> Result<(Vec<Vec<f32>>, Usage), AiError> {
        let _ = texts;
        Err(AiError::Unsupported("this AI provider has no embedding model".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_the_retryable_ones() {
        assert!(AiError::RateLimited { retry_after: Duration::from_secs(3) }.is_transient());
        assert!(AiError::Timeout.is_transient());
        assert!(AiError::Unavailable("502".into()).is_transient());
        assert!(!AiError::InvalidInput("empty".into()).is_transient());
        assert!(!AiError::Provider("401".into()).is_transient());
        assert!(!AiError::InvalidOutput("prose".into()).is_transient());
    }

    fn spent(tokens_in: i64, tokens_out: i64) -> Usage {
        Usage { model: "m".into(), tokens_in, tokens_out }
    }

    #[test]
    fn usage_travels_with_an_error_without_changing_what_it_is() {
        let invalid = AiError::InvalidOutput("ideas: not JSON".into()).with_usage(spent(120, 40));
        assert_eq!(invalid.usage(), Some(&spent(120, 40)));
        assert_eq!(invalid.invalid_output(), Some("ideas: not JSON"));
        assert_eq!(invalid.cause(), &AiError::InvalidOutput("ideas: not JSON".into()));
        assert_eq!(invalid.to_string(), "invalid model output: ideas: not JSON");
        assert!(!invalid.is_transient());
        // Attaching again replaces the usage instead of nesting.
        let again = invalid.with_usage(spent(200, 80));
        assert_eq!(again.usage(), Some(&spent(200, 80)));
        assert!(matches!(&again, AiError::Spent { error, .. } if matches!(**error, AiError::InvalidOutput(_))));
        assert_eq!(again.into_cause(), AiError::InvalidOutput("ideas: not JSON".into()));
        // A transient error stays transient with usage attached.
        let timeout = AiError::Timeout.with_usage(spent(10, 0));
        assert!(timeout.is_transient() && timeout.invalid_output().is_none());
        // Without usage attached: nothing to record.
        assert_eq!(AiError::InvalidOutput("x".into()).usage(), None);
        assert_eq!(AiError::Timeout.invalid_output(), None);
    }
}
