//! AutomationService: starts runs, does one batch per stage step, pauses, resumes,
//! cancels, finalizes and fails them (DESIGN §3). Stage logic per stage lives in
//! `stages.rs`; image jobs in `images.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::AutomationError;
use super::logger::{AutomationLogger, RunLog, TraceKind};
use super::site_lock::{LockError, SiteLock};
use crate::billing::CreditService;
use crate::domain::{
    AccountId, AutomationConfig, AutomationRun, Cluster, Content, Idea, ImageRecord, Keyword, RunId, RunStatus, Site,
    SiteId, SiteStatus, Stage, StageResult, WriterTask,
};
use crate::ports::blob::BlobStore;
use crate::ports::clock::rfc3339;
use crate::ports::queue::Queue;
use crate::ports::workflow::{Workflow, WorkflowError};
use crate::ports::IdGeneratorExt;
use crate::ports::{Clock, IdGenerator, ItemStore, Page, StoreError};
use crate::repo::{ConfigRepo, Records, RepoError, RunRepo, SiteRepo};
use igny8_ai::AiProvider;

/// Queue the image jobs of stage 6 go to unless the service is told another
/// ([`AutomationService::set_image_queue`]; on AWS from `IGNY8_IMAGE_QUEUE`).
pub const IMAGE_QUEUE: &str = "igny8-images";
/// Dead-letter queue of image jobs.
pub const IMAGE_DLQ: &str = "igny8-images-dlq";
/// Receives before an image job is dead-lettered (and its image marked failed).
pub const IMAGE_MAX_RECEIVES: u32 = 3;

/// The adapters a run needs, whichever family they come from.
#[derive(Clone)]
pub struct AutomationPorts {
    /// Records.
    pub store: Arc<dyn ItemStore>,
    /// Logs and images.
    pub blobs: Arc<dyn BlobStore>,
    /// Image jobs.
    pub queue: Arc<dyn Queue>,
    /// AI functions.
    pub ai: Arc<dyn AiProvider>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Ids.
    pub ids: Arc<dyn IdGenerator>,
}

/// What every state of the machine passes along: which run, and where to go next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepInput {
    /// The run.
    pub run_id: RunId,
    /// Its tenant.
    pub account_id: AccountId,
    /// Its site.
    pub site_id: SiteId,
    /// Task token of a `.waitForTaskToken` state.
    #[serde(default)]
    pub task_token: Option<String>,
}

/// A step's result: small JSON the Choice state routes on (`next`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepOutput {
    /// The run.
    pub run_id: RunId,
    /// Its tenant.
    pub account_id: AccountId,
    /// Its site.
    pub site_id: SiteId,
    /// `stage_<name>`, `delay`, `paused`, `cancelled` or `finalize`.
    pub next: String,
    /// After a delay, where to go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<String>,
    /// The stage that ran (0 when none).
    pub stage: u8,
    /// Items this step processed.
    pub processed: u64,
    /// Items still waiting in the stage.
    pub remaining: u64,
    /// Delay before the next batch.
    pub delay_seconds: u32,
}

impl StepInput {
    /// A result routing this run to `next`.
    pub fn output(&self, next: impl Into<String>) -> StepOutput {
        StepOutput {
            run_id: self.run_id.clone(),
            account_id: self.account_id.clone(),
            site_id: self.site_id.clone(),
            next: next.into(),
            then: None,
            stage: 0,
            processed: 0,
            remaining: 0,
            delay_seconds: 0,
        }
    }
}

/// `stage_<name>`: the state a stage's step routes to.
pub fn stage_route(stage: Stage) -> String {
    format!("stage_{}", stage.name())
}

/// Credits a run is expected to need, per stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Estimate {
    /// Keywords waiting for clustering.
    pub keywords: u64,
    /// Credits per stage number (JSON object keys are strings: "1" to "6").
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, i64>))]
    pub per_stage: BTreeMap<u8, i64>,
    /// Σ per stage.
    pub total: i64,
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Inputs processed.
    pub processed: u64,
    /// Outputs created.
    pub created: u64,
    /// Credits charged.
    pub credits: i64,
    /// Words written.
    pub words: u64,
}

