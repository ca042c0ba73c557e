//! The linker service over the store.
//!
//! Every pass reads the site once — its articles, clusters, ideas, tasks, keywords
//! and publications, one paged query each, never a read per article pair — builds the
//! link index over every article, then injects links into the articles asked for.
//! A changed article is written with a condition that its body is still the one read
//! (a concurrent edit is read again and linked anew, never overwritten), in one
//! transaction with the `needs_update` flag of each of its publications that has a
//! remote post.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::LinkError;
use crate::domain::{
    AccountId, Cluster, ClusterId, Content, ContentId, Idea, IdeaId, Keyword, KeywordId, RunId, Site, SiteId, TaskId,
    WriterTask,
};
use crate::ports::clock::rfc3339;
use crate::ports::{Clock, Condition, ItemStore, StoreError, UpdateAction, WriteOp};
use crate::publishing::article::slugify;
use crate::repo::pipeline::{key as record_key, transact_counted};
use crate::repo::{PublicationRepo, Records, RepoError, SiteRepo, StoredPublication};
use crate::retry::RetryPolicy;
use igny8_seo::link::{inject, Candidate, Injection, LinkDoc, LinkIndex, LinkOptions, LINK_MARKER};

/// Most of its cluster's keywords an article is indexed with besides its keyphrase:
/// enough to find the phrases it shares with others, few enough that a huge cluster
/// does not make every article look related to everything.
pub const MAX_CLUSTER_KEYWORDS: usize = 20;

/// Attempts to write one article whose body or publications changed under the pass
/// (each attempt reads it again); a publication held by a live publish for longer
/// leaves the article for the next pass.
const WRITE_ATTEMPTS: u32 = 8;

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
    options: LinkOptions,
}

/// The site as one pass sees it: its articles (id order), the index over all of
/// them, and their publications by article.
struct SiteArticles {
    site: Site,
    contents: Vec<Content>,
    index: LinkIndex,
    titles: HashMap<String, String>,
    publications: HashMap<String, Vec<StoredPublication>>,
}

/// What writing one article came to.
enum Written {
    /// Written: the injection it carries, and the publications flagged with it.
    Done { injection: Injection, candidates: Vec<Candidate>, flagged: u64 },
    /// Nothing to write (no link to add or update; or, for the run, already linked).
    Unchanged,
    /// Deleted meanwhile.
    Gone,
    /// Kept changing (or a live publish held a publication) through every attempt.
    Busy,
}

