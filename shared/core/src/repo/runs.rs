//! Automation runs and per-site automation configs.

use std::sync::Arc;

use super::keys::{config_key, run_key, site_runs_index, SCHEDULE_INDEX};
use super::{from_item, to_item, RepoError};
use crate::domain::{AutomationConfig, AutomationRun, RunId, SiteId};
use crate::ports::{Condition, ItemStore, Page, Query, StoreError, UpdateAction, WriteOp};

/// Stores runs; every save is conditioned on the version read, so concurrent
/// changes (a step and a pause request) never overwrite each other.
#[derive(Clone)]
pub struct RunRepo {
    store: Arc<dyn ItemStore>,
}

impl RunRepo {
    /// A repository over the store.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    fn write(run: &AutomationRun, condition: Condition) -> Result<WriteOp, RepoError> {
        let item = to_item(
            run,
            "automation_run",
            &run_key(&run.id),
            Some((site_runs_index(&run.site_id), run.id.to_string())),
        )?;
        Ok(WriteOp::Put { item, condition: Some(condition) })
    }

    /// A put of a new run (fails if the id exists).
    pub fn create(&self, run: &AutomationRun) -> Result<WriteOp, RepoError> {
        Self::write(run, Condition::ItemNotExists)
    }

    /// A put of the run's next state, valid only if it is still at `run.version - 1`.
    pub fn save_op(&self, run: &AutomationRun) -> Result<WriteOp, RepoError> {
        Self::write(run, Condition::eq("version", run.version - 1))
    }

    /// Saves the run's next state (bump `version` first); a concurrent change makes
    /// this fail with a condition error and the caller rereads.
    pub async fn save(&self, run: &AutomationRun) -> Result<(), RepoError> {
        Ok(self.store.transact(vec![self.save_op(run)?]).await?)
    }

    /// Reads a run.
    pub async fn get(&self, id: &RunId) -> Result<Option<AutomationRun>, RepoError> {
        self.store.get(&run_key(id)).await?.map(from_item).transpose()
    }

    /// The write counting one more finished image job of the run (in the job's
    /// transaction, so a job is counted exactly once with its image's transition).
    pub fn image_finished_write(&self, id: &RunId) -> WriteOp {
        WriteOp::Update {
            key: run_key(id),
            actions: vec![UpdateAction::add("images_finished", 1), UpdateAction::add("version", 1)],
            condition: Some(Condition::ItemExists),
        }
    }

    /// Takes stage 6's task token off the run if it is still `token`: of all the image
    /// jobs that see the last one finish, exactly one wins (true) and sends it.
    pub async fn claim_images_token(&self, id: &RunId, token: &str) -> Result<bool, RepoError> {
        let actions = vec![UpdateAction::remove("images_token"), UpdateAction::add("version", 1)];
        match self.store.update(&run_key(id), actions, Some(Condition::eq("images_token", token))).await {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// One page of a site's runs, newest first.
    pub async fn list(
        &self,
        site: &SiteId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<AutomationRun>, RepoError> {
        let q = Query::partition(site_runs_index(site)).on_gsi1().descending().limit(limit).after(cursor);
        let page = self.store.query(&q).await?;
        page.try_map(from_item)
    }
}

/// Stores automation configs, indexed by next due time when scheduled.
#[derive(Clone)]
pub struct ConfigRepo {
    store: Arc<dyn ItemStore>,
}

impl ConfigRepo {
    /// A repository over the store.
    pub fn new(store: Arc<dyn ItemStore>) -> Self {
        Self { store }
    }

    fn item(config: &AutomationConfig) -> Result<crate::ports::Item, RepoError> {
        let due = config
            .next_run_at
            .filter(|_| config.enabled && config.schedule.is_some())
            .map(|at| (SCHEDULE_INDEX.to_owned(), format!("{at:015}#{}", config.site_id)));
        to_item(config, "automation_config", &config_key(&config.site_id), due)
    }

    /// The site's config, if one was saved.
    pub async fn get(&self, site: &SiteId) -> Result<Option<AutomationConfig>, RepoError> {
        self.store.get(&config_key(site)).await?.map(from_item).transpose()
    }

    /// Saves the config.
    pub async fn put(&self, config: &AutomationConfig) -> Result<(), RepoError> {
        Ok(self.store.put(Self::item(config)?, None).await?)
    }

    /// Moves a scheduled config's next start from `due` to `next` — only if it is
    /// still `due`, so two schedulers firing for the same time start one run.
    pub async fn advance(&self, config: &AutomationConfig, due: i64) -> Result<bool, RepoError> {
        match self.store.put(Self::item(config)?, Some(Condition::eq("next_run_at", due))).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Configs whose next scheduled start is at or before `now_ms`.
    pub async fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<AutomationConfig>, RepoError> {
        let q = Query::partition(SCHEDULE_INDEX).on_gsi1().limit(limit.max(1));
        let page = self.store.query(&q).await?;
        let configs: Vec<AutomationConfig> = page.items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok(configs.into_iter().filter(|c| c.next_run_at.is_some_and(|at| at <= now_ms)).collect())
    }
}
