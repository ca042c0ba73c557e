//! Contract of review, publishing and content sync, run against SQLite and DynamoDB
//! with the scripted fake platform (tests/src/fake_platform.rs): articles are published
//! once (a retry, a republish, a lost reply or a concurrent publish never makes a
//! second post, media are never uploaded twice), refusals are per article, and sync
//! sees remote deletions and records health. Read against docs/publishing.md.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use igny8_core::domain::{
    AccountId, Content, ContentId, ContentStatus, Credentials, HealthStatus, ImageId, ImageRecord, ImageStatus,
    Publication, PublicationState, RemoteStatus, ReviewStatus, RunId, SiteId, SiteIntegration,
};
use igny8_core::integration::{CredentialVault, IntegrationPorts, IntegrationUpdate, NewIntegration};
use igny8_core::ports::{BlobStore, ItemStore, ManualClock, PlatformError, Platforms, UuidIds};
use igny8_core::publishing::{PublishOutcome, PublishRequest, BUSY_CODE};
use igny8_core::repo::pipeline::transact_counted;
use igny8_core::repo::{ClaimOutcome, PublicationRepo, Records};
use igny8_core::Services;
use igny8_embedded::{BlobDir, LocalKeyFile};
use igny8_tests::articles::ArticleRecords;
use igny8_tests::fake_platform::{Call, FakePlatform};

igny8_tests::contract_suite!(
    review_moves_draft_approved_published_and_back,
    unapproved_and_badly_scheduled_requests_are_refused,
    publishing_twice_updates_one_post_and_uploads_media_once,
    a_lost_create_reply_is_found_by_slug_not_posted_again,
    a_forbidden_article_fails_alone,
    concurrent_publishes_of_one_article_make_one_post,
    a_stale_claim_is_taken_over,
    sync_sees_remote_changes_and_deletions,
    sync_failures_degrade_then_fail_health,
    the_run_stage_publishes_in_batches_until_none_remain,
    the_approval_gate_refuses_invalid_articles_and_sends_sanitized_bodies,
    the_run_stage_records_an_invalid_article_failed_without_sending_it,
);

/// 2026-11-15T12:00:00Z.
const T0: i64 = 1_794_744_000_000;

/// The smallest valid PNG (1×1, transparent): the bytes only matter as bytes here.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

struct World {
    s: Services,
    store: Arc<dyn ItemStore>,
    fake: Arc<FakePlatform>,
    blobs: Arc<BlobDir>,
    clock: Arc<ManualClock>,
    account: AccountId,
    site: SiteId,
    integration: SiteIntegration,
    _dir: tempfile::TempDir,
}

async fn world(store: &Arc<dyn ItemStore>) -> World {
    let dir = tempfile::tempdir().expect("dir");
    let blobs = Arc::new(BlobDir::open(dir.path().join("blobs")).expect("blobs"));
    let fake = FakePlatform::wordpress();
    let clock = Arc::new(ManualClock::at(T0));
    let s = services(store, &dir, &fake, &blobs, &clock);
    let (account, _) = s.account_service.create_account("Acme", 0).await.expect("account");
    let site = s.account_service.create_site(&account.id, "Blog", "blog.example.com").await.expect("site");
    let new = NewIntegration {
        platform: "wordpress".into(),
        base_url: "https://blog.example.com".into(),
        credentials: Credentials::WordpressAppPassword {
            username: "editor".into(),
            app_password: "abcd efgh ijkl mnop qrst uvwx".into(),
        },
        sync_enabled: true,
    };
    let integration = s.integrations.create(&account.id, &site.id, new).await.expect("integration");
    World {
        s,
        store: Arc::clone(store),
        fake,
        blobs,
        clock,
        account: account.id,
        site: site.id,
        integration,
        _dir: dir,
    }
}

