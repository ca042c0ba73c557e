//! Durable executions of the in-process interpreter, in the same SQLite file as the
//! item store and the queue: one `executions` row per execution (its checkpoint:
//! status, current state and that state's input, pending task token) and its history
//! in `execution_events`, both written in one transaction at every state transition.
//!
//! Which process drives an execution is an OS file lock (`flock`) on
//! `executions/<name>.lock` beside the SQLite file, held while the process drives it:
//! the kernel releases it when the process dies, however it dies, so "stored as
//! running and claimable" means exactly "interrupted". (On platforms without `flock`
//! every claim succeeds: there, do not drive one run from two processes at once.)

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use igny8_asl::{Checkpoint, Claim, ExecutionStatus, ExecutionStore, HistoryEvent, PersistError, StoredExecution};

/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The folder of the claim files, beside the SQLite file.
const CLAIM_DIR: &str = "executions";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS executions (
    name       TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    checkpoint TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS executions_status ON executions (status);
CREATE TABLE IF NOT EXISTS execution_events (
    name  TEXT NOT NULL,
    id    INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (name, id)
) WITHOUT ROWID;
";

/// The embedded execution store: tables in a SQLite file (WAL) and claim files beside it.
pub struct SqliteExecutions {
    path: PathBuf,
    claims: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteExecutions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteExecutions").field("path", &self.path).finish()
    }
}

fn failed(e: impl std::fmt::Display) -> PersistError {
    PersistError(e.to_string())
}

impl SqliteExecutions {
    /// Opens (creating if needed) the tables in the SQLite file at `path` and the
    /// claim folder beside it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, PersistError> {
        let path = path.as_ref().to_path_buf();
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let claims = dir.join(CLAIM_DIR);
        std::fs::create_dir_all(&claims).map_err(|e| failed(format!("cannot create {}: {e}", claims.display())))?;
        let conn = Connection::open(&path).map_err(failed)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(failed)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(failed)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(failed)?;
        conn.execute_batch(SCHEMA).map_err(failed)?;
        Ok(Self { path, claims, conn: Mutex::new(conn) })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, PersistError> {
        self.conn.lock().map_err(|_| failed("connection mutex poisoned"))
    }

    /// The claim file of an execution: its name with anything but `[A-Za-z0-9_.-]`
    /// escaped, so every name maps to one file inside the folder.
    fn claim_file(&self, name: &str) -> PathBuf {
        let mut file = String::with_capacity(name.len() + 5);
        for c in name.chars() {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') || (c == '.' && !file.is_empty()) {
                file.push(c);
            } else {
                for b in c.to_string().bytes() {
                    file.push_str(&format!("%{b:02X}"));
                }
            }
        }
        file.push_str(".lock");
        self.claims.join(file)
    }
}

fn status_of(text: &str) -> Result<ExecutionStatus, PersistError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(failed)
}

fn checkpoint_of(text: &str) -> Result<Checkpoint, PersistError> {
    serde_json::from_str(text).map_err(|e| failed(format!("corrupt execution checkpoint: {e}")))
}

/// Holds an exclusive `flock` on the claim file; a non-blocking attempt tells a live
/// holder (`None`) from none.
#[cfg(unix)]
fn lock_file(path: &Path) -> Result<Option<Claim>, PersistError> {
    use rustix::fs::{flock, FlockOperation};
    let file = open_claim_file(path)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(Box::new(file))),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(failed(format!("cannot lock {}: {e}", path.display()))),
    }
}

#[cfg(not(unix))]
fn lock_file(path: &Path) -> Result<Option<Claim>, PersistError> {
    Ok(Some(Box::new(open_claim_file(path)?)))
}

/// Opens (creating) the claim file without truncating it: its lock, not its content, is the claim.
fn open_claim_file(path: &Path) -> Result<std::fs::File, PersistError> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| failed(format!("cannot open {}: {e}", path.display())))
}

impl ExecutionStore for SqliteExecutions {
    fn claim(&self, name: &str) -> Result<Option<Claim>, PersistError> {
        lock_file(&self.claim_file(name))
    }

    fn status(&self, name: &str) -> Result<Option<ExecutionStatus>, PersistError> {
        let conn = self.conn()?;
        let status: Option<String> = conn
            .query_row("SELECT status FROM executions WHERE name = ?1", params![name], |r| r.get(0))
            .optional()
            .map_err(failed)?;
        status.map(|s| status_of(&s)).transpose()
    }

    fn commit(&self, checkpoint: &Checkpoint, new_events: &[HistoryEvent]) -> Result<(), PersistError> {
        let body = serde_json::to_string(checkpoint).map_err(failed)?;
        let status = checkpoint.status.as_str();
        let events = new_events
            .iter()
            .map(|e| serde_json::to_string(e).map(|text| (e.id, text)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed)?;
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed)?;
        let stored: Option<String> = tx
            .query_row("SELECT status FROM executions WHERE name = ?1", params![checkpoint.name], |r| r.get(0))
            .optional()
            .map_err(failed)?;
        if stored.is_some_and(|s| s != ExecutionStatus::Running.as_str()) {
            // Closed stays closed; a late commit from a stopped task changes nothing.
            return Ok(());
        }
        tx.execute(
            "INSERT INTO executions (name, status, checkpoint) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET status = excluded.status, checkpoint = excluded.checkpoint",
            params![checkpoint.name, status, body],
        )
        .map_err(failed)?;
        {
            let mut insert = tx
                .prepare_cached("INSERT OR IGNORE INTO execution_events (name, id, event) VALUES (?1, ?2, ?3)")
                .map_err(failed)?;
            for (id, text) in &events {
                let id = i64::try_from(*id).map_err(failed)?;
                insert.execute(params![checkpoint.name, id, text]).map_err(failed)?;
            }
        }
        tx.commit().map_err(failed)
    }

