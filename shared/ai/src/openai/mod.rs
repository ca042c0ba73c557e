//! The cloud AI provider: any OpenAI-compatible HTTP endpoint (OpenAI itself,
//! Azure-style gateways, local servers speaking the same API such as llama.cpp).
//!
//! Why a hand-rolled client rather than an SDK: the pipeline needs only three
//! endpoints (`/chat/completions` in JSON mode, `/images/generations` and
//! `/embeddings`), and it needs precise control over retries and error mapping so
//! that [`AiError::is_transient`] tells the automation run the truth.
//!
//! Every chat function (docs/ai-provider.md):
//! - bounds its answer with `max_tokens` computed from the size of what it asks
//!   for ([`schemas`] names the per-item budgets);
//! - asks for JSON with the answer's JSON Schema ([`JsonMode`] picks the request
//!   shape the server understands);
//! - parses the answer into a private reply type and validates it (non-empty
//!   strings, counts as asked, indices in range), computing the figures we bill on
//!   (word counts) ourselves instead of trusting the model's arithmetic;
//! - asks again, at most [`OpenAiConfig::max_invalid_retries`] times, when the
//!   answer is wrong or cut off (`finish_reason: "length"`), with the validation
//!   error in the prompt, then fails with [`AiError::InvalidOutput`] (not
//!   transient: the item fails, nothing is stored from the answer).
//!
//! The API key is a secret: it is sent only in the `Authorization` header, hidden
//! from `Debug` output, and scrubbed from every error message.

mod chat;
mod config;
mod embeddings;
mod schemas;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use serde_json::{json, Value};

pub use chat::ProviderStats;
use chat::{ChatCall, Counters};
pub use config::{
    JsonMode, OpenAiConfig, DEFAULT_CHAT_MODEL, DEFAULT_EMBEDDING_MODEL, DEFAULT_IMAGE_MODEL,
    DEFAULT_MAX_INVALID_RETRIES, DEFAULT_TIMEOUT, OFFLINE_IMAGE_MODEL,
};
pub use embeddings::EMBEDDING_BATCH;
use schemas::{
    article_max_tokens, article_schema, ideas_max_tokens, ideas_schema, labels_max_tokens, labels_schema,
    optimize_max_tokens, optimize_schema, prompts_max_tokens, prompts_schema, validate_article, validate_ideas,
    validate_labels, validate_optimize, validate_prompts, words_that_fit, IdeasReply, LabelsReply, PromptsReply,
};

use crate::offline::OfflineProvider;
use crate::{
    AiError, AiProvider, ArticleOut, ClusterLabel, ClusterOut, IdeaOut, ImageOut, ImagePromptOut, KeywordInput,
    OptimizeOut, OptimizeRequest, Usage,
};

/// Image size requested when the caller passes a zero width or height (the trait's
/// documented default).
const DEFAULT_IMAGE_SIZE: (u32, u32) = (1024, 576);

/// The eight bytes every PNG file starts with.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// [`AiProvider`] backed by an OpenAI-compatible HTTP API. Cheap to share: one
/// connection-pooling client is built at construction and reused for every call;
/// clones share it and the [`ProviderStats`] counters.
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    config: OpenAiConfig,
    client: reqwest::Client,
    chat_url: String,
    images_url: String,
    embeddings_url: String,
    counters: Arc<Counters>,
}

impl OpenAiProvider {
    /// Builds the HTTP client (with the config's timeout) once; fails only if the
    /// TLS backend cannot be initialised.
    pub fn new(config: OpenAiConfig) -> Result<Self, AiError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(30)))
            .build()
            .map_err(|e| AiError::Provider(format!("could not build HTTP client: {e}")))?;
        let base = config.base_url.trim_end_matches('/');
        let chat_url = format!("{base}/chat/completions");
        let images_url = format!("{base}/images/generations");
        let embeddings_url = format!("{base}/embeddings");
        Ok(Self { config, client, chat_url, images_url, embeddings_url, counters: Arc::default() })
    }

    /// The configuration this provider was built with.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// What this provider (and its clones) did so far: calls, retries after invalid
    /// answers, calls that failed as invalid; for reports on a real model server.
    pub fn stats(&self) -> ProviderStats {
        self.counters.snapshot()
    }

    /// A usage record of no tokens, for calls that need no request.
    fn no_usage(&self) -> Usage {
        Usage { model: self.config.chat_model.clone(), tokens_in: 0, tokens_out: 0 }
    }
}

