//! Running definitions: executions as tokio tasks, their history, and the callbacks
//! (`send_task_success` / `failure` / `heartbeat`) that finish `.waitForTaskToken`
//! tasks.
//!
//! The semantics follow Step Functions (Standard workflows) where the embedded adapter
//! must behave like the cloud one: execution names are unique and a repeated start with
//! the same input is idempotent while the execution runs; stopping an execution skips
//! every Catch; timeouts raise `States.Timeout`; retries back off exponentially.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};

use super::choice::Rule;
use super::definition::{
    error_matches, Definition, Machine, NumberOrPath, PathField, Retrier, State, StateKind, WaitFor,
};
use super::persist::ExecutionStore;
use super::template::Template;
use super::{errors, ExecutorError, TaskError};

mod durable;

pub use durable::Attachment;

/// Runs the `Resource` of Task states; implemented by the caller.
///
/// The embedded adapter maps each resource (a Lambda ARN in the deployed definition)
/// to an in-process stage step. For a `.waitForTaskToken` resource the returned value
/// is ignored: the state finishes only when someone calls
/// [`Executor::send_task_success`] / [`Executor::send_task_failure`] with
/// [`TaskContext::task_token`].
#[async_trait]
pub trait TaskHandler: Send + Sync {
    /// Runs one attempt of a task with its effective input (after InputPath and
    /// Parameters). An `Err` goes through the state's Retry and Catch.
    async fn invoke(&self, resource: &str, input: Value, ctx: &TaskContext) -> Result<Value, TaskError>;
}

/// What a task handler may need to know about the invocation (the same facts the
/// context object `$$` offers to the definition).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskContext {
    /// The execution's id (an ARN-like string, unique per executor).
    pub execution_id: String,
    /// The execution's name, as given to `start_execution` (the automation run id).
    pub execution_name: String,
    /// The state machine's id, from [`ExecutorOptions::state_machine_id`].
    pub state_machine_id: String,
    /// The Task state's name.
    pub state_name: String,
    /// When the state was entered (not when this attempt started).
    pub entered_time: OffsetDateTime,
    /// How many retries preceded this attempt (0 on the first one).
    pub retry_count: u32,
    /// For `.waitForTaskToken` resources: the token that completes the task.
    pub task_token: Option<String>,
}

/// Tunables of an [`Executor`].
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorOptions {
    /// The id exposed as `$$.StateMachine.Id`, and the prefix of execution ids.
    pub state_machine_id: String,
    /// Multiplies every real sleep (Wait states, retry intervals); `0.0` never sleeps,
    /// so tests of long waits and backoffs run instantly.
    pub time_scale: f64,
    /// Multiplies every timeout (machine and Task TimeoutSeconds, HeartbeatSeconds);
    /// `0.0` disables them. Separate from `time_scale` so that tests can skip sleeps
    /// and still exercise timeouts with short real durations.
    pub timeout_scale: f64,
    /// History events an execution may record, counted as Step Functions counts them
    /// ([`Executor::history_events`]); the event that would reach it fails the
    /// execution with `States.Runtime` instead (Step Functions: 25,000, only an
    /// `ExecutionSucceeded` may be the last). Tests set a small one.
    pub max_history_events: u64,
    /// Largest input or output of a state, task result or execution input, in bytes of
    /// its JSON text (Step Functions: 262,144); a larger one is
    /// `States.DataLimitExceeded`, which no Catch or Retry wildcard matches.
    pub max_payload_bytes: usize,
}

/// Step Functions' history quota for Standard workflows.
pub const MAX_HISTORY_EVENTS: u64 = 25_000;
/// Step Functions' payload quota: 256 KiB of UTF-8 JSON text.
pub const MAX_PAYLOAD_BYTES: usize = 262_144;

impl Default for ExecutorOptions {
    fn default() -> Self {
        Self {
            state_machine_id: "arn:aws:states:local:000000000000:stateMachine:local".to_string(),
            time_scale: 1.0,
            timeout_scale: 1.0,
            max_history_events: MAX_HISTORY_EVENTS,
            max_payload_bytes: MAX_PAYLOAD_BYTES,
        }
    }
}

/// Where an execution stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Still running (or waiting on a task token / Wait state).
    Running,
    /// Reached a Succeed state or an End.
    Succeeded,
    /// An error was not caught, or a Fail state was reached.
    Failed,
    /// Stopped by [`Executor::stop_execution`].
    Aborted,
    /// The machine's TimeoutSeconds elapsed.
    TimedOut,
}

impl ExecutionStatus {
    /// The Step Functions spelling (`RUNNING`, `SUCCEEDED`, ...), for logs and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::Aborted => "ABORTED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
        }
    }
}

/// How an execution closed: what waiting on it returns.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionOutcome {
    /// Never `Running`.
    pub status: ExecutionStatus,
    /// The final output, when it succeeded.
    pub output: Option<Value>,
    /// The error name, when it failed, was aborted or timed out.
    pub error: Option<String>,
    /// The error's cause, likewise.
    pub cause: Option<String>,
}

/// A snapshot of one execution, as `DescribeExecution` gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionDescription {
    /// The unique name given at start.
    pub name: String,
    /// The execution id.
    pub execution_id: String,
    /// The state machine id.
    pub state_machine_id: String,
    /// Current status.
    pub status: ExecutionStatus,
    /// The input given at start.
    pub input: Value,
    /// Final output, when succeeded.
    pub output: Option<Value>,
    /// Error name, when closed unsuccessfully.
    pub error: Option<String>,
    /// Error cause, when closed unsuccessfully.
    pub cause: Option<String>,
    /// When it started.
    pub start_date: OffsetDateTime,
    /// When it closed.
    pub stop_date: Option<OffsetDateTime>,
}

