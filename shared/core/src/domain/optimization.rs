//! Optimization and linking records: what an optimization changed (kept for review)
//! and what a linking pass did.

use serde::{Deserialize, Serialize};

use super::{AccountId, ContentId, OptimizationId, SiteId};

/// The parts of an article the optimizer may rewrite, with the score they had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArticleVersion {
    /// Title.
    pub title: String,
    /// Meta description.
    pub meta_description: String,
    /// Body HTML.
    pub html: String,
    /// The analyzer's score of this version (0–100).
    pub score: u8,
}

/// One optimization of an article: before and after, kept for review whether or not
/// the rewrite was kept (it is kept only when it scores higher).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OptimizationRecord {
    /// Its id.
    pub id: OptimizationId,
    /// Owning tenant.
    pub account_id: AccountId,
    /// Owning site.
    pub site_id: SiteId,
    /// The article.
    pub content_id: ContentId,
    /// The checks that were flagged and sent to the provider.
    pub flagged: Vec<String>,
    /// The article before.
    pub before: ArticleVersion,
    /// The provider's rewrite.
    pub after: ArticleVersion,
    /// True when the rewrite scored higher and replaced the article.
    pub kept: bool,
    /// Credits charged for the call.
    pub credits: i64,
    /// The model that rewrote it.
    pub model: String,
    /// When (RFC 3339).
    pub created_at: String,
}
