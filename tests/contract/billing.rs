//! Contract of the billing documents, run against SQLite and DynamoDB. Read against
//! docs/billing.md: each test's doc comment names the invariant it checks.

// Tests, benches and examples: a failed step is a failed run, so they may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use igny8_ai::OfflineProvider;
use igny8_asl::ExecutorOptions;
use igny8_core::billing::subscriptions::add_months;
use igny8_core::billing::{
    format_amount, renew_subscriptions, ChargeRequest, InvoiceDocuments, ManualPayment, NewPackage, NewPlan,
    PackageUpdate, RefundRequest,
};
use igny8_core::billing::{CreditError, Posted};
use igny8_core::domain::{
    AccountId, BillingDetails, CreditPackage, Currency, Invoice, InvoiceStatus, LineInput, PaymentMethod,
    PaymentStatus, Plan, SellerDetails, SubscriptionStatus, TransactionKind,
};
use igny8_core::ports::{
    BlobStore, Clock, Condition, InvoiceRenderer, Item, ItemStore, Key, ManualClock, RenderError, UuidIds, WriteOp,
};
use igny8_core::Services;
use igny8_embedded::{BlobDir, SqliteQueue};
use igny8_wiring::embedded::{Adapters, LocalRuntime};
use serde_json::json;

igny8_tests::contract_suite!(
    fifty_concurrent_finalizes_number_gaplessly,
    numbers_restart_each_month_per_account_and_skip_deleted_drafts,
    totals_follow_the_rounding_table,
    drafts_edit_and_delete_but_finalized_invoices_do_not,
    paid_is_final_and_corrected_by_a_credit_note,
    partial_then_full_payment_pays_and_adds_package_credits_once,
    concurrent_replays_add_credits_once,
    concurrent_keys_race_for_the_last_amount,
    refund_takes_back_unspent_credits_never_below_zero,
    failed_payment_leaves_the_invoice_unchanged,
    documents_render_on_finalize_and_every_status_change,
    a_failed_render_keeps_the_status_and_renders_on_demand,
    renewal_bills_each_period_once_and_marks_past_due,
    past_due_account_cannot_start_automation,
    catalog_validates_its_entries,
    a_free_package_is_paid_at_finalize_with_its_credits_once,
    a_failed_companion_write_writes_nothing,
);

/// 2026-11-15T12:00:00Z.
const T0: i64 = 1_794_657_600_000;
const DAY: i64 = 86_400_000;

/// A real, deterministic renderer: the invoice as canonical JSON bytes (the PDF crate
/// is adapted to the same port by the wiring). It can be told to fail.
#[derive(Default)]
struct JsonRenderer {
    fail: AtomicBool,
    renders: AtomicUsize,
}

fn canonical(invoice: &Invoice, seller: &SellerDetails) -> Vec<u8> {
    let lines: Vec<_> = invoice
        .lines
        .iter()
        .map(|l| json!([l.description, l.quantity, l.unit_amount, l.tax_rate_bp, l.amount, l.tax]))
        .collect();
    serde_json::to_vec(&json!({
        "seller": seller.name,
        "buyer": invoice.billing_details.as_ref().map(|b| b.name.clone()),
        "number": invoice.number,
        "status": invoice.status,
        "lines": lines,
        "subtotal": invoice.subtotal,
        "tax": invoice.tax,
        "total": format_amount(invoice.total, &invoice.currency),
        "due": format_amount(invoice.amount_due, &invoice.currency),
    }))
    .expect("json")
}

impl InvoiceRenderer for JsonRenderer {
    fn render(&self, invoice: &Invoice, seller: &SellerDetails) -> Result<Vec<u8>, RenderError> {
        self.renders.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(RenderError::Failed("injected renderer failure".into()));
        }
        Ok(canonical(invoice, seller))
    }

    fn content_type(&self) -> &'static str {
        "application/json"
    }
}

struct World {
    s: Services,
    clock: Arc<ManualClock>,
    renderer: Arc<JsonRenderer>,
    blobs: Arc<BlobDir>,
    _dir: tempfile::TempDir,
}

fn seller() -> SellerDetails {
    SellerDetails {
        name: "IGNY8 Ltd".into(),
        address_lines: vec!["1 Main St".into()],
        tax_id: Some("GB123".into()),
        email: None,
    }
}

fn world(store: &Arc<dyn ItemStore>) -> World {
    let clock = Arc::new(ManualClock::at(T0));
    world_on(store, Arc::clone(&clock))
}

/// Another process (its own gates and remembered balances) over the same store and clock.
fn world_on(store: &Arc<dyn ItemStore>, clock: Arc<ManualClock>) -> World {
    let dir = tempfile::tempdir().expect("dir");
    let blobs = Arc::new(BlobDir::open(dir.path().join("blobs")).expect("blobs"));
    let renderer = Arc::new(JsonRenderer::default());
    let s = Services::with(Arc::clone(store), clock.clone(), Arc::new(UuidIds)).with_documents(InvoiceDocuments {
        blobs: blobs.clone(),
        renderer: renderer.clone(),
        seller: seller(),
    });
    World { s, clock, renderer, blobs, _dir: dir }
}

fn eur() -> Currency {
    "EUR".parse().expect("EUR")
}

fn line(description: &str, quantity: i64, unit_amount: i64, tax_rate_bp: i64) -> LineInput {
    LineInput { description: description.into(), quantity, unit_amount, tax_rate_bp }
}

async fn account(s: &Services, credits: i64) -> AccountId {
    s.account_service.create_account("Acme", credits).await.expect("account").0.id
}

