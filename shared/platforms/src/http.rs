//! What both clients share: the reqwest client with its timeouts, the request counter
//! the benches read, and the classification of transport failures (unreachable, TLS).

use std::error::Error as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use igny8_core::ports::PlatformError;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Timeouts of every request a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP (and TLS) connection.
    pub connect: Duration,
    /// The whole request, body upload and answer included.
    pub request: Duration,
}

impl Default for Timeouts {
    /// 10 s to connect, 60 s a request (an image upload over a slow link).
    fn default() -> Self {
        Self { connect: Duration::from_secs(10), request: Duration::from_secs(60) }
    }
}

/// Counts the HTTP requests a client sent (retries included), so benches can report
/// requests per published article. Clones share the count.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<AtomicU64>);

impl RequestCounter {
    /// One more request.
    pub(crate) fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests sent so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A reqwest client with the timeouts, rustls and no automatic proxy from the
/// environment (a platform is called directly).
pub(crate) fn build_client(timeouts: Timeouts) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request)
        .user_agent(concat!("igny8-platforms/", env!("CARGO_PKG_VERSION")));
    // Building only fails when the TLS backend cannot start; the default client has
    // the same backend, so fall back to it rather than fail every call.
    builder.build().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "building the HTTP client with timeouts failed; using the default client");
        reqwest::Client::new()
    })
}

/// Classifies a request that got no HTTP answer: TLS failures (certificate, handshake,
/// a server that does not speak TLS) as [`PlatformError::Tls`], everything else
/// (DNS, refused connection, timeout, reset) as [`PlatformError::Unreachable`].
/// reqwest reports both as connect errors; the TLS library's error is in the source
/// chain, so the chain's text decides.
pub(crate) fn transport_error(error: &reqwest::Error, what: &str) -> PlatformError {
    let mut chain = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    let detail = chain.join(": ");
    let lower = detail.to_ascii_lowercase();
    let tls_markers = ["certificate", "tls", "handshake", "invalidcontenttype", "corrupt message", "peer misbehaved"];
    let message = if detail.is_empty() { format!("{what}: {error}") } else { format!("{what}: {detail}") };
    if tls_markers.iter().any(|m| lower.contains(m)) {
        PlatformError::Tls { message }
    } else if error.is_timeout() {
        PlatformError::Unreachable { message: format!("{what}: timed out") }
    } else if error.is_connect() || error.is_request() {
        PlatformError::Unreachable { message }
    } else {
        PlatformError::Protocol { message }
    }
}

/// The `Retry-After` header in seconds (the HTTP-date form is not used by either
/// platform; it reads as absent).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    value.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

/// The current time as RFC 3339 (UTC), for `checked_at` and `synced_at`.
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

/// Cuts a remote message to a readable length (HTML error pages can be large).
pub(crate) fn short(text: &str) -> String {
    const LIMIT: usize = 300;
    let text = text.trim();
    match text.char_indices().nth(LIMIT) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_ignores_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(1000);
        assert!(short(&long).chars().count() <= 301);
        assert_eq!(short(" ok "), "ok");
    }
}
