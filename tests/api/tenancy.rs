//! The tenant matrix of the HTTP API, driven by one table of every operation (kept equal
//! to the OpenAPI document's, so a new route without a row fails here):
//!
//! - a caller of account B gets 404 for every id of account A, on reads and mutations,
//!   and A's records are untouched afterwards;
//! - no response to B (on any route, with B's own ids too) mentions A's account or any
//!   of A's record ids;
//! - a viewer of A gets 403 on every mutation and 200 on every read; an editor gets 403
//!   on the owners' and administrators' operations;
//! - a non-privileged caller naming another account in `X-Account-Id` gets 403;
//! - an admin naming B in `X-Account-Id` reads B's data (and still gets 404 for A's ids).

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use common::{block_on, world, Ids, World};
use serde_json::{json, Value};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Any role of the account.
    Read,
    /// Changes records or runs: editors and owners of the account.
    Write,
    /// Changes the account's sites or settings: owners only.
    Manage,
    /// Platform administrators only.
    Privileged,
    /// No bearer token at all: the caller proves itself otherwise (Stripe's signature).
    Signed,
}

/// One operation of the API.
struct Route {
    method: &'static str,
    /// The OpenAPI path template.
    path: &'static str,
    access: Access,
    /// A valid body for the operation, so that refusals are about who calls, not what.
    body: Option<fn() -> Value>,
}

const fn row(method: &'static str, path: &'static str, access: Access, body: Option<fn() -> Value>) -> Route {
    Route { method, path, access, body }
}

fn site_body() -> Value {
    json!({"name": "Matrix", "domain": "matrix.example"})
}
fn patch_body() -> Value {
    json!({"name": "Hijacked"})
}
fn account_body() -> Value {
    json!({"name": "Matrix"})
}
fn config_body() -> Value {
    json!({
        "enabled": false, "batch_sizes": [1, 1, 1, 1, 1, 1], "delay_between_batches_seconds": 0,
        "min_keywords": 1000, "credit_buffer": 1.0, "ideas_per_cluster": 1, "images_per_article": 0,
        "lease_seconds": 60, "schedule": null,
    })
}
fn keywords_body() -> Value {
    json!({"keywords": [{"keyword": "hijacked keyword"}]})
}
fn cost_body() -> Value {
    json!({"unit": "per_request", "credits_per_unit": 0, "min_credits": 1})
}
fn credits_body() -> Value {
    json!({"amount": 1_000_000, "kind": "grant", "reason": "matrix"})
}
fn package_body() -> Value {
    json!({"name": "Matrix", "credits": 10, "price": 100, "currency": "EUR"})
}
fn plan_body() -> Value {
    json!({"name": "Matrix", "monthly_price": 100, "currency": "EUR", "included_monthly_credits": 10})
}
fn deactivate_body() -> Value {
    json!({"active": true})
}
fn invoice_body() -> Value {
    json!({"currency": "EUR", "lines": [{"description": "Matrix", "quantity": 1, "unit_amount": 100}]})
}
fn lines_body() -> Value {
    json!({"lines": [{"description": "Hijacked", "quantity": 1, "unit_amount": 1}]})
}
fn payment_body() -> Value {
    json!({"amount": 1, "reference": "matrix"})
}
fn refund_body() -> Value {
    json!({"reason": "matrix"})
}
fn profile_body() -> Value {
    json!({"name": "Matrix"})
}
fn plan_choice_body() -> Value {
    json!({"plan_id": common::plan_id()})
}
fn integration_body() -> Value {
    json!({"platform": "wordpress", "base_url": "https://matrix.example",
        "credentials": {"username": "matrix", "app_password": "hijack hijack hijack"}})
}
fn integration_patch_body() -> Value {
    json!({"active": false})
}
fn publish_body() -> Value {
    json!({"status": "draft", "include_unapproved": true})
}
fn link_apply_body() -> Value {
    json!({})
}
fn webhook_body() -> Value {
    json!({"id": "evt_matrix", "type": "customer.created", "data": {"object": {}}})
}

