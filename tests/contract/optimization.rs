//! Contract of the checks and the optimizer, run against SQLite and DynamoDB with
//! articles the offline writer produced: an optimization never lowers an article's
//! score (a worse rewrite is kept for review, not applied, and still paid for), its
//! credits are held before the call and settled after it (the ledger reconciles, the
//! usage log names the operation and the model), a failed call or a short balance
//! costs and writes nothing, a repeated idempotency key charges once, a crash after
//! the charge is finished by the retry, and the estimate is what is charged. Read
//! against docs/optimizer.md.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use igny8_ai::offline::{article, cluster, ideas};
use igny8_ai::{
    AiError, AiProvider, ClusterOptions, ClusterOut, KeywordInput, OfflineProvider, OptimizeOut, OptimizeRequest, Usage,
};
use igny8_core::domain::{
    AccountId, Cluster, Content, ContentId, HoldStatus, Idea, IntegrationId, Platform, Publication, PublicationState,
    RemoteStatus, RunId, SiteId, TransactionKind, WriterTask,
};
use igny8_core::optimization::OptimizationService;
use igny8_core::ports::{
    Condition, Item, ItemStore, Key, ManualClock, Page, Query, StoreError, UpdateAction, UuidIds, WriteOp,
};
use igny8_core::repo::pipeline::transact_counted;
use igny8_core::repo::{ClaimOutcome, PublicationRepo, Records, StoredPublication};
use igny8_core::Services;
use igny8_tests::articles::ArticleRecords;
use igny8_tests::hooked_ai::{AiHooks, HookedAi};

igny8_tests::contract_suite!(
    the_offline_optimizer_raises_the_score_of_offline_articles,
    a_worse_rewrite_is_not_kept_but_is_paid_for,
    a_failed_call_costs_nothing,
    a_short_balance_is_refused_and_writes_nothing,
    the_same_key_charges_once,
    the_estimate_is_what_is_charged,
    a_crash_after_the_charge_is_finished_by_the_retry,
    an_article_changed_during_the_call_is_not_overwritten,
    another_tenants_article_is_not_found,
    the_keyphrase_of_an_old_article_comes_from_its_cluster,
    a_kept_rewrite_of_a_published_article_marks_it_for_update,
);

/// A whole embedded run (SQLite, the real state machine, the offline provider) of
/// `examples/keywords.csv`: stage 4 records each article's cluster pillar as its focus
/// keyphrase, and the offline optimizer raises every article's score.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_real_run_records_keyphrases_and_its_articles_optimize_upward() {
    let dir = tempfile::tempdir().expect("dir");
    let ai = Arc::new(OfflineProvider::with_year(2026));
    let options = igny8_asl::ExecutorOptions { time_scale: 0.0, ..igny8_asl::ExecutorOptions::default() };
    let rt = igny8_wiring::embedded::LocalRuntime::open(
        dir.path(),
        ai.clone(),
        Arc::new(igny8_core::ports::SystemClock),
        Arc::new(UuidIds),
        options,
    )
    .expect("runtime");
    let s = &rt.services;
    let (account, _) = s.account_service.create_account("Acme", 1_000_000).await.expect("account");
    let site = s.account_service.create_site(&account.id, "Blog", "blog.example.com").await.expect("site");
    let keywords = igny8_core::planner::parse_keywords_csv(include_bytes!("../../examples/keywords.csv")).expect("csv");
    rt.importer.import(&account.id, &site.id, &keywords[..30]).await.expect("import");
    let run = rt.automation.start(&account.id, &site.id, "manual").await.expect("start");
    rt.drive(&run.id, |_| {}).await.expect("drive");
    let store = &s.store;
    let contents = Records::<Content>::new(Arc::clone(store)).all(&site.id).await.expect("contents");
    assert!(contents.len() >= 3, "the run wrote articles: {}", contents.len());
    let provider: Arc<dyn AiProvider> = ai;
    let optimizer = OptimizationService::new(
        s.checks.clone(),
        s.credits.clone(),
        provider,
        Arc::clone(&s.clock),
        Arc::clone(&s.ids),
    );
    for content in &contents {
        let (tasks, ideas, clusters) = (
            Records::<WriterTask>::new(Arc::clone(store)),
            Records::<Idea>::new(Arc::clone(store)),
            Records::<Cluster>::new(Arc::clone(store)),
        );
        let task = tasks.get(&site.id, content.task_id.as_str()).await.expect("read").expect("task");
        let idea = ideas.get(&site.id, task.idea_id.as_str()).await.expect("read").expect("idea");
        let cluster = clusters.get(&site.id, idea.cluster_id.as_str()).await.expect("read").expect("cluster");
        assert_eq!(content.focus_keyphrase, cluster.pillar_keyword);
        let record = optimizer.optimize(&account.id, &site.id, &content.id, None).await.expect("optimize");
        assert!(
            record.kept && record.after.score > record.before.score,
            "{} → {}",
            record.before.score,
            record.after.score
        );
    }
    let r = s.credits.reconcile(&account.id).await.expect("reconcile");
    assert!(r.balanced && r.held == 0, "{r:?}");
    let usage = s.credits.usage(&account.id, None, 1000, None).await.expect("usage");
    let optimizations = usage.items.iter().filter(|u| u.usage.operation == "optimization").count();
    assert_eq!(optimizations, contents.len());
}

