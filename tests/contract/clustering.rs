//! Contract of keyword clustering (the `igny8 cluster` service and stage 1 of a run),
//! run against SQLite and DynamoDB: embeddings are cached by (scope, model,
//! normalised keyword), so a second clustering of the same keywords calls the model
//! for none of them and pays nothing, and new keywords are the only ones embedded;
//! an account never reads another's cache; `auto` without a model clusters
//! lexically and says so in the run's log; `semantic` without a model fails the run
//! before anything is charged; the same keywords in another order give the same
//! clusters; a semantic run's embedding holds are settled and the ledger reconciles.
//! Read against docs/automation.md ("Cluster modes").

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use igny8_ai::{AiError, Embedder, KeywordInput, OfflineProvider};
use igny8_core::automation::{AutomationError, AutomationPorts, AutomationService, Route, RunLog, StepInput};
use igny8_core::clustering::{KeywordClustering, EMBED_BATCH};
use igny8_core::domain::{AccountId, AutomationRun, ClusterMode, RunStatus, SiteId, Stage, TransactionKind};
use igny8_core::planner::KeywordImporter;
use igny8_core::ports::workflow::{Workflow, WorkflowError};
use igny8_core::ports::{ItemStore, SystemClock, UuidIds};
use igny8_core::repo::{EmbeddingCache, EmbeddingScope};
use igny8_core::Services;
use igny8_embedded::{BlobDir, SqliteQueue};
use serde_json::Value;

igny8_tests::contract_suite!(
    the_cache_reads_and_writes_hundreds_of_entries,
    a_second_clustering_embeds_nothing_and_new_keywords_only_themselves,
    the_same_keywords_in_another_order_cluster_the_same,
    auto_without_a_model_clusters_lexically_and_says_why,
    semantic_without_a_model_is_a_clear_error,
    a_semantic_run_without_a_model_fails_before_charging,
    auto_without_a_model_runs_lexically_and_logs_it,
    a_semantic_run_pays_for_new_embeddings_once_and_reconciles,
    the_estimate_counts_the_uncached_keywords,
);

/// The fake model's id.
const MODEL: &str = "fake-bag-of-words-v1";
/// Dimensions of the fake vectors.
const DIMS: usize = 64;

/// A deterministic embedder that counts what it is asked: words (and their 4-letter
/// stems) hashed into [`DIMS`] buckets, L2-normalised — keywords sharing words are
/// close, as with a real model.
#[derive(Default)]
struct CountingEmbedder {
    calls: AtomicUsize,
    texts: Mutex<Vec<String>>,
}

impl CountingEmbedder {
    fn texts(&self) -> Vec<String> {
        self.texts.lock().unwrap().clone()
    }
}

fn bucket(word: &str) -> usize {
    // FNV-1a: stable across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in word.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % DIMS as u64) as usize
}

fn fake_vector(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; DIMS];
    for word in text.split_whitespace() {
        v[bucket(word)] += 1.0;
        let stem: String = word.chars().take(4).collect();
        v[bucket(&format!("#{stem}"))] += 0.5;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    v.iter().map(|x| x / norm).collect()
}

