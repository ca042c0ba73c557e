//! A chat completion that returns what was asked or fails with
//! [`AiError::InvalidOutput`]: bounded answer, JSON mode with the schema, the reply
//! parsed and validated, a wrong or cut-off answer asked for again a bounded number
//! of times with the validation error in the prompt.
//!
//! Why: a small local model often answers with JSON of the wrong shape, and an
//! unbounded JSON-mode generation can run to the context limit while the client
//! times out and retries against a single-threaded server that is still busy. Every
//! request therefore carries `max_tokens`, a truncated answer
//! (`finish_reason: "length"`) counts as invalid (never as a transport error), and
//! nothing the model said is returned unless it passed validation.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::OpenAiProvider;
use crate::{AiError, Usage};

/// Sampling temperature of every chat request: low, for answers that follow the
/// schema, with a little variety between ideas.
pub(super) const TEMPERATURE: f64 = 0.2;

/// System prompt shared by the text functions: JSON only, no prose.
pub(super) const SYSTEM_PROMPT: &str = "You are an SEO content strategist and writer. \
    Answer with a single JSON object exactly in the shape the user asks for, \
    with no extra keys and no text outside the JSON.";

/// Start of the note appended to the prompt when an answer is asked for again.
pub(super) const RETRY_NOTE: &str = "Your previous answer was invalid:";

/// Longest validation error quoted back to the model (a serde error can quote a
/// long stretch of the answer).
const RETRY_REASON_CHARS: usize = 300;

/// One chat request of an AI function: its prompt, the schema of the answer and
/// the answer's token budget.
pub(super) struct ChatCall {
    /// The AI function's name: schema name, log field and error prefix.
    pub function: &'static str,
    /// The user prompt (the system prompt is [`SYSTEM_PROMPT`]).
    pub user: String,
    /// JSON Schema of the answer.
    pub schema: Value,
    /// `max_tokens` of every attempt.
    pub max_tokens: u32,
}

/// What the provider has done so far, for reports (H5's real-server test prints the
/// fraction of calls that needed a retry). Clones of a provider share the counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProviderStats {
    /// Chat function calls that sent at least one request.
    pub calls: u64,
    /// Chat completions requested: first attempts plus retries after invalid answers.
    pub attempts: u64,
    /// Calls that needed at least one retry after an invalid answer.
    pub retried_calls: u64,
    /// Retries after an invalid (wrong-shape, failed-validation or truncated) answer.
    pub retries: u64,
    /// Calls that still had no valid answer after the retries
    /// ([`AiError::InvalidOutput`]).
    pub invalid: u64,
    /// Of the invalid answers (every attempt), those cut off at `max_tokens`.
    pub truncated: u64,
    /// HTTP requests repeated after throttling, an outage or a timeout.
    pub transport_retries: u64,
    /// `/embeddings` requests sent (one per chunk).
    pub embedding_requests: u64,
}

/// The shared atomic counters behind [`ProviderStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    calls: AtomicU64,
    attempts: AtomicU64,
    retried_calls: AtomicU64,
    retries: AtomicU64,
    invalid: AtomicU64,
    truncated: AtomicU64,
    transport_retries: AtomicU64,
    embedding_requests: AtomicU64,
}

/// Adds one to a counter; relaxed, the counts are only reported.
fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// A snapshot of the counts.
    pub(super) fn snapshot(&self) -> ProviderStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProviderStats {
            calls: get(&self.calls),
            attempts: get(&self.attempts),
            retried_calls: get(&self.retried_calls),
            retries: get(&self.retries),
            invalid: get(&self.invalid),
            truncated: get(&self.truncated),
            transport_retries: get(&self.transport_retries),
            embedding_requests: get(&self.embedding_requests),
        }
    }

    /// Counts an HTTP retry.
    pub(super) fn count_transport_retry(&self) {
        bump(&self.transport_retries);
    }

    /// Counts an `/embeddings` request.
    pub(super) fn count_embedding_request(&self) {
        bump(&self.embedding_requests);
    }
}

/// Why an answer was refused: the message quoted back to the model and reported.
struct Invalid {
    reason: String,
    truncated: bool,
}

impl From<String> for Invalid {
    fn from(reason: String) -> Self {
        Self { reason, truncated: false }
    }
}

