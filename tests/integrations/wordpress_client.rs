//! The WordPress client (`igny8_platforms::WordPressClient`) against the real WordPress
//! 6.1 from Debian (tests/src/wordpress.rs): connection tests right and wrong, REST root
//! discovery with pretty and plain permalinks, media with alt text, posts with featured
//! image, categories and tags (created when missing), update, lookup by slug, a
//! contributor refused, a deleted or trashed post gone, metadata; and, on small local
//! servers, what no WordPress does on demand: a refused port, a site without the REST
//! API, a server that does not speak TLS at an https URL, 429 and 5xx.
//!
//! Needs root the first time (the fixture installs Debian packages); see docs/testing.md.

// Tests: a failed step is a failed test, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use igny8_core::domain::{ConnectionReport, Credentials, Platform, RemoteStatus};
use igny8_core::ports::{ArticlePayload, Destination, MediaUpload, PublishingPlatform, SeoField, SeoFields};
use igny8_core::publishing::metadata::WORDPRESS_META_KEYS;
use igny8_platforms::{Timeouts, WordPressClient};
use igny8_tests::wordpress::{Options, Permalinks, WordPress, WpUser};
use serde_json::{json, Value};

/// A 1×1 transparent PNG.
const ONE_PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0a, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

async fn start(options: Options) -> WordPress {
    tokio::task::spawn_blocking(move || WordPress::start_with(options)).await.unwrap().expect("start WordPress")
}

async fn stop(wp: WordPress) {
    tokio::task::spawn_blocking(move || wp.stop()).await.unwrap().expect("stop WordPress");
}

fn destination(url: &str, user: &WpUser) -> Destination {
    Destination {
        platform: Platform::Wordpress,
        base_url: url.to_string(),
        credentials: Credentials::WordpressAppPassword {
            username: user.username.clone(),
            app_password: user.app_password.clone(),
        },
    }
}

fn with_password(url: &str, username: &str, password: &str) -> Destination {
    Destination {
        platform: Platform::Wordpress,
        base_url: url.to_string(),
        credentials: Credentials::WordpressAppPassword {
            username: username.to_string(),
            app_password: password.to_string(),
        },
    }
}

fn article(slug: &str, status: RemoteStatus) -> ArticlePayload {
    ArticlePayload {
        title: format!("Article {slug}"),
        slug: slug.to_string(),
        html: "<p>Body with an image.</p>".to_string(),
        excerpt: "A short summary.".to_string(),
        status,
        publish_at: None,
        categories: Vec::new(),
        tags: Vec::new(),
        featured_media: None,
        author_name: None,
        seo: SeoFields::default(),
    }
}

fn image(name: &str, alt: &str) -> MediaUpload {
    MediaUpload {
        filename: name.to_string(),
        content_type: "image/png".to_string(),
        bytes: ONE_PIXEL_PNG.to_vec(),
        alt_text: alt.to_string(),
        title: format!("Title of {name}"),
    }
}

fn failure(report: &ConnectionReport) -> (String, Option<String>, String) {
    assert!(!report.success, "{report:?}");
    let error = report.error.clone().unwrap_or_else(|| panic!("a failed report without an error: {report:?}"));
    (error.code, error.platform_code, error.message)
}

/// A GET of the JSON at a REST route, as the admin.
async fn admin_get(wp: &WordPress, route_and_query: &str) -> (u16, Value) {
    let admin = wp.user("admin");
    let reply = reqwest::Client::new()
        .get(format!("{}{route_and_query}", wp.rest_root()))
        .basic_auth(&admin.username, Some(&admin.app_password))
        .send()
        .await
        .unwrap();
    (reply.status().as_u16(), reply.json().await.unwrap_or(Value::Null))
}

