//! SubscriptionService: an account's plan, its monthly periods and their invoices, and
//! the renewal the scheduler runs (docs/billing.md).
//!
//! Each period's invoice has an id derived from the account and the period start, so
//! renewal — however often it runs, however many run at once — bills a period once.
//! Renewal finds due subscriptions through the GSI partition `SUBS#DUE` (sorted by
//! period end) and overdue plan invoices through `INVOICES#PLAN_DUE` (sorted by due
//! time): it reads only what is due, never every subscription.

use std::sync::Arc;

use serde::Serialize;

use super::invoices::{InvoiceError, InvoiceService};
use crate::domain::{AccountId, Invoice, InvoiceId, InvoiceStatus, Plan, PlanId, Subscription, SubscriptionStatus};
use crate::ports::clock::rfc3339;
use crate::ports::{Clock, ItemStore, StoreError};
use crate::repo::{BillingRepo, RepoError};
use crate::retry::{retry_on_conflict, Attempt, RetryPolicy};
use crate::Services;

/// Subscriptions (or overdue invoices) read per page by renewal.
const RENEWAL_PAGE: usize = 100;

/// Errors of subscriptions.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// The account has no subscription.
    #[error("account {0} has no subscription")]
    NotFound(AccountId),
    /// The account already has a live subscription.
    #[error("account {0} already has a subscription: change its plan instead")]
    Exists(AccountId),
    /// The subscription has ended.
    #[error("the subscription of account {0} is cancelled")]
    Cancelled(AccountId),
    /// No such plan.
    #[error("plan {0} not found")]
    PlanNotFound(PlanId),
    /// The plan takes no new subscriptions.
    #[error("plan {0} is inactive")]
    PlanInactive(PlanId),
    /// Contention did not let the write through in the allowed attempts.
    #[error("the subscription is too contended, retry later ({attempts} attempts)")]
    Contended {
        /// Attempts made.
        attempts: u32,
    },
    /// Drafting or finalizing the period's invoice failed.
    #[error(transparent)]
    Invoice(#[from] InvoiceError),
    /// Storage failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl From<StoreError> for SubscriptionError {
    fn from(e: StoreError) -> Self {
        Self::Repo(RepoError::Store(e))
    }
}

impl SubscriptionError {
    /// The stable code the API and the CLI report (docs/billing.md).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "subscription_not_found",
            Self::Exists(_) => "subscription_exists",
            Self::Cancelled(_) => "subscription_cancelled",
            Self::PlanNotFound(_) => "plan_not_found",
            Self::PlanInactive(_) => "plan_inactive",
            Self::Contended { .. } => "contended",
            Self::Invoice(e) => e.code(),
            Self::Repo(e) => e.code(),
        }
    }
}

/// A new subscription and the invoice of its first period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscribed {
    /// The subscription.
    pub subscription: Subscription,
    /// The first period's invoice, finalized.
    pub invoice: Invoice,
}

/// One period renewal did bill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenewedPeriod {
    /// The account.
    pub account_id: AccountId,
    /// The period's invoice.
    pub invoice_id: InvoiceId,
    /// Its number.
    pub number: Option<String>,
}

/// A subscription renewal could not handle (the others are still handled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenewalFailure {
    /// The account.
    pub account_id: AccountId,
    /// Stable code of the error.
    pub code: String,
    /// The error.
    pub message: String,
}

/// What one renewal run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenewalReport {
    /// Periods billed by this run.
    pub renewed: Vec<RenewedPeriod>,
    /// Subscriptions ended by this run (cancelled at period end).
    pub cancelled: Vec<AccountId>,
    /// Subscriptions this run marked past_due.
    pub past_due: Vec<AccountId>,
    /// Subscriptions it could not handle.
    pub failed: Vec<RenewalFailure>,
}

/// `anchor_ms` plus `months` calendar months, the day clamped to the target month's
/// last day (Jan 31 + 1 month = Feb 28/29), the time of day kept.
pub fn add_months(anchor_ms: i64, months: u32) -> i64 {
    let Ok(anchor) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(anchor_ms) * 1_000_000) else {
        return anchor_ms;
    };
    let index = i64::from(anchor.year()) * 12 + i64::from(u8::from(anchor.month())) - 1 + i64::from(months);
    let (Ok(year), Ok(month)) = (i32::try_from(index.div_euclid(12)), u8::try_from(index.rem_euclid(12) + 1)) else {
        return anchor_ms;
    };
    let Ok(month) = time::Month::try_from(month) else { return anchor_ms };
    let day = anchor.day().min(month.length(year));
    match time::Date::from_calendar_date(year, month, day) {
        Ok(date) => {
            let moved = anchor.replace_date(date);
            i64::try_from(moved.unix_timestamp_nanos() / 1_000_000).unwrap_or(anchor_ms)
        }
        Err(_) => anchor_ms,
    }
}

