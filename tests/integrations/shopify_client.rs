//! The Shopify client (`igny8_platforms::ShopifyClient`) against the fake store of
//! `igny8_tests::shopify_fake`, which follows Shopify's documented responses (its
//! module doc cites the pages): both kinds of credentials, a granted token refreshed
//! after it expires, throttling with `extensions.cost.throttleStatus`, `userErrors`,
//! 401 and 403 / `ACCESS_DENIED`, staged image uploads, articles with blog, image,
//! tags, publish state and SEO metafields, lookup by handle, metadata.

// Tests: a failed step is a failed test, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use igny8_core::domain::{Credentials, Platform, RemoteStatus};
use igny8_core::ports::{ArticlePayload, Destination, MediaUpload, PlatformError, PublishingPlatform, SeoFields};
use igny8_platforms::ShopifyClient;
use igny8_tests::shopify_fake::{FakeConfig, FakeShopify, ScopeDenial};

const PNG: &[u8] = &[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4];

fn with_token(fake: &FakeShopify, token: &str) -> Destination {
    Destination {
        platform: Platform::Shopify,
        base_url: fake.url.clone(),
        credentials: Credentials::ShopifyAccessToken { access_token: token.to_string() },
    }
}

fn with_client_credentials(fake: &FakeShopify, id: &str, secret: &str) -> Destination {
    Destination {
        platform: Platform::Shopify,
        base_url: fake.url.clone(),
        credentials: Credentials::ShopifyClientCredentials {
            client_id: id.to_string(),
            client_secret: secret.to_string(),
        },
    }
}

fn article(handle: &str) -> ArticlePayload {
    ArticlePayload {
        title: format!("Article {handle}"),
        slug: handle.to_string(),
        html: "<p>Body</p>".to_string(),
        excerpt: "Summary".to_string(),
        status: RemoteStatus::Publish,
        publish_at: None,
        categories: vec!["Garden Journal".to_string()],
        tags: vec!["spring".to_string(), "lawn".to_string()],
        featured_media: None,
        author_name: Some("Ada Writer".to_string()),
        seo: SeoFields::default(),
    }
}

fn image() -> MediaUpload {
    MediaUpload {
        filename: "hero.png".to_string(),
        content_type: "image/png".to_string(),
        bytes: PNG.to_vec(),
        alt_text: "A hero image".to_string(),
        title: "Hero".to_string(),
    }
}

#[tokio::test]
async fn connection_with_a_static_token_and_with_client_credentials() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    let config = FakeConfig::default();
    let client = ShopifyClient::new();

    let report = client.test_connection(&with_token(&fake, &config.static_token)).await;
    assert!(report.success, "{report:?}");
    assert_eq!(report.identity.as_ref().map(|i| i.name.as_str()), Some("IGNY8 test shop"));
    assert_eq!(report.version.as_deref(), Some(igny8_platforms::shopify::API_VERSION), "the header that answered");
    assert!(report.scopes.contains(&"write_content".to_string()), "{report:?}");
    assert!(report.can_publish && report.can_upload);
    let rate = report.rate_limit.clone().expect("throttleStatus is reported");
    assert_eq!(rate.maximum_available, 2000.0);
    assert_eq!(rate.restore_rate, 100.0);
    assert!(rate.currently_available <= 2000.0);
    assert!(report.api_root.as_deref().unwrap().ends_with("/admin/api/2025-01/graphql.json"));

    let granted = with_client_credentials(&fake, &config.client_id, &config.client_secret);
    let report = client.test_connection(&granted).await;
    assert!(report.success, "{report:?}");
    assert_eq!(fake.grants(), 1);
    // The granted token is cached: a second call needs no new grant.
    assert!(client.test_connection(&granted).await.success);
    assert_eq!(fake.grants(), 1);

    // Wrong secrets: a report with the platform's code, never the secret.
    let report = client.test_connection(&with_client_credentials(&fake, &config.client_id, "wrong-secret")).await;
    assert!(!report.success);
    let error = report.error.unwrap();
    assert_eq!((error.code.as_str(), error.platform_code.as_deref()), ("bad_credentials", Some("invalid_client")));
    assert!(!error.message.contains("wrong-secret"));
    let report = client.test_connection(&with_token(&fake, "shpat_not_a_token")).await;
    let error = report.error.unwrap();
    assert_eq!(error.code, "bad_credentials");
    assert!(error.message.contains("Invalid API key or access token"), "{}", error.message);
    assert!(!error.message.contains("shpat_not_a_token"));

    // Credentials of another platform, and a shop that is not listening.
    let mut wrong_kind = with_token(&fake, "x");
    wrong_kind.credentials = Credentials::WordpressAppPassword { username: "u".into(), app_password: "p".into() };
    assert_eq!(client.test_connection(&wrong_kind).await.error.unwrap().code, "bad_credentials");
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut gone = with_token(&fake, "x");
    gone.base_url = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    assert_eq!(client.test_connection(&gone).await.error.unwrap().code, "platform_unreachable");
}

