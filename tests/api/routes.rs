//! Route tests of the HTTP API: every route's happy path and its errors, through the
//! router in process (`tower::ServiceExt::oneshot`), over one shared world (see
//! `common.rs`). Every error response is checked in `World::send` to be a problem
//! document with a `code`.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{bearer, block_on, now_s, token, world, World, SECRET};
use igny8_api::{mint_token, Role};
use igny8_core::domain::AccountId;
use serde_json::{json, Value};

/// `code` of a problem body.
fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

/// The field names of a validation problem.
fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|f| f["field"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A well-formed id of `prefix` that names nothing.
fn nobody(prefix: &str) -> String {
    format!("{prefix}_{}", "0".repeat(32))
}

/// Follows `next_cursor` from `first_uri` (which has a `?`) and returns every item's id.
async fn all_pages(w: &World, first_uri: &str, token: &str) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut uri = first_uri.to_owned();
    loop {
        let (status, _, body) = w.call("GET", &uri, token, None).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        pages += 1;
        for item in body["items"].as_array().expect("items") {
            ids.push(item["id"].as_str().or_else(|| item["transaction_id"].as_str()).expect("an id").to_owned());
        }
        match body["next_cursor"].as_str() {
            Some(cursor) => uri = format!("{first_uri}&cursor={}", urlencode(cursor)),
            None => return (ids, pages),
        }
        assert!(pages < 1000, "paging never ends");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The bytes behind a link of the embedded backend (`file://` with percent-escapes).
fn read_link(url: &str) -> Vec<u8> {
    let path = url.strip_prefix("file://").unwrap_or_else(|| panic!("a file link: {url}"));
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("escape");
            decoded.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    std::fs::read(String::from_utf8(decoded).expect("utf-8 path")).unwrap_or_else(|e| panic!("read {url}: {e}"))
}

/// Unpadded base64url, for hand-made tokens.
fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn raw(method: &str, uri: &str, token: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    let mut r = Request::builder().method(method).uri(uri).header("authorization", bearer(token));
    if !content_type.is_empty() {
        r = r.header("content-type", content_type);
    }
    r.body(body.into()).expect("request")
}

fn config_body(batch_sizes: Value) -> Value {
    json!({
        "enabled": true,
        "batch_sizes": batch_sizes,
        "delay_between_batches_seconds": 0,
        "min_keywords": 5,
        "credit_buffer": 1.5,
        "ideas_per_cluster": 2,
        "images_per_article": 1,
        "lease_seconds": 3600,
        "schedule": null,
    })
}

#[test]
fn the_account_route_shows_the_callers_account_and_balance() {
    block_on(async {
        let w = world().await;
        for t in [&w.owner_a, &w.editor_a, &w.viewer_a] {
            let (status, _, body) = w.call("GET", "/v1/account", t, None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["account"]["id"], json!(w.a.account));
            assert_eq!(body["account"]["name"], json!("Acme"));
            let b = &body["balance"];
            assert_eq!(
                b["available"].as_i64(),
                Some(b["credits"].as_i64().expect("credits") - b["held"].as_i64().expect("held"))
            );
        }
        // A token for an account that does not exist.
        let ghost = token(&nobody("acct"), Role::Owner);
        let (status, _, body) = w.call("GET", "/v1/account", &ghost, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    });
}

#[test]
fn accounts_are_opened_by_admins_only() {
    block_on(async {
        let w = world().await;
        let (status, _, body) =
            w.call("POST", "/v1/accounts", &w.admin, Some(json!({"name": "Charlie", "credits": 250}))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["name"], json!("Charlie"));
        let id = body["id"].as_str().expect("id").to_owned();
        let (status, _, view) = w.call("GET", "/v1/account", &token(&id, Role::Owner), None).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["balance"]["credits"], json!(250), "starting credits granted");

        for t in [&w.owner_a, &w.editor_a, &w.viewer_a] {
            let (status, _, body) = w.call("POST", "/v1/accounts", t, Some(json!({"name": "Nope"}))).await;
            assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "{body}");
        }
        let (status, _, body) = w.call("POST", "/v1/accounts", &w.admin, Some(json!({"name": ""}))).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        assert_eq!(fields(&body), ["name"]);
        let (status, _, body) =
            w.call("POST", "/v1/accounts", &w.admin, Some(json!({"name": "X", "credits": -5}))).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        assert_eq!(fields(&body), ["credits"]);
        let (status, _, body) =
            w.call("POST", "/v1/accounts", &w.admin, Some(json!({"name": "X", "plan": "gold"}))).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            "unknown field: {body}"
        );
        let (status, _, body) = w.call("POST", "/v1/accounts", &w.admin, Some(json!({"name": 7}))).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            "wrong type: {body}"
        );
    });
}

#[test]
fn sites_are_created_listed_in_pages_read_and_changed() {
    block_on(async {
        let w = world().await;
        let (account, owner) = w.fresh_account("Sites Inc", 0).await;
        let mut made = Vec::new();
        for n in 0..3 {
            made.push(w.fresh_site(&owner, &format!("site{n}.sites.example")).await);
        }
        // Paging: 2 + 1.
        let (status, _, first) = w.call("GET", "/v1/sites?limit=2", &owner, None).await;
        assert_eq!(status, StatusCode::OK, "{first}");
        assert_eq!(first["items"].as_array().expect("items").len(), 2);
        let cursor = first["next_cursor"].as_str().expect("a next_cursor after a full page");
        let (status, _, second) =
            w.call("GET", &format!("/v1/sites?limit=2&cursor={}", urlencode(cursor)), &owner, None).await;
        assert_eq!(status, StatusCode::OK, "{second}");
        assert_eq!(second["items"].as_array().expect("items").len(), 1);
        assert!(second.get("next_cursor").is_none(), "the last page has no cursor: {second}");
        let (listed, _) = all_pages(w, "/v1/sites?limit=2", &owner).await;
        assert_eq!(
            listed.iter().collect::<HashSet<_>>(),
            made.iter().collect::<HashSet<_>>(),
            "every site exactly once"
        );
        assert_eq!(listed.len(), 3);
        for item in first["items"].as_array().expect("items").iter().chain(second["items"].as_array().expect("items")) {
            assert_eq!(item["account_id"], json!(account));
        }
        for bad in ["limit=0", "limit=101"] {
            let (status, _, body) = w.call("GET", &format!("/v1/sites?{bad}"), &owner, None).await;
            assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{bad}: {body}");
            assert_eq!(fields(&body), ["limit"]);
        }
        let (status, _, body) = w.call("GET", "/v1/sites?limit=abc", &owner, None).await;
        assert!(status.is_client_error(), "{body}");
        let (status, _, body) = w.call("GET", "/v1/sites?cursor=not-a-cursor", &owner, None).await;
        assert!(status.is_client_error(), "a forged cursor is the caller's error: {body}");

        // Who may create.
        let editor = token(&account, Role::Editor);
        let (status, _, body) =
            w.call("POST", "/v1/sites", &editor, Some(json!({"name": "E", "domain": "e.example"}))).await;
        assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "{body}");
        let (status, _, body) =
            w.call("POST", "/v1/sites", &owner, Some(json!({"name": "Bad", "domain": "not a domain!"}))).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        assert_eq!(fields(&body), ["domain"]);
        let too_long = format!("{}.example", vec!["a".repeat(60); 5].join("."));
        for domain in [too_long.as_str(), "nodots", "-bad-.example", "a..example", ""] {
            let (status, _, body) =
                w.call("POST", "/v1/sites", &owner, Some(json!({"name": "Bad", "domain": domain}))).await;
            assert_eq!(
                (status, fields(&body)),
                (StatusCode::UNPROCESSABLE_ENTITY, vec!["domain".to_owned()]),
                "{domain}: {body}"
            );
        }
        let (status, _, body) = w.call("POST", "/v1/sites", &owner, Some(json!({"name": "Bad"}))).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            "missing field: {body}"
        );

        // Get.
        let site = &made[0];
        let (status, _, body) = w.call("GET", &format!("/v1/sites/{site}"), &editor, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["id"].as_str(), body["domain"].as_str(), body["status"].as_str()),
            (Some(site.as_str()), Some("site0.sites.example"), Some("active"))
        );
        for missing in [nobody("site"), "garbage".to_owned()] {
            let (status, _, body) = w.call("GET", &format!("/v1/sites/{missing}"), &owner, None).await;
            assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{missing}: {body}");
        }

        // Patch.
        let uri = format!("/v1/sites/{site}");
        let (status, _, body) = w.call("PATCH", &uri, &owner, Some(json!({"name": "Renamed"}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["name"].as_str(), body["domain"].as_str()),
            (Some("Renamed"), Some("site0.sites.example")),
            "absent fields stay"
        );
        let (status, _, body) =
            w.call("PATCH", &uri, &owner, Some(json!({"domain": "moved.sites.example", "status": "inactive"}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!((body["domain"].as_str(), body["status"].as_str()), (Some("moved.sites.example"), Some("inactive")));
        let (status, _, body) = w.call("PATCH", &uri, &owner, Some(json!({"domain": "no spaces allowed.com"}))).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        assert_eq!(fields(&body), ["domain"]);
        let (status, _, body) = w.call("PATCH", &uri, &owner, Some(json!({"status": "deleted"}))).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        let (status, _, body) = w.call("PATCH", &uri, &owner, Some(json!({"colour": "red"}))).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        let (status, _, body) = w.call("PATCH", &uri, &editor, Some(json!({"name": "Editor's"}))).await;
        assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "{body}");
        let (status, _, body) =
            w.call("PATCH", &format!("/v1/sites/{}", nobody("site")), &owner, Some(json!({"name": "X"}))).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
        let (_, _, body) = w.call("GET", &uri, &owner, None).await;
        assert_eq!(body["name"], json!("Renamed"), "refused patches changed nothing");
    });
}

