//! The linker service over the store.

use std::sync::Arc;

use serde::Serialize;

use super::LinkError;
use crate::domain::{AccountId, ContentId, RunId, SiteId};
use crate::ports::{Clock, ItemStore};

/// One suggested link: where, to what, on which words.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suggestion {
    /// The article linked to.
    pub target: ContentId,
    /// Its title.
    pub target_title: String,
    /// The href.
    pub url: String,
    /// The words of the source that carry the link.
    pub anchor: String,
    /// Relevance (higher first).
    pub relevance: f64,
}

/// An article's suggested (or applied) links.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArticleLinks {
    /// The article linked from.
    pub content_id: ContentId,
    /// Its title.
    pub title: String,
    /// The links, in body order.
    pub links: Vec<Suggestion>,
}

/// What applying links did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkReport {
    /// Articles looked at.
    pub articles: u64,
    /// Articles whose body changed.
    pub changed: u64,
    /// Links added.
    pub links_added: u64,
    /// Links of ours whose href changed (their target went live).
    pub links_updated: u64,
    /// Publications marked `needs_update` (published articles whose links changed).
    pub marked_for_update: u64,
    /// Per changed article, the links added.
    pub details: Vec<ArticleLinks>,
}

/// One batch of the run's linking stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunLinkBatch {
    /// Articles of the run linked in this batch.
    pub linked: u32,
    /// Links added.
    pub links_added: u32,
    /// Articles of the run still waiting.
    pub remaining: u64,
}

/// The linker.
#[derive(Clone)]
pub struct LinkingService {
    store: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
}

impl LinkingService {
    /// The linker over the store.
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Suggested links for one article or (None) every article of the site; nothing
    /// is written.
    pub async fn suggest(
        &self,
        account: &AccountId,
        site: &SiteId,
        content: Option<&ContentId>,
    ) -> Result<Vec<ArticleLinks>, LinkError> {
        let _ = (account, site, content, &self.store, &self.clock);
        todo!("H-link-service")
    }

    /// Applies links to one article or (None) every article of the site.
    pub async fn apply(
        &self,
        account: &AccountId,
        site: &SiteId,
        content: Option<&ContentId>,
    ) -> Result<LinkReport, LinkError> {
        let _ = (account, site, content);
        todo!("H-link-service")
    }

    /// The run's linking stage: links up to `limit` of the run's articles not linked
    /// yet (against every article of the site).
    pub async fn link_run_batch(
        &self,
        account: &AccountId,
        site: &SiteId,
        run: &RunId,
        limit: u32,
    ) -> Result<RunLinkBatch, LinkError> {
        let _ = (account, site, run, limit);
        todo!("H-link-service")
    }
}
