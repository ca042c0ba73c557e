//! The automation's function handlers fed with JSON event fixtures (tests/fixtures/events),
//! exactly as the Lambda runtime or the interpreter hands them over.

use std::sync::Arc;

use igny8_core::ai::OfflineProvider;
use igny8_core::automation::{handle, Function};
use igny8_core::domain::{AccountId, ImageId, RunStatus, SiteId, Stage};
use igny8_core::local::asl::ExecutorOptions;
use igny8_core::local::runtime::LocalRuntime;
use igny8_core::planner::parse_keywords_csv;
use igny8_core::ports::{SystemClock, UuidIds};
use serde_json::Value;

fn fixture(name: &str, vars: &[(&str, &str)]) -> Value {
    let path = format!("{}/fixtures/events/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).expect("fixture");
    for (k, v) in vars {
        text = text.replace(&format!("{{{{{k}}}}}"), v);
    }
    serde_json::from_str(&text).expect("fixture JSON")
}

async fn runtime() -> (LocalRuntime, AccountId, SiteId, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
    let rt = LocalRuntime::open(dir.path(), Arc::new(OfflineProvider::with_year(2026)), Arc::new(SystemClock), Arc::new(UuidIds), options)
        .expect("runtime");
    let (account, _) = rt.services.account_service.create_account("Acme", 100_000).await.expect("account");
    let site = rt.services.account_service.create_site(&account.id, "Blog", "blog.example.com").await.expect("site");
    let kws = parse_keywords_csv(include_bytes!("../../examples/keywords.csv")).expect("csv");
    rt.importer.import(&account.id, &site.id, &kws[..12]).await.expect("import");
    (rt, account.id, site.id, dir)
}

#[test]
fn function_names_resolve_from_arns() {
    assert_eq!(Function::from_name("arn:aws:lambda:us-east-1:123456789012:function:igny8-stage-content"), Some(Function::Stage(Stage::Content)));
    assert_eq!(Function::from_name("image-worker"), Some(Function::ImageWorker));
    assert_eq!(Function::from_name("nope"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_batch_with_one_poison_message_fails_only_that_message() {
    let (rt, account, site, _dir) = runtime().await;
    let run = rt.automation.start(&account, &site, "manual").await.expect("start");
    rt.drive(&run.id, |_| {}).await.expect("drive");
    let image = rt.automation.summary(&account, &run.id).await.expect("summary");
    assert!(image.images > 0);
    // Replay a job for an image that is already generated next to a poison message.
    let any_image = std::fs::read_dir(format!("{}{}", rt.blob_base, image.images_dir)).expect("images").next().expect("one").expect("entry");
    let image_id: ImageId = any_image.path().file_stem().and_then(|s| s.to_str()).expect("name").parse().expect("image id");
    let event = fixture("sqs_image_jobs.json", &[
        ("run_id", run.id.as_str()), ("account_id", account.as_str()), ("site_id", site.as_str()), ("image_id", image_id.as_str()),
    ]);
    let before = rt.services.credits.balance(&account).await.expect("balance");
    let out = handle(&rt.automation, Function::ImageWorker, event).await.expect("handler");
    let failures = out["batchItemFailures"].as_array().expect("array");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["itemIdentifier"], "22222222-2222-4222-8222-222222222222");
    assert_eq!(rt.services.credits.balance(&account).await.expect("balance"), before, "a replayed job pays nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_event_ticks_the_scheduler() {
    let (rt, _account, _site, _dir) = runtime().await;
    let out = handle(&rt.automation, Function::Scheduler, fixture("scheduled.json", &[])).await.expect("handler");
    assert_eq!(out, Value::Array(vec![]), "nothing is scheduled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_task_input_runs_one_batch_and_routes() {
    let (rt, account, site, _dir) = runtime().await;
    let run = rt.automation.start(&account, &site, "manual").await.expect("start");
    rt.drive(&run.id, |_| {}).await.expect("drive");
    let vars = [("run_id", run.id.as_str()), ("account_id", account.as_str()), ("site_id", site.as_str())];
    let out = handle(&rt.automation, Function::Stage(Stage::Clusters), fixture("stage_task_input.json", &vars)).await.expect("handler");
    assert_eq!(out["next"], "finalize", "a finished run routes to its end: {out}");
    let bad = handle(&rt.automation, Function::Stage(Stage::Clusters), serde_json::json!({"run_id": "nope"})).await;
    assert!(bad.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_execution_event_cleans_up_the_run() {
    let (rt, account, site, _dir) = runtime().await;
    let run = rt.automation.start(&account, &site, "manual").await.expect("start");
    rt.workflow.executor().stop_execution(run.id.as_str(), "States.Aborted", "stopped by test").expect("stop");
    let vars = [("run_id", run.id.as_str()), ("account_id", account.as_str()), ("site_id", site.as_str())];
    let out = handle(&rt.automation, Function::RunCleanup, fixture("execution_aborted.json", &vars)).await.expect("handler");
    assert_eq!(out["status"], "failed");
    let record = rt.automation.run(&account, &run.id).await.expect("run");
    assert_eq!(record.status, RunStatus::Failed);
    let lock = rt.services.locks.status(&site).await.expect("lock").expect("lease");
    assert!(lock.holder.is_none(), "lock released");
    let r = rt.services.credits.reconcile(&account).await.expect("reconcile");
    assert!(r.balanced && r.held == 0, "{r:?}");
}