#[test]
fn runs_start_and_are_steered_through_their_states() {
    block_on(async {
        let w = world().await;
        let (account, owner) = w.fresh_account("Runner", 1_000_000).await;
        let site = w.fresh_site(&owner, "runs.runner.example").await;
        w.import_csv(&owner, &site, 30).await;
        let editor = token(&account, Role::Editor);
        let viewer = token(&account, Role::Viewer);
        let start = format!("/v1/sites/{site}/runs");

        let (status, _, body) = w.call("POST", &start, &viewer, None).await;
        assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "viewers cannot start runs: {body}");
        let (status, _, run) = w.call("POST", &start, &editor, None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{run}");
        assert_eq!(
            (run["status"].as_str(), run["site_id"].as_str(), run["account_id"].as_str()),
            (Some("running"), Some(site.as_str()), Some(account.as_str()))
        );
        assert!(run["estimated_credits"].as_i64().expect("estimate") > 0);
        let id = run["id"].as_str().expect("run id").to_owned();

        let (status, _, body) = w.call("POST", &start, &owner, None).await;
        assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "run_already_active"), "{body}");

        let (status, _, list) = w.call("GET", &start, &viewer, None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["items"][0]["id"], json!(id), "newest first");
        let (status, _, got) = w.call("GET", &format!("/v1/runs/{id}"), &viewer, None).await;
        assert_eq!(status, StatusCode::OK, "{got}");
        assert_eq!(got["id"], json!(id));
        assert!(
            got.get("stages").is_some() && got.get("credits_used").is_some(),
            "per-stage results and credits: {got}"
        );

        for action in ["pause", "resume", "cancel"] {
            let (status, _, body) = w.call("POST", &format!("/v1/runs/{id}/{action}"), &viewer, None).await;
            assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "viewer {action}: {body}");
        }
        let (status, _, body) = w.call("POST", &format!("/v1/runs/{id}/pause"), &editor, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["pause_requested"], json!(true), "{body}");
        let (status, _, body) = w.call("POST", &format!("/v1/runs/{id}/resume"), &editor, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["pause_requested"], json!(false), "{body}");
        let (status, _, body) = w.call("POST", &format!("/v1/runs/{id}/cancel"), &editor, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["cancel_requested"], json!(true), "{body}");
        w.drive(&id).await;
        let (_, _, done) = w.call("GET", &format!("/v1/runs/{id}"), &viewer, None).await;
        assert_eq!(done["status"], json!("cancelled"), "{done}");
        for action in ["pause", "resume", "cancel"] {
            let (status, _, body) = w.call("POST", &format!("/v1/runs/{id}/{action}"), &editor, None).await;
            assert_eq!(
                (status, code(&body)),
                (StatusCode::CONFLICT, "invalid_state"),
                "{action} a cancelled run: {body}"
            );
        }
        for missing in [nobody("run"), "not-a-run".to_owned()] {
            for (method, suffix) in
                [("GET", ""), ("GET", "/logs"), ("POST", "/pause"), ("POST", "/resume"), ("POST", "/cancel")]
            {
                let (status, _, body) = w.call(method, &format!("/v1/runs/{missing}{suffix}"), &editor, None).await;
                assert_eq!(
                    (status, code(&body)),
                    (StatusCode::NOT_FOUND, "not_found"),
                    "{method} {missing}{suffix}: {body}"
                );
            }
        }
        let (status, _, body) = w.call("POST", &format!("/v1/sites/{}/runs", nobody("site")), &editor, None).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
        let (status, _, body) = w.call("GET", &format!("/v1/sites/{}/runs", nobody("site")), &editor, None).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");

        // The lock was released: the site runs again once it has new keywords.
        let fresh: Vec<Value> = (0..12).map(|n| json!({"keyword": format!("second batch keyword {n}")})).collect();
        let (status, _, _) =
            w.call("POST", &format!("/v1/sites/{site}/keywords"), &editor, Some(json!({"keywords": fresh}))).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, _, second) = w.call("POST", &start, &editor, None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{second}");
        let second_id = second["id"].as_str().expect("run id").to_owned();
        let (ids, pages) = all_pages(w, &format!("{start}?limit=1"), &viewer).await;
        assert_eq!((ids, pages), (vec![second_id.clone(), id.clone()], 2), "runs page newest first");
        let (status, _, _) = w.call("POST", &format!("/v1/runs/{second_id}/cancel"), &editor, None).await;
        assert_eq!(status, StatusCode::OK);
        w.drive(&second_id).await;
        let (status, _, body) = w.call("GET", "/v1/billing/reconcile", &w.admin, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, _, rec) =
            w.call_with("GET", "/v1/billing/reconcile", &w.admin, &[("x-account-id", &account)], None).await;
        assert_eq!(
            (rec["balanced"].as_bool(), rec["held"].as_i64()),
            (Some(true), Some(0)),
            "a cancelled run leaves a clean ledger: {rec}"
        );
    });
}

#[test]
fn runs_are_refused_without_credits_keywords_or_an_active_site() {
    block_on(async {
        let w = world().await;
        let (_, poor) = w.fresh_account("Poor", 10).await;
        let site = w.fresh_site(&poor, "poor.example").await;
        w.import_csv(&poor, &site, 40).await;
        let (status, _, body) = w.call("POST", &format!("/v1/sites/{site}/runs"), &poor, None).await;
        assert_eq!((status, code(&body)), (StatusCode::PAYMENT_REQUIRED, "insufficient_credits"), "{body}");
        let (_, _, balance) = w.call("GET", "/v1/billing/balance", &poor, None).await;
        assert_eq!(
            (balance["credits"].as_i64(), balance["held"].as_i64()),
            (Some(10), Some(0)),
            "a refused start costs nothing: {balance}"
        );

        let (_, rich) = w.fresh_account("Rich", 1_000_000).await;
        let site = w.fresh_site(&rich, "few.rich.example").await;
        w.import_csv(&rich, &site, 2).await;
        let (status, _, body) = w.call("POST", &format!("/v1/sites/{site}/runs"), &rich, None).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "not_enough_keywords"), "{body}");

        let site = w.fresh_site(&rich, "disabled.rich.example").await;
        w.import_csv(&rich, &site, 20).await;
        let mut off = config_body(json!([5, 5, 5, 5, 5, 5]));
        off["enabled"] = json!(false);
        let (status, _, body) = w.call("PUT", &format!("/v1/sites/{site}/automation"), &rich, Some(off)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _, body) = w.call("POST", &format!("/v1/sites/{site}/runs"), &rich, None).await;
        assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "automation_disabled"), "{body}");

        let site = w.fresh_site(&rich, "off.rich.example").await;
        w.import_csv(&rich, &site, 20).await;
        let (status, _, _) =
            w.call("PATCH", &format!("/v1/sites/{site}"), &rich, Some(json!({"status": "inactive"}))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, body) = w.call("POST", &format!("/v1/sites/{site}/runs"), &rich, None).await;
        assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "site_inactive"), "{body}");
        let (status, _, list) = w.call("GET", &format!("/v1/sites/{site}/runs"), &rich, None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(list["items"].as_array().expect("items").iter().all(|r| r["status"] != json!("running")), "{list}");
    });
}

