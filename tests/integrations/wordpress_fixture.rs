//! Proves the WordPress fixture is the real thing (groundwork for issue 12): Debian's
//! WordPress answering its REST API on 127.0.0.1 with application passwords over plain
//! HTTP, users whose capabilities match their roles, wrong credentials refused, an image
//! uploaded into the instance's own uploads directory, a post created (with that image
//! as its featured image) and deleted, and the instance gone once stopped or dropped.
//!
//! Needs root the first time (the script installs Debian packages); see docs/testing.md.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpStream;
use std::time::Duration;

use igny8_tests::wordpress::{Environment, Options, Permalinks, WordPress, WpUser};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn start() -> WordPress {
    tokio::task::spawn_blocking(WordPress::start).await.unwrap().expect("start WordPress")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

async fn users_me(wp: &WordPress, username: &str, password: &str) -> (StatusCode, Value) {
    let reply = client()
        .get(format!("{}wp/v2/users/me?context=edit", wp.rest_root()))
        .basic_auth(username, Some(password))
        .send()
        .await
        .unwrap();
    let status = reply.status();
    (status, reply.json().await.unwrap())
}

async fn capabilities(wp: &WordPress, user: &WpUser) -> serde_json::Map<String, Value> {
    let (status, me) = users_me(wp, &user.username, &user.app_password).await;
    assert_eq!(status, StatusCode::OK, "users/me as {}: {me}", user.username);
    assert_eq!(me["id"].as_u64(), Some(user.id), "{me}");
    me["capabilities"].as_object().unwrap_or_else(|| panic!("no capabilities object: {me}")).clone()
}

/// A 1×1 transparent PNG.
const ONE_PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0a, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

async fn upload_png(wp: &WordPress, user: &WpUser, file_name: &str) -> (StatusCode, Value) {
    let reply = client()
        .post(format!("{}wp/v2/media", wp.rest_root()))
        .basic_auth(&user.username, Some(&user.app_password))
        .header("Content-Type", "image/png")
        .header("Content-Disposition", format!("attachment; filename=\"{file_name}\""))
        .body(ONE_PIXEL_PNG)
        .send()
        .await
        .unwrap();
    let status = reply.status();
    (status, reply.json().await.unwrap())
}

/// The port of `http://127.0.0.1:<port>` accepts connections.
fn answers(url: &str) -> bool {
    let addr = url.trim_start_matches("http://").parse().unwrap();
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_wordpress_with_application_passwords() {
    let wp = start().await;
    assert!(wp.url.starts_with("http://127.0.0.1:"), "{}", wp.url);
    assert!(wp.version.starts_with("6."), "WordPress {}", wp.version);
    for (login, role) in [("admin", "administrator"), ("author", "author"), ("contributor", "contributor")] {
        assert_eq!(wp.user(login).roles, [role], "{login}");
    }

    // The REST root is routed (pretty permalinks) and offers application passwords,
    // which WordPress does over plain HTTP only in a local environment.
    let root: Value = client().get(wp.rest_root()).send().await.unwrap().json().await.unwrap();
    let authentication = root["authentication"].as_object().unwrap_or_else(|| {
        panic!("authentication is not an object (application passwords unavailable): {}", root["authentication"])
    });
    assert!(authentication.contains_key("application-passwords"), "{authentication:?}");

    // The author can publish and upload; the contributor's publish_posts is absent.
    let author = wp.user("author").clone();
    let caps = capabilities(&wp, &author).await;
    assert_eq!(caps.get("publish_posts"), Some(&Value::Bool(true)), "{caps:?}");
    assert_eq!(caps.get("upload_files"), Some(&Value::Bool(true)), "{caps:?}");
    let contributor = wp.user("contributor").clone();
    let caps = capabilities(&wp, &contributor).await;
    assert_eq!(caps.get("edit_posts"), Some(&Value::Bool(true)), "{caps:?}");
    assert!(!caps.contains_key("publish_posts"), "a contributor's publish_posts must be absent: {caps:?}");
    assert!(!caps.contains_key("upload_files"), "a contributor's upload_files must be absent: {caps:?}");

    // A wrong application password is a 401 with one of WordPress's bad-credential codes.
    let (status, error) = users_me(&wp, &author.username, "abcd efgh ijkl mnop qrst uvwx").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{error}");
    let code = error["code"].as_str().unwrap_or_default();
    assert!(["rest_not_logged_in", "incorrect_password"].contains(&code), "{error}");

    // The author uploads an image: it lands in the instance's own uploads directory and
    // is served back; the contributor may not upload.
    let (status, media) = upload_png(&wp, &author, "fixture-pixel.png").await;
    assert_eq!(status, StatusCode::CREATED, "{media}");
    let media_id = media["id"].as_u64().unwrap_or_else(|| panic!("no media id: {media}"));
    let source = media["source_url"].as_str().unwrap().to_owned();
    assert!(source.starts_with(&format!("{}/wp-content/uploads/", wp.url)), "{source}");
    let relative = source.trim_start_matches(&format!("{}/wp-content/", wp.url));
    let on_disk = wp.dir().unwrap().join("wp-content").join(relative);
    assert_eq!(std::fs::read(&on_disk).unwrap(), ONE_PIXEL_PNG, "{}", on_disk.display());
    let served = client().get(&source).send().await.unwrap();
    assert_eq!(served.status(), StatusCode::OK, "{source}");
    assert_eq!(served.bytes().await.unwrap().as_ref(), ONE_PIXEL_PNG);
    let (status, refused) = upload_png(&wp, &contributor, "refused.png").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");

    // The author creates a post with that featured image and deletes it.
    let created = client()
        .post(format!("{}wp/v2/posts", wp.rest_root()))
        .basic_auth(&author.username, Some(&author.app_password))
        .json(&json!({
            "title": "Fixture check",
            "content": "<p>Hello from the fixture.</p>",
            "status": "publish",
            "featured_media": media_id,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let post: Value = created.json().await.unwrap();
    let id = post["id"].as_u64().unwrap_or_else(|| panic!("no post id: {post}"));
    assert_eq!(post["status"], "publish", "{post}");
    assert_eq!(post["featured_media"].as_u64(), Some(media_id), "{post}");
    assert_eq!(post["author"].as_u64(), Some(author.id), "{post}");
    let link = post["link"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&wp.url), "{link}");
    let page = client().get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "{link}");

    let deleted = client()
        .delete(format!("{}wp/v2/posts/{id}?force=true", wp.rest_root()))
        .basic_auth(&author.username, Some(&author.app_password))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let deleted: Value = deleted.json().await.unwrap();
    assert_eq!(deleted["deleted"], true, "{deleted}");
    let gone = client().get(format!("{}wp/v2/posts/{id}", wp.rest_root())).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);

    // Stopped: nothing answers on the port any more.
    let url = wp.url.clone();
    assert!(answers(&url));
    tokio::task::spawn_blocking(move || wp.stop()).await.unwrap().expect("stop WordPress");
    assert!(!answers(&url), "{url} still answers after stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_fixture_stops_the_instance() {
    let wp = start().await;
    let url = wp.url.clone();
    let dir = wp.dir().unwrap().to_owned();
    assert!(answers(&url));
    tokio::task::spawn_blocking(move || drop(wp)).await.unwrap();
    assert!(!answers(&url), "{url} still answers after drop");
    assert!(!dir.exists(), "{} still exists after drop", dir.display());
}

/// The other kinds of site a connection test meets: plain permalinks (the REST API
/// found through the `Link` header and `?rest_route=`) and a production site, where
/// application passwords are unavailable over plain HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_permalinks_on_a_production_site() {
    let options = Options { permalinks: Permalinks::Plain, environment: Environment::Production, ..Options::default() };
    let wp = tokio::task::spawn_blocking(move || WordPress::start_with(options)).await.unwrap().expect("start");

    let pretty = client().get(wp.rest_root()).send().await.unwrap();
    assert_eq!(pretty.status(), StatusCode::NOT_FOUND, "no rewriting: /wp-json/ is not routed");
    let home = client().get(&wp.url).send().await.unwrap();
    let link = home.headers().get("link").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(link.contains("?rest_route=/") && link.contains("rel=\"https://api.w.org/\""), "Link: {link}");

    let root: Value = client().get(wp.rest_route("")).send().await.unwrap().json().await.unwrap();
    assert_eq!(root["authentication"], json!([]), "production over HTTP offers no application passwords");

    let author = wp.user("author");
    let me = client()
        .get(format!("{}&context=edit", wp.rest_route("wp/v2/users/me")))
        .basic_auth(&author.username, Some(&author.app_password))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "a right application password is refused in production");
    let error: Value = me.json().await.unwrap();
    assert_eq!(error["code"], "rest_not_logged_in", "{error}");
}