impl LinkingService {
    /// The linker over the store.
    pub fn new(store: Arc<dyn ItemStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock, options: LinkOptions::default() }
    }

    /// The same linker with other engine options (candidates kept, links per 300
    /// words): for the benches and tests that tune them.
    pub fn with_options(mut self, options: LinkOptions) -> Self {
        self.options = options;
        self
    }

    /// Suggested links for one article or (None) every article of the site that has
    /// any; nothing is written.
    pub async fn suggest(
        &self,
        account: &AccountId,
        site: &SiteId,
        content: Option<&ContentId>,
    ) -> Result<Vec<ArticleLinks>, LinkError> {
        let articles = self.load(account, site).await?;
        let chosen = articles.chosen(content)?;
        let mut out = Vec::with_capacity(chosen.len());
        for c in chosen {
            let candidates = articles.index.candidates(c.id.as_str(), &self.options);
            let injection = inject(&c.html, c.id.as_str(), &candidates, &self.options);
            let links = article_links(c, &injection, &candidates, &articles);
            if content.is_some() || !links.links.is_empty() {
                out.push(links);
            }
        }
        Ok(out)
    }

    /// Applies links to one article or (None) every article of the site: each article
    /// whose body changes is written (conditioned on the body read), and every
    /// publication of it with a remote post is flagged `needs_update`. A second pass
    /// over the same site changes nothing.
    pub async fn apply(
        &self,
        account: &AccountId,
        site: &SiteId,
        content: Option<&ContentId>,
    ) -> Result<LinkReport, LinkError> {
        let articles = self.load(account, site).await?;
        let chosen = articles.chosen(content)?;
        let mut report = LinkReport::default();
        for c in chosen {
            report.articles += 1;
            let Written::Done { injection, candidates, flagged } = self.write(&articles, c, false).await? else {
                continue;
            };
            report.changed += 1;
            report.links_added += injection.added.len() as u64;
            report.links_updated += injection.updated.len() as u64;
            report.marked_for_update += flagged;
            report.details.push(article_links(c, &injection, &candidates, &articles));
        }
        Ok(report)
    }

    /// The run's linking stage: links up to `limit` of the run's articles not linked
    /// yet (against every article of the site, so articles of one run link to each
    /// other and to earlier ones), each written with `linked_at` whether or not a
    /// link fitted; returns how many of the run's articles still wait. A replayed
    /// batch changes nothing (linked articles carry `linked_at`, and injection is
    /// idempotent).
    pub async fn link_run_batch(
        &self,
        account: &AccountId,
        site: &SiteId,
        run: &RunId,
        limit: u32,
    ) -> Result<RunLinkBatch, LinkError> {
        let articles = self.load(account, site).await?;
        let waiting: Vec<&Content> =
            articles.contents.iter().filter(|c| &c.run_id == run && c.linked_at.is_none()).collect();
        let mut batch = RunLinkBatch::default();
        let mut settled = 0u64;
        for c in waiting.iter().take(usize::try_from(limit.max(1)).unwrap_or(usize::MAX)) {
            match self.write(&articles, c, true).await? {
                Written::Done { injection, .. } => {
                    batch.linked += 1;
                    batch.links_added += u32::try_from(injection.added.len()).unwrap_or(u32::MAX);
                    settled += 1;
                }
                // Linked by a replay of this batch meanwhile, or deleted: no longer waiting.
                Written::Unchanged | Written::Gone => settled += 1,
                Written::Busy => {}
            }
        }
        batch.remaining = (waiting.len() as u64).saturating_sub(settled);
        Ok(batch)
    }

    /// Reads the site (one query per kind of record) and builds its link index.
    async fn load(&self, account: &AccountId, site_id: &SiteId) -> Result<SiteArticles, LinkError> {
        let store = &self.store;
        let site = SiteRepo::new(Arc::clone(store))
            .get(site_id)
            .await?
            .filter(|s| &s.account_id == account)
            .ok_or_else(|| LinkError::NotFound(format!("site {site_id}")))?;
        let contents = Records::<Content>::new(Arc::clone(store)).all(site_id).await?;
        let clusters = Records::<Cluster>::new(Arc::clone(store)).all(site_id).await?;
        let ideas = Records::<Idea>::new(Arc::clone(store)).all(site_id).await?;
        let tasks = Records::<WriterTask>::new(Arc::clone(store)).all(site_id).await?;
        let keywords = Records::<Keyword>::new(Arc::clone(store)).all(site_id).await?;
        let mut publications: HashMap<String, Vec<StoredPublication>> = HashMap::new();
        for p in PublicationRepo::new(Arc::clone(store)).for_site(site_id).await? {
            publications.entry(p.publication.content_id.to_string()).or_default().push(p);
        }
        let docs = link_docs(&site, &contents, &Related::new(&clusters, &ideas, &tasks, &keywords), &publications);
        let titles = docs.iter().map(|d| (d.key.clone(), d.title.clone())).collect();
        let index = LinkIndex::build(docs, &self.options);
        Ok(SiteArticles { site, contents, index, titles, publications })
    }

    /// Links one article and writes it when its body changed (or, `stamp`, always
    /// with `linked_at`, for the run's stage), reading it again after a lost race.
    async fn write(&self, articles: &SiteArticles, read: &Content, stamp: bool) -> Result<Written, LinkError> {
        let key = read.id.as_str();
        let repo = PublicationRepo::new(Arc::clone(&self.store));
        let policy =
            RetryPolicy { max_attempts: WRITE_ATTEMPTS, base: Duration::from_millis(5), cap: Duration::from_secs(1) };
        let mut current = read.clone();
        let mut publications = articles.publications.get(key).cloned().unwrap_or_default();
        for attempt in 0..policy.max_attempts {
            if stamp && current.linked_at.is_some() {
                return Ok(Written::Unchanged);
            }
            let candidates = articles.index.candidates(key, &self.options);
            let injection = inject(&current.html, key, &candidates, &self.options);
            if !injection.changed() && !stamp {
                return Ok(Written::Unchanged);
            }
            let now_ms = self.clock.now_ms();
            let now = rfc3339(now_ms);
            let mut actions = vec![UpdateAction::set("linked_at", now.clone())];
            let mut writes = Vec::new();
            if injection.changed() {
                actions.push(UpdateAction::set("html", injection.html.clone()));
                for p in
                    publications.iter().filter(|p| p.publication.remote_id.is_some() && !p.publication.needs_update)
                {
                    writes.push(repo.flag_for_update(p, &now, now_ms)?);
                }
            }
            let flagged = writes.len() as u64;
            let condition = Condition::eq("html", current.html.clone());
            let update = WriteOp::Update {
                key: record_key::<Content>(&articles.site.id, key),
                actions,
                condition: Some(condition),
            };
            writes.insert(0, update);
            match transact_counted(&*self.store, writes).await {
                Ok(()) => return Ok(Written::Done { injection, candidates, flagged }),
                Err(RepoError::Store(StoreError::ConditionFailed(_))) => {
                    policy.backoff(attempt).await;
                    let records = Records::<Content>::new(Arc::clone(&self.store));
                    let Some(again) = records.get(&articles.site.id, key).await? else {
                        return Ok(Written::Gone);
                    };
                    current = again;
                    publications = repo.for_content(&articles.site.id, &current.id).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        tracing::warn!(content = %read.id, "article kept changing while it was linked; left for the next pass");
        Ok(Written::Busy)
    }
}

impl SiteArticles {
    /// The article asked for (not found unless it is the site's), or every article.
    fn chosen(&self, content: Option<&ContentId>) -> Result<Vec<&Content>, LinkError> {
        match content {
            None => Ok(self.contents.iter().collect()),
            Some(id) => self
                .contents
                .iter()
                .find(|c| &c.id == id)
                .map(|c| vec![c])
                .ok_or_else(|| LinkError::NotFound(format!("content {id}"))),
        }
    }
}

/// An article's links as the API shows them, in the order they stand in the body.
fn article_links(
    content: &Content,
    injection: &Injection,
    candidates: &[Candidate],
    articles: &SiteArticles,
) -> ArticleLinks {
    let relevance: HashMap<&str, f64> = candidates.iter().map(|c| (c.target.as_str(), c.relevance)).collect();
    let ids: HashMap<&str, &ContentId> = articles.contents.iter().map(|c| (c.id.as_str(), &c.id)).collect();
    let position = |target: &str| injection.html.find(&format!("{LINK_MARKER}=\"{target}\"")).unwrap_or(usize::MAX);
    let mut placed: Vec<_> =
        injection.added.iter().filter_map(|p| Some((position(&p.target), p, *ids.get(p.target.as_str())?))).collect();
    placed.sort_by_key(|(at, _, _)| *at);
    let links = placed
        .into_iter()
        .map(|(_, p, id)| Suggestion {
            target: id.clone(),
            target_title: articles.titles.get(&p.target).cloned().unwrap_or_default(),
            url: p.url.clone(),
            anchor: p.anchor.clone(),
            relevance: relevance.get(p.target.as_str()).copied().unwrap_or(0.0),
        })
        .collect();
    ArticleLinks { content_id: content.id.clone(), title: content.title.clone(), links }
}

/// The planner's records an article is found through: task → idea → cluster, and
/// the cluster's keywords.
struct Related<'a> {
    clusters: HashMap<&'a ClusterId, &'a Cluster>,
    ideas: HashMap<&'a IdeaId, &'a Idea>,
    tasks: HashMap<&'a TaskId, &'a WriterTask>,
    keywords: HashMap<&'a KeywordId, &'a Keyword>,
}

impl<'a> Related<'a> {
    fn new(clusters: &'a [Cluster], ideas: &'a [Idea], tasks: &'a [WriterTask], keywords: &'a [Keyword]) -> Self {
        Self {
            clusters: clusters.iter().map(|c| (&c.id, c)).collect(),
            ideas: ideas.iter().map(|i| (&i.id, i)).collect(),
            tasks: tasks.iter().map(|t| (&t.id, t)).collect(),
            keywords: keywords.iter().map(|k| (&k.id, k)).collect(),
        }
    }

    fn idea_of(&self, content: &Content) -> Option<&'a Idea> {
        let task = self.tasks.get(&content.task_id)?;
        self.ideas.get(&task.idea_id).copied()
    }

    fn cluster_of(&self, idea: Option<&Idea>) -> Option<&'a Cluster> {
        self.clusters.get(&idea?.cluster_id).copied()
    }
}

