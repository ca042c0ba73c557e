//! Contracts of the blob-store, queue and workflow ports, each run against the
//! embedded adapter and the AWS adapter on the moto emulator:
//! `blob_local::*` / `blob_s3::*`, `queue_local::*` / `queue_sqs::*`,
//! `workflow_local::*` / `workflow_sfn::*`.
//!
//! Known emulator gaps, asserted on the embedded adapter only:
//! * SQS (real and moto) accepts a DeleteMessage / ChangeMessageVisibility with an
//!   older receipt of a redelivered message, so only the SQLite queue can promise
//!   `StaleReceipt` there.
//! * moto cannot run Rust Lambdas, so task tokens are only checked as unknown tokens.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use igny8_asl::{Definition, Executor, ExecutorOptions, TaskContext, TaskHandler};
use igny8_aws::{S3Blobs, SfnWorkflow, SqsQueue};
use igny8_core::ports::workflow::{Workflow, WorkflowError};
use igny8_core::ports::{BlobError, BlobInfo, BlobStore, Queue, QueueError, QueueMessage, SystemClock};
use igny8_embedded::{BlobDir, SqliteQueue};
use igny8_tests::{emulator_endpoint, enable_moto_step_functions, fetch_link, unique_name};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------

/// Which adapter family a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Local,
    Aws,
}

/// Declares each `async fn(Kind)` as a test in `$local` (embedded adapter) and `$aws`
/// (AWS adapter on moto).
macro_rules! dual_suite {
    ($local:ident, $aws:ident; $($name:ident),* $(,)?) => {
        mod $local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Kind::Local).await;
                }
            )*
        }
        mod $aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Kind::Aws).await;
                }
            )*
        }
    };
}

dual_suite!(blob_local, blob_s3;
    put_get_overwrite,
    list_by_prefix_is_sorted_with_sizes,
    presigned_link_reads_an_existing_object_only,
    presigned_upload_link_writes_the_object,
    invalid_keys_are_refused,
);

dual_suite!(queue_local, queue_sqs;
    send_receive_delete,
    redelivery_counts_receives_and_staleness,
    zero_visibility_hands_a_message_back,
    dead_letter_after_max_receives,
    oversized_and_malformed_requests_are_refused,
);

dual_suite!(workflow_local, workflow_sfn;
    start_is_idempotent_for_the_same_input_only,
    stop_aborts_a_running_execution,
    describe_reports_status_and_output,
    unknown_task_tokens_are_invalid,
);

/// A blob store and the temporary folder it may live in.
struct Blobs {
    store: Arc<dyn BlobStore>,
    _dir: Option<tempfile::TempDir>,
}

async fn blobs(kind: Kind) -> Blobs {
    match kind {
        Kind::Local => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = BlobDir::open(dir.path().join("blobs")).expect("open blob dir");
            Blobs { store: Arc::new(store), _dir: Some(dir) }
        }
        Kind::Aws => {
            let store =
                S3Blobs::connect(Some(&emulator_endpoint()), &unique_name("b")).await.expect("connect to S3 emulator");
            store.ensure_bucket().await.expect("create bucket");
            store.ensure_bucket().await.expect("ensure_bucket is idempotent");
            Blobs { store: Arc::new(store), _dir: None }
        }
    }
}

/// Dead-letter threshold of every queue under test.
const MAX_RECEIVES: u32 = 2;

/// A queue with a dead-letter queue, both with fresh names.
struct Queues {
    queue: Arc<dyn Queue>,
    name: String,
    dlq: String,
    kind: Kind,
    _dir: Option<tempfile::TempDir>,
}

