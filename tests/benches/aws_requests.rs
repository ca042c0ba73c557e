//! Requests per stage item against the AWS adapters: a whole automation run of N
//! keywords (`IGNY8_BENCH_KEYWORDS=1000,10000`, default 1000; the lists of
//! `igny8_tests::bench_keywords`) on DynamoDB, S3 and SQS (moto), wired as `igny8 run --backend aws` is
//! (the local interpreter of the real state machine file runs the Task states), with
//! every SDK request counted by an interceptor and attributed to the function that
//! made it, and every item a DynamoDB read returned (GetItem, BatchGetItem, Query:
//! what read units grow with) counted from the responses. Prints requests and items
//! read per stage (and per function invocation) for the run, per stage item and per
//! 1,000 keywords. Run with `scripts/bench.sh` (it starts moto).
//!
//! Attribution is exact: Task states and image-worker batches never overlap, because
//! both take one gate before they run. The image worker is fed as Lambda's SQS event
//! source feeds it (ReceiveMessage of up to 10, then a delete of the handled ones);
//! those poller requests are Lambda's, made on an uncounted client and reported apart.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::config::interceptors::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_sdk_dynamodb::config::{ConfigBag, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::query::QueryOutput;
use igny8_ai::OfflineProvider;
use igny8_asl::{Definition, ExecutionStatus, Executor, ExecutorOptions, TaskContext, TaskError, TaskHandler};
use igny8_aws::config::{Intercept, SharedInterceptor};
use igny8_aws::{DynamoStore, S3Blobs, SqsQueue};
use igny8_core::automation::{handle, AutomationPorts, AutomationService, Function, IMAGE_MAX_RECEIVES};
use igny8_core::domain::{RunStatus, Stage};
use igny8_core::planner::KeywordImporter;
use igny8_core::ports::queue::Queue;
use igny8_core::ports::workflow::{Workflow, WorkflowError};
use igny8_core::ports::{ItemStore, SystemClock, UuidIds};
use igny8_core::Services;
use igny8_embedded::workflow::{local_substitutions, workflow_error, AUTOMATION_ASL};
use serde_json::Value;

/// Requests by (who, service, operation), and invocations by who.
#[derive(Debug, Default)]
struct Recorder {
    who: Mutex<String>,
    requests: Mutex<BTreeMap<(String, &'static str, String), u64>>,
    /// DynamoDB items returned by reads, by who.
    items_read: Mutex<BTreeMap<String, u64>>,
    invocations: Mutex<BTreeMap<String, u64>>,
}

impl Recorder {
    fn set(&self, who: &str) {
        *self.who.lock().expect("who") = who.to_owned();
    }
    fn invoked(&self, who: &str) {
        *self.invocations.lock().expect("invocations").entry(who.to_owned()).or_default() += 1;
    }
}

#[derive(Debug, Clone)]
struct Counting(Arc<Recorder>);

/// The service and operation of a request: DynamoDB and SQS (JSON protocols) name the
/// operation in `x-amz-target`; S3 is REST, so the operation follows from the method
/// and the path (path-style addressing against the emulator).
fn operation(method: &str, uri: &str, target: Option<&str>) -> (&'static str, String) {
    if let Some(target) = target {
        let (prefix, op) = target.split_once('.').unwrap_or(("?", target));
        let service = if prefix.starts_with("DynamoDB") {
            "DynamoDB"
        } else if prefix.starts_with("AmazonSQS") {
            "SQS"
        } else {
            "other"
        };
        return (service, op.to_owned());
    }
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let path = path.split_once("://").map_or(path, |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p));
    let is_object = path.trim_start_matches('/').contains('/');
    let op = match (method, is_object) {
        ("GET", false) if query.contains("list-type=2") => "ListObjectsV2",
        ("GET", false) => "ListObjects",
        ("GET", true) => "GetObject",
        ("PUT", true) => "PutObject",
        ("HEAD", true) => "HeadObject",
        ("DELETE", true) => "DeleteObject",
        ("PUT", false) => "CreateBucket",
        ("HEAD", false) => "HeadBucket",
        _ => "other",
    };
    ("S3", op.to_owned())
}