impl Embedder for CountingEmbedder {
    fn model(&self) -> &str {
        MODEL
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, AiError> {
        assert!(texts.len() <= EMBED_BATCH, "batches of at most {EMBED_BATCH}: {}", texts.len());
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.texts.lock().unwrap().extend(texts.iter().cloned());
        Ok(texts.iter().map(|t| fake_vector(t)).collect())
    }
}

fn kw(text: &str, volume: i64) -> KeywordInput {
    KeywordInput::new(text, volume)
}

/// Three topics of paraphrases, 30 keywords.
fn topics() -> Vec<KeywordInput> {
    let mut out = Vec::new();
    for (n, t) in [
        "running shoes",
        "best running shoes",
        "running shoes for women",
        "trail running shoes",
        "cheap running shoes",
        "running shoes sale",
        "running shoes men",
        "waterproof running shoes",
        "running shoes wide feet",
        "lightweight running shoes",
        "chocolate cake recipe",
        "easy chocolate cake recipe",
        "moist chocolate cake recipe",
        "vegan chocolate cake recipe",
        "chocolate cake recipe without eggs",
        "best chocolate cake recipe",
        "chocolate cake recipe from scratch",
        "gluten free chocolate cake recipe",
        "chocolate fudge cake recipe",
        "simple chocolate cake recipe",
        "yoga for beginners",
        "morning yoga for beginners",
        "yoga poses for beginners",
        "yoga at home for beginners",
        "hot yoga for beginners",
        "yoga stretches for beginners",
        "yoga routine for beginners",
        "gentle yoga for beginners",
        "yoga workout for beginners",
        "chair yoga for beginners",
    ]
    .iter()
    .enumerate()
    {
        out.push(kw(t, 1000 - n as i64 * 10));
    }
    out
}

fn no_progress(_: usize, _: usize) {}

fn semantic_ai(embedder: &Arc<CountingEmbedder>) -> Arc<OfflineProvider> {
    let e: Arc<dyn Embedder> = embedder.clone();
    Arc::new(OfflineProvider::with_year(2026).with_embedder(e))
}

/// Clusters as sets of keyword texts (independent of order and indices).
fn as_sets(keywords: &[KeywordInput], clusters: &[igny8_ai::ClusterOut]) -> BTreeSet<BTreeSet<String>> {
    clusters.iter().map(|c| c.keywords.iter().map(|&i| keywords[i].keyword.clone()).collect()).collect()
}

async fn the_cache_reads_and_writes_hundreds_of_entries(store: Arc<dyn ItemStore>) {
    let cache = EmbeddingCache::new(Arc::clone(&store));
    let scope = EmbeddingScope::Local;
    let texts: Vec<String> = (0..250).map(|i| format!("keyword number {i}")).collect();
    let entries: Vec<(String, Vec<f32>)> = texts.iter().map(|t| (t.clone(), fake_vector(t))).collect();
    // More than one transaction and more than one batch read.
    cache.put_many(&scope, MODEL, &entries).await.expect("put");
    let mut asked = texts.clone();
    asked.push("never embedded".into());
    let got = cache.get_many(&scope, MODEL, &asked).await.expect("get");
    assert_eq!(got.len(), 251);
    for ((t, v), g) in entries.iter().zip(&got) {
        assert_eq!(g.as_ref(), Some(v), "{t}");
    }
    assert_eq!(got[250], None);
    // Another model's vectors and another scope's are misses.
    let other_model = cache.get_many(&scope, "another-model", &texts[..3]).await.expect("get");
    assert!(other_model.iter().all(Option::is_none));
    let tenant = EmbeddingScope::Account(AccountId::derive("someone"));
    assert!(cache.get_many(&tenant, MODEL, &texts[..3]).await.expect("get").iter().all(Option::is_none));
}

async fn a_second_clustering_embeds_nothing_and_new_keywords_only_themselves(store: Arc<dyn ItemStore>) {
    let embedder = Arc::new(CountingEmbedder::default());
    let clustering = KeywordClustering::new(semantic_ai(&embedder), Arc::clone(&store));
    let keywords = topics();
    let ticks = Mutex::new(Vec::new());
    let progress = |done: usize, total: usize| ticks.lock().unwrap().push((done, total));
    let first = clustering.cluster_list(&keywords, ClusterMode::Semantic, &progress).await.expect("first");
    assert_eq!((first.mode, first.embedded, first.cached), (ClusterMode::Semantic, 30, 0));
    assert_eq!(embedder.texts().len(), 30);
    assert_eq!(ticks.lock().unwrap().last(), Some(&(30, 30)), "progress after each batch");
    let covered: usize = first.clusters.iter().map(|c| c.keywords.len()).sum();
    assert_eq!(covered, 30, "every keyword is in one cluster");

    // The same keywords (one spelled with other case and spaces): no model call.
    let calls = embedder.calls.load(Ordering::SeqCst);
    let mut again = keywords.clone();
    again[0].keyword = "  Running   SHOES ".into();
    let second = clustering.cluster_list(&again, ClusterMode::Semantic, &no_progress).await.expect("second");
    assert_eq!((second.embedded, second.cached), (0, 30));
    assert_eq!(embedder.calls.load(Ordering::SeqCst), calls, "no call to the model");
    assert_eq!(as_sets(&keywords, &first.clusters).len(), as_sets(&again, &second.clusters).len());

    // Two new keywords: only they are embedded.
    let mut more = keywords.clone();
    more.push(kw("running shoes for flat feet", 40));
    more.push(kw("yoga mat for beginners", 30));
    let third = clustering.cluster_list(&more, ClusterMode::Semantic, &no_progress).await.expect("third");
    assert_eq!((third.embedded, third.cached), (2, 30));
    let texts = embedder.texts();
    assert_eq!(&texts[30..], ["running shoes for flat feet", "yoga mat for beginners"]);
}

async fn the_same_keywords_in_another_order_cluster_the_same(store: Arc<dyn ItemStore>) {
    let embedder = Arc::new(CountingEmbedder::default());
    let clustering = KeywordClustering::new(semantic_ai(&embedder), Arc::clone(&store));
    let keywords = topics();
    let mut shuffled = keywords.clone();
    shuffled.reverse();
    shuffled.swap(3, 17);
    for mode in [ClusterMode::Semantic, ClusterMode::Lexical] {
        let a = clustering.cluster_list(&keywords, mode, &no_progress).await.expect("a");
        let b = clustering.cluster_list(&shuffled, mode, &no_progress).await.expect("b");
        assert_eq!(as_sets(&keywords, &a.clusters), as_sets(&shuffled, &b.clusters), "{mode:?}");
        let names = |k: &[KeywordInput], o: &igny8_core::clustering::ClusteringOutcome| -> BTreeSet<(String, String)> {
            o.clusters.iter().map(|c| (c.name.clone(), k[c.keywords[0]].keyword.clone())).collect()
        };
        assert_eq!(names(&keywords, &a), names(&shuffled, &b), "same names and pillars ({mode:?})");
    }
}

async fn auto_without_a_model_clusters_lexically_and_says_why(store: Arc<dyn ItemStore>) {
    let clustering = KeywordClustering::new(Arc::new(OfflineProvider::with_year(2026)), Arc::clone(&store));
    let keywords = topics();
    let out = clustering.cluster_list(&keywords, ClusterMode::Auto, &no_progress).await.expect("auto");
    assert_eq!(out.mode, ClusterMode::Lexical);
    let why = out.fallback.expect("the fallback says why");
    assert!(why.contains("lexical") && why.contains("no embedding model"), "{why}");
    let lexical = clustering.cluster_list(&keywords, ClusterMode::Lexical, &no_progress).await.expect("lexical");
    assert_eq!(out.clusters, lexical.clusters, "auto without a model is exactly lexical");
    assert_eq!(lexical.fallback, None);
    // With a model, auto is semantic.
    let embedder = Arc::new(CountingEmbedder::default());
    let with_model = KeywordClustering::new(semantic_ai(&embedder), Arc::clone(&store));
    let out = with_model.cluster_list(&keywords, ClusterMode::Auto, &no_progress).await.expect("auto");
    assert_eq!((out.mode, out.fallback, out.embedded), (ClusterMode::Semantic, None, 30));
}

async fn semantic_without_a_model_is_a_clear_error(store: Arc<dyn ItemStore>) {
    let clustering = KeywordClustering::new(Arc::new(OfflineProvider::with_year(2026)), Arc::clone(&store));
    let e = clustering.cluster_list(&topics(), ClusterMode::Semantic, &no_progress).await.expect_err("no model");
    assert_eq!(e.code(), "embedding_model_missing");
    assert!(e.to_string().contains("scripts/models.sh"), "{e}");
}

// ---------------------------------------------------------------------------------
// Stage 1 of a run, stepped directly (no state machine): the store under test, a
// blob folder for logs and plans, a workflow that only records the start
// ---------------------------------------------------------------------------------

/// A workflow engine that accepts executions and does nothing: the test steps the
/// run itself.
struct NoEngine;

#[async_trait]
impl Workflow for NoEngine {
    async fn start_execution(&self, _name: &str, _input: Value) -> Result<(), WorkflowError> {
        Ok(())
    }
    async fn stop_execution(&self, _name: &str, _error: &str, _cause: &str) -> Result<(), WorkflowError> {
        Ok(())
    }
    async fn send_task_success(&self, _token: &str, _output: Value) -> Result<(), WorkflowError> {
        Ok(())
    }
    async fn send_task_failure(&self, _token: &str, _error: &str, _cause: &str) -> Result<(), WorkflowError> {
        Ok(())
    }
}

struct World {
    services: Services,
    automation: AutomationService,
    account: AccountId,
    sites: AtomicUsize,
    _dir: tempfile::TempDir,
}

async fn world(store: &Arc<dyn ItemStore>, ai: Arc<OfflineProvider>, credits: i64) -> World {
    let dir = tempfile::tempdir().expect("dir");
    let (clock, ids) = (Arc::new(SystemClock), Arc::new(UuidIds));
    let services = Services::with(Arc::clone(store), clock.clone(), ids.clone());
    let ports = AutomationPorts {
        store: Arc::clone(store),
        blobs: Arc::new(BlobDir::open(dir.path().join("blobs")).expect("blobs")),
        queue: Arc::new(SqliteQueue::open(dir.path().join("queue.sqlite"), clock.clone()).expect("queue")),
        ai,
        clock,
        ids,
    };
    let automation = AutomationService::new(ports, services.credits.clone());
    automation.set_workflow(Arc::new(NoEngine));
    let (account, _) = services.account_service.create_account("Acme", credits).await.expect("account");
    World { services, automation, account: account.id, sites: AtomicUsize::new(0), _dir: dir }
}

impl World {
    /// A site with `keywords` imported and its config's cluster mode set.
    async fn site(&self, keywords: &[KeywordInput], mode: ClusterMode) -> SiteId {
        let n = self.sites.fetch_add(1, Ordering::SeqCst);
        let site = self
            .services
            .account_service
            .create_site(&self.account, "Blog", &format!("blog{n}.example.com"))
            .await
            .expect("site");
        let importer = KeywordImporter::new(Arc::clone(&self.services.store), Arc::clone(&self.services.clock));
        importer.import(&self.account, &site.id, keywords).await.expect("import");
        let mut config = self.automation.config(&self.account, &site.id).await.expect("config");
        config.cluster_mode = mode;
        config.min_keywords = 1;
        self.automation.save_config(&self.account, config).await.expect("save config");
        site.id
    }

