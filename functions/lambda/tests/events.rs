//! The Lambda handlers fed with the JSON event fixtures (tests/fixtures/events), through
//! the same typed path the runtime takes: each fixture is deserialized into its
//! `aws_lambda_events` type (or, for Step Functions tasks, our JSON input), handed to the
//! edge's handler, and the typed answer is checked, on the embedded adapters.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use igny8_ai::OfflineProvider;
use igny8_asl::ExecutorOptions;
use igny8_core::automation::{handle, CleanupOutcome, Function};
use igny8_core::domain::{AccountId, Frequency, ImageId, RunStatus, Schedule, SiteId, Stage};
use igny8_core::planner::parse_keywords_csv;
use igny8_core::ports::{Clock, ManualClock, SystemClock, UuidIds};
use igny8_lambda::events::{self, ExecutionStatusChangeEvent, ScheduledEvent};
use igny8_wiring::embedded::LocalRuntime;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A fixture with its `{{name}}` placeholders filled, as the given event type.
fn fixture<T: DeserializeOwned>(name: &str, vars: &[(&str, &str)]) -> T {
    let path = format!("{}/../../tests/fixtures/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).expect("fixture");
    for (k, v) in vars {
        text = text.replace(&format!("{{{{{k}}}}}"), v);
    }
    serde_json::from_str(&text).expect("fixture matches its event type")
}

/// A scratch directory removed when dropped (this crate has no tempfile dependency).
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "igny8-lambda-events-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn runtime() -> (LocalRuntime, AccountId, SiteId, Scratch) {
    runtime_with(Arc::new(SystemClock)).await
}

