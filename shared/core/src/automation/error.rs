//! Errors of the automation run, mapped once at the edges (CLI, HTTP, Lambda).

use crate::billing::CreditError;
use crate::clustering::ClusteringError;
#[cfg(test)]
use crate::domain::SiteId;
use crate::domain::{RunId, RunStatus};
use crate::ports::blob::BlobError;
use crate::ports::clock::rfc3339_relative;
use crate::ports::queue::QueueError;
use crate::ports::workflow::WorkflowError;
use crate::ports::StoreError;
use crate::publishing::PublishError;
use crate::repo::site_lock::LockError;
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
    /// The account's subscription is past due: an invoice is unpaid after its due date.
    #[error("the account is past due: pay the overdue invoice before starting automation")]
    AccountPastDue,
    /// The site already has a run.
    #[error("a run is already active for this site: {holder} (its lease ends {})", rfc3339_relative(*until, *now))]
    AlreadyRunning {
        /// The running run.
        holder: String,
        /// Its lease end, Unix milliseconds.
        until: i64,
        /// When the run was found active, Unix milliseconds.
        now: i64,
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
    /// The publishing stage failed as a whole (a platform's throttle or outage is
    /// transient and retried; one article's refusal is not an error).
    #[error("publishing: {0}")]
    Publish(#[from] PublishError),
    /// The run publishes after images, but this deployment wired no publisher.
    #[error("publishing is not configured where this step runs")]
    PublishingUnavailable,
    /// The config asks for semantic clustering, but the AI provider has no embedding
    /// model: the run fails before anything is charged.
    #[error("embedding_model_missing: cluster mode semantic needs an embedding model; {0}")]
    EmbeddingModelMissing(String),
}

impl From<ClusteringError> for AutomationError {
    fn from(e: ClusteringError) -> Self {
        match e {
            ClusteringError::NoEmbeddingModel(why) => Self::EmbeddingModelMissing(why),
            ClusteringError::Ai(e) => Self::Ai(e),
            ClusteringError::Repo(e) => Self::Repo(e),
        }
    }
}

/// A repository error that may pass when retried (a throttled or conflicting store).
fn repo_transient(e: &RepoError) -> bool {
    matches!(e, RepoError::Store(s) if s.is_transient())
}

impl From<StoreError> for AutomationError {
    fn from(e: StoreError) -> Self {
        Self::Repo(RepoError::Store(e))
    }
}

impl AutomationError {
    /// The error name the state machine's Retry/Catch match on: a throttle or outage
    /// of any backend, wherever it surfaced (billing, lock, logs, queue, task token),
    /// is retried; only a lock another holder owns is `Igny8.LockLost`.
    pub fn error_name(&self) -> &'static str {
        match self {
            Self::Ai(e) if e.is_transient() => "Igny8.AiRateLimited",
            e if e.is_transient() => "Igny8.Throttled",
            Self::InsufficientCredits { .. } | Self::Credits(CreditError::InsufficientCredits { .. }) => {
                "Igny8.InsufficientCredits"
            }
            Self::LockLost(_) => "Igny8.LockLost",
            _ => "Igny8.StageFailed",
        }
    }

    /// True when the same step may succeed if retried: a throttled or briefly
    /// unavailable store, blob store, queue, workflow engine or AI provider, or a
    /// balance too contended to write.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Ai(e) => e.is_transient(),
            Self::Repo(e) | Self::Credits(CreditError::Repo(e)) => repo_transient(e),
            Self::Credits(CreditError::Contended { .. }) => true,
            Self::Lock(LockError::Store(e)) => e.is_transient(),
            Self::Blob(e) => e.is_transient(),
            Self::Queue(e) => e.is_transient(),
            Self::Workflow(e) => e.is_transient(),
            Self::Publish(e) => e.is_transient(),
            _ => false,
        }
    }

    /// The stable snake_case code the HTTP API and the CLI report for this error: the
    /// codes the API has always sent (a fault of ours, or an adapter's, is `internal`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::SiteNotFound | Self::RunNotFound(_) => "not_found",
            Self::SiteInactive => "site_inactive",
            Self::Disabled => "automation_disabled",
            Self::NotEnoughKeywords { .. } => "not_enough_keywords",
            Self::InsufficientCredits { .. } => "insufficient_credits",
            Self::AccountPastDue => "account_past_due",
            Self::AlreadyRunning { .. } => "run_already_active",
            Self::InvalidState { .. } => "invalid_state",
            Self::Invalid(_) => "validation_failed",
            Self::Credits(e) => e.code(),
            Self::Repo(e) => e.code(),
            Self::Lock(e) => e.code(),
            Self::Blob(BlobError::NotFound(_)) => "not_found",
            Self::Publish(e) => e.code(),
            Self::PublishingUnavailable => "integrations_unavailable",
            Self::EmbeddingModelMissing(_) => "embedding_model_missing",
            Self::LockLost(_)
            | Self::Stalled { .. }
            | Self::Ai(_)
            | Self::Blob(_)
            | Self::Queue(_)
            | Self::Workflow(_) => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_ones_the_api_sends() {
        let cases: Vec<(AutomationError, &str)> = vec![
            (AutomationError::SiteNotFound, "not_found"),
            (AutomationError::RunNotFound(RunId::derive("x")), "not_found"),
            (AutomationError::SiteInactive, "site_inactive"),
            (AutomationError::Disabled, "automation_disabled"),
            (AutomationError::NotEnoughKeywords { have: 1, need: 2 }, "not_enough_keywords"),
            (AutomationError::InsufficientCredits { required: 2, available: 1 }, "insufficient_credits"),
            (AutomationError::AlreadyRunning { holder: "run_x".into(), until: 0, now: 0 }, "run_already_active"),
            (AutomationError::InvalidState { status: RunStatus::Completed, action: "pause" }, "invalid_state"),
            (AutomationError::Invalid("bad".into()), "validation_failed"),
            (AutomationError::AccountPastDue, "account_past_due"),
            (CreditError::InsufficientCredits { required: 5, available: 1 }.into(), "insufficient_credits"),
            (CreditError::InvalidKey.into(), "invalid_idempotency_key"),
            (StoreError::Throttled.into(), "unavailable"),
            (StoreError::Invalid("cursor".into()).into(), "invalid_request"),
            (StoreError::Backend("disk".into()).into(), "internal"),
            (AutomationError::LockLost("gone".into()), "internal"),
            (ClusteringError::NoEmbeddingModel("none".into()).into(), "embedding_model_missing"),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "{error}");
        }
    }

    #[test]
    fn every_transient_backend_error_is_retried_and_only_a_foreign_holder_is_lock_lost() {
        let throttled: Vec<AutomationError> = vec![
            StoreError::Throttled.into(),
            StoreError::Conflict.into(),
            CreditError::Repo(RepoError::Store(StoreError::Throttled)).into(),
            CreditError::Contended { attempts: 5 }.into(),
            LockError::Store(StoreError::Throttled).into(),
            BlobError::Throttled("SlowDown".into()).into(),
            QueueError::Throttled("503".into()).into(),
            WorkflowError::Throttled("ThrottlingException".into()).into(),
        ];
        for e in throttled {
            assert_eq!(e.error_name(), "Igny8.Throttled", "{e}");
        }
        let ai: AutomationError = AiError::Unavailable("502".into()).into();
        assert_eq!(ai.error_name(), "Igny8.AiRateLimited");
        let permanent: Vec<AutomationError> = vec![
            StoreError::Backend("disk".into()).into(),
            BlobError::Backend("denied".into()).into(),
            QueueError::Backend("gone".into()).into(),
            WorkflowError::Backend("bad".into()).into(),
            AiError::Provider("401".into()).into(),
        ];
        for e in permanent {
            assert_eq!(e.error_name(), "Igny8.StageFailed", "{e}");
        }
        assert_eq!(AutomationError::LockLost("run_y holds it".into()).error_name(), "Igny8.LockLost");
    }

    #[test]
    fn lock_codes() {
        let held = LockError::Held { site: SiteId::derive("x"), holder: "run_x".into(), expires_at: 0, now: 0 };
        assert_eq!(held.code(), "lock_held");
        let not = LockError::NotHolder { site: SiteId::derive("x"), holder: "a".into(), current: None };
        assert_eq!(not.code(), "not_lock_holder");
        assert_eq!(LockError::Invalid("lease".into()).code(), "invalid_lock_request");
        assert_eq!(LockError::Store(StoreError::Conflict).code(), "unavailable");
    }
}