/// The kinds of history events recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum HistoryEventType {
    /// The execution began; details hold the input.
    ExecutionStarted,
    /// The execution succeeded; details hold the output.
    ExecutionSucceeded,
    /// The execution failed; details hold error and cause.
    ExecutionFailed,
    /// The execution was stopped; details hold error and cause.
    ExecutionAborted,
    /// The machine's TimeoutSeconds elapsed.
    ExecutionTimedOut,
    /// A state was entered; details hold its type and raw input.
    StateEntered,
    /// A state finished normally (or through a Catch); details hold its output.
    StateExited,
    /// A task attempt was handed to the [`TaskHandler`]; details hold resource,
    /// parameters and retry count.
    TaskScheduled,
    /// A task attempt succeeded; details hold its raw result.
    TaskSucceeded,
    /// A task attempt failed; details hold error and cause.
    TaskFailed,
    /// A task attempt exceeded TimeoutSeconds or HeartbeatSeconds.
    TaskTimedOut,
    /// A Wait state began waiting; details hold the seconds to wait.
    WaitStateEntered,
    /// A Wait state finished waiting.
    WaitStateExited,
}

/// One entry of an execution's history.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistoryEvent {
    /// 1-based, in recording order.
    pub id: u64,
    /// The event this one follows on the same path of the execution (0 for the first);
    /// inside a Parallel branch or Map iteration it chains within that branch.
    pub previous_event_id: u64,
    /// When it was recorded.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// What happened.
    pub event_type: HistoryEventType,
    /// The state concerned, for state and task events.
    pub state_name: Option<String>,
    /// Event-specific data (input, output, error, cause, resource...).
    pub details: Value,
}

/// A started execution: its name and id, and a way to wait for it to close.
#[derive(Clone)]
pub struct ExecutionHandle {
    exec: Arc<Execution>,
}

impl std::fmt::Debug for ExecutionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutionHandle").field("name", &self.exec.name).finish()
    }
}

impl ExecutionHandle {
    /// The execution's name.
    pub fn name(&self) -> &str {
        &self.exec.name
    }

    /// The execution's id.
    pub fn execution_id(&self) -> &str {
        &self.exec.id
    }

    /// Waits until the execution closes and returns how it did.
    pub async fn wait(&self) -> ExecutionOutcome {
        self.exec.wait().await
    }
}

/// Runs executions of one [`Definition`] in the current tokio runtime.
///
/// Cheap to clone (an `Arc` inside); every clone sees the same executions, so the
/// code that starts a run and the code that later sends its task token can each hold
/// one. Executions run on their own tokio tasks and keep running when every clone is
/// dropped; stop them with [`Executor::stop_execution`] (as a service stops a run).
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("state_machine_id", &self.inner.options.state_machine_id).finish()
    }
}

struct Inner {
    definition: Definition,
    handler: Arc<dyn TaskHandler>,
    options: ExecutorOptions,
    executions: Mutex<HashMap<String, Arc<Execution>>>,
    /// Open task tokens: the execution waiting on each, and how to reach it.
    tokens: Mutex<HashMap<String, (String, mpsc::UnboundedSender<TokenMessage>)>>,
    /// Where executions are committed at every transition (none: in memory only).
    store: Option<Arc<dyn ExecutionStore>>,
}

/// What a callback sends to a task waiting on its token.
enum TokenMessage {
    Success(Value),
    Failure(TaskError),
    Heartbeat,
}

struct Execution {
    name: String,
    id: String,
    input: Value,
    max_history_events: u64,
    start_time: OffsetDateTime,
    record: Mutex<Record>,
    done: watch::Sender<Option<ExecutionOutcome>>,
    abort: Mutex<Option<AbortHandle>>,
    /// Its position, claim and commit bookkeeping when the executor has a store.
    durable: durable::Durable,
}

struct Record {
    status: ExecutionStatus,
    output: Option<Value>,
    error: Option<String>,
    cause: Option<String>,
    stop_date: Option<OffsetDateTime>,
    history: Vec<HistoryEvent>,
    /// The history's length as Step Functions would count it ([`aws_events`]).
    events: u64,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: every
/// critical section here leaves the data consistent, so the poison carries no meaning.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Scales a number of seconds into a duration; `None` when it is zero, negative or
/// not representable (such sleeps and timeouts are skipped).
fn scaled(seconds: f64, scale: f64) -> Option<Duration> {
    let s = seconds * scale;
    if s > 0.0 {
        Duration::try_from_secs_f64(s).ok()
    } else {
        None
    }
}

/// How many events Step Functions records for one of ours: a task attempt is
/// scheduled and started (and, for `.waitForTaskToken`, submitted: counted for every
/// attempt, so a failed one may count one more than the service does); a Wait state's
/// entry and exit are its own entered/exited events, which ours already count.
fn aws_events(event_type: HistoryEventType, details: &Value) -> u64 {
    match event_type {
        HistoryEventType::TaskScheduled => {
            let waits = details["resource"].as_str().is_some_and(|r| r.ends_with(".waitForTaskToken"));
            2 + u64::from(waits)
        }
        HistoryEventType::WaitStateEntered | HistoryEventType::WaitStateExited => 0,
        _ => 1,
    }
}

/// `States.DataLimitExceeded` when `value`'s JSON text is over `max` bytes.
fn check_payload(value: &Value, max: usize, what: &str) -> Result<(), TaskError> {
    let size = value.to_string().len();
    if size > max {
        return Err(TaskError::new(
            errors::DATA_LIMIT_EXCEEDED,
            format!("the {what} has {size} bytes, more than the {max} bytes a state may pass"),
        ));
    }
    Ok(())
}

impl Execution {
    fn new(
        name: String,
        id: String,
        input: Value,
        start_time: OffsetDateTime,
        history: Vec<HistoryEvent>,
        durable: durable::Durable,
        max_history_events: u64,
    ) -> Self {
        let (done, _) = watch::channel(None);
        let events = history.iter().map(|e| aws_events(e.event_type, &e.details)).sum();
        Self {
            name,
            id,
            input,
            max_history_events,
            start_time,
            record: Mutex::new(Record {
                status: ExecutionStatus::Running,
                output: None,
                error: None,
                cause: None,
                stop_date: None,
                history,
                events,
            }),
            done,
            abort: Mutex::new(None),
            durable,
        }
    }

    fn push(&self, previous: u64, event_type: HistoryEventType, state: Option<&str>, details: Value) -> u64 {
        let weight = aws_events(event_type, &details);
        let mut rec = lock(&self.record);
        if rec.status != ExecutionStatus::Running {
            // Nothing is recorded after the execution closed.
            return rec.history.len() as u64;
        }
        if rec.events + weight >= self.max_history_events {
            let last = rec.history.len() as u64;
            drop(rec);
            self.fail_at_history_limit();
            return last;
        }
        rec.events += weight;
        let id = rec.history.len() as u64 + 1;
        rec.history.push(HistoryEvent {
            id,
            previous_event_id: previous,
            timestamp: OffsetDateTime::now_utc(),
            event_type,
            state_name: state.map(str::to_string),
            details,
        });
        id
    }