async fn custom(s: &Services, account: &AccountId, unit: i64) -> Invoice {
    s.invoices.create_custom(account, eur(), &[line("Consulting", 1, unit, 0)], None).await.expect("draft")
}

async fn package(s: &Services, credits: i64, price: i64) -> CreditPackage {
    let new = NewPackage { name: format!("{credits} credits"), credits, price, currency: eur(), tax_rate_bp: 0 };
    s.catalog.create_package(new).await.expect("package")
}

async fn plan(s: &Services) -> Plan {
    let new = NewPlan {
        name: "Pro".into(),
        monthly_price: 2900,
        currency: eur(),
        included_monthly_credits: 500,
        tax_rate_bp: 1900,
    };
    s.catalog.create_plan(new).await.expect("plan")
}

fn pay(amount: i64, key: &str) -> ManualPayment {
    ManualPayment {
        amount,
        reference: format!("bank statement {key}"),
        method: PaymentMethod::BankTransfer,
        idempotency_key: key.into(),
    }
}

async fn assert_reconciles(s: &Services, account: &AccountId) {
    let r = s.credits.reconcile(account).await.expect("reconcile");
    assert!(r.balanced, "ledger must reconcile: {r:?}");
}

/// Ledger entries referring to an invoice.
async fn entries_for(s: &Services, account: &AccountId, invoice: &Invoice) -> Vec<(TransactionKind, i64)> {
    let page = s.credits.ledger(account, 1000, None).await.expect("ledger");
    page.items
        .iter()
        .filter(|t| t.reference.as_deref() == Some(invoice.id.as_str()))
        .map(|t| (t.kind, t.amount))
        .collect()
}

/// Gapless numbers: 50 drafts of one account finalized at once by four processes get
/// INV-202611-0001 … 0050, each once.
async fn fifty_concurrent_finalizes_number_gaplessly(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let acct = account(&w.s, 0).await;
    let processes: Vec<Services> =
        (0..4).map(|_| world_on(&store, Arc::clone(&w.clock))).map(|p| p.s.clone()).collect();
    let mut drafts = Vec::new();
    for _ in 0..50 {
        drafts.push(custom(&w.s, &acct, 1000).await.id);
    }
    let tasks: Vec<_> = drafts
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (s, acct, id) = (processes[i % 4].clone(), acct.clone(), id.clone());
            tokio::spawn(async move { s.invoices.finalize(&acct, &id).await })
        })
        .collect();
    let mut numbers = HashSet::new();
    for t in tasks {
        let invoice = t.await.expect("task").expect("finalize");
        assert_eq!(invoice.status, InvoiceStatus::Open);
        assert!(numbers.insert(invoice.number.clone().expect("number")), "duplicate {:?}", invoice.number);
    }
    let expected: HashSet<String> = (1..=50).map(|n| format!("INV-202611-{n:04}")).collect();
    assert_eq!(numbers, expected, "exactly 0001..=0050, no gap, no duplicate");
    // Finalizing again is a no-op that returns the same number.
    let again = w.s.invoices.finalize(&acct, &drafts[7]).await.expect("again");
    let stored = w.s.invoices.get(&acct, &drafts[7]).await.expect("get");
    assert_eq!((again.number, again.version), (stored.number, stored.version));
}

/// Gapless numbers: a new UTC month restarts at 0001, another account has its own
/// sequence, a deleted draft uses no number and a voided invoice keeps its number.
async fn numbers_restart_each_month_per_account_and_skip_deleted_drafts(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let (a, b) = (account(&w.s, 0).await, account(&w.s, 0).await);
    let first = custom(&w.s, &a, 100).await;
    let deleted = custom(&w.s, &a, 100).await;
    let third = custom(&w.s, &a, 100).await;
    w.s.invoices.delete_draft(&a, &deleted.id).await.expect("delete draft");
    let gone = w.s.invoices.get(&a, &deleted.id).await.expect_err("deleted");
    assert_eq!(gone.code(), "invoice_not_found");
    let n1 = w.s.invoices.finalize(&a, &first.id).await.expect("finalize").number;
    let voided = w.s.invoices.void(&a, &first.id).await.expect("void");
    assert_eq!(voided.number, n1, "a voided invoice keeps its number");
    let n3 = w.s.invoices.finalize(&a, &third.id).await.expect("finalize").number;
    assert_eq!((n1.as_deref(), n3.as_deref()), (Some("INV-202611-0001"), Some("INV-202611-0002")));
    let other = custom(&w.s, &b, 100).await;
    let nb = w.s.invoices.finalize(&b, &other.id).await.expect("finalize").number;
    assert_eq!(nb.as_deref(), Some("INV-202611-0001"), "each account has its own sequence");
    // 2026-11-15 + 20 days = 2026-12-05: December restarts at 0001.
    w.clock.advance_ms(20 * DAY);
    let december = custom(&w.s, &a, 100).await;
    let nd = w.s.invoices.finalize(&a, &december.id).await.expect("finalize").number;
    assert_eq!(nd.as_deref(), Some("INV-202612-0001"));
}

/// A currency, its lines, the hand-computed (subtotal, tax, total) and the total as printed.
type RoundingCase = (&'static str, Vec<LineInput>, (i64, i64, i64), &'static str);