async fn queues(kind: Kind) -> Queues {
    let (name, dlq) = (unique_name("q"), unique_name("dlq"));
    match kind {
        Kind::Local => {
            let dir = tempfile::tempdir().expect("temp dir");
            let queue = SqliteQueue::open(dir.path().join("queue.sqlite"), Arc::new(SystemClock))
                .expect("open sqlite queue")
                .with_redrive(&name, &dlq, MAX_RECEIVES);
            Queues { queue: Arc::new(queue), name, dlq, kind, _dir: Some(dir) }
        }
        Kind::Aws => {
            let queue = SqsQueue::connect(Some(&emulator_endpoint())).await.expect("connect to SQS emulator");
            queue.ensure_queue(&name, Some((&dlq, MAX_RECEIVES))).await.expect("create queues");
            queue.ensure_queue(&name, Some((&dlq, MAX_RECEIVES))).await.expect("ensure_queue is idempotent");
            Queues { queue: Arc::new(queue), name, dlq, kind, _dir: None }
        }
    }
}

/// Receives until `want` messages arrived or 5 s passed (SQS may hand out fewer
/// messages per call than are visible).
async fn receive_n(q: &dyn Queue, name: &str, want: usize, visibility: Duration) -> Vec<QueueMessage> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        got.extend(q.receive(name, (want - got.len()).min(10), visibility).await.expect("receive"));
    }
    got
}

/// A state machine that records a Pass and then waits five minutes: long enough to
/// stay RUNNING for the whole test.
const WAITING_ASL: &str = r#"{
  "StartAt": "Prepare",
  "States": {
    "Prepare": {"Type": "Pass", "Result": {"stage": 1}, "ResultPath": "$.prepared", "Next": "Hold"},
    "Hold": {"Type": "Wait", "Seconds": 300, "End": true}
  }
}"#;

/// A state machine that succeeds at once with a fixed output.
const QUICK_ASL: &str = r#"{
  "StartAt": "Done",
  "States": {"Done": {"Type": "Pass", "Result": {"done": true}, "End": true}}
}"#;

/// Runs no Task state (the definitions here have none); required by the interpreter.
struct NoTasks;

#[async_trait]
impl TaskHandler for NoTasks {
    async fn invoke(&self, _resource: &str, input: Value, _ctx: &TaskContext) -> Result<Value, igny8_asl::TaskError> {
        Ok(input)
    }
}

/// The workflow port over a bare interpreter, with the same error mapping as
/// `local::workflow::LocalWorkflow` (which only loads the automation definition).
struct ExecutorPort(Executor);

fn mapped(e: igny8_asl::ExecutorError) -> WorkflowError {
    use igny8_asl::ExecutorError as E;
    match e {
        E::ExecutionAlreadyExists(n) => WorkflowError::AlreadyExists(n),
        E::ExecutionDoesNotExist(n) => WorkflowError::NotFound(n),
        E::TaskDoesNotExist(_) => WorkflowError::InvalidToken,
        other => WorkflowError::Backend(other.to_string()),
    }
}

#[async_trait]
impl Workflow for ExecutorPort {
    async fn start_execution(&self, name: &str, input: Value) -> Result<(), WorkflowError> {
        self.0.start_execution(name, input).map(drop).map_err(mapped)
    }
    async fn stop_execution(&self, name: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.0.stop_execution(name, error, cause).map(drop).map_err(mapped)
    }
    async fn send_task_success(&self, token: &str, output: Value) -> Result<(), WorkflowError> {
        self.0.send_task_success(token, output).map_err(mapped)
    }
    async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<(), WorkflowError> {
        self.0.send_task_failure(token, error, cause).map_err(mapped)
    }
}

/// A workflow engine running one definition.
enum Engine {
    Local(Arc<ExecutorPort>),
    Sfn(SfnWorkflow),
}

impl Engine {
    async fn new(kind: Kind, asl: &str) -> Self {
        match kind {
            Kind::Local => {
                let definition = Definition::parse(asl).expect("definition");
                // Real time: the Wait state must keep the execution RUNNING.
                let options = ExecutorOptions { time_scale: 1.0, ..ExecutorOptions::default() };
                Engine::Local(Arc::new(ExecutorPort(Executor::new(definition, Arc::new(NoTasks), options))))
            }
            Kind::Aws => {
                let endpoint = emulator_endpoint();
                enable_moto_step_functions(&endpoint).await;
                let client = SfnWorkflow::connect(Some(&endpoint), "").await.expect("connect to SFN emulator");
                let arn = client
                    .create_state_machine(&unique_name("sm"), asl, "arn:aws:iam::123456789012:role/igny8-test")
                    .await
                    .expect("create state machine");
                Engine::Sfn(client.with_state_machine(arn))
            }
        }
    }