    /// The history is full: only an `ExecutionSucceeded` may be its last event, so the
    /// execution fails (`States.Runtime`, which no Catch matches) and its work stops.
    fn fail_at_history_limit(&self) {
        let cause = format!(
            "the execution reached the limit of {} history events; a long run must continue in a new execution",
            self.max_history_events
        );
        let outcome = ExecutionOutcome {
            status: ExecutionStatus::Failed,
            output: None,
            error: Some(errors::RUNTIME.to_string()),
            cause: Some(cause),
        };
        if self.finish(outcome) {
            if let Some(task) = lock(&self.abort).take() {
                task.abort();
            }
        }
    }

    /// Closes the execution unless it already closed and tells its waiters; returns
    /// whether this call did.
    fn finish(&self, outcome: ExecutionOutcome) -> bool {
        if !self.close(&outcome) {
            return false;
        }
        self.announce(outcome);
        true
    }

    /// Tells the execution's waiters how it closed.
    fn announce(&self, outcome: ExecutionOutcome) {
        self.done.send_replace(Some(outcome));
    }

    /// Records the close (status, outcome, the closing history event) unless it
    /// already closed; returns whether this call did. Waiters are told separately
    /// ([`Execution::announce`]), so a durable close is committed before they hear.
    fn close(&self, outcome: &ExecutionOutcome) -> bool {
        {
            let mut rec = lock(&self.record);
            if rec.status != ExecutionStatus::Running {
                return false;
            }
            let (event_type, details) = match outcome.status {
                ExecutionStatus::Succeeded => {
                    (HistoryEventType::ExecutionSucceeded, json!({ "output": outcome.output }))
                }
                status => (
                    match status {
                        ExecutionStatus::Aborted => HistoryEventType::ExecutionAborted,
                        ExecutionStatus::TimedOut => HistoryEventType::ExecutionTimedOut,
                        _ => HistoryEventType::ExecutionFailed,
                    },
                    json!({ "error": outcome.error, "cause": outcome.cause }),
                ),
            };
            let id = rec.history.len() as u64 + 1;
            rec.events += 1;
            rec.history.push(HistoryEvent {
                id,
                previous_event_id: id - 1,
                timestamp: OffsetDateTime::now_utc(),
                event_type,
                state_name: None,
                details,
            });
            rec.status = outcome.status;
            rec.output = outcome.output.clone();
            rec.error = outcome.error.clone();
            rec.cause = outcome.cause.clone();
            rec.stop_date = Some(OffsetDateTime::now_utc());
        }
        true
    }

    fn status(&self) -> ExecutionStatus {
        lock(&self.record).status
    }

    fn describe(&self, state_machine_id: &str) -> ExecutionDescription {
        let rec = lock(&self.record);
        ExecutionDescription {
            name: self.name.clone(),
            execution_id: self.id.clone(),
            state_machine_id: state_machine_id.to_string(),
            status: rec.status,
            input: self.input.clone(),
            output: rec.output.clone(),
            error: rec.error.clone(),
            cause: rec.cause.clone(),
            start_date: self.start_time,
            stop_date: rec.stop_date,
        }
    }

    async fn wait(&self) -> ExecutionOutcome {
        let mut rx = self.done.subscribe();
        if let Ok(done) = rx.wait_for(Option::is_some).await {
            if let Some(outcome) = done.as_ref() {
                return outcome.clone();
            }
        }
        // The sender lives in `self`, so the channel cannot close while we hold it;
        // fall back to the record all the same rather than panic.
        let rec = lock(&self.record);
        ExecutionOutcome {
            status: rec.status,
            output: rec.output.clone(),
            error: rec.error.clone(),
            cause: rec.cause.clone(),
        }
    }
}

impl Executor {
    /// Builds an executor for one definition; `handler` runs its Task states.
    pub fn new(definition: Definition, handler: Arc<dyn TaskHandler>, options: ExecutorOptions) -> Self {
        Self::build(definition, handler, options, None)
    }

    /// Builds an executor whose executions are committed to `store` at every state
    /// transition, so another process can continue them ([`Executor::attach`]).
    pub fn durable(
        definition: Definition,
        handler: Arc<dyn TaskHandler>,
        options: ExecutorOptions,
        store: Arc<dyn ExecutionStore>,
    ) -> Self {
        Self::build(definition, handler, options, Some(store))
    }

