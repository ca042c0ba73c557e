//! Stage 1, keywords → clusters, decided over all of the site's waiting keywords at
//! once and written a slice a step.
//!
//! Why not a batch at a time: clustering each batch on its own gives each batch its
//! own clusters, so one topic became several clusters (duplicate articles competing
//! for the same search) and the result depended on which keywords shared a batch.
//!
//! - **Plan** (the first step of a run, and again when keywords arrived while the
//!   run was writing): every waiting keyword of the site and the site's existing
//!   clusters (name, pillar, member keywords) go to [`AiProvider::plan_clusters`] —
//!   the grouping is decided over the whole set and depends only on the keywords'
//!   text and metrics. New keywords that belong to an existing cluster join it; the
//!   rest form new clusters. The plan is cut into slices of about a batch (whole
//!   clusters, at least the configured batch size of keywords each except the last)
//!   and stored as blobs (`plans/<account>/<site>/<run>/clusters/<generation>/`),
//!   then a cursor record beside the run says which slice is next.
//!   How the grouping is decided is the config's cluster mode: lexical (the
//!   provider's `plan_clusters`), or semantic, from keyword embeddings read from the
//!   account's embedding cache, the missing ones embedded as a paid call
//!   ([`Operation::Embedding`]) and stored before planning; `auto` is semantic when
//!   the provider has an embedding model, else lexical, and says which in the
//!   run's log (docs/automation.md, "Cluster modes").
//! - **Write** (every step): the next slice is read back, its clusters are named by
//!   [`AiProvider::name_clusters`] (the paid call: one clustering request per slice,
//!   as the estimate counts it), and the clusters, the grown existing clusters and
//!   the moved keywords are written with the replay-safe pattern of every stage:
//!   cluster ids derive from the site and the pillar keyword (not from the run), new
//!   clusters "must not exist", keywords move only while still `new`, an existing
//!   cluster is rewritten only while in the status it was read in, every write
//!   carries the run's fence, and the cursor advances only from the slice it was at.
//!
//! [`AiProvider::plan_clusters`]: igny8_ai::AiProvider::plan_clusters
//! [`AiProvider::name_clusters`]: igny8_ai::AiProvider::name_clusters

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{or_invalid, BatchOutcome, Bill, OnInvalid, StageContext, StageWork};
use crate::automation::error::AutomationError;
use crate::automation::service::{AutomationService, Inner};
use crate::clustering::KeywordClustering;
use crate::domain::{
    AutomationConfig, Cluster, ClusterId, ClusterMode, ClusterStatus, Keyword, KeywordId, KeywordStatus, Operation,
};
use crate::domain::{AutomationRun, Stage};
use crate::ports::blob::BlobStore;
use crate::ports::WriteOp;
use crate::repo::{ClusterPlanCursor, ClusterPlanCursors, EmbeddingScope, Records, SiteRecord};
use igny8_ai::{
    ClusterLabel, ClusterOptions, ClusterOut, ClusterPlan, ExistingCluster, KeywordInput, Usage, NAMING_BATCH,
};

/// Stage 1.
pub(in crate::automation) struct Clusters;

/// Status of keywords in a cluster, as stored.
const CLUSTERED: &str = "clustered";

/// Slice blobs written at once while storing a plan.
const PARALLEL_PUTS: usize = 16;

impl StageWork for Clusters {
    const STAGE: Stage = Stage::Clusters;
    const ITEM: &'static str = "keyword";
    const INPUT_STATUS: &'static str = "new";
    const OPERATION: Option<Operation> = Some(Operation::Clustering);
    type Input = Keyword;

    fn inputs(inner: &Inner) -> &Records<Keyword> {
        &inner.keywords
    }

    /// One waiting keyword is enough to know that work remains: the plan, not this
    /// read, decides what a step writes.
    fn batch_size(_config: &AutomationConfig) -> usize {
        1
    }

    async fn process(ctx: &StageContext<'_>, batch: Vec<Keyword>) -> Result<BatchOutcome, AutomationError> {
        if batch.is_empty() {
            return Ok(BatchOutcome::default());
        }
        step(ctx).await
    }
}