    fn port(&self) -> Arc<dyn Workflow> {
        match self {
            Engine::Local(p) => p.clone(),
            Engine::Sfn(w) => Arc::new(w.clone()),
        }
    }

    async fn describe(&self, name: &str) -> Result<(String, Option<Value>), WorkflowError> {
        match self {
            Engine::Local(p) => {
                let d = p.0.describe_execution(name).map_err(mapped)?;
                Ok((d.status.as_str().to_owned(), d.output))
            }
            Engine::Sfn(w) => w.describe(name).await,
        }
    }

    /// Polls until the execution leaves RUNNING (at most 20 s).
    async fn settle(&self, name: &str) -> (String, Option<Value>) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let state = self.describe(name).await.expect("describe");
            if state.0 != "RUNNING" || Instant::now() > deadline {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

// ---------------------------------------------------------------------------------
// Blob store
// ---------------------------------------------------------------------------------

async fn put_get_overwrite(kind: Kind) {
    let b = blobs(kind).await;
    let s = &b.store;
    s.put("sites/1/a.txt", b"first".to_vec(), "text/plain").await.expect("put");
    assert_eq!(s.get("sites/1/a.txt").await.expect("get"), Some(b"first".to_vec()));
    s.put("sites/1/a.txt", b"second, longer".to_vec(), "text/plain").await.expect("overwrite");
    assert_eq!(s.get("sites/1/a.txt").await.expect("get"), Some(b"second, longer".to_vec()));
    let binary: Vec<u8> = (0..=255).collect();
    s.put("img.png", binary.clone(), "image/png").await.expect("put binary");
    assert_eq!(s.get("img.png").await.expect("get"), Some(binary));
    s.put("empty", Vec::new(), "application/octet-stream").await.expect("put empty");
    assert_eq!(s.get("empty").await.expect("get"), Some(Vec::new()));
    assert_eq!(s.get("sites/1/missing.txt").await.expect("get missing"), None);
    assert_eq!(s.get("nowhere/at/all").await.expect("get missing"), None);
}

async fn list_by_prefix_is_sorted_with_sizes(kind: Kind) {
    let b = blobs(kind).await;
    let s = &b.store;
    for (key, len) in [("img/b.png", 2), ("img/sub/c.png", 3), ("imgx", 4), ("doc/x.txt", 5), ("img/a.png", 1)] {
        s.put(key, vec![7; len], "application/octet-stream").await.expect("put");
    }
    let info = |key: &str, size: u64| BlobInfo { key: key.to_owned(), size };
    assert_eq!(
        s.list("img/").await.expect("list"),
        vec![info("img/a.png", 1), info("img/b.png", 2), info("img/sub/c.png", 3)]
    );
    assert_eq!(
        s.list("img").await.expect("list"),
        vec![info("img/a.png", 1), info("img/b.png", 2), info("img/sub/c.png", 3), info("imgx", 4)]
    );
    assert_eq!(s.list("img/s").await.expect("list"), vec![info("img/sub/c.png", 3)]);
    let all: Vec<String> = s.list("").await.expect("list all").into_iter().map(|i| i.key).collect();
    assert_eq!(all, ["doc/x.txt", "img/a.png", "img/b.png", "img/sub/c.png", "imgx"]);
    assert_eq!(s.list("nothing/").await.expect("list"), vec![]);
}

async fn presigned_link_reads_an_existing_object_only(kind: Kind) {
    let b = blobs(kind).await;
    let s = &b.store;
    s.put("exports/report.csv", b"a,b\n1,2\n".to_vec(), "text/csv").await.expect("put");
    let url = s.presigned_get("exports/report.csv", Duration::from_secs(300)).await.expect("presign");
    assert_eq!(fetch_link(&url).await, b"a,b\n1,2\n".to_vec());
    match s.presigned_get("exports/missing.csv", Duration::from_secs(300)).await {
        Err(BlobError::NotFound(key)) => assert_eq!(key, "exports/missing.csv"),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// One HTTP/1.1 PUT of `body` with a content type to an `http://` URL; the status.
fn put_to_link(url: &str, content_type: &str, body: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http:// link");
    let (host, path) = rest.split_at(rest.find('/').expect("a path"));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read reply");
    reply.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status")
}

async fn presigned_upload_link_writes_the_object(kind: Kind) {
    let b = blobs(kind).await;
    let s = &b.store;
    let link = s.presigned_put("imports/big.csv", "text/csv", Duration::from_secs(300)).await.expect("presign put");
    match kind {
        // A folder serves no HTTP: the API receives the upload and puts it.
        Kind::Local => assert_eq!(link, None),
        Kind::Aws => {
            let url = link.expect("an S3 upload link");
            assert!(url.contains("imports/big.csv") && url.contains("X-Amz-Signature="), "{url}");
            let body = "Keyword\tVolume\nrain boots\t10\n".repeat(1000).into_bytes();
            let status = tokio::task::spawn_blocking({
                let body = body.clone();
                move || put_to_link(&url, "text/csv", &body)
            })
            .await
            .expect("put");
            assert_eq!(status, 200);
            assert_eq!(s.get("imports/big.csv").await.expect("get"), Some(body));
        }
    }
    assert!(matches!(
        s.presigned_put("../escape.csv", "text/csv", Duration::from_secs(60)).await,
        Err(BlobError::InvalidKey { .. })
    ));
}

async fn invalid_keys_are_refused(kind: Kind) {
    let b = blobs(kind).await;
    let s = &b.store;
    for key in ["", "/abs", "../x", "a/../b", "a//b", "a/", "a\\b", "a\nb"] {
        let refused = |r: Result<(), BlobError>| matches!(r, Err(BlobError::InvalidKey { .. }));
        assert!(refused(s.put(key, b"x".to_vec(), "text/plain").await), "put {key:?}");
        assert!(refused(s.get(key).await.map(drop)), "get {key:?}");
        assert!(refused(s.presigned_get(key, Duration::from_secs(60)).await.map(drop)), "presign {key:?}");
    }
    for prefix in ["/", "../", "a//"] {
        assert!(matches!(s.list(prefix).await, Err(BlobError::InvalidKey { .. })), "list {prefix:?}");
    }
    assert_eq!(s.list("").await.expect("list"), vec![], "nothing was written");
}

// ---------------------------------------------------------------------------------
// Queue
// ---------------------------------------------------------------------------------

const LONG: Duration = Duration::from_secs(60);

async fn send_receive_delete(kind: Kind) {
    let q = queues(kind).await;
    let bodies: Vec<String> = (0..3).map(|i| format!("job {i}")).collect();
    let ids = q.queue.send_batch(&q.name, bodies.clone()).await.expect("send");
    assert_eq!(ids.len(), 3);
    assert_eq!(ids.iter().collect::<std::collections::HashSet<_>>().len(), 3, "ids are distinct");

    let mut got = receive_n(q.queue.as_ref(), &q.name, 3, LONG).await;
    got.sort_by(|a, b| a.body.cmp(&b.body));
    assert_eq!(got.iter().map(|m| m.body.clone()).collect::<Vec<_>>(), bodies);
    for (m, id) in got.iter().zip(&ids) {
        assert_eq!(&m.id, id, "the id send_batch returned, in order");
        assert_eq!(m.receive_count, 1);
    }
    assert!(q.queue.receive(&q.name, 10, LONG).await.expect("receive").is_empty(), "all hidden");
    for m in &got {
        q.queue.delete(&q.name, &m.receipt).await.expect("delete");
    }
    // A deleted message's receipt is stale everywhere (SQS: ReceiptHandleIsInvalid).
    assert!(matches!(
        q.queue.change_visibility(&q.name, &got[0].receipt, Duration::ZERO).await,
        Err(QueueError::StaleReceipt)
    ));
    assert!(q.queue.receive(&q.name, 10, Duration::ZERO).await.expect("receive").is_empty(), "all deleted");
}

async fn redelivery_counts_receives_and_staleness(kind: Kind) {
    let q = queues(kind).await;
    let ids = q.queue.send_batch(&q.name, vec!["slow".into()]).await.expect("send");
    let first = q.queue.receive(&q.name, 1, Duration::from_secs(1)).await.expect("receive");
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].id.as_str(), first[0].receive_count), (ids[0].as_str(), 1));
    assert!(q.queue.receive(&q.name, 1, LONG).await.expect("receive").is_empty(), "hidden for 1 s");

    // SQS visibility runs on the wall clock (moto's too): really wait it out.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let second = receive_n(q.queue.as_ref(), &q.name, 1, LONG).await;
    assert_eq!(second.len(), 1, "visible again after its timeout");
    assert_eq!((second[0].id.as_str(), second[0].receive_count), (ids[0].as_str(), 2));
    assert_ne!(second[0].receipt, first[0].receipt, "each delivery has its own receipt");

    if q.kind == Kind::Local {
        // SQS and moto accept an older receipt of a redelivered message (and SQS may
        // then delete it or not), so only the embedded queue can promise this.
        assert!(matches!(q.queue.delete(&q.name, &first[0].receipt).await, Err(QueueError::StaleReceipt)));
        assert!(matches!(
            q.queue.change_visibility(&q.name, &first[0].receipt, Duration::ZERO).await,
            Err(QueueError::StaleReceipt)
        ));
    }
    q.queue.delete(&q.name, &second[0].receipt).await.expect("delete with the current receipt");
    assert!(q.queue.receive(&q.name, 10, Duration::ZERO).await.expect("receive").is_empty());
}

async fn zero_visibility_hands_a_message_back(kind: Kind) {
    let q = queues(kind).await;
    let ids = q.queue.send_batch(&q.name, vec!["retry me".into()]).await.expect("send");
    let got = q.queue.receive(&q.name, 1, LONG).await.expect("receive");
    assert_eq!(got.len(), 1);
    assert!(q.queue.receive(&q.name, 1, LONG).await.expect("receive").is_empty());
    q.queue.change_visibility(&q.name, &got[0].receipt, Duration::ZERO).await.expect("hand back");
    let again = receive_n(q.queue.as_ref(), &q.name, 1, LONG).await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id.as_str(), again[0].receive_count), (ids[0].as_str(), 2));
    q.queue.change_visibility(&q.name, &again[0].receipt, LONG).await.expect("extend");
    q.queue.delete(&q.name, &again[0].receipt).await.expect("delete");
}