    /// Starts a run and steps stage 1 until it routes on; the run, or the step's error
    /// after the run was failed the way the state machine's Catch fails it.
    async fn stage_one(&self, site: &SiteId) -> Result<AutomationRun, AutomationError> {
        let run = self.automation.start(&self.account, site, "manual").await?;
        let input = StepInput {
            run_id: run.id.clone(),
            account_id: self.account.clone(),
            site_id: site.clone(),
            task_token: None,
        };
        for _ in 0..100 {
            match self.automation.step(&input, Stage::Clusters).await {
                Ok(out) if out.next == Route::StageClusters => continue,
                Ok(_) => return Ok(self.automation.run(&self.account, &run.id).await.expect("run")),
                Err(e) => {
                    self.automation.fail(&input, e.error_name(), &e.to_string()).await.expect("fail");
                    return Err(e);
                }
            }
        }
        panic!("stage 1 did not finish in 100 steps")
    }

    async fn log(&self, run: &AutomationRun) -> String {
        let log = RunLog { account_id: run.account_id.clone(), site_id: run.site_id.clone(), run_id: run.id.clone() };
        self.automation.logger().main_log(&log).await.expect("log")
    }

    /// Credits charged per operation, from the usage logs.
    async fn charged(&self, operation: &str) -> (i64, usize) {
        let usage = self.services.credits.usage(&self.account, None, 1000, None).await.expect("usage");
        let logs: Vec<_> = usage.items.iter().filter(|u| u.usage.operation == operation).collect();
        (logs.iter().map(|u| u.credits).sum(), logs.iter().map(|u| u.usage.units as usize).sum())
    }

