//! The item store on one DynamoDB table (single-table design).
//!
//! Every port operation maps onto one DynamoDB call, so the guarantees the services rely
//! on (conditional writes, atomic adds, all-or-nothing transactions) are DynamoDB's own.
//! The one exception is `get_many`, a read: BatchGetItem of up to 100 keys a request,
//! so a list of any length costs one request per 100 distinct keys (plus retries).
//! Conditions and updates are rendered through one small builder that only ever emits
//! placeholders (`#n0`, `:v0`): attribute names and values supplied by callers never
//! become expression text, so they cannot change an expression's meaning.
//!
//! Where DynamoDB and the port's contract differ, this adapter bends to the port:
//!
//! * `Condition::And(vec![])` is always true and `Condition::Or(vec![])` always false;
//!   they render as `attribute_exists(PK) OR attribute_not_exists(PK)` and its negation,
//!   so DynamoDB still evaluates them (and reports their index in a transaction).
//! * `<`/`>` against a boolean, null, list or map is false (DynamoDB would reject the
//!   request instead), and `<=`/`>=` against those degrade to `=`, as the port evaluates.
//! * Queries fetch one item more than asked, so a page's cursor is `None` exactly when
//!   the partition is exhausted, and the cursor has the embedded adapter's format.
//! * An update with no actions is refused (`Invalid`): DynamoDB has no expression that
//!   touches nothing, and moto answers an UpdateItem without one with HTTP 500.
//! * `get_many` takes repeated keys (BatchGetItem refuses them: each distinct key is
//!   requested once and its item handed to every position) and any number of keys
//!   (split into requests of 100), and retries UnprocessedKeys itself.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CancellationReason, ConditionCheck, Delete, GlobalSecondaryIndex,
    IndexStatus, KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ReturnValue,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use serde_json::{Map, Number, Value};

use super::config::SharedInterceptor;
use igny8_core::ports::item_store::{
    validate_actions, validate_transaction, Condition, FailedWrite, Index, Item, ItemStore, Key, Page, Query,
    StoreError, UpdateAction, WriteOp, GSI1PK, GSI1SK, MAX_BATCH_GET_KEYS, PK, SK,
};

/// Name of the one secondary index, as created by [`DynamoStore::ensure_table`].
pub const GSI1_NAME: &str = "GSI1";
/// Attribute DynamoDB's time-to-live sweeper reads (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "ttl";
/// Region used when neither the environment nor a profile names one (kept here for
/// callers that imported it from this module; the rule lives in `aws::config`).
pub use super::config::DEFAULT_REGION;

/// How long [`DynamoStore::ensure_table`] waits for a new table (and its index) to
/// become ACTIVE before giving up; real DynamoDB usually needs well under a minute.
const TABLE_ACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

/// First wait before re-asking BatchGetItem for its UnprocessedKeys; doubles per retry.
/// AWS answers with UnprocessedKeys when a partition is throttled or the response hit
/// its 16 MB cap, and asks callers to back off before retrying them.
const BATCH_GET_FIRST_BACKOFF: Duration = Duration::from_millis(25);
/// Longest wait between two BatchGetItem retries.
const BATCH_GET_MAX_BACKOFF: Duration = Duration::from_secs(1);
/// BatchGetItem retries in a row that read nothing before `get_many` reports the
/// store as throttled (a retry that reads some of the keys starts the count again).
const BATCH_GET_MAX_STALLS: u32 = 8;

/// Error codes meaning "slow down", whichever call returns them.
const THROTTLE_CODES: [&str; 4] =
    ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "Throttling"];

/// Codes of per-item cancellation reasons meaning "slow down".
const THROTTLE_REASONS: [&str; 4] =
    ["ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded", "Throttling"];