    fn build(
        definition: Definition,
        handler: Arc<dyn TaskHandler>,
        options: ExecutorOptions,
        store: Option<Arc<dyn ExecutionStore>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                definition,
                handler,
                options,
                executions: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
                store,
            }),
        }
    }

    /// The definition this executor runs.
    pub fn definition(&self) -> &Definition {
        &self.inner.definition
    }

    /// The options this executor was built with.
    pub fn options(&self) -> &ExecutorOptions {
        &self.inner.options
    }

    /// Starts an execution named `name` (the automation run id) on a new tokio task.
    ///
    /// Idempotent as StartExecution is: while an execution of that name runs with the
    /// same input, its handle is returned again; a different input, or a name whose
    /// execution has closed, is [`ExecutorError::ExecutionAlreadyExists`].
    ///
    /// With a store, the name must be new to the store too (an interrupted execution
    /// of that name is continued with [`Executor::attach`], not started again), and the
    /// execution is committed before this returns.
    pub fn start_execution(&self, name: &str, input: Value) -> Result<ExecutionHandle, ExecutorError> {
        if name.is_empty() || name.chars().count() > 80 {
            return Err(ExecutorError::InvalidName(name.to_string()));
        }
        let size = input.to_string().len();
        if size > self.inner.options.max_payload_bytes {
            return Err(ExecutorError::InputTooLarge { size, max: self.inner.options.max_payload_bytes });
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| ExecutorError::NoRuntime(e.to_string()))?;
        let exec = {
            let mut map = lock(&self.inner.executions);
            if let Some(existing) = map.get(name) {
                if existing.input == input && existing.status() == ExecutionStatus::Running {
                    return Ok(ExecutionHandle { exec: Arc::clone(existing) });
                }
                return Err(ExecutorError::ExecutionAlreadyExists(name.to_string()));
            }
            let claim = durable::claim_new(self.inner.store.as_deref(), name)?;
            let start = durable::Position::start(&self.inner.definition.machine.start_at, &input);
            let exec = Arc::new(Execution::new(
                name.to_string(),
                self.execution_id(name),
                input.clone(),
                OffsetDateTime::now_utc(),
                Vec::new(),
                durable::Durable::new(start, claim),
                self.inner.options.max_history_events,
            ));
            exec.push(0, HistoryEventType::ExecutionStarted, None, json!({ "input": input }));
            durable::commit_now(self.inner.store.as_deref(), &exec)?;
            map.insert(name.to_string(), Arc::clone(&exec));
            exec
        };
        self.spawn(&runtime, &exec);
        tracing::debug!(execution = name, "state machine execution started");
        Ok(ExecutionHandle { exec })
    }

    /// The id of the execution named `name`.
    fn execution_id(&self, name: &str) -> String {
        format!("{}:{}", self.inner.options.state_machine_id.replacen(":stateMachine:", ":execution:", 1), name)
    }

    /// Runs the execution on its own task, from the position it holds, under what is
    /// left of the machine's TimeoutSeconds.
    fn spawn(&self, runtime: &tokio::runtime::Handle, exec: &Arc<Execution>) {
        let run = Run { inner: Arc::clone(&self.inner), exec: Arc::clone(exec), top_level: true };
        let elapsed = (OffsetDateTime::now_utc() - exec.start_time).as_seconds_f64().max(0.0);
        let timeout = self.inner.definition.timeout_seconds.and_then(|s| {
            let limit = scaled(s as f64, self.inner.options.timeout_scale)?;
            Some(limit.saturating_sub(Duration::try_from_secs_f64(elapsed).unwrap_or(Duration::MAX)))
        });
        let task = runtime.spawn(drive(run, timeout));
        *lock(&exec.abort) = Some(task.abort_handle());
    }

    fn get(&self, name: &str) -> Result<Arc<Execution>, ExecutorError> {
        lock(&self.inner.executions)
            .get(name)
            .cloned()
            .ok_or_else(|| ExecutorError::ExecutionDoesNotExist(name.to_string()))
    }

    /// A handle on an existing execution, e.g. to wait for one started elsewhere.
    pub fn handle(&self, name: &str) -> Result<ExecutionHandle, ExecutorError> {
        self.get(name).map(|exec| ExecutionHandle { exec })
    }

    /// Waits until the named execution closes and returns how it did.
    pub async fn wait_for_completion(&self, name: &str) -> Result<ExecutionOutcome, ExecutorError> {
        let exec = self.get(name)?;
        Ok(exec.wait().await)
    }

    /// Stops a running execution: it closes as Aborted with `error`/`cause`, no Catch
    /// runs, in-flight tasks are dropped and their task tokens stop being valid.
    /// Stopping a closed execution changes nothing.
    pub fn stop_execution(&self, name: &str, error: &str, cause: &str) -> Result<ExecutionDescription, ExecutorError> {
        let exec = self.get(name)?;
        let closed_now = exec.finish(ExecutionOutcome {
            status: ExecutionStatus::Aborted,
            output: None,
            error: Some(error.to_string()),
            cause: Some(cause.to_string()),
        });
        if closed_now {
            if let Some(task) = lock(&exec.abort).take() {
                task.abort();
            }
            // The aborted task drops its tokens when it is next polled; invalidate
            // them now so that a callback racing the stop is refused.
            lock(&self.inner.tokens).retain(|_, (owner, _)| owner != name);
            durable::commit_closed_later(&self.inner, &exec);
        }
        Ok(exec.describe(&self.inner.options.state_machine_id))
    }

    /// A snapshot of the named execution.
    pub fn describe_execution(&self, name: &str) -> Result<ExecutionDescription, ExecutorError> {
        Ok(self.get(name)?.describe(&self.inner.options.state_machine_id))
    }

    /// Every execution this executor has started, oldest first.
    pub fn list_executions(&self) -> Vec<ExecutionDescription> {
        let mut all: Vec<ExecutionDescription> =
            lock(&self.inner.executions).values().map(|e| e.describe(&self.inner.options.state_machine_id)).collect();
        all.sort_by(|a, b| a.start_date.cmp(&b.start_date).then_with(|| a.name.cmp(&b.name)));
        all
    }

    /// The length of the named execution's history as Step Functions counts it (what
    /// [`ExecutorOptions::max_history_events`] limits).
    pub fn history_events(&self, name: &str) -> Result<u64, ExecutorError> {
        Ok(lock(&self.get(name)?.record).events)
    }

    /// The named execution's history so far, in recording order.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryEvent>, ExecutorError> {
        Ok(lock(&self.get(name)?.record).history.clone())
    }

    /// Completes the `.waitForTaskToken` task holding `token` with `output` as its result.
    pub fn send_task_success(&self, token: &str, output: Value) -> Result<(), ExecutorError> {
        self.send_token(token, TokenMessage::Success(output), true)
    }

    /// Fails the `.waitForTaskToken` task holding `token`; the error goes through the
    /// state's Retry and Catch like any task error.
    pub fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<(), ExecutorError> {
        self.send_token(token, TokenMessage::Failure(TaskError::new(error, cause)), true)
    }

    /// Tells the task holding `token` that its worker is alive, restarting its
    /// HeartbeatSeconds clock.
    pub fn send_task_heartbeat(&self, token: &str) -> Result<(), ExecutorError> {
        self.send_token(token, TokenMessage::Heartbeat, false)
    }

    fn send_token(&self, token: &str, message: TokenMessage, last: bool) -> Result<(), ExecutorError> {
        let mut tokens = lock(&self.inner.tokens);
        let sender = if last { tokens.remove(token) } else { tokens.get(token).cloned() };
        sender.and_then(|(_, s)| s.send(message).ok()).ok_or_else(|| ExecutorError::TaskDoesNotExist(token.to_string()))
    }
}

