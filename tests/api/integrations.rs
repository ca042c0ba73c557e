//! The integration and publishing routes through the router, on the embedded family
//! with the fake platforms of `igny8_tests::fake_platform` (the world of `common`):
//! integrations CRUD with no credential in any response body or in the data
//! directory, `unsupported_platform` 422, `integration_exists` 409, connection reports
//! (a refusal is a 200 report with `success=false`), and review then publishing —
//! only approved articles, each published once however often it is asked.

// Tests may panic: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::StatusCode;
use common::{block_on, world, World};
use igny8_core::ports::PlatformError;
use igny8_tests::fake_platform::Call;
use serde_json::{json, Value};

/// The password the CRUD test stores; it must never come back.
const PASSWORD: &str = "Xq7v Lm2p Rt9s Kd4w Zc8n Hb3j";
/// The password a PATCH rotates to.
const ROTATED: &str = "Nw5e Pq1r Ty6u Io2p As8d Fg4h";

/// Every file under `dir`, read whole.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path.display().to_string(), bytes));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Asserts no secret is in `body` (its text, as sent).
fn no_secret(what: &str, body: &Value) {
    let text = body.to_string();
    for secret in [PASSWORD, ROTATED] {
        assert!(!text.contains(secret), "{what} shows a credential: {text}");
    }
    for field in ["app_password", "access_token", "client_secret", "ciphertext", "wrapped_key"] {
        assert!(!text.contains(&format!("\"{field}\"")), "{what} has a {field} field: {text}");
    }
}

/// Every log line this test binary writes, at every level, from the first call of
/// [`captured_logs`] on: a global subscriber, so lines from the runtime's worker threads
/// are caught too.
fn captured_logs() -> String {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let logs = LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogSink(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        buffer
    });
    String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned()
}

/// Appends log output to the shared buffer.
struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A fresh site of A (no integration yet).
async fn fresh_site(w: &World, name: &str) -> String {
    let body = json!({"name": name, "domain": format!("{}.acme.example", name.to_lowercase())});
    let (status, _, site) = w.call("POST", "/v1/sites", &w.owner_a, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{site}");
    site["id"].as_str().expect("site id").to_owned()
}

fn wordpress(password: &str) -> Value {
    json!({
        "platform": "wordpress",
        "base_url": "https://crud.acme.example",
        "credentials": {"username": "editor", "app_password": password},
    })
}

#[test]
fn integrations_crud_never_shows_a_credential() {
    captured_logs();
    block_on(async {
        let w = world().await;
        let site = fresh_site(w, "Crud").await;
        let base = format!("/v1/sites/{site}/integrations");
        let (status, _, created) = w.call("POST", &base, &w.owner_a, Some(wordpress(PASSWORD))).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        no_secret("create", &created);
        assert_eq!(
            (created["platform"].as_str(), created["credentials_kind"].as_str(), created["active"].as_bool()),
            (Some("wordpress"), Some("wordpress_app_password"), Some(true)),
            "{created}"
        );
        assert_eq!(created["account_id"], json!(w.a.account));
        let id = created["id"].as_str().expect("id").to_owned();
        let item = format!("{base}/{id}");

        // One active integration per site and platform.
        let (status, _, body) = w.call("POST", &base, &w.owner_a, Some(wordpress(PASSWORD))).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("integration_exists")), "{body}");
        no_secret("duplicate", &body);

        // Reads.
        let (status, _, list) = w.call("GET", &base, &w.viewer_a, None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
        no_secret("list", &list);
        let (status, _, got) = w.call("GET", &item, &w.viewer_a, None).await;
        assert_eq!((status, got["id"].as_str()), (StatusCode::OK, Some(id.as_str())), "{got}");
        no_secret("get", &got);

        // Rotate the password, switch the sync off.
        let change = json!({"credentials": {"username": "editor", "app_password": ROTATED}, "sync_enabled": false});
        let (status, _, patched) = w.call("PATCH", &item, &w.owner_a, Some(change)).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["sync_enabled"], json!(false), "{patched}");
        no_secret("patch", &patched);
        // Credentials of another platform are refused, naming the field.
        let change = json!({"credentials": {"access_token": "shpat_not_wordpress"}});
        let (status, _, body) = w.call("PATCH", &item, &w.owner_a, Some(change)).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")));
        assert!(!body.to_string().contains("shpat_not_wordpress"), "{body}");

        // Editors and viewers may not manage integrations.
        for token in [&w.editor_a, &w.viewer_a] {
            let (status, _, body) = w.call("DELETE", &item, token, None).await;
            assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{body}");
        }

        // Neither password is anywhere in the data directory (the store holds ciphertext),
        // nor in any log line written meanwhile (every level, every thread).
        for (path, bytes) in files(&w.rt.data_dir) {
            for secret in [PASSWORD, ROTATED] {
                assert!(!contains(&bytes, secret), "{path} holds a plain credential");
            }
        }
        let logs = captured_logs();
        assert!(logs.contains("/integrations"), "the requests were logged: {logs}");
        for secret in [PASSWORD, ROTATED] {
            assert!(!logs.contains(secret), "a log line holds a credential");
        }

        let (status, _, body) = w.call("DELETE", &item, &w.owner_a, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, _, body) = w.call("GET", &item, &w.owner_a, None).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{body}");
        // Deleted, the platform may be connected again.
        let (status, _, body) = w.call("POST", &base, &w.owner_a, Some(wordpress(PASSWORD))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    });
}

