//! The publishing-platform port: what the integration, publishing and sync services
//! need from a WordPress site or a Shopify store. One adapter per platform lives in
//! `igny8-platforms` (reqwest); tests use the real WordPress on loopback and a fake
//! Shopify that follows Shopify's documented responses.
//!
//! Every method takes the [`Destination`] with opened credentials, so adapters hold no
//! tenant state beyond caches (a Shopify client-credentials token, a REST root).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{ConnectionReport, Credentials, Platform, PlatformFault, RemoteStatus, SiteMetadata};

/// Where to send: the platform, its address and the opened credentials.
#[derive(Clone)]
pub struct Destination {
    /// WordPress or Shopify.
    pub platform: Platform,
    /// WordPress site URL, or the shop's `*.myshopify.com` domain.
    pub base_url: String,
    /// Opened credentials: never logged (`Debug` redacts them).
    pub credentials: Credentials,
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination")
            .field("platform", &self.platform)
            .field("base_url", &self.base_url)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// An image to upload before the article that shows it.
#[derive(Debug, Clone)]
pub struct MediaUpload {
    /// File name sent in `Content-Disposition` (e.g. `img_…​.png`).
    pub filename: String,
    /// MIME type (`image/png`).
    pub content_type: String,
    /// The file.
    pub bytes: Vec<u8>,
    /// Alt text, set on the remote media.
    pub alt_text: String,
    /// Title or caption.
    pub title: String,
}

/// Media as the remote site stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia {
    /// Remote id (WordPress attachment id; Shopify file id).
    pub id: String,
    /// Public URL of the file.
    pub url: String,
}

/// One SEO field of an article: how publications report what a platform accepted
/// (`seo_accepted` / `seo_rejected` hold [`SeoField::name`]s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SeoField {
    /// The `<title>` search results show.
    Title,
    /// The meta description.
    Description,
    /// The focus keyphrase SEO plugins score the article for.
    FocusKeyphrase,
    /// The canonical URL.
    Canonical,
    /// Open Graph `og:title`.
    OgTitle,
    /// Open Graph `og:description`.
    OgDescription,
    /// Open Graph `og:image` (a URL).
    OgImage,
}

impl SeoField {
    /// Every field, in the order payloads and reports list them.
    pub const ALL: [SeoField; 7] = [
        Self::Title,
        Self::Description,
        Self::FocusKeyphrase,
        Self::Canonical,
        Self::OgTitle,
        Self::OgDescription,
        Self::OgImage,
    ];

    /// The stable name recorded on a publication.
    pub fn name(self) -> &'static str {
        match self {
            Self::Title => "seo_title",
            Self::Description => "seo_description",
            Self::FocusKeyphrase => "focus_keyphrase",
            Self::Canonical => "canonical_url",
            Self::OgTitle => "og_title",
            Self::OgDescription => "og_description",
            Self::OgImage => "og_image",
        }
    }
}

/// SEO fields of an article, sent to whatever fields the site exposes
/// (`publishing::metadata` fills them and maps them to each platform's fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeoFields {
    /// SEO title.
    pub title: Option<String>,
    /// Meta description.
    pub description: Option<String>,
    /// Focus keyphrase.
    pub focus_keyphrase: Option<String>,
    /// Canonical URL: the live URL of a post being republished.
    pub canonical_url: Option<String>,
    /// Open Graph title.
    pub og_title: Option<String>,
    /// Open Graph description.
    pub og_description: Option<String>,
    /// Open Graph image: the uploaded featured image's URL.
    pub og_image: Option<String>,
}

impl SeoFields {
    /// The value of one field.
    pub fn get(&self, field: SeoField) -> Option<&str> {
        match field {
            SeoField::Title => self.title.as_deref(),
            SeoField::Description => self.description.as_deref(),
            SeoField::FocusKeyphrase => self.focus_keyphrase.as_deref(),
            SeoField::Canonical => self.canonical_url.as_deref(),
            SeoField::OgTitle => self.og_title.as_deref(),
            SeoField::OgDescription => self.og_description.as_deref(),
            SeoField::OgImage => self.og_image.as_deref(),
        }
    }

