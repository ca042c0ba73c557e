//! Keyword imports larger than a request may be, through the HTTP API on the embedded
//! default: an import job hands out an upload link (this API's own upload route, the
//! blob store being a folder), the file goes up in one PUT past the 1 MiB body limit,
//! and repeated runs import it in chunks while the job reports its progress. Also: the
//! link's token, expiry and single use, a file refused whole with its lines, and
//! tenancy.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../imports/fixtures.rs"]
mod fixtures;

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::Router;
use fixtures::{expected_rows, export, Enc, Tool};
use igny8_ai::OfflineProvider;
use igny8_api::{mint_token, router, ApiState, AuthMode, Role, BODY_LIMIT};
use igny8_asl::ExecutorOptions;
use igny8_core::domain::AccountId;
use igny8_core::ports::{SystemClock, UuidIds};
use igny8_wiring::embedded::LocalRuntime;
use serde_json::Value;
use tower::ServiceExt;

const SECRET: &[u8] = b"igny8-api-imports-secret-0123456789";

struct Api {
    router: Router,
    rt: LocalRuntime,
    _dir: tempfile::TempDir,
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

fn token(account: &AccountId, role: Role) -> String {
    mint_token(SECRET, "user", account, role, now_s(), 3600).expect("mint")
}

impl Api {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let rt = LocalRuntime::open(
            dir.path(),
            Arc::new(OfflineProvider::with_year(2026)),
            Arc::new(SystemClock),
            Arc::new(UuidIds),
            ExecutorOptions::default(),
        )
        .expect("runtime");
        let state =
            ApiState::new(rt.services.clone(), rt.automation.clone(), AuthMode::Hs256 { secret: SECRET.to_vec() });
        Self { router: router(state), rt, _dir: dir }
    }

    /// An account with a site: the owner's and a viewer's tokens and the site id.
    async fn tenant(&self, name: &str) -> (String, String, String) {
        let accounts = &self.rt.services.account_service;
        let (account, _) = accounts.create_account(name, 0).await.expect("account");
        let site = accounts.create_site(&account.id, "Blog", "blog.example").await.expect("site");
        (token(&account.id, Role::Owner), token(&account.id, Role::Viewer), site.id.to_string())
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri).header("host", "127.0.0.1:8080");
        if !token.is_empty() {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if !content_type.is_empty() {
            request = request.header("content-type", content_type);
        }
        let response =
            self.router.clone().oneshot(request.body(Body::from(body)).expect("request")).await.expect("infallible");
        let status = response.status();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.expect("body");
        let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("json body") };
        if status.is_client_error() || status.is_server_error() {
            assert!(
                json["code"].as_str().is_some_and(|c| !c.is_empty()),
                "{method} {uri}: a problem with a code: {json}"
            );
        }
        (status, json)
    }

    /// Creates a job; its id and the path (and query) of its upload link.
    async fn create(&self, owner: &str, site: &str) -> (String, String) {
        let (status, job) = self.send("POST", &format!("/v1/sites/{site}/keyword-imports"), owner, "", vec![]).await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        assert_eq!(job["status"], "awaiting_upload", "{job}");
        assert_eq!(
            (job["upload"]["method"].as_str(), job["upload"]["content_type"].as_str()),
            (Some("PUT"), Some("text/csv"))
        );
        let url = job["upload"]["url"].as_str().expect("url");
        let path =
            url.strip_prefix("http://127.0.0.1:8080").unwrap_or_else(|| panic!("the local API's own link: {url}"));
        (job["id"].as_str().expect("id").to_owned(), path.to_owned())
    }

    /// Runs the job until it is no longer running; the job and how many runs it took.
    async fn run_to_end(&self, owner: &str, site: &str, id: &str) -> (Value, usize) {
        for runs in 1..=1000 {
            let (status, job) =
                self.send("POST", &format!("/v1/sites/{site}/keyword-imports/{id}/run"), owner, "", vec![]).await;
            assert_eq!(status, StatusCode::OK, "{job}");
            if job["status"] != "running" {
                return (job, runs);
            }
        }
        panic!("the import never finished");
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime").block_on(f)
}

