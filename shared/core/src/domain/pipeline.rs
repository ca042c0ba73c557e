//! What an automation run produces, stage by stage: keywords → clusters → ideas →
//! writer tasks → articles → image prompts → images. Each record's status says which
//! stage's work it is waiting for.

use serde::{Deserialize, Serialize};

use super::ids::{AccountId, ClusterId, ContentId, IdeaId, ImageId, KeywordId, RunId, SiteId, TaskId};
use super::integration::ReviewStatus;

/// A keyword's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeywordStatus {
    /// Waiting for stage 1.
    New,
    /// In a cluster.
    Clustered,
}

/// A search keyword a site wants to rank for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Keyword {
    /// Derived from the site and the normalised text.
    pub id: KeywordId,
    /// Owning tenant.
    pub account_id: AccountId,
    /// Owning site.
    pub site_id: SiteId,
    /// The keyword as imported.
    pub keyword: String,
    /// Monthly search volume.
    pub volume: i64,
    /// Keyword difficulty (0–100).
    pub difficulty: Option<i64>,
    /// Cost per click.
    pub cpc: Option<f64>,
    /// Search intent from the import, if given.
    pub intent: Option<String>,
    /// Progress.
    pub status: KeywordStatus,
    /// The cluster it joined.
    pub cluster_id: Option<ClusterId>,
    /// Import time (RFC 3339).
    pub created_at: String,
}

/// A cluster's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClusterStatus {
    /// Waiting for stage 2.
    New,
    /// Its ideas exist.
    IdeasGenerated,
    /// The model's answer for its ideas was invalid (after the provider's own retries):
    /// nothing was stored or charged, and no run picks it again by itself.
    IdeasFailed,
}

/// Keywords that one article can target together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cluster {
    /// Derived from the run and the batch position.
    pub id: ClusterId,
    /// Owning tenant.
    pub account_id: AccountId,
    /// Owning site.
    pub site_id: SiteId,
    /// The run that made it.
    pub run_id: RunId,
    /// Short name from its top terms.
    pub name: String,
    /// Its highest-volume keyword.
    pub pillar_keyword: String,
    /// Its keywords.
    pub keyword_ids: Vec<KeywordId>,
    /// informational | commercial | transactional | navigational.
    pub intent: String,
    /// Σ volume of its keywords.
    pub total_volume: i64,
    /// One line about it.
    pub description: String,
    /// Progress.
    pub status: ClusterStatus,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// An idea's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IdeaStatus {
    /// Waiting for stage 3.
    New,
    /// A writer task exists for it.
    Queued,
}

/// A planned article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Idea {
    /// Derived from the cluster and position.
    pub id: IdeaId,
    /// Owning tenant.
    pub account_id: AccountId,
    /// Owning site.
    pub site_id: SiteId,
    /// The cluster it serves.
    pub cluster_id: ClusterId,
    /// The run that made it.
    pub run_id: RunId,
    /// Working title.
    pub title: String,
    /// H2 outline.
    pub outline: Vec<String>,
    /// Main keyword.
    pub target_keyword: String,
    /// Other keywords to cover.
    pub secondary_keywords: Vec<String>,
    /// Planned length.
    pub word_target: u32,
    /// Guide, comparison, listicle...
    pub content_type: String,
    /// Progress.
    pub status: IdeaStatus,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// A writer task's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for stage 4.
    Queued,
    /// Its article exists.
    Written,
    /// The model's article was invalid (after the provider's own retries): nothing was
    /// stored or charged, and no run picks it again by itself.
    Failed,
}

/// An article to write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WriterTask {
    /// Derived from the idea.
    pub id: TaskId,
    /// Owning tenant.
    pub account_id: AccountId,
    /// Owning site.
    pub site_id: SiteId,
    /// The idea it writes.
    pub idea_id: IdeaId,
    /// The run that made it.
    pub run_id: RunId,
    /// Progress.
    pub status: TaskStatus,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// An article's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ContentStatus {
    /// Waiting for stage 5.
    Draft,
    /// Its image prompts exist; once its images are done it waits for publishing.
    PromptsReady,
    /// Sent to every active destination (see its publications).
    Published,
    /// A destination refused it for good (see its publications); a later publish retries.
    PublishFailed,
    /// The model's image prompts for it were invalid (after the provider's own
    /// retries): the article is kept, without images, and is not published by a run.
    PromptsFailed,
}

/// A written article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Content {
    /// Derived from the task.
    pub id: ContentId,
    /// Owning tenant.
    pub account_id: AccountId,
    /// Owning site.
    pub site_id: SiteId,
    /// The task it fulfils.
    pub task_id: TaskId,
    /// The run that made it.
    pub run_id: RunId,
    /// Title.
    pub title: String,
    /// Well-formed HTML body.
    pub html: String,
    /// Words of text.
    pub word_count: u32,
    /// Meta description.
    pub meta_description: String,
    /// Progress.
    pub status: ContentStatus,
    /// Review before publishing: draft → approved → published.
    #[serde(default)]
    pub review: ReviewStatus,
    /// The keyphrase it should rank for: its cluster's pillar keyword (empty for
    /// articles stored before it was recorded: the services look the cluster up).
    #[serde(default)]
    pub focus_keyphrase: String,
    /// When the linker last passed over it (RFC 3339); None: never linked.
    #[serde(default)]
    pub linked_at: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}

/// An image's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    /// Prompt written, waiting for stage 6.
    Pending,
    /// Job queued.
    Queued,
    /// File stored.
    Generated,
    /// Gave up (dead-lettered).
    Failed,
}

/// An image of an article: its prompt and, once generated, its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImageRecord {
    /// Derived from the article and position.
    pub id: ImageId,
    /// Owning tenant.
    pub account_id: AccountId,
    /// Owning site.
    pub site_id: SiteId,
    /// The article it illustrates.
    pub content_id: ContentId,
    /// The run that made it.
    pub run_id: RunId,
    /// Generation prompt.
    pub prompt: String,
    /// Alt text.
    pub alt_text: String,
    /// featured | in_article.
    pub placement: String,
    /// Heading it sits under.
    pub heading: Option<String>,
    /// Progress.
    pub status: ImageStatus,
    /// Blob key of the PNG once generated.
    pub blob_key: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
}
