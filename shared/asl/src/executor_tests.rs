//! Executions end to end: the I/O pipeline, retries, catches, waits, Map/Parallel,
//! task tokens, stop, idempotent start, history, and the automation-run loop shape.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::*;

type Behavior = dyn Fn(&str, &Value, &TaskContext, usize) -> Result<Value, TaskError> + Send + Sync;

/// A handler that records every call, hands task tokens to the test, and answers with
/// a closure (given the call's 0-based number). Resource `slow` sleeps 30 s first.
struct Recorder {
    behavior: Box<Behavior>,
    calls: Mutex<Vec<(String, Value, TaskContext)>>,
    tokens: mpsc::UnboundedSender<String>,
}

#[async_trait]
impl TaskHandler for Recorder {
    async fn invoke(&self, resource: &str, input: Value, ctx: &TaskContext) -> Result<Value, TaskError> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push((resource.to_string(), input.clone(), ctx.clone()));
            calls.len() - 1
        };
        if let Some(t) = &ctx.task_token {
            let _ = self.tokens.send(t.clone());
        }
        if resource == "slow" {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        (self.behavior)(resource, &input, ctx, n)
    }
}

impl Recorder {
    fn calls(&self) -> Vec<(String, Value, TaskContext)> {
        self.calls.lock().unwrap().clone()
    }
}

fn setup(
    definition: &str,
    behavior: impl Fn(&str, &Value, &TaskContext, usize) -> Result<Value, TaskError> + Send + Sync + 'static,
) -> (Executor, Arc<Recorder>, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let recorder = Arc::new(Recorder { behavior: Box::new(behavior), calls: Mutex::new(Vec::new()), tokens: tx });
    let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
    let def = Definition::parse(definition).unwrap();
    (Executor::new(def, recorder.clone(), options), recorder, rx)
}

fn echo(_: &str, input: &Value, _: &TaskContext, _: usize) -> Result<Value, TaskError> {
    Ok(input.clone())
}

async fn run(exec: &Executor, name: &str, input: Value) -> ExecutionOutcome {
    exec.start_execution(name, input).unwrap().wait().await
}

fn succeeded(o: &ExecutionOutcome) -> &Value {
    assert_eq!(o.status, ExecutionStatus::Succeeded, "{o:?}");
    o.output.as_ref().unwrap()
}

#[tokio::test]
async fn aws_paths_example_input_result_output_path() {
    // "Example: Manipulating state data with paths" from the Step Functions guide.
    let (exec, rec, _) = setup(
        r#"{"StartAt": "Lambda", "States": {"Lambda": {
            "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:HelloFunction",
            "InputPath": "$.lambda", "ResultPath": "$.data.lambdaresult", "OutputPath": "$.data", "End": true}}}"#,
        |_, input, _, _| Ok(json!(format!("Hello, {}!", input["who"].as_str().unwrap_or("?")))),
    );
    let out = run(
        &exec,
        "e1",
        json!({"comment": "An input comment.", "data": {"val1": 23, "val2": 17}, "extra": "foo",
               "lambda": {"who": "AWS Step Functions"}}),
    )
    .await;
    assert_eq!(succeeded(&out), &json!({"val1": 23, "val2": 17, "lambdaresult": "Hello, AWS Step Functions!"}));
    assert_eq!(rec.calls()[0].1, json!({"who": "AWS Step Functions"}));
}

