//! The cloud AI provider: any OpenAI-compatible HTTP endpoint (OpenAI itself,
//! Azure-style gateways, local servers speaking the same API).
//!
//! Why a hand-rolled client rather than an SDK: the pipeline needs only two
//! endpoints (`/chat/completions` in JSON mode and `/images/generations`), and it
//! needs precise control over retries and error mapping so that
//! [`AiError::is_transient`] tells the automation run the truth. Every chat
//! function asks the model for a JSON object of an exact shape, parses it into a
//! private reply type, validates it (indices in range, PNG bytes really PNG) and
//! computes the figures we bill on (volumes, word counts) ourselves instead of
//! trusting the model's arithmetic.
//!
//! The API key is a secret: it is sent only in the `Authorization` header, hidden
//! from `Debug` output, and scrubbed from every error message.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::offline::text::{count_html_words, Intent};
use crate::{
    AiError, AiProvider, ArticleOut, ClusterLabel, ClusterOut, IdeaOut, ImageOut, ImagePromptOut, KeywordInput,
    OptimizeOut, OptimizeRequest, Usage,
};

/// Chat model used when `IGNY8_AI_MODEL` is unset: cheap and good at JSON mode.
pub const DEFAULT_CHAT_MODEL: &str = "gpt-4o-mini";

/// Image model used when `IGNY8_AI_IMAGE_MODEL` is unset.
pub const DEFAULT_IMAGE_MODEL: &str = "gpt-image-1";

/// Longest wait we accept from a `Retry-After` header, so a misbehaving gateway
/// cannot park an automation run for hours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Ceiling of the exponential backoff between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Image size requested when the caller passes a zero width or height (the trait's
/// documented default).
const DEFAULT_IMAGE_SIZE: (u32, u32) = (1024, 576);

/// The eight bytes every PNG file starts with.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// Longest search-snippet description we store, as [`ArticleOut`] promises.
const META_DESCRIPTION_MAX_CHARS: usize = 160;

/// Longest slice of an unparseable error body quoted in an error message.
const ERROR_BODY_QUOTE_CHARS: usize = 200;

/// How to reach an OpenAI-compatible endpoint and how patiently to call it.
///
/// `Debug` is implemented by hand so the API key never reaches logs.
#[derive(Clone, PartialEq, Eq)]
pub struct OpenAiConfig {
    /// API root the endpoint paths are appended to, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Bearer token; secret.
    pub api_key: String,
    /// Model for the four text functions (JSON mode must be supported).
    pub chat_model: String,
    /// Model for image generation.
    pub image_model: String,
    /// Whole-request timeout (connect, send, wait, read); article generation can be
    /// slow, so keep this generous.
    pub timeout: Duration,
    /// Retries after the first attempt for throttling, outages and timeouts.
    pub max_retries: u32,
    /// First backoff delay; doubled on each further retry.
    pub base_backoff: Duration,
}

impl OpenAiConfig {
    /// A config with default models, a 120 s timeout, 3 retries and a 500 ms base
    /// backoff; the values production has no reason to change.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: api_key.into(),
            chat_model: DEFAULT_CHAT_MODEL.to_string(),
            image_model: DEFAULT_IMAGE_MODEL.to_string(),
            timeout: Duration::from_secs(120),
            max_retries: 3,
            base_backoff: Duration::from_millis(500),
        }
    }

    /// Reads `IGNY8_AI_BASE_URL`, `IGNY8_AI_API_KEY`, `IGNY8_AI_MODEL` and
    /// `IGNY8_AI_IMAGE_MODEL`; `None` when the base URL or key is unset or empty,
    /// which callers take as "use the offline provider".
    pub fn from_env() -> Option<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`OpenAiConfig::from_env`] over any variable source, so it can be tested
    /// without mutating the process environment.
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let non_empty = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let base_url = non_empty("IGNY8_AI_BASE_URL")?;
        let api_key = non_empty("IGNY8_AI_API_KEY")?;
        let mut config = Self::new(base_url, api_key);
        if let Some(model) = non_empty("IGNY8_AI_MODEL") {
            config.chat_model = model;
        }
        if let Some(model) = non_empty("IGNY8_AI_IMAGE_MODEL") {
            config.image_model = model;
        }
        Some(config)
    }
}

impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"***")
            .field("chat_model", &self.chat_model)
            .field("image_model", &self.image_model)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("base_backoff", &self.base_backoff)
            .finish()
    }
}

