//! The executor's side of durable executions (see [`crate::persist`]): what it
//! remembers of each execution's position, the commits at every top-level transition,
//! the claim that makes one process its driver, and continuing a stored execution.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{lock, Execution, ExecutionHandle, ExecutionStatus, Executor, Inner, Run};
use crate::persist::{Checkpoint, Claim, ExecutionStore, PersistError, StoredExecution};
use crate::{errors, ExecutorError, TaskError};

/// Where an execution's top level is: the state it entered, that state's input, the
/// event its next event follows, and the token its task waits on.
#[derive(Debug, Clone)]
pub(super) struct Position {
    state: String,
    input: Value,
    previous_event_id: u64,
    task_token: Option<String>,
}

impl Position {
    /// The position of a new execution: its StartAt, after the `ExecutionStarted` event.
    pub(super) fn start(start_at: &str, input: &Value) -> Self {
        Self { state: start_at.to_owned(), input: input.clone(), previous_event_id: 1, task_token: None }
    }
}

/// Per-execution bookkeeping of durability (inert without a store).
pub(super) struct Durable {
    position: Mutex<Position>,
    /// How many history events the store holds.
    persisted: Mutex<usize>,
    /// This process's claim on the execution, dropped once it closes.
    claim: Mutex<Option<Claim>>,
    /// Serialises commits, so events are appended in order and a checkpoint never
    /// overtakes a later one.
    commits: tokio::sync::Mutex<()>,
    /// The token the re-entered state's task waited on before the process died:
    /// `(state, token)`, taken by the first attempt of that state.
    resume_token: Mutex<Option<(String, String)>>,
}

impl Durable {
    pub(super) fn new(position: Position, claim: Option<Claim>) -> Self {
        Self {
            position: Mutex::new(position),
            persisted: Mutex::new(0),
            claim: Mutex::new(claim),
            commits: tokio::sync::Mutex::new(()),
            resume_token: Mutex::new(None),
        }
    }

    /// Where driving starts: the state, its input, the event it follows.
    pub(super) fn resume_point(&self) -> (String, Value, u64) {
        let p = lock(&self.position);
        (p.state.clone(), p.input.clone(), p.previous_event_id)
    }

    /// Lets another process claim the execution.
    pub(super) fn release_claim(&self) {
        lock(&self.claim).take();
    }
}

/// The checkpoint of the execution as it stands, the events not yet committed, and
/// the history length they bring the store to.
fn snapshot(exec: &Execution) -> (Checkpoint, Vec<super::HistoryEvent>, usize) {
    let rec = lock(&exec.record);
    let position = lock(&exec.durable.position).clone();
    let persisted = (*lock(&exec.durable.persisted)).min(rec.history.len());
    let running = rec.status == ExecutionStatus::Running;
    let checkpoint = Checkpoint {
        name: exec.name.clone(),
        execution_id: exec.id.clone(),
        input: exec.input.clone(),
        start_date: exec.start_time,
        status: rec.status,
        state: running.then_some(position.state),
        state_input: position.input,
        previous_event_id: position.previous_event_id,
        task_token: position.task_token.filter(|_| running),
        output: rec.output.clone(),
        error: rec.error.clone(),
        cause: rec.cause.clone(),
        stop_date: rec.stop_date,
    };
    (checkpoint, rec.history[persisted..].to_vec(), rec.history.len())
}

/// Commits the execution as it stands, on the blocking pool.
async fn commit(exec: &Arc<Execution>, store: &Arc<dyn ExecutionStore>) -> Result<(), PersistError> {
    let _serial = exec.durable.commits.lock().await;
    let (checkpoint, events, upto) = snapshot(exec);
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || store.commit(&checkpoint, &events))
        .await
        .map_err(|e| PersistError(format!("the commit stopped: {e}")))??;
    *lock(&exec.durable.persisted) = upto;
    Ok(())
}