#[tokio::test]
async fn io_pipeline_runs_in_aws_order() {
    // InputPath → Parameters → task → ResultSelector (the guide's EMR example) →
    // ResultPath → OutputPath.
    let (exec, rec, _) = setup(
        r#"{"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "arn:aws:states:::elasticmapreduce:createCluster.sync",
            "InputPath": "$.cluster",
            "Parameters": {"Name.$": "$.name", "Static": 1, "Run.$": "$$.Execution.Name"},
            "ResultSelector": {"ClusterId.$": "$.output.ClusterId", "ResourceType.$": "$.resourceType"},
            "ResultPath": "$.EMROutput",
            "OutputPath": "$.EMROutput",
            "End": true}}}"#,
        |_, _, _, _| {
            Ok(json!({"resourceType": "elasticmapreduce", "resource": "createCluster.sync",
                      "output": {"SdkHttpMetadata": {"HttpStatusCode": 200}, "ClusterId": "AKIAIOSFODNN7EXAMPLE"}}))
        },
    );
    let out = run(&exec, "run-7", json!({"cluster": {"name": "c1", "size": 3}, "other": true})).await;
    assert_eq!(succeeded(&out), &json!({"ClusterId": "AKIAIOSFODNN7EXAMPLE", "ResourceType": "elasticmapreduce"}));
    assert_eq!(rec.calls()[0].1, json!({"Name": "c1", "Static": 1, "Run": "run-7"}));

    // Without OutputPath the result lands beside the raw input; ResultPath null keeps
    // the input unchanged.
    let (exec, _, _) = setup(
        r#"{"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": "r", "ResultSelector": {"v.$": "$.v"}, "ResultPath": "$.res", "Next": "B"},
            "B": {"Type": "Task", "Resource": "r", "ResultPath": null, "Next": "C"},
            "C": {"Type": "Pass", "InputPath": null, "Result": {"fixed": true}, "ResultPath": "$.p", "OutputPath": "$", "End": true}}}"#,
        |_, _, _, _| Ok(json!({"v": 1, "noise": 2})),
    );
    let out = run(&exec, "e2", json!({"x": 0})).await;
    assert_eq!(succeeded(&out), &json!({"x": 0, "res": {"v": 1}, "p": {"fixed": true}}));
}

#[tokio::test]
async fn pass_parameters_intrinsics_and_context_object() {
    let (exec, _, _) = setup(
        r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {
            "greeting.$": "States.Format('Hello {} from {}', $.who, $$.State.Name)",
            "parsed.$": "States.StringToJson($.raw)",
            "text.$": "States.JsonToString($.obj)",
            "arr.$": "States.Array($.who, 2)",
            "sum.$": "States.MathAdd($.n, 1)",
            "id.$": "States.UUID()",
            "exec.$": "$$.Execution.Name",
            "execId.$": "$$.Execution.Id",
            "input.$": "$$.Execution.Input.n",
            "start.$": "$$.Execution.StartTime",
            "entered.$": "$$.State.EnteredTime",
            "retries.$": "$$.State.RetryCount",
            "sm.$": "$$.StateMachine.Id"
        }, "End": true}}}"#,
        echo,
    );
    let out = run(&exec, "ctx-run", json!({"who": "Ann", "raw": "{\"a\":1}", "obj": {"b": 2}, "n": 41})).await;
    let v = succeeded(&out);
    assert_eq!(v["greeting"], json!("Hello Ann from P"));
    assert_eq!(v["parsed"], json!({"a": 1}));
    assert_eq!(v["text"], json!("{\"b\":2}"));
    assert_eq!(v["arr"], json!(["Ann", 2]));
    assert_eq!(v["sum"], json!(42));
    assert_eq!(v["id"].as_str().map(str::len), Some(36));
    assert_eq!(v["exec"], json!("ctx-run"));
    assert!(v["execId"].as_str().unwrap().ends_with(":execution:local:ctx-run"));
    assert_eq!(v["input"], json!(41));
    assert!(v["start"].as_str().unwrap().contains('T'));
    assert!(v["entered"].as_str().unwrap().contains('T'));
    assert_eq!(v["retries"], json!(0));
    assert_eq!(v["sm"], json!(ExecutorOptions::default().state_machine_id));
}

