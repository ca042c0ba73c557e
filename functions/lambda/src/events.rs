//! The event-driven functions' AWS event types (`aws_lambda_events`), turned into the
//! domain calls of `igny8-core` and back: the SQS batch of image jobs and its partial
//! batch response, the EventBridge scheduled event, and the Step Functions status
//! change that triggers the cleanup. The core crate never sees these shapes; the
//! Step Functions tasks keep their JSON input, which is ours.

use std::collections::BTreeSet;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use igny8_core::automation::{
    run_cleanup as cleanup, AutomationError, AutomationService, CleanupOutcome, ExecutionStatusChange, ScheduledStart,
};
use igny8_core::ports::queue::QueueMessage;
use serde_json::Value;

/// The scheduler's event: EventBridge's "Scheduled Event" (its `detail` is `{}`).
pub type ScheduledEvent = EventBridgeEvent<Value>;

/// run-cleanup's event: EventBridge's "Step Functions Execution Status Change".
pub type ExecutionStatusChangeEvent = EventBridgeEvent<ExecutionStatusChange>;

/// The `source` of Step Functions' EventBridge events.
pub const STATES_SOURCE: &str = "aws.states";
/// The `detail-type` of an execution's status change.
pub const STATUS_CHANGE: &str = "Step Functions Execution Status Change";

/// SQS's attribute counting the deliveries of a message (the image job gives up on its
/// last allowed one).
const RECEIVE_COUNT: &str = "ApproximateReceiveCount";

/// One SQS record as the queue port's message. A record without a message id cannot
/// be named in a partial batch response, so it fails the whole batch (SQS always
/// sends one; only a hand-made event lacks it).
pub fn queue_message(record: SqsMessage) -> Result<QueueMessage, AutomationError> {
    let id = record
        .message_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| AutomationError::Invalid("SQS record without messageId: the batch cannot report it".into()))?;
    let receive_count = record.attributes.get(RECEIVE_COUNT).and_then(|c| c.parse().ok()).unwrap_or(1);
    Ok(QueueMessage {
        id,
        // An empty body is no image job: it fails on its own, like any malformed job.
        body: record.body.unwrap_or_default(),
        receipt: record.receipt_handle.unwrap_or_default(),
        receive_count,
    })
}

/// image-worker: runs the batch's image jobs and reports exactly the messages to retry
/// as batch item failures (`ReportBatchItemFailures` on the event source), so SQS
/// deletes the rest.
pub async fn image_worker(service: &AutomationService, event: SqsEvent) -> Result<SqsBatchResponse, AutomationError> {
    let messages = event.records.into_iter().map(queue_message).collect::<Result<Vec<_>, _>>()?;
    let failed = service.image_jobs(&messages).await;
    // The type is #[non_exhaustive]: start from Default, then fill it in.
    let mut response = SqsBatchResponse::default();
    response.set_failures(failed);
    Ok(response)
}

/// scheduler: starts the due scheduled runs; the event only says that it is time.
pub async fn scheduler(
    service: &AutomationService,
    event: ScheduledEvent,
) -> Result<Vec<ScheduledStart>, AutomationError> {
    tracing::info!(event_id = event.id.as_deref().unwrap_or("-"), detail_type = %event.detail_type, "scheduler tick");
    service.scheduler_tick().await
}

/// run-cleanup: hands an execution's abnormal end to the core's cleanup; events that
/// are not Step Functions status changes are ignored, not failed (a retry would not
/// make them one).
pub async fn run_cleanup(
    service: &AutomationService,
    event: ExecutionStatusChangeEvent,
) -> Result<CleanupOutcome, AutomationError> {
    if event.source != STATES_SOURCE || event.detail_type != STATUS_CHANGE {
        return Ok(CleanupOutcome::Ignored { reason: format!("{} event from {}", event.detail_type, event.source) });
    }
    cleanup(service, &event.detail).await
}

/// The run ids an SQS batch of image jobs belongs to, for log correlation.
pub fn batch_runs(event: &SqsEvent) -> String {
    let runs: BTreeSet<String> = event
        .records
        .iter()
        .filter_map(|r| serde_json::from_str::<Value>(r.body.as_deref()?).ok())
        .filter_map(|job| job.get("run_id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    if runs.is_empty() {
        "-".to_owned()
    } else {
        runs.into_iter().collect::<Vec<_>>().join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: Option<&str>, body: &str, receives: &str) -> SqsMessage {
        let mut r = SqsMessage::default();
        r.message_id = id.map(str::to_owned);
        r.body = Some(body.to_owned());
        r.receipt_handle = Some("rh".into());
        r.attributes.insert(RECEIVE_COUNT.into(), receives.into());
        r
    }

    #[test]
    fn records_become_queue_messages_with_their_receive_count() {
        let m = queue_message(record(Some("m1"), "{}", "3")).expect("message");
        assert_eq!((m.id.as_str(), m.body.as_str(), m.receipt.as_str(), m.receive_count), ("m1", "{}", "rh", 3));
        assert_eq!(queue_message(record(Some("m2"), "{}", "many")).expect("message").receive_count, 1);
        assert!(queue_message(record(None, "{}", "1")).is_err());
        assert!(queue_message(record(Some(""), "{}", "1")).is_err());
    }

    #[test]
    fn a_batch_correlates_with_its_runs() {
        let mut event = SqsEvent::default();
        event.records = vec![
            record(Some("a"), r#"{"run_id":"run_b"}"#, "1"),
            record(Some("b"), r#"{"run_id":"run_a"}"#, "1"),
            record(Some("c"), "poison", "1"),
            record(Some("d"), r#"{"run_id":"run_a"}"#, "1"),
        ];
        assert_eq!(batch_runs(&event), "run_a,run_b");
        assert_eq!(batch_runs(&SqsEvent::default()), "-");
    }
}