/// One step: the next slice of the run's plan that still has keywords to move,
/// making a plan first when there is none or the last one is written.
async fn step(ctx: &StageContext<'_>) -> Result<BatchOutcome, AutomationError> {
    let run = &ctx.run;
    let cursors = ClusterPlanCursors::new(Arc::clone(&ctx.inner().ports.store));
    let mut cursor = cursors.get(&run.id).await?;
    let mut planned = false;
    // Credits the plan spent on embeddings, reported with the step's outcome.
    let mut spent = 0;
    loop {
        match cursor {
            Some(at) if at.next < at.slices => {
                let outcome = write_slice(ctx, &at).await?;
                ctx.apply(vec![cursors.advance(&run.id, &at)?]).await?;
                if outcome.processed > 0 {
                    return Ok(BatchOutcome { credits: outcome.credits + spent, ..outcome });
                }
                // Every keyword of the slice moved already (a replay) or was deleted.
                cursor = Some(ClusterPlanCursor { next: at.next + 1, ..at });
            }
            previous => {
                if planned {
                    return Ok(BatchOutcome { credits: spent, ..BatchOutcome::default() });
                }
                planned = true;
                match plan(ctx, previous.as_ref()).await? {
                    Some(credits) => spent = credits,
                    None => return Ok(BatchOutcome::default()),
                }
                // The stored cursor: a replayed step whose plan had started already
                // goes on with that one.
                cursor = cursors.get(&run.id).await?;
            }
        }
    }
}

/// Progress of a run's embedding call: the run's log shows the stage's batches.
fn no_progress(_done: usize, _total: usize) {}

/// One unit of a plan: keywords joining an existing cluster, or a new cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum PlannedUnit {
    /// New keywords joining a cluster the site has.
    Join {
        /// The cluster.
        cluster_id: ClusterId,
        /// The joining keywords.
        keyword_ids: Vec<KeywordId>,
    },
    /// A new cluster; its first keyword is its pillar.
    New {
        /// The clustering algorithm's name (unique on the site).
        name: String,
        /// The pillar keyword's text.
        pillar_keyword: String,
        /// The algorithm's intent.
        intent: String,
        /// The algorithm's description.
        description: String,
        /// Members, pillar first.
        keyword_ids: Vec<KeywordId>,
    },
}

impl PlannedUnit {
    fn keyword_ids(&self) -> &[KeywordId] {
        match self {
            Self::Join { keyword_ids, .. } | Self::New { keyword_ids, .. } => keyword_ids,
        }
    }
}

/// One slice of a plan, as stored: what one step writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PlanSlice {
    units: Vec<PlannedUnit>,
}

/// Where slice `slice` of plan `generation` of the run is stored.
fn slice_key(run: &AutomationRun, generation: u32, slice: u32) -> String {
    format!("plans/{}/{}/{}/clusters/{generation}/{slice:06}.json", run.account_id, run.site_id, run.id)
}

/// What clustering sees of a keyword: its text and metrics.
fn input_of(k: &Keyword) -> KeywordInput {
    KeywordInput {
        keyword: k.keyword.clone(),
        volume: k.volume,
        difficulty: k.difficulty,
        cpc: k.cpc,
        intent: k.intent.clone(),
    }
}

