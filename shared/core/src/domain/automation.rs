//! The automation run and its configuration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ids::{AccountId, RunId, SiteId};
use super::integration::RemoteStatus;

/// The number a run records as its `current_stage` while it publishes (after the six
/// stages; see [`PublishAfterRun`]).
pub const PUBLISH_STAGE: u8 = 7;

/// The number a run records as its `current_stage` while it links its articles (after
/// content, before image prompts; see [`AutomationConfig::link_articles`]): 8, since 1–7
/// are taken.
pub const LINK_STAGE: u8 = 8;

/// The six stages of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// 1: keywords → clusters.
    Clusters,
    /// 2: clusters → ideas.
    Ideas,
    /// 3: ideas → writer tasks.
    Tasks,
    /// 4: tasks → articles.
    Content,
    /// 5: articles → image prompts.
    ImagePrompts,
    /// 6: image prompts → images.
    Images,
}

impl Stage {
    /// Every stage, in run order.
    pub const ALL: [Stage; 6] =
        [Self::Clusters, Self::Ideas, Self::Tasks, Self::Content, Self::ImagePrompts, Self::Images];

    /// 1–6.
    pub fn number(self) -> u8 {
        match self {
            Self::Clusters => 1,
            Self::Ideas => 2,
            Self::Tasks => 3,
            Self::Content => 4,
            Self::ImagePrompts => 5,
            Self::Images => 6,
        }
    }

    /// The stage with this number.
    pub fn from_number(n: u8) -> Option<Self> {
        Self::ALL.get(usize::from(n).checked_sub(1)?).copied()
    }

    /// Name used in logs, state names (`stage_<name>`) and results.
    pub fn name(self) -> &'static str {
        match self {
            Self::Clusters => "clusters",
            Self::Ideas => "ideas",
            Self::Tasks => "tasks",
            Self::Content => "content",
            Self::ImagePrompts => "image_prompts",
            Self::Images => "images",
        }
    }

    /// The stage after this one.
    pub fn next(self) -> Option<Self> {
        Self::from_number(self.number() + 1)
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Working through its stages.
    Running,
    /// Waiting for resume.
    Paused,
    /// Stopped by the user; partial results kept.
    Cancelled,
    /// All stages done.
    Completed,
    /// Stopped by an error.
    Failed,
}

impl RunStatus {
    /// True once the run can no longer change.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Cancelled | Self::Completed | Self::Failed)
    }
}

/// What one stage did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageResult {
    /// Input items processed.
    pub processed: u64,
    /// Output items created.
    pub created: u64,
    /// Input items failed because the model's answer was invalid (moved to their
    /// stage's failed status; counted apart from `processed`).
    #[serde(default)]
    pub failed: u64,
    /// Input items still waiting after the last batch.
    pub remaining: u64,
    /// Credits charged.
    pub credits: i64,
    /// Batches done.
    pub batches: u64,
    /// Words written (stage 4).
    pub words: u64,
    /// First batch time (RFC 3339).
    pub started_at: Option<String>,
    /// Completion time (RFC 3339).
    pub completed_at: Option<String>,
}

/// One automation run of one site; the record, not the execution payload, holds the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AutomationRun {
    /// Also the execution name and the lock holder.
    pub id: RunId,
    /// Owning tenant.
    pub account_id: AccountId,
    /// The site it runs on.
    pub site_id: SiteId,
    /// Where it is.
    pub status: RunStatus,
    /// 1–6 while running.
    pub current_stage: u8,
    /// manual | scheduled.
    pub trigger: String,
    /// Fence of the lock acquisition this run holds.
    pub fence: i64,
    /// Credits the run was estimated to need.
    pub estimated_credits: i64,
    /// Credits charged so far.
    pub credits_used: i64,
    /// Per stage number (JSON object keys are strings: "1" to "6").
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, StageResult>))]
    pub stages: BTreeMap<u8, StageResult>,
    /// Set by pause; honoured between batches.
    pub pause_requested: bool,
    /// Set by cancel; honoured between batches.
    pub cancel_requested: bool,
    /// Task token of the pause wait, so resume can send it.
    pub pause_token: Option<String>,
    /// Image jobs of stage 6 queued / finished.
    pub images_queued: i64,
    /// Image jobs finished (generated or failed).
    pub images_finished: i64,
    /// Task token of stage 6's wait, sent by the last image job.
    pub images_token: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// End time (RFC 3339).
    pub finished_at: Option<String>,
    /// Bumped by every save; saves are conditioned on it.
    #[serde(default)]
    pub version: i64,
    /// The state machine executions the run went through, oldest first; the last is
    /// the current one. A run continues in a new execution before its history nears
    /// Step Functions' 25,000-event limit.
    #[serde(default)]
    pub executions: Vec<RunExecution>,
    /// The publishing stage's tallies, once it began (runs whose config publishes
    /// after the run; older runs have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publishing: Option<PublishProgress>,
    /// The linking stage's tallies, once it began (runs whose config links articles;
    /// older runs have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linking: Option<LinkProgress>,
}

