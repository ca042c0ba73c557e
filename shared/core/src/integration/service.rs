//! IntegrationService: per-site integrations, one active per site and platform, the
//! account taken from the site; connection tests recorded with the integration's health.

use std::sync::Arc;

use crate::domain::{
    AccountId, ConnectionReport, Credentials, HealthStatus, IntegrationHealth, IntegrationId, Platform, PlatformFault,
    Site, SiteId, SiteIntegration, SiteMetadata, SyncStatus, UnsupportedPlatform,
};
use crate::integration::vault::CredentialVault;
use crate::ports::clock::rfc3339;
use crate::ports::{
    BlobStore, Clock, Destination, IdGenerator, IdGeneratorExt, ItemStore, KeyError, PlatformError, Platforms,
    PublishingPlatform, SealContext, StoreError,
};
use crate::repo::integrations::{IntegrationRepo, IntegrationWrite, StoredIntegration};
use crate::repo::{RepoError, SiteRepo};
use crate::retry::{retry_on_conflict, Attempt, RetryPolicy};

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
    /// The platform refused or failed a call (metadata sync); its message has no secret.
    #[error(transparent)]
    Platform(#[from] PlatformError),
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
            Self::Platform(e) => e.code(),
        }
    }
}

/// Failures in a row after which an integration is `failing` rather than `degraded`.
pub const FAILING_AFTER: u32 = 3;

/// Applies one check's outcome (a connection test or a sync) to the health: a success
/// makes it healthy and clears the failure count; a failure counts, is recorded, and
/// makes it degraded, or failing after [`FAILING_AFTER`] in a row or when the
/// credentials were refused.
pub fn apply_health(health: &mut IntegrationHealth, outcome: Result<(), &PlatformFault>, now: &str) {
    match outcome {
        Ok(()) => {
            health.status = HealthStatus::Healthy;
            health.consecutive_failures = 0;
            health.last_success_at = Some(now.to_string());
        }
        Err(fault) => {
            health.consecutive_failures = health.consecutive_failures.saturating_add(1);
            health.last_failure_at = Some(now.to_string());
            health.last_error = Some(fault.clone());
            let refused = fault.code == "bad_credentials";
            health.status = if refused || health.consecutive_failures >= FAILING_AFTER {
                HealthStatus::Failing
            } else {
                HealthStatus::Degraded
            };
        }
    }
}

/// The site URL of a WordPress integration: `http(s)://host[:port][/path]`, no query,
/// fragment or user info, scheme and host lower-cased, trailing slashes trimmed.
pub fn normalize_wordpress_url(input: &str) -> Result<String, IntegrationError> {
    let invalid = |message: &str| IntegrationError::Invalid { field: "base_url", message: message.to_string() };
    let text = input.trim();
    let lower = text.to_ascii_lowercase();
    let (scheme, rest) = if lower.starts_with("https://") {
        ("https", &text[8..])
    } else if lower.starts_with("http://") {
        ("http", &text[7..])
    } else {
        return Err(invalid("a WordPress site URL starts with http:// or https://"));
    };
    if rest.contains(['?', '#']) {
        return Err(invalid("a WordPress site URL has no query or fragment"));
    }
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("a WordPress site URL has no spaces"));
    }
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if host.contains('@') {
        return Err(invalid("a WordPress site URL carries no user name or password"));
    }
    let host_ok = !host.is_empty()
        && !host.starts_with(['.', '-', ':'])
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
    if !host_ok {
        return Err(invalid("a WordPress site URL needs a host name"));
    }
    Ok(format!("{scheme}://{}{}", host.to_ascii_lowercase(), path.trim_end_matches('/')))
}

/// The shop domain of a Shopify integration (`name.myshopify.com`), also accepted as a
/// URL (`https://name.myshopify.com/admin` is reduced to the domain).
pub fn normalize_shop_domain(input: &str) -> Result<String, IntegrationError> {
    let invalid = || IntegrationError::Invalid {
        field: "base_url",
        message: "a Shopify shop is its name.myshopify.com domain".to_string(),
    };
    let lower = input.trim().to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")).unwrap_or(&lower);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let name = host.strip_suffix(".myshopify.com").ok_or_else(invalid)?;
    let name_ok = !name.is_empty()
        && !name.starts_with('-')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !name_ok {
        return Err(invalid());
    }
    Ok(host.to_string())
}