/// The site's articles as the link engines see them: keyed by content id, pointing
/// at the live URL of a publication that has one, else at the URL the article will
/// have on the site (`https://<domain>/<slug>/`), with its keyphrase (the cluster's
/// pillar when the article recorded none), its cluster's keywords and its idea's
/// secondary keywords, and its cluster as topic.
fn link_docs(
    site: &Site,
    contents: &[Content],
    related: &Related<'_>,
    publications: &HashMap<String, Vec<StoredPublication>>,
) -> Vec<LinkDoc> {
    let base = site_base(&site.domain);
    contents
        .iter()
        .map(|c| {
            let idea = related.idea_of(c);
            let cluster = related.cluster_of(idea);
            let focus = if c.focus_keyphrase.trim().is_empty() {
                cluster.map(|cl| cl.pillar_keyword.clone()).unwrap_or_default()
            } else {
                c.focus_keyphrase.clone()
            };
            let members = cluster
                .into_iter()
                .flat_map(|cl| cl.keyword_ids.iter())
                .filter_map(|id| related.keywords.get(id).map(|k| k.keyword.as_str()))
                .take(MAX_CLUSTER_KEYWORDS);
            let secondary = idea.into_iter().flat_map(|i| i.secondary_keywords.iter().map(String::as_str));
            let keywords = distinct_phrases(&focus, members.chain(secondary));
            LinkDoc {
                key: c.id.to_string(),
                url: live_url(publications.get(c.id.as_str()))
                    .unwrap_or_else(|| format!("{base}/{}/", slugify(&c.title, c.id.as_str()))),
                title: c.title.clone(),
                focus_keyphrase: focus,
                keywords,
                topic: cluster.map(|cl| cl.id.to_string()).unwrap_or_default(),
                html: c.html.clone(),
            }
        })
        .collect()
}