/// Claims a new execution's name: refused while another process runs it or when the
/// store already has an execution of that name.
pub(super) fn claim_new(store: Option<&dyn ExecutionStore>, name: &str) -> Result<Option<Claim>, ExecutorError> {
    let Some(store) = store else { return Ok(None) };
    let claim = store.claim(name)?.ok_or_else(|| ExecutorError::RunningElsewhere(name.to_owned()))?;
    if store.status(name)?.is_some() {
        return Err(ExecutorError::ExecutionAlreadyExists(name.to_owned()));
    }
    Ok(Some(claim))
}

/// Commits a just-created execution before `start_execution` returns (a blocking
/// write, once per execution), so a started execution is never lost.
pub(super) fn commit_now(store: Option<&dyn ExecutionStore>, exec: &Execution) -> Result<(), ExecutorError> {
    let Some(store) = store else { return Ok(()) };
    let (checkpoint, events, upto) = snapshot(exec);
    store.commit(&checkpoint, &events)?;
    *lock(&exec.durable.persisted) = upto;
    Ok(())
}

/// After a stop: commits the closed execution on a task of its own (the stop is
/// synchronous), then gives up the claim.
pub(super) fn commit_closed_later(inner: &Arc<Inner>, exec: &Arc<Execution>) {
    let Some(store) = inner.store.clone() else { return };
    let exec = Arc::clone(exec);
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                if let Err(e) = commit(&exec, &store).await {
                    tracing::warn!(execution = %exec.name, error = %e, "the stopped execution was not committed");
                }
                exec.durable.release_claim();
            });
        }
        Err(_) => exec.durable.release_claim(),
    }
}

impl Run {
    /// A path inside a Parallel branch or Map iteration: not committed on its own.
    pub(super) fn branch(&self) -> Run {
        Run { top_level: false, ..self.clone() }
    }

    /// Commits that the top level enters `state` with `input`: dying from here on,
    /// the execution is continued by re-entering it.
    pub(super) async fn enter(&self, state: &str, input: &Value, previous_event_id: u64) -> Result<(), TaskError> {
        let Some(store) = &self.inner.store else { return Ok(()) };
        *lock(&self.exec.durable.position) =
            Position { state: state.to_owned(), input: input.clone(), previous_event_id, task_token: None };
        commit(&self.exec, store).await.map_err(persistence)
    }

    /// The token of a `.waitForTaskToken` attempt: the one the state waited on before
    /// the process died when it is re-entered, else a new one; on the top level it is
    /// committed before the task runs, so whoever the task hands it to can still use
    /// it after another process continues the execution.
    pub(super) async fn issue_token(&self, state: &str) -> Result<String, TaskError> {
        let resumed = match self.top_level {
            true => lock(&self.exec.durable.resume_token).take().filter(|(s, _)| s == state).map(|(_, t)| t),
            false => None,
        };
        let token = resumed.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        if let (true, Some(store)) = (self.top_level, &self.inner.store) {
            lock(&self.exec.durable.position).task_token = Some(token.clone());
            commit(&self.exec, store).await.map_err(persistence)?;
        }
        Ok(token)
    }

    /// Commits the closed execution and gives up the claim; a failure is logged (the
    /// store then still says running, and a later attach re-enters the last state,
    /// which ends the execution again).
    pub(super) async fn commit_closed(&self) {
        if let Some(store) = &self.inner.store {
            if let Err(e) = commit(&self.exec, store).await {
                tracing::warn!(execution = %self.exec.name, error = %e, "the closed execution was not committed");
            }
        }
        self.exec.durable.release_claim();
    }
}

fn persistence(e: PersistError) -> TaskError {
    TaskError::new(errors::PERSISTENCE, e.to_string())
}

/// A stored running execution this process has claimed, ready to be continued
/// ([`Attachment::resume`]); dropping it gives the claim back.
pub struct Attachment {
    executor: Executor,
    stored: StoredExecution,
    claim: Claim,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment").field("checkpoint", &self.stored.checkpoint).finish()
    }
}

