//! The item-store port: the one storage contract every repository is written against.
//!
//! It is deliberately as narrow as DynamoDB's single-table model (partition key + sort
//! key, one secondary index, typed conditions, transactions) so the embedded SQLite
//! adapter and the DynamoDB adapter can honour exactly the same semantics.

use std::cmp::Ordering;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Attribute holding the partition key of every item.
pub const PK: &str = "PK";
/// Attribute holding the sort key of every item.
pub const SK: &str = "SK";
/// Partition key attribute of the one secondary index (sparse: items without it are not indexed).
pub const GSI1PK: &str = "GSI1PK";
/// Sort key attribute of the one secondary index.
pub const GSI1SK: &str = "GSI1SK";
/// Most operations one transactional write may carry (DynamoDB's TransactWriteItems limit).
pub const MAX_TRANSACTION_ITEMS: usize = 100;
/// Most keys one batch read request may carry (DynamoDB's BatchGetItem limit);
/// [`ItemStore::get_many`] takes any number and splits them.
pub const MAX_BATCH_GET_KEYS: usize = 100;

/// An item: a JSON object whose `PK`/`SK` attributes form its key.
pub type Item = Map<String, Value>;

/// Primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Key {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
}

impl Key {
    /// Builds a key from its two parts.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }

    /// Reads the key of an item, so adapters and callers agree on where it lives.
    pub fn of(item: &Item) -> Result<Self, StoreError> {
        let part = |name: &str| {
            item.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| StoreError::Invalid(format!("item has no string attribute {name}")))
        };
        Ok(Self { pk: part(PK)?, sk: part(SK)? })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pk, self.sk)
    }
}

/// A typed write condition; adapters render or evaluate it, callers never write strings.
///
/// Semantics follow DynamoDB: a comparison against a missing attribute, or between
/// values of different types, is false; numbers compare numerically, strings by bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The item exists.
    ItemExists,
    /// The item does not exist.
    ItemNotExists,
    /// The attribute is present.
    AttributeExists(String),
    /// The attribute is absent.
    AttributeNotExists(String),
    /// attribute == value.
    Equals(String, Value),
    /// attribute < value.
    LessThan(String, Value),
    /// attribute <= value.
    LessOrEqual(String, Value),
    /// attribute > value.
    GreaterThan(String, Value),
    /// attribute >= value.
    GreaterOrEqual(String, Value),
    /// Every condition holds.
    And(Vec<Condition>),
    /// At least one condition holds.
    Or(Vec<Condition>),
    /// The condition does not hold.
    Not(Box<Condition>),
}

impl Condition {
    /// `attribute == value`.
    pub fn eq(attr: &str, value: impl Into<Value>) -> Self {
        Self::Equals(attr.to_owned(), value.into())
    }
    /// `attribute < value`.
    pub fn lt(attr: &str, value: impl Into<Value>) -> Self {
        Self::LessThan(attr.to_owned(), value.into())
    }
    /// `attribute >= value`.
    pub fn ge(attr: &str, value: impl Into<Value>) -> Self {
        Self::GreaterOrEqual(attr.to_owned(), value.into())
    }
    /// `attribute > value`.
    pub fn gt(attr: &str, value: impl Into<Value>) -> Self {
        Self::GreaterThan(attr.to_owned(), value.into())
    }