/// Decides clusters over every waiting keyword of the site and the site's existing
/// clusters, stores the plan's slices and starts its cursor (over `previous`).
/// The config's cluster mode decides how (see [`grouping`]). The credits spent on
/// embeddings; None when no keyword waits.
async fn plan(ctx: &StageContext<'_>, previous: Option<&ClusterPlanCursor>) -> Result<Option<i64>, AutomationError> {
    let (i, run) = (ctx.inner(), &ctx.run);
    let site = &run.site_id;
    let waiting = i.keywords.all_in_status(site, Clusters::INPUT_STATUS).await?;
    if waiting.is_empty() {
        return Ok(None);
    }
    let generation = previous.map_or(0, |p| p.generation.saturating_add(1));
    let (existing_ids, existing) = existing_clusters(i, run).await?;
    let inputs: Vec<KeywordInput> = waiting.iter().map(input_of).collect();
    let (grouping, spent) = grouping(ctx, generation, &inputs, &existing).await?;
    let mut units = Vec::new();
    for (n, joining) in grouping.joins.iter().enumerate() {
        let (Some(cluster_id), false) = (existing_ids.get(n), joining.is_empty()) else { continue };
        let keyword_ids = joining.iter().filter_map(|&k| waiting.get(k)).map(|k| k.id.clone()).collect();
        units.push(PlannedUnit::Join { cluster_id: cluster_id.clone(), keyword_ids });
    }
    for c in grouping.clusters {
        let keyword_ids: Vec<KeywordId> =
            c.keywords.iter().filter_map(|&k| waiting.get(k)).map(|k| k.id.clone()).collect();
        if keyword_ids.is_empty() {
            continue;
        }
        units.push(PlannedUnit::New {
            name: c.name,
            pillar_keyword: c.pillar_keyword,
            intent: c.intent,
            description: c.description,
            keyword_ids,
        });
    }
    let slices = pack(units, ctx.config.batch_size(Stage::Clusters) as usize);
    store_slices(i.ports.blobs.clone(), run, generation, slices.iter()).await?;
    let cursor = ClusterPlanCursor { generation, slices: u32::try_from(slices.len()).unwrap_or(u32::MAX), next: 0 };
    let cursors = ClusterPlanCursors::new(Arc::clone(&i.ports.store));
    ctx.apply(vec![cursors.start(&run.id, &cursor, previous)?]).await?;
    Ok(Some(spent))
}

/// The grouping of the waiting keywords, by the config's cluster mode resolved
/// against the provider's embedding model: lexical is the provider's
/// [`AiProvider::plan_clusters`]; semantic without a model fails the run before
/// anything is charged; auto says in the run's log which mode it took, and why.
/// Semantic reads the vectors of the waiting keywords and of the existing clusters'
/// members from the account's embedding cache, embeds the missing ones as one paid
/// call ([`Operation::Embedding`], keyed by the plan's generation), stores them in
/// the cache before planning (a replayed step finds them there and pays nothing
/// more) and plans with [`KeywordClustering::plan_semantic`]. Returns the plan and
/// the credits the embeddings cost.
///
/// [`AiProvider::plan_clusters`]: igny8_ai::AiProvider::plan_clusters
async fn grouping(
    ctx: &StageContext<'_>,
    generation: u32,
    inputs: &[KeywordInput],
    existing: &[ExistingCluster],
) -> Result<(ClusterPlan, i64), AutomationError> {
    let (i, run) = (ctx.inner(), &ctx.run);
    let clustering = KeywordClustering::new(Arc::clone(&i.ports.ai), Arc::clone(&i.ports.store));
    let resolved = clustering.resolve(ctx.config.cluster_mode)?;
    if let Some(reason) = &resolved.reason {
        i.logger.line(&AutomationService::run_log(run), Some(Stage::Clusters), reason).await?;
    }
    let Some(model) = resolved.model.filter(|_| resolved.mode == ClusterMode::Semantic) else {
        return Ok((i.ports.ai.plan_clusters(inputs, existing, &ClusterOptions::default()).await?, 0));
    };
    let scope = EmbeddingScope::Account(run.account_id.clone());
    let members = existing.iter().flat_map(|e| e.keywords.iter());
    let mut lookup = clustering.lookup(&scope, &model, inputs.iter().chain(members)).await?;
    let mut spent = 0;
    if !lookup.missing.is_empty() {
        let missing = std::mem::take(&mut lookup.missing);
        let bill = Bill {
            stage: Stage::Clusters,
            item: format!("plan{generation}-embed"),
            operation: Operation::Embedding,
            estimate_units: super::units(missing.len()),
        };
        let call = clustering.embed(&missing, &no_progress);
        let (vectors, credits) = ctx.paid(bill, call, |v: &Vec<Vec<f32>>| super::units(v.len())).await?;
        let entries: Vec<(String, Vec<f32>)> = missing.iter().cloned().zip(vectors.iter().cloned()).collect();
        clustering.cache().put_many(&scope, &model, &entries).await?;
        lookup.add(&missing, vectors);
        spent = credits;
    }
    let vectors = lookup.vectors(inputs)?;
    let existing_vectors = existing.iter().map(|e| lookup.vectors(&e.keywords)).collect::<Result<Vec<_>, _>>()?;
    let plan = KeywordClustering::plan_semantic(inputs, vectors, existing, existing_vectors).await?;
    Ok((plan, spent))
}

