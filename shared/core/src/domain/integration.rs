//! Integrations and publishing: a site's connection to its WordPress site or Shopify
//! store, the sealed credentials it uses, the review state of an article and the
//! deployment record of each article on each destination. Plain data, no I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::{AccountId, ContentId, ImageId, IntegrationId, SiteId};

/// A platform a site can publish to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// A self-hosted WordPress site through its REST API and an application password.
    Wordpress,
    /// A Shopify store through the Admin GraphQL API.
    Shopify,
}

impl Platform {
    /// Every supported platform.
    pub const ALL: [Platform; 2] = [Self::Wordpress, Self::Shopify];

    /// The wire name (`wordpress`, `shopify`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wordpress => "wordpress",
            Self::Shopify => "shopify",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A platform name nobody supports: refused at creation with a clear code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported platform {0:?}: expected one of wordpress, shopify")]
pub struct UnsupportedPlatform(pub String);

impl UnsupportedPlatform {
    /// The stable code the API and the CLI report.
    pub fn code(&self) -> &'static str {
        "unsupported_platform"
    }
}

impl FromStr for Platform {
    type Err = UnsupportedPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "wordpress" => Ok(Self::Wordpress),
            "shopify" => Ok(Self::Shopify),
            _ => Err(UnsupportedPlatform(s.to_string())),
        }
    }
}

/// The secrets an integration signs in with. Only ever held in memory: stored sealed
/// ([`SealedCredentials`]), never serialized into a response, and `Debug` redacts them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credentials {
    /// A WordPress user and one of its application passwords.
    WordpressAppPassword {
        /// The user's login name.
        username: String,
        /// The application password (spaces allowed, as WordPress shows it).
        app_password: String,
    },
    /// A Shopify Admin API access token (custom app or a long-lived token).
    ShopifyAccessToken {
        /// `shpat_…` or similar.
        access_token: String,
    },
    /// A Shopify app's client id and secret, exchanged for a 24-hour token by the
    /// client-credentials grant and refreshed when it expires.
    ShopifyClientCredentials {
        /// The app's client id.
        client_id: String,
        /// The app's client secret.
        client_secret: String,
    },
}

impl Credentials {
    /// The kind without the secret, for views and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::WordpressAppPassword { .. } => "wordpress_app_password",
            Self::ShopifyAccessToken { .. } => "shopify_access_token",
            Self::ShopifyClientCredentials { .. } => "shopify_client_credentials",
        }
    }

    /// The platform these credentials are for.
    pub fn platform(&self) -> Platform {
        match self {
            Self::WordpressAppPassword { .. } => Platform::Wordpress,
            Self::ShopifyAccessToken { .. } | Self::ShopifyClientCredentials { .. } => Platform::Shopify,
        }
    }

    /// The secret strings, so tests and log scrubbing can look for them.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            Self::WordpressAppPassword { app_password, .. } => vec![app_password.as_str()],
            Self::ShopifyAccessToken { access_token } => vec![access_token.as_str()],
            Self::ShopifyClientCredentials { client_secret, .. } => vec![client_secret.as_str()],
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, redacted)", self.kind())
    }
}

/// Credentials sealed by envelope encryption: AES-256-GCM under a data key of their
/// own, the data key wrapped by the key provider (KMS, or the local key file), both
/// bound to the account, site and integration as encryption context / associated data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedCredentials {
    /// `AES-256-GCM`.
    pub algorithm: String,
    /// The key that wrapped the data key (a KMS key ARN, or `local:<fingerprint>`).
    pub key_id: String,
    /// The wrapped data key, base64.
    pub wrapped_key: String,
    /// The 96-bit nonce, base64.
    pub nonce: String,
    /// Ciphertext and tag of the credentials' JSON, base64.
    pub ciphertext: String,
    /// Which kind of credentials is inside (not secret).
    pub kind: String,
    /// When they were sealed (RFC 3339); re-sealed on every credential update.
    pub sealed_at: String,
}

/// Outcome of the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    /// Never synced.
    #[default]
    Never,
    /// The last sync succeeded.
    Ok,
    /// The last sync failed (see `last_error`).
    Failed,
}

/// How an integration is doing, derived from its recent syncs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Nothing checked yet.
    #[default]
    Unknown,
    /// The last check succeeded.
    Healthy,
    /// One or two checks in a row failed.
    Degraded,
    /// Three or more checks in a row failed, or the credentials were refused.
    Failing,
}

/// A platform's error as the user should see it: its own code and a clear message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlatformFault {
    /// Our stable code (`bad_credentials`, `forbidden_by_platform`, `platform_unreachable`…).
    pub code: String,
    /// The platform's own code when it gave one (`rest_not_logged_in`, `ACCESS_DENIED`…).
    pub platform_code: Option<String>,
    /// What happened, without any secret.
    pub message: String,
}

