//! `POST /v1/webhooks/stripe` end to end on the embedded family: events are built and
//! signed here exactly as Stripe signs them (HMAC-SHA256 of `t.body`), sent through the
//! router (and once through the api Lambda's adapter from an API Gateway fixture), and
//! the ledger, the invoice and the payments are read back.
//!
//! The tests that write run on both adapter families (`sqlite::…` and, under
//! `scripts/with_moto.sh`, `dynamodb::…`): the router's services over the store under
//! test, with a blob folder and a SQLite queue beside it (the webhook uses neither).
//!
//! Checked: one event delivered 10 times at once adds the credits once (and the
//! PaymentIntent's own event for the same payment adds nothing more); a tampered body,
//! an old timestamp, a wrong secret or no signature is a 400 that writes nothing; a
//! refund issues a credit note and the ledger still reconciles; failures, unknown
//! invoices, currency mismatches and ignored types answer with stable codes.

// Tests may panic: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::Router;
use igny8_ai::OfflineProvider;
use igny8_api::{mint_token, router, ApiState, AuthMode, Role};
use igny8_asl::ExecutorOptions;
use igny8_core::billing::stripe::{sign, WebhookSecret, TOLERANCE_SECONDS};
use igny8_core::billing::NewPackage;
use igny8_core::domain::{AccountId, Invoice, InvoiceStatus, PaymentStatus};
use igny8_core::ports::{Clock, ItemStore, SystemClock, UuidIds};
use igny8_embedded::{BlobDir, SqliteQueue};
use igny8_tests::Harness;
use igny8_wiring::embedded::{Adapters, LocalRuntime};
use serde_json::{json, Value};
use tower::ServiceExt;

const JWT: &[u8] = b"webhook-tests-jwt-secret-0123456789";
const STRIPE: &str = "whsec_webhook_tests_0123456789abcdef";
const CREDITS: i64 = 5_000;
const PRICE: i64 = 4_900;

struct World {
    rt: LocalRuntime,
    router: Router,
    account: AccountId,
    owner: String,
    _dir: tempfile::TempDir,
}

fn now_s() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs())
        .expect("seconds")
}

async fn world_on(store: Arc<dyn ItemStore>, secret: Option<&str>) -> World {
    let dir = tempfile::tempdir().expect("dir");
    let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let blobs = Arc::new(BlobDir::open(dir.path().join("blobs")).expect("blobs"));
    let queue = Arc::new(SqliteQueue::open(dir.path().join("queue.sqlite"), Arc::clone(&clock)).expect("queue"));
    let adapters = Adapters { store, blob_base: format!("{}/", blobs.root().display()), blobs, queue };
    let rt = LocalRuntime::with_adapters(
        adapters,
        dir.path(),
        Arc::new(OfflineProvider::with_year(2026)),
        clock,
        Arc::new(UuidIds),
        options,
    )
    .expect("runtime");
    let state = ApiState::new(rt.services.clone(), rt.automation.clone(), AuthMode::Hs256 { secret: JWT.to_vec() })
        .with_stripe_webhook_secret(secret.map(|s| WebhookSecret::new(s).expect("secret")));
    let (account, _) = rt.services.account_service.create_account("Buyer", 0).await.expect("account");
    let owner = mint_token(JWT, "owner", &account.id, Role::Owner, now_s().unsigned_abs(), 3600).expect("token");
    World { router: router(state), rt, account: account.id, owner, _dir: dir }
}

async fn world(store: Arc<dyn ItemStore>) -> World {
    world_on(store, Some(STRIPE)).await
}

fn sqlite() -> (Arc<dyn ItemStore>, Harness) {
    let harness = Harness::sqlite();
    (Arc::clone(&harness.store), harness)
}

igny8_tests::contract_suite!(
    one_event_delivered_ten_times_at_once_adds_the_credits_once,
    bad_signatures_and_old_timestamps_are_400_and_write_nothing,
    a_refund_issues_a_credit_note_and_the_ledger_reconciles,
    failures_unknown_invoices_mismatches_and_other_types_answer_with_stable_codes,
);