/// Removes a task token from the executor when its task stops waiting, whatever the
/// reason (completed, timed out, execution stopped).
struct TokenGuard {
    inner: Arc<Inner>,
    token: String,
}

impl Drop for TokenGuard {
    fn drop(&mut self) {
        lock(&self.inner.tokens).remove(&self.token);
    }
}

async fn drive(run: Run, timeout: Option<Duration>) {
    let machine = Arc::clone(&run.inner.definition.machine);
    let (state, input, previous) = run.exec.durable.resume_point();
    let work = run_machine_from(run.clone(), machine, state, input, previous);
    let result = match timeout {
        Some(limit) => tokio::time::timeout(limit, work).await.ok(),
        None => Some(work.await),
    };
    let outcome = match result {
        Some(Ok(output)) => {
            ExecutionOutcome { status: ExecutionStatus::Succeeded, output: Some(output), error: None, cause: None }
        }
        Some(Err(e)) => ExecutionOutcome {
            status: ExecutionStatus::Failed,
            output: None,
            error: Some(e.error),
            cause: Some(e.cause),
        },
        None => ExecutionOutcome {
            status: ExecutionStatus::TimedOut,
            output: None,
            error: Some(errors::TIMEOUT.to_string()),
            cause: Some("The execution ran longer than the state machine's TimeoutSeconds".to_string()),
        },
    };
    tracing::debug!(execution = %run.exec.name, status = outcome.status.as_str(), "state machine execution closed");
    if outcome.error.as_deref() == Some(errors::PERSISTENCE) {
        // It stopped because it could not be committed: the store keeps it running
        // at its last committed state, for another process to continue.
        run.exec.finish(outcome);
        run.exec.durable.release_claim();
        return;
    }
    if run.exec.close(&outcome) {
        // Committed before anyone hears of the end: a process that exits as soon as
        // its run ended leaves no execution behind that looks interrupted.
        run.commit_closed().await;
        run.exec.announce(outcome);
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// One execution's interpreter: shared by the top level and every branch.
#[derive(Clone)]
struct Run {
    inner: Arc<Inner>,
    exec: Arc<Execution>,
    /// Whether this path is the machine's top level, whose transitions are committed
    /// (a Parallel branch or Map iteration is re-run whole with its state).
    top_level: bool,
}

/// Facts about the state being run, for the context object.
struct Entered {
    name: String,
    time: OffsetDateTime,
}

/// Runs a machine (top level, branch or iteration) from its StartAt to an end.
/// `previous` is the history event this path of the execution follows.
fn run_machine(run: Run, machine: Arc<Machine>, input: Value, previous: u64) -> BoxFuture<Result<Value, TaskError>> {
    let start = machine.start_at.clone();
    run_machine_from(run, machine, start, input, previous)
}

/// Runs a machine from the state `start` (its StartAt, or where a continued execution
/// stood); on the top level every transition is committed before the state runs.
fn run_machine_from(
    run: Run,
    machine: Arc<Machine>,
    start: String,
    input: Value,
    previous: u64,
) -> BoxFuture<Result<Value, TaskError>> {
    Box::pin(async move {
        let mut prev = previous;
        let mut name = start;
        let mut input = input;
        loop {
            let state = machine
                .states
                .get(&name)
                .ok_or_else(|| TaskError::runtime(format!("the state `{name}` does not exist")))?;
            if run.top_level {
                run.enter(&name, &input, prev).await?;
            }
            let (next, output) = run.run_state(state, input, &mut prev).await?;
            match next {
                Some(n) => {
                    name = n;
                    input = output;
                }
                None => return Ok(output),
            }
        }
    })
}

fn state_type(kind: &StateKind) -> &'static str {
    match kind {
        StateKind::Pass { .. } => "Pass",
        StateKind::Task { .. } => "Task",
        StateKind::Choice { .. } => "Choice",
        StateKind::Wait(_) => "Wait",
        StateKind::Succeed => "Succeed",
        StateKind::Fail { .. } => "Fail",
        StateKind::Parallel { .. } => "Parallel",
        StateKind::Map { .. } => "Map",
    }
}

/// The facts one attempt of a Task/Parallel/Map state works from, bundled so that the
/// per-type steps take few arguments.
#[derive(Clone, Copy)]
struct Attempt<'a> {
    state: &'a State,
    effective: &'a Value,
    entered: &'a Entered,
    retry_count: u32,
}

/// The target of a Choice state: the first matching rule's Next, else the Default;
/// neither is `States.NoChoiceMatched`.
fn choose(state: &State, rules: &[Rule], default: Option<&String>, effective: &Value) -> Result<String, TaskError> {
    for rule in rules {
        if rule.expr.eval(effective)? {
            return Ok(rule.next.clone());
        }
    }
    default.cloned().ok_or_else(|| {
        TaskError::new(
            errors::NO_CHOICE_MATCHED,
            format!("No Choice Rules matched the input of `{}` and it has no Default", state.name),
        )
    })
}

/// How many seconds a Wait state waits (0 for a timestamp in the past).
fn wait_seconds(wait: &WaitFor, effective: &Value) -> Result<f64, TaskError> {
    Ok(match wait {
        WaitFor::Seconds(s) => *s,
        WaitFor::SecondsPath(p) => p
            .read(effective)
            .and_then(|v| v.as_f64())
            .filter(|s| *s >= 0.0)
            .ok_or_else(|| TaskError::runtime(format!("SecondsPath `{}` is not a non-negative number", p.text())))?,
        WaitFor::Timestamp(t) => (*t - OffsetDateTime::now_utc()).as_seconds_f64().max(0.0),
        WaitFor::TimestampPath(p) => {
            let t = p
                .read(effective)
                .and_then(|v| v.as_str().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok()))
                .ok_or_else(|| {
                    TaskError::runtime(format!("TimestampPath `{}` is not an RFC 3339 timestamp", p.text()))
                })?;
            (t - OffsetDateTime::now_utc()).as_seconds_f64().max(0.0)
        }
    })
}

/// One of a Fail state's Error / Cause: the literal, else the string its path selects
/// in the raw input (Fail has no InputPath), else empty.
fn fail_field(raw: &Value, literal: &Option<String>, path: &Option<super::path::Path>) -> Result<String, TaskError> {
    match (literal, path) {
        (Some(s), _) => Ok(s.clone()),
        (None, Some(p)) => match p.read(raw) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(TaskError::runtime(format!("the Fail path `{}` does not select a string in the input", p.text()))),
        },
        (None, None) => Ok(String::new()),
    }
}

