//! Records of the run's pipeline (keywords … images), stored per site and indexed by
//! status on GSI1 so each stage finds the work waiting for it without a scan.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{from_item, keys, to_item, RepoError};
use crate::domain::{Cluster, Content, Idea, ImageRecord, Keyword, RunId, SiteId, WriterTask};
use crate::ports::{all_pages, for_each_page, Condition, Item, ItemStore, Key, Page, Query, StoreError, WriteOp};

/// A pipeline record: belongs to a site, has an id and a status.
pub trait SiteRecord: Serialize + DeserializeOwned + Send + Sync {
    /// Record type, part of the key (`KW`, `CLUSTER`...).
    const KIND: &'static str;
    /// The owning site.
    fn site(&self) -> &SiteId;
    /// The record's id.
    fn record_id(&self) -> &str;
    /// The status name as serialised.
    fn status_name(&self) -> String;
}

fn status_of<T: Serialize>(status: &T) -> String {
    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

macro_rules! site_record {
    ($ty:ty, $kind:literal) => {
        impl SiteRecord for $ty {
            const KIND: &'static str = $kind;
            fn site(&self) -> &SiteId {
                &self.site_id
            }
            fn record_id(&self) -> &str {
                self.id.as_str()
            }
            fn status_name(&self) -> String {
                status_of(&self.status)
            }
        }
    };
}

site_record!(Keyword, "KW");
site_record!(Cluster, "CLUSTER");
site_record!(Idea, "IDEA");
site_record!(WriterTask, "TASK");
site_record!(Content, "CONTENT");
site_record!(ImageRecord, "IMAGE");

/// Partition of a site's records of one kind.
pub fn partition<T: SiteRecord>(site: &SiteId) -> String {
    keys::site_records(site, T::KIND)
}

/// GSI1 partition of a site's records of one kind in one status.
pub fn status_index<T: SiteRecord>(site: &SiteId, status: &str) -> String {
    keys::site_records_in_status(site, T::KIND, status)
}

/// Key of one record.
pub fn key<T: SiteRecord>(site: &SiteId, id: &str) -> Key {
    Key::new(partition::<T>(site), id)
}

/// Stores one kind of pipeline record.
pub struct Records<T> {
    store: Arc<dyn ItemStore>,
    kind: PhantomData<fn() -> T>,
}

impl<T> Clone for Records<T> {
    fn clone(&self) -> Self {
        Self { store: Arc::clone(&self.store), kind: PhantomData }
    }
}

impl<T: SiteRecord> Records<T> {
    /// A repository over the store.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store, kind: PhantomData }
    }

    fn item(record: &T) -> Result<Item, RepoError> {
        let status = record.status_name();
        to_item(
            record,
            &T::KIND.to_ascii_lowercase(),
            &key::<T>(record.site(), record.record_id()),
            Some((status_index::<T>(record.site(), &status), record.record_id().to_owned())),
        )
    }

    /// A put of a new record that fails (harmlessly, on a replay) if it exists.
    pub fn create(&self, record: &T) -> Result<WriteOp, RepoError> {
        Ok(WriteOp::Put { item: Self::item(record)?, condition: Some(Condition::ItemNotExists) })
    }

    /// A put of the record's next state, only if it is still in status `from`.
    pub fn transition(&self, record: &T, from: &str) -> Result<WriteOp, RepoError> {
        Ok(WriteOp::Put { item: Self::item(record)?, condition: Some(Condition::eq("status", from)) })
    }

    /// A put of the record's next state, only if it is still in one of `from`.
    pub fn transition_from_any(&self, record: &T, from: &[&str]) -> Result<WriteOp, RepoError> {
        let any = from.iter().map(|s| Condition::eq("status", *s)).collect();
        Ok(WriteOp::Put { item: Self::item(record)?, condition: Some(Condition::Or(any)) })
    }

    /// Writes one record unconditionally (imports replace by id).
    pub async fn put(&self, record: &T) -> Result<(), RepoError> {
        Ok(self.store.put(Self::item(record)?, None).await?)
    }

    /// Reads one record.
    pub async fn get(&self, site: &SiteId, id: &str) -> Result<Option<T>, RepoError> {
        self.store.get(&key::<T>(site, id)).await?.map(from_item).transpose()
    }

    /// Reads several records of the site in one batch: one result per id, in the order
    /// of `ids`, None where a record is missing. A handful of requests on DynamoDB
    /// (BatchGetItem) where a loop of [`Records::get`] would pay one per id.
    pub async fn get_many<I: AsRef<str> + Sync>(&self, site: &SiteId, ids: &[I]) -> Result<Vec<Option<T>>, RepoError> {
        let keys: Vec<Key> = ids.iter().map(|id| key::<T>(site, id.as_ref())).collect();
        self.store.get_many(&keys).await?.into_iter().map(|item| item.map(from_item).transpose()).collect()
    }

    /// One page of the site's records in id order.
    pub async fn list(&self, site: &SiteId, limit: usize, cursor: Option<String>) -> Result<Page<T>, RepoError> {
        let page = self.store.query(&Query::partition(partition::<T>(site)).limit(limit).after(cursor)).await?;
        page.try_map(from_item)
    }

    /// Every record of the site.
    pub async fn all(&self, site: &SiteId) -> Result<Vec<T>, RepoError> {
        all_pages(|cursor| self.list(site, 1000, cursor)).await
    }

    /// Up to `limit` records waiting in `status`, oldest id first.
    pub async fn in_status(&self, site: &SiteId, status: &str, limit: usize) -> Result<Vec<T>, RepoError> {
        let q = Query::partition(status_index::<T>(site, status)).on_gsi1().limit(limit.max(1));
        let page = self.store.query(&q).await?;
        let records: Vec<T> = page.items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        // The index may lag on DynamoDB: keep only records still in that status.
        Ok(records.into_iter().filter(|r| r.status_name() == status).collect())
    }

    /// Every record waiting in `status` (all pages).
    pub async fn all_in_status(&self, site: &SiteId, status: &str) -> Result<Vec<T>, RepoError> {
        let records: Vec<T> = all_pages(|cursor| async move {
            let q = Query::partition(status_index::<T>(site, status)).on_gsi1().limit(1000).after(cursor);
            self.store.query(&q).await?.try_map(from_item)
        })
        .await?;
        // The index may lag on DynamoDB: keep only records still in that status.
        Ok(records.into_iter().filter(|r| r.status_name() == status).collect())
    }

    /// How many records wait in `status`.
    pub async fn count_in_status(&self, site: &SiteId, status: &str) -> Result<u64, RepoError> {
        let mut count = 0u64;
        for_each_page(
            |cursor| async move {
                self.store
                    .query(&Query::partition(status_index::<T>(site, status)).on_gsi1().limit(1000).after(cursor))
                    .await
            },
            |items| {
                count += items.len() as u64;
                Ok::<_, StoreError>(())
            },
        )
        .await?;
        Ok(count)
    }

    /// Deletes one record.
    pub async fn delete(&self, site: &SiteId, id: &str) -> Result<(), RepoError> {
        Ok(self.store.delete(&key::<T>(site, id), None).await?)
    }
}