/// 2026-11-15T12:00:00Z.
const T0: i64 = 1_794_744_000_000;

/// What a test provider does with an optimize call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The offline provider's rewrite.
    Offline,
    /// A rewrite that drops the keyphrase and the meta description (scores lower).
    Worse,
    /// The provider fails.
    Fail,
}

/// The offline provider with a switchable optimize call that counts its calls and
/// can run a side effect while "the model thinks".
struct TestAi {
    mode: Mutex<Mode>,
    calls: AtomicUsize,
    during_call: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
}

impl TestAi {
    fn new(mode: Mode) -> Arc<HookedAi<Self>> {
        let hooks = Self { mode: Mutex::new(mode), calls: AtomicUsize::new(0), during_call: Mutex::new(None) };
        Arc::new(HookedAi::new(Arc::new(OfflineProvider::with_year(2026)), hooks))
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl AiHooks for TestAi {
    async fn optimize_article(
        &self,
        inner: &dyn AiProvider,
        r: &OptimizeRequest,
    ) -> Result<(OptimizeOut, Usage), AiError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(effect) = self.during_call.lock().unwrap().take() {
            effect();
        }
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::Offline => inner.optimize_article(r).await,
            Mode::Fail => Err(AiError::Provider("model refused".into())),
            Mode::Worse => {
                let (mut out, usage) = inner.optimize_article(r).await?;
                out.title = "Notes".into();
                out.meta_description = String::new();
                out.html = r.html.replace(&r.focus_keyphrase, "it");
                Ok((out, Usage { model: "worse-model".into(), ..usage }))
            }
        }
    }
}

/// A store that fails the first transaction marking an optimization done: the process
/// "dies" after the charge and before the article's update.
struct CrashingStore {
    inner: Arc<dyn ItemStore>,
    armed: AtomicBool,
}

#[async_trait]
impl ItemStore for CrashingStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn query(&self, query: &Query) -> Result<Page<Item>, StoreError> {
        self.inner.query(query).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.inner.put(item, condition).await
    }
    async fn update(
        &self,
        key: &Key,
        actions: Vec<UpdateAction>,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        self.inner.update(key, actions, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        self.inner.delete(key, condition).await
    }
    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        let finishes = writes.iter().any(
            |w| matches!(w, WriteOp::Put { item, .. } if item.get("state").and_then(|s| s.as_str()) == Some("done")),
        );
        if finishes && self.armed.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Backend("the process died".into()));
        }
        self.inner.transact(writes).await
    }
}

struct World {
    s: Services,
    store: Arc<dyn ItemStore>,
    ai: Arc<HookedAi<TestAi>>,
    optimizer: OptimizationService,
    account: AccountId,
    site: SiteId,
}

async fn world(store: &Arc<dyn ItemStore>, credits: i64, mode: Mode) -> World {
    let clock = Arc::new(ManualClock::at(T0));
    let s = Services::with(Arc::clone(store), clock.clone(), Arc::new(UuidIds));
    let (account, _) = s.account_service.create_account("Acme", credits).await.expect("account");
    let site = s.account_service.create_site(&account.id, "Blog", "https://Blog.Example.com/").await.expect("site");
    let ai = TestAi::new(mode);
    let optimizer = optimizer(&s, &ai);
    World { s, store: Arc::clone(store), ai, optimizer, account: account.id, site: site.id }
}