/// The site's clusters as clustering sees them (name, pillar, member keywords), in
/// id order, with their ids.
async fn existing_clusters(
    i: &Inner,
    run: &AutomationRun,
) -> Result<(Vec<ClusterId>, Vec<ExistingCluster>), AutomationError> {
    let site = &run.site_id;
    let clusters = i.clusters.all(site).await?;
    if clusters.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut members: BTreeMap<ClusterId, Vec<KeywordInput>> = BTreeMap::new();
    for k in i.keywords.all_in_status(site, CLUSTERED).await? {
        if let Some(c) = &k.cluster_id {
            members.entry(c.clone()).or_default().push(input_of(&k));
        }
    }
    Ok(clusters
        .into_iter()
        .map(|c| {
            let keywords = members.remove(&c.id).unwrap_or_default();
            (c.id, ExistingCluster { name: c.name, pillar_keyword: c.pillar_keyword, keywords })
        })
        .unzip())
}

/// Cuts a plan into slices of whole units, each of at least `batch` keywords but the
/// last (so a plan has no more slices than batches of its keywords).
fn pack(units: Vec<PlannedUnit>, batch: usize) -> Vec<PlanSlice> {
    let mut slices = Vec::new();
    let mut current = Vec::new();
    let mut count = 0;
    for unit in units {
        count += unit.keyword_ids().len();
        current.push(unit);
        if count >= batch.max(1) {
            slices.push(PlanSlice { units: std::mem::take(&mut current) });
            count = 0;
        }
    }
    if !current.is_empty() {
        slices.push(PlanSlice { units: current });
    }
    slices
}

/// Stores the slices of plan `generation`, [`PARALLEL_PUTS`] at a time.
async fn store_slices<'a>(
    blobs: Arc<dyn BlobStore>,
    run: &AutomationRun,
    generation: u32,
    slices: impl Iterator<Item = &'a PlanSlice>,
) -> Result<(), AutomationError> {
    let mut pending = tokio::task::JoinSet::new();
    for (n, slice) in slices.enumerate() {
        let key = slice_key(run, generation, u32::try_from(n).unwrap_or(u32::MAX));
        let body = serde_json::to_vec(slice).map_err(|e| AutomationError::Invalid(format!("plan slice: {e}")))?;
        let blobs = Arc::clone(&blobs);
        pending.spawn(async move { blobs.put(&key, body, "application/json").await });
        if pending.len() >= PARALLEL_PUTS {
            finish_one(&mut pending).await?;
        }
    }
    while !pending.is_empty() {
        finish_one(&mut pending).await?;
    }
    Ok(())
}

async fn finish_one(
    pending: &mut tokio::task::JoinSet<Result<(), crate::ports::blob::BlobError>>,
) -> Result<(), AutomationError> {
    match pending.join_next().await {
        Some(Ok(done)) => Ok(done?),
        Some(Err(e)) => Err(AutomationError::Invalid(format!("storing a plan slice stopped: {e}"))),
        None => Ok(()),
    }
}

