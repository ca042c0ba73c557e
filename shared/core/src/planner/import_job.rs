//! Keyword imports too large for one API request (a Lambda request is capped at 6 MB,
//! the API's body at 1 MiB): the file goes to the blob store through an upload link,
//! and an import job reads it and writes its keywords in chunks, recording progress
//! after each, so the work fits many short requests and survives a dead worker.
//!
//! Lifecycle: [`ImportJobs::create`] (status `awaiting_upload`, with the link) → the
//! client uploads the file → [`ImportJobs::run`] (called again while `running`: each
//! call works for at most its budget) → `completed`, or `failed` with the file's
//! problem (encoding, header, malformed rows by line — nothing is written then).
//!
//! Replay-safe: keyword ids derive from the site and the normalised keyword, so a chunk
//! redone after a worker died writes nothing twice (its keywords already written count
//! as duplicates then). One worker at a time holds a job's lease; every write of the
//! job record is conditional on the version it read.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::import::{parse_keywords_csv, ImportError, KeywordImporter, RowError};
use crate::domain::{AccountId, SiteId};
use crate::ports::blob::{BlobError, BlobStore};
use crate::ports::clock::rfc3339;
use crate::ports::{Clock, Condition, ItemStore, StoreError};
use crate::repo::{from_item, keys, to_item, RepoError, SiteRepo};

/// Largest file a job takes (100,000 keywords of a full Semrush export are ~10 MB).
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;
/// Most keywords one job imports.
pub const MAX_JOB_KEYWORDS: usize = 200_000;
/// Keywords written between two progress records.
pub const CHUNK: usize = 1_000;
/// How long an upload link stays valid.
pub const UPLOAD_TTL: Duration = Duration::from_secs(3600);
/// How long a worker owns a job without recording progress before another may take it.
pub const LEASE_MS: i64 = 60_000;
/// Row errors kept on a failed job (the count says how many there were).
pub const MAX_KEPT_ERRORS: usize = 100;
/// The media type uploads are sent with (and the presigned link is signed for).
pub const UPLOAD_CONTENT_TYPE: &str = "text/csv";

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportJobStatus {
    /// Waiting for the file (and for the first run).
    AwaitingUpload,
    /// Keywords are being written; run again to continue.
    Running,
    /// Every keyword is written.
    Completed,
    /// The file was refused; nothing was written.
    Failed,
}

/// A keyword-import job as stored (the upload token never leaves the service but to
/// build the upload link).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportJob {
    /// `imp_` and 32 hex digits.
    pub id: String,
    /// Owning tenant.
    pub account_id: AccountId,
    /// The site the keywords go to.
    pub site_id: SiteId,
    /// Progress.
    pub status: ImportJobStatus,
    /// Where the uploaded file is.
    pub blob_key: String,
    /// Secret of the API's own upload route (stores without upload links).
    pub upload_token: String,
    /// When the upload link stops working (RFC 3339).
    pub upload_expires_at: String,
    /// The same, in Unix ms (what is compared).
    pub upload_expires_ms: i64,
    /// Keywords in the file (known once it was read).
    pub total: Option<u64>,
    /// Keywords handled so far (written or found already there).
    pub processed: u64,
    /// New keywords stored.
    pub imported: u64,
    /// Keywords that were already stored (or repeated in the file).
    pub duplicates: u64,
    /// Why the job failed: a stable code.
    pub error_code: Option<String>,
    /// Why the job failed, for people.
    pub error: Option<String>,
    /// The file's bad rows (the first [`MAX_KEPT_ERRORS`]).
    pub row_errors: Vec<RowError>,
    /// Who is working on it, until when (Unix ms).
    pub lease_holder: Option<String>,
    /// End of the current worker's lease (Unix ms).
    pub lease_until_ms: i64,
    /// Bumped by every write; each write is conditional on the one read.
    pub version: u64,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// A new job and how to upload its file.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedJob {
    /// The job.
    pub job: ImportJob,
    /// A presigned link from the blob store (S3); None: the caller serves the upload
    /// (the local API's upload route, authorised by the job's token).
    pub upload_url: Option<String>,
}

/// Why a job operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportJobError {
    /// No such job on this site of this account (or the site is not the account's).
    #[error("import job not found")]
    NotFound,
    /// The upload link's token is wrong or expired, or the job takes no more uploads.
    #[error("{0}")]
    UploadRefused(&'static str),
    /// The uploaded file is larger than a job takes.
    #[error("the file has {0} bytes; an import takes at most {MAX_UPLOAD_BYTES}")]
    TooLarge(usize),
    /// The job was run before its file was uploaded.
    #[error("no file uploaded yet: PUT it to the job's upload link first")]
    NotUploaded,
    /// Storage failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl ImportJobError {
    /// The stable code the API reports.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::UploadRefused(_) => "upload_refused",
            Self::TooLarge(_) => "file_too_large",
            Self::NotUploaded => "upload_missing",
            Self::Repo(e) => e.code(),
            Self::Blob(e) => e.code(),
        }
    }
}

