//! Errors of the automation run, mapped once at the edges (CLI, HTTP, Lambda).

use crate::automation::LockError;
use crate::billing::CreditError;
use crate::domain::{RunId, RunStatus};
use crate::ports::blob::BlobError;
use crate::ports::queue::QueueError;
use crate::ports::workflow::WorkflowError;
use crate::ports::StoreError;
use crate::repo::RepoError;
use igny8_ai::AiError;

/// Why a run could not start, step or change.
#[derive(Debug, thiserror::Error)]
pub enum AutomationError {
    /// The site does not exist for this account.
    #[error("site not found")]
    SiteNotFound,
    /// The site is inactive.
    #[error("site is inactive")]
    SiteInactive,
    /// Automation is switched off for the site.
    #[error("automation is disabled for this site")]
    Disabled,
    /// Too few keywords wait for clustering.
    #[error("not enough keywords: {have} waiting, {need} needed")]
    NotEnoughKeywords {
        /// Waiting keywords.
        have: u64,
        /// Minimum.
        need: u32,
    },
    /// The balance does not cover the estimate with its buffer.
    #[error("insufficient credits: the run needs about {required} (estimate × buffer), {available} available")]
    InsufficientCredits {
        /// Estimate × buffer.
        required: i64,
        /// Spendable.
        available: i64,
    },
    /// The site already has a run.
    #[error("a run is already active for this site: {holder} (lease until {until} unix ms)")]
    AlreadyRunning {
        /// The running run.
        holder: String,
        /// Its lease end.
        until: i64,
    },
    /// No such run (for this account).
    #[error("run {0} not found")]
    RunNotFound(RunId),
    /// The run is not in a state that allows the request.
    #[error("run is {status:?}: cannot {action}")]
    InvalidState {
        /// Current status.
        status: RunStatus,
        /// What was asked.
        action: &'static str,
    },
    /// The run no longer holds its site's lock.
    #[error("the run lost its site lock: {0}")]
    LockLost(String),
    /// A stage made no progress although work remains.
    #[error("stage {stage} made no progress with {remaining} items waiting")]
    Stalled {
        /// The stage.
        stage: u8,
        /// Items waiting.
        remaining: u64,
    },
    /// Input is malformed.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The AI provider failed.
    #[error("AI provider: {0}")]
    Ai(#[from] AiError),
    /// The ledger refused or failed.
    #[error(transparent)]
    Credits(#[from] CreditError),
    /// The lock service failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Storage failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The blob store failed.
    #[error("blob store: {0}")]
    Blob(#[from] BlobError),
    /// The queue failed.
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
    /// The workflow engine failed.
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
}

impl From<StoreError> for AutomationError {
    fn from(e: StoreError) -> Self {
        Self::Repo(RepoError::Store(e))
    }
}

impl AutomationError {
    /// The error name the state machine's Retry/Catch match on.
    pub fn error_name(&self) -> &'static str {
        match self {
            Self::Ai(e) if e.is_transient() => "Igny8.AiRateLimited",
            Self::Repo(RepoError::Store(e)) if e.is_transient() => "Igny8.Throttled",
            Self::Credits(CreditError::Contended { .. }) => "Igny8.Throttled",
            Self::InsufficientCredits { .. } | Self::Credits(CreditError::InsufficientCredits { .. }) => {
                "Igny8.InsufficientCredits"
            }
            Self::LockLost(_) => "Igny8.LockLost",
            _ => "Igny8.StageFailed",
        }
    }
}
