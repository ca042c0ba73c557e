//! The Lambda edge, once for every function: build the clients from the environment
//! at cold start, then hand each event to the function's handler in `igny8-core`.
//! Each function gets its own event type: the image worker an `SqsEvent` (answering an
//! `SqsBatchResponse`), the scheduler EventBridge's scheduled event, run-cleanup the
//! Step Functions status change, the Step Functions tasks their JSON input
//! ([`events`] turns the AWS types into domain calls).
//! Errors are mapped here, and only here, to Lambda error types the state machine's
//! Retry and Catch match on (`Igny8.AiRateLimited`, `Igny8.Throttled`, ...). Logs are
//! JSON lines with the Powertools keys (service, cold_start, function_request_id,
//! correlation_id = the run id) and every invocation emits one CloudWatch EMF line.

pub mod events;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::SqsEvent;
use igny8_core::automation::{handle, AutomationError, AutomationService, Function};
use igny8_wiring::ai_from_env;
use igny8_wiring::aws::{automation, CloudConfig};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use tracing::Instrument;

use events::{ExecutionStatusChangeEvent, ScheduledEvent};

/// The service name in logs and the metrics namespace.
pub const SERVICE: &str = "igny8";

/// A handler failure as the Lambda runtime reports it.
#[derive(Debug)]
pub struct HandlerError {
    error_type: &'static str,
    message: String,
}

impl From<AutomationError> for HandlerError {
    fn from(e: AutomationError) -> Self {
        Self { error_type: e.error_name(), message: e.to_string() }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        Diagnostic { error_type: e.error_type.to_owned(), error_message: e.message }
    }
}

/// One CloudWatch Embedded Metric Format line: the invocation's duration and whether
/// it failed, by function.
pub fn emf_line(function: &str, duration_ms: f64, failed: bool, timestamp_ms: u128) -> String {
    json!({
        "_aws": {
            "Timestamp": u64::try_from(timestamp_ms).unwrap_or(u64::MAX),
            "CloudWatchMetrics": [{
                "Namespace": SERVICE,
                "Dimensions": [["function"]],
                "Metrics": [
                    {"Name": "Duration", "Unit": "Milliseconds"},
                    {"Name": "Errors", "Unit": "Count"}
                ]
            }]
        },
        "function": function,
        "Duration": duration_ms,
        "Errors": u8::from(failed),
    })
    .to_string()
}

/// The run an event is about, for log correlation.
pub trait Correlated {
    /// The run id(s), or `-` when the event names none.
    fn correlation_id(&self) -> String;
}

impl Correlated for Value {
    fn correlation_id(&self) -> String {
        self.get("run_id").or_else(|| self.pointer("/Payload/run_id")).and_then(Value::as_str).unwrap_or("-").to_owned()
    }
}

impl Correlated for SqsEvent {
    fn correlation_id(&self) -> String {
        events::batch_runs(self)
    }
}

impl Correlated for ScheduledEvent {
    fn correlation_id(&self) -> String {
        "-".to_owned()
    }
}

impl Correlated for ExecutionStatusChangeEvent {
    fn correlation_id(&self) -> String {
        // Executions are named after their run.
        if self.detail.name.is_empty() {
            "-".to_owned()
        } else {
            self.detail.name.clone()
        }
    }
}

static COLD: AtomicBool = AtomicBool::new(true);

/// The span around one invocation, with the Powertools keys (`cold_start` is true only
/// for the process's first invocation); every function's log lines carry them.
pub fn invocation_span(function: &str, request_id: &str, correlation_id: &str) -> tracing::Span {
    tracing::info_span!(
        "invocation",
        service = SERVICE,
        function = function,
        cold_start = COLD.swap(false, Ordering::Relaxed),
        function_request_id = %request_id,
        correlation_id = %correlation_id,
    )
}

/// JSON log lines with the invocation span's keys flattened in, as CloudWatch Logs
/// Insights and the Powertools conventions expect; `RUST_LOG` filters (default info).
pub fn init_json_logs() {
    // A second call (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .try_init();
}

/// Serves `function` with its own event type until the runtime stops the process.
pub async fn serve(function: Function) -> Result<(), lambda_runtime::Error> {
    init_json_logs();
    let config = CloudConfig::from_env()?;
    let (_services, service) = automation(&config, ai_from_env()?).await?;
    serve_with(function, service).await
}

/// Serves `function` on a service its crate wired itself (stage-publish wires
/// integrations, which the other functions never link).
pub async fn serve_with(function: Function, service: AutomationService) -> Result<(), lambda_runtime::Error> {
    init_json_logs();
    match function {
        Function::ImageWorker => {
            serve_events(function, service, |s, event: SqsEvent| async move { events::image_worker(&s, event).await })
                .await
        }
        Function::Scheduler => {
            serve_events(
                function,
                service,
                |s, event: ScheduledEvent| async move { events::scheduler(&s, event).await },
            )
            .await
        }
        Function::RunCleanup => {
            serve_events(function, service, |s, event: ExecutionStatusChangeEvent| async move {
                events::run_cleanup(&s, event).await
            })
            .await
        }
        task => {
            serve_events(function, service, move |s, input: Value| async move { handle(&s, task, input).await }).await
        }
    }
}

/// The runtime loop for one event type: a span with the Powertools keys around each
/// invocation, errors mapped to Lambda's, one EMF line per invocation.
async fn serve_events<E, R, H, Fut>(
    function: Function,
    service: AutomationService,
    handler: H,
) -> Result<(), lambda_runtime::Error>
where
    E: DeserializeOwned + Correlated + Send + 'static,
    R: Serialize + Send + 'static,
    H: Fn(AutomationService, E) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<R, AutomationError>> + Send + 'static,
{
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| {
        let (service, handler) = (service.clone(), handler.clone());
        let span = invocation_span(function.name(), &event.context.request_id, &event.payload.correlation_id());
        async move {
            let started = Instant::now();
            let outcome = handler(service, event.payload).await.map_err(HandlerError::from);
            if let Err(e) = &outcome {
                tracing::error!(error_type = e.error_type, error = %e.message, "invocation failed");
            }
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
            println!("{}", emf_line(function.name(), started.elapsed().as_secs_f64() * 1000.0, outcome.is_err(), now));
            outcome
        }
        .instrument(span)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_declare_their_metrics() {
        let line: Value = serde_json::from_str(&emf_line("image-worker", 12.5, true, 1_795_687_200_000)).expect("json");
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], SERVICE);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0], "function");
        assert_eq!(line["function"], "image-worker");
        assert_eq!(line["Duration"], 12.5);
        assert_eq!(line["Errors"], 1);
        assert_eq!(line["_aws"]["Timestamp"], 1_795_687_200_000u64);
    }

    #[test]
    fn correlation_comes_from_the_run_id() {
        assert_eq!(json!({"run_id": "run_1"}).correlation_id(), "run_1");
        assert_eq!(json!({"Payload": {"run_id": "run_2"}}).correlation_id(), "run_2");
        assert_eq!(json!({"Records": []}).correlation_id(), "-");
        let mut change = ExecutionStatusChangeEvent::default();
        assert_eq!(change.correlation_id(), "-");
        change.detail.name = "run_3".into();
        assert_eq!(change.correlation_id(), "run_3");
    }
}