impl World {
    /// An open invoice for a credit package, bought through the API.
    async fn open_invoice(&self, currency: &str) -> Invoice {
        let new = NewPackage {
            name: format!("Pack {currency}"),
            credits: CREDITS,
            price: PRICE,
            currency: currency.parse().expect("currency"),
            tax_rate_bp: 0,
        };
        let package = self.rt.services.catalog.create_package(new).await.expect("package");
        let request = Request::post(format!("/v1/billing/packages/{}/purchase", package.id))
            .header("authorization", format!("Bearer {}", self.owner))
            .body(Body::empty())
            .expect("request");
        let (status, body) = self.send(request).await;
        assert_eq!(status, StatusCode::CREATED, "purchase: {body}");
        let invoice: Invoice = serde_json::from_value(body).expect("invoice");
        assert_eq!(invoice.status, InvoiceStatus::Open);
        invoice
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.expect("body");
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Delivers `payload` with a `Stripe-Signature` header (none when `header` is None).
    async fn deliver(&self, payload: &str, header: Option<String>) -> (StatusCode, Value) {
        let mut request = Request::post("/v1/webhooks/stripe").header("content-type", "application/json");
        if let Some(h) = header {
            request = request.header("stripe-signature", h);
        }
        self.send(request.body(Body::from(payload.to_owned())).expect("request")).await
    }

    /// Delivers `payload` signed now with the endpoint's secret.
    async fn deliver_signed(&self, payload: &str) -> (StatusCode, Value) {
        self.deliver(payload, Some(sign(payload.as_bytes(), STRIPE.as_bytes(), now_s()).expect("sign"))).await
    }

    async fn invoice(&self, invoice: &Invoice) -> Invoice {
        self.rt.services.invoices.get(&self.account, &invoice.id).await.expect("invoice")
    }

    async fn balance(&self) -> i64 {
        self.rt.services.credits.balance(&self.account).await.expect("balance").credits
    }

    async fn ledger_len(&self) -> usize {
        self.rt.services.credits.ledger(&self.account, 100, None).await.expect("ledger").items.len()
    }
}

fn event(id: &str, kind: &str, object: Value) -> String {
    json!({"id": id, "object": "event", "type": kind, "livemode": false, "created": now_s(), "data": {"object": object}})
        .to_string()
}

fn checkout(world: &World, invoice: &Invoice, intent: &str, amount: i64, currency: &str) -> Value {
    json!({
        "id": format!("cs_test_{intent}"), "object": "checkout.session", "mode": "payment",
        "payment_status": "paid", "status": "complete", "amount_total": amount, "currency": currency,
        "payment_intent": intent,
        "metadata": {"account_id": world.account.as_str(), "invoice_id": invoice.id.as_str()},
    })
}

async fn one_event_delivered_ten_times_at_once_adds_the_credits_once(store: Arc<dyn ItemStore>) {
    let w = world(store).await;
    let invoice = w.open_invoice("EUR").await;
    let payload = event("evt_checkout_1", "checkout.session.completed", checkout(&w, &invoice, "pi_1", PRICE, "eur"));
    let deliveries = (0..10).map(|_| w.deliver_signed(&payload));
    let answers = futures::future::join_all(deliveries).await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body["received"], true);
    }
    let applied = answers.iter().filter(|(_, b)| b["outcome"] == "applied").count();
    assert_eq!(applied, 1, "exactly one delivery applies: {answers:?}");
    assert_eq!(w.balance().await, CREDITS);
    let paid = w.invoice(&invoice).await;
    assert_eq!((paid.status, paid.amount_due, paid.amount_paid), (InvoiceStatus::Paid, 0, PRICE));
    // The PaymentIntent's own event for the same payment is the same money.
    let intent = json!({"id": "pi_1", "object": "payment_intent", "amount": PRICE, "amount_received": PRICE,
        "currency": "eur", "metadata": {"account_id": w.account.as_str(), "invoice_id": invoice.id.as_str()}});
    let (status, body) = w.deliver_signed(&event("evt_intent_1", "payment_intent.succeeded", intent)).await;
    assert_eq!((status, body["outcome"].as_str()), (StatusCode::OK, Some("replayed")), "{body}");
    assert_eq!(w.balance().await, CREDITS);
    let payments = w.rt.services.payments.for_invoice(&w.account, &invoice.id).await.expect("payments");
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!((payments[0].provider.as_str(), payments[0].provider_reference.as_deref()), ("stripe", Some("pi_1")));
    assert!(w.rt.services.credits.reconcile(&w.account).await.expect("reconcile").balanced);
}