/// The items a Map state iterates over: ItemsPath must select an array.
fn map_items(state: &State, items_path: &PathField, effective: &Value) -> Result<Vec<Value>, TaskError> {
    match select(items_path, effective, "ItemsPath")? {
        Value::Array(items) => Ok(items),
        other => Err(TaskError::runtime(format!(
            "the ItemsPath of `{}` selects {}, not an array",
            state.name,
            super::path::kind_of(&other)
        ))),
    }
}

/// A Task's TimeoutSeconds / HeartbeatSeconds, read from the input for the `...Path`
/// forms (which must give a positive number).
fn task_seconds(field: Option<&NumberOrPath>, what: &str, effective: &Value) -> Result<Option<f64>, TaskError> {
    match field {
        None => Ok(None),
        Some(NumberOrPath::Seconds(s)) => Ok(Some(*s)),
        Some(NumberOrPath::Path(p)) => p
            .read(effective)
            .and_then(|v| v.as_f64())
            .filter(|s| *s > 0.0)
            .map(Some)
            .ok_or_else(|| TaskError::runtime(format!("{what}Path `{}` is not a positive number", p.text()))),
    }
}

/// InputPath / OutputPath: `$` keeps the document, `null` gives `{}`.
fn select(field: &PathField, doc: &Value, what: &str) -> Result<Value, TaskError> {
    match field {
        PathField::Default => Ok(doc.clone()),
        PathField::Null => Ok(json!({})),
        PathField::Path(p) => p.read(doc).ok_or_else(|| {
            TaskError::runtime(format!("Invalid path '{}': the {what} could not be found in {doc}", p.text()))
        }),
    }
}

/// ResultPath: `$` replaces the input, `null` discards the result, a path inserts it.
fn place_result(field: &PathField, raw_input: &Value, result: Value) -> Result<Value, TaskError> {
    match field {
        PathField::Default => Ok(result),
        PathField::Null => Ok(raw_input.clone()),
        PathField::Path(p) => {
            let mut doc = raw_input.clone();
            p.write(&mut doc, result).map_err(|cause| TaskError::new(errors::RESULT_PATH_MATCH_FAILURE, cause))?;
            Ok(doc)
        }
    }
}

impl Retrier {
    /// Seconds to wait before retry number `attempt` (0-based): IntervalSeconds ×
    /// BackoffRate^attempt, capped by MaxDelaySeconds.
    pub(crate) fn delay(&self, attempt: u32) -> f64 {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let d = self.interval_seconds * self.backoff_rate.powi(exponent);
        match self.max_delay_seconds {
            Some(max) => d.min(max),
            None => d,
        }
    }
}

impl Run {
    async fn sleep(&self, seconds: f64) {
        if let Some(d) = scaled(seconds, self.inner.options.time_scale) {
            tokio::time::sleep(d).await;
        }
    }

    fn context(&self, entered: &Entered, retry_count: u32, token: Option<&str>) -> Value {
        let sm_id = &self.inner.options.state_machine_id;
        let mut ctx = json!({
            "Execution": {
                "Id": self.exec.id,
                "Name": self.exec.name,
                "Input": self.exec.input,
                "StartTime": rfc3339(self.exec.start_time),
            },
            "State": {
                "Name": entered.name,
                "EnteredTime": rfc3339(entered.time),
                "RetryCount": retry_count,
            },
            "StateMachine": {
                "Id": sm_id,
                "Name": sm_id.rsplit(':').next().unwrap_or(sm_id),
            },
        });
        if let (Some(t), Some(obj)) = (token, ctx.as_object_mut()) {
            obj.insert("Task".to_string(), json!({ "Token": t }));
        }
        ctx
    }

    /// Runs one state; returns the next state's name (`None` at an end) and the output.
    async fn run_state(&self, state: &State, raw: Value, prev: &mut u64) -> Result<(Option<String>, Value), TaskError> {
        let entered = Entered { name: state.name.clone(), time: OffsetDateTime::now_utc() };
        *prev = self.exec.push(
            *prev,
            HistoryEventType::StateEntered,
            Some(&state.name),
            json!({ "type": state_type(&state.kind), "input": raw }),
        );
        let result = self.state_body(state, &raw, &entered, prev).await;
        let max = self.inner.options.max_payload_bytes;
        let result = result.and_then(|(next, output)| {
            check_payload(&output, max, &format!("output of state {}", state.name))?;
            Ok((next, output))
        });
        let result = match result {
            Err(e) => match state.catch.iter().find(|c| error_matches(&c.error_equals, &e.error)) {
                Some(catcher) => {
                    let output = place_result(&catcher.result_path, &raw, e.to_value())?;
                    Ok((Some(catcher.next.clone()), output))
                }
                None => Err(e),
            },
            ok => ok,
        };
        if let Ok((next, output)) = &result {
            *prev = self.exec.push(
                *prev,
                HistoryEventType::StateExited,
                Some(&state.name),
                json!({ "output": output, "next": next }),
            );
        }
        result
    }

    /// Runs what the state's type does, after InputPath; returns the next state's name
    /// and the output. An `Err` is the state's failure, before Catch.
    async fn state_body(
        &self,
        state: &State,
        raw: &Value,
        entered: &Entered,
        prev: &mut u64,
    ) -> Result<(Option<String>, Value), TaskError> {
        let next = state.next.clone();
        let effective = select(&state.input_path, raw, "InputPath")?;
        match &state.kind {
            StateKind::Succeed => Ok((None, select(&state.output_path, &effective, "OutputPath")?)),
            StateKind::Choice { rules, default } => {
                let target = choose(state, rules, default.as_ref(), &effective)?;
                Ok((Some(target), select(&state.output_path, &effective, "OutputPath")?))
            }
            StateKind::Wait(wait) => {
                self.run_wait(state, wait, &effective, prev).await?;
                Ok((next, select(&state.output_path, &effective, "OutputPath")?))
            }
            StateKind::Pass { result } => {
                let output = self.run_pass(state, result.as_ref(), raw, effective, entered)?;
                Ok((next, output))
            }
            StateKind::Task { .. } | StateKind::Parallel { .. } | StateKind::Map { .. } => {
                let output = self.with_retry(state, raw, &effective, entered, prev).await?;
                Ok((next, output))
            }
            StateKind::Fail { error, cause, error_path, cause_path } => {
                // Fail has no InputPath: ErrorPath/CausePath read the raw input.
                Err(TaskError::new(fail_field(raw, error, error_path)?, fail_field(raw, cause, cause_path)?))
            }
        }
    }

