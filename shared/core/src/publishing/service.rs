//! The publisher: review transitions, idempotent publishing, publication status.
//!
//! Each article is sent to each destination under a claim on its publication record
//! (see [`crate::repo::publications`]): images first, each recorded right after its
//! upload so none is uploaded twice; then the post, whose remote id is stored the moment
//! it is known; a record without one is looked up by slug before anything is created,
//! so a crash between the remote create and the local record never makes a second post.

use std::sync::Arc;

use igny8_seo::ValidationReport;
use serde::Serialize;

use crate::domain::{
    AccountId, Cluster, Content, ContentId, ContentStatus, Idea, ImageId, ImageRecord, IntegrationId, PlatformFault,
    Publication, PublicationState, PublishedMedia, RemoteStatus, ReviewStatus, RunId, SiteId, SiteIntegration,
    WriterTask,
};
use crate::integration::{IntegrationError, IntegrationService};
use crate::ports::clock::rfc3339;
use crate::ports::{
    BlobError, Condition, Destination, ItemStore, MediaUpload, PlatformError, PublishingPlatform, RemotePost,
    StoreError, UpdateAction,
};
use crate::publishing::article::{self, Material};
use crate::repo::pipeline::{ensure_counted, key as record_key, transact_counted};
use crate::repo::{from_item, ClaimOutcome, PublicationRepo, Records, RepoError, StoredPublication};
use crate::retry::RetryPolicy;

/// Errors of publishing as a whole; a platform's refusal of one article is a
/// [`PublishOutcome`] with an error, not this.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The site or article does not exist for this account.
    #[error("{0} not found")]
    NotFound(String),
    /// The article is not approved and the request did not say to publish anyway.
    #[error("content {0} is not approved for publishing")]
    NotApproved(ContentId),
    /// The article has no body yet (still being written).
    #[error("content {0} is not ready: {1}")]
    NotReady(ContentId, String),
    /// The article's validation has errors (docs/validation.md): it is neither approved
    /// nor sent until they are fixed.
    #[error("content {id} is invalid: {}", errors.join("; "))]
    ContentInvalid {
        /// The article.
        id: ContentId,
        /// The validation's error messages, in order.
        errors: Vec<String>,
    },
    /// The site has no active integration (or not the one asked for).
    #[error("site has no active integration to publish to")]
    NoIntegration,
    /// A field is invalid (a scheduled publish without a future `publish_at`…).
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A platform failed in a way worth retrying (429, 5xx, unreachable) during a run's
    /// publishing stage: the state machine retries the stage.
    #[error("publishing stage: {0}")]
    Platform(PlatformError),
    /// Another publisher holds the article's record right now (run stage: retried).
    #[error("content {0} is being published by another request")]
    Busy(ContentId),
    /// An image file could not be read.
    #[error(transparent)]
    Blobs(#[from] BlobError),
    /// The integration layer failed (keys, unconfigured…).
    #[error(transparent)]
    Integration(#[from] IntegrationError),
    /// The store failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl PublishError {
    /// The stable code the API and the CLI report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::NotApproved(_) => "content_not_approved",
            Self::NotReady(..) => "content_not_ready",
            Self::ContentInvalid { .. } => CONTENT_INVALID,
            Self::NoIntegration => "no_integration",
            Self::Invalid { .. } => "validation_failed",
            Self::Platform(e) => e.code(),
            Self::Busy(_) => BUSY_CODE,
            Self::Blobs(e) => e.code(),
            Self::Integration(e) => e.code(),
            Self::Repo(e) => e.code(),
        }
    }

    /// True when the same request may succeed if retried unchanged.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Repo(e) => matches!(e, RepoError::Store(s) if s.is_transient()),
            Self::Integration(IntegrationError::Keys(k)) => k.is_transient(),
            Self::Platform(e) => e.is_transient(),
            Self::Busy(_) => true,
            Self::Blobs(e) => e.is_transient(),
            _ => false,
        }
    }

    /// The error as recorded on a publication it interrupted.
    fn fault(&self) -> PlatformFault {
        match self {
            Self::Platform(e) => e.fault(),
            other => PlatformFault { code: other.code().to_owned(), platform_code: None, message: other.to_string() },
        }
    }
}

