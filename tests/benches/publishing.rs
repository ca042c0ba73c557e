//! Articles published per minute to the local WordPress (tests/src/wordpress.rs), each
//! with two PNG images as the offline provider renders them (1024×576), sequentially
//! and with 4 at a time, and the HTTP requests each article took. Three ways:
//!
//! - `publisher`: the full publisher, `services.publishing.publish` on the embedded
//!   family (SQLite store, blob folder, local key file) with the real client: the
//!   article and its images as a run leaves them, the sealed credentials opened, the
//!   publication record claimed and written before and after each remote step;
//! - `client`: `igny8_platforms::WordPressClient` as the publisher drives it — upload
//!   both images (alt text set), resolve the category and two tags to term ids, create
//!   the post with the featured image;
//! - `baseline`: the fewest requests a hand-written `curl` script would send for the
//!   same result (two uploads, one post with term ids known in advance), over plain
//!   reqwest: what the client's own overhead is measured against.
//!
//! `cargo bench -p igny8-tests --bench publishing` (IGNY8_BENCH_ARTICLES, default 16, per
//! configuration). Figures in docs/performance.md.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use igny8_core::domain::{ContentId, Credentials, Platform, RemoteStatus};
use igny8_core::ports::{ArticlePayload, Destination, MediaUpload, PublishingPlatform, SeoFields};
use igny8_core::publishing::PublishRequest;
use igny8_platforms::WordPressClient;
use igny8_tests::wordpress::{WordPress, WpUser};
use igny8_tests::wordpress_publishing::{publisher, write_article, Publisher};
use serde_json::{json, Value};

/// One article's images, rendered before the clock starts.
struct Article {
    slug: String,
    images: [Vec<u8>; 2],
}

fn articles(prefix: &str, n: usize) -> Vec<Article> {
    (0..n)
        .map(|i| {
            let render = |which: &str| {
                igny8_ai::offline::images::render_png(&format!("{prefix} article {i} {which} image"), 1024, 576)
                    .expect("render")
                    .png
            };
            Article { slug: format!("{prefix}-article-{i}"), images: [render("featured"), render("inline")] }
        })
        .collect()
}

fn media(article: &Article, which: usize) -> MediaUpload {
    MediaUpload {
        filename: format!("{}-{which}.png", article.slug),
        content_type: "image/png".into(),
        bytes: article.images[which].clone(),
        alt_text: format!("Image {which} of {}", article.slug),
        title: format!("{} image {which}", article.slug),
    }
}

/// Publishes one article through the client.
async fn publish_with_client(client: &WordPressClient, destination: &Destination, article: &Article) {
    let featured = client.upload_media(destination, &media(article, 0)).await.expect("upload featured");
    let inline = client.upload_media(destination, &media(article, 1)).await.expect("upload inline");
    let payload = ArticlePayload {
        title: format!("Bench {}", article.slug),
        slug: article.slug.clone(),
        html: format!("<p>Intro.</p><figure><img src=\"{}\" alt=\"inline\"></figure><p>Body.</p>", inline.url),
        excerpt: "A benchmark article.".into(),
        status: RemoteStatus::Publish,
        publish_at: None,
        categories: vec!["Bench".into()],
        tags: vec!["bench".into(), "wordpress".into()],
        featured_media: Some(featured.id.clone()),
        author_name: None,
        seo: SeoFields::default(),
    };
    let post = client.create_post(destination, &payload).await.expect("create post");
    assert_eq!(post.featured_media.as_deref(), Some(featured.id.as_str()));
}

/// The same article with the fewest requests: two uploads and one post, term ids known.
async fn publish_baseline(http: &reqwest::Client, wp: &WordPress, user: &WpUser, terms: &Value, article: &Article) {
    let mut ids = Vec::new();
    let mut urls = Vec::new();
    for which in 0..2 {
        let image = media(article, which);
        let reply: Value = http
            .post(format!("{}wp/v2/media", wp.rest_root()))
            .basic_auth(&user.username, Some(&user.app_password))
            .query(&[("alt_text", image.alt_text.as_str())])
            .header("Content-Type", "image/png")
            .header("Content-Disposition", format!("attachment; filename=\"{}\"", image.filename))
            .body(image.bytes)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(reply["id"].as_u64().expect("media id"));
        urls.push(reply["source_url"].as_str().unwrap_or_default().to_string());
    }
    let status = http
        .post(format!("{}wp/v2/posts", wp.rest_root()))
        .basic_auth(&user.username, Some(&user.app_password))
        .json(&json!({
            "title": format!("Baseline {}", article.slug),
            "slug": article.slug,
            "content": format!("<p>Intro.</p><figure><img src=\"{}\" alt=\"inline\"></figure><p>Body.</p>", urls[1]),
            "excerpt": "A benchmark article.",
            "status": "publish",
            "categories": terms["categories"],
            "tags": terms["tags"],
            "featured_media": ids[0],
        }))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 201);
}

