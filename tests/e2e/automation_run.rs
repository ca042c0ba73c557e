//! End to end: whole automation runs through the real `statemachines/automation.asl.json`
//! on the embedded default (SQLite, blob folder, SQLite queue, offline AI provider).

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use async_trait::async_trait;
use igny8_ai::{AiError, OfflineProvider};
use igny8_asl::{ExecutionStatus, ExecutorOptions};
use igny8_core::automation::{AutomationError, RunSummary, StepInput};
use igny8_core::domain::{AccountId, RunStatus, SiteId, Stage};
use igny8_core::domain::{Frequency, Schedule};
use igny8_core::planner::parse_keywords_csv;
use igny8_core::ports::{Clock, ManualClock, SystemClock, UuidIds};
use igny8_tests::hooked_ai::{AiHooks, Call, HookedAi};
use igny8_wiring::embedded::LocalRuntime;

const KEYWORDS: &[u8] = include_bytes!("../../examples/keywords.csv");

/// The offline provider, failing one stage's AI function on demand.
struct Faulty(Option<Stage>);

#[async_trait]
impl AiHooks for Faulty {
    async fn before(&self, call: Call<'_>) -> Result<(), AiError> {
        let stage = match call {
            // What the trait's default clustering would have named through.
            Call::NameClusters { .. } | Call::ClusterKeywords { .. } => Stage::Clusters,
            Call::GenerateIdeas { .. } => Stage::Ideas,
            Call::GenerateArticle { .. } | Call::OptimizeArticle { .. } => Stage::Content,
            Call::GenerateImagePrompts { .. } => Stage::ImagePrompts,
            Call::GenerateImage { .. } => Stage::Images,
            Call::PlanClusters { .. } | Call::Embed { .. } => return Ok(()),
        };
        if self.0 == Some(stage) {
            return Err(AiError::Provider(format!("injected failure in stage {}", stage.number())));
        }
        Ok(())
    }
}

struct World {
    rt: LocalRuntime,
    account: AccountId,
    site: SiteId,
    _dir: tempfile::TempDir,
}

async fn world(keywords: usize, credits: i64, fail: Option<Stage>) -> World {
    world_at(keywords, credits, fail, Arc::new(SystemClock)).await
}

async fn world_at(keywords: usize, credits: i64, fail: Option<Stage>, clock: Arc<dyn Clock>) -> World {
    let dir = tempfile::tempdir().expect("dir");
    let ai = Arc::new(HookedAi::new(Arc::new(OfflineProvider::with_year(2026)), Faulty(fail)));
    let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
    let rt = LocalRuntime::open(dir.path(), ai, clock, Arc::new(UuidIds), options).expect("runtime");
    let (account, _) = rt.services.account_service.create_account("Acme", credits).await.expect("account");
    let site = rt.services.account_service.create_site(&account.id, "Blog", "blog.example.com").await.expect("site");
    let all = parse_keywords_csv(KEYWORDS).expect("keywords");
    rt.importer.import(&account.id, &site.id, &all[..keywords]).await.expect("import");
    World { rt, account: account.id, site: site.id, _dir: dir }
}

async fn run_to_end(w: &World) -> (RunSummary, ExecutionStatus) {
    let run = w.rt.automation.start(&w.account, &w.site, "manual").await.expect("start");
    let outcome = w.rt.drive(&run.id, |_| {}).await.expect("drive");
    let summary = w.rt.automation.summary(&w.account, &run.id).await.expect("summary");
    (summary, outcome.status)
}