/// What a run's linking stage did so far: the run's articles given internal links to
/// the site's other articles (each one once, whether or not a link fitted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkProgress {
    /// Articles of the run linked.
    pub linked: u64,
    /// Links added to them.
    pub links_added: u64,
    /// Articles still waiting after the last batch.
    pub remaining: u64,
    /// Batches done.
    pub batches: u64,
    /// First batch time (RFC 3339).
    pub started_at: Option<String>,
    /// Completion time (RFC 3339).
    pub completed_at: Option<String>,
}

/// What a run's publishing stage did so far: articles published to every active
/// integration, and those a platform refused (recorded on their publication, never
/// failing the run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublishProgress {
    /// The remote status the run published with.
    pub mode: PublishAfterRun,
    /// Articles attempted (an article retried in a later batch counts again).
    pub attempted: u64,
    /// Articles published.
    pub published: u64,
    /// Articles that failed on at least one destination.
    pub failed: u64,
    /// Articles still waiting after the last batch.
    pub remaining: u64,
    /// Batches done.
    pub batches: u64,
    /// First batch time (RFC 3339).
    pub started_at: Option<String>,
    /// Completion time (RFC 3339).
    pub completed_at: Option<String>,
}

/// One execution of a run and the history events the run counted in it (the way
/// Step Functions counts them: the engine does not tell a task).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunExecution {
    /// The execution's name: the run id, then `<run id>-<generation>`.
    pub name: String,
    /// History events counted so far.
    pub history_events: u64,
}

impl AutomationRun {
    /// The name of the run's execution of `generation`: the first is named as the run
    /// (so an execution is found from its run), later ones `<run id>-<generation>`.
    pub fn execution_name(&self, generation: u32) -> String {
        if generation == 0 {
            self.id.to_string()
        } else {
            format!("{}-{generation}", self.id)
        }
    }

    /// Which of this run's generations an execution name is, if it is one of its.
    pub fn generation_of(&self, name: &str) -> Option<u32> {
        let id = self.id.as_str();
        if name == id {
            return Some(0);
        }
        let n: u32 = name.strip_prefix(id)?.strip_prefix('-')?.parse().ok()?;
        (n > 0).then_some(n)
    }

    /// The current execution's generation (0 before any continuation).
    pub fn generation(&self) -> u32 {
        u32::try_from(self.executions.len().saturating_sub(1)).unwrap_or(u32::MAX)
    }

    /// The current execution's name.
    pub fn current_execution(&self) -> String {
        self.execution_name(self.generation())
    }
}

/// How often a site's scheduled runs start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    /// Every day at the time.
    Daily,
    /// Every week on `day` (1 = Monday … 7 = Sunday).
    Weekly,
    /// Every month on `day` (1–28).
    Monthly,
}

/// When scheduled runs start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Schedule {
    /// How often.
    pub frequency: Frequency,
    /// Local time `HH:MM`.
    pub time: String,
    /// IANA time zone of the local time (e.g. `Europe/Berlin`); daylight saving
    /// time is followed.
    pub timezone: String,
    /// Weekday (weekly) or day of month (monthly).
    pub day: Option<u8>,
}

/// A site's automation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AutomationConfig {
    /// The site.
    pub site_id: SiteId,
    /// Owning tenant.
    pub account_id: AccountId,
    /// Runs may start.
    pub enabled: bool,
    /// Items per batch, stages 1–6.
    pub batch_sizes: [u32; 6],
    /// Pause between batches of a stage.
    pub delay_between_batches_seconds: u32,
    /// Fewest new keywords a run needs.
    pub min_keywords: u32,
    /// Balance must cover estimate × buffer.
    pub credit_buffer: f64,
    /// Ideas per cluster (stage 2).
    pub ideas_per_cluster: u32,
    /// Image prompts per article (stage 5), featured included.
    pub images_per_article: u32,
    /// Lock lease: the longest a run may go without progress.
    pub lease_seconds: i64,
    /// Scheduled runs, if any.
    pub schedule: Option<Schedule>,
    /// Next due scheduled start, Unix ms.
    pub next_run_at: Option<i64>,
    /// Publish the run's articles after images (off, as drafts, or live); configs
    /// saved before this setting existed read as off.
    #[serde(default)]
    pub publish: PublishAfterRun,
    /// Articles per batch of the publishing stage.
    #[serde(default = "default_publish_batch_size")]
    pub publish_batch_size: u32,
    /// Link the run's articles to the site's other articles after content (the
    /// linking stage); configs saved before this setting existed read as on.
    #[serde(default = "default_link_articles")]
    pub link_articles: bool,
    /// Articles per batch of the linking stage.
    #[serde(default = "default_link_batch_size")]
    pub link_batch_size: u32,
    /// How stage 1 groups keywords (lexical, semantic or auto); configs saved
    /// before this setting existed read as lexical.
    #[serde(default)]
    pub cluster_mode: ClusterMode,
}