/// Code of an outcome whose article another request is publishing right now.
pub const BUSY_CODE: &str = "publish_in_progress";

/// Code of an article refused because its validation has errors (HTTP 422).
pub const CONTENT_INVALID: &str = "content_invalid";

/// What approving every draft of a site did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApproveAll {
    /// Drafts now approved.
    pub approved: u64,
    /// Drafts left as drafts because their validation has errors.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub invalid: Vec<ContentId>,
}

/// The validation of a stored article as publishing sends it (its slug as made for a
/// new publication; every other field as stored).
pub fn validation(content: &Content) -> ValidationReport {
    let slug = article::slugify(&content.title, content.id.as_str());
    igny8_seo::validate(&article::article_text(content, &slug))
}

/// The article's validation when it has no errors, else `content_invalid` with them.
fn valid(content: &Content) -> Result<ValidationReport, PublishError> {
    let report = validation(content);
    if report.is_blocking() {
        return Err(PublishError::ContentInvalid { id: content.id.clone(), errors: report.error_messages() });
    }
    Ok(report)
}

/// What to publish and how.
#[derive(Debug, Clone)]
pub struct PublishRequest {
    /// These articles; empty means every approved article not yet published.
    pub content_ids: Vec<ContentId>,
    /// Remote status: draft, publish or scheduled.
    pub status: RemoteStatus,
    /// For `scheduled`: when (RFC 3339, in the future).
    pub publish_at: Option<String>,
    /// Only this integration; default every active one.
    pub integration_id: Option<IntegrationId>,
    /// Publish articles that are not approved (the request "says otherwise").
    pub include_unapproved: bool,
}

/// One article on one destination after a publish.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishOutcome {
    /// The article.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub content_id: ContentId,
    /// The destination.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub integration_id: IntegrationId,
    /// It is on the remote site as asked.
    pub success: bool,
    /// The deployment record after this attempt.
    pub publication: Option<Publication>,
    /// Why not (`forbidden_by_platform` with the platform's `rest_cannot_publish`…).
    pub error: Option<PlatformFault>,
}

/// What one publishing batch of a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunPublishBatch {
    /// Articles attempted in this batch.
    pub attempted: u32,
    /// Published to every active destination.
    pub published: u32,
    /// Failed on at least one destination (recorded on the publication).
    pub failed: u32,
    /// Articles of the run still waiting after this batch.
    pub remaining: u64,
}

/// The content status of articles whose images are done and that wait for the run's
/// publishing stage.
const WAITING: ContentStatus = ContentStatus::PromptsReady;

/// Image records probed per read when collecting an article's images (ids are derived
/// from the article and position, so they are read by key, never scanned).
const IMAGE_PROBE: usize = 8;

/// One destination of a publish: the integration, its opened address and its client.
struct Target {
    integration: SiteIntegration,
    destination: Destination,
    client: Arc<dyn PublishingPlatform>,
}

/// How the article is to appear remotely.
#[derive(Debug, Clone)]
struct Ask {
    status: RemoteStatus,
    publish_at: Option<String>,
}

/// What publishing one article to every target did.
#[derive(Default)]
struct ArticleResult {
    outcomes: Vec<PublishOutcome>,
    /// The first retryable platform failure.
    transient: Option<PlatformError>,
    /// Another publisher held one of its records.
    busy: bool,
}

impl ArticleResult {
    fn all_succeeded(&self) -> bool {
        self.outcomes.iter().all(|o| o.success)
    }
}

/// Why sending to one destination stopped.
enum SendError {
    /// The platform refused or failed.
    Platform(PlatformError),
    /// Our claim was taken over (we looked stale): the other publisher goes on.
    ClaimLost,
    /// Our side failed (store, blobs).
    Ours(PublishError),
}