impl Intercept for Counting {
    fn name(&self) -> &'static str {
        "bench-aws-request-counter"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let req = ctx.request();
        let (service, op) = operation(req.method(), req.uri(), req.headers().get("x-amz-target"));
        let who = self.0.who.lock().expect("who").clone();
        *self.0.requests.lock().expect("requests").entry((who, service, op)).or_default() += 1;
        Ok(())
    }

    fn read_after_execution(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let Some(Ok(output)) = ctx.output_or_error() else { return Ok(()) };
        let items = if let Some(o) = output.downcast_ref::<GetItemOutput>() {
            u64::from(o.item().is_some())
        } else if let Some(o) = output.downcast_ref::<BatchGetItemOutput>() {
            o.responses().map_or(0, |r| r.values().map(|v| v.len() as u64).sum())
        } else if let Some(o) = output.downcast_ref::<QueryOutput>() {
            u64::try_from(o.count()).unwrap_or(0)
        } else {
            return Ok(());
        };
        let who = self.0.who.lock().expect("who").clone();
        *self.0.items_read.lock().expect("items read").entry(who).or_default() += items;
        Ok(())
    }
}

/// The Task states, as the automation's Lambdas: each invocation holds the gate and is
/// labelled with its function.
struct Tasks {
    service: OnceLock<AutomationService>,
    recorder: Arc<Recorder>,
    gate: Arc<tokio::sync::Mutex<()>>,
}

#[async_trait]
impl TaskHandler for Tasks {
    async fn invoke(&self, resource: &str, input: Value, _ctx: &TaskContext) -> Result<Value, TaskError> {
        let service = self.service.get().ok_or_else(|| TaskError::new("Bench.NotReady", "no service"))?;
        let (function, payload) = if resource.starts_with("arn:aws:states:::lambda:invoke") {
            let name = input.get("FunctionName").and_then(Value::as_str).unwrap_or_default().to_owned();
            (name, input.get("Payload").cloned().unwrap_or(Value::Null))
        } else {
            (resource.to_owned(), input)
        };
        let f =
            Function::from_name(&function).ok_or_else(|| TaskError::new("Bench.UnknownFunction", function.clone()))?;
        let _gate = self.gate.lock().await;
        self.recorder.set(f.name());
        self.recorder.invoked(f.name());
        let out = handle(service, f, payload).await.map_err(|e| TaskError::new(e.error_name(), e.to_string()));
        self.recorder.set("-");
        out
    }
}

/// The workflow port over the interpreter (what `LocalWorkflow` does, with our tasks).
struct Interpreter(Executor);

#[async_trait]
impl Workflow for Interpreter {
    async fn start_execution(&self, name: &str, input: Value) -> Result<(), WorkflowError> {
        self.0.start_execution(name, input).map(drop).map_err(workflow_error)
    }
    async fn stop_execution(&self, name: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.0.stop_execution(name, error, cause).map(drop).map_err(workflow_error)
    }
    async fn send_task_success(&self, token: &str, output: Value) -> Result<(), WorkflowError> {
        self.0.send_task_success(token, output).map_err(workflow_error)
    }
    async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.0.send_task_failure(token, error, cause).map_err(workflow_error)
    }
}

/// The stage each function's requests are billed to, and its items' name.
const ROWS: [(&str, &str, u8, &str); 10] = [
    ("start", "start (API / scheduler)", 0, "run"),
    ("stage-clusters", "1 keywords → clusters", 1, "keyword"),
    ("stage-ideas", "2 clusters → ideas", 2, "cluster"),
    ("stage-tasks", "3 ideas → tasks", 3, "idea"),
    ("stage-content", "4 tasks → articles", 4, "task"),
    ("stage-image-prompts", "5 articles → prompts", 5, "article"),
    ("stage-images", "6 queue image jobs", 6, "image"),
    ("image-worker", "6 image jobs", 6, "image"),
    ("run-finalize", "finalize", 0, "run"),
    ("run-pause", "pause wait", 0, "run"),
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Ok(endpoint) = std::env::var("IGNY8_TEST_DYNAMODB_ENDPOINT") else {
        println!("aws requests: skipped (IGNY8_TEST_DYNAMODB_ENDPOINT unset; scripts/bench.sh sets it)");
        return;
    };
    let sizes = std::env::var("IGNY8_BENCH_KEYWORDS").unwrap_or_else(|_| "1000".into());
    for n in sizes.split(',') {
        let n: usize = n.trim().replace('_', "").parse().expect("IGNY8_BENCH_KEYWORDS: keyword counts");
        one_run(&endpoint, n).await;
        println!();
    }
}