    fn load(&self, name: &str) -> Result<Option<StoredExecution>, PersistError> {
        let conn = self.conn()?;
        let body: Option<String> = conn
            .query_row("SELECT checkpoint FROM executions WHERE name = ?1", params![name], |r| r.get(0))
            .optional()
            .map_err(failed)?;
        let Some(body) = body else { return Ok(None) };
        let checkpoint = checkpoint_of(&body)?;
        let mut query =
            conn.prepare("SELECT event FROM execution_events WHERE name = ?1 ORDER BY id").map_err(failed)?;
        let history = query
            .query_map(params![name], |r| r.get::<_, String>(0))
            .map_err(failed)?
            .map(|row| {
                let text = row.map_err(failed)?;
                serde_json::from_str::<HistoryEvent>(&text).map_err(|e| failed(format!("corrupt history event: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(StoredExecution { checkpoint, history }))
    }

    fn running(&self) -> Result<Vec<Checkpoint>, PersistError> {
        let conn = self.conn()?;
        let mut query = conn.prepare("SELECT checkpoint FROM executions WHERE status = ?1").map_err(failed)?;
        let mut found = query
            .query_map(params![ExecutionStatus::Running.as_str()], |r| r.get::<_, String>(0))
            .map_err(failed)?
            .map(|row| checkpoint_of(&row.map_err(failed)?))
            .collect::<Result<Vec<_>, _>>()?;
        found.sort_by(|a, b| a.start_date.cmp(&b.start_date).then_with(|| a.name.cmp(&b.name)));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use igny8_asl::HistoryEventType;
    use serde_json::json;
    use time::OffsetDateTime;

    fn checkpoint(name: &str, status: ExecutionStatus, state: &str) -> Checkpoint {
        Checkpoint {
            name: name.to_owned(),
            execution_id: format!("arn:exec:{name}"),
            input: json!({"run_id": name}),
            start_date: OffsetDateTime::UNIX_EPOCH,
            status,
            state: Some(state.to_owned()),
            state_input: json!({"next": state}),
            previous_event_id: 3,
            task_token: Some("tok".to_owned()),
            output: None,
            error: None,
            cause: None,
            stop_date: None,
        }
    }

    fn event(id: u64) -> HistoryEvent {
        HistoryEvent {
            id,
            previous_event_id: id - 1,
            timestamp: OffsetDateTime::UNIX_EPOCH,
            event_type: HistoryEventType::StateEntered,
            state_name: Some("S".to_owned()),
            details: json!({"input": {"n": id}}),
        }
    }

    #[test]
    fn commits_append_history_and_closed_stays_closed() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SqliteExecutions::open(dir.path().join("x.sqlite")).expect("open");
        store.commit(&checkpoint("run_a", ExecutionStatus::Running, "A"), &[event(1), event(2)]).expect("commit");
        store.commit(&checkpoint("run_a", ExecutionStatus::Running, "B"), &[event(3)]).expect("commit");
        let loaded = store.load("run_a").expect("load").expect("stored");
        assert_eq!(loaded.checkpoint.state.as_deref(), Some("B"));
        assert_eq!(loaded.history.iter().map(|e| e.id).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(loaded.history[2], event(3));
        assert_eq!(store.running().expect("running").len(), 1);
        store.commit(&checkpoint("run_a", ExecutionStatus::Succeeded, "B"), &[event(4)]).expect("close");
        store.commit(&checkpoint("run_a", ExecutionStatus::Running, "C"), &[event(5)]).expect("late commit");
        let closed = store.load("run_a").expect("load").expect("stored");
        assert_eq!(closed.checkpoint.status, ExecutionStatus::Succeeded);
        assert_eq!(closed.history.len(), 4, "the late commit wrote nothing");
        assert_eq!(store.status("run_a").expect("status"), Some(ExecutionStatus::Succeeded));
        assert!(store.running().expect("running").is_empty());
        assert_eq!(store.status("run_b").expect("status"), None);
    }

    #[test]
    fn one_claim_at_a_time_until_it_is_dropped() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SqliteExecutions::open(dir.path().join("x.sqlite")).expect("open");
        let other = SqliteExecutions::open(dir.path().join("x.sqlite")).expect("open");
        let claim = store.claim("run/../a b").expect("claim").expect("free");
        if cfg!(unix) {
            assert!(other.claim("run/../a b").expect("claim").is_none(), "held by a live owner");
        }
        assert!(other.claim("run_other").expect("claim").is_some());
        drop(claim);
        assert!(other.claim("run/../a b").expect("claim").is_some(), "free once dropped");
        let files: Vec<_> = std::fs::read_dir(dir.path().join(CLAIM_DIR)).expect("dir").collect();
        assert!(files.len() == 2, "each name one file inside the folder: {files:?}");
    }
}