#[test]
fn a_file_past_the_body_limit_imports_through_the_upload_link() {
    block_on(async {
        let api = Api::new();
        let (owner, viewer, site) = api.tenant("Acme").await;
        // An Ahrefs-style export, UTF-16LE with BOM and tabs, several times the body limit.
        let n = 30_000;
        let file = export(Tool::Ahrefs, Enc::Utf16Le, '\t', n);
        assert!(file.len() > 2 * BODY_LIMIT, "{} bytes", file.len());
        let (status, refused) =
            api.send("POST", &format!("/v1/sites/{site}/keywords"), &owner, "text/csv", file.clone()).await;
        assert_eq!((status, refused["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")));

        let (id, upload) = api.create(&owner, &site).await;
        let (status, early) =
            api.send("POST", &format!("/v1/sites/{site}/keyword-imports/{id}/run"), &owner, "", vec![]).await;
        assert_eq!((status, early["code"].as_str()), (StatusCode::CONFLICT, Some("upload_missing")), "{early}");
        let (status, _) =
            api.send("POST", &format!("/v1/sites/{site}/keyword-imports/{id}/run"), &viewer, "", vec![]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "viewers start nothing");

        let forged = upload.replace("token=", "token=0");
        let (status, body) = api.send("PUT", &forged, "", "text/csv", b"Keyword\nx\n".to_vec()).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("upload_refused")), "{body}");
        let (status, body) = api.send("PUT", &upload, "", "text/csv", file).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

        let (job, runs) = api.run_to_end(&owner, &site, &id).await;
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(
            (job["total"].as_u64(), job["processed"].as_u64(), job["imported"].as_u64(), job["duplicates"].as_u64()),
            (Some(expected_rows(n)), Some(expected_rows(n)), Some(n as u64), Some(1)),
            "{job}"
        );
        assert!(runs >= 1, "{runs}");
        let (status, seen) =
            api.send("GET", &format!("/v1/sites/{site}/keyword-imports/{id}"), &viewer, "", vec![]).await;
        assert_eq!(
            (status, seen["status"].as_str(), seen["imported"].as_u64()),
            (StatusCode::OK, Some("completed"), Some(n as u64))
        );
        assert!(
            seen.get("upload").is_none() && !seen.to_string().contains("token"),
            "the link is not shown again: {seen}"
        );
        // Once started, the link takes no other file; a run of a finished job changes nothing.
        let (status, body) = api.send("PUT", &upload, "", "text/csv", b"Keyword\nx\n".to_vec()).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("upload_refused")), "{body}");
        let (again, _) = api.run_to_end(&owner, &site, &id).await;
        assert_eq!(again["imported"], job["imported"]);
        let (_, keywords) = api.send("GET", &format!("/v1/sites/{site}/keywords?limit=1"), &viewer, "", vec![]).await;
        assert!(keywords["next_cursor"].is_string(), "{keywords}");

        // The same file again in a new job: every keyword is already there.
        let (id2, upload2) = api.create(&owner, &site).await;
        let file = export(Tool::Ahrefs, Enc::Utf16Le, '\t', n);
        assert_eq!(api.send("PUT", &upload2, "", "text/csv", file).await.0, StatusCode::NO_CONTENT);
        let (job2, _) = api.run_to_end(&owner, &site, &id2).await;
        assert_eq!(
            (job2["imported"].as_u64(), job2["duplicates"].as_u64()),
            (Some(0), Some(expected_rows(n))),
            "{job2}"
        );
    });
}