/// Services over `store` with integrations: the local key file in `dir`, the fake
/// platform, the blob folder with the images.
fn services(
    store: &Arc<dyn ItemStore>,
    dir: &tempfile::TempDir,
    fake: &Arc<FakePlatform>,
    blobs: &Arc<BlobDir>,
    clock: &Arc<ManualClock>,
) -> Services {
    let keys = Arc::new(LocalKeyFile::new(dir.path().join("keys").join("master.key")));
    let ports = IntegrationPorts {
        vault: CredentialVault::new(keys),
        platforms: Platforms::new().with(fake.clone()),
        blobs: blobs.clone(),
    };
    Services::with(Arc::clone(store), clock.clone(), Arc::new(UuidIds)).with_integrations(ports)
}

/// Writes article `n` of the site as a run leaves it after the images stage: its
/// cluster, idea and task, the article in `prompts_ready` (review draft) and `images`
/// generated images (the first featured, the others under the article's headings).
async fn article(w: &World, n: usize, images: usize) -> Content {
    article_edited(w, n, images, |_| {}).await
}

/// [`article`] with the article changed by `edit` before it is written.
async fn article_edited(w: &World, n: usize, images: usize, edit: impl FnOnce(&mut Content)) -> Content {
    let seed = format!("{}/{n}", w.site);
    let run = RunId::derive("run");
    let now = "2026-11-15T12:00:00Z".to_owned();
    let mut records = ArticleRecords::new(&w.account, &w.site, &run, &seed, &now);
    let ArticleRecords { cluster, idea, content, .. } = &mut records;
    cluster.name = format!("Running shoes {n}");
    cluster.pillar_keyword = format!("running shoes {n}");
    cluster.intent = "commercial".into();
    idea.title = format!("Best running shoes {n}");
    idea.target_keyword = format!("running shoes {n}");
    idea.secondary_keywords = ["trail shoes", "road shoes", "a", "b", "c", "d", "e"].map(str::to_owned).to_vec();
    content.title = format!("Best Running Shoes {n}: Our Picks");
    content.html = format!(
        "<h1>Best Running Shoes {n}: Our Picks</h1><p>Intro.</p><h2>Fit</h2><p>Fit.</p><h2>Grip</h2><p>Grip.</p>"
    );
    content.meta_description = format!("The best running shoes, number {n}.");
    content.status = ContentStatus::PromptsReady;
    edit(content);
    let content = records.content.clone();
    let store = &w.store;
    let mut writes = records.writes(store);
    for i in 0..images {
        let key = format!("images/{}/{i}.png", content.id);
        w.blobs.put(&key, PNG.to_vec(), "image/png").await.expect("blob");
        let image = ImageRecord {
            id: ImageId::derive(&format!("{}/{i}", content.id)),
            account_id: w.account.clone(),
            site_id: w.site.clone(),
            content_id: content.id.clone(),
            run_id: run.clone(),
            prompt: "a shoe".into(),
            alt_text: format!("shoe {i}"),
            placement: if i == 0 { "featured" } else { "in_article" }.into(),
            heading: Some(if i % 2 == 1 { "Fit" } else { "Grip" }.into()),
            status: ImageStatus::Generated,
            blob_key: Some(key),
            created_at: now.clone(),
        };
        writes.push(Records::<ImageRecord>::new(Arc::clone(store)).create(&image).expect("image"));
    }
    transact_counted(&**store, writes).await.expect("write article");
    content
}

fn request(ids: &[&ContentId]) -> PublishRequest {
    PublishRequest {
        content_ids: ids.iter().map(|id| (*id).clone()).collect(),
        status: RemoteStatus::Publish,
        publish_at: None,
        integration_id: None,
        include_unapproved: false,
    }
}

async fn publish(w: &World, ids: &[&ContentId]) -> Vec<PublishOutcome> {
    w.s.publishing.publish(&w.account, &w.site, request(ids)).await.expect("publish")
}

async fn content(w: &World, id: &ContentId) -> Content {
    Records::<Content>::new(Arc::clone(&w.store)).get(&w.site, id.as_str()).await.expect("read").expect("content")
}

async fn publication(w: &World, id: &ContentId) -> Publication {
    let mut all = w.s.publishing.publications(&w.account, &w.site, id).await.expect("publications");
    assert_eq!(all.len(), 1, "one record per article and integration: {all:?}");
    all.remove(0)
}

