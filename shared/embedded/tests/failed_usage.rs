//! The usage log of a failed AI call over the SQLite store: a hold released with the
//! call's usage (`CreditService::release_spent`) gives every credit back and writes
//! one usage record — no credits, no ledger entry, marked failed, the tokens kept —
//! listed with the account's and the run's usage, once however often it is released.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use igny8_ai::{
    AiError, AiProvider, ArticleOut, ClusterLabel, ClusterOut, IdeaOut, ImageOut, ImagePromptOut, KeywordInput,
    OfflineProvider, OptimizeOut, OptimizeRequest, Usage,
};
use igny8_core::automation::{AutomationPorts, AutomationService, Route, RunLog, StepInput};
use igny8_core::domain::{Balance, Stage, UsageDetails};
use igny8_core::planner::{parse_keywords_csv, KeywordImporter};
use igny8_core::ports::workflow::{Workflow, WorkflowError};
use igny8_core::ports::{Clock, ItemStore, ManualClock, SystemClock, UuidIds};
use igny8_core::Services;
use igny8_embedded::{BlobDir, SqliteQueue, SqliteStore};

fn details(run: &str, operation: &str, units: i64, tokens: (i64, i64)) -> UsageDetails {
    UsageDetails {
        operation: operation.into(),
        model: Some("smollm2-135m".into()),
        tokens_in: tokens.0,
        tokens_out: tokens.1,
        units,
        run_id: Some(run.into()),
        stage: Some(2),
    }
}

#[tokio::test]
async fn a_released_hold_with_usage_records_the_tokens_and_charges_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::open(dir.path().join("igny8.db")).expect("store"));
    let clock = Arc::new(ManualClock::at(1_790_000_000_000));
    let s = Services::with(store, clock.clone(), Arc::new(UuidIds));
    let (account, _) = s.account_service.create_account("Acme", 1000).await.expect("account");
    let account = account.id;
    let credits = &s.credits;

    // A call that succeeded: charged, with its usage log.
    let paid = credits.hold(&account, 30, "stage 2 ideas", Some("run_a".into()), None).await.expect("hold");
    let details_ok = details("run_a", "idea_generation", 2, (100, 50));
    credits.settle_hold(&account, &paid, 30, Some(details_ok)).await.expect("settle");
    // A call whose answers stayed invalid: released, its tokens recorded.
    clock.advance_ms(5);
    let hold = credits.hold(&account, 30, "stage 2 ideas", Some("run_a".into()), None).await.expect("hold");
    let spent = details("run_a", "idea_generation", 0, (360, 135));
    let released = credits.release_spent(&account, &hold.id, spent.clone()).await.expect("release");
    assert_eq!(released.status, igny8_core::domain::HoldStatus::Released);
    assert_eq!(credits.balance(&account).await.expect("balance"), Balance { credits: 970, held: 0, available: 970 });

    let logs = credits.usage(&account, None, 100, None).await.expect("usage").items;
    assert_eq!(logs.len(), 2, "{logs:?}");
    let failed: Vec<_> = logs.iter().filter(|l| l.failed).collect();
    assert_eq!(failed.len(), 1, "{logs:?}");
    let failed = failed[0];
    assert_eq!((failed.credits, failed.transaction_id.as_ref(), &failed.usage), (0, None, &spent));
    let charged = logs.iter().find(|l| !l.failed).expect("the charged call");
    assert_eq!(charged.credits, 30);
    assert!(charged.transaction_id.is_some());
    // Newest first: the failed call came after the charged one.
    assert!(logs[0].failed, "{logs:?}");
    // The run's usage lists it too (the run index), another run's does not.
    let by_run = credits.usage(&account, Some("run_a"), 100, None).await.expect("usage").items;
    assert_eq!(by_run.len(), 2);
    assert!(credits.usage(&account, Some("run_b"), 100, None).await.expect("usage").items.is_empty());

    // Released again (a replayed step): a no-op, no second record.
    credits.release_spent(&account, &hold.id, spent).await.expect("release again");
    credits.release(&account, &hold.id).await.expect("plain release again");
    assert_eq!(credits.usage(&account, None, 100, None).await.expect("usage").items.len(), 2);
    // The ledger has one entry more than the grant (the charge) and still reconciles.
    let ledger = credits.ledger(&account, 100, None).await.expect("ledger").items;
    assert_eq!(ledger.len(), 2, "{ledger:?}");
    assert!(credits.reconcile(&account).await.expect("reconcile").balanced);
}

