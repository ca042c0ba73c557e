//! The queue port: send batch, receive with a visibility timeout, delete, and
//! dead-letter after N receives.
//!
//! It follows SQS standard-queue semantics (at-least-once delivery, a receipt per
//! delivery, limits of 10 messages per call and 256 KiB per body) so work written
//! against the embedded SQLite queue behaves the same on SQS. The checks below are
//! shared by every adapter so both refuse exactly the same requests.

use std::time::Duration;

use async_trait::async_trait;

/// Most messages one send or receive carries (SQS's batch limit).
pub const MAX_BATCH: usize = 10;
/// Largest message body in bytes (SQS's limit).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Longest visibility timeout (SQS's limit: 12 hours).
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
/// Longest queue name (SQS's limit).
pub const MAX_QUEUE_NAME: usize = 80;

/// One delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// The id `send_batch` returned; stable across deliveries, so handlers can dedupe.
    pub id: String,
    /// The body as sent.
    pub body: String,
    /// Proof of this delivery; `delete` and `change_visibility` need it, and it stops
    /// working once the message is delivered again or deleted.
    pub receipt: String,
    /// How many times the message has been delivered, this delivery included.
    pub receive_count: u32,
}

/// Errors of the queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The request breaks a limit (batch size, empty or oversized body, queue name,
    /// visibility); nothing was sent or changed.
    #[error("invalid queue request: {0}")]
    Invalid(String),
    /// The receipt no longer names a delivery: the message was delivered again (to
    /// someone else, after its visibility timeout ran out) or was deleted.
    #[error("stale receipt: the message was re-delivered or deleted")]
    StaleReceipt,
    /// The backend is throttling or briefly unavailable (SQS throttling, 5xx, a
    /// timeout); nothing is known to have been sent or changed, retry with backoff.
    #[error("queue busy, retry: {0}")]
    Throttled(String),
    /// The backend failed (I/O, network, corrupt data).
    #[error("queue backend error: {0}")]
    Backend(String),
}

impl QueueError {
    /// True when the same request may succeed if retried unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Throttled(_))
    }
}

/// The messaging contract shared by the SQLite and SQS adapters.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues 1 to [`MAX_BATCH`] non-empty bodies of at most [`MAX_BODY_BYTES`];
    /// returns their ids in the same order. All are sent or none.
    async fn send_batch(&self, queue: &str, bodies: Vec<String>) -> Result<Vec<String>, QueueError>;

    /// Delivers up to `max` (1 to [`MAX_BATCH`]) visible messages, oldest first, and
    /// hides each for `visibility`; an empty result means none is visible now.
    async fn receive(&self, queue: &str, max: usize, visibility: Duration) -> Result<Vec<QueueMessage>, QueueError>;

    /// Removes a delivered message for good; [`QueueError::StaleReceipt`] when the
    /// receipt is no longer current (then someone else owns the message).
    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError>;

    /// Hides a delivered message for `visibility` from now (zero makes it visible at
    /// once, to hand it back); [`QueueError::StaleReceipt`] when the receipt is stale.
    async fn change_visibility(&self, queue: &str, receipt: &str, visibility: Duration) -> Result<(), QueueError>;
}

/// Checks a queue name the way SQS does: 1 to 80 ASCII letters, digits, '-' or '_'.
pub fn validate_queue_name(queue: &str) -> Result<(), QueueError> {
    let ok = !queue.is_empty()
        && queue.len() <= MAX_QUEUE_NAME
        && queue.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(QueueError::Invalid(format!(
            "queue name {queue:?} must be 1 to {MAX_QUEUE_NAME} letters, digits, '-' or '_'"
        )))
    }
}

/// Checks a send: 1 to [`MAX_BATCH`] bodies, each non-empty and at most [`MAX_BODY_BYTES`].
pub fn validate_batch(bodies: &[String]) -> Result<(), QueueError> {
    if bodies.is_empty() || bodies.len() > MAX_BATCH {
        return Err(QueueError::Invalid(format!("a batch holds 1 to {MAX_BATCH} messages, got {}", bodies.len())));
    }
    for (i, body) in bodies.iter().enumerate() {
        if body.is_empty() {
            return Err(QueueError::Invalid(format!("message #{i} has an empty body")));
        }
        if body.len() > MAX_BODY_BYTES {
            return Err(QueueError::Invalid(format!(
                "message #{i} is {} bytes, more than {MAX_BODY_BYTES}",
                body.len()
            )));
        }
    }
    Ok(())
}

/// Checks a visibility timeout is at most [`MAX_VISIBILITY`].
pub fn validate_visibility(visibility: Duration) -> Result<(), QueueError> {
    if visibility > MAX_VISIBILITY {
        return Err(QueueError::Invalid(format!(
            "visibility {}s is longer than {}s",
            visibility.as_secs(),
            MAX_VISIBILITY.as_secs()
        )));
    }
    Ok(())
}

/// Checks a receive: 1 to [`MAX_BATCH`] messages and a valid visibility timeout.
pub fn validate_receive(max: usize, visibility: Duration) -> Result<(), QueueError> {
    if max == 0 || max > MAX_BATCH {
        return Err(QueueError::Invalid(format!("a receive takes 1 to {MAX_BATCH} messages, asked for {max}")));
    }
    validate_visibility(visibility)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_limits_follow_sqs() {
        let body = |n: usize| "x".repeat(n);
        assert!(validate_batch(&[]).is_err());
        assert!(validate_batch(&vec![body(1); MAX_BATCH]).is_ok());
        assert!(validate_batch(&vec![body(1); MAX_BATCH + 1]).is_err());
        assert!(validate_batch(&[body(0)]).is_err());
        assert!(validate_batch(&[body(MAX_BODY_BYTES)]).is_ok());
        assert!(validate_batch(&[body(MAX_BODY_BYTES + 1)]).is_err());
    }

    #[test]
    fn receive_and_names_follow_sqs() {
        assert!(validate_receive(0, Duration::ZERO).is_err());
        assert!(validate_receive(MAX_BATCH, MAX_VISIBILITY).is_ok());
        assert!(validate_receive(MAX_BATCH + 1, Duration::ZERO).is_err());
        assert!(validate_receive(1, MAX_VISIBILITY + Duration::from_secs(1)).is_err());
        assert!(validate_queue_name("automation-stages_dlq").is_ok());
        for bad in ["", "a b", "a/b", &"q".repeat(MAX_QUEUE_NAME + 1)] {
            assert!(validate_queue_name(bad).is_err(), "{bad:?}");
        }
    }
}
