//! Picks the adapter family at run time: the CLI's `--backend` choice. The embedded
//! family is always there; the AWS one only when the `aws` feature is built (a laptop
//! build for the main job leaves the AWS SDKs out and says so when asked for them).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use igny8_ai::AiProvider;
#[cfg(feature = "aws")]
use igny8_asl::ExecutorOptions;
#[cfg(feature = "aws")]
use igny8_aws::{DynamoStore, S3Blobs, SqsQueue};
#[cfg(feature = "aws")]
use igny8_core::automation::{IMAGE_DLQ, IMAGE_MAX_RECEIVES, IMAGE_QUEUE};
use igny8_core::ports::{Clock, IdGenerator, ItemStore, StoreError};
use igny8_embedded::SqliteStore;

#[cfg(feature = "aws")]
use crate::embedded::Adapters;
use crate::embedded::{LocalRuntime, RuntimeError, SQLITE_FILE};

/// What a build without the `aws` feature answers when asked for the AWS family.
pub const AWS_NOT_BUILT: &str = "this igny8 was built without the AWS adapters; build it with `--features aws`";

/// Where the platform keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (and, later, blob folders) under a directory: the laptop default.
    Embedded {
        /// The data directory.
        data_dir: PathBuf,
    },
    /// One DynamoDB table, optionally at an emulator's endpoint.
    DynamoDb {
        /// Endpoint override (e.g. `http://127.0.0.1:5000`), None for AWS itself.
        endpoint: Option<String>,
        /// Table name.
        table: String,
        /// Create the table when missing (emulators and first runs).
        ensure_table: bool,
    },
}

impl Backend {
    /// Opens the item store of this backend.
    pub async fn open_store(&self) -> Result<Arc<dyn ItemStore>, StoreError> {
        match self {
            Self::Embedded { data_dir } => Ok(Arc::new(SqliteStore::open(data_dir.join(SQLITE_FILE))?)),
            #[cfg(feature = "aws")]
            Self::DynamoDb { endpoint, table, ensure_table } => {
                let store = DynamoStore::connect(endpoint.as_deref(), table).await?;
                if *ensure_table {
                    store.ensure_table().await?;
                }
                Ok(Arc::new(store))
            }
            #[cfg(not(feature = "aws"))]
            Self::DynamoDb { .. } => Err(StoreError::Invalid(AWS_NOT_BUILT.into())),
        }
    }
}

/// The AWS resources a laptop run uses instead of the embedded stores (`--backend aws`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsResources {
    /// Endpoint override (an emulator on 127.0.0.1), None for AWS itself.
    pub endpoint: Option<String>,
    /// DynamoDB table.
    pub table: String,
    /// S3 bucket.
    pub bucket: String,
}

/// A local runtime over DynamoDB, S3 and SQS, the run still driven by the in-process
/// interpreter (an emulator cannot run the Rust Lambdas). Against an emulator the table,
/// bucket and queues are created when missing.
#[cfg(feature = "aws")]
pub async fn local_runtime_on_aws(
    aws: &AwsResources,
    data_dir: &Path,
    ai: Arc<dyn AiProvider>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
) -> Result<LocalRuntime, RuntimeError> {
    let endpoint = aws.endpoint.as_deref();
    let unavailable = |what: &'static str, reason: String| RuntimeError::Open {
        what,
        path: PathBuf::from(endpoint.unwrap_or("AWS")),
        reason,
    };
    let store = DynamoStore::connect(endpoint, &aws.table).await?;
    let blobs = S3Blobs::connect(endpoint, &aws.bucket).await.map_err(|e| unavailable("the bucket", e.to_string()))?;
    let queue = SqsQueue::connect(endpoint).await.map_err(|e| unavailable("the queue", e.to_string()))?;
    if endpoint.is_some() {
        store.ensure_table().await?;
        blobs.ensure_bucket().await.map_err(|e| unavailable("the bucket", e.to_string()))?;
        queue
            .ensure_queue(IMAGE_QUEUE, Some((IMAGE_DLQ, IMAGE_MAX_RECEIVES + 1)))
            .await
            .map_err(|e| unavailable("the queue", e.to_string()))?;
    }
    std::fs::create_dir_all(data_dir).map_err(|e| RuntimeError::Open {
        what: "the data directory",
        path: data_dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let adapters = Adapters {
        store: Arc::new(store),
        blobs: Arc::new(blobs),
        queue: Arc::new(queue),
        blob_base: format!("s3://{}/", aws.bucket),
    };
    LocalRuntime::with_adapters(adapters, data_dir, ai, clock, ids, ExecutorOptions::default())
}

/// Without the `aws` feature: the refusal, said once.
#[cfg(not(feature = "aws"))]
pub async fn local_runtime_on_aws(
    _aws: &AwsResources,
    _data_dir: &Path,
    _ai: Arc<dyn AiProvider>,
    _clock: Arc<dyn Clock>,
    _ids: Arc<dyn IdGenerator>,
) -> Result<LocalRuntime, RuntimeError> {
    Err(RuntimeError::Store(StoreError::Invalid(AWS_NOT_BUILT.into())))
}