/// The item store on one DynamoDB table with `PK`/`SK` keys and the `GSI1` index.
///
/// Cheap to clone: the SDK client is a handle to a shared connection pool.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// Wraps an already configured client, so callers that share one `SdkConfig`
    /// across several AWS adapters (or tests with a custom client) can reuse it.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// Builds a client from the standard AWS configuration chain.
    ///
    /// `endpoint` points the client at an emulator (moto, DynamoDB Local); when it is
    /// given and the environment holds no AWS credentials, static `test`/`test`
    /// credentials are used so a laptop needs no AWS account. The region falls back to
    /// [`DEFAULT_REGION`].
    pub async fn connect(endpoint: Option<&str>, table: &str) -> Result<Self, StoreError> {
        if table.is_empty() {
            return Err(StoreError::Invalid("DynamoDB table name is empty".into()));
        }
        let config = super::config::sdk_config(endpoint).await;
        Ok(Self::new(Client::new(&config), table))
    }

    /// The underlying client, for the rare caller that needs an operation the port
    /// deliberately leaves out (admin scripts, diagnostics).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The same adapter with `interceptor` on its client (request counting, tracing):
    /// the benchmarks count DynamoDB round trips per stage item this way.
    #[must_use]
    pub fn with_interceptor(self, interceptor: SharedInterceptor) -> Self {
        let mut config = self.client.config().to_builder();
        config.push_interceptor(interceptor);
        Self { client: Client::from_conf(config.build()), table: self.table }
    }

    /// The table every operation targets, for logs and admin tooling.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (keys, `GSI1`, on-demand billing, TTL on `ttl`) if missing
    /// and waits until it is usable, so local runs and fresh stages need no separate
    /// provisioning step. Safe to call on every start and from several processes.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        self.create_table_if_missing().await?;
        self.wait_until_active().await?;
        self.enable_ttl().await
    }

    /// One BatchGetItem of at most [`MAX_BATCH_GET_KEYS`] distinct keys, repeated for
    /// its UnprocessedKeys until every key is answered; the items read go into `found`
    /// (a key absent from it afterwards has no item).
    async fn batch_get(&self, keys: &[&Key], found: &mut HashMap<Key, Item>) -> Result<(), StoreError> {
        let mut pending: Vec<HashMap<String, AttributeValue>> = keys.iter().map(|k| key_attrs(k)).collect();
        let mut delay = BATCH_GET_FIRST_BACKOFF;
        let mut stalls = 0;
        while !pending.is_empty() {
            let asked = pending.len();
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .map_err(build_error)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| store_error("BatchGetItem", &e))?;
            let items = out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default();
            for attrs in items {
                let item = attrs_to_item(attrs)?;
                found.insert(Key::of(&item)?, item);
            }
            pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
            if pending.is_empty() {
                break;
            }
            if pending.len() < asked {
                stalls = 0;
            } else {
                stalls += 1;
                if stalls >= BATCH_GET_MAX_STALLS {
                    return Err(StoreError::Throttled);
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(BATCH_GET_MAX_BACKOFF);
        }
        Ok(())
    }

    async fn create_table_if_missing(&self) -> Result<(), StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
        };
        let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(GSI1_NAME)
            .key_schema(key(GSI1PK, KeyType::Hash).map_err(build_error)?)
            .key_schema(key(GSI1SK, KeyType::Range).map_err(build_error)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(build_error)?;
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(PK).map_err(build_error)?)
            .attribute_definitions(attr(SK).map_err(build_error)?)
            .attribute_definitions(attr(GSI1PK).map_err(build_error)?)
            .attribute_definitions(attr(GSI1SK).map_err(build_error)?)
            .key_schema(key(PK, KeyType::Hash).map_err(build_error)?)
            .key_schema(key(SK, KeyType::Range).map_err(build_error)?)
            .global_secondary_indexes(gsi)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceInUseException") => Ok(()),
            Err(e) => Err(store_error("CreateTable", &e)),
        }
    }

    async fn wait_until_active(&self) -> Result<(), StoreError> {
        let deadline = Instant::now() + TABLE_ACTIVE_TIMEOUT;
        let mut delay = Duration::from_millis(100);
        loop {
            let result = self.client.describe_table().table_name(&self.table).send().await;
            let ready = match result {
                Ok(out) => match out.table {
                    Some(desc) => {
                        let gsi = desc.global_secondary_indexes().iter().find(|g| g.index_name() == Some(GSI1_NAME));
                        let table_active = desc.table_status() == Some(&TableStatus::Active);
                        match gsi {
                            // An active table without the index was made by someone else;
                            // queries on GSI1 would fail later with a vaguer error.
                            None if table_active => {
                                return Err(StoreError::Backend(format!(
                                    "table {} exists without index {GSI1_NAME}",
                                    self.table
                                )))
                            }
                            None => false,
                            Some(g) => table_active && matches!(g.index_status(), None | Some(IndexStatus::Active)),
                        }
                    }
                    None => false,
                },
                // DescribeTable is eventually consistent right after CreateTable.
                Err(e) if e.code() == Some("ResourceNotFoundException") => false,
                Err(e) => return Err(store_error("DescribeTable", &e)),
            };
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StoreError::Backend(format!(
                    "table {} not ACTIVE after {}s",
                    self.table,
                    TABLE_ACTIVE_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    async fn enable_ttl(&self) -> Result<(), StoreError> {
        let current = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| store_error("DescribeTimeToLive", &e))?;
        if let Some(desc) = current.time_to_live_description() {
            let on = matches!(desc.time_to_live_status(), Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling));
            if on && desc.attribute_name() == Some(TTL_ATTRIBUTE) {
                return Ok(());
            }
        }
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(TTL_ATTRIBUTE)
            .enabled(true)
            .build()
            .map_err(build_error)?;
        match self.client.update_time_to_live().table_name(&self.table).time_to_live_specification(spec).send().await {
            Ok(_) => Ok(()),
            // Another process enabled it between our describe and update.
            Err(e)
                if e.code() == Some("ValidationException")
                    && e.message().is_some_and(|m| m.contains("already enabled")) =>
            {
                Ok(())
            }
            Err(e) => Err(store_error("UpdateTimeToLive", &e)),
        }
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem", &e))?;
        out.item.map(attrs_to_item).transpose()
    }

    /// BatchGetItem instead of one GetItem per key: ⌈distinct keys / 100⌉ requests
    /// instead of `keys.len()`. Strongly consistent, like `get`. Repeated keys are
    /// requested once (BatchGetItem refuses duplicates) and answered at every position;
    /// UnprocessedKeys are retried after a short, growing pause.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        let distinct: Vec<&Key> = keys.iter().filter(|k| seen.insert(*k)).collect();
        let mut found = HashMap::with_capacity(distinct.len());
        for chunk in distinct.chunks(MAX_BATCH_GET_KEYS) {
            self.batch_get(chunk, &mut found).await?;
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        if query.limit == 0 {
            return Err(StoreError::Invalid("query limit must be at least 1".into()));
        }
        let (pk_attr, sk_attr) = index_keys(query.index);
        let mut expr = Expr::default();
        let mut key_condition =
            format!("{} = {}", expr.name(pk_attr), expr.value(AttributeValue::S(query.partition.clone())));
        if let Some(prefix) = query.sort_prefix.as_deref().filter(|p| !p.is_empty()) {
            key_condition.push_str(&format!(
                " AND begins_with({}, {})",
                expr.name(sk_attr),
                expr.value(AttributeValue::S(prefix.to_owned()))
            ));
        }
        let start = query.cursor.as_deref().map(|c| parse_cursor(c, query.index, &query.partition)).transpose()?;
        // One more than asked: tells "last page" apart from "exactly full page".
        let limit = query.limit.min(i32::MAX as usize - 1);
        let fetch = i32::try_from(limit + 1).unwrap_or(i32::MAX);
        let (names, values) = expr.into_maps();
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(key_condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .scan_index_forward(!query.descending)
            .limit(fetch)
            .set_exclusive_start_key(start);
        request = match query.index {
            Index::Primary => request.consistent_read(true),
            Index::Gsi1 => request.index_name(GSI1_NAME),
        };
        let out = request.send().await.map_err(|e| store_error("Query", &e))?;
        let mut items = out.items.unwrap_or_default().into_iter().map(attrs_to_item).collect::<Result<Vec<_>, _>>()?;
        let cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|i| cursor_of(i, query.index)).transpose()?
        } else {
            // A short page with a LastEvaluatedKey: DynamoDB stopped at its 1 MB cap.
            out.last_evaluated_key.as_ref().map(encode_cursor).transpose()?
        };
        Ok(Page { items, cursor })
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let key = Key::of(&item)?;
        let mut expr = Expr::default();
        let condition = condition.as_ref().map(|c| expr.condition(c));
        let (names, values) = expr.into_maps();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_to_attrs(&item)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(|e| write_error("PutItem", &e, &key))?;
        Ok(())
    }

    async fn update(
        &self,
        key: &Key,
        actions: Vec<UpdateAction>,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        validate_actions(&actions)?;
        let mut expr = Expr::default();
        let update = expr.update(&actions).ok_or_else(|| no_actions(key))?;
        let condition = condition.as_ref().map(|c| expr.condition(c));
        let (names, values) = expr.into_maps();
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .update_expression(update)
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| write_error("UpdateItem", &e, key))?;
        match out.attributes {
            Some(attrs) => attrs_to_item(attrs),
            None => Err(StoreError::Backend("UpdateItem returned no attributes".into())),
        }
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        let mut expr = Expr::default();
        let condition = condition.as_ref().map(|c| expr.condition(c));
        let (names, values) = expr.into_maps();
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(|e| write_error("DeleteItem", &e, key))?;
        Ok(())
    }

    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        let keys = validate_transaction(&writes)?;
        let items = writes.iter().map(|w| transact_item(&self.table, w)).collect::<Result<Vec<_>, _>>()?;
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    Err(cancellation_error(e.cancellation_reasons(), &keys, &describe(&err)))
                }
                _ => Err(store_error("TransactWriteItems", &err)),
            },
        }
    }
}

