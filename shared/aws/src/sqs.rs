//! The queue port on Amazon SQS standard queues.
//!
//! The port was modelled on SQS, so most operations map one to one: a send batch is a
//! SendMessageBatch, a receive a ReceiveMessage with its own visibility timeout, and
//! dead-lettering is SQS's own redrive policy set up by [`SqsQueue::ensure_queue`].
//! Requests are checked with the port's `validate_*` functions before any call, so
//! SQS and the SQLite queue refuse exactly the same requests.
//!
//! Where SQS and the port differ, this adapter bends to the port as far as it can:
//!
//! * SQS takes visibility timeouts in whole seconds; a fraction is rounded **up**, so
//!   a message is never visible earlier than the caller asked (zero stays zero).
//! * A SendMessageBatch can fail for some entries only, and sent messages cannot be
//!   taken back without a receipt; such a partial failure is reported as
//!   [`QueueError::Backend`] naming the failed entries, so callers retry the batch
//!   (handlers already dedupe by message id under at-least-once delivery).
//! * SQS (and moto even more so) accepts a `DeleteMessage` with an older receipt of a
//!   message that was delivered again; only receipts SQS itself calls invalid, or a
//!   change of visibility on a message no longer in flight, surface as
//!   [`QueueError::StaleReceipt`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry};
use aws_sdk_sqs::Client;
use serde_json::json;

use super::config::{sdk_config, SharedInterceptor};
use igny8_core::ports::queue::{
    validate_batch, validate_queue_name, validate_receive, validate_visibility, Queue, QueueError, QueueMessage,
};

/// Default visibility timeout set on queues this adapter creates (SQS's own default);
/// every receive names its own, so it only matters to consumers outside the port.
pub const DEFAULT_VISIBILITY: Duration = Duration::from_secs(30);
/// Largest `maxReceiveCount` a redrive policy may hold (SQS's limit).
pub const MAX_RECEIVES_LIMIT: u32 = 1000;

/// Error codes meaning "this receipt no longer names a delivery", in the spellings of
/// SQS's JSON and query protocols (emulators use either).
const STALE_CODES: [&str; 4] = [
    "ReceiptHandleIsInvalid",
    "AWS.SimpleQueueService.ReceiptHandleIsInvalid",
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
];

/// Error codes of a CreateQueue whose name exists with other attributes.
const EXISTS_CODES: [&str; 3] = ["QueueNameExists", "QueueAlreadyExists", "AWS.SimpleQueueService.QueueNameExists"];

/// The queue port on SQS; queues are addressed by name, as in the SQLite adapter.
///
/// Cheap to clone: clones share the SDK client and the cache of queue URLs, so each
/// queue's URL is looked up once per process.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    urls: Arc<Mutex<HashMap<String, String>>>,
}