#[tokio::test]
async fn retry_backs_off_and_counts_attempts() {
    let def = |max: u32| {
        format!(
            r#"{{"StartAt": "T", "States": {{
                "T": {{"Type": "Task", "Resource": "r", "Parameters": {{"try.$": "$$.State.RetryCount"}},
                      "Retry": [{{"ErrorEquals": ["Other"], "MaxAttempts": 9}},
                                {{"ErrorEquals": ["Transient", "States.Timeout"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": {max}, "MaxDelaySeconds": 30}}],
                      "Catch": [{{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Caught"}}],
                      "End": true}},
                "Caught": {{"Type": "Pass", "End": true}}}}}}"#
        )
    };
    // Three failures then success, with MaxAttempts 3: four calls, success.
    let (exec, rec, _) = setup(&def(3), |_, input, _, n| {
        if n < 3 {
            Err(TaskError::new("Transient", "rate limited"))
        } else {
            Ok(json!({"ok": input["try"]}))
        }
    });
    let out = run(&exec, "r1", json!({})).await;
    assert_eq!(succeeded(&out), &json!({"ok": 3}));
    let retry_counts: Vec<u32> = rec.calls().iter().map(|c| c.2.retry_count).collect();
    assert_eq!(retry_counts, vec![0, 1, 2, 3]);

    // Always failing, MaxAttempts 2: three calls, then the Catch.
    let (exec, rec, _) = setup(&def(2), |_, _, _, _| Err(TaskError::new("Transient", "still limited")));
    let out = run(&exec, "r2", json!({"in": 1})).await;
    assert_eq!(succeeded(&out), &json!({"in": 1, "err": {"Error": "Transient", "Cause": "still limited"}}));
    assert_eq!(rec.calls().len(), 3);

    // MaxAttempts 0 never retries; an unmatched error is not retried either.
    let (exec, rec, _) = setup(&def(0), |_, _, _, _| Err(TaskError::new("Transient", "x")));
    run(&exec, "r3", json!({})).await;
    assert_eq!(rec.calls().len(), 1);
    let (exec, rec, _) = setup(&def(5), |_, _, _, _| Err(TaskError::new("Fatal", "x")));
    run(&exec, "r4", json!({})).await;
    assert_eq!(rec.calls().len(), 1);

    // The backoff itself: 2, 6, 18, then capped at 30.
    let r = super::definition::Retrier {
        error_equals: vec!["X".into()],
        interval_seconds: 2.0,
        max_attempts: 5,
        backoff_rate: 3.0,
        max_delay_seconds: Some(30.0),
    };
    assert_eq!([r.delay(0), r.delay(1), r.delay(2), r.delay(3)], [2.0, 6.0, 18.0, 30.0]);
}

#[tokio::test]
async fn retry_sleeps_scaled_backoff() {
    // Defaults: IntervalSeconds 1, BackoffRate 2 → 1 + 2 = 3 s of backoff for two
    // retries, scaled by 0.02 to 60 ms.
    let (tx, _rx) = mpsc::unbounded_channel();
    let rec = Arc::new(Recorder {
        behavior: Box::new(|_, _, _, n| if n < 2 { Err(TaskError::new("E", "")) } else { Ok(json!(1)) }),
        calls: Mutex::new(Vec::new()),
        tokens: tx,
    });
    let def = Definition::parse(
        r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "Retry": [{"ErrorEquals": ["States.TaskFailed"]}], "End": true}}}"#,
    )
    .unwrap();
    let exec = Executor::new(def, rec.clone(), ExecutorOptions { time_scale: 0.02, ..Default::default() });
    let started = Instant::now();
    let out = run(&exec, "s", json!({})).await;
    assert_eq!(succeeded(&out), &json!(1));
    assert!(started.elapsed() >= Duration::from_millis(55), "{:?}", started.elapsed());
    assert_eq!(rec.calls().len(), 3);
}

#[tokio::test]
async fn catch_places_error_at_result_path_and_routes() {
    let (exec, _, _) = setup(
        r#"{"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "r", "Next": "Done",
                  "Catch": [{"ErrorEquals": ["NotThis"], "Next": "Done"},
                            {"ErrorEquals": ["Boom"], "ResultPath": "$.error", "Next": "Record"}]},
            "Record": {"Type": "Pass", "Parameters": {"failed.$": "$.error.Error", "why.$": "$.error.Cause", "site.$": "$.site"}, "Next": "Fail"},
            "Fail": {"Type": "Fail", "Error": "RunFailed", "Cause": "recorded"},
            "Done": {"Type": "Succeed"}}}"#,
        |_, _, _, _| Err(TaskError::new("Boom", "exploded")),
    );
    let out = run(&exec, "c1", json!({"site": 9})).await;
    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!(out.error.as_deref(), Some("RunFailed"));
    let hist = exec.history("c1").unwrap();
    let record_exit = hist
        .iter()
        .find(|e| e.event_type == HistoryEventType::StateExited && e.state_name.as_deref() == Some("Record"))
        .unwrap();
    assert_eq!(record_exit.details["output"], json!({"failed": "Boom", "why": "exploded", "site": 9}));
    let entered = hist
        .iter()
        .find(|e| e.event_type == HistoryEventType::StateEntered && e.state_name.as_deref() == Some("Record"))
        .unwrap();
    assert_eq!(entered.details["input"], json!({"site": 9, "error": {"Error": "Boom", "Cause": "exploded"}}));
}

