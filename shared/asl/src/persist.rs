//! Durable executions: the port through which an [`Executor`](super::Executor) commits
//! each execution at every state transition, so that a process that dies loses at most
//! the state the execution was in.
//!
//! Step Functions keeps an execution alive whatever happens to the Lambdas; on a laptop
//! the interpreter lives in the process that runs it. With an [`ExecutionStore`] the
//! executor writes a [`Checkpoint`] (the top-level state it is entering, that state's
//! input, a task token it waits on) and the history events recorded since the last
//! commit, before the state runs. Another process later *attaches* the execution
//! ([`Executor::attach`](super::Executor::attach)) and re-enters that state with that
//! input — as Step Functions retries a task whose Lambda died — so the state's handler
//! must be replay-safe. A `.waitForTaskToken` task keeps its token across the
//! re-entry, so whoever holds it (an image job, a resume) can still complete it.
//!
//! Which process drives an execution is decided by a [`Claim`]: the store grants one
//! per execution to one live process at a time and it ends with that process.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::executor::{ExecutionStatus, HistoryEvent};

/// The store refused or failed (disk full, file unreadable, corrupt row...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("execution store: {0}")]
pub struct PersistError(pub String);

/// Proof that this process drives an execution; dropping it lets another process
/// claim it. What it holds (an OS file lock, a lease...) is the store's business.
pub type Claim = Box<dyn std::any::Any + Send + Sync>;

/// Where an execution stood at its last committed transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The execution's unique name.
    pub name: String,
    /// Its id.
    pub execution_id: String,
    /// The input it was started with.
    pub input: Value,
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub start_date: OffsetDateTime,
    /// Running until it closes.
    pub status: ExecutionStatus,
    /// The top-level state it is in (`None` once closed).
    pub state: Option<String>,
    /// That state's raw input: what re-entering it starts from.
    pub state_input: Value,
    /// The history event the state's next event follows.
    pub previous_event_id: u64,
    /// The token the state's `.waitForTaskToken` task waits on, once issued.
    pub task_token: Option<String>,
    /// The output, once succeeded.
    pub output: Option<Value>,
    /// The error name, once closed unsuccessfully.
    pub error: Option<String>,
    /// The error's cause, likewise.
    pub cause: Option<String>,
    /// When it closed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub stop_date: Option<OffsetDateTime>,
}

/// A stored execution: its checkpoint and its whole history.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExecution {
    /// Where it stood.
    pub checkpoint: Checkpoint,
    /// Every event committed, in id order.
    pub history: Vec<HistoryEvent>,
}

/// Keeps executions across processes. Calls are blocking (the executor runs commits
/// on tokio's blocking pool); each `commit` is atomic.
pub trait ExecutionStore: Send + Sync {
    /// Claims the named execution for this process: `None` while another live process
    /// holds it. The claim lasts until the returned value is dropped or the process ends.
    fn claim(&self, name: &str) -> Result<Option<Claim>, PersistError>;

    /// The stored status of the named execution, if it is stored at all.
    fn status(&self, name: &str) -> Result<Option<ExecutionStatus>, PersistError>;

    /// Writes the checkpoint and appends `new_events` (history events not yet
    /// committed), all or nothing. A closed execution stays closed: a late commit of
    /// a running checkpoint (from a stopped task) changes nothing.
    fn commit(&self, checkpoint: &Checkpoint, new_events: &[HistoryEvent]) -> Result<(), PersistError>;

    /// The named execution with its history, if stored.
    fn load(&self, name: &str) -> Result<Option<StoredExecution>, PersistError>;

    /// The checkpoints of every execution stored as running, oldest first.
    fn running(&self) -> Result<Vec<Checkpoint>, PersistError>;
}