/// Writes the slice the cursor points at: names its new clusters (the paid call)
/// and writes clusters and keywords. Keywords no longer waiting (moved by an earlier
/// attempt, or deleted) are left alone; a slice with none left costs nothing.
async fn write_slice(ctx: &StageContext<'_>, at: &ClusterPlanCursor) -> Result<BatchOutcome, AutomationError> {
    let (i, run) = (ctx.inner(), &ctx.run);
    let key = slice_key(run, at.generation, at.next);
    let body = i.ports.blobs.get(&key).await?.ok_or_else(|| {
        AutomationError::Invalid(format!("clustering plan slice {key} is missing; cancel and start the run again"))
    })?;
    let slice: PlanSlice = serde_json::from_slice(&body)
        .map_err(|e| AutomationError::Invalid(format!("clustering plan slice {key} is unreadable: {e}")))?;
    let live = live_members(i, run, &slice).await?;
    if live.iter().all(Vec::is_empty) {
        return Ok(BatchOutcome::default());
    }
    let (labels, credits) = name(ctx, at, &slice, &live).await?;
    let joined: Vec<ClusterId> = slice
        .units
        .iter()
        .filter_map(|u| match u {
            PlannedUnit::Join { cluster_id, .. } => Some(cluster_id.clone()),
            PlannedUnit::New { .. } => None,
        })
        .collect();
    let mut current = i.clusters.get_many(&run.site_id, &joined).await?.into_iter();
    let now = ctx.now();
    let mut labels = labels.into_iter();
    let (mut writes, mut processed, mut created) = (Vec::new(), 0u64, 0u64);
    for (unit, members) in slice.units.iter().zip(&live) {
        let cluster_id = match unit {
            PlannedUnit::Join { .. } => {
                let Some(cluster) = current.next().flatten() else { continue };
                let id = cluster.id.clone();
                if let Some(write) = grown(i, cluster, members)? {
                    writes.push(write);
                }
                id
            }
            PlannedUnit::New { keyword_ids, pillar_keyword, .. } => {
                if members.is_empty() {
                    continue;
                }
                let label = labels.next().ok_or_else(|| AutomationError::Invalid("a cluster was not named".into()))?;
                let pillar = keyword_ids.first().map_or(pillar_keyword.as_str(), KeywordId::as_str);
                let id = ClusterId::derive(&format!("{}/{pillar}", run.site_id));
                let cluster = Cluster {
                    id: id.clone(),
                    account_id: run.account_id.clone(),
                    site_id: run.site_id.clone(),
                    run_id: run.id.clone(),
                    name: label.name,
                    pillar_keyword: pillar_keyword.clone(),
                    keyword_ids: members.iter().map(|k| k.id.clone()).collect(),
                    intent: label.intent,
                    total_volume: members.iter().map(|k| k.volume.max(0)).sum(),
                    description: label.description,
                    status: ClusterStatus::New,
                    created_at: now.clone(),
                };
                writes.push(i.clusters.create(&cluster)?);
                created += 1;
                id
            }
        };
        for k in members {
            let moved = Keyword { status: KeywordStatus::Clustered, cluster_id: Some(cluster_id.clone()), ..k.clone() };
            writes.push(i.keywords.transition(&moved, Clusters::INPUT_STATUS)?);
            processed += 1;
        }
    }
    ctx.apply(writes).await?;
    Ok(BatchOutcome { processed, created, credits, words: 0, failed: 0 })
}

/// Per unit of the slice, its keywords still waiting (one batch read for the slice).
async fn live_members(i: &Inner, run: &AutomationRun, slice: &PlanSlice) -> Result<Vec<Vec<Keyword>>, AutomationError> {
    let ids: Vec<&KeywordId> = slice.units.iter().flat_map(|u| u.keyword_ids()).collect();
    let mut read =
        i.keywords.get_many(&run.site_id, &ids.iter().map(|id| id.as_str()).collect::<Vec<_>>()).await?.into_iter();
    Ok(slice
        .units
        .iter()
        .map(|u| {
            read.by_ref()
                .take(u.keyword_ids().len())
                .flatten()
                .filter(|k| k.status_name() == Clusters::INPUT_STATUS)
                .collect()
        })
        .collect())
}