fn optimizer(s: &Services, ai: &Arc<HookedAi<TestAi>>) -> OptimizationService {
    let provider: Arc<dyn AiProvider> = ai.clone();
    OptimizationService::new(s.checks.clone(), s.credits.clone(), provider, Arc::clone(&s.clock), Arc::clone(&s.ids))
}

/// The clusters the offline clustering makes of a few keyword families.
fn clusters() -> (Vec<KeywordInput>, Vec<ClusterOut>) {
    let keywords: Vec<KeywordInput> = [
        ("running shoes", 5000),
        ("best running shoes", 3000),
        ("trail running shoes", 900),
        ("running shoes for flat feet", 700),
        ("chocolate cake recipe", 4000),
        ("easy chocolate cake", 800),
        ("chocolate cake frosting", 500),
        ("garden hose reel", 2000),
        ("best garden hose reel", 600),
        ("wall mounted garden hose reel", 300),
    ]
    .iter()
    .map(|(k, v)| KeywordInput::new(*k, *v))
    .collect();
    let clusters = cluster::cluster_keywords(&keywords, &ClusterOptions::default()).expect("clusters");
    (keywords, clusters)
}

/// Writes an article as stage 4 leaves it (with its cluster, idea and task), written by
/// the offline writer for idea `n` of cluster `c`; `keyphrase` says whether it records
/// its focus keyphrase (older articles do not).
async fn offline_article(w: &World, c: usize, n: usize, keyphrase: bool) -> Content {
    let (keywords, clusters) = clusters();
    let out = &clusters[c % clusters.len()];
    let idea_out = ideas::generate_ideas(out, &keywords, n + 1, 2026).expect("ideas").remove(n);
    let written = article::generate_article(&idea_out, idea_out.word_target).expect("article");
    let seed = format!("{}/{c}/{n}", w.site);
    let mut records = ArticleRecords::new(&w.account, &w.site, &RunId::derive("run"), &seed, "2026-11-15T12:00:00Z");
    let ArticleRecords { cluster, idea, content, .. } = &mut records;
    cluster.name = out.name.clone();
    cluster.pillar_keyword = out.pillar_keyword.clone();
    cluster.intent = out.intent.clone();
    cluster.total_volume = out.total_volume;
    cluster.description = out.description.clone();
    idea.title = idea_out.title.clone();
    idea.outline = idea_out.outline.clone();
    idea.target_keyword = idea_out.target_keyword.clone();
    idea.secondary_keywords = idea_out.secondary_keywords.clone();
    idea.word_target = idea_out.word_target;
    idea.content_type = idea_out.content_type.clone();
    content.title = written.title;
    content.html = written.html;
    content.word_count = written.word_count;
    content.meta_description = written.meta_description;
    content.focus_keyphrase = if keyphrase { cluster.pillar_keyword.clone() } else { String::new() };
    let writes = records.writes(&w.store);
    transact_counted(&*w.store, writes).await.expect("write article");
    records.content
}

async fn stored(w: &World, id: &ContentId) -> Content {
    Records::<Content>::new(Arc::clone(&w.store)).get(&w.site, id.as_str()).await.expect("read").expect("content")
}

/// The account's charges (ledger entries of kind charge).
async fn charges(w: &World) -> Vec<i64> {
    let page = w.s.credits.ledger(&w.account, 1000, None).await.expect("ledger");
    page.items.iter().filter(|t| t.kind == TransactionKind::Charge).map(|t| t.amount).collect()
}

async fn assert_reconciles(w: &World) {
    let r = w.s.credits.reconcile(&w.account).await.expect("reconcile");
    assert!(r.balanced, "{r:?}");
    assert_eq!(r.held, 0, "no hold is left open: {r:?}");
}

