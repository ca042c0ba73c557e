//! A run's totals, read back from what it stored (records and the ledger), so the
//! summary is right even if a step was replayed.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::AutomationError;
use super::logger::RunLog;
use crate::billing::{CreditError, CreditService};
use crate::domain::{
    AccountId, AutomationRun, Cluster, Content, Idea, ImageRecord, ImageStatus, RunId, RunStatus, SiteId, Stage,
    TransactionKind, WriterTask,
};
use crate::ports::{for_each_page, ItemStore, Page};
use crate::repo::{Records, RunRepo};

/// What a run produced and cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run.
    pub run_id: RunId,
    /// Its tenant.
    pub account_id: AccountId,
    /// Its site.
    pub site_id: SiteId,
    /// Where it is.
    pub status: RunStatus,
    /// Clusters made.
    pub clusters: u64,
    /// Ideas made.
    pub ideas: u64,
    /// Writer tasks made.
    pub tasks: u64,
    /// Articles written.
    pub articles: u64,
    /// Words in those articles.
    pub words: u64,
    /// Images generated.
    pub images: u64,
    /// Images given up on.
    pub images_failed: u64,
    /// Articles of the run the linking stage linked (0 when the site does not link).
    #[serde(default)]
    pub linked: u64,
    /// Internal links the linking stage added to them.
    #[serde(default)]
    pub links_added: u64,
    /// Articles the publishing stage published (0 when the run does not publish).
    #[serde(default)]
    pub published: u64,
    /// Articles a platform refused in the publishing stage (recorded on their
    /// publications; the run still completes).
    #[serde(default)]
    pub publish_failed: u64,
    /// Items of stages 1–5 failed because the model's answer was invalid (left in their
    /// stage's failed status; nothing stored or charged for them).
    #[serde(default)]
    pub items_failed: u64,
    /// Those failed items per stage number (stages with none are left out).
    #[serde(default)]
    pub failed_by_stage: BTreeMap<u8, u64>,
    /// Credits charged (the run's usage logs, less refunds of failed image jobs).
    pub credits_used: i64,
    /// Credits per stage number.
    pub credits_by_stage: BTreeMap<u8, i64>,
    /// Blob prefix of the run's logs.
    pub logs: String,
    /// Blob prefix of the site's images.
    pub images_dir: String,
}

/// Totals of one run, from its records in the store and its entries in the ledger.
pub(in crate::automation) async fn summarize(
    store: &Arc<dyn ItemStore>,
    credits: &CreditService,
    run_id: &RunId,
) -> Result<RunSummary, AutomationError> {
    let run = RunRepo::new(Arc::clone(store))
        .get(run_id)
        .await?
        .ok_or_else(|| AutomationError::RunNotFound(run_id.clone()))?;
    let site = &run.site_id;
    let mine = |r: &RunId| r == run_id;
    let records = || Arc::clone(store);
    let clusters =
        Records::<Cluster>::new(records()).all(site).await?.iter().filter(|c| mine(&c.run_id)).count() as u64;
    let ideas = Records::<Idea>::new(records()).all(site).await?.iter().filter(|x| mine(&x.run_id)).count() as u64;
    let tasks =
        Records::<WriterTask>::new(records()).all(site).await?.iter().filter(|x| mine(&x.run_id)).count() as u64;
    let contents = Records::<Content>::new(records()).all(site).await?;
    let (articles, words) = contents
        .iter()
        .filter(|c| mine(&c.run_id))
        .fold((0u64, 0u64), |(n, w), c| (n + 1, w + u64::from(c.word_count)));
    let images = Records::<ImageRecord>::new(records()).all(site).await?;
    let generated = images.iter().filter(|im| mine(&im.run_id) && im.status == ImageStatus::Generated).count() as u64;
    let failed = images.iter().filter(|im| mine(&im.run_id) && im.status == ImageStatus::Failed).count() as u64;
    let credits_by_stage = credits_by_stage(credits, &run, run_id).await?;
    // Stage 6's failures are its images (`images_failed`), counted from the records.
    let failed_by_stage: BTreeMap<u8, u64> = run
        .stages
        .iter()
        .filter(|(n, r)| **n != Stage::Images.number() && r.failed > 0)
        .map(|(n, r)| (*n, r.failed))
        .collect();
    Ok(RunSummary {
        run_id: run.id.clone(),
        account_id: run.account_id.clone(),
        site_id: run.site_id.clone(),
        status: run.status,
        clusters,
        ideas,
        tasks,
        articles,
        words,
        images: generated,
        images_failed: failed,
        linked: run.linking.as_ref().map_or(0, |p| p.linked),
        links_added: run.linking.as_ref().map_or(0, |p| p.links_added),
        published: run.publishing.as_ref().map_or(0, |p| p.published),
        publish_failed: run.publishing.as_ref().map_or(0, |p| p.failed),
        items_failed: failed_by_stage.values().sum(),
        failed_by_stage,
        credits_used: credits_by_stage.values().sum(),
        credits_by_stage,
        logs: RunLog { account_id: run.account_id.clone(), site_id: run.site_id.clone(), run_id: run.id.clone() }
            .prefix(),
        images_dir: format!("images/{}/{}/", run.account_id, run.site_id),
    })
}

/// Credits per stage: the run's usage logs, less refunds of image jobs that failed.
async fn credits_by_stage(
    credits: &CreditService,
    run: &AutomationRun,
    run_id: &RunId,
) -> Result<BTreeMap<u8, i64>, AutomationError> {
    let mut credits_by_stage = BTreeMap::new();
    for_each_page(
        |cursor| credits.usage(&run.account_id, Some(run_id.as_str()), 1000, cursor),
        |logs| {
            for log in logs {
                *credits_by_stage.entry(log.usage.stage.unwrap_or(0)).or_insert(0) += log.credits;
            }
            Ok::<_, CreditError>(())
        },
    )
    .await?;
    // Image jobs that finally failed were refunded: net them out of stage 6.
    let started_ms = time::OffsetDateTime::parse(&run.started_at, &time::format_description::well_known::Rfc3339)
        .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
        .unwrap_or(0);
    let mut cursor = None;
    'ledger: loop {
        let Page { items: entries, cursor: next } = credits.ledger(&run.account_id, 500, cursor).await?;
        for t in entries {
            if t.created_ms < started_ms {
                break 'ledger;
            }
            if t.kind == TransactionKind::Refund && t.reference.as_deref() == Some(run_id.as_str()) {
                *credits_by_stage.entry(Stage::Images.number()).or_insert(0) -= t.amount;
            }
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(credits_by_stage)
}