/// An existing cluster grown by the keywords joining it (those it does not list
/// yet), written only while it is in the status it was read in; None when it lists
/// them all already (a replay).
fn grown(i: &Inner, cluster: Cluster, joining: &[Keyword]) -> Result<Option<WriteOp>, AutomationError> {
    let listed: BTreeSet<&KeywordId> = cluster.keyword_ids.iter().collect();
    let new: Vec<&Keyword> = joining.iter().filter(|k| !listed.contains(&k.id)).collect();
    if new.is_empty() {
        return Ok(None);
    }
    let status = cluster.status_name();
    let mut grown = cluster;
    grown.total_volume += new.iter().map(|k| k.volume.max(0)).sum::<i64>();
    grown.keyword_ids.extend(new.iter().map(|k| k.id.clone()));
    Ok(Some(i.clusters.transition(&grown, &status)?))
}

/// The paid call of a slice: its new clusters named by the provider, in batches of
/// [`NAMING_BATCH`]; one clustering request is charged per slice (keyed by run,
/// plan and slice, so a replay pays nothing more). A label that is empty or repeats
/// another of the slice falls back to the algorithm's (unique) name.
async fn name(
    ctx: &StageContext<'_>,
    at: &ClusterPlanCursor,
    slice: &PlanSlice,
    live: &[Vec<Keyword>],
) -> Result<(Vec<ClusterLabel>, i64), AutomationError> {
    let mut keywords: Vec<KeywordInput> = Vec::new();
    let mut drafts: Vec<ClusterOut> = Vec::new();
    for (unit, members) in slice.units.iter().zip(live) {
        let PlannedUnit::New { name, pillar_keyword, intent, description, .. } = unit else { continue };
        if members.is_empty() {
            continue;
        }
        let start = keywords.len();
        keywords.extend(members.iter().map(input_of));
        drafts.push(ClusterOut {
            name: name.clone(),
            pillar_keyword: pillar_keyword.clone(),
            keywords: (start..keywords.len()).collect(),
            intent: intent.clone(),
            total_volume: members.iter().map(|k| k.volume.max(0)).sum(),
            description: description.clone(),
        });
    }
    let ai = &ctx.inner().ports.ai;
    let call = async {
        let mut labels = Vec::with_capacity(drafts.len());
        let mut usage: Option<Usage> = None;
        for chunk in drafts.chunks(NAMING_BATCH).chain(drafts.is_empty().then_some(&drafts[..])) {
            let (named, u) = match ai.name_clusters(chunk, &keywords).await {
                Ok(done) => done,
                // The batches named before a failing one spent tokens too: they travel
                // with its error to the usage log.
                Err(e) => {
                    return Err(match (usage.take(), e.usage().cloned()) {
                        (Some(sum), Some(u)) => e.with_usage(add_usage(sum, u)),
                        (Some(sum), None) => e.with_usage(sum),
                        (None, _) => e,
                    })
                }
            };
            labels.extend(named);
            usage = Some(match usage {
                None => u,
                Some(sum) => add_usage(sum, u),
            });
        }
        Ok((labels, usage.unwrap_or(Usage { model: String::new(), tokens_in: 0, tokens_out: 0 })))
    };
    let bill = Bill::of::<Clusters>(format!("plan{}-slice{}", at.generation, at.next), 1)?;
    match or_invalid(ctx.paid(bill, call, |_| 1).await)? {
        Ok((labels, credits)) => Ok((settle_labels(&drafts, labels), credits)),
        // The grouping is decided already; only the names were asked for. A model
        // whose answers stayed invalid leaves the algorithm's names (the hold is
        // released, so nothing is charged) rather than failing the run's clusters.
        Err(why) => {
            let item = format!("names of {} clusters (plan {} slice {})", drafts.len(), at.generation, at.next);
            let kept = OnInvalid::FallBack("kept the algorithm's names, nothing charged".to_owned());
            ctx.on_invalid(Stage::Clusters, &item, &why, kept).await?;
            Ok((settle_labels(&drafts, Vec::new()), 0))
        }
    }
}

