//! AutomationLogger: a run's logs in the blob store.
//!
//! Layout under `runs/<account>/<site>/<run>/`: every line is its own object
//! `lines/<ms>-<seq>-<nonce>-<n>.log` and every structured event its own JSON line
//! `trace/<n>-<seq>-<ms>-<seq>-<nonce>.jsonl` (n = stage, 0 for the run itself; the first
//! seq = the writer's batch or job number), so writing costs one PUT whatever the length
//! of the run, and concurrent writers (image jobs) never overwrite each other. Blob
//! stores cannot append: adding a line by read-modify-write of one file cost 2 GET + 2
//! PUT per line and grew with the run (quadratic). Readers stitch the objects in key
//! order; when the run ends, [`AutomationLogger::compact`] also writes the whole
//! `main.log` and one `stages/<n>-<name>.log` per stage, once. Everything can be
//! mirrored under a second prefix.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{AccountId, RunId, SiteId, Stage};
use crate::ports::blob::{BlobError, BlobStore};
use crate::ports::clock::rfc3339;
use crate::ports::Clock;

/// Kinds of structured run events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TraceKind {
    /// The run began.
    RunStarted,
    /// A batch of a stage finished.
    StageProgress,
    /// A stage has no work left.
    StageCompleted,
    /// The run paused.
    RunPaused,
    /// The run resumed.
    RunResumed,
    /// The run was cancelled.
    RunCancelled,
    /// The run finished.
    RunCompleted,
    /// Something failed.
    Error,
}

/// One structured event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TraceEvent {
    /// What happened.
    pub event: TraceKind,
    /// The run.
    pub run_id: RunId,
    /// The stage, if any.
    pub stage: Option<u8>,
    /// When (RFC 3339).
    pub at: String,
    /// Details (counts, credits, error text).
    pub data: Value,
}

/// Which run a log belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLog {
    /// Owning tenant.
    pub account_id: AccountId,
    /// The site.
    pub site_id: SiteId,
    /// The run.
    pub run_id: RunId,
}

impl RunLog {
    /// `runs/<account>/<site>/<run>/`.
    pub fn prefix(&self) -> String {
        format!("runs/{}/{}/{}/", self.account_id, self.site_id, self.run_id)
    }
    /// Key of the main log.
    pub fn main_log(&self) -> String {
        format!("{}main.log", self.prefix())
    }
    /// Key of a stage's log.
    pub fn stage_log(&self, stage: Stage) -> String {
        format!("{}stages/{}-{}.log", self.prefix(), stage.number(), stage.name())
    }
    /// Key prefix of the trace objects of one stage and sequence number.
    pub fn trace(&self, stage: Option<Stage>, seq: u64) -> String {
        format!("{}-{seq:06}", self.trace_prefix_of(stage.map_or(0, Stage::number)))
    }
    /// Key prefix of the line objects.
    fn lines_prefix(&self) -> String {
        format!("{}lines/", self.prefix())
    }
    fn trace_prefix(&self) -> String {
        format!("{}trace/", self.prefix())
    }
    fn trace_prefix_of(&self, stage: u8) -> String {
        format!("{}{stage}", self.trace_prefix())
    }
}

/// Writes of this process, in order: two objects written in the same millisecond by
/// one writer keep their order when stitched.
static WRITES: AtomicU64 = AtomicU64::new(0);

/// `<ms>-<seq>-<nonce>`: sorts by time, then by this process's write order; the random
/// nonce keeps the writes of different processes apart.
fn unique_suffix(ms: i64) -> String {
    let seq = WRITES.fetch_add(1, Ordering::Relaxed);
    format!("{ms:015}-{seq:012}-{:08x}", rand::random::<u32>())
}

/// The stage number a line object's key ends with (`…-<n>.log`), 0 for run lines.
fn line_stage(key: &str) -> u8 {
    key.strip_suffix(".log").and_then(|k| k.rsplit_once('-')).and_then(|(_, n)| n.parse().ok()).unwrap_or(0)
}

/// Writes and reads run logs.
#[derive(Clone)]
pub struct AutomationLogger {
    blobs: Arc<dyn BlobStore>,
    clock: Arc<dyn Clock>,
    mirror: Option<String>,
}

impl AutomationLogger {
    /// A logger over the blob store.
    pub fn new(blobs: Arc<dyn BlobStore>, clock: Arc<dyn Clock>) -> Self {
        Self { blobs, clock, mirror: None }
    }

    /// Also writes every object under `prefix` (e.g. an archive bucket path).
    pub fn with_mirror(mut self, prefix: impl Into<String>) -> Self {
        let p: String = prefix.into();
        self.mirror = Some(if p.ends_with('/') { p } else { format!("{p}/") });
        self
    }