/// Maps one port write onto a TransactWriteItems entry.
fn transact_item(table: &str, write: &WriteOp) -> Result<TransactWriteItem, StoreError> {
    let mut expr = Expr::default();
    let item = match write {
        WriteOp::Put { item, condition } => {
            let condition = condition.as_ref().map(|c| expr.condition(c));
            let (names, values) = expr.into_maps();
            let put = Put::builder()
                .table_name(table)
                .set_item(Some(item_to_attrs(item)))
                .set_condition_expression(condition)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .build()
                .map_err(build_error)?;
            TransactWriteItem::builder().put(put).build()
        }
        WriteOp::Update { key, actions, condition } => {
            validate_actions(actions)?;
            let update = expr.update(actions).ok_or_else(|| no_actions(key))?;
            let condition = condition.as_ref().map(|c| expr.condition(c));
            let (names, values) = expr.into_maps();
            let update = Update::builder()
                .table_name(table)
                .set_key(Some(key_attrs(key)))
                .update_expression(update)
                .set_condition_expression(condition)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .build()
                .map_err(build_error)?;
            TransactWriteItem::builder().update(update).build()
        }
        WriteOp::Delete { key, condition } => {
            let condition = condition.as_ref().map(|c| expr.condition(c));
            let (names, values) = expr.into_maps();
            let delete = Delete::builder()
                .table_name(table)
                .set_key(Some(key_attrs(key)))
                .set_condition_expression(condition)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .build()
                .map_err(build_error)?;
            TransactWriteItem::builder().delete(delete).build()
        }
        WriteOp::Check { key, condition } => {
            let condition = expr.condition(condition);
            let (names, values) = expr.into_maps();
            let check = ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(key_attrs(key)))
                .condition_expression(condition)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .build()
                .map_err(build_error)?;
            TransactWriteItem::builder().condition_check(check).build()
        }
    };
    Ok(item)
}