/// One rounding rule: tax per line, half away from zero, in the currency's minor unit
/// (the table is computed by hand).
async fn totals_follow_the_rounding_table(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let a = account(&w.s, 0).await;
    let cases: Vec<RoundingCase> = vec![
        // EUR 19 %: 1999 → 379.81 → 380; 5 → 0.95 → 1; 3 × 333 = 999 → 189.81 → 190
        (
            "EUR",
            vec![line("a", 1, 1999, 1900), line("b", 1, 5, 1900), line("c", 3, 333, 1900)],
            (3003, 571, 3574),
            "35.74 EUR",
        ),
        // JPY 10 %: 1235 → 123.5 → 124; 2 × 15 = 30 → 3
        ("JPY", vec![line("a", 1, 1235, 1000), line("b", 2, 15, 1000)], (1265, 127, 1392), "1,392 JPY"),
        // KWD 5 %: 1234 → 61.7 → 62; 10 → 0.5 → 1; 9 → 0.45 → 0
        (
            "KWD",
            vec![line("a", 1, 1234, 500), line("b", 1, 10, 500), line("c", 1, 9, 500)],
            (1253, 63, 1316),
            "1.316 KWD",
        ),
        // Per line, not on the sum: 3 × (2 at 19 % = 0.38 → 0) = 0, where 6 × 0.19 = 1.14 would give 1
        ("EUR", vec![line("a", 1, 2, 1900), line("b", 1, 2, 1900), line("c", 1, 2, 1900)], (6, 0, 6), "0.06 EUR"),
    ];
    for (code, lines, (subtotal, tax, total), text) in cases {
        let currency: Currency = code.parse().expect("currency");
        let inv = w.s.invoices.create_custom(&a, currency.clone(), &lines, None).await.expect("draft");
        assert_eq!((inv.subtotal, inv.tax, inv.total, inv.amount_due), (subtotal, tax, total, total), "{code}");
        assert_eq!(format_amount(inv.total, &currency), text);
    }
    assert_eq!("XYZ".parse::<Currency>().map_err(|e| e.code()), Err("unknown_currency"));
    let huge = w.s.invoices.create_custom(&a, eur(), &[line("a", 2, 1_000_000_000_000_000, 0)], None).await;
    assert_eq!(huge.map_err(|e| e.code()).err(), Some("amount_overflow"));
    let negative = w.s.invoices.create_custom(&a, eur(), &[line("a", 1, -5, 0)], None).await;
    assert_eq!(negative.map_err(|e| e.code()).err(), Some("invalid_line"));
}

/// Lifecycle: drafts are edited and deleted; finalized invoices are not; void needs an
/// open or uncollectible invoice; tenants see only their own invoices.
async fn drafts_edit_and_delete_but_finalized_invoices_do_not(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let (a, b) = (account(&w.s, 0).await, account(&w.s, 0).await);
    let draft = custom(&w.s, &a, 100).await;
    let void_draft = w.s.invoices.void(&a, &draft.id).await.expect_err("void of a draft");
    assert_eq!(void_draft.code(), "invalid_transition");
    let edited = w.s.invoices.update_lines(&a, &draft.id, &[line("Audit", 2, 1500, 2000)]).await.expect("edit");
    assert_eq!((edited.subtotal, edited.tax, edited.total), (3000, 600, 3600));
    assert_eq!(w.s.invoices.get(&b, &draft.id).await.expect_err("other tenant").code(), "invoice_not_found");
    let open = w.s.invoices.finalize(&a, &draft.id).await.expect("finalize");
    assert_eq!(open.status, InvoiceStatus::Open);
    assert_eq!(open.billing_details.as_ref().map(|d| d.name.as_str()), Some("Acme"), "buyer snapshot");
    assert_eq!(open.due_ms, Some(T0 + 14 * DAY));
    let edit = w.s.invoices.update_lines(&a, &draft.id, &[line("x", 1, 1, 0)]).await.expect_err("edit open");
    assert_eq!(edit.code(), "invoice_not_draft");
    assert_eq!(w.s.invoices.delete_draft(&a, &draft.id).await.expect_err("delete open").code(), "invoice_not_draft");
    let bad = w.s.invoices.finalize(&b, &draft.id).await.expect_err("other tenant");
    assert_eq!(bad.code(), "invoice_not_found");
    let uncollectible = w.s.invoices.mark_uncollectible(&a, &draft.id).await.expect("uncollectible");
    assert_eq!(uncollectible.status, InvoiceStatus::Uncollectible);
    let void = w.s.invoices.void(&a, &draft.id).await.expect("void uncollectible");
    assert_eq!((void.status, void.number.clone()), (InvoiceStatus::Void, open.number));
    let pay_void = w.s.payments.record_manual_payment(&a, &draft.id, pay(100, "k1")).await.expect_err("pay void");
    assert_eq!(pay_void.code(), "invoice_not_payable");
    let again = w.s.invoices.mark_uncollectible(&a, &draft.id).await.expect_err("void is final");
    assert_eq!(again.code(), "invalid_transition");
    // The buyer is what the profile says at finalize, and stays as it was issued.
    let details = BillingDetails { name: "Acme GmbH".into(), tax_id: Some("DE1".into()), ..BillingDetails::default() };
    w.s.invoices.set_profile(&a, details).await.expect("profile");
    let next = w.s.invoices.finalize(&a, &custom(&w.s, &a, 100).await.id).await.expect("finalize");
    assert_eq!(next.billing_details.map(|d| d.name), Some("Acme GmbH".into()));
    let kept = w.s.invoices.get(&a, &draft.id).await.expect("get");
    assert_eq!(kept.billing_details.map(|d| d.name), Some("Acme".into()));
}

