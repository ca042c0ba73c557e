//! How to reach an OpenAI-compatible endpoint, read from `IGNY8_AI_*` variables.
//!
//! Why a module of its own: the variables are the provider's whole user interface
//! (docs/ai-provider.md lists them), and parsing them over any lookup function keeps
//! them testable without touching the process environment.

use std::fmt;
use std::time::Duration;

use serde_json::{json, Value};

/// Chat model used when `IGNY8_AI_MODEL` is unset: cheap and good at structured output.
pub const DEFAULT_CHAT_MODEL: &str = "gpt-4o-mini";

/// Image model used when `IGNY8_AI_IMAGE_MODEL` is unset.
pub const DEFAULT_IMAGE_MODEL: &str = "gpt-image-1";

/// Embedding model used when `IGNY8_AI_EMBEDDING_MODEL` is unset: OpenAI's small,
/// cheap one, good enough to group keywords.
pub const DEFAULT_EMBEDDING_MODEL: &str = "text-embedding-3-small";

/// `IGNY8_AI_IMAGE_MODEL` value that renders images with the offline provider's
/// deterministic renderer instead of calling `/images/generations`: llama.cpp and
/// most local chat servers have no image endpoint, and a run against one must still
/// finish its image stage.
pub const OFFLINE_IMAGE_MODEL: &str = "offline";

/// Whole-request timeout when `IGNY8_AI_TIMEOUT_SECS` is unset: an article of a few
/// thousand words from a hosted model takes well under this.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// How many times a wrong or truncated model answer is asked for again (with the
/// validation error in the prompt) before the call fails with
/// [`crate::AiError::InvalidOutput`].
pub const DEFAULT_MAX_INVALID_RETRIES: u32 = 2;

/// How a chat request asks for JSON (`IGNY8_AI_JSON_MODE`). Servers differ: OpenAI
/// takes the schema as structured outputs, llama-cpp-python 0.3.x accepts only
/// `type: "json_object"` (its request model rejects `json_schema`) and turns an
/// optional `schema` beside it into a grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsonMode {
    /// `{"type":"json_schema","json_schema":{"name","schema","strict":true}}`: OpenAI
    /// structured outputs, llama.cpp's own `llama-server`, vLLM.
    #[default]
    JsonSchema,
    /// `{"type":"json_object","schema":{…}}`: llama-cpp-python's server (grammar
    /// from the schema), Anyscale-style endpoints.
    JsonObjectSchema,
    /// `{"type":"json_object"}`: plain JSON mode, for servers that accept neither
    /// schema form; the prompt still spells out the shape and replies are validated.
    JsonObject,
}

impl JsonMode {
    /// The variable's spelling of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::JsonSchema => "json_schema",
            Self::JsonObjectSchema => "json_object_schema",
            Self::JsonObject => "json_object",
        }
    }

    /// Parses the variable's value (case-insensitive); `None` when unknown.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "json_schema" => Some(Self::JsonSchema),
            "json_object_schema" => Some(Self::JsonObjectSchema),
            "json_object" => Some(Self::JsonObject),
            _ => None,
        }
    }

    /// The request's `response_format` asking for a JSON object matching `schema`,
    /// named `name` where the mode names it.
    pub fn response_format(self, name: &str, schema: &Value) -> Value {
        match self {
            Self::JsonSchema => {
                json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": true}})
            }
            Self::JsonObjectSchema => json!({"type": "json_object", "schema": schema}),
            Self::JsonObject => json!({"type": "json_object"}),
        }
    }
}