// ---------------------------------------------------------------------------------------
// Errors

/// Classifies any SDK error the port's way: transient ones by kind, the rest as text
/// that keeps DynamoDB's error code for whoever reads the log.
fn store_error<E>(op: &str, err: &SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err.code() {
        Some(code) if THROTTLE_CODES.contains(&code) => StoreError::Throttled,
        Some("TransactionConflictException") => StoreError::Conflict,
        _ if super::transient::is_transient(err) => StoreError::Throttled,
        code => StoreError::Backend(format!(
            "DynamoDB {op} failed [{}]: {}",
            code.unwrap_or("no error code"),
            describe(err)
        )),
    }
}

/// One line a person can act on: the service's own message for a service error (the
/// full context would dump the raw HTTP response), the whole cause chain otherwise
/// (connection refused, timeout, credentials...).
fn describe<E>(err: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(_) => {
            let status = err.raw_response().map(|r| r.status().as_u16()).unwrap_or_default();
            format!("{} (HTTP {status})", err.message().unwrap_or("no message"))
        }
        _ => DisplayErrorContext(err).to_string(),
    }
}

/// An update needs at least one action: DynamoDB has no expression that touches
/// nothing, and an UpdateItem without one is an emulator crash (moto) or a key-only
/// item (DynamoDB), so refuse it on every path alike.
fn no_actions(key: &Key) -> StoreError {
    StoreError::Invalid(format!("update of {key} has no actions"))
}

/// Like [`store_error`], but a failed condition of a single write is data.
fn write_error<E>(op: &str, err: &SdkError<E>, key: &Key) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if err.code() == Some("ConditionalCheckFailedException") {
        StoreError::ConditionFailed(vec![FailedWrite { index: 0, key: key.clone() }])
    } else {
        store_error(op, err)
    }
}

/// Turns a cancelled transaction's per-item reasons into the port's error: failed
/// conditions first (they are the caller's business logic), then retryable causes.
fn cancellation_error(reasons: &[CancellationReason], keys: &[Key], message: &str) -> StoreError {
    let failed: Vec<FailedWrite> = reasons
        .iter()
        .enumerate()
        .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
        .filter_map(|(index, _)| keys.get(index).map(|key| FailedWrite { index, key: key.clone() }))
        .collect();
    if !failed.is_empty() {
        return StoreError::ConditionFailed(failed);
    }
    let codes: Vec<&str> = reasons.iter().filter_map(CancellationReason::code).collect();
    if codes.contains(&"TransactionConflict") {
        StoreError::Conflict
    } else if codes.iter().any(|c| THROTTLE_REASONS.contains(c)) {
        StoreError::Throttled
    } else {
        StoreError::Backend(format!(
            "DynamoDB TransactWriteItems cancelled [TransactionCanceledException, reasons {codes:?}]: {message}"
        ))
    }
}

