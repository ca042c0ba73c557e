//! IntegrationService: per-site integrations, one active per site and platform, the
//! account taken from the site; connection tests recorded with the integration's health.

use std::sync::Arc;

use crate::domain::{
    AccountId, ConnectionReport, Credentials, IntegrationId, Platform, SiteId, SiteIntegration, UnsupportedPlatform,
};
use crate::integration::vault::CredentialVault;
use crate::ports::{BlobStore, Clock, Destination, IdGenerator, ItemStore, KeyError, Platforms};
use crate::repo::RepoError;

/// What integrations need beyond the store: the key provider behind the vault, the
/// platform clients, and the blob store holding the images to upload.
#[derive(Clone)]
pub struct IntegrationPorts {
    /// Seals and opens credentials.
    pub vault: CredentialVault,
    /// The platform clients.
    pub platforms: Platforms,
    /// Generated images (read when publishing).
    pub blobs: Arc<dyn BlobStore>,
}

/// A new integration as the API and CLI submit it.
#[derive(Debug, Clone)]
pub struct NewIntegration {
    /// Platform name as given (`wordpress`, `shopify`); anything else is `unsupported_platform`.
    pub platform: String,
    /// WordPress site URL or Shopify shop domain.
    pub base_url: String,
    /// The credentials, sealed before anything is stored.
    pub credentials: Credentials,
    /// Include in the scheduled sync (default true).
    pub sync_enabled: bool,
}

/// A change to an integration; `None` leaves a field as it is. New credentials are
/// sealed under a fresh data key (key rotation).
#[derive(Debug, Clone, Default)]
pub struct IntegrationUpdate {
    /// New site URL or shop domain.
    pub base_url: Option<String>,
    /// New credentials.
    pub credentials: Option<Credentials>,
    /// Turn publishing and sync on or off.
    pub active: Option<bool>,
    /// Turn the scheduled sync on or off.
    pub sync_enabled: Option<bool>,
}

/// Errors of the integration services.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    /// The site or integration does not exist for this account.
    #[error("{0} not found")]
    NotFound(String),
    /// The platform is not one we support.
    #[error(transparent)]
    Unsupported(#[from] UnsupportedPlatform),
    /// The site already has an active integration for this platform.
    #[error("site already has an active {0} integration")]
    AlreadyExists(Platform),
    /// A field is invalid (URL, shop domain, empty credentials, credentials of another platform).
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The integration is switched off.
    #[error("integration {0} is not active")]
    Inactive(IntegrationId),
    /// This deployment has no key provider or platform clients.
    #[error("integrations are not configured in this deployment")]
    Unconfigured,
    /// Sealing or opening the credentials failed.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The store failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl IntegrationError {
    /// The stable code the API and the CLI report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Unsupported(e) => e.code(),
            Self::AlreadyExists(_) => "integration_exists",
            Self::Invalid { .. } => "validation_failed",
            Self::Inactive(_) => "integration_inactive",
            Self::Unconfigured => "integrations_unavailable",
            Self::Keys(e) => e.code(),
            Self::Repo(e) => e.code(),
        }
    }
}

/// Create, update, delete, get, list and test a site's integrations.
#[derive(Clone)]
pub struct IntegrationService {
    store: Arc<dyn ItemStore>,
    ports: Option<IntegrationPorts>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl IntegrationService {
    /// Integrations over `store`; until [`IntegrationService::with_ports`] every call
    /// that needs keys or platforms is `integrations_unavailable`.
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        Self { store, ports: None, clock, ids }
    }

    /// The same service with keys, platform clients and blobs.
    pub fn with_ports(mut self, ports: IntegrationPorts) -> Self {
        self.ports = Some(ports);
        self
    }

    /// The ports, or `integrations_unavailable`.
    pub fn ports(&self) -> Result<&IntegrationPorts, IntegrationError> {
        self.ports.as_ref().ok_or(IntegrationError::Unconfigured)
    }

    /// Creates an integration for `site` of `account`, sealing its credentials.
    pub async fn create(
        &self,
        account: &AccountId,
        site: &SiteId,
        input: NewIntegration,
    ) -> Result<SiteIntegration, IntegrationError> {
        let _ = (&self.store, &self.clock, &self.ids, account, site, input);
        todo!("H1: create")
    }

    /// Applies `change`; new credentials are re-sealed under a fresh data key.
    pub async fn update(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &IntegrationId,
        change: IntegrationUpdate,
    ) -> Result<SiteIntegration, IntegrationError> {
        let _ = (account, site, id, change);
        todo!("H1: update")
    }

    /// Deletes the integration (its publications stay as history).
    pub async fn delete(&self, account: &AccountId, site: &SiteId, id: &IntegrationId) -> Result<(), IntegrationError> {
        let _ = (account, site, id);
        todo!("H1: delete")
    }

    /// One integration of the site.
    pub async fn get(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &IntegrationId,
    ) -> Result<SiteIntegration, IntegrationError> {
        let _ = (account, site, id);
        todo!("H1: get")
    }

    /// Every integration of the site, oldest first.
    pub async fn list(&self, account: &AccountId, site: &SiteId) -> Result<Vec<SiteIntegration>, IntegrationError> {
        let _ = (account, site);
        todo!("H1: list")
    }

    /// The site's active integrations (one per platform).
    pub async fn active(&self, account: &AccountId, site: &SiteId) -> Result<Vec<SiteIntegration>, IntegrationError> {
        let _ = (account, site);
        todo!("H1: active")
    }

    /// Tests the connection, records the report and the health, and returns the report.
    /// A failing platform is a report with `success=false`, never an error.
    pub async fn test_connection(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &IntegrationId,
    ) -> Result<ConnectionReport, IntegrationError> {
        let _ = (account, site, id);
        todo!("H1: test_connection")
    }

    /// Where to send for this integration: its platform, address and opened credentials.
    pub async fn destination(&self, integration: &SiteIntegration) -> Result<Destination, IntegrationError> {
        let _ = integration;
        todo!("H1: destination")
    }
}