use Access::{Manage, Privileged, Read, Signed, Write};

/// Every operation. Adding a route means adding a row here.
const ROUTES: &[Route] = &[
    row("GET", "/v1/account", Read, None),
    row("POST", "/v1/accounts", Privileged, Some(account_body)),
    row("POST", "/v1/sites", Manage, Some(site_body)),
    row("GET", "/v1/sites", Read, None),
    row("GET", "/v1/sites/{site_id}", Read, None),
    row("PATCH", "/v1/sites/{site_id}", Manage, Some(patch_body)),
    row("POST", "/v1/sites/{site_id}/runs", Write, None),
    row("GET", "/v1/sites/{site_id}/runs", Read, None),
    row("GET", "/v1/runs/{run_id}", Read, None),
    row("POST", "/v1/runs/{run_id}/pause", Write, None),
    row("POST", "/v1/runs/{run_id}/resume", Write, None),
    row("POST", "/v1/runs/{run_id}/cancel", Write, None),
    row("GET", "/v1/runs/{run_id}/logs", Read, None),
    row("GET", "/v1/sites/{site_id}/automation", Read, None),
    row("PUT", "/v1/sites/{site_id}/automation", Manage, Some(config_body)),
    row("GET", "/v1/sites/{site_id}/automation/estimate", Read, None),
    row("POST", "/v1/sites/{site_id}/keywords", Write, Some(keywords_body)),
    row("GET", "/v1/sites/{site_id}/keywords", Read, None),
    row("GET", "/v1/sites/{site_id}/keywords/{id}", Read, None),
    row("POST", "/v1/sites/{site_id}/keyword-imports", Write, None),
    row("GET", "/v1/sites/{site_id}/keyword-imports/{id}", Read, None),
    row("POST", "/v1/sites/{site_id}/keyword-imports/{id}/run", Write, None),
    row("DELETE", "/v1/sites/{site_id}/keywords/{id}", Write, None),
    row("GET", "/v1/sites/{site_id}/clusters", Read, None),
    row("GET", "/v1/sites/{site_id}/clusters/{id}", Read, None),
    row("DELETE", "/v1/sites/{site_id}/clusters/{id}", Write, None),
    row("GET", "/v1/sites/{site_id}/ideas", Read, None),
    row("GET", "/v1/sites/{site_id}/ideas/{id}", Read, None),
    row("DELETE", "/v1/sites/{site_id}/ideas/{id}", Write, None),
    row("GET", "/v1/sites/{site_id}/tasks", Read, None),
    row("GET", "/v1/sites/{site_id}/tasks/{id}", Read, None),
    row("DELETE", "/v1/sites/{site_id}/tasks/{id}", Write, None),
    row("GET", "/v1/sites/{site_id}/content", Read, None),
    row("GET", "/v1/sites/{site_id}/content/{id}", Read, None),
    row("DELETE", "/v1/sites/{site_id}/content/{id}", Write, None),
    row("GET", "/v1/sites/{site_id}/images", Read, None),
    row("GET", "/v1/sites/{site_id}/images/{id}", Read, None),
    row("DELETE", "/v1/sites/{site_id}/images/{id}", Write, None),
    row("POST", "/v1/sites/{site_id}/integrations", Manage, Some(integration_body)),
    row("GET", "/v1/sites/{site_id}/integrations", Read, None),
    row("GET", "/v1/sites/{site_id}/integrations/{id}", Read, None),
    row("PATCH", "/v1/sites/{site_id}/integrations/{id}", Manage, Some(integration_patch_body)),
    row("DELETE", "/v1/sites/{site_id}/integrations/{id}", Manage, None),
    row("POST", "/v1/sites/{site_id}/integrations/{id}/test", Write, None),
    row("POST", "/v1/sites/{site_id}/integrations/{id}/sync", Write, None),
    row("GET", "/v1/sites/{site_id}/integrations/{id}/health", Read, None),
    row("POST", "/v1/sites/{site_id}/content/approve", Write, None),
    row("POST", "/v1/sites/{site_id}/content/{id}/approve", Write, None),
    row("POST", "/v1/sites/{site_id}/content/{id}/unapprove", Write, None),
    row("GET", "/v1/sites/{site_id}/content/{id}/publications", Read, None),
    row("POST", "/v1/sites/{site_id}/publish", Write, Some(publish_body)),
    row("GET", "/v1/sites/{site_id}/content/{id}/analysis", Read, None),
    row("GET", "/v1/sites/{site_id}/content/{id}/validation", Read, None),
    row("GET", "/v1/sites/{site_id}/content/{id}/optimize/estimate", Read, None),
    row("POST", "/v1/sites/{site_id}/content/{id}/optimize", Write, None),
    row("GET", "/v1/sites/{site_id}/content/{id}/optimizations", Read, None),
    row("GET", "/v1/sites/{site_id}/links/suggestions", Read, None),
    row("POST", "/v1/sites/{site_id}/links/apply", Write, Some(link_apply_body)),
    row("GET", "/v1/billing/balance", Read, None),
    row("GET", "/v1/billing/transactions", Read, None),
    row("GET", "/v1/billing/usage", Read, None),
    row("GET", "/v1/billing/costs", Read, None),
    row("PUT", "/v1/billing/costs/{operation}", Privileged, Some(cost_body)),
    row("POST", "/v1/billing/credits", Privileged, Some(credits_body)),
    row("GET", "/v1/billing/reconcile", Privileged, None),
    row("GET", "/v1/billing/packages", Read, None),
    row("POST", "/v1/billing/packages", Privileged, Some(package_body)),
    row("GET", "/v1/billing/packages/{id}", Read, None),
    row("PATCH", "/v1/billing/packages/{id}", Privileged, Some(deactivate_body)),
    row("POST", "/v1/billing/packages/{id}/purchase", Manage, None),
    row("GET", "/v1/billing/plans", Read, None),
    row("POST", "/v1/billing/plans", Privileged, Some(plan_body)),
    row("GET", "/v1/billing/plans/{id}", Read, None),
    row("PATCH", "/v1/billing/plans/{id}", Privileged, Some(deactivate_body)),
    row("GET", "/v1/billing/invoices", Read, None),
    row("POST", "/v1/billing/invoices", Privileged, Some(invoice_body)),
    row("GET", "/v1/billing/invoices/{id}", Read, None),
    row("DELETE", "/v1/billing/invoices/{id}", Privileged, None),
    row("GET", "/v1/billing/invoices/{id}/pdf", Read, None),
    row("PUT", "/v1/billing/invoices/{id}/lines", Privileged, Some(lines_body)),
    row("POST", "/v1/billing/invoices/{id}/finalize", Privileged, None),
    row("POST", "/v1/billing/invoices/{id}/void", Privileged, None),
    row("POST", "/v1/billing/invoices/{id}/uncollectible", Privileged, None),
    row("POST", "/v1/billing/invoices/{id}/payments", Privileged, Some(payment_body)),
    row("GET", "/v1/billing/payments", Read, None),
    row("GET", "/v1/billing/payments/{id}", Read, None),
    row("GET", "/v1/billing/payments/{id}/credit-notes", Read, None),
    row("POST", "/v1/billing/payments/{id}/refunds", Privileged, Some(refund_body)),
    row("GET", "/v1/billing/profile", Read, None),
    row("PUT", "/v1/billing/profile", Manage, Some(profile_body)),
    row("GET", "/v1/billing/subscription", Read, None),
    row("POST", "/v1/billing/subscription", Manage, Some(plan_choice_body)),
    row("PATCH", "/v1/billing/subscription", Manage, Some(plan_choice_body)),
    row("POST", "/v1/billing/subscription/cancel", Manage, None),
    row("POST", "/v1/webhooks/stripe", Signed, Some(webhook_body)),
];