fn single(outcomes: &[PublishOutcome]) -> &PublishOutcome {
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    &outcomes[0]
}

/// Review: draft → approved → draft, approve_all approves only drafts, publishing
/// makes it published and unapproving a published article leaves it published.
async fn review_moves_draft_approved_published_and_back(store: Arc<dyn ItemStore>) {
    let w = world(&store).await;
    let (a, b, c) = (article(&w, 1, 0).await, article(&w, 2, 0).await, article(&w, 3, 0).await);
    let ps = &w.s.publishing;
    assert_eq!(ps.approve(&w.account, &w.site, &a.id).await.expect("approve").review, ReviewStatus::Approved);
    assert_eq!(ps.approve(&w.account, &w.site, &a.id).await.expect("again").review, ReviewStatus::Approved);
    assert_eq!(ps.unapprove(&w.account, &w.site, &a.id).await.expect("unapprove").review, ReviewStatus::Draft);
    assert_eq!(ps.approve_all(&w.account, &w.site).await.expect("all").approved, 3);
    assert_eq!(ps.approve_all(&w.account, &w.site).await.expect("all again").approved, 0);
    // Publishing every approved article (none named) publishes all three.
    let outcomes = publish(&w, &[]).await;
    assert_eq!(outcomes.iter().filter(|o| o.success).count(), 3, "{outcomes:?}");
    for id in [&a.id, &b.id, &c.id] {
        let stored = content(&w, id).await;
        assert_eq!((stored.review, stored.status), (ReviewStatus::Published, ContentStatus::Published));
    }
    assert_eq!(ps.unapprove(&w.account, &w.site, &b.id).await.expect("unapprove").review, ReviewStatus::Published);
    // Nothing approved is left unpublished: publishing "all approved" does nothing.
    assert!(publish(&w, &[]).await.is_empty());
    // Another account sees none of it.
    let (other, _) = w.s.account_service.create_account("Other", 0).await.expect("account");
    let err = ps.approve(&other.id, &w.site, &a.id).await.expect_err("not theirs");
    assert_eq!(err.code(), "not_found");
    igny8_tests::counters::assert_counts(&w.store, &w.site).await;
}

/// Only approved articles are published unless the request says otherwise; a
/// scheduled publish needs a future `publish_at`; nothing is sent for a refused request.
async fn unapproved_and_badly_scheduled_requests_are_refused(store: Arc<dyn ItemStore>) {
    let w = world(&store).await;
    let a = article(&w, 1, 1).await;
    let ps = &w.s.publishing;
    let err = ps.publish(&w.account, &w.site, request(&[&a.id])).await.expect_err("not approved");
    assert_eq!(err.code(), "content_not_approved");
    let mut scheduled =
        PublishRequest { include_unapproved: true, status: RemoteStatus::Scheduled, ..request(&[&a.id]) };
    let err = ps.publish(&w.account, &w.site, scheduled.clone()).await.expect_err("no publish_at");
    assert_eq!(err.code(), "validation_failed");
    scheduled.publish_at = Some("2026-11-15T11:00:00Z".into());
    let err = ps.publish(&w.account, &w.site, scheduled.clone()).await.expect_err("in the past");
    assert_eq!(err.code(), "validation_failed");
    let missing = ContentId::derive("nope");
    let err = ps.publish(&w.account, &w.site, request(&[&missing])).await.expect_err("missing");
    assert_eq!(err.code(), "not_found");
    assert_eq!(w.fake.total_calls(), 0, "nothing sent for refused requests");
    scheduled.publish_at = Some("2026-11-16T09:00:00Z".into());
    let outcomes = ps.publish(&w.account, &w.site, scheduled).await.expect("scheduled");
    let o = single(&outcomes);
    assert!(o.success, "{o:?}");
    let p = o.publication.as_ref().expect("record");
    assert_eq!((p.remote_status.as_deref(), p.publish_at.as_deref()), (Some("future"), Some("2026-11-16T09:00:00Z")));
}

