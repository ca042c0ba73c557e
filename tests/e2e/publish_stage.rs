//! The publishing stage after images, end to end through the interpreter of the real
//! `statemachines/automation.asl.json` on the embedded wiring, with the scripted fake
//! WordPress (`igny8_tests::fake_platform`) as the site's platform:
//!
//! * publish-after-run set → every article of the run is posted exactly once, in
//!   batches of the config's `publish_batch_size`, and the run completes with the
//!   counts on its record and summary;
//! * a platform that throttles (429) and fails (503) its first calls → the state
//!   machine retries the stage (`Igny8.Throttled`) and the run still completes with
//!   every article posted once;
//! * a contributor account (403 `rest_cannot_publish`) → the run completes, every
//!   article counted as not published and its publication recording
//!   `forbidden_by_platform`;
//! * publishing off (the default) → the platform is never called;
//! * the stage-publish function's task input (tests/fixtures/events) is handled.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use igny8_ai::OfflineProvider;
use igny8_asl::{ExecutionStatus, ExecutorOptions};
use igny8_core::automation::{handle, Function, RunSummary};
use igny8_core::domain::{
    AccountId, AutomationRun, Content, Credentials, PublicationState, PublishAfterRun, RunStatus, SiteId, PUBLISH_STAGE,
};
use igny8_core::integration::NewIntegration;
use igny8_core::planner::parse_keywords_csv;
use igny8_core::ports::{PlatformError, Platforms, SystemClock, UuidIds};
use igny8_core::repo::Records;
use igny8_tests::fake_platform::{Call, FakePlatform};
use igny8_wiring::embedded::LocalRuntime;
use serde_json::Value;

const KEYWORDS: &[u8] = include_bytes!("../../examples/keywords.csv");

struct World {
    rt: LocalRuntime,
    wordpress: Arc<FakePlatform>,
    account: AccountId,
    site: SiteId,
    _dir: tempfile::TempDir,
}

/// A site with keywords waiting, a WordPress integration on the fake platform, and
/// the automation config publishing after the run with `mode` in batches of 2.
async fn world(mode: PublishAfterRun) -> World {
    let dir = tempfile::tempdir().expect("dir");
    let wordpress = FakePlatform::wordpress();
    let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
    let rt = LocalRuntime::open_with_platforms(
        dir.path(),
        Arc::new(OfflineProvider::with_year(2026)),
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        options,
        Platforms::new().with(wordpress.clone()),
    )
    .expect("runtime");
    let (account, _) = rt.services.account_service.create_account("Acme", 100_000).await.expect("account");
    let site = rt.services.account_service.create_site(&account.id, "Blog", "blog.example.com").await.expect("site");
    let all = parse_keywords_csv(KEYWORDS).expect("keywords");
    rt.importer.import(&account.id, &site.id, &all[..12]).await.expect("import");
    let mut config = rt.automation.config(&account.id, &site.id).await.expect("config");
    config.publish = mode;
    config.publish_batch_size = 2;
    rt.automation.save_config(&account.id, config).await.expect("save config");
    let integration = NewIntegration {
        platform: "wordpress".into(),
        base_url: "https://blog.example.com".into(),
        credentials: Credentials::WordpressAppPassword {
            username: "editor".into(),
            app_password: "abcd EFGH ijkl MNOP qrst UVWX".into(),
        },
        sync_enabled: true,
    };
    rt.services.integrations.create(&account.id, &site.id, integration).await.expect("integration");
    World { rt, wordpress, account: account.id, site: site.id, _dir: dir }
}

async fn run_to_end(w: &World) -> (RunSummary, AutomationRun, ExecutionStatus) {
    let run = w.rt.automation.start(&w.account, &w.site, "manual").await.expect("start");
    let outcome = tokio::time::timeout(Duration::from_secs(300), w.rt.drive(&run.id, |_| {}))
        .await
        .expect("the run ends")
        .expect("drive");
    let summary = w.rt.automation.summary(&w.account, &run.id).await.expect("summary");
    let record = w.rt.automation.run(&w.account, &run.id).await.expect("run");
    (summary, record, outcome.status)
}

async fn articles(w: &World) -> Vec<Content> {
    Records::<Content>::new(Arc::clone(&w.rt.services.store)).all(&w.site).await.expect("articles")
}

