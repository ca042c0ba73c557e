//! The deterministic offline AI provider: real algorithms, no network, no model.
//!
//! Why: local development, tests and demos must run the whole content pipeline
//! without API keys or cost, and give the same output for the same input so runs
//! are reproducible. Each function lives in its own module:
//! [`cluster`] (sparse TF-IDF graph + average linkage), [`ideas`] (intent
//! templates + keyword outline), [`article`] (templated HTML at a target length),
//! [`images`] (heading-based prompts, seeded PNG rendering), [`optimize`]
//! (rewrites of what the analyzer flagged), plus [`metrics`] for
//! clustering quality and [`text`] for shared text handling.

pub mod article;
pub mod cluster;
pub mod ideas;
pub mod images;
pub mod metrics;
pub mod optimize;
mod parallel;
pub mod semantic;
pub mod text;

use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    AiError, AiProvider, ArticleOut, ClusterLabel, ClusterOut, Embedder, IdeaOut, ImageOut, ImagePromptOut,
    KeywordInput, OptimizeOut, OptimizeRequest, Usage,
};

/// Model name recorded in usage logs for offline calls.
pub const OFFLINE_MODEL: &str = "offline-deterministic-v1";

/// The offline provider. `year` appears in dated titles ("Best X in 2026"); it is
/// fixed at construction so output never changes mid-run. With an [`Embedder`]
/// attached (the local MiniLM model, when installed) it also embeds keywords for
/// semantic clustering, still with no network.
#[derive(Clone)]
pub struct OfflineProvider {
    year: i32,
    embedder: Option<Arc<dyn Embedder>>,
}

impl std::fmt::Debug for OfflineProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineProvider")
            .field("year", &self.year)
            .field("embedder", &self.embedder.as_ref().map(|e| e.model().to_owned()))
            .finish()
    }
}

impl Default for OfflineProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl OfflineProvider {
    /// A provider dating titles with the current UTC year.
    pub fn new() -> Self {
        Self { year: time::OffsetDateTime::now_utc().year(), embedder: None }
    }

    /// A provider with a fixed year, for fully reproducible output (tests, demos).
    pub fn with_year(year: i32) -> Self {
        Self { year, embedder: None }
    }

    /// The same provider embedding through `embedder` (semantic clustering offline).
    pub fn with_embedder(self, embedder: Arc<dyn Embedder>) -> Self {
        Self { embedder: Some(embedder), ..self }
    }

    /// The year used in dated titles.
    pub fn year(&self) -> i32 {
        self.year
    }
}

/// Usage record with token estimates for the given prompt and completion texts.
fn usage(input: &str, output: &str) -> Usage {
    Usage {
        model: OFFLINE_MODEL.to_string(),
        tokens_in: text::estimate_tokens(input),
        tokens_out: text::estimate_tokens(output),
    }
}

/// The clusters with their keywords, as a model would read them.
fn clusters_text(clusters: &[ClusterOut], keywords: &[KeywordInput]) -> String {
    let mut s = String::new();
    for c in clusters {
        s.push_str(&c.name);
        s.push(' ');
        s.push_str(&c.intent);
        s.push(' ');
        s.push_str(&c.description);
        for &i in &c.keywords {
            if let Some(k) = keywords.get(i) {
                s.push(' ');
                s.push_str(&k.keyword);
            }
        }
        s.push('\n');
    }
    s
}

/// The labels the clustering algorithm gave (name, description, intent), as the
/// offline answer to [`AiProvider::name_clusters`], with the usage a model would
/// have reported for reading the clusters' keywords and writing the labels.
pub fn label_clusters(clusters: &[ClusterOut], keywords: &[KeywordInput]) -> (Vec<ClusterLabel>, Usage) {
    let labels: Vec<ClusterLabel> = clusters
        .iter()
        .map(|c| ClusterLabel { name: c.name.clone(), description: c.description.clone(), intent: c.intent.clone() })
        .collect();
    let output: String = labels.iter().map(|l| format!("{} {} {}\n", l.name, l.intent, l.description)).collect();
    (labels, usage(&clusters_text(clusters, keywords), &output))
}