/// Publish once: one post with its featured image and in-article media at their
/// headings, SEO and terms; publish again: the same post updated, no media re-uploaded.
async fn publishing_twice_updates_one_post_and_uploads_media_once(store: Arc<dyn ItemStore>) {
    let w = world(&store).await;
    let a = article(&w, 1, 3).await;
    w.s.publishing.approve(&w.account, &w.site, &a.id).await.expect("approve");
    let first = publish(&w, &[&a.id]).await;
    let o = single(&first);
    assert!(o.success, "{o:?}");
    let posts = w.fake.posts();
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    let p = publication(&w, &a.id).await;
    assert_eq!(p.state, PublicationState::Published);
    assert_eq!(p.remote_id.as_deref(), Some(post.remote.id.as_str()));
    assert_eq!(p.media.len(), 3);
    assert_eq!(w.fake.media().len(), 3);
    let featured = p.media.iter().find(|m| m.image_id == ImageId::derive(&format!("{}/0", a.id))).expect("featured");
    assert_eq!(p.featured_media.as_deref(), Some(featured.remote_id.as_str()), "featured image confirmed");
    assert_eq!(post.remote.featured_media.as_deref(), Some(featured.remote_id.as_str()));
    let html = &post.article.html;
    assert!(!html.contains("<h1>") && !html.contains(&featured.url), "{html}");
    for m in p.media.iter().filter(|m| m.remote_id != featured.remote_id) {
        assert!(html.contains(&format!("src=\"{}\"", m.url)), "{html}");
    }
    assert!(html.find("<h2>Fit</h2>\n<figure>").is_some(), "image under its heading: {html}");
    assert_eq!(post.article.slug, "best-running-shoes-1-our-picks");
    assert_eq!(post.article.categories, vec!["Running shoes 1".to_owned()]);
    assert_eq!(post.article.tags.len(), 5, "tags capped: {:?}", post.article.tags);
    // The metadata mapping: SEO and Open Graph from the article, the featured image's
    // uploaded URL as og:image, no canonical URL before the post is live.
    let seo = &post.article.seo;
    assert_eq!(seo.focus_keyphrase.as_deref(), Some("running shoes 1"));
    assert_eq!((seo.title.as_deref(), seo.og_title.as_deref()), (Some(a.title.as_str()), Some(a.title.as_str())));
    assert_eq!(seo.og_description.as_deref(), Some(a.meta_description.as_str()));
    assert_eq!(seo.og_image.as_deref(), Some(featured.url.as_str()));
    assert_eq!(seo.canonical_url, None);
    assert_eq!(
        p.seo_accepted,
        ["seo_title", "seo_description", "focus_keyphrase", "og_title", "og_description", "og_image"]
    );
    let stored = content(&w, &a.id).await;
    assert_eq!((stored.review, stored.status), (ReviewStatus::Published, ContentStatus::Published));
    // Again: an update of the same post, media not uploaded again.
    let second = publish(&w, &[&a.id]).await;
    assert!(single(&second).success);
    assert_eq!(w.fake.posts().len(), 1);
    assert_eq!(w.fake.posts()[0].updates, 1);
    assert_eq!((w.fake.calls(Call::UploadMedia), w.fake.calls(Call::CreatePost)), (3, 1));
    let again = publication(&w, &a.id).await;
    assert_eq!((again.attempts, again.media.len(), again.remote_id.clone()), (2, 3, p.remote_id.clone()));
    // A republish is canonical to the post's live URL.
    let republished = &w.fake.posts()[0].article.seo;
    assert_eq!(republished.canonical_url, p.remote_url);
    assert!(again.seo_accepted.contains(&"canonical_url".to_owned()), "{again:?}");
    // An SEO field the site does not expose is reported, not pretended.
    w.fake.set_seo_fields(&["seo_title"]);
    let third = publish(&w, &[&a.id]).await;
    let p3 = single(&third).publication.clone().expect("record");
    assert_eq!(
        p3.seo_rejected,
        ["seo_description", "focus_keyphrase", "canonical_url", "og_title", "og_description", "og_image"]
    );
}