/// [`AiProvider`] backed by an OpenAI-compatible HTTP API. Cheap to share: one
/// connection-pooling client is built at construction and reused for every call.
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    config: OpenAiConfig,
    client: reqwest::Client,
    chat_url: String,
    images_url: String,
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
        Ok(Self { config, client, chat_url, images_url })
    }

    /// The configuration this provider was built with.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// Replaces any occurrence of the API key in `text`, in case a platform echoes
    /// it back in an error body.
    fn redact(&self, text: &str) -> String {
        if self.config.api_key.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.config.api_key, "***")
        }
    }

    /// Delay before retry number `attempt + 1`: `base_backoff · 2^attempt`, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(16);
        self.config.base_backoff.checked_mul(factor).unwrap_or(MAX_BACKOFF).min(MAX_BACKOFF)
    }

    /// POSTs `body` as JSON to `url` with bearer auth, retrying transient failures
    /// with backoff, and returns the parsed JSON response body.
    async fn post_json(&self, url: &str, body: &Value) -> Result<Value, AiError> {
        let mut attempt: u32 = 0;
        loop {
            match self.post_once(url, body).await {
                Ok(value) => return Ok(value),
                Err(Failure::Permanent(error)) => return Err(error),
                Err(Failure::Transient { error, retry_after }) => {
                    if attempt >= self.config.max_retries {
                        return Err(error);
                    }
                    let delay = retry_after.unwrap_or_else(|| self.backoff(attempt));
                    tracing::warn!(
                        url,
                        attempt = attempt + 1,
                        max_retries = self.config.max_retries,
                        ?delay,
                        %error,
                        "transient AI provider failure; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    /// One HTTP attempt, classified as success, retryable or permanent failure.
    async fn post_once(&self, url: &str, body: &Value) -> Result<Value, Failure> {
        let response = self
            .client
            .post(url)
            .bearer_auth(&self.config.api_key)
            .json(body)
            .send()
            .await
            .map_err(|e| self.transport_failure(e))?;
        let status = response.status();
        let retry_after = parse_retry_after(response.headers());
        let text = response.text().await.map_err(|e| self.transport_failure(e))?;

        if status.is_success() {
            return serde_json::from_str(&text)
                .map_err(|e| Failure::Permanent(AiError::Provider(format!("response from {url} is not JSON: {e}"))));
        }

        let message = self.redact(&platform_message(status, &text));
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = retry_after.unwrap_or_else(|| self.backoff(0));
            Err(Failure::Transient { error: AiError::RateLimited { retry_after: wait }, retry_after })
        } else if status.is_server_error() {
            Err(Failure::Transient {
                error: AiError::Unavailable(format!("HTTP {}: {message}", status.as_u16())),
                retry_after,
            })
        } else if status == StatusCode::REQUEST_TIMEOUT {
            Err(Failure::Transient { error: AiError::Timeout, retry_after })
        } else {
            Err(Failure::Permanent(AiError::Provider(format!("HTTP {}: {message}", status.as_u16()))))
        }
    }

    /// Maps a reqwest transport error: timeouts and connection problems are
    /// transient, anything else (a request we could not even build) is permanent.
    fn transport_failure(&self, error: reqwest::Error) -> Failure {
        if error.is_timeout() {
            return Failure::Transient { error: AiError::Timeout, retry_after: None };
        }
        let message = self.redact(&error.to_string());
        if error.is_connect() || error.is_request() || error.is_body() || error.is_decode() {
            Failure::Transient { error: AiError::Unavailable(message), retry_after: None }
        } else {
            Failure::Permanent(AiError::Provider(message))
        }
    }

    /// Runs one JSON-mode chat completion and parses the model's answer into `T`.
    /// `function` names the AI function in error messages.
    async fn chat<T: DeserializeOwned>(&self, function: &str, system: &str, user: &str) -> Result<(T, Usage), AiError> {
        self.chat_bounded(function, system, user, None).await
    }

    /// [`OpenAiProvider::chat`] with the answer's length capped at `max_tokens` when
    /// given (a rewrite is bounded by the article it rewrites).
    async fn chat_bounded<T: DeserializeOwned>(
        &self,
        function: &str,
        system: &str,
        user: &str,
        max_tokens: Option<u32>,
    ) -> Result<(T, Usage), AiError> {
        let mut body = json!({
            "model": self.config.chat_model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "response_format": {"type": "json_object"},
            "temperature": 0.2,
        });
        if let Some(max) = max_tokens {
            body["max_tokens"] = json!(max);
        }
        let raw = self.post_json(&self.chat_url, &body).await?;
        let response: ChatResponse = serde_json::from_value(raw)
            .map_err(|e| AiError::Provider(format!("{function}: unexpected chat completion shape: {e}")))?;
        let content = response
            .choices
            .first()
            .and_then(|c| c.message.content.as_deref())
            .ok_or_else(|| AiError::Provider(format!("{function}: chat completion has no message content")))?;
        let parsed: T = serde_json::from_str(strip_code_fence(content))
            .map_err(|e| AiError::Provider(format!("{function}: model answer is not the requested JSON shape: {e}")))?;
        let usage = Usage {
            model: response.model.filter(|m| !m.is_empty()).unwrap_or_else(|| self.config.chat_model.clone()),
            tokens_in: response.usage.as_ref().and_then(|u| u.prompt_tokens).unwrap_or(0),
            tokens_out: response.usage.as_ref().and_then(|u| u.completion_tokens).unwrap_or(0),
        };
        Ok((parsed, usage))
    }
}

/// Outcome of a failed attempt: whether the retry loop may try again, and the
/// server's requested wait when it named one.
enum Failure {
    /// Throttling, outage or timeout.
    Transient {
        /// The error to return if no retries are left.
        error: AiError,
        /// Parsed `Retry-After`, already capped.
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (bad credentials, bad request, malformed response).
    Permanent(AiError),
}

/// `Retry-After` in seconds (integer or fractional), capped at [`MAX_RETRY_AFTER`];
/// HTTP-date values are ignored in favour of our own backoff.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let seconds: f64 = value.parse().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(seconds.min(MAX_RETRY_AFTER.as_secs_f64())))
}

/// The platform's own explanation of an error: `error.message` of a JSON body,
/// else the start of the raw body, else the status reason.
fn platform_message(status: StatusCode, body: &str) -> String {
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        let message = value
            .pointer("/error/message")
            .or_else(|| value.get("message"))
            .or_else(|| value.get("error"))
            .and_then(Value::as_str);
        if let Some(message) = message {
            return message.to_string();
        }
    }
    let trimmed = body.trim();
    if trimmed.is_empty() {
        status.canonical_reason().unwrap_or("no error message").to_string()
    } else {
        trimmed.chars().take(ERROR_BODY_QUOTE_CHARS).collect()
    }
}

/// Some OpenAI-compatible servers wrap JSON-mode output in a Markdown code fence;
/// accept it rather than fail the call.
fn strip_code_fence(content: &str) -> &str {
    let trimmed = content.trim();
    let Some(inner) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let inner = inner.strip_prefix("json").unwrap_or(inner);
    inner.strip_suffix("```").unwrap_or(inner).trim()
}

/// Truncates to at most `max` characters, on a character boundary.
fn truncate_chars(text: &str, max: usize) -> String {
    text.trim().chars().take(max).collect()
}

/// The subset of a chat completion response we use.
#[derive(Deserialize)]
struct ChatResponse {
    model: Option<String>,
    #[serde(default)]
    choices: Vec<ChatChoice>,
    usage: Option<ChatUsage>,
}

/// One completion choice.
#[derive(Deserialize)]
struct ChatChoice {
    message: ChatMessage,
}

/// The assistant message of a choice; `content` is null for refusals/tool calls.
#[derive(Deserialize)]
struct ChatMessage {
    content: Option<String>,
}

/// Token counts of a chat completion.
#[derive(Deserialize)]
struct ChatUsage {
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
}

/// Model answer for `name_clusters`.
#[derive(Deserialize)]
struct LabelsReply {
    clusters: Vec<LabelReply>,
}

/// One cluster's label as the model proposes it.
#[derive(Deserialize)]
struct LabelReply {
    index: usize,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    intent: String,
}

/// Model answer for `generate_ideas`.
#[derive(Deserialize)]
struct IdeasReply {
    ideas: Vec<IdeaReply>,
}

/// One idea as the model proposes it.
#[derive(Deserialize)]
struct IdeaReply {
    title: String,
    #[serde(default)]
    outline: Vec<String>,
    target_keyword: String,
    #[serde(default)]
    secondary_keywords: Vec<String>,
    word_target: u32,
    content_type: String,
}

/// Model answer for `generate_article`.
#[derive(Deserialize)]
struct ArticleReply {
    title: String,
    html: String,
    #[serde(default)]
    meta_description: String,
}

/// Model answer for `optimize_article`.
#[derive(Deserialize)]
struct OptimizeReply {
    title: String,
    meta_description: String,
    html: String,
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

/// Largest answer a rewrite may ask for, in tokens.
const MAX_OPTIMIZE_TOKENS: u32 = 16_000;

/// The answer budget of a rewrite: the article's size in tokens (about four
/// characters each) with half again as room to grow, plus the title and meta
/// description, capped at [`MAX_OPTIMIZE_TOKENS`].
fn optimize_max_tokens(request: &OptimizeRequest) -> u32 {
    let chars = request.html.len() + request.title.len() + request.meta_description.len();
    let tokens = chars.div_ceil(4).saturating_mul(3) / 2 + 256;
    u32::try_from(tokens).unwrap_or(MAX_OPTIMIZE_TOKENS).min(MAX_OPTIMIZE_TOKENS)
}

/// Model answer for `generate_image_prompts`.
#[derive(Deserialize)]
struct PromptsReply {
    prompts: Vec<PromptReply>,
}

/// One image prompt as the model proposes it.
#[derive(Deserialize)]
struct PromptReply {
    prompt: String,
    #[serde(default)]
    alt_text: String,
    #[serde(default)]
    placement: String,
    #[serde(default)]
    heading: String,
}

/// One label per cluster, in order: the model's where it answered for that index
/// (the first answer wins), else the cluster's own; an intent the model left out or
/// misspelled is the cluster's.
fn build_labels(reply: LabelsReply, clusters: &[ClusterOut]) -> Vec<ClusterLabel> {
    let mut labels: Vec<ClusterLabel> = clusters
        .iter()
        .map(|c| ClusterLabel { name: c.name.clone(), description: c.description.clone(), intent: c.intent.clone() })
        .collect();
    let mut answered = vec![false; clusters.len()];
    for l in reply.clusters {
        let Some(slot) = labels.get_mut(l.index) else { continue };
        if answered[l.index] || l.name.trim().is_empty() {
            continue;
        }
        answered[l.index] = true;
        slot.name = l.name.trim().to_string();
        if !l.description.trim().is_empty() {
            slot.description = l.description.trim().to_string();
        }
        if let Some(intent) = Intent::parse(&l.intent) {
            slot.intent = intent.as_str().to_string();
        }
    }
    labels
}

/// Keywords of a cluster shown to the model when naming it: enough to see the topic.
const NAMING_KEYWORDS: usize = 12;

/// System prompt shared by the text functions: JSON only, no prose.
const SYSTEM_PROMPT: &str = "You are an SEO content strategist and writer. \
    Answer with a single JSON object exactly in the shape the user asks for, \
    with no extra keys and no text outside the JSON.";

#[async_trait]
impl AiProvider for OpenAiProvider {
    /// Names a batch of clusters whose members the clustering algorithm decided (the
    /// model never groups: a prompt cannot hold a whole site's keywords, and grouping
    /// batch by batch made duplicate clusters). One request per call; an empty batch
    /// makes none.
    async fn name_clusters(
        &self,
        clusters: &[ClusterOut],
        keywords: &[KeywordInput],
    ) -> Result<(Vec<ClusterLabel>, Usage), AiError> {
        if clusters.is_empty() {
            return Ok((Vec::new(), Usage { model: self.config.chat_model.clone(), tokens_in: 0, tokens_out: 0 }));
        }
        let mut list = String::new();
        for (n, cluster) in clusters.iter().enumerate() {
            list.push_str(&format!("{n}. pillar \"{}\":", cluster.pillar_keyword));
            for &i in cluster.keywords.iter().take(NAMING_KEYWORDS) {
                let k = keywords.get(i).ok_or_else(|| {
                    AiError::InvalidInput(format!(
                        "cluster keyword index {i} is outside the {} keywords given",
                        keywords.len()
                    ))
                })?;
                list.push_str(&format!(" {};", k.keyword));
            }
            list.push('\n');
        }
        let user = format!(
            "Each numbered line is a topic cluster of search keywords: its pillar keyword, then \
             its keywords. Name each cluster (2 to 5 words, distinct from the other names) and \
             describe it in one sentence.\n\
             Return {{\"clusters\":[{{\"index\":number from the list,\"name\":string,\
             \"description\":string,\"intent\":\"informational\"|\"commercial\"|\
             \"transactional\"|\"navigational\"}}]}} with one entry per cluster.\n\n{list}"
        );
        let (reply, usage) = self.chat::<LabelsReply>("name_clusters", SYSTEM_PROMPT, &user).await?;
        Ok((build_labels(reply, clusters), usage))
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
            let k = keywords.get(i).ok_or_else(|| {
                AiError::InvalidInput(format!(
                    "cluster keyword index {i} is outside the {} keywords given",
                    keywords.len()
                ))
            })?;
            members.push_str(&format!("- {} ({} searches/month)\n", k.keyword, k.volume));
        }
        let user = format!(
            "Propose {count} distinct article ideas for the topic cluster \"{name}\" \
             (pillar keyword \"{pillar}\", {intent} intent). Cluster keywords:\n{members}\n\
             Return {{\"ideas\":[{{\"title\":string,\"outline\":[H2 headings],\
             \"target_keyword\":string,\"secondary_keywords\":[strings],\
             \"word_target\":integer,\"content_type\":\"guide\"|\"how_to\"|\"listicle\"|\
             \"comparison\"|\"review\"|\"product_page\"|\"resource_page\"}}]}}.",
            name = cluster.name,
            pillar = cluster.pillar_keyword,
            intent = cluster.intent,
        );
        let (reply, usage) = self.chat::<IdeasReply>("generate_ideas", SYSTEM_PROMPT, &user).await?;
        let ideas = reply
            .ideas
            .into_iter()
            .take(count)
            .map(|i| IdeaOut {
                title: i.title.trim().to_string(),
                outline: i.outline,
                target_keyword: i.target_keyword.trim().to_string(),
                secondary_keywords: i.secondary_keywords,
                word_target: i.word_target,
                content_type: i.content_type.trim().to_ascii_lowercase(),
            })
            .collect();
        Ok((ideas, usage))
    }

    async fn generate_article(&self, idea: &IdeaOut, word_target: u32) -> Result<(ArticleOut, Usage), AiError> {
        if word_target == 0 {
            return Err(AiError::InvalidInput("word target must be positive".into()));
        }
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
        let (reply, usage) = self.chat::<ArticleReply>("generate_article", SYSTEM_PROMPT, &user).await?;
        if reply.html.trim().is_empty() {
            return Err(AiError::Provider("generate_article: model returned empty HTML".into()));
        }
        let article = ArticleOut {
            title: reply.title.trim().to_string(),
            word_count: count_html_words(&reply.html),
            meta_description: truncate_chars(&reply.meta_description, META_DESCRIPTION_MAX_CHARS),
            html: reply.html,
        };
        Ok((article, usage))
    }

    async fn generate_image_prompts(
        &self,
        article: &ArticleOut,
        max: usize,
    ) -> Result<(Vec<ImagePromptOut>, Usage), AiError> {
        if max == 0 {
            return Ok((Vec::new(), Usage { model: self.config.chat_model.clone(), tokens_in: 0, tokens_out: 0 }));
        }
        let user = format!(
            "Propose up to {max} images for this article: first one \"featured\" image \
             for the title, then \"in_article\" images for its H2 sections. Prompts \
             describe a photo-realistic scene with no text in the image.\n\
             Return {{\"prompts\":[{{\"prompt\":string,\"alt_text\":string,\
             \"placement\":\"featured\"|\"in_article\",\"heading\":the title or H2 \
             text}}]}}.\n\nTitle: {title}\n\nHTML:\n{html}",
            title = article.title,
            html = article.html,
        );
        let (reply, usage) = self.chat::<PromptsReply>("generate_image_prompts", SYSTEM_PROMPT, &user).await?;
        let prompts = reply
            .prompts
            .into_iter()
            .filter(|p| !p.prompt.trim().is_empty())
            .take(max)
            .map(|p| ImagePromptOut {
                prompt: p.prompt.trim().to_string(),
                alt_text: p.alt_text.trim().to_string(),
                placement: if p.placement.trim().eq_ignore_ascii_case("featured") {
                    "featured".to_string()
                } else {
                    "in_article".to_string()
                },
                heading: p.heading.trim().to_string(),
            })
            .collect();
        Ok((prompts, usage))
    }

    async fn generate_image(&self, prompt: &str, width: u32, height: u32) -> Result<(ImageOut, Usage), AiError> {
        if prompt.trim().is_empty() {
            return Err(AiError::InvalidInput("image prompt is empty".into()));
        }
        let (width, height) = if width == 0 || height == 0 { DEFAULT_IMAGE_SIZE } else { (width, height) };
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
        let max_tokens = Some(optimize_max_tokens(request));
        let (reply, usage) =
            self.chat_bounded::<OptimizeReply>("optimize_article", SYSTEM_PROMPT, &user, max_tokens).await?;
        if reply.html.trim().is_empty() || reply.title.trim().is_empty() {
            return Err(AiError::Provider("optimize_article: model returned an empty title or body".into()));
        }
        let out = OptimizeOut {
            title: reply.title.trim().to_string(),
            meta_description: truncate_chars(&reply.meta_description, META_DESCRIPTION_MAX_CHARS),
            html: reply.html,
        };
        Ok((out, usage))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::ClusterOptions;

    const KEY: &str = "sk-test-secret-key-123";

    /// One request as the local server saw it.
    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: Value,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
        }
    }

    /// A canned HTTP response.
    struct Reply {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    }

    impl Reply {
        fn json(status: u16, body: Value) -> Self {
            Self { status, headers: Vec::new(), body: body.to_string() }
        }
    }

    type Log = Arc<Mutex<Vec<Seen>>>;

    /// Starts a minimal HTTP/1.1 server on 127.0.0.1; `respond` gets the 0-based
    /// request number and the parsed request. Returns the `/v1` base URL and the log.
    async fn serve<F>(respond: F) -> (String, Log)
    where
        F: Fn(usize, &Seen) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log: Log = Arc::default();
        let respond = Arc::new(respond);
        let server_log = log.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = server_log.clone();
                let respond = respond.clone();
                tokio::spawn(async move {
                    handle(stream, log, respond).await;
                });
            }
        });
        (format!("http://{addr}/v1"), log)
    }

    async fn handle<F>(mut stream: TcpStream, log: Log, respond: Arc<F>)
    where
        F: Fn(usize, &Seen) -> Reply + Send + Sync + 'static,
    {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let header_end = loop {
            let n = stream.read(&mut chunk).await.unwrap();
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
        };
        let head = String::from_utf8(buf[..header_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap().split(' ');
        let method = request_line.next().unwrap().to_string();
        let path = request_line.next().unwrap().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize =
            headers.iter().find(|(n, _)| n == "content-length").map(|(_, v)| v.parse().unwrap()).unwrap_or(0);
        while buf.len() < header_end + length {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "client closed mid-body");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = serde_json::from_slice(&buf[header_end..header_end + length]).unwrap_or(Value::Null);
        let seen = Seen { method, path, headers, body };
        let number = {
            let mut log = log.lock().unwrap();
            log.push(seen.clone());
            log.len() - 1
        };
        let reply = respond(number, &seen);
        let mut out = format!(
            "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            reply.status,
            reply.body.len()
        );
        for (name, value) in &reply.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&reply.body);
        stream.write_all(out.as_bytes()).await.unwrap();
        stream.shutdown().await.ok();
    }

    fn provider(base_url: &str) -> OpenAiProvider {
        let mut config = OpenAiConfig::new(base_url, KEY);
        config.chat_model = "test-chat".into();
        config.image_model = "test-image".into();
        config.timeout = Duration::from_secs(5);
        config.max_retries = 2;
        config.base_backoff = Duration::from_millis(1);
        OpenAiProvider::new(config).unwrap()
    }

    /// An OpenAI-style chat completion whose message content is `content`.
    fn completion(content: &str) -> Value {
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "test-chat-2025",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 45, "total_tokens": 165}
        })
    }

    fn chat_server(content: Value) -> impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static {
        let body = completion(&content.to_string());
        move |_, _| Reply::json(200, body.clone())
    }

    fn assert_common_shape(seen: &Seen, path: &str) {
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.path, path);
        assert_eq!(seen.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
        assert!(seen.header("content-type").is_some_and(|v| v.starts_with("application/json")));
    }

    fn assert_chat_shape(seen: &Seen) {
        assert_common_shape(seen, "/v1/chat/completions");
        assert_eq!(seen.body["model"], "test-chat");
        let messages = seen.body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0]["role"], "system");
        assert_eq!(messages[1]["role"], "user");
        assert!(messages[1]["content"].as_str().unwrap().len() > 20);
        assert_eq!(seen.body["response_format"]["type"], "json_object");
        assert_eq!(seen.body["temperature"], 0.2);
    }

    fn keywords() -> Vec<KeywordInput> {
        vec![
            KeywordInput::new("running shoes", 1000),
            KeywordInput::new("best running shoes", 3000),
            KeywordInput::new("trail running shoes", 500),
            KeywordInput::new("how to tie shoes", 800),
        ]
    }

    fn idea() -> IdeaOut {
        IdeaOut {
            title: "Best Running Shoes".into(),
            outline: vec!["Cushioning".into(), "Fit".into()],
            target_keyword: "best running shoes".into(),
            secondary_keywords: vec!["running shoes".into()],
            word_target: 1200,
            content_type: "listicle".into(),
        }
    }

    fn tiny_png() -> Vec<u8> {
        let mut bytes = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut bytes, 2, 2);
            encoder.set_color(png::ColorType::Rgb);
            let mut writer = encoder.write_header().unwrap();
            writer.write_image_data(&[0u8; 12]).unwrap();
        }
        bytes
    }

    #[tokio::test]
    async fn the_algorithm_groups_and_the_model_only_names() {
        let expected = crate::offline::cluster::cluster_keywords(&keywords(), &ClusterOptions::default()).unwrap();
        let (url, log) = serve(chat_server(json!({"clusters": [
            {"index": 0, "name": "Shoes for Running", "description": "Picking shoes.", "intent": "Commercial"},
            {"index": 0, "name": "Second answer", "description": "ignored"},
            {"index": 7, "name": "Out of range", "description": "ignored"}
        ]})))
        .await;
        let (clusters, usage) = provider(&url).cluster_keywords(&keywords(), &ClusterOptions::default()).await.unwrap();
        let seen = log.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "one naming request for a small set");
        assert_chat_shape(&seen[0]);
        let prompt = seen[0].body["messages"][1]["content"].as_str().unwrap();
        assert!(prompt.contains("trail running shoes") && prompt.contains("pillar"), "{prompt}");
        // Members, pillars and volumes are the algorithm's; names come from the model.
        assert_eq!(clusters.len(), expected.len());
        for (got, want) in clusters.iter().zip(&expected) {
            assert_eq!(
                (&got.keywords, &got.pillar_keyword, got.total_volume),
                (&want.keywords, &want.pillar_keyword, want.total_volume)
            );
        }
        assert_eq!(clusters[0].name, "Shoes for Running");
        assert_eq!(clusters[0].description, "Picking shoes.");
        assert_eq!(clusters[0].intent, "commercial");
        for (got, want) in clusters.iter().zip(&expected).skip(1) {
            assert_eq!(got.name, want.name, "a cluster the model did not name keeps the algorithm's name");
        }
        assert_eq!(usage, Usage { model: "test-chat-2025".into(), tokens_in: 120, tokens_out: 45 });
    }

    #[tokio::test]
    async fn naming_nothing_makes_no_request() {
        let (url, log) = serve(chat_server(json!({"clusters": []}))).await;
        let (labels, usage) = provider(&url).name_clusters(&[], &keywords()).await.unwrap();
        assert!(labels.is_empty());
        assert_eq!((usage.tokens_in, usage.tokens_out), (0, 0));
        assert!(log.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn generate_ideas_happy_path() {
        let (url, log) = serve(chat_server(json!({"ideas": [
            {"title": "Best Running Shoes of 2026", "outline": ["Why", "Top picks"], "target_keyword": "best running shoes",
             "secondary_keywords": ["running shoes"], "word_target": 1500, "content_type": "listicle"},
            {"title": "Extra", "outline": [], "target_keyword": "x", "secondary_keywords": [], "word_target": 900, "content_type": "guide"}
        ]})))
        .await;
        let cluster = ClusterOut {
            name: "Running Shoes".into(),
            pillar_keyword: "best running shoes".into(),
            keywords: vec![1, 0],
            intent: "commercial".into(),
            total_volume: 4000,
            description: String::new(),
        };
        let (ideas, usage) = provider(&url).generate_ideas(&cluster, &keywords(), 1).await.unwrap();
        assert_chat_shape(&log.lock().unwrap()[0]);
        assert_eq!(ideas.len(), 1, "truncated to the requested count");
        assert_eq!(ideas[0].title, "Best Running Shoes of 2026");
        assert_eq!(ideas[0].outline, vec!["Why", "Top picks"]);
        assert_eq!(ideas[0].word_target, 1500);
        assert_eq!(ideas[0].content_type, "listicle");
        assert_eq!(usage.tokens_out, 45);
    }

    #[tokio::test]
    async fn generate_article_counts_words_itself() {
        let (url, log) = serve(chat_server(json!({
            "title": "Best Running Shoes",
            "html": "<h1>Best Running Shoes</h1><p>Pick shoes that fit &amp; feel good.</p>",
            "meta_description": "m".repeat(300)
        })))
        .await;
        let (article, _) = provider(&url).generate_article(&idea(), 1200).await.unwrap();
        assert_chat_shape(&log.lock().unwrap()[0]);
        assert_eq!(article.title, "Best Running Shoes");
        assert_eq!(article.word_count, 9);
        assert_eq!(article.meta_description.chars().count(), 160);
    }

    fn optimize_request() -> OptimizeRequest {
        OptimizeRequest {
            title: "Shoes".into(),
            meta_description: "Short.".into(),
            html: "<h1>Shoes</h1><p>Pick shoes that fit. <a href=\"/fit\">Fit guide</a>.</p>".into(),
            focus_keyphrase: "running shoes".into(),
            language: "en".into(),
            flagged: vec!["keyphrase_in_seo_title".into(), "meta_description_length".into(), "new_check".into()],
        }
    }

    #[tokio::test]
    async fn optimize_article_explains_the_flagged_checks_and_bounds_the_answer() {
        let (url, log) = serve(chat_server(json!({
            "title": " Running Shoes: A Guide ",
            "meta_description": "m".repeat(300),
            "html": "<h1>Running Shoes: A Guide</h1><p>Pick running shoes that fit. <a href=\"/fit\">Fit guide</a>.</p>"
        })))
        .await;
        let request = optimize_request();
        let (out, usage) = provider(&url).optimize_article(&request).await.unwrap();
        let seen = log.lock().unwrap()[0].clone();
        assert_chat_shape(&seen);
        let prompt = seen.body["messages"][1]["content"].as_str().unwrap();
        assert!(prompt.contains("\"running shoes\""), "{prompt}");
        assert!(prompt.contains("keyphrase_in_seo_title: start the title with the focus keyphrase"), "{prompt}");
        assert!(prompt.contains("meta_description_length: make the meta description 120 to 156"), "{prompt}");
        assert!(prompt.contains("- new_check\n"), "an unknown check is passed on: {prompt}");
        assert!(!prompt.contains("sentence_length"), "only flagged checks are asked for: {prompt}");
        assert!(prompt.contains(&request.html), "{prompt}");
        let max = seen.body["max_tokens"].as_u64().unwrap();
        assert_eq!(max, u64::from(optimize_max_tokens(&request)));
        assert!((256..=u64::from(MAX_OPTIMIZE_TOKENS)).contains(&max));
        assert_eq!(out.title, "Running Shoes: A Guide");
        assert_eq!(out.meta_description.chars().count(), META_DESCRIPTION_MAX_CHARS);
        assert!(out.html.contains("<a href=\"/fit\">"));
        assert_eq!(usage, Usage { model: "test-chat-2025".into(), tokens_in: 120, tokens_out: 45 });
    }

    #[tokio::test]
    async fn optimize_article_refuses_a_wrong_or_empty_answer() {
        let (url, _) = serve(chat_server(json!({"title": "T", "html": "<p>x</p>"}))).await;
        let err = provider(&url).optimize_article(&optimize_request()).await.unwrap_err();
        assert!(matches!(&err, AiError::Provider(m) if m.contains("optimize_article")), "{err:?}");
        let (url, _) = serve(chat_server(json!({"title": "T", "meta_description": "m", "html": "  "}))).await;
        let err = provider(&url).optimize_article(&optimize_request()).await.unwrap_err();
        assert!(matches!(&err, AiError::Provider(m) if m.contains("empty")), "{err:?}");
        let (url, log) = serve(chat_server(json!({}))).await;
        let mut empty = optimize_request();
        empty.html = " ".into();
        let err = provider(&url).optimize_article(&empty).await.unwrap_err();
        assert!(matches!(err, AiError::InvalidInput(_)), "{err:?}");
        assert!(log.lock().unwrap().is_empty(), "nothing is sent");
    }

    #[test]
    fn the_rewrite_budget_grows_with_the_article_and_is_capped() {
        let mut request = optimize_request();
        let small = optimize_max_tokens(&request);
        request.html = "<p>word </p>".repeat(2_000);
        let large = optimize_max_tokens(&request);
        assert!(large > small && large > 5_000, "{small} {large}");
        request.html = "x".repeat(1_000_000);
        assert_eq!(optimize_max_tokens(&request), MAX_OPTIMIZE_TOKENS);
    }

    #[tokio::test]
    async fn generate_image_prompts_happy_path() {
        let (url, log) = serve(chat_server(json!({"prompts": [
            {"prompt": "A runner at dawn", "alt_text": "Runner", "placement": "featured", "heading": "Best Running Shoes"},
            {"prompt": "Shoe close-up", "alt_text": "Shoe", "placement": "in_article", "heading": "Fit"},
            {"prompt": "Third", "alt_text": "3", "placement": "in_article", "heading": "Other"}
        ]})))
        .await;
        let article = ArticleOut {
            title: "Best Running Shoes".into(),
            html: "<h1>Best Running Shoes</h1><h2>Fit</h2><p>Text.</p>".into(),
            word_count: 4,
            meta_description: String::new(),
        };
        let (prompts, _) = provider(&url).generate_image_prompts(&article, 2).await.unwrap();
        assert_chat_shape(&log.lock().unwrap()[0]);
        assert_eq!(prompts.len(), 2);
        assert_eq!(prompts[0].placement, "featured");
        assert_eq!(prompts[1].heading, "Fit");
    }

    #[tokio::test]
    async fn generate_image_decodes_png() {
        let png = tiny_png();
        let encoded = base64::engine::general_purpose::STANDARD.encode(&png);
        let (url, log) =
            serve(move |_, _| Reply::json(200, json!({"created": 1, "data": [{"b64_json": encoded}]}))).await;
        let (image, usage) = provider(&url).generate_image("a red square", 0, 0).await.unwrap();
        let seen = log.lock().unwrap()[0].clone();
        assert_common_shape(&seen, "/v1/images/generations");
        assert_eq!(seen.body["model"], "test-image");
        assert_eq!(seen.body["prompt"], "a red square");
        assert_eq!(seen.body["size"], "1024x576");
        assert_eq!(seen.body["n"], 1);
        assert_eq!(seen.body["response_format"], "b64_json");
        assert_eq!(image.png, png);
        assert_eq!((image.width, image.height), (1024, 576));
        assert_eq!(usage.model, "test-image");
    }

    #[tokio::test]
    async fn gpt_image_models_get_no_response_format() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(tiny_png());
        let (url, log) = serve(move |_, _| {
            Reply::json(
                200,
                json!({"data": [{"b64_json": encoded}], "usage": {"input_tokens": 7, "output_tokens": 99}}),
            )
        })
        .await;
        let mut config = provider(&url).config().clone();
        config.image_model = "gpt-image-1".into();
        let (image, usage) = OpenAiProvider::new(config).unwrap().generate_image("p", 1024, 1024).await.unwrap();
        let seen = log.lock().unwrap()[0].clone();
        assert!(seen.body.get("response_format").is_none());
        assert_eq!(seen.body["size"], "1024x1024");
        assert_eq!((image.width, image.height), (1024, 1024));
        assert_eq!((usage.tokens_in, usage.tokens_out), (7, 99));
    }

    #[tokio::test]
    async fn non_png_image_is_a_provider_error() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(b"GIF89a not a png");
        let (url, _) = serve(move |_, _| Reply::json(200, json!({"data": [{"b64_json": encoded}]}))).await;
        let err = provider(&url).generate_image("p", 64, 64).await.unwrap_err();
        assert!(matches!(&err, AiError::Provider(m) if m.contains("not a PNG")), "{err:?}");
    }

    #[tokio::test]
    async fn retries_429_honouring_retry_after_then_succeeds() {
        let ok = completion(&json!({"title": "T", "html": "<p>one two</p>", "meta_description": "d"}).to_string());
        let (url, log) = serve(move |n, _| {
            if n < 2 {
                Reply {
                    status: 429,
                    headers: vec![("retry-after", "0".into())],
                    body: json!({"error": {"message": "slow down"}}).to_string(),
                }
            } else {
                Reply::json(200, ok.clone())
            }
        })
        .await;
        let (article, _) = provider(&url).generate_article(&idea(), 500).await.unwrap();
        assert_eq!(article.word_count, 2);
        let seen = log.lock().unwrap().clone();
        assert_eq!(seen.len(), 3);
        for s in &seen {
            assert_chat_shape(s);
        }
    }

    #[tokio::test]
    async fn persistent_429_is_rate_limited_with_server_delay() {
        let (url, log) =
            serve(|_, _| Reply { status: 429, headers: vec![("retry-after", "0".into())], body: String::new() }).await;
        let err = provider(&url).generate_article(&idea(), 500).await.unwrap_err();
        assert_eq!(err, AiError::RateLimited { retry_after: Duration::ZERO });
        assert!(err.is_transient());
        assert_eq!(log.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn server_errors_exhaust_retries_as_unavailable() {
        let (url, log) = serve(|_, _| Reply::json(500, json!({"error": {"message": "boom"}}))).await;
        let err = provider(&url).generate_article(&idea(), 500).await.unwrap_err();
        assert!(matches!(&err, AiError::Unavailable(m) if m.contains("500") && m.contains("boom")), "{err:?}");
        assert_eq!(log.lock().unwrap().len(), 3, "max_retries (2) + 1 attempts");
    }

    #[tokio::test]
    async fn unauthorized_is_permanent_and_hides_the_key() {
        let (url, log) = serve(|_, _| {
            Reply::json(
                401,
                json!({"error": {"message": format!("Incorrect API key provided: {KEY}."), "type": "invalid_request_error"}}),
            )
        })
        .await;
        let err = provider(&url).generate_article(&idea(), 500).await.unwrap_err();
        let AiError::Provider(message) = &err else {
            panic!("expected Provider, got {err:?}");
        };
        assert!(message.contains("401"), "{message}");
        assert!(message.contains("Incorrect API key provided"), "{message}");
        assert!(!message.contains(KEY), "{message}");
        assert!(!format!("{err} {err:?}").contains(KEY));
        assert!(!err.is_transient());
        assert_eq!(log.lock().unwrap().len(), 1, "no retry on 401");
    }

    #[tokio::test]
    async fn bad_request_is_not_retried() {
        let (url, log) = serve(|_, _| Reply::json(400, json!({"error": {"message": "model not found"}}))).await;
        let err = provider(&url).generate_article(&idea(), 500).await.unwrap_err();
        assert!(matches!(&err, AiError::Provider(m) if m.contains("model not found")), "{err:?}");
        assert_eq!(log.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn malformed_model_json_is_a_provider_error() {
        let body = completion("{\"title\": \"T\", \"html\": ");
        let (url, _) = serve(move |_, _| Reply::json(200, body.clone())).await;
        let err = provider(&url).generate_article(&idea(), 500).await.unwrap_err();
        assert!(
            matches!(&err, AiError::Provider(m) if m.contains("generate_article") && m.contains("JSON")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn wrong_shape_is_a_provider_error() {
        let (url, _) = serve(chat_server(json!({"items": []}))).await;
        let err = provider(&url)
            .generate_image_prompts(
                &ArticleOut {
                    title: "T".into(),
                    html: "<p>x</p>".into(),
                    word_count: 1,
                    meta_description: String::new(),
                },
                3,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AiError::Provider(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_cluster_index_outside_the_keywords_is_invalid_input() {
        let (url, log) = serve(chat_server(json!({"clusters": []}))).await;
        let cluster = ClusterOut {
            name: "X".into(),
            pillar_keyword: "running shoes".into(),
            keywords: vec![0, 4],
            intent: "informational".into(),
            total_volume: 0,
            description: String::new(),
        };
        let err = provider(&url).name_clusters(&[cluster], &keywords()).await.unwrap_err();
        assert!(matches!(&err, AiError::InvalidInput(m) if m.contains("index 4")), "{err:?}");
        assert!(log.lock().unwrap().is_empty(), "nothing is sent");
    }

    #[tokio::test]
    async fn timeouts_are_retried_then_reported() {
        // Accepts connections but never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let held = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                held.lock().unwrap().push(stream);
            }
        });
        let mut config = provider(&format!("http://{addr}/v1")).config().clone();
        config.timeout = Duration::from_millis(100);
        config.max_retries = 1;
        let err = OpenAiProvider::new(config).unwrap().generate_article(&idea(), 500).await.unwrap_err();
        assert_eq!(err, AiError::Timeout);
        assert_eq!(accepted.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn connection_refused_is_unavailable() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = provider(&format!("http://{addr}/v1")).generate_article(&idea(), 500).await.unwrap_err();
        assert!(matches!(&err, AiError::Unavailable(m) if !m.contains(KEY)), "{err:?}");
    }

    #[test]
    fn debug_hides_the_key() {
        let config = OpenAiConfig::new("https://api.example.com/v1", KEY);
        let text = format!("{config:?}");
        assert!(text.contains("api_key: \"***\""), "{text}");
        assert!(!text.contains(KEY));
        let provider = OpenAiProvider::new(config).unwrap();
        assert!(!format!("{provider:?}").contains(KEY));
    }

    #[test]
    fn config_from_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
        };
        assert!(OpenAiConfig::from_lookup(vars(&[("IGNY8_AI_API_KEY", "k")])).is_none());
        assert!(OpenAiConfig::from_lookup(vars(&[("IGNY8_AI_BASE_URL", "http://x")])).is_none());
        assert!(
            OpenAiConfig::from_lookup(vars(&[("IGNY8_AI_BASE_URL", "http://x"), ("IGNY8_AI_API_KEY", " ")])).is_none()
        );
        let config =
            OpenAiConfig::from_lookup(vars(&[("IGNY8_AI_BASE_URL", "http://x/v1"), ("IGNY8_AI_API_KEY", "k")]))
                .unwrap();
        assert_eq!(config.chat_model, DEFAULT_CHAT_MODEL);
        assert_eq!(config.image_model, DEFAULT_IMAGE_MODEL);
        let config = OpenAiConfig::from_lookup(vars(&[
            ("IGNY8_AI_BASE_URL", "http://x/v1"),
            ("IGNY8_AI_API_KEY", "k"),
            ("IGNY8_AI_MODEL", "m"),
            ("IGNY8_AI_IMAGE_MODEL", "i"),
        ]))
        .unwrap();
        assert_eq!((config.chat_model.as_str(), config.image_model.as_str()), ("m", "i"));
    }

    #[test]
    fn retry_after_is_parsed_and_capped() {
        let mut headers = HeaderMap::new();
        assert_eq!(parse_retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, "3600".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), None);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = provider("http://127.0.0.1:1/v1");
        assert_eq!(p.backoff(0), Duration::from_millis(1));
        assert_eq!(p.backoff(3), Duration::from_millis(8));
        assert_eq!(p.backoff(40), MAX_BACKOFF);
    }

    #[test]
    fn code_fences_are_tolerated() {
        assert_eq!(strip_code_fence("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(strip_code_fence(" {\"a\":1} "), "{\"a\":1}");
    }
}
