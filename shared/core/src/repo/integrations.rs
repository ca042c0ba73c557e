//! Storage shape of site integrations: each in its site's partition with a `version`
//! for optimistic writes, a guard item per site and platform that makes "one active
//! integration per site and platform" a store condition, and a GSI1 entry while the
//! integration is active and sync-enabled so the scheduled sync finds every account's.

use std::sync::Arc;

use serde_json::Value;

use super::{from_item, int_attr, keys, to_item, RepoError};
use crate::domain::{IntegrationId, SiteId, SiteIntegration};
use crate::ports::{all_pages, Condition, Item, ItemStore, Page, Query, StoreError, WriteOp};

/// Attribute holding an integration item's version (not part of the domain record).
const VERSION_ATTR: &str = "version";

/// Attribute of the guard naming the integration that holds it.
const HOLDER_ATTR: &str = "integration_id";

/// An integration as read, with the version its next write must still find.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredIntegration {
    /// The record.
    pub integration: SiteIntegration,
    /// Its version in the store.
    pub version: i64,
}

/// What a conditional write of an integration found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationWrite {
    /// Written.
    Done,
    /// The site already has an active integration of this platform.
    GuardTaken,
    /// The integration changed (or vanished) since it was read: read again.
    Stale,
}

/// Reads and writes integrations; every write carries its condition.
#[derive(Clone)]
pub struct IntegrationRepo {
    store: Arc<dyn ItemStore>,
}

/// GSI1 entry of an integration: only while active and sync-enabled.
fn sync_gsi(integration: &SiteIntegration) -> Option<(String, String)> {
    (integration.active && integration.sync_enabled)
        .then(|| (keys::SYNC_INTEGRATIONS_INDEX.to_owned(), keys::sync_integration_sort(&integration.id)))
}

fn decode(item: Item) -> Result<StoredIntegration, RepoError> {
    let version = int_attr(&item, VERSION_ATTR);
    Ok(StoredIntegration { integration: from_item(item)?, version })
}

impl IntegrationRepo {
    /// A repository over the store.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    /// The store, for services that add these writes to their own transactions.
    pub fn store(&self) -> &Arc<dyn ItemStore> {
        &self.store
    }

    /// One integration of the site.
    pub async fn get(&self, site: &SiteId, id: &IntegrationId) -> Result<Option<StoredIntegration>, RepoError> {
        self.store.get(&keys::integration(site, id)).await?.map(decode).transpose()
    }

    /// Every integration of the site, oldest first.
    pub async fn list(&self, site: &SiteId) -> Result<Vec<SiteIntegration>, RepoError> {
        all_pages(|cursor| async move {
            let q = Query::partition(keys::site(site).pk).prefix(keys::INTEGRATION_PREFIX).after(cursor);
            self.store.query(&q).await?.try_map(from_item)
        })
        .await
    }

    /// One page of the active, sync-enabled integrations of every account, oldest first.
    pub async fn sync_candidates(
        &self,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<SiteIntegration>, RepoError> {
        let q = Query::partition(keys::SYNC_INTEGRATIONS_INDEX).on_gsi1().limit(limit.max(1)).after(cursor);
        self.store.query(&q).await?.try_map(from_item)
    }

    fn put(integration: &SiteIntegration, version: i64, condition: Condition) -> Result<WriteOp, RepoError> {
        let key = keys::integration(&integration.site_id, &integration.id);
        let mut item = to_item(integration, "site_integration", &key, sync_gsi(integration))?;
        item.insert(VERSION_ATTR.into(), Value::from(version));
        Ok(WriteOp::Put { item, condition: Some(condition) })
    }

    fn guard_put(integration: &SiteIntegration) -> WriteOp {
        let key = keys::active_integration_guard(&integration.site_id, integration.platform);
        let mut item = Item::new();
        item.insert(crate::ports::item_store::PK.into(), Value::from(key.pk));
        item.insert(crate::ports::item_store::SK.into(), Value::from(key.sk));
        item.insert(super::TYPE_ATTR.into(), Value::from("active_integration_guard"));
        item.insert(HOLDER_ATTR.into(), Value::from(integration.id.as_str()));
        WriteOp::Put { item, condition: Some(Condition::ItemNotExists) }
    }

    fn guard_delete(integration: &SiteIntegration) -> WriteOp {
        WriteOp::Delete {
            key: keys::active_integration_guard(&integration.site_id, integration.platform),
            condition: Some(Condition::eq(HOLDER_ATTR, integration.id.as_str())),
        }
    }

    /// Runs the writes; the guard put's condition failing is `GuardTaken`, any other
    /// condition failing is `Stale`.
    async fn run(&self, writes: Vec<WriteOp>, guard_put_at: Option<usize>) -> Result<IntegrationWrite, RepoError> {
        match self.store.transact(writes).await {
            Ok(()) => Ok(IntegrationWrite::Done),
            Err(e @ StoreError::ConditionFailed(_)) => {
                if guard_put_at.is_some_and(|i| e.failed_at(i)) {
                    Ok(IntegrationWrite::GuardTaken)
                } else {
                    Ok(IntegrationWrite::Stale)
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stores a new integration (version 1) and, when it is active, takes the site's
    /// guard for its platform in the same transaction.
    pub async fn create(&self, integration: &SiteIntegration) -> Result<IntegrationWrite, RepoError> {
        let mut writes = vec![Self::put(integration, 1, Condition::ItemNotExists)?];
        let guard_at = integration.active.then(|| {
            writes.push(Self::guard_put(integration));
            writes.len() - 1
        });
        self.run(writes, guard_at).await
    }

    /// Replaces `read` by `next` if it is still at the version read; takes or releases
    /// the guard in the same transaction when `active` changes.
    pub async fn replace(
        &self,
        read: &StoredIntegration,
        next: &SiteIntegration,
    ) -> Result<IntegrationWrite, RepoError> {
        let mut writes = vec![Self::put(next, read.version + 1, Condition::eq(VERSION_ATTR, read.version))?];
        let mut guard_at = None;
        match (read.integration.active, next.active) {
            (false, true) => {
                writes.push(Self::guard_put(next));
                guard_at = Some(writes.len() - 1);
            }
            (true, false) => writes.push(Self::guard_delete(&read.integration)),
            _ => {}
        }
        self.run(writes, guard_at).await
    }

    /// Deletes `read` if it is still at the version read, releasing its guard.
    pub async fn delete(&self, read: &StoredIntegration) -> Result<IntegrationWrite, RepoError> {
        let integration = &read.integration;
        let mut writes = vec![WriteOp::Delete {
            key: keys::integration(&integration.site_id, &integration.id),
            condition: Some(Condition::eq(VERSION_ATTR, read.version)),
        }];
        if integration.active {
            writes.push(Self::guard_delete(integration));
        }
        self.run(writes, None).await
    }
}
