//! PaymentService: payments against invoices and refunds as credit notes
//! (docs/billing.md).
//!
//! A payment is one transaction: the invoice's next state (condition: the version
//! read), the payment, the idempotency marker (condition: absent) and — when it pays
//! a package or plan invoice in full — the ledger entry that adds its credits. The
//! version condition lets the move to `paid` happen once, so the credits are added
//! once, whatever the replays and races. A refund is likewise one transaction: the
//! payment, the invoice, the credit note, the marker and the ledger entry that takes
//! the invoice's credits back out, never more than are spendable.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::credits::{CreditError, CreditService, Posted};
use super::invoices::{credit_kind, InvoiceError, InvoiceService};
use super::money::{self, MoneyError};
use super::subscriptions;
use crate::domain::{
    AccountId, CreditNote, CreditNoteId, CreditTransaction, Currency, Invoice, InvoiceId, InvoiceSource, InvoiceStatus,
    Payment, PaymentId, PaymentMethod, PaymentStatus,
};
use crate::ports::clock::rfc3339;
use crate::ports::{Clock, IdGenerator, IdGeneratorExt, Page, StoreError};
use crate::repo::{BillingRepo, RepoError};
use crate::retry::{retry_on_conflict, Attempt, RetryPolicy};

/// Longest idempotency key, reference or provider name, in bytes.
const MAX_TEXT: usize = 255;
/// Longest failure or refund reason, in characters.
const MAX_REASON_CHARS: usize = 500;

/// Errors of payments and refunds; each is a refusal that wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// No such invoice on this account.
    #[error("invoice {0} not found")]
    InvoiceNotFound(InvoiceId),
    /// No such payment on this account.
    #[error("payment {0} not found")]
    PaymentNotFound(PaymentId),
    /// Only open or uncollectible invoices take payments.
    #[error("invoice {id} is {status:?}: only an open or uncollectible invoice takes payments")]
    InvoiceNotPayable {
        /// The invoice.
        id: InvoiceId,
        /// Its status.
        status: InvoiceStatus,
    },
    /// The invoice is already paid in full.
    #[error("invoice {0} is already paid")]
    InvoiceAlreadyPaid(InvoiceId),
    /// More than is due.
    #[error("amount {amount} exceeds the {due} due")]
    AmountExceedsDue {
        /// Asked.
        amount: i64,
        /// Due.
        due: i64,
    },
    /// Amounts are positive minor units.
    #[error("amount must be 1 to 10^15 minor units, got {0}")]
    InvalidAmount(i64),
    /// The payment's currency is not the invoice's.
    #[error("payment in {payment} for an invoice in {invoice}")]
    CurrencyMismatch {
        /// The invoice's currency.
        invoice: Currency,
        /// The payment's currency.
        payment: Currency,
    },
    /// Only a succeeded (or partly refunded) payment can be refunded.
    #[error("payment {id} is {status:?}: only a succeeded payment can be refunded")]
    NotRefundable {
        /// The payment.
        id: PaymentId,
        /// Its status.
        status: PaymentStatus,
    },
    /// More than is left to refund.
    #[error("refund of {amount} exceeds the {refundable} left to refund")]
    AmountExceedsRefundable {
        /// Asked.
        amount: i64,
        /// Left.
        refundable: i64,
    },
    /// The idempotency key is empty or too long.
    #[error("idempotency key must be 1 to 255 printable characters")]
    InvalidKey,
    /// The idempotency key was first used for a different request.
    #[error("idempotency key {key:?} was already used for a different request ({first})")]
    KeyReused {
        /// The key.
        key: String,
        /// What it was used for.
        first: String,
    },
    /// A text field is out of range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Contention did not let the write through in the allowed attempts.
    #[error("the invoice is too contended, retry later ({attempts} attempts)")]
    Contended {
        /// Attempts made.
        attempts: u32,
    },
    /// An invoice operation failed.
    #[error(transparent)]
    Invoice(#[from] InvoiceError),
    /// The ledger refused.
    #[error(transparent)]
    Credits(#[from] CreditError),
    /// Money arithmetic failed.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// Storage failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<StoreError> for PaymentError {
    fn from(e: StoreError) -> Self {
        Self::Repo(RepoError::Store(e))
    }
}

impl PaymentError {
    /// The stable code the API and the CLI report (docs/billing.md).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvoiceNotFound(_) => "invoice_not_found",
            Self::PaymentNotFound(_) => "payment_not_found",
            Self::InvoiceNotPayable { .. } => "invoice_not_payable",
            Self::InvoiceAlreadyPaid(_) => "invoice_already_paid",
            Self::AmountExceedsDue { .. } => "amount_exceeds_due",
            Self::InvalidAmount(_) => "invalid_amount",
            Self::CurrencyMismatch { .. } => "currency_mismatch",
            Self::NotRefundable { .. } => "payment_not_refundable",
            Self::AmountExceedsRefundable { .. } => "amount_exceeds_refundable",
            Self::InvalidKey => "invalid_idempotency_key",
            Self::KeyReused { .. } => "idempotency_key_reused",
            Self::Invalid { .. } => "validation_failed",
            Self::Contended { .. } => "contended",
            Self::Invoice(e) => e.code(),
            Self::Credits(e) => e.code(),
            Self::Money(e) => e.code(),
            Self::Repo(e) => e.code(),
        }
    }
}

