//! Item store on one SQLite file.
//!
//! Every write is one `BEGIN IMMEDIATE` transaction that reads the current items,
//! evaluates the typed conditions with the same rules as DynamoDB, and writes — so
//! several processes on one file stay correct (SQLite's write lock serialises them;
//! the busy timeout makes them wait instead of failing). Inside one process, writes go
//! through one connection behind a mutex so writers queue instead of spinning on the
//! busy handler; reads use a small pool of connections and never block writers (WAL).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::Value;

use igny8_core::ports::item_store::{
    validate_actions, validate_transaction, Condition, FailedWrite, Index, Item, ItemStore, Key, Page, Query,
    StoreError, UpdateAction, WriteOp, GSI1PK, GSI1SK, PK, SK,
};

/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle read connections kept for reuse.
const MAX_IDLE_READERS: usize = 8;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk     TEXT NOT NULL,
    sk     TEXT NOT NULL,
    gsi1pk TEXT,
    gsi1sk TEXT,
    body   TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk) WHERE gsi1pk IS NOT NULL;
";

/// The embedded item store: a SQLite file in WAL mode.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.inner.path).finish()
    }
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(backend)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(backend)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the store file and its schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", dir.display())))?;
        }
        let writer = open_connection(&path)?;
        writer.execute_batch(SCHEMA).map_err(backend)?;
        Ok(Self { inner: Arc::new(Inner { path, writer: Mutex::new(writer), readers: Mutex::new(Vec::new()) }) })
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn with_writer<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().map_err(|_| backend("writer mutex poisoned"))?;
            work(&mut conn)
        })
        .await
        .map_err(backend)?
    }

    async fn with_reader<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().map_err(|_| backend("pool mutex poisoned"))?.pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_connection(&inner.path)?,
            };
            let result = work(&conn);
            let mut pool = inner.readers.lock().map_err(|_| backend("pool mutex poisoned"))?;
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(backend)?
    }
}

fn read_item(conn: &Connection, key: &Key) -> Result<Option<Item>, StoreError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM items WHERE pk = ?1 AND sk = ?2")
        .map_err(backend)?
        .query_row(params![key.pk, key.sk], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    body.map(|b| parse_body(&b)).transpose()
}

fn parse_body(body: &str) -> Result<Item, StoreError> {
    match serde_json::from_str::<Value>(body).map_err(backend)? {
        Value::Object(map) => Ok(map),
        _ => Err(backend("stored item is not an object")),
    }
}

fn write_item(conn: &Connection, item: &Item) -> Result<(), StoreError> {
    let key = Key::of(item)?;
    let text = |name: &str| item.get(name).and_then(Value::as_str).map(str::to_owned);
    let body = serde_json::to_string(item).map_err(backend)?;
    conn.prepare_cached(
        "INSERT INTO items (pk, sk, gsi1pk, gsi1sk, body) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (pk, sk) DO UPDATE SET gsi1pk = ?3, gsi1sk = ?4, body = ?5",
    )
    .map_err(backend)?
    .execute(params![key.pk, key.sk, text(GSI1PK), text(GSI1SK), body])
    .map_err(backend)?;
    Ok(())
}

fn delete_item(conn: &Connection, key: &Key) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
        .map_err(backend)?
        .execute(params![key.pk, key.sk])
        .map_err(backend)?;
    Ok(())
}

/// What a write does to its item once every condition in the request has held.
enum Effect {
    Write(Item),
    Remove,
    Nothing,
}

/// Evaluates one write against the item as it is now; None when its condition fails.
fn plan(op: &WriteOp, current: Option<&Item>) -> Result<Option<Effect>, StoreError> {
    let holds = |c: &Option<Condition>| c.as_ref().is_none_or(|c| c.evaluate(current));
    Ok(match op {
        WriteOp::Put { item, condition } => holds(condition).then(|| Effect::Write(item.clone())),
        WriteOp::Delete { condition, .. } => holds(condition).then_some(Effect::Remove),
        WriteOp::Check { condition, .. } => condition.evaluate(current).then_some(Effect::Nothing),
        WriteOp::Update { key, actions, condition } => {
            if !holds(condition) {
                return Ok(None);
            }
            let mut item = current.cloned().unwrap_or_else(|| {
                let mut fresh = Item::new();
                fresh.insert(PK.into(), Value::from(key.pk.clone()));
                fresh.insert(SK.into(), Value::from(key.sk.clone()));
                fresh
            });
            for action in actions {
                action.apply(&mut item)?;
            }
            Some(Effect::Write(item))
        }
    })
}

/// Runs writes as one immediate transaction: all conditions first, then all effects.
fn apply_writes(conn: &mut Connection, writes: &[WriteOp], keys: &[Key]) -> Result<Option<Item>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
    let mut effects = Vec::with_capacity(writes.len());
    let mut failed = Vec::new();
    for (index, (op, key)) in writes.iter().zip(keys).enumerate() {
        let current = read_item(&tx, key)?;
        match plan(op, current.as_ref())? {
            Some(effect) => effects.push((key, effect)),
            None => failed.push(FailedWrite { index, key: key.clone() }),
        }
    }
    if !failed.is_empty() {
        return Err(StoreError::ConditionFailed(failed));
    }
    let mut last_written = None;
    for (key, effect) in effects {
        match effect {
            Effect::Write(item) => {
                write_item(&tx, &item)?;
                last_written = Some(item);
            }
            Effect::Remove => delete_item(&tx, key)?,
            Effect::Nothing => {}
        }
    }
    tx.commit().map_err(backend)?;
    Ok(last_written)
}

