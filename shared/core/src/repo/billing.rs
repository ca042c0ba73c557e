//! Storage shape of billing documents: invoices and their number counters, payments,
//! credit notes, the catalog, subscriptions and billing profiles. The rules that
//! combine them live in `billing::{invoices, payments, catalog, subscriptions}`.

use std::sync::Arc;

use serde_json::Value;

use super::{from_item, keys, to_item, IdempotencyMarker, RepoError};
use crate::domain::{
    AccountId, BillingProfile, CreditNote, CreditNoteId, CreditPackage, Invoice, InvoiceId, InvoiceSource,
    InvoiceStatus, PackageId, Payment, PaymentId, Plan, PlanId, Subscription, SubscriptionStatus,
};
use crate::ports::{all_pages, Condition, ItemStore, Key, Page, Query, UpdateAction, WriteOp};

/// Reads and encodes billing records; every write it builds carries the condition that
/// makes it safe under concurrency (absence for new records, the read version otherwise).
#[derive(Clone)]
pub struct BillingRepo {
    store: Arc<dyn ItemStore>,
}

/// Where an invoice is indexed: open plan-period invoices by due time, nothing else.
fn invoice_gsi(invoice: &Invoice) -> Option<(String, String)> {
    let open = matches!(invoice.status, InvoiceStatus::Open | InvoiceStatus::Uncollectible);
    match (&invoice.source, invoice.due_ms) {
        (InvoiceSource::PlanPeriod { .. }, Some(due)) if open => {
            Some((keys::PLAN_INVOICES_DUE_INDEX.to_owned(), keys::plan_invoice_due_sort(due, &invoice.id)))
        }
        _ => None,
    }
}

