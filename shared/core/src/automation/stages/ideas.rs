//! Stage 2, clusters → ideas: one paid call per cluster, priced per idea; the keywords
//! of every cluster of the step come from one batch read. A cluster the model gives
//! invalid ideas for moves to `ideas_failed`.

use super::{or_invalid, units, BatchOutcome, Bill, StageContext, StageWork};
use crate::automation::error::AutomationError;
use crate::automation::service::Inner;
use crate::domain::Operation;
use crate::domain::{Cluster, ClusterStatus, Idea, IdeaId, IdeaStatus, KeywordId, Stage};
use crate::ports::WriteOp;
use crate::repo::Records;
use igny8_ai::{ClusterOut, IdeaOut, KeywordInput};

/// Stage 2.
pub(in crate::automation) struct Ideas;

impl StageWork for Ideas {
    const STAGE: Stage = Stage::Ideas;
    const ITEM: &'static str = "cluster";
    const INPUT_STATUS: &'static str = "new";
    const OPERATION: Option<Operation> = Some(Operation::IdeaGeneration);
    type Input = Cluster;

    fn inputs(inner: &Inner) -> &Records<Cluster> {
        &inner.clusters
    }

    async fn process(ctx: &StageContext<'_>, batch: Vec<Cluster>) -> Result<BatchOutcome, AutomationError> {
        let i = ctx.inner();
        let mut outcome = BatchOutcome::default();
        let now = ctx.now();
        // One batch read for the keywords of every cluster of this step, not one read
        // per keyword (nor per cluster); a keyword deleted since clustering is skipped.
        let wanted: Vec<KeywordId> = batch.iter().flat_map(|c| c.keyword_ids.iter().cloned()).collect();
        let mut read = i.keywords.get_many(&ctx.run.site_id, &wanted).await?.into_iter();
        for cluster in batch {
            let keywords: Vec<KeywordInput> = read
                .by_ref()
                .take(cluster.keyword_ids.len())
                .flatten()
                .map(|k| KeywordInput {
                    keyword: k.keyword,
                    volume: k.volume,
                    difficulty: k.difficulty,
                    cpc: k.cpc,
                    intent: k.intent,
                })
                .collect();
            let (ideas, credits) = match or_invalid(generate(ctx, &cluster, &keywords).await)? {
                Ok(done) => done,
                Err(why) => {
                    ctx.fail_input::<Ideas>(
                        &Cluster { status: ClusterStatus::IdeasFailed, ..cluster },
                        &why,
                        &mut outcome,
                    )
                    .await?;
                    continue;
                }
            };
            let writes = outputs(ctx, cluster, &ideas, &now)?;
            ctx.apply(writes).await?;
            outcome.processed += 1;
            outcome.created += ideas.len() as u64;
            outcome.credits += credits;
        }
        Ok(outcome)
    }
}

/// The AI call: `ideas_per_cluster` ideas for the cluster, paid per idea made.
async fn generate(
    ctx: &StageContext<'_>,
    cluster: &Cluster,
    keywords: &[KeywordInput],
) -> Result<(Vec<IdeaOut>, i64), AutomationError> {
    let out = ClusterOut {
        name: cluster.name.clone(),
        pillar_keyword: cluster.pillar_keyword.clone(),
        keywords: (0..keywords.len()).collect(),
        intent: cluster.intent.clone(),
        total_volume: cluster.total_volume,
        description: cluster.description.clone(),
    };
    let count = ctx.config.ideas_per_cluster as usize;
    let bill = Bill::of::<Ideas>(cluster.id.to_string(), units(count))?;
    let ai = &ctx.inner().ports.ai;
    ctx.paid(bill, ai.generate_ideas(&out, keywords, count), |v: &Vec<IdeaOut>| units(v.len())).await
}

/// The outputs: the ideas (ids from the cluster and their position), the cluster moved
/// to `ideas_generated`.
fn outputs(
    ctx: &StageContext<'_>,
    cluster: Cluster,
    ideas: &[IdeaOut],
    now: &str,
) -> Result<Vec<WriteOp>, AutomationError> {
    let (i, run) = (ctx.inner(), &ctx.run);
    let mut writes = Vec::new();
    for (n, idea) in ideas.iter().enumerate() {
        let record = Idea {
            id: IdeaId::derive(&format!("{}/{n}", cluster.id)),
            account_id: run.account_id.clone(),
            site_id: run.site_id.clone(),
            cluster_id: cluster.id.clone(),
            run_id: run.id.clone(),
            title: idea.title.clone(),
            outline: idea.outline.clone(),
            target_keyword: idea.target_keyword.clone(),
            secondary_keywords: idea.secondary_keywords.clone(),
            word_target: idea.word_target,
            content_type: idea.content_type.clone(),
            status: IdeaStatus::New,
            created_at: now.to_owned(),
        };
        writes.push(i.ideas.create(&record)?);
    }
    let done = Cluster { status: ClusterStatus::IdeasGenerated, ..cluster };
    writes.push(i.clusters.transition(&done, Ideas::INPUT_STATUS)?);
    Ok(writes)
}