async fn admin_delete(wp: &WordPress, route: &str) {
    let admin = wp.user("admin");
    let reply = reqwest::Client::new()
        .delete(format!("{}{route}", wp.rest_root()))
        .basic_auth(&admin.username, Some(&admin.app_password))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 200, "DELETE {route}: {}", reply.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_tests_right_and_wrong() {
    let wp = start(Options::default()).await;
    let client = WordPressClient::new();

    let report = client.test_connection(&destination(&wp.url, wp.user("author"))).await;
    assert!(report.success, "{report:?}");
    assert!(report.can_publish && report.can_upload, "{report:?}");
    let identity = report.identity.clone().unwrap();
    assert_eq!(identity.id, wp.user("author").id.to_string());
    assert_eq!(identity.roles, ["author"]);
    assert_eq!(report.api_root.as_deref(), Some(format!("{}/wp-json/", wp.url).as_str()));
    assert_eq!(report.version.as_deref(), Some(wp.version.as_str()), "the generator tag gives the version");

    // Capabilities a contributor lacks are absent: neither publish nor upload.
    let report = client.test_connection(&destination(&wp.url, wp.user("contributor"))).await;
    assert!(report.success, "{report:?}");
    assert!(!report.can_publish && !report.can_upload, "{report:?}");

    // A wrong application password: a report, not an error, with WordPress's own code.
    let report = client.test_connection(&with_password(&wp.url, "author", "abcd efgh ijkl mnop qrst uvwx")).await;
    let (code, platform_code, message) = failure(&report);
    assert_eq!(code, "bad_credentials");
    assert!(["rest_not_logged_in", "incorrect_password"].contains(&platform_code.as_deref().unwrap_or_default()));
    assert!(!message.contains("abcd"), "the password must not be echoed: {message}");
    let report = client.test_connection(&with_password(&wp.url, "nobody", "abcd efgh ijkl mnop qrst uvwx")).await;
    assert_eq!(failure(&report).0, "bad_credentials");

    // Shopify credentials on a WordPress destination are bad credentials, not a crash.
    let mut wrong_kind = destination(&wp.url, wp.user("author"));
    wrong_kind.credentials = Credentials::ShopifyAccessToken { access_token: "shpat_x".into() };
    assert_eq!(failure(&client.test_connection(&wrong_kind).await).0, "bad_credentials");
    stop(wp).await;
}

/// Plain permalinks (no rewriting): `/wp-json/` is a 404, the home page's `Link`
/// header names `?rest_route=/`, and every call goes through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_permalinks_use_rest_route() {
    let wp = start(Options { permalinks: Permalinks::Plain, ..Options::default() }).await;
    let client = WordPressClient::new();
    let author = destination(&wp.url, wp.user("author"));
    let report = client.test_connection(&author).await;
    assert!(report.success, "{report:?}");
    // The Link header names `<url>/index.php?rest_route=/`.
    let root = report.api_root.clone().unwrap_or_default();
    assert!(root.starts_with(&wp.url) && root.ends_with("?rest_route=/"), "{root}");
    assert!(report.can_publish, "{report:?}");

    let media = client.upload_media(&author, &image("plain.png", "Plain alt")).await.unwrap();
    let mut payload = article("plain-permalinks-post", RemoteStatus::Publish);
    payload.featured_media = Some(media.id.clone());
    let post = client.create_post(&author, &payload).await.unwrap();
    assert_eq!(post.featured_media.as_deref(), Some(media.id.as_str()));
    let found = client.find_post_by_slug(&author, "plain-permalinks-post").await.unwrap().unwrap();
    assert_eq!(found.id, post.id);
    stop(wp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_posts_media_and_terms() {
    let wp = start(Options::default()).await;
    let client = WordPressClient::new();
    let admin = destination(&wp.url, wp.user("admin"));
    let author = destination(&wp.url, wp.user("author"));
    let contributor = destination(&wp.url, wp.user("contributor"));

    // An image with its alt text, uploaded as the author.
    let media = client.upload_media(&author, &image("featured shot.png", "A lawn at dawn")).await.unwrap();
    assert!(media.url.starts_with(&format!("{}/wp-content/uploads/", wp.url)), "{media:?}");
    let (status, stored) = admin_get(&wp, &format!("wp/v2/media/{}?context=edit", media.id)).await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["alt_text"], "A lawn at dawn");
    assert_eq!(stored["mime_type"], "image/png");

    // A post by the admin with a featured image, new categories and tags and SEO
    // fields; a bare WordPress registers no SEO meta, so all are reported rejected.
    let mut payload = article("garden-care-guide", RemoteStatus::Publish);
    payload.featured_media = Some(media.id.clone());
    payload.categories = vec!["Garden Tools".into(), "Lawn & Turf".into()];
    payload.tags = vec!["spring".into(), "mowing tips".into(), "Spring".into()];
    payload.seo = SeoFields {
        title: Some("Garden care | Site".into()),
        description: Some("How to care for a garden.".into()),
        focus_keyphrase: Some("garden care".into()),
        ..SeoFields::default()
    };
    let post = client.create_post(&admin, &payload).await.unwrap();
    assert_eq!(post.status, "publish");
    assert_eq!(post.slug, "garden-care-guide");
    assert_eq!(post.featured_media.as_deref(), Some(media.id.as_str()));
    assert!(post.url.as_deref().unwrap_or_default().starts_with(&wp.url), "{post:?}");
    assert!(post.seo_accepted.is_empty(), "{post:?}");
    assert_eq!(post.seo_rejected, ["seo_title", "seo_description", "focus_keyphrase"]);
    let (_, stored) = admin_get(&wp, &format!("wp/v2/posts/{}?context=edit", post.id)).await;
    assert_eq!(stored["categories"].as_array().unwrap().len(), 2, "{stored}");
    assert_eq!(stored["tags"].as_array().unwrap().len(), 2, "Spring and spring are one tag: {stored}");
    assert_eq!(stored["excerpt"]["raw"], "A short summary.");
    let (_, categories) = admin_get(&wp, "wp/v2/categories?per_page=100").await;
    let names: Vec<&str> = categories.as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert!(names.contains(&"Garden Tools") && names.contains(&"Lawn &amp; Turf"), "{names:?}");

    // The same names again resolve to the same terms (found, not created twice).
    let again = client.create_post(&admin, &article("second-post", RemoteStatus::Draft)).await.unwrap();
    assert_eq!(again.status, "draft");
    let mut second = article("second-post", RemoteStatus::Draft);
    second.categories = payload.categories.clone();
    second.tags = payload.tags.clone();
    let updated = client.update_post(&admin, &again.id, &second).await.unwrap();
    assert_eq!(updated.id, again.id);
    let (_, stored_second) = admin_get(&wp, &format!("wp/v2/posts/{}?context=edit", again.id)).await;
    assert_eq!(stored_second["categories"], stored["categories"]);
    assert_eq!(stored_second["tags"], stored["tags"]);
    let (_, categories_after) = admin_get(&wp, "wp/v2/categories?per_page=100").await;
    assert_eq!(categories_after.as_array().unwrap().len(), categories.as_array().unwrap().len());

    // Term ids are cached: a post whose terms are known is one request.
    let mut third = second.clone();
    third.slug = "third-post".into();
    let before = client.requests().get();
    client.create_post(&admin, &third).await.unwrap();
    assert_eq!(client.requests().get() - before, 1, "terms from the cache");
    // A cached category deleted in WordPress: WordPress drops the unknown id silently;
    // the client notices, resolves the terms again and sets them on the post.
    let lawn =
        categories_after.as_array().unwrap().iter().find(|c| c["name"] == "Lawn &amp; Turf").unwrap()["id"].clone();
    admin_delete(&wp, &format!("wp/v2/categories/{lawn}?force=true")).await;
    let mut fourth = second.clone();
    fourth.slug = "fourth-post".into();
    let post_four = client.create_post(&admin, &fourth).await.unwrap();
    let (_, stored_four) = admin_get(&wp, &format!("wp/v2/posts/{}?context=edit", post_four.id)).await;
    assert_eq!(stored_four["categories"].as_array().unwrap().len(), 2, "{stored_four}");
    assert!(!stored_four["categories"].as_array().unwrap().contains(&lawn), "{stored_four}");

    // Update: the same post, new title, still one post with that slug.
    let mut changed = payload.clone();
    changed.title = "Garden care, revised".into();
    let updated = client.update_post(&admin, &post.id, &changed).await.unwrap();
    assert_eq!(updated.id, post.id);
    let (_, stored) = admin_get(&wp, &format!("wp/v2/posts/{}?context=edit", post.id)).await;
    assert_eq!(stored["title"]["raw"], "Garden care, revised");
    let found = client.find_post_by_slug(&admin, "garden-care-guide").await.unwrap().unwrap();
    assert_eq!(found.id, post.id);
    assert!(client.find_post_by_slug(&admin, "no-such-post").await.unwrap().is_none());
    // `context=edit` lists only posts the user may edit: not the admin's, for the author.
    assert!(client.find_post_by_slug(&author, "garden-care-guide").await.unwrap().is_none());

    // The author may use existing categories and create tags, but not categories: a
    // category the author cannot create is left off the post and reported, and the
    // article still goes out.
    let mut by_author = article("author-post", RemoteStatus::Publish);
    by_author.categories = vec!["Garden Tools".into()];
    by_author.tags = vec!["a new tag from the author".into()];
    let authored = client.create_post(&author, &by_author).await.unwrap();
    assert_eq!(authored.status, "publish");
    assert!(authored.skipped_terms.is_empty(), "{:?}", authored.skipped_terms);
    let mut new_category = article("author-post-new-category", RemoteStatus::Publish);
    new_category.categories = vec!["Garden Tools".into(), "A category the author cannot create".into()];
    let kept = client.create_post(&author, &new_category).await.unwrap();
    assert_eq!(kept.status, "publish");
    assert_eq!(kept.skipped_terms, ["categories:A category the author cannot create"]);
    let (_, stored_kept) = admin_get(&wp, &format!("wp/v2/posts/{}?context=edit", kept.id)).await;
    assert_eq!(stored_kept["categories"].as_array().unwrap().len(), 1, "{stored_kept}");
    let (_, all_categories) = admin_get(&wp, "wp/v2/categories?per_page=100").await;
    assert!(
        !all_categories.as_array().unwrap().iter().any(|c| c["name"] == "A category the author cannot create"),
        "{all_categories}"
    );

    // Scheduled: WordPress's `future` with the GMT date.
    let mut scheduled = article("scheduled-post", RemoteStatus::Scheduled);
    scheduled.publish_at = Some("2031-05-06T07:08:09+02:00".into());
    let future = client.create_post(&author, &scheduled).await.unwrap();
    assert_eq!(future.status, "future");
    let (_, stored) = admin_get(&wp, &format!("wp/v2/posts/{}?context=edit", future.id)).await;
    assert_eq!(stored["date_gmt"], "2031-05-06T05:08:09");
    scheduled.publish_at = None;
    assert_eq!(client.create_post(&author, &scheduled).await.unwrap_err().code(), "platform_rejected");

    // An unknown featured image is silently ignored by WordPress: the reply says so.
    let mut unknown_media = article("unknown-media", RemoteStatus::Draft);
    unknown_media.featured_media = Some("999999".into());
    assert_eq!(client.create_post(&author, &unknown_media).await.unwrap().featured_media, None);

    // A contributor may not publish (nor upload).
    let refused =
        client.create_post(&contributor, &article("by-contributor", RemoteStatus::Publish)).await.unwrap_err();
    assert_eq!((refused.code(), refused.platform_code()), ("forbidden_by_platform", Some("rest_cannot_publish")));
    let refused = client.upload_media(&contributor, &image("no.png", "no")).await.unwrap_err();
    assert_eq!(refused.code(), "forbidden_by_platform");

    // Fetch: present, then trashed → None, then deleted for good → None.
    let fetched = client.fetch_post(&author, &authored.id).await.unwrap().unwrap();
    assert_eq!((fetched.status.as_str(), fetched.slug.as_str()), ("publish", "author-post"));
    assert!(fetched.modified.is_some());
    admin_delete(&wp, &format!("wp/v2/posts/{}", authored.id)).await;
    assert!(client.fetch_post(&author, &authored.id).await.unwrap().is_none(), "a trashed post is gone");
    admin_delete(&wp, &format!("wp/v2/posts/{}?force=true", post.id)).await;
    assert!(client.fetch_post(&author, &post.id).await.unwrap().is_none(), "a deleted post is gone");

    // Metadata: categories, tags and authors (all pages).
    let metadata = client.fetch_metadata(&admin).await.unwrap();
    let category_names: Vec<&str> = metadata.categories.iter().map(|t| t.name.as_str()).collect();
    assert!(category_names.contains(&"Garden Tools") && category_names.contains(&"Lawn & Turf"), "{metadata:?}");
    assert!(metadata.tags.iter().any(|t| t.name == "mowing tips"), "{metadata:?}");
    let authors: Vec<&str> = metadata.authors.iter().map(|t| t.slug.as_str()).collect();
    assert!(authors.contains(&"author") && authors.contains(&"admin"), "{authors:?}");
    assert!(client.requests().get() > 20, "the counter counts requests");
    stop(wp).await;
}

/// Serves `router` on 127.0.0.1 and returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn anyone() -> Destination {
    with_password("http://127.0.0.1:1", "author", "abcd efgh ijkl mnop qrst uvwx")
}