/// The public URL of an article's publication with one (the first by integration id,
/// so every pass picks the same).
fn live_url(publications: Option<&Vec<StoredPublication>>) -> Option<String> {
    let live: BTreeMap<String, &str> = publications?
        .iter()
        .filter_map(|p| {
            let url = p.publication.remote_url.as_deref().filter(|u| !u.trim().is_empty())?;
            Some((p.publication.integration_id.to_string(), url))
        })
        .collect();
    live.into_values().next().map(str::to_owned)
}

/// `https://<domain>` of a site whose domain may have been saved with a scheme or a
/// trailing slash.
fn site_base(domain: &str) -> String {
    let d = domain.trim();
    let d = d.strip_prefix("https://").or_else(|| d.strip_prefix("http://")).unwrap_or(d);
    format!("https://{}", d.trim_end_matches('/'))
}

/// The phrases, trimmed, once each (case-insensitively) and never the keyphrase itself.
fn distinct_phrases<'a>(focus: &str, phrases: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen: HashSet<String> = HashSet::from([focus.trim().to_lowercase()]);
    phrases.map(str::trim).filter(|p| !p.is_empty() && seen.insert(p.to_lowercase())).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        ClusterStatus, ContentStatus, IdeaStatus, IntegrationId, KeywordStatus, Platform, Publication,
        PublicationState, RemoteStatus, ReviewStatus, SiteStatus, TaskStatus,
    };

    fn site() -> Site {
        Site {
            id: SiteId::derive("s"),
            account_id: AccountId::derive("a"),
            name: "Blog".into(),
            domain: "https://blog.example.com/".into(),
            status: SiteStatus::Active,
            created_at: String::new(),
        }
    }

    fn keyword(text: &str) -> Keyword {
        Keyword {
            id: KeywordId::derive(text),
            account_id: AccountId::derive("a"),
            site_id: SiteId::derive("s"),
            keyword: text.into(),
            volume: 10,
            difficulty: None,
            cpc: None,
            intent: None,
            status: KeywordStatus::Clustered,
            cluster_id: Some(ClusterId::derive("c")),
            created_at: String::new(),
        }
    }

    fn records(n_keywords: usize) -> (Vec<Cluster>, Vec<Idea>, Vec<WriterTask>, Vec<Keyword>) {
        let mut keywords: Vec<Keyword> = (0..n_keywords).map(|i| keyword(&format!("garden tool {i}"))).collect();
        keywords.push(keyword("Garden Tools"));
        let cluster = Cluster {
            id: ClusterId::derive("c"),
            account_id: AccountId::derive("a"),
            site_id: SiteId::derive("s"),
            run_id: RunId::derive("r"),
            name: "garden".into(),
            pillar_keyword: "garden tools".into(),
            keyword_ids: keywords.iter().rev().map(|k| k.id.clone()).collect(),
            intent: "informational".into(),
            total_volume: 0,
            description: String::new(),
            status: ClusterStatus::IdeasGenerated,
            created_at: String::new(),
        };
        let idea = Idea {
            id: IdeaId::derive("i"),
            account_id: AccountId::derive("a"),
            site_id: SiteId::derive("s"),
            cluster_id: cluster.id.clone(),
            run_id: RunId::derive("r"),
            title: "Garden tools".into(),
            outline: vec![],
            target_keyword: "garden tools".into(),
            secondary_keywords: vec!["pruning shears".into(), " garden tools ".into(), "".into()],
            word_target: 800,
            content_type: "guide".into(),
            status: IdeaStatus::Queued,
            created_at: String::new(),
        };
        let task = WriterTask {
            id: TaskId::derive("t"),
            account_id: AccountId::derive("a"),
            site_id: SiteId::derive("s"),
            idea_id: idea.id.clone(),
            run_id: RunId::derive("r"),
            status: TaskStatus::Written,
            created_at: String::new(),
        };
        (vec![cluster], vec![idea], vec![task], keywords)
    }

    fn content(id: &str, title: &str, focus: &str) -> Content {
        Content {
            id: ContentId::derive(id),
            account_id: AccountId::derive("a"),
            site_id: SiteId::derive("s"),
            task_id: TaskId::derive("t"),
            run_id: RunId::derive("r"),
            title: title.into(),
            html: "<p>Body</p>".into(),
            word_count: 1,
            meta_description: String::new(),
            status: ContentStatus::Draft,
            review: ReviewStatus::default(),
            focus_keyphrase: focus.into(),
            linked_at: None,
            created_at: String::new(),
        }
    }

    fn publication(content: &Content, integration: &str, url: Option<&str>) -> StoredPublication {
        StoredPublication {
            publication: Publication {
                account_id: content.account_id.clone(),
                site_id: content.site_id.clone(),
                content_id: content.id.clone(),
                integration_id: IntegrationId::derive(integration),
                platform: Platform::Wordpress,
                state: PublicationState::Published,
                requested_status: RemoteStatus::Publish,
                publish_at: None,
                slug: "x".into(),
                remote_id: url.map(|_| "7".into()),
                remote_url: url.map(str::to_owned),
                remote_status: None,
                remote_modified: None,
                media: vec![],
                featured_media: None,
                seo_accepted: vec![],
                seo_rejected: vec![],
                skipped_terms: vec![],
                attempts: 1,
                last_error: None,
                needs_update: false,
                published_at: None,
                updated_at: String::new(),
            },
            version: 1,
            claim_token: None,
            claim_ms: None,
        }
    }

    #[test]
    fn a_draft_points_at_its_site_url_and_a_published_article_at_its_live_url() {
        let (clusters, ideas, tasks, keywords) = records(2);
        let related = Related::new(&clusters, &ideas, &tasks, &keywords);
        let draft = content("d", "Best Garden Tools, 2026!", "");
        let live = content("l", "Pruning", "pruning shears");
        let publications = HashMap::from([(
            live.id.to_string(),
            vec![publication(&live, "b", Some("https://blog.example.com/?p=7")), publication(&live, "a", None)],
        )]);
        let docs = link_docs(&site(), &[draft.clone(), live.clone()], &related, &publications);
        assert_eq!(docs[0].url, "https://blog.example.com/best-garden-tools-2026/");
        assert_eq!(docs[1].url, "https://blog.example.com/?p=7");
        assert_eq!(docs[0].key, draft.id.to_string());
        assert_eq!(docs[0].topic, ClusterId::derive("c").to_string());
    }

    #[test]
    fn the_keyphrase_falls_back_to_the_pillar_and_keywords_are_capped_and_distinct() {
        let (clusters, ideas, tasks, keywords) = records(40);
        let related = Related::new(&clusters, &ideas, &tasks, &keywords);
        let docs =
            link_docs(&site(), &[content("d", "T", ""), content("e", "T", "own phrase")], &related, &HashMap::new());
        assert_eq!(docs[0].focus_keyphrase, "garden tools", "the cluster's pillar");
        assert_eq!(docs[1].focus_keyphrase, "own phrase", "the article's own keyphrase wins");
        // The first member is "Garden Tools" (the pillar, dropped); 19 more members, then
        // the idea's one new secondary keyword.
        assert_eq!(docs[0].keywords.len(), MAX_CLUSTER_KEYWORDS - 1 + 1, "{:?}", docs[0].keywords);
        assert_eq!(docs[0].keywords.last().map(String::as_str), Some("pruning shears"));
        assert!(!docs[0].keywords.iter().any(|k| k.eq_ignore_ascii_case("garden tools")));
        assert!(docs[1].keywords.iter().any(|k| k == "Garden Tools"), "another article's pillar is a keyword");
    }

    #[test]
    fn an_article_without_planner_records_is_still_indexed() {
        let docs =
            link_docs(&site(), &[content("o", "Orphan", "")], &Related::new(&[], &[], &[], &[]), &HashMap::new());
        assert_eq!((docs[0].focus_keyphrase.as_str(), docs[0].topic.as_str()), ("", ""));
        assert!(docs[0].keywords.is_empty());
        assert_eq!(site_base("example.com"), "https://example.com");
        assert_eq!(site_base(" http://example.com// "), "https://example.com");
    }
}