/// A payment recorded by an operator (cash, cheque, a transfer seen on the statement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManualPayment {
    /// Minor units, 1 to the amount due.
    pub amount: i64,
    /// The operator's reference (statement line, receipt number).
    pub reference: String,
    /// How it was paid (`manual` or `bank_transfer`).
    #[serde(default = "manual")]
    pub method: PaymentMethod,
    /// Makes recording it idempotent: a repeat returns the first payment.
    pub idempotency_key: String,
}

fn manual() -> PaymentMethod {
    PaymentMethod::Manual
}

/// A succeeded payment reported by a payment provider (a webhook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderPayment {
    /// The provider, e.g. `stripe`.
    pub provider: String,
    /// The provider's id of the payment (payment intent).
    pub provider_reference: String,
    /// Minor units.
    pub amount: i64,
    /// Must be the invoice's currency.
    pub currency: Currency,
    /// How it was paid.
    pub method: PaymentMethod,
    /// Derived from the provider's event, so a redelivered event records nothing new.
    pub idempotency_key: String,
}

/// A payment attempt that did not go through; the invoice is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailedPayment {
    /// `manual` or the provider, e.g. `stripe`.
    pub provider: String,
    /// The provider's id of the attempt.
    pub provider_reference: Option<String>,
    /// Minor units attempted.
    pub amount: i64,
    /// Must be the invoice's currency.
    pub currency: Currency,
    /// How it was attempted.
    pub method: PaymentMethod,
    /// Why it failed (1 to 500 characters).
    pub reason: String,
    /// Derived from the provider's event.
    pub idempotency_key: String,
}

/// A refund of (part of) a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefundRequest {
    /// Minor units; None refunds what is left of the payment.
    pub amount: Option<i64>,
    /// Why (1 to 500 characters), printed on the credit note.
    pub reason: String,
    /// Makes the refund idempotent: a repeat returns the first credit note.
    pub idempotency_key: String,
}

/// What a payment did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentOutcome {
    /// The payment.
    pub payment: Payment,
    /// The invoice after it.
    pub invoice: Invoice,
    /// The ledger entry of the credits it added (None: none, or a replay).
    pub credits: Option<CreditTransaction>,
    /// True when the idempotency key matched and nothing new was written.
    pub replayed: bool,
}

/// What a refund did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefundOutcome {
    /// The credit note recording it.
    pub credit_note: CreditNote,
    /// The payment after it.
    pub payment: Payment,
    /// The invoice after it.
    pub invoice: Invoice,
    /// True when the idempotency key matched and nothing new was written.
    pub replayed: bool,
}