#[tokio::test]
async fn uncaught_errors_fail_the_execution() {
    let (exec, _, _) = setup(
        r#"{"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.next", "StringEquals": "a", "Next": "A"}]},
            "A": {"Type": "Succeed"}}}"#,
        echo,
    );
    let out = run(&exec, "n1", json!({"next": "b"})).await;
    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!(out.error.as_deref(), Some("States.NoChoiceMatched"));

    // A bad OutputPath is States.Runtime, which States.ALL does not catch.
    let (exec, _, _) = setup(
        r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "OutputPath": "$.missing", "End": true,
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "X"}]}, "X": {"Type": "Succeed"}}}"#,
        |_, _, _, _| Ok(json!({"a": 1})),
    );
    let out = run(&exec, "n2", json!({})).await;
    assert_eq!(out.error.as_deref(), Some("States.Runtime"));

    // Fail reads its error and cause from the input with ErrorPath / CausePath.
    let (exec, _, _) =
        setup(r#"{"StartAt": "F", "States": {"F": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "$.c"}}}"#, echo);
    let out = run(&exec, "n3", json!({"e": "E1", "c": "C1"})).await;
    assert_eq!((out.error.as_deref(), out.cause.as_deref()), (Some("E1"), Some("C1")));
}

#[tokio::test]
async fn wait_seconds_path_timestamp_and_scaled_sleep() {
    let (exec, _, _) = setup(
        r#"{"StartAt": "W", "States": {
            "W": {"Type": "Wait", "SecondsPath": "$.delay_seconds", "Next": "W2"},
            "W2": {"Type": "Wait", "TimestampPath": "$.until", "Next": "W3"},
            "W3": {"Type": "Wait", "Timestamp": "2000-01-01T00:00:00Z", "End": true}}}"#,
        echo,
    );
    let input = json!({"delay_seconds": 3600, "until": "2999-01-01T00:00:00Z"});
    let out = run(&exec, "w1", input.clone()).await;
    assert_eq!(succeeded(&out), &input);
    let waits: Vec<f64> = exec
        .history("w1")
        .unwrap()
        .iter()
        .filter(|e| e.event_type == HistoryEventType::WaitStateEntered)
        .map(|e| e.details["seconds"].as_f64().unwrap())
        .collect();
    assert_eq!(waits.len(), 3);
    assert_eq!(waits[0], 3600.0);
    assert!(waits[1] > 1.0e9);
    assert_eq!(waits[2], 0.0);

    let out = run(&exec, "w2", json!({"delay_seconds": "soon", "until": "x"})).await;
    assert_eq!(out.error.as_deref(), Some("States.Runtime"));

    // time_scale 0.001: 100 s really sleeps about 100 ms.
    let (tx, _rx) = mpsc::unbounded_channel();
    let rec = Arc::new(Recorder { behavior: Box::new(echo), calls: Mutex::new(Vec::new()), tokens: tx });
    let def = Definition::parse(r#"{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100, "End": true}}}"#)
        .unwrap();
    let exec = Executor::new(def, rec, ExecutorOptions { time_scale: 0.001, ..Default::default() });
    let started = Instant::now();
    run(&exec, "w3", json!({})).await;
    assert!(started.elapsed() >= Duration::from_millis(95), "{:?}", started.elapsed());
}