    /// Evaluates the condition against the current item (None when absent).
    ///
    /// The embedded adapter uses this inside its write transaction; it is public so
    /// the contract of the port is executable documentation.
    pub fn evaluate(&self, item: Option<&Item>) -> bool {
        let attr = |name: &str| item.and_then(|i| i.get(name));
        match self {
            Self::ItemExists => item.is_some(),
            Self::ItemNotExists => item.is_none(),
            Self::AttributeExists(a) => attr(a).is_some(),
            Self::AttributeNotExists(a) => attr(a).is_none(),
            Self::Equals(a, v) => attr(a).is_some_and(|x| compare(x, v) == Some(Ordering::Equal)),
            Self::LessThan(a, v) => attr(a).is_some_and(|x| compare(x, v) == Some(Ordering::Less)),
            Self::LessOrEqual(a, v) => {
                attr(a).is_some_and(|x| matches!(compare(x, v), Some(Ordering::Less | Ordering::Equal)))
            }
            Self::GreaterThan(a, v) => attr(a).is_some_and(|x| compare(x, v) == Some(Ordering::Greater)),
            Self::GreaterOrEqual(a, v) => {
                attr(a).is_some_and(|x| matches!(compare(x, v), Some(Ordering::Greater | Ordering::Equal)))
            }
            Self::And(all) => all.iter().all(|c| c.evaluate(item)),
            Self::Or(any) => any.iter().any(|c| c.evaluate(item)),
            Self::Not(c) => !c.evaluate(item),
        }
    }
}

/// Orders two attribute values the way DynamoDB conditions do; None when incomparable.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Bool(x), Value::Bool(y)) if x == y => Some(Ordering::Equal),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) if a == b => Some(Ordering::Equal),
        _ => None,
    }
}

/// One change an update makes to an item.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateAction {
    /// Sets the attribute to the value.
    Set(String, Value),
    /// Adds to a numeric attribute atomically (a missing attribute counts as zero).
    Add(String, i64),
    /// Removes the attribute.
    Remove(String),
}

impl UpdateAction {
    /// Sets an attribute.
    pub fn set(attr: &str, value: impl Into<Value>) -> Self {
        Self::Set(attr.to_owned(), value.into())
    }
    /// Adds to a numeric attribute.
    pub fn add(attr: &str, delta: i64) -> Self {
        Self::Add(attr.to_owned(), delta)
    }
    /// Removes an attribute.
    pub fn remove(attr: &str) -> Self {
        Self::Remove(attr.to_owned())
    }

    /// Applies the action to an item in memory (used by the embedded adapter).
    pub fn apply(&self, item: &mut Item) -> Result<(), StoreError> {
        match self {
            Self::Set(a, v) => {
                item.insert(a.clone(), v.clone());
            }
            Self::Remove(a) => {
                item.remove(a);
            }
            Self::Add(a, delta) => {
                let current = match item.get(a) {
                    None => 0,
                    Some(v) => v
                        .as_i64()
                        .ok_or_else(|| StoreError::Invalid(format!("cannot add to non-integer attribute {a}")))?,
                };
                let next = current
                    .checked_add(*delta)
                    .ok_or_else(|| StoreError::Invalid(format!("integer overflow adding to {a}")))?;
                item.insert(a.clone(), Value::from(next));
            }
        }
        Ok(())
    }

    /// The attribute the action touches.
    pub fn attribute(&self) -> &str {
        match self {
            Self::Set(a, _) | Self::Add(a, _) | Self::Remove(a) => a,
        }
    }
}

/// One write inside a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Creates or replaces an item.
    Put {
        /// The whole item, key included.
        item: Item,
        /// Must hold on the current item, else the transaction fails.
        condition: Option<Condition>,
    },
    /// Updates (or creates) an item.
    Update {
        /// The item's key.
        key: Key,
        /// What to change.
        actions: Vec<UpdateAction>,
        /// Must hold on the current item, else the transaction fails.
        condition: Option<Condition>,
    },
    /// Deletes an item (deleting a missing item is not an error).
    Delete {
        /// The item's key.
        key: Key,
        /// Must hold on the current item, else the transaction fails.
        condition: Option<Condition>,
    },
    /// Only checks a condition on an item, writing nothing.
    Check {
        /// The item's key.
        key: Key,
        /// Must hold, else the transaction fails.
        condition: Condition,
    },
}

impl WriteOp {
    /// The key the operation touches.
    pub fn key(&self) -> Result<Key, StoreError> {
        match self {
            Self::Put { item, .. } => Key::of(item),
            Self::Update { key, .. } | Self::Delete { key, .. } | Self::Check { key, .. } => Ok(key.clone()),
        }
    }
}