fn check_key(key: &str) -> Result<(), PaymentError> {
    if key.is_empty() || key.len() > MAX_TEXT || key.chars().any(char::is_control) {
        return Err(PaymentError::InvalidKey);
    }
    Ok(())
}

fn check_text(field: &'static str, value: &str, max_chars: usize) -> Result<String, PaymentError> {
    let value = value.trim();
    let chars = value.chars().count();
    if chars == 0 || chars > max_chars || value.chars().any(char::is_control) {
        return Err(PaymentError::Invalid { field, reason: format!("must be 1 to {max_chars} printable characters") });
    }
    Ok(value.to_owned())
}

fn check_positive(amount: i64) -> Result<i64, PaymentError> {
    if (1..=money::MAX_AMOUNT).contains(&amount) {
        Ok(amount)
    } else {
        Err(PaymentError::InvalidAmount(amount))
    }
}

/// A payment being recorded, whatever its origin.
struct Attempted {
    amount: i64,
    currency: Option<Currency>,
    method: PaymentMethod,
    provider: String,
    provider_reference: Option<String>,
    failure_reason: Option<String>,
    key: String,
}

impl Attempted {
    fn fingerprint(&self, invoice: &InvoiceId) -> String {
        let outcome = if self.failure_reason.is_some() { "failed" } else { "succeeded" };
        format!("payment:{invoice}:{}:{}:{outcome}", self.amount, self.provider)
    }
}

/// Payments, refunds and credit notes.
#[derive(Clone)]
pub struct PaymentService {
    repo: BillingRepo,
    invoices: InvoiceService,
    credits: CreditService,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    retry: RetryPolicy,
}

impl PaymentService {
    /// Payments over the invoices and the ledger.
    pub fn new(
        invoices: InvoiceService,
        credits: CreditService,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self { repo: invoices.repo().clone(), invoices, credits, clock, ids, retry: RetryPolicy::default() }
    }

    /// Replaces the retry policy (tests tune contention behaviour).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Records an operator's payment: 0 < amount ≤ amount due. Paying the rest marks
    /// the invoice paid and adds a package's or plan's credits in the same
    /// transaction. A repeated idempotency key returns the first payment.
    pub async fn record_manual_payment(
        &self,
        account: &AccountId,
        invoice: &InvoiceId,
        payment: ManualPayment,
    ) -> Result<PaymentOutcome, PaymentError> {
        let reference = check_text("reference", &payment.reference, MAX_TEXT)?;
        let attempted = Attempted {
            amount: check_positive(payment.amount)?,
            currency: None,
            method: payment.method,
            provider: "manual".to_owned(),
            provider_reference: Some(reference),
            failure_reason: None,
            key: payment.idempotency_key,
        };
        self.record(account, invoice, attempted).await
    }

    /// Records a provider's succeeded payment (a webhook), as a manual one is recorded;
    /// the idempotency key derived from the provider's event makes redelivery harmless.
    pub async fn record_provider_payment(
        &self,
        account: &AccountId,
        invoice: &InvoiceId,
        payment: ProviderPayment,
    ) -> Result<PaymentOutcome, PaymentError> {
        let attempted = Attempted {
            amount: check_positive(payment.amount)?,
            currency: Some(payment.currency),
            method: payment.method,
            provider: check_text("provider", &payment.provider, 40)?,
            provider_reference: Some(check_text("provider_reference", &payment.provider_reference, MAX_TEXT)?),
            failure_reason: None,
            key: payment.idempotency_key,
        };
        self.record(account, invoice, attempted).await
    }