/// A request builder refused its input; only reachable through a bug here.
fn build_error(err: BuildError) -> StoreError {
    StoreError::Backend(format!("building DynamoDB request: {err}"))
}

// ---------------------------------------------------------------------------------------
// Keys and cursors

/// Partition and sort attribute of the index a query reads.
fn index_keys(index: Index) -> (&'static str, &'static str) {
    match index {
        Index::Primary => (PK, SK),
        Index::Gsi1 => (GSI1PK, GSI1SK),
    }
}

fn key_attrs(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// Cursor after `item`: the attributes DynamoDB needs as ExclusiveStartKey, as a JSON
/// object of strings (the same shape the embedded adapter hands out).
fn cursor_of(item: &Item, index: Index) -> Result<String, StoreError> {
    let (pk_attr, sk_attr) = index_keys(index);
    let mut key = Map::new();
    for attr in [PK, SK, pk_attr, sk_attr] {
        let value = item
            .get(attr)
            .and_then(Value::as_str)
            .ok_or_else(|| StoreError::Backend(format!("queried item lacks string attribute {attr}")))?;
        key.insert(attr.to_owned(), Value::String(value.to_owned()));
    }
    serde_json::to_string(&key).map_err(|e| StoreError::Backend(format!("encoding cursor: {e}")))
}

/// Cursor from a LastEvaluatedKey (only its string attributes exist: all keys are S).
fn encode_cursor(last: &HashMap<String, AttributeValue>) -> Result<String, StoreError> {
    let mut key = Map::new();
    for (name, value) in last {
        let AttributeValue::S(s) = value else {
            return Err(StoreError::Backend(format!("LastEvaluatedKey {name} is not a string")));
        };
        key.insert(name.clone(), Value::String(s.clone()));
    }
    serde_json::to_string(&key).map_err(|e| StoreError::Backend(format!("encoding cursor: {e}")))
}

/// Reads a cursor back into an ExclusiveStartKey, refusing anything this adapter could
/// not have produced for this query (DynamoDB's own error would be less clear).
fn parse_cursor(cursor: &str, index: Index, partition: &str) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let bad = |why: &str| StoreError::Invalid(format!("malformed cursor: {why}"));
    let map: Map<String, Value> = serde_json::from_str(cursor).map_err(|_| bad("not a JSON object"))?;
    let (pk_attr, sk_attr) = index_keys(index);
    let mut key = HashMap::new();
    for (name, value) in map {
        if ![PK, SK, GSI1PK, GSI1SK].contains(&name.as_str()) {
            return Err(bad("unknown attribute"));
        }
        let Value::String(s) = value else {
            return Err(bad("value is not a string"));
        };
        key.insert(name, AttributeValue::S(s));
    }
    for required in [PK, SK, pk_attr, sk_attr] {
        if !key.contains_key(required) {
            return Err(bad("missing key attribute"));
        }
    }
    if key.get(pk_attr) != Some(&AttributeValue::S(partition.to_owned())) {
        return Err(bad("belongs to another partition"));
    }
    if index == Index::Primary && key.len() != 2 {
        return Err(bad("unknown attribute"));
    }
    Ok(key)
}

// ---------------------------------------------------------------------------------------
// Values

/// Converts an item to DynamoDB's wire form.
fn item_to_attrs(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter().map(|(k, v)| (k.clone(), value_to_attr(v))).collect()
}

/// Converts a DynamoDB item back into the port's JSON form.
fn attrs_to_item(attrs: HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    attrs.into_iter().map(|(k, v)| Ok((k, attr_to_value(v)?))).collect()
}

/// JSON value → AttributeValue. Numbers travel as their JSON text, which DynamoDB
/// accepts for integers and decimals alike (up to 38 significant digits).
fn value_to_attr(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(value_to_attr).collect()),
        Value::Object(m) => AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), value_to_attr(v))).collect()),
    }
}

/// AttributeValue → JSON value. Sets become arrays and binaries arrays of byte values:
/// this adapter never writes them, but items written by other tools must stay readable.
fn attr_to_value(attr: AttributeValue) -> Result<Value, StoreError> {
    Ok(match attr {
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::N(n) => Value::Number(parse_number(&n)?),
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(l) => Value::Array(l.into_iter().map(attr_to_value).collect::<Result<_, _>>()?),
        AttributeValue::M(m) => Value::Object(attrs_to_item(m)?),
        AttributeValue::Ss(ss) => Value::Array(ss.into_iter().map(Value::String).collect()),
        AttributeValue::Ns(ns) => {
            Value::Array(ns.iter().map(|n| parse_number(n).map(Value::Number)).collect::<Result<_, _>>()?)
        }
        AttributeValue::B(b) => bytes_value(b.as_ref()),
        AttributeValue::Bs(bs) => Value::Array(bs.iter().map(|b| bytes_value(b.as_ref())).collect()),
        other => return Err(StoreError::Backend(format!("unsupported DynamoDB attribute value {other:?}"))),
    })
}

