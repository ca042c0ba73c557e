//! End to end: stage 1 gives one cluster per topic, the same every time. Whole runs
//! through the real `statemachines/automation.asl.json` on the embedded default
//! (SQLite, blob folder, offline AI provider).

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use igny8_ai::offline::text::topic_phrase;
use igny8_ai::{AiError, AiProvider, KeywordInput, OfflineProvider};
use igny8_asl::{ExecutionStatus, ExecutorOptions};
use igny8_core::automation::{RunSummary, StepInput};
use igny8_core::domain::{AccountId, Cluster, Keyword, KeywordStatus, RunStatus, SiteId, Stage};
use igny8_core::planner::parse_keywords_csv;
use igny8_core::ports::{SystemClock, UuidIds};
use igny8_core::repo::Records;
use igny8_tests::hooked_ai::{AiHooks, Call, HookedAi};
use igny8_wiring::embedded::LocalRuntime;
use tokio::sync::Notify;

const KEYWORDS: &[u8] = include_bytes!("../../examples/keywords.csv");

struct World {
    rt: LocalRuntime,
    account: AccountId,
    site: SiteId,
    _dir: tempfile::TempDir,
}

/// A fresh data directory, account and site, with `keywords` imported and a config
/// that keeps the rest of the run short (one idea per cluster, no images) and cuts
/// stage 1 into slices of `stage1_batch` keywords.
async fn world(keywords: &[KeywordInput], stage1_batch: u32) -> World {
    world_with(keywords, stage1_batch, Arc::new(OfflineProvider::with_year(2026))).await
}

async fn world_with(keywords: &[KeywordInput], stage1_batch: u32, ai: Arc<dyn AiProvider>) -> World {
    let dir = tempfile::tempdir().expect("dir");
    let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
    let rt = LocalRuntime::open(dir.path(), ai, Arc::new(SystemClock), Arc::new(UuidIds), options).expect("runtime");
    let (account, _) = rt.services.account_service.create_account("Acme", 10_000_000).await.expect("account");
    let site = rt.services.account_service.create_site(&account.id, "Blog", "blog.example.com").await.expect("site");
    let mut config = rt.automation.config(&account.id, &site.id).await.expect("config");
    config.batch_sizes[0] = stage1_batch;
    config.ideas_per_cluster = 1;
    config.images_per_article = 0;
    rt.automation.save_config(&account.id, config).await.expect("save config");
    let w = World { rt, account: account.id, site: site.id, _dir: dir };
    import(&w, keywords).await;
    w
}

async fn import(w: &World, keywords: &[KeywordInput]) {
    w.rt.importer.import(&w.account, &w.site, keywords).await.expect("import");
}

async fn run_to_end(w: &World) -> RunSummary {
    let run = w.rt.automation.start(&w.account, &w.site, "manual").await.expect("start");
    let outcome = w.rt.drive(&run.id, |_| {}).await.expect("drive");
    assert_eq!(outcome.status, ExecutionStatus::Succeeded);
    let summary = w.rt.automation.summary(&w.account, &run.id).await.expect("summary");
    assert_eq!(summary.status, RunStatus::Completed, "{summary:?}");
    summary
}

async fn clusters(w: &World) -> Vec<Cluster> {
    Records::<Cluster>::new(Arc::clone(&w.rt.services.store)).all(&w.site).await.expect("clusters")
}

async fn keywords(w: &World) -> Vec<Keyword> {
    Records::<Keyword>::new(Arc::clone(&w.rt.services.store)).all(&w.site).await.expect("keywords")
}

/// The site's clusters as content: name, pillar and sorted member texts, sorted.
async fn content(w: &World) -> Vec<(String, String, Vec<String>)> {
    let text: BTreeMap<_, _> = keywords(w).await.into_iter().map(|k| (k.id, k.keyword)).collect();
    let mut out: Vec<_> = clusters(w)
        .await
        .into_iter()
        .map(|c| {
            let mut members: Vec<String> = c.keyword_ids.iter().map(|id| text[id].clone()).collect();
            members.sort();
            (c.name, c.pillar_keyword, members)
        })
        .collect();
    out.sort();
    out
}