#[tokio::test]
async fn an_expired_granted_token_is_refreshed() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    let config = FakeConfig::default();
    let client = ShopifyClient::new();
    let granted = with_client_credentials(&fake, &config.client_id, &config.client_secret);
    assert!(client.test_connection(&granted).await.success);
    assert_eq!(fake.grants(), 1);

    // 24 hours later: the store answers 401, the client asks for a new token and retries.
    fake.expire_tokens();
    let post = client.create_post(&granted, &article("after-expiry")).await.unwrap();
    assert_eq!(post.status, "publish");
    assert_eq!(fake.grants(), 2, "one new grant after the 401");

    // A static token that stops working is not refreshable: bad credentials.
    let error = client.fetch_metadata(&with_token(&fake, "shpat_revoked")).await.unwrap_err();
    assert_eq!(error.code(), "bad_credentials");
}

#[tokio::test]
async fn articles_with_image_blog_tags_and_seo() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    let client = ShopifyClient::new();
    let shop = with_token(&fake, &FakeConfig::default().static_token);

    // The image: staged, uploaded (without the token), registered, processed.
    let media = client.upload_media(&shop, &image()).await.unwrap();
    assert!(media.id.starts_with("gid://shopify/MediaImage/"), "{media:?}");
    assert!(media.url.contains("/cdn/files/"), "{media:?}");
    assert_eq!(fake.uploads(), [("hero.png".to_string(), PNG.to_vec())]);
    assert!(!fake.token_sent_to_storage(), "the access token must not go to the storage target");

    let mut payload = article("first-article");
    payload.featured_media = Some(media.id.clone());
    payload.seo = SeoFields {
        title: Some("SEO title".into()),
        description: Some("SEO description".into()),
        focus_keyphrase: Some("garden".into()),
        canonical_url: Some("https://shop.example/blogs/garden-journal/first-article".into()),
        og_title: Some("SEO title".into()),
        og_description: None,
        og_image: Some(media.url.clone()),
    };
    let post = client.create_post(&shop, &payload).await.unwrap();
    assert!(post.id.starts_with("gid://shopify/Article/"));
    assert_eq!((post.status.as_str(), post.slug.as_str()), ("publish", "first-article"));
    assert_eq!(post.featured_media.as_deref(), Some(media.id.as_str()));
    // The metadata mapping: title and description as metafields, og:title printed from
    // the title tag, og:image from the article's image; no keyphrase or canonical field.
    assert_eq!(post.seo_accepted, ["seo_title", "seo_description", "og_title", "og_image"]);
    assert_eq!(post.seo_rejected, ["focus_keyphrase", "canonical_url"], "Shopify has no such fields");
    assert_eq!(post.url.as_deref(), Some(format!("{}/blogs/garden-journal/first-article", fake.url).as_str()));
    assert!(fake.blog_titles().contains(&"Garden Journal".to_string()), "the category's blog was created");
    let stored = &fake.articles()[0];
    assert_eq!(stored["image"]["url"], media.url.as_str());
    assert_eq!(stored["author"]["name"], "Ada Writer");
    assert_eq!(stored["tags"], serde_json::json!(["spring", "lawn"]));

    // Update: same article; lookup by handle; a draft; a scheduled article.
    let mut changed = payload.clone();
    changed.title = "Renamed".into();
    changed.status = RemoteStatus::Draft;
    let updated = client.update_post(&shop, &post.id, &changed).await.unwrap();
    assert_eq!((updated.id.as_str(), updated.status.as_str()), (post.id.as_str(), "draft"));
    assert_eq!(fake.articles().len(), 1);
    let found = client.find_post_by_slug(&shop, "first-article").await.unwrap().unwrap();
    assert_eq!(found.id, post.id);
    assert!(client.find_post_by_slug(&shop, "missing").await.unwrap().is_none());
    let mut scheduled = article("later");
    scheduled.status = RemoteStatus::Scheduled;
    scheduled.publish_at = Some("2031-01-01T09:00:00Z".into());
    assert_eq!(client.create_post(&shop, &scheduled).await.unwrap().status, "future");

    // Fetch: present, and None for an id the store does not have.
    assert_eq!(client.fetch_post(&shop, &post.id).await.unwrap().unwrap().slug, "first-article");
    assert!(client.fetch_post(&shop, "gid://shopify/Article/999999").await.unwrap().is_none());

    // Metadata: blogs, tags, authors.
    let metadata = client.fetch_metadata(&shop).await.unwrap();
    let blogs: Vec<&str> = metadata.categories.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(blogs, ["News", "Garden Journal"]);
    assert!(metadata.tags.iter().any(|t| t.name == "spring"));
    assert_eq!(metadata.authors.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["Ada Writer"]);
}

