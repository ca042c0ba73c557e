//! Sync services: content sync (remote status, link and modified date of published
//! articles; remote deletion), metadata sync (categories, tags, authors) and sync
//! health (last success, consecutive failures, last error), on demand and scheduled.

use std::sync::Arc;

use crate::domain::{AccountId, IntegrationHealth, IntegrationId, PublicationState, SiteId, SiteIntegration};
use crate::integration::service::{IntegrationError, IntegrationService};
use crate::ports::clock::rfc3339;
use crate::ports::PlatformError;
use crate::repo::PublicationRepo;

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

/// Publications read per page during content sync.
const SYNC_PAGE: usize = 100;

/// Integrations read per page by the scheduled sweep.
const SWEEP_PAGE: usize = 50;

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
    ///
    /// A platform failure ends the sync as a report with `success=false` (recorded as
    /// the integration's last error and health); only our own failures (store, keys)
    /// are errors.
    pub async fn sync(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &IntegrationId,
    ) -> Result<SyncReport, IntegrationError> {
        let integration = self.integrations.get(account, site, id).await?;
        if !integration.active {
            return Err(IntegrationError::Inactive(id.clone()));
        }
        let mut report = SyncReport {
            integration_id: id.clone(),
            success: false,
            checked: 0,
            changed: 0,
            remote_deleted: 0,
            categories: 0,
            tags: 0,
            authors: 0,
            error: None,
            health: integration.health.clone(),
        };
        let outcome = match self.sync_content(&integration, &mut report).await? {
            Ok(()) => self.sync_metadata(&integration, &mut report).await?,
            failed => failed,
        };
        let fault = outcome.as_ref().err().map(PlatformError::fault);
        let recorded = self.integrations.record_sync(&integration, fault.clone().map_or(Ok(()), Err)).await?;
        report.success = fault.is_none();
        report.error = fault;
        report.health = recorded.health;
        Ok(report)
    }

    /// Content sync: every publication of the integration with a remote id (and not
    /// known deleted) is fetched; its remote status, link and modified date are
    /// recorded when they changed, and a post gone remotely becomes `RemoteDeleted`.
    /// A record a publish holds right now is left to that publish.
    async fn sync_content(
        &self,
        integration: &SiteIntegration,
        report: &mut SyncReport,
    ) -> Result<Result<(), PlatformError>, IntegrationError> {
        let client = Arc::clone(self.integrations.platform_client(integration.platform)?);
        let destination = self.integrations.destination(integration).await?;
        let repo = PublicationRepo::new(Arc::clone(self.integrations.store()));
        let (site, id) = (&integration.site_id, &integration.id);
        let mut cursor = None;
        loop {
            let page = repo.for_integration(site, id, SYNC_PAGE, cursor).await?;
            for stored in page.items {
                let p = &stored.publication;
                let now_ms = self.integrations.clock().now_ms();
                let Some(remote_id) = p.remote_id.as_deref() else { continue };
                if p.account_id != integration.account_id
                    || p.state == PublicationState::RemoteDeleted
                    || stored.is_claimed(now_ms)
                {
                    continue;
                }
                report.checked += 1;
                let remote = match client.fetch_post(&destination, remote_id).await {
                    Ok(remote) => remote,
                    Err(e) => return Ok(Err(e)),
                };
                let mut next = p.clone();
                next.updated_at = rfc3339(now_ms);
                match remote {
                    None => {
                        next.state = PublicationState::RemoteDeleted;
                        if repo.record_remote(&stored, next).await? {
                            report.remote_deleted += 1;
                        }
                    }
                    Some(post) => {
                        let seen = (Some(post.status.clone()), post.url.clone(), post.modified.clone());
                        if seen == (p.remote_status.clone(), p.remote_url.clone(), p.remote_modified.clone()) {
                            continue;
                        }
                        (next.remote_status, next.remote_url, next.remote_modified) = seen;
                        if repo.record_remote(&stored, next).await? {
                            report.changed += 1;
                        }
                    }
                }
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(Ok(())),
            }
        }
    }

    /// Metadata sync: categories, tags and authors stored on the integration.
    async fn sync_metadata(
        &self,
        integration: &SiteIntegration,
        report: &mut SyncReport,
    ) -> Result<Result<(), PlatformError>, IntegrationError> {
        match self.integrations.sync_metadata(integration).await {
            Ok(metadata) => {
                let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
                report.categories = count(metadata.categories.len());
                report.tags = count(metadata.tags.len());
                report.authors = count(metadata.authors.len());
                Ok(Ok(()))
            }
            Err(IntegrationError::Platform(e)) => Ok(Err(e)),
            Err(e) => Err(e),
        }
    }

    /// The integration's health.
    pub async fn health(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &IntegrationId,
    ) -> Result<IntegrationHealth, IntegrationError> {
        Ok(self.integrations.get(account, site, id).await?.health)
    }

    /// Syncs every active, sync-enabled integration of every account (the EventBridge
    /// schedule and `igny8 serve`), one failure never stopping the others.
    pub async fn sync_all(&self) -> Result<SyncSweep, IntegrationError> {
        let mut sweep = SyncSweep::default();
        let mut cursor = None;
        loop {
            let (integrations, next) = self.integrations.sync_candidates(cursor, SWEEP_PAGE).await?;
            for i in integrations {
                sweep.synced += 1;
                match self.sync(&i.account_id, &i.site_id, &i.id).await {
                    Ok(report) if report.success => {}
                    Ok(report) => {
                        sweep.failed += 1;
                        let code = report.error.as_ref().map(|e| e.code.clone()).unwrap_or_default();
                        tracing::warn!(integration = %i.id, code, "scheduled sync failed");
                    }
                    Err(e) => {
                        sweep.failed += 1;
                        tracing::warn!(integration = %i.id, code = e.code(), error = %e, "scheduled sync failed");
                    }
                }
            }
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(sweep),
            }
        }
    }
}
