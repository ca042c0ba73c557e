//! The workflow port on a laptop: the in-process interpreter running the real
//! `statemachines/automation.asl.json`, whose Task states call the same handlers the
//! Lambdas run, and an in-process image worker draining the embedded queue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use igny8_asl::{
    Definition, ExecutionStore, Executor, ExecutorError, ExecutorOptions, TaskContext, TaskError, TaskHandler,
};
use igny8_core::automation::{handle, AutomationService, Function};
use igny8_core::ports::queue::Queue;
use igny8_core::ports::workflow::{Workflow, WorkflowError};

/// The automation state machine, as deployed.
pub const AUTOMATION_ASL: &str = include_str!("../../../statemachines/automation.asl.json");

/// The `${...}` substitutions that point the definition's Task states at local functions.
pub fn local_substitutions() -> HashMap<String, String> {
    [
        ("StageClustersFunctionArn", "stage-clusters"),
        ("StageIdeasFunctionArn", "stage-ideas"),
        ("StageTasksFunctionArn", "stage-tasks"),
        ("StageContentFunctionArn", "stage-content"),
        ("StageImagePromptsFunctionArn", "stage-image-prompts"),
        ("StageImagesFunctionArn", "stage-images"),
        ("StageLinkFunctionArn", "stage-link"),
        ("StagePublishFunctionArn", "stage-publish"),
        ("RunPauseFunctionArn", "run-pause"),
        ("RunFinalizeFunctionArn", "run-finalize"),
        ("RunFailureFunctionArn", "run-failure"),
    ]
    .into_iter()
    .map(|(k, f)| (k.to_owned(), format!("arn:aws:lambda:local:000000000000:function:igny8-{f}")))
    .collect()
}

/// Routes Task states to the automation handlers (bound after the service exists,
/// because the service in turn needs the workflow).
#[derive(Default)]
pub struct AutomationTasks {
    service: OnceLock<AutomationService>,
    /// Milliseconds each task sleeps before and after its handler (0: none).
    pace_ms: AtomicU64,
}

impl AutomationTasks {
    /// Binds the service the tasks run on.
    pub fn bind(&self, service: AutomationService) {
        // A second binding is ignored: executions keep the first service.
        let _ = self.service.set(service);
    }

    /// Makes every task sleep `pace` before and after its handler, so a run is slow
    /// enough to be interrupted at a chosen point (`IGNY8_STEP_DELAY_MS` of the CLI,
    /// for tests of interrupted runs); zero turns it off.
    pub fn set_pace(&self, pace: Duration) {
        self.pace_ms.store(u64::try_from(pace.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    async fn pause_for_pace(&self) {
        let ms = self.pace_ms.load(Ordering::Relaxed);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
}

#[async_trait]
impl TaskHandler for AutomationTasks {
    async fn invoke(&self, resource: &str, input: Value, _ctx: &TaskContext) -> Result<Value, TaskError> {
        let service =
            self.service.get().ok_or_else(|| TaskError::new("Igny8.NotReady", "no automation service bound"))?;
        // `arn:aws:states:::lambda:invoke[.waitForTaskToken]` carries the function and
        // its payload in the parameters; a Lambda ARN resource takes the input itself.
        let (function, payload) = if resource.starts_with("arn:aws:states:::lambda:invoke") {
            let name = input.get("FunctionName").and_then(Value::as_str).unwrap_or_default().to_owned();
            (name, input.get("Payload").cloned().unwrap_or(Value::Null))
        } else {
            (resource.to_owned(), input)
        };
        let f = Function::from_name(&function)
            .ok_or_else(|| TaskError::new("Igny8.UnknownFunction", format!("no function named {function}")))?;
        self.pause_for_pace().await;
        let result = handle(service, f, payload).await.map_err(|e| TaskError::new(e.error_name(), e.to_string()));
        self.pause_for_pace().await;
        result
    }
}

/// The workflow port over the interpreter.
#[derive(Clone)]
pub struct LocalWorkflow {
    executor: Executor,
}

impl LocalWorkflow {
    /// Loads the automation definition (with local function names) onto an interpreter;
    /// with a store, every execution is committed at each state transition and can be
    /// continued by another process ([`Executor::attach`]).
    pub fn automation(
        tasks: Arc<AutomationTasks>,
        options: ExecutorOptions,
        store: Option<Arc<dyn ExecutionStore>>,
    ) -> Result<Self, WorkflowError> {
        let definition = Definition::parse_with_substitutions(AUTOMATION_ASL, &local_substitutions())
            .map_err(|e| WorkflowError::Backend(e.to_string()))?;
        let executor = match store {
            Some(store) => Executor::durable(definition, tasks, options, store),
            None => Executor::new(definition, tasks, options),
        };
        Ok(Self { executor })
    }

    /// The interpreter (to wait for, describe or inspect executions).
    pub fn executor(&self) -> &Executor {
        &self.executor
    }
}

/// The workflow port's error for an interpreter error (shared by every adapter over the
/// interpreter, benches included).
pub fn workflow_error(e: ExecutorError) -> WorkflowError {
    match e {
        ExecutorError::ExecutionAlreadyExists(n) | ExecutorError::RunningElsewhere(n) => {
            WorkflowError::AlreadyExists(n)
        }
        ExecutorError::ExecutionDoesNotExist(n) => WorkflowError::NotFound(n),
        ExecutorError::TaskDoesNotExist(_) => WorkflowError::InvalidToken,
        other => WorkflowError::Backend(other.to_string()),
    }
}

#[async_trait]
impl Workflow for LocalWorkflow {
    async fn start_execution(&self, name: &str, input: Value) -> Result<(), WorkflowError> {
        self.executor.start_execution(name, input).map(drop).map_err(workflow_error)
    }
    async fn stop_execution(&self, name: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.executor.stop_execution(name, error, cause).map(drop).map_err(workflow_error)
    }
    async fn send_task_success(&self, token: &str, output: Value) -> Result<(), WorkflowError> {
        self.executor.send_task_success(token, output).map_err(workflow_error)
    }
    async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.executor.send_task_failure(token, error, cause).map_err(workflow_error)
    }
}

/// How long a received image job stays invisible to other workers.
const IMAGE_VISIBILITY: Duration = Duration::from_secs(60);

/// Drains the service's image queue in process, with SQS's partial-batch-failure semantics:
/// handled messages are deleted, failed ones reappear after their visibility timeout.
pub async fn drain_image_queue(
    service: &AutomationService,
    queue: &dyn Queue,
    batch: usize,
) -> Result<usize, igny8_core::ports::queue::QueueError> {
    let image_queue = service.image_queue();
    let messages = queue.receive(image_queue, batch.clamp(1, 10), IMAGE_VISIBILITY).await?;
    let failed = service.image_jobs(&messages).await;
    for m in messages.iter().filter(|m| !failed.contains(&m.id)) {
        queue.delete(image_queue, &m.receipt).await?;
    }
    for m in messages.iter().filter(|m| failed.contains(&m.id)) {
        // Retry soon rather than after the full timeout: the laptop has no other worker.
        queue.change_visibility(image_queue, &m.receipt, Duration::from_millis(200)).await?;
    }
    Ok(messages.len())
}