#[async_trait]
impl AiProvider for OfflineProvider {
    async fn generate_ideas(
        &self,
        cluster: &ClusterOut,
        keywords: &[KeywordInput],
        count: usize,
    ) -> Result<(Vec<IdeaOut>, Usage), AiError> {
        let ideas = ideas::generate_ideas(cluster, keywords, count, self.year)?;
        let input: String = cluster
            .keywords
            .iter()
            .filter_map(|&i| keywords.get(i))
            .map(|k| k.keyword.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let output: String = ideas
            .iter()
            .map(|i| format!("{} {} {}", i.title, i.outline.join(" "), i.secondary_keywords.join(" ")))
            .collect::<Vec<_>>()
            .join("\n");
        Ok((ideas, usage(&format!("{} {}", cluster.name, input), &output)))
    }

    async fn generate_article(&self, idea: &IdeaOut, word_target: u32) -> Result<(ArticleOut, Usage), AiError> {
        let article = article::generate_article(idea, word_target)?;
        let input = format!(
            "{} {} {} {}",
            idea.title,
            idea.target_keyword,
            idea.outline.join(" "),
            idea.secondary_keywords.join(" ")
        );
        let output = text::html_text(&article.html);
        let u = usage(&input, &format!("{output} {}", article.meta_description));
        Ok((article, u))
    }

    async fn generate_image_prompts(
        &self,
        article: &ArticleOut,
        max: usize,
    ) -> Result<(Vec<ImagePromptOut>, Usage), AiError> {
        let prompts = images::image_prompts(article, max)?;
        let output: String =
            prompts.iter().map(|p| format!("{} {}", p.prompt, p.alt_text)).collect::<Vec<_>>().join("\n");
        let u = usage(&text::html_text(&article.html), &output);
        Ok((prompts, u))
    }

    async fn generate_image(&self, prompt: &str, width: u32, height: u32) -> Result<(ImageOut, Usage), AiError> {
        // Rendering is CPU work: keep it off the async workers so image jobs run in parallel.
        let owned = prompt.to_owned();
        let image = tokio::task::spawn_blocking(move || images::render_png(&owned, width, height))
            .await
            .map_err(|e| AiError::Provider(format!("image rendering stopped: {e}")))??;
        // Image models bill per image; only the prompt is counted as tokens.
        let u = Usage { model: OFFLINE_MODEL.to_string(), tokens_in: text::estimate_tokens(prompt), tokens_out: 0 };
        Ok((image, u))
    }

    async fn optimize_article(&self, request: &OptimizeRequest) -> Result<(OptimizeOut, Usage), AiError> {
        let rewritten = optimize::optimize(request)?;
        let input = format!(
            "{} {} {} {} {}",
            request.title,
            request.meta_description,
            text::html_text(&request.html),
            request.focus_keyphrase,
            request.flagged.join(" ")
        );
        let output = format!("{} {} {}", rewritten.title, rewritten.meta_description, text::html_text(&rewritten.html));
        Ok((rewritten, usage(&input, &output)))
    }

    fn embedding_model(&self) -> Option<String> {
        self.embedder.as_ref().map(|e| e.model().to_owned())
    }

    /// Embeds on the blocking pool (the model is CPU work); usage counts the
    /// texts' estimated tokens in, nothing out.
    async fn embed(&self, texts: &[String]) -> Result<(Vec<Vec<f32>>, Usage), AiError> {
        let Some(embedder) = self.embedder.clone() else {
            return Err(AiError::Unsupported("no local embedding model is installed (scripts/models.sh)".into()));
        };
        let texts = texts.to_vec();
        let tokens_in = texts.iter().map(|t| text::estimate_tokens(t)).sum();
        let model = embedder.model().to_owned();
        let vectors = tokio::task::spawn_blocking(move || embedder.embed(&texts))
            .await
            .map_err(|e| AiError::Provider(format!("embedding task failed: {e}")))??;
        Ok((vectors, Usage { model, tokens_in, tokens_out: 0 }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClusterOptions;

    #[tokio::test]
    async fn full_pipeline_runs_offline_and_reports_usage() {
        let p = OfflineProvider::with_year(2026);
        let kws = vec![
            KeywordInput::new("running shoes", 5000),
            KeywordInput::new("best running shoes", 3000),
            KeywordInput::new("running shoe reviews", 800),
            KeywordInput::new("chocolate cake recipe", 4000),
            KeywordInput::new("easy chocolate cake", 700),
        ];
        let (clusters, u) = p.cluster_keywords(&kws, &ClusterOptions::default()).await.unwrap();
        assert_eq!(u.model, OFFLINE_MODEL);
        assert!(u.tokens_in > 0 && u.tokens_out > 0);
        assert_eq!(clusters.len(), 2);
        let (ideas, u) = p.generate_ideas(&clusters[0], &kws, 2).await.unwrap();
        assert_eq!(ideas.len(), 2);
        assert!(u.tokens_out > 0);
        let (article, u) = p.generate_article(&ideas[0], ideas[0].word_target).await.unwrap();
        assert!(u.tokens_out >= i64::from(article.word_count));
        let (prompts, _) = p.generate_image_prompts(&article, 3).await.unwrap();
        assert_eq!(prompts.len(), 3);
        let (img, u) = p.generate_image(&prompts[0].prompt, 32, 18).await.unwrap();
        assert_eq!((img.width, img.height), (32, 18));
        assert!(u.tokens_in > 0);
        // Same input, same output.
        let (again, _) = p.cluster_keywords(&kws, &ClusterOptions::default()).await.unwrap();
        assert_eq!(again, clusters);
    }

    #[tokio::test]
    async fn large_inputs_use_the_blocking_pool_and_match_inline() {
        let kws: Vec<KeywordInput> =
            (0..2_500).map(|i| KeywordInput::new(format!("topic{} widget {}", i % 50, i % 7), i64::from(i))).collect();
        let p = OfflineProvider::with_year(2026);
        let (a, _) = p.cluster_keywords(&kws, &ClusterOptions::default()).await.unwrap();
        let b = cluster::cluster_keywords(&kws, &ClusterOptions::default()).unwrap();
        assert_eq!(a, b);
    }

    #[tokio::test]
    async fn optimize_reports_usage_like_the_other_calls() {
        let p = OfflineProvider::with_year(2026);
        let request = OptimizeRequest {
            title: "Guide".into(),
            meta_description: "Short.".into(),
            html: "<h1>Guide</h1>\n<p>Shoes wear out over time.</p>\n".into(),
            focus_keyphrase: "running shoes".into(),
            language: "en".into(),
            flagged: vec!["keyphrase_in_seo_title".into(), "meta_description_length".into()],
        };
        let (out, u) = p.optimize_article(&request).await.unwrap();
        assert_eq!(out.title, "Running Shoes: Guide");
        assert!(out.html.starts_with("<h1>Running Shoes: Guide</h1>"));
        assert_eq!(u.model, OFFLINE_MODEL);
        assert!(u.tokens_in > 0 && u.tokens_out > u.tokens_in / 2);
    }

    #[tokio::test]
    async fn empty_input_is_invalid() {
        let p = OfflineProvider::with_year(2026);
        let err = p.cluster_keywords(&[], &ClusterOptions::default()).await.unwrap_err();
        assert!(matches!(err, AiError::InvalidInput(_)));
        assert!(!err.is_transient());
    }
}
