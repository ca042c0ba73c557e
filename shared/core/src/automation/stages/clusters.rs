//! Stage 1, keywords → clusters: one paid clustering call over the whole batch of
//! waiting keywords; each cluster's id derives from its members, so a replay rewrites
//! the same clusters.

use super::{digest, units, BatchOutcome, Bill, StageContext, StageWork};
use crate::automation::error::AutomationError;
use crate::automation::service::Inner;
use crate::domain::Operation;
use crate::domain::{Cluster, ClusterId, ClusterStatus, Keyword, KeywordStatus, Stage};
use crate::ports::WriteOp;
use crate::repo::Records;
use igny8_ai::{ClusterOptions, ClusterOut, KeywordInput};

/// Stage 1.
pub(in crate::automation) struct Clusters;

impl StageWork for Clusters {
    const STAGE: Stage = Stage::Clusters;
    const INPUT_STATUS: &'static str = "new";
    const OPERATION: Option<Operation> = Some(Operation::Clustering);
    type Input = Keyword;

    fn inputs(inner: &Inner) -> &Records<Keyword> {
        &inner.keywords
    }

    async fn process(ctx: &StageContext<'_>, batch: Vec<Keyword>) -> Result<BatchOutcome, AutomationError> {
        if batch.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let (clusters, credits) = cluster(ctx, &batch).await?;
        let writes = outputs(ctx, &batch, &clusters)?;
        let created = units(clusters.len()) as u64;
        ctx.apply(writes).await?;
        Ok(BatchOutcome { processed: batch.len() as u64, created, credits, words: 0 })
    }
}

/// The AI call: the batch's keywords clustered, paid per request.
async fn cluster(ctx: &StageContext<'_>, batch: &[Keyword]) -> Result<(Vec<ClusterOut>, i64), AutomationError> {
    let inputs: Vec<KeywordInput> = batch
        .iter()
        .map(|k| KeywordInput {
            keyword: k.keyword.clone(),
            volume: k.volume,
            difficulty: k.difficulty,
            cpc: k.cpc,
            intent: k.intent.clone(),
        })
        .collect();
    let bill = Bill::of::<Clusters>(digest(batch.iter().map(|k| k.id.as_str())), 1)?;
    let ai = &ctx.inner().ports.ai;
    ctx.paid(bill, ai.cluster_keywords(&inputs, &ClusterOptions::default()), |_| 1).await
}

/// The outputs: a cluster per non-empty group, its keywords moved to `clustered`.
fn outputs(
    ctx: &StageContext<'_>,
    batch: &[Keyword],
    clusters: &[ClusterOut],
) -> Result<Vec<WriteOp>, AutomationError> {
    let (i, run) = (ctx.inner(), &ctx.run);
    let now = ctx.now();
    let mut writes = Vec::new();
    for c in clusters {
        let members: Vec<_> = c.keywords.iter().filter_map(|&idx| batch.get(idx)).collect();
        if members.is_empty() {
            continue;
        }
        let id = ClusterId::derive(&format!("{}/{}", run.id, digest(members.iter().map(|k| k.id.as_str()))));
        let cluster = Cluster {
            id: id.clone(),
            account_id: run.account_id.clone(),
            site_id: run.site_id.clone(),
            run_id: run.id.clone(),
            name: c.name.clone(),
            pillar_keyword: c.pillar_keyword.clone(),
            keyword_ids: members.iter().map(|k| k.id.clone()).collect(),
            intent: c.intent.clone(),
            total_volume: c.total_volume,
            description: c.description.clone(),
            status: ClusterStatus::New,
            created_at: now.clone(),
        };
        writes.push(i.clusters.create(&cluster)?);
        for k in members {
            let moved = Keyword { status: KeywordStatus::Clustered, cluster_id: Some(id.clone()), ..k.clone() };
            writes.push(i.keywords.transition(&moved, Clusters::INPUT_STATUS)?);
        }
    }
    Ok(writes)
}