/// Where a run's stage-1 clustering plan stands: the plan (generation) the run is
/// writing, how many slices it has and the next slice to write. Why a record: the
/// plan is decided once over all waiting keywords and written slice by slice, one
/// slice a step, and a replayed step must find the slice it was writing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterPlanCursor {
    /// The plan's generation: 0 for the run's first plan, one more for each plan made
    /// for keywords that arrived while the run was writing the previous one.
    pub generation: u32,
    /// Slices in the plan.
    pub slices: u32,
    /// The next slice to write (`slices` when the plan is written).
    pub next: u32,
}

/// The clustering plan cursors of runs (`RUN#<run>` / `CLUSTER_PLAN`).
#[derive(Clone)]
pub struct ClusterPlanCursors {
    store: Arc<dyn ItemStore>,
}

impl ClusterPlanCursors {
    /// The cursors over the store.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    /// The run's cursor, if it has made a plan.
    pub async fn get(&self, run: &RunId) -> Result<Option<ClusterPlanCursor>, RepoError> {
        self.store.get(&keys::cluster_plan_key(run)).await?.map(from_item).transpose()
    }

    /// A put of a new plan's cursor, only over the cursor `previous` (none: the run
    /// has no plan yet), so a replayed step cannot start a plan twice.
    pub fn start(
        &self,
        run: &RunId,
        cursor: &ClusterPlanCursor,
        previous: Option<&ClusterPlanCursor>,
    ) -> Result<WriteOp, RepoError> {
        let condition = match previous {
            None => Condition::ItemNotExists,
            Some(p) => Self::at(p),
        };
        Ok(WriteOp::Put {
            item: to_item(cursor, "cluster_plan", &keys::cluster_plan_key(run), None)?,
            condition: Some(condition),
        })
    }

    /// A put moving the cursor past the slice it points at, only if it still does.
    pub fn advance(&self, run: &RunId, cursor: &ClusterPlanCursor) -> Result<WriteOp, RepoError> {
        let next = ClusterPlanCursor { next: cursor.next.saturating_add(1), ..cursor.clone() };
        let item = to_item(&next, "cluster_plan", &keys::cluster_plan_key(run), None)?;
        Ok(WriteOp::Put { item, condition: Some(Self::at(cursor)) })
    }

    fn at(cursor: &ClusterPlanCursor) -> Condition {
        Condition::And(vec![Condition::eq("generation", cursor.generation), Condition::eq("next", cursor.next)])
    }
}