/// Which key a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// The table's primary key (strongly consistent).
    Primary,
    /// The GSI1PK/GSI1SK secondary index (eventually consistent on DynamoDB).
    Gsi1,
}

/// A query: one partition, optionally a sort-key prefix, paged.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Which key to read.
    pub index: Index,
    /// Partition key value.
    pub partition: String,
    /// Only sort keys starting with this prefix.
    pub sort_prefix: Option<String>,
    /// Largest page size.
    pub limit: usize,
    /// Newest (largest sort key) first.
    pub descending: bool,
    /// Cursor returned by the previous page.
    pub cursor: Option<String>,
}

impl Query {
    /// A query over one partition of the primary key, ascending, 100 per page.
    pub fn partition(partition: impl Into<String>) -> Self {
        Self {
            index: Index::Primary,
            partition: partition.into(),
            sort_prefix: None,
            limit: 100,
            descending: false,
            cursor: None,
        }
    }
    /// The same query over the secondary index.
    pub fn on_gsi1(mut self) -> Self {
        self.index = Index::Gsi1;
        self
    }
    /// Restricts the sort key to a prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.sort_prefix = Some(prefix.into());
        self
    }
    /// Sets the page size.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
    /// Reads newest first.
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }
    /// Continues after a previous page.
    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
}

pub use super::page::Page;

/// Where a failed write's condition was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedWrite {
    /// Position of the write in the request (0 for a single write).
    pub index: usize,
    /// Key of the item whose condition failed.
    pub key: Key,
}

/// Errors of the item store; a failed condition is data, not a string.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// One or more conditions did not hold; nothing was written.
    #[error("condition failed on {}", describe_failed(.0))]
    ConditionFailed(Vec<FailedWrite>),
    /// Another transaction touched the same items; nothing was written, retry.
    #[error("transaction conflict, retry")]
    Conflict,
    /// The backend is throttling; nothing was written, retry with backoff.
    #[error("throttled by the backend, retry")]
    Throttled,
    /// The request was malformed (bad key, too many items, bad cursor...).
    #[error("invalid store request: {0}")]
    Invalid(String),
    /// The backend failed (I/O, network, corrupt data).
    #[error("store backend error: {0}")]
    Backend(String),
}

impl StoreError {
    /// The stable code the API and the CLI report: a busy store is `unavailable` (retry),
    /// a request the store refuses is `invalid_request`, anything else is ours.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Conflict | Self::Throttled => "unavailable",
            Self::Invalid(_) => "invalid_request",
            Self::ConditionFailed(_) | Self::Backend(_) => "internal",
        }
    }

    /// True when the same request may succeed if retried unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Conflict | Self::Throttled)
    }

    /// True when the write at `index` failed its condition.
    pub fn failed_at(&self, index: usize) -> bool {
        matches!(self, Self::ConditionFailed(f) if f.iter().any(|w| w.index == index))
    }
}

fn describe_failed(failed: &[FailedWrite]) -> String {
    failed.iter().map(|f| format!("#{} ({})", f.index, f.key)).collect::<Vec<_>>().join(", ")
}