    /// A Wait state: works out how long, records the wait in the history around the
    /// (scaled) sleep.
    async fn run_wait(
        &self,
        state: &State,
        wait: &WaitFor,
        effective: &Value,
        prev: &mut u64,
    ) -> Result<(), TaskError> {
        let seconds = wait_seconds(wait, effective)?;
        *prev =
            self.exec.push(*prev, HistoryEventType::WaitStateEntered, Some(&state.name), json!({ "seconds": seconds }));
        self.sleep(seconds).await;
        *prev = self.exec.push(*prev, HistoryEventType::WaitStateExited, Some(&state.name), json!({}));
        Ok(())
    }

    /// A Pass state: its Result (or its Parameters, or its input) placed by ResultPath,
    /// then OutputPath.
    fn run_pass(
        &self,
        state: &State,
        result: Option<&Value>,
        raw: &Value,
        effective: Value,
        entered: &Entered,
    ) -> Result<Value, TaskError> {
        let context = self.context(entered, 0, None);
        let params = match &state.parameters {
            Some(t) => t.eval(&effective, &context)?,
            None => effective,
        };
        let result = result.cloned().unwrap_or(params);
        let placed = place_result(&state.result_path, raw, result)?;
        select(&state.output_path, &placed, "OutputPath")
    }

    /// Runs attempts of a Task/Parallel/Map state through its Retry rules: the first
    /// retrier matching the error decides; each has its own attempt count.
    async fn with_retry(
        &self,
        state: &State,
        raw: &Value,
        effective: &Value,
        entered: &Entered,
        prev: &mut u64,
    ) -> Result<Value, TaskError> {
        let mut counts = vec![0u32; state.retry.len()];
        let mut retry_count = 0u32;
        loop {
            let error = match self.attempt(state, raw, effective, entered, retry_count, prev).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let Some(i) = state.retry.iter().position(|r| error_matches(&r.error_equals, &error.error)) else {
                return Err(error);
            };
            let retrier = &state.retry[i];
            if counts[i] >= retrier.max_attempts {
                return Err(error);
            }
            let delay = retrier.delay(counts[i]);
            counts[i] += 1;
            retry_count += 1;
            tracing::debug!(state = %state.name, error = %error.error, delay, "retrying state");
            self.sleep(delay).await;
        }
    }

    /// One attempt of a Task/Parallel/Map state: runs its work, then applies
    /// ResultSelector, ResultPath and OutputPath to the result.
    async fn attempt(
        &self,
        state: &State,
        raw: &Value,
        effective: &Value,
        entered: &Entered,
        retry_count: u32,
        prev: &mut u64,
    ) -> Result<Value, TaskError> {
        let step = Attempt { state, effective, entered, retry_count };
        let (result, context) = match &state.kind {
            StateKind::Task { resource, timeout, heartbeat } => {
                self.run_task(&step, resource, (timeout.as_ref(), heartbeat.as_ref()), prev).await?
            }
            StateKind::Parallel { branches } => self.run_parallel(&step, branches, *prev).await?,
            StateKind::Map { processor, items_path, item_selector, max_concurrency } => {
                let context = self.context(entered, retry_count, None);
                let items = map_items(state, items_path, effective)?;
                let results = self
                    .run_map(processor, items, item_selector.as_ref(), effective, &context, *max_concurrency, *prev)
                    .await?;
                (Value::Array(results), context)
            }
            _ => return Err(TaskError::runtime("only Task, Parallel and Map states are retried")),
        };
        let selected = match &state.result_selector {
            Some(t) => t.eval(&result, &context)?,
            None => result,
        };
        let placed = place_result(&state.result_path, raw, selected)?;
        select(&state.output_path, &placed, "OutputPath")
    }

    /// A Task attempt: Parameters, the TaskScheduled event, the handler call under the
    /// timeout, and the event recording how it ended. Returns the raw result with the
    /// context object (which ResultSelector reads).
    async fn run_task(
        &self,
        step: &Attempt<'_>,
        resource: &str,
        (timeout, heartbeat): (Option<&NumberOrPath>, Option<&NumberOrPath>),
        prev: &mut u64,
    ) -> Result<(Value, Value), TaskError> {
        let Attempt { state, effective, entered, retry_count } = *step;
        let token = match resource.ends_with(".waitForTaskToken") {
            true => Some(self.issue_token(&state.name).await?),
            false => None,
        };
        let context = self.context(entered, retry_count, token.as_deref());
        let params = match &state.parameters {
            Some(t) => t.eval(effective, &context)?,
            None => effective.clone(),
        };
        let max = self.inner.options.max_payload_bytes;
        check_payload(&params, max, &format!("input of task {}", state.name))?;
        let timeout = task_seconds(timeout, "TimeoutSeconds", effective)?;
        let heartbeat = task_seconds(heartbeat, "HeartbeatSeconds", effective)?;
        *prev = self.exec.push(
            *prev,
            HistoryEventType::TaskScheduled,
            Some(&state.name),
            json!({
                "resource": resource,
                "parameters": params,
                "retryCount": retry_count,
                "timeoutInSeconds": timeout,
                "heartbeatInSeconds": heartbeat,
            }),
        );
        let task_ctx = TaskContext {
            execution_id: self.exec.id.clone(),
            execution_name: self.exec.name.clone(),
            state_machine_id: self.inner.options.state_machine_id.clone(),
            state_name: state.name.clone(),
            entered_time: entered.time,
            retry_count,
            task_token: token,
        };
        let result = self
            .invoke_with_timeout(resource, params, &task_ctx, timeout, heartbeat)
            .await
            .and_then(|v| check_payload(&v, max, &format!("result of task {}", state.name)).map(|()| v));
        let (event, details) = match &result {
            Ok(v) => (HistoryEventType::TaskSucceeded, json!({ "output": v })),
            Err(e) if e.error == errors::TIMEOUT => {
                (HistoryEventType::TaskTimedOut, json!({ "error": e.error, "cause": e.cause }))
            }
            Err(e) => (HistoryEventType::TaskFailed, json!({ "error": e.error, "cause": e.cause })),
        };
        *prev = self.exec.push(*prev, event, Some(&state.name), details);
        Ok((result?, context))
    }

