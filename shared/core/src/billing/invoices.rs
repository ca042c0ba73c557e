//! InvoiceService: drafts, finalize with gapless numbers, the lifecycle, and the
//! rendered document (docs/billing.md).
//!
//! Finalize writes the month's number counter (condition: still at the number read)
//! and the invoice (condition: still the draft read) in one transaction, so numbers
//! are unique and gapless per account and month whatever the interleaving. The
//! document is rendered after the status commit; a failed render never undoes the
//! status, and a missing or stale document is rendered again on demand.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::credits::{CreditError, CreditService, Posted};
use super::money::{self, MoneyError};
use crate::domain::{
    AccountId, BillingDetails, BillingProfile, Currency, Invoice, InvoiceId, InvoiceSource, InvoiceStatus, LineInput,
    PackageId, Plan, SellerDetails, TransactionKind,
};
use crate::ports::blob::BlobError;
use crate::ports::clock::rfc3339;
use crate::ports::{
    BlobStore, Clock, IdGenerator, IdGeneratorExt, InvoiceRenderer, Page, RenderError, StoreError, WriteOp,
};
use crate::repo::{AccountRepo, BillingRepo, RepoError};
use crate::retry::{retry_on_conflict, Attempt, RetryPolicy};

/// Days from finalize to the due date when the caller gives none.
pub const DEFAULT_DUE_DAYS: u32 = 14;
/// Longest payment term, in days.
pub const MAX_DUE_DAYS: u32 = 365;
/// Highest invoice number of one account in one month: the number has four digits.
pub const MAX_NUMBER_PER_MONTH: i64 = 9999;
/// Longest a PDF link stays valid.
pub const MAX_LINK_SECONDS: u64 = 7 * 24 * 3600;
const DAY_MS: i64 = 86_400_000;
/// Number of per-process gates accounts' finalizes are spread over.
const GATES: usize = 64;

/// Errors of invoices; each is a refusal that wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InvoiceError {
    /// No such invoice on this account.
    #[error("invoice {0} not found")]
    NotFound(InvoiceId),
    /// The account does not exist.
    #[error("account {0} not found")]
    AccountNotFound(AccountId),
    /// Only a draft can be edited or deleted.
    #[error("invoice {id} is {status:?}: only a draft can be edited or deleted")]
    NotDraft {
        /// The invoice.
        id: InvoiceId,
        /// Its status.
        status: InvoiceStatus,
    },
    /// Only custom invoices have editable lines (package and plan lines come from the catalog).
    #[error("invoice {0} bills a package or plan: its lines are not editable")]
    NotEditable(InvoiceId),
    /// A paid invoice is final: it is corrected by a credit note (a refund), never voided.
    #[error("invoice {0} is paid, which is final: refund its payment to issue a credit note")]
    PaidIsFinal(InvoiceId),
    /// The lifecycle does not allow this move.
    #[error("invoice {id} cannot go from {from:?} to {to:?}")]
    InvalidTransition {
        /// The invoice.
        id: InvoiceId,
        /// Its status.
        from: InvoiceStatus,
        /// The status asked for.
        to: InvoiceStatus,
    },
    /// A draft has no number and no document yet.
    #[error("invoice {0} is a draft: finalize it first")]
    NotFinalized(InvoiceId),
    /// The account issued the most numbers one month allows.
    #[error("account {account} issued {MAX_NUMBER_PER_MONTH} invoices in {month}: no number left this month")]
    NumbersExhausted {
        /// The account.
        account: AccountId,
        /// `YYYYMM`.
        month: String,
    },
    /// The due days are out of range.
    #[error("due_days must be 0 to {MAX_DUE_DAYS}, got {0}")]
    InvalidDueDays(u32),
    /// No such credit package.
    #[error("credit package {0} not found")]
    PackageNotFound(PackageId),
    /// The package is not for sale.
    #[error("credit package {0} is inactive")]
    PackageInactive(PackageId),
    /// No renderer or blob store is configured, so there is no document.
    #[error("invoice documents are not configured in this deployment")]
    DocumentsUnavailable,
    /// A link for longer than [`MAX_LINK_SECONDS`].
    #[error("link lifetime must be 1 to {MAX_LINK_SECONDS} seconds")]
    InvalidLinkLifetime,
    /// Amounts or lines are invalid.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// Rendering failed.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// Storing or reading the document failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Crediting the ledger (a zero-total invoice paid at finalize) failed.
    #[error(transparent)]
    Credits(#[from] CreditError),
    /// Contention did not let the write through in the allowed attempts.
    #[error("the invoice is too contended, retry later ({attempts} attempts)")]
    Contended {
        /// Attempts made.
        attempts: u32,
    },
    /// Storage failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<StoreError> for InvoiceError {
    fn from(e: StoreError) -> Self {
        Self::Repo(RepoError::Store(e))
    }
}