impl SqsQueue {
    /// Wraps an already configured client, so callers sharing one `SdkConfig` across
    /// adapters (or tests with a custom client) can reuse it.
    pub fn new(client: Client) -> Self {
        Self { client, urls: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// Builds a client from the shared AWS configuration (see `aws::config`);
    /// `endpoint` points it at an emulator such as moto.
    pub async fn connect(endpoint: Option<&str>) -> Result<Self, QueueError> {
        let config = sdk_config(endpoint).await;
        Ok(Self::new(Client::new(&config)))
    }

    /// The underlying client, for the rare caller that needs an operation the port
    /// deliberately leaves out (purging, redriving a dead-letter queue by hand).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The same adapter (and URL cache) with `interceptor` on its client (request
    /// counting, tracing): the benchmarks count SQS round trips per stage item this way.
    #[must_use]
    pub fn with_interceptor(self, interceptor: SharedInterceptor) -> Self {
        let mut config = self.client.config().to_builder();
        config.push_interceptor(interceptor);
        Self { client: Client::from_conf(config.build()), urls: self.urls }
    }

    /// Records a queue's URL known from configuration (the SAM template passes it), so
    /// the first send of a cold Lambda needs no GetQueueUrl round trip.
    pub fn remember_url(&self, queue: &str, url: &str) -> Result<(), QueueError> {
        validate_queue_name(queue)?;
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(QueueError::Invalid(format!("queue URL {url:?} of {queue:?} is not an http(s) URL")));
        }
        self.cache().insert(queue.to_owned(), url.to_owned());
        Ok(())
    }

    /// Creates `queue` if missing (and, with `dead_letter = Some((dlq, n))`, the
    /// dead-letter queue `dlq` plus a redrive policy moving a message there once it
    /// has been received `n` times), and returns its URL.
    ///
    /// Safe to call on every start: an existing queue gets the policy and visibility
    /// timeout set again, so a changed `n` takes effect without manual steps.
    pub async fn ensure_queue(&self, queue: &str, dead_letter: Option<(&str, u32)>) -> Result<String, QueueError> {
        validate_queue_name(queue)?;
        let mut attributes =
            HashMap::from([(QueueAttributeName::VisibilityTimeout, DEFAULT_VISIBILITY.as_secs().to_string())]);
        if let Some((dlq, max_receives)) = dead_letter {
            validate_queue_name(dlq)?;
            if dlq == queue {
                return Err(QueueError::Invalid(format!("queue {queue:?} cannot be its own dead-letter queue")));
            }
            if max_receives == 0 || max_receives > MAX_RECEIVES_LIMIT {
                return Err(QueueError::Invalid(format!(
                    "max receives must be 1 to {MAX_RECEIVES_LIMIT}, got {max_receives}"
                )));
            }
            let dlq_arn = self.queue_arn(&self.create_queue(dlq, None).await?).await?;
            let policy = json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives });
            attributes.insert(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        self.create_queue(queue, Some(attributes)).await
    }

    /// Creates one queue (default attributes when `attributes` is None) or, if it
    /// exists, applies `attributes` to it; caches and returns its URL.
    async fn create_queue(
        &self,
        queue: &str,
        attributes: Option<HashMap<QueueAttributeName, String>>,
    ) -> Result<String, QueueError> {
        let attributes = attributes.unwrap_or_else(|| {
            HashMap::from([(QueueAttributeName::VisibilityTimeout, DEFAULT_VISIBILITY.as_secs().to_string())])
        });
        let created =
            self.client.create_queue().queue_name(queue).set_attributes(Some(attributes.clone())).send().await;
        let url = match created {
            Ok(out) => out
                .queue_url()
                .map(str::to_owned)
                .ok_or_else(|| QueueError::Backend(format!("SQS CreateQueue {queue}: no queue URL")))?,
            Err(e) if e.code().is_some_and(|c| EXISTS_CODES.contains(&c)) => {
                let url = self.lookup_url(queue).await?;
                self.client
                    .set_queue_attributes()
                    .queue_url(&url)
                    .set_attributes(Some(attributes))
                    .send()
                    .await
                    .map_err(|e| backend("SetQueueAttributes", &e))?;
                url
            }
            Err(e) => return Err(backend("CreateQueue", &e)),
        };
        self.cache().insert(queue.to_owned(), url.clone());
        Ok(url)
    }

    /// The ARN of the queue at `url` (a redrive policy names its target by ARN).
    async fn queue_arn(&self, url: &str) -> Result<String, QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| backend("GetQueueAttributes", &e))?;
        out.attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| QueueError::Backend(format!("SQS queue {url} reports no QueueArn")))
    }

    /// The URL map, usable even if a panicking thread poisoned the lock (it only ever
    /// holds complete entries).
    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.urls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks SQS for a queue's URL (no cache).
    async fn lookup_url(&self, queue: &str) -> Result<String, QueueError> {
        let out = self.client.get_queue_url().queue_name(queue).send().await.map_err(|e| {
            if e.as_service_error().is_some_and(|s| s.is_queue_does_not_exist()) {
                QueueError::Backend(format!("SQS queue {queue:?} does not exist (create it with ensure_queue)"))
            } else {
                backend("GetQueueUrl", &e)
            }
        })?;
        out.queue_url()
            .map(str::to_owned)
            .ok_or_else(|| QueueError::Backend(format!("SQS GetQueueUrl {queue}: no queue URL")))
    }

    /// The URL of `queue`, from the cache or one GetQueueUrl call.
    async fn url(&self, queue: &str) -> Result<String, QueueError> {
        validate_queue_name(queue)?;
        if let Some(url) = self.cache().get(queue) {
            return Ok(url.clone());
        }
        let url = self.lookup_url(queue).await?;
        self.cache().insert(queue.to_owned(), url.clone());
        Ok(url)
    }
}

/// Whole seconds for SQS, rounded up so a message never reappears early; the caller
/// has checked `d` against the port's 12-hour limit, so it fits an `i32`.
fn seconds(d: Duration) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs).unwrap_or(i32::MAX)
}

/// A backend error naming the operation, with the SDK's full error chain.
/// A throttle, 5xx or dropped connection is `Throttled` (retry).
fn backend<E>(op: &str, err: &SdkError<E>) -> QueueError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let message = format!("SQS {op}: {}", DisplayErrorContext(err));
    if super::transient::is_transient(err) {
        QueueError::Throttled(message)
    } else {
        QueueError::Backend(message)
    }
}

