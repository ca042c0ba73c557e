//! The automation's function handlers. Step Functions tasks take and return JSON
//! ([`handle`]); the local interpreter and the task Lambdas call exactly that. The
//! event-driven functions get their AWS event types at the Lambda edge
//! (`functions/lambda`), which turns them into the domain calls here, so this crate
//! knows nothing of Lambda's event shapes.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::AutomationError;
use super::history::TaskCall;
use super::service::{to_json, AutomationService};
use super::step::StepInput;
use crate::domain::{RunId, RunStatus, Stage};

/// Every function of the automation, by its deployed name (`igny8-<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// One batch of a stage (1–5).
    Stage(Stage),
    /// Stage 6: enqueue image jobs, wait for the last one (task token).
    StageImages,
    /// One batch of the linking stage after content.
    StageLink,
    /// One batch of the publishing stage after images.
    StagePublish,
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
    pub const ALL: [Function; 14] = [
        Self::Stage(Stage::Clusters),
        Self::Stage(Stage::Ideas),
        Self::Stage(Stage::Tasks),
        Self::Stage(Stage::Content),
        Self::Stage(Stage::ImagePrompts),
        Self::StageImages,
        Self::StageLink,
        Self::StagePublish,
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
            Self::StageLink => "stage-link",
            Self::StagePublish => "stage-publish",
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
    #[serde(flatten)]
    call: TaskCall,
    #[serde(default)]
    cancelled: bool,
}

/// A task's input: the run, and what the context object says about the call.
#[derive(Debug, Deserialize)]
struct TaskInput {
    #[serde(flatten)]
    step: StepInput,
    #[serde(flatten)]
    call: TaskCall,
}

/// The `detail` of EventBridge's "Step Functions Execution Status Change" event: what
/// run-cleanup needs to find the run an execution that ended without Catch belonged to
/// (the Lambda edge receives it inside `aws_lambda_events`' `EventBridgeEvent`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionStatusChange {
    /// The execution (its name is the run id).
    #[serde(default)]
    pub execution_arn: String,
    /// Its state machine.
    #[serde(default)]
    pub state_machine_arn: String,
    /// The execution's name.
    #[serde(default)]
    pub name: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    /// The execution's input, as the JSON string Step Functions reports.
    #[serde(default)]
    pub input: Option<String>,
    /// The error the execution ended with, if any.
    #[serde(default)]
    pub error: Option<String>,
    /// Its cause.
    #[serde(default)]
    pub cause: Option<String>,
}

/// What run-cleanup did with one status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum CleanupOutcome {
    /// The run is marked (or already was) final, holds and lock released.
    Cleaned {
        /// The run.
        run_id: RunId,
        /// Its status now.
        status: RunStatus,
    },
    /// Nothing to clean: the execution did not end abnormally, or carries no run.
    Ignored {
        /// Why.
        reason: String,
    },
}

/// Execution statuses that skip the state machine's Catch (DESIGN §3).
const ABNORMAL_ENDS: [&str; 3] = ["FAILED", "TIMED_OUT", "ABORTED"];

fn parse<T: serde::de::DeserializeOwned>(event: Value) -> Result<T, AutomationError> {
    serde_json::from_value(event).map_err(|e| AutomationError::Invalid(format!("malformed event: {e}")))
}

/// Runs one Step Functions task (a Task state's input, JSON in and out): the stage
/// steps, stage 6, the linking and publishing stages, pause, finalize and failure. The interpreter and the task Lambdas
/// call exactly this; the event-driven functions (image worker, scheduler, cleanup)
/// take their own event types at the edge and call [`AutomationService::image_jobs`],
/// [`AutomationService::scheduler_tick`] and [`run_cleanup`].
pub async fn handle(service: &AutomationService, function: Function, event: Value) -> Result<Value, AutomationError> {
    match function {
        Function::Stage(Stage::Images) | Function::StageImages => {
            let input: TaskInput = parse(event)?;
            service.queue_images(&input.step, &input.call).await
        }
        Function::Stage(stage) => {
            let input: TaskInput = parse(event)?;
            to_json(&service.step_call(&input.step, stage, &input.call).await?)
        }
        Function::StageLink => {
            let input: TaskInput = parse(event)?;
            to_json(&service.link_step(&input.step, &input.call).await?)
        }
        Function::StagePublish => {
            let input: TaskInput = parse(event)?;
            to_json(&service.publish_step(&input.step, &input.call).await?)
        }
        Function::RunPause => {
            let input: TaskInput = parse(event)?;
            service.pause_wait(&input.step, &input.call).await
        }
        Function::RunFinalize => {
            let input: FinalizeInput = parse(event)?;
            let run = service.finalize(&input.step, input.cancelled, &input.call).await?;
            Ok(json!({"run_id": run.id, "status": run.status}))
        }
        Function::RunFailure => {
            let input: FailureInput = parse(event)?;
            let (error, cause) =
                input.error.map_or_else(|| ("Unknown".to_owned(), String::new()), |e| (e.error, e.cause));
            let run = service.fail(&input.step, &error, &cause).await?;
            Ok(json!({"run_id": run.id, "status": run.status, "error": run.error}))
        }
        Function::RunCleanup | Function::ImageWorker | Function::Scheduler => Err(AutomationError::Invalid(format!(
            "{} is not a Step Functions task: it takes its own event type",
            function.name()
        ))),
    }
}

/// run-cleanup: an execution that failed, timed out or was stopped skipped the state
/// machine's Catch, so mark its run failed and release its holds and site lock (a run
/// already final only has a lock or holds still released). Other statuses are ignored.
pub async fn run_cleanup(
    service: &AutomationService,
    change: &ExecutionStatusChange,
) -> Result<CleanupOutcome, AutomationError> {
    if !ABNORMAL_ENDS.contains(&change.status.as_str()) {
        return Ok(CleanupOutcome::Ignored { reason: format!("execution status {}", change.status) });
    }
    let Some(input) = change.input.as_deref() else {
        return Ok(CleanupOutcome::Ignored { reason: "no execution input".into() });
    };
    let step: StepInput =
        serde_json::from_str(input).map_err(|e| AutomationError::Invalid(format!("execution input: {e}")))?;
    let error = change.error.clone().unwrap_or_else(|| format!("States.{}", change.status));
    let run = service.fail(&step, &error, change.cause.as_deref().unwrap_or("")).await?;
    Ok(CleanupOutcome::Cleaned { run_id: run.id, status: run.status })
}