impl InvoiceError {
    /// The stable code the API and the CLI report (docs/billing.md).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "invoice_not_found",
            Self::AccountNotFound(_) => "account_not_found",
            Self::NotDraft { .. } => "invoice_not_draft",
            Self::NotEditable(_) => "invoice_not_editable",
            Self::PaidIsFinal(_) => "invoice_paid_is_final",
            Self::InvalidTransition { .. } => "invalid_transition",
            Self::NotFinalized(_) => "invoice_not_finalized",
            Self::NumbersExhausted { .. } => "invoice_numbers_exhausted",
            Self::InvalidDueDays(_) | Self::InvalidLinkLifetime => "validation_failed",
            Self::PackageNotFound(_) => "package_not_found",
            Self::PackageInactive(_) => "package_inactive",
            Self::DocumentsUnavailable => "pdf_unavailable",
            Self::Contended { .. } => "contended",
            Self::Money(e) => e.code(),
            Self::Render(e) => e.code(),
            Self::Blob(e) => e.code(),
            Self::Credits(e) => e.code(),
            Self::Repo(e) => e.code(),
        }
    }
}

/// What invoice documents need: where they are stored, how they are drawn, and who
/// issues them.
#[derive(Clone)]
pub struct InvoiceDocuments {
    /// Where PDFs are kept (`invoices/<account>/<number>.pdf`).
    pub blobs: Arc<dyn BlobStore>,
    /// Draws an invoice.
    pub renderer: Arc<dyn InvoiceRenderer>,
    /// The seller printed on every invoice.
    pub seller: SellerDetails,
}

/// A link to an invoice's document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PdfLink {
    /// Blob key of the document.
    pub key: String,
    /// URL that reads it without credentials.
    pub url: String,
    /// Seconds the link stays valid.
    pub expires_in: u64,
}

/// The blob key of an invoice's document.
pub fn pdf_key(account: &AccountId, number: &str) -> String {
    format!("invoices/{account}/{number}.pdf")
}

/// `YYYYMM` of a moment, in UTC.
pub fn month_of(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}{:02}", t.year(), u8::from(t.month()))
}

/// `INV-YYYYMM-NNNN`.
pub fn invoice_number(month: &str, n: i64) -> String {
    format!("INV-{month}-{n:04}")
}

/// Invoices of every account: drafting, finalize, lifecycle and documents.
#[derive(Clone)]
pub struct InvoiceService {
    repo: BillingRepo,
    accounts: AccountRepo,
    credits: CreditService,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    documents: Option<InvoiceDocuments>,
    gates: Arc<[tokio::sync::Mutex<()>]>,
    retry: RetryPolicy,
}

impl InvoiceService {
    /// Invoices without documents: finalize records no `pdf_key` and asking for a PDF
    /// is `pdf_unavailable` until [`InvoiceService::with_documents`] supplies them.
    pub fn new(
        repo: BillingRepo,
        accounts: AccountRepo,
        credits: CreditService,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        Self {
            repo,
            accounts,
            credits,
            clock,
            ids,
            documents: None,
            gates: (0..GATES).map(|_| tokio::sync::Mutex::new(())).collect(),
            retry: RetryPolicy::default(),
        }
    }

    /// The same service rendering documents with `documents`.
    pub fn with_documents(mut self, documents: InvoiceDocuments) -> Self {
        self.documents = Some(documents);
        self
    }

    /// Whether documents are configured.
    pub fn has_documents(&self) -> bool {
        self.documents.is_some()
    }

    /// The repository (shared with payments and subscriptions).
    pub(crate) fn repo(&self) -> &BillingRepo {
        &self.repo
    }