    /// Records a failed payment attempt with its reason; the invoice is unchanged.
    pub async fn record_failed_payment(
        &self,
        account: &AccountId,
        invoice: &InvoiceId,
        failed: FailedPayment,
    ) -> Result<PaymentOutcome, PaymentError> {
        let reference = failed.provider_reference.as_deref().map(|r| check_text("provider_reference", r, MAX_TEXT));
        let attempted = Attempted {
            amount: check_positive(failed.amount)?,
            currency: Some(failed.currency),
            method: failed.method,
            provider: check_text("provider", &failed.provider, 40)?,
            provider_reference: reference.transpose()?,
            failure_reason: Some(check_text("reason", &failed.reason, MAX_REASON_CHARS)?),
            key: failed.idempotency_key,
        };
        self.record(account, invoice, attempted).await
    }

    async fn record(
        &self,
        account: &AccountId,
        invoice_id: &InvoiceId,
        attempted: Attempted,
    ) -> Result<PaymentOutcome, PaymentError> {
        check_key(&attempted.key)?;
        let attempted = &attempted;
        let outcome = retry_on_conflict(
            &self.retry,
            move |_| async move { self.record_attempt(account, invoice_id, attempted).await },
            |attempts| PaymentError::Contended { attempts },
        )
        .await?;
        if outcome.replayed || outcome.payment.status != PaymentStatus::Succeeded {
            return Ok(outcome);
        }
        let invoice = self.invoices.refresh_document(outcome.invoice).await;
        if invoice.status == InvoiceStatus::Paid && matches!(invoice.source, InvoiceSource::PlanPeriod { .. }) {
            subscriptions::reinstate_after_payment(&self.repo, self.clock.as_ref(), account).await?;
        }
        Ok(PaymentOutcome { invoice, ..outcome })
    }

    /// The first result of an idempotency key, if it was used; refuses a reused key
    /// whose first request differed. The marker stores the ids of what it created.
    async fn replayed(&self, account: &AccountId, key: &str, fingerprint: &str) -> Result<Option<Value>, PaymentError> {
        let Some(marker) = self.repo.marker(account, key).await? else { return Ok(None) };
        if marker.fingerprint != fingerprint {
            return Err(PaymentError::KeyReused { key: key.to_owned(), first: marker.fingerprint });
        }
        Ok(Some(marker.result))
    }

    fn id_in<T: std::str::FromStr>(result: &Value, field: &str, key: &str) -> Result<T, PaymentError> {
        result.get(field).and_then(Value::as_str).and_then(|s| s.parse().ok()).ok_or_else(|| {
            PaymentError::Repo(RepoError::Corrupt { key: key.to_owned(), reason: format!("marker without {field}") })
        })
    }

    /// The first outcome of a payment's idempotency key, if it was used.
    async fn replay_payment(
        &self,
        account: &AccountId,
        invoice_id: &InvoiceId,
        key: &str,
        fingerprint: &str,
    ) -> Result<Option<PaymentOutcome>, PaymentError> {
        let Some(first) = self.replayed(account, key, fingerprint).await? else { return Ok(None) };
        let payment_id: PaymentId = Self::id_in(&first, "payment_id", key)?;
        let payment = self.get(account, &payment_id).await?;
        let invoice = self.invoice(account, invoice_id).await?;
        Ok(Some(PaymentOutcome { payment, invoice, credits: None, replayed: true }))
    }

    /// The first outcome of a refund's idempotency key, if it was used.
    async fn replay_refund(
        &self,
        account: &AccountId,
        payment_id: &PaymentId,
        key: &str,
        fingerprint: &str,
    ) -> Result<Option<RefundOutcome>, PaymentError> {
        let Some(first) = self.replayed(account, key, fingerprint).await? else { return Ok(None) };
        let note_id: CreditNoteId = Self::id_in(&first, "credit_note_id", key)?;
        let payment = self.get(account, payment_id).await?;
        let invoice = self.invoice(account, &payment.invoice_id).await?;
        let credit_note = self.repo.credit_note(account, &note_id).await?.ok_or_else(|| {
            PaymentError::Repo(RepoError::Corrupt { key: key.to_owned(), reason: "credit note missing".into() })
        })?;
        Ok(Some(RefundOutcome { credit_note, payment, invoice, replayed: true }))
    }

