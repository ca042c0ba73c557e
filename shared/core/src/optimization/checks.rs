//! Validation and analysis of stored articles: the article as the rules read it (its
//! focus keyphrase from its cluster, its slug as publishing makes it, the site's host)
//! and the two reports.

use std::sync::Arc;

use serde::Serialize;

use igny8_seo::{Analysis, ArticleText, ValidationReport};

use super::OptimizationError;
use crate::domain::{AccountId, Cluster, Content, ContentId, Idea, SiteId, WriterTask};
use crate::ports::{Clock, ItemStore};
use crate::publishing::article;
use crate::repo::{Records, SiteRepo};

/// The language articles are analyzed in while sites do not record one.
pub const DEFAULT_LANGUAGE: &str = "en";

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
    contents: Records<Content>,
    tasks: Records<WriterTask>,
    ideas: Records<Idea>,
    clusters: Records<Cluster>,
    sites: SiteRepo,
}

impl ContentChecks {
    /// Checks over the store.
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            contents: Records::new(Arc::clone(&store)),
            tasks: Records::new(Arc::clone(&store)),
            ideas: Records::new(Arc::clone(&store)),
            clusters: Records::new(Arc::clone(&store)),
            sites: SiteRepo::new(Arc::clone(&store)),
            store,
            clock,
        }
    }

    /// The store the checks read (the optimizer writes its records beside them).
    pub fn store(&self) -> &Arc<dyn ItemStore> {
        &self.store
    }

    /// The clock the optimizer dates its records with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The caller's article (not found for another tenant's).
    pub async fn content(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &ContentId,
    ) -> Result<Content, OptimizationError> {
        match self.contents.get(site, id.as_str()).await? {
            Some(content) if &content.account_id == account => Ok(content),
            _ => Err(OptimizationError::NotFound(format!("content {id}"))),
        }
    }

    /// The article as the rules read it.
    pub async fn article_text(&self, content: &Content) -> Result<ArticleText, OptimizationError> {
        let focus_keyphrase = if content.focus_keyphrase.trim().is_empty() {
            self.pillar_of(content).await?.unwrap_or_default()
        } else {
            content.focus_keyphrase.trim().to_owned()
        };
        let site_host = match self.sites.get(&content.site_id).await? {
            Some(site) if site.account_id == content.account_id => host_of(&site.domain),
            _ => String::new(),
        };
        // The fields as publishing validates and sends them; the keyphrase, language and
        // host come from the article's cluster and site.
        let slug = article::slugify(&content.title, content.id.as_str());
        Ok(ArticleText {
            focus_keyphrase,
            language: DEFAULT_LANGUAGE.to_owned(),
            site_host,
            ..article::article_text(content, &slug)
        })
    }

    /// The pillar keyword of the article's cluster, found through task → idea →
    /// cluster (articles written before the keyphrase was recorded on them).
    async fn pillar_of(&self, content: &Content) -> Result<Option<String>, OptimizationError> {
        let site = &content.site_id;
        let Some(task) = self.tasks.get(site, content.task_id.as_str()).await? else { return Ok(None) };
        let Some(idea) = self.ideas.get(site, task.idea_id.as_str()).await? else { return Ok(None) };
        let cluster = self.clusters.get(site, idea.cluster_id.as_str()).await?;
        Ok(cluster.map(|c| c.pillar_keyword).filter(|k| !k.trim().is_empty()).or(Some(idea.target_keyword)))
    }

    /// Validates the caller's article.
    pub async fn validate(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &ContentId,
    ) -> Result<ValidationReport, OptimizationError> {
        let content = self.content(account, site, id).await?;
        let article = self.article_text(&content).await?;
        Ok(igny8_seo::validate(&article))
    }

    /// Analyzes (and validates) the caller's article.
    pub async fn analyze(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &ContentId,
    ) -> Result<ContentAnalysis, OptimizationError> {
        let content = self.content(account, site, id).await?;
        let article = self.article_text(&content).await?;
        Ok(ContentAnalysis {
            content_id: content.id,
            analysis: igny8_seo::analyze(&article),
            validation: igny8_seo::validate(&article),
            focus_keyphrase: article.focus_keyphrase,
        })
    }
}

/// The host of a site's domain as links name it: lower case, without scheme,
/// credentials, port, path or trailing dot (`https://Blog.Example.com:443/x` →
/// `blog.example.com`).
pub fn host_of(domain: &str) -> String {
    let trimmed = domain.trim();
    let without_scheme = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
    let authority = without_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn hosts_are_normalised() {
        assert_eq!(host_of("example.com"), "example.com");
        assert_eq!(host_of(" https://Blog.Example.com:443/path?q#f "), "blog.example.com");
        assert_eq!(host_of("http://user:pw@www.example.org."), "www.example.org");
        assert_eq!(host_of("[::1]:8080"), "[::1]");
        assert_eq!(host_of(""), "");
    }
}
