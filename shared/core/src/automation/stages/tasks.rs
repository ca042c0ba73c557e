//! Stage 3, ideas → writer tasks: no AI call; one task per idea (id from the idea),
//! the ideas moved to `queued`.

use super::{BatchOutcome, StageContext, StageWork};
use crate::automation::error::AutomationError;
use crate::automation::service::Inner;
use crate::domain::Operation;
use crate::domain::{Idea, IdeaStatus, Stage, TaskId, TaskStatus, WriterTask};
use crate::ports::WriteOp;
use crate::repo::Records;

/// Stage 3.
pub(in crate::automation) struct Tasks;

impl StageWork for Tasks {
    const STAGE: Stage = Stage::Tasks;
    const ITEM: &'static str = "idea";
    const INPUT_STATUS: &'static str = "new";
    const OPERATION: Option<Operation> = None;
    type Input = Idea;

    fn inputs(inner: &Inner) -> &Records<Idea> {
        &inner.ideas
    }

    async fn process(ctx: &StageContext<'_>, batch: Vec<Idea>) -> Result<BatchOutcome, AutomationError> {
        let writes = outputs(ctx, &batch)?;
        ctx.apply(writes).await?;
        Ok(BatchOutcome { processed: batch.len() as u64, created: batch.len() as u64, credits: 0, words: 0, failed: 0 })
    }
}

/// The outputs: a queued writer task per idea, the idea moved to `queued`.
fn outputs(ctx: &StageContext<'_>, batch: &[Idea]) -> Result<Vec<WriteOp>, AutomationError> {
    let (i, run) = (ctx.inner(), &ctx.run);
    let now = ctx.now();
    let mut writes = Vec::new();
    for idea in batch {
        let task = WriterTask {
            id: TaskId::derive(idea.id.as_str()),
            account_id: run.account_id.clone(),
            site_id: run.site_id.clone(),
            idea_id: idea.id.clone(),
            run_id: run.id.clone(),
            status: TaskStatus::Queued,
            created_at: now.clone(),
        };
        writes.push(i.tasks.create(&task)?);
        writes.push(i.ideas.transition(&Idea { status: IdeaStatus::Queued, ..idea.clone() }, Tasks::INPUT_STATUS)?);
    }
    Ok(writes)
}
