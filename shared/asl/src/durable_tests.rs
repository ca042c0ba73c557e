//! Durable executions: a "process" (an executor on its own tokio runtime) dies while
//! an execution runs; another continues it from the state it was in, with that
//! state's input, its history and its task token.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::*;

/// An execution store in memory, shared by the "processes" of a test; a claim is a
/// name in a set, given back when dropped (as the kernel drops a dead process's lock).
#[derive(Default)]
struct MemoryStore {
    rows: Mutex<HashMap<String, StoredExecution>>,
    claims: Arc<Mutex<HashSet<String>>>,
    failing: AtomicBool,
    commits: AtomicUsize,
}

struct Held {
    name: String,
    claims: Arc<Mutex<HashSet<String>>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.claims.lock().unwrap().remove(&self.name);
    }
}

impl ExecutionStore for MemoryStore {
    fn claim(&self, name: &str) -> Result<Option<Claim>, PersistError> {
        if !self.claims.lock().unwrap().insert(name.to_owned()) {
            return Ok(None);
        }
        Ok(Some(Box::new(Held { name: name.to_owned(), claims: Arc::clone(&self.claims) })))
    }
    fn status(&self, name: &str) -> Result<Option<ExecutionStatus>, PersistError> {
        Ok(self.rows.lock().unwrap().get(name).map(|s| s.checkpoint.status))
    }
    fn commit(&self, checkpoint: &Checkpoint, new_events: &[HistoryEvent]) -> Result<(), PersistError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(PersistError("disk full".into()));
        }
        self.commits.fetch_add(1, Ordering::SeqCst);
        let mut rows = self.rows.lock().unwrap();
        let row = rows
            .entry(checkpoint.name.clone())
            .or_insert_with(|| StoredExecution { checkpoint: checkpoint.clone(), history: Vec::new() });
        if row.checkpoint.status != ExecutionStatus::Running {
            return Ok(());
        }
        row.checkpoint = checkpoint.clone();
        for e in new_events {
            if !row.history.iter().any(|h| h.id == e.id) {
                row.history.push(e.clone());
            }
        }
        Ok(())
    }
    fn load(&self, name: &str) -> Result<Option<StoredExecution>, PersistError> {
        Ok(self.rows.lock().unwrap().get(name).cloned())
    }
    fn running(&self) -> Result<Vec<Checkpoint>, PersistError> {
        let rows = self.rows.lock().unwrap();
        Ok(rows
            .values()
            .filter(|s| s.checkpoint.status == ExecutionStatus::Running)
            .map(|s| s.checkpoint.clone())
            .collect())
    }
}

/// Task `hang` never returns (the process dies in it); any other echoes its input
/// with the token it was given. Every call is recorded.
#[derive(Default)]
struct Tasks {
    calls: Mutex<Vec<(String, Value, Option<String>)>>,
}

#[async_trait]
impl TaskHandler for Tasks {
    async fn invoke(&self, resource: &str, input: Value, ctx: &TaskContext) -> Result<Value, TaskError> {
        self.calls.lock().unwrap().push((ctx.state_name.clone(), input.clone(), ctx.task_token.clone()));
        if resource == "hang" {
            std::future::pending::<()>().await;
        }
        Ok(json!({ "seen": input, "token": ctx.task_token }))
    }
}

const MACHINE: &str = r#"{"StartAt": "Prepare", "States": {
    "Prepare": {"Type": "Pass", "Result": {"n": 7}, "ResultPath": "$.prepared", "Next": "Work"},
    "Work": {"Type": "Task", "Resource": "RESOURCE", "ResultPath": "$.work", "Next": "Finish",
             "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]},
    "Finish": {"Type": "Task", "Resource": "finish", "End": true},
    "Caught": {"Type": "Fail", "Error": "Caught"}}}"#;