impl BillingRepo {
    /// A repository over the store.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    /// The store, for the services that write these records in transactions.
    pub fn store(&self) -> &Arc<dyn ItemStore> {
        &self.store
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, RepoError> {
        self.store.get(key).await?.map(from_item).transpose()
    }

    async fn page<T: serde::de::DeserializeOwned>(&self, query: &Query) -> Result<Page<T>, RepoError> {
        self.store.query(query).await?.try_map(from_item)
    }

    // --- invoices -------------------------------------------------------------------

    /// One invoice of the account.
    pub async fn invoice(&self, account: &AccountId, id: &InvoiceId) -> Result<Option<Invoice>, RepoError> {
        self.get(&keys::invoice(account, id)).await
    }

    /// One page of the account's invoices, newest first.
    pub async fn invoices(
        &self,
        account: &AccountId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<Invoice>, RepoError> {
        let q = Query::partition(keys::invoice_partition(account))
            .prefix(keys::INVOICE_PREFIX)
            .descending()
            .limit(limit)
            .after(cursor);
        self.page(&q).await
    }

    fn invoice_put(invoice: &Invoice, condition: Condition) -> Result<WriteOp, RepoError> {
        let key = keys::invoice(&invoice.account_id, &invoice.id);
        let item = to_item(invoice, "invoice", &key, invoice_gsi(invoice))?;
        Ok(WriteOp::Put { item, condition: Some(condition) })
    }

    /// A put of a new invoice (fails when the id is taken: derived ids dedupe).
    pub fn invoice_create(&self, invoice: &Invoice) -> Result<WriteOp, RepoError> {
        Self::invoice_put(invoice, Condition::ItemNotExists)
    }

    /// A put of the invoice's next state, valid only if it is still at `read_version`.
    pub fn invoice_replace(&self, invoice: &Invoice, read_version: i64) -> Result<WriteOp, RepoError> {
        Self::invoice_put(invoice, Condition::eq("version", read_version))
    }

    /// The deletion of a draft, valid only if it is still the draft that was read.
    pub fn invoice_delete(&self, invoice: &Invoice) -> WriteOp {
        WriteOp::Delete {
            key: keys::invoice(&invoice.account_id, &invoice.id),
            condition: Some(Condition::And(vec![
                Condition::eq("version", invoice.version),
                Condition::eq("status", InvoiceStatus::Draft.as_str()),
            ])),
        }
    }

    /// Records the rendered PDF of `version`; does nothing (Ok(false)) when the invoice
    /// has changed since, so a stale PDF is never recorded as current.
    pub async fn set_pdf(&self, invoice: &Invoice, pdf_key: &str) -> Result<bool, RepoError> {
        let key = keys::invoice(&invoice.account_id, &invoice.id);
        let actions = vec![UpdateAction::set("pdf_key", pdf_key), UpdateAction::set("pdf_version", invoice.version)];
        match self.store.update(&key, actions, Some(Condition::eq("version", invoice.version))).await {
            Ok(_) => Ok(true),
            Err(crate::ports::StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The last number issued to the account in `month` (`YYYYMM`), 0 for none.
    pub async fn invoice_counter(&self, account: &AccountId, month: &str) -> Result<i64, RepoError> {
        let item = self.store.get(&keys::invoice_counter(account, month)).await?;
        Ok(item.as_ref().map_or(0, |i| super::int_attr(i, "last")))
    }

    /// The move of the month's counter from `next − 1` to `next`: fails when another
    /// finalize took `next` first, so numbers are unique and gapless.
    pub fn invoice_counter_write(&self, account: &AccountId, month: &str, next: i64) -> WriteOp {
        let condition = if next == 1 { Condition::ItemNotExists } else { Condition::eq("last", next - 1) };
        WriteOp::Update {
            key: keys::invoice_counter(account, month),
            actions: vec![UpdateAction::set("last", next), UpdateAction::set("type", "invoice_counter")],
            condition: Some(condition),
        }
    }

    /// One page of open plan-period invoices by due time, earliest first (every
    /// account: the scheduler's view).
    pub async fn plan_invoices_by_due(&self, limit: usize, cursor: Option<String>) -> Result<Page<Invoice>, RepoError> {
        let q = Query::partition(keys::PLAN_INVOICES_DUE_INDEX).on_gsi1().limit(limit).after(cursor);
        self.page(&q).await
    }

    // --- payments and credit notes ----------------------------------------------------

    /// One payment of the account.
    pub async fn payment(&self, account: &AccountId, id: &PaymentId) -> Result<Option<Payment>, RepoError> {
        self.get(&keys::payment(account, id)).await
    }

    /// One page of the account's payments, newest first.
    pub async fn payments(
        &self,
        account: &AccountId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<Payment>, RepoError> {
        let q = Query::partition(keys::payment_partition(account))
            .prefix(keys::PAYMENT_PREFIX)
            .descending()
            .limit(limit)
            .after(cursor);
        self.page(&q).await
    }

    /// Every payment of one invoice, oldest first.
    pub async fn invoice_payments(&self, account: &AccountId, invoice: &InvoiceId) -> Result<Vec<Payment>, RepoError> {
        all_pages(|cursor| async move {
            let q = Query::partition(keys::invoice_payments_index(account, invoice)).on_gsi1().after(cursor);
            self.page(&q).await
        })
        .await
    }

    fn payment_put(payment: &Payment, condition: Condition) -> Result<WriteOp, RepoError> {
        let key = keys::payment(&payment.account_id, &payment.id);
        let gsi = (keys::invoice_payments_index(&payment.account_id, &payment.invoice_id), key.sk.clone());
        let item = to_item(payment, "payment", &key, Some(gsi))?;
        Ok(WriteOp::Put { item, condition: Some(condition) })
    }

    /// A put of a new payment.
    pub fn payment_create(&self, payment: &Payment) -> Result<WriteOp, RepoError> {
        Self::payment_put(payment, Condition::ItemNotExists)
    }

    /// A put of the payment's next state, valid only if it is still at `read_version`.
    pub fn payment_replace(&self, payment: &Payment, read_version: i64) -> Result<WriteOp, RepoError> {
        Self::payment_put(payment, Condition::eq("version", read_version))
    }

    /// The marker of a payment or refund idempotency key, if it was used.
    pub async fn marker(&self, account: &AccountId, key: &str) -> Result<Option<IdempotencyMarker>, RepoError> {
        self.get(&keys::payment_idempotency(account, key)).await
    }

    /// A put of a payment or refund idempotency marker that fails if the key was used.
    pub fn marker_write(
        &self,
        account: &AccountId,
        key: &str,
        fingerprint: &str,
        result: Value,
    ) -> Result<WriteOp, RepoError> {
        let marker = IdempotencyMarker { fingerprint: fingerprint.to_owned(), result };
        let item = to_item(&marker, "payment_idempotency_marker", &keys::payment_idempotency(account, key), None)?;
        Ok(WriteOp::Put { item, condition: Some(Condition::ItemNotExists) })
    }

    /// A put of a new credit note.
    pub fn credit_note_create(&self, note: &CreditNote) -> Result<WriteOp, RepoError> {
        let key = keys::credit_note(&note.account_id, &note.id);
        let gsi = (keys::invoice_credit_notes_index(&note.account_id, &note.invoice_id), key.sk.clone());
        let item = to_item(note, "credit_note", &key, Some(gsi))?;
        Ok(WriteOp::Put { item, condition: Some(Condition::ItemNotExists) })
    }

    /// One credit note of the account.
    pub async fn credit_note(&self, account: &AccountId, id: &CreditNoteId) -> Result<Option<CreditNote>, RepoError> {
        self.get(&keys::credit_note(account, id)).await
    }

    /// Every credit note of one invoice, oldest first.
    pub async fn invoice_credit_notes(
        &self,
        account: &AccountId,
        invoice: &InvoiceId,
    ) -> Result<Vec<CreditNote>, RepoError> {
        all_pages(|cursor| async move {
            let q = Query::partition(keys::invoice_credit_notes_index(account, invoice)).on_gsi1().after(cursor);
            self.page(&q).await
        })
        .await
    }

    // --- catalog ------------------------------------------------------------------------

    /// One credit package.
    pub async fn package(&self, id: &PackageId) -> Result<Option<CreditPackage>, RepoError> {
        self.get(&keys::package(id)).await
    }

    /// Stores a package (`create`: it must not exist yet).
    pub async fn put_package(&self, package: &CreditPackage, create: bool) -> Result<(), RepoError> {
        let item = to_item(package, "credit_package", &keys::package(&package.id), None)?;
        let condition = if create { Condition::ItemNotExists } else { Condition::ItemExists };
        Ok(self.store.put(item, Some(condition)).await?)
    }

    /// Every credit package, in id (creation) order.
    pub async fn packages(&self) -> Result<Vec<CreditPackage>, RepoError> {
        all_pages(|cursor| async move {
            let q = Query::partition(keys::PACKAGE_PARTITION).prefix(keys::PACKAGE_PREFIX).after(cursor);
            self.page(&q).await
        })
        .await
    }

    /// One plan.
    pub async fn plan(&self, id: &PlanId) -> Result<Option<Plan>, RepoError> {
        self.get(&keys::plan(id)).await
    }

    /// Stores a plan (`create`: it must not exist yet).
    pub async fn put_plan(&self, plan: &Plan, create: bool) -> Result<(), RepoError> {
        let item = to_item(plan, "plan", &keys::plan(&plan.id), None)?;
        let condition = if create { Condition::ItemNotExists } else { Condition::ItemExists };
        Ok(self.store.put(item, Some(condition)).await?)
    }

    /// Every plan, in id (creation) order.
    pub async fn plans(&self) -> Result<Vec<Plan>, RepoError> {
        all_pages(|cursor| async move {
            let q = Query::partition(keys::PLAN_PARTITION).prefix(keys::PLAN_PREFIX).after(cursor);
            self.page(&q).await
        })
        .await
    }

    // --- subscriptions and profiles ----------------------------------------------------

    /// The account's subscription.
    pub async fn subscription(&self, account: &AccountId) -> Result<Option<Subscription>, RepoError> {
        self.get(&keys::subscription(account)).await
    }

    /// A put of the subscription: new (`read_version` None: it must not exist) or
    /// replacing the version read. A live one is indexed by its period end.
    pub fn subscription_write(&self, sub: &Subscription, read_version: Option<i64>) -> Result<WriteOp, RepoError> {
        let gsi = (sub.status != SubscriptionStatus::Cancelled).then(|| {
            (
                keys::SUBSCRIPTIONS_DUE_INDEX.to_owned(),
                keys::subscription_due_sort(sub.current_period_end_ms, &sub.account_id),
            )
        });
        let item = to_item(sub, "subscription", &keys::subscription(&sub.account_id), gsi)?;
        let condition = read_version.map_or(Condition::ItemNotExists, |v| Condition::eq("version", v));
        Ok(WriteOp::Put { item, condition: Some(condition) })
    }

    /// One page of live subscriptions by period end, earliest first (every account:
    /// the scheduler's view).
    pub async fn subscriptions_by_period_end(
        &self,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<Subscription>, RepoError> {
        let q = Query::partition(keys::SUBSCRIPTIONS_DUE_INDEX).on_gsi1().limit(limit).after(cursor);
        self.page(&q).await
    }

    /// The account's billing profile.
    pub async fn profile(&self, account: &AccountId) -> Result<Option<BillingProfile>, RepoError> {
        self.get(&keys::billing_profile(account)).await
    }

    /// Stores (replaces) the account's billing profile.
    pub async fn put_profile(&self, profile: &BillingProfile) -> Result<(), RepoError> {
        let item = to_item(profile, "billing_profile", &keys::billing_profile(&profile.account_id), None)?;
        Ok(self.store.put(item, None).await?)
    }
}