/// Paid is final: a paid invoice cannot be voided or written off; it is corrected by a
/// credit note (a refund of its payment).
async fn paid_is_final_and_corrected_by_a_credit_note(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let a = account(&w.s, 0).await;
    let inv = w.s.invoices.finalize(&a, &custom(&w.s, &a, 5000).await.id).await.expect("finalize");
    let paid = w.s.payments.record_manual_payment(&a, &inv.id, pay(5000, "p1")).await.expect("pay");
    assert_eq!(paid.invoice.status, InvoiceStatus::Paid);
    assert_eq!(w.s.invoices.void(&a, &inv.id).await.expect_err("void paid").code(), "invoice_paid_is_final");
    let written_off = w.s.invoices.mark_uncollectible(&a, &inv.id).await.expect_err("paid");
    assert_eq!(written_off.code(), "invoice_paid_is_final");
    let refund = RefundRequest { amount: Some(2000), reason: "goodwill".into(), idempotency_key: "r1".into() };
    let out = w.s.payments.refund(&a, &paid.payment.id, refund.clone()).await.expect("refund");
    assert_eq!((out.credit_note.invoice_id.clone(), out.credit_note.amount), (inv.id.clone(), 2000));
    assert_eq!(out.payment.status, PaymentStatus::PartiallyRefunded);
    assert_eq!((out.invoice.status, out.invoice.amount_refunded), (InvoiceStatus::Paid, 2000));
    let replay = w.s.payments.refund(&a, &paid.payment.id, refund).await.expect("replay");
    assert!(replay.replayed);
    assert_eq!(replay.credit_note.id, out.credit_note.id);
    let notes = w.s.payments.credit_notes(&a, &inv.id).await.expect("notes");
    assert_eq!(notes.len(), 1);
    let too_much = RefundRequest { amount: Some(3001), reason: "x".into(), idempotency_key: "r2".into() };
    let e = w.s.payments.refund(&a, &paid.payment.id, too_much).await.expect_err("too much");
    assert_eq!(e.code(), "amount_exceeds_refundable");
}

/// Credits granted once per paid invoice: partial payments leave it open; the payment
/// that brings the amount due to 0 pays it and adds the package's credits with it.
async fn partial_then_full_payment_pays_and_adds_package_credits_once(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let a = account(&w.s, 0).await;
    let pkg = package(&w.s, 1000, 10_000).await;
    let inv = w.s.invoices.create_for_package(&a, &pkg.id).await.expect("draft");
    let inv = w.s.invoices.finalize(&a, &inv.id).await.expect("finalize");
    let over = w.s.payments.record_manual_payment(&a, &inv.id, pay(10_001, "over")).await.expect_err("over");
    assert_eq!(over.code(), "amount_exceeds_due");
    let zero = w.s.payments.record_manual_payment(&a, &inv.id, pay(0, "zero")).await.expect_err("zero");
    assert_eq!(zero.code(), "invalid_amount");
    let part = w.s.payments.record_manual_payment(&a, &inv.id, pay(4000, "part")).await.expect("part");
    assert_eq!((part.invoice.status, part.invoice.amount_due, part.credits.clone()), (InvoiceStatus::Open, 6000, None));
    assert_eq!(w.s.credits.balance(&a).await.expect("balance").credits, 0);
    let rest = w.s.payments.record_manual_payment(&a, &inv.id, pay(6000, "rest")).await.expect("rest");
    assert_eq!(
        (rest.invoice.status, rest.invoice.amount_paid, rest.invoice.amount_due),
        (InvoiceStatus::Paid, 10_000, 0)
    );
    let credit = rest.credits.expect("credits added");
    assert_eq!((credit.kind, credit.amount), (TransactionKind::TopUp, 1000));
    let after = w.s.payments.record_manual_payment(&a, &inv.id, pay(1, "late")).await.expect_err("paid");
    assert_eq!(after.code(), "invoice_already_paid");
    let reused = w.s.payments.record_manual_payment(&a, &inv.id, pay(5, "part")).await.expect_err("reused key");
    assert_eq!(reused.code(), "idempotency_key_reused");
    assert_eq!(w.s.credits.balance(&a).await.expect("balance").credits, 1000);
    assert_eq!(entries_for(&w.s, &a, &inv).await, vec![(TransactionKind::TopUp, 1000)]);
    assert_eq!(w.s.payments.for_invoice(&a, &inv.id).await.expect("payments").len(), 2);
    assert_reconciles(&w.s, &a).await;
}

/// Credits granted once: one payment replayed ten times at once (one key) pays once and
/// adds the credits once; every caller sees the same payment.
async fn concurrent_replays_add_credits_once(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let a = account(&w.s, 0).await;
    let pkg = package(&w.s, 700, 4900).await;
    let inv = w.s.invoices.buy_package(&a, &pkg.id).await.expect("buy");
    assert_eq!((inv.status, inv.total), (InvoiceStatus::Open, 4900));
    let processes: Vec<Services> = (0..4).map(|_| world_on(&store, Arc::clone(&w.clock)).s).collect();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (s, a, id) = (processes[i % 4].clone(), a.clone(), inv.id.clone());
            tokio::spawn(async move { s.payments.record_manual_payment(&a, &id, pay(4900, "stripe-evt-1")).await })
        })
        .collect();
    let (mut ids, mut fresh) = (HashSet::new(), 0);
    for t in tasks {
        let out = t.await.expect("task").expect("payment");
        ids.insert(out.payment.id.clone());
        fresh += usize::from(!out.replayed);
    }
    assert_eq!((ids.len(), fresh), (1, 1), "one payment, recorded once");
    assert_eq!(w.s.credits.balance(&a).await.expect("balance").credits, 700);
    assert_eq!(entries_for(&w.s, &a, &inv).await, vec![(TransactionKind::TopUp, 700)]);
    assert_reconciles(&w.s, &a).await;
}