/// Cursor of a page: the last item's sort position, as JSON.
fn cursor_of(item: &Item, index: Index) -> Result<String, StoreError> {
    let (pk_attr, sk_attr) = key_attrs(index);
    let mut key = serde_json::Map::new();
    for attr in [PK, SK, pk_attr, sk_attr] {
        if let Some(v) = item.get(attr) {
            key.insert(attr.to_owned(), v.clone());
        }
    }
    serde_json::to_string(&key).map_err(backend)
}

fn key_attrs(index: Index) -> (&'static str, &'static str) {
    match index {
        Index::Primary => (PK, SK),
        Index::Gsi1 => (GSI1PK, GSI1SK),
    }
}

/// Reads the (sort key, primary key) position a cursor points after.
fn parse_cursor(cursor: &str, index: Index) -> Result<(String, Key), StoreError> {
    let bad = || StoreError::Invalid("malformed cursor".into());
    let map: serde_json::Map<String, Value> = serde_json::from_str(cursor).map_err(|_| bad())?;
    let text = |a: &str| map.get(a).and_then(Value::as_str).map(str::to_owned).ok_or_else(bad);
    let (_, sk_attr) = key_attrs(index);
    Ok((text(sk_attr)?, Key::new(text(PK)?, text(SK)?)))
}

fn run_query(conn: &Connection, q: &Query) -> Result<Page, StoreError> {
    if q.limit == 0 {
        return Err(StoreError::Invalid("query limit must be at least 1".into()));
    }
    let (pcol, scol) = match q.index {
        Index::Primary => ("pk", "sk"),
        Index::Gsi1 => ("gsi1pk", "gsi1sk"),
    };
    let prefix = q.sort_prefix.clone().unwrap_or_default();
    let upper = format!("{prefix}\u{10FFFF}");
    let after = q.cursor.as_deref().map(|c| parse_cursor(c, q.index)).transpose()?;
    let (op, order) = if q.descending { ("<", "DESC") } else { (">", "ASC") };
    // Rows of the secondary index may share a sort key; the primary key breaks ties.
    let sql = format!(
        "SELECT body FROM items WHERE {pcol} = ?1 AND {scol} >= ?2 AND {scol} < ?3
         AND (?4 IS NULL OR ({scol}, pk, sk) {op} (?4, ?5, ?6))
         ORDER BY {scol} {order}, pk {order}, sk {order} LIMIT ?7"
    );
    let (after_sk, after_pk, after_key_sk) = match &after {
        Some((s, k)) => (Some(s.clone()), Some(k.pk.clone()), Some(k.sk.clone())),
        None => (None, None, None),
    };
    let fetch = i64::try_from(q.limit).unwrap_or(i64::MAX).saturating_add(1);
    let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt
        .query_map(params![q.partition, prefix, upper, after_sk, after_pk, after_key_sk, fetch], |r| {
            r.get::<_, String>(0)
        })
        .map_err(backend)?;
    let mut items = Vec::new();
    for row in rows {
        items.push(parse_body(&row.map_err(backend)?)?);
    }
    let cursor = if items.len() > q.limit {
        items.truncate(q.limit);
        items.last().map(|i| cursor_of(i, q.index)).transpose()?
    } else {
        None
    };
    Ok(Page { items, cursor })
}

#[async_trait]
impl ItemStore for SqliteStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let key = key.clone();
        self.with_reader(move |conn| read_item(conn, &key)).await
    }

    /// One blocking task and one read transaction for the whole list: the keys are
    /// read from one consistent snapshot (WAL), with no per-key hop to the thread pool.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys.to_vec();
        self.with_reader(move |conn| {
            let tx = conn.unchecked_transaction().map_err(backend)?;
            let items = keys.iter().map(|key| read_item(&tx, key)).collect::<Result<Vec<_>, _>>()?;
            tx.commit().map_err(backend)?;
            Ok(items)
        })
        .await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let query = query.clone();
        self.with_reader(move |conn| run_query(conn, &query)).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let writes = vec![WriteOp::Put { item, condition }];
        let keys = validate_transaction(&writes)?;
        self.with_writer(move |conn| apply_writes(conn, &writes, &keys).map(drop)).await
    }

    async fn update(
        &self,
        key: &Key,
        actions: Vec<UpdateAction>,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        validate_actions(&actions)?;
        let writes = vec![WriteOp::Update { key: key.clone(), actions, condition }];
        let keys = validate_transaction(&writes)?;
        self.with_writer(move |conn| apply_writes(conn, &writes, &keys)?.ok_or_else(|| backend("update wrote no item")))
            .await
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        let writes = vec![WriteOp::Delete { key: key.clone(), condition }];
        let keys = validate_transaction(&writes)?;
        self.with_writer(move |conn| apply_writes(conn, &writes, &keys).map(drop)).await
    }

    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        let keys = validate_transaction(&writes)?;
        for op in &writes {
            if let WriteOp::Update { actions, .. } = op {
                validate_actions(actions)?;
            }
        }
        self.with_writer(move |conn| apply_writes(conn, &writes, &keys).map(drop)).await
    }
}
