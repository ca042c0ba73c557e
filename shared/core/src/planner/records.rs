//! Reading and deleting a site's pipeline records (keywords … images) on behalf of a
//! tenant: every call names the caller's account, and a site of another account is
//! indistinguishable from a missing one.

use std::sync::Arc;
use std::time::Duration;

use crate::automation::AutomationService;
use crate::domain::{AccountId, ImageRecord, SiteId};
use crate::ports::blob::{BlobError, BlobStore};
use crate::ports::{ItemStore, Page};
use crate::repo::{Records, RepoError, SiteRecord, SiteRepo};

/// How long a presigned image link stays valid.
pub const LINK_TTL: Duration = Duration::from_secs(3600);

/// Longest record id looked up.
pub const MAX_ID_BYTES: usize = 128;

/// Why a record could not be read or deleted.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// The site does not exist for this account.
    #[error("site not found")]
    SiteNotFound,
    /// The record does not exist on this site.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Storage failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The blob store failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl RecordsError {
    /// The stable code the API and the CLI report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SiteNotFound | Self::NotFound(_) => "not_found",
            Self::Repo(e) => e.code(),
            Self::Blob(e) => e.code(),
        }
    }
}

/// Tenant-checked access to the pipeline's records.
#[derive(Clone)]
pub struct SiteRecords {
    store: Arc<dyn ItemStore>,
    sites: SiteRepo,
    blobs: Arc<dyn BlobStore>,
}

impl SiteRecords {
    /// The service over the store (records) and the blob store (image files).
    pub fn new(store: Arc<dyn ItemStore>, blobs: Arc<dyn BlobStore>) -> Self {
        Self { sites: SiteRepo::new(Arc::clone(&store)), store, blobs }
    }

    /// The service over the automation's own store and blob store.
    pub fn for_automation(automation: &AutomationService) -> Self {
        let ports = automation.ports();
        Self::new(Arc::clone(&ports.store), Arc::clone(&ports.blobs))
    }

    /// Fails unless `site` belongs to `account`.
    pub async fn check_site(&self, account: &AccountId, site: &SiteId) -> Result<(), RecordsError> {
        match self.sites.get(site).await? {
            Some(s) if &s.account_id == account => Ok(()),
            _ => Err(RecordsError::SiteNotFound),
        }
    }

    /// One page of a site's records of one kind, in id order.
    pub async fn list<T: SiteRecord>(
        &self,
        account: &AccountId,
        site: &SiteId,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<Page<T>, RecordsError> {
        self.check_site(account, site).await?;
        Ok(Records::<T>::new(Arc::clone(&self.store)).list(site, limit.clamp(1, 100), cursor).await?)
    }

    /// One record; `what` names it in the not-found error.
    pub async fn get<T: SiteRecord>(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &str,
        what: &'static str,
    ) -> Result<T, RecordsError> {
        self.check_site(account, site).await?;
        // Record ids are short; a longer one names nothing (and would exceed a sort key).
        if id.is_empty() || id.len() > MAX_ID_BYTES {
            return Err(RecordsError::NotFound(what));
        }
        Records::<T>::new(Arc::clone(&self.store)).get(site, id).await?.ok_or(RecordsError::NotFound(what))
    }

    /// Deletes one record; a second delete is a not-found.
    pub async fn delete<T: SiteRecord>(
        &self,
        account: &AccountId,
        site: &SiteId,
        id: &str,
        what: &'static str,
    ) -> Result<(), RecordsError> {
        let records = Records::<T>::new(Arc::clone(&self.store));
        self.get::<T>(account, site, id, what).await?;
        Ok(records.delete(site, id).await?)
    }

    /// A link that reads a generated image's file without credentials, for about an hour.
    pub async fn image_link(&self, image: &ImageRecord) -> Result<Option<String>, RecordsError> {
        match &image.blob_key {
            Some(key) => match self.blobs.presigned_get(key, LINK_TTL).await {
                Ok(url) => Ok(Some(url)),
                Err(BlobError::NotFound(_)) => Ok(None),
                Err(e) => Err(e.into()),
            },
            None => Ok(None),
        }
    }

    /// Links to every file under a run's log prefix (`name` relative to it).
    pub async fn files(&self, prefix: &str) -> Result<Vec<(String, u64, String)>, RecordsError> {
        let mut out = Vec::new();
        for info in self.blobs.list(prefix).await? {
            let url = self.blobs.presigned_get(&info.key, LINK_TTL).await?;
            out.push((info.key.trim_start_matches(prefix).to_owned(), info.size, url));
        }
        Ok(out)
    }
}