async fn assert_clean(w: &World) {
    let r = w.rt.services.credits.reconcile(&w.account).await.expect("reconcile");
    assert!(r.balanced, "ledger must reconcile: {r:?}");
    assert_eq!(r.held, 0, "no hold left behind");
    let lock = w.rt.services.locks.status(&w.site).await.expect("lock");
    assert!(lock.as_ref().is_none_or(|l| l.holder.is_none()), "lock released: {lock:?}");
    igny8_tests::counters::assert_counts(&w.rt.services.store, &w.site).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_whole_run_goes_through_every_stage() {
    let w = world(60, 100_000, None).await;
    let (s, status) = run_to_end(&w).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{s:?}");
    assert_eq!(s.status, RunStatus::Completed);
    assert!(s.clusters > 0 && s.ideas >= s.clusters && s.tasks == s.ideas && s.articles == s.tasks, "{s:?}");
    assert!(s.words > 0 && s.images > 0 && s.images_failed == 0, "{s:?}");
    for stage in [1u8, 2, 4, 5, 6] {
        assert!(s.credits_by_stage.get(&stage).copied().unwrap_or(0) > 0, "stage {stage} charged: {s:?}");
    }
    let balance = w.rt.services.credits.balance(&w.account).await.expect("balance");
    assert_eq!(balance.credits, 100_000 - s.credits_used);
    assert_clean(&w).await;
    // Each stage starts when its first batch begins, after the stage before it ended;
    // stage 6 starts when its jobs are queued, not when the last one ends.
    let run = w.rt.automation.run(&w.account, &s.run_id).await.expect("run");
    // Compared as instants: RFC 3339 text drops trailing zeros (".8Z" is ".800Z").
    let instant = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).expect("an RFC 3339 time")
    };
    let mut previous_end = time::OffsetDateTime::UNIX_EPOCH;
    for (n, stage) in &run.stages {
        let (start, end) = (stage.started_at.clone().expect("started"), stage.completed_at.clone().expect("ended"));
        let (start, end) = (instant(&start), instant(&end));
        assert!(previous_end <= start && start <= end, "stage {n}: {start} .. {end} after {previous_end}");
        previous_end = end;
    }
    let images = &run.stages[&6];
    assert!(images.started_at < images.completed_at, "stage 6 took time: {images:?}");
    let events =
        w.rt.automation
            .logger()
            .events(&igny8_core::automation::RunLog {
                account_id: w.account.clone(),
                site_id: w.site.clone(),
                run_id: s.run_id.clone(),
            })
            .await
            .expect("events");
    assert!(events.iter().any(|e| e.event == igny8_core::automation::TraceKind::RunCompleted));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_starts_for_one_site_make_one_run() {
    let w = world(20, 100_000, None).await;
    let (a, b) = tokio::join!(
        w.rt.automation.start(&w.account, &w.site, "manual"),
        w.rt.automation.start(&w.account, &w.site, "manual"),
    );
    let (ok, err) = match (a, b) {
        (Ok(run), Err(e)) | (Err(e), Ok(run)) => (run, e),
        other => panic!("exactly one start must win: {other:?}"),
    };
    assert!(matches!(err, AutomationError::AlreadyRunning { .. }), "{err}");
    w.rt.drive(&ok.id, |_| {}).await.expect("drive");
    assert_clean(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn not_enough_credits_is_refused_before_any_work() {
    let w = world(40, 50, None).await;
    let err = w.rt.automation.start(&w.account, &w.site, "manual").await.expect_err("must refuse");
    assert!(matches!(err, AutomationError::InsufficientCredits { .. }), "{err}");
    let ledger = w.rt.services.credits.ledger(&w.account, 10, None).await.expect("ledger").items;
    assert_eq!(ledger.len(), 1, "only the opening grant");
    assert_clean(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_injected_failure_in_each_stage_fails_the_run_cleanly() {
    for stage in [Stage::Clusters, Stage::Ideas, Stage::Content, Stage::ImagePrompts] {
        let w = world(20, 100_000, Some(stage)).await;
        let (s, status) = run_to_end(&w).await;
        assert_eq!(status, ExecutionStatus::Failed, "stage {stage:?}");
        assert_eq!(s.status, RunStatus::Failed);
        let run = w.rt.automation.run(&w.account, &s.run_id).await.expect("run");
        assert!(run.error.as_deref().is_some_and(|e| e.contains("injected failure")), "{:?}", run.error);
        assert_eq!(
            s.credits_by_stage.get(&stage.number()).copied().unwrap_or(0),
            0,
            "nothing charged for stage {stage:?}"
        );
        assert_clean(&w).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replayed_step_duplicates_nothing() {
    let w = world(30, 100_000, None).await;
    let (s, _) = run_to_end(&w).await;
    let before = w.rt.services.credits.balance(&w.account).await.expect("balance");
    // Replay every stage step of the finished run as if the state machine retried it.
    let input = StepInput {
        run_id: s.run_id.clone(),
        account_id: w.account.clone(),
        site_id: w.site.clone(),
        task_token: None,
    };
    for stage in [Stage::Clusters, Stage::Ideas, Stage::Tasks, Stage::Content, Stage::ImagePrompts] {
        let out = w.rt.automation.step(&input, stage).await.expect("replay");
        assert_eq!(out.processed, 0);
    }
    let again = w.rt.automation.summary(&w.account, &s.run_id).await.expect("summary");
    assert_eq!(
        (again.clusters, again.ideas, again.articles, again.images),
        (s.clusters, s.ideas, s.articles, s.images)
    );
    assert_eq!(w.rt.services.credits.balance(&w.account).await.expect("balance"), before);
    // Importing the same keywords again creates nothing and counts nothing.
    let all = parse_keywords_csv(KEYWORDS).expect("keywords");
    w.rt.importer.import(&w.account, &w.site, &all[..30]).await.expect("import again");
    assert_clean(&w).await;
    // A deleted record leaves its status's count.
    let records = igny8_core::planner::SiteRecords::for_automation(&w.rt.automation);
    let page = records.list::<igny8_core::domain::Keyword>(&w.account, &w.site, 3, None).await.expect("keywords");
    for k in page.items {
        records
            .delete::<igny8_core::domain::Keyword>(&w.account, &w.site, k.id.as_str(), "keyword")
            .await
            .expect("delete");
    }
    assert_clean(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_site_written_before_the_counters_is_counted_from_its_records() {
    let w = world(40, 100_000, None).await;
    // As a store of an earlier version: records, no counters.
    let new = igny8_core::repo::keys::site_records_in_status(&w.site, "KW", "new");
    w.rt.services.store.delete(&igny8_core::repo::keys::status_count(&new), None).await.expect("delete counter");
    let estimate = w.rt.automation.estimate(&w.account, &w.site).await.expect("estimate");
    assert_eq!(estimate.keywords, 40, "counted from the records once");
    let (s, status) = run_to_end(&w).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{s:?}");
    assert!(s.clusters > 0 && s.images > 0, "{s:?}");
    assert_clean(&w).await;
}

async fn small_batches(w: &World) {
    let mut config = w.rt.automation.config(&w.account, &w.site).await.expect("config");
    config.batch_sizes = [200, 2, 3, 1, 2, 10];
    w.rt.automation.save_config(&w.account, config).await.expect("save config");
}

/// Waits (polling the record) until the run satisfies `ready`.
async fn wait_for(
    w: &World,
    run: &igny8_core::domain::RunId,
    ready: impl Fn(&igny8_core::domain::AutomationRun) -> bool,
) {
    for _ in 0..20_000 {
        let r = w.rt.automation.run(&w.account, run).await.expect("run");
        if ready(&r) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("run never reached the expected state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pause_mid_stage_then_resume_gives_the_same_totals() {
    let plain = world(30, 100_000, None).await;
    small_batches(&plain).await;
    let (expected, _) = run_to_end(&plain).await;

    let w = world(30, 100_000, None).await;
    small_batches(&w).await;
    let run = w.rt.automation.start(&w.account, &w.site, "manual").await.expect("start");
    let controller = {
        let svc = w.rt.automation.clone();
        let (account, id) = (w.account.clone(), run.id.clone());
        let probe = World {
            rt: w.rt.clone(),
            account: w.account.clone(),
            site: w.site.clone(),
            _dir: tempfile::tempdir().expect("dir"),
        };
        tokio::spawn(async move {
            wait_for(&probe, &id, |r| r.current_stage == 4 && r.stages.get(&4).is_some_and(|s| s.processed > 0)).await;
            svc.pause(&account, &id).await.expect("pause");
            wait_for(&probe, &id, |r| r.status == RunStatus::Paused).await;
            let paused = svc.run(&account, &id).await.expect("run");
            assert!(
                paused.stages.get(&4).is_some_and(|s| s.remaining > 0),
                "paused mid-stage: {:?}",
                paused.stages.get(&4)
            );
            svc.resume(&account, &id).await.expect("resume");
        })
    };
    let outcome = w.rt.drive(&run.id, |_| {}).await.expect("drive");
    controller.await.expect("controller");
    assert_eq!(outcome.status, ExecutionStatus::Succeeded);
    let got = w.rt.automation.summary(&w.account, &run.id).await.expect("summary");
    assert_eq!(
        (got.clusters, got.ideas, got.tasks, got.articles, got.words, got.images, got.credits_used),
        (
            expected.clusters,
            expected.ideas,
            expected.tasks,
            expected.articles,
            expected.words,
            expected.images,
            expected.credits_used
        )
    );
    let events =
        w.rt.automation
            .logger()
            .events(&igny8_core::automation::RunLog {
                account_id: w.account.clone(),
                site_id: w.site.clone(),
                run_id: run.id.clone(),
            })
            .await
            .expect("events");
    assert!(events.iter().any(|e| e.event == igny8_core::automation::TraceKind::RunPaused));
    assert!(events.iter().any(|e| e.event == igny8_core::automation::TraceKind::RunResumed));
    assert_clean(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_keeps_partial_results_and_releases_the_lock() {
    let w = world(30, 100_000, None).await;
    small_batches(&w).await;
    let run = w.rt.automation.start(&w.account, &w.site, "manual").await.expect("start");
    let canceller = {
        let svc = w.rt.automation.clone();
        let (account, id) = (w.account.clone(), run.id.clone());
        let probe = World {
            rt: w.rt.clone(),
            account: w.account.clone(),
            site: w.site.clone(),
            _dir: tempfile::tempdir().expect("dir"),
        };
        tokio::spawn(async move {
            wait_for(&probe, &id, |r| r.current_stage >= 2).await;
            svc.cancel(&account, &id).await.expect("cancel");
        })
    };
    let outcome = w.rt.drive(&run.id, |_| {}).await.expect("drive");
    canceller.await.expect("canceller");
    assert_eq!(outcome.status, ExecutionStatus::Succeeded, "a cancelled run ends in its Cancelled state");
    let s = w.rt.automation.summary(&w.account, &run.id).await.expect("summary");
    assert_eq!(s.status, RunStatus::Cancelled);
    assert!(s.clusters > 0, "partial results are kept: {s:?}");
    assert!(s.images == 0 || s.articles > 0);
    assert_clean(&w).await;
    let again = w.rt.services.locks.acquire(&w.site, "next-run", 60_000).await;
    assert!(again.is_ok(), "the site is free for a new run: {again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scheduler_starts_a_due_run_once() {
    let clock = Arc::new(ManualClock::at(1_795_687_200_000));
    let w = world_at(20, 100_000, None, clock.clone()).await;
    let mut config = w.rt.automation.config(&w.account, &w.site).await.expect("config");
    config.schedule =
        Some(Schedule { frequency: Frequency::Daily, time: "11:00".into(), timezone: "UTC".into(), day: None });
    let saved = w.rt.automation.save_config(&w.account, config).await.expect("save");
    let due = saved.next_run_at.expect("next run");
    assert!(w.rt.automation.scheduler_tick().await.expect("tick").is_empty(), "not due yet");
    clock.advance_ms(due - clock.now_ms() + 1);
    let (a, b) = tokio::join!(w.rt.automation.scheduler_tick(), w.rt.automation.scheduler_tick());
    let started: Vec<_> = a.expect("tick").into_iter().chain(b.expect("tick")).filter_map(|s| s.run_id).collect();
    assert_eq!(started.len(), 1, "one run for one due time");
    w.rt.drive(&started[0], |_| {}).await.expect("drive");
    let next = w.rt.automation.config(&w.account, &w.site).await.expect("config").next_run_at.expect("next");
    assert_eq!(next, due + 24 * 3_600_000, "advanced to the next day");
    assert_clean(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_image_jobs_give_up_after_their_retries_and_are_refunded() {
    let w = world(12, 100_000, Some(Stage::Images)).await;
    let (s, status) = run_to_end(&w).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "the run completes without its images");
    assert_eq!(s.status, RunStatus::Completed);
    assert!(s.images == 0 && s.images_failed > 0, "{s:?}");
    assert_eq!(s.credits_by_stage.get(&6).copied().unwrap_or(0), 0, "failed images cost nothing: {s:?}");
    let balance = w.rt.services.credits.balance(&w.account).await.expect("balance");
    assert_eq!(balance.credits, 100_000 - s.credits_used);
    assert_clean(&w).await;
}
