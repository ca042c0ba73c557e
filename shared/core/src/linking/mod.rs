//! The linker service (issue 13, item 5): builds the site's link index from its
//! articles (drafts and approved by the URL they will have, published ones by their
//! live URL), suggests and applies internal links for one article or the whole site,
//! and runs as the run's linking stage after content. An article whose links changed
//! and that is published somewhere has its publications marked `needs_update`.

pub mod service;

pub use service::{ArticleLinks, LinkReport, LinkingService, RunLinkBatch, Suggestion};

use crate::repo::RepoError;

/// Why a linking request failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No such site or article for the caller.
    #[error("not found: {0}")]
    NotFound(String),
    /// Storage failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl LinkError {
    /// Stable code for the API and CLI.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Repo(e) => e.code(),
        }
    }
}
