//! The api Lambda against the local server: every API Gateway HTTP API (payload 2.0)
//! event fixture in `tests/fixtures/apigw/`, decoded the way the Lambda runtime decodes
//! it and served by the adapter in `AuthMode::Gateway`, must get the same status,
//! content type and body as the equivalent plain HTTP request with a minted HS256
//! token sent to the router in `AuthMode::Hs256` (what `igny8 serve` runs).
//!
//! Two identical embedded worlds (same frozen clock, same id sequence) serve the two
//! sides, so mutations (new sites, imported keywords) produce byte-identical bodies.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use api::lambda_http;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use igny8_ai::OfflineProvider;
use igny8_api::{mint_token, router, ApiState, AuthMode, Role};
use igny8_asl::ExecutorOptions;
use igny8_core::domain::{AccountId, SiteId};
use igny8_core::ports::{IdGenerator, ManualClock};
use igny8_wiring::embedded::LocalRuntime;
use lambda_http::request::LambdaRequest;
use serde_json::Value;
use tower::ServiceExt;

const SECRET: &[u8] = b"api-lambda-test-secret-0123456789";
/// 2026-11-26T10:00:00Z, frozen in both worlds (records' timestamps).
const NOW_MS: i64 = 1_795_687_200_000;

/// Ids in creation order, so two worlds built alike name their records alike.
struct Sequence(AtomicU64);

impl IdGenerator for Sequence {
    fn new_id(&self, prefix: &str) -> String {
        format!("{prefix}_{:032x}", self.0.fetch_add(1, Ordering::SeqCst))
    }
}

struct World {
    rt: LocalRuntime,
    account: AccountId,
    site: SiteId,
    other_site: SiteId,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("dir");
    let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
    let rt = LocalRuntime::open(
        dir.path(),
        Arc::new(OfflineProvider::with_year(2026)),
        Arc::new(ManualClock::at(NOW_MS)),
        Arc::new(Sequence(AtomicU64::new(1))),
        options,
    )
    .expect("runtime");
    let accounts = &rt.services.account_service;
    let (account, _) = accounts.create_account("Acme", 5_000).await.expect("account");
    let site = accounts.create_site(&account.id, "Blog", "blog.example.com").await.expect("site");
    let (other, _) = accounts.create_account("Rival", 100).await.expect("other account");
    let other_site = accounts.create_site(&other.id, "Rival blog", "rival.example.com").await.expect("other site");
    World { rt, account: account.id, site: site.id, other_site: other_site.id, _dir: dir }
}

fn app(world: &World, auth: AuthMode) -> Router {
    router(ApiState::new(world.rt.services.clone(), world.rt.automation.clone(), auth))
}

fn fixtures() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/apigw");
    let mut all: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            (p.file_stem().expect("stem").to_string_lossy().into_owned(), std::fs::read_to_string(&p).expect("fixture"))
        })
        .collect();
    all.sort();
    assert!(all.len() >= 6, "expected the API Gateway fixtures in {}", dir.display());
    all
}

fn substitute(text: &str, world: &World) -> String {
    text.replace("{{account_id}}", world.account.as_str())
        .replace("{{site_id}}", world.site.as_str())
        .replace("{{other_site_id}}", world.other_site.as_str())
}

/// What a client sees of a response.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    content_type: Option<String>,
    body: String,
}

/// The event through the Lambda path: JSON → `LambdaRequest` → `http::Request` (as
/// lambda_http's runtime does) → adapter → lambda_http's response conversion.
async fn through_lambda(app: &Router, event: &str) -> (Seen, lambda_http::Response<lambda_http::Body>) {
    let decoded: LambdaRequest = serde_json::from_str(event).expect("an API Gateway v2 event");
    let request = lambda_http::http::Request::from(decoded);
    let Ok(response) = api::handle(app.clone(), request).await;
    let response = lambda_http::IntoResponse::into_response(response).await;
    let seen = Seen {
        status: response.status().as_u16(),
        content_type: response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().expect("ascii").to_owned()),
        body: String::from_utf8(response.body().to_vec()).expect("utf-8 body"),
    };
    (seen, response)
}