    /// Writes one object, and its mirror.
    async fn write(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        if let Some(m) = &self.mirror {
            self.blobs.put(&format!("{m}{key}"), body.clone(), content_type).await?;
        }
        self.blobs.put(key, body, content_type).await
    }

    /// Adds a line to the main log and, for a stage, to the stage's log: one object.
    pub async fn line(&self, run: &RunLog, stage: Option<Stage>, message: &str) -> Result<(), BlobError> {
        let ms = self.clock.now_ms();
        let tag = stage.map_or_else(|| "run".to_owned(), |s| format!("stage {} {}", s.number(), s.name()));
        let text = format!("{} [{tag}] {message}\n", rfc3339(ms));
        let key = format!("{}{}-{}.log", run.lines_prefix(), unique_suffix(ms), stage.map_or(0, Stage::number));
        self.write(&key, text.into_bytes(), "text/plain").await
    }

    /// Records a structured event in trace object `seq` of its stage.
    pub async fn event(
        &self,
        run: &RunLog,
        stage: Option<Stage>,
        seq: u64,
        event: TraceKind,
        data: Value,
    ) -> Result<(), BlobError> {
        let record = TraceEvent {
            event,
            run_id: run.run_id.clone(),
            stage: stage.map(Stage::number),
            at: rfc3339(self.clock.now_ms()),
            data,
        };
        let line = serde_json::to_string(&record).map_err(|e| BlobError::Backend(e.to_string()))?;
        let key = format!("{}-{}.jsonl", run.trace(stage, seq), unique_suffix(self.clock.now_ms()));
        self.write(&key, format!("{line}\n").into_bytes(), "application/x-ndjson").await
    }

    /// Every object under `prefix`, in key order, with its body.
    async fn read_all(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, BlobError> {
        let mut keys: Vec<String> = self.blobs.list(prefix).await?.into_iter().map(|info| info.key).collect();
        keys.sort();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let body = self.blobs.get(&key).await?.unwrap_or_default();
            out.push((key, body));
        }
        Ok(out)
    }

    /// Every structured event of the run, in stage then sequence order.
    pub async fn events(&self, run: &RunLog) -> Result<Vec<TraceEvent>, BlobError> {
        let mut out = Vec::new();
        for (key, body) in self.read_all(&run.trace_prefix()).await? {
            for line in String::from_utf8_lossy(&body).lines().filter(|l| !l.trim().is_empty()) {
                let event = serde_json::from_str(line)
                    .map_err(|e| BlobError::Backend(format!("bad trace line in {key}: {e}")))?;
                out.push(event);
            }
        }
        Ok(out)
    }

    /// The main log's text: its lines stitched in order (a run logged before lines were
    /// objects of their own has only its `main.log`).
    pub async fn main_log(&self, run: &RunLog) -> Result<String, BlobError> {
        let lines = self.read_all(&run.lines_prefix()).await?;
        if lines.is_empty() {
            let body = self.blobs.get(&run.main_log()).await?.unwrap_or_default();
            return Ok(String::from_utf8_lossy(&body).into_owned());
        }
        Ok(lines.iter().map(|(_, body)| String::from_utf8_lossy(body)).collect())
    }

    /// Writes the run's whole `main.log` and each stage's log from its lines, once the
    /// run has ended (readers of a file, such as a link to it, see every line). Linear
    /// in the run's lines; writing again later rewrites them with any lines since.
    pub async fn compact(&self, run: &RunLog) -> Result<(), BlobError> {
        let lines = self.read_all(&run.lines_prefix()).await?;
        if lines.is_empty() {
            return Ok(());
        }
        let mut main = Vec::new();
        let mut stages: BTreeMap<u8, Vec<u8>> = BTreeMap::new();
        for (key, body) in lines {
            if let Some(stage) = Stage::from_number(line_stage(&key)) {
                stages.entry(stage.number()).or_default().extend_from_slice(&body);
            }
            main.extend(body);
        }
        for (n, body) in stages {
            if let Some(stage) = Stage::from_number(n) {
                self.write(&run.stage_log(stage), body, "text/plain").await?;
            }
        }
        self.write(&run.main_log(), main, "text/plain").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_key_names_its_stage_and_sorts_by_time() {
        let run =
            RunLog { account_id: AccountId::derive("a"), site_id: SiteId::derive("s"), run_id: RunId::derive("r") };
        let early = format!("{}{}-4.log", run.lines_prefix(), unique_suffix(5));
        let late = format!("{}{}-0.log", run.lines_prefix(), unique_suffix(10));
        assert!(early < late);
        assert_eq!((line_stage(&early), line_stage(&late)), (4, 0));
    }
}