/// A crash between the remote create and the local record (the reply is lost): the
/// next publish finds the post by its slug and updates it: still one post.
async fn a_lost_create_reply_is_found_by_slug_not_posted_again(store: Arc<dyn ItemStore>) {
    let w = world(&store).await;
    let a = article(&w, 1, 2).await;
    w.s.publishing.approve(&w.account, &w.site, &a.id).await.expect("approve");
    w.fake.lose_create_replies(1);
    let lost = publish(&w, &[&a.id]).await;
    let o = single(&lost);
    assert!(!o.success);
    assert_eq!(o.error.as_ref().map(|e| e.code.as_str()), Some("platform_unreachable"));
    let p = publication(&w, &a.id).await;
    assert_eq!((p.state, p.remote_id.as_deref(), p.media.len()), (PublicationState::Failed, None, 2));
    assert_eq!(w.fake.posts().len(), 1, "the post exists remotely");
    let retried = publish(&w, &[&a.id]).await;
    assert!(single(&retried).success, "{retried:?}");
    assert_eq!(w.fake.posts().len(), 1, "found by slug, not posted again");
    assert_eq!((w.fake.calls(Call::CreatePost), w.fake.calls(Call::UploadMedia)), (1, 2));
    let p = publication(&w, &a.id).await;
    assert_eq!(p.remote_id.as_deref(), Some(w.fake.posts()[0].remote.id.as_str()));
    assert_eq!(p.state, PublicationState::Published);
}

/// A contributor's refusal (403 `rest_cannot_publish`) is that article's outcome with
/// `forbidden_by_platform`; the other articles are published.
async fn a_forbidden_article_fails_alone(store: Arc<dyn ItemStore>) {
    let w = world(&store).await;
    let (a, b) = (article(&w, 1, 1).await, article(&w, 2, 1).await);
    w.s.publishing.approve_all(&w.account, &w.site).await.expect("approve");
    w.fake.fail_next(
        Call::CreatePost,
        1,
        PlatformError::Forbidden {
            platform_code: Some("rest_cannot_publish".into()),
            message: "Sorry, you are not allowed to publish posts as this user.".into(),
        },
    );
    let outcomes = publish(&w, &[&a.id, &b.id]).await;
    assert_eq!(outcomes.len(), 2);
    let refused = &outcomes[0];
    assert!(!refused.success);
    let fault = refused.error.clone().expect("error");
    assert_eq!(
        (fault.code.as_str(), fault.platform_code.as_deref()),
        ("forbidden_by_platform", Some("rest_cannot_publish"))
    );
    assert!(outcomes[1].success, "{outcomes:?}");
    let p = publication(&w, &a.id).await;
    assert_eq!(
        (p.state, p.last_error.map(|e| e.code)),
        (PublicationState::Failed, Some("forbidden_by_platform".into()))
    );
    assert_eq!(content(&w, &a.id).await.review, ReviewStatus::Approved, "not published");
    assert_eq!(content(&w, &b.id).await.review, ReviewStatus::Published);
    assert_eq!(w.fake.posts().len(), 1);
}