/// How keywords are grouped into clusters.
///
/// Why a choice: semantic clustering (sentence embeddings) groups paraphrases that
/// share no word ("card not arrived" / "where is my new card") but needs an
/// embedding model and costs an embedding call per new keyword; lexical clustering
/// (TF-IDF) needs nothing and is the fastest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClusterMode {
    /// TF-IDF vectors and average linkage over a sparse graph: no model.
    #[default]
    Lexical,
    /// Sentence embeddings and a linkage that finds the number of clusters itself;
    /// fails clearly when the provider has no embedding model.
    Semantic,
    /// Semantic when the provider has an embedding model, else lexical (the run's
    /// log says which, and why).
    Auto,
}

impl ClusterMode {
    /// The stored and command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lexical => "lexical",
            Self::Semantic => "semantic",
            Self::Auto => "auto",
        }
    }

    /// Reads a stored or command-line name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "lexical" => Some(Self::Lexical),
            "semantic" => Some(Self::Semantic),
            "auto" => Some(Self::Auto),
            _ => None,
        }
    }
}

/// Articles per linking batch unless configured: each batch reads the whole site
/// once, so batches are large; linking itself is local work, no remote call.
pub const DEFAULT_LINK_BATCH_SIZE: u32 = 50;

fn default_link_articles() -> bool {
    true
}

fn default_link_batch_size() -> u32 {
    DEFAULT_LINK_BATCH_SIZE
}

/// Articles per publishing batch unless configured: a few, since each one is several
/// platform requests (images, terms, the post).
pub const DEFAULT_PUBLISH_BATCH_SIZE: u32 = 5;

fn default_publish_batch_size() -> u32 {
    DEFAULT_PUBLISH_BATCH_SIZE
}

/// Whether a run ends by publishing its articles to the site's active integrations
/// (the run setting is their approval), and with which remote status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PublishAfterRun {
    /// Articles stay in review; nothing is sent.
    #[default]
    Off,
    /// Sent as drafts on the remote site.
    Draft,
    /// Published live.
    Publish,
}

impl PublishAfterRun {
    /// The remote status articles are sent with, `None` when the run does not publish.
    pub fn remote_status(self) -> Option<RemoteStatus> {
        match self {
            Self::Off => None,
            Self::Draft => Some(RemoteStatus::Draft),
            Self::Publish => Some(RemoteStatus::Publish),
        }
    }
}

impl AutomationConfig {
    /// The defaults a new site starts with.
    pub fn defaults(account_id: AccountId, site_id: SiteId) -> Self {
        Self {
            site_id,
            account_id,
            enabled: true,
            batch_sizes: [200, 5, 10, 5, 10, 10],
            delay_between_batches_seconds: 0,
            min_keywords: 5,
            credit_buffer: 1.2,
            ideas_per_cluster: 1,
            images_per_article: 2,
            lease_seconds: 3600,
            schedule: None,
            next_run_at: None,
            publish: PublishAfterRun::Off,
            publish_batch_size: DEFAULT_PUBLISH_BATCH_SIZE,
            link_articles: true,
            link_batch_size: DEFAULT_LINK_BATCH_SIZE,
            cluster_mode: ClusterMode::Lexical,
        }
    }

    /// Batch size of a stage.
    pub fn batch_size(&self, stage: Stage) -> u32 {
        self.batch_sizes[usize::from(stage.number() - 1)].max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_number_and_chain() {
        assert_eq!(Stage::from_number(4), Some(Stage::Content));
        assert_eq!(Stage::from_number(0), None);
        assert_eq!(Stage::from_number(7), None);
        assert_eq!(Stage::Images.next(), None);
        assert_eq!(Stage::Clusters.next(), Some(Stage::Ideas));
        assert!(Stage::ALL.iter().all(|s| Stage::from_number(s.number()) == Some(*s)));
        assert_eq!(Stage::from_number(PUBLISH_STAGE), None, "publishing is not one of the six");
        assert_eq!(Stage::from_number(LINK_STAGE), None, "linking is not one of the six");
    }

    #[test]
    fn a_config_stored_before_the_publish_setting_reads_as_off() {
        let mut stored = serde_json::to_value(AutomationConfig::defaults(AccountId::derive("a"), SiteId::derive("s")))
            .expect("json");
        let object = stored.as_object_mut().expect("object");
        object.remove("publish");
        object.remove("publish_batch_size");
        object.remove("link_articles");
        object.remove("link_batch_size");
        let config: AutomationConfig = serde_json::from_value(stored).expect("old config");
        assert!(config.link_articles, "linking is on for configs saved before it existed");
        assert_eq!(config.link_batch_size, DEFAULT_LINK_BATCH_SIZE);
        assert_eq!(config.publish, PublishAfterRun::Off);
        assert_eq!(config.publish_batch_size, DEFAULT_PUBLISH_BATCH_SIZE);
        assert_eq!(PublishAfterRun::Draft.remote_status(), Some(RemoteStatus::Draft));
        assert_eq!(serde_json::to_value(PublishAfterRun::Publish).expect("json"), "publish");
    }
}