impl Attachment {
    /// Where the execution stood when its process stopped.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.stored.checkpoint
    }

    /// Continues the execution in this process: re-enters the state it was in with
    /// that state's input (a `.waitForTaskToken` task keeps its token), its history
    /// carrying on, under what is left of the machine's TimeoutSeconds.
    pub fn resume(self) -> Result<ExecutionHandle, ExecutorError> {
        let Attachment { executor, stored, claim } = self;
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| ExecutorError::NoRuntime(e.to_string()))?;
        let StoredExecution { checkpoint: cp, history } = stored;
        let state = cp.state.clone().unwrap_or_else(|| executor.inner.definition.machine.start_at.clone());
        let persisted = history.len();
        let durable = Durable::new(
            Position {
                state: state.clone(),
                input: cp.state_input,
                previous_event_id: cp.previous_event_id,
                task_token: cp.task_token.clone(),
            },
            Some(claim),
        );
        *lock(&durable.persisted) = persisted;
        *lock(&durable.resume_token) = cp.task_token.map(|t| (state.clone(), t));
        let exec = {
            let mut map = lock(&executor.inner.executions);
            if map.get(&cp.name).is_some_and(|e| e.status() == ExecutionStatus::Running) {
                return Err(ExecutorError::ExecutionAlreadyExists(cp.name));
            }
            let exec = Arc::new(Execution::new(
                cp.name.clone(),
                cp.execution_id,
                cp.input,
                cp.start_date,
                history,
                durable,
                executor.inner.options.max_history_events,
            ));
            map.insert(cp.name.clone(), Arc::clone(&exec));
            exec
        };
        executor.spawn(&runtime, &exec);
        tracing::debug!(execution = %cp.name, state = %state, "state machine execution continued");
        Ok(ExecutionHandle { exec })
    }
}

impl Executor {
    /// Claims a stored running execution whose process stopped, to continue it here
    /// ([`Attachment::resume`]). Refused while another live process runs it
    /// ([`ExecutorError::RunningElsewhere`]), when it is not stored
    /// ([`ExecutorError::ExecutionDoesNotExist`]) or has closed.
    pub fn attach(&self, name: &str) -> Result<Attachment, ExecutorError> {
        let missing = || ExecutorError::ExecutionDoesNotExist(name.to_owned());
        let store = self.inner.store.as_ref().ok_or_else(missing)?;
        if lock(&self.inner.executions).get(name).is_some_and(|e| e.status() == ExecutionStatus::Running) {
            return Err(ExecutorError::ExecutionAlreadyExists(name.to_owned()));
        }
        let claim = store.claim(name)?.ok_or_else(|| ExecutorError::RunningElsewhere(name.to_owned()))?;
        let stored = store.load(name)?.ok_or_else(missing)?;
        if stored.checkpoint.status != ExecutionStatus::Running {
            return Err(ExecutorError::ExecutionClosed(name.to_owned(), stored.checkpoint.status.as_str()));
        }
        Ok(Attachment { executor: self.clone(), stored, claim })
    }

    /// The stored executions that are running but driven by no live process (their
    /// process died): what [`Executor::attach`] can continue. Oldest first.
    pub fn interrupted(&self) -> Result<Vec<Checkpoint>, ExecutorError> {
        let Some(store) = &self.inner.store else { return Ok(Vec::new()) };
        let mut found = Vec::new();
        for checkpoint in store.running()? {
            if lock(&self.inner.executions)
                .get(&checkpoint.name)
                .is_some_and(|e| e.status() == ExecutionStatus::Running)
            {
                continue;
            }
            // A claim taken and dropped at once: no live process holds it.
            if store.claim(&checkpoint.name)?.is_some() {
                found.push(checkpoint);
            }
        }
        Ok(found)
    }
}
