//! Sync services: content sync (remote status, link and modified date of published
//! articles; remote deletion), metadata sync (categories, tags, authors) and sync
//! health (last success, consecutive failures, last error), on demand and scheduled.

use crate::domain::{AccountId, IntegrationHealth, IntegrationId, SiteId};
use crate::integration::service::{IntegrationError, IntegrationService};

/// What one sync of one integration did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncReport {
    /// The integration.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub integration_id: IntegrationId,
    /// The sync succeeded as a whole.
    pub success: bool,
    /// Publications checked.
    pub checked: u32,
    /// Publications whose remote status, link or modified date changed.
    pub changed: u32,
    /// Publications found deleted remotely.
    pub remote_deleted: u32,
    /// Categories (or blogs) pulled.
    pub categories: u32,
    /// Tags pulled.
    pub tags: u32,
    /// Authors pulled.
    pub authors: u32,
    /// The failure, when not a success.
    pub error: Option<crate::domain::PlatformFault>,
    /// Health after this sync.
    pub health: IntegrationHealth,
}

/// What a scheduled sweep did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SyncSweep {
    /// Integrations synced.
    pub synced: u32,
    /// Of which failed.
    pub failed: u32,
}

/// Content sync, metadata sync and health.
#[derive(Clone)]
pub struct SyncService {
    integrations: IntegrationService,
}

impl SyncService {
    /// Sync over the integration service (its store, vault and platforms).
    pub fn new(integrations: IntegrationService) -> Self {
        Self { integrations }
    }

    /// Syncs one integration now: content, then metadata; records health.
    pub async fn sync(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &IntegrationId,
    ) -> Result<SyncReport, IntegrationError> {
        let _ = (&self.integrations, account, site, id);
        todo!("H1: sync")
    }

    /// The integration's health.
    pub async fn health(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &IntegrationId,
    ) -> Result<IntegrationHealth, IntegrationError> {
        let _ = (account, site, id);
        todo!("H1: health")
    }

    /// Syncs every active, sync-enabled integration of every account (the EventBridge
    /// schedule and `igny8 serve`), one failure never stopping the others.
    pub async fn sync_all(&self) -> Result<SyncSweep, IntegrationError> {
        todo!("H1: sync_all")
    }
}