/// Four publishes of one article at once, from two processes: one remote post; the
/// others report the article busy or update the post once it exists.
async fn concurrent_publishes_of_one_article_make_one_post(store: Arc<dyn ItemStore>) {
    let w = world(&store).await;
    let a = article(&w, 1, 2).await;
    w.s.publishing.approve(&w.account, &w.site, &a.id).await.expect("approve");
    w.fake.set_latency(Duration::from_millis(30));
    // The second process shares the store, the key file, the blobs and the platform.
    let other = services(&store, &w._dir, &w.fake, &w.blobs, &w.clock);
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let s = if i % 2 == 0 { w.s.clone() } else { other.clone() };
            let (account, site, req) = (w.account.clone(), w.site.clone(), request(&[&a.id]));
            tokio::spawn(async move { s.publishing.publish(&account, &site, req).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(single(&t.await.expect("task").expect("publish")).clone());
    }
    assert_eq!(w.fake.posts().len(), 1, "{outcomes:?}");
    assert_eq!(w.fake.calls(Call::CreatePost), 1);
    assert_eq!(w.fake.media().len(), 2, "media uploaded once");
    assert!(outcomes.iter().any(|o| o.success));
    for o in outcomes.iter().filter(|o| !o.success) {
        assert_eq!(o.error.as_ref().map(|e| e.code.as_str()), Some(BUSY_CODE), "{o:?}");
    }
    assert_eq!(publication(&w, &a.id).await.state, PublicationState::Published);
}

/// A claim whose publisher died is busy until it is stale, then taken over.
async fn a_stale_claim_is_taken_over(store: Arc<dyn ItemStore>) {
    let w = world(&store).await;
    let a = article(&w, 1, 0).await;
    w.s.publishing.approve(&w.account, &w.site, &a.id).await.expect("approve");
    // A publisher claims the record and dies.
    let first = publish(&w, &[&a.id]).await;
    let template = single(&first).publication.clone().expect("record");
    let repo = PublicationRepo::new(Arc::clone(&store));
    let claimed = repo.claim(template, "dead-publisher", T0, |_| {}).await.expect("claim");
    assert!(matches!(claimed, ClaimOutcome::Claimed(_)));
    let busy = publish(&w, &[&a.id]).await;
    assert_eq!(single(&busy).error.as_ref().map(|e| e.code.as_str()), Some(BUSY_CODE));
    w.clock.advance_ms(6 * 60 * 1000);
    let taken = publish(&w, &[&a.id]).await;
    assert!(single(&taken).success, "{taken:?}");
    assert_eq!(w.fake.posts().len(), 1);
}

/// Content sync pulls remote status changes and sees a deleted post (RemoteDeleted),
/// then metadata; health is healthy.
async fn sync_sees_remote_changes_and_deletions(store: Arc<dyn ItemStore>) {
    let w = world(&store).await;
    let (a, b, c) = (article(&w, 1, 0).await, article(&w, 2, 0).await, article(&w, 3, 0).await);
    w.s.publishing.approve_all(&w.account, &w.site).await.expect("approve");
    assert!(publish(&w, &[&a.id, &b.id, &c.id]).await.iter().all(|o| o.success));
    let pa = publication(&w, &a.id).await;
    let pb = publication(&w, &b.id).await;
    assert!(w.fake.delete_post(pa.remote_id.as_deref().expect("id")));
    assert!(w.fake.set_post_status(pb.remote_id.as_deref().expect("id"), "draft"));
    let report = w.s.sync.sync(&w.account, &w.site, &w.integration.id).await.expect("sync");
    assert!(report.success, "{report:?}");
    assert_eq!((report.checked, report.changed, report.remote_deleted), (3, 1, 1), "{report:?}");
    assert_eq!(report.health.status, HealthStatus::Healthy);
    assert_eq!(report.categories, 1);
    assert_eq!(publication(&w, &a.id).await.state, PublicationState::RemoteDeleted);
    let b_now = publication(&w, &b.id).await;
    assert_eq!((b_now.state, b_now.remote_status.as_deref()), (PublicationState::Published, Some("draft")));
    // A deleted post is not checked again; republishing makes it anew.
    let again = w.s.sync.sync(&w.account, &w.site, &w.integration.id).await.expect("sync");
    assert_eq!((again.checked, again.changed, again.remote_deleted), (2, 0, 0), "{again:?}");
    assert!(single(&publish(&w, &[&a.id]).await).success);
    assert_eq!(w.fake.posts().len(), 3);
    let health = w.s.sync.health(&w.account, &w.site, &w.integration.id).await.expect("health");
    assert_eq!(health.status, HealthStatus::Healthy);
}

/// Failed syncs: one or two in a row degrade health, three make it failing; a success
/// makes it healthy again.
async fn sync_failures_degrade_then_fail_health(store: Arc<dyn ItemStore>) {
    let w = world(&store).await;
    let a = article(&w, 1, 0).await;
    w.s.publishing.approve(&w.account, &w.site, &a.id).await.expect("approve");
    assert!(single(&publish(&w, &[&a.id]).await).success);
    let down = PlatformError::Unavailable { status: 503, platform_code: None, message: "Service Unavailable".into() };
    w.fake.fail_next(Call::FetchPost, 3, down);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let report = w.s.sync.sync(&w.account, &w.site, &w.integration.id).await.expect("sync");
        assert!(!report.success);
        assert_eq!(report.error.as_ref().map(|e| e.code.as_str()), Some("platform_unavailable"));
        seen.push((report.health.status, report.health.consecutive_failures));
    }
    assert_eq!(seen, vec![(HealthStatus::Degraded, 1), (HealthStatus::Degraded, 2), (HealthStatus::Failing, 3)]);
    let health = w.s.sync.health(&w.account, &w.site, &w.integration.id).await.expect("health");
    assert_eq!(health.status, HealthStatus::Failing);
    let ok = w.s.sync.sync(&w.account, &w.site, &w.integration.id).await.expect("sync");
    assert!(ok.success);
    assert_eq!((ok.health.status, ok.health.consecutive_failures), (HealthStatus::Healthy, 0));
    // The sweep syncs every active, sync-enabled integration.
    let sweep = w.s.sync.sync_all().await.expect("sweep");
    assert_eq!((sweep.synced, sweep.failed), (1, 0));
}