impl OpenAiProvider {
    /// Runs `call` until an answer parses into `R` and `validate` accepts it, at most
    /// `1 + max_invalid_retries` requests; returns the validated value with the usage
    /// of every attempt summed (invalid answers cost tokens too), or the final
    /// [`AiError::InvalidOutput`] with that sum attached ([`AiError::with_usage`]) so
    /// the caller can record what the server spent on a call that failed. Transport errors
    /// end the call at once with their own (transient or permanent) error, after the
    /// transport's own retries.
    pub(super) async fn chat<R, T>(
        &self,
        call: ChatCall,
        validate: impl Fn(R) -> Result<T, String>,
    ) -> Result<(T, Usage), AiError>
    where
        R: DeserializeOwned,
    {
        let ChatCall { function, user, schema, max_tokens } = call;
        let max_tokens = self.config.max_answer_tokens.map_or(max_tokens, |cap| max_tokens.min(cap));
        let response_format = self.config.json_mode.response_format(function, &schema);
        let attempts = self.config.max_invalid_retries.saturating_add(1);
        let mut usage = Usage { model: self.config.chat_model.clone(), tokens_in: 0, tokens_out: 0 };
        let mut prompt = user.clone();
        bump(&self.counters.calls);
        let mut attempt: u32 = 1;
        loop {
            bump(&self.counters.attempts);
            let body = json!({
                "model": self.config.chat_model,
                "messages": [
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": prompt},
                ],
                "response_format": response_format,
                "max_tokens": max_tokens,
                "temperature": TEMPERATURE,
            });
            let raw = self.post_json(&self.chat_url, &body).await?;
            let response: ChatResponse = serde_json::from_value(raw)
                .map_err(|e| AiError::Provider(format!("{function}: unexpected chat completion shape: {e}")))?;
            if let Some(model) = response.model.as_deref().filter(|m| !m.is_empty()) {
                model.clone_into(&mut usage.model);
            }
            if let Some(u) = &response.usage {
                usage.tokens_in += u.prompt_tokens.unwrap_or(0);
                usage.tokens_out += u.completion_tokens.unwrap_or(0);
            }
            let invalid = match answer::<R>(&response, max_tokens).and_then(|r| validate(r).map_err(Invalid::from)) {
                Ok(value) => return Ok((value, usage)),
                Err(invalid) => invalid,
            };
            if invalid.truncated {
                bump(&self.counters.truncated);
            }
            let reason = truncate_chars(&invalid.reason, RETRY_REASON_CHARS);
            if attempt >= attempts {
                bump(&self.counters.invalid);
                tracing::warn!(function, attempts, reason, "no valid model answer after the retries");
                let error = AiError::InvalidOutput(format!("{function}: {reason} (after {attempts} attempts)"));
                // The server spent these tokens although nothing is kept: they travel
                // with the error to the usage log.
                return Err(error.with_usage(usage));
            }
            tracing::info!(function, attempt, reason, "invalid model answer; asking again");
            if attempt == 1 {
                bump(&self.counters.retried_calls);
            }
            bump(&self.counters.retries);
            prompt = format!("{user}\n\n{RETRY_NOTE} {reason}. Answer again with JSON matching the schema.");
            attempt += 1;
        }
    }
}

/// The model's answer parsed into `R`, or why it is unusable: cut off at
/// `max_tokens`, missing, or not JSON of the requested shape.
fn answer<R: DeserializeOwned>(response: &ChatResponse, max_tokens: u32) -> Result<R, Invalid> {
    let choice = response.choices.first().ok_or_else(|| Invalid::from("the completion has no choices".to_string()))?;
    if choice.finish_reason.as_deref() == Some("length") {
        return Err(Invalid {
            reason: format!(
                "the answer was cut off at the limit of {max_tokens} tokens (finish_reason \"length\"); \
                 answer more briefly"
            ),
            truncated: true,
        });
    }
    let content = choice
        .message
        .content
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| Invalid::from("the answer is empty".to_string()))?;
    serde_json::from_str(strip_code_fence(content))
        .map_err(|e| Invalid::from(format!("the answer is not JSON of the requested shape: {e}")))
}

/// Some OpenAI-compatible servers wrap JSON-mode output in a Markdown code fence;
/// accept it rather than fail the call.
pub(super) fn strip_code_fence(content: &str) -> &str {
    let trimmed = content.trim();
    let Some(inner) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let inner = inner.strip_prefix("json").unwrap_or(inner);
    inner.strip_suffix("```").unwrap_or(inner).trim()
}

/// Truncates to at most `max` characters, on a character boundary.
pub(super) fn truncate_chars(text: &str, max: usize) -> String {
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
    finish_reason: Option<String>,
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