#[tokio::test]
async fn map_runs_each_item_with_item_selector() {
    let (exec, rec, _) = setup(
        r#"{"StartAt": "M", "States": {"M": {
            "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
            "ItemSelector": {"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index", "factor.$": "$.factor"},
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Mul", "States": {
                "Mul": {"Type": "Task", "Resource": "mul", "End": true}}},
            "ResultPath": "$.products", "End": true}}}"#,
        |_, input, _, _| {
            Ok(json!(
                input["value"].as_i64().unwrap() * input["factor"].as_i64().unwrap()
                    + input["index"].as_i64().unwrap() * 1000
            ))
        },
    );
    let out = run(&exec, "m1", json!({"items": [1, 2, 3, 4, 5], "factor": 10})).await;
    assert_eq!(succeeded(&out)["products"], json!([10, 1020, 2030, 3040, 4050]));
    assert_eq!(rec.calls().len(), 5);

    // Legacy Iterator form, no selector; one failing item fails the Map, and the
    // Map's Catch sees it.
    let (exec, _, _) = setup(
        r#"{"StartAt": "M", "States": {
            "M": {"Type": "Map", "Iterator": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true}}},
                  "Catch": [{"ErrorEquals": ["Bad"], "Next": "Handled"}], "End": true},
            "Handled": {"Type": "Pass", "Result": "handled", "End": true}}}"#,
        |_, input, _, _| {
            if input == &json!(2) {
                Err(TaskError::new("Bad", "item 2"))
            } else {
                Ok(input.clone())
            }
        },
    );
    let out = run(&exec, "m2", json!([1, 2, 3])).await;
    assert_eq!(succeeded(&out), &json!("handled"));
    let out = run(&exec, "m3", json!([1, 3])).await;
    assert_eq!(succeeded(&out), &json!([1, 3]));
    let out = run(&exec, "m4", json!({"not": "an array"})).await;
    assert_eq!(out.error.as_deref(), Some("States.Runtime"));
}

#[tokio::test]
async fn parallel_runs_branches_and_orders_results() {
    let (exec, _, _) = setup(
        r#"{"StartAt": "P", "States": {"P": {
            "Type": "Parallel",
            "Parameters": {"n.$": "$.n"},
            "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "double", "End": true}}},
                {"StartAt": "B", "States": {"B": {"Type": "Pass", "Parameters": {"b.$": "$.n"}, "Next": "B2"},
                                             "B2": {"Type": "Succeed"}}}
            ],
            "ResultSelector": {"doubled.$": "$[0]", "echoed.$": "$[1].b"},
            "ResultPath": "$.parallel",
            "End": true}}}"#,
        |_, input, _, _| Ok(json!(input["n"].as_i64().unwrap() * 2)),
    );
    let out = run(&exec, "p1", json!({"n": 21})).await;
    assert_eq!(succeeded(&out), &json!({"n": 21, "parallel": {"doubled": 42, "echoed": 21}}));

    let (exec, _, _) = setup(
        r#"{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
            "Retry": [{"ErrorEquals": ["BranchBroke"], "MaxAttempts": 1}],
            "Branches": [{"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "BranchBroke", "Cause": "b0"}}},
                         {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true}}}]}}}"#,
        echo,
    );
    let out = run(&exec, "p2", json!({})).await;
    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!((out.error.as_deref(), out.cause.as_deref()), (Some("BranchBroke"), Some("b0")));
}

const TOKEN_DEF: &str = r#"{"StartAt": "Pause", "States": {
    "Pause": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
              "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token", "run.$": "$.run"}},
              "ResultPath": "$.resume",
              "Catch": [{"ErrorEquals": ["Cancelled"], "ResultPath": "$.error", "Next": "Cancelled"}],
              "Next": "Done"},
    "Cancelled": {"Type": "Pass", "Result": "cancelled", "ResultPath": "$.outcome", "End": true},
    "Done": {"Type": "Succeed"}}}"#;

#[tokio::test]
async fn wait_for_task_token_success_from_another_task() {
    let (exec, rec, mut tokens) = setup(TOKEN_DEF, |_, _, _, _| Ok(json!({"StatusCode": 200})));
    let handle = exec.start_execution("t1", json!({"run": "r1"})).unwrap();
    let token = tokens.recv().await.unwrap();
    // Still waiting after the handler returned.
    tokio::task::yield_now().await;
    assert_eq!(exec.describe_execution("t1").unwrap().status, ExecutionStatus::Running);
    let other = exec.clone();
    let t = token.clone();
    tokio::spawn(async move { other.send_task_success(&t, json!({"resumed": true})).unwrap() }).await.unwrap();
    let out = handle.wait().await;
    assert_eq!(succeeded(&out), &json!({"run": "r1", "resume": {"resumed": true}}));
    let call = &rec.calls()[0];
    assert_eq!(call.1["Payload"]["token"], json!(token));
    assert_eq!(call.2.task_token.as_deref(), Some(token.as_str()));
    // The token is spent.
    assert_eq!(exec.send_task_success(&token, json!({})), Err(ExecutorError::TaskDoesNotExist(token.clone())));
}

