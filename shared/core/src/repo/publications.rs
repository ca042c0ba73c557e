//! Deployment records (`Publication`): one per article and integration, in the site's
//! publication partition and indexed by integration for content sync.
//!
//! Every write is conditional on the version read, and a publish first *claims* the
//! record (state `InProgress`, a claim token and time): a second publisher of the same
//! article sees the claim and backs off, so two concurrent publishes can never both
//! create a remote post. A claim older than [`STALE_CLAIM_MS`] belongs to a publisher
//! that died and may be taken over; a live publisher refreshes its claim time on each
//! write, so a long upload never looks stale.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{from_item, keys, to_item, RepoError};
use crate::domain::{ContentId, IntegrationId, Publication, PublicationState, SiteId};
use crate::ports::{all_pages, Condition, ItemStore, Page, Query, StoreError, WriteOp};

/// How old a claim must be before another publisher may take it over: longer than any
/// one remote call (uploads, a post) takes, short enough that a crashed publish is
/// retried within minutes.
pub const STALE_CLAIM_MS: i64 = 5 * 60 * 1000;

/// Record type of a publication item.
const RECORD_TYPE: &str = "publication";

/// A publication as stored: the record, its write version and the live claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPublication {
    /// The deployment record.
    #[serde(flatten)]
    pub publication: Publication,
    /// Bumped by every write; each write is conditional on the one read.
    pub version: i64,
    /// The attempt holding it (unique per publish attempt), while one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_token: Option<String>,
    /// When the claim was taken or last refreshed (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_ms: Option<i64>,
}

impl StoredPublication {
    /// True while some publisher holds a claim younger than [`STALE_CLAIM_MS`] at `now_ms`.
    pub fn is_claimed(&self, now_ms: i64) -> bool {
        self.claim_ms.is_some_and(|at| self.claim_token.is_some() && now_ms.saturating_sub(at) < STALE_CLAIM_MS)
    }

    /// True while a publisher other than `token` holds a claim younger than
    /// [`STALE_CLAIM_MS`] at `now_ms`.
    pub fn held_by_another(&self, token: &str, now_ms: i64) -> bool {
        match (&self.claim_token, self.claim_ms) {
            (Some(held), Some(at)) => held != token && now_ms.saturating_sub(at) < STALE_CLAIM_MS,
            _ => false,
        }
    }
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// The record is ours until released.
    Claimed(StoredPublication),
    /// Another publisher holds a live claim: the record as it stands.
    Busy(Publication),
}

/// Reads and writes publications.
#[derive(Clone)]
pub struct PublicationRepo {
    store: Arc<dyn ItemStore>,
}

