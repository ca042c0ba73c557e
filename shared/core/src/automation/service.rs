//! The `AutomationService` type: the adapters a run works on, the repositories it
//! reads and writes, and the plain reads of runs. Everything a run *does* is a method
//! of this type defined next to its rule: run control in `control.rs`, one stage step
//! in `step.rs` and `stages/`, the image fan-out in `stages/images.rs`, the site's
//! config in `config.rs`, the credit estimate in `estimate.rs`, schedules in
//! `schedule.rs`. `Inner` is visible inside `automation/` only.

use std::sync::{Arc, OnceLock, RwLock};

use serde::Serialize;
use serde_json::Value;

use super::error::AutomationError;
use super::logger::{AutomationLogger, RunLog};
use super::summary::{summarize, RunSummary};
use crate::billing::CreditService;
use crate::domain::{
    AccountId, AutomationRun, Cluster, Content, Idea, ImageRecord, Keyword, RunId, Site, SiteId, WriterTask,
};
use crate::linking::LinkingService;
use crate::ports::blob::BlobStore;
use crate::ports::queue::Queue;
use crate::ports::workflow::Workflow;
use crate::ports::{Clock, IdGenerator, ItemStore, Page, StoreError};
use crate::publishing::PublishingService;
use crate::repo::site_lock::SiteLock;
use crate::repo::{ConfigRepo, Records, RepoError, RunRepo, SiteRepo};
use igny8_ai::AiProvider;

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

/// The service's state, shared by its clones; only `automation/` sees it.
pub(in crate::automation) struct Inner {
    pub(in crate::automation) ports: AutomationPorts,
    pub(in crate::automation) credits: CreditService,
    pub(in crate::automation) locks: SiteLock,
    pub(in crate::automation) logger: AutomationLogger,
    pub(in crate::automation) runs: RunRepo,
    pub(in crate::automation) configs: ConfigRepo,
    pub(in crate::automation) sites: SiteRepo,
    pub(in crate::automation) keywords: Records<Keyword>,
    pub(in crate::automation) clusters: Records<Cluster>,
    pub(in crate::automation) ideas: Records<Idea>,
    pub(in crate::automation) tasks: Records<WriterTask>,
    pub(in crate::automation) contents: Records<Content>,
    pub(in crate::automation) images: Records<ImageRecord>,
    pub(in crate::automation) workflow: OnceLock<Arc<dyn Workflow>>,
    pub(in crate::automation) image_queue: OnceLock<String>,
    pub(in crate::automation) history_budget: OnceLock<u64>,
    /// The linker of the linking stage (over the same store and clock).
    pub(in crate::automation) linking: LinkingService,
    /// The publisher of the publishing stage, where integrations are wired.
    pub(in crate::automation) publishing: RwLock<Option<PublishingService>>,
}

/// The automation run's rules.
#[derive(Clone)]
pub struct AutomationService {
    pub(in crate::automation) inner: Arc<Inner>,
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
            linking: LinkingService::new(Arc::clone(&store), Arc::clone(&ports.clock)),
            credits,
            ports,
            workflow: OnceLock::new(),
            image_queue: OnceLock::new(),
            history_budget: OnceLock::new(),
            publishing: RwLock::new(None),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Binds the workflow engine (once).
    pub fn set_workflow(&self, workflow: Arc<dyn Workflow>) {
        // A second binding is ignored: the first engine keeps its executions.
        let _ = self.inner.workflow.set(workflow);
    }

    /// Sets the history events an execution may count before the run continues in a
    /// new one (once, at wiring; tests set a small one to see runs cross executions).
    pub fn set_history_budget(&self, events: u64) {
        // A second setting is ignored, as for the workflow.
        let _ = self.inner.history_budget.set(events);
    }

    /// The history budget of an execution ([`super::history::HISTORY_BUDGET`] unless set).
    pub fn history_budget(&self) -> u64 {
        self.inner.history_budget.get().copied().unwrap_or(super::history::HISTORY_BUDGET)
    }

    pub(in crate::automation) fn workflow(&self) -> Result<&Arc<dyn Workflow>, AutomationError> {
        self.inner.workflow.get().ok_or_else(|| AutomationError::Invalid("no workflow engine bound".into()))
    }

    /// The adapters the service runs on, so services over the same records and files
    /// (the planner's tenant-checked reads) can be built from it without reaching in.
    pub fn ports(&self) -> &AutomationPorts {
        &self.inner.ports
    }

    /// The logger (for reading a run's logs).
    pub fn logger(&self) -> &AutomationLogger {
        &self.inner.logger
    }

    pub(in crate::automation) fn now(&self) -> i64 {
        self.inner.ports.clock.now_ms()
    }

    pub(in crate::automation) fn run_log(run: &AutomationRun) -> RunLog {
        RunLog { account_id: run.account_id.clone(), site_id: run.site_id.clone(), run_id: run.id.clone() }
    }

    /// The site, if it belongs to the account (another account's site is not found).
    pub(in crate::automation) async fn site_of(
        &self,
        account: &AccountId,
        site: &SiteId,
    ) -> Result<Site, AutomationError> {
        self.inner.sites.get(site).await?.filter(|s| &s.account_id == account).ok_or(AutomationError::SiteNotFound)
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

    /// Totals of a run of the caller's account.
    pub async fn summary(&self, account: &AccountId, run_id: &RunId) -> Result<RunSummary, AutomationError> {
        self.run(account, run_id).await?;
        summarize(&self.inner.ports.store, &self.inner.credits, run_id).await
    }

    /// Applies `change` to the run and saves it, rereading on a concurrent change.
    pub(in crate::automation) async fn modify<T>(
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
}

/// A value as JSON for the workflow or a trace event.
pub(in crate::automation) fn to_json<T: Serialize>(value: &T) -> Result<Value, AutomationError> {
    serde_json::to_value(value).map_err(|e| AutomationError::Invalid(e.to_string()))
}