    async fn assert_reconciled(&self) {
        let r = self.services.credits.reconcile(&self.account).await.expect("reconcile");
        assert!(r.balanced && r.held == 0, "{r:?}");
    }
}

async fn a_semantic_run_without_a_model_fails_before_charging(store: Arc<dyn ItemStore>) {
    let w = world(&store, Arc::new(OfflineProvider::with_year(2026)), 10_000).await;
    let site = w.site(&topics(), ClusterMode::Semantic).await;
    let e = w.stage_one(&site).await.expect_err("no model");
    assert_eq!(e.code(), "embedding_model_missing");
    let runs = w.automation.runs(&w.account, &site, 10, None).await.expect("runs");
    let run = runs.items.first().expect("the run");
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.as_deref().unwrap_or_default().contains("embedding_model_missing"), "{:?}", run.error);
    let ledger = w.services.credits.ledger(&w.account, 100, None).await.expect("ledger");
    assert!(ledger.items.iter().all(|t| t.kind != TransactionKind::Charge), "nothing charged");
    assert_eq!(w.services.credits.balance(&w.account).await.expect("balance").credits, 10_000);
    w.assert_reconciled().await;
}

async fn auto_without_a_model_runs_lexically_and_logs_it(store: Arc<dyn ItemStore>) {
    let w = world(&store, Arc::new(OfflineProvider::with_year(2026)), 10_000).await;
    let site = w.site(&topics(), ClusterMode::Auto).await;
    let run = w.stage_one(&site).await.expect("stage 1");
    let log = w.log(&run).await;
    assert!(log.contains("cluster mode auto: lexical, because"), "{log}");
    assert_eq!(w.charged("embedding").await, (0, 0));
    assert!(w.charged("clustering").await.0 > 0);
    w.assert_reconciled().await;
}

