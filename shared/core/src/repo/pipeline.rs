//! Records of the run's pipeline (keywords … images), stored per site and indexed by
//! status on GSI1 so each stage finds the work waiting for it without a scan.
//!
//! How many records wait in a status is a counter item per site, kind and status
//! ([`keys::status_count`]), changed in the same transaction as the writes that create,
//! move or delete records ([`transact_counted`]): a replayed write whose condition
//! fails changes no counter, and reading what remains costs one item read whatever
//! the size of the site (it used to read every waiting record, once per batch).

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use serde_json::Value;

use super::{from_item, int_attr, keys, to_item, RepoError, TYPE_ATTR};
use crate::domain::{Cluster, Content, Idea, ImageRecord, Keyword, RunId, SiteId, WriterTask};
use crate::ports::item_store::{MAX_TRANSACTION_ITEMS, PK};
use crate::ports::{
    all_pages, for_each_page, Condition, Item, ItemStore, Key, Page, Query, StoreError, UpdateAction, WriteOp,
};
use crate::retry::RetryPolicy;

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

    /// How many records wait in `status`: one read of the status's counter.
    pub async fn count_in_status(&self, site: &SiteId, status: &str) -> Result<u64, RepoError> {
        let counter = self.store.get(&keys::status_count(&status_index::<T>(site, status))).await?;
        Ok(counter.map_or(0, |item| u64::try_from(int_attr(&item, COUNT_ATTR)).unwrap_or(0)))
    }

    /// How many records wait in `status`, counted by reading every one of them from the
    /// index: O(records). For checks of the counters, never for a batch.
    pub async fn scan_count_in_status(&self, site: &SiteId, status: &str) -> Result<u64, RepoError> {
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

    /// Deletes one record (a missing one is no error), taking it off its status's
    /// count in the same transaction; a record that moves meanwhile is read again.
    pub async fn delete(&self, site: &SiteId, id: &str) -> Result<(), RepoError> {
        let policy = RetryPolicy::default();
        for attempt in 0..policy.max_attempts {
            let Some(record) = self.get(site, id).await? else { return Ok(()) };
            let condition = Some(Condition::eq("status", record.status_name()));
            match transact_counted(&*self.store, vec![WriteOp::Delete { key: key::<T>(site, id), condition }]).await {
                Err(RepoError::Store(StoreError::ConditionFailed(_))) => policy.backoff(attempt).await,
                done => return done,
            }
        }
        Err(StoreError::Conflict.into())
    }
}

/// Attribute of a status counter holding the count.
const COUNT_ATTR: &str = "count";

/// Record type of a status counter item (a table dump reads on its own).
const COUNT_TYPE: &str = "status_count";

/// The kinds of pipeline record, as in their partition keys.
const KINDS: [&str; 6] = [Keyword::KIND, Cluster::KIND, Idea::KIND, WriterTask::KIND, Content::KIND, ImageRecord::KIND];

/// Attempts of a counted transaction that another writer's transaction keeps
/// conflicting with (DynamoDB cancels one of two transactions on the same counter).
const CONFLICT_ATTEMPTS: u32 = 8;

/// True for the partition of a site's pipeline records (`SITE#<site>#<KIND>`).
fn is_pipeline_partition(pk: &str) -> bool {
    pk.strip_prefix("SITE#").and_then(|rest| rest.rsplit_once('#')).is_some_and(|(_, kind)| KINDS.contains(&kind))
}

/// The status a condition requires of the current item, when it requires exactly one.
fn required_status(condition: &Condition) -> Option<&str> {
    match condition {
        Condition::Equals(attr, Value::String(status)) if attr == "status" => Some(status),
        Condition::And(all) => all.iter().find_map(required_status),
        _ => None,
    }
}

fn uncountable(op: &WriteOp, why: &str) -> RepoError {
    let key = op.key().map(|k| k.to_string()).unwrap_or_default();
    RepoError::Corrupt { key, reason: format!("a pipeline write the status counters cannot follow: {why}") }
}