    async fn record_attempt(
        &self,
        account: &AccountId,
        invoice_id: &InvoiceId,
        attempted: &Attempted,
    ) -> Result<Attempt<PaymentOutcome>, PaymentError> {
        let fingerprint = attempted.fingerprint(invoice_id);
        if let Some(first) = self.replay_payment(account, invoice_id, &attempted.key, &fingerprint).await? {
            return Ok(Attempt::Done(first));
        }
        let read = self.invoice(account, invoice_id).await?;
        if let Some(currency) = &attempted.currency {
            if currency != &read.currency {
                return Err(PaymentError::CurrencyMismatch { invoice: read.currency, payment: currency.clone() });
            }
        }
        let succeeded = attempted.failure_reason.is_none();
        if succeeded {
            let refusal = match read.status {
                InvoiceStatus::Open | InvoiceStatus::Uncollectible if attempted.amount > read.amount_due => {
                    Some(PaymentError::AmountExceedsDue { amount: attempted.amount, due: read.amount_due })
                }
                InvoiceStatus::Open | InvoiceStatus::Uncollectible => None,
                InvoiceStatus::Paid => Some(PaymentError::InvoiceAlreadyPaid(read.id.clone())),
                status => Some(PaymentError::InvoiceNotPayable { id: read.id.clone(), status }),
            };
            if let Some(refusal) = refusal {
                // The same payment may have landed between the marker read and the
                // invoice read: then this call is its replay, not a refusal.
                return match self.replay_payment(account, invoice_id, &attempted.key, &fingerprint).await? {
                    Some(first) => Ok(Attempt::Done(first)),
                    None => Err(refusal),
                };
            }
        }
        let now = rfc3339(self.clock.now_ms());
        let payment = Payment {
            id: self.ids.generate::<PaymentId>(),
            invoice_id: read.id.clone(),
            account_id: account.clone(),
            amount: attempted.amount,
            currency: read.currency.clone(),
            method: attempted.method,
            provider: attempted.provider.clone(),
            provider_reference: attempted.provider_reference.clone(),
            status: if succeeded { PaymentStatus::Succeeded } else { PaymentStatus::Failed },
            failure_reason: attempted.failure_reason.clone(),
            amount_refunded: 0,
            idempotency_key: Some(attempted.key.clone()),
            version: 0,
            created_at: now.clone(),
            updated_at: now,
        };
        let marker =
            self.repo.marker_write(account, &attempted.key, &fingerprint, json!({ "payment_id": payment.id }))?;
        let mut writes = vec![self.repo.payment_create(&payment)?, marker];
        let invoice = if succeeded {
            let next = self.invoices.apply_payment(&read, attempted.amount)?;
            writes.push(self.invoices.replace_write(&next, read.version)?);
            next
        } else {
            read
        };
        let credits = invoice.source.credits_on_payment();
        if succeeded && invoice.status == InvoiceStatus::Paid && credits > 0 {
            let (kind, reason) = credit_kind(&invoice.source);
            let posted = self
                .credits
                .add_with(account, credits, kind, reason, Some(invoice.id.to_string()), None, writes)
                .await?;
            return Ok(match posted {
                Posted::Landed(receipt) => Attempt::Done(PaymentOutcome {
                    payment,
                    invoice,
                    credits: Some(receipt.transaction),
                    replayed: false,
                }),
                // The invoice moved or the key was used meanwhile: read both again.
                Posted::CompanionFailed { .. } => Attempt::Retry,
            });
        }
        match self.repo.store().transact(writes).await {
            Ok(()) => Ok(Attempt::Done(PaymentOutcome { payment, invoice, credits: None, replayed: false })),
            Err(StoreError::ConditionFailed(_)) => Ok(Attempt::Retry),
            Err(e) if e.is_transient() => Ok(Attempt::Retry),
            Err(e) => Err(e.into()),
        }
    }