impl PublicationRepo {
    /// A repository over the store.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    fn item(stored: &StoredPublication) -> Result<crate::ports::Item, RepoError> {
        let p = &stored.publication;
        let key = keys::publication(&p.site_id, &p.content_id, &p.integration_id);
        let gsi = (keys::integration_publications_index(&p.site_id, &p.integration_id), p.content_id.to_string());
        to_item(stored, RECORD_TYPE, &key, Some(gsi))
    }

    /// The publication of one article on one integration.
    pub async fn get(
        &self,
        site: &SiteId,
        content: &ContentId,
        integration: &IntegrationId,
    ) -> Result<Option<StoredPublication>, RepoError> {
        self.store.get(&keys::publication(site, content, integration)).await?.map(from_item).transpose()
    }

    /// Every publication of one article (one per integration it was sent to).
    pub async fn for_content(&self, site: &SiteId, content: &ContentId) -> Result<Vec<StoredPublication>, RepoError> {
        all_pages(|cursor| async move {
            let q = Query::partition(keys::publication_partition(site))
                .prefix(keys::content_publications_prefix(content))
                .after(cursor);
            self.store.query(&q).await?.try_map(from_item)
        })
        .await
    }

    /// Every publication of the site (one query, paged): the linker reads them once
    /// per pass to find live URLs and the publications to flag.
    pub async fn for_site(&self, site: &SiteId) -> Result<Vec<StoredPublication>, RepoError> {
        all_pages(|cursor| async move {
            let q = Query::partition(keys::publication_partition(site)).after(cursor);
            self.store.query(&q).await?.try_map(from_item)
        })
        .await
    }

    /// A write flagging the publication `needs_update` (its article changed after it
    /// was sent), to go in the same transaction as the article's change: only over the
    /// version read and while no live publisher holds a claim, so a publish in flight
    /// neither loses the flag nor has its own write refused.
    pub fn flag_for_update(&self, stored: &StoredPublication, now: &str, now_ms: i64) -> Result<WriteOp, RepoError> {
        let mut next = stored.clone();
        next.version += 1;
        next.publication.needs_update = true;
        next.publication.updated_at = now.to_owned();
        let unclaimed = Condition::Or(vec![
            Condition::AttributeNotExists("claim_token".into()),
            Condition::lt("claim_ms", now_ms.saturating_sub(STALE_CLAIM_MS)),
        ]);
        let condition = Condition::And(vec![Condition::eq("version", stored.version), unclaimed]);
        Ok(WriteOp::Put { item: Self::item(&next)?, condition: Some(condition) })
    }

    /// One page of an integration's publications, in content id order.
    pub async fn for_integration(
        &self,
        site: &SiteId,
        integration: &IntegrationId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<StoredPublication>, RepoError> {
        let q = Query::partition(keys::integration_publications_index(site, integration))
            .on_gsi1()
            .limit(limit.max(1))
            .after(cursor);
        self.store.query(&q).await?.try_map(from_item)
    }

    /// Claims the record for a publish: creates it from `fresh` when absent, else takes
    /// it when nobody holds a live claim, letting `prepare` set what this attempt asks
    /// (state `InProgress`, attempts + 1). A lost race is read again; a live claim of
    /// another publisher is [`ClaimOutcome::Busy`].
    pub async fn claim(
        &self,
        fresh: Publication,
        token: &str,
        now_ms: i64,
        prepare: impl Fn(&mut Publication),
    ) -> Result<ClaimOutcome, RepoError> {
        let policy = crate::retry::RetryPolicy { max_attempts: 20, ..Default::default() };
        for attempt in 0..policy.max_attempts {
            let current = self.get(&fresh.site_id, &fresh.content_id, &fresh.integration_id).await?;
            let (mut next, condition) = match current {
                None => (
                    StoredPublication { publication: fresh.clone(), version: 0, claim_token: None, claim_ms: None },
                    Condition::ItemNotExists,
                ),
                Some(stored) => {
                    if stored.held_by_another(token, now_ms) {
                        return Ok(ClaimOutcome::Busy(stored.publication));
                    }
                    let read = stored.version;
                    (stored, Condition::eq("version", read))
                }
            };
            prepare(&mut next.publication);
            next.publication.state = PublicationState::InProgress;
            next.version += 1;
            next.claim_token = Some(token.to_owned());
            next.claim_ms = Some(now_ms);
            match self.store.put(Self::item(&next)?, Some(condition)).await {
                Ok(()) => return Ok(ClaimOutcome::Claimed(next)),
                Err(StoreError::ConditionFailed(_)) => policy.backoff(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// Writes the claimed record's progress, refreshing the claim time; `Ok(false)` when
    /// the claim was lost (taken over as stale) and nothing was written.
    pub async fn save(&self, stored: &mut StoredPublication, now_ms: i64) -> Result<bool, RepoError> {
        let mut next = stored.clone();
        next.version += 1;
        next.claim_ms = Some(now_ms);
        self.write_held(stored, next).await
    }

    /// Writes the record's final state for this attempt and drops the claim;
    /// `Ok(false)` when the claim was lost and nothing was written.
    pub async fn release(&self, stored: &mut StoredPublication) -> Result<bool, RepoError> {
        let mut next = stored.clone();
        next.version += 1;
        next.claim_token = None;
        next.claim_ms = None;
        self.write_held(stored, next).await
    }

    async fn write_held(&self, stored: &mut StoredPublication, next: StoredPublication) -> Result<bool, RepoError> {
        let Some(token) = stored.claim_token.clone() else { return Ok(false) };
        let condition =
            Condition::And(vec![Condition::eq("version", stored.version), Condition::eq("claim_token", token)]);
        match self.store.put(Self::item(&next)?, Some(condition)).await {
            Ok(()) => {
                *stored = next;
                Ok(true)
            }
            Err(StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes what content sync saw, only on an unclaimed record still at the version
    /// read; `Ok(false)` when a publish holds it or changed it meanwhile (the publish wins).
    pub async fn record_remote(&self, stored: &StoredPublication, next: Publication) -> Result<bool, RepoError> {
        let written =
            StoredPublication { publication: next, version: stored.version + 1, claim_token: None, claim_ms: None };
        let condition = Condition::And(vec![
            Condition::eq("version", stored.version),
            Condition::AttributeNotExists("claim_token".into()),
        ]);
        match self.store.put(Self::item(&written)?, Some(condition)).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