impl Route {
    /// Whether the path names a tenant's record (a site, a run, a pipeline record, an
    /// invoice or a payment; packages and plans belong to the catalog, not a tenant).
    fn takes_tenant_id(&self) -> bool {
        self.path.contains("{site_id}")
            || self.path.contains("{run_id}")
            || self.path.contains("/invoices/{id}")
            || self.path.contains("/payments/{id}")
    }

    /// The path with `ids` filled in (a price's operation is not a tenant's).
    fn uri(&self, ids: &Ids) -> String {
        ids.fill(self.path).replace("{operation}", "linking")
    }

    fn body(&self) -> Option<Value> {
        self.body.map(|make| make())
    }

    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Asserts that `body` mentions none of `ids`.
fn assert_no_ids(what: &str, body: &Value, ids: &Ids) {
    let text = body.to_string();
    for id in ids.all() {
        assert!(!text.contains(id), "{what}: the response mentions {id} of another account: {text}");
    }
}

async fn call_as(w: &World, route: &Route, uri: &str, token: &str, acting: Option<&str>) -> (StatusCode, Value) {
    let headers: Vec<(&str, &str)> = acting.map(|a| vec![("x-account-id", a)]).unwrap_or_default();
    let (status, _, body) = w.call_with(route.method, uri, token, &headers, route.body()).await;
    (status, body)
}

#[test]
fn the_table_holds_every_operation_of_the_openapi_document() {
    block_on(async {
        let w = world().await;
        let (status, _, doc) = w.call("GET", "/openapi.json", "", None).await;
        assert_eq!(status, StatusCode::OK);
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
                if item.get(method).is_some() {
                    documented.insert(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        let table: BTreeSet<String> = ROUTES.iter().map(Route::name).collect();
        assert_eq!(table.len(), ROUTES.len(), "no row twice");
        let missing: Vec<_> = documented.difference(&table).collect();
        let extra: Vec<_> = table.difference(&documented).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "routes without a row: {missing:?}; rows without a route: {extra:?}"
        );
    });
}

#[test]
fn another_accounts_caller_gets_404_for_every_id_and_never_sees_its_data() {
    block_on(async {
        let w = world().await;
        let (a, b) = (&w.a, &w.b);
        // B's owner on A's ids: 404, reads and mutations alike.
        for route in ROUTES.iter().filter(|r| r.takes_tenant_id()) {
            let uri = route.uri(a);
            let (status, body) = call_as(w, route, &uri, &w.owner_b, None).await;
            // Administrators' operations refuse B's owner before looking anything up.
            let expected = if route.access == Privileged {
                (StatusCode::FORBIDDEN, Some("forbidden"))
            } else {
                (StatusCode::NOT_FOUND, Some("not_found"))
            };
            assert_eq!((status, body["code"].as_str()), expected, "B {} {uri}: {body}", route.method);
            assert_no_ids(&format!("B {} {uri}", route.method), &body, a);
            // A's admin acting for B is B here too.
            let (status, body) = call_as(w, route, &uri, &w.admin, Some(&b.account)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "admin for B {} {uri}: {body}", route.method);
            assert_no_ids(&format!("admin for B {} {uri}", route.method), &body, a);
        }
        // B on its own data and on every route without ids: never a word about A.
        for route in ROUTES.iter().filter(|r| r.access == Read) {
            let uri = route.uri(b);
            let (status, body) = call_as(w, route, &uri, &w.owner_b, None).await;
            assert_eq!(status, StatusCode::OK, "B reads its own {uri}: {body}");
            assert_no_ids(&format!("B GET {uri}"), &body, a);
            let text = body.to_string();
            assert!(
                !text.contains("Acme") && !text.contains("blog.acme.example"),
                "B GET {uri} shows A's names: {text}"
            );
        }
        for route in ROUTES.iter().filter(|r| !matches!(r.access, Read | Signed) && !r.takes_tenant_id()) {
            let uri = route.uri(b);
            let (status, body) = call_as(w, route, &uri, &w.owner_b, None).await;
            // A conflict is B's own state speaking (B is already subscribed).
            assert!(
                status.is_success() || status == StatusCode::FORBIDDEN || status == StatusCode::CONFLICT,
                "B {} {uri}: {status} {body}",
                route.method
            );
            assert_no_ids(&format!("B {} {uri}", route.method), &body, a);
        }
        // A's records are all still there and unchanged.
        for route in ROUTES.iter().filter(|r| r.access == Read && r.takes_tenant_id()) {
            let uri = route.uri(a);
            let (status, body) = call_as(w, route, &uri, &w.viewer_a, None).await;
            assert_eq!(status, StatusCode::OK, "A still reads {uri}: {body}");
            assert_no_ids(&format!("A GET {uri}"), &body, b);
        }
        let (_, _, site) = w.call("GET", &format!("/v1/sites/{}", a.site), &w.viewer_a, None).await;
        assert_eq!(site["name"], json!("Blog"), "B's patch changed nothing: {site}");
        let (_, _, config) = w.call("GET", &format!("/v1/sites/{}/automation", a.site), &w.viewer_a, None).await;
        assert_ne!(config["min_keywords"], json!(1000), "B's settings changed nothing: {config}");
        let (_, _, run) = w.call("GET", &format!("/v1/runs/{}", a.run), &w.viewer_a, None).await;
        assert_eq!(
            (run["status"].as_str(), run["cancel_requested"].as_bool()),
            (Some("completed"), Some(false)),
            "{run}"
        );
        let (_, _, runs) = w.call("GET", &format!("/v1/sites/{}/runs", a.site), &w.viewer_a, None).await;
        assert_eq!(runs["items"].as_array().map(Vec::len), Some(1), "B started nothing on A's site: {runs}");
        let (_, _, keywords) =
            w.call("GET", &format!("/v1/sites/{}/keywords?limit=100", a.site), &w.viewer_a, None).await;
        assert!(
            keywords["items"].as_array().expect("items").iter().all(|k| k["keyword"] != json!("hijacked keyword")),
            "B imported nothing into A"
        );
        let (_, _, integrations) =
            w.call("GET", &format!("/v1/sites/{}/integrations", a.site), &w.viewer_a, None).await;
        let items = integrations["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "B added no integration to A's site: {integrations}");
        assert_eq!(items[0]["active"], json!(true), "B's patch changed nothing: {integrations}");
        let (_, _, article) =
            w.call("GET", &format!("/v1/sites/{}/content/{}", a.site, a.content), &w.viewer_a, None).await;
        assert_eq!(article["review"], json!("draft"), "B approved nothing of A's: {article}");
    });
}

#[test]
fn a_viewer_reads_everything_and_changes_nothing() {
    block_on(async {
        let w = world().await;
        for route in ROUTES {
            let uri = route.uri(&w.a);
            let (status, body) = call_as(w, route, &uri, &w.viewer_a, None).await;
            match route.access {
                Read => assert_eq!(status, StatusCode::OK, "viewer {} {uri}: {body}", route.method),
                Write | Manage | Privileged => {
                    assert_eq!(
                        (status, body["code"].as_str()),
                        (StatusCode::FORBIDDEN, Some("forbidden")),
                        "viewer {} {uri}: {body}",
                        route.method
                    )
                }
                // No token is read at all; without Stripe's signature it is refused
                // (or, with no secret configured, Stripe is told to retry later).
                Signed => assert!(
                    status == StatusCode::BAD_REQUEST || status == StatusCode::SERVICE_UNAVAILABLE,
                    "viewer {} {uri}: {status} {body}",
                    route.method
                ),
            }
            assert_no_ids(&format!("viewer {} {uri}", route.method), &body, &w.b);
        }
        let (_, _, run) = w.call("GET", &format!("/v1/runs/{}", w.a.run), &w.viewer_a, None).await;
        assert_eq!(run["cancel_requested"], json!(false));
        let (_, _, sites) = w.call("GET", "/v1/sites?limit=100", &w.viewer_a, None).await;
        assert!(
            sites["items"].as_array().expect("items").iter().all(|s| s["name"] != json!("Matrix")),
            "the viewer made no site"
        );
    });
}

#[test]
fn only_privileged_callers_act_for_another_account() {
    block_on(async {
        let w = world().await;
        for token in [&w.owner_a, &w.editor_a, &w.viewer_a] {
            for route in ROUTES.iter().filter(|r| r.access != Signed) {
                let uri = route.uri(&w.b);
                let (status, body) = call_as(w, route, &uri, token, Some(&w.b.account)).await;
                assert_eq!(
                    (status, body["code"].as_str()),
                    (StatusCode::FORBIDDEN, Some("forbidden")),
                    "A for B {} {uri}: {body}",
                    route.method
                );
                assert_no_ids(&format!("A for B {} {uri}", route.method), &body, &w.b);
            }
        }
        // Naming one's own account is allowed; a malformed one is not.
        for route in ROUTES.iter().filter(|r| r.access == Read) {
            let uri = route.uri(&w.a);
            let (status, body) = call_as(w, route, &uri, &w.viewer_a, Some(&w.a.account)).await;
            assert_eq!(status, StatusCode::OK, "A for A {uri}: {body}");
        }
        let (status, _, body) =
            w.call_with("GET", "/v1/sites", &w.owner_a, &[("x-account-id", "somebody")], None).await;
        assert!(status.is_client_error() && status != StatusCode::OK, "{body}");
        let (status, _, body) = w.call_with("GET", "/v1/sites", &w.admin, &[("x-account-id", "somebody")], None).await;
        assert!(status.is_client_error(), "{body}");

        // An admin acting for B reads B's data, and only B's.
        for route in ROUTES.iter().filter(|r| r.access == Read || (r.access == Privileged && r.method == "GET")) {
            let uri = route.uri(&w.b);
            let (status, body) = call_as(w, route, &uri, &w.admin, Some(&w.b.account)).await;
            assert_eq!(status, StatusCode::OK, "admin for B {uri}: {body}");
            assert_no_ids(&format!("admin for B {uri}"), &body, &w.a);
        }
        let (_, _, account) =
            w.call_with("GET", "/v1/account", &w.admin, &[("x-account-id", &w.b.account)], None).await;
        assert_eq!(account["account"]["id"], json!(w.b.account));
        let (_, _, sites) = w.call_with("GET", "/v1/sites", &w.admin, &[("x-account-id", &w.b.account)], None).await;
        assert!(sites["items"].as_array().expect("items").iter().any(|s| s["id"] == json!(w.b.site)), "{sites}");
        let (_, _, run) = w
            .call_with("GET", &format!("/v1/runs/{}", w.b.run), &w.admin, &[("x-account-id", &w.b.account)], None)
            .await;
        assert_eq!(
            (run["id"].as_str(), run["account_id"].as_str()),
            (Some(w.b.run.as_str()), Some(w.b.account.as_str()))
        );
        let (_, _, rec) =
            w.call_with("GET", "/v1/billing/reconcile", &w.admin, &[("x-account-id", &w.b.account)], None).await;
        assert_eq!(
            (rec["account_id"].as_str(), rec["balanced"].as_bool()),
            (Some(w.b.account.as_str()), Some(true)),
            "{rec}"
        );
        // Without the header an admin is in its own account: tenants' ids are 404 there.
        for route in ROUTES.iter().filter(|r| r.takes_tenant_id() && r.access == Read) {
            let uri = route.uri(&w.b);
            let (status, body) = call_as(w, route, &uri, &w.admin, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "admin in its own account {uri}: {body}");
        }
    });
}

#[test]
fn another_accounts_cursors_and_filters_show_nothing_of_it() {
    block_on(async {
        let w = world().await;
        let mut tried = 0;
        for route in ROUTES.iter().filter(|r| r.access == Read) {
            let (status, body) = call_as(w, route, &format!("{}?limit=1", route.uri(&w.a)), &w.viewer_a, None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let Some(cursor) = body["next_cursor"].as_str() else { continue };
            tried += 1;
            let encoded: String = cursor.bytes().map(|b| format!("%{b:02X}")).collect();
            let uri = format!("{}?limit=100&cursor={encoded}", route.uri(&w.b));
            let (status, body) = call_as(w, route, &uri, &w.owner_b, None).await;
            assert!(
                status == StatusCode::OK
                    || status == StatusCode::BAD_REQUEST
                    || status == StatusCode::UNPROCESSABLE_ENTITY,
                "B with A's cursor {uri}: {status} {body}"
            );
            assert_no_ids(&format!("B with A's cursor on {}", route.path), &body, &w.a);
        }
        assert!(tried >= 8, "the lists of A were long enough to page ({tried})");
        let queries = [
            format!("run_id={}", w.a.run),
            format!("run_id={}&limit=1", w.a.run),
            "operation=clustering".to_owned(),
            "stage=1&limit=1".to_owned(),
        ];
        for query in queries {
            let (status, _, body) = w.call("GET", &format!("/v1/billing/usage?{query}"), &w.owner_b, None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_no_ids(&format!("B usage?{query}"), &body, &w.a);
            assert!(
                body["items"].as_array().expect("items").iter().all(|u| u["account_id"] == json!(w.b.account)),
                "{body}"
            );
        }
    });
}

#[test]
fn an_editor_is_refused_the_owners_and_administrators_operations() {
    block_on(async {
        let w = world().await;
        for route in ROUTES.iter().filter(|r| matches!(r.access, Manage | Privileged)) {
            let uri = route.uri(&w.a);
            let (status, body) = call_as(w, route, &uri, &w.editor_a, None).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::FORBIDDEN, Some("forbidden")),
                "editor {} {uri}: {body}",
                route.method
            );
        }
        let (_, _, site) = w.call("GET", &format!("/v1/sites/{}", w.a.site), &w.viewer_a, None).await;
        assert_eq!(site["name"], json!("Blog"));
    });
}

#[test]
fn no_page_or_cursor_of_another_accounts_lists_mentions_it() {
    block_on(async {
        let w = world().await;
        let mut lists = 0;
        for route in ROUTES.iter().filter(|r| r.access == Read) {
            for query in ["limit=1", &format!("limit=1&run_id={}", w.b.run), "limit=1&stage=4"] {
                if (query.contains("run_id") || query.contains("stage")) && route.path != "/v1/billing/usage" {
                    continue;
                }
                let base = route.uri(&w.b);
                let mut uri = format!("{base}?{query}");
                for page in 0..30 {
                    let (status, body) = call_as(w, route, &uri, &w.owner_b, None).await;
                    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
                    assert_no_ids(&format!("B page {page} of {uri}"), &body, &w.a);
                    let Some(cursor) = body["next_cursor"].as_str() else { break };
                    if page == 0 {
                        lists += 1;
                    }
                    let encoded: String = cursor.bytes().map(|b| format!("%{b:02X}")).collect();
                    uri = format!("{base}?{query}&cursor={encoded}");
                }
            }
        }
        assert!(lists >= 8, "B's lists were long enough to page ({lists})");
    });
}