#[test]
fn bad_integrations_are_clear_client_errors() {
    block_on(async {
        let w = world().await;
        let site = fresh_site(w, "Refusals").await;
        let base = format!("/v1/sites/{site}/integrations");
        let wix = json!({"platform": "wix", "base_url": "https://x.example", "credentials": {"username": "u", "app_password": "p"}});
        let (status, _, body) = w.call("POST", &base, &w.owner_a, Some(wix)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("unsupported_platform")),
            "{body}"
        );
        let cases = [
            // A Shopify token for WordPress.
            json!({"platform": "wordpress", "base_url": "https://x.example", "credentials": {"access_token": "t"}}),
            // WordPress without its password.
            json!({"platform": "wordpress", "base_url": "https://x.example", "credentials": {"username": "u"}}),
            // Shopify with both kinds of credentials.
            json!({"platform": "shopify", "base_url": "x.myshopify.com",
                "credentials": {"access_token": "t", "client_id": "i", "client_secret": "s"}}),
            // Blank address.
            json!({"platform": "shopify", "base_url": "  ", "credentials": {"access_token": "t"}}),
            // An unknown field.
            json!({"platform": "shopify", "base_url": "x.myshopify.com", "credentials": {"access_token": "t"}, "colour": 1}),
        ];
        for case in cases {
            let (status, _, body) = w.call("POST", &base, &w.owner_a, Some(case.clone())).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")),
                "{case}: {body}"
            );
        }
        // Unknown or malformed integration ids name nothing.
        for id in ["intg_00000000000000000000000000000000", "nope"] {
            let (status, _, body) = w.call("GET", &format!("{base}/{id}"), &w.owner_a, None).await;
            assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{body}");
        }
        let (_, _, list) = w.call("GET", &base, &w.owner_a, None).await;
        assert_eq!(list["items"], json!([]), "nothing half-made: {list}");
    });
}

