//! Queue on a SQLite file: a durable `queue_messages` table, usually in the same file
//! as the item store.
//!
//! Every receive is one `BEGIN IMMEDIATE` transaction that picks the oldest visible
//! messages and hides them under a fresh receipt, so several processes on one file
//! never deliver a message twice while it is hidden (SQLite's write lock serialises
//! them; the busy timeout makes them wait instead of failing). Time comes from the
//! injected [`Clock`], so tests expire visibility timeouts by moving a `ManualClock`.
//!
//! Redrive policies (dead-letter after N receives) live in the instance, like a queue
//! attribute on SQS: every process that receives from a queue must configure the same.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, TransactionBehavior};

use igny8_core::ports::clock::Clock;
use igny8_core::ports::queue::{
    validate_batch, validate_queue_name, validate_receive, validate_visibility, Queue, QueueError, QueueMessage,
};

/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_messages (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    queue         TEXT NOT NULL,
    body          TEXT NOT NULL,
    sent_at       INTEGER NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT
);
CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (queue, visible_at);
CREATE UNIQUE INDEX IF NOT EXISTS queue_messages_receipt ON queue_messages (receipt)
    WHERE receipt IS NOT NULL;
";

/// Where a queue's messages go once they have been received too often.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Redrive {
    dead_letter_queue: String,
    max_receives: u32,
}

/// The embedded queue: a table in a SQLite file in WAL mode.
#[derive(Clone)]
pub struct SqliteQueue {
    inner: Arc<Inner>,
    redrive: Arc<HashMap<String, Redrive>>,
}

struct Inner {
    path: PathBuf,
    clock: Arc<dyn Clock>,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue").field("path", &self.inner.path).field("redrive", &self.redrive).finish()
    }
}

fn backend(e: impl std::fmt::Display) -> QueueError {
    QueueError::Backend(e.to_string())
}

fn open_connection(path: &Path) -> Result<Connection, QueueError> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(backend)?;
    Ok(conn)
}

/// A duration as whole milliseconds (visibility is validated to at most 12 hours).
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl SqliteQueue {
    /// Opens (creating if needed) the file and the `queue_messages` table; `clock`
    /// drives every visibility timeout.
    pub fn open(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> Result<Self, QueueError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| QueueError::Backend(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = open_connection(&path)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        Ok(Self { inner: Arc::new(Inner { path, clock, conn: Mutex::new(conn) }), redrive: Arc::new(HashMap::new()) })
    }

    /// Sends messages of `queue` received `max_receives` times to `dead_letter_queue`
    /// on their next receive instead of delivering them again (SQS's redrive policy);
    /// a `max_receives` of 0 counts as 1. Clones made before the call keep their policies.
    pub fn with_redrive(mut self, queue: &str, dead_letter_queue: &str, max_receives: u32) -> Self {
        let redrive = Redrive { dead_letter_queue: dead_letter_queue.to_owned(), max_receives: max_receives.max(1) };
        Arc::make_mut(&mut self.redrive).insert(queue.to_owned(), redrive);
        self
    }

    /// The file this queue lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `work` inside one `BEGIN IMMEDIATE` transaction on the blocking pool,
    /// committing only when it succeeds.
    async fn transaction<T, F>(&self, work: F) -> Result<T, QueueError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>, &Inner) -> Result<T, QueueError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.conn.lock().map_err(|_| backend("connection mutex poisoned"))?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let result = work(&tx, &inner)?;
            tx.commit().map_err(backend)?;
            Ok(result)
        })
        .await
        .map_err(backend)?
    }
}

/// One visible message picked by a receive.
struct Candidate {
    seq: i64,
    id: String,
    body: String,
    receive_count: u32,
}

/// Picks up to `limit` visible messages of `queue`, oldest first.
fn visible(tx: &rusqlite::Transaction<'_>, queue: &str, now: i64, limit: usize) -> Result<Vec<Candidate>, QueueError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT seq, id, body, receive_count FROM queue_messages
             WHERE queue = ?1 AND visible_at <= ?2 ORDER BY sent_at, seq LIMIT ?3",
        )
        .map_err(backend)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![queue, now, limit], |r| {
            Ok(Candidate { seq: r.get(0)?, id: r.get(1)?, body: r.get(2)?, receive_count: r.get(3)? })
        })
        .map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
}