async fn runtime_with(clock: Arc<dyn Clock>) -> (LocalRuntime, AccountId, SiteId, Scratch) {
    let dir = Scratch::new();
    let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
    let rt = LocalRuntime::open(&dir.0, Arc::new(OfflineProvider::with_year(2026)), clock, Arc::new(UuidIds), options)
        .expect("runtime");
    let (account, _) = rt.services.account_service.create_account("Acme", 100_000).await.expect("account");
    let site = rt.services.account_service.create_site(&account.id, "Blog", "blog.example.com").await.expect("site");
    let kws = parse_keywords_csv(include_bytes!("../../../examples/keywords.csv")).expect("csv");
    rt.importer.import(&account.id, &site.id, &kws[..12]).await.expect("import");
    (rt, account.id, site.id, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_batch_with_one_poison_message_fails_only_that_message() {
    let (rt, account, site, _dir) = runtime().await;
    let run = rt.automation.start(&account, &site, "manual").await.expect("start");
    rt.drive(&run.id, |_| {}).await.expect("drive");
    let summary = rt.automation.summary(&account, &run.id).await.expect("summary");
    assert!(summary.images > 0);
    // Replay a job for an image that is already generated next to a poison message.
    let any_image = std::fs::read_dir(format!("{}{}", rt.blob_base, summary.images_dir))
        .expect("images")
        .next()
        .expect("one")
        .expect("entry");
    let image_id: ImageId =
        any_image.path().file_stem().and_then(|s| s.to_str()).expect("name").parse().expect("image id");
    let event: SqsEvent = fixture(
        "sqs_image_jobs.json",
        &[
            ("run_id", run.id.as_str()),
            ("account_id", account.as_str()),
            ("site_id", site.as_str()),
            ("image_id", image_id.as_str()),
        ],
    );
    assert_eq!(event.records.len(), 2);
    let before = rt.services.credits.balance(&account).await.expect("balance");
    let response: SqsBatchResponse = events::image_worker(&rt.automation, event).await.expect("handler");
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["22222222-2222-4222-8222-222222222222"], "only the poison message is retried");
    assert_eq!(rt.services.credits.balance(&account).await.expect("balance"), before, "a replayed job pays nothing");
    // What the runtime sends back to Lambda.
    let wire = serde_json::to_value(&response).expect("json");
    assert_eq!(
        wire,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "22222222-2222-4222-8222-222222222222"}]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_without_a_message_id_fails_the_whole_batch() {
    let (rt, _account, _site, _dir) = runtime().await;
    let mut event: SqsEvent =
        fixture("sqs_image_jobs.json", &[("run_id", "r"), ("account_id", "a"), ("site_id", "s"), ("image_id", "i")]);
    event.records[0].message_id = None;
    assert!(events::image_worker(&rt.automation, event).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_event_ticks_the_scheduler() {
    let clock = Arc::new(ManualClock::at(1_795_687_200_000));
    let (rt, account, site, _dir) = runtime_with(clock.clone()).await;
    let event: ScheduledEvent = fixture("scheduled.json", &[]);
    assert_eq!((event.source.as_str(), event.detail_type.as_str()), ("aws.events", "Scheduled Event"));
    assert!(
        events::scheduler(&rt.automation, event.clone()).await.expect("handler").is_empty(),
        "nothing is scheduled"
    );
    // A site whose schedule is due gets its run on the next tick.
    let mut config = rt.automation.config(&account, &site).await.expect("config");
    config.schedule =
        Some(Schedule { frequency: Frequency::Daily, time: "11:00".into(), timezone: "UTC".into(), day: None });
    let due = rt.automation.save_config(&account, config).await.expect("save").next_run_at.expect("next run");
    clock.advance_ms(due - clock.now_ms() + 1);
    let started = events::scheduler(&rt.automation, event).await.expect("handler");
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0].site_id, site);
    let run_id = started[0].run_id.clone().expect("a run started");
    rt.drive(&run_id, |_| {}).await.expect("drive");
    assert_eq!(rt.automation.run(&account, &run_id).await.expect("run").status, RunStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_task_input_runs_one_batch_and_routes() {
    let (rt, account, site, _dir) = runtime().await;
    let run = rt.automation.start(&account, &site, "manual").await.expect("start");
    rt.drive(&run.id, |_| {}).await.expect("drive");
    let vars = [("run_id", run.id.as_str()), ("account_id", account.as_str()), ("site_id", site.as_str())];
    let input: Value = fixture("stage_task_input.json", &vars);
    let out = handle(&rt.automation, Function::Stage(Stage::Clusters), input).await.expect("handler");
    assert_eq!(out["next"], "finalize", "a finished run routes to its end: {out}");
    let bad = handle(&rt.automation, Function::Stage(Stage::Clusters), serde_json::json!({"run_id": "nope"})).await;
    assert!(bad.is_err());
    let not_a_task = handle(&rt.automation, Function::ImageWorker, serde_json::json!({})).await;
    assert!(not_a_task.is_err(), "the image worker takes SQS events, not task input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_execution_event_cleans_up_the_run() {
    let (rt, account, site, _dir) = runtime().await;
    let run = rt.automation.start(&account, &site, "manual").await.expect("start");
    rt.workflow.executor().stop_execution(run.id.as_str(), "States.Aborted", "stopped by test").expect("stop");
    let vars = [("run_id", run.id.as_str()), ("account_id", account.as_str()), ("site_id", site.as_str())];
    let event: ExecutionStatusChangeEvent = fixture("execution_aborted.json", &vars);
    assert_eq!(event.detail.status, "ABORTED");
    let out = events::run_cleanup(&rt.automation, event.clone()).await.expect("handler");
    assert_eq!(out, CleanupOutcome::Cleaned { run_id: run.id.clone(), status: RunStatus::Failed });
    let record = rt.automation.run(&account, &run.id).await.expect("run");
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("States.ABORTED"));
    let lock = rt.services.locks.status(&site).await.expect("lock").expect("lease");
    assert!(lock.holder.is_none(), "lock released");
    let r = rt.services.credits.reconcile(&account).await.expect("reconcile");
    assert!(r.balanced && r.held == 0, "{r:?}");
    // A second delivery of the same event changes nothing.
    let again = events::run_cleanup(&rt.automation, event.clone()).await.expect("handler");
    assert_eq!(again, CleanupOutcome::Cleaned { run_id: run.id.clone(), status: RunStatus::Failed });
    // A successful execution, or an event from elsewhere, is not cleaned up.
    let mut succeeded = event.clone();
    succeeded.detail.status = "SUCCEEDED".into();
    assert!(matches!(
        events::run_cleanup(&rt.automation, succeeded).await.expect("handler"),
        CleanupOutcome::Ignored { .. }
    ));
    let mut other = event;
    other.source = "aws.events".into();
    assert!(matches!(
        events::run_cleanup(&rt.automation, other).await.expect("handler"),
        CleanupOutcome::Ignored { .. }
    ));
}