async fn publish_with_publisher(p: &Publisher, id: &ContentId) {
    let request = PublishRequest {
        content_ids: vec![id.clone()],
        status: RemoteStatus::Publish,
        publish_at: None,
        integration_id: None,
        include_unapproved: true,
    };
    let outcomes = p.services.publishing.publish(&p.account, &p.site, request).await.expect("publish");
    assert!(outcomes.len() == 1 && outcomes[0].success, "{outcomes:?}");
}

/// One line of the table.
fn report(way: &str, concurrency: usize, n: usize, seconds: f64, requests: u64) {
    println!(
        "{way:<10} concurrency {concurrency}: {n} articles in {seconds:6.2} s = {:6.1} articles/min, {:.1} requests/article",
        n as f64 * 60.0 / seconds,
        requests as f64 / n as f64
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let n: usize = std::env::var("IGNY8_BENCH_ARTICLES").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
    let wp = tokio::task::spawn_blocking(WordPress::start).await.unwrap().expect("start WordPress");
    println!(
        "WordPress {} (PHP {}) at {}; {n} articles per line, 2 PNG images (1024x576) each",
        wp.version, wp.php_version, wp.url
    );
    let admin = wp.user("admin").clone();
    let destination = Destination {
        platform: Platform::Wordpress,
        base_url: wp.url.clone(),
        credentials: Credentials::WordpressAppPassword {
            username: admin.username.clone(),
            app_password: admin.app_password.clone(),
        },
    };

    let client = Arc::new(WordPressClient::new());
    // Discovery (and the first term creations) once, outside the clock: what a
    // long-running publisher has cached.
    assert!(client.test_connection(&destination).await.success);
    publish_with_client(&client, &destination, &articles("warmup", 1)[0]).await;

    // The full publisher, its own client (its own count), terms created by a warm-up.
    let publisher_client = Arc::new(WordPressClient::new());
    let full = publisher(&wp, &admin, publisher_client.clone()).await;
    let warmup = articles("publisher-warmup", 4);
    for (i, article) in warmup.iter().enumerate() {
        let id = write_article(&full, &article.slug, &article.images, i).await;
        publish_with_publisher(&full, &id).await;
    }
    for concurrency in [1, 4] {
        let batch = articles(&format!("publisher-c{concurrency}"), n);
        let mut ids = Vec::new();
        for (i, article) in batch.iter().enumerate() {
            ids.push(write_article(&full, &article.slug, &article.images, 4 + i).await);
        }
        let before = publisher_client.requests().get();
        let start = Instant::now();
        stream::iter(&ids).for_each_concurrent(concurrency, |id| publish_with_publisher(&full, id)).await;
        report("publisher", concurrency, n, start.elapsed().as_secs_f64(), publisher_client.requests().get() - before);
    }

    for concurrency in [1, 4] {
        let batch = articles(&format!("client-c{concurrency}"), n);
        let before = client.requests().get();
        let start = Instant::now();
        stream::iter(&batch)
            .for_each_concurrent(concurrency, |article| {
                let (client, destination) = (Arc::clone(&client), destination.clone());
                async move { publish_with_client(&client, &destination, article).await }
            })
            .await;
        report("client", concurrency, n, start.elapsed().as_secs_f64(), client.requests().get() - before);
    }

    // The baseline knows the term ids (the warm-up created them).
    let http = reqwest::Client::new();
    let metadata = client.fetch_metadata(&destination).await.unwrap();
    let id_of = |terms: &[igny8_core::domain::RemoteTerm], name: &str| {
        terms.iter().find(|t| t.name == name).map(|t| t.id.parse::<u64>().unwrap()).expect("term")
    };
    let terms = json!({
        "categories": [id_of(&metadata.categories, "Bench")],
        "tags": [id_of(&metadata.tags, "bench"), id_of(&metadata.tags, "wordpress")],
    });
    for concurrency in [1, 4] {
        let batch = articles(&format!("baseline-c{concurrency}"), n);
        let start = Instant::now();
        stream::iter(&batch)
            .for_each_concurrent(concurrency, |article| publish_baseline(&http, &wp, &admin, &terms, article))
            .await;
        report("baseline", concurrency, n, start.elapsed().as_secs_f64(), 3 * n as u64);
    }
    tokio::task::spawn_blocking(move || wp.stop()).await.unwrap().expect("stop WordPress");
}
