//! One JSON POST to the endpoint, retried on throttling, outages and timeouts.
//!
//! Why apart from the chat logic: transport failures (HTTP status, connection,
//! timeout) are retried with backoff and mapped to transient [`AiError`]s, while a
//! wrong answer from the model is a different failure with its own bounded retries
//! (`chat.rs`); keeping them apart keeps each policy readable.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;

use super::OpenAiProvider;
use crate::AiError;

/// Longest wait we accept from a `Retry-After` header, so a misbehaving gateway
/// cannot park an automation run for hours.
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Ceiling of the exponential backoff between attempts.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Longest slice of an unparseable error body quoted in an error message.
const ERROR_BODY_QUOTE_CHARS: usize = 200;

impl OpenAiProvider {
    /// Replaces any occurrence of the API key in `text`, in case a platform echoes
    /// it back in an error body.
    pub(super) fn redact(&self, text: &str) -> String {
        if self.config.api_key.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.config.api_key, "***")
        }
    }

    /// Delay before retry number `attempt + 1`: `base_backoff · 2^attempt`, capped.
    pub(super) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(16);
        self.config.base_backoff.checked_mul(factor).unwrap_or(MAX_BACKOFF).min(MAX_BACKOFF)
    }

    /// POSTs `body` as JSON to `url` with bearer auth, retrying transient failures
    /// with backoff, and returns the parsed JSON response body.
    pub(super) async fn post_json(&self, url: &str, body: &Value) -> Result<Value, AiError> {
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
                    self.counters.count_transport_retry();
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
pub(super) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
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