/// Every offline article of several clusters and idea angles scores higher after the
/// offline optimizer, and the article then holds the rewrite.
async fn the_offline_optimizer_raises_the_score_of_offline_articles(store: Arc<dyn ItemStore>) {
    let w = world(&store, 10_000, Mode::Offline).await;
    for (c, n) in [(0, 0), (0, 1), (1, 0), (2, 0), (2, 1)] {
        let a = offline_article(&w, c, n, true).await;
        let before = w.s.checks.analyze(&w.account, &w.site, &a.id).await.expect("analyze");
        assert_eq!(before.focus_keyphrase, a.focus_keyphrase);
        let record = w.optimizer.optimize(&w.account, &w.site, &a.id, None).await.expect("optimize");
        assert_eq!(record.before.score, before.analysis.score);
        assert!(!record.flagged.is_empty(), "offline articles have something to improve");
        assert!(record.kept, "kept: {} → {} for {:?}", record.before.score, record.after.score, record.flagged);
        assert!(record.after.score > record.before.score);
        let now = stored(&w, &a.id).await;
        assert_eq!(
            (&now.title, &now.meta_description, &now.html),
            (&record.after.title, &record.after.meta_description, &record.after.html)
        );
        let after = w.s.checks.analyze(&w.account, &w.site, &a.id).await.expect("analyze again");
        assert_eq!(after.analysis.score, record.after.score);
        assert!(!after.validation.is_blocking(), "the rewrite validates: {:?}", after.validation);
        let history = w.optimizer.history(&w.account, &w.site, &a.id).await.expect("history");
        assert_eq!(history, vec![record]);
    }
    assert_reconciles(&w).await;
    igny8_tests::counters::assert_counts(&w.store, &w.site).await;
}

/// A rewrite that scores lower is stored for review but not applied; the call is paid.
async fn a_worse_rewrite_is_not_kept_but_is_paid_for(store: Arc<dyn ItemStore>) {
    let w = world(&store, 1_000, Mode::Worse).await;
    let a = offline_article(&w, 0, 0, true).await;
    let estimate = w.optimizer.estimate(&w.account, &w.site, &a.id).await.expect("estimate");
    let record = w.optimizer.optimize(&w.account, &w.site, &a.id, Some("worse")).await.expect("optimize");
    assert!(!record.kept);
    assert!(record.after.score <= record.before.score, "{} → {}", record.before.score, record.after.score);
    assert_eq!(record.model, "worse-model");
    assert_eq!(stored(&w, &a.id).await, a, "the article is unchanged");
    assert_eq!(record.credits, estimate.credits);
    assert_eq!(charges(&w).await, vec![-estimate.credits]);
    assert_eq!(w.s.credits.balance(&w.account).await.expect("balance").available, 1_000 - estimate.credits);
    let usage = w.s.credits.usage(&w.account, None, 10, None).await.expect("usage");
    assert_eq!(usage.items.len(), 1);
    let log = &usage.items[0];
    assert_eq!(log.usage.operation, "optimization");
    assert_eq!(log.usage.model.as_deref(), Some("worse-model"));
    assert_eq!(log.usage.units, estimate.units);
    assert!(log.usage.tokens_in > 0 && log.usage.tokens_out > 0);
    assert_eq!(log.credits, estimate.credits);
    let holds = w.s.credits.holds(&w.account, 10, None).await.expect("holds");
    assert_eq!(holds.items.len(), 1);
    assert_eq!(holds.items[0].status, HoldStatus::Settled);
    assert_eq!(w.optimizer.history(&w.account, &w.site, &a.id).await.expect("history"), vec![record]);
    assert_reconciles(&w).await;
}

/// A failed call releases its hold: the balance, the ledger and the history are as
/// before; a retry with the same key takes a fresh hold and succeeds.
async fn a_failed_call_costs_nothing(store: Arc<dyn ItemStore>) {
    let w = world(&store, 1_000, Mode::Fail).await;
    let a = offline_article(&w, 1, 0, true).await;
    let err = w.optimizer.optimize(&w.account, &w.site, &a.id, Some("k")).await.expect_err("fails");
    assert_eq!(err.code(), "ai_failed");
    assert_eq!(w.s.credits.balance(&w.account).await.expect("balance").available, 1_000);
    assert!(charges(&w).await.is_empty());
    assert!(w.s.credits.usage(&w.account, None, 10, None).await.expect("usage").items.is_empty());
    assert!(w.optimizer.history(&w.account, &w.site, &a.id).await.expect("history").is_empty());
    assert_eq!(stored(&w, &a.id).await, a);
    assert_reconciles(&w).await;
    *w.ai.hooks().mode.lock().unwrap() = Mode::Offline;
    let record = w.optimizer.optimize(&w.account, &w.site, &a.id, Some("k")).await.expect("retry");
    assert!(record.kept);
    assert_eq!(charges(&w).await, vec![-record.credits]);
    assert_reconciles(&w).await;
}

