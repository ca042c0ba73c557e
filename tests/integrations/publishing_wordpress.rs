//! The whole publishing path on the real WordPress (issue 12's tests): the publisher
//! (`services.publishing`) on the embedded family with `igny8_platforms::WordPressClient`
//! publishes articles with images as an author, a republish and a publish after a
//! simulated crash (the post created remotely, its id never recorded) leave one post,
//! a contributor gets `forbidden_by_platform` per article, and content sync sees a post
//! deleted in WordPress.
//!
//! Needs root the first time (the fixture installs Debian packages); see docs/testing.md.

// Tests: a failed step is a failed test, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use igny8_core::domain::{Content, ContentId, PublicationState, RemoteStatus};
use igny8_core::ports::{ArticlePayload, Destination, PublishingPlatform, SeoFields};
use igny8_core::publishing::{PublishOutcome, PublishRequest};
use igny8_core::repo::Records;
use igny8_platforms::WordPressClient;
use igny8_tests::wordpress::WordPress;
use igny8_tests::wordpress_publishing::{publisher, write_article, Publisher};
use serde_json::Value;

async fn publish(p: &Publisher, id: &ContentId) -> PublishOutcome {
    let request = PublishRequest {
        content_ids: vec![id.clone()],
        status: RemoteStatus::Publish,
        publish_at: None,
        integration_id: None,
        include_unapproved: true,
    };
    let mut outcomes = p.services.publishing.publish(&p.account, &p.site, request).await.expect("publish");
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    outcomes.remove(0)
}

/// GET a REST route (with its query) as the admin.
async fn admin_get(wp: &WordPress, route: &str) -> Value {
    let admin = wp.user("admin");
    let reply = reqwest::Client::new()
        .get(format!("{}{route}", wp.rest_root()))
        .basic_auth(&admin.username, Some(&admin.app_password))
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success(), "GET {route}: {}", reply.status());
    reply.json().await.unwrap()
}