#[test]
fn a_malformed_file_fails_the_job_with_its_lines_and_imports_nothing() {
    block_on(async {
        let api = Api::new();
        let (owner, viewer, site) = api.tenant("Acme").await;
        let (id, upload) = api.create(&owner, &site).await;
        let text = fixtures::export_text(Tool::Semrush, ';', 50).replacen(";commercial", ";x", 0);
        let bad = text.replacen("best running shoes;", ";", 1);
        assert_eq!(
            api.send("PUT", &upload, "", "text/csv", fixtures::encode(&bad, Enc::Utf8Bom)).await.0,
            StatusCode::NO_CONTENT
        );
        let (job, _) = api.run_to_end(&owner, &site, &id).await;
        assert_eq!(
            (job["status"].as_str(), job["error_code"].as_str()),
            (Some("failed"), Some("validation_failed")),
            "{job}"
        );
        assert_eq!(job["errors"][0]["field"], "line 2", "{job}");
        assert_eq!(job["imported"], 0);
        let (_, keywords) = api.send("GET", &format!("/v1/sites/{site}/keywords"), &viewer, "", vec![]).await;
        assert_eq!(keywords["items"].as_array().map(Vec::len), Some(0), "nothing imported: {keywords}");

        let (id, upload) = api.create(&owner, &site).await;
        assert_eq!(
            api.send("PUT", &upload, "", "text/csv", b"Keyword\ncaf\xe9\n".to_vec()).await.0,
            StatusCode::NO_CONTENT
        );
        let (job, _) = api.run_to_end(&owner, &site, &id).await;
        assert_eq!(
            (job["error_code"].as_str(), job["errors"][0]["field"].as_str()),
            (Some("invalid_encoding"), Some("line 2")),
            "{job}"
        );
    });
}

#[test]
fn another_account_sees_no_job_and_cannot_upload_with_a_guessed_link() {
    block_on(async {
        let api = Api::new();
        let (owner_a, _, site_a) = api.tenant("Acme").await;
        let (owner_b, _, site_b) = api.tenant("Bravo").await;
        let (id, upload) = api.create(&owner_a, &site_a).await;
        for (method, uri) in [
            ("GET", format!("/v1/sites/{site_a}/keyword-imports/{id}")),
            ("POST", format!("/v1/sites/{site_a}/keyword-imports/{id}/run")),
            ("POST", format!("/v1/sites/{site_a}/keyword-imports")),
            ("GET", format!("/v1/sites/{site_b}/keyword-imports/{id}")),
        ] {
            let (status, body) = api.send(method, &uri, &owner_b, "", vec![]).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::NOT_FOUND, Some("not_found")),
                "{method} {uri}: {body}"
            );
            assert!(!body.to_string().contains(&id), "{body}");
        }
        // The link names A's site: on B's site (or without its token) it is nothing.
        let elsewhere = upload.replace(&site_a, &site_b);
        let (status, body) = api.send("PUT", &elsewhere, "", "text/csv", b"Keyword\nx\n".to_vec()).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("upload_refused")), "{body}");
        let bare = upload.split('?').next().expect("path").to_owned();
        let (status, _) = api.send("PUT", &bare, "", "text/csv", b"Keyword\nx\n".to_vec()).await;
        assert!(status.is_client_error(), "{status}");
        let (status, body) =
            api.send("GET", "/v1/sites/{site_a}/keyword-imports/imp_nothing", &owner_a, "", vec![]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    });
}

#[test]
fn the_csv_route_takes_every_encoding_and_separator_of_the_same_parser() {
    block_on(async {
        let api = Api::new();
        let (owner, viewer, site) = api.tenant("Acme").await;
        for (tool, enc, sep) in [
            (Tool::Ahrefs, Enc::Utf16Le, '\t'),
            (Tool::KeywordPlanner, Enc::Utf16Be, ';'),
            (Tool::Semrush, Enc::Utf8Bom, ','),
        ] {
            let body = export(tool, enc, sep, 40);
            let (status, report) =
                api.send("POST", &format!("/v1/sites/{site}/keywords"), &owner, "text/csv", body).await;
            assert_eq!(status, StatusCode::CREATED, "{tool:?} {enc:?}: {report}");
            assert_eq!(report["rows"].as_u64(), Some(expected_rows(40)), "{report}");
        }
        let (_, page) = api.send("GET", &format!("/v1/sites/{site}/keywords?limit=100"), &viewer, "", vec![]).await;
        assert_eq!(page["items"].as_array().map(Vec::len), Some(40), "the same 40 keywords each time: {page}");
        let (status, bad) = api
            .send("POST", &format!("/v1/sites/{site}/keywords"), &owner, "text/csv", b"Keyword\ncaf\xe9\n".to_vec())
            .await;
        assert_eq!(
            (status, bad["code"].as_str(), bad["errors"][0]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_encoding"), Some("line 2")),
            "{bad}"
        );
    });
}
