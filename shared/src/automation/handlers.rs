//! The automation's function handlers: JSON in, JSON out. The Lambda crates in
//! `functions/` and the local state machine interpreter call exactly these.

use serde::Deserialize;
use serde_json::{json, Value};

use super::error::AutomationError;
use super::service::{AutomationService, StepInput};
use crate::domain::Stage;
use crate::ports::queue::QueueMessage;

/// Every function of the automation, by its deployed name (`igny8-<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// One batch of a stage (1–5).
    Stage(Stage),
    /// Stage 6: enqueue image jobs, wait for the last one (task token).
    StageImages,
    /// The pause wait (task token).
    RunPause,
    /// Finalize (or record a cancellation).
    RunFinalize,
    /// Record a failure caught by the state machine.
    RunFailure,
    /// Clean up after an execution that ended without Catch (stopped, timed out).
    RunCleanup,
    /// SQS consumer of image jobs.
    ImageWorker,
    /// EventBridge-scheduled starter of due runs.
    Scheduler,
}

impl Function {
    /// Every function, for wiring and packaging.
    pub const ALL: [Function; 12] = [
        Self::Stage(Stage::Clusters),
        Self::Stage(Stage::Ideas),
        Self::Stage(Stage::Tasks),
        Self::Stage(Stage::Content),
        Self::Stage(Stage::ImagePrompts),
        Self::StageImages,
        Self::RunPause,
        Self::RunFinalize,
        Self::RunFailure,
        Self::RunCleanup,
        Self::ImageWorker,
        Self::Scheduler,
    ];

    /// The function's name (`stage-clusters`, `image-worker`...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Stage(Stage::Clusters) => "stage-clusters",
            Self::Stage(Stage::Ideas) => "stage-ideas",
            Self::Stage(Stage::Tasks) => "stage-tasks",
            Self::Stage(Stage::Content) => "stage-content",
            Self::Stage(Stage::ImagePrompts) => "stage-image-prompts",
            Self::Stage(Stage::Images) | Self::StageImages => "stage-images",
            Self::RunPause => "run-pause",
            Self::RunFinalize => "run-finalize",
            Self::RunFailure => "run-failure",
            Self::RunCleanup => "run-cleanup",
            Self::ImageWorker => "image-worker",
            Self::Scheduler => "scheduler",
        }
    }

    /// The function with this name; ARNs and `igny8-` prefixes are accepted.
    pub fn from_name(name: &str) -> Option<Self> {
        let short = name.rsplit(':').next().unwrap_or(name);
        let short = short.strip_prefix("igny8-").unwrap_or(short);
        Self::ALL.into_iter().find(|f| f.name() == short)
    }
}

#[derive(Debug, Deserialize)]
struct CaughtError {
    #[serde(rename = "Error", default)]
    error: String,
    #[serde(rename = "Cause", default)]
    cause: String,
}

#[derive(Debug, Deserialize)]
struct FailureInput {
    #[serde(flatten)]
    step: StepInput,
    #[serde(default)]
    error: Option<CaughtError>,
}

#[derive(Debug, Deserialize)]
struct FinalizeInput {
    #[serde(flatten)]
    step: StepInput,
    #[serde(default)]
    cancelled: bool,
}

/// An EventBridge "Step Functions Execution Status Change" event's detail.
#[derive(Debug, Deserialize)]
struct StatusChange {
    detail: StatusDetail,
}

#[derive(Debug, Deserialize)]
struct StatusDetail {
    status: String,
    input: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    cause: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SqsEvent {
    #[serde(rename = "Records", default)]
    records: Vec<SqsRecord>,
}

#[derive(Debug, Deserialize)]
struct SqsRecord {
    #[serde(rename = "messageId")]
    message_id: String,
    #[serde(rename = "receiptHandle", default)]
    receipt_handle: String,
    body: String,
    #[serde(default)]
    attributes: SqsAttributes,
}

#[derive(Debug, Default, Deserialize)]
struct SqsAttributes {
    #[serde(rename = "ApproximateReceiveCount", default)]
    approximate_receive_count: Option<String>,
}

fn parse<T: serde::de::DeserializeOwned>(event: Value) -> Result<T, AutomationError> {
    serde_json::from_value(event).map_err(|e| AutomationError::Invalid(format!("malformed event: {e}")))
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, AutomationError> {
    serde_json::to_value(value).map_err(|e| AutomationError::Invalid(e.to_string()))
}

/// Runs one function on one event.
pub async fn handle(service: &AutomationService, function: Function, event: Value) -> Result<Value, AutomationError> {
    match function {
        Function::Stage(Stage::Images) | Function::StageImages => service.queue_images(&parse(event)?).await,
        Function::Stage(stage) => to_value(&service.step(&parse(event)?, stage).await?),
        Function::RunPause => service.pause_wait(&parse(event)?).await,
        Function::RunFinalize => {
            let input: FinalizeInput = parse(event)?;
            let run = service.finalize(&input.step, input.cancelled).await?;
            Ok(json!({"run_id": run.id, "status": run.status}))
        }
        Function::RunFailure => {
            let input: FailureInput = parse(event)?;
            let (error, cause) = input.error.map_or_else(|| ("Unknown".to_owned(), String::new()), |e| (e.error, e.cause));
            let run = service.fail(&input.step, &error, &cause).await?;
            Ok(json!({"run_id": run.id, "status": run.status, "error": run.error}))
        }
        Function::RunCleanup => {
            let change: StatusChange = parse(event)?;
            let Some(input) = change.detail.input else { return Ok(json!({"ignored": "no execution input"})) };
            let step: StepInput = serde_json::from_str(&input).map_err(|e| AutomationError::Invalid(format!("execution input: {e}")))?;
            let error = change.detail.error.unwrap_or_else(|| format!("States.{}", change.detail.status));
            let run = service.fail(&step, &error, change.detail.cause.as_deref().unwrap_or("")).await?;
            Ok(json!({"run_id": run.id, "status": run.status}))
        }
        Function::ImageWorker => {
            let event: SqsEvent = parse(event)?;
            let messages: Vec<QueueMessage> = event
                .records
                .into_iter()
                .map(|r| QueueMessage {
                    id: r.message_id,
                    body: r.body,
                    receipt: r.receipt_handle,
                    receive_count: r.attributes.approximate_receive_count.and_then(|c| c.parse().ok()).unwrap_or(1),
                })
                .collect();
            let failed = service.image_jobs(&messages).await;
            let items: Vec<Value> = failed.into_iter().map(|id| json!({"itemIdentifier": id})).collect();
            Ok(json!({"batchItemFailures": items}))
        }
        Function::Scheduler => to_value(&service.scheduler_tick().await?),
    }
}