fn png(seed: &str) -> Vec<u8> {
    igny8_ai::offline::images::render_png(seed, 320, 180).expect("render").png
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publisher_on_a_real_wordpress() {
    let wp = tokio::task::spawn_blocking(WordPress::start).await.unwrap().expect("start WordPress");
    // Authors may not create categories: the admin makes the four the articles use.
    let admin_client = WordPressClient::new();
    let admin = Destination {
        platform: igny8_core::domain::Platform::Wordpress,
        base_url: wp.url.clone(),
        credentials: igny8_core::domain::Credentials::WordpressAppPassword {
            username: wp.user("admin").username.clone(),
            app_password: wp.user("admin").app_password.clone(),
        },
    };
    for n in 0..4 {
        let seed = ArticlePayload {
            title: format!("Category seed {n}"),
            slug: format!("category-seed-{n}"),
            html: "<p>seed</p>".into(),
            excerpt: String::new(),
            status: RemoteStatus::Draft,
            publish_at: None,
            categories: vec![format!("Garden topic {n}")],
            tags: Vec::new(),
            featured_media: None,
            author_name: None,
            seo: SeoFields::default(),
        };
        admin_client.create_post(&admin, &seed).await.unwrap();
    }

    let author = publisher(&wp, wp.user("author"), Arc::new(WordPressClient::new())).await;
    let a = write_article(&author, "first", &[png("first 0"), png("first 1")], 0).await;
    let outcome = publish(&author, &a).await;
    assert!(outcome.success, "{outcome:?}");
    let record = outcome.publication.clone().unwrap();
    let remote_id = record.remote_id.clone().unwrap();
    assert_eq!(record.state, PublicationState::Published);
    assert_eq!(record.media.len(), 2, "{record:?}");
    let post = admin_get(&wp, &format!("wp/v2/posts/{remote_id}?context=edit")).await;
    assert_eq!(post["status"], "publish");
    assert_eq!(post["author"].as_u64(), Some(wp.user("author").id));
    assert_eq!(post["featured_media"].as_u64().map(|m| m.to_string()), record.featured_media, "{post}");
    let body = post["content"]["raw"].as_str().unwrap();
    assert!(body.contains(&format!("{}/wp-content/uploads/", wp.url)), "the body points at the uploads: {body}");
    let media_before = admin_get(&wp, "wp/v2/media?per_page=100").await.as_array().unwrap().len();

    // Republish: the same post, no new media.
    let again = publish(&author, &a).await;
    assert!(again.success, "{again:?}");
    assert_eq!(again.publication.unwrap().remote_id.as_deref(), Some(remote_id.as_str()));
    let slug = record.slug.clone();
    assert_eq!(admin_get(&wp, &format!("wp/v2/posts?slug={slug}&status=any")).await.as_array().unwrap().len(), 1);
    assert_eq!(admin_get(&wp, "wp/v2/media?per_page=100").await.as_array().unwrap().len(), media_before);

    // A crash between the remote create and the local record: the post exists in
    // WordPress with the article's slug, the store knows no id. Publishing adopts it.
    let b = write_article(&author, "second", &[png("second 0")], 1).await;
    let content: Content =
        Records::<Content>::new(Arc::clone(&author.store)).get(&author.site, b.as_str()).await.unwrap().unwrap();
    let slug_b = igny8_core::publishing::article::slugify(&content.title, content.id.as_str());
    let orphan = ArticlePayload {
        title: content.title.clone(),
        slug: slug_b.clone(),
        html: "<p>created before the crash</p>".into(),
        excerpt: String::new(),
        status: RemoteStatus::Draft,
        publish_at: None,
        categories: Vec::new(),
        tags: Vec::new(),
        featured_media: None,
        author_name: None,
        seo: SeoFields::default(),
    };
    let author_destination = Destination {
        platform: igny8_core::domain::Platform::Wordpress,
        base_url: wp.url.clone(),
        credentials: igny8_core::domain::Credentials::WordpressAppPassword {
            username: wp.user("author").username.clone(),
            app_password: wp.user("author").app_password.clone(),
        },
    };
    let orphan = WordPressClient::new().create_post(&author_destination, &orphan).await.unwrap();
    let adopted = publish(&author, &b).await;
    assert!(adopted.success, "{adopted:?}");
    assert_eq!(adopted.publication.unwrap().remote_id.as_deref(), Some(orphan.id.as_str()));
    let found = admin_get(&wp, &format!("wp/v2/posts?slug={slug_b}&status=any")).await;
    assert_eq!(found.as_array().unwrap().len(), 1, "still one post: {found}");
    assert_eq!(found[0]["status"], "publish");

    // A contributor: refused per article with WordPress's code (images first: upload
    // refused; without images: publishing refused).
    let contributor = publisher(&wp, wp.user("contributor"), Arc::new(WordPressClient::new())).await;
    let c = write_article(&contributor, "by-contributor", &[png("c 0")], 2).await;
    let refused = publish(&contributor, &c).await;
    assert!(!refused.success);
    let error = refused.error.unwrap();
    assert_eq!(
        (error.code.as_str(), error.platform_code.as_deref()),
        ("forbidden_by_platform", Some("rest_cannot_create"))
    );
    let d = write_article(&contributor, "contributor-text-only", &[], 3).await;
    let error = publish(&contributor, &d).await.error.unwrap();
    assert_eq!(
        (error.code.as_str(), error.platform_code.as_deref()),
        ("forbidden_by_platform", Some("rest_cannot_publish"))
    );

    // Deleted in WordPress: content sync marks the publication remote-deleted.
    let admin_user = wp.user("admin");
    let deleted = reqwest::Client::new()
        .delete(format!("{}wp/v2/posts/{remote_id}?force=true", wp.rest_root()))
        .basic_auth(&admin_user.username, Some(&admin_user.app_password))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    let report = author.services.sync.sync(&author.account, &author.site, &author.integration).await.unwrap();
    assert!(report.success, "{report:?}");
    assert_eq!(report.remote_deleted, 1, "{report:?}");
    let records = author.services.publishing.publications(&author.account, &author.site, &a).await.unwrap();
    assert_eq!(records[0].state, PublicationState::RemoteDeleted);
    tokio::task::spawn_blocking(move || wp.stop()).await.unwrap().expect("stop WordPress");
}