    async fn gate(&self, account: &AccountId) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        account.hash(&mut h);
        let slot = usize::try_from(h.finish() % GATES as u64).unwrap_or(0);
        self.gates[slot].lock().await
    }

    pub(crate) async fn require_account(&self, account: &AccountId) -> Result<crate::domain::Account, InvoiceError> {
        self.accounts.get(account).await?.ok_or_else(|| InvoiceError::AccountNotFound(account.clone()))
    }

    fn draft(
        &self,
        id: InvoiceId,
        account: &AccountId,
        currency: Currency,
        lines: Vec<crate::domain::InvoiceLine>,
        source: InvoiceSource,
        due_days: u32,
    ) -> Result<Invoice, InvoiceError> {
        let totals = money::totals(&lines)?;
        let now = rfc3339(self.clock.now_ms());
        Ok(Invoice {
            id,
            account_id: account.clone(),
            number: None,
            currency,
            lines,
            subtotal: totals.subtotal,
            tax: totals.tax,
            total: totals.total,
            amount_paid: 0,
            amount_due: totals.total,
            amount_refunded: 0,
            credits_reversed: 0,
            status: InvoiceStatus::Draft,
            source,
            billing_details: None,
            due_days,
            issued_at: None,
            due_at: None,
            due_ms: None,
            paid_at: None,
            voided_at: None,
            pdf_key: None,
            pdf_version: None,
            version: 0,
            created_at: now.clone(),
            updated_at: now,
        })
    }

    async fn store_draft(&self, invoice: Invoice) -> Result<Invoice, InvoiceError> {
        self.repo.store().transact(vec![self.repo.invoice_create(&invoice)?]).await?;
        Ok(invoice)
    }

    /// A draft of custom lines (`due_days` defaults to [`DEFAULT_DUE_DAYS`]).
    pub async fn create_custom(
        &self,
        account: &AccountId,
        currency: Currency,
        lines: &[LineInput],
        due_days: Option<u32>,
    ) -> Result<Invoice, InvoiceError> {
        let due_days = due_days.unwrap_or(DEFAULT_DUE_DAYS);
        if due_days > MAX_DUE_DAYS {
            return Err(InvoiceError::InvalidDueDays(due_days));
        }
        let lines = money::lines(lines)?;
        self.require_account(account).await?;
        let invoice =
            self.draft(self.ids.generate::<InvoiceId>(), account, currency, lines, InvoiceSource::Custom, due_days)?;
        self.store_draft(invoice).await
    }

    /// A draft for one active credit package: one line at the package's price and tax.
    pub async fn create_for_package(&self, account: &AccountId, package: &PackageId) -> Result<Invoice, InvoiceError> {
        let pkg = self.repo.package(package).await?.ok_or_else(|| InvoiceError::PackageNotFound(package.clone()))?;
        if !pkg.active {
            return Err(InvoiceError::PackageInactive(package.clone()));
        }
        self.require_account(account).await?;
        let line = money::line(
            0,
            &LineInput {
                description: format!("{} ({} credits)", pkg.name, pkg.credits),
                quantity: 1,
                unit_amount: pkg.price,
                tax_rate_bp: pkg.tax_rate_bp,
            },
        )?;
        let source = InvoiceSource::CreditPackage { package: pkg.id.clone(), credits: pkg.credits };
        let invoice =
            self.draft(self.ids.generate::<InvoiceId>(), account, pkg.currency, vec![line], source, DEFAULT_DUE_DAYS)?;
        self.store_draft(invoice).await
    }

    /// Buys a package: its invoice drafted and finalized in one call (what the API's and
    /// the CLI's "buy" do); paying the invoice adds the credits.
    pub async fn buy_package(&self, account: &AccountId, package: &PackageId) -> Result<Invoice, InvoiceError> {
        let draft = self.create_for_package(account, package).await?;
        self.finalize(account, &draft.id).await
    }

    /// The draft of one subscription period, or the one already drafted: its id is
    /// derived from the account and the period start, so a repeated renewal finds it
    /// instead of billing the period twice.
    pub async fn create_for_plan_period(
        &self,
        account: &AccountId,
        plan: &Plan,
        period_start_ms: i64,
        period_end_ms: i64,
    ) -> Result<Invoice, InvoiceError> {
        let id = plan_period_invoice_id(account, period_start_ms);
        if let Some(existing) = self.repo.invoice(account, &id).await? {
            return Ok(existing);
        }
        let (start, end) = (rfc3339(period_start_ms), rfc3339(period_end_ms));
        let line = money::line(
            0,
            &LineInput {
                description: format!(
                    "{} plan, {} to {}",
                    plan.name,
                    &start[..10.min(start.len())],
                    &end[..10.min(end.len())]
                ),
                quantity: 1,
                unit_amount: plan.monthly_price,
                tax_rate_bp: plan.tax_rate_bp,
            },
        )?;
        let source = InvoiceSource::PlanPeriod {
            plan: plan.id.clone(),
            period_start: start,
            period_end: end,
            period_start_ms,
            included_credits: plan.included_monthly_credits,
        };
        let invoice = self.draft(id.clone(), account, plan.currency.clone(), vec![line], source, DEFAULT_DUE_DAYS)?;
        match self.repo.store().transact(vec![self.repo.invoice_create(&invoice)?]).await {
            Ok(()) => Ok(invoice),
            // Drafted meanwhile by another renewal: that one is the period's invoice.
            Err(StoreError::ConditionFailed(_)) => self.get(account, &id).await,
            Err(e) => Err(e.into()),
        }
    }

    /// One invoice of the account (the webhook path knows only the account and the id).
    pub async fn get(&self, account: &AccountId, id: &InvoiceId) -> Result<Invoice, InvoiceError> {
        self.repo.invoice(account, id).await?.ok_or_else(|| InvoiceError::NotFound(id.clone()))
    }

    /// One page of the account's invoices, newest first.
    pub async fn list(
        &self,
        account: &AccountId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<Invoice>, InvoiceError> {
        Ok(self.repo.invoices(account, limit.clamp(1, 1000), cursor).await?)
    }

    /// Replaces a custom draft's lines (totals recomputed).
    pub async fn update_lines(
        &self,
        account: &AccountId,
        id: &InvoiceId,
        lines: &[LineInput],
    ) -> Result<Invoice, InvoiceError> {
        let lines = money::lines(lines)?;
        let totals = money::totals(&lines)?;
        self.modify(account, id, |invoice| {
            if invoice.status != InvoiceStatus::Draft {
                return Err(InvoiceError::NotDraft { id: invoice.id.clone(), status: invoice.status });
            }
            if invoice.source != InvoiceSource::Custom {
                return Err(InvoiceError::NotEditable(invoice.id.clone()));
            }
            invoice.lines = lines.clone();
            invoice.subtotal = totals.subtotal;
            invoice.tax = totals.tax;
            invoice.total = totals.total;
            invoice.amount_due = totals.total;
            Ok(true)
        })
        .await
    }

    /// Deletes a draft; it never had a number, so no number is lost.
    pub async fn delete_draft(&self, account: &AccountId, id: &InvoiceId) -> Result<(), InvoiceError> {
        retry_on_conflict(
            &self.retry,
            |_| async move {
                let invoice = self.get(account, id).await?;
                if invoice.status != InvoiceStatus::Draft {
                    return Err(InvoiceError::NotDraft { id: id.clone(), status: invoice.status });
                }
                match self.repo.store().transact(vec![self.repo.invoice_delete(&invoice)]).await {
                    Ok(()) => Ok(Attempt::Done(())),
                    Err(StoreError::ConditionFailed(_)) => Ok(Attempt::Retry),
                    Err(e) if e.is_transient() => Ok(Attempt::Retry),
                    Err(e) => Err(e.into()),
                }
            },
            |attempts| InvoiceError::Contended { attempts },
        )
        .await
    }

    /// Applies `change` to the invoice with an optimistic write (retrying lost races);
    /// `change` returns false when there is nothing to write (the result is the invoice
    /// as read).
    async fn modify(
        &self,
        account: &AccountId,
        id: &InvoiceId,
        change: impl Fn(&mut Invoice) -> Result<bool, InvoiceError>,
    ) -> Result<Invoice, InvoiceError> {
        let change = &change;
        retry_on_conflict(
            &self.retry,
            move |_| async move {
                let read = self.get(account, id).await?;
                let mut next = read.clone();
                if !change(&mut next)? {
                    return Ok(Attempt::Done(read));
                }
                next.version = read.version + 1;
                next.updated_at = rfc3339(self.clock.now_ms());
                match self.repo.store().transact(vec![self.repo.invoice_replace(&next, read.version)?]).await {
                    Ok(()) => Ok(Attempt::Done(next)),
                    Err(StoreError::ConditionFailed(_)) => Ok(Attempt::Retry),
                    Err(e) if e.is_transient() => Ok(Attempt::Retry),
                    Err(e) => Err(e.into()),
                }
            },
            |attempts| InvoiceError::Contended { attempts },
        )
        .await
    }

    /// Finalizes a draft: assigns the next `INV-YYYYMM-NNNN` of the account in the
    /// month of now (UTC), snapshots the buyer, sets the issue and due dates, then
    /// renders the document. Finalizing a finalized invoice returns it unchanged. A
    /// zero-total invoice is paid at once (and its credits, if any, granted with it).
    pub async fn finalize(&self, account: &AccountId, id: &InvoiceId) -> Result<Invoice, InvoiceError> {
        let finalized = {
            let _turn = self.gate(account).await;
            retry_on_conflict(
                &self.retry,
                move |_| async move { self.finalize_attempt(account, id).await },
                |attempts| InvoiceError::Contended { attempts },
            )
            .await?
        };
        match finalized {
            (invoice, true) => Ok(self.refresh_document(invoice).await),
            (invoice, false) => Ok(invoice),
        }
    }

    /// One try at finalize; `(invoice, true)` when this call finalized it.
    async fn finalize_attempt(
        &self,
        account: &AccountId,
        id: &InvoiceId,
    ) -> Result<Attempt<(Invoice, bool)>, InvoiceError> {
        let read = self.get(account, id).await?;
        if read.status != InvoiceStatus::Draft {
            return Ok(Attempt::Done((read, false)));
        }
        let now_ms = self.clock.now_ms();
        let month = month_of(now_ms);
        let next_number = self.repo.invoice_counter(account, &month).await? + 1;
        if next_number > MAX_NUMBER_PER_MONTH {
            return Err(InvoiceError::NumbersExhausted { account: account.clone(), month });
        }
        let buyer = match self.repo.profile(account).await? {
            Some(profile) => profile.details,
            None => BillingDetails { name: self.require_account(account).await?.name, ..BillingDetails::default() },
        };
        let now = rfc3339(now_ms);
        let due_ms = now_ms.saturating_add(i64::from(read.due_days) * DAY_MS);
        let mut next = read.clone();
        next.number = Some(invoice_number(&month, next_number));
        next.status = InvoiceStatus::Open;
        next.billing_details = Some(buyer);
        next.issued_at = Some(now.clone());
        next.due_at = Some(rfc3339(due_ms));
        next.due_ms = Some(due_ms);
        next.version = read.version + 1;
        next.updated_at = now.clone();
        if next.total == 0 {
            next.status = InvoiceStatus::Paid;
            next.paid_at = Some(now);
        }
        let writes = vec![
            self.repo.invoice_counter_write(account, &month, next_number),
            self.repo.invoice_replace(&next, read.version)?,
        ];
        let credits = next.source.credits_on_payment();
        let landed = if next.status == InvoiceStatus::Paid && credits > 0 {
            let (kind, reason) = credit_kind(&next.source);
            let posted =
                self.credits.add_with(account, credits, kind, reason, Some(next.id.to_string()), None, writes).await?;
            matches!(posted, Posted::Landed(_))
        } else {
            match self.repo.store().transact(writes).await {
                Ok(()) => true,
                Err(StoreError::ConditionFailed(_)) => false,
                Err(e) if e.is_transient() => false,
                Err(e) => return Err(e.into()),
            }
        };
        // A lost race (another finalize took the number, or finalized this invoice):
        // read again; the next attempt returns the invoice if it is finalized now.
        Ok(if landed { Attempt::Done((next, true)) } else { Attempt::Retry })
    }

    /// Voids an open or uncollectible invoice (it keeps its number). A paid invoice
    /// is refused with `invoice_paid_is_final`; a draft is deleted instead.
    pub async fn void(&self, account: &AccountId, id: &InvoiceId) -> Result<Invoice, InvoiceError> {
        let now = rfc3339(self.clock.now_ms());
        let invoice = self
            .modify(account, id, |invoice| match invoice.status {
                InvoiceStatus::Open | InvoiceStatus::Uncollectible => {
                    invoice.status = InvoiceStatus::Void;
                    invoice.voided_at = Some(now.clone());
                    Ok(true)
                }
                InvoiceStatus::Void => Ok(false),
                InvoiceStatus::Paid => Err(InvoiceError::PaidIsFinal(invoice.id.clone())),
                InvoiceStatus::Draft => Err(InvoiceError::InvalidTransition {
                    id: invoice.id.clone(),
                    from: InvoiceStatus::Draft,
                    to: InvoiceStatus::Void,
                }),
            })
            .await?;
        Ok(self.refresh_document(invoice).await)
    }

    /// Marks an open invoice uncollectible (it may still be paid or voided).
    pub async fn mark_uncollectible(&self, account: &AccountId, id: &InvoiceId) -> Result<Invoice, InvoiceError> {
        let invoice = self
            .modify(account, id, |invoice| match invoice.status {
                InvoiceStatus::Open => {
                    invoice.status = InvoiceStatus::Uncollectible;
                    Ok(true)
                }
                InvoiceStatus::Uncollectible => Ok(false),
                InvoiceStatus::Paid => Err(InvoiceError::PaidIsFinal(invoice.id.clone())),
                from => Err(InvoiceError::InvalidTransition {
                    id: invoice.id.clone(),
                    from,
                    to: InvoiceStatus::Uncollectible,
                }),
            })
            .await?;
        Ok(self.refresh_document(invoice).await)
    }

    /// Renders and stores the document of the invoice as it is now, recording its key;
    /// a failure is logged and left for [`InvoiceService::pdf`] to repair (the status
    /// change it follows is already committed). Returns the invoice, with `pdf_key`
    /// when the document was stored.
    pub async fn refresh_document(&self, invoice: Invoice) -> Invoice {
        if self.documents.is_none() || invoice.number.is_none() {
            return invoice;
        }
        match self.render_and_store(&invoice).await {
            Ok((_, Some(stored))) => stored,
            Ok((_, None)) => invoice,
            Err(e) => {
                tracing::warn!(invoice = %invoice.id, error = %e, code = e.code(), "invoice document not rendered; rendered again when asked for");
                invoice
            }
        }
    }

    /// Renders the invoice, stores the bytes and records the key; returns the bytes and
    /// the invoice as recorded (None when it changed meanwhile).
    async fn render_and_store(&self, invoice: &Invoice) -> Result<(Vec<u8>, Option<Invoice>), InvoiceError> {
        let docs = self.documents.as_ref().ok_or(InvoiceError::DocumentsUnavailable)?;
        let number = invoice.number.as_deref().ok_or_else(|| InvoiceError::NotFinalized(invoice.id.clone()))?;
        let bytes = docs.renderer.render(invoice, &docs.seller)?;
        let key = pdf_key(&invoice.account_id, number);
        docs.blobs.put(&key, bytes.clone(), docs.renderer.content_type()).await?;
        let recorded = self.repo.set_pdf(invoice, &key).await?.then(|| Invoice {
            pdf_key: Some(key),
            pdf_version: Some(invoice.version),
            ..invoice.clone()
        });
        Ok((bytes, recorded))
    }

    /// The invoice's document, rendered again when it is missing or shows an older
    /// state of the invoice (rendering is deterministic, so nothing is lost).
    pub async fn pdf(&self, account: &AccountId, id: &InvoiceId) -> Result<Vec<u8>, InvoiceError> {
        Ok(self.current_document(account, id).await?.1)
    }

    async fn current_document(&self, account: &AccountId, id: &InvoiceId) -> Result<(String, Vec<u8>), InvoiceError> {
        let docs = self.documents.as_ref().ok_or(InvoiceError::DocumentsUnavailable)?;
        let invoice = self.get(account, id).await?;
        let number = invoice.number.clone().ok_or_else(|| InvoiceError::NotFinalized(id.clone()))?;
        let key = pdf_key(account, &number);
        if invoice.pdf_version == Some(invoice.version) {
            if let Some(bytes) = docs.blobs.get(&key).await? {
                return Ok((key, bytes));
            }
        }
        let (bytes, _) = self.render_and_store(&invoice).await?;
        Ok((key, bytes))
    }

    /// A link to the invoice's current document (rendered first when missing or stale).
    pub async fn pdf_link(
        &self,
        account: &AccountId,
        id: &InvoiceId,
        expires_in: Duration,
    ) -> Result<PdfLink, InvoiceError> {
        let seconds = expires_in.as_secs();
        if !(1..=MAX_LINK_SECONDS).contains(&seconds) {
            return Err(InvoiceError::InvalidLinkLifetime);
        }
        let docs = self.documents.as_ref().ok_or(InvoiceError::DocumentsUnavailable)?;
        let (key, _) = self.current_document(account, id).await?;
        let url = docs.blobs.presigned_get(&key, expires_in).await?;
        Ok(PdfLink { key, url, expires_in: seconds })
    }

    /// The account's billing profile (the buyer details the next finalize copies).
    pub async fn profile(&self, account: &AccountId) -> Result<Option<BillingProfile>, InvoiceError> {
        Ok(self.repo.profile(account).await?)
    }

    /// Stores the account's billing profile; issued invoices keep their snapshot.
    pub async fn set_profile(
        &self,
        account: &AccountId,
        details: BillingDetails,
    ) -> Result<BillingProfile, InvoiceError> {
        self.require_account(account).await?;
        let name_chars = details.name.trim().chars().count();
        if name_chars == 0 || name_chars > 200 {
            return Err(InvoiceError::Money(MoneyError::InvalidLine {
                index: 0,
                reason: "billing name must be 1 to 200 characters".into(),
            }));
        }
        let profile = BillingProfile { account_id: account.clone(), details, updated_at: rfc3339(self.clock.now_ms()) };
        self.repo.put_profile(&profile).await?;
        Ok(profile)
    }

    /// The writes that settle `read` with `paid` more (the invoice's next state),
    /// used by payments: the invoice's next version and whether it is now paid.
    pub(crate) fn apply_payment(&self, read: &Invoice, paid: i64) -> Result<Invoice, InvoiceError> {
        let mut next = read.clone();
        next.amount_paid = read.amount_paid.checked_add(paid).ok_or(MoneyError::Overflow)?;
        next.amount_due = read.amount_due.checked_sub(paid).ok_or(MoneyError::Overflow)?;
        let now = rfc3339(self.clock.now_ms());
        if next.amount_due == 0 {
            next.status = InvoiceStatus::Paid;
            next.paid_at = Some(now.clone());
        }
        next.version = read.version + 1;
        next.updated_at = now;
        Ok(next)
    }

    /// The write of an invoice's next state, valid only at `read_version`.
    pub(crate) fn replace_write(&self, next: &Invoice, read_version: i64) -> Result<WriteOp, InvoiceError> {
        Ok(self.repo.invoice_replace(next, read_version)?)
    }
}

/// The ledger kind and reason of the credits an invoice's payment brings.
pub(crate) fn credit_kind(source: &InvoiceSource) -> (TransactionKind, &'static str) {
    match source {
        InvoiceSource::PlanPeriod { .. } => (TransactionKind::Grant, "plan credits for a paid period"),
        InvoiceSource::CreditPackage { .. } | InvoiceSource::Custom => (TransactionKind::TopUp, "credit package paid"),
    }
}

/// The id of the invoice of one subscription period: the same period always gives the
/// same id, so it is billed once however often renewal runs.
pub fn plan_period_invoice_id(account: &AccountId, period_start_ms: i64) -> InvoiceId {
    InvoiceId::derive(&format!("plan-period:{account}:{period_start_ms}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_the_month_and_four_digits() {
        // 2026-11-30T23:59:59Z and one second later
        assert_eq!(month_of(1_796_083_199_000), "202611");
        assert_eq!(month_of(1_796_083_200_000), "202612");
        assert_eq!(invoice_number("202611", 1), "INV-202611-0001");
        assert_eq!(invoice_number("202611", 9999), "INV-202611-9999");
    }
}