/// Whether the account's subscription is past due (automation refuses to start then).
/// An account without a subscription is not.
pub async fn account_past_due(store: &Arc<dyn ItemStore>, account: &AccountId) -> Result<bool, RepoError> {
    let sub = BillingRepo::new(Arc::clone(store)).subscription(account).await?;
    Ok(sub.is_some_and(|s| s.status == SubscriptionStatus::PastDue))
}

/// After a plan-period invoice is paid: a past_due subscription is active again (a
/// later renewal marks it past_due again if another plan invoice is still overdue).
pub(crate) async fn reinstate_after_payment(
    repo: &BillingRepo,
    clock: &dyn Clock,
    account: &AccountId,
) -> Result<(), RepoError> {
    for _ in 0..RetryPolicy::default().max_attempts {
        let Some(sub) = repo.subscription(account).await? else { return Ok(()) };
        if sub.status != SubscriptionStatus::PastDue {
            return Ok(());
        }
        let next = Subscription {
            status: SubscriptionStatus::Active,
            version: sub.version + 1,
            updated_at: rfc3339(clock.now_ms()),
            ..sub.clone()
        };
        match repo.store().transact(vec![repo.subscription_write(&next, Some(sub.version))?]).await {
            Ok(()) => return Ok(()),
            Err(StoreError::ConditionFailed(_)) => {}
            Err(e) if e.is_transient() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(RepoError::Store(StoreError::Conflict))
}

/// The scheduler's entry point (the Lambda and `igny8 serve`'s scheduler call it):
/// bills every subscription period that has ended and marks past_due the
/// subscriptions with a plan invoice unpaid past its due date.
pub async fn renew_subscriptions(services: &Services, now_ms: i64) -> Result<RenewalReport, SubscriptionError> {
    services.subscriptions.renew_due(now_ms).await
}

/// Subscriptions to plans.
#[derive(Clone)]
pub struct SubscriptionService {
    repo: BillingRepo,
    invoices: InvoiceService,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
}

impl SubscriptionService {
    /// Subscriptions over the invoices.
    pub fn new(invoices: InvoiceService, clock: Arc<dyn Clock>) -> Self {
        Self { repo: invoices.repo().clone(), invoices, clock, retry: RetryPolicy::default() }
    }

    async fn plan(&self, id: &PlanId) -> Result<Plan, SubscriptionError> {
        self.repo.plan(id).await?.ok_or_else(|| SubscriptionError::PlanNotFound(id.clone()))
    }

    /// The account's subscription.
    pub async fn get(&self, account: &AccountId) -> Result<Subscription, SubscriptionError> {
        self.repo.subscription(account).await?.ok_or_else(|| SubscriptionError::NotFound(account.clone()))
    }

    /// Whether the account is past due (automation refuses to start then).
    pub async fn is_past_due(&self, account: &AccountId) -> Result<bool, SubscriptionError> {
        Ok(account_past_due(self.repo.store(), account).await?)
    }

    /// Subscribes the account to an active plan: the first period starts now and its
    /// invoice is drafted and finalized at once. A cancelled subscription may be
    /// replaced; a live one is refused (`subscription_exists`: change its plan).
    pub async fn subscribe(&self, account: &AccountId, plan_id: &PlanId) -> Result<Subscribed, SubscriptionError> {
        let plan = self.plan(plan_id).await?;
        if !plan.active {
            return Err(SubscriptionError::PlanInactive(plan_id.clone()));
        }
        self.invoices.require_account(account).await?;
        let existing = self.repo.subscription(account).await?;
        if existing.as_ref().is_some_and(|s| s.status != SubscriptionStatus::Cancelled) {
            return Err(SubscriptionError::Exists(account.clone()));
        }
        let start = self.clock.now_ms();
        let end = add_months(start, 1);
        let invoice = self.invoices.create_for_plan_period(account, &plan, start, end).await?;
        let invoice = self.invoices.finalize(account, &invoice.id).await?;
        let now = rfc3339(start);
        let sub = Subscription {
            account_id: account.clone(),
            plan_id: plan.id.clone(),
            next_plan_id: None,
            current_period_start: rfc3339(start),
            current_period_end: rfc3339(end),
            current_period_start_ms: start,
            current_period_end_ms: end,
            billing_anchor_ms: start,
            period_number: 1,
            status: SubscriptionStatus::Active,
            cancel_at_period_end: false,
            latest_invoice: Some(invoice.id.clone()),
            version: existing.as_ref().map_or(0, |s| s.version + 1),
            created_at: now.clone(),
            updated_at: now,
        };
        let write = self.repo.subscription_write(&sub, existing.as_ref().map(|s| s.version))?;
        match self.repo.store().transact(vec![write]).await {
            Ok(()) => Ok(Subscribed { subscription: sub, invoice }),
            Err(StoreError::ConditionFailed(_)) => {
                // Another subscribe won: the invoice drafted here bills nothing, void it.
                if let Err(e) = self.invoices.void(account, &invoice.id).await {
                    tracing::warn!(invoice = %invoice.id, error = %e, "orphan subscription invoice not voided");
                }
                Err(SubscriptionError::Exists(account.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Applies `change` to the live subscription with an optimistic write.
    async fn modify(
        &self,
        account: &AccountId,
        change: impl Fn(&mut Subscription) -> Result<(), SubscriptionError>,
    ) -> Result<Subscription, SubscriptionError> {
        let change = &change;
        retry_on_conflict(
            &self.retry,
            move |_| async move {
                let read = self.get(account).await?;
                if read.status == SubscriptionStatus::Cancelled {
                    return Err(SubscriptionError::Cancelled(account.clone()));
                }
                let mut next = read.clone();
                change(&mut next)?;
                next.version = read.version + 1;
                next.updated_at = rfc3339(self.clock.now_ms());
                match self.repo.store().transact(vec![self.repo.subscription_write(&next, Some(read.version))?]).await {
                    Ok(()) => Ok(Attempt::Done(next)),
                    Err(StoreError::ConditionFailed(_)) => Ok(Attempt::Retry),
                    Err(e) if e.is_transient() => Ok(Attempt::Retry),
                    Err(e) => Err(e.into()),
                }
            },
            |attempts| SubscriptionError::Contended { attempts },
        )
        .await
    }

    /// Moves the subscription to another active plan from the next period on (the
    /// current period is paid at its price; no proration). Choosing the current plan
    /// undoes a pending change; it also undoes a pending cancellation.
    pub async fn change_plan(&self, account: &AccountId, plan_id: &PlanId) -> Result<Subscription, SubscriptionError> {
        let plan = self.plan(plan_id).await?;
        if !plan.active {
            return Err(SubscriptionError::PlanInactive(plan_id.clone()));
        }
        self.modify(account, |sub| {
            sub.next_plan_id = (sub.plan_id != plan.id).then(|| plan.id.clone());
            sub.cancel_at_period_end = false;
            Ok(())
        })
        .await
    }

    /// Cancels at the end of the current period: it is not renewed, and ends then.
    pub async fn cancel(&self, account: &AccountId) -> Result<Subscription, SubscriptionError> {
        self.modify(account, |sub| {
            sub.cancel_at_period_end = true;
            Ok(())
        })
        .await
    }

    /// Bills every period that ended by `now_ms` (once: ids derive from the period),
    /// ends subscriptions cancelled at period end, and marks past_due those with a plan
    /// invoice unpaid past its due date. A subscription that fails is reported and the
    /// others are still handled. A backlog of several periods advances one per run.
    pub async fn renew_due(&self, now_ms: i64) -> Result<RenewalReport, SubscriptionError> {
        let mut report = RenewalReport::default();
        let mut due = Vec::new();
        let mut cursor = None;
        'pages: loop {
            let page = self.repo.subscriptions_by_period_end(RENEWAL_PAGE, cursor).await?;
            for sub in page.items {
                if sub.current_period_end_ms > now_ms {
                    break 'pages;
                }
                due.push(sub.account_id);
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        for account in due {
            if let Err(e) = self.renew_one(&account, now_ms, &mut report).await {
                report.failed.push(RenewalFailure {
                    account_id: account,
                    code: e.code().to_owned(),
                    message: e.to_string(),
                });
            }
        }
        self.mark_overdue(now_ms, &mut report).await?;
        Ok(report)
    }

    /// Renews (or ends) one due subscription, as read now from the table.
    async fn renew_one(
        &self,
        account: &AccountId,
        now_ms: i64,
        report: &mut RenewalReport,
    ) -> Result<(), SubscriptionError> {
        for attempt in 0..self.retry.max_attempts {
            let Some(sub) = self.repo.subscription(account).await? else { return Ok(()) };
            if sub.current_period_end_ms > now_ms || sub.status == SubscriptionStatus::Cancelled {
                return Ok(());
            }
            let mut next = sub.clone();
            next.version = sub.version + 1;
            next.updated_at = rfc3339(self.clock.now_ms());
            let renewed = if sub.cancel_at_period_end {
                next.status = SubscriptionStatus::Cancelled;
                None
            } else {
                let plan = self.plan(sub.next_plan_id.as_ref().unwrap_or(&sub.plan_id)).await?;
                let number = sub.period_number + 1;
                let start = sub.current_period_end_ms;
                let end = add_months(sub.billing_anchor_ms, number);
                let invoice = self.invoices.create_for_plan_period(account, &plan, start, end).await?;
                let invoice = self.invoices.finalize(account, &invoice.id).await?;
                next.plan_id = plan.id;
                next.next_plan_id = None;
                next.period_number = number;
                next.current_period_start_ms = start;
                next.current_period_end_ms = end;
                next.current_period_start = rfc3339(start);
                next.current_period_end = rfc3339(end);
                next.latest_invoice = Some(invoice.id.clone());
                Some(invoice)
            };
            match self.repo.store().transact(vec![self.repo.subscription_write(&next, Some(sub.version))?]).await {
                Ok(()) => {
                    match renewed {
                        Some(invoice) => report.renewed.push(RenewedPeriod {
                            account_id: account.clone(),
                            invoice_id: invoice.id,
                            number: invoice.number,
                        }),
                        None => report.cancelled.push(account.clone()),
                    }
                    return Ok(());
                }
                // Changed meanwhile (another renewal, a plan change): read it again; a
                // period already advanced is no longer due and ends the loop.
                Err(StoreError::ConditionFailed(_)) => {}
                Err(e) if e.is_transient() => self.retry.backoff(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(SubscriptionError::Contended { attempts: self.retry.max_attempts })
    }

    /// Marks past_due the live subscriptions of accounts with a plan invoice still
    /// unpaid after its due date.
    async fn mark_overdue(&self, now_ms: i64, report: &mut RenewalReport) -> Result<(), SubscriptionError> {
        let mut overdue = Vec::new();
        let mut cursor = None;
        'pages: loop {
            let page = self.repo.plan_invoices_by_due(RENEWAL_PAGE, cursor).await?;
            for invoice in page.items {
                if invoice.due_ms.is_none_or(|due| due > now_ms) {
                    break 'pages;
                }
                overdue.push((invoice.account_id, invoice.id));
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        for (account, id) in overdue {
            let still_open = self
                .repo
                .invoice(&account, &id)
                .await?
                .is_some_and(|i| matches!(i.status, InvoiceStatus::Open | InvoiceStatus::Uncollectible));
            if !still_open || report.past_due.contains(&account) {
                continue;
            }
            match self.repo.subscription(&account).await? {
                Some(sub) if sub.status == SubscriptionStatus::Active => {}
                _ => continue,
            }
            let marked = self
                .modify(&account, |sub| {
                    sub.status = SubscriptionStatus::PastDue;
                    Ok(())
                })
                .await;
            match marked {
                Ok(_) => report.past_due.push(account),
                Err(e) => report.failed.push(RenewalFailure {
                    account_id: account,
                    code: e.code().to_owned(),
                    message: e.to_string(),
                }),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_clamp_to_the_last_day_and_never_drift() {
        // 2026-01-31T10:00:00Z
        let jan31 = 1_769_853_600_000;
        assert_eq!(rfc3339(add_months(jan31, 1)), "2026-02-28T10:00:00Z");
        assert_eq!(rfc3339(add_months(jan31, 2)), "2026-03-31T10:00:00Z");
        assert_eq!(rfc3339(add_months(jan31, 13)), "2027-02-28T10:00:00Z");
        assert_eq!(rfc3339(add_months(jan31, 0)), "2026-01-31T10:00:00Z");
    }
}