async fn bad_signatures_and_old_timestamps_are_400_and_write_nothing(store: Arc<dyn ItemStore>) {
    let w = world(store).await;
    let invoice = w.open_invoice("EUR").await;
    let payload = event("evt_forged", "checkout.session.completed", checkout(&w, &invoice, "pi_f", PRICE, "eur"));
    let good = sign(payload.as_bytes(), STRIPE.as_bytes(), now_s()).expect("sign");
    let tampered = payload.replace("\"amount_total\":4900", "\"amount_total\":4899");
    assert_ne!(tampered, payload, "the tamper must change the body");
    let old = sign(payload.as_bytes(), STRIPE.as_bytes(), now_s() - TOLERANCE_SECONDS - 60).expect("sign");
    let wrong = sign(payload.as_bytes(), b"whsec_someone_elses_secret_000", now_s()).expect("sign");
    let (ledger_before, invoice_before) = (w.ledger_len().await, w.invoice(&invoice).await);
    let cases = [
        ("tampered body", tampered.as_str(), Some(good.clone()), "invalid_signature"),
        ("old timestamp", payload.as_str(), Some(old), "signature_expired"),
        ("wrong secret", payload.as_str(), Some(wrong), "invalid_signature"),
        ("no signature", payload.as_str(), None, "invalid_signature"),
        ("garbage header", payload.as_str(), Some("t=abc,v1=zz".to_owned()), "invalid_signature"),
    ];
    for (what, body, header, code) in cases {
        let (status, problem) = w.deliver(body, header).await;
        assert_eq!((status, problem["code"].as_str()), (StatusCode::BAD_REQUEST, Some(code)), "{what}: {problem}");
    }
    assert_eq!(w.ledger_len().await, ledger_before, "no ledger entry was written");
    assert_eq!(w.balance().await, 0);
    assert_eq!(w.invoice(&invoice).await, invoice_before, "the invoice is unchanged");
    assert!(w.rt.services.payments.for_invoice(&w.account, &invoice.id).await.expect("payments").is_empty());
}

async fn a_refund_issues_a_credit_note_and_the_ledger_reconciles(store: Arc<dyn ItemStore>) {
    let w = world(store).await;
    let invoice = w.open_invoice("EUR").await;
    let paid = event("evt_pay_r", "checkout.session.completed", checkout(&w, &invoice, "pi_r", PRICE, "eur"));
    assert_eq!(w.deliver_signed(&paid).await.0, StatusCode::OK);
    assert_eq!(w.balance().await, CREDITS);
    let metadata = json!({"account_id": w.account.as_str(), "invoice_id": invoice.id.as_str()});
    let charge = |refunded: i64| {
        json!({"id": "ch_r", "object": "charge", "payment_intent": "pi_r", "amount": PRICE,
            "amount_refunded": refunded, "currency": "eur", "refunded": refunded == PRICE, "metadata": metadata})
    };
    // Half refunded: half the package's credits leave the balance.
    let half = event("evt_refund_half", "charge.refunded", charge(PRICE / 2));
    let (status, body) = w.deliver_signed(&half).await;
    assert_eq!((status, body["outcome"].as_str()), (StatusCode::OK, Some("applied")), "{body}");
    let notes = w.rt.services.payments.credit_notes(&w.account, &invoice.id).await.expect("notes");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].amount, PRICE / 2);
    let after_half = w.balance().await;
    assert!(after_half < CREDITS, "credits came back out: {after_half}");
    // Redelivered: nothing more.
    assert_eq!(w.deliver_signed(&half).await.1["outcome"], "replayed");
    assert_eq!(w.balance().await, after_half);
    // The rest: the charge's running total is now the whole price.
    let (status, body) = w.deliver_signed(&event("evt_refund_rest", "charge.refunded", charge(PRICE))).await;
    assert_eq!((status, body["outcome"].as_str()), (StatusCode::OK, Some("applied")), "{body}");
    let payments = w.rt.services.payments.for_invoice(&w.account, &invoice.id).await.expect("payments");
    assert_eq!((payments[0].status, payments[0].amount_refunded), (PaymentStatus::Refunded, PRICE));
    assert_eq!(w.balance().await, 0, "every unspent credit came back");
    let reconciliation = w.rt.services.credits.reconcile(&w.account).await.expect("reconcile");
    assert!(reconciliation.balanced, "{reconciliation:?}");
    assert_eq!(w.invoice(&invoice).await.status, InvoiceStatus::Paid, "paid is final; credit notes correct it");
}

