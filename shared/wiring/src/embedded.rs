//! The whole platform on a laptop: one data directory holds the SQLite file (records,
//! the image queue and the interpreter's executions), the blob folder and the key file
//! that seals integration credentials (`keys/integrations.key`, mode 0600, created on
//! first use); the run is driven by the in-process interpreter and image worker, its
//! publishing stage by the real WordPress and Shopify clients (tests pass their own).
//! The CLI's `igny8 run` and the end-to-end tests use it.
//!
//! Executions are durable: each is committed at every state transition, so a run
//! whose process died is continued by another ([`LocalRuntime::continue_run`]), which
//! takes the run's site lock over by holder and re-enters the state it was in.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use igny8_ai::AiProvider;
pub use igny8_asl::{ExecutionOutcome, ExecutorOptions};
use igny8_asl::{ExecutionStatus, ExecutorError};
pub use igny8_core::automation::Continuation;
use igny8_core::automation::{
    AutomationError, AutomationPorts, AutomationService, StepInput, IMAGE_DLQ, IMAGE_MAX_RECEIVES, IMAGE_QUEUE,
};
use igny8_core::domain::{AutomationRun, RunId, SiteId};
use igny8_core::integration::IntegrationPorts;
use igny8_core::planner::KeywordImporter;
use igny8_core::ports::blob::BlobStore;
use igny8_core::ports::queue::Queue;
use igny8_core::ports::Platforms;
use igny8_core::ports::{Clock, IdGenerator, ItemStore};
use igny8_core::Services;
pub use igny8_embedded::workflow::drain_image_queue;
use igny8_embedded::workflow::{workflow_error, AutomationTasks, LocalWorkflow};
use igny8_embedded::{BlobDir, LocalKeyFile, SqliteExecutions, SqliteQueue, SqliteStore};
use igny8_platforms::default_platforms;

/// Name of the SQLite file inside the data directory.
pub const SQLITE_FILE: &str = "igny8.sqlite";

/// Folder of the blob store inside the data directory.
pub const BLOB_DIR: &str = "blobs";

/// The master key file of integration credentials, inside the data directory.
pub const KEY_FILE: &str = "keys/integrations.key";