/// The keyword `i` of `keywords`, or an input error naming the bad index.
fn keyword(keywords: &[KeywordInput], i: usize) -> Result<&KeywordInput, AiError> {
    keywords.get(i).ok_or_else(|| {
        AiError::InvalidInput(format!("cluster keyword index {i} is outside the {} keywords given", keywords.len()))
    })
}

/// What each analyzer check asks of a rewrite (ids of `igny8_seo::analyze::check`);
/// a flagged id not listed here is passed on as it is.
const CHECK_ADVICE: &[(&str, &str)] = &[
    ("keyphrase_in_seo_title", "start the title with the focus keyphrase"),
    ("seo_title_length", "keep the title between 30 and 60 characters"),
    ("keyphrase_in_slug", "put the focus keyphrase in the title (the URL slug is made from it)"),
    ("keyphrase_in_introduction", "use the focus keyphrase in the first sentence of the first paragraph"),
    ("keyphrase_in_meta_description", "use the focus keyphrase in the meta description"),
    ("meta_description_length", "make the meta description 120 to 156 characters long"),
    ("keyphrase_in_subheadings", "use the focus keyphrase in 30-75 % of the H2/H3 subheadings"),
    ("keyphrase_density", "use the focus keyphrase at a density of 0.5-3 % of the words, naturally"),
    ("sentence_length", "split sentences so at most 25 % have more than 20 words"),
    ("flesch_reading_ease", "use shorter sentences and simpler words to make the text easier to read"),
    ("paragraph_length", "keep every paragraph under 150 words"),
    ("subheading_distribution", "add H2 subheadings so no section runs over 300 words"),
    ("transition_words", "start at least 30 % of sentences with transition words (also, however, for example ...)"),
    ("passive_voice", "rewrite passive sentences in the active voice (at most 10 % passive)"),
    ("text_length", "expand the body to at least 300 words"),
    ("keyphrase_anchor", "do not use the focus keyphrase itself as a link's anchor text"),
];

/// The flagged checks as instructions, one a line.
fn advice(flagged: &[String]) -> String {
    flagged
        .iter()
        .map(|id| match CHECK_ADVICE.iter().find(|(c, _)| c == id) {
            Some((_, what)) => format!("- {id}: {what}\n"),
            None => format!("- {id}\n"),
        })
        .collect()
}

/// Keywords of a cluster shown to the model when naming it: enough to see the topic.
const NAMING_KEYWORDS: usize = 12;

#[async_trait]
impl AiProvider for OpenAiProvider {
    /// Names a batch of clusters whose members the clustering algorithm decided (the
    /// model never groups: a prompt cannot hold a whole site's keywords, and grouping
    /// batch by batch made duplicate clusters). One call per batch; an empty batch
    /// makes no request.
    async fn name_clusters(
        &self,
        clusters: &[ClusterOut],
        keywords: &[KeywordInput],
    ) -> Result<(Vec<ClusterLabel>, Usage), AiError> {
        if clusters.is_empty() {
            return Ok((Vec::new(), self.no_usage()));
        }
        let mut list = String::new();
        for (n, cluster) in clusters.iter().enumerate() {
            list.push_str(&format!("{n}. pillar \"{}\":", cluster.pillar_keyword));
            for &i in cluster.keywords.iter().take(NAMING_KEYWORDS) {
                list.push_str(&format!(" {};", keyword(keywords, i)?.keyword));
            }
            list.push('\n');
        }
        let n = clusters.len();
        let user = format!(
            "Each numbered line is a topic cluster of search keywords: its pillar keyword, then \
             its keywords. Name each cluster (2 to 5 words, distinct from the other names) and \
             describe it in one sentence.\n\
             Return {{\"clusters\":[{{\"index\":number from the list,\"name\":string,\
             \"description\":string,\"intent\":\"informational\"|\"commercial\"|\
             \"transactional\"|\"navigational\"}}]}} with exactly one entry for each of the {n} \
             clusters (index 0 to {last}).\n\n{list}",
            last = n - 1,
        );
        let call =
            ChatCall { function: "name_clusters", user, schema: labels_schema(n), max_tokens: labels_max_tokens(n) };
        self.chat(call, |reply: LabelsReply| validate_labels(reply, n)).await
    }