async fn dead_letter_after_max_receives(kind: Kind) {
    let q = queues(kind).await;
    let ids = q.queue.send_batch(&q.name, vec!["poison".into()]).await.expect("send");
    for n in 1..=MAX_RECEIVES {
        // Visibility zero: the message is visible again at once, as if every handler failed.
        let got = q.queue.receive(&q.name, 1, Duration::ZERO).await.expect("receive");
        assert_eq!(got.len(), 1, "delivery {n}");
        assert_eq!((got[0].id.as_str(), got[0].receive_count), (ids[0].as_str(), n));
    }
    assert!(
        q.queue.receive(&q.name, 10, LONG).await.expect("receive").is_empty(),
        "received {MAX_RECEIVES} times: moved to the dead-letter queue, not delivered"
    );
    let dead = receive_n(q.queue.as_ref(), &q.dlq, 1, LONG).await;
    assert_eq!(dead.len(), 1, "on the dead-letter queue");
    assert_eq!((dead[0].id.as_str(), dead[0].body.as_str()), (ids[0].as_str(), "poison"));
    q.queue.delete(&q.dlq, &dead[0].receipt).await.expect("delete from the dead-letter queue");
}

async fn oversized_and_malformed_requests_are_refused(kind: Kind) {
    let q = queues(kind).await;
    let invalid = |r: Result<Vec<String>, QueueError>| matches!(r, Err(QueueError::Invalid(_)));
    let eleven: Vec<String> = (0..11).map(|i| i.to_string()).collect();
    assert!(invalid(q.queue.send_batch(&q.name, eleven).await), "batch of 11");
    assert!(invalid(q.queue.send_batch(&q.name, vec![]).await), "empty batch");
    assert!(invalid(q.queue.send_batch(&q.name, vec!["ok".into(), String::new()]).await), "empty body");
    assert!(invalid(q.queue.send_batch(&q.name, vec!["x".repeat(256 * 1024 + 1)]).await), "oversized body");
    assert!(invalid(q.queue.send_batch("bad name!", vec!["x".into()]).await), "queue name");
    assert!(matches!(q.queue.receive(&q.name, 11, LONG).await, Err(QueueError::Invalid(_))));
    assert!(matches!(q.queue.receive(&q.name, 0, LONG).await, Err(QueueError::Invalid(_))));
    assert!(matches!(
        q.queue.receive(&q.name, 1, Duration::from_secs(12 * 3600 + 1)).await,
        Err(QueueError::Invalid(_))
    ));
    assert!(q.queue.receive(&q.name, 10, Duration::ZERO).await.expect("receive").is_empty(), "nothing was sent");
    let ten: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    assert_eq!(q.queue.send_batch(&q.name, ten).await.expect("a batch of 10 is fine").len(), 10);
}