fn bytes_value(bytes: &[u8]) -> Value {
    Value::Array(bytes.iter().map(|b| Value::from(*b)).collect())
}

/// Integers come back as integers (so `as_i64` works after a round trip), anything
/// else as a float. DynamoDB normalises numbers, so `1.0` written reads back as `1`.
fn parse_number(text: &str) -> Result<Number, StoreError> {
    if let Ok(i) = text.parse::<i64>() {
        return Ok(Number::from(i));
    }
    if let Ok(u) = text.parse::<u64>() {
        return Ok(Number::from(u));
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .ok_or_else(|| StoreError::Backend(format!("DynamoDB number {text:?} is not representable")))
}

// ---------------------------------------------------------------------------------------
// Expressions

/// Builds one request's expressions and their placeholder maps.
///
/// Names are deduplicated (one `#n` per attribute) so condition and update share them;
/// values are not, since each occurrence may differ. Nothing a caller supplies is ever
/// spliced into the expression text itself.
#[derive(Debug, Default)]
struct Expr {
    names: HashMap<String, String>,
    placeholders: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    /// Placeholder for an attribute name.
    fn name(&mut self, attr: &str) -> String {
        if let Some(p) = self.placeholders.get(attr) {
            return p.clone();
        }
        let p = format!("#n{}", self.names.len());
        self.names.insert(p.clone(), attr.to_owned());
        self.placeholders.insert(attr.to_owned(), p.clone());
        p
    }

    /// Placeholder for a value.
    fn value(&mut self, value: AttributeValue) -> String {
        let p = format!(":v{}", self.values.len());
        self.values.insert(p.clone(), value);
        p
    }

    /// Renders a condition, fully parenthesised so precedence never matters.
    fn condition(&mut self, condition: &Condition) -> String {
        match condition {
            Condition::ItemExists => format!("attribute_exists({})", self.name(PK)),
            Condition::ItemNotExists => format!("attribute_not_exists({})", self.name(PK)),
            Condition::AttributeExists(a) => format!("attribute_exists({})", self.name(a)),
            Condition::AttributeNotExists(a) => format!("attribute_not_exists({})", self.name(a)),
            Condition::Equals(a, v) => self.compare(a, "=", v),
            Condition::LessThan(a, v) if orderable(v) => self.compare(a, "<", v),
            Condition::LessOrEqual(a, v) if orderable(v) => self.compare(a, "<=", v),
            Condition::GreaterThan(a, v) if orderable(v) => self.compare(a, ">", v),
            Condition::GreaterOrEqual(a, v) if orderable(v) => self.compare(a, ">=", v),
            // The port orders only numbers and strings; other values are equal or
            // incomparable, so strict comparisons never hold and the others mean `=`.
            Condition::LessThan(..) | Condition::GreaterThan(..) => self.always(false),
            Condition::LessOrEqual(a, v) | Condition::GreaterOrEqual(a, v) => self.compare(a, "=", v),
            Condition::And(all) if all.is_empty() => self.always(true),
            Condition::Or(any) if any.is_empty() => self.always(false),
            Condition::And(all) => self.join(all, " AND "),
            Condition::Or(any) => self.join(any, " OR "),
            Condition::Not(inner) => format!("(NOT {})", self.condition(inner)),
        }
    }

    fn compare(&mut self, attr: &str, op: &str, value: &Value) -> String {
        let name = self.name(attr);
        let value = self.value(value_to_attr(value));
        format!("{name} {op} {value}")
    }

    fn join(&mut self, parts: &[Condition], op: &str) -> String {
        let parts: Vec<String> = parts.iter().map(|c| self.condition(c)).collect();
        format!("({})", parts.join(op))
    }

    /// A constant, written as a test on the key that every item either has or lacks.
    fn always(&mut self, holds: bool) -> String {
        let pk = self.name(PK);
        if holds {
            format!("(attribute_exists({pk}) OR attribute_not_exists({pk}))")
        } else {
            format!("(attribute_exists({pk}) AND attribute_not_exists({pk}))")
        }
    }

    /// Renders update actions (None when there are none).
    fn update(&mut self, actions: &[UpdateAction]) -> Option<String> {
        let mut sets = Vec::new();
        let mut removes = Vec::new();
        for action in actions {
            match action {
                UpdateAction::Set(a, v) => {
                    let name = self.name(a);
                    let value = self.value(value_to_attr(v));
                    sets.push(format!("{name} = {value}"));
                }
                UpdateAction::Add(a, delta) => {
                    let name = self.name(a);
                    let zero = self.value(AttributeValue::N("0".into()));
                    let delta = self.value(AttributeValue::N(delta.to_string()));
                    sets.push(format!("{name} = if_not_exists({name}, {zero}) + {delta}"));
                }
                UpdateAction::Remove(a) => removes.push(self.name(a)),
            }
        }
        let mut clauses = Vec::new();
        if !sets.is_empty() {
            clauses.push(format!("SET {}", sets.join(", ")));
        }
        if !removes.is_empty() {
            clauses.push(format!("REMOVE {}", removes.join(", ")));
        }
        (!clauses.is_empty()).then(|| clauses.join(" "))
    }

    /// The placeholder maps, None when empty (DynamoDB rejects empty maps).
    #[allow(clippy::type_complexity)]
    fn into_maps(self) -> (Option<HashMap<String, String>>, Option<HashMap<String, AttributeValue>>) {
        let names = (!self.names.is_empty()).then_some(self.names);
        let values = (!self.values.is_empty()).then_some(self.values);
        (names, values)
    }
}

/// Values DynamoDB (and the port) can order with `<`/`>`.
fn orderable(value: &Value) -> bool {
    matches!(value, Value::Number(_) | Value::String(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(v: Value) -> Value {
        attr_to_value(value_to_attr(&v)).expect("roundtrip")
    }

    #[test]
    fn values_map_to_attribute_types() {
        assert_eq!(value_to_attr(&json!("x")), AttributeValue::S("x".into()));
        assert_eq!(value_to_attr(&json!(-42)), AttributeValue::N("-42".into()));
        assert_eq!(value_to_attr(&json!(1.5)), AttributeValue::N("1.5".into()));
        assert_eq!(value_to_attr(&json!(true)), AttributeValue::Bool(true));
        assert_eq!(value_to_attr(&json!(null)), AttributeValue::Null(true));
        assert_eq!(
            value_to_attr(&json!([1, "a"])),
            AttributeValue::L(vec![AttributeValue::N("1".into()), AttributeValue::S("a".into())])
        );
        assert_eq!(
            value_to_attr(&json!({"k": false})),
            AttributeValue::M(HashMap::from([("k".into(), AttributeValue::Bool(false))]))
        );
    }

    #[test]
    fn values_roundtrip() {
        let v = json!({
            "s": "héllo", "i": i64::MIN, "u": u64::MAX, "f": 0.25, "b": false, "n": null,
            "l": [1, [2, {"x": "y"}]], "m": {"nested": {"deep": 3}}, "empty": "", "el": []
        });
        assert_eq!(roundtrip(v.clone()), v);
        assert_eq!(roundtrip(json!(7)).as_i64(), Some(7));
    }

    #[test]
    fn numbers_parse_as_integers_when_integral() {
        assert_eq!(attr_to_value(AttributeValue::N("12".into())).expect("value"), json!(12));
        assert_eq!(attr_to_value(AttributeValue::N("-0.5".into())).expect("value"), json!(-0.5));
        assert_eq!(attr_to_value(AttributeValue::N("1E+2".into())).expect("value"), json!(100.0));
        assert!(attr_to_value(AttributeValue::N("nope".into())).is_err());
        assert!(attr_to_value(AttributeValue::N("1e999".into())).is_err());
    }

    #[test]
    fn sets_and_binaries_read_as_arrays() {
        let ss = AttributeValue::Ss(vec!["a".into(), "b".into()]);
        assert_eq!(attr_to_value(ss).expect("value"), json!(["a", "b"]));
        let ns = AttributeValue::Ns(vec!["1".into(), "2.5".into()]);
        assert_eq!(attr_to_value(ns).expect("value"), json!([1, 2.5]));
        let b = AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(vec![0u8, 255]));
        assert_eq!(attr_to_value(b).expect("value"), json!([0, 255]));
    }

    #[test]
    fn conditions_use_placeholders_only() {
        let mut e = Expr::default();
        let c = Condition::And(vec![
            Condition::ItemExists,
            Condition::Or(vec![
                Condition::eq("status) OR (x", "paused"),
                Condition::Not(Box::new(Condition::AttributeExists("lock".into()))),
            ]),
            Condition::ge("n", 3),
        ]);
        let text = e.condition(&c);
        assert_eq!(text, "(attribute_exists(#n0) AND (#n1 = :v0 OR (NOT attribute_exists(#n2))) AND #n3 >= :v1)");
        let (names, values) = e.into_maps();
        let names = names.expect("names");
        assert_eq!(names["#n0"], PK);
        assert_eq!(names["#n1"], "status) OR (x");
        assert_eq!(names["#n2"], "lock");
        assert_eq!(names["#n3"], "n");
        let values = values.expect("values");
        assert_eq!(values[":v0"], AttributeValue::S("paused".into()));
        assert_eq!(values[":v1"], AttributeValue::N("3".into()));
    }

    #[test]
    fn empty_and_or_render_as_constants() {
        let mut e = Expr::default();
        assert_eq!(e.condition(&Condition::And(vec![])), "(attribute_exists(#n0) OR attribute_not_exists(#n0))");
        assert_eq!(e.condition(&Condition::Or(vec![])), "(attribute_exists(#n0) AND attribute_not_exists(#n0))");
        let (names, values) = e.into_maps();
        assert_eq!(names.expect("names").len(), 1);
        assert!(values.is_none(), "an empty values map would be rejected by DynamoDB");
    }

    #[test]
    fn unorderable_comparisons_follow_the_port() {
        let mut e = Expr::default();
        assert_eq!(
            e.condition(&Condition::LessThan("b".into(), json!(true))),
            "(attribute_exists(#n0) AND attribute_not_exists(#n0))"
        );
        assert_eq!(e.condition(&Condition::LessOrEqual("b".into(), json!(true))), "#n1 = :v0");
        assert_eq!(e.condition(&Condition::ItemNotExists), "attribute_not_exists(#n0)");
    }

    #[test]
    fn updates_render_set_add_remove() {
        let mut e = Expr::default();
        let text =
            e.update(&[UpdateAction::set("a", "x"), UpdateAction::add("count", -2), UpdateAction::remove("old")]);
        assert_eq!(text.as_deref(), Some("SET #n0 = :v0, #n1 = if_not_exists(#n1, :v1) + :v2 REMOVE #n2"));
        let cond = e.condition(&Condition::gt("count", 0));
        assert_eq!(cond, "#n1 > :v3", "condition reuses the update's name placeholder");
        let (_, values) = e.into_maps();
        let values = values.expect("values");
        assert_eq!(values[":v1"], AttributeValue::N("0".into()));
        assert_eq!(values[":v2"], AttributeValue::N("-2".into()));
        assert_eq!(Expr::default().update(&[]), None);
    }

    #[test]
    fn cursors_roundtrip_and_refuse_garbage() {
        let item = json!({"PK": "p", "SK": "s", "GSI1PK": "g", "GSI1SK": "t", "x": 1});
        let item = item.as_object().expect("object").clone();
        let primary = cursor_of(&item, Index::Primary).expect("cursor");
        assert_eq!(primary, r#"{"PK":"p","SK":"s"}"#);
        let key = parse_cursor(&primary, Index::Primary, "p").expect("parse");
        assert_eq!(key, key_attrs(&Key::new("p", "s")));
        let gsi = cursor_of(&item, Index::Gsi1).expect("cursor");
        assert_eq!(parse_cursor(&gsi, Index::Gsi1, "g").expect("parse").len(), 4);

        for bad in ["", "[]", "{\"PK\":1,\"SK\":\"s\"}", r#"{"PK":"p"}"#, r#"{"PK":"p","SK":"s","z":"1"}"#] {
            assert!(matches!(parse_cursor(bad, Index::Primary, "p"), Err(StoreError::Invalid(_))), "{bad}");
        }
        assert!(matches!(parse_cursor(&primary, Index::Primary, "other"), Err(StoreError::Invalid(_))));
        assert!(matches!(parse_cursor(&primary, Index::Gsi1, "g"), Err(StoreError::Invalid(_))));
    }

    #[test]
    fn cancellation_reasons_map_to_port_errors() {
        let reason = |code: &str| CancellationReason::builder().code(code).build();
        let keys = vec![Key::new("a", "1"), Key::new("b", "2"), Key::new("c", "3")];
        let e = cancellation_error(&[reason("None"), reason("ConditionalCheckFailed"), reason("None")], &keys, "m");
        match e {
            StoreError::ConditionFailed(f) => {
                assert_eq!(f, vec![FailedWrite { index: 1, key: keys[1].clone() }])
            }
            other => panic!("unexpected {other:?}"),
        }
        let e = cancellation_error(&[reason("TransactionConflict"), reason("None")], &keys, "m");
        assert!(matches!(e, StoreError::Conflict));
        let e = cancellation_error(&[reason("ThrottlingError")], &keys, "m");
        assert!(matches!(e, StoreError::Throttled));
        let e = cancellation_error(&[reason("ValidationError")], &keys, "m");
        assert!(matches!(e, StoreError::Backend(m) if m.contains("ValidationError")));
    }
}
