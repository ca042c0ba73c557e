//! Automation: the per-site run lock, the run's logs, and the run itself (start,
//! stage steps, image jobs, pause/resume/cancel, finalize, failure, schedules).
//!
//! `service` holds the type; `control` run control; `step` one stage step, which runs
//! a stage of `stages` (one file per stage, `stages/images.rs` the image fan-out);
//! `link` the linking stage after content; `publish` the publishing stage after images; `route` where the state machine goes next; `config`, `estimate`, `schedule`,
//! `summary`, `logger` and `handlers` as named; `takeover` continues a run whose
//! process died (the site lock lives in `repo::site_lock`). Only the items below are
//! reachable from outside.

mod config;
mod control;
mod error;
mod estimate;
mod handlers;
mod history;
mod link;
mod logger;
mod publish;
mod route;
mod schedule;
mod service;
mod stages;
mod step;
mod summary;
mod takeover;

pub use crate::repo::site_lock::{LockError, SiteLock, MAX_LEASE_MS};
pub use config::{MAX_LINK_BATCH_SIZE, MAX_PUBLISH_BATCH_SIZE};
pub use error::AutomationError;
pub use estimate::Estimate;
pub use handlers::{handle, run_cleanup, CleanupOutcome, ExecutionStatusChange, Function};
pub use history::{TaskCall, EXECUTION_TIMEOUT_SECONDS, HISTORY_BUDGET, MAX_PAUSE_SECONDS};
pub use logger::{AutomationLogger, RunLog, TraceEvent, TraceKind};
pub use route::Route;
pub use schedule::{next_after, ScheduledStart};
pub use service::{AutomationPorts, AutomationService};
pub use stages::images::{ImageJob, JobOutcome, IMAGE_DLQ, IMAGE_MAX_RECEIVES, IMAGE_QUEUE};
pub use stages::BatchOutcome;
pub use step::{StepInput, StepOutput};
pub use summary::RunSummary;
pub use takeover::Continuation;