/// The storage contract shared by the SQLite and DynamoDB adapters.
#[async_trait]
pub trait ItemStore: Send + Sync {
    /// Reads one item, strongly consistent.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// Reads several items, strongly consistent: one result per key, in the order of
    /// `keys`, None where the item is missing. A key may appear more than once (each
    /// occurrence gets the item); an empty slice reads nothing.
    ///
    /// Exists so callers that need many known keys (a cluster's keywords) pay a few
    /// round trips instead of one per key. This default reads them one `get` at a
    /// time, which is right for stores where a read is a local call; DynamoDB overrides
    /// it with BatchGetItem. It is not a snapshot: items written meanwhile may be seen
    /// by one key and not another, as with separate `get`s.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.get(key).await?);
        }
        Ok(out)
    }

    /// Reads one page of a partition in sort-key order.
    async fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// Creates or replaces an item when the condition holds.
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError>;

    /// Applies the actions (creating the item if absent) when the condition holds;
    /// returns the item as written.
    async fn update(
        &self,
        key: &Key,
        actions: Vec<UpdateAction>,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError>;

    /// Deletes an item when the condition holds.
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError>;

    /// Atomically adds to a numeric attribute and returns the new value.
    async fn add(&self, key: &Key, attribute: &str, delta: i64) -> Result<i64, StoreError> {
        let item = self.update(key, vec![UpdateAction::add(attribute, delta)], None).await?;
        item.get(attribute)
            .and_then(Value::as_i64)
            .ok_or_else(|| StoreError::Backend(format!("{attribute} missing after add")))
    }

    /// Applies every write or none; at most [`MAX_TRANSACTION_ITEMS`], each key once.
    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError>;
}

/// Checks a transaction's shape the way DynamoDB does, so both adapters refuse the same.
pub fn validate_transaction(writes: &[WriteOp]) -> Result<Vec<Key>, StoreError> {
    if writes.is_empty() || writes.len() > MAX_TRANSACTION_ITEMS {
        return Err(StoreError::Invalid(format!(
            "a transaction holds 1 to {MAX_TRANSACTION_ITEMS} writes, got {}",
            writes.len()
        )));
    }
    let keys = writes.iter().map(WriteOp::key).collect::<Result<Vec<_>, _>>()?;
    let mut seen = std::collections::HashSet::new();
    for key in &keys {
        if !seen.insert(key) {
            return Err(StoreError::Invalid(format!("key {key} appears twice in one transaction")));
        }
    }
    Ok(keys)
}

/// Checks an update's actions: at least one, key attributes immutable, each attribute once.
pub fn validate_actions(actions: &[UpdateAction]) -> Result<(), StoreError> {
    if actions.is_empty() {
        return Err(StoreError::Invalid("an update needs at least one action".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for action in actions {
        let attr = action.attribute();
        if attr == PK || attr == SK {
            return Err(StoreError::Invalid(format!("cannot update key attribute {attr}")));
        }
        if !seen.insert(attr) {
            return Err(StoreError::Invalid(format!("attribute {attr} updated twice")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> Item {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn comparisons_follow_dynamodb_semantics() {
        let it = item(json!({"PK": "a", "SK": "b", "n": 5, "s": "abc", "f": 1.5}));
        assert!(Condition::ge("n", 5).evaluate(Some(&it)));
        assert!(!Condition::gt("n", 5).evaluate(Some(&it)));
        assert!(Condition::lt("s", "abd").evaluate(Some(&it)));
        assert!(Condition::lt("f", 2).evaluate(Some(&it)));
        assert!(!Condition::eq("n", "5").evaluate(Some(&it)), "types differ");
        assert!(!Condition::lt("missing", 1).evaluate(Some(&it)));
        assert!(Condition::Not(Box::new(Condition::eq("missing", 1))).evaluate(Some(&it)));
        assert!(Condition::ItemNotExists.evaluate(None));
        assert!(!Condition::AttributeExists("n".into()).evaluate(None));
    }

    #[test]
    fn add_treats_missing_as_zero_and_rejects_strings() {
        let mut it = item(json!({"s": "x"}));
        UpdateAction::add("n", 3).apply(&mut it).expect("add");
        assert_eq!(it["n"], json!(3));
        assert!(UpdateAction::add("s", 1).apply(&mut it).is_err());
    }

    #[test]
    fn transactions_refuse_duplicate_keys() {
        let k = Key::new("p", "s");
        let w = || WriteOp::Check { key: k.clone(), condition: Condition::ItemExists };
        assert!(validate_transaction(&[w(), w()]).is_err());
        assert!(validate_transaction(&[]).is_err());
        assert!(validate_transaction(&[w()]).is_ok());
    }
}
