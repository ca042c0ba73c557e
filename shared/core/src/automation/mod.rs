//! Automation: the per-site run lock, the run's logs, and the run itself (start,
//! stage steps, image jobs, pause/resume/cancel, finalize, failure, schedules).

pub mod error;
pub mod handlers;
pub mod images;
pub mod logger;
pub mod schedule;
pub mod service;
pub mod site_lock;
pub mod stages;
pub mod summary;

pub use error::AutomationError;
pub use handlers::{handle, run_cleanup, CleanupOutcome, ExecutionStatusChange, Function};
pub use images::{ImageJob, JobOutcome};
pub use logger::{AutomationLogger, RunLog, TraceEvent, TraceKind};
pub use schedule::{next_after, ScheduledStart};
pub use service::{
    stage_route, AutomationPorts, AutomationService, BatchOutcome, Estimate, StepInput, StepOutput, IMAGE_DLQ,
    IMAGE_MAX_RECEIVES, IMAGE_QUEUE,
};
pub use site_lock::{LockError, SiteLock};
pub use summary::RunSummary;
