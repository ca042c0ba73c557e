//! The publisher: review transitions, idempotent publishing, publication status.

use crate::domain::{
    AccountId, Content, ContentId, IntegrationId, PlatformFault, Publication, RemoteStatus, RunId, SiteId,
};
use crate::integration::{IntegrationError, IntegrationService};
use crate::repo::RepoError;

/// Errors of publishing as a whole; a platform's refusal of one article is a
/// [`PublishOutcome`] with an error, not this.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The site or article does not exist for this account.
    #[error("{0} not found")]
    NotFound(String),
    /// The article is not approved and the request did not say to publish anyway.
    #[error("content {0} is not approved for publishing")]
    NotApproved(ContentId),
    /// The article has no body yet (still being written).
    #[error("content {0} is not ready: {1}")]
    NotReady(ContentId, String),
    /// The site has no active integration (or not the one asked for).
    #[error("site has no active integration to publish to")]
    NoIntegration,
    /// A field is invalid (a scheduled publish without a future `publish_at`…).
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The integration layer failed (keys, unconfigured…).
    #[error(transparent)]
    Integration(#[from] IntegrationError),
    /// The store failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl PublishError {
    /// The stable code the API and the CLI report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::NotApproved(_) => "content_not_approved",
            Self::NotReady(..) => "content_not_ready",
            Self::NoIntegration => "no_integration",
            Self::Invalid { .. } => "validation_failed",
            Self::Integration(e) => e.code(),
            Self::Repo(e) => e.code(),
        }
    }

    /// True when the same request may succeed if retried unchanged.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Repo(e) => matches!(e, RepoError::Store(s) if s.is_transient()),
            Self::Integration(IntegrationError::Keys(k)) => k.is_transient(),
            _ => false,
        }
    }
}

/// What to publish and how.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    /// These articles; empty means every approved article not yet published.
    pub content_ids: Vec<ContentId>,
    /// Remote status: draft, publish or scheduled.
    pub status: RemoteStatus,
    /// For `scheduled`: when (RFC 3339, in the future).
    pub publish_at: Option<String>,
    /// Only this integration; default every active one.
    pub integration_id: Option<IntegrationId>,
    /// Publish articles that are not approved (the request "says otherwise").
    pub include_unapproved: bool,
}

/// One article on one destination after a publish.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishOutcome {
    /// The article.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub content_id: ContentId,
    /// The destination.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub integration_id: IntegrationId,
    /// It is on the remote site as asked.
    pub success: bool,
    /// The deployment record after this attempt.
    pub publication: Option<Publication>,
    /// Why not (`forbidden_by_platform` with the platform's `rest_cannot_publish`…).
    pub error: Option<PlatformFault>,
}

/// What one publishing batch of a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunPublishBatch {
    /// Articles attempted in this batch.
    pub attempted: u32,
    /// Published to every active destination.
    pub published: u32,
    /// Failed on at least one destination (recorded on the publication).
    pub failed: u32,
    /// Articles of the run still waiting after this batch.
    pub remaining: u64,
}

/// Review and publishing.
#[derive(Clone)]
pub struct PublishingService {
    integrations: IntegrationService,
}

impl PublishingService {
    /// Publishing over the integration service (store, vault, platforms, blobs).
    pub fn new(integrations: IntegrationService) -> Self {
        Self { integrations }
    }

    /// Approves an article for publishing (draft → approved; approved stays approved).
    pub async fn approve(&self, account: &AccountId, site: &SiteId, id: &ContentId) -> Result<Content, PublishError> {
        let _ = (&self.integrations, account, site, id);
        todo!("H2: approve")
    }

    /// Approves every draft article of the site; returns how many changed.
    pub async fn approve_all(&self, account: &AccountId, site: &SiteId) -> Result<u64, PublishError> {
        let _ = (account, site);
        todo!("H2: approve_all")
    }

    /// Takes approval back (approved → draft); a published article stays published.
    pub async fn unapprove(&self, account: &AccountId, site: &SiteId, id: &ContentId) -> Result<Content, PublishError> {
        let _ = (account, site, id);
        todo!("H2: unapprove")
    }

    /// Publishes the requested articles to the site's active integrations, each exactly
    /// once: one outcome per article and destination.
    pub async fn publish(
        &self,
        account: &AccountId,
        site: &SiteId,
        request: PublishRequest,
    ) -> Result<Vec<PublishOutcome>, PublishError> {
        let _ = (account, site, request);
        todo!("H2: publish")
    }

    /// The deployment records of one article.
    pub async fn publications(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &ContentId,
    ) -> Result<Vec<Publication>, PublishError> {
        let _ = (account, site, id);
        todo!("H2: publications")
    }

    /// The run's publishing stage: publishes up to `limit` of the run's articles that
    /// wait for it with `status`, recording per-article failures without failing.
    pub async fn publish_run_batch(
        &self,
        account: &AccountId,
        site: &SiteId,
        run: &RunId,
        status: RemoteStatus,
        limit: u32,
    ) -> Result<RunPublishBatch, PublishError> {
        let _ = (account, site, run, status, limit);
        todo!("H2: publish_run_batch")
    }
}