/// Sync health of an integration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntegrationHealth {
    /// Derived status.
    pub status: HealthStatus,
    /// Last successful check or sync (RFC 3339).
    pub last_success_at: Option<String>,
    /// Last failed check or sync (RFC 3339).
    pub last_failure_at: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// The last failure.
    pub last_error: Option<PlatformFault>,
}

/// A platform's rate-limit state as last reported (Shopify's `throttleStatus`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateLimitState {
    /// Bucket size.
    pub maximum_available: f64,
    /// Points left now.
    pub currently_available: f64,
    /// Points restored per second.
    pub restore_rate: f64,
}

/// The remote user (WordPress) or shop (Shopify) the credentials sign in as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemoteIdentity {
    /// Remote id.
    pub id: String,
    /// Display name (user name or shop name).
    pub name: String,
    /// WordPress roles (empty for Shopify).
    pub roles: Vec<String>,
}

/// What a connection test found. Failures are reports (`success=false`), never errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionReport {
    /// The credentials work and the API answered.
    pub success: bool,
    /// The platform tested.
    pub platform: Platform,
    /// Why not, when `success` is false.
    pub error: Option<PlatformFault>,
    /// Who the credentials sign in as.
    pub identity: Option<RemoteIdentity>,
    /// The user may publish posts (WordPress `publish_posts`; Shopify `write_content`).
    pub can_publish: bool,
    /// The user may upload files (WordPress `upload_files`; Shopify `write_files` or `write_content`).
    pub can_upload: bool,
    /// The REST root actually used (WordPress) or the GraphQL endpoint (Shopify).
    pub api_root: Option<String>,
    /// The platform's version when exposed (WordPress), or the API version that
    /// answered (Shopify).
    pub version: Option<String>,
    /// Granted access scopes (Shopify).
    pub scopes: Vec<String>,
    /// Rate-limit state (Shopify).
    pub rate_limit: Option<RateLimitState>,
    /// When it was tested (RFC 3339).
    pub checked_at: String,
}

impl ConnectionReport {
    /// A report of `platform` that has found nothing yet: a client fills it in as the
    /// checks pass, so a check that fails leaves `success=false` and what was learnt.
    pub fn unchecked(platform: Platform, checked_at: String) -> Self {
        Self {
            success: false,
            platform,
            error: None,
            identity: None,
            can_publish: false,
            can_upload: false,
            api_root: None,
            version: None,
            scopes: Vec::new(),
            rate_limit: None,
            checked_at,
        }
    }
}

/// A category, tag or author on the remote site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemoteTerm {
    /// Remote id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Slug (or handle).
    pub slug: String,
}

/// The site's taxonomy and authors as last pulled by metadata sync.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SiteMetadata {
    /// Categories (WordPress) or blogs (Shopify).
    pub categories: Vec<RemoteTerm>,
    /// Tags.
    pub tags: Vec<RemoteTerm>,
    /// Authors.
    pub authors: Vec<RemoteTerm>,
    /// When it was pulled (RFC 3339).
    pub synced_at: String,
}

/// A site's connection to one platform. At most one active integration per site and
/// platform. The credentials are stored sealed and never leave the service layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteIntegration {
    /// The integration id.
    pub id: IntegrationId,
    /// Owning tenant (taken from the site).
    pub account_id: AccountId,
    /// The site it publishes for.
    pub site_id: SiteId,
    /// WordPress or Shopify.
    pub platform: Platform,
    /// WordPress site URL, or the shop's `*.myshopify.com` domain.
    pub base_url: String,
    /// The sealed credentials.
    pub credentials: SealedCredentials,
    /// Publishing and sync use it.
    pub active: bool,
    /// The scheduled sync includes it.
    pub sync_enabled: bool,
    /// Last sync attempt (RFC 3339).
    pub last_sync_at: Option<String>,
    /// Outcome of the last sync.
    pub sync_status: SyncStatus,
    /// The last sync's error message.
    pub last_error: Option<String>,
    /// Health over recent checks.
    pub health: IntegrationHealth,
    /// The last connection test.
    pub connection: Option<ConnectionReport>,
    /// Categories, tags and authors from the last metadata sync.
    pub metadata: Option<SiteMetadata>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// An integration as the API and CLI show it: everything but the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntegrationView {
    /// The integration id.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: IntegrationId,
    /// Owning tenant.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub account_id: AccountId,
    /// The site.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub site_id: SiteId,
    /// WordPress or Shopify.
    pub platform: Platform,
    /// Site URL or shop domain.
    pub base_url: String,
    /// Which kind of credentials is stored (never the credentials).
    pub credentials_kind: String,
    /// The key that wraps them.
    pub key_id: String,
    /// When they were last sealed.
    pub credentials_sealed_at: String,
    /// Publishing and sync use it.
    pub active: bool,
    /// The scheduled sync includes it.
    pub sync_enabled: bool,
    /// Last sync attempt.
    pub last_sync_at: Option<String>,
    /// Outcome of the last sync.
    pub sync_status: SyncStatus,
    /// The last sync's error message.
    pub last_error: Option<String>,
    /// Health.
    pub health: IntegrationHealth,
    /// The last connection test.
    pub connection: Option<ConnectionReport>,
    /// Categories, tags and authors from the last metadata sync.
    pub metadata: Option<SiteMetadata>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

