//! Optimization records, kept under the site (`SITE#<site>#OPT`, sorted by article
//! then id) so an article's history is one query. An optimization is stored twice in
//! its life: `settling` once its rewrite is known (with the hold that pays for it and
//! the usage to log), so a retry after a crash finishes it instead of calling the
//! provider again, and `done` in the same transaction that updates the article.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{from_item, to_item, RepoError};
use crate::domain::{ContentId, CreditHold, OptimizationId, OptimizationRecord, SiteId, UsageDetails};
use crate::ports::{all_pages, Condition, Item, ItemStore, Key, Query, WriteOp};

/// Record type of a stored optimization (a table dump reads on its own).
const RECORD_TYPE: &str = "optimization";

/// Attribute holding the stored state.
const STATE_ATTR: &str = "state";

/// Partition of a site's optimizations.
pub fn partition(site: &SiteId) -> String {
    format!("SITE#{site}#OPT")
}

/// Sort-key prefix of one article's optimizations.
pub fn content_prefix(content: &ContentId) -> String {
    format!("OPT#{content}#")
}

/// Key of one optimization.
pub fn key(site: &SiteId, content: &ContentId, id: &OptimizationId) -> Key {
    Key::new(partition(site), format!("{}{id}", content_prefix(content)))
}

/// Where a stored optimization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizationState {
    /// The rewrite is known; its charge and the article's update may still be due.
    Settling,
    /// Charged, and the article updated if the rewrite was kept.
    Done,
}

impl OptimizationState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Settling => "settling",
            Self::Done => "done",
        }
    }
}

/// An optimization as stored: the record and what a retry needs to finish it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredOptimization {
    /// The record the API shows.
    #[serde(flatten)]
    pub record: OptimizationRecord,
    /// Where it stands.
    pub state: OptimizationState,
    /// The hold that pays for it (settled to `record.credits`).
    pub hold: CreditHold,
    /// The usage the charge logs (model, tokens, words).
    pub usage: UsageDetails,
}

/// Stores optimizations.
#[derive(Clone)]
pub struct OptimizationRepo {
    store: Arc<dyn ItemStore>,
}

impl OptimizationRepo {
    /// A repository over the store.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    fn item(stored: &StoredOptimization) -> Result<Item, RepoError> {
        let r = &stored.record;
        to_item(stored, RECORD_TYPE, &key(&r.site_id, &r.content_id, &r.id), None)
    }

    /// Reads one optimization.
    pub async fn get(
        &self,
        site: &SiteId,
        content: &ContentId,
        id: &OptimizationId,
    ) -> Result<Option<StoredOptimization>, RepoError> {
        self.store.get(&key(site, content, id)).await?.map(from_item).transpose()
    }

    /// Stores a new optimization in `settling`; fails its condition when one with the
    /// same id exists (another attempt got there first: read it and finish that one).
    pub async fn begin(&self, stored: &StoredOptimization) -> Result<(), RepoError> {
        let item = Self::item(&StoredOptimization { state: OptimizationState::Settling, ..stored.clone() })?;
        Ok(self.store.put(item, Some(Condition::ItemNotExists)).await?)
    }

    /// The write that marks the optimization `done` (as given), only if it is still
    /// `settling`: it goes in the same transaction as the article's update.
    pub fn finish_write(&self, stored: &StoredOptimization) -> Result<WriteOp, RepoError> {
        let item = Self::item(&StoredOptimization { state: OptimizationState::Done, ..stored.clone() })?;
        Ok(WriteOp::Put { item, condition: Some(Condition::eq(STATE_ATTR, OptimizationState::Settling.as_str())) })
    }

    /// The article's finished optimizations, newest first.
    pub async fn history(&self, site: &SiteId, content: &ContentId) -> Result<Vec<OptimizationRecord>, RepoError> {
        let query = Query::partition(partition(site)).prefix(content_prefix(content)).limit(1000);
        let stored: Vec<StoredOptimization> = all_pages(|cursor| {
            let page = query.clone().after(cursor);
            async move { self.store.query(&page).await.map_err(RepoError::from)?.try_map(from_item) }
        })
        .await?;
        let mut records: Vec<OptimizationRecord> =
            stored.into_iter().filter(|s| s.state == OptimizationState::Done).map(|s| s.record).collect();
        records.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        Ok(records)
    }
}