#[tokio::test]
async fn failed_calls_at_the_same_instant_each_get_their_own_record() {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::open(dir.path().join("igny8.db")).expect("store"));
    let s = Services::with(store, Arc::new(ManualClock::at(1_790_000_000_000)), Arc::new(UuidIds));
    let (account, _) = s.account_service.create_account("Acme", 100).await.expect("account");
    let account = account.id;
    for tokens in [10, 20, 30] {
        let hold = s.credits.hold(&account, 5, "stage 4 content", None, None).await.expect("hold");
        let spent = details("run_c", "content_generation", 0, (tokens, 1));
        s.credits.release_spent(&account, &hold.id, spent).await.expect("release");
    }
    let logs = s.credits.usage(&account, Some("run_c"), 100, None).await.expect("usage").items;
    let mut tokens: Vec<i64> = logs.iter().map(|l| l.usage.tokens_in).collect();
    tokens.sort_unstable();
    assert_eq!(tokens, [10, 20, 30]);
    assert!(logs.iter().all(|l| l.failed && l.credits == 0));
    assert_eq!(s.credits.balance(&account).await.expect("balance").available, 100);
}

/// A workflow engine that only accepts executions: the test drives the steps itself.
struct Steps;

#[async_trait::async_trait]
impl Workflow for Steps {
    async fn start_execution(&self, _name: &str, _input: serde_json::Value) -> Result<(), WorkflowError> {
        Ok(())
    }
    async fn stop_execution(&self, _name: &str, _error: &str, _cause: &str) -> Result<(), WorkflowError> {
        Ok(())
    }
    async fn send_task_success(&self, _token: &str, _output: serde_json::Value) -> Result<(), WorkflowError> {
        Ok(())
    }
    async fn send_task_failure(&self, _token: &str, _error: &str, _cause: &str) -> Result<(), WorkflowError> {
        Ok(())
    }
}

/// The tokens a validating provider reports for a call whose answers stayed invalid.
fn wasted(tokens_in: i64) -> Usage {
    Usage { model: "picky-model".into(), tokens_in, tokens_out: 40 }
}

/// The offline provider, but every naming and every ideas answer stays invalid after
/// spending tokens, as the OpenAI-compatible provider reports it.
struct Invalid(OfflineProvider);

#[async_trait::async_trait]
impl AiProvider for Invalid {
    async fn name_clusters(&self, _: &[ClusterOut], _: &[KeywordInput]) -> Result<(Vec<ClusterLabel>, Usage), AiError> {
        Err(AiError::InvalidOutput("name_clusters: not JSON".into()).with_usage(wasted(100)))
    }
    async fn generate_ideas(
        &self,
        _: &ClusterOut,
        _: &[KeywordInput],
        _: usize,
    ) -> Result<(Vec<IdeaOut>, Usage), AiError> {
        Err(AiError::InvalidOutput("generate_ideas: not JSON".into()).with_usage(wasted(300)))
    }
    async fn generate_article(&self, i: &IdeaOut, w: u32) -> Result<(ArticleOut, Usage), AiError> {
        self.0.generate_article(i, w).await
    }
    async fn generate_image_prompts(&self, a: &ArticleOut, m: usize) -> Result<(Vec<ImagePromptOut>, Usage), AiError> {
        self.0.generate_image_prompts(a, m).await
    }
    async fn generate_image(&self, p: &str, w: u32, h: u32) -> Result<(ImageOut, Usage), AiError> {
        self.0.generate_image(p, w, h).await
    }
    async fn optimize_article(&self, r: &OptimizeRequest) -> Result<(OptimizeOut, Usage), AiError> {
        self.0.optimize_article(r).await
    }
}