impl From<PublishError> for SendError {
    fn from(e: PublishError) -> Self {
        Self::Ours(e)
    }
}

impl From<RepoError> for SendError {
    fn from(e: RepoError) -> Self {
        Self::Ours(e.into())
    }
}

impl From<BlobError> for SendError {
    fn from(e: BlobError) -> Self {
        Self::Ours(e.into())
    }
}

impl From<PlatformError> for SendError {
    fn from(e: PlatformError) -> Self {
        Self::Platform(e)
    }
}

/// A value as its serde wire string (`approved`, `prompts_ready`).
fn wire<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Review and publishing.
#[derive(Clone)]
pub struct PublishingService {
    integrations: IntegrationService,
}

impl PublishingService {
    /// Publishing over the integration service (store, vault, platforms, blobs).
    pub fn new(integrations: IntegrationService) -> Self {
        Self { integrations }
    }

    fn store(&self) -> &Arc<dyn ItemStore> {
        self.integrations.store()
    }

    fn now_ms(&self) -> i64 {
        self.integrations.clock().now_ms()
    }

    fn contents(&self) -> Records<Content> {
        Records::new(Arc::clone(self.store()))
    }

    fn repo(&self) -> PublicationRepo {
        PublicationRepo::new(Arc::clone(self.store()))
    }

    /// The article, if it is this account's.
    async fn content(&self, account: &AccountId, site: &SiteId, id: &ContentId) -> Result<Content, PublishError> {
        match self.contents().get(site, id.as_str()).await? {
            Some(c) if &c.account_id == account => Ok(c),
            _ => Err(PublishError::NotFound(format!("content {id}"))),
        }
    }

    /// Moves the article's review from one of `from` to `to` with a write conditional
    /// on the review read, so a concurrent change (a publish) is never overwritten; an
    /// article in another review state is returned unchanged.
    async fn set_review(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &ContentId,
        from: ReviewStatus,
        to: ReviewStatus,
    ) -> Result<(Content, bool), PublishError> {
        let policy = RetryPolicy { max_attempts: 10, ..RetryPolicy::default() };
        for attempt in 0..policy.max_attempts {
            let content = self.content(account, site, id).await?;
            if content.review != from {
                return Ok((content, false));
            }
            if to == ReviewStatus::Approved {
                valid(&content)?;
            }
            let mut was = vec![Condition::eq("review", wire(&from))];
            if from == ReviewStatus::Draft {
                // Articles stored before review existed read as drafts.
                was.push(Condition::AttributeNotExists("review".into()));
            }
            let condition = Condition::And(vec![Condition::ItemExists, Condition::Or(was)]);
            let key = record_key::<Content>(site, id.as_str());
            match self.store().update(&key, vec![UpdateAction::set("review", wire(&to))], Some(condition)).await {
                Ok(item) => return Ok((from_item(item)?, true)),
                Err(StoreError::ConditionFailed(_)) => policy.backoff(attempt).await,
                Err(e) => return Err(RepoError::from(e).into()),
            }
        }
        Err(RepoError::from(StoreError::Conflict).into())
    }

    /// Approves an article for publishing (draft → approved; approved stays approved);
    /// an article whose validation has errors is refused with `content_invalid` and
    /// stays a draft.
    pub async fn approve(&self, account: &AccountId, site: &SiteId, id: &ContentId) -> Result<Content, PublishError> {
        Ok(self.set_review(account, site, id, ReviewStatus::Draft, ReviewStatus::Approved).await?.0)
    }