/// The address of `platform` normalized: a WordPress URL or a shop domain.
pub fn normalize_base_url(platform: Platform, input: &str) -> Result<String, IntegrationError> {
    match platform {
        Platform::Wordpress => normalize_wordpress_url(input),
        Platform::Shopify => normalize_shop_domain(input),
    }
}

/// Refuses credentials of another platform or with an empty field.
fn check_credentials(platform: Platform, credentials: &Credentials) -> Result<(), IntegrationError> {
    let invalid = |message: String| IntegrationError::Invalid { field: "credentials", message };
    if credentials.platform() != platform {
        return Err(invalid(format!("{} credentials cannot sign in to {platform}", credentials.platform().as_str())));
    }
    let fields: Vec<(&str, &str)> = match credentials {
        Credentials::WordpressAppPassword { username, app_password } => {
            vec![("username", username), ("app_password", app_password)]
        }
        Credentials::ShopifyAccessToken { access_token } => vec![("access_token", access_token)],
        Credentials::ShopifyClientCredentials { client_id, client_secret } => {
            vec![("client_id", client_id), ("client_secret", client_secret)]
        }
    };
    match fields.iter().find(|(_, value)| value.trim().is_empty()) {
        Some((name, _)) => Err(invalid(format!("{name} is empty"))),
        None => Ok(()),
    }
}

fn seal_context(integration: &SiteIntegration) -> SealContext {
    SealContext {
        account_id: integration.account_id.clone(),
        site_id: integration.site_id.clone(),
        integration_id: integration.id.clone(),
    }
}