/// Without the credits the optimization is refused before the call; nothing is written.
async fn a_short_balance_is_refused_and_writes_nothing(store: Arc<dyn ItemStore>) {
    let w = world(&store, 1, Mode::Offline).await;
    let a = offline_article(&w, 0, 0, true).await;
    let estimate = w.optimizer.estimate(&w.account, &w.site, &a.id).await.expect("estimate");
    assert!(estimate.credits > 1 && estimate.available == 1, "{estimate:?}");
    let err = w.optimizer.optimize(&w.account, &w.site, &a.id, None).await.expect_err("refused");
    assert_eq!(err.code(), "insufficient_credits");
    assert_eq!(w.ai.hooks().calls(), 0);
    assert_eq!(stored(&w, &a.id).await, a);
    assert!(w.optimizer.history(&w.account, &w.site, &a.id).await.expect("history").is_empty());
    assert!(w.s.credits.holds(&w.account, 10, None).await.expect("holds").items.is_empty());
    assert!(charges(&w).await.is_empty());
    assert_reconciles(&w).await;
}

/// The same idempotency key (or, without one, the same article text) is one
/// optimization: one call, one charge, the first record returned.
async fn the_same_key_charges_once(store: Arc<dyn ItemStore>) {
    let w = world(&store, 10_000, Mode::Offline).await;
    let a = offline_article(&w, 0, 0, true).await;
    let first = w.optimizer.optimize(&w.account, &w.site, &a.id, Some("once")).await.expect("first");
    let again = w.optimizer.optimize(&w.account, &w.site, &a.id, Some("once")).await.expect("again");
    assert_eq!(first, again);
    assert_eq!((w.ai.hooks().calls(), charges(&w).await), (1, vec![-first.credits]));
    // Without a key: the article's current text is the key.
    let b = offline_article(&w, 1, 0, true).await;
    let (x, y) = futures::join!(
        w.optimizer.optimize(&w.account, &w.site, &b.id, None),
        w.optimizer.optimize(&w.account, &w.site, &b.id, None)
    );
    let (x, y) = (x.expect("x"), y.expect("y"));
    assert_eq!(x, y, "concurrent requests for the same text are one optimization");
    assert_eq!(charges(&w).await.len(), 2);
    // The rewritten article is new text: optimizing it again is a new optimization
    // (or none, when nothing is left to improve).
    let next = w.optimizer.optimize(&w.account, &w.site, &b.id, None).await.expect("next");
    assert_ne!(next.id, x.id);
    assert_eq!(next.before.score, x.after.score);
    assert!(next.after.score >= next.before.score || !next.kept);
    assert_reconciles(&w).await;
}

/// The estimate prices the article's words as the charge does, and a flagged-free
/// article costs nothing and calls nothing.
async fn the_estimate_is_what_is_charged(store: Arc<dyn ItemStore>) {
    let w = world(&store, 10_000, Mode::Offline).await;
    let a = offline_article(&w, 2, 0, true).await;
    let estimate = w.optimizer.estimate(&w.account, &w.site, &a.id).await.expect("estimate");
    assert_eq!(estimate.operation, "optimization");
    assert_eq!(estimate.units, i64::from(a.word_count));
    assert_eq!(estimate.credits, w.s.credits.cost("optimization", estimate.units).await.expect("cost"));
    assert_eq!(estimate.available, 10_000);
    assert!(!estimate.flagged.is_empty());
    let record = w.optimizer.optimize(&w.account, &w.site, &a.id, None).await.expect("optimize");
    assert_eq!(record.credits, estimate.credits);
    assert_eq!(record.flagged, estimate.flagged);
    assert_eq!(w.s.credits.balance(&w.account).await.expect("balance").available, 10_000 - estimate.credits);
    // Optimize until nothing is flagged or nothing improves; a clean article is free.
    for _ in 0..5 {
        let e = w.optimizer.estimate(&w.account, &w.site, &a.id).await.expect("estimate");
        let r = w.optimizer.optimize(&w.account, &w.site, &a.id, None).await.expect("optimize");
        assert_eq!(r.credits, e.credits);
        if e.flagged.is_empty() {
            assert_eq!((r.credits, r.kept, &r.after), (0, false, &r.before));
            break;
        }
        if !r.kept {
            break;
        }
    }
    assert_reconciles(&w).await;
}

