//! AutomationLogger: a run's logs in the blob store.
//!
//! Layout under `runs/<account>/<site>/<run>/`: `main.log` (every line), one
//! `stages/<n>-<name>.log` per stage, and structured events as JSON lines in
//! `trace/<n>-<seq>.jsonl` (n = stage, 0 for the run itself; seq = the writer's batch or
//! job number). Blob stores cannot append, so a line is added by read-modify-write:
//! only the run's sequential steps write the `.log` files, and concurrent writers
//! (image jobs) each write their own trace object, so nothing is lost to a race.
//! Everything can be mirrored under a second prefix.

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
    /// Key of a trace object.
    pub fn trace(&self, stage: Option<Stage>, seq: u64) -> String {
        format!("{}trace/{}-{seq:06}.jsonl", self.prefix(), stage.map_or(0, Stage::number))
    }
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

    async fn append(&self, key: &str, text: &str, content_type: &str) -> Result<(), BlobError> {
        let mut body = self.blobs.get(key).await?.unwrap_or_default();
        body.extend_from_slice(text.as_bytes());
        if let Some(m) = &self.mirror {
            self.blobs.put(&format!("{m}{key}"), body.clone(), content_type).await?;
        }
        self.blobs.put(key, body, content_type).await
    }

    /// Adds a line to the main log and, for a stage, to the stage's log.
    pub async fn line(&self, run: &RunLog, stage: Option<Stage>, message: &str) -> Result<(), BlobError> {
        let at = rfc3339(self.clock.now_ms());
        let tag = stage.map_or_else(|| "run".to_owned(), |s| format!("stage {} {}", s.number(), s.name()));
        let text = format!("{at} [{tag}] {message}\n");
        if let Some(s) = stage {
            self.append(&run.stage_log(s), &text, "text/plain").await?;
        }
        self.append(&run.main_log(), &text, "text/plain").await
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
        self.append(&run.trace(stage, seq), &format!("{line}\n"), "application/x-ndjson").await
    }

    /// Every structured event of the run, in stage then sequence order.
    pub async fn events(&self, run: &RunLog) -> Result<Vec<TraceEvent>, BlobError> {
        let mut out = Vec::new();
        for info in self.blobs.list(&format!("{}trace/", run.prefix())).await? {
            let body = self.blobs.get(&info.key).await?.unwrap_or_default();
            for line in String::from_utf8_lossy(&body).lines().filter(|l| !l.trim().is_empty()) {
                let event = serde_json::from_str(line)
                    .map_err(|e| BlobError::Backend(format!("bad trace line in {}: {e}", info.key)))?;
                out.push(event);
            }
        }
        Ok(out)
    }

    /// The main log's text.
    pub async fn main_log(&self, run: &RunLog) -> Result<String, BlobError> {
        let body = self.blobs.get(&run.main_log()).await?.unwrap_or_default();
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}