/// A store error worth another attempt (a transaction conflict or throttling).
fn transient(error: &RepoError) -> bool {
    matches!(error, RepoError::Store(e) if e.is_transient())
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

    /// The store, for the sync and publishing services built on this one.
    pub fn store(&self) -> &Arc<dyn ItemStore> {
        &self.store
    }

    /// The clock every record's time comes from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The id generator.
    pub fn ids(&self) -> &Arc<dyn IdGenerator> {
        &self.ids
    }

    /// The client of `platform`, or `integrations_unavailable` when this deployment has none.
    pub fn platform_client(&self, platform: Platform) -> Result<&Arc<dyn PublishingPlatform>, IntegrationError> {
        self.ports()?.platforms.get(platform).ok_or(IntegrationError::Unconfigured)
    }

    fn repo(&self) -> IntegrationRepo {
        IntegrationRepo::new(Arc::clone(&self.store))
    }

    fn now(&self) -> String {
        rfc3339(self.clock.now_ms())
    }

    fn retry_policy() -> RetryPolicy {
        RetryPolicy { max_attempts: 50, ..RetryPolicy::default() }
    }

    fn contended() -> IntegrationError {
        IntegrationError::Repo(RepoError::Store(StoreError::Conflict))
    }

    /// The site, if it exists and belongs to `account`.
    async fn site_of(&self, account: &AccountId, site: &SiteId) -> Result<Site, IntegrationError> {
        match SiteRepo::new(Arc::clone(&self.store)).get(site).await? {
            Some(s) if s.account_id == *account => Ok(s),
            _ => Err(IntegrationError::NotFound(format!("site {site}"))),
        }
    }

    /// The stored integration, if it exists in this site and account.
    async fn read(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &IntegrationId,
    ) -> Result<StoredIntegration, IntegrationError> {
        match self.repo().get(site, id).await? {
            Some(s) if s.integration.account_id == *account => Ok(s),
            _ => Err(IntegrationError::NotFound(format!("integration {id}"))),
        }
    }

    /// Reads, changes with `change` and writes back the integration until the write
    /// finds the version it read; returns what was written.
    async fn modify(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &IntegrationId,
        change: impl Fn(&mut SiteIntegration, &str) -> Result<(), IntegrationError>,
    ) -> Result<SiteIntegration, IntegrationError> {
        let change = &change;
        retry_on_conflict(
            &Self::retry_policy(),
            move |_| async move {
                let read = self.read(account, site, id).await?;
                let mut next = read.integration.clone();
                let now = self.now();
                change(&mut next, &now)?;
                next.updated_at = now;
                match self.repo().replace(&read, &next).await {
                    Ok(IntegrationWrite::Done) => Ok(Attempt::Done(next)),
                    Ok(IntegrationWrite::GuardTaken) => Err(IntegrationError::AlreadyExists(next.platform)),
                    Ok(IntegrationWrite::Stale) => Ok(Attempt::RetryNow),
                    Err(e) if transient(&e) => Ok(Attempt::Retry),
                    Err(e) => Err(e.into()),
                }
            },
            |_| Self::contended(),
        )
        .await
    }

    /// Creates an integration for `site` of `account`, sealing its credentials.
    pub async fn create(
        &self,
        account: &AccountId,
        site: &SiteId,
        input: NewIntegration,
    ) -> Result<SiteIntegration, IntegrationError> {
        let platform: Platform = input.platform.parse()?;
        let site = self.site_of(account, site).await?;
        let base_url = normalize_base_url(platform, &input.base_url)?;
        check_credentials(platform, &input.credentials)?;
        let vault = &self.ports()?.vault;
        let now = self.now();
        let id: IntegrationId = self.ids.generate();
        let context =
            SealContext { account_id: site.account_id.clone(), site_id: site.id.clone(), integration_id: id.clone() };
        let credentials = vault.seal(&context, &input.credentials, &now).await?;
        let integration = SiteIntegration {
            id,
            account_id: site.account_id,
            site_id: site.id,
            platform,
            base_url,
            credentials,
            active: true,
            sync_enabled: input.sync_enabled,
            last_sync_at: None,
            sync_status: SyncStatus::Never,
            last_error: None,
            health: IntegrationHealth::default(),
            connection: None,
            metadata: None,
            created_at: now.clone(),
            updated_at: now,
        };
        let integration = &integration;
        retry_on_conflict(
            &Self::retry_policy(),
            move |_| async move {
                match self.repo().create(integration).await {
                    Ok(IntegrationWrite::Done) => Ok(Attempt::Done(())),
                    Ok(IntegrationWrite::GuardTaken) => Err(IntegrationError::AlreadyExists(integration.platform)),
                    // The fresh id already exists: only a broken id generator does that.
                    Ok(IntegrationWrite::Stale) => Err(IntegrationError::Repo(RepoError::Store(StoreError::Backend(
                        format!("integration id {} is already taken", integration.id),
                    )))),
                    Err(e) if transient(&e) => Ok(Attempt::Retry),
                    Err(e) => Err(e.into()),
                }
            },
            |_| Self::contended(),
        )
        .await?;
        tracing::info!(integration = %integration.id, site = %integration.site_id, platform = %platform, "integration created");
        Ok(integration.clone())
    }

    /// Applies `change`; new credentials are re-sealed under a fresh data key.
    pub async fn update(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &IntegrationId,
        change: IntegrationUpdate,
    ) -> Result<SiteIntegration, IntegrationError> {
        let current = self.read(account, site, id).await?.integration;
        let platform = current.platform;
        let base_url = change.base_url.as_deref().map(|url| normalize_base_url(platform, url)).transpose()?;
        let sealed = match &change.credentials {
            Some(credentials) => {
                check_credentials(platform, credentials)?;
                let vault = &self.ports()?.vault;
                Some(vault.seal(&seal_context(&current), credentials, &self.now()).await?)
            }
            None => None,
        };
        self.modify(account, site, id, |next, _| {
            if let Some(url) = &base_url {
                next.base_url.clone_from(url);
            }
            if let Some(sealed) = &sealed {
                next.credentials = sealed.clone();
            }
            if let Some(active) = change.active {
                next.active = active;
            }
            if let Some(sync_enabled) = change.sync_enabled {
                next.sync_enabled = sync_enabled;
            }
            Ok(())
        })
        .await
    }

    /// Deletes the integration (its publications stay as history).
    pub async fn delete(&self, account: &AccountId, site: &SiteId, id: &IntegrationId) -> Result<(), IntegrationError> {
        retry_on_conflict(
            &Self::retry_policy(),
            move |_| async move {
                let read = self.read(account, site, id).await?;
                match self.repo().delete(&read).await {
                    Ok(IntegrationWrite::Done) => Ok(Attempt::Done(())),
                    Ok(IntegrationWrite::GuardTaken | IntegrationWrite::Stale) => Ok(Attempt::RetryNow),
                    Err(e) if transient(&e) => Ok(Attempt::Retry),
                    Err(e) => Err(e.into()),
                }
            },
            |_| Self::contended(),
        )
        .await
    }

    /// One integration of the site.
    pub async fn get(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &IntegrationId,
    ) -> Result<SiteIntegration, IntegrationError> {
        Ok(self.read(account, site, id).await?.integration)
    }

    /// Every integration of the site, oldest first.
    pub async fn list(&self, account: &AccountId, site: &SiteId) -> Result<Vec<SiteIntegration>, IntegrationError> {
        self.site_of(account, site).await?;
        let mut all = self.repo().list(site).await?;
        all.retain(|i| i.account_id == *account);
        Ok(all)
    }

    /// The site's active integrations (one per platform).
    pub async fn active(&self, account: &AccountId, site: &SiteId) -> Result<Vec<SiteIntegration>, IntegrationError> {
        let mut all = self.list(account, site).await?;
        all.retain(|i| i.active);
        Ok(all)
    }

    /// Tests the connection, records the report and the health, and returns the report.
    /// A failing platform is a report with `success=false`, never an error.
    pub async fn test_connection(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &IntegrationId,
    ) -> Result<ConnectionReport, IntegrationError> {
        let integration = self.read(account, site, id).await?.integration;
        let client = self.platform_client(integration.platform)?;
        let destination = self.open(&integration).await?;
        let report = client.test_connection(&destination).await;
        let fault = (!report.success).then(|| {
            report.error.clone().unwrap_or_else(|| PlatformFault {
                code: "platform_protocol_error".into(),
                platform_code: None,
                message: "the connection test failed without saying why".into(),
            })
        });
        let stored = report.clone();
        self.modify(account, site, id, |next, now| {
            next.connection = Some(stored.clone());
            apply_health(&mut next.health, fault.as_ref().map_or(Ok(()), Err), now);
            Ok(())
        })
        .await?;
        Ok(report)
    }

    /// Opens the credentials whatever the integration's state (for the connection test).
    async fn open(&self, integration: &SiteIntegration) -> Result<Destination, IntegrationError> {
        let vault = &self.ports()?.vault;
        let credentials = vault.open(&seal_context(integration), &integration.credentials).await?;
        Ok(Destination { platform: integration.platform, base_url: integration.base_url.clone(), credentials })
    }

    /// Where to send for this integration: its platform, address and opened credentials.
    /// The only way credentials leave the service; refused for a switched-off integration.
    pub async fn destination(&self, integration: &SiteIntegration) -> Result<Destination, IntegrationError> {
        if !integration.active {
            return Err(IntegrationError::Inactive(integration.id.clone()));
        }
        self.open(integration).await
    }

    /// Metadata sync: pulls the site's categories (or blogs), tags and authors through
    /// its platform and stores them on the integration, stamped with this service's
    /// clock. A platform failure is [`IntegrationError::Platform`]; health is recorded
    /// by [`IntegrationService::record_sync`].
    pub async fn sync_metadata(&self, integration: &SiteIntegration) -> Result<SiteMetadata, IntegrationError> {
        let client = self.platform_client(integration.platform)?;
        let destination = self.destination(integration).await?;
        let mut metadata = client.fetch_metadata(&destination).await?;
        metadata.synced_at = self.now();
        let stored = metadata.clone();
        self.modify(&integration.account_id, &integration.site_id, &integration.id, |next, _| {
            next.metadata = Some(stored.clone());
            Ok(())
        })
        .await?;
        Ok(metadata)
    }

    /// Records a sync's outcome: last sync time, sync status, last error, and the health
    /// by the same rules as a connection test ([`apply_health`]).
    pub async fn record_sync(
        &self,
        integration: &SiteIntegration,
        outcome: Result<(), PlatformFault>,
    ) -> Result<SiteIntegration, IntegrationError> {
        let outcome = &outcome;
        self.modify(&integration.account_id, &integration.site_id, &integration.id, |next, now| {
            next.last_sync_at = Some(now.to_string());
            match outcome {
                Ok(()) => {
                    next.sync_status = SyncStatus::Ok;
                    next.last_error = None;
                }
                Err(fault) => {
                    next.sync_status = SyncStatus::Failed;
                    next.last_error = Some(fault.message.clone());
                }
            }
            apply_health(&mut next.health, outcome.as_ref().map(|_| ()), now);
            Ok(())
        })
        .await
    }

    /// One page of the active, sync-enabled integrations of every account (the
    /// scheduled sync's view), oldest first, and the cursor of the next page.
    pub async fn sync_candidates(
        &self,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<(Vec<SiteIntegration>, Option<String>), IntegrationError> {
        let page = self.repo().sync_candidates(limit, cursor).await?;
        Ok((page.items, page.cursor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wordpress_urls_are_normalized_or_refused() {
        let ok = |s: &str| normalize_wordpress_url(s).ok();
        assert_eq!(ok(" HTTPS://Example.COM/ "), Some("https://example.com".into()));
        assert_eq!(ok("http://127.0.0.1:8080/blog//"), Some("http://127.0.0.1:8080/blog".into()));
        for bad in [
            "example.com",
            "ftp://example.com",
            "https://",
            "https:///path",
            "https://a.com/?p=1",
            "https://a.com/#x",
            "https://user:pw@a.com",
            "https://a b.com",
        ] {
            let err = normalize_wordpress_url(bad).err();
            assert_eq!(err.as_ref().map(IntegrationError::code), Some("validation_failed"), "{bad}");
        }
    }

    #[test]
    fn shop_domains_are_reduced_or_refused() {
        let ok = |s: &str| normalize_shop_domain(s).ok();
        assert_eq!(ok("my-shop.myshopify.com"), Some("my-shop.myshopify.com".into()));
        assert_eq!(ok("https://My-Shop.myshopify.com/admin?x=1"), Some("my-shop.myshopify.com".into()));
        for bad in
            ["example.com", ".myshopify.com", "https://shop.example.com", "a_b.myshopify.com", "-a.myshopify.com"]
        {
            assert!(normalize_shop_domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_must_fit_the_platform_and_not_be_empty() {
        let wp = Credentials::WordpressAppPassword { username: "u".into(), app_password: "p".into() };
        assert!(check_credentials(Platform::Wordpress, &wp).is_ok());
        assert!(check_credentials(Platform::Shopify, &wp).is_err());
        let empty = Credentials::WordpressAppPassword { username: "u".into(), app_password: "  ".into() };
        let err = check_credentials(Platform::Wordpress, &empty).err();
        assert!(matches!(&err, Some(IntegrationError::Invalid { message, .. }) if message == "app_password is empty"));
        let token = Credentials::ShopifyAccessToken { access_token: String::new() };
        assert!(check_credentials(Platform::Shopify, &token).is_err());
        let client = Credentials::ShopifyClientCredentials { client_id: "id".into(), client_secret: "s".into() };
        assert!(check_credentials(Platform::Shopify, &client).is_ok());
    }

    #[test]
    fn health_degrades_then_fails_and_recovers() {
        let mut health = IntegrationHealth::default();
        let fault = |code: &str| PlatformFault { code: code.into(), platform_code: None, message: "m".into() };
        let unreachable = fault("platform_unreachable");
        apply_health(&mut health, Err(&unreachable), "t1");
        assert_eq!((health.status, health.consecutive_failures), (HealthStatus::Degraded, 1));
        apply_health(&mut health, Err(&unreachable), "t2");
        assert_eq!(health.status, HealthStatus::Degraded);
        apply_health(&mut health, Err(&unreachable), "t3");
        assert_eq!((health.status, health.consecutive_failures), (HealthStatus::Failing, 3));
        assert_eq!(health.last_failure_at.as_deref(), Some("t3"));
        apply_health(&mut health, Ok(()), "t4");
        assert_eq!((health.status, health.consecutive_failures), (HealthStatus::Healthy, 0));
        assert_eq!(health.last_success_at.as_deref(), Some("t4"));
        apply_health(&mut health, Err(&fault("bad_credentials")), "t5");
        assert_eq!((health.status, health.consecutive_failures), (HealthStatus::Failing, 1));
    }
}