    /// The fields that have a value, in [`SeoField::ALL`] order.
    pub fn present(&self) -> Vec<(SeoField, &str)> {
        SeoField::ALL.iter().filter_map(|f| self.get(*f).map(|v| (*f, v))).collect()
    }
}

/// An article as sent to a platform.
#[derive(Debug, Clone)]
pub struct ArticlePayload {
    /// Title.
    pub title: String,
    /// Slug (WordPress `slug`, Shopify `handle`); also how a lost remote id is found.
    pub slug: String,
    /// Body HTML, with image URLs already pointing at the uploaded media.
    pub html: String,
    /// Excerpt / summary.
    pub excerpt: String,
    /// Draft, publish now, or scheduled.
    pub status: RemoteStatus,
    /// When a scheduled article goes live (RFC 3339).
    pub publish_at: Option<String>,
    /// Category names (WordPress categories; Shopify: the first names the blog).
    pub categories: Vec<String>,
    /// Tag names, resolved or created by the adapter.
    pub tags: Vec<String>,
    /// Remote id of the featured image, already uploaded.
    pub featured_media: Option<String>,
    /// Author name where the platform takes one (Shopify requires it).
    pub author_name: Option<String>,
    /// SEO title, description and keyphrase.
    pub seo: SeoFields,
}

/// A post or article as the platform answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemotePost {
    /// Remote id.
    pub id: String,
    /// Public link.
    pub url: Option<String>,
    /// Remote status (`publish`, `draft`, `future`, `trash`…).
    pub status: String,
    /// Remote modification time.
    pub modified: Option<String>,
    /// The slug the platform kept (it may add `-2`).
    pub slug: String,
    /// Featured image the platform actually set (compare: WordPress ignores unknown ids).
    pub featured_media: Option<String>,
    /// SEO fields it accepted.
    pub seo_accepted: Vec<String>,
    /// SEO fields sent that it does not expose.
    pub seo_rejected: Vec<String>,
    /// Categories or tags the user may not create (`<taxonomy>:<name>`), left off the
    /// post so the article still goes out; reported, never silently dropped.
    pub skipped_terms: Vec<String>,
}

/// Why a platform call failed. Messages never contain credentials.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlatformError {
    /// The credentials were refused (WordPress 401 `rest_not_logged_in`,
    /// `incorrect_password`, `invalid_username`; Shopify 401).
    #[error("{message}")]
    BadCredentials {
        /// The platform's code.
        platform_code: Option<String>,
        /// What it said.
        message: String,
    },
    /// Signed in, but not allowed (WordPress 403 `rest_cannot_publish`; Shopify 403 or
    /// `ACCESS_DENIED`).
    #[error("{message}")]
    Forbidden {
        /// The platform's code.
        platform_code: Option<String>,
        /// What it said.
        message: String,
    },
    /// The remote object does not exist (any more).
    #[error("{message}")]
    NotFound {
        /// What it said.
        message: String,
    },
    /// 429 or Shopify `THROTTLED`: try again after the delay.
    #[error("{message}")]
    Throttled {
        /// `Retry-After`, or what Shopify's throttle status implies.
        retry_after: Option<Duration>,
        /// What it said.
        message: String,
    },
    /// The platform answered 5xx.
    #[error("{message}")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The platform's code.
        platform_code: Option<String>,
        /// What it said.
        message: String,
    },
    /// No answer: DNS, refused connection, timeout.
    #[error("{message}")]
    Unreachable {
        /// What happened.
        message: String,
    },
    /// The TLS handshake or certificate check failed.
    #[error("{message}")]
    Tls {
        /// What happened.
        message: String,
    },
    /// The site answers but has no REST API (WordPress) or GraphQL endpoint.
    #[error("{message}")]
    NoApi {
        /// What happened.
        message: String,
    },
    /// The platform refused the request as invalid (4xx, Shopify `userErrors`).
    #[error("{message}")]
    Rejected {
        /// HTTP status (200 for GraphQL user errors).
        status: u16,
        /// The platform's code or the user error's field.
        platform_code: Option<String>,
        /// What it said.
        message: String,
    },
    /// The answer was not what the platform documents.
    #[error("unexpected answer from the platform: {message}")]
    Protocol {
        /// What was wrong.
        message: String,
    },
}

