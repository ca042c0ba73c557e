//! Checks of the per-status counters: every counter of a site equals what a scan of
//! its records finds, for every kind and every status (a counter a write forgot, or
//! a replay counted twice, shows up as a difference).

use std::collections::BTreeMap;
use std::sync::Arc;

use igny8_core::domain::{Cluster, Content, Idea, ImageRecord, Keyword, SiteId, WriterTask};
use igny8_core::ports::ItemStore;
use igny8_core::repo::{Records, RepoError, SiteRecord};

/// Statuses every kind may hold, as stored (so a counter left above zero in a status
/// no record is in is caught too).
const STATUSES: &[&str] = &[
    "new",
    "clustered",
    "ideas_generated",
    "queued",
    "written",
    "draft",
    "prompts_ready",
    "published",
    "publish_failed",
    "pending",
    "generated",
    "failed",
];

async fn check<T: SiteRecord>(store: &Arc<dyn ItemStore>, site: &SiteId) -> Result<Vec<String>, RepoError> {
    let records = Records::<T>::new(Arc::clone(store));
    let mut scanned: BTreeMap<String, u64> = BTreeMap::new();
    for r in records.all(site).await? {
        *scanned.entry(r.status_name()).or_default() += 1;
    }
    let mut statuses: Vec<String> = STATUSES.iter().map(|s| (*s).to_owned()).collect();
    statuses.extend(scanned.keys().cloned());
    statuses.sort();
    statuses.dedup();
    let mut wrong = Vec::new();
    for status in statuses {
        let counted = records.count_in_status(site, &status).await?;
        let indexed = records.scan_count_in_status(site, &status).await?;
        let actual = scanned.get(&status).copied().unwrap_or(0);
        if counted != actual || indexed != actual {
            wrong.push(format!("{} {status}: counter {counted}, index {indexed}, records {actual}", T::KIND));
        }
    }
    Ok(wrong)
}

/// Every status counter of the site that disagrees with its records (empty when all agree).
pub async fn wrong_counts(store: &Arc<dyn ItemStore>, site: &SiteId) -> Result<Vec<String>, RepoError> {
    let mut wrong = check::<Keyword>(store, site).await?;
    wrong.extend(check::<Cluster>(store, site).await?);
    wrong.extend(check::<Idea>(store, site).await?);
    wrong.extend(check::<WriterTask>(store, site).await?);
    wrong.extend(check::<Content>(store, site).await?);
    wrong.extend(check::<ImageRecord>(store, site).await?);
    Ok(wrong)
}

/// Panics, listing them, when a status counter of the site disagrees with its records.
pub async fn assert_counts(store: &Arc<dyn ItemStore>, site: &SiteId) {
    let wrong = wrong_counts(store, site).await.expect("read counters");
    assert!(wrong.is_empty(), "status counters disagree with the records: {wrong:#?}");
}