/// The process dies after the charge and before the article's update: the retry with
/// the same key finishes it without calling the provider or charging again.
async fn a_crash_after_the_charge_is_finished_by_the_retry(store: Arc<dyn ItemStore>) {
    let crashing: Arc<dyn ItemStore> =
        Arc::new(CrashingStore { inner: Arc::clone(&store), armed: AtomicBool::new(true) });
    let w = world(&crashing, 10_000, Mode::Offline).await;
    let a = offline_article(&w, 0, 1, true).await;
    let err = w.optimizer.optimize(&w.account, &w.site, &a.id, Some("crash")).await.expect_err("dies");
    assert_eq!(err.code(), "internal", "{err}");
    assert_eq!(stored(&w, &a.id).await, a, "the article was not touched");
    assert_eq!(charges(&w).await.len(), 1, "the charge landed");
    assert!(w.optimizer.history(&w.account, &w.site, &a.id).await.expect("history").is_empty());
    let record = w.optimizer.optimize(&w.account, &w.site, &a.id, Some("crash")).await.expect("retry");
    assert!(record.kept);
    assert_eq!(w.ai.hooks().calls(), 1, "the stored rewrite is applied, not asked for again");
    assert_eq!(charges(&w).await, vec![-record.credits]);
    assert_eq!(stored(&w, &a.id).await.html, record.after.html);
    assert_reconciles(&w).await;
}

/// An article edited while the provider works keeps the edit: the rewrite of the old
/// text is recorded (not kept) and paid for.
async fn an_article_changed_during_the_call_is_not_overwritten(store: Arc<dyn ItemStore>) {
    let w = world(&store, 10_000, Mode::Offline).await;
    let a = offline_article(&w, 1, 0, true).await;
    let (edit_store, site, id) = (Arc::clone(&w.store), w.site.clone(), a.id.clone());
    *w.ai.hooks().during_call.lock().unwrap() = Some(Box::new(move || {
        let (store, site, id) = (Arc::clone(&edit_store), site.clone(), id.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let key = igny8_core::repo::pipeline::key::<Content>(&site, id.as_str());
                store.update(&key, vec![UpdateAction::set("title", "Edited by hand")], None).await.unwrap();
            });
        })
        .join()
        .unwrap();
    }));
    let record = w.optimizer.optimize(&w.account, &w.site, &a.id, None).await.expect("optimize");
    assert!(!record.kept, "the article changed under the rewrite");
    assert!(record.after.score > record.before.score, "the rewrite itself was better");
    let now = stored(&w, &a.id).await;
    assert_eq!((now.title.as_str(), &now.html), ("Edited by hand", &a.html));
    assert_eq!(charges(&w).await, vec![-record.credits]);
    assert_reconciles(&w).await;
}

/// Another account's article is not found by any of the calls, and costs nothing.
async fn another_tenants_article_is_not_found(store: Arc<dyn ItemStore>) {
    let w = world(&store, 10_000, Mode::Offline).await;
    let a = offline_article(&w, 0, 0, true).await;
    let (other, _) = w.s.account_service.create_account("Other", 10_000).await.expect("account");
    let codes = [
        w.s.checks.analyze(&other.id, &w.site, &a.id).await.map(|_| ()).expect_err("analyze").code(),
        w.s.checks.validate(&other.id, &w.site, &a.id).await.map(|_| ()).expect_err("validate").code(),
        w.optimizer.estimate(&other.id, &w.site, &a.id).await.map(|_| ()).expect_err("estimate").code(),
        w.optimizer.optimize(&other.id, &w.site, &a.id, None).await.map(|_| ()).expect_err("optimize").code(),
        w.optimizer.history(&other.id, &w.site, &a.id).await.map(|_| ()).expect_err("history").code(),
    ];
    assert_eq!(codes, ["not_found"; 5]);
    assert_eq!(w.ai.hooks().calls(), 0);
    assert_eq!(w.s.credits.balance(&other.id).await.expect("balance").available, 10_000);
    let missing = ContentId::derive("missing");
    let err = w.s.checks.analyze(&w.account, &w.site, &missing).await.expect_err("missing");
    assert_eq!(err.code(), "not_found");
}