#[tokio::test]
async fn sites_that_are_not_a_working_wordpress() {
    let client =
        WordPressClient::with_timeouts(Timeouts { connect: Duration::from_secs(2), request: Duration::from_secs(5) });

    // Nothing listens on the port: unreachable.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let mut site = anyone();
    site.base_url = format!("http://127.0.0.1:{port}");
    assert_eq!(failure(&client.test_connection(&site).await).0, "platform_unreachable");
    assert_eq!(client.fetch_metadata(&site).await.unwrap_err().code(), "platform_unreachable");

    // An ordinary web site answering HTML everywhere: no REST API.
    let html = Router::new().fallback(|| async { Html("<html><body>Just a page</body></html>") });
    site.base_url = serve(html).await;
    let (code, _, message) = failure(&client.test_connection(&site).await);
    assert_eq!(code, "platform_api_missing", "{message}");

    // A server that does not speak TLS at an https URL: a TLS error.
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = plain.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = plain.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = socket.read(&mut buffer).await;
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").await;
        }
    });
    site.base_url = format!("https://{addr}");
    let (code, _, message) = failure(&client.test_connection(&site).await);
    assert_eq!(code, "platform_tls_error", "{message}");
}

/// A WordPress-shaped server that throttles (429 with `Retry-After`) or fails (503).
#[tokio::test]
async fn throttling_and_server_errors() {
    let calls = Arc::new(AtomicU32::new(0));
    let index = || async { Json(json!({"namespaces": ["wp/v2"], "authentication": {"application-passwords": {}}})) };
    let counted = calls.clone();
    let router = Router::new()
        .route("/wp-json/", get(index))
        .route(
            "/wp-json/wp/v2/categories",
            get(move || {
                let calls = counted.clone();
                async move {
                    // The first answer throttles for 1 s: the client waits and retries.
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        let mut headers = HeaderMap::new();
                        headers.insert("retry-after", "1".parse().unwrap());
                        return (StatusCode::TOO_MANY_REQUESTS, headers, Json(json!({"code": "too_many"})))
                            .into_response();
                    }
                    let mut headers = HeaderMap::new();
                    headers.insert("x-wp-totalpages", "1".parse().unwrap());
                    (StatusCode::OK, headers, Json(json!([{"id": 5, "name": "News", "slug": "news"}]))).into_response()
                }
            }),
        )
        .route(
            "/wp-json/wp/v2/tags",
            get(|| async {
                let mut headers = HeaderMap::new();
                headers.insert("retry-after", "120".parse().unwrap());
                (StatusCode::TOO_MANY_REQUESTS, headers, Json(json!({"code": "too_many"})))
            }),
        )
        .route(
            "/wp-json/wp/v2/posts/{id}",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, Html("<h1>Service Unavailable</h1>")) }),
        );
    let mut site = anyone();
    site.base_url = serve(router).await;
    let client = WordPressClient::new();

    // Categories succeed after one short throttle; tags ask for 2 minutes: the caller's wait.
    let error = client.fetch_metadata(&site).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one retry after the 1 s Retry-After");
    match error {
        igny8_core::ports::PlatformError::Throttled { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(120)))
        }
        other => panic!("expected throttled, got {other:?}"),
    }

    // 503 three times (two retries): unavailable, with the page's text as the message.
    let before = client.requests().get();
    let error = client.fetch_post(&site, "12").await.unwrap_err();
    assert_eq!(error.code(), "platform_unavailable");
    assert!(error.to_string().contains("Service Unavailable"), "{error}");
    assert_eq!(client.requests().get() - before, 3);
}