#[test]
fn connection_tests_report_success_and_refusals_as_200() {
    block_on(async {
        let w = world().await;
        let site = fresh_site(w, "Connection").await;
        let base = format!("/v1/sites/{site}/integrations");
        let (_, _, created) = w.call("POST", &base, &w.owner_a, Some(wordpress(PASSWORD))).await;
        let item = format!("{base}/{}", created["id"].as_str().expect("id"));

        let (status, _, report) = w.call("POST", &format!("{item}/test"), &w.editor_a, None).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!((report["success"].as_bool(), report["platform"].as_str()), (Some(true), Some("wordpress")));
        assert_eq!((report["can_publish"].as_bool(), report["can_upload"].as_bool()), (Some(true), Some(true)));
        no_secret("test", &report);

        w.wordpress.fail_next(
            Call::TestConnection,
            1,
            PlatformError::BadCredentials {
                platform_code: Some("rest_not_logged_in".into()),
                message: "You are not currently logged in.".into(),
            },
        );
        let (status, _, report) = w.call("POST", &format!("{item}/test"), &w.editor_a, None).await;
        assert_eq!(status, StatusCode::OK, "a refusal is a report: {report}");
        assert_eq!(report["success"], json!(false), "{report}");
        assert_eq!(
            (report["error"]["code"].as_str(), report["error"]["platform_code"].as_str()),
            (Some("bad_credentials"), Some("rest_not_logged_in")),
            "{report}"
        );
        no_secret("failed test", &report);

        let (status, _, health) = w.call("GET", &format!("{item}/health"), &w.viewer_a, None).await;
        assert_eq!(status, StatusCode::OK, "{health}");
        assert!(health["consecutive_failures"].as_u64() >= Some(1), "{health}");
        assert_eq!(health["last_error"]["code"], json!("bad_credentials"), "{health}");
        let (_, _, got) = w.call("GET", &item, &w.viewer_a, None).await;
        assert_eq!(got["connection"]["success"], json!(false), "the report is recorded: {got}");

        // Viewers may not test.
        let (status, _, body) = w.call("POST", &format!("{item}/test"), &w.viewer_a, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

        // Sync now: a report, the health with it.
        let (status, _, sync) = w.call("POST", &format!("{item}/sync"), &w.editor_a, None).await;
        assert_eq!(status, StatusCode::OK, "{sync}");
        assert_eq!(sync["success"], json!(true), "{sync}");
        assert!(sync["categories"].as_u64() >= Some(1), "the fake site's categories were pulled: {sync}");
    });
}

#[test]
fn only_approved_articles_are_published_and_each_only_once() {
    block_on(async {
        let w = world().await;
        let (site, content) = (&w.b.site, &w.b.content);
        let owner_b = common::token(&w.b.account, igny8_api::Role::Owner);
        let viewer_b = common::token(&w.b.account, igny8_api::Role::Viewer);
        let publish = format!("/v1/sites/{site}/publish");
        let one = json!({"content_ids": [content], "status": "publish"});

        // Not approved: refused, nothing sent.
        let posts_before = w.wordpress.posts().len();
        let (status, _, body) = w.call("POST", &publish, &owner_b, Some(one.clone())).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("content_not_approved")), "{body}");
        assert_eq!(w.wordpress.posts().len(), posts_before, "nothing was sent");
        // Nothing approved at all: nothing to publish.
        let (status, _, body) = w.call("POST", &publish, &owner_b, Some(json!({"status": "publish"}))).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");

        // Viewers may not review or publish.
        let approve = format!("/v1/sites/{site}/content/{content}/approve");
        for (uri, body) in [(&approve, None), (&publish, Some(one.clone()))] {
            let (status, _, answer) = w.call("POST", uri, &viewer_b, body).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}: {answer}");
        }

        let (status, _, approved) = w.call("POST", &approve, &owner_b, None).await;
        assert_eq!((status, approved["review"].as_str()), (StatusCode::OK, Some("approved")), "{approved}");
        let unapprove = format!("/v1/sites/{site}/content/{content}/unapprove");
        let (status, _, back) = w.call("POST", &unapprove, &owner_b, None).await;
        assert_eq!((status, back["review"].as_str()), (StatusCode::OK, Some("draft")), "{back}");
        let (status, _, again) = w.call("POST", &approve, &owner_b, None).await;
        assert_eq!((status, again["review"].as_str()), (StatusCode::OK, Some("approved")), "{again}");

        let key = [("idempotency-key", "publish-once")];
        let (status, _, result) = w.call_with("POST", &publish, &owner_b, &key, Some(one.clone())).await;
        assert_eq!(status, StatusCode::OK, "{result}");
        assert_eq!((result["published"].as_u64(), result["failed"].as_u64()), (Some(1), Some(0)), "{result}");
        let outcome = &result["outcomes"][0];
        assert_eq!(
            (outcome["content_id"].as_str(), outcome["integration_id"].as_str()),
            (Some(content.as_str()), Some(w.b.integration.as_str()))
        );
        let remote = outcome["publication"]["remote_id"].as_str().expect("remote id stored").to_owned();
        assert_eq!(w.wordpress.posts().len(), posts_before + 1, "one post made");
        // The same key: the first answer again, nothing sent.
        let calls = w.wordpress.total_calls();
        let (status, headers, replay) = w.call_with("POST", &publish, &owner_b, &key, Some(one.clone())).await;
        assert_eq!((status, headers.get("idempotent-replayed").is_some()), (StatusCode::OK, true));
        assert_eq!(replay, result);
        assert_eq!(w.wordpress.total_calls(), calls, "a replay sends nothing");
        // Asked again without a key: the same post is updated, not a second one made.
        let (status, _, again) = w.call("POST", &publish, &owner_b, Some(one.clone())).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["outcomes"][0]["publication"]["remote_id"].as_str(), Some(remote.as_str()), "{again}");
        assert_eq!(w.wordpress.posts().len(), posts_before + 1, "still one post");

        let (status, _, list) =
            w.call("GET", &format!("/v1/sites/{site}/content/{content}/publications"), &viewer_b, None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let items = list["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{list}");
        assert_eq!(
            (items[0]["state"].as_str(), items[0]["remote_id"].as_str()),
            (Some("published"), Some(remote.as_str()))
        );
        let (_, _, article) = w.call("GET", &format!("/v1/sites/{site}/content/{content}"), &viewer_b, None).await;
        assert_eq!(article["review"], json!("published"), "{article}");

        // Approve every draft: a count.
        let (status, _, all) = w.call("POST", &format!("/v1/sites/{site}/content/approve"), &owner_b, None).await;
        assert_eq!(status, StatusCode::OK, "{all}");
        assert!(all["approved"].as_u64().is_some(), "{all}");

        // Bad publish requests are 422, not 5xx.
        for body in [
            json!({"content_ids": ["nope"]}),
            json!({"status": "scheduled"}),
            json!({"status": "later"}),
            json!({"integration_id": "nope"}),
        ] {
            let (status, _, answer) = w.call("POST", &publish, &owner_b, Some(body.clone())).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        }
    });
}