#[tokio::test]
async fn wait_for_task_token_failure_goes_through_catch() {
    let (exec, _, mut tokens) = setup(TOKEN_DEF, |_, _, _, _| Ok(json!(null)));
    let handle = exec.start_execution("t2", json!({"run": "r2"})).unwrap();
    let token = tokens.recv().await.unwrap();
    let other = exec.clone();
    std::thread::spawn(move || other.send_task_failure(&token, "Cancelled", "user pressed cancel").unwrap())
        .join()
        .unwrap();
    let out = handle.wait().await;
    assert_eq!(
        succeeded(&out),
        &json!({"run": "r2", "error": {"Error": "Cancelled", "Cause": "user pressed cancel"}, "outcome": "cancelled"})
    );
}

#[tokio::test]
async fn heartbeat_and_task_timeouts_raise_states_timeout() {
    let def = r#"{"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "HeartbeatSeconds": 5, "TimeoutSeconds": 100, "End": true}}}"#;
    let (tx, mut tokens) = mpsc::unbounded_channel();
    let rec = Arc::new(Recorder { behavior: Box::new(echo), calls: Mutex::new(Vec::new()), tokens: tx });
    // 5 s heartbeat × 0.1 = 500 ms, renewed every 50 ms three times, then missed.
    let options = ExecutorOptions { time_scale: 0.0, timeout_scale: 0.1, ..Default::default() };
    let exec = Executor::new(Definition::parse(def).unwrap(), rec.clone(), options);
    let handle = exec.start_execution("h1", json!({})).unwrap();
    let token = tokens.recv().await.unwrap();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        exec.send_task_heartbeat(&token).unwrap();
    }
    assert_eq!(exec.describe_execution("h1").unwrap().status, ExecutionStatus::Running);
    let out = handle.wait().await;
    assert_eq!(out.status, ExecutionStatus::Failed);
    assert_eq!(out.error.as_deref(), Some("States.Timeout"));
    assert!(exec.history("h1").unwrap().iter().any(|e| e.event_type == HistoryEventType::TaskTimedOut));

    // TimeoutSeconds on a plain task whose handler is slow (30 s), retried once:
    // 5 s × 0.02 = 100 ms per attempt.
    let options = ExecutorOptions { time_scale: 0.0, timeout_scale: 0.02, ..Default::default() };
    let def = r#"{"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "slow", "TimeoutSeconds": 5, "End": true,
              "Retry": [{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 1}]}}}"#;
    let exec = Executor::new(Definition::parse(def).unwrap(), rec.clone(), options.clone());
    let out = run(&exec, "h2", json!({})).await;
    assert_eq!(out.error.as_deref(), Some("States.Timeout"));
    assert_eq!(rec.calls().iter().filter(|c| c.0 == "slow").count(), 2);

    // The machine's TimeoutSeconds closes the execution as TimedOut.
    let def =
        r#"{"TimeoutSeconds": 5, "StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "slow", "End": true}}}"#;
    let exec = Executor::new(Definition::parse(def).unwrap(), rec, options);
    let out = run(&exec, "h3", json!({})).await;
    assert_eq!(out.status, ExecutionStatus::TimedOut);
    assert_eq!(out.error.as_deref(), Some("States.Timeout"));
    assert_eq!(exec.history("h3").unwrap().last().unwrap().event_type, HistoryEventType::ExecutionTimedOut);
}

#[tokio::test]
async fn stop_execution_aborts_and_skips_catch() {
    let (exec, _, mut tokens) = setup(
        r#"{"StartAt": "Pause", "States": {
            "Pause": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "End": true,
                      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Cleanup"}]},
            "Cleanup": {"Type": "Task", "Resource": "cleanup", "End": true}}}"#,
        |_, _, _, _| Ok(json!({})),
    );
    let handle = exec.start_execution("s1", json!({})).unwrap();
    let token = tokens.recv().await.unwrap();
    let desc = exec.stop_execution("s1", "UserCancelled", "stopped by the user").unwrap();
    assert_eq!(desc.status, ExecutionStatus::Aborted);
    assert!(desc.stop_date.is_some());
    let out = handle.wait().await;
    assert_eq!(out.status, ExecutionStatus::Aborted);
    assert_eq!((out.error.as_deref(), out.cause.as_deref()), (Some("UserCancelled"), Some("stopped by the user")));
    assert!(exec.send_task_success(&token, json!({})).is_err());
    let hist = exec.history("s1").unwrap();
    assert!(!hist.iter().any(|e| e.state_name.as_deref() == Some("Cleanup")));
    assert_eq!(hist.last().unwrap().event_type, HistoryEventType::ExecutionAborted);
    // Stopping again changes nothing; unknown names are reported.
    assert_eq!(exec.stop_execution("s1", "Again", "").unwrap().error.as_deref(), Some("UserCancelled"));
    assert_eq!(exec.stop_execution("nope", "E", "C").unwrap_err(), ExecutorError::ExecutionDoesNotExist("nope".into()));
}

