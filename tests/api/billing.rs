//! The billing routes end to end on the embedded family: the catalog, buying a package,
//! invoices (custom, finalize, void, uncollectible, PDF link), manual payments and
//! refunds, the billing profile and the subscription — with their roles, their
//! problems' stable codes and the tenant matrix (a user of account A gets 404 for
//! anything of account B's).

// Tests may panic: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use igny8_ai::OfflineProvider;
use igny8_api::{mint_token, router, ApiState, AuthMode, Role};
use igny8_asl::ExecutorOptions;
use igny8_core::domain::AccountId;
use igny8_core::ports::{SystemClock, UuidIds};
use igny8_wiring::embedded::LocalRuntime;
use serde_json::{json, Value};
use tower::ServiceExt;

const JWT: &[u8] = b"billing-tests-jwt-secret-0123456789";

struct World {
    rt: LocalRuntime,
    router: Router,
    a: AccountId,
    owner_a: String,
    viewer_a: String,
    owner_b: String,
    admin: String,
    _dir: tempfile::TempDir,
}

fn token(account: &AccountId, role: Role) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    mint_token(JWT, &format!("{role:?}"), account, role, now, 3600).expect("token")
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("dir");
    let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
    let rt = LocalRuntime::open(
        dir.path(),
        Arc::new(OfflineProvider::with_year(2026)),
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        options,
    )
    .expect("runtime");
    let state = ApiState::new(rt.services.clone(), rt.automation.clone(), AuthMode::Hs256 { secret: JWT.to_vec() });
    let accounts = &rt.services.account_service;
    let (a, _) = accounts.create_account("Acme", 0).await.expect("a");
    let (b, _) = accounts.create_account("Bravo", 0).await.expect("b");
    let (platform, _) = accounts.create_account("Platform", 0).await.expect("platform");
    World {
        router: router(state),
        owner_a: token(&a.id, Role::Owner),
        viewer_a: token(&a.id, Role::Viewer),
        owner_b: token(&b.id, Role::Owner),
        admin: token(&platform.id, Role::Admin),
        a: a.id,
        rt,
        _dir: dir,
    }
}

