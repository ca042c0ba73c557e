//! SiteLock: at most one automation run per site.
//!
//! A conditional update of `SITE#<id>/LOCK` takes the lock when it is free, its lease
//! has passed (`expires_at < now`) or the caller already holds it, so correctness never
//! depends on table TTL. The lock belongs to its holder (a run id), not to a process: a
//! process continuing an interrupted run re-takes the run's lock by holder, and the
//! fence bump of that acquire shuts out any writer left from the previous one. Only
//! the holder extends or releases it. Release keeps the item (clearing the holder) so
//! the fence counter, bumped by every acquire, only ever grows; writes of a run carry
//! [`SiteLock::fence_guard`] so a holder that lost its lease cannot write.

use std::sync::Arc;

use serde_json::Value;

use super::{int_attr, keys};
use crate::domain::{SiteId, SiteLease};
use crate::ports::clock::rfc3339_relative;
use crate::ports::{Clock, Condition, Item, ItemStore, StoreError, UpdateAction, WriteOp};

/// Refusals and failures of the site lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Someone else holds an unexpired lease.
    #[error("site {site} is locked by {holder} until {}", rfc3339_relative(*expires_at, *now))]
    Held {
        /// The site.
        site: SiteId,
        /// Current holder.
        holder: String,
        /// When the lease ends, Unix milliseconds.
        expires_at: i64,
        /// When the lock was found held, Unix milliseconds (the message says how far
        /// the lease end is from it).
        now: i64,
    },
    /// The caller does not hold the lock (never did, released it, or lost the lease).
    #[error("{holder} does not hold the lock of site {site} (current holder: {})", current.as_deref().unwrap_or("none"))]
    NotHolder {
        /// The site.
        site: SiteId,
        /// Who asked.
        holder: String,
        /// Who holds it now, if anyone.
        current: Option<String>,
    },
    /// Leases last from 1 ms to 7 days; holders are non-empty.
    #[error("invalid lock request: {0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LockError {
    /// The stable snake_case code the edges report for this error (the API has no
    /// route of its own for the lock; these are the CLI's codes, storage as the API's).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Held { .. } => "lock_held",
            Self::NotHolder { .. } => "not_lock_holder",
            Self::Invalid(_) => "invalid_lock_request",
            Self::Store(s) => s.code(),
        }
    }
}

/// Longest lease: a run that needs more must extend it.
pub const MAX_LEASE_MS: i64 = 7 * 24 * 3600 * 1000;

/// The per-site lock service.
#[derive(Clone)]
pub struct SiteLock {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
}

fn lease_of(site: &SiteId, item: &Item) -> SiteLease {
    SiteLease {
        site_id: site.clone(),
        holder: item.get("holder").and_then(Value::as_str).map(str::to_owned),
        expires_at: int_attr(item, "expires_at"),
        fence: int_attr(item, "fence"),
        acquired_at: int_attr(item, "acquired_at"),
    }
}

fn check(holder: &str, lease_ms: i64) -> Result<(), LockError> {
    if holder.trim().is_empty() || holder.len() > 255 {
        return Err(LockError::Invalid("holder must be 1 to 255 characters".into()));
    }
    if !(1..=MAX_LEASE_MS).contains(&lease_ms) {
        return Err(LockError::Invalid(format!("lease must be 1 to {MAX_LEASE_MS} ms, got {lease_ms}")));
    }
    Ok(())
}

impl SiteLock {
    /// A lock service over the store.
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Takes the lock for `lease_ms`, or says who holds it and until when.
    ///
    /// The holder may take its own lock again, even before its lease ends: that is how
    /// a process continuing an interrupted run takes the run's lock over. Every acquire
    /// bumps the fence, so writes still in flight from the holder's previous
    /// acquisition (a process that died or hung) carry an old fence and fail.
    pub async fn acquire(&self, site: &SiteId, holder: &str, lease_ms: i64) -> Result<SiteLease, LockError> {
        check(holder, lease_ms)?;
        let now = self.clock.now_ms();
        let free = Condition::Or(vec![
            Condition::AttributeNotExists("holder".into()),
            Condition::lt("expires_at", now),
            Condition::eq("holder", holder),
        ]);
        let actions = vec![
            UpdateAction::set("site_id", site.as_str()),
            UpdateAction::set("holder", holder),
            UpdateAction::set("expires_at", now + lease_ms),
            UpdateAction::set("acquired_at", now),
            UpdateAction::add("fence", 1),
            UpdateAction::set("type", "site_lock"),
        ];
        match self.store.update(&keys::site_lock(site), actions, Some(free)).await {
            Ok(item) => Ok(lease_of(site, &item)),
            Err(StoreError::ConditionFailed(_)) => {
                let lease = self.status(site).await?;
                Err(match lease {
                    Some(SiteLease { holder: Some(holder), expires_at, .. }) => {
                        LockError::Held { site: site.clone(), holder, expires_at, now }
                    }
                    // Released between our write and our read: the caller may simply retry.
                    _ => LockError::Store(StoreError::Conflict),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Pushes the lease end to `now + lease_ms`; only the holder, and only before it expired.
    pub async fn extend(&self, site: &SiteId, holder: &str, lease_ms: i64) -> Result<SiteLease, LockError> {
        check(holder, lease_ms)?;
        let now = self.clock.now_ms();
        let mine = Condition::And(vec![Condition::eq("holder", holder), Condition::gt("expires_at", now)]);
        let actions = vec![UpdateAction::set("expires_at", now + lease_ms)];
        self.holder_write(site, holder, actions, mine).await
    }

    /// Gives the lock up; only the holder. The fence counter stays.
    pub async fn release(&self, site: &SiteId, holder: &str) -> Result<SiteLease, LockError> {
        check(holder, 1)?;
        let now = self.clock.now_ms();
        let actions = vec![
            UpdateAction::remove("holder"),
            UpdateAction::set("expires_at", 0),
            UpdateAction::set("released_at", now),
        ];
        self.holder_write(site, holder, actions, Condition::eq("holder", holder)).await
    }

    async fn holder_write(
        &self,
        site: &SiteId,
        holder: &str,
        actions: Vec<UpdateAction>,
        condition: Condition,
    ) -> Result<SiteLease, LockError> {
        match self.store.update(&keys::site_lock(site), actions, Some(condition)).await {
            Ok(item) => Ok(lease_of(site, &item)),
            Err(StoreError::ConditionFailed(_)) => {
                let current = self.status(site).await?.filter(|l| l.is_held(self.clock.now_ms()));
                Err(LockError::NotHolder {
                    site: site.clone(),
                    holder: holder.to_owned(),
                    current: current.and_then(|l| l.holder),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The lock as stored (None if the site was never locked).
    pub async fn status(&self, site: &SiteId) -> Result<Option<SiteLease>, LockError> {
        Ok(self.store.get(&keys::site_lock(site)).await?.map(|item| lease_of(site, &item)))
    }

    /// A transaction member that fails unless `holder` still holds the lock at `fence`:
    /// add it to a run's writes so a holder that lost its lease cannot write.
    pub fn fence_guard(&self, site: &SiteId, holder: &str, fence: i64) -> WriteOp {
        WriteOp::Check {
            key: keys::site_lock(site),
            condition: Condition::And(vec![Condition::eq("holder", holder), Condition::eq("fence", fence)]),
        }
    }
}