pub(crate) struct Inner {
    pub(crate) ports: AutomationPorts,
    pub(crate) credits: CreditService,
    pub(crate) locks: SiteLock,
    pub(crate) logger: AutomationLogger,
    pub(crate) runs: RunRepo,
    pub(crate) configs: ConfigRepo,
    pub(crate) sites: SiteRepo,
    pub(crate) keywords: Records<Keyword>,
    pub(crate) clusters: Records<Cluster>,
    pub(crate) ideas: Records<Idea>,
    pub(crate) tasks: Records<WriterTask>,
    pub(crate) contents: Records<Content>,
    pub(crate) images: Records<ImageRecord>,
    workflow: OnceLock<Arc<dyn Workflow>>,
    image_queue: OnceLock<String>,
}

/// The automation run's rules.
#[derive(Clone)]
pub struct AutomationService {
    pub(crate) inner: Arc<Inner>,
}

impl AutomationService {
    /// The service over its ports; call [`AutomationService::set_workflow`] once the
    /// workflow engine (which calls back into this service) exists.
    pub fn new(ports: AutomationPorts, credits: CreditService) -> Self {
        let store = Arc::clone(&ports.store);
        let inner = Inner {
            locks: SiteLock::new(Arc::clone(&store), Arc::clone(&ports.clock)),
            logger: AutomationLogger::new(Arc::clone(&ports.blobs), Arc::clone(&ports.clock)),
            runs: RunRepo::new(Arc::clone(&store)),
            configs: ConfigRepo::new(Arc::clone(&store)),
            sites: SiteRepo::new(Arc::clone(&store)),
            keywords: Records::new(Arc::clone(&store)),
            clusters: Records::new(Arc::clone(&store)),
            ideas: Records::new(Arc::clone(&store)),
            tasks: Records::new(Arc::clone(&store)),
            contents: Records::new(Arc::clone(&store)),
            images: Records::new(Arc::clone(&store)),
            credits,
            ports,
            workflow: OnceLock::new(),
            image_queue: OnceLock::new(),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Binds the workflow engine (once).
    pub fn set_workflow(&self, workflow: Arc<dyn Workflow>) {
        // A second binding is ignored: the first engine keeps its executions.
        let _ = self.inner.workflow.set(workflow);
    }

    /// Names the queue stage 6 sends image jobs to (once, at wiring): the deployed
    /// queue's name comes from configuration, not from a constant.
    pub fn set_image_queue(&self, queue: impl Into<String>) {
        // A second naming is ignored, as for the workflow: jobs already sent stay put.
        let _ = self.inner.image_queue.set(queue.into());
    }

    /// The queue stage 6 sends image jobs to ([`IMAGE_QUEUE`] unless named).
    pub fn image_queue(&self) -> &str {
        self.inner.image_queue.get().map_or(IMAGE_QUEUE, String::as_str)
    }

    pub(crate) fn workflow(&self) -> Result<&Arc<dyn Workflow>, AutomationError> {
        self.inner.workflow.get().ok_or_else(|| AutomationError::Invalid("no workflow engine bound".into()))
    }

    /// The logger (for reading a run's logs).
    pub fn logger(&self) -> &AutomationLogger {
        &self.inner.logger
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.ports.clock.now_ms()
    }

    pub(crate) fn run_log(run: &AutomationRun) -> RunLog {
        RunLog { account_id: run.account_id.clone(), site_id: run.site_id.clone(), run_id: run.id.clone() }
    }

    async fn site_of(&self, account: &AccountId, site: &SiteId) -> Result<Site, AutomationError> {
        self.inner.sites.get(site).await?.filter(|s| &s.account_id == account).ok_or(AutomationError::SiteNotFound)
    }

    /// The site's automation config (defaults until one is saved).
    pub async fn config(&self, account: &AccountId, site: &SiteId) -> Result<AutomationConfig, AutomationError> {
        self.site_of(account, site).await?;
        Ok(self
            .inner
            .configs
            .get(site)
            .await?
            .unwrap_or_else(|| AutomationConfig::defaults(account.clone(), site.clone())))
    }

    /// Saves the site's automation config after checking it.
    pub async fn save_config(
        &self,
        account: &AccountId,
        mut config: AutomationConfig,
    ) -> Result<AutomationConfig, AutomationError> {
        self.site_of(account, &config.site_id).await?;
        config.account_id = account.clone();
        if config.batch_sizes.iter().any(|b| *b == 0 || *b > 1000) {
            return Err(AutomationError::Invalid("batch sizes must be 1 to 1000".into()));
        }
        if !(1.0..=10.0).contains(&config.credit_buffer) {
            return Err(AutomationError::Invalid("credit_buffer must be between 1 and 10".into()));
        }
        if !(60..=7 * 24 * 3600).contains(&config.lease_seconds) {
            return Err(AutomationError::Invalid("lease_seconds must be 60 to 604800".into()));
        }
        if config.ideas_per_cluster == 0 || config.ideas_per_cluster > 10 || config.images_per_article > 10 {
            return Err(AutomationError::Invalid(
                "ideas_per_cluster must be 1 to 10, images_per_article 0 to 10".into(),
            ));
        }
        if config.delay_between_batches_seconds > 3600 {
            return Err(AutomationError::Invalid("delay_between_batches_seconds must be at most 3600".into()));
        }
        if let Some(schedule) = &config.schedule {
            config.next_run_at =
                Some(super::schedule::next_after(schedule, self.now()).map_err(AutomationError::Invalid)?);
        } else {
            config.next_run_at = None;
        }
        self.inner.configs.put(&config).await?;
        Ok(config)
    }

    /// Credits a run of the site would need now, per stage, from the waiting work.
    pub async fn estimate(&self, account: &AccountId, site: &SiteId) -> Result<Estimate, AutomationError> {
        let config = self.config(account, site).await?;
        self.estimate_with(&config).await
    }

    async fn estimate_with(&self, config: &AutomationConfig) -> Result<Estimate, AutomationError> {
        let i = &self.inner;
        let site = &config.site_id;
        let keywords = i.keywords.count_in_status(site, "new").await?;
        let clusters_waiting = i.clusters.count_in_status(site, "new").await?;
        let ideas_waiting = i.ideas.count_in_status(site, "new").await?;
        let tasks_waiting = i.tasks.count_in_status(site, "queued").await?;
        let drafts_waiting = i.contents.count_in_status(site, "draft").await?;
        let images_waiting = i.images.count_in_status(site, "pending").await?;
        // Clusters grow sub-linearly with the keywords (≈ n^0.75 for real keyword lists:
        // 16 for 30 keywords, 161 for 1,000); erring high keeps the balance check safe.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let new_clusters = ((keywords as f64).powf(0.75).ceil() as u64).min(keywords);
        let clusters = clusters_waiting + new_clusters;
        let ideas = ideas_waiting + clusters * u64::from(config.ideas_per_cluster);
        let articles = tasks_waiting + ideas;
        let drafts = drafts_waiting + articles;
        let images = images_waiting + drafts * u64::from(config.images_per_article);
        let units = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let cost = |op: &'static str, n: u64| {
            let credits = i.credits.clone();
            async move {
                if n == 0 {
                    Ok(0)
                } else {
                    credits.cost(op, units(n)).await
                }
            }
        };
        let mut per_stage = BTreeMap::new();
        let batches = keywords.div_ceil(u64::from(config.batch_size(Stage::Clusters)));
        per_stage.insert(1, if batches == 0 { 0 } else { cost("clustering", 1).await? * units(batches) });
        per_stage.insert(
            2,
            if clusters == 0 {
                0
            } else {
                cost("idea_generation", u64::from(config.ideas_per_cluster)).await? * units(clusters)
            },
        );
        per_stage.insert(3, 0);
        per_stage.insert(4, if articles == 0 { 0 } else { cost("content_generation", 1500).await? * units(articles) });
        per_stage.insert(
            5,
            if drafts == 0 || config.images_per_article == 0 {
                0
            } else {
                cost("image_prompt_extraction", u64::from(config.images_per_article)).await? * units(drafts)
            },
        );
        per_stage.insert(6, cost("image_generation", images).await?);
        let total = per_stage.values().sum();
        Ok(Estimate { keywords, per_stage, total })
    }

    /// Starts a run: lock → validate → estimate → require balance → record → execution.
    /// Anything failing after the lock releases it; nothing else is left behind.
    pub async fn start(
        &self,
        account: &AccountId,
        site: &SiteId,
        trigger: &str,
    ) -> Result<AutomationRun, AutomationError> {
        let site_record = self.site_of(account, site).await?;
        let config = self.config(account, site).await?;
        let run_id = self.inner.ports.ids.generate::<RunId>();
        let lease = match self.inner.locks.acquire(site, run_id.as_str(), config.lease_seconds * 1000).await {
            Ok(lease) => lease,
            Err(LockError::Held { holder, expires_at, .. }) => {
                return Err(AutomationError::AlreadyRunning { holder, until: expires_at })
            }
            Err(e) => return Err(e.into()),
        };
        match self.start_locked(&site_record, &config, &run_id, lease.fence, trigger).await {
            Ok(run) => Ok(run),
            Err(e) => {
                if let Ok(Some(mut run)) = self.inner.runs.get(&run_id).await {
                    run.status = RunStatus::Failed;
                    run.error = Some(e.to_string());
                    run.finished_at = Some(rfc3339(self.now()));
                    run.version += 1;
                    // Best effort: the start error is what the caller must see.
                    let _ = self.inner.runs.save(&run).await;
                }
                let _ = self.inner.locks.release(site, run_id.as_str()).await;
                Err(e)
            }
        }
    }

    async fn start_locked(
        &self,
        site: &Site,
        config: &AutomationConfig,
        run_id: &RunId,
        fence: i64,
        trigger: &str,
    ) -> Result<AutomationRun, AutomationError> {
        if site.status != SiteStatus::Active {
            return Err(AutomationError::SiteInactive);
        }
        if !config.enabled {
            return Err(AutomationError::Disabled);
        }
        let estimate = self.estimate_with(config).await?;
        if estimate.keywords < u64::from(config.min_keywords) {
            return Err(AutomationError::NotEnoughKeywords { have: estimate.keywords, need: config.min_keywords });
        }
        let check = self.inner.credits.check_balance(&site.account_id, estimate.total, config.credit_buffer).await?;
        if !check.sufficient {
            return Err(AutomationError::InsufficientCredits {
                required: check.required_with_buffer,
                available: check.balance.available,
            });
        }
        let run = AutomationRun {
            id: run_id.clone(),
            account_id: site.account_id.clone(),
            site_id: site.id.clone(),
            status: RunStatus::Running,
            current_stage: 1,
            trigger: trigger.to_owned(),
            fence,
            estimated_credits: estimate.total,
            credits_used: 0,
            stages: BTreeMap::new(),
            pause_requested: false,
            cancel_requested: false,
            pause_token: None,
            images_queued: 0,
            images_finished: 0,
            images_token: None,
            error: None,
            started_at: rfc3339(self.now()),
            finished_at: None,
            version: 0,
        };
        self.inner.ports.store.transact(vec![self.inner.runs.create(&run)?]).await?;
        let log = Self::run_log(&run);
        self.inner
            .logger
            .line(
                &log,
                None,
                &format!(
                    "run started ({trigger}): {} keywords, estimate {} credits",
                    estimate.keywords, estimate.total
                ),
            )
            .await?;
        self.inner
            .logger
            .event(&log, None, 0, TraceKind::RunStarted, json!({"keywords": estimate.keywords, "estimate": estimate}))
            .await?;
        let input = json!({
            "run_id": run.id, "account_id": run.account_id, "site_id": run.site_id,
            "next": stage_route(Stage::Clusters),
        });
        self.workflow()?.start_execution(run.id.as_str(), input).await?;
        Ok(run)
    }

    /// A run of the caller's account.
    pub async fn run(&self, account: &AccountId, id: &RunId) -> Result<AutomationRun, AutomationError> {
        self.inner
            .runs
            .get(id)
            .await?
            .filter(|r| &r.account_id == account)
            .ok_or_else(|| AutomationError::RunNotFound(id.clone()))
    }

    /// Any run by id, whatever its account: for trusted local tools (the CLI on a
    /// laptop); tenant-facing callers use [`AutomationService::run`].
    pub async fn run_by_id(&self, id: &RunId) -> Result<AutomationRun, AutomationError> {
        self.inner.runs.get(id).await?.ok_or_else(|| AutomationError::RunNotFound(id.clone()))
    }

    /// A site's runs, newest first.
    pub async fn runs(
        &self,
        account: &AccountId,
        site: &SiteId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<AutomationRun>, AutomationError> {
        self.site_of(account, site).await?;
        Ok(self.inner.runs.list(site, limit.clamp(1, 100), cursor).await?)
    }

    /// Applies `change` to the run and saves it, rereading on a concurrent change.
    pub(crate) async fn modify<T>(
        &self,
        id: &RunId,
        mut change: impl FnMut(&mut AutomationRun) -> Result<T, AutomationError>,
    ) -> Result<(AutomationRun, T), AutomationError> {
        for _ in 0..50 {
            let mut run = self.inner.runs.get(id).await?.ok_or_else(|| AutomationError::RunNotFound(id.clone()))?;
            let value = change(&mut run)?;
            run.version += 1;
            match self.inner.runs.save(&run).await {
                Ok(()) => return Ok((run, value)),
                Err(RepoError::Store(StoreError::ConditionFailed(_))) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AutomationError::Repo(RepoError::Store(StoreError::Conflict)))
    }

    /// Asks the run to pause after its current batch.
    pub async fn pause(&self, account: &AccountId, id: &RunId) -> Result<AutomationRun, AutomationError> {
        self.run(account, id).await?;
        let (run, ()) = self
            .modify(id, |run| match run.status {
                RunStatus::Running => {
                    run.pause_requested = true;
                    Ok(())
                }
                status => Err(AutomationError::InvalidState { status, action: "pause" }),
            })
            .await?;
        self.inner.logger.line(&Self::run_log(&run), None, "pause requested").await?;
        Ok(run)
    }

    /// Resumes a paused (or pause-requested) run where it stopped.
    pub async fn resume(&self, account: &AccountId, id: &RunId) -> Result<AutomationRun, AutomationError> {
        self.run(account, id).await?;
        let (run, ()) = self
            .modify(id, |run| match run.status {
                RunStatus::Paused => {
                    run.pause_requested = false;
                    Ok(())
                }
                RunStatus::Running if run.pause_requested => {
                    run.pause_requested = false;
                    Ok(())
                }
                status => Err(AutomationError::InvalidState { status, action: "resume" }),
            })
            .await?;
        let log = Self::run_log(&run);
        self.inner.logger.line(&log, None, "resume requested").await?;
        self.inner.logger.event(&log, None, 0, TraceKind::RunResumed, json!({})).await?;
        self.wake_paused(id).await?;
        Ok(self.inner.runs.get(id).await?.unwrap_or(run))
    }

    /// Cancels the run after its current batch; partial results are kept.
    pub async fn cancel(&self, account: &AccountId, id: &RunId) -> Result<AutomationRun, AutomationError> {
        self.run(account, id).await?;
        let (run, ()) = self
            .modify(id, |run| {
                if run.status.is_final() {
                    return Err(AutomationError::InvalidState { status: run.status, action: "cancel" });
                }
                run.cancel_requested = true;
                Ok(())
            })
            .await?;
        self.inner.logger.line(&Self::run_log(&run), None, "cancel requested").await?;
        self.wake_paused(id).await?;
        Ok(self.inner.runs.get(id).await?.unwrap_or(run))
    }

    /// Sends a paused run's task token once resume or cancel asked for it. Returns
    /// false when this engine does not know the token (a laptop run driven by another
    /// process): the token stays on the run and that process's driver sends it.
    pub async fn wake_paused(&self, id: &RunId) -> Result<bool, AutomationError> {
        let (run, token) = self
            .modify(id, |run| {
                let wake = run.pause_token.is_some() && (run.cancel_requested || !run.pause_requested);
                if wake {
                    run.status = RunStatus::Running;
                    Ok(run.pause_token.take())
                } else {
                    Ok(None)
                }
            })
            .await?;
        let Some(token) = token else { return Ok(false) };
        let input = StepInput {
            run_id: run.id.clone(),
            account_id: run.account_id.clone(),
            site_id: run.site_id.clone(),
            task_token: None,
        };
        let next = if run.cancel_requested {
            "cancelled".to_owned()
        } else {
            stage_route(Stage::from_number(run.current_stage).unwrap_or(Stage::Clusters))
        };
        match self.workflow()?.send_task_success(&token, to_json(&input.output(next))?).await {
            Ok(()) => Ok(true),
            Err(WorkflowError::InvalidToken | WorkflowError::NotFound(_)) => {
                self.modify(id, |run| {
                    if run.pause_token.is_none() && !run.status.is_final() {
                        run.pause_token = Some(token.clone());
                        run.status = RunStatus::Paused;
                    }
                    Ok(())
                })
                .await?;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The pause wait: records the task token resume will send (or sends it at once
    /// when resume or cancel already came).
    pub async fn pause_wait(&self, input: &StepInput) -> Result<Value, AutomationError> {
        let token =
            input.task_token.clone().ok_or_else(|| AutomationError::Invalid("pause wait without task token".into()))?;
        let (run, route) = self
            .modify(&input.run_id, |run| {
                if run.cancel_requested {
                    return Ok(Some("cancelled".to_owned()));
                }
                if !run.pause_requested {
                    let stage = Stage::from_number(run.current_stage).unwrap_or(Stage::Clusters);
                    return Ok(Some(stage_route(stage)));
                }
                run.status = RunStatus::Paused;
                run.pause_token = Some(token.clone());
                Ok(None)
            })
            .await?;
        match route {
            Some(next) => self.workflow()?.send_task_success(&token, to_json(&input.output(next))?).await?,
            None => {
                let log = Self::run_log(&run);
                self.inner.logger.line(&log, None, &format!("paused in stage {}", run.current_stage)).await?;
                self.inner
                    .logger
                    .event(&log, None, 0, TraceKind::RunPaused, json!({"stage": run.current_stage}))
                    .await?;
            }
        }
        Ok(json!({}))
    }

    /// Records a stage's progress on the run and logs it.
    pub(crate) async fn record_batch(
        &self,
        input: &StepInput,
        stage: Stage,
        outcome: BatchOutcome,
        remaining: u64,
    ) -> Result<AutomationRun, AutomationError> {
        let now = rfc3339(self.now());
        let (run, batches) = self
            .modify(&input.run_id, |run| {
                let result = run.stages.entry(stage.number()).or_insert_with(StageResult::default);
                result.processed += outcome.processed;
                result.created += outcome.created;
                result.credits += outcome.credits;
                result.words += outcome.words;
                result.remaining = remaining;
                result.batches += u64::from(outcome.processed > 0);
                if result.started_at.is_none() {
                    result.started_at = Some(now.clone());
                }
                if remaining == 0 && result.completed_at.is_none() {
                    result.completed_at = Some(now.clone());
                }
                run.credits_used += outcome.credits;
                run.current_stage = stage.number();
                Ok(result.batches)
            })
            .await?;
        let log = Self::run_log(&run);
        if outcome.processed > 0 {
            self.inner
                .logger
                .line(
                    &log,
                    Some(stage),
                    &format!(
                        "batch {batches}: processed {}, created {}, {} credits, {remaining} waiting",
                        outcome.processed, outcome.created, outcome.credits
                    ),
                )
                .await?;
            self.inner
                .logger
                .event(
                    &log,
                    Some(stage),
                    batches,
                    TraceKind::StageProgress,
                    json!({
                        "processed": outcome.processed, "created": outcome.created, "credits": outcome.credits,
                        "words": outcome.words, "remaining": remaining,
                    }),
                )
                .await?;
        }
        if remaining == 0 {
            let result = run.stages.get(&stage.number()).cloned().unwrap_or_default();
            self.inner
                .logger
                .line(
                    &log,
                    Some(stage),
                    &format!("stage completed: {} processed, {} created", result.processed, result.created),
                )
                .await?;
            self.inner
                .logger
                .event(&log, Some(stage), batches + 1, TraceKind::StageCompleted, to_json(&result)?)
                .await?;
        }
        Ok(run)
    }

    /// Checks pause/cancel and the lock before a batch; Some(route) when the run must
    /// not do the batch.
    pub(crate) async fn before_batch(
        &self,
        input: &StepInput,
    ) -> Result<Result<AutomationRun, StepOutput>, AutomationError> {
        let run = self
            .inner
            .runs
            .get(&input.run_id)
            .await?
            .ok_or_else(|| AutomationError::RunNotFound(input.run_id.clone()))?;
        if run.status.is_final() {
            return Ok(Err(input.output(if run.status == RunStatus::Cancelled { "cancelled" } else { "finalize" })));
        }
        if run.cancel_requested {
            return Ok(Err(input.output("cancelled")));
        }
        if run.pause_requested {
            return Ok(Err(input.output("paused")));
        }
        let config = self
            .inner
            .configs
            .get(&run.site_id)
            .await?
            .unwrap_or_else(|| AutomationConfig::defaults(run.account_id.clone(), run.site_id.clone()));
        let lease = self
            .inner
            .locks
            .extend(&run.site_id, run.id.as_str(), config.lease_seconds * 1000)
            .await
            .map_err(|e| AutomationError::LockLost(e.to_string()))?;
        if lease.fence != run.fence {
            return Err(AutomationError::LockLost(format!("fence {} is not the run's {}", lease.fence, run.fence)));
        }
        Ok(Ok(run))
    }

    /// Ends the run: totals, status (completed or cancelled), lock released.
    /// Finalizing again changes nothing.
    pub async fn finalize(&self, input: &StepInput, cancelled: bool) -> Result<AutomationRun, AutomationError> {
        let summary = super::summary::summarize(self, &input.run_id).await?;
        let now = rfc3339(self.now());
        let (run, changed) = self
            .modify(&input.run_id, |run| {
                if run.status.is_final() {
                    return Ok(false);
                }
                run.status = if cancelled { RunStatus::Cancelled } else { RunStatus::Completed };
                run.finished_at = Some(now.clone());
                run.credits_used = summary.credits_used;
                run.pause_token = None;
                Ok(true)
            })
            .await?;
        self.release(&run).await?;
        if changed {
            let log = Self::run_log(&run);
            let kind = if cancelled { TraceKind::RunCancelled } else { TraceKind::RunCompleted };
            self.inner
                .logger
                .line(
                    &log,
                    None,
                    &format!(
                        "run {}: {} clusters, {} ideas, {} tasks, {} articles ({} words), {} images, {} credits",
                        if cancelled { "cancelled" } else { "completed" },
                        summary.clusters,
                        summary.ideas,
                        summary.tasks,
                        summary.articles,
                        summary.words,
                        summary.images,
                        summary.credits_used
                    ),
                )
                .await?;
            self.inner.logger.event(&log, None, 1, kind, to_json(&summary)?).await?;
        }
        Ok(run)
    }

    /// Marks the run failed with the error, gives back open holds and the lock.
    pub async fn fail(&self, input: &StepInput, error: &str, cause: &str) -> Result<AutomationRun, AutomationError> {
        let now = rfc3339(self.now());
        let message = if cause.is_empty() { error.to_owned() } else { format!("{error}: {cause}") };
        let (run, changed) = self
            .modify(&input.run_id, |run| {
                if run.status.is_final() {
                    return Ok(false);
                }
                run.status = RunStatus::Failed;
                run.error = Some(message.clone());
                run.finished_at = Some(now.clone());
                Ok(true)
            })
            .await?;
        self.release_open_holds(&run).await?;
        self.release(&run).await?;
        if changed {
            let log = Self::run_log(&run);
            self.inner.logger.line(&log, None, &format!("run failed: {message}")).await?;
            self.inner.logger.event(&log, None, 2, TraceKind::Error, json!({"error": error, "cause": cause})).await?;
        }
        Ok(run)
    }

    async fn release(&self, run: &AutomationRun) -> Result<(), AutomationError> {
        match self.inner.locks.release(&run.site_id, run.id.as_str()).await {
            Ok(_) | Err(LockError::NotHolder { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn release_open_holds(&self, run: &AutomationRun) -> Result<(), AutomationError> {
        let mut cursor = None;
        loop {
            let Page { items: holds, cursor: next } = self.inner.credits.holds(&run.account_id, 1000, cursor).await?;
            for hold in holds.iter().filter(|h| {
                h.status == crate::domain::HoldStatus::Open && h.reference.as_deref() == Some(run.id.as_str())
            }) {
                self.inner.credits.release(&run.account_id, &hold.id).await?;
            }
            match next {
                Some(c) => cursor = Some(c),
                None => return Ok(()),
            }
        }
    }
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<Value, AutomationError> {
    serde_json::to_value(value).map_err(|e| AutomationError::Invalid(e.to_string()))
}