impl World {
    /// Sends one request; every error must be a problem document with a stable code.
    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let response = self.router.clone().oneshot(request.body(body).expect("request")).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, usize::MAX).await.expect("body");
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if parts.status.is_client_error() || parts.status.is_server_error() {
            let media = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
            assert_eq!(media, "application/problem+json", "{method} {uri}: {value}");
            assert!(value["code"].as_str().is_some_and(|c| !c.is_empty()), "{method} {uri}: {value}");
        }
        assert!(!parts.status.is_server_error(), "{method} {uri}: {} {value}", parts.status);
        (parts.status, parts.headers, value)
    }

    /// An administrator acting for account A.
    async fn admin_a(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let a = self.a.to_string();
        let mut all = vec![("x-account-id", a.as_str())];
        all.extend_from_slice(headers);
        let (status, _, body) = self.call(method, uri, &self.admin, &all, body).await;
        (status, body)
    }

    async fn package(&self, name: &str, credits: i64, price: i64) -> String {
        let body = json!({"name": name, "credits": credits, "price": price, "currency": "EUR", "tax_rate_bp": 1900});
        let (status, _, package) = self.call("POST", "/v1/billing/packages", &self.admin, &[], Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{package}");
        package["id"].as_str().expect("id").to_owned()
    }
}

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn the_catalog_is_read_by_all_and_written_by_administrators() {
    let w = world().await;
    let body = json!({"name": "Starter", "credits": 1000, "price": 900, "currency": "EUR"});
    let (status, _, problem) = w.call("POST", "/v1/billing/packages", &w.owner_a, &[], Some(body.clone())).await;
    assert_eq!((status, code(&problem)), (StatusCode::FORBIDDEN, "forbidden"));
    let (status, _, bad) = w
        .call(
            "POST",
            "/v1/billing/packages",
            &w.admin,
            &[],
            Some(json!({"name": "X", "credits": 1, "price": 1, "currency": "EUX"})),
        )
        .await;
    assert_eq!((status, code(&bad)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{bad}");
    let (status, _, negative) = w
        .call(
            "POST",
            "/v1/billing/packages",
            &w.admin,
            &[],
            Some(json!({"name": "X", "credits": 1, "price": -1, "currency": "EUR"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{negative}");
    let id = w.package("Starter", 1000, 900).await;
    let (status, _, list) = w.call("GET", "/v1/billing/packages", &w.viewer_a, &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let (status, _, off) =
        w.call("PATCH", &format!("/v1/billing/packages/{id}"), &w.admin, &[], Some(json!({"active": false}))).await;
    assert_eq!((status, off["active"].as_bool()), (StatusCode::OK, Some(false)), "{off}");
    let (status, _, _) = w.call("GET", &format!("/v1/billing/packages/{id}"), &w.owner_a, &[], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an inactive package is not for sale");
    let (_, _, hidden) = w.call("GET", "/v1/billing/packages", &w.owner_a, &[], None).await;
    assert_eq!(hidden.as_array().map(Vec::len), Some(0));
    let (_, _, everything) = w.call("GET", "/v1/billing/packages?include_inactive=true", &w.admin, &[], None).await;
    assert_eq!(everything.as_array().map(Vec::len), Some(1));
    let (status, _, bought) =
        w.call("POST", &format!("/v1/billing/packages/{id}/purchase"), &w.owner_a, &[], None).await;
    assert_eq!((status, code(&bought)), (StatusCode::CONFLICT, "package_inactive"), "{bought}");

    let plan = json!({"name": "Pro", "monthly_price": 2900, "currency": "USD", "included_monthly_credits": 20000});
    let (status, _, _) = w.call("POST", "/v1/billing/plans", &w.owner_a, &[], Some(plan.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, created) = w.call("POST", "/v1/billing/plans", &w.admin, &[], Some(plan)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _, plans) = w.call("GET", "/v1/billing/plans", &w.viewer_a, &[], None).await;
    assert_eq!((status, plans[0]["name"].as_str()), (StatusCode::OK, Some("Pro")));
}

#[tokio::test]
async fn buying_paying_and_refunding_a_package_moves_credits_once() {
    let w = world().await;
    let package = w.package("Growth", 5000, 10_000).await;
    let purchase = format!("/v1/billing/packages/{package}/purchase");
    let (status, _, _) = w.call("POST", &purchase, &w.viewer_a, &[], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "viewers do not buy");
    let key = [("idempotency-key", "buy-growth-1")];
    let (status, _, invoice) = w.call("POST", &purchase, &w.owner_a, &key, None).await;
    assert_eq!(status, StatusCode::CREATED, "{invoice}");
    let (status, headers, again) = w.call("POST", &purchase, &w.owner_a, &key, None).await;
    assert_eq!((status, headers.get("idempotent-replayed").is_some()), (StatusCode::CREATED, true));
    assert_eq!(again["id"], invoice["id"], "a repeat returns the first invoice");
    let id = invoice["id"].as_str().expect("id").to_owned();
    assert_eq!(invoice["status"], "open");
    assert!(invoice["number"].as_str().is_some_and(|n| n.starts_with("INV-") && n.ends_with("-0001")), "{invoice}");
    assert_eq!(
        (invoice["subtotal"].as_i64(), invoice["tax"].as_i64(), invoice["total"].as_i64()),
        (Some(10_000), Some(1900), Some(11_900))
    );

    let (status, _, page) = w.call("GET", "/v1/billing/invoices", &w.viewer_a, &[], None).await;
    assert_eq!((status, page["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)));

    let pay_uri = format!("/v1/billing/invoices/{id}/payments");
    let (status, problem) = w.admin_a("POST", &pay_uri, &[], Some(json!({"amount": 100, "reference": "bank-1"}))).await;
    assert_eq!((status, code(&problem)), (StatusCode::BAD_REQUEST, "idempotency_key_required"));
    let (status, _, _) = w
        .call(
            "POST",
            &pay_uri,
            &w.owner_a,
            &[("idempotency-key", "p0")],
            Some(json!({"amount": 100, "reference": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "owners do not record payments");
    let (status, too_much) = w
        .admin_a(
            "POST",
            &pay_uri,
            &[("idempotency-key", "p-over")],
            Some(json!({"amount": 20_000, "reference": "bank-0"})),
        )
        .await;
    assert_eq!((status, code(&too_much)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{too_much}");
    let (status, first) = w
        .admin_a("POST", &pay_uri, &[("idempotency-key", "p1")], Some(json!({"amount": 4_000, "reference": "bank-1"})))
        .await;
    assert_eq!((status, first["invoice"]["status"].as_str()), (StatusCode::CREATED, Some("open")), "{first}");
    let (status, rest) = w
        .admin_a(
            "POST",
            &pay_uri,
            &[("idempotency-key", "p2")],
            Some(json!({"amount": 7_900, "reference": "bank-2", "method": "bank_transfer"})),
        )
        .await;
    assert_eq!((status, rest["invoice"]["status"].as_str()), (StatusCode::CREATED, Some("paid")), "{rest}");
    let (status, replay) = w
        .admin_a(
            "POST",
            &pay_uri,
            &[("idempotency-key", "p2")],
            Some(json!({"amount": 7_900, "reference": "bank-2", "method": "bank_transfer"})),
        )
        .await;
    assert_eq!((status, replay["payment"]["id"].clone()), (StatusCode::CREATED, rest["payment"]["id"].clone()));
    assert_eq!(w.rt.services.credits.balance(&w.a).await.expect("balance").credits, 5000, "credits added once");

    let (status, paid_void) = w.admin_a("POST", &format!("/v1/billing/invoices/{id}/void"), &[], None).await;
    assert_eq!((status, code(&paid_void)), (StatusCode::CONFLICT, "invoice_paid_is_final"));

    let payment = rest["payment"]["id"].as_str().expect("payment id").to_owned();
    let (status, _, got) = w.call("GET", &format!("/v1/billing/payments/{payment}"), &w.viewer_a, &[], None).await;
    assert_eq!((status, got["amount"].as_i64()), (StatusCode::OK, Some(7_900)));
    let (status, _, payments) = w.call("GET", "/v1/billing/payments", &w.owner_a, &[], None).await;
    assert_eq!((status, payments["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(2)));

    let refund_uri = format!("/v1/billing/payments/{payment}/refunds");
    let (status, refund) = w
        .admin_a(
            "POST",
            &refund_uri,
            &[("idempotency-key", "r1")],
            Some(json!({"amount": 7_900, "reason": "Goodwill"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{refund}");
    assert_eq!(refund["credit_note"]["amount"].as_i64(), Some(7_900));
    let (status, notes) = w.admin_a("GET", &format!("/v1/billing/payments/{payment}/credit-notes"), &[], None).await;
    assert_eq!((status, notes.as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    let (status, again) =
        w.admin_a("POST", &refund_uri, &[("idempotency-key", "r2")], Some(json!({"reason": "Twice"}))).await;
    assert_eq!(status.as_u16() / 100, 4, "nothing is left to refund: {again}");
    let reconciliation = w.rt.services.credits.reconcile(&w.a).await.expect("reconcile");
    assert!(reconciliation.balanced, "{reconciliation:?}");

    let pdf = w.call("GET", &format!("/v1/billing/invoices/{id}/pdf"), &w.viewer_a, &[], None).await;
    if w.rt.services.invoices.has_documents() {
        assert_eq!(pdf.0, StatusCode::OK, "{}", pdf.2);
        assert!(pdf.2["url"].as_str().is_some_and(|u| !u.is_empty()));
    } else {
        assert_eq!((pdf.0, code(&pdf.2)), (StatusCode::CONFLICT, "pdf_unavailable"), "{}", pdf.2);
    }
    let (status, _, bad) =
        w.call("GET", &format!("/v1/billing/invoices/{id}/pdf?expires_in=0"), &w.viewer_a, &[], None).await;
    assert_eq!((status, code(&bad)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));

    // The tenant matrix: B's owner gets 404 for every one of A's records.
    for uri in [
        format!("/v1/billing/invoices/{id}"),
        format!("/v1/billing/invoices/{id}/pdf"),
        format!("/v1/billing/payments/{payment}"),
        format!("/v1/billing/payments/{payment}/credit-notes"),
    ] {
        let (status, _, body) = w.call("GET", &uri, &w.owner_b, &[], None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
        assert!(!body.to_string().contains(w.a.as_str()), "{uri} leaks A: {body}");
    }
    let (_, _, b_list) = w.call("GET", "/v1/billing/invoices", &w.owner_b, &[], None).await;
    assert_eq!(b_list["items"].as_array().map(Vec::len), Some(0));
    let b = token(&"acct_0123456789abcdef0123456789abcdef".parse().expect("id"), Role::Owner);
    let (status, _, _) = w.call("GET", "/v1/billing/invoices", &b, &[("x-account-id", w.a.as_str())], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only administrators act for another account");
}

#[tokio::test]
async fn custom_invoices_follow_the_lifecycle() {
    let w = world().await;
    let custom = json!({"currency": "JPY", "lines": [
        {"description": "Consulting: phase 2", "quantity": 3, "unit_amount": 15_000, "tax_rate_bp": 1000},
        {"description": "Setup", "quantity": 1.0, "unit_amount": 5_000}
    ]});
    let (status, _, _) = w.call("POST", "/v1/billing/invoices", &w.owner_a, &[], Some(custom.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, draft) = w.admin_a("POST", "/v1/billing/invoices", &[], Some(custom.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    assert_eq!((draft["status"].as_str(), draft["number"].clone()), (Some("draft"), Value::Null));
    assert_eq!((draft["subtotal"].as_i64(), draft["tax"].as_i64()), (Some(50_000), Some(4_500)));
    let id = draft["id"].as_str().expect("id").to_owned();
    let (status, voided_draft) = w.admin_a("POST", &format!("/v1/billing/invoices/{id}/void"), &[], None).await;
    assert_eq!(status, StatusCode::CONFLICT, "a draft is deleted, not voided: {voided_draft}");
    let (status, edited) = w
        .admin_a(
            "PUT",
            &format!("/v1/billing/invoices/{id}/lines"),
            &[],
            Some(json!({"lines": [
            {"description": "Audit", "quantity": 2, "unit_amount": 10_000}]})),
        )
        .await;
    assert_eq!((status, edited["total"].as_i64()), (StatusCode::OK, Some(20_000)), "{edited}");
    let (status, open) = w.admin_a("POST", &format!("/v1/billing/invoices/{id}/finalize"), &[], None).await;
    assert_eq!(status, StatusCode::OK, "{open}");
    let number = open["number"].as_str().expect("number").to_owned();
    let (status, again) = w.admin_a("POST", &format!("/v1/billing/invoices/{id}/finalize"), &[], None).await;
    assert_eq!((status, again["number"].as_str()), (StatusCode::OK, Some(number.as_str())), "finalize is idempotent");
    let (status, locked) = w
        .admin_a(
            "PUT",
            &format!("/v1/billing/invoices/{id}/lines"),
            &[],
            Some(json!({"lines": [
            {"description": "More", "quantity": 1, "unit_amount": 1}]})),
        )
        .await;
    assert_eq!((status, code(&locked)), (StatusCode::CONFLICT, "invoice_not_draft"));
    let (status, written_off) = w.admin_a("POST", &format!("/v1/billing/invoices/{id}/uncollectible"), &[], None).await;
    assert_eq!((status, written_off["status"].as_str()), (StatusCode::OK, Some("uncollectible")));
    let (status, void) = w.admin_a("POST", &format!("/v1/billing/invoices/{id}/void"), &[], None).await;
    assert_eq!(
        (status, void["status"].as_str(), void["number"].as_str()),
        (StatusCode::OK, Some("void"), Some(number.as_str()))
    );
    let (status, twice) = w.admin_a("POST", &format!("/v1/billing/invoices/{id}/void"), &[], None).await;
    assert_eq!((status, twice["status"].as_str()), (StatusCode::OK, Some("void")), "voiding again changes nothing");
    let (status, back) = w.admin_a("POST", &format!("/v1/billing/invoices/{id}/uncollectible"), &[], None).await;
    assert_eq!((status, code(&back)), (StatusCode::CONFLICT, "invalid_transition"), "void is final: {back}");

    let (status, second) = w.admin_a("POST", "/v1/billing/invoices", &[], Some(custom)).await;
    assert_eq!(status, StatusCode::CREATED);
    let second = second["id"].as_str().expect("id").to_owned();
    let (status, _) = w.admin_a("DELETE", &format!("/v1/billing/invoices/{second}"), &[], None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = w.admin_a("GET", &format!("/v1/billing/invoices/{second}"), &[], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let zero_quantity = json!({"currency": "EUR", "lines": [{"description": "X", "quantity": 0, "unit_amount": 1}]});
    let (status, problem) = w.admin_a("POST", "/v1/billing/invoices", &[], Some(zero_quantity)).await;
    assert_eq!((status, code(&problem)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_line"), "{problem}");
    let unknown = json!({"currency": "ABC", "lines": [{"description": "X", "quantity": 1, "unit_amount": 1}]});
    let (status, problem) = w.admin_a("POST", "/v1/billing/invoices", &[], Some(unknown)).await;
    assert_eq!((status, code(&problem)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{problem}");
}

#[tokio::test]
async fn the_profile_and_the_subscription_belong_to_the_owner() {
    let w = world().await;
    let (status, _, missing) = w.call("GET", "/v1/billing/profile", &w.owner_a, &[], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    let profile = json!({"name": "Acme GmbH", "email": "billing@acme.example", "address_lines": ["Hauptstr. 1", "Berlin"],
        "country": "DE", "tax_id": "DE123456789"});
    let (status, _, _) = w.call("PUT", "/v1/billing/profile", &w.viewer_a, &[], Some(profile.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, stored) = w.call("PUT", "/v1/billing/profile", &w.owner_a, &[], Some(profile)).await;
    assert_eq!((status, stored["details"]["country"].as_str()), (StatusCode::OK, Some("DE")), "{stored}");
    let (status, _, bad) =
        w.call("PUT", "/v1/billing/profile", &w.owner_a, &[], Some(json!({"name": "A", "country": "de"}))).await;
    assert_eq!((status, code(&bad)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));

    let plan =
        |name: &str| json!({"name": name, "monthly_price": 2900, "currency": "EUR", "included_monthly_credits": 1000});
    let (_, _, basic) = w.call("POST", "/v1/billing/plans", &w.admin, &[], Some(plan("Basic"))).await;
    let (_, _, pro) = w.call("POST", "/v1/billing/plans", &w.admin, &[], Some(plan("Pro"))).await;
    let (status, _, none) = w.call("GET", "/v1/billing/subscription", &w.owner_a, &[], None).await;
    assert_eq!((status, code(&none)), (StatusCode::NOT_FOUND, "subscription_not_found"));
    let (status, _, unknown) = w
        .call(
            "POST",
            "/v1/billing/subscription",
            &w.owner_a,
            &[],
            Some(json!({"plan_id": "plan_0123456789abcdef0123456789abcdef"})),
        )
        .await;
    assert_eq!((status, code(&unknown)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{unknown}");
    let (status, _, subscribed) =
        w.call("POST", "/v1/billing/subscription", &w.owner_a, &[], Some(json!({"plan_id": basic["id"]}))).await;
    assert_eq!(status, StatusCode::CREATED, "{subscribed}");
    assert_eq!(subscribed["invoice"]["status"], "open");
    assert_eq!(subscribed["invoice"]["billing_details"]["name"], "Acme GmbH", "the profile is snapshotted");
    let (status, _, twice) =
        w.call("POST", "/v1/billing/subscription", &w.owner_a, &[], Some(json!({"plan_id": basic["id"]}))).await;
    assert_eq!((status, code(&twice)), (StatusCode::CONFLICT, "subscription_exists"));
    let (status, _, changed) =
        w.call("PATCH", "/v1/billing/subscription", &w.owner_a, &[], Some(json!({"plan_id": pro["id"]}))).await;
    assert_eq!((status, changed["next_plan_id"].clone()), (StatusCode::OK, pro["id"].clone()), "{changed}");
    let (status, _, _) = w.call("POST", "/v1/billing/subscription/cancel", &w.viewer_a, &[], None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, cancelled) = w.call("POST", "/v1/billing/subscription/cancel", &w.owner_a, &[], None).await;
    assert_eq!((status, cancelled["cancel_at_period_end"].as_bool()), (StatusCode::OK, Some(true)));
    let (status, _, b_none) = w.call("GET", "/v1/billing/subscription", &w.owner_b, &[], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "B sees none of A's: {b_none}");
}
