//! Step Functions' execution limits, enforced as the service does: a history that
//! would pass its quota fails the execution with `States.Runtime` (only an
//! `ExecutionSucceeded` may be the last event); a payload over 256 KiB is
//! `States.DataLimitExceeded`, which `States.ALL` does not catch.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::*;

/// Answers every task with its input, or with a large string for resource `big`.
struct Echo;

#[async_trait]
impl TaskHandler for Echo {
    async fn invoke(&self, resource: &str, input: Value, _ctx: &TaskContext) -> Result<Value, TaskError> {
        if resource == "big" {
            return Ok(json!("x".repeat(300_000)));
        }
        Ok(input)
    }
}

fn executor(definition: &str, options: ExecutorOptions) -> Executor {
    Executor::new(Definition::parse(definition).unwrap(), Arc::new(Echo), options)
}

/// A loop of a Task and a Choice that counts to `$.n`: 7 events a pass, as on AWS.
const LOOP: &str = r#"{
  "StartAt": "Work",
  "States": {
    "Work": { "Type": "Task", "Resource": "work", "Next": "Count" },
    "Count": { "Type": "Pass", "Parameters": { "n.$": "$.n", "i.$": "States.MathAdd($.i, 1)" }, "Next": "Again" },
    "Again": { "Type": "Choice",
      "Choices": [ { "Variable": "$.i", "NumericLessThanPath": "$.n", "Next": "Work" } ],
      "Default": "Done" },
    "Done": { "Type": "Succeed" }
  }
}"#;

fn small(max_history_events: u64) -> ExecutorOptions {
    ExecutorOptions { time_scale: 0.0, max_history_events, ..ExecutorOptions::default() }
}

#[tokio::test]
async fn history_is_counted_as_step_functions_counts_it() {
    let ex = executor(LOOP, small(MAX_HISTORY_EVENTS));
    let out = ex.start_execution("count", json!({"n": 10, "i": 0})).unwrap().wait().await;
    assert_eq!(out.status, ExecutionStatus::Succeeded);
    // Started 1; 10 × (Task 5 + Pass 2 + Choice 2); Succeed 2; Succeeded 1.
    assert_eq!(ex.history_events("count").unwrap(), 1 + 10 * 9 + 2 + 1);
}

#[tokio::test]
async fn an_execution_whose_history_would_pass_the_limit_fails() {
    let ex = executor(LOOP, small(100));
    let out = ex.start_execution("long", json!({"n": 1000, "i": 0})).unwrap().wait().await;
    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!(out.error.as_deref(), Some(errors::RUNTIME));
    assert!(out.cause.unwrap_or_default().contains("100 history events"));
    let events = ex.history_events("long").unwrap();
    assert!(events <= 100 && events > 90, "{events}");
    let history = ex.history("long").unwrap();
    assert_eq!(history.last().map(|e| e.event_type), Some(HistoryEventType::ExecutionFailed));
}

#[tokio::test]
async fn an_execution_that_ends_within_the_limit_succeeds() {
    let ex = executor(LOOP, small(1 + 3 * 9 + 2 + 1));
    let out = ex.start_execution("exact", json!({"n": 3, "i": 0})).unwrap().wait().await;
    assert_eq!(out.status, ExecutionStatus::Succeeded, "{out:?}");
}

#[tokio::test]
async fn an_oversized_payload_fails_the_execution_past_every_catch() {
    let def = r#"{
      "StartAt": "Big",
      "States": {
        "Big": { "Type": "Task", "Resource": "big", "Next": "Done",
          "Retry": [ { "ErrorEquals": ["States.ALL"], "MaxAttempts": 2 } ],
          "Catch": [ { "ErrorEquals": ["States.ALL"], "Next": "Caught" } ] },
        "Caught": { "Type": "Succeed" },
        "Done": { "Type": "Succeed" }
      }
    }"#;
    let ex = executor(def, small(MAX_HISTORY_EVENTS));
    let out = ex.start_execution("big", json!({})).unwrap().wait().await;
    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!(out.error.as_deref(), Some(errors::DATA_LIMIT_EXCEEDED));
    let scheduled =
        ex.history("big").unwrap().iter().filter(|e| e.event_type == HistoryEventType::TaskScheduled).count();
    assert_eq!(scheduled, 1, "not retried");
}

#[tokio::test]
async fn a_pass_state_output_over_the_limit_is_refused_and_so_is_a_large_execution_input() {
    let def = r#"{ "StartAt": "Grow", "States": {
        "Grow": { "Type": "Pass", "Parameters": { "a.$": "$.s", "b.$": "$.s" }, "End": true } } }"#;
    let ex = executor(def, ExecutorOptions { max_payload_bytes: 1000, ..small(MAX_HISTORY_EVENTS) });
    let out = ex.start_execution("grow", json!({"s": "y".repeat(600)})).unwrap().wait().await;
    assert_eq!(out.error.as_deref(), Some(errors::DATA_LIMIT_EXCEEDED));
    let refused = ex.start_execution("huge", json!({"s": "y".repeat(2000)}));
    assert!(matches!(refused, Err(ExecutorError::InputTooLarge { .. })), "{refused:?}");
}
