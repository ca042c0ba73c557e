//! End to end: a model whose answer stays invalid (`AiError::InvalidOutput`, what the
//! OpenAI-compatible provider returns after its bounded retries) fails that one item,
//! not the run. Whole runs through the real `statemachines/automation.asl.json` on the
//! embedded default, with the offline provider answering invalidly for one cluster's
//! ideas, one idea's article, one article's image prompts and one image.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use igny8_ai::{AiError, OfflineProvider};
use igny8_asl::{ExecutionStatus, ExecutorOptions};
use igny8_core::automation::RunLog;
use igny8_core::domain::{
    AccountId, Cluster, ClusterStatus, Content, ContentStatus, HoldStatus, Idea, RunStatus, SiteId, TaskStatus,
    WriterTask,
};
use igny8_core::planner::parse_keywords_csv;
use igny8_core::ports::{SystemClock, UuidIds};
use igny8_core::repo::Records;
use igny8_tests::hooked_ai::{AiHooks, Call, HookedAi};
use igny8_wiring::embedded::LocalRuntime;

const KEYWORDS: &[u8] = include_bytes!("../../examples/keywords.csv");

/// The first cluster, idea, article and image prompt the provider sees are the ones it
/// always answers invalidly for; it counts its calls for the failing image.
#[derive(Default)]
struct Chosen {
    cluster: Mutex<Option<String>>,
    idea: Mutex<Option<String>>,
    article: Mutex<Option<String>>,
    image: Mutex<Option<String>>,
    image_calls: AtomicU32,
}

/// True when `name` is the one chosen in `slot` (the first one seen).
fn chosen(slot: &Mutex<Option<String>>, name: &str) -> bool {
    slot.lock().unwrap().get_or_insert_with(|| name.to_owned()) == name
}

fn invalid(what: &str) -> AiError {
    AiError::InvalidOutput(format!("{what}: expected JSON, got prose"))
}

/// The offline provider, answering invalidly for the chosen items.
struct Picky(Arc<Chosen>);

#[async_trait]
impl AiHooks for Picky {
    async fn before(&self, call: Call<'_>) -> Result<(), AiError> {
        let slots = &self.0;
        match call {
            Call::GenerateIdeas { cluster, .. } if chosen(&slots.cluster, &cluster.name) => Err(invalid("ideas")),
            Call::GenerateArticle { idea, .. } if chosen(&slots.idea, &idea.title) => Err(invalid("article")),
            Call::GenerateImagePrompts { article, .. } if chosen(&slots.article, &article.title) => {
                Err(invalid("image prompts"))
            }
            Call::GenerateImage { prompt, .. } if chosen(&slots.image, prompt) => {
                slots.image_calls.fetch_add(1, Ordering::SeqCst);
                Err(invalid("image"))
            }
            _ => Ok(()),
        }
    }
}

struct World {
    rt: LocalRuntime,
    chosen: Arc<Chosen>,
    account: AccountId,
    site: SiteId,
    _dir: tempfile::TempDir,
}

const CREDITS: i64 = 100_000;

async fn world(keywords: usize) -> World {
    let dir = tempfile::tempdir().expect("dir");
    let chosen = Arc::new(Chosen::default());
    let ai = Arc::new(HookedAi::new(Arc::new(OfflineProvider::with_year(2026)), Picky(Arc::clone(&chosen))));
    let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
    let rt = LocalRuntime::open(dir.path(), ai, Arc::new(SystemClock), Arc::new(UuidIds), options).expect("runtime");
    let (account, _) = rt.services.account_service.create_account("Acme", CREDITS).await.expect("account");
    let site = rt.services.account_service.create_site(&account.id, "Blog", "blog.example.com").await.expect("site");
    let all = parse_keywords_csv(KEYWORDS).expect("keywords");
    rt.importer.import(&account.id, &site.id, &all[..keywords]).await.expect("import");
    let mut config = rt.automation.config(&account.id, &site.id).await.expect("config");
    // Several items per batch, so a failed item is one of a batch that goes on.
    config.batch_sizes = [200, 3, 5, 3, 3, 10];
    config.ideas_per_cluster = 2;
    config.images_per_article = 1;
    rt.automation.save_config(&account.id, config).await.expect("save config");
    World { rt, chosen, account: account.id, site: site.id, _dir: dir }
}