/// The same request as a plain HTTP client sends it to `igny8 serve`.
async fn through_router(app: &Router, event: &Value) -> Seen {
    let claims = &event["requestContext"]["authorizer"]["jwt"]["claims"];
    let account: AccountId = claims["account"].as_str().expect("account claim").parse().expect("account id");
    let role: Role = claims["role"].as_str().expect("role claim").parse().expect("role");
    // The router checks `exp` against the system clock, not the worlds' frozen one.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let token = mint_token(SECRET, claims["sub"].as_str().expect("sub"), &account, role, now, 3600).expect("token");
    let mut uri = event["rawPath"].as_str().expect("rawPath").to_owned();
    if let Some(q) = event["rawQueryString"].as_str().filter(|q| !q.is_empty()) {
        uri = format!("{uri}?{q}");
    }
    let mut request = Request::builder()
        .method(event["requestContext"]["http"]["method"].as_str().expect("method"))
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(ct) = event["headers"]["content-type"].as_str() {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    let body = match event["body"].as_str() {
        None => Vec::new(),
        Some(text) => {
            let base64 = event["isBase64Encoded"].as_bool().unwrap_or(false);
            lambda_http::Body::from_maybe_encoded(base64, text).to_vec()
        }
    };
    let response = app.clone().oneshot(request.body(Body::from(body)).expect("request")).await.expect("infallible");
    let status = response.status().as_u16();
    let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().expect("ascii").to_owned());
    let body = String::from_utf8(axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body").to_vec())
        .expect("utf-8 body");
    Seen { status, content_type, body }
}

fn expected_status(fixture: &str) -> StatusCode {
    match fixture {
        "get_account" | "get_site" | "list_sites" => StatusCode::OK,
        "create_site" | "import_keywords_csv" => StatusCode::CREATED,
        "viewer_import_forbidden" => StatusCode::FORBIDDEN,
        "other_account_site" => StatusCode::NOT_FOUND,
        "malformed_json" => StatusCode::BAD_REQUEST,
        other => panic!("fixture {other} has no expected status here; add it"),
    }
}

#[tokio::test]
async fn every_fixture_gets_the_local_servers_response() {
    let (cloud, local) = (world().await, world().await);
    assert_eq!(
        (&cloud.account, &cloud.site, &cloud.other_site),
        (&local.account, &local.site, &local.other_site),
        "the worlds must match"
    );
    let gateway = app(&cloud, AuthMode::Gateway);
    let hs256 = app(&local, AuthMode::Hs256 { secret: SECRET.to_vec() });
    for (name, text) in fixtures() {
        let event = substitute(&text, &cloud);
        let parsed: Value = serde_json::from_str(&event).expect("json");
        let (lambda, response) = through_lambda(&gateway, &event).await;
        let plain = through_router(&hs256, &parsed).await;
        assert_eq!(lambda.status, expected_status(&name).as_u16(), "{name}: {}", lambda.body);
        assert_eq!(lambda, plain, "{name}: the Lambda and the local server disagree");
        // API Gateway gets JSON as text, not base64, and its request id back.
        assert!(
            matches!(response.body(), lambda_http::Body::Text(_)),
            "{name}: body should be text: {:?}",
            response.body()
        );
        let gw_id = parsed["requestContext"]["requestId"].as_str().expect("requestId");
        assert_eq!(response.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some(gw_id), "{name}");
        if lambda.status >= 400 {
            assert_eq!(lambda.content_type.as_deref(), Some("application/problem+json"), "{name}");
        }
    }
}

#[tokio::test]
async fn another_accounts_ids_never_leak_through_the_lambda() {
    let cloud = world().await;
    let gateway = app(&cloud, AuthMode::Gateway);
    let (_, text) = fixtures().into_iter().find(|(n, _)| n == "other_account_site").expect("fixture");
    let (seen, _) = through_lambda(&gateway, &substitute(&text, &cloud)).await;
    assert_eq!(seen.status, 404);
    let body = seen.body;
    assert!(!body.contains(cloud.other_site.as_str()) && !body.contains("Rival"), "{body}");
}

#[tokio::test]
async fn events_without_verified_claims_are_unauthorized() {
    let cloud = world().await;
    let gateway = app(&cloud, AuthMode::Gateway);
    let (_, text) = fixtures().into_iter().find(|(n, _)| n == "get_account").expect("fixture");
    let mut event: Value = serde_json::from_str(&substitute(&text, &cloud)).expect("json");
    // A route without the JWT authorizer: the bearer header alone must not be trusted.
    event["requestContext"].as_object_mut().expect("context").remove("authorizer");
    let (seen, _) = through_lambda(&gateway, &event.to_string()).await;
    assert_eq!(seen.status, 401, "{}", seen.body);
    // A token whose role claim is not a role is refused the same way.
    event["requestContext"]["authorizer"] = serde_json::json!({"jwt": {"claims": {
        "sub": "u", "account": cloud.account.as_str(), "role": "superuser"}, "scopes": []}});
    let (seen, _) = through_lambda(&gateway, &event.to_string()).await;
    assert_eq!(seen.status, 401);
}