/// Errors opening the local runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A store could not be opened.
    #[error("cannot open {what} in {path}: {reason}")]
    Open {
        /// Which store.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The state machine could not be loaded.
    #[error("cannot load the state machine: {0}")]
    Workflow(String),
    /// The item store refused (an AWS table that cannot be reached or created).
    #[error(transparent)]
    Store(#[from] igny8_core::ports::StoreError),
}

/// The adapters a runtime runs on.
pub struct Adapters {
    /// Records.
    pub store: Arc<dyn ItemStore>,
    /// Logs and images.
    pub blobs: Arc<dyn BlobStore>,
    /// Image jobs.
    pub queue: Arc<dyn Queue>,
    /// Where blob keys live, as people read it.
    pub blob_base: String,
}

/// Everything a local run needs, wired once.
#[derive(Clone)]
pub struct LocalRuntime {
    /// Ledger, accounts, locks.
    pub services: Services,
    /// The automation.
    pub automation: AutomationService,
    /// The interpreter adapter.
    pub workflow: LocalWorkflow,
    /// The image queue.
    pub queue: Arc<dyn Queue>,
    /// Logs and images.
    pub blobs: Arc<dyn BlobStore>,
    /// Where blob keys live, as people read it (a folder path, or `s3://bucket/`).
    pub blob_base: String,
    /// Keyword imports.
    pub importer: KeywordImporter,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The interpreter's task handler (for its pace).
    tasks: Arc<AutomationTasks>,
    /// How long the driver sleeps after each batch of image jobs (0: not at all).
    pace: Duration,
}

/// A run this process has taken over from one whose process died.
#[derive(Debug, Clone)]
pub struct Continued {
    /// The run, with its new fence.
    pub run: AutomationRun,
    /// The state its execution re-entered (`None`: the execution had never been
    /// stored, so a new one started where the run record says the run is).
    pub state: Option<String>,
}

impl LocalRuntime {
    /// Opens (creating) the data directory and wires the embedded adapters.
    pub fn open(
        data_dir: &Path,
        ai: Arc<dyn AiProvider>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        options: ExecutorOptions,
    ) -> Result<Self, RuntimeError> {
        let open_err =
            |what, path: &Path, reason: String| RuntimeError::Open { what, path: path.to_path_buf(), reason };
        let db = data_dir.join(SQLITE_FILE);
        let store: Arc<dyn ItemStore> =
            Arc::new(SqliteStore::open(&db).map_err(|e| open_err("the item store", &db, e.to_string()))?);
        let queue = Arc::new(
            SqliteQueue::open(&db, Arc::clone(&clock))
                .map_err(|e| open_err("the queue", &db, e.to_string()))?
                .with_redrive(IMAGE_QUEUE, IMAGE_DLQ, IMAGE_MAX_RECEIVES + 1),
        );
        let blob_root = data_dir.join(BLOB_DIR);
        let blobs =
            Arc::new(BlobDir::open(&blob_root).map_err(|e| open_err("the blob folder", &blob_root, e.to_string()))?);
        let adapters = Adapters { store, blob_base: format!("{}/", blobs.root().display()), blobs, queue };
        Self::with_adapters(adapters, data_dir, ai, clock, ids, options)
    }

    /// [`LocalRuntime::open`] publishing through `platforms` instead of the real
    /// clients (tests: a scripted fake platform, a local WordPress).
    pub fn open_with_platforms(
        data_dir: &Path,
        ai: Arc<dyn AiProvider>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        options: ExecutorOptions,
        platforms: Platforms,
    ) -> Result<Self, RuntimeError> {
        let mut runtime = Self::open(data_dir, ai, clock, ids, options)?;
        runtime.set_platforms(platforms);
        Ok(runtime)
    }

    /// Publishes (and tests connections, syncs) through `platforms` from now on, for
    /// every service of the runtime and the run's publishing stage.
    pub fn set_platforms(&mut self, platforms: Platforms) {
        let ports = self.services.integrations.ports().ok().cloned();
        if let Some(ports) = ports {
            self.services = self.services.clone().with_integrations(IntegrationPorts { platforms, ..ports });
            self.automation.set_publishing(self.services.publishing.clone());
        }
    }

    /// Wires the services over any adapter family, the run driven by the in-process
    /// interpreter (an emulator cannot run the Rust Lambdas, so `--backend aws` on a
    /// laptop uses DynamoDB, S3 and SQS with this interpreter).
    pub fn with_adapters(
        adapters: Adapters,
        data_dir: &Path,
        ai: Arc<dyn AiProvider>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        options: ExecutorOptions,
    ) -> Result<Self, RuntimeError> {
        let Adapters { store, blobs, queue, blob_base } = adapters;
        let services = Services::with(Arc::clone(&store), Arc::clone(&clock), Arc::clone(&ids));
        let keys = Arc::new(LocalKeyFile::new(data_dir.join(KEY_FILE)));
        #[cfg(feature = "documents")]
        let services = crate::billing::with_invoice_pdfs(
            services,
            Arc::clone(&blobs),
            crate::billing::seller_from_lookup(|name| std::env::var(name).ok()),
        );
        let ports = AutomationPorts {
            store: Arc::clone(&store),
            blobs: Arc::clone(&blobs),
            queue: Arc::clone(&queue),
            ai,
            clock: Arc::clone(&clock),
            ids,
        };
        let automation = AutomationService::new(ports, services.credits.clone());
        let services = crate::attach_integrations(services, &automation, keys, default_platforms(), Arc::clone(&blobs));
        let tasks = Arc::new(AutomationTasks::default());
        let db = data_dir.join(SQLITE_FILE);
        let executions = SqliteExecutions::open(&db).map_err(|e| RuntimeError::Open {
            what: "the execution store",
            path: db.clone(),
            reason: e.to_string(),
        })?;
        let workflow = LocalWorkflow::automation(Arc::clone(&tasks), options, Some(Arc::new(executions)))
            .map_err(|e| RuntimeError::Workflow(e.to_string()))?;
        automation.set_workflow(Arc::new(workflow.clone()));
        tasks.bind(automation.clone());
        Ok(Self {
            importer: KeywordImporter::new(store, clock),
            services,
            automation,
            workflow,
            queue,
            blobs,
            blob_base,
            data_dir: data_dir.to_path_buf(),
            tasks,
            pace: Duration::ZERO,
        })
    }

    /// Slows the run down: every task of the interpreter sleeps `pace` before and after
    /// its handler, and the driver after each batch of image jobs — so that tests (and
    /// people trying things out) can interrupt a run at a chosen point.
    pub fn set_pace(&mut self, pace: Duration) {
        self.tasks.set_pace(pace);
        self.pace = pace;
    }

    /// The newest run of `site` whose execution is stored as running but driven by no
    /// live process (its process died), with the state it was in.
    pub fn interrupted_run(&self, site: &SiteId) -> Result<Option<(RunId, Option<String>)>, AutomationError> {
        let stored =
            self.workflow.executor().interrupted().map_err(|e| AutomationError::Workflow(workflow_error(e)))?;
        Ok(stored
            .into_iter()
            .rev()
            .find(|c| c.input.get("site_id").and_then(|v| v.as_str()) == Some(site.as_str()))
            .and_then(|c| {
                // A long run's later executions are named `<run id>-<generation>`; every
                // execution's input names its run.
                let run = c.input.get("run_id").and_then(|v| v.as_str()).unwrap_or(&c.name);
                run.parse::<RunId>().ok().map(|id| (id, c.state))
            }))
    }

    /// Continues a run whose process died, in this process: claims its execution,
    /// takes its site lock over by holder (see [`AutomationService::take_over`]), and
    /// re-enters the state the execution was in. `None` when a live process still
    /// drives it (nothing is changed then). A run whose execution closed without
    /// ending it (timed out) is marked failed, its holds and lock given back.
    pub async fn continue_run(&self, id: &RunId, how: Continuation) -> Result<Option<Continued>, AutomationError> {
        let executor = self.workflow.executor();
        let engine = |e: ExecutorError| AutomationError::Workflow(workflow_error(e));
        // A long run continues in new executions: the one to continue is its newest.
        let execution = self.automation.run_by_id(id).await?.current_execution();
        match executor.attach(&execution) {
            Ok(attachment) => {
                let state = attachment.checkpoint().state.clone();
                // The claim is held from here: no other process starts driving it.
                let run = self.automation.take_over(id, how).await?;
                attachment.resume().map_err(engine)?;
                Ok(Some(Continued { run, state }))
            }
            Err(ExecutorError::RunningElsewhere(_)) => Ok(None),
            Err(ExecutorError::ExecutionDoesNotExist(_)) => {
                // Died between writing the run and committing its execution.
                let run = self.automation.run_by_id(id).await?;
                if run.status.is_final() {
                    return Err(AutomationError::InvalidState { status: run.status, action: "continue" });
                }
                let run = self.automation.take_over(id, how).await?;
                match executor.start_execution(&execution, AutomationService::continuation_input(&run)) {
                    Ok(_) => Ok(Some(Continued { run, state: None })),
                    Err(ExecutorError::RunningElsewhere(_)) => Ok(None),
                    Err(e) => Err(engine(e)),
                }
            }
            Err(ExecutorError::ExecutionClosed(_, status)) => {
                let run = self.automation.run_by_id(id).await?;
                if run.status.is_final() {
                    return Err(AutomationError::InvalidState { status: run.status, action: "continue" });
                }
                let input = StepInput {
                    run_id: run.id.clone(),
                    account_id: run.account_id.clone(),
                    site_id: run.site_id.clone(),
                    task_token: None,
                };
                let cause = format!("its execution closed {status} without ending the run");
                let run = self.automation.fail(&input, "Local.ExecutionClosed", &cause).await?;
                Err(AutomationError::InvalidState { status: run.status, action: "continue" })
            }
            Err(e) => Err(engine(e)),
        }
    }

    /// Drives a started run to its end: works the image queue while the execution
    /// runs and reports the run record after every change.
    pub async fn drive(
        &self,
        run_id: &RunId,
        progress: impl FnMut(&AutomationRun),
    ) -> Result<ExecutionOutcome, AutomationError> {
        let outcome = self.drive_until(run_id, progress, |_| false).await?;
        outcome.ok_or_else(|| AutomationError::Invalid("the drive stopped before the run ended".into()))
    }

    /// Like [`LocalRuntime::drive`], but returns `None` as soon as `stop` says so of
    /// the run record (e.g. once a pause the user asked for has taken effect): the
    /// execution stays stored where it is, for another process to continue.
    pub async fn drive_until(
        &self,
        run_id: &RunId,
        mut progress: impl FnMut(&AutomationRun),
        mut stop: impl FnMut(&AutomationRun) -> bool,
    ) -> Result<Option<ExecutionOutcome>, AutomationError> {
        let executor = self.workflow.executor();
        let mut last_version = -1;
        let mut execution = run_id.to_string();
        loop {
            let worked = match drain_image_queue(&self.automation, self.queue.as_ref(), 10).await {
                Ok(worked) => worked,
                // A throttled queue (SQS with `--backend aws`) is worked again next turn,
                // as SQS would redeliver.
                Err(e) if e.is_transient() => 0,
                Err(e) => return Err(e.into()),
            };
            if worked > 0 && !self.pace.is_zero() {
                tokio::time::sleep(self.pace).await;
            }
            let run = self.automation.run_by_id(run_id).await?;
            // A long run continues in new executions: follow the newest one.
            if run.generation_of(&execution).is_none_or(|g| g < run.generation()) {
                execution = run.current_execution();
            }
            let description =
                executor.describe_execution(&execution).map_err(|e| AutomationError::Invalid(e.to_string()))?;
            if continued(&description) {
                let next = run.generation_of(&execution).map_or(0, |g| g + 1);
                execution = run.execution_name(next);
                continue;
            }
            if run.version != last_version {
                last_version = run.version;
                progress(&run);
            }
            // Resume or cancel may come from another process, which cannot reach
            // this interpreter's task token: send it from here.
            if run.pause_token.is_some() && (run.cancel_requested || !run.pause_requested) {
                self.automation.wake_paused(run_id).await?;
            }
            if description.status != ExecutionStatus::Running {
                return executor
                    .wait_for_completion(&execution)
                    .await
                    .map(Some)
                    .map_err(|e| AutomationError::Invalid(e.to_string()));
            }
            if stop(&run) {
                return Ok(None);
            }
            if worked == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// True when the execution ended handing the run to its next execution.
fn continued(description: &igny8_asl::ExecutionDescription) -> bool {
    description.status == ExecutionStatus::Succeeded
        && description.output.as_ref().and_then(|o| o.get("next")).and_then(|n| n.as_str())
            == Some(igny8_core::automation::Route::Continued.as_str())
}