#[tokio::test]
async fn start_is_idempotent_by_name_and_input() {
    let (exec, _, mut tokens) = setup(
        r#"{"StartAt": "Pause", "States": {"Pause": {"Type": "Task", "Resource": "x.waitForTaskToken", "End": true}}}"#,
        |_, _, _, _| Ok(json!({})),
    );
    let first = exec.start_execution("run-1", json!({"run": 1})).unwrap();
    let again = exec.start_execution("run-1", json!({"run": 1})).unwrap();
    assert_eq!(first.execution_id(), again.execution_id());
    assert_eq!(
        exec.start_execution("run-1", json!({"run": 2})).unwrap_err(),
        ExecutorError::ExecutionAlreadyExists("run-1".into())
    );
    assert_eq!(exec.list_executions().len(), 1);
    let token = tokens.recv().await.unwrap();
    assert!(tokens.try_recv().is_err(), "the idempotent start must not run a second execution");
    exec.send_task_success(&token, json!("done")).unwrap();
    assert_eq!(succeeded(&again.wait().await), &json!("done"));
    // Closed: the name stays taken, as in Step Functions.
    assert_eq!(
        exec.start_execution("run-1", json!({"run": 1})).unwrap_err(),
        ExecutorError::ExecutionAlreadyExists("run-1".into())
    );
    assert!(matches!(exec.start_execution("", json!({})), Err(ExecutorError::InvalidName(_))));
}

#[tokio::test]
async fn history_records_events_in_order_with_links() {
    let (exec, _, _) = setup(
        r#"{"StartAt": "P", "States": {
            "P": {"Type": "Pass", "Next": "T"},
            "T": {"Type": "Task", "Resource": "r", "Next": "W"},
            "W": {"Type": "Wait", "Seconds": 1, "Next": "S"},
            "S": {"Type": "Succeed"}}}"#,
        echo,
    );
    run(&exec, "h", json!({"a": 1})).await;
    let hist = exec.history("h").unwrap();
    let kinds: Vec<(HistoryEventType, Option<&str>)> =
        hist.iter().map(|e| (e.event_type, e.state_name.as_deref())).collect();
    use HistoryEventType as H;
    assert_eq!(
        kinds,
        vec![
            (H::ExecutionStarted, None),
            (H::StateEntered, Some("P")),
            (H::StateExited, Some("P")),
            (H::StateEntered, Some("T")),
            (H::TaskScheduled, Some("T")),
            (H::TaskSucceeded, Some("T")),
            (H::StateExited, Some("T")),
            (H::StateEntered, Some("W")),
            (H::WaitStateEntered, Some("W")),
            (H::WaitStateExited, Some("W")),
            (H::StateExited, Some("W")),
            (H::StateEntered, Some("S")),
            (H::StateExited, Some("S")),
            (H::ExecutionSucceeded, None),
        ]
    );
    for (i, e) in hist.iter().enumerate() {
        assert_eq!(e.id, i as u64 + 1);
        assert_eq!(e.previous_event_id, i as u64);
        if i > 0 {
            assert!(e.timestamp >= hist[i - 1].timestamp);
        }
    }
    assert_eq!(hist[0].details["input"], json!({"a": 1}));
    assert_eq!(hist[4].details["resource"], json!("r"));
    let desc = exec.describe_execution("h").unwrap();
    assert_eq!(desc.status, ExecutionStatus::Succeeded);
    assert_eq!(desc.output, Some(json!({"a": 1})));
    assert_eq!(desc.input, json!({"a": 1}));
    assert_eq!(exec.wait_for_completion("h").await.unwrap().status, ExecutionStatus::Succeeded);
    assert!(exec.history("other").is_err());
}

