//! The CLI's edge: every service error mapped once to a stable code and exit status.

use igny8_core::accounts::AccountError;
use igny8_core::automation::{AutomationError, LockError};
use igny8_core::billing::CreditError;
use igny8_core::domain::IdError;
use igny8_core::integration::IntegrationError;
use igny8_core::linking::LinkError;
use igny8_core::optimization::OptimizationError;
use igny8_core::ports::{KeyError, StoreError};
use igny8_core::publishing::PublishError;
use igny8_core::repo::RepoError;

/// What went wrong, classified for the exit status and the JSON `code`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The input is unusable (bad amount, malformed id, unknown operation...).
    #[error("{message}")]
    Invalid {
        /// Stable code.
        code: &'static str,
        /// One line for people.
        message: String,
    },
    /// The named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A rule refused the request (insufficient credits, lock held...).
    #[error("{message}")]
    Refused {
        /// Stable code.
        code: &'static str,
        /// One line for people.
        message: String,
    },
    /// Storage or environment failure.
    #[error("{0}")]
    Failure(String),
}

impl CliError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. } | Self::Refused { code, .. } => code,
            Self::NotFound(_) => "not_found",
            Self::Failure(_) => "internal",
        }
    }

    /// Exit status: 2 bad input, 3 refused, 1 failure (4 is reconcile's imbalance).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Invalid { .. } | Self::NotFound(_) => 2,
            Self::Refused { .. } => 3,
            Self::Failure(_) => 1,
        }
    }

    /// Bad input with a code.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { code, message: message.into() }
    }
}

impl From<IdError> for CliError {
    fn from(e: IdError) -> Self {
        Self::invalid(e.code(), e.to_string())
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        let code = e.code();
        match e {
            StoreError::Invalid(m) => Self::invalid(code, m),
            other => Self::Failure(other.to_string()),
        }
    }
}

impl From<RepoError> for CliError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Store(s) => s.into(),
            corrupt @ RepoError::Corrupt { .. } => Self::Failure(corrupt.to_string()),
        }
    }
}

impl From<CreditError> for CliError {
    fn from(e: CreditError) -> Self {
        let (code, message) = (e.code(), e.to_string());
        match e {
            CreditError::InvalidAmount(_)
            | CreditError::TooManyCredits { .. }
            | CreditError::InvalidPrice { .. }
            | CreditError::InvalidUnits(_)
            | CreditError::InvalidKey
            | CreditError::UnknownOperation(_) => Self::invalid(code, message),
            CreditError::AccountNotFound(_) | CreditError::HoldNotFound(_) => Self::NotFound(message),
            CreditError::InsufficientCredits { .. }
            | CreditError::HoldClosed { .. }
            | CreditError::KeyReused { .. }
            | CreditError::Contended { .. } => Self::Refused { code, message },
            CreditError::Repo(r) => r.into(),
        }
    }
}

impl From<LockError> for CliError {
    fn from(e: LockError) -> Self {
        let (code, message) = (e.code(), e.to_string());
        match e {
            LockError::Held { .. } | LockError::NotHolder { .. } => Self::Refused { code, message },
            LockError::Invalid(_) => Self::invalid(code, message),
            LockError::Store(s) => s.into(),
        }
    }
}

impl From<AccountError> for CliError {
    fn from(e: AccountError) -> Self {
        let (code, message) = (e.code(), e.to_string());
        match e {
            AccountError::Invalid { .. } => Self::invalid(code, message),
            AccountError::AccountNotFound(_) => Self::NotFound(message),
            AccountError::Credits(c) => c.into(),
            AccountError::Repo(r) => r.into(),
        }
    }
}

impl From<AutomationError> for CliError {
    fn from(e: AutomationError) -> Self {
        let (code, message) = (e.code(), e.to_string());
        match e {
            AutomationError::SiteNotFound | AutomationError::RunNotFound(_) => Self::NotFound(message),
            AutomationError::Invalid(_) => Self::invalid(code, message),
            AutomationError::SiteInactive
            | AutomationError::Disabled
            | AutomationError::NotEnoughKeywords { .. }
            | AutomationError::InsufficientCredits { .. }
            | AutomationError::AccountPastDue
            | AutomationError::AlreadyRunning { .. }
            | AutomationError::InvalidState { .. } => Self::Refused { code, message },
            AutomationError::Credits(c) => c.into(),
            AutomationError::Lock(l) => l.into(),
            AutomationError::Repo(r) => r.into(),
            _ => Self::Failure(message),
        }
    }
}

impl From<KeyError> for CliError {
    fn from(e: KeyError) -> Self {
        let (code, message) = (e.code(), e.to_string());
        match e {
            KeyError::Denied | KeyError::Unavailable(_) => Self::Refused { code, message },
            KeyError::Backend(_) => Self::Failure(message),
        }
    }
}

impl From<IntegrationError> for CliError {
    fn from(e: IntegrationError) -> Self {
        let (code, message) = (e.code(), e.to_string());
        match e {
            IntegrationError::NotFound(_) => Self::NotFound(message),
            IntegrationError::Unsupported(_) | IntegrationError::Invalid { .. } => Self::invalid(code, message),
            IntegrationError::AlreadyExists(_) | IntegrationError::Inactive(_) | IntegrationError::Unconfigured => {
                Self::Refused { code, message }
            }
            IntegrationError::Keys(k) => k.into(),
            IntegrationError::Repo(r) => r.into(),
            // The platform's refusal is the platform's word, not a fault here.
            IntegrationError::Platform(p) => Self::Refused { code, message: p.to_string() },
        }
    }
}

impl From<PublishError> for CliError {
    fn from(e: PublishError) -> Self {
        let (code, message) = (e.code(), e.to_string());
        match e {
            PublishError::NotFound(_) => Self::NotFound(message),
            PublishError::Invalid { .. } | PublishError::ContentInvalid { .. } => Self::invalid(code, message),
            PublishError::NotApproved(_) | PublishError::NotReady(..) | PublishError::NoIntegration => {
                Self::Refused { code, message }
            }
            PublishError::Busy(_) | PublishError::Platform(_) => Self::Refused { code, message },
            PublishError::Blobs(_) => Self::Failure(message),
            PublishError::Integration(i) => i.into(),
            PublishError::Repo(r) => r.into(),
        }
    }
}

impl From<OptimizationError> for CliError {
    fn from(e: OptimizationError) -> Self {
        let (code, message) = (e.code(), e.to_string());
        match e {
            OptimizationError::NotFound(_) => Self::NotFound(message),
            // The provider's refusal or outage is its word, not a fault here; nothing was charged.
            OptimizationError::NotReady(..) | OptimizationError::Ai(_) => Self::Refused { code, message },
            OptimizationError::Credits(c) => c.into(),
            OptimizationError::Repo(r) => r.into(),
        }
    }
}

impl From<LinkError> for CliError {
    fn from(e: LinkError) -> Self {
        let message = e.to_string();
        match e {
            LinkError::NotFound(_) => Self::NotFound(message),
            LinkError::Repo(r) => r.into(),
        }
    }
}