/// The run's publishing stage: batches of two publish the waiting articles as if
/// approved, a refused one is counted failed and leaves the index, a 503 is a
/// transient error that a retry resumes, and `remaining` falls to 0.
async fn the_run_stage_publishes_in_batches_until_none_remain(store: Arc<dyn ItemStore>) {
    let w = world(&store).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(article(&w, n, 2).await.id);
    }
    let run = RunId::derive("run");
    let ps = &w.s.publishing;
    let stage = || ps.publish_run_batch(&w.account, &w.site, &run, RemoteStatus::Publish, 2);
    w.fake.fail_next(
        Call::CreatePost,
        1,
        PlatformError::Forbidden { platform_code: Some("rest_cannot_publish".into()), message: "no".into() },
    );
    // Without an active integration the stage cannot run (a clear error, nothing sent).
    let off = IntegrationUpdate { active: Some(false), ..IntegrationUpdate::default() };
    w.s.integrations.update(&w.account, &w.site, &w.integration.id, off).await.expect("deactivate");
    assert_eq!(stage().await.expect_err("no destination").code(), "no_integration");
    let on = IntegrationUpdate { active: Some(true), ..IntegrationUpdate::default() };
    w.s.integrations.update(&w.account, &w.site, &w.integration.id, on).await.expect("activate");
    assert_eq!(w.fake.total_calls(), 0);
    let first = stage().await.expect("batch 1");
    assert_eq!((first.attempted, first.published, first.failed, first.remaining), (2, 1, 1, 3));
    w.fake.fail_next(Call::CreatePost, 1, PlatformError::Throttled { retry_after: None, message: "slow down".into() });
    let err = stage().await.expect_err("throttled");
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(err.code(), "platform_throttled");
    let mut remaining = u64::MAX;
    let mut batches = 0;
    while remaining > 0 {
        let b = stage().await.expect("batch");
        assert!(b.attempted <= 2 && b.failed == 0, "{b:?}");
        remaining = b.remaining;
        batches += 1;
        assert!(batches <= 3, "remaining must fall: {b:?}");
    }
    assert_eq!(w.fake.posts().len(), 4, "four published, one refused");
    assert_eq!(w.fake.media().len(), 10, "every image uploaded once, the refused article's too");
    let mut states = Vec::new();
    for id in &ids {
        let c = content(&w, id).await;
        states.push(c.status);
    }
    assert_eq!(states.iter().filter(|s| **s == ContentStatus::Published).count(), 4, "{states:?}");
    assert_eq!(states.iter().filter(|s| **s == ContentStatus::PublishFailed).count(), 1, "{states:?}");
    let done = stage().await.expect("nothing left");
    assert_eq!((done.attempted, done.remaining), (0, 0));
    igny8_tests::counters::assert_counts(&w.store, &w.site).await;
}

