//! Validation and analysis of stored articles: the article as the rules read it (its
//! focus keyphrase from its cluster, its slug as publishing makes it, the site's host)
//! and the two reports.

use std::sync::Arc;

use serde::Serialize;

use igny8_seo::{Analysis, ArticleText, ValidationReport};

use super::OptimizationError;
use crate::domain::{AccountId, Content, ContentId, SiteId};
use crate::ports::{Clock, ItemStore};

/// An article's analysis with its validation, as the API and CLI show them.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContentAnalysis {
    /// The article.
    pub content_id: ContentId,
    /// The keyphrase it was scored for.
    pub focus_keyphrase: String,
    /// Score and every check.
    pub analysis: Analysis,
    /// Errors and warnings.
    pub validation: ValidationReport,
}

/// Validation and analysis over the store.
#[derive(Clone)]
pub struct ContentChecks {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
}

impl ContentChecks {
    /// Checks over the store.
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// The caller's article (not found for another tenant's).
    pub async fn content(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &ContentId,
    ) -> Result<Content, OptimizationError> {
        let _ = (account, site, id, &self.store, &self.clock);
        todo!("H-optimizer")
    }

    /// The article as the rules read it.
    pub async fn article_text(&self, content: &Content) -> Result<ArticleText, OptimizationError> {
        let _ = content;
        todo!("H-optimizer")
    }

    /// Validates the caller's article.
    pub async fn validate(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &ContentId,
    ) -> Result<ValidationReport, OptimizationError> {
        let _ = (account, site, id);
        todo!("H-optimizer")
    }

    /// Analyzes (and validates) the caller's article.
    pub async fn analyze(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &ContentId,
    ) -> Result<ContentAnalysis, OptimizationError> {
        let _ = (account, site, id);
        todo!("H-optimizer")
    }
}