/// StaleReceipt for the codes meaning the receipt is no longer current, else Backend.
fn receipt_error<E>(op: &str, err: &SdkError<E>) -> QueueError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    if err.code().is_some_and(|c| STALE_CODES.contains(&c)) {
        QueueError::StaleReceipt
    } else {
        backend(op, err)
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send_batch(&self, queue: &str, bodies: Vec<String>) -> Result<Vec<String>, QueueError> {
        validate_batch(&bodies)?;
        let url = self.url(queue).await?;
        let entries = bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .map_err(|e| QueueError::Backend(format!("SQS batch entry #{i}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let count = entries.len();
        let out = self
            .client
            .send_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| backend("SendMessageBatch", &e))?;
        if !out.failed().is_empty() {
            let failures: Vec<String> = out
                .failed()
                .iter()
                .map(|f| format!("#{} {}: {}", f.id(), f.code(), f.message().unwrap_or_default()))
                .collect();
            let message = format!(
                "SQS SendMessageBatch to {queue}: {} of {count} failed ({}); the others were sent",
                failures.len(),
                failures.join("; ")
            );
            // Entries SQS failed on its side (not the sender's fault) may pass on a resend;
            // image jobs are idempotent, so resending the whole batch is safe.
            let theirs = out.failed().iter().all(|f| !f.sender_fault());
            return Err(if theirs { QueueError::Throttled(message) } else { QueueError::Backend(message) });
        }
        let mut ids = vec![None; count];
        for entry in out.successful() {
            let slot = entry.id().parse::<usize>().ok().and_then(|i| ids.get_mut(i));
            match slot {
                Some(slot) => *slot = Some(entry.message_id().to_owned()),
                None => {
                    return Err(QueueError::Backend(format!(
                        "SQS SendMessageBatch answered an unknown entry id {:?}",
                        entry.id()
                    )))
                }
            }
        }
        ids.into_iter()
            .enumerate()
            .map(|(i, id)| {
                id.ok_or_else(|| QueueError::Backend(format!("SQS SendMessageBatch did not report entry #{i}")))
            })
            .collect()
    }

    async fn receive(&self, queue: &str, max: usize, visibility: Duration) -> Result<Vec<QueueMessage>, QueueError> {
        validate_receive(max, visibility)?;
        let url = self.url(queue).await?;
        let out = self
            .client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(i32::try_from(max).unwrap_or(10))
            .visibility_timeout(seconds(visibility))
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| backend("ReceiveMessage", &e))?;
        out.messages()
            .iter()
            .map(|m| {
                let field = |v: Option<&str>, name: &str| {
                    v.map(str::to_owned).ok_or_else(|| QueueError::Backend(format!("SQS message without {name}")))
                };
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse::<u32>().ok())
                    .unwrap_or(1);
                Ok(QueueMessage {
                    id: field(m.message_id(), "MessageId")?,
                    body: field(m.body(), "Body")?,
                    receipt: field(m.receipt_handle(), "ReceiptHandle")?,
                    receive_count,
                })
            })
            .collect()
    }

    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        if receipt.is_empty() {
            return Err(QueueError::StaleReceipt);
        }
        let url = self.url(queue).await?;
        self.client
            .delete_message()
            .queue_url(&url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(drop)
            .map_err(|e| receipt_error("DeleteMessage", &e))
    }

    async fn change_visibility(&self, queue: &str, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        validate_visibility(visibility)?;
        if receipt.is_empty() {
            return Err(QueueError::StaleReceipt);
        }
        let url = self.url(queue).await?;
        self.client
            .change_message_visibility()
            .queue_url(&url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds(visibility))
            .send()
            .await
            .map(drop)
            .map_err(|e| receipt_error("ChangeMessageVisibility", &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_rounds_up_to_whole_seconds() {
        assert_eq!(seconds(Duration::ZERO), 0);
        assert_eq!(seconds(Duration::from_millis(200)), 1);
        assert_eq!(seconds(Duration::from_secs(2)), 2);
        assert_eq!(seconds(Duration::from_millis(2001)), 3);
    }

    #[tokio::test]
    async fn a_remembered_url_must_be_a_url_of_a_valid_queue() {
        let q = SqsQueue::connect(Some("http://127.0.0.1:1")).await.expect("connect");
        assert!(q.remember_url("jobs", "http://127.0.0.1:1/000000000000/jobs").is_ok());
        assert_eq!(q.url("jobs").await.expect("cached, no call"), "http://127.0.0.1:1/000000000000/jobs");
        assert!(matches!(q.remember_url("jobs", "jobs"), Err(QueueError::Invalid(_))));
        assert!(matches!(q.remember_url("bad name", "https://x/1/bad"), Err(QueueError::Invalid(_))));
    }

    #[tokio::test]
    async fn invalid_requests_are_refused_before_any_call() {
        // An unroutable endpoint: any request would fail as Backend, not Invalid.
        let q = SqsQueue::connect(Some("http://127.0.0.1:1")).await.expect("connect");
        let too_many = vec!["x".to_owned(); 11];
        assert!(matches!(q.send_batch("jobs", too_many).await, Err(QueueError::Invalid(_))));
        assert!(matches!(q.send_batch("bad name", vec!["x".into()]).await, Err(QueueError::Invalid(_))));
        assert!(matches!(q.receive("jobs", 0, Duration::ZERO).await, Err(QueueError::Invalid(_))));
        assert!(matches!(q.ensure_queue("jobs", Some(("jobs", 3))).await, Err(QueueError::Invalid(_))));
        assert!(matches!(q.ensure_queue("jobs", Some(("dlq", 0))).await, Err(QueueError::Invalid(_))));
    }
}