    /// Approves every draft article of the site whose validation has no errors; the
    /// others stay drafts and are listed.
    pub async fn approve_all(&self, account: &AccountId, site: &SiteId) -> Result<ApproveAll, PublishError> {
        let mut outcome = ApproveAll::default();
        for content in self.contents().all(site).await? {
            if &content.account_id != account || content.review != ReviewStatus::Draft {
                continue;
            }
            match self.set_review(account, site, &content.id, ReviewStatus::Draft, ReviewStatus::Approved).await {
                Ok((_, moved)) => outcome.approved += u64::from(moved),
                Err(PublishError::ContentInvalid { id, .. }) => outcome.invalid.push(id),
                Err(e) => return Err(e),
            }
        }
        Ok(outcome)
    }

    /// Takes approval back (approved → draft); a published article stays published.
    pub async fn unapprove(&self, account: &AccountId, site: &SiteId, id: &ContentId) -> Result<Content, PublishError> {
        Ok(self.set_review(account, site, id, ReviewStatus::Approved, ReviewStatus::Draft).await?.0)
    }

    /// Publishes the requested articles to the site's active integrations, each exactly
    /// once: one outcome per article and destination. Every article is validated first:
    /// one with errors refuses the request (`content_invalid`) before anything is sent,
    /// and what is sent is the sanitized body.
    pub async fn publish(
        &self,
        account: &AccountId,
        site: &SiteId,
        request: PublishRequest,
    ) -> Result<Vec<PublishOutcome>, PublishError> {
        let ask = self.ask(request.status, request.publish_at)?;
        let contents = if request.content_ids.is_empty() {
            let all = self.contents().all(site).await?;
            all.into_iter().filter(|c| &c.account_id == account && c.review == ReviewStatus::Approved).collect()
        } else {
            let mut found = Vec::with_capacity(request.content_ids.len());
            for (id, content) in
                request.content_ids.iter().zip(self.contents().get_many(site, &request.content_ids).await?)
            {
                match content {
                    Some(c) if &c.account_id == account => found.push(c),
                    _ => return Err(PublishError::NotFound(format!("content {id}"))),
                }
            }
            found
        };
        for content in &contents {
            if content.review == ReviewStatus::Draft && !request.include_unapproved {
                return Err(PublishError::NotApproved(content.id.clone()));
            }
            if content.html.trim().is_empty() {
                return Err(PublishError::NotReady(content.id.clone(), "it has no body yet".into()));
            }
            // Approval validated it, but it may have changed since; an unapproved one
            // is validated here for the first time.
            valid(content)?;
        }
        let every_active = request.integration_id.is_none();
        let targets = self.targets(account, site, request.integration_id.as_ref()).await?;
        let mut outcomes = Vec::new();
        for content in contents {
            let result = self.publish_article(&targets, content, &ask, every_active, false).await?;
            outcomes.extend(result.outcomes);
        }
        Ok(outcomes)
    }

    /// The deployment records of one article.
    pub async fn publications(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &ContentId,
    ) -> Result<Vec<Publication>, PublishError> {
        self.content(account, site, id).await?;
        let stored = self.repo().for_content(site, id).await?;
        Ok(stored.into_iter().map(|s| s.publication).filter(|p| &p.account_id == account).collect())
    }