fn assert_one_cluster_per_name_and_pillar(content: &[(String, String, Vec<String>)]) {
    let names: BTreeSet<String> = content.iter().map(|c| c.0.to_lowercase()).collect();
    let pillars: BTreeSet<&str> = content.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(names.len(), content.len(), "two clusters share a name: {content:?}");
    assert_eq!(pillars.len(), content.len(), "two clusters share a pillar: {content:?}");
    for (name, pillar, members) in content {
        assert!(
            members.iter().any(|m| igny8_ai::offline::text::clean_phrase(m) == *pillar),
            "{name}: pillar {pillar} is a member"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_fresh_runs_of_one_file_give_the_same_clusters() {
    let all = parse_keywords_csv(KEYWORDS).expect("keywords");
    let a = world(&all, 200).await;
    let estimate = a.rt.automation.estimate(&a.account, &a.site).await.expect("estimate");
    let first = run_to_end(&a).await;
    // One clustering request per slice of the plan: charged, and within the estimate.
    let stage1 = first.credits_by_stage.get(&1).copied().unwrap_or(0);
    assert!(stage1 > 0 && stage1 <= estimate.per_stage[&1], "{stage1} vs {estimate:?}");
    // Another site (so other keyword ids), the rows in reverse order and other slice
    // boundaries: none of it may change a cluster.
    let mut reversed = all.clone();
    reversed.reverse();
    let b = world(&reversed, 37).await;
    let second = run_to_end(&b).await;

    let (ca, cb) = (content(&a).await, content(&b).await);
    assert_eq!(ca, cb);
    assert_eq!(first.clusters, second.clusters);
    assert_eq!(first.clusters as usize, ca.len());
    assert_one_cluster_per_name_and_pillar(&ca);
    // Every keyword is in exactly one cluster, and its record points there.
    let ks = keywords(&a).await;
    assert!(ks.iter().all(|k| k.status == KeywordStatus::Clustered && k.cluster_id.is_some()));
    let listed: usize = clusters(&a).await.iter().map(|c| c.keyword_ids.len()).sum();
    assert_eq!(listed, ks.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keywords_of_known_topics_join_the_existing_clusters() {
    let all = parse_keywords_csv(KEYWORDS).expect("keywords");
    let w = world(&all, 200).await;
    run_to_end(&w).await;
    let before = clusters(&w).await;
    let known: BTreeSet<String> = keywords(&w).await.into_iter().map(|k| k.keyword).collect();

    // 100 new keywords: "best <topic> <qualifier>" for the topics of clusters of
    // several keywords (their pillar's topic words).
    let qualifiers = ["for small apartments", "for seniors", "for travel", "under 50 dollars", "for families"];
    let mut topics: Vec<&Cluster> = before.iter().filter(|c| c.keyword_ids.len() >= 3).collect();
    topics.sort_by(|x, y| x.name.cmp(&y.name));
    let mut added: Vec<(KeywordInput, &Cluster)> = Vec::new();
    'fill: for round in 0.. {
        assert!(round < qualifiers.len(), "not enough topics to make 100 new keywords");
        for c in &topics {
            let keyword = format!("best {} {}", topic_phrase(&c.pillar_keyword), qualifiers[round]);
            if !known.contains(&keyword) {
                added.push((KeywordInput::new(keyword, 40 + round as i64), c));
            }
            if added.len() == 100 {
                break 'fill;
            }
        }
    }
    import(&w, &added.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()).await;
    let second = run_to_end(&w).await;

    let after = clusters(&w).await;
    assert_eq!(after.len(), before.len(), "no new cluster for known topics");
    assert_eq!(second.clusters, 0, "{second:?}");
    let by_text: BTreeMap<String, Keyword> = keywords(&w).await.into_iter().map(|k| (k.keyword.clone(), k)).collect();
    let by_id: BTreeMap<_, _> = after.iter().map(|c| (c.id.clone(), c)).collect();
    for (k, home) in &added {
        let record = &by_text[&k.keyword];
        assert_eq!(record.status, KeywordStatus::Clustered);
        let joined = record.cluster_id.as_ref().expect("clustered");
        assert_eq!(joined, &home.id, "{} joined {:?}, not {:?}", k.keyword, by_id[joined].name, home.name);
        assert!(by_id[joined].keyword_ids.contains(&record.id), "the cluster lists its new keyword");
    }
    // The clusters that grew kept their names, pillars and ids.
    for c in &before {
        let now = by_id[&c.id];
        assert_eq!((&now.name, &now.pillar_keyword), (&c.name, &c.pillar_keyword));
    }
    assert_one_cluster_per_name_and_pillar(&content(&w).await);
}

/// The offline provider, holding its first naming call (stage 1's first slice, after
/// the plan is stored) until the test lets it go.
struct Held {
    holding: std::sync::atomic::AtomicBool,
    entered: Notify,
    release: Notify,
}

#[async_trait]
impl AiHooks for Held {
    async fn before(&self, call: Call<'_>) -> Result<(), AiError> {
        if matches!(call, Call::NameClusters { .. }) && self.holding.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.entered.notify_one();
            self.release.notified().await;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keywords_imported_while_stage_1_writes_get_a_plan_of_their_own() {
    let all = parse_keywords_csv(KEYWORDS).expect("keywords");
    let (first_part, later) = all.split_at(500);
    let ai = held();
    let w = world_with(first_part, 50, ai.clone()).await;
    let run = w.rt.automation.start(&w.account, &w.site, "manual").await.expect("start");
    let driver = {
        let rt = w.rt.clone();
        let id = run.id.clone();
        tokio::spawn(async move { rt.drive(&id, |_| {}).await })
    };
    // The run has planned its 500 keywords and is naming the first slice: the rest
    // of the file arrives now.
    ai.hooks().entered.notified().await;
    import(&w, later).await;
    ai.hooks().release.notify_one();
    let outcome = driver.await.expect("driver").expect("drive");
    assert_eq!(outcome.status, ExecutionStatus::Succeeded);
    let summary = w.rt.automation.summary(&w.account, &run.id).await.expect("summary");
    assert_eq!(summary.status, RunStatus::Completed, "{summary:?}");

    // The late keywords got the run's second plan.
    let plans = format!("plans/{}/{}/{}/clusters/", w.account, w.site, run.id);
    let slices = w.rt.blobs.list(&plans).await.expect("plan slices");
    assert!(slices.iter().any(|b| b.key.starts_with(&format!("{plans}1/"))), "{slices:?}");
    assert!(!slices.iter().any(|b| b.key.starts_with(&format!("{plans}2/"))), "{slices:?}");
    let ks = keywords(&w).await;
    assert_eq!(ks.len(), all.len());
    assert!(ks.iter().all(|k| k.status == KeywordStatus::Clustered), "every keyword, late or not, is clustered");
    let cs = content(&w).await;
    assert_one_cluster_per_name_and_pillar(&cs);
    let listed: usize = cs.iter().map(|c| c.2.len()).sum();
    assert_eq!(listed, all.len(), "each keyword is in exactly one cluster");
}

fn held() -> Arc<HookedAi<Held>> {
    let hooks = Held { holding: true.into(), entered: Notify::new(), release: Notify::new() };
    Arc::new(HookedAi::new(Arc::new(OfflineProvider::with_year(2026)), hooks))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_duplicate_stage_1_step_writes_and_charges_nothing_twice() {
    let all = parse_keywords_csv(KEYWORDS).expect("keywords");
    let plain = world(&all, 100).await;
    run_to_end(&plain).await;

    let ai = held();
    let w = world_with(&all, 100, ai.clone()).await;
    let run = w.rt.automation.start(&w.account, &w.site, "manual").await.expect("start");
    let driver = {
        let rt = w.rt.clone();
        let id = run.id.clone();
        tokio::spawn(async move { rt.drive(&id, |_| {}).await })
    };
    // While the first step is inside its paid naming call, the same step runs again
    // (a Lambda invoked twice): it finds the same hold and the same slice.
    ai.hooks().entered.notified().await;
    let input =
        StepInput { run_id: run.id.clone(), account_id: w.account.clone(), site_id: w.site.clone(), task_token: None };
    let duplicate = w.rt.automation.step(&input, Stage::Clusters).await.expect("duplicate step");
    assert!(duplicate.processed > 0, "{duplicate:?}");
    ai.hooks().release.notify_one();
    let outcome = driver.await.expect("driver").expect("drive");
    assert_eq!(outcome.status, ExecutionStatus::Succeeded);

    assert_eq!(content(&w).await, content(&plain).await, "the same clusters as an undisturbed run");
    let balance = |w: &World| {
        let credits = w.rt.services.credits.clone();
        let account = w.account.clone();
        async move { credits.balance(&account).await.expect("balance").credits }
    };
    assert_eq!(balance(&w).await, balance(&plain).await, "the same credits spent");
    let r = w.rt.services.credits.reconcile(&w.account).await.expect("reconcile");
    assert!(r.balanced && r.held == 0, "{r:?}");
}