/// Adds what `op` does to the counts: a created record counts in its status, a moved one
/// leaves the status its condition names for its new one, a deleted one leaves its
/// status. A pipeline write whose old status is unknown is refused (the count would
/// drift); writes to other items count nothing.
fn count_op(op: &WriteOp, deltas: &mut BTreeMap<String, i64>) -> Result<(), RepoError> {
    match op {
        WriteOp::Put { item, condition } => {
            let Some(pk) = item.get(PK).and_then(Value::as_str).filter(|pk| is_pipeline_partition(pk)) else {
                return Ok(());
            };
            let to = item.get("status").and_then(Value::as_str).ok_or_else(|| uncountable(op, "no status"))?;
            match condition {
                Some(Condition::ItemNotExists) => {}
                Some(c) => {
                    let from =
                        required_status(c).ok_or_else(|| uncountable(op, "the old status is not a condition"))?;
                    *deltas.entry(keys::records_in_status(pk, from)).or_default() -= 1;
                }
                None => return Err(uncountable(op, "an unconditional put")),
            }
            *deltas.entry(keys::records_in_status(pk, to)).or_default() += 1;
        }
        WriteOp::Delete { key, condition } if is_pipeline_partition(&key.pk) => {
            let from = condition
                .as_ref()
                .and_then(required_status)
                .ok_or_else(|| uncountable(op, "a delete that does not name the status"))?;
            *deltas.entry(keys::records_in_status(&key.pk, from)).or_default() -= 1;
        }
        WriteOp::Update { key, actions, .. } if is_pipeline_partition(&key.pk) => {
            if actions.iter().any(|a| matches!(a.attribute(), "status" | "GSI1PK")) {
                return Err(uncountable(op, "an update of the status"));
            }
        }
        WriteOp::Update { .. } | WriteOp::Delete { .. } | WriteOp::Check { .. } => {}
    }
    Ok(())
}

/// Every status each kind of record can be in (as stored): what a backfill sets.
const STATUSES: [(&str, &[&str]); 6] = [
    (Keyword::KIND, &["new", "clustered"]),
    (Cluster::KIND, &["new", "ideas_generated", "ideas_failed"]),
    (Idea::KIND, &["new", "queued"]),
    (WriterTask::KIND, &["queued", "written", "failed"]),
    (Content::KIND, &["draft", "prompts_ready", "published", "publish_failed", "prompts_failed"]),
    (ImageRecord::KIND, &["pending", "queued", "generated", "failed"]),
];

/// Sites whose counters this process has seen backfilled (a bounded cache: a miss
/// costs one item read).
static COUNTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Most sites [`COUNTED`] remembers.
const MAX_COUNTED: usize = 1024;

async fn scan_statuses<T: SiteRecord>(
    store: &Arc<dyn ItemStore>,
    site: &SiteId,
    counts: &mut BTreeMap<String, i64>,
) -> Result<(), RepoError> {
    for record in Records::<T>::new(Arc::clone(store)).all(site).await? {
        *counts.entry(status_index::<T>(site, &record.status_name())).or_default() += 1;
    }
    Ok(())
}