#[tokio::test]
async fn automation_run_loop_routes_on_next_until_finalize() {
    // The shape of the automation state machine: one Choice reads `next` and sends the
    // execution to a stage Task, a delay, or finalize; each step processes one batch.
    let def = r#"{
      "Comment": "automation run",
      "StartAt": "Route",
      "States": {
        "Route": {"Type": "Choice", "Choices": [
            {"Variable": "$.next", "StringEquals": "stage_x", "Next": "StageX"},
            {"Variable": "$.next", "StringEquals": "delay", "Next": "Delay"},
            {"Variable": "$.next", "StringEquals": "finalize", "Next": "Finalize"}],
          "Default": "Unknown"},
        "StageX": {"Type": "Task", "Resource": "${StageFn}",
          "Parameters": {"run_id.$": "$$.Execution.Name", "remaining.$": "$.remaining"},
          "Retry": [{"ErrorEquals": ["RateLimited"], "IntervalSeconds": 5, "MaxAttempts": 4}],
          "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}],
          "Next": "Route"},
        "Delay": {"Type": "Wait", "SecondsPath": "$.delay_seconds", "Next": "StageX"},
        "Finalize": {"Type": "Task", "Resource": "finalize", "End": true},
        "RecordFailure": {"Type": "Task", "Resource": "fail", "Next": "Failed"},
        "Failed": {"Type": "Fail", "Error": "RunFailed"},
        "Unknown": {"Type": "Fail", "Error": "UnknownNext"}
      }}"#;
    let subs = std::collections::HashMap::from([("StageFn".to_string(), "stage".to_string())]);
    let definition = Definition::parse_with_substitutions(def, &subs).unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let rec = Arc::new(Recorder {
        behavior: Box::new(|resource, input, ctx, n| match resource {
            "stage" => {
                assert_eq!(input["run_id"], json!(ctx.execution_name));
                if n == 1 {
                    return Err(TaskError::new("RateLimited", "slow down"));
                }
                let remaining = input["remaining"].as_i64().unwrap_or(0) - 10;
                if remaining <= 0 {
                    Ok(json!({"next": "finalize"}))
                } else if remaining == 20 {
                    Ok(json!({"next": "delay", "remaining": remaining, "delay_seconds": 5}))
                } else {
                    Ok(json!({"next": "stage_x", "remaining": remaining}))
                }
            }
            "finalize" => Ok(json!({"status": "completed", "finalized_after": input})),
            other => Err(TaskError::new("Unexpected", other)),
        }),
        calls: Mutex::new(Vec::new()),
        tokens: tx,
    });
    let exec = Executor::new(definition, rec.clone(), ExecutorOptions { time_scale: 0.0, ..Default::default() });
    let out = run(&exec, "run-42", json!({"next": "stage_x", "remaining": 42})).await;
    assert_eq!(succeeded(&out), &json!({"status": "completed", "finalized_after": {"next": "finalize"}}));
    let resources: Vec<String> = rec.calls().into_iter().map(|c| c.0).collect();
    // 42 → 32 (then a rate-limit retry) → 22 → ... : stage calls until finalize.
    assert_eq!(resources.iter().filter(|r| *r == "stage").count(), 6);
    assert_eq!(resources.last().map(String::as_str), Some("finalize"));
    let remaining: Vec<Value> =
        rec.calls().iter().filter(|c| c.0 == "stage").map(|c| c.1["remaining"].clone()).collect();
    assert_eq!(remaining, vec![json!(42), json!(32), json!(32), json!(22), json!(12), json!(2)]);
    let waits = exec
        .history("run-42")
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == HistoryEventType::WaitStateEntered)
        .count();
    assert_eq!(waits, 0, "22 is not 20: no delay on this path");

    // A run whose remaining hits 20 takes the delay branch once.
    let out = run(&exec, "run-43", json!({"next": "stage_x", "remaining": 30})).await;
    assert_eq!(out.status, ExecutionStatus::Succeeded);
    let hist = exec.history("run-43").unwrap();
    assert!(hist
        .iter()
        .any(|e| e.event_type == HistoryEventType::WaitStateEntered && e.details["seconds"] == json!(5.0)));

    // An unknown `next` falls to Default.
    let out = run(&exec, "run-44", json!({"next": "bogus"})).await;
    assert_eq!(out.error.as_deref(), Some("UnknownNext"));
}