/// Credits granted once: ten payments with different keys race for the last amount
/// due; exactly one lands, the others are refused and write nothing.
async fn concurrent_keys_race_for_the_last_amount(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let a = account(&w.s, 0).await;
    let pkg = package(&w.s, 300, 1000).await;
    let inv = w.s.invoices.create_for_package(&a, &pkg.id).await.expect("draft");
    let inv = w.s.invoices.finalize(&a, &inv.id).await.expect("finalize");
    w.s.payments.record_manual_payment(&a, &inv.id, pay(400, "first")).await.expect("first");
    let processes: Vec<Services> = (0..4).map(|_| world_on(&store, Arc::clone(&w.clock)).s).collect();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (s, a, id) = (processes[i % 4].clone(), a.clone(), inv.id.clone());
            tokio::spawn(async move { s.payments.record_manual_payment(&a, &id, pay(600, &format!("k{i}"))).await })
        })
        .collect();
    let mut landed = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(out) => {
                landed += 1;
                assert_eq!(out.invoice.status, InvoiceStatus::Paid);
            }
            Err(e) => assert!(matches!(e.code(), "invoice_already_paid" | "amount_exceeds_due"), "{e}"),
        }
    }
    assert_eq!(landed, 1);
    let stored = w.s.invoices.get(&a, &inv.id).await.expect("get");
    assert_eq!((stored.amount_paid, stored.amount_due, stored.status), (1000, 0, InvoiceStatus::Paid));
    assert_eq!(w.s.payments.for_invoice(&a, &inv.id).await.expect("payments").len(), 2);
    assert_eq!(w.s.credits.balance(&a).await.expect("balance").credits, 300);
    assert_reconciles(&w.s, &a).await;
}

/// Refunds: the package's proportional credits come back out of the balance, never
/// more than is spendable; the rest is recorded as unrecoverable; balance = Σ ledger.
async fn refund_takes_back_unspent_credits_never_below_zero(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let a = account(&w.s, 0).await;
    let pkg = package(&w.s, 1000, 10_000).await;
    let inv = w.s.invoices.create_for_package(&a, &pkg.id).await.expect("draft");
    let inv = w.s.invoices.finalize(&a, &inv.id).await.expect("finalize");
    let paid = w.s.payments.record_manual_payment(&a, &inv.id, pay(10_000, "pay")).await.expect("pay");
    w.s.credits.charge(ChargeRequest::amount(a.clone(), 700)).await.expect("spend 700");
    // Half the money back: 500 credits due back, 300 spendable.
    let half = RefundRequest { amount: Some(5000), reason: "half".into(), idempotency_key: "r-half".into() };
    let first = w.s.payments.refund(&a, &paid.payment.id, half).await.expect("refund half");
    assert_eq!((first.credit_note.credits_removed, first.credit_note.credits_unrecoverable), (300, 200));
    let b = w.s.credits.balance(&a).await.expect("balance");
    assert_eq!((b.credits, b.available), (0, 0));
    // The rest: the remaining 500 credits are due back, none are spendable.
    let rest = RefundRequest { amount: None, reason: "rest".into(), idempotency_key: "r-rest".into() };
    let second = w.s.payments.refund(&a, &paid.payment.id, rest).await.expect("refund rest");
    assert_eq!((second.credit_note.amount, second.credit_note.credits_removed), (5000, 0));
    assert_eq!(second.credit_note.credits_unrecoverable, 500);
    assert_eq!(second.payment.status, PaymentStatus::Refunded);
    assert_eq!((second.invoice.amount_refunded, second.invoice.credits_reversed), (10_000, 1000));
    let again = RefundRequest { amount: None, reason: "again".into(), idempotency_key: "r-again".into() };
    let refused = w.s.payments.refund(&a, &paid.payment.id, again).await.expect_err("refunded");
    assert_eq!(refused.code(), "payment_not_refundable");
    assert_eq!(w.s.credits.balance(&a).await.expect("balance").credits, 0);
    assert_reconciles(&w.s, &a).await;
    // With credits unspent, a refund takes its whole share back.
    let inv2 = w.s.invoices.create_for_package(&a, &pkg.id).await.expect("draft");
    let inv2 = w.s.invoices.finalize(&a, &inv2.id).await.expect("finalize");
    let paid2 = w.s.payments.record_manual_payment(&a, &inv2.id, pay(10_000, "pay2")).await.expect("pay");
    let quarter = RefundRequest { amount: Some(2500), reason: "q".into(), idempotency_key: "r-q".into() };
    let q = w.s.payments.refund(&a, &paid2.payment.id, quarter).await.expect("refund");
    assert_eq!((q.credit_note.credits_removed, q.credit_note.credits_unrecoverable), (250, 0));
    assert_eq!(w.s.credits.balance(&a).await.expect("balance").credits, 750);
    assert_reconciles(&w.s, &a).await;
}