/// On a site that registers Yoast SEO's post meta in REST, every SEO field of the
/// metadata mapping is sent under its Yoast key, kept by WordPress and reported
/// accepted; an update changes them; an author may set them on their own post.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_yoast_meta_carries_every_seo_field() {
    let wp = start(Options { yoast_meta: true, ..Options::default() }).await;
    let client = WordPressClient::new();
    let author = destination(&wp.url, wp.user("author"));
    let mut payload = article("yoast-fields", RemoteStatus::Publish);
    payload.seo = SeoFields {
        title: Some("Garden care | Site".into()),
        description: Some("How to care for a garden, season by season.".into()),
        focus_keyphrase: Some("garden care".into()),
        canonical_url: Some(format!("{}/garden-care/", wp.url)),
        og_title: Some("Garden care".into()),
        og_description: Some("Season by season.".into()),
        og_image: Some(format!("{}/wp-content/uploads/garden.png", wp.url)),
    };
    let post = client.create_post(&author, &payload).await.unwrap();
    let every: Vec<&str> = SeoField::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(post.seo_accepted, every, "{post:?}");
    assert!(post.seo_rejected.is_empty(), "{post:?}");
    let (_, stored) = admin_get(&wp, &format!("wp/v2/posts/{}?context=edit", post.id)).await;
    for (field, keys) in WORDPRESS_META_KEYS {
        assert_eq!(stored["meta"][keys[0]].as_str(), payload.seo.get(field), "{field:?}: {stored}");
    }

    let mut changed = payload.clone();
    changed.seo.description = Some("A new description.".into());
    changed.seo.canonical_url = None;
    let updated = client.update_post(&author, &post.id, &changed).await.unwrap();
    assert_eq!(updated.seo_accepted.len(), 6, "{updated:?}");
    let (_, stored) = admin_get(&wp, &format!("wp/v2/posts/{}?context=edit", post.id)).await;
    assert_eq!(stored["meta"]["_yoast_wpseo_metadesc"], "A new description.");
    stop(wp).await;
}