#[tokio::test]
async fn user_errors_are_rejections_with_the_code() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    let client = ShopifyClient::new();
    let shop = with_token(&fake, &FakeConfig::default().static_token);
    client.create_post(&shop, &article("taken")).await.unwrap();

    // The same handle in the same blog: TAKEN.
    let error = client.create_post(&shop, &article("taken")).await.unwrap_err();
    assert_eq!((error.code(), error.platform_code()), ("platform_rejected", Some("TAKEN")));
    assert!(error.to_string().contains("article.handle"), "{error}");
    // A blank title: BLANK.
    let mut blank = article("blank");
    blank.title = " ".into();
    let error = client.create_post(&shop, &blank).await.unwrap_err();
    assert_eq!(error.platform_code(), Some("BLANK"));
    // Updating an article the store does not have: NOT_FOUND.
    let error = client.update_post(&shop, "gid://shopify/Article/424242", &article("x")).await.unwrap_err();
    assert_eq!(error.platform_code(), Some("NOT_FOUND"));
    // A file that is not an image cannot be staged.
    let mut text = image();
    text.content_type = "text/plain".into();
    let error = client.upload_media(&shop, &text).await.unwrap_err();
    assert_eq!(error.code(), "platform_rejected");
    assert_eq!(error.platform_code(), Some("input.mimeType"), "no code: the field path");
}

#[tokio::test]
async fn throttling_is_waited_out_when_short_and_reported_when_long() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    let client = ShopifyClient::new();
    let shop = with_token(&fake, &FakeConfig::default().static_token);

    // Empty bucket at 100 points/s: a 10-point mutation waits 0.1 s and goes through.
    fake.drain_bucket();
    let post = client.create_post(&shop, &article("throttled-once")).await.unwrap();
    assert!(!post.id.is_empty());
    assert!(fake.operations().iter().filter(|o| o.as_str() == "articleCreate").count() >= 2, "{:?}", fake.operations());

    // At 1 point/s a mutation needs 10 s: the caller's wait, with the time computed.
    fake.set_restore_rate(1.0);
    fake.drain_bucket();
    let error = client.create_post(&shop, &article("throttled-long")).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    match error {
        PlatformError::Throttled { retry_after: Some(wait), .. } => {
            assert!(wait > Duration::from_secs(5) && wait <= Duration::from_secs(10), "{wait:?}")
        }
        other => panic!("expected throttled with a wait, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_scopes_are_forbidden() {
    let read_only = FakeConfig { scopes: vec!["read_content".into()], ..FakeConfig::default() };
    let fake = FakeShopify::start(read_only.clone()).await;
    let client = ShopifyClient::new();
    let shop = with_token(&fake, &read_only.static_token);
    let report = client.test_connection(&shop).await;
    assert!(report.success && !report.can_publish && !report.can_upload, "{report:?}");
    let error = client.create_post(&shop, &article("denied")).await.unwrap_err();
    assert_eq!((error.code(), error.platform_code()), ("forbidden_by_platform", Some("ACCESS_DENIED")));
    assert!(error.to_string().contains("write_content"), "{error}");

    let http_403 = FakeConfig { scope_denial: ScopeDenial::Http403, ..read_only };
    let fake = FakeShopify::start(http_403.clone()).await;
    let shop = with_token(&fake, &http_403.static_token);
    let error = client.upload_media(&shop, &image()).await.unwrap_err();
    assert_eq!((error.code(), error.platform_code()), ("forbidden_by_platform", Some("403")));
}
