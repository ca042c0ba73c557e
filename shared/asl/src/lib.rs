//! An in-process interpreter of the Amazon States Language: the embedded adapter of the
//! workflow port.
//!
//! The cloud deployment runs the automation state machine on AWS Step Functions; on a
//! laptop there is no Step Functions, so this module runs the *same* ASL document in
//! the process, as tokio tasks. Keeping one definition for both adapters means the
//! routing (a Choice on `$.next`), the retries with backoff, the Catch into a failure
//! step and the `.waitForTaskToken` pause behave the same in tests and in the cloud.
//!
//! * [`Definition`] parses and validates a document at load, naming the offending
//!   state in every error, so a broken definition fails at start-up and not half-way
//!   through a run.
//! * [`Executor`] holds one definition and its executions: start (idempotent by name),
//!   wait, stop, describe, history, and the task-token callbacks.
//! * [`TaskHandler`] is what the caller implements to run `Task` states (in the
//!   embedded adapter: call the stage step in-process instead of invoking a Lambda).
//!
//! Paths: reference paths (`$.a.b[0]`, `$['a b']`) are resolved by a small walker so
//! that they can also be *written* (ResultPath); anything richer (wildcards, filters,
//! slices, descendants) goes through `serde_json_path` (RFC 9535) and yields an array
//! of every match, as Step Functions does for indefinite paths.

#![warn(missing_docs)]

mod choice;
mod definition;
mod executor;
mod intrinsics;
mod path;
mod persist;
mod template;

#[cfg(test)]
mod durable_tests;
#[cfg(test)]
mod executor_tests;
#[cfg(test)]
mod limits_tests;

pub use definition::Definition;
pub use executor::{
    Attachment, ExecutionDescription, ExecutionHandle, ExecutionOutcome, ExecutionStatus, Executor, ExecutorOptions,
    HistoryEvent, HistoryEventType, TaskContext, TaskHandler, MAX_HISTORY_EVENTS, MAX_PAYLOAD_BYTES,
};
pub use persist::{Checkpoint, Claim, ExecutionStore, PersistError, StoredExecution};

/// Why a state-machine definition was rejected at load.
///
/// Every variant that concerns one state names it (with its enclosing Parallel branch
/// or Map processor), because the definition is a large JSON document and "invalid
/// definition" alone would leave the author searching.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AslError {
    /// The text is not JSON, or its top level is not an object.
    #[error("state machine definition is not valid JSON: {0}")]
    Json(String),
    /// A `${Name}` placeholder had no value in the substitutions map.
    #[error("definition substitution `${{{0}}}` has no value")]
    UnresolvedSubstitution(String),
    /// A problem with the machine as a whole (or a branch/processor), not one state.
    #[error("invalid state machine definition{scope}: {message}")]
    Machine {
        /// Where the machine sits (empty for the top level, e.g. ` (Parallel `P` branch 1)`).
        scope: String,
        /// What is wrong.
        message: String,
    },
    /// A problem with one state.
    #[error("invalid state `{state}`{scope}: {message}")]
    State {
        /// The state's name.
        state: String,
        /// Where the state's machine sits (empty for the top level).
        scope: String,
        /// What is wrong.
        message: String,
    },
}

/// An error raised while running a state: by a task handler, by a `Fail` state, or by
/// the interpreter itself (`States.Runtime`, `States.Timeout`, `States.NoChoiceMatched`,
/// ...).
///
/// It is the `{"Error": ..., "Cause": ...}` pair of Step Functions: Retry and Catch
/// match on `error`, and a Catch hands both to its next state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskError {
    /// The error name Retry/Catch `ErrorEquals` match against.
    pub error: String,
    /// Human-readable detail.
    pub cause: String,
}

impl TaskError {
    /// Builds an error from its name and cause; a convenience for task handlers.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self { error: error.into(), cause: cause.into() }
    }

    /// A `States.Runtime` error: a path that does not resolve, a bad intrinsic call...
    /// Not matched by `States.ALL`, as in Step Functions, because retrying cannot fix it.
    pub(crate) fn runtime(cause: impl Into<String>) -> Self {
        Self::new(errors::RUNTIME, cause)
    }

    /// The error object a Catch places at its ResultPath.
    pub(crate) fn to_value(&self) -> serde_json::Value {
        serde_json::json!({ "Error": self.error, "Cause": self.cause })
    }
}

/// Why an [`Executor`] operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecutorError {
    /// An execution of that name exists with a different input, or has already closed.
    #[error("execution `{0}` already exists")]
    ExecutionAlreadyExists(String),
    /// No execution has that name.
    #[error("execution `{0}` does not exist")]
    ExecutionDoesNotExist(String),
    /// The task token is unknown, or its task has already finished or timed out.
    #[error("task token `{0}` does not exist or its task has finished")]
    TaskDoesNotExist(String),
    /// `start_execution` was called outside a tokio runtime.
    #[error("no tokio runtime to run the execution on: {0}")]
    NoRuntime(String),
    /// The execution name is empty or too long (Step Functions allows 1 to 80 characters).
    #[error("invalid execution name `{0}`: it must have 1 to 80 characters")]
    InvalidName(String),
    /// Another live process runs the execution (only with an execution store).
    #[error("execution `{0}` is being run by another process")]
    RunningElsewhere(String),
    /// The execution has closed: there is nothing to continue.
    #[error("execution `{0}` has closed ({1})")]
    ExecutionClosed(String, &'static str),
    /// The execution store failed: the execution cannot be kept durable.
    #[error(transparent)]
    Persistence(#[from] PersistError),
    /// The execution's input is larger than a state may pass.
    #[error("execution input of {size} bytes is larger than the {max} bytes allowed")]
    InputTooLarge {
        /// Its size.
        size: usize,
        /// The limit ([`ExecutorOptions::max_payload_bytes`]).
        max: usize,
    },
}

/// Error names defined by the States language.
pub mod errors {
    /// Wildcard matching every error except `States.Runtime`.
    pub const ALL: &str = "States.ALL";
    /// Wildcard matching every task error except timeouts and `States.Runtime`.
    pub const TASK_FAILED: &str = "States.TaskFailed";
    /// A task or the execution ran longer than its TimeoutSeconds / HeartbeatSeconds.
    pub const TIMEOUT: &str = "States.Timeout";
    /// A path, intrinsic function or payload template failed at run time.
    pub const RUNTIME: &str = "States.Runtime";
    /// A Choice state matched no rule and has no Default.
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    /// ResultPath could not be applied to the state's input.
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    /// A Parameters / ItemSelector path did not resolve.
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    /// An intrinsic function failed.
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    /// The interpreter could not commit a transition to its execution store: the
    /// execution stops in this process and stays, as committed, for another to continue.
    pub const PERSISTENCE: &str = "Local.PersistenceFailed";
    /// A state's input or output, a task's result or an execution's input is larger
    /// than the payload quota; terminal: `States.ALL` does not match it.
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
}