async fn a_semantic_run_pays_for_new_embeddings_once_and_reconciles(store: Arc<dyn ItemStore>) {
    let embedder = Arc::new(CountingEmbedder::default());
    let w = world(&store, semantic_ai(&embedder), 10_000).await;
    let keywords = topics();
    let site = w.site(&keywords, ClusterMode::Semantic).await;
    let run = w.stage_one(&site).await.expect("stage 1");
    assert!(run.stages.get(&1).is_some_and(|s| s.processed == 30), "{:?}", run.stages);
    assert_eq!(embedder.texts().len(), 30);
    // 30 keywords embedded: one started 1,000 at the built-in credit per 1,000.
    assert_eq!(w.charged("embedding").await, (1, 30));
    w.assert_reconciled().await;

    // A second site of the same account with the same keywords and two more: only the
    // two new ones are embedded and paid for.
    let mut more = keywords.clone();
    more.push(kw("running shoes for flat feet", 40));
    more.push(kw("yoga mat for beginners", 30));
    let second = w.site(&more, ClusterMode::Semantic).await;
    w.stage_one(&second).await.expect("stage 1 again");
    assert_eq!(embedder.texts().len(), 32, "only the new keywords are embedded");
    assert_eq!(w.charged("embedding").await, (2, 32));
    w.assert_reconciled().await;

    // The same keywords in a third site: nothing embedded, nothing paid for embeddings.
    let third = w.site(&keywords, ClusterMode::Semantic).await;
    w.stage_one(&third).await.expect("stage 1 cached");
    assert_eq!(embedder.texts().len(), 32);
    assert_eq!(w.charged("embedding").await, (2, 32));
    w.assert_reconciled().await;

    // Another account: its own cache, embedded (and paid for) again.
    let other = world(&store, semantic_ai(&embedder), 10_000).await;
    let site = other.site(&keywords, ClusterMode::Semantic).await;
    other.stage_one(&site).await.expect("other tenant");
    assert_eq!(embedder.texts().len(), 62, "another tenant's cache is never used");
    assert_eq!(other.charged("embedding").await, (1, 30));
    other.assert_reconciled().await;
}

async fn the_estimate_counts_the_uncached_keywords(store: Arc<dyn ItemStore>) {
    let embedder = Arc::new(CountingEmbedder::default());
    let w = world(&store, semantic_ai(&embedder), 10_000).await;
    let keywords = topics();
    let lexical = w.site(&keywords, ClusterMode::Lexical).await;
    let semantic = w.site(&keywords, ClusterMode::Semantic).await;
    let base = w.automation.estimate(&w.account, &lexical).await.expect("estimate");
    let with = w.automation.estimate(&w.account, &semantic).await.expect("estimate");
    assert_eq!(with.per_stage[&1], base.per_stage[&1] + 1, "one started 1,000 keywords to embed");
    // Once embedded, the estimate of the same keywords has no embedding cost.
    w.stage_one(&semantic).await.expect("stage 1");
    let cached = w.site(&keywords, ClusterMode::Semantic).await;
    let after = w.automation.estimate(&w.account, &cached).await.expect("estimate");
    assert_eq!(after.per_stage[&1], base.per_stage[&1]);
}