    /// Invokes the task, failing with `States.Timeout` when it outlives its (scaled)
    /// TimeoutSeconds; the heartbeat limit is passed on to [`Run::invoke`].
    async fn invoke_with_timeout(
        &self,
        resource: &str,
        params: Value,
        task_ctx: &TaskContext,
        timeout: Option<f64>,
        heartbeat: Option<f64>,
    ) -> Result<Value, TaskError> {
        let scale = self.inner.options.timeout_scale;
        let invocation = self.invoke(resource, params, task_ctx, heartbeat.and_then(|h| scaled(h, scale)));
        match timeout.and_then(|t| scaled(t, scale)) {
            Some(limit) => tokio::time::timeout(limit, invocation).await.unwrap_or_else(|_| {
                Err(TaskError::new(
                    errors::TIMEOUT,
                    format!("The task ran longer than its TimeoutSeconds ({})", timeout.unwrap_or_default()),
                ))
            }),
            None => invocation.await,
        }
    }

    /// A Parallel attempt: every branch gets the same input (after Parameters) and runs
    /// concurrently; the results come back in branch order with the context object.
    async fn run_parallel(
        &self,
        step: &Attempt<'_>,
        branches: &[Arc<Machine>],
        prev: u64,
    ) -> Result<(Value, Value), TaskError> {
        let context = self.context(step.entered, step.retry_count, None);
        let input = match &step.state.parameters {
            Some(t) => t.eval(step.effective, &context)?,
            None => step.effective.clone(),
        };
        let mut set = JoinSet::new();
        for (i, branch) in branches.iter().enumerate() {
            let work = run_machine(self.branch(), Arc::clone(branch), input.clone(), prev);
            set.spawn(async move { (i, work.await) });
        }
        let results = collect(&mut set, branches.len()).await?;
        Ok((Value::Array(results), context))
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_map(
        &self,
        processor: &Arc<Machine>,
        items: Vec<Value>,
        item_selector: Option<&Template>,
        effective: &Value,
        context: &Value,
        max_concurrency: usize,
        prev: u64,
    ) -> Result<Vec<Value>, TaskError> {
        let total = items.len();
        let limit = if max_concurrency == 0 { total.max(1) } else { max_concurrency };
        let mut set = JoinSet::new();
        let mut results: Vec<Option<Value>> = vec![None; total];
        let mut pending = items.into_iter().enumerate();
        loop {
            while set.len() < limit {
                let Some((index, item)) = pending.next() else {
                    break;
                };
                let input = match item_selector {
                    Some(t) => {
                        let mut ctx = context.clone();
                        if let Some(obj) = ctx.as_object_mut() {
                            obj.insert("Map".to_string(), json!({ "Item": { "Index": index, "Value": item } }));
                        }
                        t.eval(effective, &ctx)?
                    }
                    None => item,
                };
                let work = run_machine(self.branch(), Arc::clone(processor), input, prev);
                set.spawn(async move { (index, work.await) });
            }
            match set.join_next().await {
                None => break,
                Some(joined) => {
                    let (index, value) = unpack(joined)?;
                    if let Some(slot) = results.get_mut(index) {
                        *slot = Some(value);
                    }
                }
            }
        }
        results.into_iter().map(|r| r.ok_or_else(|| TaskError::runtime("a Map iteration produced no result"))).collect()
    }

    /// Calls the handler; for `.waitForTaskToken` resources then waits for a callback
    /// on the token, failing with `States.Timeout` when heartbeats stop.
    async fn invoke(
        &self,
        resource: &str,
        params: Value,
        ctx: &TaskContext,
        heartbeat: Option<Duration>,
    ) -> Result<Value, TaskError> {
        let Some(token) = &ctx.task_token else {
            return self.inner.handler.invoke(resource, params, ctx).await;
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        lock(&self.inner.tokens).insert(token.clone(), (self.exec.name.clone(), tx));
        let _guard = TokenGuard { inner: Arc::clone(&self.inner), token: token.clone() };
        self.inner.handler.invoke(resource, params, ctx).await?;
        loop {
            let message = match heartbeat {
                Some(limit) => match tokio::time::timeout(limit, rx.recv()).await {
                    Ok(m) => m,
                    Err(_) => {
                        return Err(TaskError::new(
                            errors::TIMEOUT,
                            "The task sent no heartbeat within its HeartbeatSeconds",
                        ))
                    }
                },
                None => rx.recv().await,
            };
            match message {
                Some(TokenMessage::Success(v)) => return Ok(v),
                Some(TokenMessage::Failure(e)) => return Err(e),
                Some(TokenMessage::Heartbeat) => continue,
                None => return Err(TaskError::runtime("the task token's channel closed")),
            }
        }
    }
}

type Joined = Result<(usize, Result<Value, TaskError>), tokio::task::JoinError>;

fn unpack(joined: Joined) -> Result<(usize, Value), TaskError> {
    match joined {
        Ok((index, Ok(value))) => Ok((index, value)),
        Ok((_, Err(e))) => Err(e),
        Err(e) => Err(TaskError::runtime(format!("a branch stopped abnormally: {e}"))),
    }
}

/// Gathers every branch's result in branch order; the first failure fails the whole
/// state (dropping the set aborts the other branches).
async fn collect(set: &mut JoinSet<(usize, Result<Value, TaskError>)>, count: usize) -> Result<Vec<Value>, TaskError> {
    let mut results: Vec<Option<Value>> = vec![None; count];
    while let Some(joined) = set.join_next().await {
        let (index, value) = unpack(joined)?;
        if let Some(slot) = results.get_mut(index) {
            *slot = Some(value);
        }
    }
    results.into_iter().map(|r| r.ok_or_else(|| TaskError::runtime("a branch produced no result"))).collect()
}