// ---------------------------------------------------------------------------------
// Workflow
// ---------------------------------------------------------------------------------

async fn start_is_idempotent_for_the_same_input_only(kind: Kind) {
    let engine = Engine::new(kind, WAITING_ASL).await;
    let wf = engine.port();
    let run = unique_name("run");
    wf.start_execution(&run, json!({"run": run, "n": 1})).await.expect("start");
    wf.start_execution(&run, json!({"n": 1, "run": run})).await.expect("same input again is fine");
    assert_eq!(
        wf.start_execution(&run, json!({"run": run, "n": 2})).await,
        Err(WorkflowError::AlreadyExists(run.clone()))
    );
    assert_eq!(engine.describe(&run).await.expect("describe").0, "RUNNING");
    wf.stop_execution(&run, "Test.Cleanup", "test over").await.expect("stop");
}

async fn stop_aborts_a_running_execution(kind: Kind) {
    let engine = Engine::new(kind, WAITING_ASL).await;
    let wf = engine.port();
    let run = unique_name("run");
    wf.start_execution(&run, json!({"run": run})).await.expect("start");
    wf.stop_execution(&run, "Automation.Cancelled", "cancelled by the user").await.expect("stop");
    let (status, output) = engine.settle(&run).await;
    assert_eq!((status.as_str(), output), ("ABORTED", None));
    let missing = unique_name("missing");
    assert_eq!(wf.stop_execution(&missing, "E", "c").await, Err(WorkflowError::NotFound(missing.clone())));
    assert_eq!(engine.describe(&missing).await, Err(WorkflowError::NotFound(missing.clone())));
}

async fn describe_reports_status_and_output(kind: Kind) {
    let engine = Engine::new(kind, QUICK_ASL).await;
    let wf = engine.port();
    let run = unique_name("run");
    wf.start_execution(&run, json!({"run": run})).await.expect("start");
    let (status, output) = engine.settle(&run).await;
    assert_eq!(status, "SUCCEEDED");
    assert_eq!(output, Some(json!({"done": true})));
}

async fn unknown_task_tokens_are_invalid(kind: Kind) {
    let engine = Engine::new(kind, WAITING_ASL).await;
    let wf = engine.port();
    let run = unique_name("run");
    wf.start_execution(&run, json!({})).await.expect("start");
    assert_eq!(wf.send_task_success("no-such-token", json!({"ok": true})).await, Err(WorkflowError::InvalidToken));
    assert_eq!(wf.send_task_failure("no-such-token", "Stage.Failed", "boom").await, Err(WorkflowError::InvalidToken));
    wf.stop_execution(&run, "Test.Cleanup", "test over").await.expect("stop");
}