    async fn generate_ideas(
        &self,
        cluster: &ClusterOut,
        keywords: &[KeywordInput],
        count: usize,
    ) -> Result<(Vec<IdeaOut>, Usage), AiError> {
        if count == 0 {
            return Err(AiError::InvalidInput("idea count must be at least 1".into()));
        }
        let mut members = String::new();
        for &i in &cluster.keywords {
            let k = keyword(keywords, i)?;
            members.push_str(&format!("- {} ({} searches/month)\n", k.keyword, k.volume));
        }
        let user = format!(
            "Propose exactly {count} distinct article ideas for the topic cluster \"{name}\" \
             (pillar keyword \"{pillar}\", {intent} intent). Cluster keywords:\n{members}\n\
             Return {{\"ideas\":[{{\"title\":string,\"outline\":[H2 headings],\
             \"target_keyword\":string,\"secondary_keywords\":[strings],\
             \"word_target\":one of {targets:?},\"content_type\":\"guide\"|\"how_to\"|\
             \"listicle\"|\"comparison\"|\"review\"|\"product_page\"|\"resource_page\"}}]}}.",
            name = cluster.name,
            pillar = cluster.pillar_keyword,
            intent = cluster.intent,
            targets = schemas::WORD_TARGETS,
        );
        let call = ChatCall {
            function: "generate_ideas",
            user,
            schema: ideas_schema(count),
            max_tokens: ideas_max_tokens(count),
        };
        self.chat(call, |reply: IdeasReply| validate_ideas(reply, count)).await
    }

    async fn generate_article(&self, idea: &IdeaOut, word_target: u32) -> Result<(ArticleOut, Usage), AiError> {
        if word_target == 0 {
            return Err(AiError::InvalidInput("word target must be positive".into()));
        }
        let word_target = self.config.max_answer_tokens.map_or(word_target, |cap| word_target.min(words_that_fit(cap)));
        let user = format!(
            "Write a {content_type} article of about {word_target} words titled \"{title}\" \
             targeting the keyword \"{target}\"; also use: {secondary}. Use these H2 \
             sections in order: {outline}. The HTML must be well formed, start with an \
             <h1> holding the title, and use <h2>, <p>, <ul>/<li> only.\n\
             Return {{\"title\":string,\"html\":string,\"meta_description\":\
             at most 160 characters}}.",
            content_type = idea.content_type,
            title = idea.title,
            target = idea.target_keyword,
            secondary = idea.secondary_keywords.join(", "),
            outline = idea.outline.join(" | "),
        );
        let call = ChatCall {
            function: "generate_article",
            user,
            schema: article_schema(),
            max_tokens: article_max_tokens(word_target),
        };
        self.chat(call, validate_article).await
    }

    async fn generate_image_prompts(
        &self,
        article: &ArticleOut,
        max: usize,
    ) -> Result<(Vec<ImagePromptOut>, Usage), AiError> {
        if max == 0 {
            return Ok((Vec::new(), self.no_usage()));
        }
        let user = format!(
            "Propose 1 to {max} images for this article: first one \"featured\" image \
             for the title, then \"in_article\" images for its H2 sections. Prompts \
             describe a photo-realistic scene with no text in the image.\n\
             Return {{\"prompts\":[{{\"prompt\":string,\"alt_text\":string,\
             \"placement\":\"featured\"|\"in_article\",\"heading\":the title or H2 \
             text}}]}}.\n\nTitle: {title}\n\nHTML:\n{html}",
            title = article.title,
            html = article.html,
        );
        let call = ChatCall {
            function: "generate_image_prompts",
            user,
            schema: prompts_schema(max),
            max_tokens: prompts_max_tokens(max),
        };
        self.chat(call, |reply: PromptsReply| validate_prompts(reply, max)).await
    }

