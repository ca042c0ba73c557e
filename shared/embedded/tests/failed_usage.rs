//! The usage log of failed AI calls through a run's stages over the SQLite store: a
//! stage whose model answers stay invalid releases its hold with the call's usage
//! (`CreditService::release_spent`), so the tokens are recorded and nothing is
//! charged. The record itself, on both adapter families, is in
//! tests/contract/ledger_lock.rs.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use igny8_ai::{
    AiError, AiProvider, ArticleOut, ClusterLabel, ClusterOut, IdeaOut, ImageOut, ImagePromptOut, KeywordInput,
    OfflineProvider, OptimizeOut, OptimizeRequest, Usage,
};
use igny8_core::automation::{AutomationPorts, AutomationService, Route, RunLog, StepInput};
use igny8_core::domain::Stage;
use igny8_core::planner::{parse_keywords_csv, KeywordImporter};
use igny8_core::ports::workflow::{Workflow, WorkflowError};
use igny8_core::ports::{Clock, ItemStore, SystemClock, UuidIds};
use igny8_core::Services;
use igny8_embedded::{BlobDir, SqliteQueue, SqliteStore};

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
