//! The whole platform on a laptop: one data directory holds the SQLite file (records
//! and the image queue) and the blob folder; the run is driven by the in-process
//! interpreter and image worker. The CLI's `igny8 run` and the end-to-end tests use it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use igny8_ai::AiProvider;
use igny8_asl::ExecutionStatus;
pub use igny8_asl::{ExecutionOutcome, ExecutorOptions};
use igny8_core::automation::{
    AutomationError, AutomationPorts, AutomationService, IMAGE_DLQ, IMAGE_MAX_RECEIVES, IMAGE_QUEUE,
};
use igny8_core::domain::{AutomationRun, RunId};
use igny8_core::planner::KeywordImporter;
use igny8_core::ports::blob::BlobStore;
use igny8_core::ports::queue::Queue;
use igny8_core::ports::{Clock, IdGenerator, ItemStore};
use igny8_core::Services;
pub use igny8_embedded::workflow::drain_image_queue;
use igny8_embedded::workflow::{AutomationTasks, LocalWorkflow};
use igny8_embedded::{BlobDir, SqliteQueue, SqliteStore};

/// Name of the SQLite file inside the data directory.
pub const SQLITE_FILE: &str = "igny8.sqlite";

/// Folder of the blob store inside the data directory.
pub const BLOB_DIR: &str = "blobs";

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
        let ports = AutomationPorts {
            store: Arc::clone(&store),
            blobs: Arc::clone(&blobs),
            queue: Arc::clone(&queue),
            ai,
            clock: Arc::clone(&clock),
            ids,
        };
        let automation = AutomationService::new(ports, services.credits.clone());
        let tasks = Arc::new(AutomationTasks::default());
        let workflow = LocalWorkflow::automation(Arc::clone(&tasks), options)
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
        })
    }

    /// Drives a started run to its end: works the image queue while the execution
    /// runs and reports the run record after every change.
    pub async fn drive(
        &self,
        run_id: &RunId,
        mut progress: impl FnMut(&AutomationRun),
    ) -> Result<ExecutionOutcome, AutomationError> {
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
                    .map_err(|e| AutomationError::Invalid(e.to_string()));
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