/// An article stored before the keyphrase was recorded is scored for its cluster's
/// pillar, found through its task and idea; the article text carries the site's host.
async fn the_keyphrase_of_an_old_article_comes_from_its_cluster(store: Arc<dyn ItemStore>) {
    let w = world(&store, 10_000, Mode::Offline).await;
    let a = offline_article(&w, 0, 1, false).await;
    assert!(a.focus_keyphrase.is_empty());
    let (_, clusters) = clusters();
    let text = w.s.checks.article_text(&a).await.expect("article text");
    assert_eq!(text.focus_keyphrase, clusters[0].pillar_keyword);
    assert_eq!(text.site_host, "blog.example.com");
    assert_eq!(text.language, "en");
    assert_eq!(text.slug, igny8_core::publishing::article::slugify(&a.title, a.id.as_str()));
    let analysis = w.s.checks.analyze(&w.account, &w.site, &a.id).await.expect("analyze");
    assert_eq!(analysis.focus_keyphrase, clusters[0].pillar_keyword);
    let record = w.optimizer.optimize(&w.account, &w.site, &a.id, None).await.expect("optimize");
    assert!(record.kept);
}

/// A publication of `content` on a WordPress integration as the publisher leaves it:
/// published with remote post 42 (or still without a remote post), unclaimed.
async fn publication(w: &World, content: &Content, integration: &str, remote: bool) -> StoredPublication {
    let fresh = Publication {
        account_id: w.account.clone(),
        site_id: w.site.clone(),
        content_id: content.id.clone(),
        integration_id: IntegrationId::derive(integration),
        platform: Platform::Wordpress,
        state: PublicationState::Published,
        requested_status: RemoteStatus::Publish,
        publish_at: None,
        slug: "a-slug".into(),
        remote_id: remote.then(|| "42".to_owned()),
        remote_url: None,
        remote_status: None,
        remote_modified: None,
        media: Vec::new(),
        featured_media: None,
        seo_accepted: Vec::new(),
        seo_rejected: Vec::new(),
        skipped_terms: Vec::new(),
        attempts: 1,
        last_error: None,
        needs_update: false,
        published_at: None,
        updated_at: "2026-11-15T12:00:00Z".into(),
    };
    let repo = PublicationRepo::new(Arc::clone(&w.store));
    let ClaimOutcome::Claimed(mut stored) = repo.claim(fresh, "token", T0, |_| {}).await.expect("claim") else {
        panic!("not claimed");
    };
    stored.publication.state = PublicationState::Published;
    assert!(repo.release(&mut stored).await.expect("release"));
    stored
}

/// A kept rewrite of a published article marks its publications with a remote post
/// `needs_update` (the publisher sends the rewrite), in the transaction that applies it;
/// one without a remote post, and a rewrite not kept, mark nothing.
async fn a_kept_rewrite_of_a_published_article_marks_it_for_update(store: Arc<dyn ItemStore>) {
    let w = world(&store, 10_000, Mode::Worse).await;
    let a = offline_article(&w, 0, 0, true).await;
    let live = publication(&w, &a, "live", true).await;
    let pending = publication(&w, &a, "pending", false).await;
    let repo = PublicationRepo::new(Arc::clone(&w.store));
    let read = |p: &StoredPublication| {
        let (repo, p) = (repo.clone(), p.publication.clone());
        async move { repo.get(&p.site_id, &p.content_id, &p.integration_id).await.expect("read").expect("publication") }
    };
    let worse = w.optimizer.optimize(&w.account, &w.site, &a.id, None).await.expect("worse");
    assert!(!worse.kept);
    assert_eq!(read(&live).await, live, "a rewrite not kept marks nothing");
    *w.ai.hooks().mode.lock().unwrap() = Mode::Offline;
    let kept = w.optimizer.optimize(&w.account, &w.site, &a.id, Some("better")).await.expect("better");
    assert!(kept.kept);
    let now = read(&live).await;
    assert!(now.publication.needs_update);
    assert_eq!(now.version, live.version + 1);
    assert!(now.claim_token.is_none());
    assert_eq!(read(&pending).await, pending, "no remote post, nothing to update");
}