    async fn invoice(&self, account: &AccountId, id: &InvoiceId) -> Result<Invoice, PaymentError> {
        self.repo.invoice(account, id).await?.ok_or_else(|| PaymentError::InvoiceNotFound(id.clone()))
    }

    /// Refunds (part of) a succeeded payment and records a credit note. For an invoice
    /// that added credits, its share of them — credits × refund / total, rounded half
    /// away from zero — comes back out of the balance, but never more than is
    /// spendable: what was already spent is recorded on the credit note as
    /// `credits_unrecoverable` (docs/billing.md). A paid invoice stays paid.
    pub async fn refund(
        &self,
        account: &AccountId,
        payment_id: &PaymentId,
        request: RefundRequest,
    ) -> Result<RefundOutcome, PaymentError> {
        check_key(&request.idempotency_key)?;
        let reason = check_text("reason", &request.reason, MAX_REASON_CHARS)?;
        if let Some(amount) = request.amount {
            check_positive(amount)?;
        }
        let (request, reason) = (&request, reason.as_str());
        let outcome = retry_on_conflict(
            &self.retry,
            move |_| async move { self.refund_attempt(account, payment_id, request, reason).await },
            |attempts| PaymentError::Contended { attempts },
        )
        .await?;
        if outcome.replayed {
            return Ok(outcome);
        }
        let invoice = self.invoices.refresh_document(outcome.invoice).await;
        Ok(RefundOutcome { invoice, ..outcome })
    }

    async fn refund_attempt(
        &self,
        account: &AccountId,
        payment_id: &PaymentId,
        request: &RefundRequest,
        reason: &str,
    ) -> Result<Attempt<RefundOutcome>, PaymentError> {
        let asked = request.amount.map_or_else(|| "rest".to_owned(), |a| a.to_string());
        let fingerprint = format!("refund:{payment_id}:{asked}");
        let key = request.idempotency_key.as_str();
        if let Some(first) = self.replay_refund(account, payment_id, key, &fingerprint).await? {
            return Ok(Attempt::Done(first));
        }
        let payment = self.get(account, payment_id).await?;
        let refundable = payment.amount - payment.amount_refunded;
        let amount = request.amount.unwrap_or(refundable);
        let refusal = if !matches!(payment.status, PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded) {
            Some(PaymentError::NotRefundable { id: payment.id.clone(), status: payment.status })
        } else if amount > refundable {
            Some(PaymentError::AmountExceedsRefundable { amount, refundable })
        } else {
            None
        };
        if let Some(refusal) = refusal {
            // The same refund may have landed since the marker was read.
            return match self.replay_refund(account, payment_id, key, &fingerprint).await? {
                Some(first) => Ok(Attempt::Done(first)),
                None => Err(refusal),
            };
        }
        let invoice = self.invoice(account, &payment.invoice_id).await?;
        let (removed, unrecoverable) = self.credits_to_take_back(account, &invoice, amount).await?;
        let now = rfc3339(self.clock.now_ms());
        let note = CreditNote {
            id: self.ids.generate::<CreditNoteId>(),
            account_id: account.clone(),
            invoice_id: invoice.id.clone(),
            payment_id: payment.id.clone(),
            amount,
            currency: invoice.currency.clone(),
            reason: reason.to_owned(),
            credits_removed: removed,
            credits_unrecoverable: unrecoverable,
            idempotency_key: Some(key.to_owned()),
            created_at: now.clone(),
        };
        let mut next_payment = payment.clone();
        next_payment.amount_refunded = payment.amount_refunded + amount;
        next_payment.status = if next_payment.amount_refunded == payment.amount {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartiallyRefunded
        };
        next_payment.version = payment.version + 1;
        next_payment.updated_at = now.clone();
        let mut next_invoice = invoice.clone();
        next_invoice.amount_refunded = invoice.amount_refunded.checked_add(amount).ok_or(MoneyError::Overflow)?;
        next_invoice.credits_reversed = invoice.credits_reversed + removed + unrecoverable;
        next_invoice.version = invoice.version + 1;
        next_invoice.updated_at = now;
        let writes = vec![
            self.repo.payment_replace(&next_payment, payment.version)?,
            self.invoices.replace_write(&next_invoice, invoice.version)?,
            self.repo.credit_note_create(&note)?,
            self.repo.marker_write(account, key, &fingerprint, json!({ "credit_note_id": note.id }))?,
        ];
        let done = RefundOutcome { credit_note: note, payment: next_payment, invoice: next_invoice, replayed: false };
        if removed > 0 {
            let why = format!("refund of invoice {}", invoice.number.as_deref().unwrap_or(invoice.id.as_str()));
            return match self
                .credits
                .remove_with(account, removed, &why, Some(done.credit_note.id.to_string()), writes)
                .await
            {
                Ok(Posted::Landed(_)) => Ok(Attempt::Done(done)),
                Ok(Posted::CompanionFailed { .. }) => Ok(Attempt::Retry),
                // Spent between the read and the write: decide again with what is left.
                Err(CreditError::InsufficientCredits { .. }) => Ok(Attempt::Retry),
                Err(e) => Err(e.into()),
            };
        }
        match self.repo.store().transact(writes).await {
            Ok(()) => Ok(Attempt::Done(done)),
            Err(StoreError::ConditionFailed(_)) => Ok(Attempt::Retry),
            Err(e) if e.is_transient() => Ok(Attempt::Retry),
            Err(e) => Err(e.into()),
        }
    }