#[test]
fn run_logs_page_their_events_and_link_their_files() {
    block_on(async {
        let w = world().await;
        let base = format!("/v1/runs/{}/logs", w.a.run);
        let (status, _, all) = w.call("GET", &format!("{base}?limit=500"), &w.viewer_a, None).await;
        assert_eq!(status, StatusCode::OK, "{all}");
        let events = all["items"].as_array().expect("items");
        assert!(events.len() > 3, "a whole run logs events: {all}");
        let files = all["files"].as_array().expect("files");
        assert!(files.iter().any(|f| f["name"] == json!("main.log")), "{all}");
        for f in files {
            let url = f["url"].as_str().unwrap_or_else(|| panic!("every file has a link: {f}"));
            let bytes = read_link(url);
            assert_eq!(Some(bytes.len() as u64), f["size"].as_u64(), "the link reads the whole file: {f}");
        }
        // Three at a time, to the end.
        let mut seen = 0;
        let mut uri = format!("{base}?limit=3");
        let mut pages = 0;
        loop {
            let (status, _, page) = w.call("GET", &uri, &w.viewer_a, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let items = page["items"].as_array().expect("items");
            assert_eq!(items[..], events[seen..seen + items.len()], "pages follow the order of the whole list");
            seen += items.len();
            let files = page["files"].as_array().expect("files");
            assert_eq!(files.is_empty(), pages > 0, "files only on the first page");
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(c) => uri = format!("{base}?limit=3&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen, events.len());
        assert!(pages > 1);
        for bad in ["limit=0", "limit=501", "cursor=abc"] {
            let (status, _, body) = w.call("GET", &format!("{base}?{bad}"), &w.viewer_a, None).await;
            assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{bad}: {body}");
        }
    });
}

#[test]
fn automation_settings_are_read_replaced_and_estimated() {
    block_on(async {
        let w = world().await;
        let site = w.fresh_site(&w.owner_a, "config.acme.example").await;
        w.import_csv(&w.editor_a, &site, 25).await;
        let uri = format!("/v1/sites/{site}/automation");
        let (status, _, config) = w.call("GET", &uri, &w.viewer_a, None).await;
        assert_eq!(status, StatusCode::OK, "{config}");
        assert_eq!(config["batch_sizes"].as_array().map(Vec::len), Some(6), "{config}");
        assert_eq!(config["site_id"], json!(site));

        let (status, _, saved) = w.call("PUT", &uri, &w.owner_a, Some(config_body(json!([10, 5, 5, 5, 5, 5])))).await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        assert_eq!(
            (saved["batch_sizes"].clone(), saved["ideas_per_cluster"].clone()),
            (json!([10, 5, 5, 5, 5, 5]), json!(2))
        );
        let (_, _, reread) = w.call("GET", &uri, &w.viewer_a, None).await;
        assert_eq!(reread, saved, "a saved config reads back");
        assert_eq!((saved["publish"].clone(), saved["publish_batch_size"].clone()), (json!("off"), json!(5)));
        let mut publishing = config_body(json!([10, 5, 5, 5, 5, 5]));
        publishing["publish"] = json!("draft");
        publishing["publish_batch_size"] = json!(3);
        let (status, _, saved) = w.call("PUT", &uri, &w.owner_a, Some(publishing.clone())).await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        assert_eq!((saved["publish"].clone(), saved["publish_batch_size"].clone()), (json!("draft"), json!(3)));
        let (_, _, kept) = w.call("PUT", &uri, &w.owner_a, Some(config_body(json!([10, 5, 5, 5, 5, 5])))).await;
        assert_eq!(kept["publish"], json!("draft"), "absent publishing settings stay as they were: {kept}");
        publishing["publish_batch_size"] = json!(0);
        let (status, _, body) = w.call("PUT", &uri, &w.owner_a, Some(publishing)).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        assert_eq!(fields(&body), ["publish_batch_size"], "{body}");

        for bad in [json!([0, 5, 5, 5, 5, 5]), json!([5, 5, 5, 5, 5, 5000])] {
            let (status, _, body) = w.call("PUT", &uri, &w.owner_a, Some(config_body(bad.clone()))).await;
            assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{bad}: {body}");
            assert_eq!(fields(&body), ["batch_sizes"], "{body}");
        }
        let mut many = config_body(json!([5, 5, 5, 5, 5, 5]));
        many["credit_buffer"] = json!(0.5);
        many["ideas_per_cluster"] = json!(0);
        many["images_per_article"] = json!(11);
        many["delay_between_batches_seconds"] = json!(3601);
        let (status, _, body) = w.call("PUT", &uri, &w.owner_a, Some(many)).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        assert_eq!(
            fields(&body),
            ["delay_between_batches_seconds", "credit_buffer", "ideas_per_cluster", "images_per_article"],
            "every bad field named"
        );
        let mut schedule = config_body(json!([5, 5, 5, 5, 5, 5]));
        schedule["schedule"] = json!({"frequency": "weekly", "time": "09:00", "timezone": "UTC", "day": 9});
        let (status, _, body) = w.call("PUT", &uri, &w.owner_a, Some(schedule)).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        assert_eq!(fields(&body), ["schedule"], "{body}");
        for bad in [json!([5, 5, 5]), json!("many")] {
            let (status, _, body) = w.call("PUT", &uri, &w.owner_a, Some(config_body(bad.clone()))).await;
            assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{bad}: {body}");
        }
        let mut lease = config_body(json!([5, 5, 5, 5, 5, 5]));
        lease["lease_seconds"] = json!(5);
        let (status, _, body) = w.call("PUT", &uri, &w.owner_a, Some(lease)).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        assert_eq!(fields(&body), ["lease_seconds"], "{body}");
        let mut scheduled = config_body(json!([5, 5, 5, 5, 5, 5]));
        scheduled["schedule"] = json!({"frequency": "daily", "time": "06:30", "timezone": "UTC", "day": null});
        let (status, _, body) = w.call("PUT", &uri, &w.owner_a, Some(scheduled)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["next_run_at"].as_i64().is_some(), "a schedule gets its next run: {body}");
        let (status, _, saved) = w.call("PUT", &uri, &w.owner_a, Some(config_body(json!([10, 5, 5, 5, 5, 5])))).await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        assert_eq!(saved["next_run_at"], Value::Null, "no schedule, no next run: {saved}");
        let (status, _, body) = w.call("PUT", &uri, &w.editor_a, Some(config_body(json!([5, 5, 5, 5, 5, 5])))).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::FORBIDDEN, "forbidden"),
            "editors cannot change settings: {body}"
        );
        let (_, _, after) = w.call("GET", &uri, &w.viewer_a, None).await;
        assert_eq!(after, saved, "refused changes changed nothing");
        let missing = format!("/v1/sites/{}/automation", nobody("site"));
        let (status, _, body) = w.call("GET", &missing, &w.owner_a, None).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
        let (status, _, body) = w.call("PUT", &missing, &w.owner_a, Some(config_body(json!([5, 5, 5, 5, 5, 5])))).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");

        let (status, _, estimate) = w.call("GET", &format!("{uri}/estimate"), &w.viewer_a, None).await;
        assert_eq!(status, StatusCode::OK, "{estimate}");
        assert_eq!(estimate["keywords"], json!(25), "{estimate}");
        let sum: i64 =
            estimate["per_stage"].as_object().expect("per_stage").values().map(|v| v.as_i64().expect("credits")).sum();
        assert_eq!(estimate["total"].as_i64(), Some(sum));
        assert!(sum > 0);
        let (status, _, body) =
            w.call("GET", &format!("/v1/sites/{}/automation/estimate", nobody("site")), &w.owner_a, None).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
    });
}

#[test]
fn keywords_are_imported_as_json_or_csv_and_bad_bodies_are_refused() {
    block_on(async {
        let w = world().await;
        let site = w.fresh_site(&w.owner_a, "import.acme.example").await;
        let uri = format!("/v1/sites/{site}/keywords");
        let body = json!({"keywords": [
            {"keyword": "best trail shoes", "volume": 900, "difficulty": 40, "cpc": 1.2, "intent": "commercial"},
            {"keyword": "trail shoes for beginners"},
            {"keyword": "best trail shoes"},
        ]});
        let (status, _, report) = w.call("POST", &uri, &w.editor_a, Some(body.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{report}");
        assert_eq!(report, json!({"rows": 3, "imported": 2, "duplicates": 1}));
        let (status, _, report) = w.call("POST", &uri, &w.editor_a, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{report}");
        assert_eq!(report, json!({"rows": 3, "imported": 0, "duplicates": 3}), "a repeat imports nothing");

        let report = w.import_csv(&w.editor_a, &site, 10).await;
        assert_eq!((report["rows"].as_u64(), report["imported"].as_u64()), (Some(10), Some(10)), "{report}");
        let (_, pages) = all_pages(w, &format!("{uri}?limit=5"), &w.viewer_a).await;
        assert_eq!(pages, 3, "12 keywords in pages of 5");
        let (ids, _) = all_pages(w, &format!("{uri}?limit=5"), &w.viewer_a).await;
        assert_eq!(ids.len(), 12);
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 12);

        let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
            ("text/plain", b"keyword\nx".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ("", b"{}".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ("application/json", b"{\"keywords\": [".to_vec(), StatusCode::BAD_REQUEST, "malformed_json"),
            ("application/json", b"not json".to_vec(), StatusCode::BAD_REQUEST, "malformed_json"),
            (
                "application/json",
                br#"{"keywords": [{"keyword": 5}]}"#.to_vec(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            ),
            (
                "application/json",
                br#"{"keywords": [{"keyword": "a", "volume": "lots"}]}"#.to_vec(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            ),
            (
                "application/json",
                br#"{"keywords": [{"keyword": "a", "colour": "red"}]}"#.to_vec(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            ),
            (
                "application/json",
                br#"{"keywords": [], "extra": 1}"#.to_vec(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            ),
            (
                "application/json",
                br#"{"keywords": []}"#.to_vec(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            ),
            ("application/json", br#"[1, 2]"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            ("text/csv", b"Volume,CPC\n10,1.0\n".to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_csv"),
        ];
        for (media, bytes, want, want_code) in cases {
            let shown = String::from_utf8_lossy(&bytes).into_owned();
            let (status, _, body) = w.send(raw("POST", &uri, &w.editor_a, media, bytes)).await;
            assert_eq!((status, code(&body)), (want, want_code), "{media} {shown}: {body}");
        }
        let (status, _, body) = w
            .call(
                "POST",
                &uri,
                &w.editor_a,
                Some(json!({"keywords": [{"keyword": "ok"}, {"keyword": "x", "difficulty": 101, "volume": -1}]})),
            )
            .await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        assert_eq!(fields(&body), ["keywords/1/volume", "keywords/1/difficulty"]);

        // Over the 1 MiB limit, whatever the media type.
        let huge_csv = format!("Keyword\n{}", "a long keyword phrase\n".repeat(60_000));
        let huge_json =
            serde_json::to_vec(&json!({"keywords": vec![json!({"keyword": "a long keyword phrase"}); 40_000]}))
                .expect("json");
        assert!(huge_csv.len() > 1024 * 1024 && huge_json.len() > 1024 * 1024);
        for (media, bytes) in [("text/csv", huge_csv.into_bytes()), ("application/json", huge_json.clone())] {
            let (status, _, body) = w.send(raw("POST", &uri, &w.editor_a, media, bytes)).await;
            assert_eq!((status, code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"), "{media}: {body}");
        }
        let (status, _, body) = w.send(raw("POST", "/v1/sites", &w.owner_a, "application/json", huge_json)).await;
        assert_eq!((status, code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"), "JSON routes too: {body}");
        let (status, _, body) = w.send(raw("POST", "/v1/sites", &w.owner_a, "text/plain", "name=x")).await;
        assert_eq!((status, code(&body)), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"), "{body}");
        let (status, _, body) = w.send(raw("POST", "/v1/sites", &w.owner_a, "application/json", "{\"name\":")).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "malformed_json"), "{body}");

        // More than 10,000 keywords in one import, under the size limit.
        let many: Vec<Value> = (0..10_001).map(|n| json!({"keyword": format!("k{n}")})).collect();
        let (status, _, body) = w.call("POST", &uri, &w.editor_a, Some(json!({"keywords": many}))).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        assert_eq!(fields(&body), ["keywords"]);
        let csv: String = std::iter::once("Keyword".to_owned())
            .chain((0..10_001).map(|n| format!("k{n}")))
            .collect::<Vec<_>>()
            .join("\n");
        let (status, _, body) = w.send(raw("POST", &uri, &w.editor_a, "text/csv", csv)).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        let (status, _, body) = w
            .send(raw(
                "POST",
                &uri,
                &w.editor_a,
                "application/json; charset=utf-8",
                r#"{"keywords": [{"keyword": "best trail shoes"}]}"#,
            ))
            .await;
        assert_eq!(
            (status, body["duplicates"].as_u64()),
            (StatusCode::CREATED, Some(1)),
            "parameters of the media type are fine: {body}"
        );

        let (status, _, body) = w.call("POST", &uri, &w.viewer_a, Some(json!({"keywords": [{"keyword": "v"}]}))).await;
        assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "{body}");
        let (status, _, body) = w
            .call(
                "POST",
                &format!("/v1/sites/{}/keywords", nobody("site")),
                &w.editor_a,
                Some(json!({"keywords": [{"keyword": "v"}]})),
            )
            .await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
        let (ids, _) = all_pages(w, &format!("{uri}?limit=100"), &w.viewer_a).await;
        assert_eq!(ids.len(), 12, "refused imports stored nothing");
    });
}

#[test]
fn pipeline_records_are_listed_read_and_deleted() {
    block_on(async {
        let w = world().await;
        let site = &w.a.site;
        let keep = [
            ("keywords", &w.a.keyword),
            ("clusters", &w.a.cluster),
            ("ideas", &w.a.idea),
            ("tasks", &w.a.task),
            ("content", &w.a.content),
            ("images", &w.a.image),
        ];
        for (kind, fixture) in keep {
            let list = format!("/v1/sites/{site}/{kind}");
            let (ids, _) = all_pages(w, &format!("{list}?limit=2"), &w.viewer_a).await;
            assert!(ids.len() >= 2, "{kind}: the run made several");
            assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "{kind}: no record twice across pages");
            assert!(ids.contains(fixture));

            let (status, _, one) = w.call("GET", &format!("{list}/{fixture}"), &w.viewer_a, None).await;
            assert_eq!(status, StatusCode::OK, "{kind}: {one}");
            assert_eq!(
                (one["id"].as_str(), one["site_id"].as_str(), one["account_id"].as_str()),
                (Some(fixture.as_str()), Some(site.as_str()), Some(w.a.account.as_str()))
            );
            match kind {
                "content" => {
                    assert!(one["html"].as_str().is_some_and(|h| h.contains('<')), "articles carry their HTML: {one}")
                }
                "images" => {
                    assert_eq!(one["status"], json!("generated"));
                    let url = one["url"].as_str().unwrap_or_else(|| panic!("generated images carry a link: {one}"));
                    assert!(read_link(url).starts_with(b"\x89PNG"), "the link reads a PNG");
                }
                _ => {}
            }

            // Delete another one (the fixture's stays for the other tests).
            let victim = ids.iter().rev().find(|id| *id != fixture).expect("another record");
            let item = format!("{list}/{victim}");
            let (status, _, body) = w.call("DELETE", &item, &w.viewer_a, None).await;
            assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "{kind}: {body}");
            let (status, _, body) = w.call("DELETE", &item, &w.editor_a, None).await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{kind}: {body}");
            assert_eq!(body, Value::Null, "204 has no body");
            let (status, _, body) = w.call("GET", &item, &w.viewer_a, None).await;
            assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{kind} after delete: {body}");
            let (status, _, body) = w.call("DELETE", &item, &w.editor_a, None).await;
            assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{kind} deleted twice: {body}");
            let (after, _) = all_pages(w, &format!("{list}?limit=100"), &w.viewer_a).await;
            assert!(!after.contains(victim) && after.len() == ids.len() - 1, "{kind}: gone from the list");

            for missing in ["nothing-here", "kw_00000000000000000000000000000000"] {
                let (status, _, body) = w.call("GET", &format!("{list}/{missing}"), &w.viewer_a, None).await;
                assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{kind} {missing}: {body}");
            }
            let (status, _, body) =
                w.call("GET", &format!("/v1/sites/{}/{kind}", nobody("site")), &w.viewer_a, None).await;
            assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{kind} of no site: {body}");
            let (status, _, body) = w.call("GET", &format!("{list}?limit=0"), &w.viewer_a, None).await;
            assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        }
    });
}

#[test]
fn balance_transactions_and_usage_report_the_ledger() {
    block_on(async {
        let w = world().await;
        let (status, _, balance) = w.call("GET", "/v1/billing/balance", &w.viewer_a, None).await;
        assert_eq!(status, StatusCode::OK, "{balance}");
        assert_eq!(balance["held"], json!(0), "no hold after a finished run: {balance}");
        assert!(balance["holds"].as_array().is_some_and(Vec::is_empty));

        // A hold shows in the balance.
        let (account, owner) = w.fresh_account("Holder", 1000).await;
        let id: AccountId = account.parse().expect("account");
        w.rt.services.credits.hold(&id, 300, "api test hold", None, None).await.expect("hold");
        let (_, _, balance) = w.call("GET", "/v1/billing/balance", &owner, None).await;
        assert_eq!(
            (balance["credits"].as_i64(), balance["held"].as_i64(), balance["available"].as_i64()),
            (Some(1000), Some(300), Some(700)),
            "{balance}"
        );
        assert_eq!(balance["holds"].as_array().map(Vec::len), Some(1), "{balance}");
        assert_eq!(balance["holds"][0]["amount"], json!(300));
        // Open holds come newest first, in pages.
        w.rt.services.credits.hold(&id, 200, "api test hold 2", None, None).await.expect("hold");
        let (_, _, first) = w.call("GET", "/v1/billing/balance?limit=1", &owner, None).await;
        assert_eq!(first["holds"][0]["amount"], json!(200), "{first}");
        let cursor = first["holds_next_cursor"].as_str().expect("a next page");
        let uri = format!("/v1/billing/balance?limit=1&cursor={}", urlencode(cursor));
        let (_, _, second) = w.call("GET", &uri, &owner, None).await;
        assert_eq!(second["holds"][0]["amount"], json!(300), "{second}");
        assert!(second.get("holds_next_cursor").is_none(), "{second}");

        // The ledger, newest first, in pages.
        let (ids, pages) = all_pages(w, "/v1/billing/transactions?limit=4", &w.viewer_a).await;
        assert!(pages > 1, "the run charged many times");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "no entry twice");
        let (_, _, all) = w.call("GET", "/v1/billing/transactions?limit=100", &w.viewer_a, None).await;
        let seqs: Vec<i64> =
            all["items"].as_array().expect("items").iter().map(|t| t["seq"].as_i64().expect("seq")).collect();
        assert!(seqs.windows(2).all(|p| p[0] > p[1]), "newest first: {seqs:?}");
        if all.get("next_cursor").is_none() {
            assert_eq!(seqs.len(), ids.len());
        }

        // Usage and its filters.
        let (status, _, usage) = w.call("GET", "/v1/billing/usage?limit=100", &w.viewer_a, None).await;
        assert_eq!(status, StatusCode::OK, "{usage}");
        let items = usage["items"].as_array().expect("items").clone();
        assert!(!items.is_empty());
        let run = &w.a.run;
        let (_, _, by_run) =
            w.call("GET", &format!("/v1/billing/usage?run_id={run}&limit=100"), &w.viewer_a, None).await;
        let by_run = by_run["items"].as_array().expect("items");
        assert!(!by_run.is_empty() && by_run.iter().all(|u| u["run_id"] == json!(run)), "{by_run:?}");
        let (_, _, by_other) =
            w.call("GET", &format!("/v1/billing/usage?run_id={}", nobody("run")), &w.viewer_a, None).await;
        assert_eq!(by_other["items"], json!([]));
        let (_, _, by_stage) = w.call("GET", "/v1/billing/usage?stage=1&limit=100", &w.viewer_a, None).await;
        let by_stage = by_stage["items"].as_array().expect("items");
        assert!(!by_stage.is_empty() && by_stage.iter().all(|u| u["stage"] == json!(1)), "{by_stage:?}");
        let operation = items[0]["operation"].as_str().expect("operation");
        let (_, _, by_op) =
            w.call("GET", &format!("/v1/billing/usage?operation={operation}&limit=100"), &w.viewer_a, None).await;
        let by_op = by_op["items"].as_array().expect("items");
        assert!(!by_op.is_empty() && by_op.iter().all(|u| u["operation"] == json!(operation)), "{by_op:?}");
        let (_, _, future) = w.call("GET", "/v1/billing/usage?from=2999-01-01T00:00:00Z", &w.viewer_a, None).await;
        assert_eq!(future["items"], json!([]), "nothing after 2999");
        let (_, _, past) = w.call("GET", "/v1/billing/usage?to=2000-01-01T00:00:00Z", &w.viewer_a, None).await;
        assert_eq!(past["items"], json!([]), "nothing before 2000");
        let (_, _, window) = w
            .call(
                "GET",
                "/v1/billing/usage?from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z&limit=100",
                &w.viewer_a,
                None,
            )
            .await;
        assert_eq!(window["items"].as_array().map(Vec::len), Some(items.len()), "a window around now holds everything");
        let (paged, _) = all_pages(w, "/v1/billing/usage?limit=3", &w.viewer_a).await;
        if usage.get("next_cursor").is_none() {
            assert_eq!(paged.len(), items.len(), "paging usage loses and repeats nothing");
        }
        let long_operation = format!("operation={}", "o".repeat(65));
        for (bad, field) in [
            ("run_id=run-42", "run_id"),
            (long_operation.as_str(), "operation"),
            ("from=yesterday", "from"),
            ("to=2026-13-01T00:00:00Z", "to"),
            ("stage=9", "stage"),
            ("stage=0", "stage"),
            ("limit=0", "limit"),
        ] {
            let (status, _, body) = w.call("GET", &format!("/v1/billing/usage?{bad}"), &w.viewer_a, None).await;
            assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{bad}: {body}");
            assert_eq!(fields(&body), [field], "{bad}");
        }
        let (status, _, body) = w.call("GET", "/v1/billing/usage?stage=many", &w.viewer_a, None).await;
        assert!(status.is_client_error(), "{body}");
        let (status, _, body) = w.call("GET", "/v1/billing/usage?colour=red", &w.viewer_a, None).await;
        assert!(status.is_client_error(), "unknown parameters are refused: {body}");
    });
}

#[test]
fn prices_are_read_by_anyone_and_set_by_admins() {
    block_on(async {
        let w = world().await;
        let (status, _, table) = w.call("GET", "/v1/billing/costs", &w.viewer_a, None).await;
        assert_eq!(status, StatusCode::OK, "{table}");
        let table = table.as_array().expect("a list of prices").clone();
        assert!(!table.is_empty());
        // Set a price to its own value, so that other tests' estimates do not move.
        let first = &table[0];
        let operation = first["operation"].as_str().expect("operation");
        let same = json!({"unit": first["unit"], "credits_per_unit": first["credits_per_unit"], "min_credits": first["min_credits"]});
        let uri = format!("/v1/billing/costs/{operation}");
        let (status, _, saved) = w.call("PUT", &uri, &w.admin, Some(same.clone())).await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        assert_eq!(
            (saved["operation"].as_str(), saved["configured"].as_bool()),
            (Some(operation), Some(true)),
            "{saved}"
        );
        assert_eq!(saved["credits_per_unit"], first["credits_per_unit"]);
        let (_, _, after) = w.call("GET", "/v1/billing/costs", &w.viewer_a, None).await;
        let row = after
            .as_array()
            .expect("list")
            .iter()
            .find(|c| c["operation"] == json!(operation))
            .expect("still listed")
            .clone();
        assert_eq!(row["configured"], json!(true), "{row}");

        for t in [&w.owner_a, &w.editor_a, &w.viewer_a] {
            let (status, _, body) = w.call("PUT", &uri, t, Some(same.clone())).await;
            assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "{body}");
        }
        let (status, _, body) = w.call("PUT", "/v1/billing/costs/teleportation", &w.admin, Some(same.clone())).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_operation"), "{body}");
        let mut bad = same.clone();
        bad["unit"] = json!("per_parsec");
        let (status, _, body) = w.call("PUT", &uri, &w.admin, Some(bad)).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        for (field, value) in [("min_credits", 0), ("credits_per_unit", -1)] {
            let mut bad = same.clone();
            bad[field] = json!(value);
            let (status, _, body) = w.call("PUT", &uri, &w.admin, Some(bad)).await;
            assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
            assert_eq!(fields(&body), [field], "the field is named: {body}");
        }
        let mut bad = same;
        bad["discount"] = json!(true);
        let (status, _, body) = w.call("PUT", &uri, &w.admin, Some(bad)).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
    });
}

#[test]
fn credits_are_added_once_per_idempotency_key_and_reconcile() {
    block_on(async {
        let w = world().await;
        let (account, owner) = w.fresh_account("Topped", 0).await;
        let acting = [("x-account-id", account.as_str())];
        let grant = json!({"amount": 500, "kind": "top_up", "reason": "invoice 42 paid", "reference": "inv_42"});
        let keyed = [("x-account-id", account.as_str()), ("idempotency-key", "topup-42")];
        let (status, headers, first) =
            w.call_with("POST", "/v1/billing/credits", &w.admin, &keyed, Some(grant.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        assert!(headers.get("idempotent-replayed").is_none(), "a first response is not a replay");
        assert_eq!(first["transaction"]["amount"], json!(500), "{first}");
        assert_eq!(first["transaction"]["account_id"], json!(account), "credits go to the acting account");
        for _ in 0..2 {
            let (status, headers, again) =
                w.call_with("POST", "/v1/billing/credits", &w.admin, &keyed, Some(grant.clone())).await;
            assert_eq!(status, StatusCode::CREATED, "{again}");
            assert_eq!(again, first, "a repeat returns the first response");
            assert_eq!(headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
        }
        let (_, _, balance) = w.call("GET", "/v1/billing/balance", &owner, None).await;
        assert_eq!(balance["credits"], json!(500), "added exactly once: {balance}");

        let other = json!({"amount": 900, "kind": "top_up", "reason": "invoice 42 paid", "reference": "inv_42"});
        let (status, _, body) = w.call_with("POST", "/v1/billing/credits", &w.admin, &keyed, Some(other)).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"), "{body}");
        let (_, _, balance) = w.call("GET", "/v1/billing/balance", &owner, None).await;
        assert_eq!(balance["credits"], json!(500), "a reused key moves nothing: {balance}");

        // Without a key, each request adds.
        for _ in 0..2 {
            let (status, _, body) = w
                .call_with(
                    "POST",
                    "/v1/billing/credits",
                    &w.admin,
                    &acting,
                    Some(json!({"amount": 5, "kind": "grant", "reason": "goodwill"})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let (_, _, balance) = w.call("GET", "/v1/billing/balance", &owner, None).await;
        assert_eq!(balance["credits"], json!(510));

        let refusals = [
            (json!({"amount": 5, "kind": "charge", "reason": "x"}), "kind"),
            (json!({"amount": 0, "kind": "grant", "reason": "x"}), "amount"),
            (json!({"amount": -5, "kind": "grant", "reason": "x"}), "amount"),
            (json!({"amount": 5, "kind": "grant", "reason": "  "}), "reason"),
            (json!({"amount": 5, "kind": "grant", "reason": "x".repeat(501)}), "reason"),
            (json!({"amount": 5, "kind": "grant", "reason": "x", "reference": "r".repeat(201)}), "reference"),
        ];
        for (body, field) in refusals {
            let (status, _, problem) =
                w.call_with("POST", "/v1/billing/credits", &w.admin, &acting, Some(body.clone())).await;
            assert_eq!(
                (status, code(&problem)),
                (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
                "{body}: {problem}"
            );
            assert_eq!(fields(&problem), [field], "{body}");
        }
        let (status, _, body) = w
            .call_with(
                "POST",
                "/v1/billing/credits",
                &w.admin,
                &acting,
                Some(json!({"amount": 5, "kind": "gift", "reason": "x"})),
            )
            .await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
        for t in [&owner, &w.owner_a, &w.viewer_a] {
            let (status, _, body) = w.call("POST", "/v1/billing/credits", t, Some(grant.clone())).await;
            assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "{body}");
            let (status, _, body) = w
                .call_with("POST", "/v1/billing/credits", t, &[("idempotency-key", "mine")], Some(grant.clone()))
                .await;
            assert_eq!(
                (status, code(&body)),
                (StatusCode::FORBIDDEN, "forbidden"),
                "a key does not bypass the role: {body}"
            );
        }
        let (status, _, body) = w
            .call_with(
                "POST",
                "/v1/billing/credits",
                &w.admin,
                &[("x-account-id", account.as_str()), ("idempotency-key", "has space")],
                Some(grant.clone()),
            )
            .await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, "invalid_idempotency_key"), "{body}");
        let (_, _, balance) = w.call("GET", "/v1/billing/balance", &owner, None).await;
        assert_eq!(balance["credits"], json!(510), "no refusal moved credits: {balance}");

        let (status, _, rec) = w.call_with("GET", "/v1/billing/reconcile", &w.admin, &acting, None).await;
        assert_eq!(status, StatusCode::OK, "{rec}");
        assert_eq!(
            (rec["balanced"].as_bool(), rec["credits"].as_i64(), rec["account_id"].as_str()),
            (Some(true), Some(510), Some(account.as_str())),
            "{rec}"
        );
        let (_, _, rec) = w
            .call_with("GET", "/v1/billing/reconcile", &w.admin, &[("x-account-id", w.a.account.as_str())], None)
            .await;
        assert_eq!(rec["balanced"], json!(true), "the account that ran automation reconciles: {rec}");
        for t in [&owner, &w.owner_a] {
            let (status, _, body) = w.call("GET", "/v1/billing/reconcile", t, None).await;
            assert_eq!((status, code(&body)), (StatusCode::FORBIDDEN, "forbidden"), "{body}");
        }
    });
}

#[test]
fn idempotency_keys_belong_to_one_request_of_one_account() {
    block_on(async {
        let w = world().await;
        let (account, owner) = w.fresh_account("Keys", 1_000_000).await;
        let site = w.fresh_site(&owner, "keys.example").await;
        let acting = |key: &'static str| [("x-account-id", account.clone()), ("idempotency-key", key.to_owned())];
        let grant = json!({"amount": 7, "kind": "grant", "reason": "keys"});
        let headers = acting("shared-key");
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (status, _, _) = w.call_with("POST", "/v1/billing/credits", &w.admin, &headers, Some(grant.clone())).await;
        assert_eq!(status, StatusCode::CREATED);
        // The same caller's key on the other idempotent route: another request.
        let (status, _, body) = w.call_with("POST", &format!("/v1/sites/{site}/runs"), &w.admin, &headers, None).await;
        assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"), "{body}");
        // The same key in another account is that account's own.
        let (other, _) = w.fresh_account("Other keys", 0).await;
        let (status, headers, body) = w
            .call_with(
                "POST",
                "/v1/billing/credits",
                &w.admin,
                &[("x-account-id", other.as_str()), ("idempotency-key", "shared-key")],
                Some(grant.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(headers.get("idempotent-replayed").is_none(), "not another account's replay");
        assert_eq!(body["transaction"]["account_id"], json!(other));
        // Over the body limit on an idempotent route.
        let huge = json!({"amount": 1, "kind": "grant", "reason": "x".repeat(1_100_000)});
        let headers = acting("huge");
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (status, _, body) = w.call_with("POST", "/v1/billing/credits", &w.admin, &headers, Some(huge)).await;
        assert_eq!((status, code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"), "{body}");
        let (_, _, balance) = w.call("GET", "/v1/billing/balance", &owner, None).await;
        assert_eq!(balance["credits"], json!(1_000_007), "{balance}");

        // Concurrent repeats: credits move once; each answer is the first response or "wait".
        let headers = acting("concurrent");
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let calls = (0..6).map(|_| {
            w.call_with(
                "POST",
                "/v1/billing/credits",
                &w.admin,
                &headers,
                Some(json!({"amount": 100, "kind": "top_up", "reason": "race"})),
            )
        });
        let answers = futures::future::join_all(calls).await;
        let created: Vec<&Value> =
            answers.iter().filter(|(s, _, _)| *s == StatusCode::CREATED).map(|(_, _, b)| b).collect();
        assert!(!created.is_empty());
        assert!(
            created.iter().all(|b| b["transaction"]["id"] == created[0]["transaction"]["id"]),
            "one transaction: {answers:?}"
        );
        for (status, _, body) in &answers {
            assert!(*status == StatusCode::CREATED || code(body) == "idempotency_in_progress", "{status} {body}");
        }
        let (_, _, balance) = w.call("GET", "/v1/billing/balance", &owner, None).await;
        assert_eq!(balance["credits"], json!(1_000_107), "added once: {balance}");
        let (_, _, rec) =
            w.call_with("GET", "/v1/billing/reconcile", &w.admin, &[("x-account-id", account.as_str())], None).await;
        assert_eq!(rec["balanced"], json!(true), "{rec}");

        // A key belongs to its caller: another caller repeating it is not served the first
        // caller's response, and is refused by role as if it had sent no key.
        let headers = acting("admins-only");
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (status, _, _) = w.call_with("POST", "/v1/billing/credits", &w.admin, &headers, Some(grant.clone())).await;
        assert_eq!(status, StatusCode::CREATED);
        for t in [owner.clone(), token(&account, Role::Viewer)] {
            let (status, headers, body) = w
                .call_with(
                    "POST",
                    "/v1/billing/credits",
                    &t,
                    &[("idempotency-key", "admins-only")],
                    Some(grant.clone()),
                )
                .await;
            assert_eq!(
                (status, code(&body)),
                (StatusCode::FORBIDDEN, "forbidden"),
                "another caller's key is no way around the role: {body}"
            );
            assert!(headers.get("idempotent-replayed").is_none());
        }
        w.import_csv(&owner, &site, 20).await;
        let (status, _, run) = w
            .call_with("POST", &format!("/v1/sites/{site}/runs"), &owner, &[("idempotency-key", "owners-run")], None)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{run}");
        let (status, _, body) = w
            .call_with(
                "POST",
                &format!("/v1/sites/{site}/runs"),
                &token(&account, Role::Viewer),
                &[("idempotency-key", "owners-run")],
                None,
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::FORBIDDEN, "forbidden"),
            "a viewer cannot start a run by replaying: {body}"
        );
        let id = run["id"].as_str().expect("run id");
        let (status, _, _) = w.call("POST", &format!("/v1/runs/{id}/cancel"), &owner, None).await;
        assert_eq!(status, StatusCode::OK);
        w.drive(id).await;

        // An admin acting for an account that does not exist finds nothing and makes nothing.
        let ghost = nobody("acct");
        let as_ghost = [("x-account-id", ghost.as_str())];
        let (status, _, body) = w.call_with("GET", "/v1/account", &w.admin, &as_ghost, None).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
        let (status, _, body) =
            w.call_with("POST", "/v1/billing/credits", &w.admin, &as_ghost, Some(grant.clone())).await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "credits for no account: {body}");
        let (status, _, body) = w
            .call_with(
                "POST",
                "/v1/sites",
                &w.admin,
                &as_ghost,
                Some(json!({"name": "Orphan", "domain": "orphan.example"})),
            )
            .await;
        assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "a site for no account: {body}");
        let (status, _, sites) = w.call_with("GET", "/v1/sites", &w.admin, &as_ghost, None).await;
        assert_eq!((status, code(&sites)), (StatusCode::NOT_FOUND, "not_found"), "no account, no sites: {sites}");
    });
}

#[test]
fn starting_a_run_twice_with_one_key_gives_one_run() {
    block_on(async {
        let w = world().await;
        let (_, owner) = w.fresh_account("Keyed", 1_000_000).await;
        let site = w.fresh_site(&owner, "keyed.example").await;
        w.import_csv(&owner, &site, 20).await;
        let uri = format!("/v1/sites/{site}/runs");
        let key = [("idempotency-key", "start-once")];
        let (status, headers, first) = w.call_with("POST", &uri, &owner, &key, None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{first}");
        assert!(headers.get("idempotent-replayed").is_none());
        let (status, headers, again) = w.call_with("POST", &uri, &owner, &key, None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "a repeat is not a conflict: {again}");
        assert_eq!(again["id"], first["id"], "the same run");
        assert_eq!(again, first);
        assert_eq!(headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
        let (status, _, body) = w.call_with("POST", &uri, &owner, &[("idempotency-key", "start-twice")], None).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::CONFLICT, "run_already_active"),
            "a new key is a new start: {body}"
        );
        // The refusal was remembered too: its repeat replays the 409.
        let (status, headers, replay) =
            w.call_with("POST", &uri, &owner, &[("idempotency-key", "start-twice")], None).await;
        assert_eq!((status, replay), (StatusCode::CONFLICT, body));
        assert_eq!(headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
        let (_, _, runs) = w.call("GET", &uri, &owner, None).await;
        assert_eq!(runs["items"].as_array().map(Vec::len), Some(1), "one run: {runs}");

        let id = first["id"].as_str().expect("run id");
        let (status, _, _) = w.call("POST", &format!("/v1/runs/{id}/cancel"), &owner, None).await;
        assert_eq!(status, StatusCode::OK);
        w.drive(id).await;
    });
}

#[test]
fn openapi_is_public_and_unknown_routes_methods_and_tokens_are_problems() {
    block_on(async {
        let w = world().await;
        let (status, headers, doc) = w.call("GET", "/openapi.json", "", None).await;
        assert_eq!(status, StatusCode::OK, "{doc}");
        assert!(headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/json")));
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
        assert!(doc["paths"].as_object().is_some_and(|p| p.contains_key("/v1/sites/{site_id}/runs")));

        for (method, uri) in [("GET", "/v1/nowhere"), ("GET", "/"), ("POST", "/v2/sites"), ("GET", "/v1/sites/x/y/z/w")]
        {
            let (status, _, body) = w.call(method, uri, &w.owner_a, None).await;
            assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{method} {uri}: {body}");
        }
        let site = &w.a.site;
        for (method, uri) in [
            ("DELETE", "/v1/sites".to_owned()),
            ("PUT", "/v1/account".to_owned()),
            ("GET", "/v1/accounts".to_owned()),
            ("DELETE", format!("/v1/sites/{site}")),
            ("GET", format!("/v1/runs/{}/pause", w.a.run)),
            ("POST", "/v1/billing/balance".to_owned()),
            ("GET", "/v1/billing/credits".to_owned()),
            ("PATCH", format!("/v1/sites/{site}/keywords")),
            ("POST", "/openapi.json".to_owned()),
        ] {
            let (status, headers, body) = w.call(method, &uri, &w.owner_a, None).await;
            assert_eq!(
                (status, code(&body)),
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
                "{method} {uri}: {body}"
            );
            let allow = headers.get("allow").and_then(|v| v.to_str().ok()).unwrap_or("");
            assert!(
                !allow.is_empty() && !allow.split(',').any(|m| m.trim() == method),
                "{method} {uri}: Allow {allow:?}"
            );
        }

        let account: AccountId = w.a.account.parse().expect("account");
        let expired = mint_token(SECRET, "u", &account, Role::Owner, now_s() - 7200, 60).expect("mint");
        let forged =
            mint_token(b"some-other-secret-entirely-000000", "u", &account, Role::Owner, now_s(), 3600).expect("mint");
        let routes = [
            "/v1/account",
            "/v1/sites",
            &format!("/v1/sites/{site}"),
            &format!("/v1/runs/{}", w.a.run),
            "/v1/billing/balance",
        ];
        for uri in routes {
            let (status, _, body) = w.call("GET", uri, "", None).await;
            assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"), "no token {uri}: {body}");
            for (what, t) in [("expired", &expired), ("forged", &forged), ("garbage", &"abc.def.ghi".to_owned())] {
                let (status, _, body) = w.call("GET", uri, t, None).await;
                assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"), "{what} {uri}: {body}");
            }
            let basic = Request::builder()
                .uri(uri)
                .header("authorization", "Basic dXNlcjpwYXNz")
                .body(Body::empty())
                .expect("request");
            let (status, _, body) = w.send(basic).await;
            assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"), "basic {uri}: {body}");
        }
        // An unsigned token ("alg": "none") and an HS256 header over a tampered payload.
        let claims =
            json!({"sub": "u", "account": w.a.account, "role": "admin", "exp": now_s() + 3600, "iat": now_s()});
        let unsigned =
            format!("{}.{}.", b64url(br#"{"alg":"none","typ":"JWT"}"#), b64url(claims.to_string().as_bytes()));
        let genuine = token(&w.a.account, Role::Viewer);
        let mut parts = genuine.split('.');
        let (head, _, signature) = (parts.next().expect("header"), parts.next(), parts.next().expect("signature"));
        assert_eq!(b64url(br#"{"typ":"JWT","alg":"HS256"}"#), head, "the hand-made encoding matches the library's");
        let tampered = format!("{head}.{}.{signature}", b64url(claims.to_string().as_bytes()));
        for (what, t) in [("alg none", &unsigned), ("tampered", &tampered)] {
            let (status, _, body) = w.call("GET", "/v1/billing/reconcile", t, None).await;
            assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"), "{what}: {body}");
        }
        let (status, _, body) = w.call("GET", "/v1/account", &genuine, None).await;
        assert_eq!(status, StatusCode::OK, "the untampered token works: {body}");
        // The system role is privileged like admin.
        let system = token(&w.platform, Role::System);
        let (status, _, body) =
            w.call_with("GET", "/v1/billing/reconcile", &system, &[("x-account-id", w.a.account.as_str())], None).await;
        assert_eq!((status, body["balanced"].as_bool()), (StatusCode::OK, Some(true)), "{body}");

        // Unauthenticated writes are refused before anything else, idempotency key or not.
        let grant = json!({"amount": 5, "kind": "grant", "reason": "x"});
        let (status, _, body) =
            w.call_with("POST", "/v1/billing/credits", "", &[("idempotency-key", "anon")], Some(grant.clone())).await;
        assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"), "{body}");
        let (status, _, body) =
            w.call_with("POST", &format!("/v1/sites/{site}/runs"), &forged, &[("idempotency-key", "anon")], None).await;
        assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"), "{body}");
        let (status, _, body) =
            w.call("POST", "/v1/sites", &expired, Some(json!({"name": "x", "domain": "x.example"}))).await;
        assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"), "{body}");
        // No detail of a refused token or of the secret is echoed.
        let (_, _, body) = w.call("GET", "/v1/account", &forged, None).await;
        let text = body.to_string();
        assert!(!text.contains(&forged) && !text.contains(std::str::from_utf8(SECRET).expect("utf8")), "{text}");
    });
}

#[test]
fn odd_paths_queries_headers_and_bodies_are_client_errors_never_server_errors() {
    block_on(async {
        let w = world().await;
        let site = &w.a.site;
        let long = "x".repeat(3000);
        let paths = [
            "/v1/sites/%FF".to_owned(),
            "/v1/sites/%00".to_owned(),
            format!("/v1/sites/{long}"),
            "/v1/runs/%FF/logs".to_owned(),
            format!("/v1/runs/{long}"),
            format!("/v1/sites/{site}/keywords/%FF"),
            format!("/v1/sites/{site}/keywords/{long}"),
            format!("/v1/sites/{site}/images/a%2Fb"),
            format!("/v1/sites/{site}/content/%23"),
            "/v1/sites?cursor=%FF".to_owned(),
            "/v1/sites?limit=99999999999".to_owned(),
            "/v1/sites?limit=-1".to_owned(),
            "/v1/sites?limit=1&limit=2".to_owned(),
            format!("/v1/sites?cursor={long}"),
            "/v1/sites?cursor=%7B%7D".to_owned(),
            "/v1/sites?cursor=%7B%22pk%22%3A1%7D".to_owned(),
            format!("/v1/sites/{site}/keywords?cursor=%7B%22pk%22%3A%22x%22%2C%22sk%22%3A%22y%22%7D"),
            format!("/v1/runs/{}/logs?cursor=99999999999999999999999", w.a.run),
            "/v1/billing/usage?from=2026-01-01T00:00:00%2B99:00".to_owned(),
            "/v1/billing/usage?stage=256".to_owned(),
            format!("/v1/billing/usage?run_id={long}"),
        ];
        for uri in paths {
            let (status, _, body) = w.call("GET", &uri, &w.owner_a, None).await;
            assert!(
                status.is_client_error() || status == StatusCode::OK,
                "GET {}: {status} {body}",
                &uri[..uri.len().min(120)]
            );
        }
        let (status, _, body) =
            w.call("GET", &format!("/v1/runs/{}/logs?cursor=99999999999999999999", w.a.run), &w.owner_a, None).await;
        assert!(status.is_client_error() || body["items"] == json!([]), "a cursor past the end: {status} {body}");

        let target = w.fresh_site(&w.owner_a, "odd.acme.example").await;
        let uri = format!("/v1/sites/{target}/keywords");
        let bodies: Vec<(&str, Vec<u8>)> = vec![
            ("text/csv", Vec::new()),
            ("text/csv", b"Keyword\n".to_vec()),
            ("text/csv", vec![0xFF, 0xFE, b'\n', 0xC3, b'(']),
            ("text/csv", format!("Keyword\n{}\n", "k".repeat(5000)).into_bytes()),
            ("text/csv", b"Keyword,Volume\nshoes,lots\n".to_vec()),
            ("application/json", Vec::new()),
            ("application/json", b"null".to_vec()),
            ("application/json", br#"{"keywords": null}"#.to_vec()),
            ("application/json", format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes()),
            ("application/json", br#"{"keywords": [{"keyword": "tab\there"}]}"#.to_vec()),
            ("application/json", format!(r#"{{"keywords": [{{"keyword": "{}"}}]}}"#, "k".repeat(201)).into_bytes()),
            ("application/json", br#"{"keywords": [{"keyword": "x", "cpc": -1}]}"#.to_vec()),
            ("application/json", br#"{"keywords": [{"keyword": "x", "volume": 1e400}]}"#.to_vec()),
            ("application/json", br#"{"keywords": [{"keyword": "x", "volume": 99999999999999999999}]}"#.to_vec()),
            ("application/json", vec![b'{', 0xFF, b'}']),
            ("multipart/form-data; boundary=x", b"--x--".to_vec()),
        ];
        for (media, bytes) in bodies {
            let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned();
            let (status, _, body) = w.send(raw("POST", &uri, &w.editor_a, media, bytes)).await;
            assert!(status.is_client_error(), "{media} {shown:?}: {status} {body}");
        }
        let (_, _, stored) = w.call("GET", &format!("{uri}?limit=100"), &w.owner_a, None).await;
        assert_eq!(stored["items"], json!([]), "no refused import stored anything");
        for (name, value) in
            [("x-account-id", &b"\xFF\xFE"[..]), ("x-account-id", b""), ("authorization", b"Bearer \xFF")]
        {
            let mut request = Request::builder().uri("/v1/sites");
            if name != "authorization" {
                request = request.header("authorization", bearer(&w.owner_a));
            }
            let request = request
                .header(name, axum::http::HeaderValue::from_bytes(value).expect("header value"))
                .body(Body::empty())
                .expect("request");
            let (status, _, body) = w.send(request).await;
            assert!(status.is_client_error(), "{name}: {status} {body}");
        }
        let (status, _, body) =
            w.call("PATCH", &format!("/v1/sites/{site}"), &w.owner_a, Some(json!({"name": "x".repeat(201)}))).await;
        assert_eq!((status, fields(&body)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["name".to_owned()]), "{body}");
        let (status, _, body) =
            w.call("PATCH", &format!("/v1/sites/{site}"), &w.owner_a, Some(json!({"name": "bell\u{7}"}))).await;
        assert_eq!((status, fields(&body)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["name".to_owned()]), "{body}");
        let (_, _, unchanged) = w.call("GET", &format!("/v1/sites/{site}"), &w.owner_a, None).await;
        assert_eq!(unchanged["name"], json!("Blog"));
    });
}

#[test]
fn huge_amounts_are_refused_not_overflowed() {
    block_on(async {
        let w = world().await;
        let max = i64::MAX;
        let (status, _, body) =
            w.call("POST", "/v1/accounts", &w.admin, Some(json!({"name": "Whale", "credits": max}))).await;
        assert_eq!((status, fields(&body)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["credits".to_owned()]), "{body}");
        let (account, owner) = w.fresh_account("Whale", 1_000_000_000).await;
        let acting = [("x-account-id", account.as_str())];
        for amount in [max, max / 2 + 1, 1_000_000_001] {
            let (status, _, body) = w
                .call_with(
                    "POST",
                    "/v1/billing/credits",
                    &w.admin,
                    &acting,
                    Some(json!({"amount": amount, "kind": "grant", "reason": "whale"})),
                )
                .await;
            assert_eq!(
                (status, fields(&body)),
                (StatusCode::UNPROCESSABLE_ENTITY, vec!["amount".to_owned()]),
                "{amount}: {body}"
            );
        }
        let (status, _, body) = w
            .call_with(
                "POST",
                "/v1/billing/credits",
                &w.admin,
                &acting,
                Some(json!({"amount": 1_000_000_000, "kind": "grant", "reason": "whale"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "the largest grant: {body}");
        let (_, _, balance) = w.call("GET", "/v1/billing/balance", &owner, None).await;
        assert_eq!(balance["credits"], json!(2_000_000_000i64), "{balance}");

        // A price so high that a run's estimate would overflow.
        for (field, value) in [("credits_per_unit", max), ("min_credits", max), ("credits_per_unit", 1_000_001)] {
            let mut price = json!({"unit": "per_request", "credits_per_unit": 10, "min_credits": 1});
            price[field] = json!(value);
            let (status, _, body) = w.call("PUT", "/v1/billing/costs/clustering", &w.admin, Some(price)).await;
            assert_eq!(
                (status, fields(&body)),
                (StatusCode::UNPROCESSABLE_ENTITY, vec![field.to_owned()]),
                "{field}={value}: {body}"
            );
        }
        let (_, _, table) = w.call("GET", "/v1/billing/costs", &w.viewer_a, None).await;
        let clustering = table
            .as_array()
            .expect("list")
            .iter()
            .find(|c| c["operation"] == json!("clustering"))
            .expect("clustering")
            .clone();
        assert_eq!(clustering["credits_per_unit"], json!(10), "refused prices changed nothing: {clustering}");
    });
}

#[test]
fn a_paused_run_stops_at_a_batch_boundary_and_resumes() {
    block_on(async {
        let w = world().await;
        let (_, owner) = w.fresh_account("Pauser", 1_000_000).await;
        let site = w.fresh_site(&owner, "pause.example").await;
        w.import_csv(&owner, &site, 30).await;
        // Batches of one: many boundaries to pause at before the images stage.
        let mut config = config_body(json!([1, 1, 1, 1, 1, 1]));
        config["ideas_per_cluster"] = json!(1);
        config["images_per_article"] = json!(0);
        let (status, _, _) = w.call("PUT", &format!("/v1/sites/{site}/automation"), &owner, Some(config)).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, run) = w.call("POST", &format!("/v1/sites/{site}/runs"), &owner, None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{run}");
        let id = run["id"].as_str().expect("run id").to_owned();
        let (status, _, _) = w.call("POST", &format!("/v1/runs/{id}/pause"), &owner, None).await;
        assert_eq!(status, StatusCode::OK);
        let mut paused = Value::Null;
        for _ in 0..200 {
            let (_, _, now) = w.call("GET", &format!("/v1/runs/{id}"), &owner, None).await;
            if now["status"] == json!("paused") {
                paused = now;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert_eq!(paused["status"], json!("paused"), "the run paused at a batch boundary");
        let stage = paused["current_stage"].clone();
        let (status, _, body) = w.call("POST", &format!("/v1/runs/{id}/pause"), &owner, None).await;
        assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "invalid_state"), "pausing a paused run: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (_, _, still) = w.call("GET", &format!("/v1/runs/{id}"), &owner, None).await;
        assert_eq!(
            (still["status"].clone(), still["current_stage"].clone()),
            (json!("paused"), stage),
            "a paused run does no work"
        );
        let (status, _, resumed) = w.call("POST", &format!("/v1/runs/{id}/resume"), &owner, None).await;
        assert_eq!(status, StatusCode::OK, "{resumed}");
        assert_eq!(
            (resumed["status"].as_str(), resumed["pause_requested"].as_bool()),
            (Some("running"), Some(false)),
            "{resumed}"
        );
        w.drive(&id).await;
        let (_, _, done) = w.call("GET", &format!("/v1/runs/{id}"), &owner, None).await;
        assert_eq!(done["status"], json!("completed"), "a resumed run finishes: {done}");
    });
}

#[test]
fn concurrent_starts_make_one_run() {
    block_on(async {
        let w = world().await;
        let (_, owner) = w.fresh_account("Racer", 1_000_000).await;
        let site = w.fresh_site(&owner, "race.example").await;
        w.import_csv(&owner, &site, 20).await;
        let uri = format!("/v1/sites/{site}/runs");
        let answers = futures::future::join_all((0..4).map(|_| w.call("POST", &uri, &owner, None))).await;
        let started: Vec<&Value> =
            answers.iter().filter(|(s, _, _)| *s == StatusCode::ACCEPTED).map(|(_, _, b)| b).collect();
        assert_eq!(started.len(), 1, "exactly one start wins: {answers:?}");
        for (status, _, body) in answers.iter().filter(|(s, _, _)| *s != StatusCode::ACCEPTED) {
            assert_eq!((*status, code(body)), (StatusCode::CONFLICT, "run_already_active"), "{body}");
        }
        let id = started[0]["id"].as_str().expect("run id").to_owned();
        let (status, _, _) = w.call("POST", &format!("/v1/runs/{id}/cancel"), &owner, None).await;
        assert_eq!(status, StatusCode::OK);
        w.drive(&id).await;
        let (_, _, runs) = w.call("GET", &uri, &owner, None).await;
        assert!(runs["items"].as_array().expect("items").iter().all(|r| r["status"] != json!("running")), "{runs}");
    });
}

/// Idempotency keys expire after a day (checked on read, not left to the TTL).
#[tokio::test]
async fn a_key_is_remembered_for_a_day_then_free() {
    use std::sync::Arc;
    use tower::ServiceExt;

    use igny8_ai::OfflineProvider;
    use igny8_api::idempotency::{IDEMPOTENCY_KEY, KEEP_SECONDS, REPLAYED};
    use igny8_api::{router, ApiState, AuthMode};
    use igny8_core::ports::{ManualClock, UuidIds};
    use igny8_wiring::embedded::{ExecutorOptions, LocalRuntime};

    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::at(1_795_687_200_000));
    let rt = LocalRuntime::open(
        dir.path(),
        Arc::new(OfflineProvider::new()),
        clock.clone(),
        Arc::new(UuidIds),
        ExecutorOptions::default(),
    )
    .expect("runtime");
    let (account, _) = rt.services.account_service.create_account("A", 0).await.expect("account");
    let app =
        router(ApiState::new(rt.services.clone(), rt.automation.clone(), AuthMode::Hs256 { secret: b"k".to_vec() }));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs();
    let token = mint_token(b"k", "admin", &account.id, Role::Admin, now, 600).expect("token");
    let grant = |body: &'static str| {
        axum::http::Request::post("/v1/billing/credits")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header(IDEMPOTENCY_KEY, "k-1")
            .body(Body::from(body))
            .expect("request")
    };
    let first = app.clone().oneshot(grant(r#"{"amount":5,"kind":"grant","reason":"r"}"#)).await.expect("call");
    assert_eq!(first.status(), StatusCode::CREATED);
    let other = app.clone().oneshot(grant(r#"{"amount":6,"kind":"grant","reason":"r"}"#)).await.expect("call");
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    clock.advance_ms(KEEP_SECONDS * 1000);
    let later = app.clone().oneshot(grant(r#"{"amount":5,"kind":"grant","reason":"r"}"#)).await.expect("call");
    assert_eq!(later.status(), StatusCode::CREATED);
    assert!(later.headers().get(REPLAYED).is_none(), "an expired key is served afresh");
    // The ledger remembers its own key for good: the grant is still made once.
    assert_eq!(rt.services.credits.balance(&account.id).await.expect("balance").credits, 5);
}