impl From<StoreError> for ImportJobError {
    fn from(e: StoreError) -> Self {
        Self::Repo(RepoError::Store(e))
    }
}

/// True for an id this service makes.
pub fn is_job_id(id: &str) -> bool {
    id.strip_prefix("imp_")
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The keyword-import jobs service.
#[derive(Clone)]
pub struct ImportJobs {
    store: Arc<dyn ItemStore>,
    blobs: Arc<dyn BlobStore>,
    sites: SiteRepo,
    importer: KeywordImporter,
    clock: Arc<dyn Clock>,
}

const RECORD_TYPE: &str = "KeywordImportJob";

impl ImportJobs {
    /// The service over the store (jobs and keywords) and the blob store (files).
    pub fn new(store: Arc<dyn ItemStore>, blobs: Arc<dyn BlobStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            sites: SiteRepo::new(Arc::clone(&store)),
            importer: KeywordImporter::new(Arc::clone(&store), Arc::clone(&clock)),
            store,
            blobs,
            clock,
        }
    }

    async fn load(&self, site: &SiteId, id: &str) -> Result<ImportJob, ImportJobError> {
        if !is_job_id(id) {
            return Err(ImportJobError::NotFound);
        }
        match self.store.get(&keys::keyword_import(site, id)).await? {
            Some(item) => Ok(from_item(item)?),
            None => Err(ImportJobError::NotFound),
        }
    }

    /// Writes the job if it is still at the version read; the write bumps it. False
    /// when another writer got there first.
    async fn save(&self, job: &mut ImportJob) -> Result<bool, ImportJobError> {
        let seen = job.version;
        job.version += 1;
        job.updated_at = rfc3339(self.clock.now_ms());
        let key = keys::keyword_import(&job.site_id, &job.id);
        let item = to_item(job, RECORD_TYPE, &key, None)?;
        let condition = if seen == 0 { Condition::ItemNotExists } else { Condition::eq("version", seen) };
        match self.store.put(item, Some(condition)).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A new job for `site` and its upload link.
    pub async fn create(&self, account: &AccountId, site: &SiteId) -> Result<CreatedJob, ImportJobError> {
        match self.sites.get(site).await? {
            Some(s) if &s.account_id == account => {}
            _ => return Err(ImportJobError::NotFound),
        }
        let id = format!("imp_{}", uuid::Uuid::new_v4().simple());
        let now = self.clock.now_ms();
        let ttl_ms = i64::try_from(UPLOAD_TTL.as_millis()).unwrap_or(i64::MAX);
        let mut job = ImportJob {
            blob_key: format!("imports/{account}/{site}/{id}.csv"),
            id,
            account_id: account.clone(),
            site_id: site.clone(),
            status: ImportJobStatus::AwaitingUpload,
            upload_token: uuid::Uuid::new_v4().simple().to_string(),
            upload_expires_at: rfc3339(now.saturating_add(ttl_ms)),
            upload_expires_ms: now.saturating_add(ttl_ms),
            total: None,
            processed: 0,
            imported: 0,
            duplicates: 0,
            error_code: None,
            error: None,
            row_errors: Vec::new(),
            lease_holder: None,
            lease_until_ms: 0,
            version: 0,
            created_at: rfc3339(now),
            updated_at: String::new(),
        };
        let upload_url = self.blobs.presigned_put(&job.blob_key, UPLOAD_CONTENT_TYPE, UPLOAD_TTL).await?;
        if !self.save(&mut job).await? {
            return Err(RepoError::Store(StoreError::Conflict).into());
        }
        Ok(CreatedJob { job, upload_url })
    }

    /// One job of the account's site.
    pub async fn get(&self, account: &AccountId, site: &SiteId, id: &str) -> Result<ImportJob, ImportJobError> {
        let job = self.load(site, id).await?;
        if &job.account_id != account {
            return Err(ImportJobError::NotFound);
        }
        Ok(job)
    }

    /// Stores an upload sent to the API's own upload route: the job's token, before the
    /// link expires, while the job waits for its file.
    pub async fn accept_upload(
        &self,
        site: &SiteId,
        id: &str,
        token: &str,
        body: Vec<u8>,
    ) -> Result<ImportJob, ImportJobError> {
        let job = self.load(site, id).await.map_err(|e| match e {
            ImportJobError::NotFound => ImportJobError::UploadRefused("no such upload link"),
            other => other,
        })?;
        if !same_secret(&job.upload_token, token) {
            return Err(ImportJobError::UploadRefused("no such upload link"));
        }
        if self.clock.now_ms() > job.upload_expires_ms {
            return Err(ImportJobError::UploadRefused("the upload link has expired: create a new import"));
        }
        if job.status != ImportJobStatus::AwaitingUpload {
            return Err(ImportJobError::UploadRefused("the import has started: it takes no other file"));
        }
        if body.len() > MAX_UPLOAD_BYTES {
            return Err(ImportJobError::TooLarge(body.len()));
        }
        self.blobs.put(&job.blob_key, body, UPLOAD_CONTENT_TYPE).await?;
        Ok(job)
    }

    /// Works on the job for about `budget`: reads and checks the file on the first run,
    /// then writes chunks of keywords, recording progress after each. Returns the job
    /// as it then is (`running` when more remains: run again). When another worker
    /// holds the job, returns it unchanged.
    pub async fn run(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &str,
        budget: Duration,
    ) -> Result<ImportJob, ImportJobError> {
        let started = self.clock.now_ms();
        let deadline = started.saturating_add(i64::try_from(budget.as_millis()).unwrap_or(i64::MAX));
        let mut job = self.get(account, site, id).await?;
        if matches!(job.status, ImportJobStatus::Completed | ImportJobStatus::Failed) {
            return Ok(job);
        }
        if job.lease_holder.is_some() && job.lease_until_ms > started {
            return Ok(job);
        }
        let Some(data) = self.blobs.get(&job.blob_key).await? else {
            return Err(ImportJobError::NotUploaded);
        };
        let me = uuid::Uuid::new_v4().simple().to_string();
        job.lease_holder = Some(me.clone());
        job.lease_until_ms = started.saturating_add(LEASE_MS);
        job.status = ImportJobStatus::Running;
        if !self.save(&mut job).await? {
            return self.get(account, site, id).await;
        }
        let inputs = match self.check_file(&data) {
            Ok(inputs) => inputs,
            Err((code, message, rows)) => {
                job.status = ImportJobStatus::Failed;
                job.error_code = Some(code.to_owned());
                job.error = Some(message);
                job.row_errors = rows;
                job.lease_holder = None;
                if !self.save(&mut job).await? {
                    return self.get(account, site, id).await;
                }
                return Ok(job);
            }
        };
        job.total = Some(inputs.len() as u64);
        let mut done = usize::try_from(job.processed).unwrap_or(usize::MAX).min(inputs.len());
        while done < inputs.len() && self.clock.now_ms() < deadline {
            let end = (done + CHUNK).min(inputs.len());
            let report = self.importer.import(account, site, &inputs[done..end]).await.map_err(|e| match e {
                ImportError::Repo(r) => ImportJobError::Repo(r),
                other => {
                    ImportJobError::Repo(RepoError::Corrupt { key: job.blob_key.clone(), reason: other.to_string() })
                }
            })?;
            done = end;
            job.processed = done as u64;
            job.imported += report.imported;
            job.duplicates += report.duplicates;
            job.lease_until_ms = self.clock.now_ms().saturating_add(LEASE_MS);
            if done == inputs.len() {
                job.status = ImportJobStatus::Completed;
                job.lease_holder = None;
            }
            if !self.save(&mut job).await? {
                // Another worker took the job over (this one outlived its lease).
                return self.get(account, site, id).await;
            }
        }
        if job.status == ImportJobStatus::Running {
            job.lease_holder = None;
            job.lease_until_ms = 0;
            if !self.save(&mut job).await? {
                return self.get(account, site, id).await;
            }
        }
        Ok(job)
    }

    /// The file's keywords, or why it is refused: (code, message, bad rows).
    fn check_file(&self, data: &[u8]) -> Result<Vec<igny8_ai::KeywordInput>, (&'static str, String, Vec<RowError>)> {
        if data.len() > MAX_UPLOAD_BYTES {
            let e = ImportJobError::TooLarge(data.len());
            return Err((e.code(), e.to_string(), Vec::new()));
        }
        match parse_keywords_csv(data) {
            Ok(inputs) if inputs.len() > MAX_JOB_KEYWORDS => Err((
                "too_many_keywords",
                format!("the file holds {} keywords; an import takes at most {MAX_JOB_KEYWORDS}", inputs.len()),
                Vec::new(),
            )),
            Ok(inputs) => Ok(inputs),
            Err(e) => {
                let (code, message) = (e.code(), e.to_string());
                let rows = match e {
                    ImportError::Malformed(rows) => rows.into_iter().take(MAX_KEPT_ERRORS).collect(),
                    ImportError::Encoding { line, message } => vec![RowError { line, message }],
                    _ => Vec::new(),
                };
                Err((code, message, rows))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_and_secrets() {
        assert!(is_job_id(&format!("imp_{}", uuid::Uuid::new_v4().simple())));
        assert!(!is_job_id("imp_XYZ"));
        assert!(!is_job_id("kw_0123456789abcdef0123456789abcdef"));
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
