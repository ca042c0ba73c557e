//! Stage 4, writer tasks → articles: one paid call per task, priced per 100 words
//! written; the article's id derives from its task, and it records its focus
//! keyphrase (the cluster's pillar keyword) for the analyzer and the optimizer. A task
//! the model writes an invalid article for moves to `failed`.

use super::{or_invalid, BatchOutcome, Bill, StageContext, StageWork};
use crate::automation::error::AutomationError;
use crate::automation::service::Inner;
use crate::domain::Operation;
use crate::domain::{Content, ContentId, ContentStatus, Idea, ReviewStatus, Stage, TaskStatus, WriterTask};
use crate::ports::WriteOp;
use crate::repo::Records;
use igny8_ai::{ArticleOut, IdeaOut};

/// Stage 4.
pub(in crate::automation) struct Contents;

impl StageWork for Contents {
    const STAGE: Stage = Stage::Content;
    const ITEM: &'static str = "task";
    const INPUT_STATUS: &'static str = "queued";
    const OPERATION: Option<Operation> = Some(Operation::ContentGeneration);
    type Input = WriterTask;

    fn inputs(inner: &Inner) -> &Records<WriterTask> {
        &inner.tasks
    }

    async fn process(ctx: &StageContext<'_>, batch: Vec<WriterTask>) -> Result<BatchOutcome, AutomationError> {
        let i = ctx.inner();
        let mut outcome = BatchOutcome::default();
        let now = ctx.now();
        for task in batch {
            let idea =
                i.ideas.get(&ctx.run.site_id, task.idea_id.as_str()).await?.ok_or_else(|| {
                    AutomationError::Invalid(format!("task {} has no idea {}", task.id, task.idea_id))
                })?;
            let focus_keyphrase = focus_keyphrase(ctx, &idea).await?;
            let (article, credits) = match or_invalid(write(ctx, &task, &idea).await)? {
                Ok(done) => done,
                Err(why) => {
                    ctx.fail_input::<Contents>(&WriterTask { status: TaskStatus::Failed, ..task }, &why, &mut outcome)
                        .await?;
                    continue;
                }
            };
            let writes = outputs(ctx, task, &article, focus_keyphrase, &now)?;
            ctx.apply(writes).await?;
            outcome.processed += 1;
            outcome.created += 1;
            outcome.credits += credits;
            outcome.words += u64::from(article.word_count);
        }
        Ok(outcome)
    }
}

/// The keyphrase the article should rank for: its cluster's pillar keyword (one
/// read), else the idea's own target keyword (a cluster deleted since, or without a
/// pillar).
async fn focus_keyphrase(ctx: &StageContext<'_>, idea: &Idea) -> Result<String, AutomationError> {
    let cluster = ctx.inner().clusters.get(&ctx.run.site_id, idea.cluster_id.as_str()).await?;
    let pillar = cluster.map(|c| c.pillar_keyword.trim().to_owned()).filter(|k| !k.is_empty());
    Ok(pillar.unwrap_or_else(|| idea.target_keyword.trim().to_owned()))
}

/// The AI call: the idea's article, paid by the words written.
async fn write(ctx: &StageContext<'_>, task: &WriterTask, idea: &Idea) -> Result<(ArticleOut, i64), AutomationError> {
    let plan = IdeaOut {
        title: idea.title.clone(),
        outline: idea.outline.clone(),
        target_keyword: idea.target_keyword.clone(),
        secondary_keywords: idea.secondary_keywords.clone(),
        word_target: idea.word_target,
        content_type: idea.content_type.clone(),
    };
    let bill = Bill::of::<Contents>(task.id.to_string(), i64::from(idea.word_target))?;
    let ai = &ctx.inner().ports.ai;
    ctx.paid(bill, ai.generate_article(&plan, idea.word_target), |a: &ArticleOut| i64::from(a.word_count)).await
}

/// The outputs: the draft article, the task moved to `written`.
fn outputs(
    ctx: &StageContext<'_>,
    task: WriterTask,
    article: &ArticleOut,
    focus_keyphrase: String,
    now: &str,
) -> Result<Vec<WriteOp>, AutomationError> {
    let (i, run) = (ctx.inner(), &ctx.run);
    let content = Content {
        id: ContentId::derive(task.id.as_str()),
        account_id: run.account_id.clone(),
        site_id: run.site_id.clone(),
        task_id: task.id.clone(),
        run_id: run.id.clone(),
        title: article.title.clone(),
        html: article.html.clone(),
        word_count: article.word_count,
        meta_description: article.meta_description.clone(),
        status: ContentStatus::Draft,
        review: ReviewStatus::Draft,
        focus_keyphrase,
        linked_at: None,
        created_at: now.to_owned(),
    };
    Ok(vec![
        i.contents.create(&content)?,
        i.tasks.transition(&WriterTask { status: TaskStatus::Written, ..task }, Contents::INPUT_STATUS)?,
    ])
}