/// A failed payment is recorded with its reason and changes nothing else; it cannot
/// be refunded.
async fn failed_payment_leaves_the_invoice_unchanged(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let a = account(&w.s, 0).await;
    let inv = w.s.invoices.finalize(&a, &custom(&w.s, &a, 1200).await.id).await.expect("finalize");
    let failed = igny8_core::billing::FailedPayment {
        provider: "stripe".into(),
        provider_reference: Some("pi_123".into()),
        amount: 1200,
        currency: eur(),
        method: PaymentMethod::Card,
        reason: "card_declined".into(),
        idempotency_key: "stripe:evt_fail".into(),
    };
    let out = w.s.payments.record_failed_payment(&a, &inv.id, failed.clone()).await.expect("failed");
    assert_eq!(
        (out.payment.status, out.payment.failure_reason.as_deref()),
        (PaymentStatus::Failed, Some("card_declined"))
    );
    assert!(w.s.payments.record_failed_payment(&a, &inv.id, failed).await.expect("replay").replayed);
    let stored = w.s.invoices.get(&a, &inv.id).await.expect("get");
    assert_eq!((stored.status, stored.amount_due, stored.version), (InvoiceStatus::Open, 1200, inv.version));
    let refund = RefundRequest { amount: None, reason: "x".into(), idempotency_key: "r".into() };
    let e = w.s.payments.refund(&a, &out.payment.id, refund).await.expect_err("not refundable");
    assert_eq!(e.code(), "payment_not_refundable");
    let wrong = igny8_core::billing::ProviderPayment {
        provider: "stripe".into(),
        provider_reference: "pi_9".into(),
        amount: 1200,
        currency: "USD".parse().expect("USD"),
        method: PaymentMethod::Card,
        idempotency_key: "stripe:evt_usd".into(),
    };
    let e = w.s.payments.record_provider_payment(&a, &inv.id, wrong).await.expect_err("currency");
    assert_eq!(e.code(), "currency_mismatch");
}