/// Every article of the run is on the platform exactly once: one post per article,
/// created once, under distinct slugs.
fn assert_each_posted_once(w: &World, articles: u64) {
    let posts = w.wordpress.posts();
    assert_eq!(posts.len() as u64, articles, "one post per article");
    let slugs: BTreeSet<String> = posts.iter().map(|p| p.remote.slug.clone()).collect();
    assert_eq!(slugs.len(), posts.len(), "no article posted twice");
    assert!(posts.iter().all(|p| p.remote.status == "publish"), "published live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_that_publishes_posts_every_article_once_and_completes() {
    let w = world(PublishAfterRun::Publish).await;
    let (s, run, status) = run_to_end(&w).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{s:?}");
    assert_eq!(s.status, RunStatus::Completed, "{run:?}");
    assert!(s.articles > 2, "more articles than one batch: {s:?}");
    assert_eq!(s.published, s.articles, "{s:?}");
    assert_eq!(s.publish_failed, 0);
    assert_each_posted_once(&w, s.articles);
    assert_eq!(u64::from(w.wordpress.calls(Call::CreatePost)), s.articles, "created once each");
    let p = run.publishing.expect("the run records its publishing");
    assert_eq!((p.mode, p.published, p.failed, p.remaining), (PublishAfterRun::Publish, s.articles, 0, 0));
    assert!(p.batches >= s.articles.div_ceil(2), "batches of 2: {p:?}");
    assert!(p.started_at.is_some() && p.completed_at.is_some());
    assert_eq!(run.current_stage, PUBLISH_STAGE);
    for article in articles(&w).await {
        let publications = w.rt.services.publishing.publications(&w.account, &w.site, &article.id).await.expect("pubs");
        assert_eq!(publications.len(), 1, "one destination");
        assert_eq!(publications[0].state, PublicationState::Published);
        assert!(publications[0].remote_id.is_some());
    }
    let lock = w.rt.services.locks.status(&w.site).await.expect("lock");
    assert!(lock.as_ref().is_none_or(|l| l.holder.is_none()), "lock released: {lock:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_throttling_platform_is_retried_and_the_run_still_completes() {
    let w = world(PublishAfterRun::Publish).await;
    let throttled = || PlatformError::Throttled { retry_after: Some(Duration::from_secs(2)), message: "429".into() };
    w.wordpress.fail_next(Call::UploadMedia, 2, throttled());
    w.wordpress.fail_next(
        Call::CreatePost,
        1,
        PlatformError::Unavailable { status: 503, platform_code: None, message: "503 Service Unavailable".into() },
    );
    let (s, run, status) = run_to_end(&w).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{s:?}");
    assert_eq!(s.status, RunStatus::Completed, "{run:?}");
    assert_eq!(s.published, s.articles, "{s:?}");
    assert_eq!(s.publish_failed, 0, "a throttle is retried, not recorded as a failure");
    assert_each_posted_once(&w, s.articles);
    assert!(w.wordpress.calls(Call::UploadMedia) >= 2, "the throttled calls were made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forbidden_platform_completes_the_run_with_the_failures_recorded() {
    let w = world(PublishAfterRun::Publish).await;
    w.wordpress.set_can_publish(false);
    let (s, run, status) = run_to_end(&w).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{s:?}");
    assert_eq!(s.status, RunStatus::Completed, "the run does not fail: {run:?}");
    assert!(s.articles > 0);
    assert_eq!(s.published, 0, "{s:?}");
    assert_eq!(s.publish_failed, s.articles, "{s:?}");
    assert!(w.wordpress.posts().iter().all(|p| p.remote.status != "publish"), "nothing went live");
    for article in articles(&w).await {
        let publications = w.rt.services.publishing.publications(&w.account, &w.site, &article.id).await.expect("pubs");
        let failed = publications.iter().find(|p| p.state == PublicationState::Failed).expect("recorded");
        let fault = failed.last_error.as_ref().expect("its error");
        assert_eq!(fault.code, "forbidden_by_platform");
        assert_eq!(fault.platform_code.as_deref(), Some("rest_cannot_publish"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_that_does_not_publish_never_calls_the_platform() {
    let w = world(PublishAfterRun::Off).await;
    let (s, run, status) = run_to_end(&w).await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    assert_eq!(s.status, RunStatus::Completed);
    assert!(s.articles > 0);
    assert_eq!((s.published, s.publish_failed), (0, 0));
    assert!(run.publishing.is_none(), "{run:?}");
    assert_eq!(w.wordpress.total_calls(), 0, "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_publish_task_input_is_handled() {
    let w = world(PublishAfterRun::Off).await;
    let (_, run, _) = run_to_end(&w).await;
    let path = format!("{}/fixtures/events/stage_publish_input.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path)
        .expect("fixture")
        .replace("{{run_id}}", run.id.as_str())
        .replace("{{account_id}}", w.account.as_str())
        .replace("{{site_id}}", w.site.as_str());
    let input: Value = serde_json::from_str(&text).expect("json");
    let out = handle(&w.rt.automation, Function::StagePublish, input).await.expect("handler");
    assert_eq!(out["next"], "finalize", "a finished run routes to its end: {out}");
    assert_eq!(Function::from_name("igny8-stage-publish"), Some(Function::StagePublish));
    let bad = handle(&w.rt.automation, Function::StagePublish, serde_json::json!({"run_id": "nope"})).await;
    assert!(bad.is_err());
}