    /// The run's publishing stage: publishes up to `limit` of the run's articles that
    /// wait for it with `status`, recording per-article failures without failing.
    ///
    /// Like every stage it takes the site's waiting work from the status index (one run
    /// per site at a time): articles in `prompts_ready` (the stage follows the images
    /// stage, so their images are done), published to every active integration as if
    /// approved (the run's setting is the approval) when their validation has no errors.
    /// Each leaves the index as `published`, or `publish_failed` when a destination
    /// refused it for good or its validation has errors (recorded on its publications as
    /// `content_invalid`, nothing sent); how
    /// many remain is one counter read. A retryable platform failure (429, 5xx,
    /// unreachable) or a record held by another publisher is returned as a transient
    /// error after the articles before it were recorded, so the retried stage resumes.
    pub async fn publish_run_batch(
        &self,
        account: &AccountId,
        site: &SiteId,
        run: &RunId,
        status: RemoteStatus,
        limit: u32,
    ) -> Result<RunPublishBatch, PublishError> {
        let ask = self.ask(status, None)?;
        ensure_counted(self.store(), site).await?;
        let targets = self.targets(account, site, None).await?;
        let waiting_status = wire(&WAITING);
        let contents = self.contents();
        let waiting = contents.in_status(site, &waiting_status, limit.max(1) as usize).await?;
        let mut batch = RunPublishBatch::default();
        for content in waiting.into_iter().filter(|c| &c.account_id == account) {
            let id = content.id.clone();
            batch.attempted += 1;
            let result = self.publish_article(&targets, content, &ask, true, true).await?;
            if let Some(e) = result.transient {
                tracing::warn!(%run, content = %id, code = e.code(), "publishing stage: retryable platform failure");
                return Err(PublishError::Platform(e));
            }
            if result.busy {
                return Err(PublishError::Busy(id));
            }
            if result.all_succeeded() {
                batch.published += 1;
            } else {
                batch.failed += 1;
            }
        }
        batch.remaining = contents.count_in_status(site, &waiting_status).await?;
        tracing::info!(%run, attempted = batch.attempted, published = batch.published, failed = batch.failed,
            remaining = batch.remaining, "publishing batch");
        Ok(batch)
    }

    /// The remote status asked, checked: `scheduled` needs a future `publish_at`, which
    /// no other status takes.
    fn ask(&self, status: RemoteStatus, publish_at: Option<String>) -> Result<Ask, PublishError> {
        let invalid = |message: String| PublishError::Invalid { field: "publish_at", message };
        match (status, publish_at) {
            (RemoteStatus::Scheduled, None) => Err(invalid("a scheduled publish needs publish_at".into())),
            (RemoteStatus::Scheduled, Some(at)) => {
                let when = time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| invalid(format!("{at:?} is not an RFC 3339 time: {e}")))?;
                let when_ms = i64::try_from(when.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
                if when_ms <= self.now_ms() {
                    return Err(invalid(format!("{at} is not in the future")));
                }
                Ok(Ask { status, publish_at: Some(at) })
            }
            (_, Some(_)) => Err(invalid("only a scheduled publish takes publish_at".into())),
            (_, None) => Ok(Ask { status, publish_at: None }),
        }
    }

    /// The destinations: the one asked (it must be active) or every active one.
    async fn targets(
        &self,
        account: &AccountId,
        site: &SiteId,
        only: Option<&IntegrationId>,
    ) -> Result<Vec<Target>, PublishError> {
        let ports = self.integrations.ports()?;
        let integrations = match only {
            Some(id) => {
                let integration = self.integrations.get(account, site, id).await?;
                if !integration.active {
                    return Err(IntegrationError::Inactive(id.clone()).into());
                }
                vec![integration]
            }
            None => self.integrations.active(account, site).await?,
        };
        if integrations.is_empty() {
            return Err(PublishError::NoIntegration);
        }
        let mut targets = Vec::with_capacity(integrations.len());
        for integration in integrations {
            let client = ports.platforms.get(integration.platform).cloned().ok_or(IntegrationError::Unconfigured)?;
            let destination = self.integrations.destination(&integration).await?;
            targets.push(Target { integration, destination, client });
        }
        Ok(targets)
    }