impl From<&SiteIntegration> for IntegrationView {
    fn from(i: &SiteIntegration) -> Self {
        Self {
            id: i.id.clone(),
            account_id: i.account_id.clone(),
            site_id: i.site_id.clone(),
            platform: i.platform,
            base_url: i.base_url.clone(),
            credentials_kind: i.credentials.kind.clone(),
            key_id: i.credentials.key_id.clone(),
            credentials_sealed_at: i.credentials.sealed_at.clone(),
            active: i.active,
            sync_enabled: i.sync_enabled,
            last_sync_at: i.last_sync_at.clone(),
            sync_status: i.sync_status,
            last_error: i.last_error.clone(),
            health: i.health.clone(),
            connection: i.connection.clone(),
            metadata: i.metadata.clone(),
            created_at: i.created_at.clone(),
            updated_at: i.updated_at.clone(),
        }
    }
}

/// Where an article is in review. Only approved articles are published unless the
/// request says otherwise; publishing moves them to `published`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// Written, not yet approved.
    #[default]
    Draft,
    /// Approved for publishing.
    Approved,
    /// Published to at least one destination.
    Published,
}

/// The status an article is given on the remote site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RemoteStatus {
    /// A draft on the remote site.
    Draft,
    /// Live now.
    Publish,
    /// Scheduled for `publish_at` (WordPress `future`; Shopify `publishDate`).
    Scheduled,
}

/// Where one article's deployment to one destination stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PublicationState {
    /// Claimed: media or the post may be partly sent; a retry resumes from the record.
    InProgress,
    /// The remote post exists and matches the last publish.
    Published,
    /// The last attempt failed (see `last_error`); the next publish retries.
    Failed,
    /// Sync found the remote post deleted.
    RemoteDeleted,
}

/// One image of the article as uploaded to the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishedMedia {
    /// Our image.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub image_id: ImageId,
    /// The remote media id.
    pub remote_id: String,
    /// Its URL on the remote site.
    pub url: String,
}

/// The deployment record of one article on one integration: written before every
/// remote call that creates something, so a retry updates instead of posting twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Publication {
    /// Owning tenant.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub account_id: AccountId,
    /// The site.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub site_id: SiteId,
    /// The article.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub content_id: ContentId,
    /// The destination.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub integration_id: IntegrationId,
    /// Its platform.
    pub platform: Platform,
    /// Where it stands.
    pub state: PublicationState,
    /// The status asked for on the remote site.
    pub requested_status: RemoteStatus,
    /// When a scheduled article goes live (RFC 3339).
    pub publish_at: Option<String>,
    /// The slug sent (and looked up when a crash lost the remote id).
    pub slug: String,
    /// The remote post or article id, stored as soon as it is known.
    pub remote_id: Option<String>,
    /// Its public URL.
    pub remote_url: Option<String>,
    /// Its status on the remote site as last seen (`publish`, `draft`, `future`…).
    pub remote_status: Option<String>,
    /// Its modification time on the remote site as last seen.
    pub remote_modified: Option<String>,
    /// Images uploaded, so a retry never uploads one twice.
    pub media: Vec<PublishedMedia>,
    /// The featured image the remote site confirmed, if any.
    pub featured_media: Option<String>,
    /// SEO fields the site accepted.
    pub seo_accepted: Vec<String>,
    /// SEO fields sent that the site does not expose (reported, not pretended).
    pub seo_rejected: Vec<String>,
    /// Categories or tags the platform user may not create, left off the post.
    #[serde(default)]
    pub skipped_terms: Vec<String>,
    /// Attempts so far.
    pub attempts: u32,
    /// The last attempt's failure.
    pub last_error: Option<PlatformFault>,
    /// Its content changed after publishing (e.g. new internal links): republish.
    pub needs_update: bool,
    /// First successful publish (RFC 3339).
    pub published_at: Option<String>,
    /// Last change of this record (RFC 3339).
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_unknown_ones_are_refused() {
        assert_eq!("WordPress".parse::<Platform>(), Ok(Platform::Wordpress));
        assert_eq!("shopify".parse::<Platform>(), Ok(Platform::Shopify));
        let err = "wix".parse::<Platform>().err();
        assert_eq!(err.as_ref().map(UnsupportedPlatform::code), Some("unsupported_platform"));
    }

    #[test]
    fn credentials_never_show_in_debug() {
        let c = Credentials::WordpressAppPassword { username: "u".into(), app_password: "abcd efgh".into() };
        let shown = format!("{c:?}");
        assert!(!shown.contains("abcd"), "{shown}");
        assert_eq!(c.secrets(), vec!["abcd efgh"]);
    }
}
