//! The workflow port: what the services ask of the run's state machine.
//!
//! Step Functions in the cloud; on a laptop an in-process interpreter of the same
//! `statemachines/automation.asl.json` (see `local::workflow`).

use async_trait::async_trait;
use serde_json::Value;

/// Errors of the workflow engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// An execution of that name exists with another input.
    #[error("execution {0} already exists with a different input")]
    AlreadyExists(String),
    /// No such execution.
    #[error("execution {0} not found")]
    NotFound(String),
    /// The task token is unknown or its task already finished.
    #[error("task token is unknown or already used")]
    InvalidToken,
    /// The engine is throttling or briefly unavailable (Step Functions throttling,
    /// 5xx, a timeout); retry with backoff.
    #[error("workflow engine busy, retry: {0}")]
    Throttled(String),
    /// The engine failed.
    #[error("workflow engine error: {0}")]
    Backend(String),
}

impl WorkflowError {
    /// True when the same request may succeed if retried unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Throttled(_))
    }
}

/// Starts, stops and signals executions of the automation state machine.
#[async_trait]
pub trait Workflow: Send + Sync {
    /// Starts an execution named `name`; starting the same name with the same input
    /// again is not an error (idempotent start).
    async fn start_execution(&self, name: &str, input: Value) -> Result<(), WorkflowError>;
    /// Stops an execution (Catch states do not run).
    async fn stop_execution(&self, name: &str, error: &str, cause: &str) -> Result<(), WorkflowError>;
    /// Completes a `.waitForTaskToken` task with its output.
    async fn send_task_success(&self, token: &str, output: Value) -> Result<(), WorkflowError>;
    /// Fails a `.waitForTaskToken` task.
    async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError>;
}