    /// The article's generated images (read by their derived ids) and its cluster and
    /// idea (through its task).
    async fn material(&self, content: &Content) -> Result<Material, PublishError> {
        let store = Arc::clone(self.store());
        let images = Records::<ImageRecord>::new(Arc::clone(&store));
        let mut found = Vec::new();
        'probe: for chunk in 0.. {
            let ids: Vec<ImageId> = (chunk * IMAGE_PROBE..(chunk + 1) * IMAGE_PROBE)
                .map(|n| ImageId::derive(&format!("{}/{n}", content.id)))
                .collect();
            for image in images.get_many(&content.site_id, &ids).await? {
                match image {
                    Some(image) if image.content_id == content.id => found.push(image),
                    _ => break 'probe,
                }
            }
        }
        let site = &content.site_id;
        let task = Records::<WriterTask>::new(Arc::clone(&store)).get(site, content.task_id.as_str()).await?;
        let idea = match task {
            Some(t) => Records::<Idea>::new(Arc::clone(&store)).get(site, t.idea_id.as_str()).await?,
            None => None,
        };
        let cluster = match &idea {
            Some(i) => Records::<Cluster>::new(Arc::clone(&store)).get(site, i.cluster_id.as_str()).await?,
            None => None,
        };
        Ok(Material::new(found, cluster, idea))
    }

    /// Publishes one article to every target, then records where it stands: review
    /// `published` once any destination has it; in a run, its status leaves the
    /// waiting index (`published`, or `publish_failed` on a permanent refusal).
    async fn publish_article(
        &self,
        targets: &[Target],
        content: Content,
        ask: &Ask,
        every_active: bool,
        in_run: bool,
    ) -> Result<ArticleResult, PublishError> {
        let material = self.material(&content).await?;
        let report = validation(&content);
        let body = if report.is_blocking() {
            let message = format!("content {} is invalid: {}", content.id, report.error_messages().join("; "));
            Err(PlatformFault { code: CONTENT_INVALID.into(), platform_code: None, message })
        } else {
            Ok(report.body(&content.html).to_owned())
        };
        let mut result = ArticleResult::default();
        for target in targets {
            let (outcome, transient) = self.publish_to(target, &content, body.as_deref(), &material, ask).await?;
            if outcome.error.as_ref().is_some_and(|f| f.code == BUSY_CODE) {
                result.busy = true;
            }
            if result.transient.is_none() {
                result.transient = transient;
            }
            result.outcomes.push(outcome);
        }
        let any_published = result.outcomes.iter().any(|o| o.success);
        let everywhere = result.all_succeeded() && (every_active || self.published_everywhere(&content).await?);
        let next_status = if everywhere {
            Some(ContentStatus::Published)
        } else if in_run && result.transient.is_none() && !result.busy {
            Some(ContentStatus::PublishFailed)
        } else {
            None
        };
        self.settle(content, any_published, next_status).await?;
        Ok(result)
    }

    /// True when every active integration of the article's site has it published.
    async fn published_everywhere(&self, content: &Content) -> Result<bool, PublishError> {
        let active = self.integrations.active(&content.account_id, &content.site_id).await?;
        let records = self.repo().for_content(&content.site_id, &content.id).await?;
        Ok(active.iter().all(|i| {
            records
                .iter()
                .any(|r| r.publication.integration_id == i.id && r.publication.state == PublicationState::Published)
        }))
    }

    /// Writes the article's review and pipeline status after a publish, over the
    /// article as it is now (read again: sending took time). A status move is a counted
    /// transition from the status read (so the waiting counter follows); an article not
    /// in a status that may move only has its review set.
    async fn settle(
        &self,
        sent: Content,
        any_published: bool,
        next_status: Option<ContentStatus>,
    ) -> Result<(), PublishError> {
        let Some(content) = self.contents().get(&sent.site_id, sent.id.as_str()).await? else {
            // Deleted while it was being sent: nothing left to record on it.
            return Ok(());
        };
        let movable = matches!(content.status, ContentStatus::PromptsReady | ContentStatus::PublishFailed);
        let review = if any_published { ReviewStatus::Published } else { content.review };
        match next_status.filter(|next| movable && *next != content.status) {
            Some(next) => {
                let from = wire(&content.status);
                let moved = Content { status: next, review, ..content };
                let write = self.contents().transition(&moved, &from)?;
                match transact_counted(&**self.store(), vec![write]).await {
                    // Moved meanwhile by another publish of the same article: its write stands.
                    Err(RepoError::Store(StoreError::ConditionFailed(_))) | Ok(()) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            None if review != content.review => {
                let key = record_key::<Content>(&content.site_id, content.id.as_str());
                let actions = vec![UpdateAction::set("review", wire(&review))];
                self.store().update(&key, actions, Some(Condition::ItemExists)).await.map_err(RepoError::from)?;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Publishes one article to one destination under a claim on its record: `body` is
    /// the validated (sanitized) body, or why the article may not be sent (recorded as
    /// the record's failure, nothing sent). A platform failure is an outcome (and, when
    /// retryable, returned beside it); only our own failures (store, blobs) are errors,
    /// after recording them on the record.
    async fn publish_to(
        &self,
        target: &Target,
        content: &Content,
        body: Result<&str, &PlatformFault>,
        material: &Material,
        ask: &Ask,
    ) -> Result<(PublishOutcome, Option<PlatformError>), PublishError> {
        let now_ms = self.now_ms();
        let now = rfc3339(now_ms);
        let integration = &target.integration;
        let fresh = Publication {
            account_id: content.account_id.clone(),
            site_id: content.site_id.clone(),
            content_id: content.id.clone(),
            integration_id: integration.id.clone(),
            platform: integration.platform,
            state: PublicationState::InProgress,
            requested_status: ask.status,
            publish_at: ask.publish_at.clone(),
            slug: article::slugify(&content.title, content.id.as_str()),
            remote_id: None,
            remote_url: None,
            remote_status: None,
            remote_modified: None,
            media: Vec::new(),
            featured_media: None,
            seo_accepted: Vec::new(),
            seo_rejected: Vec::new(),
            skipped_terms: Vec::new(),
            attempts: 0,
            last_error: None,
            needs_update: false,
            published_at: None,
            updated_at: now.clone(),
        };
        let token = self.integrations.ids().new_id("claim");
        let prepare = |p: &mut Publication| {
            if p.state == PublicationState::RemoteDeleted {
                // Deleted remotely: the next publish makes it anew.
                p.remote_id = None;
                p.remote_url = None;
                p.remote_status = None;
                p.featured_media = None;
            }
            p.attempts += 1;
            p.requested_status = ask.status;
            p.publish_at = ask.publish_at.clone();
            p.last_error = None;
            p.updated_at = now.clone();
        };
        let outcome = |p: &Publication, error: Option<PlatformFault>| PublishOutcome {
            content_id: content.id.clone(),
            integration_id: integration.id.clone(),
            success: error.is_none(),
            publication: Some(p.clone()),
            error,
        };
        let busy = |p: &Publication| {
            let message = format!("content {} is being published to {} by another request", content.id, integration.id);
            outcome(p, Some(PlatformFault { code: BUSY_CODE.into(), platform_code: None, message }))
        };
        let repo = self.repo();
        let mut stored = match repo.claim(fresh, &token, now_ms, prepare).await? {
            ClaimOutcome::Claimed(stored) => stored,
            ClaimOutcome::Busy(current) => return Ok((busy(&current), None)),
        };
        let html = match body {
            Ok(html) => html,
            Err(invalid) => {
                self.fail(&repo, &mut stored, invalid.clone()).await?;
                return Ok((outcome(&stored.publication, Some(invalid.clone())), None));
            }
        };
        match self.send(target, content, html, material, ask, &mut stored).await {
            Ok(post) => {
                let p = &mut stored.publication;
                let now = rfc3339(self.now_ms());
                p.state = PublicationState::Published;
                if !post.slug.is_empty() {
                    p.slug = post.slug.clone();
                }
                p.remote_id = Some(post.id);
                p.remote_url = post.url;
                p.remote_status = Some(post.status);
                p.remote_modified = post.modified;
                // What the platform confirmed: WordPress ignores an unknown featured_media.
                p.featured_media = post.featured_media;
                p.seo_accepted = post.seo_accepted;
                p.seo_rejected = post.seo_rejected;
                p.skipped_terms = post.skipped_terms;
                p.last_error = None;
                p.needs_update = false;
                p.published_at.get_or_insert_with(|| now.clone());
                p.updated_at = now;
                if !repo.release(&mut stored).await? {
                    return Ok((busy(&stored.publication), None));
                }
                Ok((outcome(&stored.publication, None), None))
            }
            Err(SendError::Platform(e)) => {
                let fault = e.fault();
                self.fail(&repo, &mut stored, fault.clone()).await?;
                let transient = e.is_transient().then_some(e);
                Ok((outcome(&stored.publication, Some(fault)), transient))
            }
            Err(SendError::ClaimLost) => Ok((busy(&stored.publication), None)),
            Err(SendError::Ours(e)) => {
                if let Err(record) = self.fail(&repo, &mut stored, e.fault()).await {
                    tracing::warn!(content = %content.id, error = %record, "could not record a failed publish");
                }
                Err(e)
            }
        }
    }

    /// Records a failed attempt and lets go of the record.
    async fn fail(
        &self,
        repo: &PublicationRepo,
        stored: &mut StoredPublication,
        fault: PlatformFault,
    ) -> Result<(), PublishError> {
        stored.publication.state = PublicationState::Failed;
        stored.publication.last_error = Some(fault);
        stored.publication.updated_at = rfc3339(self.now_ms());
        repo.release(stored).await?;
        Ok(())
    }

    /// Writes progress under the claim; a lost claim stops this attempt.
    async fn save(&self, stored: &mut StoredPublication) -> Result<(), SendError> {
        if self.repo().save(stored, self.now_ms()).await? {
            Ok(())
        } else {
            Err(SendError::ClaimLost)
        }
    }

    /// Images first (each recorded right after its upload), then the post: updated when
    /// its id is known, else found by slug (a crash lost the id) or created, its id
    /// stored before anything else can fail.
    async fn send(
        &self,
        target: &Target,
        content: &Content,
        html: &str,
        material: &Material,
        ask: &Ask,
        stored: &mut StoredPublication,
    ) -> Result<RemotePost, SendError> {
        let blobs = &self.integrations.ports().map_err(PublishError::from)?.blobs;
        let (client, destination) = (&target.client, &target.destination);
        for image in &material.images {
            if stored.publication.media.iter().any(|m| m.image_id == image.id) {
                continue;
            }
            let Some(key) = image.blob_key.as_deref() else { continue };
            let Some(bytes) = blobs.get(key).await? else {
                tracing::warn!(image = %image.id, key, "generated image has no file; published without it");
                continue;
            };
            let upload = MediaUpload {
                filename: format!("{}.png", image.id),
                content_type: "image/png".into(),
                bytes,
                alt_text: image.alt_text.clone(),
                title: image.heading.clone().unwrap_or_else(|| content.title.clone()),
            };
            let media = client.upload_media(destination, &upload).await?;
            stored.publication.media.push(PublishedMedia {
                image_id: image.id.clone(),
                remote_id: media.id,
                url: media.url,
            });
            self.save(stored).await?;
        }
        let author = target.integration.connection.as_ref().and_then(|c| c.identity.as_ref()).map(|i| i.name.clone());
        let payload =
            article::payload(content, html, material, &stored.publication, ask.status, ask.publish_at.clone(), author);
        if let Some(id) = stored.publication.remote_id.clone() {
            match client.update_post(destination, &id, &payload).await {
                Err(PlatformError::NotFound { .. }) => {}
                other => return Ok(other?),
            }
            // Gone remotely since: make it anew.
            stored.publication.remote_id = None;
        } else if let Some(found) = client.find_post_by_slug(destination, &stored.publication.slug).await? {
            stored.publication.remote_id = Some(found.id.clone());
            self.save(stored).await?;
            return Ok(client.update_post(destination, &found.id, &payload).await?);
        }
        let created = client.create_post(destination, &payload).await?;
        stored.publication.remote_id = Some(created.id.clone());
        self.save(stored).await?;
        Ok(created)
    }
}