fn executor(store: &Arc<MemoryStore>, resource: &str) -> (Executor, Arc<Tasks>) {
    let tasks = Arc::new(Tasks::default());
    let definition = Definition::parse(&MACHINE.replace("RESOURCE", resource)).unwrap();
    let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
    let store: Arc<dyn ExecutionStore> = Arc::clone(store) as Arc<dyn ExecutionStore>;
    (Executor::durable(definition, tasks.clone(), options, store), tasks)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Runs `name` in a process of its own until its `Work` task has been called, then
/// the process dies (its runtime and executor are dropped without a word).
fn die_in_work(store: &Arc<MemoryStore>, resource: &str, name: &str) -> Vec<(String, Value, Option<String>)> {
    let rt = runtime();
    let (exec, tasks) = executor(store, resource);
    rt.block_on(async {
        exec.start_execution(name, json!({"run": name})).unwrap();
        while !tasks.calls.lock().unwrap().iter().any(|(s, _, _)| s == "Work") {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let calls = tasks.calls.lock().unwrap().clone();
    drop(exec);
    drop(rt);
    calls
}

#[test]
fn a_dead_process_execution_is_continued_from_the_state_it_was_in() {
    let store = Arc::new(MemoryStore::default());
    let before = die_in_work(&store, "hang", "run-1");
    let work_input = before[0].1.clone();
    assert_eq!(work_input, json!({"run": "run-1", "prepared": {"n": 7}}));

    let rt = runtime();
    let (exec, tasks) = executor(&store, "work");
    rt.block_on(async {
        let interrupted = exec.interrupted().unwrap();
        assert_eq!(interrupted.len(), 1);
        assert_eq!(interrupted[0].state.as_deref(), Some("Work"));
        let attachment = exec.attach("run-1").unwrap();
        assert_eq!(attachment.checkpoint().state_input, json!({"run": "run-1", "prepared": {"n": 7}}));
        let outcome = attachment.resume().unwrap().wait().await;
        assert_eq!(outcome.status, ExecutionStatus::Succeeded, "{outcome:?}");
        let calls = tasks.calls.lock().unwrap().clone();
        assert_eq!(calls[0].0, "Work", "Work is re-entered, Prepare is not run again");
        assert_eq!(calls[0].1, work_input, "with the input it had");
        assert_eq!(calls[1].0, "Finish");
        let history = exec.history("run-1").unwrap();
        let ids: Vec<u64> = history.iter().map(|e| e.id).collect();
        assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>(), "one history, no gap");
        assert_eq!(history[0].event_type, HistoryEventType::ExecutionStarted);
        assert_eq!(history.last().unwrap().event_type, HistoryEventType::ExecutionSucceeded);
        assert!(exec.interrupted().unwrap().is_empty());
    });
    let stored = store.load("run-1").unwrap().unwrap();
    assert_eq!(stored.checkpoint.status, ExecutionStatus::Succeeded);
    assert_eq!(stored.history.len(), rt.block_on(async { exec.history("run-1").unwrap().len() }));
    assert!(matches!(exec.attach("run-1"), Err(ExecutorError::ExecutionClosed(_, "SUCCEEDED"))));
    let (other, _) = executor(&store, "work");
    let again = rt.block_on(async { other.start_execution("run-1", json!({"run": "run-1"})).map(drop) });
    assert_eq!(again, Err(ExecutorError::ExecutionAlreadyExists("run-1".into())), "names stay unique");
}

#[test]
fn a_task_token_survives_the_process_that_issued_it() {
    let store = Arc::new(MemoryStore::default());
    let before = die_in_work(&store, "arn:aws:states:::lambda:invoke.waitForTaskToken", "run-2");
    let token = before[0].2.clone().expect("a token was issued");
    assert_eq!(store.load("run-2").unwrap().unwrap().checkpoint.task_token.as_deref(), Some(token.as_str()));

    let rt = runtime();
    let (exec, tasks) = executor(&store, "arn:aws:states:::lambda:invoke.waitForTaskToken");
    rt.block_on(async {
        let handle = exec.attach("run-2").unwrap().resume().unwrap();
        while tasks.calls.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(tasks.calls.lock().unwrap()[0].2.as_deref(), Some(token.as_str()), "the same token");
        // Whoever was handed the token before the death completes the task now.
        exec.send_task_success(&token, json!({"images": "done"})).unwrap();
        let outcome = handle.wait().await;
        assert_eq!(outcome.status, ExecutionStatus::Succeeded, "{outcome:?}");
    });
}

#[test]
fn a_live_process_keeps_its_execution() {
    let store = Arc::new(MemoryStore::default());
    let rt = runtime();
    let (alive, tasks) = executor(&store, "hang");
    let (other, _) = executor(&store, "hang");
    rt.block_on(async {
        alive.start_execution("run-3", json!({})).unwrap();
        while tasks.calls.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert!(other.interrupted().unwrap().is_empty(), "running, not interrupted");
        assert_eq!(other.attach("run-3").unwrap_err(), ExecutorError::RunningElsewhere("run-3".into()));
        assert_eq!(
            other.start_execution("run-3", json!({})).map(drop),
            Err(ExecutorError::RunningElsewhere("run-3".into()))
        );
        alive.stop_execution("run-3", "Stopped", "by the test").unwrap();
        for _ in 0..500 {
            if store.status("run-3").unwrap() == Some(ExecutionStatus::Aborted) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(store.status("run-3").unwrap(), Some(ExecutionStatus::Aborted), "the stop is committed");
    });
}

#[test]
fn an_execution_that_cannot_be_committed_stops_where_it_was_committed() {
    let store = Arc::new(MemoryStore::default());
    let rt = runtime();
    let (exec, tasks) = executor(&store, "work");
    rt.block_on(async {
        exec.start_execution("run-4", json!({})).unwrap();
        store.failing.store(true, Ordering::SeqCst);
        let outcome = exec.wait_for_completion("run-4").await.unwrap();
        assert_eq!(outcome.status, ExecutionStatus::Failed);
        assert_eq!(outcome.error.as_deref(), Some(errors::PERSISTENCE), "no Catch takes it: {outcome:?}");
        assert!(tasks.calls.lock().unwrap().is_empty(), "no state ran uncommitted");
    });
    store.failing.store(false, Ordering::SeqCst);
    let stored = store.load("run-4").unwrap().unwrap();
    assert_eq!(stored.checkpoint.status, ExecutionStatus::Running, "left for another process");
    let (next, tasks) = executor(&store, "work");
    rt.block_on(async {
        let outcome = next.attach("run-4").unwrap().resume().unwrap().wait().await;
        assert_eq!(outcome.status, ExecutionStatus::Succeeded, "{outcome:?}");
        assert_eq!(tasks.calls.lock().unwrap().len(), 2);
    });
}

#[test]
fn without_a_store_nothing_is_committed_or_attachable() {
    let rt = runtime();
    let tasks = Arc::new(Tasks::default());
    let definition = Definition::parse(&MACHINE.replace("RESOURCE", "work")).unwrap();
    let exec = Executor::new(definition, tasks, ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() });
    rt.block_on(async {
        let outcome = exec.start_execution("run-5", json!({})).unwrap().wait().await;
        assert_eq!(outcome.status, ExecutionStatus::Succeeded);
        assert!(exec.interrupted().unwrap().is_empty());
        assert_eq!(exec.attach("run-5").unwrap_err(), ExecutorError::ExecutionDoesNotExist("run-5".into()));
    });
}