fn name(slot: &Mutex<Option<String>>) -> String {
    slot.lock().unwrap().clone().expect("the provider was asked")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_answer_fails_its_item_and_the_run_completes() {
    let w = world(40).await;
    let run = w.rt.automation.start(&w.account, &w.site, "manual").await.expect("start");
    let outcome = w.rt.drive(&run.id, |_| {}).await.expect("drive");
    let s = w.rt.automation.summary(&w.account, &run.id).await.expect("summary");
    assert_eq!(outcome.status, ExecutionStatus::Succeeded, "{s:?}");
    assert_eq!(s.status, RunStatus::Completed);
    let record = w.rt.automation.run(&w.account, &run.id).await.expect("run");
    assert_eq!(record.error, None);

    let store = &w.rt.services.store;
    let clusters = Records::<Cluster>::new(Arc::clone(store)).all(&w.site).await.expect("clusters");
    let ideas = Records::<Idea>::new(Arc::clone(store)).all(&w.site).await.expect("ideas");
    let tasks = Records::<WriterTask>::new(Arc::clone(store)).all(&w.site).await.expect("tasks");
    let contents = Records::<Content>::new(Arc::clone(store)).all(&w.site).await.expect("contents");
    assert!(clusters.len() >= 3, "enough clusters for the test: {}", clusters.len());

    // Stage 2: the chosen cluster failed, has no ideas; every other has its ideas.
    let bad_cluster = name(&w.chosen.cluster);
    let failed: Vec<&Cluster> = clusters.iter().filter(|c| c.status == ClusterStatus::IdeasFailed).collect();
    assert_eq!(failed.len(), 1, "{clusters:?}");
    assert_eq!(failed[0].name, bad_cluster);
    assert!(ideas.iter().all(|i| i.cluster_id != failed[0].id), "nothing stored for the failed cluster");
    for c in clusters.iter().filter(|c| c.id != failed[0].id) {
        assert_eq!(c.status, ClusterStatus::IdeasGenerated, "{c:?}");
        assert_eq!(ideas.iter().filter(|i| i.cluster_id == c.id).count(), 2, "ideas of {}", c.name);
    }

    // Stage 4: the chosen idea's task failed, has no article; every other is written.
    let bad_idea = name(&w.chosen.idea);
    let failed_tasks: Vec<&WriterTask> = tasks.iter().filter(|t| t.status == TaskStatus::Failed).collect();
    assert_eq!(failed_tasks.len(), 1, "{tasks:?}");
    let idea_of = |t: &WriterTask| ideas.iter().find(|i| i.id == t.idea_id).expect("the task's idea").title.clone();
    assert_eq!(idea_of(failed_tasks[0]), bad_idea);
    assert!(contents.iter().all(|c| c.task_id != failed_tasks[0].id), "no article for the failed task");
    assert_eq!(tasks.len(), ideas.len());
    for t in tasks.iter().filter(|t| t.id != failed_tasks[0].id) {
        assert_eq!(t.status, TaskStatus::Written, "{t:?}");
        assert_eq!(contents.iter().filter(|c| c.task_id == t.id).count(), 1, "the article of {}", t.id);
    }

    // Stage 5: the chosen article is kept without prompts; every other has its prompts.
    let bad_article = name(&w.chosen.article);
    let failed_articles: Vec<&Content> = contents.iter().filter(|c| c.status == ContentStatus::PromptsFailed).collect();
    assert_eq!(failed_articles.len(), 1, "{:?}", contents.iter().map(|c| c.status).collect::<Vec<_>>());
    assert_eq!(failed_articles[0].title, bad_article);
    assert!(contents.iter().filter(|c| c.id != failed_articles[0].id).all(|c| c.status == ContentStatus::PromptsReady));

    // Stage 6: the chosen image gave up at once (one call, no redelivery) and was refunded.
    assert_eq!(w.chosen.image_calls.load(Ordering::SeqCst), 1, "an invalid image is not retried");
    assert_eq!(s.images_failed, 1, "{s:?}");
    assert_eq!(s.images, s.articles - 2, "one image per article with prompts, less the failed one: {s:?}");

    // The run's totals count the failures.
    assert_eq!(s.clusters as usize, clusters.len());
    assert_eq!(s.articles as usize, tasks.len() - 1);
    assert_eq!(s.items_failed, 3, "{s:?}");
    assert_eq!(s.failed_by_stage, BTreeMap::from([(2, 1), (4, 1), (5, 1)]), "{s:?}");
    for (stage, processed) in [(2u8, clusters.len() - 1), (4, tasks.len() - 1), (5, contents.len() - 1)] {
        let result = &record.stages[&stage];
        assert_eq!((result.failed, result.processed as usize, result.remaining), (1, processed, 0), "stage {stage}");
    }

    // One log line per failed item.
    let log = w.rt.automation.logger();
    let main = log
        .main_log(&RunLog { account_id: w.account.clone(), site_id: w.site.clone(), run_id: run.id.clone() })
        .await
        .expect("main log");
    for line in [
        format!("cluster {} failed: invalid model output: ideas: expected JSON, got prose", failed[0].id),
        format!("task {} failed: invalid model output: article: expected JSON, got prose", failed_tasks[0].id),
        format!("article {} failed: invalid model output: image prompts: expected JSON", failed_articles[0].id),
    ] {
        assert_eq!(main.matches(&line).count(), 1, "{line} in\n{main}");
    }

    // The ledger: reconciled, nothing held; the failed calls' holds were released and
    // charged nothing (one usage entry per answered call of stages 2, 4 and 5).
    let r = w.rt.services.credits.reconcile(&w.account).await.expect("reconcile");
    assert!(r.balanced, "ledger must reconcile: {r:?}");
    assert_eq!(r.held, 0, "no hold left behind");
    let balance = w.rt.services.credits.balance(&w.account).await.expect("balance");
    assert_eq!(balance.credits, CREDITS - s.credits_used);
    let holds = w.rt.services.credits.holds(&w.account, 1000, None).await.expect("holds");
    assert!(holds.cursor.is_none(), "one page of holds");
    let released = holds.items.iter().filter(|h| h.status == HoldStatus::Released).count();
    assert_eq!(released, 3, "the three failed calls' holds were released");
    let usage = w.rt.services.credits.usage(&w.account, Some(run.id.as_str()), 1000, None).await.expect("usage");
    let calls = |stage: u8| usage.items.iter().filter(|u| u.usage.stage == Some(stage)).count();
    assert_eq!(calls(2), clusters.len() - 1);
    assert_eq!(calls(4), contents.len());
    assert_eq!(calls(5), contents.len() - 1);
    let lock = w.rt.services.locks.status(&w.site).await.expect("lock");
    assert!(lock.as_ref().is_none_or(|l| l.holder.is_none()), "lock released: {lock:?}");
    igny8_tests::counters::assert_counts(store, &w.site).await;
}