    /// Requests the image from `/images/generations`, or renders it with the offline
    /// provider's deterministic renderer when the image model is
    /// [`OFFLINE_IMAGE_MODEL`] (a chat-only local server has no image endpoint).
    async fn generate_image(&self, prompt: &str, width: u32, height: u32) -> Result<(ImageOut, Usage), AiError> {
        if prompt.trim().is_empty() {
            return Err(AiError::InvalidInput("image prompt is empty".into()));
        }
        let (width, height) = if width == 0 || height == 0 { DEFAULT_IMAGE_SIZE } else { (width, height) };
        if self.config.renders_images_offline() {
            return OfflineProvider::new().generate_image(prompt, width, height).await;
        }
        let mut body = json!({
            "model": self.config.image_model,
            "prompt": prompt,
            "size": format!("{width}x{height}"),
            "n": 1,
        });
        // gpt-image-* models always answer in base64 and reject `response_format`;
        // DALL·E-style models need it to return bytes instead of a URL.
        if !self.config.image_model.starts_with("gpt-image") {
            body["response_format"] = json!("b64_json");
        }
        let raw = self.post_json(&self.images_url, &body).await?;
        let encoded = raw
            .pointer("/data/0/b64_json")
            .and_then(Value::as_str)
            .ok_or_else(|| AiError::Provider("generate_image: response has no data[0].b64_json".into()))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| AiError::Provider(format!("generate_image: invalid base64: {e}")))?;
        if !png.starts_with(&PNG_SIGNATURE) {
            return Err(AiError::Provider("generate_image: returned image is not a PNG".into()));
        }
        let tokens = |key: &str| raw.pointer(&format!("/usage/{key}")).and_then(Value::as_i64);
        let usage = Usage {
            model: raw
                .get("model")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .unwrap_or(&self.config.image_model)
                .to_string(),
            tokens_in: tokens("input_tokens").unwrap_or(0),
            tokens_out: tokens("output_tokens").unwrap_or(0),
        };
        Ok((ImageOut { png, width, height }, usage))
    }

    async fn optimize_article(&self, request: &OptimizeRequest) -> Result<(OptimizeOut, Usage), AiError> {
        if request.html.trim().is_empty() {
            return Err(AiError::InvalidInput("the article has no body to optimize".into()));
        }
        let user = format!(
            "Improve this article for the focus keyphrase \"{keyphrase}\" (language: {language}). \
             Rewrite only what these checks flagged and keep everything else as it is:\n{advice}\n\
             Keep every link (<a> with its href), image and list; keep the HTML well formed; \
             keep the <h1> equal to the title. Do not invent facts.\n\
             Return {{\"title\":string,\"meta_description\":string,\"html\":string}}.\n\n\
             Title: {title}\nMeta description: {meta}\n\nHTML:\n{html}",
            keyphrase = request.focus_keyphrase,
            language = request.language,
            advice = advice(&request.flagged),
            title = request.title,
            meta = request.meta_description,
            html = request.html,
        );
        let call = ChatCall {
            function: "optimize_article",
            user,
            schema: optimize_schema(),
            max_tokens: optimize_max_tokens(request),
        };
        self.chat(call, validate_optimize).await
    }

    /// The configured `IGNY8_AI_EMBEDDING_MODEL` (default `text-embedding-3-small`),
    /// or None when it is set empty or to `none`.
    fn embedding_model(&self) -> Option<String> {
        self.config.embedding_model.clone()
    }

    /// `/embeddings` in chunks of [`EMBEDDING_BATCH`], ordered by `index`, checked
    /// and L2-normalised; transient failures are retried like every request.
    async fn embed(&self, texts: &[String]) -> Result<(Vec<Vec<f32>>, Usage), AiError> {
        self.embed_texts(texts).await
    }
}

#[cfg(test)]
mod tests;