/// The usage of two calls summed, under the later call's model.
fn add_usage(sum: Usage, u: Usage) -> Usage {
    Usage { tokens_in: sum.tokens_in + u.tokens_in, tokens_out: sum.tokens_out + u.tokens_out, ..u }
}

/// One label per draft: the provider's where it gave a usable one, else the
/// algorithm's; names stay unique within the slice.
fn settle_labels(drafts: &[ClusterOut], labels: Vec<ClusterLabel>) -> Vec<ClusterLabel> {
    let mut seen = BTreeSet::new();
    let mut labels = labels.into_iter();
    drafts
        .iter()
        .map(|d| {
            let fallback =
                ClusterLabel { name: d.name.clone(), description: d.description.clone(), intent: d.intent.clone() };
            let label = match labels.next() {
                Some(l) if !l.name.trim().is_empty() => ClusterLabel {
                    name: l.name.trim().to_owned(),
                    description: if l.description.trim().is_empty() {
                        fallback.description.clone()
                    } else {
                        l.description
                    },
                    intent: if l.intent.trim().is_empty() { fallback.intent.clone() } else { l.intent },
                },
                _ => fallback.clone(),
            };
            if seen.insert(label.name.to_lowercase()) {
                label
            } else {
                seen.insert(fallback.name.to_lowercase());
                fallback
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize, prefix: &str) -> Vec<KeywordId> {
        (0..n).map(|i| KeywordId::derive(&format!("{prefix}{i}"))).collect()
    }

    fn new_unit(n: usize, prefix: &str) -> PlannedUnit {
        PlannedUnit::New {
            name: prefix.into(),
            pillar_keyword: prefix.into(),
            intent: "informational".into(),
            description: String::new(),
            keyword_ids: ids(n, prefix),
        }
    }

    #[test]
    fn slices_hold_whole_units_and_at_least_a_batch_but_the_last() {
        let units = vec![new_unit(3, "a"), new_unit(1, "b"), new_unit(5, "c"), new_unit(2, "d"), new_unit(1, "e")];
        let slices = pack(units, 4);
        let sizes: Vec<Vec<usize>> =
            slices.iter().map(|s| s.units.iter().map(|u| u.keyword_ids().len()).collect()).collect();
        assert_eq!(sizes, vec![vec![3, 1], vec![5], vec![2, 1]]);
        // Never more slices than batches of the keywords (the estimate counts those).
        assert!(slices.len() <= 12usize.div_ceil(4));
    }

    #[test]
    fn a_slice_survives_its_blob() {
        let slice = PlanSlice {
            units: vec![
                new_unit(2, "x"),
                PlannedUnit::Join { cluster_id: ClusterId::derive("site/kw"), keyword_ids: ids(1, "y") },
            ],
        };
        let json = serde_json::to_vec(&slice).expect("json");
        assert_eq!(serde_json::from_slice::<PlanSlice>(&json).expect("back"), slice);
    }

    fn draft(name: &str) -> ClusterOut {
        ClusterOut {
            name: name.into(),
            pillar_keyword: name.to_lowercase(),
            keywords: vec![0],
            intent: "commercial".into(),
            total_volume: 1,
            description: format!("about {name}"),
        }
    }

    fn label(name: &str) -> ClusterLabel {
        ClusterLabel { name: name.into(), description: "d".into(), intent: String::new() }
    }

    #[test]
    fn model_labels_that_are_empty_or_repeated_fall_back_to_the_algorithm() {
        let drafts = [draft("Yoga Mat"), draft("Hot Yoga"), draft("Yoga Poses")];
        let got = settle_labels(&drafts, vec![label("Yoga Mats"), label("yoga mats"), label(" ")]);
        let names: Vec<&str> = got.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["Yoga Mats", "Hot Yoga", "Yoga Poses"]);
        assert_eq!(got[0].intent, "commercial", "a missing intent keeps the algorithm's");
        // Fewer labels than drafts: the rest keep the algorithm's labels.
        let got = settle_labels(&drafts, vec![]);
        assert_eq!(got[2].name, "Yoga Poses");
    }
}