/// Documents: finalize renders and stores `invoices/<account>/<number>.pdf`, every
/// status change renders it again, and the same invoice gives the same bytes.
async fn documents_render_on_finalize_and_every_status_change(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let a = account(&w.s, 0).await;
    let draft = w.s.invoices.create_custom(&a, eur(), &[line("Audit", 2, 61_728, 1900)], None).await.expect("draft");
    let not_yet = w.s.invoices.pdf(&a, &draft.id).await.expect_err("draft");
    assert_eq!(not_yet.code(), "invoice_not_finalized");
    let open = w.s.invoices.finalize(&a, &draft.id).await.expect("finalize");
    let key = format!("invoices/{a}/INV-202611-0001.pdf");
    assert_eq!((open.pdf_key.as_deref(), open.pdf_version), (Some(key.as_str()), Some(open.version)));
    let stored = w.blobs.get(&key).await.expect("get").expect("document stored");
    // 2 × 617.28 = 1,234.56; 19 % = 234.5664 → 234.57; total 1,469.13 EUR
    let expected = r#"{"buyer":"Acme","due":"1,469.13 EUR","lines":[["Audit",2,61728,1900,123456,23457]],"number":"INV-202611-0001","seller":"IGNY8 Ltd","status":"open","subtotal":123456,"tax":23457,"total":"1,469.13 EUR"}"#;
    assert_eq!(String::from_utf8(stored.clone()).expect("utf8"), expected);
    assert_eq!(w.s.invoices.pdf(&a, &draft.id).await.expect("pdf"), stored, "served, not re-rendered");
    let renders = w.renderer.renders.load(Ordering::SeqCst);
    let link = w.s.invoices.pdf_link(&a, &draft.id, Duration::from_secs(300)).await.expect("link");
    assert_eq!(link.key, key);
    assert_eq!(w.renderer.renders.load(Ordering::SeqCst), renders, "a current document is not rendered again");
    let void = w.s.invoices.void(&a, &draft.id).await.expect("void");
    assert_eq!(void.pdf_version, Some(void.version));
    let voided = w.blobs.get(&key).await.expect("get").expect("document");
    assert!(String::from_utf8(voided.clone()).expect("utf8").contains(r#""status":"void""#));
    assert_eq!(voided, canonical(&void, &seller()), "deterministic");
    // Without documents configured: finalize records no key and a PDF is unavailable.
    let bare = Services::with(Arc::clone(&store), w.clock.clone(), Arc::new(UuidIds));
    let plain = bare.invoices.finalize(&a, &custom(&bare, &a, 100).await.id).await.expect("finalize");
    assert_eq!(plain.pdf_key, None);
    assert_eq!(bare.invoices.pdf(&a, &plain.id).await.expect_err("no renderer").code(), "pdf_unavailable");
    // ... and the first request once they are configured renders it.
    let bytes = w.s.invoices.pdf(&a, &plain.id).await.expect("rendered on demand");
    assert_eq!(bytes, canonical(&plain, &seller()));
}

/// A render that fails after the status commit loses nothing: the invoice is
/// finalized, and the document is rendered when it is next asked for.
async fn a_failed_render_keeps_the_status_and_renders_on_demand(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let a = account(&w.s, 0).await;
    let draft = custom(&w.s, &a, 999).await;
    w.renderer.fail.store(true, Ordering::SeqCst);
    let open = w.s.invoices.finalize(&a, &draft.id).await.expect("finalize despite the renderer");
    assert_eq!((open.status, open.pdf_key.clone()), (InvoiceStatus::Open, None));
    let e = w.s.invoices.pdf(&a, &draft.id).await.expect_err("still failing");
    assert_eq!(e.code(), "render_failed");
    w.renderer.fail.store(false, Ordering::SeqCst);
    let bytes = w.s.invoices.pdf(&a, &draft.id).await.expect("rendered now");
    let stored = w.s.invoices.get(&a, &draft.id).await.expect("get");
    assert_eq!(bytes, canonical(&stored, &seller()));
    assert_eq!((stored.pdf_key.is_some(), stored.pdf_version), (true, Some(stored.version)));
}

/// Renewal: a period is billed once however often renewal runs; paying a period grants
/// the plan's credits once; an invoice unpaid past its due date makes the subscription
/// past_due, and paying it makes it active again.
async fn renewal_bills_each_period_once_and_marks_past_due(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let a = account(&w.s, 0).await;
    let pro = plan(&w.s).await;
    let sub = w.s.subscriptions.subscribe(&a, &pro.id).await.expect("subscribe");
    // 29.00 + 19 % = 34.51
    assert_eq!((sub.invoice.total, sub.invoice.status), (3451, InvoiceStatus::Open));
    assert_eq!(sub.subscription.current_period_end_ms, add_months(T0, 1));
    let twice = w.s.subscriptions.subscribe(&a, &pro.id).await.expect_err("twice");
    assert_eq!(twice.code(), "subscription_exists");
    let paid = w.s.payments.record_manual_payment(&a, &sub.invoice.id, pay(3451, "m1")).await.expect("pay");
    let grant = paid.credits.expect("plan credits");
    assert_eq!((grant.kind, grant.amount), (TransactionKind::Grant, 500));
    // Nothing is due before the period ends.
    let early = renew_subscriptions(&w.s, w.clock.now_ms()).await.expect("renew");
    assert!(early.renewed.is_empty() && early.past_due.is_empty(), "{early:?}");
    w.clock.advance_ms(add_months(T0, 1) - T0 + 3_600_000);
    let first = renew_subscriptions(&w.s, w.clock.now_ms()).await.expect("renew");
    assert_eq!(first.renewed.len(), 1, "{first:?}");
    assert_eq!(first.renewed[0].number.as_deref(), Some("INV-202612-0001"));
    let second = renew_subscriptions(&w.s, w.clock.now_ms()).await.expect("renew again");
    assert!(second.renewed.is_empty(), "a period is billed once: {second:?}");
    let invoices = w.s.invoices.list(&a, 100, None).await.expect("list");
    assert_eq!(invoices.items.len(), 2);
    let current = w.s.subscriptions.get(&a).await.expect("get");
    assert_eq!((current.period_number, current.current_period_start_ms), (2, add_months(T0, 1)));
    // Unpaid past its due date (14 days): past_due, once.
    w.clock.advance_ms(15 * DAY);
    let overdue = renew_subscriptions(&w.s, w.clock.now_ms()).await.expect("renew");
    assert_eq!(overdue.past_due, vec![a.clone()]);
    assert!(w.s.subscriptions.is_past_due(&a).await.expect("past due"));
    let renewal = first.renewed[0].invoice_id.clone();
    w.s.payments.record_manual_payment(&a, &renewal, pay(3451, "m2")).await.expect("pay");
    assert_eq!(w.s.subscriptions.get(&a).await.expect("get").status, SubscriptionStatus::Active);
    let calm = renew_subscriptions(&w.s, w.clock.now_ms()).await.expect("renew");
    assert!(calm.past_due.is_empty(), "{calm:?}");
    let b = w.s.credits.balance(&a).await.expect("balance");
    assert_eq!(b.credits, 1000, "500 credits per paid period, once each");
    // A plan change applies from the next period; a cancellation ends it at period end.
    let cheap =
        w.s.catalog
            .create_plan(NewPlan {
                name: "Lite".into(),
                monthly_price: 900,
                currency: eur(),
                included_monthly_credits: 100,
                tax_rate_bp: 0,
            })
            .await
            .expect("plan");
    let changed = w.s.subscriptions.change_plan(&a, &cheap.id).await.expect("change");
    assert_eq!((changed.plan_id.clone(), changed.next_plan_id.clone()), (pro.id.clone(), Some(cheap.id.clone())));
    w.clock.advance_ms(add_months(T0, 2) - w.clock.now_ms() + 1);
    let third = renew_subscriptions(&w.s, w.clock.now_ms()).await.expect("renew");
    assert_eq!(third.renewed.len(), 1);
    let lite = w.s.invoices.get(&a, &third.renewed[0].invoice_id).await.expect("get");
    assert_eq!(lite.total, 900);
    w.s.subscriptions.cancel(&a).await.expect("cancel");
    w.clock.advance_ms(add_months(T0, 3) - w.clock.now_ms() + 1);
    let ended = renew_subscriptions(&w.s, w.clock.now_ms()).await.expect("renew");
    assert_eq!((ended.renewed.len(), ended.cancelled.clone()), (0, vec![a.clone()]));
    assert_eq!(w.s.subscriptions.get(&a).await.expect("get").status, SubscriptionStatus::Cancelled);
    assert_reconciles(&w.s, &a).await;
}

/// Automation refuses to start for a past_due account with `account_past_due`, and
/// starts being considered again once the overdue invoice is paid.
async fn past_due_account_cannot_start_automation(store: Arc<dyn ItemStore>) {
    let dir = tempfile::tempdir().expect("dir");
    let clock = Arc::new(ManualClock::at(T0));
    let blobs = Arc::new(BlobDir::open(dir.path().join("blobs")).expect("blobs"));
    let queue = Arc::new(SqliteQueue::open(dir.path().join("queue.sqlite"), clock.clone()).expect("queue"));
    let adapters = Adapters { store: Arc::clone(&store), blobs, queue, blob_base: "blobs/".into() };
    let options = ExecutorOptions { time_scale: 0.0, ..ExecutorOptions::default() };
    let ai = Arc::new(OfflineProvider::with_year(2026));
    let rt = LocalRuntime::with_adapters(adapters, dir.path(), ai, clock.clone(), Arc::new(UuidIds), options)
        .expect("runtime");
    let s = &rt.services;
    let a = account(s, 1000).await;
    let site = s.account_service.create_site(&a, "Blog", "blog.example.com").await.expect("site");
    let sub = s.subscriptions.subscribe(&a, &plan(s).await.id).await.expect("subscribe");
    // In good standing the start is refused for another reason (no keywords imported).
    let before = rt.automation.start(&a, &site.id, "manual").await.expect_err("no keywords");
    assert_ne!(before.code(), "account_past_due");
    clock.advance_ms(15 * DAY);
    let report = renew_subscriptions(s, clock.now_ms()).await.expect("renew");
    assert_eq!(report.past_due, vec![a.clone()]);
    let refused = rt.automation.start(&a, &site.id, "manual").await.expect_err("past due");
    assert_eq!(refused.code(), "account_past_due");
    s.payments.record_manual_payment(&a, &sub.invoice.id, pay(sub.invoice.total, "late")).await.expect("pay");
    let after = rt.automation.start(&a, &site.id, "manual").await.expect_err("no keywords");
    assert_ne!(after.code(), "account_past_due");
}

/// The catalog refuses invalid entries; an inactive package cannot be bought.
async fn catalog_validates_its_entries(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let a = account(&w.s, 0).await;
    let new = |name: &str, credits: i64, price: i64| NewPackage {
        name: name.into(),
        credits,
        price,
        currency: eur(),
        tax_rate_bp: 0,
    };
    for (bad, field) in [
        (new("", 10, 100), "name"),
        (new(&"x".repeat(101), 10, 100), "name"),
        (new("ok", 0, 100), "credits"),
        (new("ok", 1_000_000_001, 100), "credits"),
        (new("ok", 10, -1), "price"),
    ] {
        let e = w.s.catalog.create_package(bad).await.expect_err(field);
        assert_eq!(e.code(), "validation_failed", "{field}");
    }
    let pkg = w.s.catalog.create_package(new(&"y".repeat(100), 10, 0)).await.expect("100 chars, free");
    assert_eq!(w.s.catalog.package_by_name(&"Y".repeat(100)).await.expect("by name").id, pkg.id);
    let off = PackageUpdate { active: Some(false), ..PackageUpdate::default() };
    w.s.catalog.update_package(&pkg.id, off).await.expect("deactivate");
    assert!(w.s.catalog.packages(false).await.expect("list").iter().all(|p| p.id != pkg.id));
    assert_eq!(w.s.catalog.packages(true).await.expect("list").len(), 1);
    let e = w.s.invoices.create_for_package(&a, &pkg.id).await.expect_err("inactive");
    assert_eq!(e.code(), "package_inactive");
    let missing = igny8_core::domain::PackageId::derive("missing");
    assert_eq!(w.s.catalog.package(&missing).await.expect_err("missing").code(), "package_not_found");
}

/// Credits granted once per paid invoice: a zero-total invoice is paid at finalize and
/// its credits are added in that transaction, once however often it is finalized.
async fn a_free_package_is_paid_at_finalize_with_its_credits_once(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let a = account(&w.s, 0).await;
    let free = package(&w.s, 50, 0).await;
    let draft = w.s.invoices.create_for_package(&a, &free.id).await.expect("draft");
    let paid = w.s.invoices.finalize(&a, &draft.id).await.expect("finalize");
    assert_eq!((paid.status, paid.total, paid.paid_at.is_some()), (InvoiceStatus::Paid, 0, true));
    let again = w.s.invoices.finalize(&a, &draft.id).await.expect("again");
    assert_eq!(again.version, paid.version);
    assert_eq!(entries_for(&w.s, &a, &paid).await, vec![(TransactionKind::TopUp, 50)]);
    assert_eq!(w.s.credits.balance(&a).await.expect("balance").credits, 50);
    assert_reconciles(&w.s, &a).await;
}

fn probe_item(sk: &str) -> (Key, WriteOp) {
    let key = Key::new("TEST#COMPANION", sk);
    let mut item = Item::new();
    item.insert("PK".into(), json!(key.pk));
    item.insert("SK".into(), json!(key.sk));
    (key, WriteOp::Put { item, condition: Some(Condition::ItemNotExists) })
}

/// All or nothing (ledger invariant 4 with companions): a companion whose condition
/// fails is reported as such and nothing — neither credits nor other companions — is
/// written; a debit never takes more than is spendable.
async fn a_failed_companion_write_writes_nothing(store: Arc<dyn ItemStore>) {
    let w = world(&store);
    let a = account(&w.s, 100).await;
    let (first, put_first) = probe_item("FIRST");
    let (missing, _) = probe_item("MISSING");
    let check_missing = WriteOp::Check { key: missing, condition: Condition::ItemExists };
    let posted =
        w.s.credits
            .add_with(&a, 50, TransactionKind::Grant, "promo", None, None, vec![put_first.clone(), check_missing])
            .await
            .expect("posting");
    assert_eq!(posted, Posted::CompanionFailed { index: 1 });
    assert!(store.get(&first).await.expect("get").is_none(), "no companion written");
    assert_eq!(w.s.credits.balance(&a).await.expect("balance").credits, 100, "no credits written");
    let landed =
        w.s.credits
            .add_with(&a, 50, TransactionKind::Grant, "promo", None, None, vec![put_first])
            .await
            .expect("posting");
    assert!(matches!(landed, Posted::Landed(ref r) if r.transaction.amount == 50), "{landed:?}");
    assert!(store.get(&first).await.expect("get").is_some());
    let (second, put_second) = probe_item("SECOND");
    let short = w.s.credits.remove_with(&a, 151, "refund", None, vec![put_second.clone()]).await;
    assert!(matches!(short, Err(CreditError::InsufficientCredits { required: 151, available: 150 })), "{short:?}");
    assert!(store.get(&second).await.expect("get").is_none());
    let removed = w.s.credits.remove_with(&a, 150, "refund", None, vec![put_second]).await.expect("remove");
    assert!(matches!(removed, Posted::Landed(ref r) if r.transaction.balance_after == 0), "{removed:?}");
    assert!(store.get(&second).await.expect("get").is_some());
    assert_reconciles(&w.s, &a).await;
}