/// One run of `n` keywords on fresh resources, counted and printed.
async fn one_run(endpoint: &str, n: usize) {
    let endpoint = Some(endpoint);
    let tag = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let (table, bucket, queue_name, dlq) = (
        format!("bench-req-{tag}"),
        format!("bench-req-{tag}"),
        format!("bench-images-{tag}"),
        format!("bench-images-dlq-{tag}"),
    );

    // Resources, as `igny8 run --backend aws --endpoint` creates them (not counted).
    let store = DynamoStore::connect(endpoint, &table).await.expect("dynamodb");
    store.ensure_table().await.expect("table");
    let blobs = S3Blobs::connect(endpoint, &bucket).await.expect("s3");
    blobs.ensure_bucket().await.expect("bucket");
    let poller = SqsQueue::connect(endpoint).await.expect("sqs");
    poller.ensure_queue(&queue_name, Some((&dlq, IMAGE_MAX_RECEIVES + 1))).await.expect("queue");

    let recorder = Arc::new(Recorder::default());
    recorder.set("setup");
    let counting = SharedInterceptor::new(Counting(Arc::clone(&recorder)));
    let store: Arc<dyn ItemStore> = Arc::new(store.with_interceptor(counting.clone()));
    let queue = poller.clone().with_interceptor(counting.clone());
    let (clock, ids) = (Arc::new(SystemClock), Arc::new(UuidIds));
    let services = Services::with(Arc::clone(&store), clock.clone(), ids.clone());
    let ports = AutomationPorts {
        store: Arc::clone(&store),
        blobs: Arc::new(blobs.with_interceptor(counting)),
        queue: Arc::new(queue),
        ai: Arc::new(OfflineProvider::with_year(2026)),
        clock: clock.clone(),
        ids,
    };
    let service = AutomationService::new(ports, services.credits.clone());
    service.set_image_queue(queue_name.clone());
    let gate = Arc::new(tokio::sync::Mutex::new(()));
    let tasks = Arc::new(Tasks { service: OnceLock::new(), recorder: Arc::clone(&recorder), gate: Arc::clone(&gate) });
    let definition = Definition::parse_with_substitutions(AUTOMATION_ASL, &local_substitutions()).expect("definition");
    let executor =
        Executor::new(definition, tasks.clone(), ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() });
    service.set_workflow(Arc::new(Interpreter(executor.clone())));
    let _ = tasks.service.set(service.clone());

    let keywords = igny8_tests::bench_keywords(n);
    let (account, _) = services.account_service.create_account("bench", 1_000_000_000).await.expect("account");
    let site = services.account_service.create_site(&account.id, "Bench", "bench.example.com").await.expect("site");
    recorder.set("import");
    KeywordImporter::new(Arc::clone(&store), clock).import(&account.id, &site.id, &keywords).await.expect("import");

    let started = Instant::now();
    let run = {
        let _gate = gate.lock().await;
        recorder.set("start");
        recorder.invoked("start");
        let run = service.start(&account.id, &site.id, "manual").await.expect("start");
        recorder.set("-");
        run
    };

    let mut watched = run.id.as_str().to_owned();
    // Lambda's SQS event source: poll, invoke the worker with up to 10, delete the rest.
    let (mut polls, mut deletes) = (0u64, 0u64);
    loop {
        polls += 1;
        let messages = poller.receive(&queue_name, 10, Duration::from_secs(60)).await.expect("receive");
        if !messages.is_empty() {
            let failed = {
                let _gate = gate.lock().await;
                recorder.set("image-worker");
                recorder.invoked("image-worker");
                let failed = service.image_jobs(&messages).await;
                recorder.set("-");
                failed
            };
            let done: Vec<_> = messages.iter().filter(|m| !failed.contains(&m.id)).collect();
            deletes += (done.len() as u64).div_ceil(10); // DeleteMessageBatch of up to 10
            for m in done {
                poller.delete(&queue_name, &m.receipt).await.expect("delete");
            }
            continue;
        }
        let execution = executor.describe_execution(&watched).expect("describe");
        if execution.status != ExecutionStatus::Running {
            // A long run continues in a new execution: follow it until the run ends.
            recorder.set("watch");
            let now = service.run(&account.id, &run.id).await.expect("run");
            if now.current_execution() != watched {
                watched = now.current_execution();
                continue;
            }
            if execution.status != ExecutionStatus::Succeeded || now.status != RunStatus::Completed {
                panic!(
                    "the run did not end well: execution {watched} {:?} ({}: {}); run {:?}: {}",
                    execution.status,
                    execution.error.unwrap_or_default(),
                    execution.cause.unwrap_or_default(),
                    now.status,
                    now.error.unwrap_or_default()
                );
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    recorder.set("summary");
    let run = service.run(&account.id, &run.id).await.expect("run");
    let summary = service.summary(&account.id, &run.id).await.expect("summary");

    let items = |stage: u8| -> u64 {
        match stage {
            0 => 1,
            s => run.stages.get(&s).map_or(0, |r| r.processed),
        }
    };
    let requests = recorder.requests.lock().expect("requests").clone();
    let invocations = recorder.invocations.lock().expect("invocations").clone();
    let per_k = 1000.0 / keywords.len() as f64;
    println!(
        "AWS adapters on moto: one run of {} keywords, {:.1} s (moto, serialised)",
        keywords.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "  produced {} clusters, {} ideas, {} tasks, {} articles, {} images, {} credits, status {:?}",
        summary.clusters,
        summary.ideas,
        summary.tasks,
        summary.articles,
        summary.images,
        summary.credits_used,
        summary.status
    );
    println!();
    println!(
        "{:<26} {:>5} {:>6} {:>8} {:>6} {:>6} {:>7} {:>9} {:>10}",
        "function", "calls", "items", "DynamoDB", "S3", "SQS", "total", "per item", "per 1k kw"
    );
    let items_read = recorder.items_read.lock().expect("items read").clone();
    let mut total = 0u64;
    for (who, label, stage, _unit) in ROWS {
        let by = |service: &str| -> u64 {
            requests.iter().filter(|((w, s, _), _)| w == who && *s == service).map(|(_, n)| n).sum()
        };
        let (d, s, q) = (by("DynamoDB"), by("S3"), by("SQS"));
        let all = d + s + q;
        let calls = invocations.get(who).copied().unwrap_or(0);
        if calls == 0 && all == 0 {
            continue;
        }
        total += all;
        let n = items(stage).max(1);
        println!(
            "{:<26} {:>5} {:>6} {:>8} {:>6} {:>6} {:>7} {:>9.2} {:>10.0}",
            label,
            calls,
            n,
            d,
            s,
            q,
            all,
            all as f64 / n as f64,
            all as f64 * per_k
        );
    }
    println!(
        "{:<26} {:>5} {:>6} {:>8} {:>6} {:>6} {:>7} {:>9} {:>10.0}",
        "whole run",
        "",
        "",
        "",
        "",
        "",
        total,
        "",
        total as f64 * per_k
    );
    println!("  + Lambda's SQS poller (not the functions'): {polls} ReceiveMessage here (idle polls included), {deletes} DeleteMessageBatch");
    println!();
    println!("DynamoDB items read (GetItem, BatchGetItem, Query results; what read units follow):");
    let mut read_total = 0u64;
    for (who, label, stage, unit) in ROWS {
        let Some(read) = items_read.get(who).copied() else { continue };
        read_total += read;
        let n = items(stage).max(1) as f64;
        println!("  {label:<26} {read:>8}  {:>7.2}/{unit}  {:>8.0} per 1k kw", read as f64 / n, read as f64 * per_k);
    }
    println!("  {:<26} {read_total:>8}  {:>16.0} per 1k kw", "whole run", read_total as f64 * per_k);
    println!();
    println!("by operation (requests per item of the function's stage):");
    for (who, label, stage, unit) in ROWS {
        let ops: Vec<_> = requests.iter().filter(|((w, _, _), _)| w == who).collect();
        if ops.is_empty() {
            continue;
        }
        let n = items(stage).max(1) as f64;
        let list: Vec<String> =
            ops.iter().map(|((_, s, op), c)| format!("{s} {op} {c} ({:.2}/{unit})", **c as f64 / n)).collect();
        println!("  {label}: {}", list.join(", "));
    }
    for (who, note) in [("setup", "account and site"), ("import", "keyword import"), ("watch", "the bench's run reads")]
    {
        let n: u64 = requests.iter().filter(|((w, _, _), _)| w == who).map(|(_, n)| n).sum();
        println!("  (not in the run: {note} {n} requests)");
    }
    let stray: u64 = requests.iter().filter(|((w, _, _), _)| w == "-").map(|(_, n)| n).sum();
    assert_eq!(stray, 0, "every request of the run is attributed to a function");
    assert!(Stage::ALL.iter().all(|s| run.stages.contains_key(&s.number())), "every stage ran");
}