/// The approval gate (docs/validation.md): an article with a script and an inline
/// handler is approved and sent without them (the stored body is left as written); one
/// without a meta description is refused `content_invalid` by approve, skipped by
/// approve_all, refused by a publish that includes unapproved articles, and nothing of
/// it is written or sent.
async fn the_approval_gate_refuses_invalid_articles_and_sends_sanitized_bodies(store: Arc<dyn ItemStore>) {
    let w = world(&store).await;
    let scripted = article_edited(&w, 1, 0, |c| {
        c.html = format!(
            "<h1>{}</h1><p onclick=\"track()\">Intro.</p><script>steal(document.cookie)</script><h2>Fit</h2><p>Fit.</p>",
            c.title
        );
    })
    .await;
    let no_meta = article_edited(&w, 2, 0, |c| c.meta_description = String::new()).await;
    let ps = &w.s.publishing;

    let err = ps.approve(&w.account, &w.site, &no_meta.id).await.expect_err("no meta description");
    assert_eq!(err.code(), "content_invalid");
    assert!(err.to_string().contains("no meta description"), "{err}");
    assert_eq!(content(&w, &no_meta.id).await, no_meta, "nothing written");
    let all = ps.approve_all(&w.account, &w.site).await.expect("approve all");
    assert_eq!((all.approved, all.invalid.clone()), (1, vec![no_meta.id.clone()]));
    assert_eq!(content(&w, &no_meta.id).await.review, ReviewStatus::Draft);
    assert_eq!(content(&w, &scripted.id).await.review, ReviewStatus::Approved);

    let anyway = PublishRequest { include_unapproved: true, ..request(&[&scripted.id, &no_meta.id]) };
    let err = ps.publish(&w.account, &w.site, anyway).await.expect_err("invalid article named");
    assert_eq!(err.code(), "content_invalid");
    assert_eq!(w.fake.total_calls(), 0, "nothing sent for a refused request");
    assert!(ps.publications(&w.account, &w.site, &no_meta.id).await.expect("records").is_empty());

    let sent = publish(&w, &[&scripted.id]).await;
    assert!(single(&sent).success, "{sent:?}");
    let html = &w.fake.posts()[0].article.html;
    assert!(!html.contains("script") && !html.contains("onclick") && !html.contains("steal"), "{html}");
    assert!(html.contains("<p>Intro.</p>") && html.contains("<h2>Fit</h2><p>Fit.</p>"), "{html}");
    assert_eq!(content(&w, &scripted.id).await.html, scripted.html, "the stored body is kept as written");
}

/// The run's publishing stage validates too: an invalid article waiting for it is
/// recorded failed with `content_invalid` (on its publication and as `publish_failed`)
/// and never sent; the valid one is published.
async fn the_run_stage_records_an_invalid_article_failed_without_sending_it(store: Arc<dyn ItemStore>) {
    let w = world(&store).await;
    let good = article(&w, 1, 1).await;
    let broken = article_edited(&w, 2, 1, |c| c.html = format!("<h1>{}</h1><p>Unclosed <b>bold.</p>", c.title)).await;
    let run = RunId::derive("run");
    let batch =
        w.s.publishing.publish_run_batch(&w.account, &w.site, &run, RemoteStatus::Publish, 10).await.expect("batch");
    assert_eq!((batch.attempted, batch.published, batch.failed, batch.remaining), (2, 1, 1, 0));
    assert_eq!(w.fake.posts().len(), 1);
    assert_eq!(w.fake.media().len(), 1, "the invalid article's image is not uploaded either");
    assert_eq!(content(&w, &good.id).await.status, ContentStatus::Published);
    let failed = content(&w, &broken.id).await;
    assert_eq!((failed.status, failed.review), (ContentStatus::PublishFailed, ReviewStatus::Draft));
    let record = publication(&w, &broken.id).await;
    assert_eq!(record.state, PublicationState::Failed);
    let fault = record.last_error.expect("error recorded");
    assert_eq!(fault.code, "content_invalid");
    assert!(fault.message.contains("<b>"), "{}", fault.message);
    igny8_tests::counters::assert_counts(&w.store, &w.site).await;
}