impl PlatformError {
    /// The stable code the API and the CLI report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadCredentials { .. } => "bad_credentials",
            Self::Forbidden { .. } => "forbidden_by_platform",
            Self::NotFound { .. } => "remote_not_found",
            Self::Throttled { .. } => "platform_throttled",
            Self::Unavailable { .. } => "platform_unavailable",
            Self::Unreachable { .. } => "platform_unreachable",
            Self::Tls { .. } => "platform_tls_error",
            Self::NoApi { .. } => "platform_api_missing",
            Self::Rejected { .. } => "platform_rejected",
            Self::Protocol { .. } => "platform_protocol_error",
        }
    }

    /// The platform's own code, when it gave one.
    pub fn platform_code(&self) -> Option<&str> {
        match self {
            Self::BadCredentials { platform_code, .. }
            | Self::Forbidden { platform_code, .. }
            | Self::Unavailable { platform_code, .. }
            | Self::Rejected { platform_code, .. } => platform_code.as_deref(),
            _ => None,
        }
    }

    /// True when the same request may succeed later unchanged (429, 5xx, unreachable).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Unavailable { .. } | Self::Unreachable { .. })
    }

    /// The fault as recorded on an integration or a publication.
    pub fn fault(&self) -> PlatformFault {
        PlatformFault {
            code: self.code().to_string(),
            platform_code: self.platform_code().map(str::to_string),
            message: self.to_string(),
        }
    }
}

/// One platform's client.
#[async_trait]
pub trait PublishingPlatform: Send + Sync {
    /// The platform it speaks to.
    fn platform(&self) -> Platform;

    /// Discovers the API, signs in and reports who and what the credentials may do.
    /// Every failure is a report with `success=false`, never an error.
    async fn test_connection(&self, destination: &Destination) -> ConnectionReport;

    /// Uploads one image (alt text set) and returns the remote media.
    async fn upload_media(&self, destination: &Destination, media: &MediaUpload) -> Result<RemoteMedia, PlatformError>;

    /// The post with this slug in any status, when a crash lost its id.
    async fn find_post_by_slug(
        &self,
        destination: &Destination,
        slug: &str,
    ) -> Result<Option<RemotePost>, PlatformError>;

    /// Creates the post; categories and tags are resolved to ids (created when missing).
    async fn create_post(
        &self,
        destination: &Destination,
        article: &ArticlePayload,
    ) -> Result<RemotePost, PlatformError>;

    /// Updates the post `remote_id` with the same payload rules as `create_post`.
    async fn update_post(
        &self,
        destination: &Destination,
        remote_id: &str,
        article: &ArticlePayload,
    ) -> Result<RemotePost, PlatformError>;

    /// The post as it is now; `None` when it was deleted (or trashed) remotely.
    async fn fetch_post(&self, destination: &Destination, remote_id: &str)
        -> Result<Option<RemotePost>, PlatformError>;

    /// Categories (or blogs), tags and authors of the site.
    async fn fetch_metadata(&self, destination: &Destination) -> Result<SiteMetadata, PlatformError>;
}

/// The platform clients a deployment has, by platform.
#[derive(Clone, Default)]
pub struct Platforms {
    clients: BTreeMap<Platform, Arc<dyn PublishingPlatform>>,
}

impl Platforms {
    /// No clients: every platform is unavailable.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the client of its platform.
    pub fn with(mut self, client: Arc<dyn PublishingPlatform>) -> Self {
        self.clients.insert(client.platform(), client);
        self
    }

    /// The client for `platform`, if this deployment has one.
    pub fn get(&self, platform: Platform) -> Option<&Arc<dyn PublishingPlatform>> {
        self.clients.get(&platform)
    }
}

impl fmt::Debug for Platforms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clients.keys()).finish()
    }
}