async fn failures_unknown_invoices_mismatches_and_other_types_answer_with_stable_codes(store: Arc<dyn ItemStore>) {
    let w = world(store).await;
    let invoice = w.open_invoice("EUR").await;
    let metadata = json!({"account_id": w.account.as_str(), "invoice_id": invoice.id.as_str()});
    let failed = json!({"id": "pi_fail", "object": "payment_intent", "amount": PRICE, "amount_received": 0,
        "currency": "eur", "metadata": metadata, "last_payment_error": {"message": "Your card was declined."}});
    let (status, body) = w.deliver_signed(&event("evt_fail", "payment_intent.payment_failed", failed)).await;
    assert_eq!((status, body["outcome"].as_str()), (StatusCode::OK, Some("applied")), "{body}");
    let payments = w.rt.services.payments.for_invoice(&w.account, &invoice.id).await.expect("payments");
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].status, PaymentStatus::Failed);
    assert_eq!(payments[0].failure_reason.as_deref(), Some("Your card was declined."));
    assert_eq!(w.invoice(&invoice).await.status, InvoiceStatus::Open, "a failure leaves the invoice open");

    let jpy = checkout(&w, &invoice, "pi_jpy", PRICE, "jpy");
    let (status, body) = w.deliver_signed(&event("evt_jpy", "checkout.session.completed", jpy)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("currency_mismatch")),
        "{body}"
    );

    let mut unknown = checkout(&w, &invoice, "pi_unknown", PRICE, "eur");
    unknown["metadata"]["invoice_id"] = json!("inv_0123456789abcdef0123456789abcdef");
    let (status, body) = w.deliver_signed(&event("evt_unknown", "checkout.session.completed", unknown)).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{body}");

    let (status, body) = w.deliver_signed(&event("evt_other", "customer.created", json!({"id": "cus_1"}))).await;
    assert_eq!((status, body["outcome"].as_str()), (StatusCode::OK, Some("ignored")), "{body}");

    let (status, body) = w.deliver_signed("{\"not\": \"an event\"}").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_event")), "{body}");
    assert_eq!(w.balance().await, 0);
}

#[tokio::test]
async fn without_a_configured_secret_the_route_asks_stripe_to_retry() {
    let (store, _harness) = sqlite();
    let w = world_on(store, None).await;
    let (status, body) = w.deliver_signed(&event("evt_x", "customer.created", json!({}))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("webhook_not_configured")));
}

/// The webhook through the api Lambda: an API Gateway event with no authorizer (the
/// route has `Authorizer: NONE`), decoded as the runtime decodes it.
#[tokio::test]
async fn the_lambda_serves_a_signed_webhook_without_an_authorizer() {
    let (store, _harness) = sqlite();
    let w = world(store).await;
    let invoice = w.open_invoice("EUR").await;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/apigw-webhooks/stripe_checkout_completed.json");
    let mut fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    assert!(fixture["requestContext"].get("authorizer").is_none(), "the webhook route has no authorizer");
    let payload = event("evt_lambda", "checkout.session.completed", checkout(&w, &invoice, "pi_l", PRICE, "eur"));
    fixture["body"] = json!(payload);
    fixture["headers"]["stripe-signature"] = json!(sign(payload.as_bytes(), STRIPE.as_bytes(), now_s()).expect("sign"));
    let state = ApiState::new(w.rt.services.clone(), w.rt.automation.clone(), AuthMode::Gateway)
        .with_stripe_webhook_secret(WebhookSecret::new(STRIPE));
    let decoded: api::lambda_http::request::LambdaRequest =
        serde_json::from_value(fixture).expect("API Gateway v2 event");
    let Ok(response) = api::handle(router(state), api::lambda_http::http::Request::from(decoded)).await;
    let body: Value = serde_json::from_slice(response.body().as_ref()).expect("json");
    assert_eq!((response.status(), body["outcome"].as_str()), (StatusCode::OK, Some("applied")), "{body}");
    assert_eq!(w.balance().await, CREDITS);
}