#[tokio::test]
async fn stages_record_the_tokens_of_invalid_answers_and_charge_nothing_for_them() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("igny8.db");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store: Arc<dyn ItemStore> = Arc::new(SqliteStore::open(&db).expect("store"));
    let s = Services::with(Arc::clone(&store), Arc::clone(&clock), Arc::new(UuidIds));
    let ports = AutomationPorts {
        store: Arc::clone(&store),
        blobs: Arc::new(BlobDir::open(dir.path().join("blobs")).expect("blobs")),
        queue: Arc::new(SqliteQueue::open(&db, Arc::clone(&clock)).expect("queue")),
        ai: Arc::new(Invalid(OfflineProvider::new())),
        clock: Arc::clone(&clock),
        ids: Arc::new(UuidIds),
    };
    let automation = AutomationService::new(ports, s.credits.clone());
    automation.set_workflow(Arc::new(Steps));
    let (account, _) = s.account_service.create_account("Acme", 1_000_000).await.expect("account");
    let site = s.account_service.create_site(&account.id, "Blog", "blog.example.com").await.expect("site");
    let keywords = parse_keywords_csv(include_bytes!("../../../examples/keywords.csv")).expect("csv");
    KeywordImporter::new(Arc::clone(&store), Arc::clone(&clock))
        .import(&account.id, &site.id, &keywords[..60])
        .await
        .expect("import");
    let run = automation.start(&account.id, &site.id, "manual").await.expect("start");
    let input = StepInput {
        run_id: run.id.clone(),
        account_id: account.id.clone(),
        site_id: site.id.clone(),
        task_token: None,
    };
    // Stage 1 (its naming falls back), then stage 2 (every cluster fails).
    for stage in [Stage::Clusters, Stage::Ideas] {
        for _ in 0..100 {
            let out = automation.step(&input, stage).await.expect("step");
            let next = if out.next == Route::Delay { out.then.expect("then") } else { out.next };
            if next != Route::stage(stage) {
                break;
            }
        }
    }

    let usage = s.credits.usage(&account.id, Some(run.id.as_str()), 1000, None).await.expect("usage").items;
    let naming: Vec<_> = usage.iter().filter(|u| u.usage.stage == Some(1)).collect();
    let ideas: Vec<_> = usage.iter().filter(|u| u.usage.stage == Some(2)).collect();
    assert!(!naming.is_empty() && !ideas.is_empty(), "{usage:?}");
    for u in naming.iter().chain(&ideas) {
        assert!(u.failed && u.credits == 0 && u.transaction_id.is_none(), "{u:?}");
        assert_eq!((u.usage.model.as_deref(), u.usage.tokens_out), (Some("picky-model"), 40), "{u:?}");
        assert_eq!(u.usage.run_id.as_deref(), Some(run.id.as_str()));
    }
    assert!(naming.iter().all(|u| u.usage.operation == "clustering" && u.usage.tokens_in == 100), "{naming:?}");
    assert!(ideas.iter().all(|u| u.usage.operation == "idea_generation" && u.usage.tokens_in == 300), "{ideas:?}");
    // One record per failed cluster, nothing charged: no hold left, the ledger reconciles.
    let summary = automation.summary(&account.id, &run.id).await.expect("summary");
    assert_eq!(summary.failed_by_stage.get(&2).copied(), Some(ideas.len() as u64), "{summary:?}");
    assert!(summary.clusters > 0, "{summary:?}");
    assert_eq!(summary.credits_by_stage.get(&2).copied().unwrap_or(0), 0, "{summary:?}");
    let balance = s.credits.balance(&account.id).await.expect("balance");
    assert_eq!((balance.held, balance.credits), (0, 1_000_000), "{balance:?}");
    assert!(s.credits.reconcile(&account.id).await.expect("reconcile").balanced);
    // The run's log says what happened, through the shared helper.
    let log = RunLog { account_id: account.id.clone(), site_id: site.id.clone(), run_id: run.id.clone() };
    let main = automation.logger().main_log(&log).await.expect("log");
    assert!(main.contains("invalid model output: name_clusters: not JSON; kept the algorithm's names"), "{main}");
    assert!(main.contains("failed: invalid model output: generate_ideas: not JSON"), "{main}");
}