/// The receive transaction: delivers up to `max` messages and dead-letters the ones
/// that have been received `max_receives` times already.
fn receive_in(
    tx: &rusqlite::Transaction<'_>,
    queue: &str,
    max: usize,
    now: i64,
    visible_at: i64,
    redrive: Option<&Redrive>,
) -> Result<Vec<QueueMessage>, QueueError> {
    let mut delivered = Vec::new();
    // Messages already handled here: with a zero visibility they stay visible.
    let mut seen = HashSet::new();
    while delivered.len() < max {
        let want = max - delivered.len() + seen.len();
        let batch: Vec<Candidate> =
            visible(tx, queue, now, want)?.into_iter().filter(|c| !seen.contains(&c.seq)).collect();
        if batch.is_empty() {
            break;
        }
        for message in batch {
            if delivered.len() == max {
                break;
            }
            seen.insert(message.seq);
            if let Some(policy) = redrive.filter(|p| message.receive_count >= p.max_receives) {
                tx.execute(
                    "UPDATE queue_messages
                     SET queue = ?2, receive_count = 0, receipt = NULL, visible_at = ?3
                     WHERE seq = ?1",
                    params![message.seq, policy.dead_letter_queue, now],
                )
                .map_err(backend)?;
                tracing::warn!(
                    id = %message.id, queue, dead_letter_queue = %policy.dead_letter_queue,
                    receives = message.receive_count, "message moved to the dead-letter queue"
                );
                continue;
            }
            let receipt = uuid::Uuid::new_v4().simple().to_string();
            let receive_count = message.receive_count.saturating_add(1);
            tx.execute(
                "UPDATE queue_messages SET receive_count = ?2, receipt = ?3, visible_at = ?4
                 WHERE seq = ?1",
                params![message.seq, receive_count, receipt, visible_at],
            )
            .map_err(backend)?;
            delivered.push(QueueMessage { id: message.id, body: message.body, receipt, receive_count });
        }
    }
    Ok(delivered)
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send_batch(&self, queue: &str, bodies: Vec<String>) -> Result<Vec<String>, QueueError> {
        validate_queue_name(queue)?;
        validate_batch(&bodies)?;
        let queue = queue.to_owned();
        self.transaction(move |tx, inner| {
            let now = inner.clock.now_ms();
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO queue_messages (id, queue, body, sent_at, visible_at)
                     VALUES (?1, ?2, ?3, ?4, ?4)",
                )
                .map_err(backend)?;
            let mut ids = Vec::with_capacity(bodies.len());
            for body in &bodies {
                let id = uuid::Uuid::now_v7().to_string();
                stmt.execute(params![id, queue, body, now]).map_err(backend)?;
                ids.push(id);
            }
            Ok(ids)
        })
        .await
    }

    async fn receive(&self, queue: &str, max: usize, visibility: Duration) -> Result<Vec<QueueMessage>, QueueError> {
        validate_queue_name(queue)?;
        validate_receive(max, visibility)?;
        let queue = queue.to_owned();
        let redrive = self.redrive.get(&queue).cloned();
        self.transaction(move |tx, inner| {
            let now = inner.clock.now_ms();
            let visible_at = now.saturating_add(millis(visibility));
            receive_in(tx, &queue, max, now, visible_at, redrive.as_ref())
        })
        .await
    }

    async fn delete(&self, queue: &str, receipt: &str) -> Result<(), QueueError> {
        validate_queue_name(queue)?;
        let (queue, receipt) = (queue.to_owned(), receipt.to_owned());
        self.transaction(move |tx, _| {
            let deleted = tx
                .execute("DELETE FROM queue_messages WHERE queue = ?1 AND receipt = ?2", params![queue, receipt])
                .map_err(backend)?;
            if deleted == 0 {
                Err(QueueError::StaleReceipt)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn change_visibility(&self, queue: &str, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        validate_queue_name(queue)?;
        validate_visibility(visibility)?;
        let (queue, receipt) = (queue.to_owned(), receipt.to_owned());
        self.transaction(move |tx, inner| {
            let visible_at = inner.clock.now_ms().saturating_add(millis(visibility));
            let changed = tx
                .execute(
                    "UPDATE queue_messages SET visible_at = ?3 WHERE queue = ?1 AND receipt = ?2",
                    params![queue, receipt, visible_at],
                )
                .map_err(backend)?;
            if changed == 0 {
                Err(QueueError::StaleReceipt)
            } else {
                Ok(())
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use igny8_core::ports::clock::{ManualClock, SystemClock};
    use igny8_core::ports::queue::{MAX_BATCH, MAX_BODY_BYTES};

    const MINUTE: Duration = Duration::from_secs(60);

    fn queue() -> (tempfile::TempDir, Arc<ManualClock>, SqliteQueue) {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::at(1_000_000));
        let queue = SqliteQueue::open(dir.path().join("igny8.db"), clock.clone()).expect("open");
        (dir, clock, queue)
    }

    fn bodies(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("m{i}")).collect()
    }

    #[tokio::test]
    async fn send_receive_delete() {
        let (_dir, _clock, q) = queue();
        let ids = q.send_batch("jobs", bodies(3)).await.expect("send");
        assert_eq!(ids.len(), 3);
        let got = q.receive("jobs", 10, MINUTE).await.expect("receive");
        assert_eq!(got.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), ids, "oldest first");
        assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["m0", "m1", "m2"]);
        assert!(got.iter().all(|m| m.receive_count == 1));
        assert!(q.receive("jobs", 10, MINUTE).await.expect("receive").is_empty(), "hidden");
        assert!(q.receive("other", 10, MINUTE).await.expect("other").is_empty(), "queues apart");
        for m in &got {
            q.delete("jobs", &m.receipt).await.expect("delete");
        }
        assert!(matches!(q.delete("jobs", &got[0].receipt).await, Err(QueueError::StaleReceipt)));
        assert!(matches!(q.delete("other", "nope").await, Err(QueueError::StaleReceipt)));
    }

    #[tokio::test]
    async fn receive_takes_at_most_max() {
        let (_dir, _clock, q) = queue();
        q.send_batch("jobs", bodies(5)).await.expect("send");
        let first = q.receive("jobs", 2, MINUTE).await.expect("receive");
        assert_eq!(first.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["m0", "m1"]);
        let rest = q.receive("jobs", 10, MINUTE).await.expect("receive");
        assert_eq!(rest.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["m2", "m3", "m4"]);
    }

    #[tokio::test]
    async fn visibility_timeout_hides_then_redelivers() {
        let (_dir, clock, q) = queue();
        let ids = q.send_batch("jobs", bodies(1)).await.expect("send");
        let first = q.receive("jobs", 1, MINUTE).await.expect("receive").remove(0);
        clock.advance_ms(59_999);
        assert!(q.receive("jobs", 1, MINUTE).await.expect("receive").is_empty());
        clock.advance_ms(1);
        let second = q.receive("jobs", 1, MINUTE).await.expect("receive").remove(0);
        assert_eq!(second.id, ids[0]);
        assert_eq!(second.receive_count, 2);
        assert_ne!(second.receipt, first.receipt);
        // The first consumer lost the message: its receipt is stale.
        assert!(matches!(q.delete("jobs", &first.receipt).await, Err(QueueError::StaleReceipt)));
        assert!(matches!(q.change_visibility("jobs", &first.receipt, MINUTE).await, Err(QueueError::StaleReceipt)));
        // The current holder extends, then hands it back at once.
        q.change_visibility("jobs", &second.receipt, 2 * MINUTE).await.expect("extend");
        clock.advance_ms(60_000);
        assert!(q.receive("jobs", 1, MINUTE).await.expect("receive").is_empty(), "extended");
        q.change_visibility("jobs", &second.receipt, Duration::ZERO).await.expect("release");
        let third = q.receive("jobs", 1, MINUTE).await.expect("receive").remove(0);
        assert_eq!(third.receive_count, 3);
        q.delete("jobs", &third.receipt).await.expect("delete");
        clock.advance_ms(10 * 60_000);
        assert!(q.receive("jobs", 1, MINUTE).await.expect("receive").is_empty(), "deleted");
    }

    #[tokio::test]
    async fn expired_but_unclaimed_receipt_still_deletes() {
        let (_dir, clock, q) = queue();
        q.send_batch("jobs", bodies(1)).await.expect("send");
        let m = q.receive("jobs", 1, MINUTE).await.expect("receive").remove(0);
        clock.advance_ms(120_000);
        q.delete("jobs", &m.receipt).await.expect("nobody else received it");
        assert!(q.receive("jobs", 1, MINUTE).await.expect("receive").is_empty());
    }

    #[tokio::test]
    async fn dead_letter_after_max_receives() {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::at(0));
        let q = SqliteQueue::open(dir.path().join("q.db"), clock.clone())
            .expect("open")
            .with_redrive("jobs", "jobs-dlq", 3);
        let ids = q.send_batch("jobs", vec!["poison".into(), "good".into()]).await.expect("send");
        for round in 1..=3u32 {
            let got = q.receive("jobs", 1, MINUTE).await.expect("receive");
            assert_eq!(got[0].id, ids[0]);
            assert_eq!(got[0].receive_count, round);
            clock.advance_ms(60_000);
        }
        // The fourth receive dead-letters the poison message and delivers the next one.
        let got = q.receive("jobs", 1, MINUTE).await.expect("receive");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, ids[1]);
        let dead = q.receive("jobs-dlq", 10, MINUTE).await.expect("dlq");
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].id.as_str(), dead[0].body.as_str()), (ids[0].as_str(), "poison"));
        assert_eq!(dead[0].receive_count, 1, "count restarts on the dead-letter queue");
        clock.advance_ms(60_000);
        let again = q.receive("jobs", 10, MINUTE).await.expect("receive");
        assert_eq!(again.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), [ids[1].as_str()]);
    }

    #[tokio::test]
    async fn dead_letters_even_when_nothing_is_delivered() {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::at(0));
        let q = SqliteQueue::open(dir.path().join("q.db"), clock.clone()).expect("open").with_redrive("jobs", "dlq", 1);
        q.send_batch("jobs", bodies(2)).await.expect("send");
        assert_eq!(q.receive("jobs", 10, MINUTE).await.expect("receive").len(), 2);
        clock.advance_ms(60_000);
        assert!(q.receive("jobs", 10, MINUTE).await.expect("receive").is_empty());
        assert_eq!(q.receive("dlq", 10, MINUTE).await.expect("dlq").len(), 2);
    }

    #[tokio::test]
    async fn zero_visibility_delivers_each_message_once_per_receive() {
        let (_dir, _clock, q) = queue();
        q.send_batch("jobs", bodies(2)).await.expect("send");
        let got = q.receive("jobs", 10, Duration::ZERO).await.expect("receive");
        assert_eq!(got.len(), 2);
        let again = q.receive("jobs", 10, Duration::ZERO).await.expect("receive");
        assert_eq!(again.len(), 2);
        assert!(again.iter().all(|m| m.receive_count == 2));
    }

    #[tokio::test]
    async fn limits_are_refused() {
        let (_dir, _clock, q) = queue();
        let invalid = |r: Result<Vec<String>, QueueError>| matches!(r, Err(QueueError::Invalid(_)));
        assert!(invalid(q.send_batch("jobs", Vec::new()).await));
        assert!(invalid(q.send_batch("jobs", bodies(MAX_BATCH + 1)).await));
        assert!(invalid(q.send_batch("jobs", vec![String::new()]).await));
        assert!(invalid(q.send_batch("jobs", vec!["x".repeat(MAX_BODY_BYTES + 1)]).await));
        assert!(invalid(q.send_batch("bad name", bodies(1)).await));
        assert_eq!(q.send_batch("jobs", bodies(MAX_BATCH)).await.expect("full batch").len(), 10);
        assert!(matches!(q.receive("jobs", 0, MINUTE).await, Err(QueueError::Invalid(_))));
        assert!(matches!(q.receive("jobs", 11, MINUTE).await, Err(QueueError::Invalid(_))));
        assert!(matches!(q.receive("jobs", 1, Duration::from_secs(13 * 3600)).await, Err(QueueError::Invalid(_))));
        // A refused batch sent nothing.
        assert_eq!(q.receive("jobs", 10, MINUTE).await.expect("receive").len(), 10);
        assert!(q.receive("jobs", 10, MINUTE).await.expect("receive").is_empty());
    }

    #[tokio::test]
    async fn messages_survive_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("q.db");
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(0));
        let ids = {
            let q = SqliteQueue::open(&path, clock.clone()).expect("open");
            q.send_batch("jobs", bodies(2)).await.expect("send")
        };
        let q = SqliteQueue::open(&path, clock).expect("reopen");
        let got = q.receive("jobs", 10, MINUTE).await.expect("receive");
        assert_eq!(got.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), ids);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_consumers_on_one_file_never_share_a_message() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("shared.db");
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let producer = SqliteQueue::open(&path, clock.clone()).expect("open");
        let mut sent = HashSet::new();
        for _ in 0..20 {
            sent.extend(producer.send_batch("jobs", bodies(10)).await.expect("send"));
        }
        assert_eq!(sent.len(), 200);
        // Each consumer has its own instance and connection, like separate processes.
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let q = SqliteQueue::open(&path, clock.clone()).expect("open consumer");
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        let batch = q.receive("jobs", 3, Duration::from_secs(600)).await?;
                        if batch.is_empty() {
                            return Ok::<_, QueueError>(got);
                        }
                        for m in batch {
                            q.delete("jobs", &m.receipt).await?;
                            got.push(m.id);
                        }
                    }
                })
            })
            .collect();
        let mut delivered = Vec::new();
        for consumer in consumers {
            delivered.extend(consumer.await.expect("join").expect("consume"));
        }
        assert_eq!(delivered.len(), 200, "each message delivered exactly once");
        assert_eq!(delivered.into_iter().collect::<HashSet<_>>(), sent);
    }
}