/// Makes a site's status counters agree with its records once, for data written
/// before the counters existed: if the site's marker is missing, every status of
/// every kind is counted by reading the records (once, O(records)) and set, with the
/// marker, in one transaction that only the first caller wins. An import into the
/// same site between that read and that write would be missed by the counts; a
/// store written by this version from the start is counted by its writes anyway.
pub async fn ensure_counted(store: &Arc<dyn ItemStore>, site: &SiteId) -> Result<(), RepoError> {
    let id = site.to_string();
    if COUNTED.lock().is_ok_and(|seen| seen.contains(&id)) {
        return Ok(());
    }
    let marker = keys::status_count(&keys::site_records(site, "COUNTED"));
    if store.get(&marker).await?.is_none() {
        let mut counts = BTreeMap::new();
        scan_statuses::<Keyword>(store, site, &mut counts).await?;
        scan_statuses::<Cluster>(store, site, &mut counts).await?;
        scan_statuses::<Idea>(store, site, &mut counts).await?;
        scan_statuses::<WriterTask>(store, site, &mut counts).await?;
        scan_statuses::<Content>(store, site, &mut counts).await?;
        scan_statuses::<ImageRecord>(store, site, &mut counts).await?;
        let mut writes: Vec<WriteOp> = STATUSES
            .iter()
            .flat_map(|(kind, statuses)| statuses.iter().map(move |s| keys::site_records_in_status(site, kind, s)))
            .map(|index| WriteOp::Update {
                key: keys::status_count(&index),
                actions: vec![
                    UpdateAction::set(COUNT_ATTR, counts.get(&index).copied().unwrap_or(0)),
                    UpdateAction::set(TYPE_ATTR, COUNT_TYPE),
                ],
                condition: None,
            })
            .collect();
        let mut item = Item::new();
        item.insert(PK.into(), Value::from(marker.pk.clone()));
        item.insert(crate::ports::item_store::SK.into(), Value::from(marker.sk.clone()));
        item.insert(TYPE_ATTR.into(), Value::from("status_counts_marker"));
        writes.push(WriteOp::Put { item, condition: Some(Condition::ItemNotExists) });
        match store.transact(writes).await {
            Ok(()) | Err(StoreError::ConditionFailed(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if let Ok(mut seen) = COUNTED.lock() {
        if seen.len() >= MAX_COUNTED {
            seen.clear();
        }
        seen.push(id);
    }
    Ok(())
}

/// The counter updates that keep the per-status counts right when `writes` commit:
/// one `Add` per status touched (moves within a batch net out), to go in the same
/// transaction as the writes.
pub fn count_writes(writes: &[WriteOp]) -> Result<Vec<WriteOp>, RepoError> {
    let mut deltas = BTreeMap::new();
    for op in writes {
        count_op(op, &mut deltas)?;
    }
    Ok(deltas
        .into_iter()
        .filter(|(_, delta)| *delta != 0)
        .map(|(index, delta)| WriteOp::Update {
            key: keys::status_count(&index),
            actions: vec![UpdateAction::add(COUNT_ATTR, delta), UpdateAction::set(TYPE_ATTR, COUNT_TYPE)],
            condition: None,
        })
        .collect())
}

/// How many writes of `writes` fit one transaction with their counter updates and
/// `extra` other writes: the longest prefix that does, at least one.
pub fn counted_fit(writes: &[WriteOp], extra: usize) -> Result<usize, RepoError> {
    let mut n = writes.len().min(MAX_TRANSACTION_ITEMS.saturating_sub(extra)).max(1);
    while n > 1 && extra + n + count_writes(&writes[..n])?.len() > MAX_TRANSACTION_ITEMS {
        n = n.div_ceil(2);
    }
    Ok(n)
}

/// Commits `writes` (≤ [`MAX_TRANSACTION_ITEMS`] with their counters, see
/// [`counted_fit`]) with the counter updates they need, all or nothing. Failed
/// conditions are the store's (indexes are those of `writes`, the counters come
/// after them); a transaction conflict on a counter is tried again after a backoff.
pub async fn transact_counted(store: &dyn ItemStore, writes: Vec<WriteOp>) -> Result<(), RepoError> {
    let counters = count_writes(&writes)?;
    let mut ops = writes;
    ops.extend(counters);
    let policy = RetryPolicy::default();
    let mut attempt = 0;
    loop {
        match store.transact(ops.clone()).await {
            Err(StoreError::Conflict) if attempt + 1 < CONFLICT_ATTEMPTS => {
                policy.backoff(attempt).await;
                attempt += 1;
            }
            done => return Ok(done?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountId, KeywordId, KeywordStatus};

    fn keyword(status: KeywordStatus) -> Keyword {
        Keyword {
            id: KeywordId::derive("site_a/k"),
            account_id: AccountId::derive("a"),
            site_id: site(),
            keyword: "k".into(),
            volume: 0,
            difficulty: None,
            cpc: None,
            intent: None,
            status,
            cluster_id: None,
            created_at: String::new(),
        }
    }

    fn site() -> SiteId {
        SiteId::derive("a")
    }

    fn counter(status: &str) -> String {
        format!("COUNT#SITE#{}#KW#{status}", site())
    }

    fn deltas(ops: &[WriteOp]) -> Vec<(String, i64)> {
        count_writes(ops)
            .expect("countable")
            .into_iter()
            .map(|op| match op {
                WriteOp::Update { key, actions, .. } => match actions.first() {
                    Some(UpdateAction::Add(_, d)) => (key.pk, *d),
                    other => panic!("not an add: {other:?}"),
                },
                other => panic!("not a counter update: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn creates_moves_and_deletes_are_counted_per_status() {
        let records = Records::<Keyword>::new(Arc::new(NoStore));
        let new = records.create(&keyword(KeywordStatus::New)).expect("op");
        let moved = records.transition(&keyword(KeywordStatus::Clustered), "new").expect("op");
        assert_eq!(deltas(&[new.clone(), new.clone()]), [(counter("new"), 2)]);
        assert_eq!(deltas(std::slice::from_ref(&moved)), [(counter("clustered"), 1), (counter("new"), -1)]);
        // A create and its move in one batch net out in `new`: no write for it.
        assert_eq!(deltas(&[new, moved]), [(counter("clustered"), 1)]);
        let delete = WriteOp::Delete {
            key: key::<Keyword>(&site(), "kw_1"),
            condition: Some(Condition::eq("status", "clustered")),
        };
        assert_eq!(deltas(&[delete]), [(counter("clustered"), -1)]);
    }

    #[test]
    fn other_items_count_nothing_and_unknown_old_statuses_are_refused() {
        let guard = WriteOp::Check { key: keys::site_lock(&site()), condition: Condition::ItemExists };
        assert!(deltas(&[guard]).is_empty());
        let records = Records::<Keyword>::new(Arc::new(NoStore));
        let WriteOp::Put { item, .. } = records.create(&keyword(KeywordStatus::New)).expect("op") else {
            panic!("a put")
        };
        assert!(count_writes(&[WriteOp::Put { item: item.clone(), condition: None }]).is_err());
        let either = Condition::Or(vec![Condition::eq("status", "new"), Condition::eq("status", "clustered")]);
        assert!(count_writes(&[WriteOp::Put { item, condition: Some(either) }]).is_err());
        let blind = WriteOp::Delete { key: key::<Keyword>(&site(), "kw_1"), condition: None };
        assert!(count_writes(&[blind]).is_err());
    }

    #[test]
    fn a_transaction_keeps_room_for_its_counters() {
        let records = Records::<Keyword>::new(Arc::new(NoStore));
        let moved = records.transition(&keyword(KeywordStatus::Clustered), "new").expect("op");
        let writes = vec![moved; 120];
        let n = counted_fit(&writes, 1).expect("fit");
        assert!(n < 100 && 1 + n + count_writes(&writes[..n]).expect("count").len() <= MAX_TRANSACTION_ITEMS);
    }

    /// A store that is never called: the functions under test only build writes.
    struct NoStore;

    #[async_trait::async_trait]
    impl ItemStore for NoStore {
        async fn get(&self, _: &Key) -> Result<Option<Item>, StoreError> {
            Err(StoreError::Backend("unused".into()))
        }
        async fn query(&self, _: &Query) -> Result<Page<Item>, StoreError> {
            Err(StoreError::Backend("unused".into()))
        }
        async fn put(&self, _: Item, _: Option<Condition>) -> Result<(), StoreError> {
            Err(StoreError::Backend("unused".into()))
        }
        async fn update(&self, _: &Key, _: Vec<UpdateAction>, _: Option<Condition>) -> Result<Item, StoreError> {
            Err(StoreError::Backend("unused".into()))
        }
        async fn delete(&self, _: &Key, _: Option<Condition>) -> Result<(), StoreError> {
            Err(StoreError::Backend("unused".into()))
        }
        async fn transact(&self, _: Vec<WriteOp>) -> Result<(), StoreError> {
            Err(StoreError::Backend("unused".into()))
        }
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