    /// The credits a refund of `amount` takes back — (removed now, unrecoverable): the
    /// invoice's proportional share, capped by what earlier refunds left, split by
    /// what is spendable.
    async fn credits_to_take_back(
        &self,
        account: &AccountId,
        invoice: &Invoice,
        amount: i64,
    ) -> Result<(i64, i64), PaymentError> {
        let granted = match invoice.status {
            InvoiceStatus::Paid => invoice.source.credits_on_payment(),
            _ => 0,
        };
        if granted == 0 {
            return Ok((0, 0));
        }
        let left = (granted - invoice.credits_reversed).max(0);
        let fully_refunded = invoice.amount_refunded + amount >= invoice.amount_paid;
        let share = if fully_refunded { left } else { money::proportion(granted, amount, invoice.total)?.min(left) };
        let available = self.credits.balance(account).await?.available.max(0);
        let removed = share.min(available);
        Ok((removed, share - removed))
    }

    /// One payment of the account.
    pub async fn get(&self, account: &AccountId, id: &PaymentId) -> Result<Payment, PaymentError> {
        self.repo.payment(account, id).await?.ok_or_else(|| PaymentError::PaymentNotFound(id.clone()))
    }

    /// One page of the account's payments, newest first.
    pub async fn list(
        &self,
        account: &AccountId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<Payment>, PaymentError> {
        Ok(self.repo.payments(account, limit.clamp(1, 1000), cursor).await?)
    }

    /// Every payment of one invoice, oldest first (the webhook path finds a provider's
    /// payment among them by `provider_reference`).
    pub async fn for_invoice(&self, account: &AccountId, invoice: &InvoiceId) -> Result<Vec<Payment>, PaymentError> {
        self.invoice(account, invoice).await?;
        Ok(self.repo.invoice_payments(account, invoice).await?)
    }

    /// Every credit note of one invoice, oldest first.
    pub async fn credit_notes(
        &self,
        account: &AccountId,
        invoice: &InvoiceId,
    ) -> Result<Vec<CreditNote>, PaymentError> {
        self.invoice(account, invoice).await?;
        Ok(self.repo.invoice_credit_notes(account, invoice).await?)
    }
}