/// How to reach an OpenAI-compatible endpoint and how patiently to call it.
///
/// `Debug` is implemented by hand so the API key never reaches logs.
#[derive(Clone, PartialEq, Eq)]
pub struct OpenAiConfig {
    /// API root the endpoint paths are appended to, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Bearer token; secret.
    pub api_key: String,
    /// Model for the text functions (JSON mode must be supported).
    pub chat_model: String,
    /// Model for image generation; [`OFFLINE_IMAGE_MODEL`] renders locally.
    pub image_model: String,
    /// Model for `/embeddings` (semantic clustering); `None` when the endpoint has
    /// none, so `auto` clustering falls back to lexical.
    pub embedding_model: Option<String>,
    /// How chat requests ask for JSON.
    pub json_mode: JsonMode,
    /// Whole-request timeout (connect, send, wait, read). Every request's answer is
    /// bounded by `max_tokens`, so this only has to cover the slowest legitimate
    /// answer; a timed-out request is retried, and a single-threaded local server
    /// is still busy with the abandoned one, so do not set it too tight.
    pub timeout: Duration,
    /// Retries after the first attempt for throttling, outages and timeouts.
    pub max_retries: u32,
    /// Requests asked again after a wrong or truncated answer, before the call fails
    /// with [`crate::AiError::InvalidOutput`].
    pub max_invalid_retries: u32,
    /// First backoff delay; doubled on each further retry.
    pub base_backoff: Duration,
}

impl OpenAiConfig {
    /// A config with default models, JSON mode `json_schema`, a 120 s timeout, 3
    /// transport retries, 2 invalid-answer retries and a 500 ms base backoff; the
    /// values production has no reason to change.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: api_key.into(),
            chat_model: DEFAULT_CHAT_MODEL.to_string(),
            image_model: DEFAULT_IMAGE_MODEL.to_string(),
            embedding_model: Some(DEFAULT_EMBEDDING_MODEL.to_string()),
            json_mode: JsonMode::default(),
            timeout: DEFAULT_TIMEOUT,
            max_retries: 3,
            max_invalid_retries: DEFAULT_MAX_INVALID_RETRIES,
            base_backoff: Duration::from_millis(500),
        }
    }

    /// Reads `IGNY8_AI_BASE_URL`, `IGNY8_AI_API_KEY`, `IGNY8_AI_MODEL`,
    /// `IGNY8_AI_IMAGE_MODEL`, `IGNY8_AI_EMBEDDING_MODEL`, `IGNY8_AI_JSON_MODE` and
    /// `IGNY8_AI_TIMEOUT_SECS`; `None` when the base URL or key is unset or empty,
    /// which callers take as "use the offline provider". An unreadable JSON mode or
    /// timeout is logged as a warning and the default used.
    pub fn from_env() -> Option<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`OpenAiConfig::from_env`] over any variable source, so it can be tested
    /// without mutating the process environment.
    pub(super) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
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
        if let Some(model) = lookup("IGNY8_AI_EMBEDDING_MODEL") {
            let model = model.trim();
            config.embedding_model = (!model.is_empty() && !model.eq_ignore_ascii_case("none")).then(|| model.into());
        }
        if let Some(value) = non_empty("IGNY8_AI_JSON_MODE") {
            match JsonMode::parse(&value) {
                Some(mode) => config.json_mode = mode,
                None => tracing::warn!(
                    value,
                    default = config.json_mode.as_str(),
                    "IGNY8_AI_JSON_MODE is not json_schema, json_object_schema or json_object; using the default"
                ),
            }
        }
        if let Some(value) = non_empty("IGNY8_AI_TIMEOUT_SECS") {
            match value.parse::<u64>() {
                Ok(seconds) if seconds > 0 => config.timeout = Duration::from_secs(seconds),
                _ => tracing::warn!(
                    value,
                    default = config.timeout.as_secs(),
                    "IGNY8_AI_TIMEOUT_SECS is not a positive whole number of seconds; using the default"
                ),
            }
        }
        Some(config)
    }

    /// True when images are rendered locally rather than requested from the endpoint.
    pub fn renders_images_offline(&self) -> bool {
        self.image_model.eq_ignore_ascii_case(OFFLINE_IMAGE_MODEL)
    }
}

impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"***")
            .field("chat_model", &self.chat_model)
            .field("image_model", &self.image_model)
            .field("embedding_model", &self.embedding_model)
            .field("json_mode", &self.json_mode)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("max_invalid_retries", &self.max_invalid_retries)
            .field("base_backoff", &self.base_backoff)
            .finish()
    }
}
